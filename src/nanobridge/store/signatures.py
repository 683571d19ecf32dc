"""Electronic signatures in the spirit of 21 CFR Part 11 (§11.50, §11.70, §11.200).

A signature

* re-checks the signer's password at the moment of signing (Argon2 verification), even inside a
  logged-in session (§11.200(a)(1));
* records the signer, the printed name at signing time, the meaning (authored, reviewed,
  approved, released) and the UTC time (§11.50);
* is bound to its record (§11.70): it stores the SHA-256 of the canonical JSON of the exact
  record version it signs (every column, including ``version`` and ``deleted_at``). Any later
  change to the record makes :func:`verify_signature` fail; a new version needs a new signature;
* is itself protected: ``signature_hash`` covers all its fields, rows are immutable (database
  triggers reject UPDATE and DELETE), and each signing is an audit entry on the signed record
  (action ``sign``).

Who may sign: ``authored`` and ``reviewed`` need the project role scientist or qa, ``approved``
and ``released`` need qa (admins always may). Nobody signs the same record version twice with
the same meaning.

Show signatures wherever the record is shown: :func:`signature_status` returns each signature of
a record with its verification result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nanobridge.store import auth
from nanobridge.store.audit import AuditAction, append_entry
from nanobridge.store.canonical import canonical_json, isoformat_utc, sha256_hex, utcnow
from nanobridge.store.errors import AuthenticationFailed, Conflict, NotFound, ValidationFailed
from nanobridge.store.models import PROJECT_MODELS, Base, Project, Role, Signature, SignatureMeaning, User
from nanobridge.store.service import record_values

__all__ = [
    "SIGNING_ROLES",
    "SignatureCheck",
    "compute_signature_hash",
    "record_digest",
    "sign",
    "signature_status",
    "signatures_for",
    "verify_signature",
]

#: Project roles allowed to sign with each meaning (admin always may).
SIGNING_ROLES: dict[SignatureMeaning, tuple[Role, ...]] = {
    SignatureMeaning.AUTHORED: (Role.SCIENTIST, Role.QA),
    SignatureMeaning.REVIEWED: (Role.SCIENTIST, Role.QA),
    SignatureMeaning.APPROVED: (Role.QA,),
    SignatureMeaning.RELEASED: (Role.QA,),
}


def record_digest(record: Base) -> str:
    """SHA-256 of the canonical JSON of the record's table name and every column value."""
    return sha256_hex(
        canonical_json({"table": record.__tablename__, "values": record_values(record, redact=False)})
    )


def _signature_fields(signature: Signature) -> dict[str, Any]:
    return {
        "project_id": signature.project_id,
        "table_name": signature.table_name,
        "record_id": signature.record_id,
        "record_version": signature.record_version,
        "record_sha256": signature.record_sha256,
        "signer_id": signature.signer_id,
        "printed_name": signature.printed_name,
        "meaning": str(signature.meaning),
        "comment": signature.comment,
        "signed_at": isoformat_utc(signature.signed_at),
    }


def compute_signature_hash(signature: Signature) -> str:
    """SHA-256 over every field of the signature (what ``signature_hash`` must equal)."""
    return sha256_hex(canonical_json(_signature_fields(signature)))


def _signable(record: Base) -> int:
    if record.__tablename__ not in PROJECT_MODELS or not isinstance(getattr(record, "id", None), int):
        signable = ", ".join(sorted(PROJECT_MODELS))
        raise ValidationFailed(f"record: {record.__tablename__} cannot be signed -> one of {signable}")
    project_id: int = record.project_id  # type: ignore[attr-defined]
    return project_id


