"""``population`` and ``fit`` commands on their own Typer app (the lead wires them into nanobridge)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from nanobridge.cli_population import register
from nanobridge.domain import load_example_agent
from nanobridge.science.pbpk.engine import agent_parameters
from nanobridge.science.population.fitting import TimeActivityCurves, _Predictor, write_tac_csv
from nanobridge.workflows.assessment import default_scenario

AGENTS = Path(__file__).resolve().parents[1] / "src" / "nanobridge" / "data" / "examples" / "agents"
runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(_app(), list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_register_adds_both_commands() -> None:
    code, out = invoke("--help")
    assert code == 0 and "population" in out and "fit" in out


def test_population_prints_distributions_and_resumes(tmp_path: Path) -> None:
    args = [
        "population",
        str(AGENTS / "cdot_pet_optical.yaml"),
        "--n",
        "400",
        "--draws",
        "2",
        "--duration-h",
        "24",
        "--times",
        "1,4,24",
        "--chunk-size",
        "200",
        "--workers",
        "0",
        "--out",
        str(tmp_path),
        "--sensitivity",
        "8",
    ]
    code, out = invoke(*args)
    assert code == 0, out
    assert "400 virtual subjects (mouse" in out and "2 chunk(s) run" in out
    for text in (
        "DE24_pct_id",
        "tbr_24h",
        "cnr_4h",
        "dose_tumor_mGy_per_MBq",
        "detectable",
        "median: 90 % UI",
        "Sobol sensitivity",
        "References",
        "Cheng2020",
    ):
        assert text in out, text
    for name in (
        "summary_metrics.csv",
        "summary_detection.csv",
        "run.json",
        "sobol_indices.csv",
        "population.zarr",
    ):
        assert (tmp_path / name).exists(), name
    code, out = invoke(*args)
    assert code == 0 and "0 chunk(s) run, 2 reused" in out


def test_population_bad_input_is_one_red_line(tmp_path: Path) -> None:
    code, out = invoke(
        "population",
        str(AGENTS / "gold_peg_100nm.yaml"),
        "--n",
        "10",
        "--times",
        "1,x",
        "--out",
        str(tmp_path),
    )
    assert code == 2 and "--times" in out
    code, out = invoke(
        "population",
        str(AGENTS / "gold_peg_100nm.yaml"),
        "--n",
        "10",
        "--times",
        "500",
        "--out",
        str(tmp_path),
    )
    assert code == 2 and "after the simulated" in out
    code, out = invoke("population", str(tmp_path / "missing.yaml"), "--n", "10")
    assert code == 2 and "Error" in out


@pytest.fixture(scope="module")
def tac_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    agent, scenario = load_example_agent("cdot_pet_optical"), default_scenario("mouse")
    ap = agent_parameters(agent, scenario)
    names, times, rois = (
        ["PATC", "KTRESmax", "KLRESmax"],
        np.array([1, 4, 24, 48, 72.0]),
        ("blood", "liver", "tumor"),
    )
    c = _Predictor(ap.params, ap.body_weight_kg, ap.renal_clearance_L_per_h, names, 1e-6).conc(
        np.log([[1.5, 0.7, 1.2]]), times, rois
    )[0]
    c = c * np.exp(0.05 * np.random.default_rng(0).standard_normal(c.shape))
    return write_tac_csv(TimeActivityCurves(times, rois, c), tmp_path_factory.mktemp("tac") / "patient.csv")


def test_fit_prints_parameters_window_and_sister(tac_file: Path, tmp_path: Path) -> None:
    out_json = tmp_path / "fit.json"
    code, out = invoke(
        "fit",
        str(tac_file),
        "--agent",
        str(AGENTS / "cdot_pet_optical.yaml"),
        "--duration-h",
        "72",
        "--sister",
        str(AGENTS / "gold_peg_100nm.yaml"),
        "--samples",
        "100",
        "--out",
        str(out_json),
    )
    assert code == 0, out
    for text in (
        "Fitted parameters",
        "PATC",
        "KTRESmax",
        "KLRESmax",
        "best time",
        "window",
        "(sister)",
        "Companion assumption",
        "References",
    ):
        assert text in out, text
    payload = json.loads(out_json.read_text())
    assert {p["parameter"] for p in payload["parameters"]} == {"PATC", "KTRESmax", "KLRESmax"}
    assert payload["sister"]["agent"] == "PEG-gold 100 nm"
    assert payload["window_h"][0] <= payload["best_time_h"]["p50"] <= payload["window_h"][1]


def test_fit_bad_input(tac_file: Path, tmp_path: Path) -> None:
    code, out = invoke(
        "fit", str(tac_file), "--agent", str(AGENTS / "cdot_pet_optical.yaml"), "--params", "VLC"
    )
    assert code == 2 and "unknown fit parameter" in out
    code, out = invoke(
        "fit",
        str(tac_file),
        "--agent",
        str(AGENTS / "cdot_pet_optical.yaml"),
        "--out",
        str(tmp_path / "x.txt"),
    )
    assert code == 2 and "--out" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("time_h,tumor\n1,2\n")
    code, out = invoke("fit", str(bad), "--agent", str(AGENTS / "cdot_pet_optical.yaml"))
    assert code == 2 and "has no unit" in out
