"""Population jobs: chunked runs stream to Zarr, resume after an interruption, run on Dask."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from nanobridge.domain import load_example_agent
from nanobridge.science.population.trial import TrialContext, TrialDesign, prepare_trial
from nanobridge.workflows.assessment import default_scenario
from nanobridge.workflows.population import (
    STORE_NAME,
    read_population_table,
    run_population,
    summarize_store,
)

N, CHUNK = 600, 100


def _ctx(seed: int = 7) -> TrialContext:
    scenario = default_scenario("mouse").evolve(duration_h=24.0)
    design = TrialDesign(imaging_times_h=(4.0, 24.0))
    return prepare_trial(
        load_example_agent("gold_peg_100nm"), scenario, N, design=design, uncertainty_draws=3, seed=seed
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("ref")
    run = run_population(_ctx(), out, chunk_size=CHUNK, workers=0)
    assert run.chunks_run == 6 and run.executor == "in-process"
    assert (out / "summary_metrics.csv").exists() and (out / "run.json").exists()
    return read_population_table(out)


class Interrupted(RuntimeError):
    pass


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path: Path, reference: pd.DataFrame) -> None:
    seen: list[int] = []

    def stop_after_three(done: int, total: int, subjects: int) -> None:
        seen.append(done)
        if done == 3:
            raise Interrupted("simulated crash after 3 chunks")

    with pytest.raises(Interrupted):
        run_population(_ctx(), tmp_path, chunk_size=CHUNK, workers=0, progress=stop_after_three)
    partial = read_population_table(tmp_path, ["subject"])
    assert len(partial) == 3 * CHUNK  # finished chunks were written as they finished
    assert not (tmp_path / "summary_metrics.csv").exists()

    seen.clear()
    run = run_population(
        _ctx(), tmp_path, chunk_size=CHUNK, workers=0, progress=lambda d, t, s: seen.append(d)
    )
    assert (run.chunks_skipped, run.chunks_run) == (3, 3)
    assert seen[0] == 3 and seen[-1] == 6
    assert any("resumed" in n for n in run.notes)
    pd.testing.assert_frame_equal(read_population_table(tmp_path), reference)
    assert run.summary.n_subjects == N
    # a third call has nothing left to do
    assert run_population(_ctx(), tmp_path, chunk_size=CHUNK, workers=0).chunks_run == 0


def test_a_store_of_another_run_is_not_mixed_in(tmp_path: Path) -> None:
    run_population(_ctx(seed=1), tmp_path, chunk_size=300, workers=0)
    with pytest.raises(ValueError, match="different run"):
        run_population(_ctx(seed=2), tmp_path, chunk_size=300, workers=0)
    run = run_population(_ctx(seed=2), tmp_path, chunk_size=300, workers=0, overwrite=True)
    assert run.chunks_run == 2
    # another chunk size continues with the stored one
    again = run_population(_ctx(seed=2), tmp_path, chunk_size=50, workers=0)
    assert again.chunks_run == 0 and any("stored chunk size 300" in n for n in again.notes)


def test_two_worker_dask_cluster_gives_the_same_results(tmp_path: Path, reference: pd.DataFrame) -> None:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
        silence_logs=logging.WARNING,
    ) as cluster:
        run = run_population(
            _ctx(), tmp_path, chunk_size=CHUNK, scheduler=cluster.scheduler_address, max_in_flight=3
        )
    assert run.executor.startswith("dask scheduler") and run.workers == 2
    assert run.chunks_run == 6
    got = read_population_table(tmp_path)
    pd.testing.assert_frame_equal(got, reference)
    summary = summarize_store(tmp_path)
    assert summary.metrics.loc["DE24_pct_id", "n"] == N
    assert set(summary.detection["time_h"].dropna()) == {4.0, 24.0}


def test_curves_stream_to_zarr(tmp_path: Path) -> None:
    import zarr

    run_population(_ctx(), tmp_path, chunk_size=300, workers=0, store_curves=True)
    g: Any = zarr.open_group(str(tmp_path / STORE_NAME), mode="r")
    curves = g["curves"]
    assert curves.shape == (N, len(_ctx().times_h), 2) and curves.dtype == np.float32
    assert np.all(np.asarray(curves[:5, -1, 0]) > 0)
    assert g["curves"].attrs["units"] == "%ID/g"
    with pytest.raises(ValueError, match="chunk_size"):
        run_population(_ctx(), tmp_path, chunk_size=0)
