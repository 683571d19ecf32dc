"""Content-addressed storage of file contents, checksummed on every read.

A file's bytes are stored once per distinct content, keyed by their SHA-256 (a
:class:`~nanobridge.store.models.Blob` row); each upload is a
:class:`~nanobridge.store.models.RawFile` row naming the blob, the original file name and media
type. Where the bytes live:

* up to :data:`INLINE_MAX_BYTES` (256 KiB): in the database (``blobs.content``), so small files
  are covered by database backups and transactions;
* larger: in the blob directory, ``<blob root>/ab/cdef0123...`` (first two hex digits as a
  sub-directory), written to a temporary file, fsynced and renamed into place, then made
  read-only. The blob root is ``$NANOBRIDGE_BLOB_DIR`` or ``$NANOBRIDGE_HOME/blobs``; with
  PostgreSQL and several app servers it must be a shared directory, and backups must include it.

Reading recomputes the SHA-256 and the size and raises
:class:`~nanobridge.store.errors.ChecksumMismatch` when they differ from the record (bit rot,
tampering, a missing file). Writing a content that is already stored checks the existing copy
and repairs a damaged blob file.

A file written by a transaction that is then rolled back stays in the blob directory unused; it
is harmless (content-addressed) and not yet garbage-collected.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nanobridge.store.canonical import sha256_hex
from nanobridge.store.db import nanobridge_home
from nanobridge.store.errors import ChecksumMismatch, NotFound
from nanobridge.store.models import Blob

__all__ = ["BLOB_DIR_ENV", "INLINE_MAX_BYTES", "blob_path", "blob_root", "put_blob", "read_blob"]

#: Environment variable overriding the blob directory.
BLOB_DIR_ENV = "NANOBRIDGE_BLOB_DIR"
#: Contents up to this size are stored in the database, larger ones as files.
INLINE_MAX_BYTES = 256 * 1024


def blob_root() -> Path:
    """The blob directory: ``$NANOBRIDGE_BLOB_DIR`` or ``$NANOBRIDGE_HOME/blobs``."""
    value = os.environ.get(BLOB_DIR_ENV)
    return Path(value).expanduser() if value else nanobridge_home() / "blobs"


def blob_path(root: Path, sha256: str) -> Path:
    """Where the blob file of ``sha256`` lives under ``root``."""
    return root / sha256[:2] / sha256[2:]


def _file_intact(path: Path, sha256: str, size: int) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return len(data) == size and sha256_hex(data) == sha256


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o444)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def put_blob(
    session: Session, data: bytes, *, root: Path | None = None, inline_max_bytes: int = INLINE_MAX_BYTES
) -> Blob:
    """Store ``data`` (if not already stored) and return its :class:`Blob` row."""
    sha256 = sha256_hex(data)
    root = root if root is not None else blob_root()
    blob = session.get(Blob, sha256)
    if blob is None:
        if len(data) <= inline_max_bytes:
            blob = Blob(sha256=sha256, size_bytes=len(data), storage="db", content=data)
        else:
            _write_file(blob_path(root, sha256), data)
            blob = Blob(sha256=sha256, size_bytes=len(data), storage="file", content=None)
        try:
            with session.begin_nested():
                session.add(blob)
        except IntegrityError:  # a concurrent transaction stored the same content first
            existing = session.get(Blob, sha256, populate_existing=True)
            if existing is None:
                raise
            blob = existing
    if blob.storage == "file":
        path = blob_path(root, sha256)
        if not _file_intact(path, sha256, blob.size_bytes):
            _write_file(path, data)
    return blob


def read_blob(session: Session, sha256: str, *, root: Path | None = None) -> bytes:
    """The bytes of blob ``sha256``, verified against the recorded checksum and size."""
    blob = session.get(Blob, sha256)
    if blob is None:
        raise NotFound(f"blob {sha256} not found")
    if blob.storage == "db":
        data = blob.content or b""
        where = "database copy"
    else:
        path = blob_path(root if root is not None else blob_root(), sha256)
        where = f"file {path}"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ChecksumMismatch(f"blob {sha256}: {where} is missing") from None
    actual = sha256_hex(data)
    if actual != sha256 or len(data) != blob.size_bytes:
        raise ChecksumMismatch(
            f"blob {sha256}: {where} is corrupt (SHA-256 {actual}, {len(data)} bytes; "
            f"recorded {blob.size_bytes} bytes)"
        )
    return data
