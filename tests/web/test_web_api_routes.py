"""Every JSON API route: happy path, not logged in (401), forbidden role (403), another
organization (404), malformed input (422) and, for writes, a missing CSRF token (403).

The table :data:`ROUTES` lists each route once; ``test_every_route_is_covered`` fails when a
route of the app is missing from it (or from the auth routes tested in ``test_web_security``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from web_helpers import PASSWORD, World, agent_spec, scenario_spec

from nanobridge.store import db
from nanobridge.store.models import AuditChainHead
from nanobridge.web import api

Body = Callable[[World], Any]


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _new_batch(w: World) -> int:
    pid = w.ids["project_a"]
    response = w.api("scientist").post(f"/api/projects/{pid}/batches", json={"lot_number": _unique("L")})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _new_user(w: World) -> dict[str, Any]:
    response = w.api("admin_a").post(
        "/api/users", json={"email": f"{_unique('u')}@a.org", "name": "New User", "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _agent_version(w: World) -> dict[str, Any]:
    pid, aid = w.ids["project_a"], w.ids["agent"]
    version = w.api("scientist").get(f"/api/projects/{pid}/agents/{aid}").json()["version"]
    spec = agent_spec()
    spec["zeta_potential_mV"] = round(-3.0 - uuid.uuid4().int % 1000 / 100, 2)
    return {"spec": spec, "expected_version": version, "reason": "new zeta potential"}


@dataclass
class Route:
    """One API route: how to call it, who may, what it answers."""

    method: str
    path: str  # {pid} = project A, other {keys} from World.ids
    ok: int = 200
    who: str = "viewer"  # a user for the happy path
    denied: str | None = "outsider"  # a user of the same organization who gets 403
    body: Body | None = None
    project: bool = True  # under /api/projects/{pid}: another organization gets 404
    other_org: str | None = None  # for routes outside projects: a path another org's user gets 404 on
    malformed: Any = None  # a body giving 422 (default: an unknown field), or a path with a bad id
    files: Body | None = None
    params: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, w: World, path: str | None = None) -> str:
        return (path or self.path).format(pid=w.ids["project_a"], figure="organs_amount", **w.ids)

    def make_body(self, w: World) -> dict[str, Any]:
        """The request's payload: ``json`` or ``files`` keyword arguments (may create records)."""
        if self.files is not None:
            return {"files": self.files(w)}
        if self.body is not None:
            return {"json": self.body(w)}
        return {"json": {}} if self.method != "GET" else {}

    def call(
        self,
        w: World,
        who: str | None,
        *,
        csrf: bool = True,
        payload: dict[str, Any] | None = None,
        path: str | None = None,
    ) -> Any:
        api = w.api(who)
        kwargs: dict[str, Any] = {"csrf": csrf, **(payload if payload is not None else self.make_body(w))}
        if self.params:
            kwargs["params"] = self.params
        return api.request(self.method, self.url(w, path), **kwargs)


