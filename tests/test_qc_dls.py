"""DLS analysis: cumulants, inversion, Mie, quality, multi-angle, readers (synthetic truth + real data)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from nanobridge.science.qc.dls import (
    Correlogram,
    CumulantSettings,
    InversionSettings,
    MeasurementConditions,
    QualitySettings,
    _mie_ab,
    analyze_correlogram,
    analyze_correlograms,
    assess_quality,
    build_inversion_kernel,
    diffusion_coefficient_m2_per_s,
    fit_cumulants,
    fit_cumulants_array,
    fit_cumulants_many,
    invert_correlogram,
    mie_perpendicular_intensity,
    multi_angle_analysis,
    rgd_sphere_intensity,
    scattering_vector_per_m,
    simulate_correlogram,
)
from nanobridge.science.qc.dls_io import read_correlogram_file, read_correlograms
from nanobridge.science.qc.errors import QCInputError

VALIDATION = Path(__file__).resolve().parents[1].parent / "shared" / "validation" / "dls"
BAM = VALIDATION / "bam_alv"
ZETASIZER = VALIDATION / "zetasizer_multiangle_correlograms.xlsx"
needs_bam = pytest.mark.skipif(not BAM.is_dir(), reason="shared validation data (BAM ALV files) not present")
needs_zs = pytest.mark.skipif(
    not ZETASIZER.is_file(), reason="shared validation data (Zetasizer xlsx) not present"
)

WATER_25C = MeasurementConditions(
    temperature_K=298.15, viscosity_mPa_s=0.89, solvent_refractive_index=1.33, wavelength_nm=633.0
)
TAU = np.geomspace(2e-7, 5.0, 200)  # multi-tau-like log grid, 100 ns ... 5 s


# --------------------------------------------------------------------------------------------
# Synthetic truth: intensity-weighted lognormal components
# --------------------------------------------------------------------------------------------


def lognormal_components(
    comps: list[tuple[float, float, float]], n_nodes: int = 60
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Diameters and intensity fractions of a mixture of intensity-weighted lognormals
    (fraction, median nm, sigma of ln d), discretised by Gauss-Hermite quadrature in ln d."""
    x, w = np.polynomial.hermite_e.hermegauss(n_nodes)
    w = w / w.sum()
    ds, ws = [], []
    for frac, median, sigma in comps:
        ds.append(median * np.exp(sigma * x))
        ws.append(frac * w)
    return np.concatenate(ds), np.concatenate(ws)


def expected_z_and_pdi(comps: list[tuple[float, float, float]]) -> tuple[float, float]:
    """Exact Z-average and PDI of the mixture, analytically: with Γ ∝ 1/d and ln d ~ N(ln m, s²)
    (intensity-weighted), E[1/d] = e^{s²/2}/m and E[1/d²] = e^{2s²}/m², so
    Z = 1/E_I[1/d] and PDI = E_I[1/d²]/E_I[1/d]² − 1."""
    m1 = sum(f * math.exp(s**2 / 2) / m for f, m, s in comps)
    m2 = sum(f * math.exp(2 * s**2) / m**2 for f, m, s in comps)
    return 1.0 / m1, m2 / m1**2 - 1.0


def noisy(
    comps: list[tuple[float, float, float]], angle: float, seed: int, noise: float = 1e-3
) -> Correlogram:
    d, w = lognormal_components(comps)
    return simulate_correlogram(TAU, d, w, WATER_25C, angle, intercept=0.9, noise_sd=noise, seed=seed)


