"""The store: database models, migrations, the audit chain, signatures and the service API.

The bottom layer of nanobridge: it knows nothing of the science. Agent and scenario specs are
stored as JSON that the caller has validated (with :mod:`nanobridge.domain`).

Modules:

* :mod:`~nanobridge.store.db` - engine (``NANOBRIDGE_DATABASE_URL`` or embedded SQLite),
  sessions, ``init_db`` (Alembic migrations run in code);
* :mod:`~nanobridge.store.models` - SQLAlchemy 2 models;
* :mod:`~nanobridge.store.service` - every read and write, with access control and audit;
* :mod:`~nanobridge.store.auth` - passwords, ``authenticate``, ``require_role``, project access;
* :mod:`~nanobridge.store.audit` - the append-only hash chain and ``verify_audit_chain``;
* :mod:`~nanobridge.store.signatures` - electronic signatures bound to record versions;
* :mod:`~nanobridge.store.blobs` - content-addressed file storage, checksummed on read;
* :mod:`~nanobridge.store.errors` - ``NotFound``, ``PermissionDenied``, ``Conflict``, ...

A minimal session::

    from nanobridge.store import db, service, signatures
    from nanobridge.store.models import Role

    engine = db.init_db()                       # create/upgrade the schema
    with db.session_scope(engine) as s:
        admin = service.bootstrap_admin(s, email="a@lab.org", name="Ada", password="...")
        project = service.create_project(s, admin, "C dots")
        agent = service.create_agent(s, admin, project.id, name="Cdot", spec={...})
        version = service.current_agent_version(s, admin, agent.id)
        signatures.sign(s, admin, "...", version, "authored")
"""

from __future__ import annotations

from nanobridge.store.audit import AuditVerification, verify_audit_chain
from nanobridge.store.auth import authenticate, require_project_access, require_role
from nanobridge.store.db import get_engine, init_db, session_scope
from nanobridge.store.errors import (
    AuthenticationFailed,
    ChecksumMismatch,
    Conflict,
    NotFound,
    PermissionDenied,
    StoreError,
    ValidationFailed,
)
from nanobridge.store.signatures import sign, signatures_for, verify_signature

__all__ = [
    "AuditVerification",
    "AuthenticationFailed",
    "ChecksumMismatch",
    "Conflict",
    "NotFound",
    "PermissionDenied",
    "StoreError",
    "ValidationFailed",
    "authenticate",
    "get_engine",
    "init_db",
    "require_project_access",
    "require_role",
    "session_scope",
    "sign",
    "signatures_for",
    "verify_audit_chain",
    "verify_signature",
]
