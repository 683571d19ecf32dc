"""Predict tumour delivery (DE24, DE168, Demax) and tumour PBPK parameters from particle descriptors.

Method
------
- **Data**: the packaged Nano-Tumor Database (302 data sets), cleaned by
  :mod:`nanobridge.science.design.data` (rules C1-C9). Inputs: log10 HD, |zeta|, log10 tumour
  weight, log10 dose, body weight, and the categories type, targeting, charge, shape, tumour model
  and cancer type. Targets are log10 values, so errors are fold errors.
- **Pipelines** (scikit-learn, ``Pedregosa2011_sklearn``): numbers are median-imputed with a
  missing-indicator column, categories get a ``missing`` level and are one-hot encoded (levels
  seen fewer than 3 times pooled as "infrequent"; unseen levels map there too). All imputation
  and encoding is fitted inside each training fold. Families: ``rf`` random forest
  (``Breiman2001_rf``; 300 trees, min 2 samples per leaf, half the features per split), ``hgb``
  histogram gradient boosting (150 iterations, learning rate 0.08, 15 leaves), ``gp`` Gaussian
  process on standardised numbers and one-hot categories, kernel ``c * Matern(nu=5/2) + white``
  with one length scale (``Rasmussen2006_gpml``; a per-feature ARD kernel took ~10 s per fit on
  this 2-core machine and pushed a dozen of its 41 length scales to their bounds), ``linear`` ridge
  regression with its penalty chosen by internal leave-one-out. The settings are typical library
  values chosen once; no hyperparameter search was run (reporting one honestly would need nested
  cross-validation).
- **Cross-validation**: repeated (seeded) K-fold with three splits: ``random`` rows; ``particle``
  groups (identical particle descriptors, :func:`~nanobridge.science.design.data.particle_groups`);
  ``study`` groups (particle or same experimental setting,
  :func:`~nanobridge.science.design.data.study_groups`). The same folds serve every target and
  family of a repeat. Metrics are computed per repeat on the pooled out-of-fold predictions and
  reported as mean +/- SD over repeats: R² of log10 values about the identity line, RMSE of log10
  values, the share within 2-fold, and R² on the linear %ID scale (the scale of the RMSE that
  ``Chou2023_AIPBPK`` report).
- **Prediction intervals**: CV+ (``Barber2021_jackknifeplus``) on the log10 scale, with
  study-grouped folds, so that the out-of-fold residuals are those of an unseen study. For a new
  row the interval is ``[q_lo{mu_-k(i)(x) - R_i}, q_hi{mu_-k(i)(x) + R_i}]`` over training rows
  ``i``, ``R_i`` the absolute out-of-fold residual and ``mu_-k`` the model fitted without fold
  ``k``. The point prediction is the model fitted on all rows. CV+ guarantees at least
  ``1 - 2 alpha`` coverage for exchangeable rows and is close to ``1 - alpha`` in practice;
  :func:`check_coverage` measures it on held-out folds.
- **Applicability domain** (:class:`ApplicabilityDomain`): a row is ``out`` when a numeric
  descriptor lies outside the training range, a category was never seen in training, or its
  squared Mahalanobis distance on the five numeric features (median-imputed, training mean and
  covariance) exceeds the 99th percentile of the training rows' distances; ``incomplete`` when a
  descriptor was missing (imputed) but the rest is in domain; else ``in``.
- **Persistence**: :func:`load_or_train` trains the final models once (seeded), saves them with
  joblib in the cache directory (``NANOBRIDGE_CACHE_DIR``/models, default the platform user cache,
  e.g. ``~/.cache/nanobridge/models``) under a key hashing the packaged data, the configuration,
  the source of this package's design modules and the nanobridge, scikit-learn and numpy versions.
  A missing, stale, unreadable or corrupt file is retrained and rewritten; a cache that cannot be
  written only costs the retraining next time. Nothing is fetched from the network. joblib files
  are pickles: keep the cache directory private to the user (the default is).

Limits
------
302 data sets from the literature, a few particles per paper, heterogeneous protocols: models
interpolate within this database and do not extrapolate to new chemistries. The random and
particle-grouped figures are close because few rows share a particle; holding out whole
experimental settings (``study``) lowers the random forest's R² (log10) from about 0.4 to under
0.2, which is what a new laboratory should expect. The 90 % intervals span a factor of 150-230
between their bounds (benchmark), and are honest only for rows in the domain.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import pandas as pd
import sklearn
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel as Constant
from sklearn.gaussian_process.kernels import Matern, WhiteKernel
from sklearn.impute import SimpleImputer
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

import nanobridge
from nanobridge.citations import cite
from nanobridge.science.design.data import (
    CATEGORICAL_FEATURES,
    DELIVERY_TARGETS,
    NUMERIC_FEATURES,
    PARAMETER_TARGETS,
    CleanedTable,
    clean_descriptors,
    data_fingerprint,
    feature_frame,
    load_clean_datasets,
    particle_groups,
    study_groups,
    target_frame,
)

__all__ = [
    "FAMILIES",
    "ApplicabilityDomain",
    "CVResult",
    "CVSummary",
    "CoverageResult",
    "DeliveryModels",
    "DomainCheck",
    "IntervalModel",
    "LoadResult",
    "ModelConfig",
    "PublishedScore",
    "ScoreSet",
    "cache_key",
    "check_coverage",
    "cross_validate",
    "default_cache_dir",
    "fit_interval_model",
    "forget_loaded_models",
    "load_or_train",
    "make_model",
    "make_splits",
    "predict_delivery",
    "published_scores",
    "score",
    "train_models",
]

Family = Literal["rf", "hgb", "gp", "linear"]
Split = Literal["random", "particle", "study"]
FAMILIES: tuple[Family, ...] = ("rf", "hgb", "gp", "linear")
SPLITS: tuple[Split, ...] = ("random", "particle", "study")

#: ``progress(done, total, label)`` callback for long training runs (interfaces draw a bar).
ProgressCallback = Callable[[int, int, str], None]

#: Version of the bundle layout; bump when :class:`DeliveryModels` changes shape.
BUNDLE_FORMAT = 1
_CODE_FILES = ("data.py", "delivery.py")


class ModelConfig(BaseModel):
    """Everything that determines the trained models (part of the cache key)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 20240501
    family: Family = Field(default="rf", description="family of the final delivery and parameter models")
    rf_n_estimators: int = Field(default=300, ge=1)
    rf_min_samples_leaf: int = Field(default=2, ge=1)
    rf_max_features: float = Field(default=0.5, gt=0, le=1)
    hgb_max_iter: int = Field(default=150, ge=1)
    hgb_learning_rate: float = Field(default=0.08, gt=0)
    hgb_max_leaf_nodes: int = Field(default=15, ge=2)
    gp_restarts: int = Field(default=1, ge=0)
    min_category_count: int = Field(default=3, ge=1)
    interval_folds: int = Field(default=5, ge=2, description="folds of the CV+ intervals")
    interval_split: Split = "study"
    coverage: float = Field(default=0.90, gt=0, lt=1, description="nominal coverage of the intervals")
    domain_quantile: float = Field(default=0.99, gt=0, lt=1)


