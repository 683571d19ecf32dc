"""Raw files: content addressing, storage in the database or the blob directory, checksums on read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from store_helpers import Backend, World, as_user

from nanobridge.store import blobs, db, service
from nanobridge.store.canonical import sha256_hex
from nanobridge.store.errors import ChecksumMismatch, NotFound
from nanobridge.store.models import Blob, RawFile

SMALL = b"time_h,organ,pct_id\n1,liver,12.5\n"
LARGE = os.urandom(blobs.INLINE_MAX_BYTES + 1)


def test_blob_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(blobs.BLOB_DIR_ENV)
    monkeypatch.setenv(db.HOME_ENV, str(tmp_path / "h"))
    assert blobs.blob_root() == tmp_path / "h" / "blobs"
    monkeypatch.setenv(blobs.BLOB_DIR_ENV, str(tmp_path / "b"))
    assert blobs.blob_root() == tmp_path / "b"
    assert blobs.blob_path(tmp_path, "abcdef") == tmp_path / "ab" / "cdef"


def test_small_in_database_large_in_blob_directory(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        small = service.store_raw_file(
            s, sci, world.project_a, SMALL, original_name="bd.csv", media_type="text/csv"
        )
        large = service.store_raw_file(s, sci, world.project_a, LARGE, original_name="bd.nc")
        again = service.store_raw_file(s, sci, world.project_a, SMALL, original_name="copy.csv")
        ids = small.id, large.id, again.id
    with db.session_scope(engine, write=False) as s:
        sci = as_user(s, world.scientist_a)
        small, large, again = (s.get(RawFile, i) for i in ids)
        assert small is not None and large is not None and again is not None
        assert (small.sha256, small.size_bytes, small.media_type) == (
            sha256_hex(SMALL),
            len(SMALL),
            "text/csv",
        )
        assert again.sha256 == small.sha256 and again.original_name == "copy.csv"
        assert s.scalar(select(func.count()).select_from(Blob)) == 2  # deduplicated
        assert s.get(Blob, small.sha256).storage == "db"  # type: ignore[union-attr]
        assert s.get(Blob, large.sha256).storage == "file"  # type: ignore[union-attr]
        path = blobs.blob_path(blobs.blob_root(), large.sha256)
        assert path.read_bytes() == LARGE and path.parent.name == large.sha256[:2]
        assert service.read_raw_file(s, sci, small.id) == SMALL
        assert service.read_raw_file(s, sci, large.id) == LARGE
        assert [e.action for e in service.history(s, sci, small)] == ["create"]


def test_corrupt_database_copy_is_detected(backend: Backend, world: World) -> None:
    with db.session_scope(backend.engine) as s:
        raw = service.store_raw_file(
            s, as_user(s, world.scientist_a), world.project_a, SMALL, original_name="a.csv"
        )
        raw_id, sha = raw.id, raw.sha256
    backend.tamper(
        "UPDATE blobs SET content = :c WHERE sha256 = :s", {"c": SMALL.replace(b"12.5", b"99.9"), "s": sha}
    )
    with (
        db.session_scope(backend.engine, write=False) as s,
        pytest.raises(ChecksumMismatch, match="is corrupt"),
    ):
        service.read_raw_file(s, as_user(s, world.scientist_a), raw_id)


def test_corrupt_or_missing_blob_file_is_detected_and_repaired_on_upload(
    engine: Engine, world: World
) -> None:
    with db.session_scope(engine) as s:
        raw_id = service.store_raw_file(
            s, as_user(s, world.scientist_a), world.project_a, LARGE, original_name="x.nc"
        ).id
    path = blobs.blob_path(blobs.blob_root(), sha256_hex(LARGE))
    path.chmod(0o644)
    path.write_bytes(LARGE[:-1] + bytes([LARGE[-1] ^ 0xFF]))
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        with pytest.raises(ChecksumMismatch, match=r"file .* is corrupt"):
            service.read_raw_file(s, sci, raw_id)
        path.unlink()
        with pytest.raises(ChecksumMismatch, match="is missing"):
            service.read_raw_file(s, sci, raw_id)
        service.store_raw_file(s, sci, world.project_a, LARGE, original_name="re-upload.nc")
        assert service.read_raw_file(s, sci, raw_id) == LARGE


def test_deleted_and_foreign_raw_files_are_not_readable(engine: Engine, world: World) -> None:
    with db.session_scope(engine) as s:
        sci = as_user(s, world.scientist_a)
        raw = service.store_raw_file(s, sci, world.project_a, SMALL, original_name="a.csv")
        with pytest.raises(NotFound):
            service.read_raw_file(s, as_user(s, world.scientist_b), raw.id)
        service.soft_delete(s, sci, raw, expected_version=1, reason="uploaded to the wrong project")
        with pytest.raises(NotFound, match="was deleted"):
            service.read_raw_file(s, sci, raw.id)
        with pytest.raises(NotFound, match=r"blob 0+ not found"):
            blobs.read_blob(s, "0" * 64)
