"""The service API: CRUD with audit entries, reasons, soft delete, optimistic versions, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from store_helpers import SPEC, World, as_user

from nanobridge.store import db, service
from nanobridge.store.audit import audit_entries
from nanobridge.store.auth import verify_password
from nanobridge.store.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from nanobridge.store.models import (
    Agent,
    AgentSpecVersion,
    AuditEntry,
    Batch,
    BatchStatus,
    Measurement,
    Project,
    Role,
    RunStatus,
    Scenario,
    SimulationRun,
    User,
)


def test_create_update_delete_are_audited_with_who_when_what_why(engine: Engine, world: World) -> None:
    before = datetime.now(UTC)
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        batch = service.create_batch(s, sci, world.project_a, lot_number="L-001", site="Lab", scale="10 mL")
        batch_id = batch.id
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        batch = service.get(s, sci, Batch, batch_id)
        service.update(s, sci, batch, expected_version=1, reason="typo in site", site="Lab 2")
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        batch = service.get(s, sci, Batch, batch_id)
        assert batch.version == 2
        service.soft_delete(s, sci, batch, expected_version=2, reason="entered twice")
    with db.session_scope(engine, write=False) as s:
        entries = list(reversed(audit_entries(s, table_name="batches", record_id=batch_id)))
    assert [e.action for e in entries] == ["create", "update", "delete"]
    create, upd, delete = entries
    assert {e.user_id for e in entries} == {world.scientist_a}
    assert all(e.actor == "Sci <sci@a.org>" for e in entries)
    assert all(e.project_id == world.project_a and e.organization_id == world.org_a for e in entries)
    for entry in entries:
        assert entry.recorded_at.tzinfo is not None and entry.recorded_at.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=5) <= entry.recorded_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert create.old_values is None
    assert create.new_values["lot_number"] == "L-001" and create.new_values["status"] == "pending"
    assert upd.old_values["site"] == "Lab" and upd.new_values["site"] == "Lab 2"
    assert (upd.old_values["version"], upd.new_values["version"]) == (1, 2)
    assert upd.reason == "typo in site"
    assert delete.old_values["deleted_at"] is None and delete.new_values["deleted_at"] is not None
    assert delete.reason == "entered twice"


def test_gxp_updates_and_deletes_need_a_reason(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        batch = service.create_batch(s, sci, world.project_a, lot_number="L-1")
        with pytest.raises(ValidationFailed, match="reason: missing -> a reason is required to update"):
            service.update(s, sci, batch, expected_version=1, site="B")
        with pytest.raises(ValidationFailed, match="reason"):
            service.soft_delete(s, sci, batch, expected_version=1, reason="   ")
        admin = as_user(s, world.admin_a)
        project = service.get(s, admin, Project, world.project_a)
        # Projects are not GxP records: no reason needed.
        service.update(s, admin, project, expected_version=project.version, description="new text")
        assert service.history(s, admin, project)[0].reason == ""


def test_soft_delete_keeps_the_row_and_hides_it(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        kept = service.create_batch(s, sci, world.project_a, lot_number="keep")
        gone = service.create_batch(s, sci, world.project_a, lot_number="gone")
        service.soft_delete(s, sci, gone, expected_version=1, reason="duplicate")
        gone_id = gone.id
        assert [b.lot_number for b in service.list_records(s, sci, Batch, world.project_a)] == ["keep"]
        assert service.count_records(s, sci, Batch, world.project_a) == 1
        all_lots = service.list_records(s, sci, Batch, world.project_a, include_deleted=True)
        assert {b.lot_number for b in all_lots} == {"keep", "gone"}
        with pytest.raises(NotFound, match="was deleted"):
            service.get(s, sci, Batch, gone_id)
        assert service.get(s, sci, Batch, gone_id, include_deleted=True).is_deleted
        with pytest.raises(NotFound, match="already deleted"):
            service.soft_delete(s, sci, gone, expected_version=gone.version, reason="again")
        with pytest.raises(NotFound):
            service.update(s, sci, gone, expected_version=gone.version, reason="x", site="y")
        # A deleted lot number may be used again.
        service.create_batch(s, sci, world.project_a, lot_number="gone")
        with pytest.raises(Conflict, match="lot 'keep' already exists"):
            service.create_batch(s, sci, world.project_a, lot_number="keep")
        assert kept.deleted_at is None
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM batches")).scalar_one() == 3


def test_stale_expected_version_is_a_conflict(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        batch = service.create_batch(s, as_user(s, world.scientist_a), world.project_a, lot_number="L")
        batch_id = batch.id
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        batch = service.get(s, sci, Batch, batch_id)
        service.update(s, sci, batch, expected_version=1, reason="first edit", site="one")
    with db.session_scope(engine) as s:
        qa = as_user(s, world.qa_a)
        batch = service.get(s, qa, Batch, batch_id)
        with pytest.raises(Conflict, match="is at version 2, not 1"):
            service.update(s, qa, batch, expected_version=1, reason="edit from an old page", site="two")


def test_concurrent_edits_of_the_same_version_do_not_both_win(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        batch_id = service.create_batch(s, as_user(s, world.scientist_a), world.project_a, lot_number="L").id
    # Two readers load version 1 (read sessions, so SQLite does not serialize the loads) ...
    read_a = db.make_session_factory(engine, write=False)()
    read_b = db.make_session_factory(engine, write=False)()
    stale_a = read_a.get(Batch, batch_id)
    stale_b = read_b.get(Batch, batch_id)
    assert stale_a is not None and stale_b is not None and stale_a.version == stale_b.version == 1
    read_a.close()
    read_b.close()
    # ... the first writer wins, the second gets a Conflict (checked in the UPDATE's WHERE clause).
    with db.session_scope(engine) as s:
        batch = s.merge(stale_a, load=False)
        service.update(s, as_user(s, world.scientist_a), batch, expected_version=1, reason="a", site="A")
    with (
        pytest.raises(Conflict, match="changed by someone else at the same time"),
        db.session_scope(engine) as s,
    ):
        batch = s.merge(stale_b, load=False)
        service.update(s, as_user(s, world.qa_a), batch, expected_version=1, reason="b", site="B")
    with db.session_scope(engine, write=False) as s:
        final = s.get(Batch, batch_id)
        assert final is not None and (final.site, final.version) == ("A", 2)
        assert len(audit_entries(s, table_name="batches", record_id=batch_id)) == 2


def test_agent_spec_versions_are_immutable_with_a_current_pointer(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        agent = service.create_agent(s, sci, world.project_a, name="Cdot", spec=SPEC, description="C dot")
        v1 = service.current_agent_version(s, sci, agent.id)
        assert (v1.number, agent.current_version_number) == (1, 1)
        changed = {**SPEC, "core": {"material": "silica", "diameter_nm": 7.0}}
        with pytest.raises(ValidationFailed, match="reason"):
            service.add_agent_version(s, sci, agent.id, changed, expected_version=agent.version, reason="")
        with pytest.raises(ValidationFailed, match="identical to the current version 1"):
            service.add_agent_version(s, sci, agent.id, SPEC, expected_version=agent.version, reason="same")
        v2 = service.add_agent_version(s, sci, agent.id, changed, expected_version=1, reason="bigger core")
        assert v2.number == 2 and agent.current_version_number == 2 and agent.version == 2
        assert v1.sha256 != v2.sha256 and len(v2.sha256) == 64
        with pytest.raises(Conflict):
            service.add_agent_version(s, sci, agent.id, SPEC, expected_version=1, reason="stale page")
        service.set_current_agent_version(s, sci, agent.id, 1, expected_version=2, reason="revert")
        assert service.current_agent_version(s, sci, agent.id).spec == SPEC
        assert [v.number for v in service.agent_versions(s, sci, agent.id)] == [1, 2]
        with pytest.raises(ValidationFailed, match="no version 9"):
            service.set_current_agent_version(s, sci, agent.id, 9, expected_version=3, reason="x")
        version_id = v1.id
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(
            text("UPDATE agent_spec_versions SET spec = '{}' WHERE id = :i"), {"i": version_id}
        )
    with db.session_scope(engine, write=False) as s:
        assert s.get(AgentSpecVersion, version_id).spec == SPEC  # type: ignore[union-attr]


def test_scenario_update_rehashes_the_spec(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        scenario = service.create_scenario(s, sci, world.project_a, name="mouse", spec={"species": "mouse"})
        old_hash = scenario.sha256
        service.update(
            s, sci, scenario, expected_version=1, reason="dose", spec={"species": "mouse", "dose": 1}
        )
        assert scenario.sha256 != old_hash and scenario.spec == {"species": "mouse", "dose": 1}
        with pytest.raises(ValidationFailed, match="sha256: cannot be changed on scenarios"):
            service.update(s, sci, scenario, expected_version=2, reason="x", sha256="0" * 64)


def test_simulation_run_life_cycle_and_results(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        agent = service.create_agent(s, sci, world.project_a, name="Cdot", spec=SPEC)
        version = service.current_agent_version(s, sci, agent.id)
        scenario = service.create_scenario(s, sci, world.project_a, name="mouse", spec={"species": "mouse"})
        run = service.submit_run(
            s, sci, agent_version_id=version.id, scenario_id=scenario.id, parameters={"duration_h": 168}
        )
        assert run.status == RunStatus.QUEUED and run.scenario_sha256 == scenario.sha256
        with pytest.raises(Conflict, match="is queued, not running"):
            service.set_run_progress(s, sci, run.id, 0.5)
        service.start_run(s, sci, run.id)
        service.set_run_progress(s, sci, run.id, 0.5)
        with pytest.raises(ValidationFailed, match="progress"):
            service.set_run_progress(s, sci, run.id, 1.5)
        result = service.add_run_result(
            s,
            sci,
            run.id,
            kind="biodistribution",
            summary={"DE24": 2.1, "DEmax": 3.0},
            data=b"subject,time_h,organ\n0,1,liver\n",
            file_name="bd.csv",
            media_type="text/csv",
        )
        service.finish_run(s, sci, run.id)
        assert (run.status, run.progress) == (RunStatus.DONE, 1.0)
        assert run.finished_at is not None and run.started_at is not None
        assert result.raw_file_id is not None
        assert service.read_raw_file(s, sci, result.raw_file_id).startswith(b"subject,")
        with pytest.raises(Conflict, match="is done; it cannot become running"):
            service.start_run(s, sci, run.id)
        failed = service.submit_run(s, sci, agent_version_id=version.id)
        service.fail_run(s, sci, failed.id, "solver diverged")
        assert failed.status == RunStatus.FAILED and failed.error == "solver diverged"
        actions = [e.action for e in reversed(service.history(s, sci, run))]
        assert actions == ["create", "update", "update"]  # progress ticks are not audited


def test_qc_decision_is_qa_only_and_sets_the_batch_status(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci, qa = as_user(s, world.scientist_a), as_user(s, world.qa_a)
        batch = service.create_batch(s, sci, world.project_a, lot_number="L-9")
        service.add_measurement(
            s, sci, batch.id, kind="dls_z_average", value=23.5, unit="nm", method="ISO 22412"
        )
        with pytest.raises(PermissionDenied, match="requires the project role qa"):
            service.record_qc_decision(s, sci, batch.id, outcome="release", rationale="meets spec")
        decision = service.record_qc_decision(s, qa, batch.id, outcome="release", rationale="meets spec")
        assert batch.status == BatchStatus.RELEASED and decision.created_by_id == world.qa_a
        with pytest.raises(ValidationFailed, match="qc_decisions records cannot be deleted"):
            service.soft_delete(s, qa, decision, expected_version=1, reason="oops")
        with pytest.raises(ValidationFailed, match="outcome: 'maybe' -> one of release, reject, hold"):
            service.record_qc_decision(s, qa, batch.id, outcome="maybe", rationale="?")
        history = service.history(s, qa, batch)
        assert history[0].action == "update" and history[0].new_values["status"] == "released"
        assert history[0].reason.startswith(f"QC decision {decision.id}")


def test_validation_names_field_value_and_what_is_allowed(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        batch = service.create_batch(s, sci, world.project_a, lot_number="L")
        cases = [
            (
                lambda: service.create_batch(s, sci, world.project_a, lot_number="  "),
                "lot_number: '  ' -> must not",
            ),
            (
                lambda: service.add_measurement(s, sci, batch.id, kind="size", value=float("nan")),
                "value: nan -> a finite number",
            ),
            (
                lambda: service.add_measurement(
                    s, sci, batch.id, kind="size", measured_at=datetime(2024, 1, 1)
                ),
                "measured_at: .* -> a timezone-aware datetime",
            ),
            (
                lambda: service.create_agent(s, sci, world.project_a, name="A", spec=[1, 2]),  # type: ignore[arg-type]
                "spec: list -> a JSON object",
            ),
            (
                lambda: service.create_agent(s, sci, world.project_a, name="A", spec={"x": float("inf")}),
                r"spec.x: inf -> a finite number",
            ),
            (
                lambda: service.create_document(
                    s, sci, world.project_a, title="T", kind="sop", status="lost"
                ),
                "status: 'lost' -> one of draft, final, superseded",
            ),
            (
                lambda: service.create_evidence_item(s, sci, world.project_a, category="tox", title="T\x00"),
                "title: .* control characters",
            ),
            (
                lambda: service.create_batch(s, sci, world.project_a, lot_number="L2", agent_id=999_999),
                "agent_id: 999999 -> no agents record 999999 in project",
            ),
            (
                lambda: service.update(s, sci, batch, expected_version=1, reason="r", status="released"),
                "status: cannot be changed on batches -> editable fields: agent_id, data, lot_number",
            ),
        ]
        for call, message in cases:
            with pytest.raises(ValidationFailed, match=message):
                call()
        assert s.scalar(select(func.count()).select_from(Measurement)) == 0


def test_users_and_memberships(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        admin, sci = as_user(s, world.admin_a), as_user(s, world.scientist_a)
        with pytest.raises(Conflict, match="already exists"):
            service.create_user(s, admin, email="SCI@a.org ", name="Dup", password="long enough pw")
        with pytest.raises(ValidationFailed, match="password: 5 characters -> at least 10"):
            service.create_user(s, admin, email="new@a.org", name="New", password="short")
        with pytest.raises(PermissionDenied):
            service.create_user(s, sci, email="new@a.org", name="New", password="long enough pw")
        new = service.create_user(
            s, admin, email="New@A.org", name="New", password="long enough pw", role="qa"
        )
        assert new.email == "new@a.org" and new.role == Role.QA
        with pytest.raises(PermissionDenied, match="requires the project role admin"):
            service.add_member(s, sci, world.project_a, new.id, Role.VIEWER)
        member = service.add_member(s, admin, world.project_a, new.id, Role.VIEWER)
        with pytest.raises(Conflict, match="already a member"):
            service.add_member(s, admin, world.project_a, new.id, Role.QA)
        service.soft_delete(s, admin, member, expected_version=1, reason="left the team")
        restored = service.add_member(s, admin, world.project_a, new.id, Role.QA, reason="back again")
        assert restored.id == member.id and restored.role == Role.QA and restored.deleted_at is None
        names = [user.email for _, user in service.list_members(s, sci, world.project_a)]
        assert "new@a.org" in names
        # The password hash never reaches the audit trail.
        created = service.history(s, admin, new)[-1]
        assert created.new_values["password_hash"] == "<redacted>"
        assert "argon2" not in str(created.new_values)
        # The last admin cannot lock the organization out.
        with pytest.raises(Conflict, match="last active admin"):
            service.update(s, admin, admin, expected_version=admin.version, reason="x", role="viewer")
        service.update(s, admin, new, expected_version=new.version, reason="left", is_active=False)
        assert s.get(User, new.id).is_active is False  # type: ignore[union-attr]


def test_set_password(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci, admin = as_user(s, world.scientist_a), as_user(s, world.admin_a)
        with pytest.raises(PermissionDenied, match="current password is wrong"):
            service.set_password(s, sci, sci.id, "a new password", current_password="wrong one!")
        service.set_password(s, sci, sci.id, "a new password", current_password="correct horse battery")
        service.set_password(s, admin, sci.id, "reset password", reason="forgotten")
        assert verify_password(sci.password_hash, "reset password")
        entries = service.history(s, admin, sci)
        assert [e.action for e in entries[:2]] == ["update", "update"]
        assert entries[0].new_values["password_hash"] == "<redacted>"


def test_listing_filters_and_pagination(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        for i in range(5):
            service.create_scenario(s, sci, world.project_a, name=f"s{i}", spec={"i": i})
        newest = service.list_records(s, sci, Scenario, world.project_a, newest_first=True, limit=2)
        assert [x.name for x in newest] == ["s4", "s3"]
        page = service.list_records(s, sci, Scenario, world.project_a, limit=2, offset=2)
        assert [x.name for x in page] == ["s2", "s3"]
        assert [x.name for x in service.list_records(s, sci, Scenario, world.project_a, name="s1")] == ["s1"]
        with pytest.raises(ValidationFailed, match="filter colour: unknown"):
            service.list_records(s, sci, Scenario, world.project_a, colour="red")
        assert service.list_records(s, sci, Agent, world.project_a) == []
        assert service.list_records(s, sci, SimulationRun, world.project_a) == []
        n_entries = s.scalar(select(func.count()).select_from(AuditEntry))
        assert n_entries is not None and n_entries > 5
