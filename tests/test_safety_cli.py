"""``nanobridge safety`` through ``register(app)`` on a fresh Typer app (CliRunner)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from nanobridge.cli_safety import register
from nanobridge.domain import example_agent_names, example_path

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
EXAMPLE_EVIDENCE = str(resources.files("nanobridge") / "data" / "safety" / "example_evidence.yaml")


def make_app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def main() -> None:
        """Test app."""

    register(app)
    return app


APP = make_app()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(APP, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_register_adds_the_command() -> None:
    code, text = invoke("--help")
    assert code == 0 and "safety" in text
    code, text = invoke("safety", "--help")
    assert code == 0 and "--evidence" in text and "--species" in text and "--out" in text


@pytest.mark.parametrize("name", sorted(example_agent_names()))
def test_bundled_agents(name: str) -> None:
    code, text = invoke("safety", str(example_path("agents", name)), "--species", "human")
    assert code == 0, text
    assert "Traceback" not in text and "Rules that did not fire" in text and "Baseline assays" in text
    expected = {
        "gold_peg_100nm": ["high", "organ_retention.human", "Not renally clearable", "INVIVO-PK"],
        "cdot_pet_optical": ["critical", "urinary_bladder_wall", "CARPA", "ITA-5", "Renal clearability"],
        "iron_oxide_mri": ["moderate", "organ_retention.human", "Biodegradability of the core"],
    }.get(name, [])
    for word in expected:
        assert word in text, word


def test_json_and_csv_out_with_evidence(tmp_path: Path) -> None:
    gold = str(example_path("agents", "gold_peg_100nm"))
    out = tmp_path / "findings.json"
    code, text = invoke("safety", gold, "--evidence", EXAMPLE_EVIDENCE, "--out", str(out))
    assert code == 0, text
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["agent"] == "PEG-gold 100 nm" and data["species"] == ["human", "mouse"]
    ids = [f["id"] for f in data["findings"]]
    assert ids[:2] == ["organ_retention.human", "organ_retention.mouse"]
    peg = next(f for f in data["findings"] if f["rule"] == "peg_immunogenicity")
    assert peg["evidence_status"]["status"] == "partial"
    assert peg["evidence_status"]["missing"] == ["ANTI-PEG", "INVIVO-CARPA"]
    assert "Szebeni2014" in data["references"] and data["severity_scale"]["critical"]
    assert data["evidence_source"] == "example_evidence.yaml"
    csv_out = tmp_path / "findings.csv"
    code, text = invoke("safety", gold, "--species", "mouse", "--out", str(csv_out))
    assert code == 0, text
    frame = pd.read_csv(csv_out)
    assert list(frame.columns)[:4] == ["id", "rule", "severity", "species"]
    assert "organ_retention.mouse" in set(frame["id"]) and "organ_retention.human" not in set(frame["id"])


def test_bad_agent_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\ncore_material: unobtainium\ncore_diameter_nm: 5\nhydrodynamic_diameter_nm: "
        "8\nzeta_potential_mV: 0\n",
        encoding="utf-8",
    )
    code, text = invoke("safety", str(bad))
    assert code == 2 and "unobtainium" in text and "gold" in text and "Traceback" not in text
    code, text = invoke("safety", str(tmp_path / "missing.yaml"))
    assert code == 2 and "file not found" in text


def test_bad_options_are_clear_errors(tmp_path: Path) -> None:
    gold = str(example_path("agents", "gold_peg_100nm"))
    code, text = invoke("safety", gold, "--species", "dog")
    assert code == 2 and "--species" in text and "human, mouse" in text
    code, text = invoke("safety", gold, "--out", str(tmp_path / "f.xlsx"))
    assert code == 2 and ".json" in text and ".csv" in text
    code, text = invoke("safety", gold, "--evidence", str(tmp_path / "none.csv"))
    assert code == 2 and "file not found" in text


def test_evidence_row_problems_are_warnings(tmp_path: Path) -> None:
    ev = tmp_path / "ev.csv"
    ev.write_text(
        "protocol,outcome,result,date\nXYZ-1,positive,,\nITA-1,negative,0.3 %,2025-01-01\n", encoding="utf-8"
    )
    code, text = invoke(
        "safety", str(example_path("agents", "gold_peg_100nm")), "--species", "mouse", "--evidence", str(ev)
    )
    assert code == 0, text
    assert "evidence:" in text and "XYZ-1" in text and "ITA-1 no hazard" in text
