"""Personalization: fit an individual's PBPK parameters to measured time-activity curves.

Input: organ and tumour ROI time-activity curves (TACs) from PET/SPECT, a CSV with a time column
(``time_h``, ``time_min`` or ``time_d``) and one column per ROI whose name declares its unit:
``<roi>_pct_id_per_g`` (%ID/g, decay-corrected) or ``<roi>_kBq_per_mL`` (activity concentration;
needs the injected activity, and the nuclide when the values are not decay-corrected). ROIs are
organs of the PBPK model (``tumor``/``tumour``, ``blood``, ``liver``, ``spleen``, ``kidney``,
``lung``, ``heart``, ``muscle``, ``brain``...). Tissue density 1 g/mL.

Model: the agent-adapted PBPK model of the scenario, with a log-multiplier ``theta_k`` on each
fitted parameter group (:data:`FIT_PARAMETERS`). Error model: proportional, i.e. normal on the
log scale, ``ln y = ln f(t, theta) + e``, ``e ~ N(0, sigma^2)``, the same ``sigma`` for every ROI,
estimated (``sigma^2 = RSS / (n - p)``, two passes). Prior: ``theta_k ~ N(0, omega_k^2)`` with
``omega_k`` the population model's variability of that group (inter-individual and parameter
uncertainty combined), so the estimate is a maximum a posteriori one that stays sensible when a
curve barely informs a parameter.

Uncertainty, two methods:

- ``laplace`` (default): Gauss-Newton/Laplace approximation at the MAP (Tierney & Kadane 1986):
  covariance ``(J^T J)^-1`` of the whitened residuals (data and prior), posterior samples
  ``theta ~ N(theta_hat, C)``;
- ``mcmc``: random-walk Metropolis with ``chains`` parallel chains, proposal
  ``2.38^2 / p x C`` (Gelman et al. 1996), each step one batched solve of all chains; split
  R-hat (Gelman & Rubin 1992) and the acceptance rate are reported.

The least-squares Jacobian (forward differences) is one batched engine call of ``p`` subjects.

Prediction (:func:`predict_individual`): posterior samples are simulated in one batched call to
give the individual's tumour/background contrast over time (median and 90 % interval), the best
imaging time (with its interval), the imaging window (times where the median contrast is within
``window_fraction`` of its best) and, for a therapeutic sister particle, its tumour delivery: the
sister's own agent-adapted parameters carry the *individual's* fitted multipliers (the
companion-diagnostic assumption: tumour permeability, phagocytic uptake and clearance capacity
are properties of the patient and the tumour, shared by particles of the same class).

Limits: fits ROI means (no partial-volume or spill-over correction of the ROIs); one proportional
error for all ROIs; the Laplace interval is symmetric on the log scale (use ``mcmc`` when the
posterior is skewed); identifiability depends on which ROIs and times are measured.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import least_squares

from nanobridge.citations import cite, collect_citations
from nanobridge.domain import AgentSpec, Scenario
from nanobridge.science.population.models import PopulationModel, load_population_model

__all__ = [
    "FIT_PARAMETERS",
    "TAC_UNITS",
    "FitResult",
    "IndividualPrediction",
    "TimeActivityCurves",
    "default_fit_parameters",
    "fit_tac",
    "predict_individual",
    "read_tac_csv",
    "write_tac_csv",
]

#: Unit suffixes of TAC columns.
TAC_UNITS: dict[str, str] = {"pct_id_per_g": "%ID/g", "kBq_per_mL": "kBq/mL"}
_ROI_ALIASES = {"tumour": "tumor", "kidneys": "kidney", "lungs": "lung", "rest": "rest_of_body"}
_TIME_COLUMNS = {"time_h": 1.0, "time_min": 1.0 / 60.0, "time_d": 24.0}

#: Fittable parameter groups: PBPK parameters multiplied, and the population-model keys of the
#: prior SD of the log (inter-individual, uncertainty; a key ending in ``_cv`` is a CV).
FIT_PARAMETERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "PATC": (("PATC",), ("tumor_permeability_sd_log", "uncertainty_tumor_sd_log")),
    "KTRESmax": (("KTRESmax",), ("tumor_phagocyte_uptake_sd_log", "uncertainty_tumor_sd_log")),
    "KTRESrelease": (("KTRESrelease",), ("uncertainty_tumor_sd_log",)),
    "QTC": (("QTC",), ("tumor_perfusion",)),
    "KLRESmax": (("KLRESmax",), ("mps_uptake_cv", "uncertainty_mps_sd_log")),
    "KSRESmax": (("KSRESmax",), ("mps_uptake_cv", "uncertainty_mps_sd_log")),
    "KbileC": (("KbileC",), ("biliary_clearance_cv", "uncertainty_biliary_sd_log")),
    "renal": (("KurineC", "__renal__"), ("gfr_cv",)),
}
_DEFAULT_BY_ROI: dict[str, tuple[str, ...]] = {
    "tumor": ("PATC", "KTRESmax"),
    "liver": ("KLRESmax",),
    "spleen": ("KSRESmax",),
    "kidney": ("renal",),
}
_THETA_BOUND = 6.0
_FD_STEP = 1e-3


@dataclass(frozen=True)
class TimeActivityCurves:
    """Measured ROI curves in %ID/g (decay-corrected), times x ROIs; NaN where not measured."""

    times_h: NDArray[np.float64]
    rois: tuple[str, ...]
    values_pct_id_per_g: NDArray[np.float64]
    source_units: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.values_pct_id_per_g, columns=[f"{r}_pct_id_per_g" for r in self.rois])
        df.insert(0, "time_h", self.times_h)
        return df


def _roi_name(raw: str) -> str:
    return _ROI_ALIASES.get(raw.lower(), raw.lower())


def read_tac_csv(
    path: str | Path,
    *,
    activity_MBq: float | None = None,
    nuclide: str | None = None,
    decay_corrected: bool = True,
    known_rois: Sequence[str] | None = None,
) -> TimeActivityCurves:
    """Read a TAC CSV (see the module docstring); every value becomes %ID/g, decay-corrected.

    Raises ``ValueError`` naming the file, the column and what is allowed for: no time column,
    a column without a unit suffix, an unknown ROI, kBq/mL without ``activity_MBq``, values not
    decay-corrected without ``nuclide``, negative or non-increasing times.
    """
    from nanobridge.science.pbpk.model import OUTPUT_GROUPS

    path = Path(path)
    try:
        df = pd.read_csv(path, comment="#")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV ({exc})") from None
    df.columns = [str(c).strip() for c in df.columns]
    time_cols = [c for c in df.columns if c in _TIME_COLUMNS]
    if len(time_cols) != 1:
        raise ValueError(
            f"{path}: needs exactly one time column, one of {', '.join(_TIME_COLUMNS)}; "
            f"found {time_cols or 'none'}"
        )
    tcol = time_cols[0]
    times = pd.to_numeric(df[tcol], errors="coerce").to_numpy(dtype=float) * _TIME_COLUMNS[tcol]
    if not np.all(np.isfinite(times)) or np.any(times <= 0) or np.any(np.diff(times) <= 0):
        raise ValueError(f"{path}: column {tcol} must hold finite times > 0, strictly increasing")
    allowed = [o for o in (known_rois or OUTPUT_GROUPS) if o not in ("urine", "feces")]
    rois: list[str] = []
    values: list[NDArray[np.float64]] = []
    units: dict[str, str] = {}
    notes: list[str] = []
    corrected: list[str] = []
    pattern = re.compile(r"^(?P<roi>.+?)_(?P<unit>" + "|".join(TAC_UNITS) + r")$")
    for col in df.columns:
        if col == tcol:
            continue
        m = pattern.match(col)
        if m is None:
            raise ValueError(
                f"{path}: column {col!r} has no unit; name ROI columns <roi>_"
                + " or <roi>_".join(TAC_UNITS)
                + f" (e.g. tumor_pct_id_per_g); ROIs: {', '.join(allowed)}"
            )
        roi, unit = _roi_name(m.group("roi")), m.group("unit")
        if roi not in allowed:
            raise ValueError(
                f"{path}: column {col!r}: unknown ROI {m.group('roi')!r}; allowed: {', '.join(allowed)}"
            )
        if roi in rois:
            raise ValueError(f"{path}: ROI {roi!r} appears twice")
        y = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        if unit == "kBq_per_mL":
            if activity_MBq is None or not (activity_MBq > 0 and math.isfinite(activity_MBq)):
                raise ValueError(f"{path}: column {col!r} is in kBq/mL: give the injected activity_MBq (> 0)")
            y = y / (activity_MBq * 1000.0) * 100.0  # kBq/mL over injected kBq -> %ID/mL = %ID/g
            if not decay_corrected:
                if nuclide is None:
                    raise ValueError(f"{path}: values are not decay-corrected: give the nuclide (e.g. 89Zr)")
                from nanobridge.science.imaging.nuclear import half_life_h

                y = y * np.exp(math.log(2.0) * times / half_life_h(nuclide))
                corrected.append(col)
        elif not decay_corrected:
            notes.append(f"{col}: %ID/g columns are taken as decay-corrected")
        rois.append(roi)
        values.append(y)
        units[roi] = TAC_UNITS[unit]
    if not rois:
        raise ValueError(f"{path}: no ROI column (e.g. tumor_pct_id_per_g)")
    if corrected:
        notes.append(f"decay-corrected to injection with the {nuclide} half-life: {', '.join(corrected)}")
    return TimeActivityCurves(
        times_h=times,
        rois=tuple(rois),
        values_pct_id_per_g=np.column_stack(values),
        source_units=units,
        notes=tuple(notes),
    )


def write_tac_csv(tac: TimeActivityCurves, path: str | Path) -> Path:
    """Write ``tac`` as a TAC CSV in %ID/g (``time_h`` + ``<roi>_pct_id_per_g`` columns)."""
    path = Path(path)
    tac.to_frame().to_csv(path, index=False, float_format="%.6g")
    return path


def default_fit_parameters(rois: Sequence[str]) -> list[str]:
    """Parameters informed by the measured ROIs (tumour: PATC, KTRESmax; liver: KLRESmax...)."""
    out: list[str] = []
    for roi in rois:
        for name in _DEFAULT_BY_ROI.get(roi, ()):
            if name not in out:
                out.append(name)
    if not out:
        out = ["KLRESmax"]
    return out


def _prior_sd(model: PopulationModel, name: str) -> float:
    total = 0.0
    for key in FIT_PARAMETERS[name][1]:
        if key == "tumor_perfusion":
            if "tumor_perfusion_mean_mL_per_min_per_g" in model:
                cv = model.use("tumor_perfusion_sd_mL_per_min_per_g") / model.use(
                    "tumor_perfusion_mean_mL_per_min_per_g"
                )
                s = math.sqrt(math.log1p(cv * cv))
            else:
                s = model.use("tumor_perfusion_sd_log")
        elif key.endswith("_cv"):
            cv = model.use(key)
            s = math.sqrt(math.log1p(cv * cv))
        else:
            s = model.use(key)
        total += s * s
    return math.sqrt(total)


class _Predictor:
    """Batched predictions of %ID/g at given times for log-multipliers ``theta`` (B, p)."""

    def __init__(
        self,
        params: Mapping[str, float],
        body_weight_kg: float,
        renal_L_per_h: float,
        names: Sequence[str],
        rtol: float,
    ) -> None:
        self.params = dict(params)
        self.bw = float(body_weight_kg)
        self.renal = float(renal_L_per_h)
        self.names = list(names)
        self.rtol = rtol
        self.calls = 0

    def inputs(
        self, theta: NDArray[np.float64]
    ) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.float64]]:
        theta = np.atleast_2d(theta)
        b = theta.shape[0]
        p = {k: np.full(b, v) for k, v in self.params.items()}
        renal = np.full(b, self.renal)
        for j, name in enumerate(self.names):
            mult = np.exp(theta[:, j])
            for key in FIT_PARAMETERS[name][0]:
                if key == "__renal__":
                    renal = renal * mult
                else:
                    p[key] = p[key] * mult
        return p, renal

    def simulate(self, theta: NDArray[np.float64], times_h: NDArray[np.float64]) -> Any:
        from nanobridge.science.pbpk.engine import simulate
        from nanobridge.science.pbpk.solver import SolverOptions

        p, renal = self.inputs(theta)
        self.calls += 1
        grid = np.union1d([0.0], times_h)
        return simulate(
            p,
            self.bw,
            grid,
            renal_clearance_L_per_h=renal,
            options=SolverOptions(rtol=self.rtol, atol=self.rtol * 1e-5),
        )

    def conc(
        self, theta: NDArray[np.float64], times_h: NDArray[np.float64], rois: Sequence[str]
    ) -> NDArray[np.float64]:
        bd = self.simulate(theta, times_h)
        c = bd.data["conc_pct_id_per_g"].sel(organ=list(rois)).sel(time=times_h)
        return np.asarray(c.transpose("subject", "time", "organ").values, dtype=float)


@dataclass(frozen=True)
class FitResult:
    """A fitted individual.

    ``parameters`` (one row per fitted group): ``nominal`` value of its first PBPK parameter,
    ``estimate`` (MAP), ``multiplier`` = estimate / nominal, ``ci5``/``ci95`` (90 % interval of
    the value), ``se_log`` (posterior SD of the log multiplier), ``prior_sd_log``.
    ``samples_log``: posterior samples of the log multipliers (rows), for predictions.
    """

    parameters: pd.DataFrame
    names: tuple[str, ...]
    theta_hat: NDArray[np.float64]
    covariance_log: NDArray[np.float64]
    samples_log: NDArray[np.float64]
    sigma_log: float
    residuals: pd.DataFrame
    method: str
    n_observations: int
    converged: bool
    message: str
    species: str
    agent_name: str
    diagnostics: dict[str, float] = field(default_factory=dict)
    citations: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _metropolis(
    logpost: Any,
    start: NDArray[np.float64],
    cov: NDArray[np.float64],
    steps: int,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float64], float]:
    """Parallel random-walk Metropolis: ``start`` (chains, p) -> samples (steps, chains, p)."""
    chains, p = start.shape
    chol = np.linalg.cholesky(cov * (2.38**2 / p) + 1e-12 * np.eye(p))
    x = start.copy()
    lp = logpost(x)
    out = np.empty((steps, chains, p))
    accepted = 0
    for s in range(steps):
        prop = x + rng.standard_normal((chains, p)) @ chol.T
        lp_prop = logpost(prop)
        accept = np.log(rng.random(chains)) < lp_prop - lp
        x[accept] = prop[accept]
        lp[accept] = lp_prop[accept]
        accepted += int(accept.sum())
        out[s] = x
    return out, accepted / (steps * chains)


def _split_rhat(samples: NDArray[np.float64]) -> NDArray[np.float64]:
    """Split R-hat per parameter of samples (steps, chains, p)."""
    n = samples.shape[0] // 2
    halves = np.concatenate([samples[:n], samples[n : 2 * n]], axis=1)  # (n, 2 chains, p)
    means = halves.mean(axis=0)
    variances = halves.var(axis=0, ddof=1)
    w = variances.mean(axis=0)
    b = n * means.var(axis=0, ddof=1)
    var_hat = (n - 1) / n * w + b / n
    return np.asarray(np.sqrt(var_hat / np.maximum(w, 1e-300)))


def fit_tac(
    tac: TimeActivityCurves,
    agent: AgentSpec,
    scenario: Scenario,
    *,
    parameters: Sequence[str] | None = None,
    method: str = "laplace",
    n_samples: int = 400,
    chains: int = 16,
    mcmc_steps: int = 600,
    seed: int = 0,
    rtol: float = 1e-6,
    model: PopulationModel | None = None,
) -> FitResult:
    """Fit log-multipliers of ``parameters`` (default: :func:`default_fit_parameters` of the
    measured ROIs) to ``tac`` for ``agent`` in ``scenario`` (its species, body weight, tumour)."""
    from nanobridge.science.pbpk.engine import agent_parameters

    if method not in ("laplace", "mcmc"):
        raise ValueError(f"method: {method!r} -> laplace or mcmc")
    names = list(parameters or default_fit_parameters(tac.rois))
    unknown = sorted(set(names) - set(FIT_PARAMETERS))
    if unknown:
        raise ValueError(f"unknown fit parameter(s) {unknown}; allowed: {', '.join(FIT_PARAMETERS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"fit parameters repeat: {names}")
    if tac.times_h[-1] > scenario.duration_h:
        scenario = scenario.evolve(duration_h=float(math.ceil(tac.times_h[-1])))
    with collect_citations() as used:
        cite("Tierney1986_Laplace")
        model = model or load_population_model(scenario.species)
        ap = agent_parameters(agent, scenario)
        cite(*ap.citations)
        omega = np.array([_prior_sd(model, n) for n in names])
        pred = _Predictor(ap.params, ap.body_weight_kg, ap.renal_clearance_L_per_h, names, rtol)
        y = tac.values_pct_id_per_g
        mask = np.isfinite(y) & (y > 0)
        n_obs = int(mask.sum())
        if n_obs <= len(names):
            raise ValueError(
                f"{n_obs} positive observations for {len(names)} parameters: measure more times or ROIs, "
                "or fit fewer parameters"
            )
        floor = 1e-6 * float(np.nanmax(np.where(mask, y, np.nan)))
        log_y = np.log(np.where(mask, y, 1.0) + floor)
        rois, times = list(tac.rois), tac.times_h

        def data_residuals(theta_batch: NDArray[np.float64]) -> NDArray[np.float64]:
            c = pred.conc(theta_batch, times, rois)  # (B, T, R)
            r = np.log(np.maximum(c, 0.0) + floor) - log_y[None]
            return np.asarray(r[:, mask])  # (B, n_obs)

        sigma = 0.2  # first pass (assumed), re-estimated below
        cache: dict[bytes, NDArray[np.float64]] = {}

        def fun(theta: NDArray[np.float64]) -> NDArray[np.float64]:
            r = data_residuals(theta[None])[0]
            cache[theta.tobytes()] = r
            return np.concatenate([r / sigma, theta / omega])

        def jac(theta: NDArray[np.float64]) -> NDArray[np.float64]:
            base = cache.get(theta.tobytes())
            if base is None:
                base = data_residuals(theta[None])[0]
            steps = theta[None, :] + _FD_STEP * np.eye(theta.size)
            r = data_residuals(steps)  # one batched solve of p subjects
            jd = ((r - base[None]) / _FD_STEP).T / sigma
            return np.vstack([jd, np.diag(1.0 / omega)])

        theta = np.zeros(len(names))
        opt: Any = None
        for _ in range(2):
            opt = least_squares(
                fun,
                theta,
                jac=jac,
                bounds=(-_THETA_BOUND, _THETA_BOUND),
                method="trf",
                x_scale=1.0,
                max_nfev=200,
            )
            theta = opt.x
            rss = float(np.sum(data_residuals(theta[None])[0] ** 2))
            sigma = max(math.sqrt(rss / max(n_obs - len(names), 1)), 0.01)
        j = jac(theta)
        try:
            cov = np.asarray(np.linalg.inv(j.T @ j), dtype=float)
        except np.linalg.LinAlgError:
            cov = np.asarray(np.linalg.pinv(j.T @ j), dtype=float)
        rng = np.random.default_rng(seed)
        diagnostics: dict[str, float] = {"solver_calls": float(pred.calls)}
        notes: list[str] = list(tac.notes)
        if method == "laplace":
            samples = rng.multivariate_normal(theta, cov, size=n_samples, method="cholesky")
            samples = np.clip(samples, -_THETA_BOUND, _THETA_BOUND)
        else:
            cite("Gelman1996_Metropolis", "Gelman1992_Rhat")

            def logpost(th: NDArray[np.float64]) -> NDArray[np.float64]:
                inside = np.all(np.abs(th) <= _THETA_BOUND, axis=1)
                r = data_residuals(np.clip(th, -_THETA_BOUND, _THETA_BOUND))
                lp = -0.5 * np.sum((r / sigma) ** 2, axis=1) - 0.5 * np.sum((th / omega) ** 2, axis=1)
                return np.asarray(np.where(inside, lp, -np.inf))

            start = rng.multivariate_normal(theta, cov, size=chains, method="cholesky")
            start = np.clip(start, -_THETA_BOUND + 1e-6, _THETA_BOUND - 1e-6)
            draws, acc = _metropolis(logpost, start, cov, mcmc_steps, rng)
            kept = draws[mcmc_steps // 2 :]
            rhat = _split_rhat(kept)
            flat = kept.reshape(-1, len(names))
            samples = flat[rng.choice(flat.shape[0], size=min(n_samples, flat.shape[0]), replace=False)]
            cov = np.asarray(np.cov(flat, rowvar=False), dtype=float).reshape(len(names), len(names))
            diagnostics.update(
                {"acceptance_rate": acc, "max_rhat": float(np.max(rhat)), "chains": float(chains)}
            )
            if np.max(rhat) > 1.1:
                notes.append(f"MCMC not converged (max split R-hat {np.max(rhat):.2f} > 1.1): run more steps")
        se = np.sqrt(np.diag(cov))
        rows = []
        for k, name in enumerate(names):
            key = FIT_PARAMETERS[name][0][0]
            nominal = ap.renal_clearance_L_per_h if key == "__renal__" else float(ap.params[key])
            lo, hi = np.percentile(samples[:, k], [5, 95])
            rows.append(
                {
                    "parameter": name,
                    "pbpk_parameters": "+".join(
                        x if x != "__renal__" else "renal clearance" for x in FIT_PARAMETERS[name][0]
                    ),
                    "nominal": nominal,
                    "estimate": nominal * math.exp(theta[k]),
                    "multiplier": math.exp(theta[k]),
                    "ci5": nominal * math.exp(lo),
                    "ci95": nominal * math.exp(hi),
                    "se_log": float(se[k]),
                    "prior_sd_log": float(omega[k]),
                }
            )
        c_hat = pred.conc(theta[None], times, rois)[0]
        res_rows = [
            {
                "time_h": float(times[i]),
                "roi": rois[r],
                "observed_pct_id_per_g": float(y[i, r]),
                "predicted_pct_id_per_g": float(c_hat[i, r]),
            }
            for i in range(times.size)
            for r in range(len(rois))
            if mask[i, r]
        ]
        diagnostics["solver_calls"] = float(pred.calls)
    return FitResult(
        parameters=pd.DataFrame(rows).set_index("parameter"),
        names=tuple(names),
        theta_hat=theta,
        covariance_log=cov,
        samples_log=samples,
        sigma_log=sigma,
        residuals=pd.DataFrame(res_rows),
        method=method,
        n_observations=n_obs,
        converged=bool(opt is not None and opt.success),
        message=str(opt.message if opt is not None else ""),
        species=scenario.species,
        agent_name=agent.name,
        diagnostics=diagnostics,
        citations=tuple(used.keys),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class IndividualPrediction:
    """Predictions for a fitted individual (posterior median and 90 % interval).

    ``contrast``: per hour, ``tbr_p5``/``tbr_p50``/``tbr_p95`` (tumour/background concentration
    ratio) and, with a radionuclide and activity, ``cnr_p5``... and ``p_detectable``.
    ``best_time_h``: (p5, p50, p95) of the time of the highest T/B (CNR when available) per sample;
    ``window_h``: (start, end) where the median criterion is within ``window_fraction`` of its
    best. ``sister``: tumour delivery of the therapeutic sister particle (rows DE24_pct_id,
    DEmax_pct_id, tumor_auc_pct_id_per_g_h, and mg when the scenario gives a mass dose).
    """

    contrast: pd.DataFrame
    criterion: str
    best_time_h: tuple[float, float, float]
    window_h: tuple[float, float]
    imaging_agent: pd.DataFrame
    sister: pd.DataFrame | None
    sister_name: str | None
    citations: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()


def _delivery_table(bd: Any, dose_mg: float | None) -> pd.DataFrame:
    t = bd.times_h
    tumor = np.asarray(bd.data["amount_pct_id"].sel(organ="tumor").values)
    conc = np.asarray(bd.data["conc_pct_id_per_g"].sel(organ="tumor").values)
    j24 = int(np.argmin(np.abs(t - 24.0)))
    metrics = {
        "DE24_pct_id": tumor[:, j24],
        "DEmax_pct_id": tumor.max(axis=1),
        "t_DEmax_h": t[np.argmax(tumor, axis=1)],
        "tumor_auc_pct_id_per_g_h": np.sum(0.5 * (conc[:, 1:] + conc[:, :-1]) * np.diff(t), axis=1),
    }
    if dose_mg is not None:
        metrics["DEmax_mg"] = metrics["DEmax_pct_id"] / 100.0 * dose_mg
    rows = []
    for name, v in metrics.items():
        p5, p50, p95 = np.percentile(v, [5, 50, 95])
        rows.append({"metric": name, "p5": p5, "p50": p50, "p95": p95})
    return pd.DataFrame(rows).set_index("metric")


def predict_individual(
    fit: FitResult,
    agent: AgentSpec,
    scenario: Scenario,
    *,
    sister: AgentSpec | None = None,
    background_organ: str = "muscle",
    window_fraction: float = 0.9,
    first_time_h: float = 1.0,
    rose_k: float = 5.0,
    scan_duration_min: float = 10.0,
) -> IndividualPrediction:
    """Best imaging window of the fitted individual and its sister particle's tumour delivery."""
    from nanobridge.science.pbpk.engine import agent_parameters, output_times
    from nanobridge.science.population.trial import TrialDesign, _nuclear_setup, nuclear_cnr

    if not 0 < window_fraction <= 1:
        raise ValueError(f"window_fraction: {window_fraction!r} -> in (0, 1]")
    with collect_citations() as used:
        cite(*fit.citations)
        ap = agent_parameters(agent, scenario)
        times = output_times(float(scenario.duration_h), 1.0)
        pred = _Predictor(ap.params, ap.body_weight_kg, ap.renal_clearance_L_per_h, fit.names, 1e-4)
        bd = pred.simulate(fit.samples_log, times)
        t = bd.times_h
        conc = bd.data["conc_pct_id_per_g"]
        c_t = np.asarray(conc.sel(organ="tumor").values)
        c_b = np.asarray(conc.sel(organ=background_organ).values)
        with np.errstate(divide="ignore", invalid="ignore"):
            tbr = np.where(c_b > 0, c_t / c_b, np.nan)
        late = t >= first_time_h
        frame: dict[str, NDArray[np.float64]] = {"time_h": t[late]}
        for q, lab in ((5, "p5"), (50, "p50"), (95, "p95")):
            frame[f"tbr_{lab}"] = np.nanpercentile(tbr[:, late], q, axis=0)
        criterion = "tbr"
        score = tbr[:, late]
        nuclear = _nuclear_setup(
            agent, scenario, TrialDesign(rose_k=rose_k, scan_duration_min=scan_duration_min)
        )
        if nuclear is not None:
            mass = float(ap.params["VTC"]) * ap.body_weight_kg * 1000.0
            cnr = nuclear_cnr(
                nuclear, c_t[:, late], c_b[:, late], np.full(c_t.shape[0], mass), t[late], scan_duration_min
            )
            for q, lab in ((5, "p5"), (50, "p50"), (95, "p95")):
                frame[f"cnr_{lab}"] = np.nanpercentile(cnr, q, axis=0)
            frame["p_detectable"] = np.mean(cnr >= rose_k, axis=0)
            criterion, score = "cnr", cnr
            cite(*nuclear.citations)
        contrast = pd.DataFrame(frame)
        best = t[late][np.nanargmax(np.where(np.isfinite(score), score, -np.inf), axis=1)]
        b5, b50, b95 = (float(v) for v in np.percentile(best, [5, 50, 95]))
        med = contrast[f"{criterion}_p50"].to_numpy()
        i_best = int(np.nanargmax(med))
        good = med >= window_fraction * med[i_best]
        lo = hi = i_best
        while lo > 0 and good[lo - 1]:
            lo -= 1
        while hi < good.size - 1 and good[hi + 1]:
            hi += 1
        tt = contrast["time_h"].to_numpy()
        dose_mg = None if scenario.dose_mg_per_kg is None else scenario.dose_mg_per_kg * ap.body_weight_kg
        imaging_agent = _delivery_table(bd, dose_mg)
        sister_table = None
        assumptions = [
            f"Posterior of {len(fit.samples_log)} samples ({fit.method}); "
            f"T/B = tumour/{background_organ} concentration.",
            f"Imaging window: times where the median {criterion.upper()} "
            f"is >= {window_fraction:g} x its best.",
        ]
        if sister is not None:
            sp = agent_parameters(sister, scenario)
            cite(*sp.citations)
            spred = _Predictor(sp.params, sp.body_weight_kg, sp.renal_clearance_L_per_h, fit.names, 1e-4)
            sbd = spred.simulate(fit.samples_log, times)
            sister_table = _delivery_table(sbd, dose_mg)
            assumptions.append(
                "Companion assumption: the individual's fitted multipliers ("
                + ", ".join(fit.names)
                + ") apply to the sister particle's own agent-adapted parameters (patient and tumour "
                "properties shared by particles of the same class)."
            )
    return IndividualPrediction(
        contrast=contrast,
        criterion=criterion,
        best_time_h=(b5, b50, b95),
        window_h=(float(tt[lo]), float(tt[hi])),
        imaging_agent=imaging_agent,
        sister=sister_table,
        sister_name=None if sister is None else sister.name,
        citations=tuple(used.keys),
        assumptions=tuple(assumptions),
    )
