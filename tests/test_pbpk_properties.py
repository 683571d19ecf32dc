"""Tests of the physicochemical-property relations (science/pbpk/properties.py)."""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from nanobridge.citations import cite, find_citation_keys, get_reference
from nanobridge.science.pbpk import properties as P

SETTINGS = settings(deadline=None, max_examples=300)

diameters_nm = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False)
zetas_mV = st.floats(min_value=-100.0, max_value=100.0, allow_nan=False)
peg_mws_Da = st.floats(min_value=200.0, max_value=40000.0, allow_nan=False)
peg_densities = st.floats(min_value=0.0, max_value=3.0, allow_nan=False)
maybe_peg = st.one_of(
    st.tuples(st.none(), st.none()),
    st.tuples(peg_mws_Da, st.one_of(st.none(), peg_densities)),
)


# --------------------------------------------------------------------------------------------
# Renal sieving
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(diameters_nm)
def test_sieving_is_a_fraction(d: float) -> None:
    theta = P.renal_sieving_coefficient(d)
    assert isinstance(theta, float)
    assert 0.0 <= theta <= 1.0


@SETTINGS
@given(diameters_nm, diameters_nm)
def test_sieving_non_increasing_in_size(d1: float, d2: float) -> None:
    small, large = sorted((d1, d2))
    # 1e-12: floating-point rounding only (the model is analytically monotone).
    assert P.renal_sieving_coefficient(large) <= P.renal_sieving_coefficient(small) + 1e-12


def test_sieving_monotone_on_a_dense_grid() -> None:
    d = np.geomspace(0.05, 30.0, 50_000)
    theta = P.renal_sieving_coefficient(d)
    assert theta.shape == d.shape
    assert np.all(np.diff(theta) <= 1e-12)


@pytest.mark.parametrize("d_nm", [2.0, 2.5, 3.0])
def test_sieving_about_one_for_2_to_3_nm(d_nm: float) -> None:
    # Tolerance 0.15: inulin (Stokes diameter ~3 nm) has theta = 1 by definition, but a rigid
    # sphere in 4.6 nm pores is hindered: the model gives 0.98 at 2 nm and 0.90 at 3 nm.
    assert P.renal_sieving_coefficient(d_nm) >= 0.85
    assert P.renal_sieving_coefficient(1.0) >= 0.99


def test_sieving_near_5_5_nm() -> None:
    # Choi et al. 2007: quantum dots below ~5.5 nm hydrodynamic diameter are cleared rapidly.
    # The sourced two-pore model puts theta = 0.23 at 5.5 nm (0.5 is reached at ~4.4 nm), not
    # the 0.5 a "threshold" reading suggests. Tolerance: 0.15-0.5 at 5.5 nm (covers the assumed
    # filtration pressure range, see below), and theta = 0.5 between 4 and 5.5 nm. Even 0.2 x GFR
    # clears a mouse's plasma within minutes, which matches "rapid".
    theta = P.renal_sieving_coefficient(5.5)
    assert 0.15 <= theta <= 0.5
    assert P.renal_sieving_coefficient(4.0) > 0.5 > P.renal_sieving_coefficient(5.5)


def test_sieving_essentially_zero_above_10_nm() -> None:
    assert P.renal_sieving_coefficient(10.0) < 0.005
    assert P.renal_sieving_coefficient(12.0) < 0.002
    d = np.array([16.8, 20.0, 50.0, 100.0, 1000.0])
    assert np.all(P.renal_sieving_coefficient(d) == 0.0)  # larger than twice the large-pore radius


def test_consistent_with_choi2007_sizes() -> None:
    # Choi 2007 (abstract): final hydrodynamic diameter < 5.5 nm -> rapid, efficient urinary
    # excretion; their 8.65 nm dots stayed in liver/lung/spleen. Their urinary %ID values were
    # not available, so these are bounds, not a fit: 4.36 nm filtered at >= 40 % of GFR,
    # 8.65 nm at <= 1 % of GFR.
    assert P.renal_sieving_coefficient(4.36) >= 0.4
    assert P.renal_sieving_coefficient(8.65) <= 0.01
    ordered = P.renal_sieving_coefficient(np.array([4.36, 5.52, 6.65, 8.65]))
    assert np.all(np.diff(ordered) < 0)


def test_documented_values() -> None:
    # The values quoted in the module docstring and README (rounded as quoted).
    expected = {2.0: 0.98, 3.0: 0.90, 4.45: 0.5, 5.5: 0.23, 8.65: 0.007, 10.0: 0.002}
    for d, value in expected.items():
        assert P.renal_sieving_coefficient(d) == pytest.approx(value, abs=0.006)


