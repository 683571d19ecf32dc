"""Electronic signatures: password re-check, binding to the record version, roles, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select
from store_helpers import PASSWORD, SPEC, Backend, World, as_user

from nanobridge.store import db, service
from nanobridge.store.audit import verify_audit_chain
from nanobridge.store.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from nanobridge.store.models import Batch, Document, Signature, SignatureMeaning, User
from nanobridge.store.signatures import (
    record_digest,
    sign,
    signature_status,
    signatures_for,
    verify_signature,
)


def test_sign_binds_to_the_exact_record_version(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci, qa = as_user(s, world.scientist_a), as_user(s, world.qa_a)
        batch = service.create_batch(s, sci, world.project_a, lot_number="L-1", data={"scale_L": 0.01})
        decision = service.record_qc_decision(s, qa, batch.id, outcome="release", rationale="in spec")
        digest = record_digest(decision)
        signature = sign(s, qa, PASSWORD, decision, SignatureMeaning.RELEASED, comment="batch released")
        assert signature.record_sha256 == digest and signature.record_version == decision.version
        assert signature.printed_name == "Qa" and signature.meaning == SignatureMeaning.RELEASED
        assert signature.signed_at.utcoffset() is not None
        check = verify_signature(signature, decision)
        assert check.valid and bool(check) and "released by Qa" in check.reason
        batch_sig = sign(s, sci, PASSWORD, batch, "authored")
        batch_id, decision_id = batch.id, decision.id
    # Valid when read back in a new session (hash of what the database holds).
    with db.session_scope(engine) as s:
        batch = s.get(Batch, batch_id)
        assert batch is not None
        (stored,) = signatures_for(s, batch)
        assert stored.id == batch_sig.id and verify_signature(stored, batch).valid
        sci = as_user(s, world.scientist_a)
        service.update(s, sci, batch, expected_version=batch.version, reason="site added", site="Lab 3")
        check = verify_signature(stored, batch)
        assert not check.valid
        assert (
            f"batches {batch_id} changed after it was signed (signed version 2, now version 3)"
            in check.reason
        )
        (row,) = signature_status(s, batch)
        assert row[0].id == stored.id and not row[1].valid
        decision_sig = s.scalar(select(Signature).where(Signature.record_id == decision_id))
        assert decision_sig is not None
        assert not verify_signature(decision_sig, batch).valid  # another record's signature


def test_wrong_password_records_nothing(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        agent = service.create_agent(s, sci, world.project_a, name="Cdot", spec=SPEC)
        version = service.current_agent_version(s, sci, agent.id)
        entries_before = len(service.history(s, sci, version))
        with pytest.raises(AuthenticationFailed, match="password check failed"):
            sign(s, sci, "not my password", version, "authored")
        assert signatures_for(s, version) == []
        assert len(service.history(s, sci, version)) == entries_before


def test_signing_is_audited_on_the_signed_record(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        doc = service.create_document(s, sci, world.project_a, title="Dosimetry report", kind="report")
        signature = sign(s, sci, PASSWORD, doc, "authored", comment="my report")
        latest = service.history(s, sci, doc)[0]
        assert latest.action == "sign" and latest.user_id == sci.id and latest.reason == "my report"
        assert latest.new_values["signature_id"] == signature.id
        assert latest.new_values["record_sha256"] == signature.record_sha256
        assert latest.new_values["meaning"] == "authored"
        assert verify_audit_chain(s).ok


def test_meanings_need_the_right_project_role(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci, qa, viewer, admin = (
            as_user(s, i) for i in (world.scientist_a, world.qa_a, world.viewer_a, world.admin_a)
        )
        doc = service.create_document(s, sci, world.project_a, title="SOP", kind="sop")
        with pytest.raises(PermissionDenied, match="project role qa"):
            sign(s, sci, PASSWORD, doc, "approved")
        with pytest.raises(PermissionDenied):
            sign(s, viewer, PASSWORD, doc, "reviewed")
        sign(s, sci, PASSWORD, doc, "authored")
        sign(s, qa, PASSWORD, doc, "reviewed")
        sign(s, qa, PASSWORD, doc, "approved")
        sign(s, admin, PASSWORD, doc, "approved")
        with pytest.raises(Conflict, match="already signed this version"):
            sign(s, qa, PASSWORD, doc, "approved")
        with pytest.raises(ValidationFailed, match="meaning: 'liked' -> one of authored, reviewed"):
            sign(s, qa, PASSWORD, doc, "liked")
        outsider = as_user(s, world.scientist_b)
        with pytest.raises(NotFound):
            sign(s, outsider, PASSWORD, doc, "reviewed")
        assert [sig.meaning for sig in signatures_for(s, doc)] == [
            "authored",
            "reviewed",
            "approved",
            "approved",
        ]


def test_unsignable_and_deleted_records(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        with pytest.raises(ValidationFailed, match="users cannot be signed"):
            sign(s, sci, PASSWORD, s.get(User, world.viewer_a), "reviewed")  # type: ignore[arg-type]
        item = service.create_evidence_item(s, sci, world.project_a, category="tox", title="GLP tox")
        service.soft_delete(s, sci, item, expected_version=1, reason="wrong study")
        with pytest.raises(ValidationFailed, match="is deleted"):
            sign(s, sci, PASSWORD, item, "authored")


def test_tampered_signature_row_is_detected(backend: Backend, world: World) -> None:
    with db.session_scope(backend.engine) as s:
        sci = as_user(s, world.scientist_a)
        doc = service.create_document(s, sci, world.project_a, title="Report", kind="report")
        sign(s, sci, PASSWORD, doc, "authored")
        doc_id = doc.id
    backend.tamper("UPDATE signatures SET meaning = 'approved'", tables=("signatures",))
    with db.session_scope(backend.engine, write=False) as s:
        doc = s.get(Document, doc_id)
        assert doc is not None
        (signature,) = signatures_for(s, doc)
        check = verify_signature(signature, doc)
        assert not check.valid and "was altered after it was recorded" in check.reason
        assert s.scalar(select(func.count()).select_from(Signature)) == 1
