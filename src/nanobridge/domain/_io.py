"""Reading spec files (YAML or JSON) with errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from nanobridge._yaml import UniqueKeyLoader
from nanobridge.domain.errors import NO_VALUE, Problem, SpecError

__all__ = ["UniqueKeyLoader", "load_yaml_text", "read_mapping"]

YAML_SUFFIXES = (".yaml", ".yml")
JSON_SUFFIXES = (".json",)


def load_yaml_text(text: str, source: str, *, kind: str = "input") -> Any:
    """Parse YAML; on failure raise :class:`SpecError` naming ``source``, line and column."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark else source
        problem = " ".join(str(x) for x in (exc.context, exc.problem) if x) or str(exc)
        raise SpecError(
            [Problem(where, NO_VALUE, f"malformed YAML: {problem}")], source=source, kind=kind
        ) from exc
    except yaml.YAMLError as exc:
        raise SpecError(
            [Problem(source, NO_VALUE, f"malformed YAML: {exc}")], source=source, kind=kind
        ) from exc


def _load_json_text(text: str, source: str, *, kind: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{source}, line {exc.lineno}, column {exc.colno}"
        raise SpecError(
            [Problem(where, NO_VALUE, f"malformed JSON: {exc.msg}")], source=source, kind=kind
        ) from exc


def read_mapping(path: str | Path, *, kind: str, unwrap: str | None = None) -> dict[str, Any]:
    """Read a YAML or JSON file (by extension) that must hold a mapping.

    ``unwrap``: if the file is a study file holding e.g. ``{agent: {...}, scenario: {...}}``,
    return the mapping under that key.
    """
    p = Path(path)
    source = str(p)
    suffix = p.suffix.lower()
    if suffix not in YAML_SUFFIXES + JSON_SUFFIXES:
        raise SpecError(
            [Problem(source, suffix or "<no extension>", "file type must be .yaml, .yml or .json")],
            source=source,
            kind=kind,
        )
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Problem(source, NO_VALUE, "file not found")], source=source, kind=kind) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(
            [Problem(source, NO_VALUE, f"cannot read file: {exc}")], source=source, kind=kind
        ) from exc
    data = (
        _load_json_text(text, source, kind=kind)
        if suffix in JSON_SUFFIXES
        else load_yaml_text(text, source, kind=kind)
    )
    if data is None:
        raise SpecError([Problem(source, NO_VALUE, "file is empty")], source=source, kind=kind)
    if not isinstance(data, Mapping):
        raise SpecError(
            [Problem(source, type(data).__name__, f"the file must hold a mapping of {kind} fields")],
            source=source,
            kind=kind,
        )
    if unwrap and unwrap in data and isinstance(data[unwrap], Mapping):
        data = data[unwrap]
    return {str(k): v for k, v in data.items()}