# --------------------------------------------------------------------------------------------
# Cumulants on synthetic data
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comps", "angle"),
    [([(1.0, 100.0, 0.3)], 90.0), ([(1.0, 50.0, 0.2)], 173.0), ([(1.0, 250.0, 0.15)], 173.0)],
)
def test_monomodal_lognormal_z_average_within_2pct_and_pdi(
    comps: list[tuple[float, float, float]], angle: float
) -> None:
    """Z within 2 % for every noise realisation (noise SD 1e-3 ≈ 0.1 % of the intercept).

    PDI: the mean over 5 realisations within 0.015 of the exact value. The second-order fit
    truncates the cumulant series (μ3 ignored) over a window down to 0.1 of the intercept, which
    biases the PDI low by ~0.008 at PDI ≈ 0.09 (~9 %); noise adds ~0.005 SD per fit. A 0.015
    tolerance is well inside the ±0.03 repeatability of real instruments at these PDIs."""
    z_true, pdi_true = expected_z_and_pdi(comps)
    results = [fit_cumulants(noisy(comps, angle, seed)) for seed in range(5)]
    for r in results:
        assert r.z_average_nm == pytest.approx(z_true, rel=0.02)
    assert np.mean([r.pdi for r in results]) == pytest.approx(pdi_true, abs=0.015)


def test_bimodal_mixture_z_average_within_2pct_and_pdi() -> None:
    """60 nm + 150 nm (intensity 1:1, σ 0.15): exact Z 84.8 nm, PDI 0.211. Z within 2 %; PDI
    within 0.03 with the second-order fit (truncation bias ~−0.02 at this breadth) and within
    0.02 on average with the third-order fit."""
    comps = [(0.5, 60.0, 0.15), (0.5, 150.0, 0.15)]
    z_true, pdi_true = expected_z_and_pdi(comps)
    second = [fit_cumulants(noisy(comps, 173.0, seed)) for seed in range(5)]
    third = [fit_cumulants(noisy(comps, 173.0, seed), CumulantSettings(order=3)) for seed in range(5)]
    for r in second + third:
        assert r.z_average_nm == pytest.approx(z_true, rel=0.02)
    assert np.mean([r.pdi for r in second]) == pytest.approx(pdi_true, abs=0.03)
    assert np.mean([r.pdi for r in third]) == pytest.approx(pdi_true, abs=0.02)
    assert third[0].mu3_per_s3 is not None and second[0].mu3_per_s3 is None


def test_fit_settings_and_window_are_stored_and_matter() -> None:
    corr = noisy([(1.0, 100.0, 0.3)], 90.0, seed=3)
    narrow = CumulantSettings(cutoff_fraction=0.5, min_lag_s=2e-6)
    r = fit_cumulants(corr, narrow)
    assert r.settings == narrow
    assert r.first_lag_s >= 2e-6
    assert r.fit_g2m1[-1] >= 0.5 * 0.9 * 0.95  # the window ends near half the intercept
    assert r.n_points == r.fit_tau_s.size == r.residuals.size
    wide = fit_cumulants(corr)
    assert wide.n_points > r.n_points
    assert r.pdi != pytest.approx(wide.pdi, abs=1e-4)  # the PDI depends on the window


def test_vectorised_array_fit_matches_object_fit() -> None:
    corrs = [noisy([(1.0, m, 0.2)], 173.0, seed=i) for i, m in enumerate((30.0, 80.0, 200.0))]
    arr = fit_cumulants_array(TAU, np.stack([c.g2m1 for c in corrs]), WATER_25C, 173.0)
    objs = fit_cumulants_many(corrs)
    np.testing.assert_allclose(arr.z_average_nm, [o.z_average_nm for o in objs], rtol=1e-12)
    np.testing.assert_allclose(arr.pdi, [o.pdi for o in objs], rtol=1e-10, atol=1e-12)
    assert arr.failure == ()


def test_array_fit_reports_failed_rows() -> None:
    y = np.stack([noisy([(1.0, 80.0, 0.2)], 173.0, seed=0).g2m1, np.full(TAU.size, -0.01)])
    arr = fit_cumulants_array(TAU, y, WATER_25C, 173.0)
    assert math.isfinite(arr.z_average_nm[0]) and math.isnan(arr.z_average_nm[1])
    assert arr.failure[0] == "" and "too few points" in arr.failure[1]


