"""The hash-chained audit trail: verification, tamper detection and concurrent writers."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from store_helpers import Backend, World, as_user

from nanobridge.store import db, service
from nanobridge.store.audit import (
    GENESIS_HASH,
    append_entry,
    compute_entry_hash,
    verify_audit_chain,
)
from nanobridge.store.errors import ValidationFailed
from nanobridge.store.models import AuditEntry


def _verify(engine: Engine, **kwargs: Any) -> Any:
    with db.session_scope(engine, write=False) as s:
        return verify_audit_chain(s, **kwargs)


def _fill(engine: Engine, world: World, n: int = 6) -> int:
    """Add ``n`` batches (one audit entry each); return the number of entries in the log."""
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        for i in range(n):
            service.create_batch(s, sci, world.project_a, lot_number=f"L-{i}")
        return len(list(s.scalars(select(AuditEntry.seq))))


def test_empty_and_intact_chains_verify(engine: Engine, world: World) -> None:
    n = _fill(engine, world)
    result = _verify(engine)
    assert result.ok and bool(result) and result.entries == n
    assert str(result) == f"chain intact: {n} entries (head {result.head_hash})"
    with db.session_scope(engine, write=False) as s:
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [e.seq for e in entries] == list(range(1, n + 1))
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(entries))
    assert all(compute_entry_hash(e) == e.entry_hash for e in entries)
    # A head recorded earlier outside the database is still part of the chain later on.
    assert _verify(engine, expected_head=entries[3].entry_hash).ok
    assert not _verify(engine, expected_head="f" * 64).ok


def test_altered_entry_is_detected(backend: Backend, world: World) -> None:
    _fill(backend.engine, world)
    backend.tamper("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 5")
    result = _verify(backend.engine)
    assert not result.ok and result.first_broken_seq == 5 and result.entries == 4
    assert "content altered" in (result.problem or "")
    assert str(result).startswith("chain broken at entry 5: content altered")


def test_altered_values_are_detected(backend: Backend, world: World) -> None:
    _fill(backend.engine, world)
    backend.tamper(
        "UPDATE audit_log SET new_values = REPLACE(new_values, 'L-2', 'L-X') WHERE new_values LIKE '%L-2%'"
    )
    result = _verify(backend.engine)
    assert not result.ok and "content altered" in (result.problem or "")


def test_deleted_entry_is_detected(backend: Backend, world: World) -> None:
    _fill(backend.engine, world)
    backend.tamper("DELETE FROM audit_log WHERE seq = 7")
    result = _verify(backend.engine)
    assert not result.ok and result.first_broken_seq == 8
    assert result.problem == "entry 7 missing (deleted) before this entry"


def test_deleted_tail_is_detected(backend: Backend, world: World) -> None:
    n = _fill(backend.engine, world)
    backend.tamper("DELETE FROM audit_log WHERE seq >= :s", {"s": n - 1})
    result = _verify(backend.engine)
    assert not result.ok and result.first_broken_seq == n - 1
    assert "missing (deleted from the end of the log)" in (result.problem or "")


def test_swapped_entries_are_detected(backend: Backend, world: World) -> None:
    _fill(backend.engine, world)
    # Swap the positions of entries 4 and 5 (their contents keep their hashes).
    backend.tamper("UPDATE audit_log SET seq = -1 WHERE seq = 4")
    backend.tamper("UPDATE audit_log SET seq = 4 WHERE seq = 5")
    backend.tamper("UPDATE audit_log SET seq = 5 WHERE seq = -1")
    result = _verify(backend.engine)
    assert not result.ok and result.first_broken_seq == 4
    assert "does not chain to entry 3" in (result.problem or "")


def test_inserted_entry_is_detected(backend: Backend, world: World) -> None:
    n = _fill(backend.engine, world)
    # A forger appends a well-formed entry (correct prev_hash and entry_hash) without the chain head.
    with db.session_scope(backend.engine, write=False) as s:
        last = s.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
        assert last is not None
        forged = AuditEntry(
            seq=n + 1,
            recorded_at=last.recorded_at,
            user_id=None,
            actor="forger",
            organization_id=None,
            project_id=None,
            table_name="batches",
            record_id="1",
            action="delete",
            old_values=None,
            new_values=None,
            reason="",
            prev_hash=last.entry_hash,
        )
        forged_hash = compute_entry_hash(forged)
    with backend.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_log (seq, recorded_at, actor, table_name, record_id, action, reason, "
                "prev_hash, entry_hash) VALUES (:seq, :at, 'forger', 'batches', '1', 'delete', '', :prev, :h)"
            ),
            {
                "seq": n + 1,
                "at": last.recorded_at
                if backend.name == "postgresql"
                else last.recorded_at.replace(tzinfo=None),
                "prev": last.entry_hash,
                "h": forged_hash,
            },
        )
    result = _verify(backend.engine)
    assert not result.ok and result.first_broken_seq == n + 1
    assert "inserted without going through the chain" in (result.problem or "")
    # An entry squeezed into the middle breaks the link of its successor.
    backend.tamper("DELETE FROM audit_log WHERE seq = :s", {"s": n + 1})
    backend.tamper("UPDATE audit_log SET prev_hash = :h WHERE seq = 3", {"h": "a" * 64})
    assert _verify(backend.engine).first_broken_seq == 3


def test_service_never_touches_old_entries_and_triggers_refuse(engine: Engine, world: World) -> None:
    n = _fill(engine, world)
    with pytest.raises(Exception, match="append-only"), db.session_scope(engine) as s:
        entry = s.get(AuditEntry, 1)
        assert entry is not None
        entry.reason = "rewritten"
        s.flush()
    with pytest.raises(Exception, match="append-only"), db.session_scope(engine) as s:
        s.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    assert _verify(engine).entries == n


def test_append_entry_for_other_events(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        admin = as_user(s, world.admin_a)
        entry = append_entry(
            s,
            user=admin,
            action="export",
            table_name="projects",
            record_id=world.project_a,
            new_values={"format": ("pdf", "html")},
            reason="dossier draft for review",
            organization_id=world.org_a,
            project_id=world.project_a,
        )
        assert entry.new_values == {"format": ["pdf", "html"]}
        with pytest.raises(ValidationFailed, match="audit action"):
            append_entry(s, user=admin, action="x" * 21, table_name="t", record_id=1)
    assert _verify(engine).ok


def test_concurrent_writers_keep_one_valid_chain(engine: Engine, world: World) -> None:
    threads, per_thread = 4, 8
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with db.session_scope(engine) as s:
                    sci = as_user(s, world.scientist_a)
                    batch = service.create_batch(s, sci, world.project_a, lot_number=f"T{index}-{i}")
                    service.add_measurement(s, sci, batch.id, kind="size", value=float(i), unit="nm")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def verifier() -> None:
        # Verifying while others write must never report a broken chain.
        try:
            start.wait()
            while any(worker.is_alive() for worker in workers):
                result = _verify(engine)
                assert result.ok, str(result)
                checks.append(result.entries)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    before = _verify(engine).entries
    checks: list[int] = []
    workers = [threading.Thread(target=writer, args=(k,)) for k in range(threads)]
    start = threading.Barrier(threads + 1)
    watcher = threading.Thread(target=verifier)
    for thread in (*workers, watcher):
        thread.start()
    for thread in (*workers, watcher):
        thread.join(timeout=60)
    assert not errors, errors
    assert checks == sorted(checks) and len(checks) >= 1
    result = _verify(engine)
    assert result.ok, str(result)
    assert result.entries == before + threads * per_thread * 2
    with db.session_scope(engine, write=False) as s:
        actors = {
            e.record_id for e in s.scalars(select(AuditEntry).where(AuditEntry.table_name == "batches"))
        }
    assert len(actors) == threads * per_thread
