"""The store as the dossier's evidence source: items, file hashes, signers, failing values, gaps."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import Engine
from store_helpers import PASSWORD, World

from nanobridge.domain import load_example_agent
from nanobridge.science.dossier import EvidenceSource, agent_traits, assess_readiness
from nanobridge.store import db, service
from nanobridge.store.models import User
from nanobridge.store.signatures import sign
from nanobridge.workflows.dossier_store import StoreEvidenceSource

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

CDOT = load_example_agent("cdot_pet_optical")
TRAITS = agent_traits(CDOT)
DLS = {
    "id": "EV-01",
    "type": "PCC-1",
    "requirements": ["Q-SIZE"],
    "date": "2025-01-14",
    "quantity": "Z-average diameter",
    "value": 6.6,
    "unit": "nm",
    "acceptance": "<= 8 nm",
    "result": "Z-average 6.6 nm",
}


def _agent(s: Any, sci: User, project: int, name: str = "C dot") -> int:
    return service.create_agent(s, sci, project, name=name, spec=CDOT.model_dump(mode="json")).id


def test_stored_item_shows_up_with_its_file_hash_and_signer(engine: Engine, world: World) -> None:
    content = b"size,nm\n6.6\n"
    with db.session_scope(engine) as s:
        sci = s.get(User, world.scientist_a)
        qa = s.get(User, world.qa_a)
        assert sci is not None and qa is not None
        agent_id = _agent(s, sci, world.project_a)
        other_agent = _agent(s, sci, world.project_a, "other")
        raw = service.store_raw_file(s, sci, world.project_a, content, original_name="dls.csv")
        signed = service.create_evidence_item(
            s, sci, world.project_a, category="cmc", title="DLS lot 3", agent_id=agent_id,
            raw_file_id=raw.id, data=DLS,
        )  # fmt: skip
        service.create_evidence_item(
            s, sci, world.project_a, category="PCC-2", title="zeta (draft)", agent_id=agent_id,
            data={"value": -2.1, "unit": "mV", "outcome": "reported", "signed_by": "forged"},
        )  # fmt: skip
        service.create_evidence_item(
            s, sci, world.project_a, category="PCC-1", title="elsewhere", agent_id=other_agent
        )
        sign(s, qa, PASSWORD, signed, "reviewed")
        source = StoreEvidenceSource(s, sci, world.project_a, agent_id)
        assert isinstance(source, EvidenceSource)
        bundle = source.collect(CDOT.name)
    items = {i.id: i for i in bundle.items}
    assert set(items) == {"EV-01", f"EV-{signed.id + 1}"}
    dls = items["EV-01"]
    assert dls.type == "PCC-1" and dls.requirements == ("Q-SIZE",)
    assert dls.file == "dls.csv" and dls.file_found is True
    assert dls.sha256 == hashlib.sha256(content).hexdigest()
    assert dls.value == 6.6 and dls.acceptance is not None and dls.acceptance.max == 8
    assert dls.date is not None and dls.date.isoformat() == "2025-01-14"
    assert dls.signed_by == "Qa" and dls.signature_meaning == "reviewed" and dls.signed_on is not None
    zeta = items[f"EV-{signed.id + 1}"]
    assert zeta.type == "PCC-2" and zeta.title == "zeta (draft)"
    assert zeta.signed_by is None and zeta.file is None and zeta.sha256 is None  # data cannot claim them
    assert any("'signed_by' in its data ignored" in w for w in bundle.warnings)
    rd = assess_readiness(CDOT.name, TRAITS, bundle.items)
    assert rd.status("Q-SIZE").status in ("met", "partly met")
    assert rd.status("Q-CHARGE").status == "partly met"  # unsigned, no file: never met


def test_a_signature_of_an_older_version_does_not_count(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci = s.get(User, world.scientist_a)
        qa = s.get(User, world.qa_a)
        assert sci is not None and qa is not None
        agent_id = _agent(s, sci, world.project_a)
        item = service.create_evidence_item(
            s, sci, world.project_a, category="cmc", title="DLS", agent_id=agent_id, data=DLS
        )
        sign(s, qa, PASSWORD, item, "reviewed")
        service.update(s, sci, item, expected_version=item.version, reason="fix", title="DLS, edited")
        bundle = StoreEvidenceSource(s, sci, world.project_a, agent_id).collect(CDOT.name)
    assert bundle.items[0].signed_by is None
    assert any("not counted" in w for w in bundle.warnings)


def test_a_value_failing_its_acceptance_criterion_is_not_met(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci = s.get(User, world.scientist_a)
        qa = s.get(User, world.qa_a)
        assert sci is not None and qa is not None
        agent_id = _agent(s, sci, world.project_a)
        raw = service.store_raw_file(s, sci, world.project_a, b"9.8", original_name="stab.csv")
        item = service.create_evidence_item(
            s, sci, world.project_a, category="STABILITY-MEDIA", title="plasma stability",
            agent_id=agent_id, raw_file_id=raw.id,
            data={"value": 9.8, "unit": "nm", "acceptance": "<= 8 nm", "outcome": "pass"},
        )  # fmt: skip
        sign(s, qa, PASSWORD, item, "approved")
        bundle = StoreEvidenceSource(s, sci, world.project_a, agent_id).collect(CDOT.name)
    status = assess_readiness(CDOT.name, TRAITS, bundle.items).status("Q-STAB-BIO")
    assert status.status == "failed" and not status.met_by


def test_no_items_every_requirement_missing(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci = s.get(User, world.scientist_a)
        assert sci is not None
        agent_id = _agent(s, sci, world.project_a)
        bundle = StoreEvidenceSource(s, sci, world.project_a, agent_id).collect(CDOT.name)
    assert bundle.items == () and bundle.warnings == ()
    rd = assess_readiness(CDOT.name, TRAITS, bundle.items)
    applicable = [r for r in rd.requirements if r.status != "not applicable"]
    assert applicable and all(r.status == "missing" for r in applicable)