@settings(max_examples=40, deadline=None)
@given(
    diameter=st.floats(2.0, 2000.0),
    angle=st.floats(15.0, 175.0),
    order=st.sampled_from([2, 3]),
)
def test_exact_single_exponential_gives_zero_pdi_and_exact_size(
    diameter: float, angle: float, order: int
) -> None:
    corr = simulate_correlogram(TAU * 2.0, [diameter], [1.0], WATER_25C, angle, intercept=0.8)
    r = fit_cumulants(corr, CumulantSettings(order=order))
    assert abs(r.pdi) < 1e-6
    assert r.z_average_nm == pytest.approx(diameter, rel=1e-6)
    assert r.intercept == pytest.approx(0.8, rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(t_K=st.floats(275.0, 360.0), eta=st.floats(0.3, 5.0), diameter=st.floats(5.0, 800.0))
def test_stokes_einstein_scaling(t_K: float, eta: float, diameter: float) -> None:
    """Stokes–Einstein: the same measured decay read with (T, η) gives Z ∝ T/η (so Z grows with
    temperature and falls with viscosity for a given correlogram), while a particle of fixed
    size measured at (T, η) decays at Γ ∝ T/η and keeps its Z-average."""
    cond = MeasurementConditions(
        temperature_K=t_K, viscosity_mPa_s=eta, solvent_refractive_index=1.33, wavelength_nm=633.0
    )
    corr = simulate_correlogram(TAU * 4.0, [diameter], [1.0], WATER_25C, 90.0)
    same_decay = Correlogram(tau_s=corr.tau_s, g2m1=corr.g2m1, conditions=cond, angle_deg=90.0)
    ratio = fit_cumulants(same_decay).z_average_nm / fit_cumulants(corr).z_average_nm
    assert ratio == pytest.approx((t_K / eta) / (298.15 / 0.89), rel=1e-9)
    measured_at = simulate_correlogram(TAU * 4.0, [diameter], [1.0], cond, 90.0)
    assert fit_cumulants(measured_at).z_average_nm == pytest.approx(diameter, rel=1e-6)


# --------------------------------------------------------------------------------------------
# Inversion and form factors
# --------------------------------------------------------------------------------------------


def test_inversion_resolves_20_and_200_nm_mixture() -> None:
    """Intensity 30 % from 20 nm and 70 % from 200 nm (σ 0.1): two intensity peaks at the right
    modes (±10 %) with the right areas (±0.05); the number distribution is dominated by the
    20 nm particles (a 200 nm sphere scatters ~10⁶ times more)."""
    corr = noisy([(0.3, 20.0, 0.1), (0.7, 200.0, 0.1)], 173.0, seed=4)
    dist = invert_correlogram(corr)
    peaks = sorted(dist.intensity_peaks, key=lambda p: p.mode_nm)
    big = [p for p in peaks if p.area_fraction > 0.05]
    assert len(big) == 2
    assert big[0].mode_nm == pytest.approx(20.0, rel=0.10)
    assert big[1].mode_nm == pytest.approx(200.0, rel=0.10)
    assert big[0].area_fraction == pytest.approx(0.3, abs=0.05)
    assert big[1].area_fraction == pytest.approx(0.7, abs=0.05)
    small_number = sum(float(dist.number[i]) for i in np.flatnonzero(dist.diameters_nm < 60.0))
    assert small_number > 0.99
    assert dist.intensity.sum() == pytest.approx(1.0) and dist.volume.sum() == pytest.approx(1.0)
    assert dist.rms_residual_rel < 0.003  # fits down to the noise (1e-3 / 0.9)
    assert 0.0 < dist.alpha_rel < 1.0 and dist.regularization_criterion.startswith("GCV")


def test_inversion_monomodal_mode_and_mie_option() -> None:
    corr = noisy([(1.0, 100.0, 0.15)], 90.0, seed=5)
    rgd = invert_correlogram(corr)
    mie = invert_correlogram(corr, InversionSettings(form_factor="mie", particle_refractive_index=1.59))
    for dist in (rgd, mie):
        main = dist.intensity_peaks[0]
        assert main.area_fraction > 0.95
        assert main.mode_nm == pytest.approx(100.0, rel=0.10)
    np.testing.assert_allclose(rgd.intensity, mie.intensity)  # the form factor only changes conversions
    assert rgd.number_peaks[0].mode_nm < rgd.intensity_peaks[0].mode_nm  # number weighting favours small
    assert "Mie" in mie.form_factor_assumption and "BohrenHuffman1983" in mie.citation_keys


def test_inversion_kernel_is_reused() -> None:
    s = InversionSettings()
    k1 = build_inversion_kernel(TAU, WATER_25C, 173.0, s)
    k2 = build_inversion_kernel(TAU.copy(), WATER_25C, 173.0, InversionSettings())
    assert k1 is k2
    assert build_inversion_kernel(TAU, WATER_25C, 90.0, s) is not k1


def test_mie_reproduces_bohren_huffman_bhmie_example() -> None:
    """BHMIE example of Bohren & Huffman (1983, appendix A): sphere radius 0.525 µm, λ 0.6328 µm,
    m = 1.55 in vacuum: Qsca = 3.10543, Qback = 2.92534."""
    x = np.array([2 * math.pi * 0.525 / 0.6328])
    a, b, _ = _mie_ab(x, 1.55 + 0j)
    n = np.arange(1, a.shape[0] + 1)[:, None]
    qsca = float(2 / x[0] ** 2 * np.sum((2 * n + 1) * (np.abs(a) ** 2 + np.abs(b) ** 2)))
    qback = float(np.abs(np.sum((2 * n + 1) * (-1.0) ** n * (a - b))) ** 2 / x[0] ** 2)
    assert qsca == pytest.approx(3.10543, abs=2e-5)
    assert qback == pytest.approx(2.92534, abs=2e-5)


def test_mie_limits_rayleigh_and_rayleigh_gans_debye() -> None:
    m = 1.5 / 1.33
    d = np.array([1.0, 4.0])
    x = np.pi * d * 1.33 / 633.0
    rayleigh = x**6 * abs((m**2 - 1) / (m**2 + 2)) ** 2
    np.testing.assert_allclose(mie_perpendicular_intensity(d, 633.0, 1.33, 1.5, 90.0), rayleigh, rtol=1e-3)
    # |m - 1| << 1: Mie angular shape -> RGD form factor
    m = 1.001
    d = np.geomspace(20.0, 400.0, 5)
    x = np.pi * d * 1.33 / 633.0
    q = scattering_vector_per_m(1.33, 633.0, 60.0)
    rgd = x**6 * abs((m**2 - 1) / (m**2 + 2)) ** 2 * rgd_sphere_intensity(d, q) / d**6
    np.testing.assert_allclose(mie_perpendicular_intensity(d, 633.0, 1.33, 1.33 * m, 60.0), rgd, rtol=2e-3)


# --------------------------------------------------------------------------------------------
# Quality verdict and multi-angle on synthetic data
# --------------------------------------------------------------------------------------------


def test_quality_flags_baseline_dust_and_passes_clean_data() -> None:
    clean = noisy([(1.0, 100.0, 0.2)], 90.0, seed=6)
    rate_t = np.linspace(0.1, 30.0, 256)
    rng = np.random.default_rng(0)
    rate = rng.normal(100.0, 3.0, rate_t.size)
    clean_cr = clean.model_copy(update={"count_rate_time_s": rate_t, "count_rate_kHz": rate})
    good = analyze_correlogram(clean_cr)
    assert good.quality.verdict == "pass", good.quality.flags
    assert good.quality.count_rate_spikes == 0

    spiky = rate.copy()
    spiky[[40, 41, 200]] = 400.0
    dusty = clean.model_copy(update={"count_rate_time_s": rate_t, "count_rate_kHz": spiky})
    q = analyze_correlogram(dusty, invert=False).quality
    assert q.verdict == "warn" and [f.code for f in q.flags] == ["dust_count_rate"]
    assert q.count_rate_spikes == 3

    offset = Correlogram(tau_s=clean.tau_s, g2m1=clean.g2m1 + 0.08, conditions=WATER_25C, angle_deg=90.0)
    verdict = assess_quality(offset, fit_cumulants(offset), settings=QualitySettings())
    assert verdict.verdict == "fail"
    assert "not_decayed" in [f.code for f in verdict.flags]


def test_multi_angle_extrapolation_recovers_diffusion_coefficient() -> None:
    d_nm = 120.0
    corrs = [
        simulate_correlogram(TAU, [d_nm], [1.0], WATER_25C, a, noise_sd=5e-4, seed=i)
        for i, a in enumerate((30.0, 60.0, 90.0, 120.0, 150.0))
    ]
    ma = multi_angle_analysis(fit_cumulants_many(corrs))
    d_true = float(diffusion_coefficient_m2_per_s(d_nm, 298.15, 0.89))
    assert ma.diffusion_q0_m2_per_s == pytest.approx(d_true, rel=0.01)
    assert ma.radius_q0_nm == pytest.approx(d_nm / 2, rel=0.01)
    assert 0.0 < ma.radius_q0_se_nm < 1.0
    assert len(ma.points) == 5


def test_multi_angle_rejects_mixed_conditions_and_single_angle() -> None:
    c1 = simulate_correlogram(TAU, [100.0], [1.0], WATER_25C, 90.0)
    hot = MeasurementConditions(
        temperature_K=310.0, viscosity_mPa_s=0.69, solvent_refractive_index=1.33, wavelength_nm=633.0
    )
    c2 = simulate_correlogram(TAU, [100.0], [1.0], hot, 45.0)
    with pytest.raises(QCInputError, match="one set of conditions"):
        multi_angle_analysis(fit_cumulants_many([c1, c2]))
    with pytest.raises(QCInputError, match="at least 2"):
        multi_angle_analysis(fit_cumulants_many([c1]))


# --------------------------------------------------------------------------------------------
# Correlogram validation
# --------------------------------------------------------------------------------------------


def _corr(tau: NDArray[np.float64], y: NDArray[np.float64]) -> Correlogram:
    return Correlogram(tau_s=tau, g2m1=y, conditions=WATER_25C, angle_deg=90.0, source="x.csv", label="s1")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t, y: (t[:5], y[:5]), "only 5 points"),
        (lambda t, y: (t[::-1].copy(), y), "increase strictly"),
        (lambda t, y: (t - 1e-3, y), "must be positive"),
        (lambda t, y: (t, np.where(np.arange(y.size) == 7, np.nan, y)), "index 7"),
        (lambda t, y: (t, y * 2.0), "> 1.5"),
        (lambda t, y: (t, -np.abs(y)), "no correlation"),
        (lambda t, y: (t, np.full(y.size, 0.9)), "never decays"),
        (lambda t, y: (t, y[:-1]), "must pair up"),
    ],
)
def test_impossible_correlograms_get_clear_errors(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    base = simulate_correlogram(TAU, [100.0], [1.0], WATER_25C, 90.0, intercept=0.9)
    t, y = mutate(base.tau_s.copy(), base.g2m1.copy())
    with pytest.raises(QCInputError, match=message) as err:
        _corr(t, y)
    assert "x.csv" in str(err.value) and "s1" in str(err.value)


def test_conditions_out_of_range_are_rejected() -> None:
    with pytest.raises(QCInputError, match="viscosity_mPa_s"):
        MeasurementConditions(
            temperature_K=298.0, viscosity_mPa_s=-1.0, solvent_refractive_index=1.33, wavelength_nm=633.0
        )
    with pytest.raises(QCInputError, match="form_factor='mie' needs"):
        InversionSettings(form_factor="mie")


# --------------------------------------------------------------------------------------------
# Readers: CSV and crafted ALV, bad files
# --------------------------------------------------------------------------------------------


def test_csv_roundtrip_with_metadata_units_and_angles(tmp_path: Path) -> None:
    c90 = simulate_correlogram(TAU, [80.0], [1.0], WATER_25C, 90.0, noise_sd=1e-4, seed=1)
    c173 = simulate_correlogram(TAU, [80.0], [1.0], WATER_25C, 173.0, noise_sd=1e-4, seed=2)
    lines = [
        "# temperature_C: 25",
        "# viscosity_cP: 0.89",
        "# solvent_refractive_index: 1.33",
        "# wavelength_nm: 633",
        "# label: batch A",
        "lag [ms],g2m1_90deg,g2-1 @ 173",
    ]
    lines += [f"{t * 1e3:.10g},{a:.10g},{b:.10g}" for t, a, b in zip(TAU, c90.g2m1, c173.g2m1, strict=True)]
    f = tmp_path / "corr.csv"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = read_correlograms(f)
    assert [c.angle_deg for c in got] == [90.0, 173.0]
    np.testing.assert_allclose(got[0].tau_s, TAU, rtol=1e-9)
    np.testing.assert_allclose(got[1].g2m1, c173.g2m1, rtol=1e-8)
    assert got[0].conditions.temperature_K == pytest.approx(298.15)
    assert got[0].label.startswith("batch A") and got[0].source == str(f)
    assert fit_cumulants(got[1]).z_average_nm == pytest.approx(80.0, rel=0.01)


def test_csv_whitespace_and_conditions_argument(tmp_path: Path) -> None:
    c = simulate_correlogram(TAU, [50.0], [1.0], WATER_25C, 90.0)
    f = tmp_path / "plain.txt"
    f.write_text("tau_s g2m1\n" + "\n".join(f"{t:.12g} {v:.12g}" for t, v in zip(TAU, c.g2m1, strict=True)))
    with pytest.raises(QCInputError, match="no scattering angle"):
        read_correlograms(f)
    with pytest.raises(QCInputError, match="conditions missing: temperature_K"):
        read_correlograms(f, angles_deg=[90.0])
    got = read_correlograms(f, conditions=WATER_25C, angles_deg=[90.0])
    assert got[0].g2m1 == pytest.approx(c.g2m1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"\x00\x01\x02\x03garbage\xff\xfe" * 50, "binary content"),
        (b"# angle_deg: 90\nlag,g2m1\n1,0.9\n", "declares no lag unit"),
        (b"lag_ms,g2m1_90deg,g2m1_173deg\n0.001,0.9\n", r"line 2: 2 fields, the header has 3"),
        (b"lag_ms,g2m1\n0.001,0.9\n0.002,abc\n", r"line 3, column 2 \('g2m1'\): 'abc' is not a number"),
        (b"lag_ms,intensity\n0.001,0.9\n", "not a g2-1 column"),
    ],
)
def test_bad_files_get_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_bytes(content)
    with pytest.raises(QCInputError, match=message) as err:
        read_correlograms(f, conditions=WATER_25C, angles_deg=[90.0])
    assert str(f) in str(err.value)


