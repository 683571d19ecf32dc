"""Global sensitivity of tumour contrast: Sobol indices through the batched PBPK engine.

Method (Sobol 2001; Saltelli et al. 2010, via SALib, Herman & Usher 2017): each factor is the
natural log of a multiplier on one group of PBPK parameters, uniform on ``[-2 s, +2 s]`` where
``s`` is the factor's SD of the log in the species' population model (inter-individual
variability; for the tumour phagocytic release, the parameter uncertainty). Saltelli's design of
``N (D + 2)`` parameter sets (first-order and total indices; ``N`` a power of 2) is simulated in
batched calls of the engine (one call per ``batch`` subjects), and the indices are computed for
the natural log of the outputs (contrasts are ratios: their log varies additively):

- ``ln_tbr_<t>h``: tumour/background concentration ratio at each imaging time;
- ``ln_DE24``: tumour delivery at 24 h.

``S1`` is the share of the output variance explained by a factor alone, ``ST`` including its
interactions; ``*_conf`` their 95 % bootstrap half-widths. Limits: factors are independent and
uniform (the correlations of the population model are ignored); the ranges follow the population
model, so the ranking answers "what drives contrast *between subjects*".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nanobridge.citations import cite, collect_citations
from nanobridge.domain import AgentSpec, Scenario
from nanobridge.science.population.covariates import nominal_subject
from nanobridge.science.population.models import PopulationModel, load_population_model
from nanobridge.science.population.trial import DEFAULT_IMAGING_TIMES_H, time_label

__all__ = ["SOBOL_FACTORS", "SobolResult", "factor_ranges", "sobol_sensitivity"]

#: Factor -> (PBPK parameters it multiplies, population-model key of its SD of the log, is a CV).
SOBOL_FACTORS: dict[str, tuple[tuple[str, ...], str, bool]] = {
    "tumor_permeability": (("PATC",), "tumor_permeability_sd_log", False),
    "tumor_phagocyte_uptake": (("KTRESmax",), "tumor_phagocyte_uptake_sd_log", False),
    "tumor_phagocyte_release": (("KTRESrelease",), "uncertainty_tumor_sd_log", False),
    "tumor_perfusion": (("QTC",), "tumor_perfusion", False),
    "tumor_volume": (("VTC", "QTC"), "tumor_volume_sd_log", False),
    "mps_uptake": (
        ("KLRESmax", "KSRESmax", "KKRESmax", "KLuRESmax", "KMRESmax", "KRRESmax"),
        "mps_uptake_cv",
        True,
    ),
    "biliary_clearance": (("KbileC",), "biliary_clearance_cv", True),
    "renal_function": (("KurineC", "__renal__"), "gfr_cv", True),
    "cardiac_output": (("QCC",), "cardiac_output_cv", True),
}


def _sd_log(model: PopulationModel, key: str, is_cv: bool) -> float:
    if key == "tumor_perfusion":
        if "tumor_perfusion_mean_mL_per_min_per_g" in model:
            cv = model.use("tumor_perfusion_sd_mL_per_min_per_g") / model.use(
                "tumor_perfusion_mean_mL_per_min_per_g"
            )
            return math.sqrt(math.log1p(cv * cv))
        return model.use("tumor_perfusion_sd_log")
    value = model.use(key)
    return math.sqrt(math.log1p(value * value)) if is_cv else value


def factor_ranges(
    model: PopulationModel, factors: Sequence[str] | None = None
) -> dict[str, tuple[float, float]]:
    """``factor -> (low, high)`` of the log-multiplier: +/- 2 SD of the log in ``model``."""
    names = list(factors or SOBOL_FACTORS)
    unknown = sorted(set(names) - set(SOBOL_FACTORS))
    if unknown:
        raise ValueError(f"unknown sensitivity factor(s) {unknown}; known: {', '.join(SOBOL_FACTORS)}")
    out = {}
    for name in names:
        _, key, is_cv = SOBOL_FACTORS[name]
        s = _sd_log(model, key, is_cv)
        out[name] = (-2.0 * s, 2.0 * s)
    return out


@dataclass(frozen=True)
class SobolResult:
    """First-order and total Sobol indices per output and factor.

    ``indices``: one row per (output, factor) with ``S1``, ``S1_conf``, ``ST``, ``ST_conf``.
    """

    indices: pd.DataFrame
    n_base: int
    n_evaluations: int
    ranges: dict[str, tuple[float, float]]
    citations: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def ranking(self, output: str) -> pd.DataFrame:
        """Factors of ``output`` by decreasing total index."""
        sel = self.indices[self.indices["output"] == output]
        if sel.empty:
            raise KeyError(f"no output {output!r}; known: {', '.join(sorted(set(self.indices['output'])))}")
        return sel.sort_values("ST", ascending=False).reset_index(drop=True)


def _apply(
    nominal_params: dict[str, float],
    factors: list[str],
    x: NDArray[np.float64],
    renal_nominal_L_per_h: float,
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.float64]]:
    n = x.shape[0]
    p = {k: np.full(n, v) for k, v in nominal_params.items()}
    renal = np.full(n, renal_nominal_L_per_h)
    for j, name in enumerate(factors):
        mult = np.exp(x[:, j])
        for key in SOBOL_FACTORS[name][0]:
            if key == "__renal__":
                renal = renal * mult
            else:
                p[key] = p[key] * mult
    return p, renal


def sobol_sensitivity(
    agent: AgentSpec,
    scenario: Scenario,
    *,
    n_base: int = 256,
    factors: Sequence[str] | None = None,
    imaging_times_h: Sequence[float] = DEFAULT_IMAGING_TIMES_H,
    background_organ: str = "muscle",
    seed: int = 0,
    rtol: float = 1e-4,
    batch: int = 20_000,
    threads: int | None = None,
    model: PopulationModel | None = None,
) -> SobolResult:
    """Sobol indices of ``ln`` tumour/background contrast (each imaging time) and ``ln DE24``."""
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    from nanobridge.science.pbpk.engine import agent_parameters, simulate
    from nanobridge.science.pbpk.solver import SolverOptions

    if n_base < 8 or n_base & (n_base - 1):
        raise ValueError(f"n_base: {n_base!r} -> a power of 2 >= 8 (Saltelli/Sobol sequence)")
    times = sorted({float(t) for t in imaging_times_h})
    if not times or times[0] <= 0 or times[-1] > scenario.duration_h:
        raise ValueError(
            f"imaging_times_h: {list(imaging_times_h)} -> times in (0, {scenario.duration_h:g}] h"
        )
    with collect_citations() as used:
        cite("Sobol2001", "Saltelli2010", "Herman2017_SALib")
        model = model or load_population_model(scenario.species)
        ranges = factor_ranges(model, factors)
        names = list(ranges)
        ap = agent_parameters(agent, scenario)
        cite(*ap.citations)
        nominal_subject(ap.params, ap.body_weight_kg, ap.renal_clearance_L_per_h)  # checks the tumour
        problem = {"num_vars": len(names), "names": names, "bounds": [list(ranges[n]) for n in names]}
        x = sobol_sample.sample(problem, n_base, calc_second_order=False, seed=seed)
        t_grid = np.asarray(sorted({0.0, 24.0, *times}), dtype=float)
        outputs: dict[str, list[NDArray[np.float64]]] = {f"ln_tbr_{time_label(t)}": [] for t in times}
        outputs["ln_DE24"] = []
        opts = SolverOptions(rtol=rtol, atol=rtol * 1e-5, threads=threads)
        for lo in range(0, x.shape[0], batch):
            xb = x[lo : lo + batch]
            params, renal = _apply(ap.params, names, xb, ap.renal_clearance_L_per_h)
            bd = simulate(params, ap.body_weight_kg, t_grid, renal_clearance_L_per_h=renal, options=opts)
            conc = bd.data["conc_pct_id_per_g"]
            tum = np.asarray(conc.sel(organ="tumor").values)
            bg = np.asarray(conc.sel(organ=background_organ).values)
            for t in times:
                j = int(np.searchsorted(t_grid, t))
                outputs[f"ln_tbr_{time_label(t)}"].append(
                    np.log(np.maximum(tum[:, j], 1e-300) / np.maximum(bg[:, j], 1e-300))
                )
            j24 = int(np.searchsorted(t_grid, 24.0))
            de24 = np.asarray(bd.data["amount_pct_id"].sel(organ="tumor").values)[:, j24]
            outputs["ln_DE24"].append(np.log(np.maximum(de24, 1e-300)))
        rows = []
        for out_name, parts in outputs.items():
            y = np.concatenate(parts)
            res = sobol_analyze.analyze(
                problem, y, calc_second_order=False, num_resamples=200, conf_level=0.95, seed=seed
            )
            for i, name in enumerate(names):
                rows.append(
                    {
                        "output": out_name,
                        "factor": name,
                        "S1": float(res["S1"][i]),
                        "S1_conf": float(res["S1_conf"][i]),
                        "ST": float(res["ST"][i]),
                        "ST_conf": float(res["ST_conf"][i]),
                    }
                )
    notes = (
        "factors: ln multipliers uniform on +/- 2 SD of the population model's log-scale variability",
        "indices of ln(output); factors independent (population correlations ignored)",
    )
    return SobolResult(
        indices=pd.DataFrame(rows),
        n_base=n_base,
        n_evaluations=int(x.shape[0]),
        ranges=ranges,
        citations=tuple(used.keys),
        notes=notes,
    )
