"""AI-PBPK: machine-learned tumour parameters drive the PBPK engine (the approach of Chou et al. 2023).

Method
------
A joint (multi-output) random forest maps a particle's descriptors to the log10 of the nine
tumour parameters of the Cheng et al. 2020 mouse model (``KTRESrelease`` ... ``PATC``; see
:class:`~nanobridge.science.design.delivery.DeliveryModels`). Each predicted parameter set, with
the organ parameters of ``Cheng2020_mouse`` and the row's body weight, is simulated by
:func:`nanobridge.science.pbpk.engine.simulate` exactly as
:func:`nanobridge.science.pbpk.validation.replay_tumor_calibrations` replays the database's own
fits: IV bolus, 0-168 h on a 0.1 h grid, all rows in one batched solve. DE24, DE168 and DEmax
come from :meth:`Biodistribution.metrics`, and the whole tumour time course is kept.

The tumour volume fraction is not learned where it is known: ``VTC`` [fraction of body weight]
equals tumour weight / body weight in 279 of the 302 data sets (within 2 %), so AI-PBPK sets
``VTC = TW / BW`` from the row's own descriptors when both are given (capped at the largest
training value, 0.2), and uses the predicted VTC otherwise.

Why joint: the nine fitted parameters are strongly correlated and only partly identifiable from
a tumour curve; a forest leaf averages whole fitted parameter vectors (geometrically), so a
prediction is a blend of parameter sets that each reproduced a real curve, not a mix of
independently predicted values that may never have occurred together.

Limits
------
The chain compounds two errors: the parameter prediction and the model's replay error (the
database's fitted parameters reproduce DE24 and DEmax with log10 R² about 0.73, but most data sets
were measured only to 24-48 h, so their DE168 does not reproduce: median simulated/observed 0.07).
DE168 from AI-PBPK is therefore weak; :func:`cross_validate_ai_pbpk` reports it, next to the
direct models and the replay of the fitted parameters (an upper bound for any AI-PBPK model).
Organ parameters are those of the mouse model for every particle (as in the database's fits):
the particle's size and charge act on the tumour only through the predicted tumour parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from nanobridge.citations import cite
from nanobridge.science.design.data import (
    DELIVERY_TARGETS,
    NUMERIC_FEATURES,
    PARAMETER_TARGETS,
    CleanedTable,
    clean_descriptors,
    feature_frame,
    load_clean_datasets,
    target_frame,
)
from nanobridge.science.design.delivery import (
    CVSummary,
    DeliveryModels,
    ModelConfig,
    ProgressCallback,
    ScoreSet,
    Split,
    _groups,
    _one_thread,
    cross_validate,
    make_model,
    make_splits,
    score,
    summarize,
)
from nanobridge.science.pbpk.biodistribution import Biodistribution
from nanobridge.science.pbpk.engine import TUMOR_PARAMETERS, output_times, simulate
from nanobridge.science.pbpk.parameters import load_parameter_set
from nanobridge.science.pbpk.solver import SolverOptions

__all__ = [
    "AIPBPKComparison",
    "AIPBPKPrediction",
    "cross_validate_ai_pbpk",
    "predict_ai_pbpk",
    "simulate_tumor_parameters",
]

#: Organ parameter set of the database's calibrations.
ORGAN_PARAMETER_SET = "Cheng2020_mouse"
#: Output grid [h] (DEmax is the maximum on this grid), as in the calibration replay.
DURATION_H = 168.0
INTERVAL_H = 0.1
#: Column names of the AI-PBPK outputs.
PBPK_COLUMNS: dict[str, str] = {"DE24": "DE24_pbpk", "DE168": "DE168_pbpk", "Demax": "Demax_pbpk"}


#: Largest tumour volume fraction in the training data (VTC cap when it comes from TW/BW).
MAX_VTC = 0.2


def _with_own_volume(
    params: pd.DataFrame, tumor_weight_g: NDArray[np.float64], body_weight_g: NDArray[np.float64]
) -> pd.DataFrame:
    """Replace the predicted VTC by TW/BW (capped at :data:`MAX_VTC`) where both are known."""
    out = params.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        own = tumor_weight_g / body_weight_g
    known = np.isfinite(own) & (own > 0)
    out["VTC"] = np.where(known, np.minimum(own, MAX_VTC), out["VTC"].to_numpy())
    return out


def simulate_tumor_parameters(
    params: pd.DataFrame,
    body_weight_g: ArrayLike,
    *,
    organ_parameter_set: str = ORGAN_PARAMETER_SET,
    subject_ids: list[str] | None = None,
    options: SolverOptions | None = None,
    reference_liver_return: bool = False,
) -> Biodistribution:
    """One batched PBPK solve of many tumour-parameter sets (rows of ``params``, natural units).

    ``params`` needs the nine :data:`TUMOR_PARAMETERS` columns; ``body_weight_g`` is a scalar or
    one value per row. Organ parameters come from ``organ_parameter_set``.
    """
    missing = [c for c in TUMOR_PARAMETERS if c not in params.columns]
    if missing:
        raise ValueError(f"tumour parameter table lacks column(s) {missing}")
    values = params[list(TUMOR_PARAMETERS)].to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"tumour parameter {TUMOR_PARAMETERS[j]} of row {i} must be finite and > 0, got {values[i, j]}"
        )
    bw = np.broadcast_to(np.asarray(body_weight_g, dtype=float), (len(params),))
    if not np.all(np.isfinite(bw) & (bw > 0)):
        raise ValueError("body weights must be finite and > 0 g")
    pset = load_parameter_set(organ_parameter_set)
    merged: dict[str, ArrayLike] = dict(pset.as_dict())
    for j, key in enumerate(TUMOR_PARAMETERS):
        merged[key] = values[:, j]
    cite("Cheng2020")
    return simulate(
        merged,
        bw / 1000.0,
        output_times(DURATION_H, INTERVAL_H),
        options=options,
        subject_ids=subject_ids,
        reference_liver_return=reference_liver_return,
        attrs={
            "tumour parameters": "AI-predicted (nanobridge.science.design)",
            "organ parameters": pset.name,
        },
    )


@dataclass(frozen=True)
class AIPBPKPrediction:
    """AI-PBPK outputs per row: ``ID``, ``DE24_pbpk``, ``DE168_pbpk``, ``Demax_pbpk`` [%ID],
    ``t_DEmax_h_pbpk`` [h], the nine predicted tumour parameters, ``BW_used_g``; and the full
    simulated biodistribution (tumour time course included)."""

    table: pd.DataFrame
    biodistribution: Biodistribution


def predict_ai_pbpk(
    models: DeliveryModels,
    table: pd.DataFrame | CleanedTable,
    *,
    options: SolverOptions | None = None,
) -> AIPBPKPrediction:
    """Predict tumour parameters for each row and simulate them in one batched PBPK call.

    ``VTC`` comes from TW/BW where both are given (module docstring). A missing body weight is
    replaced by the training median (``BW_used_g`` is the value used), since the engine needs one.
    """
    cite("Chou2023_AIPBPK")
    cleaned = table if isinstance(table, CleanedTable) else clean_descriptors(table)
    X = feature_frame(cleaned)
    bw = cleaned.table["BW"].to_numpy(dtype=float)
    median_bw_g = float(models.domain.medians[NUMERIC_FEATURES.index("BW_g")])
    bw_used = np.where(np.isfinite(bw), bw, median_bw_g)
    params = _with_own_volume(
        models.predict_parameters(X), cleaned.table["TW"].to_numpy(dtype=float), bw_used
    )
    ids = [str(v) for v in cleaned.table["ID"]]
    bd = simulate_tumor_parameters(params, bw_used, subject_ids=ids, options=options)
    m = bd.metrics()
    out = pd.DataFrame({"ID": ids})
    out["DE24_pbpk"] = m["DE24"].values
    out["DE168_pbpk"] = m["DE168"].values
    out["Demax_pbpk"] = m["DEmax"].values
    out["t_DEmax_h_pbpk"] = m["t_DEmax_h"].values
    for key in TUMOR_PARAMETERS:
        out[key] = params[key].to_numpy()
    out["BW_used_g"] = bw_used
    return AIPBPKPrediction(out, bd)


@dataclass(frozen=True)
class AIPBPKComparison:
    """Direct models vs AI-PBPK vs the replay of the fitted parameters, on the same folds.

    ``summaries``: one :class:`CVSummary` per (approach, target), approaches ``direct-<family>``,
    ``ai-pbpk`` and ``replay-fitted`` (the database's own fitted parameters, no ML: the ceiling of
    any AI-PBPK model built on this engine). ``parameter_summaries``: the joint model's
    out-of-fold scores per tumour parameter (log10).
    """

    summaries: list[CVSummary]
    parameter_summaries: list[CVSummary]
    seconds_simulating: float


def cross_validate_ai_pbpk(
    *,
    split: Split = "study",
    repeats: int = 5,
    folds: int = 5,
    config: ModelConfig | None = None,
    data: CleanedTable | None = None,
    progress: ProgressCallback | None = None,
) -> AIPBPKComparison:
    """Grouped, repeated CV of the AI-PBPK chain against the direct models (same folds, same seeds).

    Per repeat: the joint parameter model is fitted on each training fold and predicts the test
    fold; all rows' out-of-fold parameter sets are then simulated in one batched call.
    """
    import time

    cfg = config or ModelConfig()
    cleaned = data or load_clean_datasets()
    X = feature_frame(cleaned)
    Y = target_frame(cleaned)
    P = Y[list(PARAMETER_TARGETS)].to_numpy()
    bw = cleaned.table["BW"].to_numpy(dtype=float)
    tw = cleaned.table["TW"].to_numpy(dtype=float)
    groups = _groups(cleaned, split)
    direct = cross_validate(
        cfg.family, DELIVERY_TARGETS, split=split, repeats=repeats, folds=folds, config=cfg, data=cleaned
    )
    pbpk_scores: dict[str, list[ScoreSet]] = {t: [] for t in DELIVERY_TARGETS}
    param_scores: dict[str, list[ScoreSet]] = {t: [] for t in PARAMETER_TARGETS}
    sim_seconds = 0.0
    total = repeats * folds
    done = 0
    for r in range(repeats):
        seed = cfg.seed + r
        oof = np.full(P.shape, np.nan)
        with _one_thread():
            for tr, te in make_splits(groups, folds, seed):
                tr_ok = tr[np.all(np.isfinite(P[tr]), axis=1)]
                model = make_model("rf", cfg, seed).fit(X.iloc[tr_ok], P[tr_ok])
                oof[te] = np.asarray(model.predict(X.iloc[te]), dtype=float).reshape(len(te), -1)
                done += 1
                if progress is not None:
                    progress(done, total, f"AI-PBPK parameters, repeat {r + 1}")
        for j, name in enumerate(PARAMETER_TARGETS):
            param_scores[name].append(score(oof[:, j], P[:, j]))
        t0 = time.perf_counter()
        predicted = _with_own_volume(pd.DataFrame(10**oof, columns=list(PARAMETER_TARGETS)), tw, bw)
        bd = simulate_tumor_parameters(predicted, bw)
        sim_seconds += time.perf_counter() - t0
        m = bd.metrics()
        for t, metric in (("DE24", "DE24"), ("DE168", "DE168"), ("Demax", "DEmax")):
            pbpk_scores[t].append(score(np.log10(m[metric].values), Y[t].to_numpy()))
    bd_fit = simulate_tumor_parameters(pd.DataFrame(10**P, columns=list(PARAMETER_TARGETS)), bw)
    mf = bd_fit.metrics()
    summaries: list[CVSummary] = []
    for t, metric in (("DE24", "DE24"), ("DE168", "DE168"), ("Demax", "DEmax")):
        d = next(s for s in direct.summaries if s.target == t)
        summaries.append(d.model_copy(update={"family": f"direct-{cfg.family}"}))
        summaries.append(summarize(t, "ai-pbpk", split, folds, pbpk_scores[t]))
        replay = score(np.log10(mf[metric].values), Y[t].to_numpy())
        summaries.append(summarize(t, "replay-fitted", "none (no ML)", 0, [replay]))
    params = [summarize(name, "rf-joint", split, folds, param_scores[name]) for name in PARAMETER_TARGETS]
    return AIPBPKComparison(summaries, params, sim_seconds)
