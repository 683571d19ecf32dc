"""Cross-validate the delivery models on the Nano-Tumor Database and print the README tables.

Usage: python benchmarks/train_delivery_models.py [--quick] [--repeats N]

1. Model families (rf, hgb, gp, linear) x splits (random rows, particle groups, study-proxy
   groups) x targets (DE24, DE168, Demax): R² and RMSE of log10 values, share within 2-fold, R² on
   the linear %ID scale; mean ± SD over seeded repeats of 5-fold CV.
2. The nine tumour PBPK parameters (independent rf models; the joint rf model of AI-PBPK).
3. AI-PBPK (predicted parameters -> PBPK engine) vs the direct models, same folds; and the replay
   of the database's fitted parameters (the ceiling of any AI-PBPK model on this engine).
4. Empirical coverage of the 90 % CV+ intervals on held-out outer folds (nested).
5. Time to train all final models (what `nanobridge predict` does at first use) and bundle size.

``--quick`` runs 2 repeats, rf and linear only, and skips the parameter and coverage tables'
second split (a smoke run, a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import joblib

from nanobridge.citations import cite
from nanobridge.science.design.ai_pbpk import cross_validate_ai_pbpk
from nanobridge.science.design.data import DELIVERY_TARGETS, PARAMETER_TARGETS, load_clean_datasets
from nanobridge.science.design.delivery import (
    FAMILIES,
    CVSummary,
    ModelConfig,
    Split,
    check_coverage,
    cross_validate,
    load_or_train,
    published_scores,
)


def cite_median() -> float:
    """Median tumour delivery in studies of 2005-2015, 0.7 %ID (Wilhelm2016_delivery)."""
    cite("Wilhelm2016_delivery")
    return 0.7


def pm(mean: float, sd: float, digits: int = 2) -> str:
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def row(s: CVSummary, label: str | None = None) -> str:
    return (
        f"| {label or s.family} | {s.split} | {s.target} | {s.n} | {pm(s.r2_log10, s.r2_log10_sd)} | "
        f"{pm(s.rmse_log10, s.rmse_log10_sd)} | {pm(100 * s.within_2fold, 100 * s.within_2fold_sd, 0)} % | "
        f"{pm(s.r2_linear, s.r2_linear_sd)} |"
    )


HEADER = (
    "| model | split | target | n | R² (log10) | RMSE (log10) | within 2-fold | R² (linear %ID) |\n"
    "|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 repeats, rf + linear only (smoke run)")
    parser.add_argument("--repeats", type=int, default=None, help="CV repeats (default 5; 2 with --quick)")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    families = ("rf", "linear") if args.quick else FAMILIES
    splits: tuple[Split, ...] = ("random", "particle", "study")
    cfg = ModelConfig()
    data = load_clean_datasets()
    t_start = time.perf_counter()

    rules = Counter(n.rule for n in data.notes)
    print(f"{len(data.table)} data sets; cleaning notes by rule: {dict(sorted(rules.items()))}")
    print(
        f"seed {cfg.seed}, {repeats} repeats x 5 folds; metrics pooled per repeat, mean ± SD over repeats\n"
    )

    medians = data.table[list(DELIVERY_TARGETS)].median()
    print(
        "median DE24 / DE168 / Demax: "
        + " / ".join(f"{medians[t]:.2f}" for t in DELIVERY_TARGETS)
        + f" %ID (Wilhelm et al. 2016: median {cite_median()} %ID in studies of 2005-2015)\n"
    )
    print("## Delivery efficiency: model families\n")
    print(HEADER)
    for split in splits:
        for family in families:
            res = cross_validate(
                family, DELIVERY_TARGETS, split=split, repeats=repeats, config=cfg, data=data
            )
            for s in res.summaries:
                print(row(s), flush=True)
            print(f"<!-- {family} {split}: {res.seconds:.1f} s -->", flush=True)

    print("\nPublished (random splits; see the notes in docs):\n")
    print("| model | evaluation | DE24 | DE168 | Demax |\n|---|---|---|---|---|")
    for p in published_scores():
        print(
            f"| {p.model} [{p.citation}] | {p.evaluation} | "
            + " | ".join(f"{p.r2[t]:.2f}" for t in DELIVERY_TARGETS)
            + " |"
        )

    print("\n## Tumour PBPK parameters (log10), independent rf models\n")
    print(HEADER)
    psplits: tuple[Split, ...] = ("random",) if args.quick else ("random", "study")
    for split in psplits:
        res = cross_validate(
            "rf", PARAMETER_TARGETS, split=split, repeats=min(repeats, 3), config=cfg, data=data
        )
        for s in res.summaries:
            print(row(s), flush=True)

    print("\n## AI-PBPK (joint rf parameters -> PBPK engine) vs direct models, same folds\n")
    print(HEADER)
    joint: list[CVSummary] = []
    two: tuple[Split, ...] = ("random", "study")
    for split in two:
        comp = cross_validate_ai_pbpk(split=split, repeats=repeats, config=cfg, data=data)
        for s in comp.summaries:
            print(row(s), flush=True)
        joint.extend(comp.parameter_summaries)
        print(f"<!-- AI-PBPK {split}: {comp.seconds_simulating:.1f} s simulating -->", flush=True)
    print("\nJoint rf model, out-of-fold R² (log10) per tumour parameter:\n")
    print("| split | " + " | ".join(PARAMETER_TARGETS) + " |")
    print("|---|" + "---|" * len(PARAMETER_TARGETS))
    for split in ("random", "study"):
        vals = [
            next(s for s in joint if s.target == p and s.split == split).r2_log10 for p in PARAMETER_TARGETS
        ]
        print(f"| {split} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")

    print("\n## 90 % CV+ prediction intervals: empirical coverage on held-out outer folds\n")
    print("| outer split (= inner) | target | n | coverage | median width (log10) | median width (hi/lo) |")
    print("|---|---|---|---|---|---|")
    outer: tuple[Split, ...] = ("study",) if args.quick else ("study", "random")
    for split in outer:
        for target in DELIVERY_TARGETS:
            c = check_coverage(target, split=split, repeats=min(repeats, 3), config=cfg, data=data)
            print(
                f"| {split} | {target} | {c.n} | {100 * c.coverage:.1f} ± {100 * c.coverage_sd:.1f} % | "
                f"{c.median_width_log10:.2f} | {10**c.median_width_log10:.0f}x |",
                flush=True,
            )

    print("\n## Final models (what `nanobridge predict` trains at first use)\n")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        loaded = load_or_train(cfg, cache_dir=Path(tmp), retrain=True)
        wall = time.perf_counter() - t0
        size_mb = (
            loaded.path.stat().st_size / 1e6
            if loaded.path is not None and loaded.path.exists()
            else float("nan")
        )
        t0 = time.perf_counter()
        if loaded.path is not None:
            joblib.load(loaded.path)
        disk = time.perf_counter() - t0
    print(
        f"trained in {loaded.models.training_seconds:.1f} s (with saving: {wall:.1f} s), "
        f"bundle {size_mb:.1f} MB, loaded from disk in {disk:.1f} s"
    )
    print(f"\ntotal benchmark time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