def test_missing_file_and_fake_xlsx(tmp_path: Path) -> None:
    with pytest.raises(QCInputError, match="does not exist"):
        read_correlograms(tmp_path / "nope.csv")
    fake = tmp_path / "fake.xlsx"
    fake.write_text("lag_s,g2m1\n")
    with pytest.raises(QCInputError, match="not an Excel workbook"):
        read_correlograms(fake)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(QCInputError, match=r"not a readable \.xlsx"):
        read_correlograms(broken)


def _alv_text(columns: list[NDArray[np.float64]], angle_lines: list[str]) -> str:
    head = [
        "ALV-7004/USB",
        'Samplename : \t"crafted"',
        "Temperature [K] :\t     298.15000",
        "Viscosity [cp]  :\t       0.89000",
        "Refractive Index:\t       1.33000",
        "Wavelength [nm] :\t     632.80000",
        *angle_lines,
        "",
        '"Correlation"',
    ]
    body = ["\t".join(f"{v: .5E}" for v in row) for row in np.column_stack([TAU * 1e3, *columns])]
    return "\r\n".join([*head, *body, "", '"Count Rate"', "0.1\t100\t100\t0\t0", "0.2\t101\t99\t0\t0", ""])


def test_alv_single_angle_cross_correlation_channels(tmp_path: Path) -> None:
    """CGS-3 style: one angle, four correlation columns of which two are empty (zeros)."""
    c = simulate_correlogram(TAU, [150.0], [1.0], WATER_25C, 30.0)
    zero = np.zeros(TAU.size)
    f = tmp_path / "cgs3.ASC"
    f.write_bytes(
        _alv_text([c.g2m1, c.g2m1, zero, zero], ["Angle [°]       :\t      30.00000"]).encode("latin-1")
    )
    got = read_correlograms(f)
    assert [x.label for x in got] == ["crafted ch0", "crafted ch1"]
    assert got[0].angle_deg == 30.0 and got[0].count_rate_kHz is not None
    assert fit_cumulants(got[0]).z_average_nm == pytest.approx(150.0, rel=0.01)