def test_hindrance_limits_match_dechadilok_deen() -> None:
    p = P._renal_params()
    w, h = P._hindrance(np.array([0.0, 1e-9, 1.0 - 1e-12]), p)
    assert w[0] == pytest.approx(1.0) and h[0] == pytest.approx(1.0)
    assert w[1] == pytest.approx(1.0, abs=1e-6) and h[1] == pytest.approx(1.0, abs=1e-6)
    assert w[2] == pytest.approx(0.0, abs=1e-12) and h[2] == pytest.approx(0.0, abs=1e-12)
    # Kd polynomial vanishes at lam = 1 (its coefficients sum to -1), Kc -> 1.
    assert 1.0 + sum(p.kd_coefficients[1:]) == pytest.approx(0.0, abs=1e-6)
    b = p.kc_coefficients
    assert (1 + b[0] + b[1] + b[2]) / (1 + b[3] + b[4]) == pytest.approx(1.0, abs=1e-3)
    # Hand value at lam = 0.5: Phi = 0.25, Kc = 2.3525 / 1.74825 -> W = 0.336.
    w5, _ = P._hindrance(np.array([0.5]), p)
    assert w5[0] == pytest.approx(0.25 * 2.3525 / 1.74825, rel=1e-9)


def test_sensitivity_to_assumed_filtration_pressure() -> None:
    # YAML note: between 6 and 20 mmHg theta moves by at most 0.07 at 3 nm and 0.03 at 5.5 nm.
    base = P.renal_sieving_coefficient(np.array([3.0, 5.5]))
    for nfp in (6.0, 20.0):
        alt = P._sieving(np.array([3.0, 5.5]), P._with_renal(net_filtration_pressure_mmHg=nfp))
        assert abs(alt[0] - base[0]) <= 0.07
        assert abs(alt[1] - base[1]) <= 0.03


def test_array_in_array_out() -> None:
    d = np.array([[2.0, 5.5], [8.0, 20.0]])
    theta = P.renal_sieving_coefficient(d)
    assert isinstance(theta, np.ndarray) and theta.shape == (2, 2)
    assert theta[0, 0] == P.renal_sieving_coefficient(2.0)


@pytest.mark.parametrize("bad", [-1.0, 0.0, math.nan, math.inf, -math.inf])
def test_sieving_rejects_bad_sizes(bad: float) -> None:
    with pytest.raises(ValueError, match="hydrodynamic_diameter_nm") as err:
        P.renal_sieving_coefficient(bad)
    assert repr(bad) in str(err.value)


def test_sieving_rejects_bad_array_element_and_non_numbers() -> None:
    with pytest.raises(ValueError, match=r"hydrodynamic_diameter_nm.*nan"):
        P.renal_sieving_coefficient(np.array([5.0, math.nan]))
    with pytest.raises(ValueError, match="hydrodynamic_diameter_nm"):
        P.renal_sieving_coefficient("five")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="hydrodynamic_diameter_nm"):
        P.renal_sieving_coefficient(True)  # type: ignore[call-overload]


def test_renal_clearance_is_gfr_times_sieving() -> None:
    assert P.renal_clearance_L_per_h(5.5, 0.015) == pytest.approx(0.015 * P.renal_sieving_coefficient(5.5))
    assert P.renal_clearance_L_per_h(50.0, 0.015) == 0.0
    assert P.renal_clearance_L_per_h(3.0, 0.0) == 0.0
    cl = P.renal_clearance_L_per_h(np.array([2.0, 5.5]), np.array([0.01, 7.5]))
    assert isinstance(cl, np.ndarray) and cl.shape == (2,)


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf])
def test_renal_clearance_rejects_bad_gfr(bad: float) -> None:
    with pytest.raises(ValueError, match="gfr_L_per_h") as err:
        P.renal_clearance_L_per_h(5.0, bad)
    assert repr(bad) in str(err.value)
    with pytest.raises(ValueError, match="hydrodynamic_diameter_nm"):
        P.renal_clearance_L_per_h(-5.0, 0.015)


# --------------------------------------------------------------------------------------------
# MPS uptake multiplier
# --------------------------------------------------------------------------------------------


def _ref_args() -> tuple[float, float, float | None, float | None]:
    r = P.reference_particle()
    return r.hydrodynamic_diameter_nm, r.zeta_potential_mV, r.peg_mw_Da, r.peg_density_chains_per_nm2


