"""The append-only, hash-chained audit trail.

Every create, update, delete and signature made through the service appends one
:class:`~nanobridge.store.models.AuditEntry`: who (user id and a readable actor label), when
(UTC), what (table, record id, action, the organization and project it belongs to), the old and
new values (JSON) and why (the reason).

**Chaining.** Entries are numbered ``seq = 1, 2, 3, ...``. Each entry stores the hash of the
entry before it (``prev_hash``; the first one :data:`GENESIS_HASH`) and its own hash::

    entry_hash = sha256(canonical_json({seq, recorded_at, user_id, actor, organization_id,
                                        project_id, table_name, record_id, action,
                                        old_values, new_values, reason, prev_hash}))

so changing, removing, inserting or reordering any entry breaks the chain from that entry on;
:func:`verify_audit_chain` finds the first break. The single ``audit_chain_head`` row holds the
last ``seq`` and hash, which also reveals entries deleted from the end of the log.

**Append-only.** The service never updates or deletes audit rows, and database triggers (created
by the first migration, on SQLite and PostgreSQL) reject UPDATE and DELETE on ``audit_log``.

**Concurrency.** :func:`append_entry` locks the chain head row (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite the write session already holds the database write lock, see
:mod:`nanobridge.store.db`), so concurrent writers append strictly one after another; the lock is
held until the writer's transaction ends.

**Limits.** The hash is not keyed: someone with write access to the database who disables the
triggers and recomputes every later hash and the head can rewrite history undetectably. Record
the head hash that ``nanobridge audit verify`` prints somewhere outside the database (a signed
e-mail, a ticket, a second system) and compare it later with ``expected_head``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nanobridge.store.canonical import canonical_json, isoformat_utc, sha256_hex, utcnow
from nanobridge.store.errors import ValidationFailed
from nanobridge.store.models import AuditChainHead, AuditEntry

if TYPE_CHECKING:
    from nanobridge.store.models import User

__all__ = [
    "GENESIS_HASH",
    "AuditAction",
    "AuditVerification",
    "actor_label",
    "append_entry",
    "audit_entries",
    "compute_entry_hash",
    "entry_fields",
    "verify_audit_chain",
]

#: The ``prev_hash`` of the first entry (written into the chain head by the first migration).
GENESIS_HASH = "0" * 64
#: Actor label of changes made without a logged-in user (e.g. ``nanobridge users create-admin``).
SYSTEM_ACTOR = "system"


class AuditAction(enum.StrEnum):
    """What happened to the record."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    SIGN = "sign"


def actor_label(user: User | None, system: str = SYSTEM_ACTOR) -> str:
    """A readable label of who acted: ``"Name <email>"``, or ``system`` for no user."""
    if user is None:
        return system
    return f"{user.name} <{user.email}>"


def entry_fields(entry: AuditEntry) -> dict[str, Any]:
    """The fields of ``entry`` that its hash covers (everything but ``entry_hash``)."""
    return {
        "seq": entry.seq,
        "recorded_at": isoformat_utc(entry.recorded_at),
        "user_id": entry.user_id,
        "actor": entry.actor,
        "organization_id": entry.organization_id,
        "project_id": entry.project_id,
        "table_name": entry.table_name,
        "record_id": entry.record_id,
        "action": entry.action,
        "old_values": entry.old_values,
        "new_values": entry.new_values,
        "reason": entry.reason,
        "prev_hash": entry.prev_hash,
    }


def compute_entry_hash(entry: AuditEntry) -> str:
    """SHA-256 of the canonical JSON of :func:`entry_fields`."""
    return sha256_hex(canonical_json(entry_fields(entry)))