P = "/api/projects/{pid}"
ROUTES: list[Route] = [
    # users
    Route("GET", "/api/users", project=False, denied=None),
    Route(
        "POST",
        "/api/users",
        201,
        who="admin_a",
        denied="scientist",
        project=False,
        body=lambda w: {"email": f"{_unique('n')}@a.org", "name": "N", "password": PASSWORD},
        malformed={"email": "x@a.org", "name": "N", "password": "short"},
    ),
    Route(
        "GET",
        "/api/users/{scientist_id}",
        project=False,
        denied=None,
        other_org="/api/users/{scientist_b_id}",
    ),
    Route(
        "PATCH",
        "/api/users/{spare_id}",
        who="admin_a",
        denied="scientist",
        project=False,
        other_org="/api/users/{scientist_b_id}",
        body=lambda w: {
            "expected_version": w.api("admin_a").get(f"/api/users/{w.ids['spare_id']}").json()["version"],
            "reason": "rename",
            "name": _unique("Spare"),
        },
        malformed={"expected_version": 0, "reason": "x"},
    ),
    Route(
        "POST",
        "/api/users/{spare_id}/password",
        204,
        who="admin_a",
        denied="scientist",
        project=False,
        other_org="/api/users/{scientist_b_id}/password",
        body=lambda w: {"new_password": PASSWORD, "reason": "reset by admin"},
        malformed={"new_password": "short", "reason": "x"},
    ),
    # projects and members
    Route("GET", "/api/projects", project=False, denied=None),
    Route(
        "POST",
        "/api/projects",
        201,
        who="scientist",
        denied="viewer",
        project=False,
        body=lambda w: {"name": _unique("project")},
        malformed={"name": ""},
    ),
    Route("GET", P),
    Route("GET", P + "/members"),
    Route(
        "POST",
        P + "/members",
        201,
        who="admin_a",
        denied="scientist",
        body=lambda w: {"user_id": _new_user(w)["id"], "role": "viewer"},
        malformed={"user_id": "x", "role": "boss"},
    ),
    # agents
    Route("GET", P + "/agents"),
    Route(
        "POST",
        P + "/agents",
        201,
        who="scientist",
        denied="viewer",
        body=lambda w: {"spec": agent_spec()},
        malformed={"spec": {"core_diameter_nm": -1}},
    ),
    Route("POST", P + "/agents/validate", body=lambda w: {"spec": agent_spec()}, malformed={"spec": []}),
    Route("GET", P + "/agents/{agent}"),
    Route(
        "PATCH",
        P + "/agents/{agent}",
        who="scientist",
        denied="viewer",
        body=lambda w: {
            "expected_version": w.api("scientist")
            .get(f"/api/projects/{w.ids['project_a']}/agents/{w.ids['agent']}")
            .json()["version"],
            "reason": "clearer text",
            "description": _unique("desc"),
        },
        malformed={"expected_version": "one", "reason": "x"},
    ),
    Route("GET", P + "/agents/{agent}/versions"),
    Route(
        "POST",
        P + "/agents/{agent}/versions",
        201,
        who="scientist",
        denied="viewer",
        body=_agent_version,
        malformed={"spec": {"shape": "cube"}, "expected_version": 1, "reason": "x"},
    ),
    Route("GET", P + "/agents/{agent}/versions/{version_number}"),
    # scenarios
    Route("GET", P + "/scenarios"),
    Route(
        "POST",
        P + "/scenarios",
        201,
        who="scientist",
        denied="viewer",
        body=lambda w: {"spec": scenario_spec()},
        malformed={"spec": {"species": "dragon"}},
    ),
    Route("GET", P + "/scenarios/{scenario}"),
    # runs
    Route("GET", P + "/runs", params={"status": "done"}),
    Route(
        "POST",
        P + "/runs",
        202,
        who="scientist",
        denied="viewer",
        body=lambda w: {"agent_id": w.ids["agent"], "duration_h": 12},
        malformed={"agent_id": 1, "duration_h": 0},
    ),
    Route("GET", P + "/runs/{run}"),
    Route("GET", P + "/runs/{run}/figures"),
    Route("GET", P + "/runs/{run}/figures/{figure}"),
    # batches
    Route("GET", P + "/batches", params={"limit": 5}),
    Route(
        "POST",
        P + "/batches",
        201,
        who="scientist",
        denied="viewer",
        body=lambda w: {"lot_number": _unique("LOT"), "scale": "pilot"},
        malformed={"lot_number": "L", "manufactured_at": "2024-01-01T00:00:00"},
    ),
    Route("GET", P + "/batches/{batch}"),
    Route("GET", P + "/batches/{batch}/measurements"),
    Route(
        "POST",
        P + "/batches/{batch}/measurements",
        201,
        who="scientist",
        denied="viewer",
        body=lambda w: {"kind": "zeta", "value": -2.0, "unit": "mV"},
        malformed={"kind": "zeta", "value": "NaN"},
    ),
    Route("GET", P + "/batches/{batch}/decisions"),
    Route(
        "POST",
        P + "/batches/{batch}/decisions",
        201,
        who="qa",
        denied="scientist",
        body=lambda w: {"outcome": "hold", "rationale": "awaiting sterility", "password": PASSWORD},
        malformed={"outcome": "ship it", "rationale": "x", "password": PASSWORD},
    ),
    # files
    Route(
        "POST",
        P + "/files",
        201,
        who="scientist",
        denied="viewer",
        files=lambda w: {
            "file": (f"{_unique('f')}.csv", f"a,b\n1,{uuid.uuid4().int % 97}\n".encode(), "text/csv")
        },
        malformed="no-file",
    ),
    Route("GET", P + "/files"),
    Route("GET", P + "/files/{file}"),
    Route("GET", P + "/files/{file}/content"),
    # signatures
    Route("GET", P + "/signatures", params={"table_name": "batches", "record_id": 1}),
    Route(
        "POST",
        P + "/signatures",
        201,
        who="qa",
        denied="viewer",
        body=lambda w: {
            "table_name": "batches",
            "record_id": _new_batch(w),
            "meaning": "reviewed",
            "password": PASSWORD,
        },
        malformed={"table_name": "users", "record_id": 1, "meaning": "reviewed", "password": "x"},
    ),
    # audit
    Route("GET", "/api/audit", project=False, denied=None, params={"limit": 5}),
    Route("GET", "/api/audit/verify", who="admin_a", denied="scientist", project=False),
]
# these are covered by tests/web/test_web_security.py
AUTH_ROUTES = {
    "GET /api/health",
    "GET /api/auth/csrf",
    "POST /api/auth/login",
    "POST /api/auth/logout",
    "GET /api/auth/me",
    "POST /api/auth/password",
}


def _fix(route: Route, w: World) -> None:
    """Per-route adjustments that need world ids."""
    if route.path.endswith("/signatures") and route.method == "GET":
        route.params = {"table_name": "batches", "record_id": w.ids["batch"]}


