"""QC throughput: DLS analysis and TEM sizing against straightforward reference code, in one run.

Usage: python benchmarks/qc_throughput.py [--quick]

Runs the two measurement modules beside this script, each ``run(quick) -> dict[str, float]``:

- ``_qc_dls_bench``: synthetic noisy correlograms (lognormal samples, 200 lags) analysed by
  nanobridge's vectorised cumulant fit and its regularized inversion (shared, cached kernel)
  against a per-correlogram ``scipy.optimize.curve_fit`` loop and a per-correlogram inversion
  that builds everything afresh; rates in correlograms per second, plus the agreement of the
  two implementations (Z-average, intensity-weighted mean diameter) and the Z-average error
  against the exact value of the synthetic distributions.
- ``_qc_tem_bench``: synthetic micrographs (20 % coverage, 30 % touching) sized by
  ``nanobridge.science.qc.tem.size_particles`` against the usual scikit-image recipe with a
  per-particle ``regionprops`` loop; rates in megapixels per second and the particle counts.
  Skipped with a message when the TEM module or its benchmark is not installed.

One line per metric, then a machine-readable last line:
``cumulants_speedup=X inversion_speedup=Y tem_speedup=Z`` (Z is nan when TEM was skipped).
Timings depend on machine load; the ratios are measured in the same process, back to back.
BLAS/OpenMP threads default to 1 (the matrices are small: thread start-up and oversubscription
on shared cores cost more than they give); set ``OMP_NUM_THREADS`` to change that.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy is imported (by the benchmark modules)


def _load(name: str) -> Any:
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module(name)


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small workloads (smoke test, a few seconds)")
    args = ap.parse_args()
    t_wall = time.perf_counter()
    print(
        f"QC throughput benchmark ({'quick' if args.quick else 'full'}): {os.cpu_count()} CPUs, "
        f"BLAS threads {os.environ['OMP_NUM_THREADS']}; rates measured back to back in one process"
    )
    print()

    dls = _load("_qc_dls_bench").run(quick=args.quick)
    tem: dict[str, float] | None = None
    try:
        tem_bench = _load("_qc_tem_bench")
    except ModuleNotFoundError as exc:
        print(f"TEM sizing skipped: {exc}")
    else:
        tem = tem_bench.run(quick=args.quick)

    header = ("metric", "nanobridge", "reference", "ratio", "agreement")
    widths = (45, 12, 12, 7, 58)

    def row(*cells: object) -> str:
        return (
            "| "
            + " | ".join(
                f"{c:<{w}}" if i in (0, 4) else f"{c:>{w}}"
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    print(row(*header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print(
        row(
            "DLS cumulants [correlograms/s]",
            _rate(dls["cumulants_per_s"]),
            _rate(dls["cumulants_reference_per_s"]),
            f"{dls['cumulants_speedup']:.0f}x",
            f"Z max diff {100 * dls['cumulants_max_z_rel_diff']:.2f} %; vs truth "
            f"{100 * dls['cumulants_max_z_rel_err_vs_truth']:.2f} % (ref "
            f"{100 * dls['cumulants_reference_max_z_rel_err_vs_truth']:.2f} %)",
        )
    )
    print(
        row(
            "DLS inversion (CONTIN-style) [correlograms/s]",
            _rate(dls["inversion_per_s"]),
            _rate(dls["inversion_reference_per_s"]),
            f"{dls['inversion_speedup']:.1f}x",
            f"intensity-mean diameter max diff {100 * dls['inversion_max_mean_diameter_rel_diff']:.2f} %",
        )
    )
    tem_speedup = float("nan")
    if tem is not None:
        tem_speedup = tem["speedup"]
        counts = (
            f"counts {tem.get('count_nanobridge', math.nan):.0f} vs "
            f"{tem.get('count_reference', math.nan):.0f} (truth {tem.get('count_true', math.nan):.0f}) "
            f"on {tem.get('megapixels', math.nan):.2f} MP"
        )
        print(
            row(
                "TEM sizing [megapixels/s]",
                f"{tem['mp_per_s_nanobridge']:.3g}",
                f"{tem['mp_per_s_reference']:.3g}",
                f"{tem_speedup:.2f}x",
                counts,
            )
        )
    print()
    print("reference implementations: scipy curve_fit loop (cumulants); per-correlogram kernel + SVD + NNLS")
    print("(inversion); skimage Otsu + watershed + regionprops loop (TEM)")
    print(f"total benchmark time {time.perf_counter() - t_wall:.0f} s")
    print(
        f"cumulants_speedup={dls['cumulants_speedup']:.1f} inversion_speedup={dls['inversion_speedup']:.2f} "
        f"tem_speedup={tem_speedup:.2f}"
    )


if __name__ == "__main__":
    main()
