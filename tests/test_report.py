"""The assessment workflow, the tumour-parameter loader, the HTML report and the demo."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nanobridge.domain import SpecError, load_example_agent, load_example_scenario
from nanobridge.science.pbpk.biodistribution import TIDY_COLUMNS
from nanobridge.science.pbpk.engine import MODEL_VERSION, TUMOR_PARAMETERS
from nanobridge.workflows.assessment import (
    assess,
    default_scenario,
    format_value,
    load_tumor_params,
    unique_references,
)
from nanobridge.workflows.demo import DemoResult, run_demo_full
from nanobridge.workflows.report import model_choices, render_report, spec_rows, write_report

NTDB = Path(__file__).resolve().parents[2] / "shared" / "validation" / "nano_tumor_db" / "datasets.csv"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """The full demo (180 days, hourly): a few seconds."""
    return run_demo_full(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def demo_html(demo: DemoResult) -> str:
    return demo.report.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Demo and report
# --------------------------------------------------------------------------------------------


def test_demo_writes_report_and_tidy_csvs(demo: DemoResult) -> None:
    assert demo.report.name == "index.html" and demo.report.is_file()
    assert len(demo.data_files) == 2 * len(demo.assessments)
    df = pd.read_csv(demo.data_files[0])
    assert tuple(df.columns) == TIDY_COLUMNS
    assert df["time_h"].max() == 4320


def test_demo_covers_the_example_agents_in_mouse_and_human(demo: DemoResult, demo_html: str) -> None:
    names = [a.agent.name for a in demo.assessments]
    assert names[:2] == [
        load_example_agent("cdot_pet_optical").name,
        load_example_agent("gold_peg_100nm").name,
    ]
    for assessment in demo.assessments:
        assert [r.species for r in assessment.runs] == ["mouse", "human"]
        assert assessment.agent.name in demo_html
        for run in assessment.runs:
            for name in ("retention_30d_pct_id", "retention_90d_pct_id", "DE24", "DE168", "DEmax"):
                assert math.isfinite(run.metric(name).value), name
            assert run.metric("DEmax").unit == "%ID"


def test_report_has_plots_for_every_run(demo: DemoResult, demo_html: str) -> None:
    n_runs = sum(len(a.runs) for a in demo.assessments)
    n_imaging = sum(len(r.imaging) for a in demo.assessments for r in a.runs)
    assert n_imaging >= 4  # the C dot (PET, NIRF) and the iron oxide (MRI) in mouse and human
    from nanobridge.workflows.safety import safety_figure

    n_safety = sum(safety_figure(rep) is not None for rep in demo.safety)  # retention charts
    n_sln = len(demo.sln.assessments) if demo.sln is not None else 0  # node time courses
    n_figures = (
        4 * n_runs + n_imaging + (len(demo.qc.figures) if demo.qc is not None else 0) + n_safety + n_sln
    )
    assert demo_html.count('class="plotly-graph-div"') == n_figures
    for kind in ("amount", "conc", "tumor", "clearance", "img-pet"):
        assert f'id="fig-1-1-{kind}"' in demo_html
    assert demo_html.count("Plotly.newPlot") == n_figures


def test_report_is_self_contained(demo_html: str) -> None:
    from plotly.offline import get_plotlyjs

    assert '<script src="http' not in demo_html
    assert not re.search(r"<script[^>]+src=", demo_html)
    assert "<link" not in demo_html
    assert demo_html.count(get_plotlyjs()[:300]) == 1  # plotly.js embedded exactly once


def test_report_sections(demo: DemoResult, demo_html: str) -> None:
    assert 'id="references"' in demo_html
    assert "Comparison across agents" in demo_html
    assert MODEL_VERSION in demo_html
    assert "nanobridge 0.1.0" in demo_html or "nanobridge</span>" in demo_html
    for title, _ in model_choices():
        assert title in demo_html
    # every cited work is in the reference list
    keys = [k for a in demo.assessments for k in a.citations]
    for ref in unique_references(keys):
        assert f'id="ref-{ref.key}"' in demo_html
    assert "Cheng2020" in keys and "Phillips2014" in keys
    # metrics with units, notes on renal clearance and the MPS multiplier
    assert "retention 90 d" in demo_html and "%ID/g*h" in demo_html
    assert "renal clearance" in demo_html and "phagocytic uptake" in demo_html
    assert "data/124i_crgdy_peg_c_dot_mouse.csv" in demo_html


def test_model_choices_come_from_the_model_docstring() -> None:
    titles = [t.lower() for t, _ in model_choices()]
    assert any("liver" in t for t in titles)
    assert any("continuous time" in t for t in titles)


def test_single_agent_report_has_summary_not_comparison(tmp_path: Path) -> None:
    agent = load_example_agent("gold_peg_100nm")
    scenario = load_example_scenario("mouse_tumor").evolve(duration_h=24)
    assessment = assess(agent, [scenario])
    path = write_report([assessment], tmp_path / "r.html")
    text = path.read_text(encoding="utf-8")
    assert "Comparison across agents" not in text and ">Summary<" in text
    assert "DE168 and the 24–168 h blood half-life are not available" in text
    with pytest.raises(ValueError, match=r"\.html"):
        write_report([assessment], tmp_path / "r.pdf")
    with pytest.raises(ValueError, match="at least one"):
        render_report([])


def test_spec_rows_flag_assumed_values_with_units() -> None:
    rows = {r.label: r for r in spec_rows(load_example_agent("cdot_pet_optical"))}
    assert rows["hydrodynamic diameter"].unit == "nm" and rows["hydrodynamic diameter"].assumed
    assert rows["zeta potential"].unit == "mV"
    assert rows["radionuclide"].value.startswith("I-124")
    assert rows["imaging modalities"].value == "PET, optical"


# --------------------------------------------------------------------------------------------
# Assessment
# --------------------------------------------------------------------------------------------


def test_assess_reports_progress_and_citations() -> None:
    agent = load_example_agent("cdot_pet_optical")
    calls: list[tuple[str, int, int]] = []
    scenarios = [default_scenario(s).evolve(duration_h=24) for s in ("mouse", "rat")]
    result = assess(agent, scenarios, progress=lambda label, done, total: calls.append((label, done, total)))
    assert [c[1:] for c in calls] == [(0, 2), (1, 2), (2, 2)]
    assert "Phillips2014" in result.citations  # the agent's own source
    assert result.run("rat").parameter_set == "Brown1997_rat"
    assert result.run("rat").scenario.assumed_fields  # the derived rat scenario says it is assumed
    with pytest.raises(KeyError, match="human"):
        result.run("human")
    with pytest.raises(ValueError, match="at least one scenario"):
        assess(agent, [])


def test_format_value() -> None:
    assert format_value(float("nan")) == "—"
    assert format_value(float("inf")) == "∞"
    assert format_value(0.0) == "0"
    assert format_value(1.23456) == "1.23"
    assert format_value(12345.6) == "12,346"
    assert format_value(999.6) == "1,000"
    assert format_value(3750.2) == "3,750"
    assert format_value(1.5e-6) == "1.50e-06"


# --------------------------------------------------------------------------------------------
# Tumour parameters
# --------------------------------------------------------------------------------------------


def test_tumor_params_from_yaml_and_json(tmp_path: Path) -> None:
    y = tmp_path / "t.yaml"
    y.write_text("KTRESmax: 0.5\nQTC: 0.03\n", encoding="utf-8")
    assert load_tumor_params(y) == {"KTRESmax": 0.5, "QTC": 0.03}
    j = tmp_path / "t.json"
    j.write_text('{"tumor_params": {"PT": 0.1}}', encoding="utf-8")
    assert load_tumor_params(j) == {"PT": 0.1}


def test_tumor_params_reject_unknown_keys_and_bad_values(tmp_path: Path) -> None:
    y = tmp_path / "t.yaml"
    y.write_text("KTRESmax: 0.5\nKTRESmaximum: 1\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"KTRESmaximum.*unknown tumour parameter"):
        load_tumor_params(y)
    y.write_text("KTRESmax: lots\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"KTRESmax.*not a number"):
        load_tumor_params(y)
    y.write_text("KTRESmax: -1\n", encoding="utf-8")
    with pytest.raises(SpecError, match=">= 0"):
        load_tumor_params(y)
    with pytest.raises(SpecError, match="only for CSV"):
        load_tumor_params(y, dataset_id=3)
    with pytest.raises(SpecError, match="file not found"):
        load_tumor_params(tmp_path / "missing.csv")
    bad = tmp_path / "t.txt"
    bad.write_text("x", encoding="utf-8")
    with pytest.raises(SpecError, match=r"\.csv, \.yaml"):
        load_tumor_params(bad)


def _table(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "t.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_tumor_params_from_csv_rows(tmp_path: Path) -> None:
    base = {k: 0.1 for k in TUMOR_PARAMETERS}
    one = _table(tmp_path, [{"Other": "x", **base}])
    assert load_tumor_params(one) == base
    several = _table(tmp_path, [{"ID": i, **base, "QTC": 0.01 * i} for i in (1, 2, 3, 7)])
    assert load_tumor_params(several, "2")["QTC"] == pytest.approx(0.02)
    assert load_tumor_params(several, 7)["QTC"] == pytest.approx(0.07)
    with pytest.raises(SpecError, match=r"4 rows.*--dataset-id.*IDs: 1-3, 7"):
        load_tumor_params(several)
    with pytest.raises(SpecError, match=r"'5' -> no row with this ID; IDs in the table: 1-3, 7"):
        load_tumor_params(several, "5")


def test_tumor_params_csv_errors_name_the_column(tmp_path: Path) -> None:
    base = {k: 0.1 for k in TUMOR_PARAMETERS}
    missing = _table(tmp_path, [{k: v for k, v in base.items() if k not in ("PT", "BVT")}])
    with pytest.raises(SpecError, match=r"missing column.*BVT, PT"):
        load_tumor_params(missing)
    text = _table(tmp_path, [{"ID": 9, **base, "PATC": "high"}])
    with pytest.raises(SpecError, match=r"row ID 9, PATC: 'high' -> not a number"):
        load_tumor_params(text)
    empty = _table(tmp_path, [{"ID": 9, **base, "VTC": None}])
    with pytest.raises(SpecError, match=r"row ID 9, VTC: missing value"):
        load_tumor_params(empty)


@pytest.mark.skipif(not NTDB.is_file(), reason="Nano-Tumor Database copy not available")
def test_tumor_params_from_the_nano_tumor_database_change_delivery() -> None:
    row = pd.read_csv(NTDB).iloc[0]
    params = load_tumor_params(NTDB, str(row["ID"]))
    assert params == pytest.approx({k: float(row[k]) for k in TUMOR_PARAMETERS})
    agent = load_example_agent("gold_peg_100nm")
    scenario = load_example_scenario("mouse_tumor").evolve(duration_h=48)
    base = assess(agent, [scenario]).runs[0]
    replay = assess(agent, [scenario], tumor_params=params, tumor_params_source="NTDB").runs[0]
    assert not np.isclose(base.metric("DE24").value, replay.metric("DE24").value, rtol=1e-3)
    assert any("replayed as published from NTDB" in n for n in replay.notes)


def test_report_has_imaging_and_dosimetry_sections(demo: DemoResult, demo_html: str) -> None:
    assert "Imaging performance" in demo_html
    assert "Internal dosimetry (MIRD)" in demo_html
    runs_with_dose = [r for a in demo.assessments for r in a.runs if r.dose is not None]
    assert runs_with_dose
    for run in runs_with_dose:
        assert run.dose is not None
        # human: the bundled phantom (photons + electrons, complete); animals: local electrons only
        assert run.dose.partial == (run.scenario.species != "human")
        if run.scenario.species == "human":
            assert "phantom" in run.dose.dose_factor_model
    assert "partial dose, a lower bound" in demo_html  # the mouse run's local-absorption doses


def test_demo_report_has_a_safety_section_per_agent(demo: DemoResult, demo_html: str) -> None:
    assert 'id="safety"' in demo_html and "Safe-by-design assessment" in demo_html
    assert len(demo.safety) == len(demo.assessments)
    for rep, assessment in zip(demo.safety, demo.assessments, strict=True):
        assert rep.agent == assessment.agent.name
        # the demo runs reach 180 d, so every retention checkpoint is available
        assert {p.day for p in rep.retention} >= {30, 90, 180}
        assert all(p.pct_id == p.pct_id for p in rep.retention)  # no NaN: the runs are long enough
    gold = next(r for r in demo.safety if "gold" in r.agent.lower())
    assert any(f.severity in ("high", "critical") for f in gold.findings)  # hepatic retention of 100 nm gold


def test_demo_writes_and_links_the_ind_dossier(demo: DemoResult, demo_html: str) -> None:
    assert demo.dossier is not None and demo.dossier.is_file()
    assert (demo.dossier.parent / "dossier.pdf").is_file()
    assert (demo.dossier.parent / "readiness.csv").is_file()
    assert 'href="dossier/index.html"' in demo_html and 'id="dossier"' in demo_html
    assert "% ready" in demo_html


def test_demo_report_has_the_sentinel_lymph_node_section(demo: DemoResult, demo_html: str) -> None:
    assert demo.sln is not None and 'id="sln"' in demo_html
    assert [r.time_course.species for r in demo.sln.assessments] == ["mouse", "human"]
    for run in demo.sln.assessments:
        tc = run.time_course
        assert tc.peak_node_1_pct_id > 0 and tc.route in ("subcutaneous", "peritumoral")
    agents = [row["agent"] for row in demo.sln.comparison]
    assert len(agents) == 3  # the C'-dot-like agent, 99mTc-sulfur colloid, indocyanine green
    assert 'id="fig-sln-0"' in demo_html and "Against the clinical references" in demo_html
