"""The dossier of the bundled C dot: HTML, PDF (rendered to PNG pages), exports and the CLI.

The dossier is built once for the module (simulations, QC example and a small virtual population
are memoized in-process, so the CLI tests reuse them).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import typer
from markupsafe import escape
from PIL import Image
from typer.testing import CliRunner

from nanobridge.citations import get_reference
from nanobridge.cli_dossier import register
from nanobridge.domain import example_path, load_example_agent
from nanobridge.science.dossier.isatab import read_isatab
from nanobridge.workflows.dossier import Dossier, DossierFiles, build_dossier, write_dossier

EXAMPLE = Path(
    str(
        resources.files("nanobridge")
        / "data"
        / "examples"
        / "evidence"
        / "cdot_pet_optical"
        / "manifest.yaml"
    )
)
POPULATION = 40
runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils not installed",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dossier, DossierFiles]:
    agent = load_example_agent("cdot_pet_optical")
    dossier = build_dossier(agent, EXAMPLE, population_subjects=POPULATION)
    files = write_dossier(dossier, tmp_path_factory.mktemp("dossier"), pdf=True)
    return dossier, files


@pytest.fixture(scope="module")
def html(built: tuple[Dossier, DossierFiles]) -> str:
    return built[1].html.read_text(encoding="utf-8")


def _row(html: str, rid: str) -> str:
    start = html.index(f'<span class="rid">{rid}</span>')
    return html[html.rfind("<tr", 0, start) : html.index("</tr>", start)]


def test_html_has_the_ctd_structure_and_notices(html: str) -> None:
    for text in (
        "Readiness summary",
        "Module 2</span> Summaries",
        "2.3</span> Quality overall summary",
        "3.2.S</span> Drug substance",
        "3.2.P</span> Drug product",
        "Module 4</span> Nonclinical study reports",
        "Clinical protocol inputs",
        "Audit state of the evidence",
        "ISA-TAB-Nano export",
        "Scoring rule.",
        "do not meet a regulatory requirement that needs a measurement",
        "Illustrative evidence.",
        "not data of this agent",
    ):
        assert text in html, text
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:|//)', html), "the dossier must not fetch anything"
    assert len(re.findall(r'<img src="data:image/svg\+xml;base64,', html)) >= 5


def test_gaps_show_as_gaps_never_as_met(built: tuple[Dossier, DossierFiles], html: str) -> None:
    dossier, _ = built
    rd = dossier.readiness
    assert 'badge st-missing">missing' in _row(html, "N-TOX")
    assert 'badge st-failed">failed' in _row(html, "Q-STAB-BIO")
    assert 'badge st-met">met' in _row(html, "Q-CHARGE")
    # the human dose prediction exceeds a limit, yet D-LIMITS stays a gap: predictions never meet
    assert rd.status("D-LIMITS").status == "missing" and rd.status("D-LIMITS").supporting
    assert "EXCEEDS" in html
    prediction_ids = {p.id for p in dossier.predictions}
    for s in rd.requirements:
        assert not {i.id for i in s.met_by} & prediction_ids, s.id
    assert rd.status("Q-SIZE").status == "partly met"


def test_every_citation_is_in_the_reference_list(built: tuple[Dossier, DossierFiles], html: str) -> None:
    dossier, _ = built
    refs = html[html.index('id="references"') :]
    for key in dossier.citation_keys:
        ref = get_reference(key)
        assert f'<span class="refkey">{key}</span>' in refs or str(escape(ref.title[:30])) in refs, key
    for key in ("FDA2022_nanomaterials", "Faria2018_MIRIBEL", "NCL_AssayCascade", "Siegel1999_MIRD16"):
        assert key in dossier.citation_keys


def test_predictions_carry_uncertainty_and_model_versions(
    built: tuple[Dossier, DossierFiles], html: str
) -> None:
    dossier, _ = built
    assert dossier.versions["model"] in html and dossier.versions["nanobridge"] in html
    de24 = [u for u in dossier.uncertainty if u.label.startswith("tumour delivery at 24 h")]
    assert {u.species for u in de24} == {"mouse", "human"}
    for u in de24:
        assert u.p5 is not None and u.p95 is not None and u.p5 <= (u.p50 or 0) <= u.p95
    assert any(u.label == "effective dose per MBq" and u.p50 for u in dossier.uncertainty)
    assert f"{POPULATION} virtual subjects" in html


def test_exports_are_written(built: tuple[Dossier, DossierFiles]) -> None:
    dossier, files = built
    data = json.loads(files.readiness_json.read_text(encoding="utf-8"))
    statuses = {r["id"]: r["status"] for r in data["requirements"]}
    assert statuses["Q-STAB-BIO"] == "failed" and statuses["N-TOX"] == "missing"
    assert data["illustrative"] is True and "FDA2022_nanomaterials" in data["references"]
    assert files.readiness_csv.read_text(encoding="utf-8").startswith("id,area,ctd,title")
    isa = read_isatab(files.out_dir / "isatab")
    assert isa["assays"] and isa["material"][0]["Material Name"] == dossier.agent.name


@needs_poppler
def test_pdf_pages_tables_and_figures(built: tuple[Dossier, DossierFiles], tmp_path: Path) -> None:
    dossier, files = built
    assert files.pdf is not None and files.pdf.stat().st_size > 50_000
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(files.pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 12
    text = subprocess.run(
        ["pdftotext", "-layout", str(files.pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    for needle in (
        "Module 3",
        "3.2.S",
        "3.2.P",
        "Module 4",
        "Audit state",
        "Next experiment or action",
        "References",
        "Q-STAB-BIO",
        "failed",
        "of the 50 mSv limit",
        "page 2 of",
    ):
        assert needle in text, needle
    # every figure is drawn: above its caption, on the same page, are the figure's own axis texts (the SVG
    # is rendered as vector graphics with real text) and the page carries a plot's worth of ink
    labels = {
        "readiness": "applicable requirements",
        "biodistribution": "amount [%ID]",
        "uncertainty": "concentration [%ID/g]",
        "imaging": "tumour/background",
        "dosimetry": "21 CFR 361.1 limit",
        "qc": "Individuals chart",
    }
    per_page = text.split("\f")
    assert {f.key for f in dossier.figures} == set(labels)
    for number, fig in enumerate(dossier.figures, start=1):
        caption = f"Figure {number}. {fig.title}"
        where = [i for i, t in enumerate(per_page) if caption in t]
        assert len(where) == 1, caption
        page_text = per_page[where[0]]
        assert labels[fig.key] in page_text[: page_text.index(caption)], f"{caption}: figure text not drawn"
        img = np.asarray(Image.open(pages[where[0]]).convert("L"), dtype=float)
        assert (img < 200).mean() > 0.03, f"{caption} looks blank"


# ------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------


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


def test_cli_help() -> None:
    code, text = invoke("dossier", "--help")
    assert code == 0 and "--evidence" in text and "--out" in text and "--no-pdf" in text


def test_cli_writes_the_dossier_of_the_bundled_c_dot(
    built: tuple[Dossier, DossierFiles], tmp_path: Path
) -> None:
    out = tmp_path / "d"
    code, text = invoke(
        "dossier",
        "cdot_pet_optical",
        "--out",
        str(out),
        "--evidence",
        "example",
        "--no-pdf",
        "--population",
        str(POPULATION),
    )
    assert code == 0, text
    for needle in (
        "IND readiness by area",
        "Quality / CMC",
        "Essential gaps",
        "failed",
        "illustrative",
        "Dossier:",
    ):
        assert needle in text, needle
    assert (
        (out / "index.html").is_file()
        and (out / "readiness.csv").is_file()
        and not (out / "dossier.pdf").exists()
    )
    assert any((out / "isatab").glob("i_*.txt"))


def test_cli_errors_name_the_problem(tmp_path: Path) -> None:
    gold = str(example_path("agents", "gold_peg_100nm"))
    code, text = invoke("dossier", gold, "--out", str(tmp_path / "g"), "--evidence", "example")
    assert code == 2 and "no bundled example manifest" in text
    code, text = invoke("dossier", gold, "--out", str(tmp_path / "g"), "--evidence", str(EXAMPLE))
    assert code == 2 and "another agent" in text
    code, text = invoke(
        "dossier", "cdot_pet_optical", "--out", str(tmp_path / "g"), "--evidence", str(tmp_path / "no.yaml")
    )
    assert code == 2 and "file not found" in text
    code, text = invoke("dossier", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "g"))
    assert code == 2 and "Error" in text
