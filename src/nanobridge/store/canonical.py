"""Canonical JSON and hashing: the one serialization that audit hashes and signatures rely on.

Canonical JSON is ``json.dumps`` with sorted keys, no whitespace, ASCII only (non-ASCII characters
escaped) and no NaN/Infinity. It is idempotent: ``canonical_json(json.loads(canonical_json(x)))``
equals ``canonical_json(x)``, so a value stored as canonical text and read back hashes the same.
Datetimes become ISO 8601 strings in UTC with microseconds; they must be timezone-aware.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from nanobridge.store.errors import ValidationFailed

__all__ = ["canonical_json", "isoformat_utc", "sha256_hex", "to_jsonable", "utcnow"]


def utcnow() -> datetime:
    """The current time as a timezone-aware UTC datetime (microsecond resolution, as databases keep)."""
    return datetime.now(UTC)


def isoformat_utc(value: datetime) -> str:
    """``value`` as ISO 8601 in UTC with microseconds; naive datetimes are rejected."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationFailed(f"datetime {value.isoformat()} has no time zone; use timezone-aware UTC")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def to_jsonable(value: Any, path: str = "value") -> Any:
    """Convert ``value`` into plain JSON types (dict with str keys, list, str, int, float, bool, None).

    Raises :class:`ValidationFailed` naming ``path`` for values JSON cannot hold (NaN, infinities,
    non-string keys, arbitrary objects).
    """
    if value is None or isinstance(value, bool | str | int):
        if isinstance(value, str):
            _check_string(value, path)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationFailed(f"{path}: {value!r} -> a finite number is required (no NaN or infinity)")
        return value
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, path)
    if isinstance(value, datetime):
        return isoformat_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationFailed(f"{path}: key {key!r} -> JSON object keys must be strings")
            _check_string(key, f"{path}.{key}")
            out[key] = to_jsonable(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [to_jsonable(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise ValidationFailed(f"{path}: {type(value).__name__} value -> only JSON types are allowed")


def _check_string(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed(
            f"{path}: {text!r} -> text must be valid Unicode (no lone surrogates)"
        ) from None


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value`` (see the module docstring)."""
    return json.dumps(
        to_jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def sha256_hex(data: bytes | str) -> str:
    """Lower-case hex SHA-256 of ``data`` (text is encoded as UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()