# --------------------------------------------------------------------------------------------
# Model families
# --------------------------------------------------------------------------------------------


def _preprocessor(scale: bool, min_category_count: int) -> ColumnTransformer:
    numeric: list[Any] = [SimpleImputer(strategy="median", add_indicator=True)]
    if scale:
        numeric.append(StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(
            handle_unknown="infrequent_if_exist", min_frequency=min_category_count, sparse_output=False
        ),
    )
    return ColumnTransformer(
        [
            ("num", make_pipeline(*numeric), list(NUMERIC_FEATURES)),
            ("cat", categorical, list(CATEGORICAL_FEATURES)),
        ]
    )


def make_model(family: Family, config: ModelConfig | None = None, seed: int | None = None) -> Pipeline:
    """An unfitted pipeline (preprocessing + regressor) of one family; see the module docstring."""
    cfg = config or ModelConfig()
    rs = cfg.seed if seed is None else seed
    cite("Pedregosa2011_sklearn")
    model: Any
    if family == "rf":
        cite("Breiman2001_rf")
        model = RandomForestRegressor(
            n_estimators=cfg.rf_n_estimators,
            min_samples_leaf=cfg.rf_min_samples_leaf,
            max_features=cfg.rf_max_features,
            random_state=rs,
            n_jobs=1,
        )
    elif family == "hgb":
        model = HistGradientBoostingRegressor(
            max_iter=cfg.hgb_max_iter,
            learning_rate=cfg.hgb_learning_rate,
            max_leaf_nodes=cfg.hgb_max_leaf_nodes,
            min_samples_leaf=8,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=rs,
        )
    elif family == "gp":
        cite("Rasmussen2006_gpml")
        kernel = Constant(1.0, (1e-2, 1e2)) * Matern(3.0, (1e-1, 1e2), nu=2.5) + WhiteKernel(
            0.3, (1e-3, 10.0)
        )
        model = GaussianProcessRegressor(
            kernel=kernel, normalize_y=True, n_restarts_optimizer=cfg.gp_restarts, random_state=rs
        )
    elif family == "linear":
        model = RidgeCV(alphas=np.logspace(-2, 3, 21))
    else:
        raise ValueError(f"unknown model family {family!r}; allowed: {', '.join(FAMILIES)}")
    scale = family in ("gp", "linear")
    return Pipeline([("prep", _preprocessor(scale, cfg.min_category_count)), ("model", model)])