def sign(
    session: Session,
    user: User,
    password: str,
    record: Base,
    meaning: SignatureMeaning | str,
    *,
    comment: str = "",
) -> Signature:
    """Sign ``record`` as ``user`` with ``meaning`` after re-checking ``password``; audited.

    Raises :class:`AuthenticationFailed` for a wrong password (nothing is recorded),
    :class:`PermissionDenied`/:class:`NotFound` without the project role for ``meaning``,
    :class:`ValidationFailed` for an unsignable or deleted record or a bad meaning and
    :class:`Conflict` when the user already signed this version with this meaning.
    """
    project_id = _signable(record)
    try:
        meaning_value = SignatureMeaning(meaning)
    except ValueError:
        allowed = ", ".join(m.value for m in SignatureMeaning)
        raise ValidationFailed(f"meaning: {meaning!r} -> one of {allowed}") from None
    auth.require_project_access(session, user, project_id, *SIGNING_ROLES[meaning_value])
    if not auth.verify_password(user.password_hash, password):
        raise AuthenticationFailed("password check failed: the signature was not recorded")
    if getattr(record, "deleted_at", None) is not None:
        raise ValidationFailed(f"record: {record.__tablename__} {record.id} is deleted -> cannot be signed")  # type: ignore[attr-defined]
    if not isinstance(comment, str) or len(comment) > 2000:
        raise ValidationFailed("comment: at most 2000 characters of text")
    session.flush()
    session.refresh(record)  # hash exactly what the database holds
    digest = record_digest(record)
    record_id: int = record.id  # type: ignore[attr-defined]
    duplicate = session.scalar(
        select(Signature.id).where(
            Signature.table_name == record.__tablename__,
            Signature.record_id == record_id,
            Signature.record_sha256 == digest,
            Signature.signer_id == user.id,
            Signature.meaning == meaning_value,
        )
    )
    if duplicate is not None:
        raise Conflict(
            f"{user.email} already signed this version of {record.__tablename__} {record_id} "
            f"as {meaning_value} (signature {duplicate})"
        )
    signature = Signature(
        project_id=project_id,
        table_name=record.__tablename__,
        record_id=record_id,
        record_version=getattr(record, "version", None),
        record_sha256=digest,
        signer_id=user.id,
        printed_name=user.name,
        meaning=meaning_value,
        comment=comment.strip(),
        signed_at=utcnow(),
    )
    signature.signature_hash = compute_signature_hash(signature)
    session.add(signature)
    session.flush()
    project = session.get(Project, project_id)
    append_entry(
        session,
        user=user,
        action=AuditAction.SIGN,
        table_name=record.__tablename__,
        record_id=record_id,
        new_values={"signature_id": signature.id, **_signature_fields(signature)},
        reason=signature.comment or f"signed as {meaning_value}",
        organization_id=project.organization_id if project is not None else None,
        project_id=project_id,
    )
    return signature


def signatures_for(session: Session, record: Base) -> list[Signature]:
    """Every signature of ``record`` (all its versions), oldest first.

    No access check here: call it for a record obtained through :func:`nanobridge.store.service.get`.
    """
    record_id = getattr(record, "id", None)
    if record_id is None:
        raise NotFound(f"{record.__tablename__} record has no id (not saved yet)")
    return list(
        session.scalars(
            select(Signature)
            .where(Signature.table_name == record.__tablename__, Signature.record_id == record_id)
            .order_by(Signature.signed_at, Signature.id)
        )
    )


@dataclass(frozen=True)
class SignatureCheck:
    """Result of :func:`verify_signature`: ``valid`` and a sentence saying why."""

    valid: bool
    reason: str

    def __bool__(self) -> bool:
        return self.valid


def verify_signature(signature: Signature, record: Base) -> SignatureCheck:
    """Check that ``signature`` belongs to ``record`` as it is now and is itself unaltered.

    Fails when the record changed after signing (any column, including a soft delete), when the
    signature belongs to another record, or when the signature row was tampered with.
    """
    record_id = getattr(record, "id", None)
    if signature.table_name != record.__tablename__ or signature.record_id != record_id:
        return SignatureCheck(
            False,
            f"signature {signature.id} belongs to {signature.table_name} {signature.record_id}, "
            f"not {record.__tablename__} {record_id}",
        )
    if compute_signature_hash(signature) != signature.signature_hash:
        return SignatureCheck(False, f"signature {signature.id} was altered after it was recorded")
    if record_digest(record) != signature.record_sha256:
        now = getattr(record, "version", None)
        return SignatureCheck(
            False,
            f"{record.__tablename__} {record_id} changed after it was signed "
            f"(signed version {signature.record_version}, now version {now})",
        )
    return SignatureCheck(
        True,
        f"{signature.meaning} by {signature.printed_name} at {isoformat_utc(signature.signed_at)}; "
        f"bound to version {signature.record_version} (sha256 {signature.record_sha256[:12]}...)",
    )


def signature_status(session: Session, record: Base) -> list[tuple[Signature, SignatureCheck]]:
    """Each signature of ``record`` with its verification against the record as it is now."""
    return [(signature, verify_signature(signature, record)) for signature in signatures_for(session, record)]
