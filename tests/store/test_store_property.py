"""Property: any sequence of service operations, by any user, leaves a verifiable audit chain.

Operations are drawn at random (creates, edits with right or stale versions, deletes, signatures,
QC decisions, bad values) and run by random users, including ones without the needed role or
from another organization. Each operation runs in its own transaction: a successful one appends at
least one audit entry, all by its actor; a rejected one (a :class:`StoreError`) leaves no entry at
all; and after the whole sequence the chain verifies.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from store_helpers import PASSWORD, SPEC, World, as_user

from nanobridge.store import db, service
from nanobridge.store.audit import verify_audit_chain
from nanobridge.store.errors import NotFound, StoreError
from nanobridge.store.models import Agent, AuditEntry, Batch, Document, Measurement, User
from nanobridge.store.signatures import sign

OPERATIONS = (
    "create_batch",
    "update_batch",
    "delete_batch",
    "add_measurement",
    "create_agent",
    "new_agent_version",
    "create_document",
    "sign_document",
    "qc_decision",
)
texts = st.one_of(st.text(alphabet="abcXYZ -", min_size=1, max_size=6), st.sampled_from(("", "\x00", " ")))
step = st.tuples(
    st.sampled_from(OPERATIONS),
    st.sampled_from(
        ("scientist_a",) * 4 + ("qa_a",) * 3 + ("viewer_a", "outsider_a", "scientist_b", "admin_a")
    ),
    st.integers(min_value=0, max_value=4),  # which existing record
    texts,  # a text value (sometimes invalid: empty, NUL)
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none()),
    st.sampled_from((False, False, False, True)),  # stale expected_version, no reason, wrong password
)


def _pick(session: Session, actor: User, model: type[Any], project_id: int, index: int) -> Any:
    rows = list(session.scalars(select(model).where(model.project_id == project_id).order_by(model.id)))
    if not rows:
        raise NotFound("nothing to pick")
    record = rows[index % len(rows)]
    return service.get(session, actor, model, record.id)


def _operation(name: str, index: int, text: str, number: float | None, flag: bool) -> Callable[..., Any]:
    def run(s: Session, actor: User, project_id: int) -> Any:
        version_shift = 1 if flag else 0
        reason = "" if flag and index % 2 else f"reason {text}"
        if name == "create_batch":
            return service.create_batch(
                s, actor, project_id, lot_number=f"L{text}{index}", data={"x": number}
            )
        if name == "update_batch":
            batch = _pick(s, actor, Batch, project_id, index)
            return service.update(
                s,
                actor,
                batch,
                expected_version=batch.version - version_shift,
                reason=reason,
                site=f"site {text}",
            )
        if name == "delete_batch":
            batch = _pick(s, actor, Batch, project_id, index)
            return service.soft_delete(s, actor, batch, expected_version=batch.version, reason=reason)
        if name == "add_measurement":
            batch = _pick(s, actor, Batch, project_id, index)
            return service.add_measurement(s, actor, batch.id, kind="size", value=number, unit="nm")
        if name == "create_agent":
            return service.create_agent(s, actor, project_id, name=f"A{text}", spec={**SPEC, "n": index})
        if name == "new_agent_version":
            agent = _pick(s, actor, Agent, project_id, index)
            spec = {**SPEC, "n": text}
            return service.add_agent_version(
                s, actor, agent.id, spec, expected_version=agent.version - version_shift, reason=reason
            )
        if name == "create_document":
            return service.create_document(s, actor, project_id, title=f"Doc {text}", kind="report")
        if name == "sign_document":
            doc = _pick(s, actor, Document, project_id, index)
            return sign(
                s,
                actor,
                PASSWORD if not flag else "wrong password!",
                doc,
                ("authored", "approved")[index % 2],
            )
        if name == "qc_decision":
            batch = _pick(s, actor, Batch, project_id, index)
            outcome = ("release", "reject", "hold", "maybe")[index % 4]
            return service.record_qc_decision(
                s, actor, batch.id, outcome=outcome, rationale=f"because {text}"
            )
        raise AssertionError(name)

    return run


def _entries(engine: Engine) -> list[tuple[int, int | None]]:
    with db.session_scope(engine, write=False) as s:
        rows = s.execute(select(AuditEntry.seq, AuditEntry.user_id).order_by(AuditEntry.seq))
        return [(seq, user_id) for seq, user_id in rows]


def test_any_sequence_of_operations_leaves_a_verifiable_chain(engine: Engine, world: World) -> None:
    outcomes = {True: 0, False: 0}

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(steps=st.lists(step, min_size=1, max_size=10))
    def check(steps: list[tuple[str, str, int, str, float | None, bool]]) -> None:
        for name, who, index, text, number, flag in steps:
            before = _entries(engine)
            user_id = getattr(world, who)
            project_id = world.project_b if who.endswith("_b") else world.project_a
            succeeded = True
            try:
                with db.session_scope(engine) as s:
                    _operation(name, index, text, number, flag)(s, as_user(s, user_id), project_id)
            except StoreError:
                succeeded = False
            outcomes[succeeded] += 1
            after = _entries(engine)
            assert after[: len(before)] == before  # nothing old changed or vanished
            new = after[len(before) :]
            if succeeded:
                no_change = name == "update_batch" and not new
                assert new or no_change, f"{name} by {who} succeeded without an audit entry"
                assert {uid for _, uid in new} <= {user_id}
            else:
                assert new == [], f"rejected {name} by {who} left audit entries"
        with db.session_scope(engine, write=False) as s:
            result = verify_audit_chain(s)
            assert result.ok, str(result)
            assert result.entries == s.scalar(select(func.count()).select_from(AuditEntry))
            assert all(math.isfinite(m.value) for m in s.scalars(select(Measurement)) if m.value is not None)

    check()
    assert outcomes[True] > 0 and outcomes[False] > 0  # both paths were exercised