@contextmanager
def _one_thread() -> Iterator[None]:
    """Many small fits run faster single-threaded than with OpenMP/BLAS threads fighting."""
    with threadpool_limits(limits=1):
        yield


# --------------------------------------------------------------------------------------------
# Published figures to compare with
# --------------------------------------------------------------------------------------------


class PublishedScore(BaseModel):
    """A published test-set R² on the Nano-Tumor Database, with how it was obtained."""

    model_config = ConfigDict(frozen=True)

    citation: str
    model: str
    evaluation: str
    r2: dict[str, float]


#: Targets named in issue 5. Both come from random splits of data sets (not grouped by particle
#: or study); Chou et al. give RMSE in %ID, so their R² is on the linear scale; Lin et al. do not
#: state the scale of R² in the abstract.
PUBLISHED_SCORES: tuple[PublishedScore, ...] = (
    PublishedScore(
        citation="Lin2022_DNN_tumor",
        model="deep neural network",
        evaluation="random 80/20 split, test set",
        r2={"DE24": 0.46, "DE168": 0.33, "Demax": 0.70},
    ),
    PublishedScore(
        citation="Chou2023_AIPBPK",
        model="AI-PBPK (ML-predicted tumour parameters -> PBPK)",
        evaluation="random split; R² with RMSE in %ID (linear scale)",
        r2={"DE24": 0.83, "DE168": 0.56, "Demax": 0.82},
    ),
)


def published_scores() -> tuple[PublishedScore, ...]:
    """The published figures of :data:`PUBLISHED_SCORES`, citing them."""
    for p in PUBLISHED_SCORES:
        cite(p.citation)
    return PUBLISHED_SCORES


# --------------------------------------------------------------------------------------------
# Splits and scores
# --------------------------------------------------------------------------------------------


def _groups(cleaned: CleanedTable, split: Split) -> NDArray[np.int64]:
    if split == "random":
        return np.arange(len(cleaned.table), dtype=np.int64)
    if split == "particle":
        return particle_groups(cleaned)
    if split == "study":
        return study_groups(cleaned)
    raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")