def test_reference_particle_gives_one() -> None:
    assert P.mps_uptake_multiplier(*_ref_args()) == 1.0
    d, _, mw, dens = _ref_args()
    # Anywhere inside the neutral band (|zeta| <= 10 mV, Clogston 2011) is still neutral.
    assert P.mps_uptake_multiplier(d, 9.9, mw, dens) == 1.0
    assert P.mps_uptake_multiplier(d, -10.0, mw, dens) == 1.0
    # PEG molar mass without density: the reference density is used.
    assert P.mps_uptake_multiplier(d, 0.0, mw, None) == 1.0


def test_explicit_reference_particle() -> None:
    ref = P.ReferenceParticle(100.0, -5.0, 2000.0, 0.3)
    assert P.mps_uptake_multiplier(100.0, -5.0, 2000.0, 0.3, reference=ref) == pytest.approx(1.0)
    assert P.mps_uptake_multiplier(13.0, -5.0, 2000.0, 0.3, reference=ref) < 1.0


@SETTINGS
@given(diameters_nm, zetas_mV, maybe_peg)
def test_multiplier_positive_and_bounded(
    d: float, zeta: float, peg: tuple[float | None, float | None]
) -> None:
    lo, hi = P.mps_multiplier_bounds()
    m = P.mps_uptake_multiplier(d, zeta, *peg)
    assert m > 0
    assert lo * (1 - 1e-12) <= m <= hi * (1 + 1e-12)
    f = P.mps_uptake_factors(d, zeta, *peg)
    assert f.total == pytest.approx(f.size * f.charge * f.peg)


def test_bounds_are_finite_and_reasonable() -> None:
    lo, hi = P.mps_multiplier_bounds()
    assert 0.05 < lo < 1.0 < hi < 1000.0


@SETTINGS
@given(diameters_nm, diameters_nm, zetas_mV, maybe_peg)
def test_larger_particles_more_uptake(
    d1: float, d2: float, zeta: float, peg: tuple[float | None, float | None]
) -> None:
    small, large = sorted((d1, d2))
    assert P.mps_uptake_multiplier(large, zeta, *peg) >= P.mps_uptake_multiplier(small, zeta, *peg)


def test_size_direction_between_lin2016_sizes() -> None:
    _d, z, mw, dens = _ref_args()
    assert P.mps_uptake_multiplier(100.0, z, mw, dens) > P.mps_uptake_multiplier(13.0, z, mw, dens)


@SETTINGS
@given(st.floats(min_value=0.0, max_value=100.0), st.floats(min_value=0.0, max_value=100.0))
def test_more_charge_more_uptake_each_sign(z1: float, z2: float) -> None:
    d, _, mw, dens = _ref_args()
    lo, hi = sorted((z1, z2))
    assert P.mps_uptake_multiplier(d, hi, mw, dens) >= P.mps_uptake_multiplier(d, lo, mw, dens)
    assert P.mps_uptake_multiplier(d, -hi, mw, dens) >= P.mps_uptake_multiplier(d, -lo, mw, dens)


@SETTINGS
@given(st.floats(min_value=0.0, max_value=100.0))
def test_cationic_ge_anionic_ge_neutral(z: float) -> None:
    d, _, mw, dens = _ref_args()
    neutral = P.mps_uptake_multiplier(d, 0.0, mw, dens)
    cat = P.mps_uptake_multiplier(d, z, mw, dens)
    an = P.mps_uptake_multiplier(d, -z, mw, dens)
    assert cat >= an >= neutral
    if z > 15.0:
        assert cat > an > neutral


@SETTINGS
@given(peg_mws_Da, peg_densities, peg_densities)
def test_denser_peg_less_uptake(mw: float, s1: float, s2: float) -> None:
    lo, hi = sorted((s1, s2))
    assert P.mps_uptake_multiplier(30.0, 0.0, mw, hi) <= P.mps_uptake_multiplier(30.0, 0.0, mw, lo)


@SETTINGS
@given(peg_mws_Da, peg_mws_Da, st.floats(min_value=0.001, max_value=3.0))
def test_longer_peg_less_uptake(m1: float, m2: float, density: float) -> None:
    short, long_ = sorted((m1, m2))
    assert P.mps_uptake_multiplier(30.0, 0.0, long_, density) <= P.mps_uptake_multiplier(
        30.0, 0.0, short, density
    )


