"""Settings of the web app, from arguments or the environment.

============================== ===================================================== ==================
variable                       meaning                                               default
============================== ===================================================== ==================
``NANOBRIDGE_DATABASE_URL``    SQLAlchemy URL of the database                        SQLite in the home
``NANOBRIDGE_HOME``            data directory (SQLite file, blobs, the secret key)   working directory
``NANOBRIDGE_SECRET_KEY``      key that signs session cookies (>= 32 characters)     generated, persisted
``NANOBRIDGE_SECURE_COOKIES``  ``1``: cookies only over HTTPS (``Secure``, HSTS)     ``0``
``NANOBRIDGE_SESSION_HOURS``   lifetime of a login session                           8
``NANOBRIDGE_MAX_UPLOAD_MB``   largest accepted file upload                          50
``NANOBRIDGE_JOB_WORKERS``     simulation jobs run at the same time (threads)        1
============================== ===================================================== ==================

Without ``NANOBRIDGE_SECRET_KEY`` a random key is generated on first start and kept in
``$NANOBRIDGE_HOME/.nanobridge-secret-key`` (permissions 0600), so sessions survive restarts and
every worker of one server shares it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nanobridge.store.db import DATABASE_URL_ENV, nanobridge_home

__all__ = ["SECRET_FILE_NAME", "Settings", "load_or_create_secret"]

#: Name of the generated secret key file in the data directory.
SECRET_FILE_NAME = ".nanobridge-secret-key"
_MIN_SECRET_LENGTH = 32


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_number(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} -> a number is required") from None
    if number <= 0:
        raise ValueError(f"{name}: {value!r} -> a positive number is required")
    return number


def load_or_create_secret(home: Path) -> str:
    """The secret key kept in ``home`` (created with permissions 0600 on first use).

    Creation is atomic (``O_EXCL``): concurrent workers starting together end up with one key. A
    key file readable by others is tightened to 0600.
    """
    home.mkdir(parents=True, exist_ok=True)
    path = home / SECRET_FILE_NAME
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        existing = path.read_text(encoding="ascii").strip()
        if len(existing) < _MIN_SECRET_LENGTH:
            raise ValueError(
                f"{path}: the secret key is shorter than {_MIN_SECRET_LENGTH} characters; delete the file "
                "to generate a new one (this logs everybody out)"
            ) from None
        return existing
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
        handle.flush()
        with contextlib.suppress(OSError):
            os.fsync(handle.fileno())
    return key


@dataclass
class Settings:
    """Everything :func:`nanobridge.web.create_app` needs; :meth:`from_env` reads the environment.

    ``simulation_job`` replaces the simulation run by the job runner (tests use a fast stand-in);
    ``None`` runs the real bench-to-clinic assessment.
    """

    database_url: str | None = None
    home: Path | None = None
    secret_key: str | None = None
    secure_cookies: bool = False
    session_lifetime_s: int = 8 * 3600
    max_upload_bytes: int = 50 * 1024 * 1024
    max_body_bytes: int = 2 * 1024 * 1024
    job_workers: int = 1
    recover_jobs: bool = True
    login_window_s: float = 15 * 60
    login_max_failures_per_account: int = 5
    login_max_failures_per_ip: int = 20
    simulation_job: Callable[..., Any] | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Settings from the ``NANOBRIDGE_*`` environment variables, then ``overrides``."""
        values: dict[str, Any] = {
            "database_url": os.environ.get(DATABASE_URL_ENV) or None,
            "home": nanobridge_home(),
            "secret_key": os.environ.get("NANOBRIDGE_SECRET_KEY") or None,
            "secure_cookies": _env_bool("NANOBRIDGE_SECURE_COOKIES", False),
            "session_lifetime_s": int(_env_number("NANOBRIDGE_SESSION_HOURS", 8) * 3600),
            "max_upload_bytes": int(_env_number("NANOBRIDGE_MAX_UPLOAD_MB", 50) * 1024 * 1024),
            "job_workers": int(_env_number("NANOBRIDGE_JOB_WORKERS", 1)),
        }
        values.update(overrides)
        return cls(**values)

    def data_home(self) -> Path:
        """The data directory (``home`` or ``$NANOBRIDGE_HOME`` or the working directory)."""
        return self.home if self.home is not None else nanobridge_home()

    def resolved_secret(self) -> str:
        """The session signing key: ``secret_key`` or the persisted generated one."""
        if self.secret_key:
            if len(self.secret_key) < _MIN_SECRET_LENGTH:
                raise ValueError(
                    f"NANOBRIDGE_SECRET_KEY: {len(self.secret_key)} characters -> at least "
                    f"{_MIN_SECRET_LENGTH} are required (e.g. python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))')"
                )
            return self.secret_key
        return load_or_create_secret(self.data_home())
