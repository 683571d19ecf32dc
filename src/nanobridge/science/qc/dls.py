"""Dynamic light scattering (DLS): cumulants, regularized size distributions, quality, multi-angle.

Input is a measured intensity autocorrelation function ``g2(τ) − 1`` against the lag time τ,
with the measurement conditions (temperature, dispersant viscosity and refractive index, laser
wavelength) and the scattering angle θ (:class:`Correlogram`; readers in
:mod:`nanobridge.science.qc.dls_io`).

Physics (BernePecora1976): scattering vector ``q = 4π n sin(θ/2) / λ``; for Gaussian scattered
fields the Siegert relation ``g2 − 1 = β |g1|²`` links the measured intensity correlation to the
field correlation ``g1(τ) = ∫ G(Γ) exp(−Γτ) dΓ``, where ``G`` is the intensity-weighted
distribution of decay rates and ``Γ = D q²`` for translational diffusion. Stokes–Einstein
(Einstein1905; Boltzmann constant BIPM2019) converts a diffusion coefficient into a
hydrodynamic diameter ``d_h = k_B T / (3π η D)``.

Methods
-------
* **Cumulants** (Koppel1972; ISO22412_2017), :func:`fit_cumulants`: a weighted linear least-squares
  fit of ``ln(g2 − 1) = ln β − 2Γ̄τ + μ2 τ² − (μ3/3) τ³`` (order 2 drops the τ³ term). The
  linearised fit is used, not a non-linear one, because it has a closed-form solution (no start
  values, no iterations, no failure to converge) that vectorises over thousands of correlograms
  sharing a lag grid; it is Koppel's original polynomial fit of the logarithm. Each point carries
  the weight ``(g2 − 1)²``, the inverse variance of ``ln(g2 − 1)`` for a constant absolute noise in
  ``g2 − 1``, so the noisy low-correlation points do not dominate. The fit window starts at
  ``min_lag_s`` (default 1 µs: the first channels of photon-counting correlators carry detector
  dead-time and afterpulsing artefacts, e.g. ALV's 100 ns channel; a 1 µs cut removes < 1 % of
  the decay of any particle above 1 nm) and ends at the last lag before ``g2 − 1`` first falls
  below ``cutoff_fraction`` (default 0.1) of the intercept. Results: Z-average diameter
  ``k_B T q² / (3π η Γ̄)`` (the harmonic intensity-weighted mean diameter), PDI ``μ2 / Γ̄²``,
  intercept β, residuals and every setting (:class:`CumulantSettings`) - the PDI in
  particular depends on the fit window.
* **Regularized inversion** (Provencher1982, CONTIN-style), :func:`invert_correlogram`: the field
  correlation ``g1 = sign(g2−1)·sqrt(|g2−1| / β)`` (β from the cumulant fit) is inverted for
  non-negative intensity fractions ``x_j`` on a log-spaced diameter grid, minimising
  ``‖W(Kx − g1)‖² + α²‖Lx‖²`` with ``K_ij = exp(−Γ_j τ_i)``, ``L`` the second-difference
  operator with zero values assumed just outside the grid, and ``W = diag(max(g1, g1_noise))``
  (the linearised inverse noise of ``g1`` derived from constant noise in ``g2 − 1``). The
  minimisation is NNLS (LawsonHanson1974) on the stacked system. The strength α is chosen by
  generalized cross-validation (Golub1979) of the unconstrained Tikhonov problem, evaluated in
  closed form from one SVD on a 10⁻⁶…1 grid relative to the largest singular value; the chosen
  α, whether it hit the grid edge and the effective number of parameters are stored in the
  result. GCV assumes independent noise; multi-tau correlator noise is correlated between lags,
  for which GCV tends to under-smooth and runs into the 10⁻⁶ floor (flagged as "info"); the
  non-negativity constraint keeps such solutions well-behaved. The kernel, grid, regularizer,
  form factors and a low-rank SVD basis of ``K L⁻¹`` depend only on the lags, conditions, angle
  and settings: :func:`build_inversion_kernel` builds them once (LRU-cached) and every
  correlogram sharing them reuses them, so the per-correlogram work is one thin SVD of an
  m × r matrix (r ≈ 40) and one NNLS of size (r + n) × n.
* **Intensity → volume → number**: the inversion gives the intensity-weighted distribution.
  Homogeneous spheres of one material are assumed: the number distribution is the intensity
  distribution divided by the scattered intensity of one particle at the measurement angle, and
  the volume distribution is the number distribution times ``d³``. The per-particle intensity
  is either the Rayleigh–Gans–Debye sphere form factor ``d⁶ P(qd/2)`` (Kerker1969; valid for
  ``|m − 1| << 1`` and ``2kR|m − 1| << 1``, e.g. polymer or lipid particles in water; the
  optical contrast cancels for a single material) or exact Mie theory (BohrenHuffman1983;
  needs the particle's complex refractive index, required for metals and oxides). Plain
  Rayleigh ``d⁶`` scaling is not offered: it is wrong once d is no longer << λ.
* **Quality verdict** (:func:`assess_quality`): intercept range, baseline (mean of the last 10 %
  of lags, should be ~0), undecayed tails, fit residuals, PDI range, count-rate spikes (dust)
  and large-particle content from the inversion, each a flag with its reason, value and limit.
  The thresholds are assumed engineering limits (cited as ``Assumed``), stored in the result.
* **Multi-angle** (:func:`multi_angle_analysis`): apparent ``D = Γ̄/q²`` per angle, an ordinary
  least-squares line of D against q² and its extrapolation to q² → 0 with the standard error, giving
  ``R_h`` at q² → 0; the mean and SD of the per-angle ``R_h`` and PDI.

What DLS and these methods cannot resolve
-----------------------------------------
* Populations closer than a factor of ~2-3 in diameter appear as one broadened peak; the
  inversion is ill-posed and its peak widths reflect the regularization, not the sample.
* Intensity weighting scales as ~d⁶ for small particles: a few large particles or aggregates
  (or dust) dominate the signal and the Z-average; small populations next to large ones can be
  invisible. Number distributions are obtained by dividing by this steep weighting and are
  unreliable (noise in the large-size tail becomes huge number fractions and vice versa); use
  them for orientation only, never as release values.
* Multiple scattering (turbid samples), particle interactions (concentrated samples: D depends
  on concentration), sedimentation, number fluctuations and non-Gaussian statistics violate
  the Siegert relation and single-particle diffusion; the results are then apparent values.
* Non-spherical, porous or core-shell particles: the hydrodynamic diameter is that of a sphere
  that diffuses equally fast; rotational diffusion of anisotropic particles adds decay modes;
  the form-factor conversions assume homogeneous spheres.
* Particles above ~5-10 µm, or that sediment, do not give a stationary correlogram; particles
  below ~1 nm decay within the first lags.
* The Z-average and PDI are method-defined (ISO 22412); the PDI depends on the fit window,
  which is why the settings are stored with every result.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)
from scipy.optimize import nnls

from nanobridge.citations import cite
from nanobridge.science.qc.errors import QCInputError

__all__ = [
    "BOLTZMANN_J_PER_K",
    "Correlogram",
    "CumulantArrays",
    "CumulantResult",
    "CumulantSettings",
    "DLSAnalysis",
    "InversionKernel",
    "InversionSettings",
    "MeasurementConditions",
    "MultiAnglePoint",
    "MultiAngleResult",
    "Peak",
    "QualityFlag",
    "QualitySettings",
    "QualityVerdict",
    "SizeDistribution",
    "analyze_correlogram",
    "analyze_correlograms",
    "assess_quality",
    "build_inversion_kernel",
    "diffusion_coefficient_m2_per_s",
    "fit_cumulants",
    "fit_cumulants_array",
    "fit_cumulants_many",
    "hydrodynamic_diameter_nm",
    "invert_correlogram",
    "invert_correlograms",
    "mie_perpendicular_intensity",
    "multi_angle_analysis",
    "rgd_sphere_intensity",
    "scattering_vector_per_m",
    "simulate_correlogram",
]

#: Boltzmann constant [J/K], exact in the 2019 SI (BIPM2019).
BOLTZMANN_J_PER_K = 1.380649e-23
#: Fewest lag points a correlogram may have.
MIN_POINTS = 10
#: Largest physically possible intercept estimate of g2 - 1 accepted (β ≤ 1 for an ideal
#: single-mode detection; up to 1.5 is tolerated for noise and afterpulsing). Engineering limit.
MAX_INTERCEPT = 1.5
#: Relative singular-value cut of the shared low-rank basis of the inversion kernel (numerical
#: tolerance, far below any measurement noise).
KERNEL_RANK_RTOL = 1e-12

_CUMULANT_CITATIONS = ("Koppel1972", "ISO22412_2017", "BernePecora1976", "Einstein1905", "BIPM2019")
_INVERSION_CITATIONS = ("Provencher1982", "LawsonHanson1974", "Golub1979", "BernePecora1976")


# --------------------------------------------------------------------------------------------
# Array fields and the error-translating base model
# --------------------------------------------------------------------------------------------


def _to_1d_float(value: Any) -> NDArray[np.float64]:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"must be a sequence of numbers ({exc})") from None
    if arr.ndim != 1:
        raise ValueError(f"must be one-dimensional, got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


FloatArray = Annotated[
    np.ndarray,
    BeforeValidator(_to_1d_float),
    PlainSerializer(lambda a: np.asarray(a).tolist(), return_type=list),
]


class _QCModel(BaseModel):
    """Frozen model whose validation errors surface as :class:`QCInputError`."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise QCInputError(self._error_prefix(data) + _format_validation_error(exc)) from None

    @classmethod
    def _error_prefix(cls, data: dict[str, Any]) -> str:
        return f"invalid {cls.__name__}: "


