"""``nanobridge design`` on the bundled example agents (few trials: fast)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from nanobridge.cli_design import register
from nanobridge.domain import load_agent

SHARED_DB = Path(__file__).resolve().parents[2] / "shared" / "validation" / "nano_tumor_db" / "datasets.csv"
FAST = ["--trials", "8", "--population", "4", "--draws", "4"]


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def main() -> None:
        """Test app holding the design command."""

    register(app)
    return app


@pytest.fixture(scope="module")
def db_args() -> list[str]:
    packaged = resources.files("nanobridge") / "data" / "nano_tumor_db" / "datasets.csv"
    if packaged.is_file():
        return []
    if not SHARED_DB.is_file():  # pragma: no cover - depends on the checkout
        pytest.skip("no Nano-Tumor Database table (packaged or shared)")
    return ["--tumor-db", str(SHARED_DB)]


def _run(app: typer.Typer, args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["design", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_design_writes_table_csv_plot_and_agents(
    app: typer.Typer, db_args: list[str], tmp_path: Path
) -> None:
    out, plot, agents = tmp_path / "pareto.csv", tmp_path / "pareto.html", tmp_path / "agents"
    code, text = _run(
        app,
        [
            "--objective",
            "DE24,retention_90d",
            *FAST,
            "--seed",
            "3",
            "--out",
            str(out),
            "--plot",
            str(plot),
            "--agents-dir",
            str(agents),
            *db_args,
        ],
    )
    assert code == 0, text
    assert "Pareto designs" in text and "DE24 ↑ [%ID]" in text and "retention_90d ↓ [%ID]" in text
    assert "8 trials" in text and "subjects simulated" in text
    frame = pd.read_csv(out)
    assert len(frame) >= 1
    assert {"trial", "hydrodynamic_diameter_nm", "DE24", "DE24_p5", "DE24_p50", "DE24_p95"} <= set(
        frame.columns
    )
    assert (frame["DE24_p5"] <= frame["DE24_p50"]).all() and (frame["DE24_p50"] <= frame["DE24_p95"]).all()
    html = plot.read_text(encoding="utf-8")
    assert "plotly" in html.lower() and "Pareto designs: median" in html
    files = sorted(agents.glob("design_*.yaml"))
    assert len(files) == len(frame)
    agent = load_agent(agents / f"design_{int(frame['trial'].iloc[0]):04d}.yaml")  # a loadable AgentSpec
    assert agent.hydrodynamic_diameter_nm == pytest.approx(
        frame["hydrodynamic_diameter_nm"].iloc[0], rel=1e-6
    )


def test_design_renal_clearable_on_the_gold_example(
    app: typer.Typer, db_args: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "renal.csv"
    code, text = _run(
        app,
        [
            "--base",
            "gold_peg_100nm",
            "--objective",
            "delivery",
            "--objective",
            "retention",
            "--renal-clearable",
            *FAST,
            "--out",
            str(out),
            *db_args,
        ],
    )
    assert code == 0, text
    assert "renal clearable" in text and "Choi2007" in text
    assert (pd.read_csv(out)["hydrodynamic_diameter_nm"] <= 5.5).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--objective: give at least one"),
        (["--objective", "beauty"], "objective 'beauty' is not known"),
        (["--objective", "effective_dose"], "defined for humans"),
        (["--objective", "DE24", "--out", "x.xlsx"], "--out x.xlsx: unknown extension"),
        (["--objective", "DE24", "--renal-clearable", "--min-diameter-nm", "10"], "diameter_nm"),
        (["--objective", "DE24", "--trials", "1"], "--trials 1"),
        (["--objective", "DE24", "--base", "no_such_agent"], "not a bundled example agent"),
        (["--objective", "DE24", "--limit", "retention about 5"], "NAME<=VALUE"),
        (["--objective", "DE24", "--biodegradable", "--materials", "gold"], "gold is not biodegradable"),
    ],
)
def test_design_bad_input_is_one_clear_error(app: typer.Typer, args: list[str], message: str) -> None:
    code, text = _run(app, args)
    assert code == 2, text
    assert message in text
    assert "Traceback" not in text
