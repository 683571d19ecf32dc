"""ISA-TAB-Nano export of the characterization data: written, re-read, terms from caNanoLab."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from pathlib import Path

import pytest

from nanobridge.domain import load_example_agent
from nanobridge.science.dossier import load_manifest, prediction_item
from nanobridge.science.dossier.isatab import INVESTIGATION_SECTIONS, build_isatab, read_isatab

CDOT = load_example_agent("cdot_pet_optical")
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
VOCAB = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "validation"
    / "vocab"
    / "cananolab_controlled_vocabulary.json"
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    bundle = load_manifest(EXAMPLE, CDOT.name)
    items = [*bundle.items, prediction_item("P1", "pbpk", "PBPK", "DE24 1 %ID")]
    isa = build_isatab(
        CDOT,
        items,
        submission_date=dt.date(2025, 4, 1),
        illustrative=True,
        publications=[{"doi": "10.1172/JCI77035x", "title": "example"}],
    )
    folder = tmp_path_factory.mktemp("isatab")
    paths = isa.write(folder)
    assert all(p.is_file() for p in paths)
    return folder, read_isatab(folder)


def test_investigation_file_names_every_file(exported: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    folder, data = exported
    inv = data["investigation"]
    assert list(inv) == list(INVESTIGATION_SECTIONS)
    assert inv["INVESTIGATION"]["Investigation Submission Date"] == ["2025-04-01"]
    assert inv["INVESTIGATION"]["Comment[illustrative]"] == ["yes"]
    assert inv["ONTOLOGY SOURCE REFERENCE"]["Term Source Name"] == ["caNanoLab"]
    assays = inv["STUDY ASSAYS"]["Study Assay File Name"]
    assert len(assays) == len(data["assays"]) >= 10
    for name in assays:
        assert (folder / name).is_file()
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("a_")) == sorted(assays)
    measurement = dict(zip(assays, inv["STUDY ASSAYS"]["Study Assay Measurement Type"], strict=True))
    assert measurement["a_124i-crgdy-peg-c-dot_pcc-1.txt"] == "size"
    assert measurement["a_124i-crgdy-peg-c-dot_ita-1.txt"] == "hemolysis"


def test_measured_values_round_trip(exported: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    _, data = exported
    dls = data["assays"]["a_124i-crgdy-peg-c-dot_pcc-1.txt"]
    assert len(dls) == 1
    row = dls[0]
    assert (
        row["Sample Name"] == "CD-L03"
        and float(row["Measurement Value[size]"]) == 6.6
        and row["Unit"] == "nm"
    )
    assert row["Parameter Value[technique]"] == "dynamic light scattering"
    assert row["Comment[acceptance criterion]"] == "<= 8 nm" and row["Comment[evidence id]"] == "EV-01"
    assert len(row["Comment[sha256]"]) == 64 and row["Comment[signed by]"].startswith("R. Alvarez")
    fcs = data["assays"]["a_124i-crgdy-peg-c-dot_ortho-size.txt"][0]
    assert fcs["Parameter Value[technique]"] == "fluorescence correlation spectroscopy"
    assert "free text" in fcs["Comment[technique vocabulary]"]
    ids = {r["Comment[evidence id]"] for rows in data["assays"].values() for r in rows}
    assert "P1" not in ids and "EV-15" not in ids  # predictions and documents are not characterization data
    assert "CD-L03" in {r["Sample Name"] for r in data["study"]}


def test_material_file_lists_the_components_as_design_values(exported: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    _, data = exported
    rows = data["material"]
    names = [r["Material Name"] for r in rows]
    assert (
        names[0] == CDOT.name
        and any(n.endswith("/ core") for n in names)
        and any(n.endswith("/ radiolabel") for n in names)
    )
    top = rows[0]
    assert top["Characteristics[shape]"] == "3D-sphere" and float(top["Characteristics[diameter]"]) == 6.5
    assert top["Comment[value type]"] == "assumed design value"
    label = next(r for r in rows if r["Material Name"].endswith("/ radiolabel"))
    assert label["Characteristics[functionalization type]"] == "radioisotope"
    coat = next(r for r in rows if r["Material Name"].endswith("/ coating"))
    assert coat["Characteristics[composing element type]"] == "coat"


def test_exported_terms_are_in_the_canonalab_vocabulary(exported: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    if not VOCAB.is_file():
        pytest.skip(f"caNanoLab vocabulary copy not found at {VOCAB}")
    lookups = json.loads(VOCAB.read_text(encoding="utf-8"))["lookups"]
    techniques = set(lookups["technique"]["type"]) | set(lookups["technique"]["otherType"])
    _, data = exported
    for rows in data["assays"].values():
        for r in rows:
            if r["Comment[technique vocabulary]"] == "caNanoLab":
                assert r["Parameter Value[technique]"] in techniques
    shapes = set(lookups["shape"]["type"])
    assert data["material"][0]["Characteristics[shape]"] in shapes


def test_reader_rejects_an_incomplete_export(exported: tuple[Path, dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    folder, _ = exported
    for p in folder.iterdir():
        if not p.name.startswith("s_"):
            (tmp_path / p.name).write_bytes(p.read_bytes())
    with pytest.raises(ValueError, match="missing"):
        read_isatab(tmp_path)
    with pytest.raises(ValueError, match="one investigation file"):
        read_isatab(tmp_path / "nothing")