def test_uncoated_more_uptake_than_pegylated() -> None:
    d, z, mw, dens = _ref_args()
    bare = P.mps_uptake_multiplier(d, z, None, None)
    assert bare > P.mps_uptake_multiplier(d, z, mw, dens)
    assert P.mps_uptake_multiplier(d, z, mw, 0.0) == pytest.approx(bare)
    # A sparse short PEG (mushroom) shields less than the reference brush.
    assert 1.0 < P.mps_uptake_multiplier(d, z, 1000.0, 0.01) < bare


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((-13.0, 0.0, 5000.0, 0.5), "hydrodynamic_diameter_nm"),
        ((math.nan, 0.0, 5000.0, 0.5), "hydrodynamic_diameter_nm"),
        ((0.0, 0.0, 5000.0, 0.5), "hydrodynamic_diameter_nm"),
        ((13.0, math.nan, 5000.0, 0.5), "zeta_potential_mV"),
        ((13.0, math.inf, 5000.0, 0.5), "zeta_potential_mV"),
        ((13.0, 0.0, 0.0, 0.5), "peg_mw_Da"),
        ((13.0, 0.0, math.nan, 0.5), "peg_mw_Da"),
        ((13.0, 0.0, 5000.0, -0.1), "peg_density_chains_per_nm2"),
        ((13.0, 0.0, 5000.0, math.nan), "peg_density_chains_per_nm2"),
        ((13.0, 0.0, None, 0.5), "peg_density_chains_per_nm2"),
    ],
)
def test_multiplier_rejects_bad_input(
    args: tuple[float, float, float | None, float | None], name: str
) -> None:
    with pytest.raises(ValueError, match=name) as err:
        P.mps_uptake_multiplier(*args)
    arg_names = ("hydrodynamic_diameter_nm", "zeta_potential_mV", "peg_mw_Da", "peg_density_chains_per_nm2")
    bad = dict(zip(arg_names, args, strict=True))[name]
    assert repr(bad) in str(err.value)


def test_multiplier_rejects_arrays() -> None:
    with pytest.raises(ValueError, match="hydrodynamic_diameter_nm"):
        P.mps_uptake_multiplier(np.array([13.0, 20.0]), 0.0, None, None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Metadata, constants, citations
# --------------------------------------------------------------------------------------------


def _yaml() -> dict[str, object]:
    text = (resources.files("nanobridge") / "data" / "relations" / "property_relations.yaml").read_text(
        encoding="utf-8"
    )
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def test_every_constant_has_unit_citation_assumed_flag_and_note() -> None:
    relations = P.describe_relations()
    names = {r["name"] for r in relations}
    assert {"glomerular_sieving_two_pore", "renal_clearance", "mps_uptake_multiplier"} <= names
    for rel in relations:
        assert rel["formula"] and rel["citations"]
        assert isinstance(rel["assumed"], bool)
        for c in rel["constants"]:
            assert c["unit"], c["name"]
            assert c["citations"], c["name"]
            assert isinstance(c["assumed"], bool)
            assert len(c["note"]) > 20, c["name"]
            if c["assumed"]:
                assert "Assumed" in c["citations"], c["name"]
    # The MPS shapes are flagged assumed, the sieving model is not.
    by_name = {r["name"]: r for r in relations}
    assert by_name["mps_size_factor"]["assumed_shape"] is True
    assert by_name["glomerular_sieving_two_pore"]["assumed_shape"] is False


def test_all_yaml_constants_are_described() -> None:
    data = _yaml()
    described = {c["name"] for r in P.describe_relations() for c in r["constants"]}
    groups = [
        data["renal_sieving"]["constants"],  # type: ignore[index]
        data["mps_uptake"]["reference_particle"],  # type: ignore[index]
        data["mps_uptake"]["size"],  # type: ignore[index]
        data["mps_uptake"]["charge"],  # type: ignore[index]
        data["mps_uptake"]["peg"],  # type: ignore[index]
    ]
    for group in groups:
        assert set(group) <= described


def test_citation_keys_resolve_and_can_be_cited() -> None:
    keys = P.relations_citation_keys()
    assert {"Ohlson2000", "DechadilokDeen2006", "Choi2007", "Lin2016_gold_mouse", "Assumed"} <= keys
    for key in keys:
        get_reference(key)
    assert set(cite(*sorted(keys))) == keys
    for _path, key in find_citation_keys(_yaml()):
        get_reference(key)


def test_constants_loaded_match_yaml() -> None:
    p = P._renal_params()
    assert p.small_pore_radius_nm == 4.6
    assert p.large_pore_filtrate_fraction == 0.0094
    ref = P.reference_particle()
    assert ref.peg_mw_Da == 5000.0


def test_nan_results_never_escape_for_tiny_particles() -> None:
    theta = P.renal_sieving_coefficient(np.array([5e-324, 1e-300, 1e-12]))
    assert np.all(theta == pytest.approx(1.0))