def _format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


# --------------------------------------------------------------------------------------------
# Conditions, physics helpers
# --------------------------------------------------------------------------------------------


class MeasurementConditions(_QCModel):
    """Conditions of a DLS measurement (the scattering angle is on the :class:`Correlogram`).

    Allowed ranges are plausibility limits, not literature values: temperature 200-500 K,
    viscosity 0.05-10⁴ mPa·s, refractive index 1.0-2.5, wavelength 200-2000 nm.
    """

    temperature_K: float = Field(ge=200.0, le=500.0)
    viscosity_mPa_s: float = Field(gt=0.05, le=1e4)
    solvent_refractive_index: float = Field(ge=1.0, le=2.5)
    wavelength_nm: float = Field(ge=200.0, le=2000.0)

    def key(self) -> tuple[float, float, float, float]:
        return (self.temperature_K, self.viscosity_mPa_s, self.solvent_refractive_index, self.wavelength_nm)


def scattering_vector_per_m(solvent_refractive_index: float, wavelength_nm: float, angle_deg: float) -> float:
    """Magnitude of the scattering vector ``q = 4π n sin(θ/2) / λ`` [1/m] (BernePecora1976)."""
    cite("BernePecora1976")
    return (
        4.0
        * math.pi
        * solvent_refractive_index
        * math.sin(math.radians(angle_deg) / 2.0)
        / (wavelength_nm * 1e-9)
    )


def _scalar_or_array(arr: NDArray[np.float64]) -> float | NDArray[np.float64]:
    return float(arr) if arr.ndim == 0 else arr


def hydrodynamic_diameter_nm(
    diffusion_m2_per_s: float | NDArray[np.float64], temperature_K: float, viscosity_mPa_s: float
) -> float | NDArray[np.float64]:
    """Stokes–Einstein diameter ``k_B T / (3π η D)`` [nm] (Einstein1905, BIPM2019); a float for a
    float input, else an array."""
    cite("Einstein1905", "BIPM2019")
    diff = np.asarray(diffusion_m2_per_s, dtype=np.float64)
    d_m = BOLTZMANN_J_PER_K * temperature_K / (3.0 * math.pi * viscosity_mPa_s * 1e-3 * diff)
    return _scalar_or_array(d_m * 1e9)


def diffusion_coefficient_m2_per_s(
    diameter_nm: float | NDArray[np.float64], temperature_K: float, viscosity_mPa_s: float
) -> float | NDArray[np.float64]:
    """Stokes–Einstein diffusion coefficient of a sphere of hydrodynamic diameter ``d`` [m²/s]."""
    cite("Einstein1905", "BIPM2019")
    d_m = np.asarray(diameter_nm, dtype=np.float64) * 1e-9
    return _scalar_or_array(
        BOLTZMANN_J_PER_K * temperature_K / (3.0 * math.pi * viscosity_mPa_s * 1e-3 * d_m)
    )


# --------------------------------------------------------------------------------------------
# Correlogram
# --------------------------------------------------------------------------------------------


