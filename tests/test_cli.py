"""The command line (Typer's CliRunner): demo, simulate, params, sbml, version."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nanobridge.cli import app
from nanobridge.domain import example_path, load_example_agent, load_example_scenario
from nanobridge.science.pbpk.biodistribution import TIDY_COLUMNS, Biodistribution
from nanobridge.science.pbpk.engine import simulate_agent
from nanobridge.science.pbpk.model import OUTPUT_GROUPS

NTDB = Path(__file__).resolve().parents[2] / "shared" / "validation" / "nano_tumor_db" / "datasets.csv"
GOLD = str(example_path("agents", "gold_peg_100nm"))
CDOT = str(example_path("agents", "cdot_pet_optical"))

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_version() -> None:
    code, out = invoke("version")
    assert code == 0
    assert "nanobridge 0.1.0" in out and "liver venous return fixed" in out


def test_help_lists_commands() -> None:
    code, out = invoke("--help")
    assert code == 0
    for command in ("demo", "simulate", "params", "sbml", "version"):
        assert command in out


# --------------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------------


def test_simulate_writes_tidy_csv(tmp_path: Path) -> None:
    out = tmp_path / "bd.csv"
    code, text = invoke("simulate", GOLD, "--duration-h", "48", "--out", str(out))
    assert code == 0, text
    assert "DE24" in text and "%ID" in text and "Cheng2020_mouse" in text
    df = pd.read_csv(out)
    assert tuple(df.columns) == TIDY_COLUMNS
    assert len(df) == 49 * len(OUTPUT_GROUPS)
    assert set(df["organ"]) == set(OUTPUT_GROUPS)
    at_end = df[df["time_h"] == 48]
    assert at_end["amount_pct_id"].sum() == pytest.approx(100.0, abs=1e-3)


def test_simulate_writes_netcdf_that_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "bd.nc"
    code, text = invoke("simulate", GOLD, "--duration-h", "48", "--out", str(out))
    assert code == 0, text
    back = Biodistribution.read_netcdf(out)
    direct = simulate_agent(
        load_example_agent("gold_peg_100nm"), load_example_scenario("mouse_tumor").evolve(duration_h=48)
    )
    assert back.data["amount_pct_id"].dims == ("subject", "time", "organ")
    assert list(back.data["organ"].values) == list(OUTPUT_GROUPS)
    np.testing.assert_allclose(back.data["amount_pct_id"].values, direct.data["amount_pct_id"].values)
    assert back.data.attrs["species"] == "mouse"
    assert back.data["amount_pct_id"].attrs["units"] == "%ID"


def test_simulate_report(tmp_path: Path) -> None:
    report = tmp_path / "one.html"
    code, text = invoke("simulate", CDOT, "--species", "human", "--duration-h", "24", "--report", str(report))
    assert code == 0, text
    html = report.read_text(encoding="utf-8")
    assert "124I-cRGDY-PEG-C dot" in html and 'id="references"' in html
    assert '<script src="http' not in html


def test_simulate_rat_uses_a_derived_scenario() -> None:
    code, text = invoke("simulate", GOLD, "--species", "rat", "--duration-h", "24")
    assert code == 0, text
    assert "Brown1997_rat" in text and "in a rat" in text


def test_bad_agent_file_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\ncore_material: gold\ncore_diameter_nm: 20\nhydrodynamic_diameter_nm: -3\n"
        "zeta_potential_mV: 0\n",
        encoding="utf-8",
    )
    code, text = invoke("simulate", str(bad), "--duration-h", "24")
    assert code == 2
    assert "hydrodynamic_diameter_nm" in text and str(bad) in text
    assert "Traceback" not in text


def test_missing_agent_file(tmp_path: Path) -> None:
    code, text = invoke("simulate", str(tmp_path / "nope.yaml"))
    assert code == 2 and "file not found" in text


def test_unknown_output_extension_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "bd.xlsx"
    code, text = invoke("simulate", GOLD, "--duration-h", "24", "--out", str(out))
    assert code == 2
    assert ".xlsx" in text and ".csv" in text and ".nc" in text
    assert not out.exists()
    code, text = invoke("simulate", GOLD, "--duration-h", "24", "--report", str(tmp_path / "r.pdf"))
    assert code == 2 and ".html" in text


def test_bad_options_are_clear_errors(tmp_path: Path) -> None:
    code, text = invoke("simulate", GOLD, "--species", "dog")
    assert code == 2 and "species" in text and "mouse, rat, human" in text
    code, text = invoke("simulate", GOLD, "--body-weight-kg", "5")
    assert code == 2 and "body_weight_kg" in text
    code, text = invoke("simulate", GOLD, "--parameter-set", "ICRP89_human")
    assert code == 2 and "ICRP89_human" in text and "mouse" in text
    code, text = invoke("simulate", GOLD, "--dataset-id", "3")
    assert code == 2 and "--tumor-params" in text
    scenario = str(example_path("scenarios", "human_tumor"))
    code, text = invoke("simulate", GOLD, "--scenario", scenario, "--species", "mouse")
    assert code == 2 and "conflicts" in text


def test_tumor_params_yaml_unknown_key(tmp_path: Path) -> None:
    params = tmp_path / "tumor.yaml"
    params.write_text("KTRESmax: 1\nQTCX: 0.1\n", encoding="utf-8")
    code, text = invoke("simulate", GOLD, "--duration-h", "24", "--tumor-params", str(params))
    assert code == 2 and "QTCX" in text and "KTRESmax" in text


@pytest.mark.skipif(not NTDB.is_file(), reason="Nano-Tumor Database copy not available")
def test_tumor_params_from_database_row_change_the_tumour(tmp_path: Path) -> None:
    dataset_id = str(pd.read_csv(NTDB)["ID"].iloc[2])
    base, replay = tmp_path / "base.csv", tmp_path / "replay.csv"
    code, text = invoke("simulate", GOLD, "--duration-h", "48", "--out", str(base))
    assert code == 0, text
    code, text = invoke(
        "simulate",
        GOLD,
        "--duration-h",
        "48",
        "--tumor-params",
        str(NTDB),
        "--dataset-id",
        dataset_id,
        "--out",
        str(replay),
    )
    assert code == 0, text
    assert f"ID {dataset_id}" in text
    a, b = pd.read_csv(base), pd.read_csv(replay)
    tumour_a = a[a["organ"] == "tumor"]["amount_pct_id"].to_numpy()
    tumour_b = b[b["organ"] == "tumor"]["amount_pct_id"].to_numpy()
    assert np.abs(tumour_a - tumour_b).max() > 0.01
    # several rows and no --dataset-id: the error lists the IDs
    code, text = invoke("simulate", GOLD, "--duration-h", "24", "--tumor-params", str(NTDB))
    assert code == 2 and "--dataset-id" in text and "IDs:" in text


# --------------------------------------------------------------------------------------------
# params, sbml, demo
# --------------------------------------------------------------------------------------------


def test_params_list_and_show() -> None:
    code, text = invoke("params")
    assert code == 0
    for name in ("Cheng2020_mouse", "ICRP89_human", "Brown1997_rat"):
        assert name in text
    code, text = invoke("params", "Cheng2020_mouse")
    assert code == 0
    assert "QCC" in text and "L/h/kg^0.75" in text and "Brown1997" in text and "assumed" in text
    code, text = invoke("params", "NoSuchSet")
    assert code == 2 and "unknown parameter set" in text


def test_sbml_export(tmp_path: Path) -> None:
    out = tmp_path / "model.xml"
    code, text = invoke("sbml", GOLD, "--species", "mouse", "--out", str(tmp_path / "model.txt"))
    assert code == 2 and ".xml" in text
    try:
        import nanobridge.science.pbpk.sbml  # noqa: F401
    except ModuleNotFoundError:
        code, text = invoke("sbml", GOLD, "--species", "mouse", "--out", str(out))
        assert code == 2 and "SBML export is not available" in text
        return
    code, text = invoke("sbml", GOLD, "--species", "mouse", "--out", str(out))
    assert code == 0, text
    assert out.read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_sbml_missing_module_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanobridge.science.pbpk.sbml", None)
    code, text = invoke("sbml", GOLD, "--out", str(tmp_path / "m.xml"))
    assert code == 2 and "SBML export is not available" in text and "Traceback" not in text


def test_demo_command(tmp_path: Path) -> None:
    out = tmp_path / "report"
    code, text = invoke("demo", "--out", str(out), "--duration-h", "48")
    assert code == 0, text
    index = out / "index.html"
    assert index.is_file() and str(index) in text.replace("\n", "")
    for name in ("124I-cRGDY-PEG-C dot", "PEG-gold 100 nm"):
        assert name in text
    assert "retention" in text and "30 d [%ID]" in text
    assert len(list((out / "data").glob("*.csv"))) >= 4
