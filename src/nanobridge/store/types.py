"""Column types that make values round-trip identically through SQLite and PostgreSQL.

Hashes (audit chain, signatures, spec versions) are computed over values read back from the
database, so the types below guarantee that what goes in comes out the same on both backends:

* :class:`UTCDateTime` stores timezone-aware datetimes in UTC and always returns aware UTC
  datetimes (SQLite has no time zones; PostgreSQL ``timestamptz`` returns the session zone).
* :class:`JSONText` stores a JSON value as its canonical text (see :mod:`.canonical`) in a
  ``TEXT`` column, not ``JSON``/``JSONB``: JSONB would renormalize numbers and key order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Text
from sqlalchemy.types import TypeDecorator

from nanobridge.store.canonical import canonical_json

__all__ = ["JSONText", "UTCDateTime"]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime; naive datetimes are refused on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; nanobridge stores UTC-aware times")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONText(TypeDecorator[Any]):
    """A JSON value kept as canonical JSON text; ``None`` is SQL ``NULL``."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return canonical_json(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(value)
