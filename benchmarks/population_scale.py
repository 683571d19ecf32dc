"""Virtual-population throughput end to end: 1 vs 2 workers of a local Dask cluster, then n subjects.

Usage: python benchmarks/population_scale.py [--n 1000000] [--n-scaling 40000] [--chunk 2000]
                                             [--species human] [--workers 2] [--quick] [--keep DIR]

What runs (the job code of ``nanobridge population``, :func:`nanobridge.workflows.population.run_population`):
sampling of covariates, the batched numba PBPK solve (rtol 1e-4), the per-subject reduction
(delivery, tumour/background contrast and PET CNR at 6 imaging times, absorbed doses with the
species' dose factors) inside each task, and the streaming of every finished chunk to Zarr, with
the summary computed by streaming over the store. Agent: the bundled 124I C dot; 168 h, hourly.

1. Scaling: ``--n-scaling`` subjects on a LocalCluster of 1 worker, then of 2 workers (one
   single-threaded worker process per core). Throughput is reported end to end (cluster start,
   worker imports and numba cache load included) and steady (from the first finished chunk to the
   last); scaling efficiency = rate(2) / (2 x rate(1)), steady rates.
2. End to end: ``--n`` subjects on ``--workers`` workers (default 2), wall time, subjects/s, peak
   RSS of the client and of each worker (``getrusage`` maxrss), the size of the store, and what
   holding every hourly curve would take instead.

``--quick``: 8,000 subjects for scaling and 20,000 end to end, chunks of 1,000 (a smoke test, ~1-2 min).
The last line is machine-readable:
``subjects_per_s=X scaling_efficiency=Y peak_rss_mb=Z n=N``.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def _dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


@dataclass
class Measured:
    workers: int
    n: int
    wall_s: float
    steady_rate: float
    client_peak_mb: float
    worker_peak_mb: list[float]
    store_mb: float

    @property
    def rate(self) -> float:
        return self.n / self.wall_s


def measure(ctx: Any, n_workers: int, chunk: int, out: Path) -> Measured:
    from distributed import Client, LocalCluster

    from nanobridge.workflows.population import run_population

    stamps: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.WARNING,
    )
    try:
        with Client(cluster) as client:

            def progress(done: int, total: int, subjects: int) -> None:
                stamps.append((time.perf_counter(), subjects))

            run_population(
                ctx,
                out,
                chunk_size=chunk,
                scheduler=cluster.scheduler_address,
                progress=progress,
                overwrite=True,
            )
            wall = time.perf_counter() - t0
            peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    finally:
        cluster.close()
    done = [(t, s) for t, s in stamps if s > 0]
    steady = float("nan")
    if len(done) >= 2 and done[-1][0] > done[0][0]:
        steady = (done[-1][1] - done[0][1]) / (done[-1][0] - done[0][0])
    return Measured(
        n_workers, ctx.n_subjects, wall, steady, _peak_rss_mb(), sorted(peaks.values()), _dir_mb(out)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument(
        "--n", type=int, default=1_000_000, help="subjects of the end-to-end run (default 1,000,000)"
    )
    ap.add_argument("--n-scaling", type=int, default=40_000, help="subjects of the 1- vs 2-worker runs")
    ap.add_argument("--chunk", type=int, default=2000, help="subjects per task (default 2000)")
    ap.add_argument("--species", default="human", choices=("mouse", "rat", "human"))
    ap.add_argument("--workers", type=int, default=2, help="workers of the end-to-end run (default 2)")
    ap.add_argument("--draws", type=int, default=10, help="parameter-uncertainty draws (default 10)")
    ap.add_argument(
        "--quick", action="store_true", help="8,000 + 20,000 subjects, chunks of 1,000 (smoke test)"
    )
    ap.add_argument("--keep", type=Path, default=None, help="keep the end-to-end store in this folder")
    args = ap.parse_args()
    if args.quick:
        args.n, args.n_scaling, args.chunk = 20_000, 8_000, 1_000

    from nanobridge.domain import load_example_agent
    from nanobridge.science.population.trial import prepare_trial, simulate_chunk
    from nanobridge.workflows.assessment import default_scenario
    from nanobridge.workflows.population import summarize_store

    agent = load_example_agent("cdot_pet_optical")
    scenario = default_scenario(args.species)
    t_all = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="nb-popscale-"))
    try:
        # warm this process (numba cache, imports) so the client side is not measured cold
        simulate_chunk(prepare_trial(agent, scenario, 8, uncertainty_draws=1), 0, 8)
        scaling = []
        for w in (1, 2):
            ctx = prepare_trial(agent, scenario, args.n_scaling, uncertainty_draws=args.draws, seed=1)
            scaling.append(measure(ctx, w, args.chunk, tmp / f"scaling-{w}"))
        ctx = prepare_trial(agent, scenario, args.n, uncertainty_draws=args.draws, seed=2)
        out = args.keep or tmp / "end-to-end"
        big = measure(ctx, args.workers, args.chunk, out)
        summary = summarize_store(out)
    finally:
        if args.keep is None or not str(args.keep).startswith(str(tmp)):
            shutil.rmtree(tmp, ignore_errors=True)

    r1, r2 = scaling[0].steady_rate, scaling[1].steady_rate
    eff = r2 / (2 * r1)
    print(
        f"Virtual-population benchmark: {agent.name}, {args.species}, {len(ctx.times_h)} output times, "
        f"{len(ctx.design.imaging_times_h)} imaging times, doses on; chunks of {args.chunk:,}; "
        f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f} at the end)"
    )
    print()
    print(
        "| workers | subjects | wall [s] | subjects/s end to end | subjects/s steady "
        "| peak RSS client / workers [MB] |"
    )
    print("|---|---|---|---|---|---|")
    for m in (*scaling, big):
        workers_mb = " / ".join(f"{p:.0f}" for p in m.worker_peak_mb)
        print(
            f"| {m.workers} | {m.n:,} | {m.wall_s:.1f} | {m.rate:,.0f} | {m.steady_rate:,.0f} | "
            f"{m.client_peak_mb:.0f} / {workers_mb} |"
        )
    print()
    print(f"scaling efficiency 1 -> 2 workers (steady rates): {eff:.2f}")
    curves_gb = args.n * len(ctx.times_h) * 12 * 8 / 1e9
    print(
        f"end to end: {args.n:,} subjects in {big.wall_s:.0f} s; store {big.store_mb:.0f} MB on disk; "
        "holding every "
        f"hourly curve (12 organs, float64) would take {curves_gb:.1f} GB"
    )
    det = summary.detection
    any_row = det[det["time_h"].isna()]
    de = summary.metrics.loc["DE24_pct_id"]
    print(
        f"result: median DE24 {de['p50']:.3g} %ID (5-95 % {de['p5']:.3g}-{de['p95']:.3g}); "
        "detectable at any time "
        f"{100 * float(any_row['share_detectable'].iloc[0]):.1f} %"
    )
    print(f"total benchmark time {time.perf_counter() - t_all:.0f} s")
    peak = max([big.client_peak_mb, *big.worker_peak_mb])
    print(f"subjects_per_s={big.rate:.0f} scaling_efficiency={eff:.2f} peak_rss_mb={peak:.0f} n={args.n}")


if __name__ == "__main__":
    main()