def append_entry(
    session: Session,
    *,
    user: User | None,
    action: AuditAction | str,
    table_name: str,
    record_id: int | str,
    old_values: dict[str, Any] | None = None,
    new_values: dict[str, Any] | None = None,
    reason: str = "",
    organization_id: int | None = None,
    project_id: int | None = None,
    actor: str | None = None,
) -> AuditEntry:
    """Append one entry to the chain, inside the session's transaction, and return it.

    The service calls this for every change; the web layer may call it for other events worth
    recording (``action`` is free text up to 20 characters, e.g. ``"export"``). ``actor``
    overrides the label derived from ``user`` (e.g. ``"system:cli"``).
    """
    action = str(action)
    if not action or len(action) > 20:
        raise ValidationFailed(f"audit action {action!r} -> 1 to 20 characters")
    head = session.execute(
        select(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if head is None:
        raise RuntimeError("audit_chain_head row missing: the database was not initialized by init_db()")
    entry = AuditEntry(
        seq=head.seq + 1,
        recorded_at=utcnow(),
        user_id=user.id if user is not None else None,
        actor=actor or actor_label(user),
        organization_id=organization_id,
        project_id=project_id,
        table_name=table_name,
        record_id=str(record_id),
        action=action,
        # Store exactly what canonical JSON makes of the values (e.g. tuples become lists), so the
        # hash computed now equals the hash of the values read back.
        old_values=_normalized(old_values),
        new_values=_normalized(new_values),
        reason=reason,
        prev_hash=head.head_hash,
    )
    entry.entry_hash = compute_entry_hash(entry)
    session.add(entry)
    head.seq = entry.seq
    head.head_hash = entry.entry_hash
    session.flush()
    return entry


def _normalized(values: dict[str, Any] | None) -> Any:
    if values is None:
        return None
    return json.loads(canonical_json(values))


@dataclass(frozen=True)
class AuditVerification:
    """Outcome of :func:`verify_audit_chain`.

    ``entries`` counts the entries checked and found intact (all of them when ``ok``);
    ``first_broken_seq`` is the sequence number of the first entry that does not verify (or
    where a missing one was expected) and ``problem`` says what is wrong there.
    """

    ok: bool
    entries: int
    head_hash: str
    first_broken_seq: int | None = None
    problem: str | None = None

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.ok:
            return f"chain intact: {self.entries} entries (head {self.head_hash})"
        return f"chain broken at entry {self.first_broken_seq}: {self.problem}"


def verify_audit_chain(
    session: Session, *, expected_head: str | None = None, batch_size: int = 2000
) -> AuditVerification:
    """Recompute the whole chain and report the first entry that is altered, missing or out of place.

    Checks, entry by entry in ``seq`` order: the numbering has no gap; ``prev_hash`` equals the
    previous entry's hash (catches deletions, insertions and reordering); the recomputed hash
    equals ``entry_hash`` (catches altered content). Then the chain head must name the last entry
    (catches deletions at the end), and, if given, ``expected_head`` (a head hash recorded earlier
    outside the database) must be the head hash or the hash of an entry in the chain.

    Safe while others write: entries committed during the check are checked as well.
    """
    previous_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    expected_found = expected_head is None or expected_head == GENESIS_HASH
    stmt = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=batch_size)
    head: AuditChainHead | None = None
    for _pass in range(1000):
        scanned = 0
        for entry in session.scalars(stmt.where(AuditEntry.seq > count)):
            seq = entry.seq
            if seq != expected_seq:
                missing = (
                    f"entry {expected_seq}"
                    if seq == expected_seq + 1
                    else f"entries {expected_seq}-{seq - 1}"
                )
                return _broken(count, seq, f"{missing} missing (deleted) before this entry")
            if entry.prev_hash != previous_hash:
                where = "the genesis hash" if seq == 1 else f"entry {seq - 1}"
                return _broken(
                    count,
                    seq,
                    f"does not chain to {where} (prev_hash {entry.prev_hash[:12]}... expected "
                    f"{previous_hash[:12]}...): an entry was deleted, inserted or moved here",
                )
            recomputed = compute_entry_hash(entry)
            if recomputed != entry.entry_hash:
                return _broken(
                    count,
                    seq,
                    f"content altered: stored hash {entry.entry_hash[:12]}... but the entry hashes to "
                    f"{recomputed[:12]}... ({entry.action} {entry.table_name} {entry.record_id})",
                )
            if not expected_found and entry.entry_hash == expected_head:
                expected_found = True
            previous_hash = entry.entry_hash
            expected_seq += 1
            count += 1
            scanned += 1
            session.expunge(entry)
        head = session.execute(
            select(AuditChainHead).where(AuditChainHead.id == 1).execution_options(populate_existing=True)
        ).scalar_one_or_none()
        # Under READ COMMITTED, writers may have committed entries after the scan read its
        # snapshot (then the head is ahead): check those too. No new entry means really missing.
        if head is None or head.seq <= count or scanned == 0:
            break
    if head is None:
        return _broken(count, count + 1, "the audit_chain_head row is missing")
    if head.seq > count:
        missing = f"entry {head.seq}" if head.seq == count + 1 else f"entries {count + 1}-{head.seq}"
        return _broken(count, count + 1, f"{missing} missing (deleted from the end of the log)")
    if head.seq < count:
        return _broken(
            head.seq,
            head.seq + 1,
            f"the chain head ends at entry {head.seq}: entries {head.seq + 1}-{count} were inserted "
            "without going through the chain",
        )
    if head.head_hash != previous_hash:
        return _broken(
            count - 1,
            count,
            f"the chain head records hash {head.head_hash[:12]}... for this entry but it hashes to "
            f"{previous_hash[:12]}...: the entry was replaced",
        )
    if not expected_found:
        return _broken(
            count,
            count + 1,
            f"the expected head {expected_head} is not in the chain: the log was rewritten",
        )
    return AuditVerification(ok=True, entries=count, head_hash=previous_hash)


def _broken(count: int, seq: int, problem: str) -> AuditVerification:
    return AuditVerification(ok=False, entries=count, head_hash="", first_broken_seq=seq, problem=problem)


def audit_entries(
    session: Session,
    *,
    table_name: str | None = None,
    record_id: int | str | None = None,
    project_ids: Sequence[int] | None = None,
    organization_id: int | None = None,
    user_id: int | None = None,
    before_seq: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Audit entries, newest first, filtered; page with ``before_seq`` (the last seq of a page).

    This is the raw query; :func:`nanobridge.store.service.audit_trail` applies access control.
    """
    stmt = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(max(1, min(limit, 10_000)))
    if table_name is not None:
        stmt = stmt.where(AuditEntry.table_name == table_name)
    if record_id is not None:
        stmt = stmt.where(AuditEntry.record_id == str(record_id))
    if project_ids is not None:
        stmt = stmt.where(AuditEntry.project_id.in_(list(project_ids)))
    if organization_id is not None:
        stmt = stmt.where(AuditEntry.organization_id == organization_id)
    if user_id is not None:
        stmt = stmt.where(AuditEntry.user_id == user_id)
    if before_seq is not None:
        stmt = stmt.where(AuditEntry.seq < before_seq)
    return list(session.scalars(stmt))
