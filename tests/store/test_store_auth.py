"""Authentication, roles and project isolation between organizations."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine
from store_helpers import PASSWORD, SPEC, World, as_user

from nanobridge.store import auth, db, service
from nanobridge.store.errors import (
    HTTP_STATUS,
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from nanobridge.store.models import Agent, Batch, Organization, Project, Role, User


def test_default_hasher_is_argon2id() -> None:
    hashed = PasswordHasher().hash("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert auth.verify_password(auth.hash_password("correct horse battery"), "correct horse battery")
    assert not auth.verify_password(auth.hash_password("correct horse battery"), "wrong horse battery")
    assert not auth.verify_password("not a hash", "whatever")


def test_authenticate(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        assert auth.authenticate(s, "  SCI@A.org", PASSWORD).id == world.scientist_a
        for email, password in (("sci@a.org", "wrong password"), ("nobody@a.org", PASSWORD), ("", "")):
            with pytest.raises(AuthenticationFailed, match=r"^wrong email or password$"):
                auth.authenticate(s, email, password)
        admin = as_user(s, world.admin_a)
        viewer = as_user(s, world.viewer_a)
        service.update(s, admin, viewer, expected_version=viewer.version, reason="left", is_active=False)
        with pytest.raises(AuthenticationFailed):
            auth.authenticate(s, "viewer@a.org", PASSWORD)
        with pytest.raises(PermissionDenied, match="deactivated"):
            service.get(s, viewer, Project, world.project_a)
        with pytest.raises(AuthenticationFailed, match="log in again"):
            auth.active_user(s, viewer.id)
        assert auth.active_user(s, world.admin_a).email == "admin@a.org"
        emails = [u.email for u in service.list_users(s, admin)]
        assert "viewer@a.org" not in emails and "sci@a.org" in emails and "sci@b.org" not in emails
        assert "viewer@a.org" in [u.email for u in service.list_users(s, admin, include_inactive=True)]


def test_require_role() -> None:
    admin = User(email="a@x", name="A", role=Role.ADMIN, is_active=True)
    qa = User(email="q@x", name="Q", role=Role.QA, is_active=True)
    auth.require_role(admin, Role.VIEWER)
    auth.require_role(admin)
    auth.require_role(qa, Role.QA, Role.SCIENTIST)
    with pytest.raises(PermissionDenied, match="requires the role admin; q@x is qa"):
        auth.require_role(qa)
    with pytest.raises(PermissionDenied, match="requires the role scientist; q@x is qa"):
        auth.require_role(qa, "scientist")
    assert HTTP_STATUS[PermissionDenied] == 403 and HTTP_STATUS[NotFound] == 404


def test_organizations_cannot_see_each_other(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci_a, sci_b, admin_b = (as_user(s, i) for i in (world.scientist_a, world.scientist_b, world.admin_b))
        agent = service.create_agent(s, sci_a, world.project_a, name="Cdot", spec=SPEC)
        batch = service.create_batch(s, sci_a, world.project_a, lot_number="L-1")
        assert [p.id for p in service.list_projects(s, sci_b)] == [world.project_b]
        assert [p.id for p in service.list_projects(s, admin_b)] == [world.project_b]
        # Another organization's records are "not found", never "forbidden" (no existence leak).
        for user in (sci_b, admin_b):
            with pytest.raises(NotFound, match=f"project {world.project_a} not found"):
                service.get(s, user, Project, world.project_a)
            with pytest.raises(NotFound, match=f"agents {agent.id} not found"):
                service.get(s, user, Agent, agent.id)
            with pytest.raises(NotFound):
                service.list_records(s, user, Batch, world.project_a)
            with pytest.raises(NotFound):
                service.create_batch(s, user, world.project_a, lot_number="intruder")
            with pytest.raises(NotFound):
                service.update(s, user, batch, expected_version=1, reason="x", site="y")
            with pytest.raises(NotFound):
                service.get(s, user, Organization, world.org_a)
            with pytest.raises(NotFound):
                service.get(s, user, User, world.scientist_a)
            assert all(e.organization_id != world.org_a for e in service.audit_trail(s, user))
        with pytest.raises(NotFound):
            service.add_member(s, admin_b, world.project_b, world.scientist_a, Role.VIEWER)
        with pytest.raises(PermissionDenied, match="admins create users in their own organization"):
            service.create_user(
                s, admin_b, email="x@b.org", name="X", password=PASSWORD, organization_id=world.org_a
            )


def test_project_membership_and_roles(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        outsider, viewer, sci, admin = (
            as_user(s, i) for i in (world.outsider_a, world.viewer_a, world.scientist_a, world.admin_a)
        )
        with pytest.raises(PermissionDenied, match=r"outsider@a\.org is not a member of project"):
            service.get(s, outsider, Project, world.project_a)
        assert service.list_projects(s, outsider) == []
        assert auth.project_role(s, admin, s.get(Project, world.project_a)) == Role.ADMIN  # type: ignore[arg-type]
        assert auth.project_role(s, viewer, s.get(Project, world.project_a)) == Role.VIEWER  # type: ignore[arg-type]
        batch = service.create_batch(s, sci, world.project_a, lot_number="L-1")
        assert service.get(s, viewer, Batch, batch.id).lot_number == "L-1"  # viewers read ...
        with pytest.raises(PermissionDenied, match=r"role scientist or qa; viewer@a\.org"):
            service.create_batch(s, viewer, world.project_a, lot_number="L-2")  # ... but do not write
        with pytest.raises(PermissionDenied):
            service.update(s, viewer, batch, expected_version=1, reason="x", site="y")
        with pytest.raises(PermissionDenied):
            service.create_project(s, viewer, "Viewer's project")
        # Organization admins see every project of their organization without membership.
        assert {p.id for p in service.list_projects(s, admin)} == {world.project_a}
        project = service.create_project(s, outsider, "Outsider's own")
        assert [p.id for p in service.list_projects(s, outsider)] == [project.id]
        with pytest.raises(PermissionDenied):
            service.create_organization(s, admin, "New org")
        trail = service.audit_trail(s, viewer)
        assert trail and {e.project_id for e in trail} == {world.project_a}
        assert len(service.audit_trail(s, admin)) > len(trail)


def test_deleted_project_disappears(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        admin, sci = as_user(s, world.admin_a), as_user(s, world.scientist_a)
        project = service.get(s, admin, Project, world.project_a)
        service.soft_delete(s, admin, project, expected_version=project.version, reason="closed")
        assert service.list_projects(s, sci) == []
        with pytest.raises(NotFound, match="was deleted"):
            service.create_batch(s, sci, world.project_a, lot_number="L")


def test_email_must_look_like_an_address() -> None:
    with pytest.raises(ValidationFailed, match="email: 'no-at-sign' -> an address like"):
        auth.normalize_email("no-at-sign")
    assert auth.normalize_email(" Ada@Lab.ORG ") == "ada@lab.org"
