"""The "Manufacturing QC" section of the demo report and the QC example workflow behind it."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
import pytest

from nanobridge.domain import load_example_agent, load_example_scenario
from nanobridge.workflows.assessment import assess, format_value, unique_references
from nanobridge.workflows.demo import DemoResult, run_demo_full
from nanobridge.workflows.qc import QCExampleSummary, qc_example_summary
from nanobridge.workflows.report import render_report

#: Citation keys the QC analyses must bring into the report's reference list.
QC_KEYS = (
    "Koppel1972",
    "ISO22412_2017",
    "Provencher1982",
    "Montgomery2020",
    "Nelson1984",
    "Tsong2017",
    "Schuirmann1987",
    "ICH_Q5E",
    "vanderWalt2014_skimage",
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """The demo with one simulated week (the QC part does not depend on the duration)."""
    return run_demo_full(tmp_path_factory.mktemp("demo_qc"), duration_h=168.0)


@pytest.fixture(scope="module")
def html(demo: DemoResult) -> str:
    return demo.report.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def qc(demo: DemoResult) -> QCExampleSummary:
    assert demo.qc is not None
    return demo.qc


def _qc_section(html: str) -> str:
    start = html.index('<section id="qc">')
    return html[start : html.index("</section>", start)]


def test_demo_report_has_the_qc_section_in_the_contents(html: str) -> None:
    assert '<a href="#qc">Manufacturing QC</a>' in html
    section = _qc_section(html)
    for heading in (
        "Dynamic light scattering",
        "TEM particle sizing",
        "Statistical process control",
        "Release of the scale-up lots",
        "Scale-up comparability",
        "Caveats and limits",
    ):
        assert heading in section
    assert html.index('id="qc"') < html.index('id="model"')  # before the model and references
    assert 'id="summary"' in html and 'id="references"' in html  # existing sections kept


def test_qc_section_numbers_come_from_the_analyses(qc: QCExampleSummary, html: str) -> None:
    section = _qc_section(html)
    multi = qc.dls.multi_angle_result
    assert multi is not None
    assert abs(multi.radius_q0_nm - 61.56) < 1.5  # BAM's ISO 13321 result: 61.56 ± 0.69 nm
    assert f"{format_value(multi.radius_q0_nm, 4)} ± " in section
    for analysis in qc.dls.analyses:
        assert format_value(analysis.cumulants.z_average_nm, 4) in section
    decisions = {d.batch_id: d.decision for d in qc.releases}
    assert decisions == {
        "S01": "release",
        "S02": "release",
        "S03": "hold",
        "S04": "hold",
        "S05": "hold",
        "S06": "hold",
        "S07": "incomplete",
        "S08": "reject",
    }
    assert section.count("hold for investigation") == 4
    assert not qc.comparability.comparable and "NOT DEMONSTRATED" in section
    assert "not shown equivalent" in section and "outside range" in section
    dist = qc.tem.result.distribution
    assert dist is not None and str(qc.tem.result.count) in section
    if qc.tem.true_diameters_nm is not None:  # the synthetic stand-in: compare with its truth
        true = qc.tem.true_diameters_nm
        assert abs(qc.tem.result.count / len(true) - 1) < 0.1
        assert abs(dist.mean_nm / float(true.mean()) - 1) < 0.05
        assert "Known truth of the synthetic image" in section


def test_qc_section_has_its_figures_and_the_overlay(qc: QCExampleSummary, html: str) -> None:
    section = _qc_section(html)
    for name in ("dls", "tem", "imr_z_average", "imr_pdi", "capability_z_average", "equivalence"):
        assert name in qc.figures
        assert f'id="fig-qc-{name.replace("_", "-")}"' in section
    assert section.count('class="plotly-graph-div"') == len(qc.figures)
    match = re.search(r'src="data:image/png;base64,([^"]+)"', section)
    assert match, "overlay image missing"
    assert base64.b64decode(match.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<script src=" not in html  # still self-contained


def test_qc_citations_are_in_the_reference_list(qc: QCExampleSummary, html: str) -> None:
    for key in QC_KEYS:
        assert key in qc.citations
    for ref in unique_references(qc.citations):
        assert f'id="ref-{ref.key}"' in html
    section = _qc_section(html)
    assert 'href="#ref-Koppel1972"' in section and 'href="#ref-Tsong2017"' in section


def test_demo_writes_the_qc_tables(demo: DemoResult, qc: QCExampleSummary) -> None:
    names = sorted(p.name for p in demo.qc_files)
    assert names == ["qc_comparability.csv", "qc_dls.csv", "qc_release.csv", "qc_tem_particles.csv"]
    release = pd.read_csv(demo.report.parent / "data" / "qc_release.csv")
    assert len(release) == len(qc.releases) * len(qc.specification.attributes)
    assert set(release.loc[release["batch_id"] == "S08", "decision"]) == {"reject"}
    dls = pd.read_csv(demo.report.parent / "data" / "qc_dls.csv")
    assert len(dls) == 8 and dls["z_average_nm"].between(110, 140).all()
    assert "data/qc_release.csv" in demo.report.read_text(encoding="utf-8")


def test_report_without_qc_has_no_qc_section(tmp_path: Path) -> None:
    agent = load_example_agent("gold_peg_100nm")
    scenario = load_example_scenario("mouse_tumor").evolve(duration_h=24.0)
    text = render_report([assess(agent, [scenario])])
    assert 'id="qc"' not in text and "Manufacturing QC" not in text


def test_qc_example_summary_is_repeatable(qc: QCExampleSummary) -> None:
    a, b = qc, qc_example_summary()
    assert set(a.citations) == set(b.citations)
    assert [d.decision for d in a.releases] == [d.decision for d in b.releases]
    ma, mb = a.dls.multi_angle_result, b.dls.multi_angle_result
    assert ma is not None and mb is not None
    assert ma.radius_q0_nm == mb.radius_q0_nm
    assert a.tem.result.count == b.tem.result.count