def _audit_head(w: World) -> int:
    w.app.state.nb.jobs.wait_all(timeout=60)  # a run submitted by another test may still be auditing
    with db.session_scope(w.engine, write=False) as s:
        head = s.get(AuditChainHead, 1)
        assert head is not None
        return head.seq


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_route_is_covered() -> None:
    app_routes = {
        f"{method} {_shape(route.path)}"
        for route in api.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    table = {f"{r.method} {_shape(r.path)}" for r in ROUTES} | AUTH_ROUTES
    assert app_routes == table, (sorted(app_routes - table), sorted(table - app_routes))


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.id)
def test_happy_path(shared_world: World, route: Route) -> None:
    _fix(route, shared_world)
    response = route.call(shared_world, route.who)
    assert response.status_code == route.ok, response.text
    assert "$argon2" not in response.text and "password_hash" not in response.text


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.id)
def test_not_logged_in(shared_world: World, route: Route) -> None:
    _fix(route, shared_world)
    response = route.call(shared_world, None)
    assert response.status_code == 401, response.text


@pytest.mark.parametrize("route", [r for r in ROUTES if r.denied], ids=lambda r: r.id)
def test_forbidden_role(shared_world: World, route: Route) -> None:
    _fix(route, shared_world)
    payload = route.make_body(shared_world)
    shared_world.api(route.denied)  # log in before counting audit entries
    head = _audit_head(shared_world)
    response = route.call(shared_world, route.denied, payload=payload)
    assert response.status_code == 403, response.text
    assert _audit_head(shared_world) == head


@pytest.mark.parametrize("route", [r for r in ROUTES if r.project or r.other_org], ids=lambda r: r.id)
def test_other_organization_is_not_found(shared_world: World, route: Route) -> None:
    """A user of organization B on project A, or an admin of A on a user of B: 404."""
    _fix(route, shared_world)
    payload = route.make_body(shared_world)
    head = _audit_head(shared_world)
    who = "scientist_b" if route.project else route.who
    shared_world.api(who)
    head = _audit_head(shared_world)
    response = route.call(shared_world, who, path=route.other_org, payload=payload)
    assert response.status_code == 404, response.text
    assert _audit_head(shared_world) == head


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if "{agent}" in r.path or "{batch}" in r.path], ids=lambda r: r.id
)
def test_record_of_another_project_is_not_found(shared_world: World, route: Route) -> None:
    """A record id of project B under project A's path answers 404, even for A's admin."""
    _fix(route, shared_world)
    w = shared_world
    swapped = route.path.replace("{agent}", "{agent_b}").replace("{batch}", "{batch_b}")
    response = route.call(w, "admin_a", path=swapped)
    assert response.status_code == 404, response.text


def _bad_path(path: str) -> str | None:
    """The path with its last id placeholder replaced by text (a 422), if it has one."""
    names = re.findall(r"\{([^}]+)\}", path)
    if not names:
        return None
    last = names[-1] if names[-1] != "figure" else names[-2]
    return path.replace("{" + last + "}", "not-a-number")


def _malformed_targets() -> list[Route]:
    return [r for r in ROUTES if r.method != "GET" or _bad_path(r.path) or r.path == "/api/users"]


@pytest.mark.parametrize("route", _malformed_targets(), ids=lambda r: r.id)
def test_malformed_request(shared_world: World, route: Route) -> None:
    _fix(route, shared_world)
    w = shared_world
    api = w.api(route.who)
    if route.method == "GET":
        bad = _bad_path(route.path)
        if bad is not None:
            response = api.get(route.url(w, bad))
        else:
            response = api.get(route.url(w), params={"include_inactive": "maybe"})
        assert response.status_code == 422, response.text
        if route.params:
            wrong = {k: "not-valid" if not isinstance(v, str) else "x" * 100 for k, v in route.params.items()}
            assert api.get(route.url(w), params=wrong).status_code == 422
        return
    head = _audit_head(w)
    if route.files is not None:
        response = api.post(route.url(w), data={"nothing": "here"})
    else:
        body = route.malformed if route.malformed is not None else {"unexpected": 1}
        response = api.request(route.method, route.url(w), json=body)
    assert response.status_code == 422, response.text
    assert _audit_head(w) == head


@pytest.mark.parametrize("route", [r for r in ROUTES if r.method != "GET"], ids=lambda r: r.id)
def test_csrf_token_required(shared_world: World, route: Route) -> None:
    _fix(route, shared_world)
    payload = route.make_body(shared_world)
    shared_world.api(route.who)  # log in first: a login is itself audited
    head = _audit_head(shared_world)
    response = route.call(shared_world, route.who, csrf=False, payload=payload)
    assert response.status_code == 403, response.text
    assert "CSRF" in response.text
    wrong = shared_world.api(route.who).request(
        route.method, route.url(shared_world), headers={"X-CSRF-Token": "forged"}, **payload
    )
    assert wrong.status_code == 403
    assert _audit_head(shared_world) == head
