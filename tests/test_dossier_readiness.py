"""Readiness: a gap is never met; failing results, predictions, unsigned and unfiled records."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from nanobridge.domain import SpecError, load_example_agent
from nanobridge.science.dossier import (
    EvidenceBundle,
    EvidenceItem,
    EvidenceSource,
    ManifestEvidenceSource,
    agent_traits,
    assess_readiness,
    judge_item,
    load_manifest,
    load_requirements,
    parse_acceptance,
    parse_outcome,
    prediction_item,
    requirements_model,
)
from nanobridge.workflows.dossier import resolve_evidence

CDOT = load_example_agent("cdot_pet_optical")
TRAITS = agent_traits(CDOT)
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


def item(item_id: str, type_: str, *, tmp: Path | None = None, **kw: Any) -> EvidenceItem:
    """A complete, signed, filed record unless told otherwise."""
    data: dict[str, Any] = {
        "id": item_id,
        "type": type_,
        "reported_type": type_,
        "file": "record.csv",
        "file_found": True,
        "signed_by": "A. Reviewer",
        "signed_on": dt.date(2025, 1, 2),
        "date": dt.date(2025, 1, 1),
    }
    data.update(kw)
    return EvidenceItem(**data)


def status(items: list[EvidenceItem], rid: str, **kw: Any) -> Any:
    return assess_readiness(CDOT.name, TRAITS, items, **kw).status(rid)


def test_no_evidence_everything_applicable_is_missing() -> None:
    rd = assess_readiness(CDOT.name, TRAITS, [])
    applicable = [r for r in rd.requirements if r.status != "not applicable"]
    assert applicable and all(r.status == "missing" for r in applicable)
    assert rd.overall_pct == 0.0 and all(a.score_pct in (0.0, None) for a in rd.areas)
    assert all(r.next_experiment for r in applicable)
    assert rd.status("I-RELAXIVITY").status == "not applicable"


def test_a_missing_piece_is_a_gap_never_met() -> None:
    """Q-SIZE needs DLS and an orthogonal method: with DLS only it is partly met, with neither missing."""
    dls = item("E1", "PCC-1")
    s = status([dls], "Q-SIZE")
    assert s.status == "partly met" and s.is_gap and s.status != "met"
    assert "ORTHO-SIZE: no evidence held" in "; ".join(s.reasons)
    assert "TEM" in s.next_experiment
    assert [i.id for i in s.met_by] == ["E1"]
    assert status([], "Q-SIZE").status == "missing"
    assert status([dls, item("E2", "ORTHO-SIZE")], "Q-SIZE").status == "met"


def test_a_result_failing_its_acceptance_criterion_is_not_met() -> None:
    ok = item("E1", "STABILITY-MEDIA", value=7.5, unit="nm", acceptance=parse_acceptance("<= 8 nm"))
    bad = item("E1", "STABILITY-MEDIA", value=9.8, unit="nm", acceptance=parse_acceptance("<= 8 nm"))
    assert status([ok], "Q-STAB-BIO").status == "met"
    s = status([bad], "Q-STAB-BIO")
    assert s.status == "failed" and s.score == 0.0 and not s.met_by
    assert "fails the acceptance criterion <= 8 nm" in "; ".join(s.reasons)
    assert s.next_experiment.startswith("investigate the failing result E1")
    # a claimed pass does not rescue a value outside the criterion
    claimed = item(
        "E1", "STABILITY-MEDIA", value=9.8, unit="nm", acceptance=parse_acceptance("<= 8 nm"), outcome="pass"
    )
    assert status([claimed], "Q-STAB-BIO").status == "failed"
    # strict bounds, ranges and an outcome 'fail' without a value
    assert not parse_acceptance("< 17.5 EU/mL").accepts(17.5)
    assert parse_acceptance("5 to 8 nm").accepts(8.0) and not parse_acceptance("5 to 8 nm").accepts(4.9)
    assert status([item("E1", "STE-2", outcome="fail"), item("E2", "STE-1")], "Q-STERILE").status == "failed"


def test_one_failing_group_fails_the_requirement_even_if_others_pass() -> None:
    s = status(
        [
            item("E1", "STE-1", value=30.0, unit="EU/mL", acceptance=parse_acceptance("< 17.5 EU/mL")),
            item("E2", "STE-2", outcome="pass"),
        ],
        "Q-STERILE",
    )
    assert s.status == "failed"


def test_predictions_never_meet_a_requirement() -> None:
    pred = prediction_item("P1", "pbpk", "PBPK biodistribution", "DE24 1 %ID")
    targeted = prediction_item("P2", "dosimetry", "doses", "E 10 mSv", requirements=["D-ESTIMATE"])
    rd = assess_readiness(CDOT.name, TRAITS, [pred, targeted])
    pk = rd.status("N-PK")
    assert pk.status == "missing" and [i.id for i in pk.supporting] == ["P1"]
    assert "planning evidence only" in "; ".join(pk.reasons)
    est = rd.status("D-ESTIMATE")
    assert est.status == "missing" and [i.id for i in est.supporting] == ["P2"]
    assert judge_item(pred).verdict == "supporting" and not judge_item(pred).counts
    # a manifest record of kind prediction, even of a measured type, only supports
    fake = item("E9", "INVIVO-PK", kind="prediction")
    assert status([fake], "N-PK").status == "missing"


def test_unsigned_unfiled_and_unfinished_records_are_partly_met() -> None:
    assert status([item("E1", "PCC-2", signed_by=None)], "Q-CHARGE").status == "partly met"
    assert status([item("E1", "PCC-2", signed_by=None)], "Q-CHARGE", require_signature=False).status == "met"
    s = status([item("E1", "PCC-2", file_found=False)], "Q-CHARGE")
    assert s.status == "partly met" and "file the data of E1" in s.next_experiment
    assert status([item("E1", "PCC-2", file=None, file_found=None)], "Q-CHARGE").status == "partly met"
    assert status([item("E1", "PCC-2", complete=False)], "Q-CHARGE").status == "partly met"
    assert status([item("E1", "PCC-2", outcome="inconclusive")], "Q-CHARGE").status == "partly met"


def test_a_positive_safety_assay_needs_its_follow_up() -> None:
    s = status([item("E1", "ITA-5", reported_type="ITA-5.2", outcome="hazard")], "N-COMPLEMENT")
    assert s.status == "partly met"
    assert "CARPA" in s.next_experiment
    assert status([item("E1", "ITA-5", outcome="no hazard")], "N-COMPLEMENT").status == "met"


def test_the_latest_result_decides() -> None:
    old_fail = item("E1", "PCC-2", outcome="fail", date=dt.date(2025, 1, 1))
    new_pass = item("E2", "PCC-2", outcome="pass", date=dt.date(2025, 3, 1))
    s = status([old_fail, new_pass], "Q-CHARGE")
    assert s.status == "met" and "earlier result(s) E1 failed" in "; ".join(s.reasons)
    old_pass = item("E1", "PCC-2", outcome="pass", date=dt.date(2025, 1, 1))
    new_fail = item("E2", "PCC-2", outcome="fail", date=dt.date(2025, 3, 1))
    assert status([new_fail, old_pass], "Q-CHARGE").status == "failed"


def test_records_filed_against_other_requirements_do_not_count() -> None:
    radiochem = item("E1", "RADIOCHEM", requirements=("Q-RADIOCHEM",))
    rd = assess_readiness(CDOT.name, TRAITS, [radiochem])
    assert rd.status("Q-RADIOCHEM").status == "met"
    assert rd.status("Q-RELEASE").status == "missing"


def test_area_scores_follow_the_documented_rule() -> None:
    model = requirements_model()
    raw = yaml.safe_load(
        (resources.files("nanobridge") / "data" / "dossier" / "requirements.yaml").read_text()
    )
    keep = {"Q-COMP", "Q-CHARGE", "Q-CONC"}  # essential, essential, supporting
    raw["requirements"] = [r for r in raw["requirements"] if r["id"] in keep]
    small = load_requirements(raw)
    items = [item("E1", "COMPOSITION"), item("E2", "PCC-2", signed_by=None)]
    rd = assess_readiness(CDOT.name, TRAITS, items, model=small)
    quality = rd.area("quality")
    assert quality.counts["met"] == 1 and quality.counts["partly met"] == 1 and quality.counts["missing"] == 1
    w = model.priority_weights
    expected = (
        100
        * (w["essential"] * 1.0 + w["essential"] * 0.5 + w["supporting"] * 0.0)
        / (2 * w["essential"] + w["supporting"])
    )
    assert quality.score_pct == pytest.approx(expected)
    assert rd.area("dosimetry").score_pct is None and rd.area("dosimetry").n_applicable == 0


def test_duplicate_item_ids_are_an_error() -> None:
    with pytest.raises(ValueError, match="repeated: E1"):
        assess_readiness(CDOT.name, TRAITS, [item("E1", "PCC-1"), item("E1", "PCC-2")])


def test_parse_acceptance_and_outcome() -> None:
    a = parse_acceptance(">= 95 %")
    assert a.min == 95 and a.unit == "%" and a.accepts(95) and not a.accepts(94.9)
    assert parse_acceptance({"max": 0.2}).accepts(0.2)
    with pytest.raises(ValueError, match="not understood"):
        parse_acceptance("about six")
    assert parse_outcome("Passed") == "pass" and parse_outcome("negative") == "no hazard"
    assert parse_outcome("OOS") == "fail" and parse_outcome("") is None
    with pytest.raises(ValueError, match="allowed"):
        parse_outcome("maybe")
    unit_clash = item("E1", "PCC-1", value=6.0, unit="nm", acceptance=parse_acceptance("<= 0.01 um"))
    assert judge_item(unit_clash).verdict == "inconclusive"


def test_the_example_manifest_has_every_kind_of_status() -> None:
    bundle = load_manifest(EXAMPLE, CDOT.name)
    assert bundle.illustrative and not bundle.warnings and len(bundle.items) == 16
    ev01 = next(i for i in bundle.items if i.id == "EV-01")
    assert ev01.file_found and ev01.sha256 is not None and len(ev01.sha256) == 64
    ev12 = next(i for i in bundle.items if i.id == "EV-12")
    assert ev12.file_found is False
    rd = assess_readiness(CDOT.name, TRAITS, bundle.items)
    counts = rd.counts()
    assert (
        counts["met"] >= 5 and counts["partly met"] >= 5 and counts["failed"] == 1 and counts["missing"] >= 15
    )
    assert rd.status("Q-STAB-BIO").status == "failed"
    assert rd.status("Q-SIZE").status == "partly met"
    assert rd.status("N-COMPLEMENT").status == "partly met"
    assert rd.status("I-POC").status == "partly met"
    assert rd.status("N-TOX").status == "missing"
    assert not rd.unmatched


def test_manifest_errors_and_warnings(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="another agent"):
        load_manifest(EXAMPLE, "PEG-gold 100 nm")
    with pytest.raises(SpecError, match="file not found"):
        load_manifest(tmp_path / "nope.yaml")
    bad = tmp_path / "m.yaml"
    bad.write_text(yaml.safe_dump({"manifest": "v0", "items": {}}), encoding="utf-8")
    with pytest.raises(SpecError, match="manifest"):
        load_manifest(bad)
    (tmp_path / "r.csv").write_text("x\n1\n", encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text(
        yaml.safe_dump(
            {
                "manifest": "nanobridge-evidence-1",
                "agent": CDOT.name,
                "items": [
                    {"id": "A", "type": "XRD", "file": "r.csv"},
                    {"id": "B", "assay": "pcc-2", "file": "r.csv", "value": "minus two", "signed_by": "Q"},
                    {
                        "id": "C",
                        "type": "PCC-1",
                        "file": "r.csv",
                        "acceptance": "roughly 7",
                        "value": 6,
                        "signed_by": "Q",
                    },
                    {"id": "C", "type": "PCC-1", "file": "r.csv"},
                    {
                        "id": "D",
                        "type": "ITA-1",
                        "file": "r.csv",
                        "outcome": "maybe",
                        "signed_by": "Q",
                        "colour": "red",
                    },
                ],
            }
        ),
        encoding="utf-8",
    )
    bundle = load_manifest(good, CDOT.name)
    text = "\n".join(bundle.warnings)
    assert "'XRD' unknown; skipped" in text and "duplicate id 'C'" in text and "not a number" in text
    assert "not understood" in text and "unknown field(s) colour" in text
    assert [i.id for i in bundle.items] == ["B", "C", "D"]
    rd = assess_readiness(CDOT.name, TRAITS, bundle.items)
    # records that could not be read fully are never counted as met
    assert rd.status("Q-CHARGE").status == "partly met"
    assert rd.status("N-HEMOLYSIS").status == "partly met"
    assert rd.status("Q-SIZE").status == "partly met"


def test_evidence_source_protocol() -> None:
    source = ManifestEvidenceSource(EXAMPLE)
    assert isinstance(source, EvidenceSource)

    class InMemory:
        def collect(self, agent_name: str) -> EvidenceBundle:
            return EvidenceBundle(items=(item("S1", "PCC-2"),), source=f"memory for {agent_name}")

    memory = InMemory()
    assert isinstance(memory, EvidenceSource)
    bundle = resolve_evidence(memory, CDOT)
    assert bundle.source == f"memory for {CDOT.name}" and bundle.items[0].id == "S1"
    assert resolve_evidence(None, CDOT).items == ()
    assert len(resolve_evidence(EXAMPLE, CDOT).items) == 16
