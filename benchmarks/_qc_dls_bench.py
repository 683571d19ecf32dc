"""DLS throughput: nanobridge's cumulants and inversion against straightforward reference code.

``run(quick)`` synthesizes noisy correlograms (g2−1 noise SD 1e-3) of lognormal samples on a
200-lag log grid and measures, in the same process:

* cumulants - :func:`nanobridge.science.qc.dls.fit_cumulants_array` (vectorised weighted linear
  fit of all rows at once) against a loop of ``scipy.optimize.curve_fit`` of
  ``β exp(−2Γτ + μ2 τ²)`` per correlogram on the same fit window (lags ≥ 1 µs up to where g2−1
  first falls below 0.1 of the intercept estimate);
* inversion - :func:`nanobridge.science.qc.dls.invert_correlograms` (shared, cached kernel and
  low-rank basis; full result objects with peaks) against a per-correlogram loop that builds the
  kernel afresh and solves the same GCV-chosen Tikhonov/NNLS problem on the full system
  (``numpy.linalg.svd`` + ``scipy.optimize.nnls``).

Returns rates [correlograms/s], speed-ups and agreement figures: max relative difference of the
Z-average between the two cumulant fits, and of each against the exact Z-average of the synthetic
distribution, and of the intensity-weighted mean diameter between the two inversions.
Timings depend on machine load: BLAS threads of small LAPACK calls suffer badly
when the cores are shared.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import curve_fit, nnls

from nanobridge.science.qc.dls import (
    Correlogram,
    CumulantSettings,
    InversionSettings,
    MeasurementConditions,
    diffusion_coefficient_m2_per_s,
    fit_cumulants_array,
    hydrodynamic_diameter_nm,
    invert_correlograms,
    scattering_vector_per_m,
)

CONDITIONS = MeasurementConditions(
    temperature_K=298.15, viscosity_mPa_s=0.89, solvent_refractive_index=1.33, wavelength_nm=633.0
)
ANGLE_DEG = 173.0
TAU_S = np.geomspace(2e-7, 5.0, 200)


def _synthetic(n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(n, 200) noisy g2−1 of intensity-weighted lognormals (median m 20-300 nm, σ of ln d
    0.1-0.35) and their exact Z-averages ``m exp(−σ²/2)`` (Γ ∝ 1/d, so 1/Z = E_I[1/d])."""
    rng = np.random.default_rng(seed)
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()
    q = scattering_vector_per_m(CONDITIONS.solvent_refractive_index, CONDITIONS.wavelength_nm, ANGLE_DEG)
    medians = rng.uniform(20.0, 300.0, n)
    sigmas = rng.uniform(0.1, 0.35, n)
    y = np.empty((n, TAU_S.size))
    for lo in range(0, n, 500):
        hi = min(lo + 500, n)
        d = medians[lo:hi, None] * np.exp(sigmas[lo:hi, None] * nodes[None, :])
        rates = q**2 * np.asarray(
            diffusion_coefficient_m2_per_s(d, CONDITIONS.temperature_K, CONDITIONS.viscosity_mPa_s)
        )
        g1 = np.exp(-rates[:, :, None] * TAU_S[None, None, :]).transpose(0, 2, 1) @ weights
        y[lo:hi] = 0.9 * g1**2 + rng.normal(0.0, 1e-3, (hi - lo, TAU_S.size))
    return y, medians * np.exp(-(sigmas**2) / 2.0)


