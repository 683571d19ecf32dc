"""Population jobs: chunked, local or on a Dask cluster, resumable, streamed to Zarr.

One job code for every scale. The population is cut into chunks of ``chunk_size`` subjects
(>= 100-1000 per task: a Dask task costs ~2.5 ms, a subject ~0.5 ms); each chunk is simulated
in one batched PBPK solve and reduced to one row of metrics per subject inside the task
(:func:`nanobridge.science.population.trial.simulate_chunk`). Executors:

- ``workers=0`` (or a job of fewer than 4 chunks): in this process, chunk after chunk, the
  solver using every core (numba threads);
- default: a Dask ``LocalCluster`` with one single-threaded worker process per core;
- ``scheduler="tcp://host:8786"``: an existing Dask cluster (workers need nanobridge installed;
  results come back to this process, which writes them, so no shared file system is needed).

Results stream to ``OUT/population.zarr`` as chunks finish: a ``table`` array (subject x metric,
float64, one Zarr chunk per job chunk), optional ``curves`` (subject x time x [tumour,
background] concentration, float32) and a ``done`` flag per chunk, written last. At most
``max_in_flight`` chunks are in the air, so memory stays bounded whatever the population. A
rerun with the same inputs skips finished chunks: an interrupted run continues where it stopped
(subjects are generated per block from the seed, so the results do not depend on which chunks
ran when). The summary is computed by streaming over the stored table
(:class:`~nanobridge.science.population.trial.StreamingSummary`) and written as CSV next to it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nanobridge.citations import cite
from nanobridge.science.population.trial import (
    ChunkResult,
    PopulationSummary,
    StreamingSummary,
    TrialContext,
    simulate_chunk,
)

__all__ = [
    "STORE_NAME",
    "PopulationRun",
    "ProgressCallback",
    "read_population_table",
    "run_population",
    "summarize_store",
]

#: Name of the Zarr store inside the output folder.
STORE_NAME = "population.zarr"
_FORMAT = "nanobridge-population-1"
#: ``progress(chunks_done, chunks_total, subjects_done)`` after every finished chunk.
ProgressCallback = Callable[[int, int, int], None]
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PopulationRun:
    """What a population job did and found."""

    out_dir: Path
    summary: PopulationSummary
    n_subjects: int
    n_chunks: int
    chunks_run: int
    chunks_skipped: int
    seconds: float
    executor: str
    workers: int
    notes: tuple[str, ...] = ()

    @property
    def subjects_per_s(self) -> float:
        """Throughput of this call over the chunks it ran (skipped chunks excluded)."""
        ran = self.n_subjects * self.chunks_run / max(self.n_chunks, 1)
        return ran / self.seconds if self.seconds > 0 else float("nan")


# --------------------------------------------------------------------------------------------
# the store


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(size, n - start)) for start in range(0, n, size)]


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def _fingerprint(ctx: TrialContext) -> str:
    return json.dumps(ctx.fingerprint(), sort_keys=True, default=_json_default)


class _Store:
    """The Zarr store of one job (created when the first chunk arrives)."""

    def __init__(self, path: Path, ctx: TrialContext, chunk_size: int, store_curves: bool) -> None:
        import zarr

        self.path = path
        self.ctx = ctx
        self.store_curves = store_curves
        self.fingerprint = _fingerprint(ctx)
        self.group: Any = zarr.open_group(str(path), mode="a")
        attrs: dict[str, Any] = dict(self.group.attrs)
        if attrs:
            if attrs.get("format") != _FORMAT:
                raise ValueError(
                    f"{path}: not a nanobridge population store (format {attrs.get('format')!r})"
                )
            if attrs.get("fingerprint") != self.fingerprint:
                raise ValueError(
                    f"{path} holds a different run (agent, scenario, design, n, seed or draws differ); "
                    "use another output folder or overwrite it"
                )
            self.chunk_size = int(attrs["chunk_size"])
        else:
            self.chunk_size = int(chunk_size)
            self.group.attrs.update(
                {
                    "format": _FORMAT,
                    "fingerprint": self.fingerprint,
                    "chunk_size": self.chunk_size,
                    "n_subjects": ctx.n_subjects,
                    "n_draws": ctx.n_draws,
                    "imaging_times_h": list(ctx.design.imaging_times_h),
                    "times_h": [float(t) for t in ctx.times_h],
                    "citations": list(ctx.citations),
                    "assumptions": list(ctx.assumptions),
                }
            )
        self.n_chunks = math.ceil(ctx.n_subjects / self.chunk_size)
        if "done" not in self.group:
            self.group.create_array(
                "done", shape=(self.n_chunks,), chunks=(1,), dtype="bool", fill_value=False
            )

    def done(self) -> np.ndarray:
        return np.asarray(self.group["done"][:], dtype=bool)

    def write(self, index: int, result: ChunkResult) -> None:
        columns = list(result.table)
        if "table" not in self.group:
            self.group.create_array(
                "table",
                shape=(self.ctx.n_subjects, len(columns)),
                chunks=(self.chunk_size, len(columns)),
                dtype="f8",
                fill_value=np.nan,
            )
            from nanobridge.science.population.trial import column_units

            self.group.attrs.update({"columns": columns, "units": column_units(columns)})
        stored = list(self.group.attrs["columns"])
        if stored != columns:
            raise RuntimeError(f"chunk {index} has columns {columns}, the store {stored}")
        block = np.column_stack([np.asarray(result.table[c], dtype=float) for c in columns])
        self.group["table"][result.start : result.start + result.size, :] = block
        if self.store_curves and result.curves is not None:
            if "curves" not in self.group:
                self.group.create_array(
                    "curves",
                    shape=(self.ctx.n_subjects, result.curves.shape[1], 2),
                    chunks=(self.chunk_size, result.curves.shape[1], 2),
                    dtype="f4",
                    fill_value=np.nan,
                )
                self.group["curves"].attrs.update(
                    {
                        "units": "%ID/g",
                        "last_axis": ["tumor", "background"],
                        "background": self.ctx.design.background_organ,
                    }
                )
            self.group["curves"][result.start : result.start + result.size] = result.curves
        notes = set(self.group.attrs.get("notes", [])) | set(result.notes)
        cites = list(dict.fromkeys([*self.group.attrs.get("citations", []), *result.citations]))
        self.group.attrs.update({"notes": sorted(notes), "citations": cites})
        self.group["done"][index] = True  # last: the chunk counts only once everything is written


def _iter_tables(group: Any) -> Iterator[dict[str, np.ndarray]]:
    columns = list(group.attrs["columns"])
    chunk = int(group.attrs["chunk_size"])
    table = group["table"]
    done = np.asarray(group["done"][:], dtype=bool)
    for k, (start, size) in enumerate(_chunks(table.shape[0], chunk)):
        if not done[k]:
            continue
        block = np.asarray(table[start : start + size, :])
        yield {c: block[:, i] for i, c in enumerate(columns)}


def summarize_store(out_dir: str | Path) -> PopulationSummary:
    """Summary of the finished chunks of a stored run (streams chunk by chunk)."""
    import zarr

    path = Path(out_dir) / STORE_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path}: no population store (run `nanobridge population` first)")
    group: Any = zarr.open_group(str(path), mode="r")
    if "table" not in group:
        raise ValueError(f"{path}: no finished chunk yet")
    acc = StreamingSummary(int(group.attrs["n_draws"]))
    for table in _iter_tables(group):
        acc.add(table)
    return acc.result(
        citations=list(group.attrs.get("citations", [])),
        assumptions=list(group.attrs.get("assumptions", [])) + list(group.attrs.get("notes", [])),
        imaging_times_h=list(group.attrs.get("imaging_times_h", [])),
    )


def read_population_table(out_dir: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """The per-subject table of a stored run (finished chunks) as a DataFrame.

    Loads everything asked for into memory: for very large runs pass ``columns``, or read the
    Zarr array ``OUT/population.zarr/table`` in slices.
    """
    import zarr

    group: Any = zarr.open_group(str(Path(out_dir) / STORE_NAME), mode="r")
    names = list(group.attrs["columns"])
    wanted = columns or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise KeyError(f"unknown column(s) {unknown}; stored: {', '.join(names)}")
    parts = [pd.DataFrame({c: t[c] for c in wanted}) for t in _iter_tables(group)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=wanted)


# --------------------------------------------------------------------------------------------
# execution


def _chunk_task(ctx: TrialContext, start: int, size: int, store_curves: bool) -> ChunkResult:
    """What a Dask worker runs: one chunk, the solver on one thread (one worker per core)."""
    return simulate_chunk(ctx, start, size, threads=1, store_curves=store_curves)


def _run_local(
    ctx: TrialContext,
    todo: list[tuple[int, int, int]],
    write: Callable[[int, ChunkResult], None],
    store_curves: bool,
) -> None:
    for index, start, size in todo:
        write(index, simulate_chunk(ctx, start, size, store_curves=store_curves))


def _run_dask(
    client: Any,
    ctx: TrialContext,
    todo: list[tuple[int, int, int]],
    write: Callable[[int, ChunkResult], None],
    store_curves: bool,
    max_in_flight: int,
) -> None:
    from distributed import as_completed

    ctx_future = client.scatter(ctx, broadcast=True)
    pending = iter(todo)
    inflight: dict[str, tuple[Any, int]] = {}

    def submit() -> Any | None:
        item = next(pending, None)
        if item is None:
            return None
        index, start, size = item
        fut = client.submit(_chunk_task, ctx_future, start, size, store_curves, pure=False)
        inflight[fut.key] = (fut, index)
        return fut

    first = [f for f in (submit() for _ in range(max_in_flight)) if f is not None]
    queue = as_completed(first)
    try:
        for fut in queue:
            result = fut.result()
            _, index = inflight.pop(fut.key)
            write(index, result)
            fut.release()
            nxt = submit()
            if nxt is not None:
                queue.add(nxt)
    finally:
        if inflight:  # interrupted or failed: drop what is still running
            client.cancel([f for f, _ in inflight.values()])
        queue.clear()


def run_population(
    ctx: TrialContext,
    out_dir: str | Path,
    *,
    chunk_size: int = 1000,
    scheduler: str | None = None,
    workers: int | None = None,
    store_curves: bool = False,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
    max_in_flight: int | None = None,
) -> PopulationRun:
    """Run (or continue) a virtual trial, streaming results to ``out_dir/population.zarr``.

    ``chunk_size``: subjects per task (a resumed run keeps the stored one). ``scheduler``: a Dask
    scheduler address; else ``workers`` local worker processes (default: one per core; 0 = in
    this process). ``overwrite`` deletes a previous store of another run in ``out_dir``.
    Raises ``ValueError`` for a store of a different run. Writes ``summary_metrics.csv``,
    ``summary_detection.csv`` and ``run.json`` next to the store when every chunk is done.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size: {chunk_size!r} -> must be >= 1 (100-1000 or more per task)")
    if workers is not None and workers < 0:
        raise ValueError(f"workers: {workers!r} -> must be >= 0 (0: in this process)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / STORE_NAME
    if overwrite and path.exists():
        if not (path / "zarr.json").exists():
            raise ValueError(f"{path} is not a Zarr store; not deleting it")
        shutil.rmtree(path)
    t0 = time.perf_counter()
    store = _Store(path, ctx, chunk_size, store_curves)
    chunks = _chunks(ctx.n_subjects, store.chunk_size)
    done = store.done()
    todo = [(k, s, n) for k, (s, n) in enumerate(chunks) if not done[k]]
    n_done = int(done.sum())
    subjects_done = int(sum(n for k, (_, n) in enumerate(chunks) if done[k]))
    notes: list[str] = []
    if store.chunk_size != chunk_size:
        notes.append(f"continuing with the stored chunk size {store.chunk_size}")
    if n_done:
        notes.append(f"{n_done} of {len(chunks)} chunks were already done (resumed)")
    if progress is not None:
        progress(n_done, len(chunks), subjects_done)

    def write(index: int, result: ChunkResult) -> None:
        nonlocal n_done, subjects_done
        store.write(index, result)
        n_done += 1
        subjects_done += result.size
        if progress is not None:
            progress(n_done, len(chunks), subjects_done)

    cpu = os.cpu_count() or 1
    local = scheduler is None and (workers == 0 or (workers is None and len(todo) < 4))
    n_workers = 0
    if not todo:
        executor = "none (all chunks were done)"
    elif local:
        executor = "in-process"
        _run_local(ctx, todo, write, store_curves)
    else:
        from distributed import Client, LocalCluster

        cluster = None
        if scheduler is not None:
            client = Client(scheduler, timeout="30s")
            executor = f"dask scheduler {scheduler}"
        else:
            n_workers = int(workers or cpu)
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.WARNING,
            )
            client = Client(cluster)
            executor = f"dask LocalCluster, {n_workers} worker process(es)"
        try:
            threads = sum(client.nthreads().values()) or 1
            n_workers = n_workers or len(client.nthreads())
            _run_dask(client, ctx, todo, write, store_curves, max_in_flight or 2 * threads)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    seconds = time.perf_counter() - t0
    cite(*ctx.citations)
    summary = summarize_store(out)
    if bool(store.done().all()):
        summary.metrics.to_csv(out / "summary_metrics.csv", float_format="%.6g")
        summary.detection.to_csv(out / "summary_detection.csv", index=False, float_format="%.6g")
        (out / "run.json").write_text(
            json.dumps(
                {
                    "fingerprint": json.loads(store.fingerprint),
                    "n_chunks": len(chunks),
                    "chunk_size": store.chunk_size,
                    "executor": executor,
                    "seconds_last_call": seconds,
                    "citations": list(summary.citations),
                    "assumptions": list(summary.assumptions),
                },
                indent=2,
                default=_json_default,
            )
        )
    return PopulationRun(
        out_dir=out,
        summary=summary,
        n_subjects=ctx.n_subjects,
        n_chunks=len(chunks),
        chunks_run=len(todo),
        chunks_skipped=len(chunks) - len(todo),
        seconds=seconds,
        executor=executor,
        workers=n_workers,
        notes=tuple(notes),
    )
