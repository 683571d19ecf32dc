"""The NCL assay cascade as the evidence map: coverage of every rule, reading held evidence (YAML
and CSV, per-row warnings), and per-finding statuses held / partial / missing / contradicts."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from nanobridge.citations import get_reference
from nanobridge.domain import SpecError, load_agent, load_example_agent
from nanobridge.science.safety import RULES, evaluate_safety
from nanobridge.science.safety.ncl import (
    EvidenceSet,
    assay_cascade,
    evidence_from_rows,
    finding_evidence,
    load_evidence,
    normalize_protocol_id,
)

VOCAB = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "validation"
    / "vocab"
    / "cananolab_controlled_vocabulary.json"
)
EXAMPLE = resources.files("nanobridge") / "data" / "safety" / "example_evidence.yaml"


def test_every_rule_is_mapped_to_assays_that_exist() -> None:
    cascade = assay_cascade()
    assert set(cascade.findings) == set(RULES)
    for rule in RULES:
        items = cascade.assays_for(rule)
        assert items, rule
        assert all(a.id in cascade.assays and a.question for a in items)
        assert any(a.role == "hazard" for a in items) or rule in ("dose_reduction", "environmental_release")
    assert set(cascade.baseline) == {"PCC-1", "PCC-2", "STE-1", "STE-2", "ITA-1"}
    with pytest.raises(KeyError, match="mapped: renal_clearance"):
        cascade.assays_for("nonsense")


def test_assays_are_cited_and_ncl_ids_are_well_formed() -> None:
    cascade = assay_cascade()
    for assay in cascade.assays.values():
        assert assay.citation_keys()
        for key in assay.citation_keys():
            get_reference(key)
        if assay.ncl:
            assert re.fullmatch(r"(PCC|STE|ITA|GTA)-\d+", assay.id), assay.id
        else:
            assert not re.match(r"(PCC|STE|ITA|GTA)-", assay.id)
        checked = [assay.title_checked, *(m.title_checked for m in assay.methods)]
        if any(checked):
            assert assay.title_source or any(m.title_source for m in assay.methods)
    # the published titles the brief asks for
    assert cascade.assays["ITA-1"].title == "Analysis of Hemolytic Properties of Nanoparticles"
    assert cascade.assays["PCC-2"].title == "Measuring Zeta Potential of Nanoparticles"
    ita5 = {m.id: m for m in cascade.assays["ITA-5"].methods}
    assert ita5["ITA-5.2"].title_checked and "Complement Activation" in ita5["ITA-5.2"].title
    assert "Platelet Aggregation" in cascade.assays["ITA-2"].methods[0].title


@pytest.mark.skipif(not VOCAB.is_file(), reason="shared caNanoLab vocabulary not available")
def test_protocol_names_agree_with_the_cananolab_vocabulary() -> None:
    lookups = json.loads(VOCAB.read_text(encoding="utf-8"))["lookups"]
    names = set(lookups["physico-chemical assay protocol type"]["otherName"])
    names |= set(lookups["sterility protocol type"]["otherName"])
    cascade = assay_cascade()
    assert cascade.assays["PCC-1"].title in names
    assert cascade.assays["STE-2"].title in names
    assert {"STE-1", "STE-2"} <= names
    blood = set(lookups["blood contact"]["assayType"])
    assert {"hemolysis", "complement activation", "platelet aggregation", "coagulation"} <= blood


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ITA-1", "ITA-1"),
        ("ita 1", "ITA-1"),
        ("NCL Method ITA-5.2", "ITA-5.2"),
        ("PCC_2", "PCC-2"),
        ("ste-1.3", "STE-1.3"),
        ("invivo-pk", "INVIVO-PK"),
    ],
)
def test_normalize_protocol_id(text: str, expected: str) -> None:
    assert normalize_protocol_id(text) == expected


def test_methods_count_for_their_family() -> None:
    cascade = assay_cascade()
    assert cascade.resolve("ITA-5.2") == "ITA-5"
    assert cascade.resolve("STE-1.3") == "STE-1"
    assert cascade.resolve("ITA-99") is None


def test_row_problems_are_warnings_not_crashes() -> None:
    rows: list[Any] = [
        {"protocol": "ITA-1", "outcome": "negative", "result": "0.5 %", "date": "2025-01-02"},
        {"protocol": "XYZ-9", "outcome": "positive"},
        {"outcome": "positive"},
        {"protocol_id": "ITA-5.2", "outcome": "maybe"},
        {"assay": "PCC-1", "result": "12 nm", "date": "13/01/2025"},
        "not a mapping",
    ]
    ev = evidence_from_rows(rows, source="ev.yaml")
    assert [r.assay_id for r in ev.results] == ["ITA-1", "ITA-5", "PCC-1"]
    assert [r.outcome for r in ev.results] == ["no hazard", "inconclusive", "reported"]
    assert ev.results[2].date is None
    joined = "\n".join(ev.warnings)
    assert len(ev.warnings) == 5
    assert "ev.yaml row 2: protocol 'XYZ-9' is not in the evidence map" in joined
    assert "row 3: protocol is missing" in joined
    assert "row 4: outcome 'maybe' not understood" in joined
    assert "row 5: date '13/01/2025'" in joined
    assert "row 6" in joined


def test_latest_result_wins() -> None:
    ev = evidence_from_rows(
        [
            {"protocol": "ITA-5.1", "outcome": "positive", "date": "2025-03-01"},
            {"protocol": "ITA-5.2", "outcome": "negative", "date": "2024-01-01"},
            {"protocol": "ITA-5.2", "outcome": "inconclusive"},
        ]
    )
    latest = ev.latest("ITA-5")
    assert latest is not None and latest.protocol == "ITA-5.1" and latest.outcome == "hazard"
    assert ev.latest("ITA-1") is None


def test_finding_statuses() -> None:
    assert finding_evidence("peg_immunogenicity").status == "missing"
    assert finding_evidence("peg_immunogenicity").missing == ("ITA-5", "ANTI-PEG", "INVIVO-CARPA")
    partial = finding_evidence(
        "peg_immunogenicity", evidence_from_rows([{"protocol": "ITA-5.2", "outcome": "hazard"}])
    )
    assert partial.status == "partial" and partial.missing == ("ANTI-PEG", "INVIVO-CARPA")
    assert partial.assays[0].state == "supports"
    held = finding_evidence(
        "peg_immunogenicity",
        evidence_from_rows(
            [
                {"protocol": "ITA-5", "outcome": "positive"},
                {"protocol": "ANTI-PEG", "outcome": "inconclusive"},
                {"protocol": "INVIVO-CARPA", "outcome": "fail"},
            ]
        ),
    )
    assert held.status == "held" and not held.missing
    contra = finding_evidence(
        "peg_immunogenicity", evidence_from_rows([{"protocol": "ITA-5.2", "outcome": "pass"}])
    )
    assert contra.status == "contradicts" and contra.assays[0].state == "contradicts"
    assert "contradicts" in contra.summary and "to run: ANTI-PEG" in contra.summary
    # a data assay never contradicts, whatever its outcome says
    data_only = finding_evidence(
        "renal_clearance", evidence_from_rows([{"protocol": "PCC-1", "outcome": "no hazard"}])
    )
    assert data_only.status == "partial" and data_only.assays[0].state == "reported"


def test_load_evidence_yaml_and_csv(tmp_path: Path) -> None:
    example = load_evidence(Path(str(EXAMPLE)))
    assert not example.warnings and len(example.results) == 5
    csv_path = tmp_path / "evidence.csv"
    csv_path.write_text(
        "Protocol ID,Outcome,Result,Date\nITA-1,negative,0.4 %,2025-01-03\nGTA-2,positive,IC50 80 "
        "ug/mL,2025-02-01\n"
        "FOO-1,positive,,\n",
        encoding="utf-8",
    )
    ev = load_evidence(csv_path)
    assert [r.assay_id for r in ev.results] == ["ITA-1", "GTA-2"]
    assert ev.source == "evidence.csv" and "evidence.csv row 3" in ev.warnings[0]
    listed = tmp_path / "list.yml"
    listed.write_text(yaml.safe_dump([{"protocol": "STE-2", "outcome": "pass"}]), encoding="utf-8")
    assert load_evidence(listed).results[0].assay_id == "STE-2"


def test_load_evidence_file_problems(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_evidence(tmp_path / "none.yaml")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("assay_name,value\nITA-1,1\n", encoding="utf-8")
    with pytest.raises(SpecError, match="protocol column"):
        load_evidence(bad_csv)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n", encoding="utf-8")
    with pytest.raises(SpecError, match="expected a list"):
        load_evidence(scalar)
    broken = tmp_path / "broken.yaml"
    broken.write_text("evidence: [\n", encoding="utf-8")
    with pytest.raises(SpecError, match="malformed"):
        load_evidence(broken)
    with pytest.raises(SpecError, match="file type"):
        (tmp_path / "ev.xlsx").write_text("x", encoding="utf-8")
        load_evidence(tmp_path / "ev.xlsx")


def test_reports_carry_the_map_for_every_finding() -> None:
    evidence = load_evidence(Path(str(EXAMPLE)))
    for agent in (
        load_example_agent("gold_peg_100nm"),
        load_agent(
            {
                "name": "cationic QD",
                "core_material": "CdSe",
                "core_diameter_nm": 4,
                "hydrodynamic_diameter_nm": 12,
                "zeta_potential_mV": 30,
            }
        ),
    ):
        report = evaluate_safety(agent, [], evidence)
        assert report.findings
        for f in report.findings:
            assert f.assays == tuple(a.id for a in assay_cascade().assays_for(f.rule))
            assert f.evidence_status is not None
        assert report.evidence_source == "example_evidence.yaml"
        baseline = {a.id: a.state for a in report.baseline}
        assert baseline == {
            "PCC-1": "reported",
            "PCC-2": "reported",
            "STE-1": "no hazard",
            "STE-2": "missing",
            "ITA-1": "no hazard",
        }
        rows = {r["id"]: r for r in report.evidence_map()}
        assert rows["ITA-1"]["held"] and "baseline" in rows["ITA-1"]["findings"]
    cationic = evaluate_safety(
        load_agent(
            {
                "name": "c",
                "core_material": "silica",
                "core_diameter_nm": 4,
                "hydrodynamic_diameter_nm": 5,
                "zeta_potential_mV": 30,
            }
        ),
        [],
        evidence,
    )
    (f,) = cationic.findings_of("cationic_surface")
    assert f.evidence_status is not None and f.evidence_status.status == "contradicts"  # ITA-1: no hemolysis
    peg = evaluate_safety(load_example_agent("gold_peg_100nm"), [], evidence).findings_of(
        "peg_immunogenicity"
    )[0]
    assert peg.evidence_status is not None and peg.evidence_status.status == "partial"


def test_empty_evidence_set() -> None:
    assert EvidenceSet().latest("ITA-1") is None
    assert finding_evidence("renal_clearance", EvidenceSet()).status == "missing"