def test_alv_column_angle_mismatch_names_line(tmp_path: Path) -> None:
    c = simulate_correlogram(TAU, [150.0], [1.0], WATER_25C, 30.0)
    f = tmp_path / "bad.ASC"
    f.write_bytes(
        _alv_text([c.g2m1, c.g2m1, c.g2m1], ["Angle(1)[°]     :\t30", "Angle(2)[°]     :\t90"]).encode()
    )
    with pytest.raises(QCInputError, match=r"line 11: 3 g2-1 columns but 2 angles"):
        read_correlograms(f)


# --------------------------------------------------------------------------------------------
# Real data: BAM ALV-7004/CGS-8F (polymer particles MW002-03) and blanks
# --------------------------------------------------------------------------------------------


@needs_bam
def test_bam_alv_multi_angle_agrees_with_bam_cumulant_results() -> None:
    """BAM (ISO 13321 cumulants; README of the data): mean Rh 63.98 ± 2.00 nm, Rh(q²→0)
    61.56 ± 0.69 nm, D0 3.463e-8 cm²/s, mean PDI 0.080 ± 0.031.

    Tolerances: 1.0 nm on the mean Rh (half BAM's SD over angles) and on Rh(q²→0) (1.5 × BAM's
    SE; BAM's own fit window and weighting are not documented), 1 % on D0 and BAM's ± on the
    mean PDI (the PDI depends on the fit window). nanobridge gives 63.8, 61.4, 3.47e-8, 0.062."""
    corrs = read_correlograms(BAM / "7_2021_MW002-030000_averaged.ASC")
    assert [c.angle_deg for c in corrs] == [26.0, 42.0, 58.0, 74.0, 90.0, 106.0, 122.0, 138.0]
    assert corrs[0].conditions.temperature_K == pytest.approx(292.93654)
    assert corrs[0].conditions.viscosity_mPa_s == pytest.approx(1.00703)
    ma = multi_angle_analysis(fit_cumulants_many(corrs))
    assert ma.radius_mean_nm == pytest.approx(63.98, abs=1.0)
    assert ma.radius_sd_nm == pytest.approx(2.00, abs=0.5)
    assert ma.radius_q0_nm == pytest.approx(61.56, abs=1.0)
    assert ma.diffusion_q0_m2_per_s * 1e4 == pytest.approx(3.463e-8, rel=0.01)
    assert ma.pdi_mean == pytest.approx(0.080, abs=0.031)


