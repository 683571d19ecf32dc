"""`nanobridge image` and the imaging summary workflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nanobridge.cli import app
from nanobridge.domain import example_path, load_example_agent, load_example_scenario
from nanobridge.science.pbpk.engine import simulate_agent
from nanobridge.workflows.imaging import imaging_summary

runner = CliRunner()


def test_pet_summary_has_best_time_and_minimum_activity() -> None:
    agent = load_example_agent("cdot_pet_optical")
    scenario = load_example_scenario("mouse_tumor").evolve(duration_h=48.0)
    summary = imaging_summary(simulate_agent(agent, scenario), agent, scenario, "pet")
    heads = {h.name: h for h in summary.headlines}
    assert heads["minimum activity"].unit == "MBq"
    assert 0 < float(heads["minimum activity"].value) < scenario.activity_MBq  # type: ignore[arg-type]
    assert list(summary.timeseries.columns[:3]) == ["time_h", "contrast", "cnr"]
    assert summary.citations
    # the CNR-vs-activity view crosses the Rose threshold at the minimum activity
    curve = summary.curve
    assert curve is not None and curve.threshold == 5.0
    a_min = float(heads["minimum activity"].value)  # type: ignore[arg-type]
    assert float(np.interp(np.log(a_min), np.log(curve.x), curve.y)) == pytest.approx(5.0, rel=1e-2)


def test_unknown_and_unavailable_modalities_are_named() -> None:
    agent = load_example_agent("gold_peg_100nm")
    scenario = load_example_scenario("mouse_tumor").evolve(duration_h=24.0)
    bd = simulate_agent(agent, scenario)
    with pytest.raises(ValueError, match="unknown modality 'ultrasound'"):
        imaging_summary(bd, agent, scenario, "ultrasound")
    with pytest.raises(ValueError, match=r"labels\.ct"):
        imaging_summary(bd, agent, scenario, "ct")
    with pytest.raises(ValueError, match="radionuclide"):
        imaging_summary(bd, agent, scenario, "pet")


def test_cli_image_writes_table_csv_and_plot(tmp_path: Path) -> None:
    agent = example_path("agents", "iron_oxide_mri")
    out, plot = tmp_path / "mri.csv", tmp_path / "mri.html"
    result = runner.invoke(
        app, ["image", str(agent), "-m", "mri", "--duration-h", "48", "--out", str(out), "--plot", str(plot)]
    )
    assert result.exit_code == 0, result.output
    assert "best CNR" in result.output
    df = pd.read_csv(out)
    assert {"time_h", "contrast", "cnr"} <= set(df.columns)
    html = plot.read_text(encoding="utf-8")
    assert "plotly" in html and '<script src="http' not in html


def test_cli_image_rejects_options_of_another_modality() -> None:
    agent = example_path("agents", "iron_oxide_mri")
    result = runner.invoke(app, ["image", str(agent), "-m", "mri", "--kvp", "80"])
    assert result.exit_code == 2
    assert "kvp" in result.output and "mri" in result.output


def test_cli_dose_prints_phantom_doses_and_limits(tmp_path: Path) -> None:
    agent = example_path("agents", "cdot_pet_optical")
    out = tmp_path / "dose.csv"
    result = runner.invoke(app, ["dose", str(agent), "--species", "human", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "phantom" in result.output and "effective dose" in result.output
    assert "PARTIAL" not in result.output
    df = pd.read_csv(out)
    assert list(df.columns) == ["quantity", "name", "value", "unit"]
    doses = df[df["quantity"] == "absorbed_dose"].set_index("name")["value"]
    assert (doses > 0).all() and "urinary_bladder_wall" in doses.index
    tiacs = df[df["quantity"] == "tiac"].set_index("name")["value"]
    assert tiacs["urinary_bladder_contents"] > 0
    assert (df["quantity"] == "effective_dose").sum() == 1
    # more frequent voiding lowers the bladder wall dose
    out2 = tmp_path / "dose2.csv"
    result = runner.invoke(
        app, ["dose", str(agent), "--species", "human", "--voiding-interval-h", "1", "--out", str(out2)]
    )
    assert result.exit_code == 0, result.output
    d2 = pd.read_csv(out2)
    wall2 = d2[(d2["quantity"] == "absorbed_dose") & (d2["name"] == "urinary_bladder_wall")]["value"].iloc[0]
    assert wall2 < doses["urinary_bladder_wall"]


def test_cli_dose_local_model_is_partial_and_bad_options_fail() -> None:
    agent = example_path("agents", "cdot_pet_optical")
    result = runner.invoke(app, ["dose", str(agent), "--species", "human", "--dose-factors", "local"])
    assert result.exit_code == 0, result.output
    assert "PARTIAL" in result.output
    bad = runner.invoke(app, ["dose", str(agent), "--dose-factors", "magic"])
    assert bad.exit_code == 2 and "--dose-factors" in bad.output
    bad = runner.invoke(app, ["dose", str(agent), "--voiding-interval-h", "-1"])
    assert bad.exit_code == 2 and "voiding" in bad.output


def test_cli_dose_without_radionuclide_is_a_clear_error() -> None:
    result = runner.invoke(app, ["dose", str(example_path("agents", "gold_peg_100nm"))])
    assert result.exit_code == 2
    assert "no radionuclide label" in result.output