class Correlogram(_QCModel):
    """A measured intensity autocorrelation function ``g2(τ) − 1`` with its conditions.

    Validation (a :class:`QCInputError` names the source, label and problem): at least
    :data:`MIN_POINTS` points; lags positive, finite and strictly increasing; ``g2 − 1`` finite;
    an intercept estimate (largest of the first five values) in ``(0, 1.5]``; a decay (the
    mean of the last 10 % of the lags below half the intercept); optional count-rate trace with
    matching, finite, non-negative arrays. ``assumed`` names condition fields that the source
    did not record and were filled with assumed values.
    """

    tau_s: FloatArray
    g2m1: FloatArray
    conditions: MeasurementConditions
    angle_deg: float = Field(gt=0.0, lt=180.0)
    count_rate_time_s: FloatArray | None = None
    count_rate_kHz: FloatArray | None = None
    source: str = "<memory>"
    label: str = ""
    assumed: tuple[str, ...] = ()

    @classmethod
    def _error_prefix(cls, data: dict[str, Any]) -> str:
        where = str(data.get("source", "<memory>"))
        label = data.get("label")
        angle = data.get("angle_deg")
        bits = [b for b in (str(label) if label else "", f"angle {angle}°" if angle is not None else "") if b]
        return f"{where}" + (f" ({', '.join(bits)})" if bits else "") + ": invalid correlogram: "

    @model_validator(mode="after")
    def _check(self) -> Correlogram:
        tau, y = self.tau_s, self.g2m1
        if tau.size != y.size:
            raise ValueError(f"{tau.size} lag times but {y.size} g2-1 values; they must pair up")
        if tau.size < MIN_POINTS:
            raise ValueError(f"only {tau.size} points; at least {MIN_POINTS} are needed")
        bad = np.flatnonzero(~np.isfinite(tau))
        if bad.size:
            raise ValueError(f"lag time at index {bad[0]} is {tau[bad[0]]}; lags must be finite")
        bad = np.flatnonzero(~np.isfinite(y))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"g2-1 at index {i} (lag {tau[i]:.4g} s) is {y[i]}; values must be finite")
        if tau[0] <= 0.0:
            raise ValueError(f"first lag time is {tau[0]:.4g} s; lag times must be positive")
        steps = np.flatnonzero(np.diff(tau) <= 0.0)
        if steps.size:
            i = int(steps[0]) + 1
            raise ValueError(
                f"lag times must increase strictly; lag[{i}] = {tau[i]:.6g} s follows "
                f"lag[{i - 1}] = {tau[i - 1]:.6g} s"
            )
        intercept = float(np.max(y[:5]))
        if intercept > MAX_INTERCEPT:
            raise ValueError(
                f"g2-1 starts at {intercept:.3g} > {MAX_INTERCEPT}: not a physical intensity correlation "
                "(blank or solvent-only sample with detector afterpulsing, or a wrongly normalised export)"
            )
        if intercept <= 0.0:
            raise ValueError(f"g2-1 starts at {intercept:.3g} <= 0: no correlation was measured")
        n_tail = max(3, tau.size // 10)
        tail = float(np.mean(y[-n_tail:]))
        if tail >= 0.5 * intercept:
            raise ValueError(
                f"g2-1 never decays: the last {n_tail} lags average {tail:.3g}, at least half the intercept "
                f"{intercept:.3g} (particles too large or sedimenting, or the lag range ends too early)"
            )
        if (self.count_rate_time_s is None) != (self.count_rate_kHz is None):
            raise ValueError("count_rate_time_s and count_rate_kHz must be given together")
        if self.count_rate_time_s is not None and self.count_rate_kHz is not None:
            t, c = self.count_rate_time_s, self.count_rate_kHz
            if t.size != c.size:
                raise ValueError(f"count-rate trace has {t.size} times but {c.size} rates")
            if t.size and (not np.all(np.isfinite(t)) or not np.all(np.isfinite(c))):
                raise ValueError("count-rate trace contains non-finite values")
            if t.size and np.any(c < 0):
                raise ValueError(f"count rate {float(c.min()):.4g} kHz is negative")
        return self

    @property
    def q_per_m(self) -> float:
        """Scattering vector magnitude [1/m]."""
        c = self.conditions
        return scattering_vector_per_m(c.solvent_refractive_index, c.wavelength_nm, self.angle_deg)

    def describe(self) -> str:
        """Short human-readable identification (source, label, angle)."""
        label = f" {self.label}" if self.label else ""
        return f"{self.source}{label} at {self.angle_deg:g}°"


# --------------------------------------------------------------------------------------------
# Cumulants
# --------------------------------------------------------------------------------------------


class CumulantSettings(_QCModel):
    """Fit settings of the cumulant analysis (stored with every result).

    ``cutoff_fraction``: the window ends before ``g2 − 1`` first falls below this fraction of
    the intercept estimate (median of the first five lags ≥ ``min_lag_s``); ``order``: 2 (ISO
    22412 default) or 3 cumulants; ``weighting``: ``"inverse_log_variance"`` (weights
    ``(g2 − 1)²``) or ``"none"``.
    """

    order: Literal[2, 3] = 2
    cutoff_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    min_lag_s: float = Field(1e-6, ge=0.0)
    max_lag_s: float | None = Field(None, gt=0.0)
    weighting: Literal["inverse_log_variance", "none"] = "inverse_log_variance"


class CumulantArrays(_QCModel):
    """Vectorised cumulant results for N correlograms sharing a lag grid (NaN where a fit failed;
    ``failure`` then says why, else it is empty)."""

    decay_rate_per_s: FloatArray
    mu2_per_s2: FloatArray
    mu3_per_s3: FloatArray
    intercept: FloatArray
    pdi: FloatArray
    z_average_nm: FloatArray
    diffusion_m2_per_s: FloatArray
    n_points: FloatArray
    first_lag_s: FloatArray
    last_lag_s: FloatArray
    rms_residual_rel: FloatArray
    failure: tuple[str, ...]
    settings: CumulantSettings


class CumulantResult(_QCModel):
    """ISO 22412 cumulant analysis of one correlogram.

    ``residuals`` are ``g2−1 (measured) − g2−1 (fit)`` on the fit window (``fit_tau_s``);
    ``rms_residual_rel`` is their RMS divided by the intercept.
    """

    source: str
    label: str
    angle_deg: float
    conditions: MeasurementConditions
    settings: CumulantSettings
    q_per_m: float
    z_average_nm: float
    hydrodynamic_radius_nm: float
    pdi: float
    intercept: float
    decay_rate_per_s: float
    mu2_per_s2: float
    mu3_per_s3: float | None
    diffusion_m2_per_s: float
    first_lag_s: float
    last_lag_s: float
    n_points: int
    fit_tau_s: FloatArray
    fit_g2m1: FloatArray
    residuals: FloatArray
    rms_residual_rel: float
    citation_keys: tuple[str, ...] = _CUMULANT_CITATIONS


def _cumulant_core(
    tau: NDArray[np.float64], y: NDArray[np.float64], settings: CumulantSettings
) -> dict[str, NDArray[np.float64]]:
    """Vectorised weighted linear cumulant fit of rows of ``y`` (N, m) on the lag grid ``tau``."""
    base = tau >= settings.min_lag_s
    if settings.max_lag_s is not None:
        base &= tau <= settings.max_lag_s
    idx = np.flatnonzero(base)
    n_rows = y.shape[0]
    p = settings.order + 1
    nan = np.full(n_rows, np.nan)
    if idx.size < p + 2:
        return {
            "status": np.full(n_rows, 1.0),
            "beta": nan,
            "gamma": nan,
            "mu2": nan,
            "mu3": nan,
            "n": np.zeros(n_rows),
            "first": nan,
            "last": nan,
            "rms": nan,
        }
    tb = tau[idx]
    yb = y[:, idx]
    beta0 = np.median(yb[:, : min(5, idx.size)], axis=1)
    ok = yb > (settings.cutoff_fraction * beta0)[:, None]
    win = np.logical_and.accumulate(ok, axis=1)
    n = win.sum(axis=1)
    good = (beta0 > 0) & (n >= p + 2)
    last_i = np.maximum(n - 1, 0)
    scale = tb[last_i]
    t = tb[None, :] / scale[:, None]
    ysafe = np.where(win, yb, 1.0)
    z = np.log(ysafe)
    w = ysafe * ysafe if settings.weighting == "inverse_log_variance" else np.ones_like(ysafe)
    w = np.where(win, w, 0.0)
    # Moments sum_j w t^r (r = 0..2p-2) and sum_j w t^k z (k = 0..p-1).
    powers = np.empty((2 * p - 1, *t.shape))
    powers[0] = 1.0
    for r in range(1, 2 * p - 1):
        powers[r] = powers[r - 1] * t
    moments = np.einsum("rij,ij->ir", powers, w)
    rhs = np.einsum("kij,ij->ik", powers[:p], w * z)
    hankel = np.add.outer(np.arange(p), np.arange(p))
    a = moments[:, hankel]
    a[~good] = np.eye(p)
    rhs[~good] = 0.0
    coef = np.linalg.solve(a, rhs[..., None])[..., 0]
    beta = np.exp(coef[:, 0])
    gamma = -coef[:, 1] / (2.0 * scale)
    mu2 = coef[:, 2] / scale**2
    mu3 = -3.0 * coef[:, 3] / scale**3 if p == 4 else np.full(n_rows, np.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        model = np.exp(np.einsum("kij,ik->ij", powers[:p], coef))
    resid = np.where(win, yb - model, 0.0)
    rms = np.sqrt(np.sum(resid**2, axis=1) / np.maximum(n, 1)) / beta
    status = np.zeros(n_rows)
    status[~good] = 2.0
    status[good & ~(gamma > 0)] = 3.0
    bad = status > 0
    for arr in (beta, gamma, mu2, mu3, rms):
        arr[bad] = np.nan
    first = np.where(bad, np.nan, tb[0])
    last = np.where(bad, np.nan, scale)
    return {
        "status": status,
        "beta": beta,
        "gamma": gamma,
        "mu2": mu2,
        "mu3": mu3,
        "n": n.astype(float),
        "first": first,
        "last": last,
        "rms": rms,
        "model": model,
        "win": win,
        "idx": idx,
    }


#: Rows per vectorised block of the cumulant fit (keeps the work arrays cache-sized).
_CHUNK_ROWS = 256

_FAILURES = {
    1.0: "fewer lags than cumulant parameters + 2 after the min/max lag limits",
    2.0: "too few points above the cutoff (decays before the first usable lag, or no correlation)",
    3.0: "non-physical fit: the mean decay rate is not positive",
}


def fit_cumulants_array(
    tau_s: NDArray[np.float64],
    g2m1: NDArray[np.float64],
    conditions: MeasurementConditions,
    angle_deg: float | NDArray[np.float64],
    settings: CumulantSettings | None = None,
) -> CumulantArrays:
    """Cumulant fits of many correlograms sharing one lag grid, fully vectorised.

    ``g2m1`` is (N, m) for ``tau_s`` (m,); ``angle_deg`` a scalar or (N,). No validation of
    the rows beyond what the fit needs (use :class:`Correlogram` for that): failed rows are NaN
    with a reason in ``failure``.
    """
    cite(*_CUMULANT_CITATIONS)
    settings = settings or CumulantSettings()
    tau = np.asarray(tau_s, dtype=np.float64)
    y = np.atleast_2d(np.asarray(g2m1, dtype=np.float64))
    if y.shape[1] != tau.size:
        raise QCInputError(f"g2m1 has {y.shape[1]} columns but tau_s has {tau.size} lags")
    chunks = [
        _cumulant_core(tau, y[lo : lo + _CHUNK_ROWS], settings) for lo in range(0, y.shape[0], _CHUNK_ROWS)
    ]
    out = {
        k: np.concatenate([ch[k] for ch in chunks])
        for k in ("status", "beta", "gamma", "mu2", "mu3", "n", "first", "last", "rms")
    }
    c = conditions
    theta = np.broadcast_to(np.asarray(angle_deg, dtype=np.float64), (y.shape[0],))
    q = 4.0 * np.pi * c.solvent_refractive_index * np.sin(np.radians(theta) / 2.0) / (c.wavelength_nm * 1e-9)
    diff = out["gamma"] / q**2
    z_nm = np.asarray(hydrodynamic_diameter_nm(diff, c.temperature_K, c.viscosity_mPa_s))
    failure = tuple(_FAILURES.get(float(s), "") for s in out["status"]) if np.any(out["status"] > 0) else ()
    return CumulantArrays(
        decay_rate_per_s=out["gamma"],
        mu2_per_s2=out["mu2"],
        mu3_per_s3=out["mu3"],
        intercept=out["beta"],
        pdi=out["mu2"] / out["gamma"] ** 2,
        z_average_nm=z_nm,
        diffusion_m2_per_s=diff,
        n_points=out["n"],
        first_lag_s=out["first"],
        last_lag_s=out["last"],
        rms_residual_rel=out["rms"],
        failure=failure,
        settings=settings,
    )


def _grid_key(tau: NDArray[np.float64]) -> tuple[int, str]:
    return (tau.size, hashlib.blake2b(np.ascontiguousarray(tau).tobytes(), digest_size=16).hexdigest())


def fit_cumulants_many(
    correlograms: Sequence[Correlogram], settings: CumulantSettings | None = None
) -> list[CumulantResult]:
    """Cumulant fits of several correlograms; those sharing a lag grid are fitted in one
    vectorised pass. Raises :class:`QCInputError` naming the first correlogram that cannot be fitted."""
    cite(*_CUMULANT_CITATIONS)
    settings = settings or CumulantSettings()
    results: list[CumulantResult | None] = [None] * len(correlograms)
    groups: dict[tuple[int, str], list[int]] = {}
    for i, corr in enumerate(correlograms):
        groups.setdefault(_grid_key(corr.tau_s), []).append(i)
    for all_members in groups.values():
        for lo in range(0, len(all_members), _CHUNK_ROWS):
            members = all_members[lo : lo + _CHUNK_ROWS]
            _fit_block(correlograms, members, settings, results)
    return [r for r in results if r is not None]


def _fit_block(
    correlograms: Sequence[Correlogram],
    members: list[int],
    settings: CumulantSettings,
    results: list[CumulantResult | None],
) -> None:
    tau = correlograms[members[0]].tau_s
    y = np.stack([correlograms[i].g2m1 for i in members])
    out = _cumulant_core(tau, y, settings)
    for row, i in enumerate(members):
        corr = correlograms[i]
        status = float(out["status"][row])
        if status > 0:
            raise QCInputError(f"{corr.describe()}: cumulant fit failed: {_FAILURES[status]}")
        results[i] = _cumulant_result(corr, settings, out, row)


def _cumulant_result(
    corr: Correlogram, settings: CumulantSettings, out: dict[str, NDArray[np.float64]], row: int
) -> CumulantResult:
    c = corr.conditions
    q = corr.q_per_m
    gamma = float(out["gamma"][row])
    diff = gamma / q**2
    d_nm = float(hydrodynamic_diameter_nm(diff, c.temperature_K, c.viscosity_mPa_s))
    win = out["win"][row]
    idx = out["idx"]
    fit_tau = corr.tau_s[idx][win]
    model = out["model"][row][win]
    mu3 = float(out["mu3"][row])
    return CumulantResult(
        source=corr.source,
        label=corr.label,
        angle_deg=corr.angle_deg,
        conditions=c,
        settings=settings,
        q_per_m=q,
        z_average_nm=d_nm,
        hydrodynamic_radius_nm=d_nm / 2.0,
        pdi=float(out["mu2"][row]) / gamma**2,
        intercept=float(out["beta"][row]),
        decay_rate_per_s=gamma,
        mu2_per_s2=float(out["mu2"][row]),
        mu3_per_s3=None if math.isnan(mu3) else mu3,
        diffusion_m2_per_s=diff,
        first_lag_s=float(out["first"][row]),
        last_lag_s=float(out["last"][row]),
        n_points=int(out["n"][row]),
        fit_tau_s=fit_tau,
        fit_g2m1=model,
        residuals=corr.g2m1[idx][win] - model,
        rms_residual_rel=float(out["rms"][row]),
    )


def fit_cumulants(corr: Correlogram, settings: CumulantSettings | None = None) -> CumulantResult:
    """ISO 22412 cumulant analysis of one correlogram (Koppel1972; see the module docstring)."""
    return fit_cumulants_many([corr], settings)[0]


# --------------------------------------------------------------------------------------------
# Form factors: Rayleigh-Gans-Debye and Mie
# --------------------------------------------------------------------------------------------


def rgd_sphere_intensity(diameters_nm: NDArray[np.float64], q_per_m: float) -> NDArray[np.float64]:
    """Relative scattered intensity of one homogeneous sphere in the Rayleigh–Gans–Debye
    approximation, ``d⁶ P(qd/2)`` with ``P(u) = [3 (sin u − u cos u) / u³]²`` (Kerker1969).

    The optical contrast factor is the same for all sizes of one material and is left out.
    """
    cite("Kerker1969")
    d = np.asarray(diameters_nm, dtype=np.float64)
    u = q_per_m * d * 1e-9 / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(u < 1e-3, 1.0 - u**2 / 5.0, 3.0 * (np.sin(u) - u * np.cos(u)) / u**3) ** 2
    return d**6 * p


def _mie_ab(
    x: NDArray[np.float64], m: complex, n_terms: int | None = None
) -> tuple[NDArray[np.complex128], NDArray[np.complex128], NDArray[np.int64]]:
    """Mie coefficients a_n, b_n (n = 1..nmax, shape (nmax, len(x))) of spheres with size
    parameters ``x`` and relative refractive index ``m`` (BohrenHuffman1983, BHMIE); terms
    beyond each sphere's own ``nstop = x + 4 x^(1/3) + 2`` are zero."""
    x = np.asarray(x, dtype=np.float64)
    nstop = np.floor(x + 4.0 * np.cbrt(x) + 2.0).astype(np.int64)
    nmax = int(nstop.max()) if n_terms is None else n_terms
    y = m * x
    nmx = int(max(nmax, float(np.abs(y).max())) + 16)
    d = np.zeros((nmx + 1, x.size), dtype=np.complex128)
    for n in range(nmx, 0, -1):
        d[n - 1] = n / y - 1.0 / (d[n] + n / y)
    a = np.zeros((nmax, x.size), dtype=np.complex128)
    b = np.zeros((nmax, x.size), dtype=np.complex128)
    psi0, psi1 = np.cos(x), np.sin(x)
    chi0, chi1 = -np.sin(x), np.cos(x)
    xi1 = psi1 - 1j * chi1
    with np.errstate(all="ignore"):
        for n in range(1, nmax + 1):
            psi = (2 * n - 1) * psi1 / x - psi0
            chi = (2 * n - 1) * chi1 / x - chi0
            xi = psi - 1j * chi
            da = d[n] / m + n / x
            db = m * d[n] + n / x
            an = (da * psi - psi1) / (da * xi - xi1)
            bn = (db * psi - psi1) / (db * xi - xi1)
            active = n <= nstop
            a[n - 1] = np.where(active, an, 0.0)
            b[n - 1] = np.where(active, bn, 0.0)
            psi0, psi1 = psi1, psi
            chi0, chi1 = chi1, chi
            xi1 = psi1 - 1j * chi1
    return a, b, nstop


def mie_perpendicular_intensity(
    diameters_nm: NDArray[np.float64],
    wavelength_nm: float,
    medium_refractive_index: float,
    particle_refractive_index: complex,
    angle_deg: float,
) -> NDArray[np.float64]:
    """``|S1(θ)|²``: relative intensity one homogeneous sphere scatters at angle θ for light
    polarized perpendicular to the scattering plane (the usual vertically polarized DLS
    geometry), by Mie theory (BohrenHuffman1983). ``particle_refractive_index`` may be complex
    (``n + ik``, k ≥ 0 for absorbing particles such as gold)."""
    cite("BohrenHuffman1983")
    d = np.asarray(diameters_nm, dtype=np.float64)
    x = np.pi * d * medium_refractive_index / wavelength_nm
    m = complex(particle_refractive_index) / medium_refractive_index
    a, b, _ = _mie_ab(x, m)
    mu = math.cos(math.radians(angle_deg))
    s1 = np.zeros(x.size, dtype=np.complex128)
    pi_prev, pi_n = 0.0, 1.0
    for n in range(1, a.shape[0] + 1):
        tau_n = n * mu * pi_n - (n + 1) * pi_prev
        s1 += (2 * n + 1) / (n * (n + 1)) * (a[n - 1] * pi_n + b[n - 1] * tau_n)
        pi_prev, pi_n = pi_n, ((2 * n + 1) * mu * pi_n - (n + 1) * pi_prev) / n
    return np.abs(s1) ** 2


# --------------------------------------------------------------------------------------------
# Regularized inversion
# --------------------------------------------------------------------------------------------


class InversionSettings(_QCModel):
    """Settings of the regularized (CONTIN-style) inversion, stored with every result.

    Diameter grid: ``n_diameters`` log-spaced points from ``diameter_min_nm`` to
    ``diameter_max_nm`` (default: the sizes whose decay ``Γτ`` at the first used lag is 2, and
    at the last lag 0.2, clipped to 0.5 nm-20 µm). ``regularization="gcv"`` chooses α by GCV
    on ``n_alpha`` values from ``alpha_rel_min`` to 1 times the largest singular value;
    ``"fixed"`` uses ``alpha_rel``. ``form_factor`` "rgd" (no particle index needed) or "mie"
    (needs ``particle_refractive_index`` and, for absorbing particles, ``particle_absorption_index``).
    """

    n_diameters: int = Field(90, ge=20, le=400)
    diameter_min_nm: float | None = Field(None, gt=0.0)
    diameter_max_nm: float | None = Field(None, gt=0.0)
    min_lag_s: float = Field(1e-6, ge=0.0)
    regularization: Literal["gcv", "fixed"] = "gcv"
    alpha_rel: float | None = Field(None, gt=0.0)
    alpha_rel_min: float = Field(1e-6, gt=0.0, lt=1.0)
    n_alpha: int = Field(49, ge=5, le=400)
    form_factor: Literal["rgd", "mie"] = "rgd"
    particle_refractive_index: float | None = Field(None, gt=0.0)
    particle_absorption_index: float = Field(0.0, ge=0.0)
    peak_threshold_fraction: float = Field(0.02, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _check(self) -> InversionSettings:
        if self.regularization == "fixed" and self.alpha_rel is None:
            raise ValueError("regularization='fixed' needs alpha_rel")
        if self.form_factor == "mie" and self.particle_refractive_index is None:
            raise ValueError(
                "form_factor='mie' needs particle_refractive_index (real part of the particle's index)"
            )
        if (
            self.diameter_min_nm is not None
            and self.diameter_max_nm is not None
            and self.diameter_min_nm >= self.diameter_max_nm
        ):
            raise ValueError(
                f"diameter_min_nm {self.diameter_min_nm} must be below diameter_max_nm {self.diameter_max_nm}"
            )
        return self


@dataclass(frozen=True)
class InversionKernel:
    """Everything of an inversion that depends only on lags, conditions, angle and settings.

    ``lag_index`` selects the lags used from the correlogram; ``intensity_per_particle`` is the
    relative scattered intensity of one particle of each grid diameter at the angle (max 1).
    """

    lag_index: NDArray[np.int64]
    tau_s: NDArray[np.float64]
    diameters_nm: NDArray[np.float64]
    decay_rates_per_s: NDArray[np.float64]
    kernel: NDArray[np.float64]
    regularizer: NDArray[np.float64]
    regularizer_inv: NDArray[np.float64]
    intensity_per_particle: NDArray[np.float64]
    form_factor_P: NDArray[np.float64]
    q_per_m: float
    basis_us: NDArray[np.float64]
    basis_vt_reg: NDArray[np.float64]


_KERNEL_CACHE: OrderedDict[tuple[Any, ...], InversionKernel] = OrderedDict()
_KERNEL_CACHE_SIZE = 32


def build_inversion_kernel(
    tau_s: NDArray[np.float64],
    conditions: MeasurementConditions,
    angle_deg: float,
    settings: InversionSettings,
) -> InversionKernel:
    """Build (or fetch from a small LRU cache) the :class:`InversionKernel` for a lag grid."""
    tau = np.asarray(tau_s, dtype=np.float64)
    key = (_grid_key(tau), conditions.key(), float(angle_deg), settings.model_dump_json())
    hit = _KERNEL_CACHE.get(key)
    if hit is not None:
        _KERNEL_CACHE.move_to_end(key)
        return hit
    kern = _build_kernel(tau, conditions, angle_deg, settings)
    _KERNEL_CACHE[key] = kern
    if len(_KERNEL_CACHE) > _KERNEL_CACHE_SIZE:
        _KERNEL_CACHE.popitem(last=False)
    return kern


def _build_kernel(
    tau: NDArray[np.float64], conditions: MeasurementConditions, angle_deg: float, settings: InversionSettings
) -> InversionKernel:
    c = conditions
    idx = np.flatnonzero(tau >= settings.min_lag_s)
    if idx.size < MIN_POINTS:
        raise QCInputError(
            f"only {idx.size} lags at or above min_lag_s = {settings.min_lag_s:g} s; "
            f"at least {MIN_POINTS} needed"
        )
    t = tau[idx]
    q = scattering_vector_per_m(c.solvent_refractive_index, c.wavelength_nm, angle_deg)

    def diameter_for_rate(rate: float) -> float:
        return float(hydrodynamic_diameter_nm(rate / q**2, c.temperature_K, c.viscosity_mPa_s))

    d_min = settings.diameter_min_nm or min(max(diameter_for_rate(2.0 / t[0]), 0.5), 1e4)
    d_max = settings.diameter_max_nm or max(min(diameter_for_rate(0.2 / t[-1]), 2e4), 2.0 * d_min)
    if d_min >= d_max:
        raise QCInputError(f"diameter grid is empty: min {d_min:g} nm >= max {d_max:g} nm")
    d = np.geomspace(d_min, d_max, settings.n_diameters)
    rates = q**2 * np.asarray(diffusion_coefficient_m2_per_s(d, c.temperature_K, c.viscosity_mPa_s))
    kernel = np.exp(-np.outer(t, rates))
    n = d.size
    lap = -2.0 * np.eye(n) + np.eye(n, k=1) + np.eye(n, k=-1)
    u = q * d * 1e-9 / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        p_rgd = np.where(u < 1e-3, 1.0 - u**2 / 5.0, 3.0 * (np.sin(u) - u * np.cos(u)) / u**3) ** 2
    if settings.form_factor == "mie":
        assert settings.particle_refractive_index is not None
        m = complex(settings.particle_refractive_index, settings.particle_absorption_index)
        per_particle = mie_perpendicular_intensity(
            d, c.wavelength_nm, c.solvent_refractive_index, m, angle_deg
        )
    else:
        per_particle = rgd_sphere_intensity(d, q)
    per_particle = per_particle / per_particle.max()
    for arr in (idx, t, d, rates, kernel, lap, per_particle, p_rgd):
        arr.setflags(write=False)
    lap_inv = np.asarray(np.linalg.inv(lap), dtype=np.float64)
    # Low-rank basis of K L^-1 (singular values above KERNEL_RANK_RTOL of the largest): the
    # per-correlogram GCV and NNLS work in this r-dimensional basis instead of all m lags.
    u0, s0, v0t = np.linalg.svd(kernel @ lap_inv, full_matrices=False)
    r = int(np.sum(s0 > KERNEL_RANK_RTOL * s0[0]))
    basis_us = u0[:, :r] * s0[:r]
    basis_vt_reg = v0t[:r] @ lap
    for arr in (lap_inv, basis_us, basis_vt_reg):
        arr.setflags(write=False)
    return InversionKernel(
        lag_index=idx,
        tau_s=t,
        diameters_nm=d,
        decay_rates_per_s=rates,
        kernel=kernel,
        regularizer=lap,
        regularizer_inv=lap_inv,
        intensity_per_particle=per_particle,
        form_factor_P=p_rgd,
        q_per_m=q,
        basis_us=basis_us,
        basis_vt_reg=basis_vt_reg,
    )


class Peak(_QCModel):
    """One peak of a size distribution: mode (parabolic interpolation in log d), mean and SD
    (weighted by the distribution within the peak) and the fraction of the total area."""

    mode_nm: float
    mean_nm: float
    sd_nm: float
    lower_nm: float
    upper_nm: float
    area_fraction: float


class SizeDistribution(_QCModel):
    """Regularized-inversion result: intensity-, volume- and number-weighted fractions per
    diameter bin (each sums to 1), their peaks, the fit and the regularization used."""

    source: str
    label: str
    angle_deg: float
    settings: InversionSettings
    diameters_nm: FloatArray
    intensity: FloatArray
    volume: FloatArray
    number: FloatArray
    intensity_peaks: tuple[Peak, ...]
    volume_peaks: tuple[Peak, ...]
    number_peaks: tuple[Peak, ...]
    alpha: float
    alpha_rel: float
    alpha_at_grid_edge: bool
    effective_parameters: float
    regularization_criterion: str
    intercept_used: float
    g1_sum: float
    fit_tau_s: FloatArray
    fit_g2m1: FloatArray
    residuals: FloatArray
    rms_residual_rel: float
    form_factor: str
    form_factor_assumption: str
    conversion_warnings: tuple[str, ...]
    citation_keys: tuple[str, ...]


def _find_peaks(
    d: NDArray[np.float64], f: NDArray[np.float64], threshold_fraction: float
) -> tuple[Peak, ...]:
    total = float(f.sum())
    if total <= 0:
        return ()
    above = f > threshold_fraction * f.max()
    runs: list[tuple[int, int]] = []
    i = 0
    while i < f.size:
        if above[i]:
            j = i
            while j + 1 < f.size and above[j + 1]:
                j += 1
            runs.append((i, j))
            i = j + 1
        else:
            i += 1
    # Split runs at deep valleys (minimum below half the smaller neighbouring maximum).
    split: list[tuple[int, int]] = []
    for lo, hi in runs:
        start = lo
        k = lo + 1
        while k < hi:
            if f[k] < f[k - 1] and f[k] <= f[k + 1]:
                left_max = f[start:k].max()
                right_max = f[k : hi + 1].max()
                if f[k] < 0.5 * min(left_max, right_max):
                    split.append((start, k))
                    start = k + 1
            k += 1
        split.append((start, hi))
    peaks = []
    logd = np.log(d)
    for lo, hi in split:
        seg = slice(lo, hi + 1)
        w = f[seg]
        area = float(w.sum())
        if area <= 0:
            continue
        k = lo + int(np.argmax(w))
        if 0 < k < f.size - 1:
            y0, y1, y2 = f[k - 1], f[k], f[k + 1]
            den = y0 - 2 * y1 + y2
            shift = 0.5 * (y0 - y2) / den if den != 0 else 0.0
            mode = float(np.exp(logd[k] + np.clip(shift, -0.5, 0.5) * (logd[k + 1] - logd[k])))
        else:
            mode = float(d[k])
        mean = float(np.sum(w * d[seg]) / area)
        sd = float(np.sqrt(np.sum(w * (d[seg] - mean) ** 2) / area))
        peaks.append(
            Peak(
                mode_nm=mode,
                mean_nm=mean,
                sd_nm=sd,
                lower_nm=float(d[lo]),
                upper_nm=float(d[hi]),
                area_fraction=area / total,
            )
        )
    return tuple(sorted(peaks, key=lambda p: -p.area_fraction))


def _noise_sd(y: NDArray[np.float64]) -> float:
    """Robust noise SD of g2-1 from first differences (MAD; 1.4826/sqrt(2) for a normal law)."""
    return float(1.4826 * np.median(np.abs(np.diff(y))) / math.sqrt(2.0))


def _invert_one(
    kern: InversionKernel, y_all: NDArray[np.float64], beta: float, settings: InversionSettings
) -> tuple[NDArray[np.float64], float, float, bool, float, NDArray[np.float64]]:
    """NNLS + Tikhonov inversion of one correlogram in the kernel's low-rank basis.

    With ``K L⁻¹ ≈ U S Vᵀ`` (shared, rank r) and the thin SVD ``P = W U S = U_P S_P V_Pᵀ``
    (per correlogram, m × r): ``‖W K x − b‖² = ‖S_P V_Pᵀ Vᵀ L x − U_Pᵀ b‖² + (‖b‖² − ‖U_Pᵀ b‖²)``.
    ``S_P`` are the singular values of the standard-form problem, which gives GCV in closed
    form, and NNLS runs on the (r + n) × n system ``[S_P V_Pᵀ Vᵀ L; α L]``."""
    y = y_all[kern.lag_index]
    g1 = np.sign(y) * np.sqrt(np.abs(y) / beta)
    sigma = max(_noise_sd(y), 1e-6 * beta)
    floor = math.sqrt(sigma / beta)
    w = np.maximum(np.abs(g1), floor)
    b = w * g1
    up, s, vpt = np.linalg.svd(kern.basis_us * w[:, None], full_matrices=False)
    c = up.T @ b
    m = b.size
    alphas_rel = np.geomspace(settings.alpha_rel_min, 1.0, settings.n_alpha)
    if settings.regularization == "gcv":
        perp = max(float(b @ b - c @ c), 0.0)
        alphas = alphas_rel * s[0]
        f = s[None, :] ** 2 / (s[None, :] ** 2 + alphas[:, None] ** 2)
        res = np.sum(((1.0 - f) * c[None, :]) ** 2, axis=1) + perp
        dof = f.sum(axis=1)
        gcv = res / np.maximum(m - dof, 1e-12) ** 2
        k = int(np.argmin(gcv))
        alpha_rel = float(alphas_rel[k])
        at_edge = k in (0, alphas_rel.size - 1)
        eff = float(dof[k])
    else:
        assert settings.alpha_rel is not None
        alpha_rel = settings.alpha_rel
        at_edge = False
        eff = float(np.sum(s**2 / (s**2 + (alpha_rel * s[0]) ** 2)))
    alpha = alpha_rel * float(s[0])
    stacked = np.vstack([(s[:, None] * vpt) @ kern.basis_vt_reg, alpha * kern.regularizer])
    rhs = np.concatenate([c, np.zeros(kern.diameters_nm.size)])
    x, _ = nnls(stacked, rhs, maxiter=50 * kern.diameters_nm.size)
    return x, alpha, alpha_rel, at_edge, eff, y


def _distribution_from_solution(
    corr: Correlogram,
    kern: InversionKernel,
    settings: InversionSettings,
    x: NDArray[np.float64],
    alpha: float,
    alpha_rel: float,
    at_edge: bool,
    eff: float,
    y: NDArray[np.float64],
    beta: float,
) -> SizeDistribution:
    d = kern.diameters_nm
    g1_sum = float(x.sum())
    intensity = x / g1_sum if g1_sum > 0 else x
    number = intensity / kern.intensity_per_particle
    number = number / number.sum() if number.sum() > 0 else number
    volume = number * d**3
    volume = volume / volume.sum() if volume.sum() > 0 else volume
    warnings: list[str] = []
    near_min = (intensity > 1e-3) & (kern.form_factor_P < 0.01)
    if np.any(near_min):
        warnings.append(
            f"{float(intensity[near_min].sum()):.1%} of the intensity lies at diameters "
            f"({float(d[near_min].min()):.0f}-{float(d[near_min].max()):.0f} nm) near a minimum of the "
            "sphere form factor at this angle: volume and number fractions there are unreliable"
        )
    if settings.form_factor == "rgd":
        assumption = (
            "homogeneous spheres of one material; per-particle intensity d^6 P(qd/2), Rayleigh-Gans-Debye "
            "(valid for |m-1| << 1 and 2kR|m-1| << 1)"
        )
    else:
        assumption = (
            "homogeneous spheres of one material; per-particle intensity |S1|^2 by Mie theory with "
            f"particle index {settings.particle_refractive_index}+{settings.particle_absorption_index}i"
        )
    model = beta * (kern.kernel @ x) ** 2
    resid = y - model
    return SizeDistribution(
        source=corr.source,
        label=corr.label,
        angle_deg=corr.angle_deg,
        settings=settings,
        diameters_nm=d,
        intensity=intensity,
        volume=volume,
        number=number,
        intensity_peaks=_find_peaks(d, intensity, settings.peak_threshold_fraction),
        volume_peaks=_find_peaks(d, volume, settings.peak_threshold_fraction),
        number_peaks=_find_peaks(d, number, settings.peak_threshold_fraction),
        alpha=alpha,
        alpha_rel=alpha_rel,
        alpha_at_grid_edge=at_edge,
        effective_parameters=eff,
        regularization_criterion=(
            "GCV of the unconstrained Tikhonov problem" if settings.regularization == "gcv" else "fixed"
        ),
        intercept_used=beta,
        g1_sum=g1_sum,
        fit_tau_s=kern.tau_s,
        fit_g2m1=model,
        residuals=resid,
        rms_residual_rel=float(np.sqrt(np.mean(resid**2)) / beta),
        form_factor=settings.form_factor,
        form_factor_assumption=assumption,
        conversion_warnings=tuple(warnings),
        citation_keys=(
            *_INVERSION_CITATIONS,
            "BohrenHuffman1983" if settings.form_factor == "mie" else "Kerker1969",
        ),
    )


def invert_correlogram(
    corr: Correlogram,
    settings: InversionSettings | None = None,
    intercept: float | None = None,
    kernel: InversionKernel | None = None,
) -> SizeDistribution:
    """Regularized NNLS inversion of one correlogram (see the module docstring).

    ``intercept`` β defaults to the second-order cumulant fit's; ``kernel`` may be passed to
    reuse a prebuilt :class:`InversionKernel` (it must match the correlogram's lags)."""
    cite(*_INVERSION_CITATIONS)
    settings = settings or InversionSettings()
    cite("BohrenHuffman1983" if settings.form_factor == "mie" else "Kerker1969")
    kern = kernel or build_inversion_kernel(corr.tau_s, corr.conditions, corr.angle_deg, settings)
    if int(kern.lag_index[-1]) >= corr.tau_s.size or not np.array_equal(
        corr.tau_s[kern.lag_index], kern.tau_s
    ):
        raise QCInputError(f"{corr.describe()}: the inversion kernel was built for a different lag grid")
    beta = intercept if intercept is not None else fit_cumulants(corr).intercept
    if not beta > 0:
        raise QCInputError(f"{corr.describe()}: intercept {beta} must be positive for the inversion")
    x, alpha, alpha_rel, at_edge, eff, y = _invert_one(kern, corr.g2m1, beta, settings)
    return _distribution_from_solution(corr, kern, settings, x, alpha, alpha_rel, at_edge, eff, y, beta)


def invert_correlograms(
    correlograms: Sequence[Correlogram],
    settings: InversionSettings | None = None,
    intercepts: Sequence[float] | None = None,
) -> list[SizeDistribution]:
    """Inversions of several correlograms, building each distinct kernel once."""
    settings = settings or InversionSettings()
    if intercepts is None:
        intercepts = [r.intercept for r in fit_cumulants_many(correlograms)]
    out = []
    for corr, beta in zip(correlograms, intercepts, strict=True):
        kern = build_inversion_kernel(corr.tau_s, corr.conditions, corr.angle_deg, settings)
        out.append(invert_correlogram(corr, settings, intercept=beta, kernel=kern))
    return out


# --------------------------------------------------------------------------------------------
# Quality verdict
# --------------------------------------------------------------------------------------------


class QualitySettings(_QCModel):
    """Thresholds of the quality verdict. All are assumed engineering limits (``Assumed``), not
    values from a standard; they are stored with every verdict."""

    intercept_min: float = 0.1
    intercept_max: float = 1.05
    baseline_tail_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    baseline_warn_rel: float = 0.01
    baseline_fail_rel: float = 0.05
    rms_residual_warn_rel: float = 0.01
    rms_residual_fail_rel: float = 0.05
    pdi_warn: float = 0.5
    pdi_fail: float = 0.7
    dust_robust_z: float = 8.0
    dust_fail_fraction: float = 0.05
    large_particle_nm: float = 1000.0
    large_particle_warn_fraction: float = 0.05


class QualityFlag(_QCModel):
    """One finding of the quality check."""

    code: str
    severity: Literal["info", "warning", "failure"]
    message: str
    value: float | None = None
    limit: float | None = None


class QualityVerdict(_QCModel):
    """``verdict`` is "fail" if any flag is a failure, "warn" if any is a warning, else "pass"."""

    verdict: Literal["pass", "warn", "fail"]
    flags: tuple[QualityFlag, ...]
    baseline_mean: float
    baseline_sd: float
    intercept: float
    count_rate_spikes: int | None
    settings: QualitySettings
    citation_keys: tuple[str, ...] = ("Assumed",)


def assess_quality(
    corr: Correlogram,
    cumulants: CumulantResult,
    distribution: SizeDistribution | None = None,
    settings: QualitySettings | None = None,
) -> QualityVerdict:
    """Quality verdict of a correlogram and its analyses: intercept, baseline, undecayed tail,
    residuals, PDI, dust (count-rate spikes), large particles. Thresholds: :class:`QualitySettings`."""
    cite("Assumed")
    s = settings or QualitySettings()
    flags: list[QualityFlag] = []
    beta = cumulants.intercept
    if beta < s.intercept_min:
        flags.append(
            QualityFlag(
                code="intercept_low",
                severity="warning",
                value=beta,
                limit=s.intercept_min,
                message=f"intercept {beta:.3f} is low: weak signal relative to background, "
                "stray light or a poorly aligned detector; sizes are less reliable",
            )
        )
    if beta > s.intercept_max:
        flags.append(
            QualityFlag(
                code="intercept_high",
                severity="warning",
                value=beta,
                limit=s.intercept_max,
                message=f"intercept {beta:.3f} exceeds the coherence limit: afterpulsing, "
                "number fluctuations or a wrongly normalised correlogram",
            )
        )
    n_tail = max(3, round(s.baseline_tail_fraction * corr.tau_s.size))
    tail = corr.g2m1[-n_tail:]
    base_mean = float(np.mean(tail))
    base_sd = float(np.std(tail, ddof=1))
    rel = base_mean / beta
    se = base_sd / math.sqrt(n_tail) / beta
    if abs(rel) > s.baseline_fail_rel and abs(rel) > 3 * se:
        code = "not_decayed" if rel > 0 else "baseline_negative"
        flags.append(
            QualityFlag(
                code=code,
                severity="failure",
                value=rel,
                limit=s.baseline_fail_rel,
                message=f"baseline (mean of the last {n_tail} lags) is {rel:+.3f} of the "
                "intercept: the correlation has not decayed (aggregates, dust, sedimentation) "
                "or the baseline normalisation is wrong",
            )
        )
    elif abs(rel) > s.baseline_warn_rel and abs(rel) > 3 * se:
        flags.append(
            QualityFlag(
                code="baseline",
                severity="warning",
                value=rel,
                limit=s.baseline_warn_rel,
                message=f"baseline is {rel:+.3f} of the intercept (should be ~0): slow "
                "components (large particles, dust) or a baseline offset",
            )
        )
    rms = cumulants.rms_residual_rel
    if rms > s.rms_residual_fail_rel:
        flags.append(
            QualityFlag(
                code="poor_cumulant_fit",
                severity="failure",
                value=rms,
                limit=s.rms_residual_fail_rel,
                message=f"cumulant fit RMS residual {rms:.3f} of the intercept: the decay is "
                "not described by a narrow distribution (multimodal, dust, noise)",
            )
        )
    elif rms > s.rms_residual_warn_rel:
        flags.append(
            QualityFlag(
                code="poor_cumulant_fit",
                severity="warning",
                value=rms,
                limit=s.rms_residual_warn_rel,
                message=f"cumulant fit RMS residual {rms:.3f} of the intercept is elevated",
            )
        )
    pdi = cumulants.pdi
    if pdi > s.pdi_fail:
        flags.append(
            QualityFlag(
                code="high_pdi",
                severity="failure",
                value=pdi,
                limit=s.pdi_fail,
                message=f"PDI {pdi:.2f}: too broad for a meaningful cumulant Z-average",
            )
        )
    elif pdi > s.pdi_warn:
        flags.append(
            QualityFlag(
                code="high_pdi",
                severity="warning",
                value=pdi,
                limit=s.pdi_warn,
                message=f"PDI {pdi:.2f}: broad or multimodal; read the distribution",
            )
        )
    spikes: int | None = None
    if corr.count_rate_kHz is not None and corr.count_rate_kHz.size >= 10:
        cr = corr.count_rate_kHz
        med = float(np.median(cr))
        mad = float(np.median(np.abs(cr - med))) * 1.4826
        scale = max(mad, math.sqrt(max(med, 1e-12)) * 1e-3, 1e-12)
        z = (cr - med) / scale
        spikes = int(np.sum(z > s.dust_robust_z))
        if spikes:
            frac = spikes / cr.size
            sev: Literal["warning", "failure"] = "failure" if frac > s.dust_fail_fraction else "warning"
            flags.append(
                QualityFlag(
                    code="dust_count_rate",
                    severity=sev,
                    value=float(spikes),
                    limit=s.dust_robust_z,
                    message=f"{spikes} count-rate points ({frac:.1%}) lie more than "
                    f"{s.dust_robust_z:g} robust SDs above the median {med:.1f} kHz (max "
                    f"{float(cr.max()):.1f} kHz): dust or aggregates passing the beam",
                )
            )
    if distribution is not None:
        big = float(distribution.intensity[distribution.diameters_nm > s.large_particle_nm].sum())
        if big > s.large_particle_warn_fraction:
            flags.append(
                QualityFlag(
                    code="large_particles",
                    severity="warning",
                    value=big,
                    limit=s.large_particle_warn_fraction,
                    message=f"{big:.1%} of the scattered intensity comes from diameters above "
                    f"{s.large_particle_nm:g} nm (dust, aggregates or sedimenting material)",
                )
            )
        if distribution.alpha_at_grid_edge:
            flags.append(
                QualityFlag(
                    code="regularization_at_edge",
                    severity="info",
                    value=distribution.alpha_rel,
                    message="GCV chose the edge of the alpha grid; the distribution's smoothness "
                    "is set by the grid limit",
                )
            )
    if any(f.severity == "failure" for f in flags):
        verdict: Literal["pass", "warn", "fail"] = "fail"
    elif any(f.severity == "warning" for f in flags):
        verdict = "warn"
    else:
        verdict = "pass"
    return QualityVerdict(
        verdict=verdict,
        flags=tuple(flags),
        baseline_mean=base_mean,
        baseline_sd=base_sd,
        intercept=beta,
        count_rate_spikes=spikes,
        settings=s,
    )


# --------------------------------------------------------------------------------------------
# Complete analysis
# --------------------------------------------------------------------------------------------


class DLSAnalysis(_QCModel):
    """Cumulants, size distribution (unless skipped) and quality verdict of one correlogram."""

    source: str
    label: str
    angle_deg: float
    cumulants: CumulantResult
    distribution: SizeDistribution | None
    quality: QualityVerdict
    citation_keys: tuple[str, ...]


def analyze_correlograms(
    correlograms: Sequence[Correlogram],
    cumulant_settings: CumulantSettings | None = None,
    inversion_settings: InversionSettings | None = None,
    quality_settings: QualitySettings | None = None,
    invert: bool = True,
) -> list[DLSAnalysis]:
    """Full analysis of several correlograms (vectorised cumulants, shared inversion kernels).

    The inversion uses the intercept of the cumulant fit done with ``cumulant_settings``."""
    cums = fit_cumulants_many(correlograms, cumulant_settings)
    dists: list[SizeDistribution | None]
    if invert:
        dists = list(invert_correlograms(correlograms, inversion_settings, [c.intercept for c in cums]))
    else:
        dists = [None] * len(correlograms)
    out = []
    for corr, cum, dist in zip(correlograms, cums, dists, strict=True):
        q = assess_quality(corr, cum, dist, quality_settings)
        keys = dict.fromkeys((*cum.citation_keys, *(dist.citation_keys if dist else ()), *q.citation_keys))
        out.append(
            DLSAnalysis(
                source=corr.source,
                label=corr.label,
                angle_deg=corr.angle_deg,
                cumulants=cum,
                distribution=dist,
                quality=q,
                citation_keys=tuple(keys),
            )
        )
    return out


def analyze_correlogram(
    corr: Correlogram,
    cumulant_settings: CumulantSettings | None = None,
    inversion_settings: InversionSettings | None = None,
    quality_settings: QualitySettings | None = None,
    invert: bool = True,
) -> DLSAnalysis:
    """Full analysis of one correlogram; see :func:`analyze_correlograms`."""
    return analyze_correlograms([corr], cumulant_settings, inversion_settings, quality_settings, invert)[0]


# --------------------------------------------------------------------------------------------
# Multi-angle analysis
# --------------------------------------------------------------------------------------------


class MultiAnglePoint(_QCModel):
    """Per-angle values of a multi-angle analysis."""

    angle_deg: float
    q2_per_m2: float
    decay_rate_per_s: float
    apparent_diffusion_m2_per_s: float
    apparent_radius_nm: float
    pdi: float


class MultiAngleResult(_QCModel):
    """Apparent D against q², its linear extrapolation to q² → 0 (ordinary least squares; the
    standard errors are those of the OLS intercept and slope), and summary statistics over angles.

    ``radius_q0_nm`` is the Stokes–Einstein radius of ``diffusion_q0_m2_per_s`` (SE propagated);
    ``radius_linear_q0_nm`` the intercept of a straight line through the apparent radii against q²
    (the other common convention); ``radius_mean_nm``/``radius_sd_nm`` mean and SD (ddof 1) of
    the per-angle apparent radii; the same for PDI.
    """

    points: tuple[MultiAnglePoint, ...]
    diffusion_q0_m2_per_s: float
    diffusion_q0_se_m2_per_s: float
    slope_m4_per_s: float
    slope_se_m4_per_s: float
    radius_q0_nm: float
    radius_q0_se_nm: float
    radius_linear_q0_nm: float
    radius_linear_q0_se_nm: float
    radius_mean_nm: float
    radius_sd_nm: float
    pdi_mean: float
    pdi_sd: float
    temperature_K: float
    viscosity_mPa_s: float
    citation_keys: tuple[str, ...] = ("BernePecora1976", "Einstein1905", "BIPM2019")


def _ols(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float, float, float]:
    """Intercept, its SE, slope, its SE of an ordinary least-squares line."""
    n = x.size
    xm, ym = float(x.mean()), float(y.mean())
    sxx = float(np.sum((x - xm) ** 2))
    slope = float(np.sum((x - xm) * (y - ym)) / sxx)
    icpt = ym - slope * xm
    if n > 2:
        s2 = float(np.sum((y - icpt - slope * x) ** 2)) / (n - 2)
        se_icpt = math.sqrt(s2 * (1.0 / n + xm**2 / sxx))
        se_slope = math.sqrt(s2 / sxx)
    else:
        se_icpt = se_slope = float("nan")
    return icpt, se_icpt, slope, se_slope


def multi_angle_analysis(results: Sequence[CumulantResult]) -> MultiAngleResult:
    """Extrapolate the apparent diffusion coefficient ``Γ̄/q²`` of cumulant results at several
    angles linearly in q² to q² → 0 (BernePecora1976) and give ``R_h(q²→0)`` with its standard
    error. Needs at least two distinct angles (three for standard errors) measured at the same
    temperature (±0.2 K) and viscosity (±0.5 %)."""
    cite("BernePecora1976", "Einstein1905", "BIPM2019")
    if len(results) < 2:
        raise QCInputError(f"multi-angle analysis needs at least 2 angles, got {len(results)}")
    t0 = results[0].conditions.temperature_K
    eta0 = results[0].conditions.viscosity_mPa_s
    for r in results[1:]:
        if (
            abs(r.conditions.temperature_K - t0) > 0.2
            or abs(r.conditions.viscosity_mPa_s / eta0 - 1.0) > 0.005
        ):
            raise QCInputError(
                f"{r.source} at {r.angle_deg:g}°: temperature {r.conditions.temperature_K} K / viscosity "
                f"{r.conditions.viscosity_mPa_s} mPa·s differ from {t0} K / {eta0} mPa·s of the first angle; "
                "multi-angle extrapolation needs one set of conditions"
            )
    if len({round(r.angle_deg, 6) for r in results}) < 2:
        raise QCInputError("multi-angle analysis needs at least 2 distinct angles")
    q2 = np.array([r.q_per_m**2 for r in results])
    dapp = np.array([r.diffusion_m2_per_s for r in results])
    radii = np.array([r.hydrodynamic_radius_nm for r in results])
    pdis = np.array([r.pdi for r in results])
    d0, d0_se, slope, slope_se = _ols(q2, dapp)
    if not d0 > 0:
        raise QCInputError(f"extrapolated diffusion coefficient {d0:.3g} m²/s is not positive")
    r0 = float(hydrodynamic_diameter_nm(d0, t0, eta0)) / 2.0
    r_lin, r_lin_se, _, _ = _ols(q2, radii)
    points = tuple(
        MultiAnglePoint(
            angle_deg=r.angle_deg,
            q2_per_m2=float(q),
            decay_rate_per_s=r.decay_rate_per_s,
            apparent_diffusion_m2_per_s=r.diffusion_m2_per_s,
            apparent_radius_nm=r.hydrodynamic_radius_nm,
            pdi=r.pdi,
        )
        for r, q in zip(results, q2, strict=True)
    )
    return MultiAngleResult(
        points=points,
        diffusion_q0_m2_per_s=d0,
        diffusion_q0_se_m2_per_s=d0_se,
        slope_m4_per_s=slope,
        slope_se_m4_per_s=slope_se,
        radius_q0_nm=r0,
        radius_q0_se_nm=r0 * d0_se / d0,
        radius_linear_q0_nm=r_lin,
        radius_linear_q0_se_nm=r_lin_se,
        radius_mean_nm=float(radii.mean()),
        radius_sd_nm=float(radii.std(ddof=1)),
        pdi_mean=float(pdis.mean()),
        pdi_sd=float(pdis.std(ddof=1)),
        temperature_K=t0,
        viscosity_mPa_s=eta0,
    )


# --------------------------------------------------------------------------------------------
# Forward model (synthetic correlograms)
# --------------------------------------------------------------------------------------------


def simulate_correlogram(
    tau_s: ArrayLike,
    diameters_nm: ArrayLike,
    intensity_fractions: ArrayLike,
    conditions: MeasurementConditions,
    angle_deg: float,
    intercept: float = 0.9,
    noise_sd: float = 0.0,
    seed: int | None = None,
    label: str = "synthetic",
) -> Correlogram:
    """Synthetic ``g2 − 1 = β (Σ_j I_j exp(−Γ_j τ))² + noise`` for discrete components of
    hydrodynamic diameters ``diameters_nm`` carrying the intensity fractions given (normalised
    to 1), with Gaussian noise of SD ``noise_sd`` (absolute, in g2 − 1 units)."""
    cite("BernePecora1976", "Einstein1905", "BIPM2019")
    w = np.asarray(intensity_fractions, dtype=np.float64)
    w = w / w.sum()
    c = conditions
    q = scattering_vector_per_m(c.solvent_refractive_index, c.wavelength_nm, angle_deg)
    rates = q**2 * np.asarray(
        diffusion_coefficient_m2_per_s(np.asarray(diameters_nm), c.temperature_K, c.viscosity_mPa_s)
    )
    tau = np.asarray(tau_s, dtype=np.float64)
    g1 = np.exp(-np.outer(tau, rates)) @ w
    y = intercept * g1**2
    if noise_sd > 0:
        y = y + np.random.default_rng(seed).normal(0.0, noise_sd, size=y.size)
    return Correlogram(
        tau_s=tau, g2m1=y, conditions=c, angle_deg=angle_deg, source="<synthetic>", label=label
    )
