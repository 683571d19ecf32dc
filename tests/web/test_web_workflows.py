"""Behaviour behind the API routes: spec validation messages, simulation jobs, QC release with a
signature, optimistic locking, the audit trail; a subset also on PostgreSQL; one real simulation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_helpers import (
    PASSWORD,
    AppFactory,
    World,
    agent_spec,
    build_world,
    empty_postgres_schema,
    postgres_unavailable,
)

from nanobridge.store import auth, db, service, verify_audit_chain
from nanobridge.store.models import QCDecision, RunStatus, Signature, SimulationRun
from nanobridge.web.jobs import JobRunner


@pytest.fixture(params=["sqlite", "postgresql"])
def any_world(request: pytest.FixtureRequest, make_app: AppFactory) -> Iterator[World]:
    """The test world on SQLite and on PostgreSQL (a fresh schema, dropped afterwards)."""
    if request.param == "sqlite":
        app, client = make_app()
        yield build_world(app, client)
        return
    reason = postgres_unavailable()
    if reason is not None:
        pytest.skip(reason)
    with empty_postgres_schema() as url:
        app, client = make_app(url)
        yield build_world(app, client)
        client.__exit__(None, None, None)
        app.state.nb.engine.dispose()


def test_full_workflow_and_audit_chain(any_world: World) -> None:
    """Agent, new version, run, batch, measurement, release with a signature; the chain verifies."""
    w = any_world
    pid = w.ids["project_a"]
    sci, qa = w.api("scientist"), w.api("qa")
    agent = sci.get(f"/api/projects/{pid}/agents/{w.ids['agent']}").json()
    spec = agent_spec()
    spec["zeta_potential_mV"] = -4.0
    version = sci.post(
        f"/api/projects/{pid}/agents/{agent['id']}/versions",
        json={"spec": spec, "expected_version": agent["version"], "reason": "measured zeta"},
    )
    assert version.status_code == 201 and version.json()["number"] == 2
    run = sci.post(f"/api/projects/{pid}/runs", json={"agent_id": agent["id"], "species": "human"}).json()
    w.wait_run(run["id"])
    done = sci.get(f"/api/projects/{pid}/runs/{run['id']}").json()
    assert done["status"] == "done" and done["progress"] == 1.0
    assert done["parameters"]["agent_version_number"] == 2
    assert done["parameters"]["scenario"]["species"] == "human"
    assert {r["kind"] for r in done["results"]} == {"biodistribution", "figures"}
    batch = sci.post(f"/api/projects/{pid}/batches", json={"lot_number": "GMP-7", "scale": "GMP"}).json()
    m = sci.post(
        f"/api/projects/{pid}/batches/{batch['id']}/measurements",
        json={"kind": "z_average", "value": 6.6, "unit": "nm"},
    )
    assert m.status_code == 201
    decision = qa.post(
        f"/api/projects/{pid}/batches/{batch['id']}/decisions",
        json={"outcome": "release", "rationale": "meets specification", "password": PASSWORD},
    )
    assert decision.status_code == 201, decision.text
    body = decision.json()
    assert body["signatures"][0]["meaning"] == "released" and body["signatures"][0]["valid"]
    assert sci.get(f"/api/projects/{pid}/batches/{batch['id']}").json()["status"] == "released"
    trail = sci.get("/api/audit", params={"table_name": "qc_decisions", "record_id": body["id"]}).json()
    assert [e["action"] for e in trail["entries"]] == ["sign", "create"]
    verify = w.api("admin_a").get("/api/audit/verify").json()
    assert verify["ok"] and verify["entries"] > 20
    with db.session_scope(w.engine, write=False) as s:
        assert verify_audit_chain(s).ok


def test_spec_problems_name_their_fields(shared_world: World) -> None:
    w = shared_world
    pid = w.ids["project_a"]
    spec = agent_spec()
    spec["core_diameter_nm"] = "big"
    spec["labels"]["radionuclide"]["nuclide"] = "Unobtainium-999"
    spec["colour"] = "blue"
    response = w.api("scientist").post(f"/api/projects/{pid}/agents", json={"spec": spec})
    assert response.status_code == 422
    problems = response.json()["detail"]
    paths = {p["path"] for p in problems}
    assert {"core_diameter_nm", "labels.radionuclide.nuclide", "colour"} <= paths
    nuclide = next(p for p in problems if p["path"] == "labels.radionuclide.nuclide")
    assert nuclide["loc"] == ["body", "spec", "labels", "radionuclide", "nuclide"]
    assert "Unobtainium" in nuclide["value"] and nuclide["msg"]
    check = w.api("viewer").post(f"/api/projects/{pid}/agents/validate", json={"spec": spec}).json()
    assert check["valid"] is False and {p["path"] for p in check["problems"]} == paths
    ok = w.api("viewer").post(f"/api/projects/{pid}/agents/validate", json={"spec": agent_spec()}).json()
    assert ok["valid"] and ok["spec"]["core_material"] == "silica"


def test_scenario_validation_and_bad_species_for_run(shared_world: World) -> None:
    w = shared_world
    pid = w.ids["project_a"]
    sci = w.api("scientist")
    bad = sci.post(
        f"/api/projects/{pid}/scenarios", json={"spec": {"species": "dragon", "body_weight_kg": 1}}
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["path"] == "species"
    run = sci.post(f"/api/projects/{pid}/runs", json={"agent_id": w.ids["agent"], "species": "dragon"})
    assert run.status_code == 422
    other = sci.post(f"/api/projects/{pid}/runs", json={"agent_id": w.ids["agent"], "scenario_id": 999999})
    assert other.status_code == 404


def test_failed_job_is_recorded(world: World) -> None:
    pid = world.ids["project_a"]
    sci = world.api("scientist")
    spec = agent_spec()
    spec["description"] = "FAIL"
    agent = sci.post(f"/api/projects/{pid}/agents", json={"spec": spec}).json()
    run = sci.post(f"/api/projects/{pid}/runs", json={"agent_id": agent["id"]}).json()
    world.wait_run(run["id"])
    failed = sci.get(f"/api/projects/{pid}/runs/{run['id']}").json()
    assert failed["status"] == "failed" and "asked to fail" in failed["error"]
    assert failed["progress"] == 0.5
    assert sci.get(f"/api/projects/{pid}/runs/{run['id']}/figures/organs_amount").status_code == 404
    statuses = [
        e["new_values"]["status"]
        for e in sci.get(
            "/api/audit", params={"table_name": "simulation_runs", "record_id": run["id"]}
        ).json()["entries"]
        if e["action"] == "update"
    ]
    assert statuses == ["failed", "running"]


def test_jobs_are_recovered_after_a_restart(world: World, make_app: AppFactory) -> None:
    """A run left queued is executed by the next server; one left running is marked failed."""
    with db.session_scope(world.engine) as s:
        sci = auth.active_user(s, world.ids["scientist_id"])
        version = service.current_agent_version(s, sci, world.ids["agent"])
        scenario = {"species": "mouse", "body_weight_kg": 0.025, "dose_mg_per_kg": 1.0, "duration_h": 24}
        queued = service.submit_run(s, sci, agent_version_id=version.id, parameters={"scenario": scenario})
        running = service.submit_run(s, sci, agent_version_id=version.id, parameters={"scenario": scenario})
        s.flush()
        service.start_run(s, sci, running.id)
        ids = (queued.id, running.id)
    from web_helpers import fake_job

    runner = JobRunner(world.engine, Path(world.app.state.nb.blob_root), workers=1, job=fake_job)
    runner.recover()
    runner.wait(ids[0], timeout=30)
    runner.shutdown()
    with db.session_scope(world.engine, write=False) as s:
        first, second = s.get(SimulationRun, ids[0]), s.get(SimulationRun, ids[1])
        assert first is not None and second is not None
        assert first.status == RunStatus.DONE
        assert second.status == RunStatus.FAILED and "interrupted" in (second.error or "")


def _counts(world: World) -> tuple[int, int]:
    from sqlalchemy import func, select

    with db.session_scope(world.engine, write=False) as s:
        return (
            int(s.scalar(select(func.count()).select_from(QCDecision)) or 0),
            int(s.scalar(select(func.count()).select_from(Signature)) or 0),
        )


def test_release_with_wrong_password_records_nothing(world: World) -> None:
    pid, bid = world.ids["project_a"], world.ids["batch"]
    qa = world.api("qa")
    before = _counts(world)
    response = qa.post(
        f"/api/projects/{pid}/batches/{bid}/decisions",
        json={"outcome": "release", "rationale": "ok", "password": "not my password"},
    )
    assert response.status_code == 403 and "password" in response.json()["detail"]
    assert _counts(world) == before
    assert qa.get(f"/api/projects/{pid}/batches/{bid}").json()["status"] == "pending"
    for _ in range(4):  # wrong signing passwords count as failed logins: the account is throttled
        qa.post(
            f"/api/projects/{pid}/batches/{bid}/decisions",
            json={"outcome": "release", "rationale": "ok", "password": "not my password"},
        )
    throttled = qa.post(
        f"/api/projects/{pid}/batches/{bid}/decisions",
        json={"outcome": "release", "rationale": "ok", "password": PASSWORD},
    )
    assert throttled.status_code == 429


def test_scientist_cannot_release_and_stale_version_conflicts(shared_world: World) -> None:
    w = shared_world
    pid = w.ids["project_a"]
    batch = w.api("scientist").post(f"/api/projects/{pid}/batches", json={"lot_number": "STALE-1"}).json()
    denied = w.api("scientist").post(
        f"/api/projects/{pid}/batches/{batch['id']}/decisions",
        json={"outcome": "release", "rationale": "x", "password": PASSWORD},
    )
    assert denied.status_code == 403
    qa = w.api("qa")
    first = qa.post(
        f"/api/projects/{pid}/batches/{batch['id']}/decisions",
        json={
            "outcome": "hold",
            "rationale": "wait",
            "password": PASSWORD,
            "expected_batch_version": batch["version"],
        },
    )
    assert first.status_code == 201
    stale = qa.post(
        f"/api/projects/{pid}/batches/{batch['id']}/decisions",
        json={
            "outcome": "release",
            "rationale": "go",
            "password": PASSWORD,
            "expected_batch_version": batch["version"],
        },
    )
    assert stale.status_code == 409


def test_signatures_bind_and_duplicates_conflict(shared_world: World) -> None:
    w = shared_world
    pid = w.ids["project_a"]
    sci = w.api("scientist")
    agent = sci.post(f"/api/projects/{pid}/agents", json={"spec": agent_spec("iron_oxide_mri")}).json()
    body = {"table_name": "agents", "record_id": agent["id"], "meaning": "authored", "password": PASSWORD}
    signed = sci.post(f"/api/projects/{pid}/signatures", json=body)
    assert signed.status_code == 201 and signed.json()["valid"]
    assert sci.post(f"/api/projects/{pid}/signatures", json=body).status_code == 409
    approve = sci.post(f"/api/projects/{pid}/signatures", json={**body, "meaning": "approved"})
    assert approve.status_code == 403  # approvals need QA
    sci.patch(
        f"/api/projects/{pid}/agents/{agent['id']}",
        json={"expected_version": agent["version"], "reason": "rename", "name": "SPION v2"},
    )
    listed = sci.get(
        f"/api/projects/{pid}/signatures", params={"table_name": "agents", "record_id": agent["id"]}
    ).json()
    assert (
        len(listed) == 1
        and listed[0]["valid"] is False
        and "changed after it was signed" in listed[0]["check"]
    )
    project_wide = sci.get(f"/api/projects/{pid}/signatures").json()
    assert any(s["record_id"] == agent["id"] for s in project_wide)
    half = sci.get(f"/api/projects/{pid}/signatures", params={"table_name": "agents"})
    assert half.status_code == 422


def test_agent_update_needs_current_version(shared_world: World) -> None:
    w = shared_world
    pid = w.ids["project_a"]
    sci = w.api("scientist")
    agent = sci.post(f"/api/projects/{pid}/agents", json={"spec": agent_spec("gold_peg_100nm")}).json()
    ok = sci.patch(
        f"/api/projects/{pid}/agents/{agent['id']}",
        json={"expected_version": agent["version"], "reason": "typo", "description": "100 nm gold"},
    )
    assert ok.status_code == 200 and ok.json()["version"] == agent["version"] + 1
    stale = sci.patch(
        f"/api/projects/{pid}/agents/{agent['id']}",
        json={"expected_version": agent["version"], "reason": "typo", "description": "other"},
    )
    assert stale.status_code == 409
    same = sci.post(
        f"/api/projects/{pid}/agents/{agent['id']}/versions",
        json={
            "spec": agent_spec("gold_peg_100nm"),
            "expected_version": ok.json()["version"],
            "reason": "same",
        },
    )
    assert same.status_code == 422  # identical spec


def test_audit_paging_and_visibility(shared_world: World) -> None:
    w = shared_world
    admin = w.api("admin_a")
    first = admin.get("/api/audit", params={"limit": 5}).json()
    assert len(first["entries"]) == 5 and first["next_before_seq"] == first["entries"][-1]["seq"]
    second = admin.get("/api/audit", params={"limit": 5, "before_seq": first["next_before_seq"]}).json()
    assert max(e["seq"] for e in second["entries"]) < min(e["seq"] for e in first["entries"])
    outsider = w.api("outsider").get("/api/audit", params={"limit": 500}).json()["entries"]
    assert all(e["project_id"] is None or e["project_id"] != w.ids["project_a"] for e in outsider)
    b_view = w.api("scientist_b").get("/api/audit", params={"limit": 500}).json()["entries"]
    assert all(e["project_id"] != w.ids["project_a"] for e in b_view)
    assert (
        w.api("scientist_b").get("/api/audit", params={"project_id": w.ids["project_a"]}).status_code == 404
    )
    assert "$argon2" not in str(admin.get("/api/audit", params={"limit": 500}).json())


def test_batch_list_pages_and_filters(shared_world: World) -> None:
    w = shared_world
    pid = w.ids["project_a"]
    sci = w.api("scientist")
    for i in range(7):
        assert sci.post(f"/api/projects/{pid}/batches", json={"lot_number": f"PAGE-{i}"}).status_code == 201
    page = sci.get(f"/api/projects/{pid}/batches", params={"limit": 3, "offset": 0}).json()
    assert len(page["items"]) == 3 and page["total"] >= 8
    ids = [b["id"] for b in page["items"]]
    assert ids == sorted(ids, reverse=True)
    pending = sci.get(f"/api/projects/{pid}/batches", params={"status": "pending", "limit": 1000}).json()
    assert all(b["status"] == "pending" for b in pending["items"])
    dup = sci.post(f"/api/projects/{pid}/batches", json={"lot_number": "PAGE-0"})
    assert dup.status_code == 409


def test_members_and_users(shared_world: World) -> None:
    w = shared_world
    pid = w.ids["project_a"]
    admin = w.api("admin_a")
    members = admin.get(f"/api/projects/{pid}/members").json()
    assert {m["user_email"] for m in members} >= {"sci@a.org", "qa@a.org", "viewer@a.org"}
    again = admin.post(f"/api/projects/{pid}/members", json={"user_id": w.ids["scientist_id"], "role": "qa"})
    assert again.status_code == 409
    foreign = admin.post(
        f"/api/projects/{pid}/members", json={"user_id": w.ids["scientist_b_id"], "role": "qa"}
    )
    assert foreign.status_code == 404
    users = admin.get("/api/users", params={"include_inactive": True}).json()
    assert all("password" not in u for u in users)
    assert {u["organization_id"] for u in users} == {users[0]["organization_id"]}
    projects = w.api("viewer").get("/api/projects").json()
    assert [p["id"] for p in projects] == [pid] and projects[0]["my_role"] == "viewer"
    assert w.api("outsider").get("/api/projects").json() == []


def test_real_simulation_job(make_app: AppFactory) -> None:
    """The real assessment (PBPK, imaging, dosimetry) through the API: results and figures stored."""
    app, client = make_app(simulation_job=None)
    w = build_world(app, client)  # its run uses the real job too (24 h)
    pid = w.ids["project_a"]
    run = w.api("viewer").get(f"/api/projects/{pid}/runs/{w.ids['run']}").json()
    assert run["status"] == "done", run["error"]
    figures = w.api("viewer").get(f"/api/projects/{pid}/runs/{run['id']}/figures").json()
    assert {"organs_amount", "tumor", "clearance", "imaging_pet"} <= set(figures)
    fig: dict[str, Any] = (
        w.api("viewer").get(f"/api/projects/{pid}/runs/{run['id']}/figures/organs_amount").json()
    )
    assert fig["data"] and {t["name"] for t in fig["data"]} >= {"blood", "liver", "tumour"}
    summary = next(r for r in run["results"] if r["kind"] == "biodistribution")["summary"]
    assert summary["metrics"]["DE24"]["unit"] == "%ID" and summary["metrics"]["DE24"]["value"] > 0
    nc = next(r for r in run["results"] if r["kind"] == "biodistribution")["raw_file_id"]
    data = w.api("viewer").get(f"/api/projects/{pid}/files/{nc}/content")
    assert data.status_code == 200 and data.content.startswith(b"\x89HDF")
