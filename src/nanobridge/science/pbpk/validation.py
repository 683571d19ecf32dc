"""Replay published tumour calibrations and score predictions against measurements."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from pydantic import BaseModel

from nanobridge.science.pbpk.engine import TUMOR_PARAMETERS, output_times, simulate
from nanobridge.science.pbpk.solver import SolverOptions

__all__ = ["AgreementScore", "agreement", "replay_tumor_calibrations"]


class AgreementScore(BaseModel):
    """Agreement of predictions with observations on a log scale."""

    n: int
    r2_log10: float
    within_2fold: float
    within_3fold: float
    median_ratio: float
    gmfe: float  # geometric mean fold error


def agreement(predicted: ArrayLike, observed: ArrayLike) -> AgreementScore:
    """R² of log10 values about the identity line (not a fitted line), fold-error shares.

    Pairs where either value is not positive and finite are dropped.
    """
    p = np.asarray(predicted, dtype=float)
    o = np.asarray(observed, dtype=float)
    ok = np.isfinite(p) & np.isfinite(o) & (p > 0) & (o > 0)
    if ok.sum() < 2:
        raise ValueError(f"need at least 2 positive prediction/observation pairs, got {int(ok.sum())}")
    lp, lo = np.log10(p[ok]), np.log10(o[ok])
    ss_res = float(np.sum((lo - lp) ** 2))
    ss_tot = float(np.sum((lo - lo.mean()) ** 2))
    fold = np.abs(lp - lo)
    return AgreementScore(
        n=int(ok.sum()),
        r2_log10=1.0 - ss_res / ss_tot,
        within_2fold=float(np.mean(fold <= np.log10(2.0) + 1e-12)),
        within_3fold=float(np.mean(fold <= np.log10(3.0) + 1e-12)),
        median_ratio=float(np.median(10 ** (lp - lo))),
        gmfe=float(10 ** np.mean(fold)),
    )


def replay_tumor_calibrations(
    datasets: pd.DataFrame,
    organ_params: Mapping[str, float],
    *,
    reference_liver_return: bool = False,
    options: SolverOptions | None = None,
) -> pd.DataFrame:
    """Simulate every data set of a Nano-Tumor-Database-style table with its fitted tumour parameters.

    ``datasets`` needs the columns ``ID``, ``BW`` [g] and the nine :data:`TUMOR_PARAMETERS`;
    the organ parameters come from ``organ_params`` (e.g. ``Cheng2020_mouse``). Returns one row
    per data set: ``ID``, simulated ``DE24_sim``, ``DE168_sim``, ``DEmax_sim`` [%ID].
    """
    missing = [c for c in ("ID", "BW", *TUMOR_PARAMETERS) if c not in datasets.columns]
    if missing:
        raise ValueError(f"data-set table lacks column(s) {missing}")
    params: dict[str, ArrayLike] = dict(organ_params)
    for key in TUMOR_PARAMETERS:
        params[key] = datasets[key].to_numpy(dtype=float)
    bd = simulate(
        params,
        datasets["BW"].to_numpy(dtype=float) / 1000.0,
        output_times(168.0, 0.1),
        options=options,
        reference_liver_return=reference_liver_return,
    )
    m = bd.metrics()
    return pd.DataFrame(
        {
            "ID": datasets["ID"].to_numpy(),
            "DE24_sim": m["DE24"].values,
            "DE168_sim": m["DE168"].values,
            "DEmax_sim": m["DEmax"].values,
        }
    )