def make_splits(
    groups: Sequence[int] | NDArray[np.int64], n_folds: int, seed: int
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Seeded grouped K-fold: every group lies wholly in one test fold (train/test index pairs)."""
    g = np.asarray(groups)
    n_groups = len(np.unique(g))
    if n_groups < n_folds:
        raise ValueError(f"need at least {n_folds} groups for {n_folds}-fold CV, got {n_groups}")
    splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [
        (np.asarray(tr, dtype=np.int64), np.asarray(te, dtype=np.int64))
        for tr, te in splitter.split(np.zeros(len(g)), groups=g)
    ]


class ScoreSet(BaseModel):
    """Agreement of predicted and observed log10 values."""

    n: int
    r2_log10: float
    rmse_log10: float
    within_2fold: float
    r2_linear: float  # R² on the linear scale (%ID), for comparison with published linear figures


def score(
    predicted_log10: Sequence[float] | NDArray[np.float64],
    observed_log10: Sequence[float] | NDArray[np.float64],
) -> ScoreSet:
    """R² about the identity line, RMSE and share within 2-fold on log10 values; R² in linear units."""
    p = np.asarray(predicted_log10, dtype=float)
    o = np.asarray(observed_log10, dtype=float)
    ok = np.isfinite(p) & np.isfinite(o)
    if ok.sum() < 2:
        raise ValueError(f"need at least 2 finite prediction/observation pairs, got {int(ok.sum())}")
    p, o = p[ok], o[ok]

    def r2(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
        ss_tot = float(np.sum((b - b.mean()) ** 2))
        return 1.0 - float(np.sum((b - a) ** 2)) / ss_tot if ss_tot > 0 else math.nan

    return ScoreSet(
        n=int(ok.sum()),
        r2_log10=r2(p, o),
        rmse_log10=float(np.sqrt(np.mean((p - o) ** 2))),
        within_2fold=float(np.mean(np.abs(p - o) <= np.log10(2.0) + 1e-12)),
        r2_linear=r2(10**p, 10**o),
    )


class CVSummary(BaseModel):
    """Cross-validated scores of one family on one target: mean and SD over repeats."""

    target: str
    family: str
    split: str
    folds: int
    repeats: int
    n: int
    r2_log10: float
    r2_log10_sd: float
    rmse_log10: float
    rmse_log10_sd: float
    within_2fold: float
    within_2fold_sd: float
    r2_linear: float
    r2_linear_sd: float
    per_repeat: list[ScoreSet]


def summarize(target: str, family: str, split: str, folds: int, per_repeat: list[ScoreSet]) -> CVSummary:
    """Mean and SD (ddof 0) of per-repeat scores."""

    def ms(attr: str) -> tuple[float, float]:
        v = np.array([getattr(s, attr) for s in per_repeat], dtype=float)
        return float(v.mean()), float(v.std())

    r2, r2sd = ms("r2_log10")
    rmse, rmsesd = ms("rmse_log10")
    w2, w2sd = ms("within_2fold")
    lin, linsd = ms("r2_linear")
    return CVSummary(
        target=target,
        family=family,
        split=split,
        folds=folds,
        repeats=len(per_repeat),
        n=per_repeat[0].n,
        r2_log10=r2,
        r2_log10_sd=r2sd,
        rmse_log10=rmse,
        rmse_log10_sd=rmsesd,
        within_2fold=w2,
        within_2fold_sd=w2sd,
        r2_linear=lin,
        r2_linear_sd=linsd,
        per_repeat=per_repeat,
    )


@dataclass(frozen=True)
class CVResult:
    """Scores per target and the out-of-fold predictions (log10) behind them.

    ``oof`` has columns ``repeat``, ``row`` (position in the cleaned table), ``ID``, ``fold``,
    ``target``, ``observed``, ``predicted``.
    """

    summaries: list[CVSummary]
    oof: pd.DataFrame
    seconds: float


def cross_validate(
    family: Family,
    targets: Sequence[str] = DELIVERY_TARGETS,
    *,
    split: Split = "study",
    repeats: int = 5,
    folds: int = 5,
    config: ModelConfig | None = None,
    data: CleanedTable | None = None,
    progress: ProgressCallback | None = None,
) -> CVResult:
    """Repeated, seeded, optionally grouped K-fold CV of one family on each target.

    Repeat ``r`` uses seed ``config.seed + r`` for both the fold assignment and the model, so two
    families evaluated with the same config see the same folds. Rows whose target is missing
    are left out of that target's training and scoring only.
    """
    cfg = config or ModelConfig()
    cleaned = data or load_clean_datasets()
    X = feature_frame(cleaned)
    Y = target_frame(cleaned, targets)
    groups = _groups(cleaned, split)
    ids = cleaned.table["ID"].to_numpy()
    t0 = time.perf_counter()
    rows: list[pd.DataFrame] = []
    per: dict[str, list[ScoreSet]] = {t: [] for t in targets}
    total = repeats * folds * len(targets)
    done = 0
    with _one_thread():
        for r in range(repeats):
            seed = cfg.seed + r
            splits = make_splits(groups, folds, seed)
            for target in targets:
                y = Y[target].to_numpy()
                pred = np.full(len(y), np.nan)
                fold_of = np.full(len(y), -1)
                for k, (tr, te) in enumerate(splits):
                    tr_ok = tr[np.isfinite(y[tr])]
                    model = make_model(family, cfg, seed).fit(X.iloc[tr_ok], y[tr_ok])
                    pred[te] = model.predict(X.iloc[te])
                    fold_of[te] = k
                    done += 1
                    if progress is not None:
                        progress(done, total, f"{family} {target} repeat {r + 1}")
                ok = np.isfinite(y)
                per[target].append(score(pred[ok], y[ok]))
                rows.append(
                    pd.DataFrame(
                        {
                            "repeat": r,
                            "row": np.flatnonzero(ok),
                            "ID": ids[ok],
                            "fold": fold_of[ok],
                            "target": target,
                            "observed": y[ok],
                            "predicted": pred[ok],
                        }
                    )
                )
    summaries = [summarize(t, family, split, folds, per[t]) for t in targets]
    return CVResult(summaries, pd.concat(rows, ignore_index=True), time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------
# CV+ prediction intervals
# --------------------------------------------------------------------------------------------


@dataclass
class IntervalModel:
    """A fitted model with CV+ intervals (log10 scale) for one target."""

    target: str
    family: str
    coverage: float
    full: Pipeline
    fold_models: list[Pipeline]
    fold_of_row: NDArray[np.int64]  # k(i) for each training row
    abs_residual: NDArray[np.float64]  # |y_i - mu_-k(i)(x_i)|

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """``point``, ``lo``, ``hi`` (log10) for each row of ``X`` (feature frame)."""
        cite("Barber2021_jackknifeplus")
        point = np.asarray(self.full.predict(X), dtype=float)
        mu = np.vstack([np.asarray(m.predict(X), dtype=float) for m in self.fold_models])  # K x m
        mu_i = mu[self.fold_of_row]  # n x m
        r = self.abs_residual[:, None]
        n = len(self.abs_residual)
        alpha = 1.0 - self.coverage
        k_lo = int(np.floor(alpha * (n + 1)))
        k_hi = int(np.ceil((1.0 - alpha) * (n + 1)))
        lower = np.sort(mu_i - r, axis=0)
        upper = np.sort(mu_i + r, axis=0)
        lo = lower[k_lo - 1] if k_lo >= 1 else np.full(point.shape, -np.inf)
        hi = upper[k_hi - 1] if k_hi <= n else np.full(point.shape, np.inf)
        return pd.DataFrame(
            {"point": point, "lo": np.minimum(lo, point), "hi": np.maximum(hi, point)}, index=X.index
        )


def fit_interval_model(
    X: pd.DataFrame,
    y: NDArray[np.float64],
    groups: NDArray[np.int64],
    target: str,
    config: ModelConfig | None = None,
    *,
    family: Family | None = None,
    progress: Callable[[str], None] | None = None,
) -> IntervalModel:
    """Fit the full model and the K fold models of CV+ (grouped folds); rows with NaN ``y`` are skipped."""
    cfg = config or ModelConfig()
    fam: Family = family or cfg.family
    ok = np.isfinite(y)
    Xo, yo, go = X.loc[ok], y[ok], np.asarray(groups)[ok]
    with _one_thread():
        splits = make_splits(go, cfg.interval_folds, cfg.seed)
        fold_of = np.empty(len(yo), dtype=np.int64)
        resid = np.empty(len(yo))
        fold_models: list[Pipeline] = []
        for k, (tr, te) in enumerate(splits):
            m = make_model(fam, cfg, cfg.seed + 1 + k).fit(Xo.iloc[tr], yo[tr])
            fold_models.append(m)
            fold_of[te] = k
            resid[te] = np.abs(yo[te] - m.predict(Xo.iloc[te]))
            if progress is not None:
                progress(f"{target}: fold model {k + 1}/{len(splits)}")
        full = make_model(fam, cfg, cfg.seed).fit(Xo, yo)
        if progress is not None:
            progress(f"{target}: final model")
    return IntervalModel(target, fam, cfg.coverage, full, fold_models, fold_of, resid)


class CoverageResult(BaseModel):
    """Empirical coverage of CV+ intervals on held-out (outer) folds."""

    target: str
    family: str
    split: str
    nominal: float
    coverage: float
    coverage_sd: float  # over repeats
    median_width_log10: float  # hi - lo
    repeats: int
    n: int


def check_coverage(
    target: str,
    *,
    split: Split = "study",
    repeats: int = 3,
    folds: int = 5,
    config: ModelConfig | None = None,
    data: CleanedTable | None = None,
) -> CoverageResult:
    """Nested check: on each outer training set build CV+ intervals (inner folds grouped by the
    same ``split``) and count how often the held-out outer rows fall inside."""
    cfg = config or ModelConfig()
    cleaned = data or load_clean_datasets()
    X = feature_frame(cleaned)
    y = target_frame(cleaned, [target])[target].to_numpy()
    groups = _groups(cleaned, split)
    inner_cfg = cfg.model_copy(update={"interval_split": split})
    cover: list[float] = []
    widths: list[NDArray[np.float64]] = []
    n = 0
    for r in range(repeats):
        hits = 0
        count = 0
        for tr, te in make_splits(groups, folds, cfg.seed + 1000 + r):
            im = fit_interval_model(
                X.iloc[tr], y[tr], groups[tr], target, inner_cfg.model_copy(update={"seed": cfg.seed + r})
            )
            te_ok = te[np.isfinite(y[te])]
            with _one_thread():
                pi = im.predict(X.iloc[te_ok])
            yt = y[te_ok]
            hits += int(np.sum((pi["lo"].to_numpy() <= yt) & (yt <= pi["hi"].to_numpy())))
            count += len(te_ok)
            widths.append((pi["hi"] - pi["lo"]).to_numpy())
        cover.append(hits / count)
        n = count
    c = np.array(cover)
    return CoverageResult(
        target=target,
        family=cfg.family,
        split=split,
        nominal=cfg.coverage,
        coverage=float(c.mean()),
        coverage_sd=float(c.std()),
        median_width_log10=float(np.median(np.concatenate(widths))),
        repeats=repeats,
        n=n,
    )


# --------------------------------------------------------------------------------------------
# Applicability domain
# --------------------------------------------------------------------------------------------

#: Raw descriptors whose training range is checked, with the name users see.
_RANGE_COLUMNS: dict[str, str] = {
    "HD": "HD [nm]",
    "Zeta": "|zeta| [mV]",
    "TW": "TW [g]",
    "Dose": "Dose [mg/kg]",
    "BW": "BW [g]",
}


class DomainCheck(BaseModel):
    """Applicability-domain verdict for one row: ``in``, ``incomplete`` or ``out``."""

    flag: Literal["in", "incomplete", "out"]
    mahalanobis_d2: float
    reasons: list[str]


@dataclass(frozen=True)
class ApplicabilityDomain:
    """Training ranges, seen categories and a Mahalanobis distance on the numeric features."""

    ranges: dict[str, tuple[float, float]]
    categories: dict[str, tuple[str, ...]]
    medians: NDArray[np.float64]
    mean: NDArray[np.float64]
    inv_cov: NDArray[np.float64]
    threshold_d2: float
    quantile: float

    @classmethod
    def fit(cls, cleaned: CleanedTable, quantile: float = 0.99) -> ApplicabilityDomain:
        t = cleaned.table
        ranges = {c: (float(np.nanmin(t[c])), float(np.nanmax(t[c]))) for c in _RANGE_COLUMNS}
        cats = {
            c: tuple(sorted({str(v) for v in t[c] if v is not None and not pd.isna(v)}))
            for c in CATEGORICAL_FEATURES
        }
        F = feature_frame(cleaned)[list(NUMERIC_FEATURES)].to_numpy(dtype=float)
        med = np.nanmedian(F, axis=0)
        Fi = np.where(np.isfinite(F), F, med)
        mean = Fi.mean(axis=0)
        inv = np.linalg.pinv(np.cov(Fi, rowvar=False))
        d2 = np.einsum("ij,jk,ik->i", Fi - mean, inv, Fi - mean)
        return cls(ranges, cats, med, mean, inv, float(np.quantile(d2, quantile)), quantile)

    def assess(self, cleaned: CleanedTable) -> list[DomainCheck]:
        t = cleaned.table
        F = feature_frame(cleaned)[list(NUMERIC_FEATURES)].to_numpy(dtype=float)
        Fi = np.where(np.isfinite(F), F, self.medians)
        d2 = np.einsum("ij,jk,ik->i", Fi - self.mean, self.inv_cov, Fi - self.mean)
        out: list[DomainCheck] = []
        for i in range(len(t)):
            far: list[str] = []
            missing: list[str] = []
            for c, label in _RANGE_COLUMNS.items():
                v = t[c].iloc[i]
                if v is None or not np.isfinite(v):
                    missing.append(c)
                    continue
                lo, hi = self.ranges[c]
                if not lo <= v <= hi:
                    far.append(f"{label} {v:g} outside the training range {lo:g}-{hi:g}")
            for c in CATEGORICAL_FEATURES:
                v = t[c].iloc[i]
                if v is None or (isinstance(v, float) and np.isnan(v)):
                    missing.append(c)
                elif str(v) not in self.categories[c]:
                    far.append(f"{c} {v!r} not seen in training ({', '.join(self.categories[c])})")
            if d2[i] > self.threshold_d2:
                far.append(
                    f"Mahalanobis D² {d2[i]:.1f} > {self.threshold_d2:.1f} "
                    f"({100 * self.quantile:g}th percentile of training rows)"
                )
            reasons = list(far)
            if missing:
                reasons.append("missing " + ", ".join(missing) + " (imputed)")
            flag: Literal["in", "incomplete", "out"] = "out" if far else ("incomplete" if missing else "in")
            out.append(DomainCheck(flag=flag, mahalanobis_d2=float(d2[i]), reasons=reasons))
        return out


# --------------------------------------------------------------------------------------------
# The trained bundle, training and the cache
# --------------------------------------------------------------------------------------------


@dataclass
class DeliveryModels:
    """Final models: CV+ delivery models, a joint tumour-parameter model, the domain, provenance."""

    key: str
    config: ModelConfig
    delivery: dict[str, IntervalModel]
    parameters: Pipeline  # multi-output: log10 of PARAMETER_TARGETS
    parameter_names: tuple[str, ...]
    domain: ApplicabilityDomain
    n_training_rows: int
    training_seconds: float
    versions: dict[str, str]
    format: int = BUNDLE_FORMAT
    notes: list[str] = field(default_factory=list)

    def predict_parameters(self, X: pd.DataFrame) -> pd.DataFrame:
        """Tumour PBPK parameters (natural units) for each row of a feature frame."""
        cite("Chou2023_AIPBPK")
        with _one_thread():
            logp = np.asarray(self.parameters.predict(X), dtype=float).reshape(len(X), -1)
        return pd.DataFrame(10**logp, columns=list(self.parameter_names), index=X.index)


def _code_hash() -> str:
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _CODE_FILES:
        h.update((here / name).read_bytes())
    return h.hexdigest()


def _versions() -> dict[str, str]:
    return {"nanobridge": nanobridge.__version__, "sklearn": sklearn.__version__, "numpy": np.__version__}


def cache_key(config: ModelConfig | None = None) -> str:
    """Hash of packaged data + configuration + design code + library versions."""
    cfg = config or ModelConfig()
    payload = {
        "format": BUNDLE_FORMAT,
        "data": data_fingerprint(),
        "config": cfg.model_dump(mode="json"),
        "code": _code_hash(),
        "versions": _versions(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def default_cache_dir() -> Path:
    """``$NANOBRIDGE_CACHE_DIR/models`` if set, else the platform's user cache dir + ``nanobridge/models``."""
    env = os.environ.get("NANOBRIDGE_CACHE_DIR")
    if env:
        return Path(env).expanduser() / "models"
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "nanobridge" / "models"


def train_models(
    config: ModelConfig | None = None,
    *,
    data: CleanedTable | None = None,
    progress: ProgressCallback | None = None,
) -> DeliveryModels:
    """Train the final models on the whole (cleaned) database, seeded; no disk access."""
    cfg = config or ModelConfig()
    cleaned = data or load_clean_datasets()
    t0 = time.perf_counter()
    X = feature_frame(cleaned)
    Y = target_frame(cleaned)
    groups = _groups(cleaned, cfg.interval_split)
    total = len(DELIVERY_TARGETS) * (cfg.interval_folds + 1) + 1
    done = 0

    def step(label: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, label)

    delivery = {
        t: fit_interval_model(X, Y[t].to_numpy(), groups, t, cfg, progress=step) for t in DELIVERY_TARGETS
    }
    P = Y[list(PARAMETER_TARGETS)].to_numpy()
    ok = np.all(np.isfinite(P), axis=1)
    # joint (multi-output) model: keeps the fitted parameters' correlations; RF supports it natively
    family: Family = "rf"
    with _one_thread():
        params = make_model(family, cfg, cfg.seed).fit(X.loc[ok], P[ok])
    step("tumour PBPK parameters (joint)")
    return DeliveryModels(
        key=cache_key(cfg) if data is None else "custom-data",
        config=cfg,
        delivery=delivery,
        parameters=params,
        parameter_names=PARAMETER_TARGETS,
        domain=ApplicabilityDomain.fit(cleaned, cfg.domain_quantile),
        n_training_rows=len(cleaned.table),
        training_seconds=time.perf_counter() - t0,
        versions=_versions(),
    )


class LoadResult(BaseModel):
    """How :func:`load_or_train` obtained the models."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    models: Any  # DeliveryModels
    source: Literal["memory", "cache", "trained"]
    path: Path | None
    notes: list[str]


_MEMORY: dict[str, DeliveryModels] = {}
#: Bundles kept in the cache dir (others, e.g. from older code or configs, are deleted).
KEEP_BUNDLES = 4


def forget_loaded_models() -> None:
    """Drop the models held in this process (the next :func:`load_or_train` reads the disk cache)."""
    _MEMORY.clear()


def _prune(folder: Path, keep: Path) -> None:
    """Delete all but the :data:`KEEP_BUNDLES` newest ``delivery-*.joblib`` files (never ``keep``)."""
    files = sorted(folder.glob("delivery-*.joblib"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [f for f in files if f != keep][KEEP_BUNDLES - 1 :]:
        with suppress(OSError):
            old.unlink()


def load_or_train(
    config: ModelConfig | None = None,
    *,
    cache_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    retrain: bool = False,
) -> LoadResult:
    """The final models: from this process, from the disk cache, or trained now and cached.

    A cache file that cannot be read, is not a :class:`DeliveryModels`, or carries another key is
    retrained and overwritten (noted); a cache dir that cannot be written is noted, not fatal.
    """
    cfg = config or ModelConfig()
    key = cache_key(cfg)
    notes: list[str] = []
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"delivery-{key[:20]}.joblib"
    if not retrain and key in _MEMORY:
        return LoadResult(models=_MEMORY[key], source="memory", path=path, notes=notes)
    if not retrain and path.exists():
        try:
            obj = joblib.load(path)
            if isinstance(obj, DeliveryModels) and obj.key == key and obj.format == BUNDLE_FORMAT:
                _MEMORY[key] = obj
                return LoadResult(models=obj, source="cache", path=path, notes=notes)
            notes.append(f"cache file {path} is stale or not a model bundle; retrained")
        except Exception as exc:  # a corrupt or foreign file must never crash a prediction
            notes.append(f"cache file {path} could not be read ({type(exc).__name__}: {exc}); retrained")
    models = train_models(cfg, progress=progress)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".delivery-", suffix=".tmp", dir=folder)
        os.close(fd)
        try:
            joblib.dump(models, tmp, compress=3)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _prune(folder, keep=path)
    except OSError as exc:
        notes.append(f"could not write the model cache in {folder} ({exc}); models kept in memory only")
    _MEMORY[key] = models
    return LoadResult(models=models, source="trained", path=path, notes=notes)


# --------------------------------------------------------------------------------------------
# Prediction for a user table
# --------------------------------------------------------------------------------------------


def predict_delivery(models: DeliveryModels, table: pd.DataFrame | CleanedTable) -> pd.DataFrame:
    """Predict DE24, DE168, Demax [%ID] with 90 % (config) CV+ intervals for each row.

    ``table`` has database column names (see
    :func:`~nanobridge.science.design.data.standardize_columns` for aliases) or is already cleaned.
    Returns ``ID``, ``DE24``, ``DE24_lo``, ``DE24_hi``, ... , ``domain`` (in/incomplete/out),
    ``mahalanobis_d2`` and ``warnings`` (cleaning notes and domain reasons, ``; ``-separated).
    """
    cite("Cheng2020")
    cite("Chou2023_AIPBPK")
    cleaned = table if isinstance(table, CleanedTable) else clean_descriptors(table)
    X = feature_frame(cleaned)
    out = pd.DataFrame({"ID": cleaned.table["ID"].to_numpy()})
    with _one_thread():
        for t, im in models.delivery.items():
            pi = im.predict(X)
            out[t] = 10 ** pi["point"].to_numpy()
            out[f"{t}_lo"] = 10 ** pi["lo"].to_numpy()
            out[f"{t}_hi"] = 10 ** pi["hi"].to_numpy()
    checks = models.domain.assess(cleaned)
    out["domain"] = [c.flag for c in checks]
    out["mahalanobis_d2"] = [c.mahalanobis_d2 for c in checks]
    warnings: list[str] = []
    for i, c in enumerate(checks):
        msgs = [n.message for n in cleaned.notes_for_row(i) if n.warning] + c.reasons
        warnings.append("; ".join(msgs))
    out["warnings"] = warnings
    return out