@needs_bam
def test_bam_single_run_quality_and_distribution() -> None:
    corrs = read_correlograms(BAM / "7_2021_MW002-030000_0001.ASC")
    assert all(c.count_rate_kHz is not None and c.count_rate_kHz.size == 254 for c in corrs)
    analyses = analyze_correlograms(corrs)
    assert all(a.quality.verdict != "fail" for a in analyses)
    assert all(a.quality.count_rate_spikes == 0 for a in analyses)
    at90 = next(a for a in analyses if a.angle_deg == 90.0)
    assert at90.distribution is not None
    main = at90.distribution.intensity_peaks[0]
    assert main.area_fraction > 0.9
    assert main.mode_nm == pytest.approx(2 * 64.0, rel=0.1)  # intensity mode near the cumulant Rh


@needs_bam
def test_bam_water_blank_is_rejected_with_reason() -> None:
    f = BAM / "093_2021_Wasser0000_averaged.ASC"
    with pytest.raises(QCInputError, match=r"Wasser.*angle 26.0°.*starts at 3.27 > 1.5"):
        read_correlograms(f)
    res = read_correlogram_file(f)
    assert res.format == "alv" and len(res.rejected) >= 1
    assert all("> 1.5" in r.reason for r in res.rejected)


# --------------------------------------------------------------------------------------------
# Real data: Malvern Zetasizer export
# --------------------------------------------------------------------------------------------


