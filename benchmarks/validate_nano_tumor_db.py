"""Replay the Nano-Tumor Database calibrations and print the agreement table of the README.

Usage: python benchmarks/validate_nano_tumor_db.py [PATH/TO/datasets.csv]

For each of the database's data sets, its nine fitted tumour parameters drive nanobridge's
mouse model (organ parameters Cheng2020_mouse); simulated DE24, DE168 and DEmax are compared
with the tabulated values on a log scale. Both choices for the liver venous return are shown:
nanobridge's fix ((QL + QS) x CVL) and the reference code's (QL x CVL).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from nanobridge.science.pbpk.parameters import load_parameter_set
from nanobridge.science.pbpk.validation import agreement, replay_tumor_calibrations

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "validation" / "nano_tumor_db" / "datasets.csv"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    db = pd.read_csv(path)
    courses = pd.read_csv(path.with_name("time_courses.csv"))
    last_time_h = db["ID"].map(courses.groupby("ID")["Time"].max())
    organ = load_parameter_set("Cheng2020_mouse").as_dict()
    print(f"{len(db)} data sets from {path}")
    print("| liver venous return | metric | n | log10 R² | within 2-fold | within 3-fold | median sim/obs |")
    print("|---|---|---|---|---|---|---|")
    for label, ref in (("fixed (QL+QS)·CVL", False), ("reference code QL·CVL", True)):
        t0 = time.perf_counter()
        sim = db.merge(replay_tumor_calibrations(db, organ, reference_liver_return=ref), on="ID")
        dt = time.perf_counter() - t0
        for metric, col in (("DE24", "DE24"), ("DEmax", "Demax"), ("DE168", "DE168")):
            s = agreement(sim[f"{metric}_sim"], sim[col])
            print(
                f"| {label} | {metric} | {s.n} | {s.r2_log10:.2f} | {100 * s.within_2fold:.0f} % "
                f"| {100 * s.within_3fold:.0f} % | {s.median_ratio:.2f} |"
            )
        late = sim[last_time_h.to_numpy() >= 160]
        s = agreement(late["DE168_sim"], late["DE168"])
        print(
            f"| {label} | DE168, sets measured to >= 160 h | {s.n} | {s.r2_log10:.2f} | "
            f"{100 * s.within_2fold:.0f} % | {100 * s.within_3fold:.0f} % | {s.median_ratio:.2f} |"
        )
        print(f"<!-- {label}: {len(db)} data sets simulated in {dt:.2f} s -->")


if __name__ == "__main__":
    main()
