"""Shared helpers of the web tests: the test world, logged-in clients, a fast stand-in job."""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI

with warnings.catch_warnings():  # starlette suggests httpx2; httpx is what the project uses
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from nanobridge.store import db, service
from nanobridge.store.models import Role, User
from nanobridge.web.jobs import BIODISTRIBUTION_RESULT, FIGURES_RESULT, JobContext

PASSWORD = "correct horse battery"
#: ``make_app(url=None, **settings) -> (app, started TestClient)`` (the ``make_app`` fixture).
AppFactory = Callable[..., "tuple[FastAPI, TestClient]"]
SECRET = "test-secret-key-" + "x" * 40
EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "nanobridge" / "data" / "examples"
POSTGRES_URL = os.environ.get(
    "NANOBRIDGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def agent_spec(name: str = "cdot_pet_optical") -> dict[str, Any]:
    """A packaged example agent spec as a mapping."""
    data: dict[str, Any] = yaml.safe_load((EXAMPLES / "agents" / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def scenario_spec(name: str = "mouse_tumor") -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        (EXAMPLES / "scenarios" / f"{name}.yaml").read_text(encoding="utf-8")
    )
    return data


FAKE_FIGURE = {
    "data": [{"type": "scatter", "x": [0, 1, 2], "y": [100, 60, 30], "name": "blood"}],
    "layout": {"title": {"text": "Amount by organ [%ID]"}},
}


def fake_job(ctx: JobContext) -> None:
    """A fast stand-in for the simulation: progress, a figure and metrics."""
    agent, scenario = ctx.load()
    ctx.progress(0.5)
    if agent.get("description") == "FAIL":
        raise RuntimeError("the stand-in job was asked to fail")
    ctx.store_result(
        BIODISTRIBUTION_RESULT,
        {"metrics": {"DE24": {"value": 1.5, "unit": "%ID", "label": "DE24"}}, "species": scenario["species"]},
    )
    ctx.store_result(
        FIGURES_RESULT,
        {"figures": {"organs_amount": "Amount by organ [%ID]"}},
        json.dumps({"organs_amount": FAKE_FIGURE}).encode(),
        file_name=f"run{ctx.run_id}_figures.json",
        media_type="application/json",
    )


class Api:
    """A test client of one user (own cookie jar) that sends the CSRF header on writes."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""

    def refresh_csrf(self) -> str:
        self.csrf = self.client.get("/api/auth/csrf").json()["csrf_token"]
        return self.csrf

    def login(self, email: str, password: str = PASSWORD) -> Any:
        self.refresh_csrf()
        response = self.client.post(
            "/api/auth/login",
            json={"email": email, "password": password},
            headers={"X-CSRF-Token": self.csrf},
        )
        if response.status_code == 200:
            self.csrf = response.json()["csrf_token"]
        return response

    def request(self, method: str, url: str, *, csrf: bool = True, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}) or {})
        if csrf and method.upper() not in ("GET", "HEAD", "OPTIONS"):
            headers.setdefault("X-CSRF-Token", self.csrf)
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Any:
        return self.request("PATCH", url, **kwargs)


@dataclass
class World:
    """Two organizations. A: admin, scientist, qa, viewer (members of project A) and an outsider
    (scientist of A, member of no project); B: admin and scientist with project B. Project A holds
    an agent, a scenario, a batch with a measurement and a raw file, and a finished run."""

    app: FastAPI
    main: TestClient
    ids: dict[str, int] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    _clients: dict[str, Api] = field(default_factory=dict)

    def api(self, who: str | None) -> Api:
        """A logged-in client of ``who`` (``None``: anonymous with a CSRF token), cached."""
        key = who or "anonymous"
        if key not in self._clients:
            api = Api(TestClient(self.app))
            if who is None:
                api.refresh_csrf()
            else:
                response = api.login(self.emails[who])
                assert response.status_code == 200, response.text
            self._clients[key] = api
        return self._clients[key]

    def fresh(self, who: str | None = None) -> Api:
        """A new, uncached client (its own session)."""
        api = Api(TestClient(self.app))
        if who is None:
            api.refresh_csrf()
        else:
            assert api.login(self.emails[who]).status_code == 200
        return api

    @property
    def engine(self) -> Any:
        return self.app.state.nb.engine

    def wait_run(self, run_id: int) -> None:
        self.app.state.nb.jobs.wait(run_id, timeout=60)


def build_world(app: FastAPI, main: TestClient) -> World:
    """Create the users, projects and records of :class:`World`."""
    world = World(app=app, main=main)
    engine = app.state.nb.engine
    with db.session_scope(engine) as s:
        admin_a = service.bootstrap_admin(
            s, email="admin@a.org", name="Ada Admin", password=PASSWORD, organization="A"
        )
        admin_b = service.bootstrap_admin(
            s, email="admin@b.org", name="Bob Admin", password=PASSWORD, organization="B"
        )

        def user(admin: User, email: str, role: Role) -> User:
            return service.create_user(
                s, admin, email=email, name=email.split("@")[0].title(), password=PASSWORD, role=role
            )

        users = {
            "admin_a": admin_a,
            "scientist": user(admin_a, "sci@a.org", Role.SCIENTIST),
            "qa": user(admin_a, "qa@a.org", Role.QA),
            "viewer": user(admin_a, "viewer@a.org", Role.VIEWER),
            "outsider": user(admin_a, "outsider@a.org", Role.SCIENTIST),
            "spare": user(admin_a, "spare@a.org", Role.VIEWER),
            "admin_b": admin_b,
            "scientist_b": user(admin_b, "sci@b.org", Role.SCIENTIST),
        }
        project_a = service.create_project(s, admin_a, "C dots", "ultrasmall silica")
        for who, role in (("scientist", Role.SCIENTIST), ("qa", Role.QA), ("viewer", Role.VIEWER)):
            service.add_member(s, admin_a, project_a.id, users[who].id, role)
        project_b = service.create_project(s, users["scientist_b"], "Gold rods")
        world.ids.update({f"{k}_id": u.id for k, u in users.items()})
        world.emails.update({k: u.email for k, u in users.items()})
        world.ids["project_a"] = project_a.id
        world.ids["project_b"] = project_b.id
        world.ids["version_number"] = 1
    # records of project A through the API, as the scientist
    sci = world.api("scientist")
    pid = world.ids["project_a"]
    agent = sci.post(f"/api/projects/{pid}/agents", json={"spec": agent_spec()}).json()
    world.ids["agent"] = agent["id"]
    world.ids["agent_version"] = agent["current"]["id"]
    world.ids["scenario"] = sci.post(f"/api/projects/{pid}/scenarios", json={"spec": scenario_spec()}).json()[
        "id"
    ]
    batch = sci.post(
        f"/api/projects/{pid}/batches", json={"lot_number": "LOT-1", "agent_id": agent["id"]}
    ).json()
    world.ids["batch"] = batch["id"]
    upload = sci.post(
        f"/api/projects/{pid}/files", files={"file": ("dls.csv", b"size_nm,intensity\n6.1,0.8\n", "text/csv")}
    ).json()
    world.ids["file"] = upload["id"]
    world.ids["measurement"] = sci.post(
        f"/api/projects/{pid}/batches/{batch['id']}/measurements",
        json={"kind": "z_average", "value": 6.4, "unit": "nm", "method": "DLS", "raw_file_id": upload["id"]},
    ).json()["id"]
    run = sci.post(f"/api/projects/{pid}/runs", json={"agent_id": agent["id"], "duration_h": 24}).json()
    world.ids["run"] = run["id"]
    world.wait_run(run["id"])
    # a record of project B
    sci_b = world.api("scientist_b")
    pb = world.ids["project_b"]
    world.ids["agent_b"] = sci_b.post(
        f"/api/projects/{pb}/agents", json={"spec": agent_spec("gold_peg_100nm")}
    ).json()["id"]
    world.ids["batch_b"] = sci_b.post(f"/api/projects/{pb}/batches", json={"lot_number": "B-1"}).json()["id"]
    return world


@contextmanager
def empty_postgres_schema() -> Iterator[str]:
    """A new, empty schema in the test database (dropped afterwards); yields its URL."""
    schema = f"nbweb_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or ``None``."""
    try:
        probe = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
        probe.dispose()
        return None
    except Exception as exc:  # any connection problem
        return f"PostgreSQL unreachable: {str(exc).splitlines()[0]}"


def copy_template(template: Path, target: Path) -> str:
    """Copy a migrated SQLite template file; returns its URL."""
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"