@needs_zs
def test_zetasizer_export_imports_all_records() -> None:
    """4 sheets × 6 samples × 3 correlograms. The three correlograms of a record are three
    detection angles (MADLS: back, side, forward), not repeats: the side-scatter decay is ~2.1×
    slower than backscatter, close to the q² ratio 2.0 (checked below)."""
    res = read_correlogram_file(ZETASIZER)
    assert res.format == "zetasizer_xlsx"
    assert len(res.correlograms) + len(res.rejected) == 72
    assert all("> 1.5" in r.reason for r in res.rejected)  # rejected only for impossible intercepts
    c0 = res.correlograms[0]
    assert c0.label == "A1H1_H2O_All_no_correlogram/A1H1_H2O_0_0625_no"
    assert c0.tau_s[0] == pytest.approx(0.0875e-6)
    assert c0.tau_s[-1] <= 1.7  # trailing unfilled (exact zero) channels dropped
    assert set(c0.assumed) >= {"temperature_K", "viscosity_mPa_s", "angle_deg"}
    with pytest.raises(QCInputError, match="and 4 more"):
        read_correlograms(ZETASIZER)


@needs_zs
def test_zetasizer_back_and_side_scatter_agree_in_diffusion_coefficient() -> None:
    """Consistency of the repeat structure: for the sonicated A1H1 series (well dispersed) the
    apparent D = Γ/q² from backscatter and side scatter of each record agree (median |ratio − 1|
    below 10 %, coefficient of variation of D(back) / D(side) below 10 %)."""
    res = read_correlogram_file(ZETASIZER)
    son = [c for c in res.correlograms if c.label.startswith("A1H1_H2O_All_son") and c.angle_deg > 45]
    fits = {(c.label, c.angle_deg): fit_cumulants(c) for c in son}
    ratios = np.array(
        [
            fits[(lab, 174.7)].diffusion_m2_per_s / fits[(lab, 90.0)].diffusion_m2_per_s
            for lab in {c.label for c in son}
        ]
    )
    assert ratios.size == 6
    assert float(np.median(np.abs(ratios - 1.0))) < 0.10
    assert float(np.std(ratios) / np.mean(ratios)) < 0.10