def _reference_cumulant(tau: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """Straightforward non-linear second-order cumulant fit with curve_fit; returns Z [nm]."""
    use = tau >= 1e-6
    t, yy = tau[use], y[use]
    beta0 = float(np.median(yy[:5]))
    below = np.flatnonzero(yy < 0.1 * beta0)
    end = int(below[0]) if below.size else yy.size
    t, yy = t[:end], yy[:end]
    gamma0 = -0.5 * math.log(max(yy[-1], 1e-6) / beta0) / t[-1]

    def model(tt: NDArray[np.float64], beta: float, gamma: float, mu2: float) -> NDArray[np.float64]:
        return beta * np.exp(-2.0 * gamma * tt + mu2 * tt**2)

    popt, _ = curve_fit(model, t, yy, p0=(beta0, gamma0, 0.0), maxfev=2000)
    q = scattering_vector_per_m(CONDITIONS.solvent_refractive_index, CONDITIONS.wavelength_nm, ANGLE_DEG)
    return float(
        hydrodynamic_diameter_nm(popt[1] / q**2, CONDITIONS.temperature_K, CONDITIONS.viscosity_mPa_s)
    )


def _reference_inversion(
    tau: NDArray[np.float64], y: NDArray[np.float64], beta: float, settings: InversionSettings
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-correlogram inversion building everything afresh: kernel, regularizer, full SVD for
    GCV, NNLS on the full stacked system. Returns (diameters_nm, intensity fractions)."""
    c = CONDITIONS
    use = np.flatnonzero(tau >= settings.min_lag_s)
    t = tau[use]
    q = scattering_vector_per_m(c.solvent_refractive_index, c.wavelength_nm, ANGLE_DEG)
    d_min = min(
        max(float(hydrodynamic_diameter_nm(2.0 / t[0] / q**2, c.temperature_K, c.viscosity_mPa_s)), 0.5), 1e4
    )
    d_max = max(
        min(float(hydrodynamic_diameter_nm(0.2 / t[-1] / q**2, c.temperature_K, c.viscosity_mPa_s)), 2e4),
        2.0 * d_min,
    )
    d = np.geomspace(d_min, d_max, settings.n_diameters)
    rates = q**2 * np.asarray(diffusion_coefficient_m2_per_s(d, c.temperature_K, c.viscosity_mPa_s))
    k = np.exp(-np.outer(t, rates))
    n = d.size
    lap = -2.0 * np.eye(n) + np.eye(n, k=1) + np.eye(n, k=-1)
    yy = y[use]
    g1 = np.sign(yy) * np.sqrt(np.abs(yy) / beta)
    sigma = max(float(1.4826 * np.median(np.abs(np.diff(yy))) / math.sqrt(2.0)), 1e-6 * beta)
    w = np.maximum(np.abs(g1), math.sqrt(sigma / beta))
    a = k * w[:, None]
    b = w * g1
    u, s, _ = np.linalg.svd(a @ np.linalg.inv(lap), full_matrices=False)
    cvec = u.T @ b
    perp = max(float(b @ b - cvec @ cvec), 0.0)
    alphas = np.geomspace(settings.alpha_rel_min, 1.0, settings.n_alpha) * s[0]
    best, best_alpha = math.inf, alphas[0]
    for alpha in alphas:
        f = s**2 / (s**2 + alpha**2)
        gcv = (float(np.sum(((1.0 - f) * cvec) ** 2)) + perp) / (b.size - float(f.sum())) ** 2
        if gcv < best:
            best, best_alpha = gcv, alpha
    x, _ = nnls(np.vstack([a, best_alpha * lap]), np.concatenate([b, np.zeros(n)]), maxiter=50 * n)
    return d, x / x.sum()


def run(quick: bool = False) -> dict[str, float]:
    """Measure both implementations; see the module docstring for what is returned."""
    n_cum, n_cum_ref = (2000, 200) if quick else (20000, 1000)
    n_inv, n_inv_ref = (60, 30) if quick else (400, 100)
    settings = CumulantSettings()
    y, z_true = _synthetic(n_cum, seed=1)

    fit_cumulants_array(TAU_S, y[:10], CONDITIONS, ANGLE_DEG, settings)  # warm-up
    t0 = time.perf_counter()
    res = fit_cumulants_array(TAU_S, y, CONDITIONS, ANGLE_DEG, settings)
    t_nb = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _reference_cumulant(TAU_S, y[0])
        t0 = time.perf_counter()
        z_ref = np.array([_reference_cumulant(TAU_S, y[i]) for i in range(n_cum_ref)])
        t_ref = time.perf_counter() - t0
    z_diff = float(np.max(np.abs(res.z_average_nm[:n_cum_ref] / z_ref - 1.0)))
    z_err = float(np.max(np.abs(res.z_average_nm / z_true - 1.0)))
    z_err_ref = float(np.max(np.abs(z_ref / z_true[:n_cum_ref] - 1.0)))

    inv_settings = InversionSettings()
    yi, _ = _synthetic(n_inv, seed=2)
    corrs = [Correlogram(tau_s=TAU_S, g2m1=row, conditions=CONDITIONS, angle_deg=ANGLE_DEG) for row in yi]
    betas = fit_cumulants_array(TAU_S, yi, CONDITIONS, ANGLE_DEG).intercept
    invert_correlograms(corrs[:2], inv_settings, list(betas[:2]))  # warm-up (builds the cached kernel once)
    t0 = time.perf_counter()
    dists = invert_correlograms(corrs, inv_settings, list(betas))
    t_inv = time.perf_counter() - t0
    _reference_inversion(TAU_S, yi[0], float(betas[0]), inv_settings)
    t0 = time.perf_counter()
    refs = [_reference_inversion(TAU_S, yi[i], float(betas[i]), inv_settings) for i in range(n_inv_ref)]
    t_inv_ref = time.perf_counter() - t0
    mean_diff = max(
        abs(float(np.sum(dist.intensity * dist.diameters_nm)) / float(np.sum(x * d)) - 1.0)
        for dist, (d, x) in zip(dists[:n_inv_ref], refs, strict=True)
    )
    cum_rate, cum_ref_rate = n_cum / t_nb, n_cum_ref / t_ref
    inv_rate, inv_ref_rate = n_inv / t_inv, n_inv_ref / t_inv_ref
    return {
        "cumulants_per_s": cum_rate,
        "cumulants_reference_per_s": cum_ref_rate,
        "cumulants_speedup": cum_rate / cum_ref_rate,
        "cumulants_max_z_rel_diff": z_diff,
        "cumulants_max_z_rel_err_vs_truth": z_err,
        "cumulants_reference_max_z_rel_err_vs_truth": z_err_ref,
        "inversion_per_s": inv_rate,
        "inversion_reference_per_s": inv_ref_rate,
        "inversion_speedup": inv_rate / inv_ref_rate,
        "inversion_max_mean_diameter_rel_diff": mean_diff,
    }


if __name__ == "__main__":
    import sys

    for key, value in run(quick="--quick" in sys.argv).items():
        print(f"{key}={value:.6g}")
