"""Typed errors of the store, for the web layer and the CLI to map to responses.

Every error carries a clear, user-facing message that names the record, the field or the role
involved. The web layer maps them to HTTP statuses (see :data:`HTTP_STATUS`); the CLI prints the
message and exits with code 2.
"""

from __future__ import annotations

__all__ = [
    "HTTP_STATUS",
    "AuthenticationFailed",
    "ChecksumMismatch",
    "Conflict",
    "NotFound",
    "PermissionDenied",
    "StoreError",
    "ValidationFailed",
]


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""

    @property
    def message(self) -> str:
        """The message, as shown to a user."""
        return str(self.args[0]) if self.args else self.__class__.__name__


class NotFound(StoreError, LookupError):
    """The record does not exist, is soft-deleted, or lies outside the user's organization.

    Records of another organization are reported as not found, so their existence is not revealed.
    """


class PermissionDenied(StoreError):
    """The user is known but their role does not allow the action."""


class AuthenticationFailed(StoreError):
    """Wrong email or password, or an inactive account (the message does not say which)."""


class Conflict(StoreError):
    """The record changed since it was read (stale ``expected_version``) or a unique value is taken."""


class ValidationFailed(StoreError, ValueError):
    """Bad input: the message names the field, the value and what is allowed."""


class ChecksumMismatch(StoreError):
    """Stored content no longer matches its recorded SHA-256 (corruption or tampering)."""


#: Suggested HTTP status of each error class, for the web layer.
HTTP_STATUS: dict[type[StoreError], int] = {
    NotFound: 404,
    PermissionDenied: 403,
    AuthenticationFailed: 401,
    Conflict: 409,
    ValidationFailed: 422,
    ChecksumMismatch: 500,
}