def test_alv_text_in_numbers_names_line_and_column(tmp_path: Path) -> None:
    c = simulate_correlogram(TAU, [150.0], [1.0], WATER_25C, 30.0)
    text = _alv_text([c.g2m1], ["Angle [°]       :\t      30.00000"]).split("\r\n")
    text[14] = text[14].replace("E", "X", 1)
    f = tmp_path / "typo.ASC"
    f.write_text("\r\n".join(text), encoding="latin-1")
    with pytest.raises(QCInputError, match=r"typo\.ASC, line 15, column 1: '.*X.*' is not a number"):
        read_correlograms(f)


def test_zetasizer_layout_errors_name_the_cell(tmp_path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "S1"
    ws.append(["Time (µs) - s1 [Steady state]", "Correlation Coefficient (g₂-1) - s1 [Steady state]"])
    c = simulate_correlogram(TAU, [100.0], [1.0], WATER_25C, 173.0)
    for t, v in zip(TAU * 1e6, c.g2m1, strict=True):
        ws.append([float(t), float(v)])
    good = tmp_path / "ok.xlsx"
    wb.save(good)
    got = read_correlograms(good, conditions=WATER_25C, angles_deg=[173.0])
    assert len(got) == 1 and got[0].assumed == ()
    assert fit_cumulants(got[0]).z_average_nm == pytest.approx(100.0, rel=1e-3)
    ws["B7"] = "n/a"
    bad = tmp_path / "bad.xlsx"
    wb.save(bad)
    with pytest.raises(QCInputError, match=r"sheet 'S1', cell B7: 'n/a' is not a number"):
        read_correlograms(bad)
