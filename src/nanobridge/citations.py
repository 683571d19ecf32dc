"""Citation registry: every number nanobridge uses points at a reference key.

References live in packaged YAML files under ``nanobridge/data/references/`` (every ``*.yaml``
file there is loaded; keys must be unique across files). Each file is a mapping
``key -> entry``::

    Brown1997:
      authors: "Brown RP, Delp MD, Lindstedt SL, Rhomberg LR, Beliles RP"
      year: 1997
      title: "Physiological parameter values for physiologically based pharmacokinetic models"
      journal: "Toxicol Ind Health"
      volume: "13"
      pages: "407-484"
      doi: "10.1177/074823379701300401"

Optional fields: ``issue``, ``publisher``, ``url``, ``note``, ``license``.

Code that uses a number calls :func:`cite` with its key; a caller that wants to know which
references a computation used wraps it in :func:`collect_citations`::

    with collect_citations() as used:
        run_model(...)
    for ref in used.references():
        print(ref.formatted())

Collectors are held in a :class:`contextvars.ContextVar`, so they nest (an outer collector also
sees what inner ones saw), stay separate between threads and asyncio tasks, and follow work
into worker threads that run inside a copied context (``contextvars.copy_context().run`` or
:meth:`CitationCollector.bind`). Recording is guarded by a lock, so many threads may cite into
one collector at once.
"""

from __future__ import annotations

import contextvars
import difflib
import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, ParamSpec, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nanobridge._yaml import UniqueKeyLoader

__all__ = [
    "CitationCollector",
    "CitationRegistryError",
    "Reference",
    "UnknownCitationError",
    "all_references",
    "cite",
    "collect_citations",
    "find_citation_keys",
    "get_reference",
    "load_reference_files",
    "reload_references",
    "validate_citation_keys",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: Package-relative folder holding reference YAML files.
REFERENCES_DIR = ("data", "references")
#: Keys in packaged data whose values are citation keys (a string or a list of strings).
CITATION_FIELD_NAMES = frozenset({"citation", "citations", "citation_key", "citation_keys"})
CITATION_FIELD_SUFFIX = "_citation"


class CitationRegistryError(ValueError):
    """The packaged reference files, or the citation keys in packaged data, are inconsistent."""


class UnknownCitationError(KeyError):
    """A citation key that is not in the registry.

    Subclasses :class:`KeyError` (so ``except KeyError`` works) but prints a readable message
    that names the key and suggests close matches.
    """

    def __init__(self, key: str, suggestions: Iterable[str] = ()) -> None:
        self.key = key
        self.suggestions = tuple(suggestions)
        hint = (
            f"; did you mean {', '.join(repr(s) for s in self.suggestions)}?"
            if self.suggestions
            else "; add it to a YAML file in nanobridge/data/references/"
        )
        self.message = f"unknown citation key {key!r}{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class Reference(BaseModel):
    """One bibliographic reference."""

    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)

    key: str = Field(min_length=1)
    authors: str = Field(min_length=1)
    year: int = Field(ge=1600, le=2100)
    title: str = Field(min_length=1)
    journal: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    publisher: str | None = None
    doi: str | None = None
    url: str | None = None
    note: str | None = None
    license: str | None = None

    @field_validator("doi")
    @classmethod
    def _strip_doi_prefix(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        for prefix in ("https://doi.org/", "http://doi.org/", "doi:", "DOI:"):
            if value.startswith(prefix):
                value = value[len(prefix) :]
        return value

    def formatted(self) -> str:
        """One-line citation, e.g. ``Brown RP, ... (1997). Title. Toxicol Ind Health 13:407-484.
        doi:10.1177/...``."""
        title = self.title.rstrip(".")
        parts = [f"{self.authors} ({self.year}). {title}."]
        source = ""
        if self.journal:
            source = self.journal
            if self.volume:
                source += f" {self.volume}"
                if self.issue:
                    source += f"({self.issue})"
            if self.pages:
                source += f":{self.pages}" if self.volume else f", {self.pages}"
        elif self.pages:
            source = f"pp. {self.pages}"
        if self.publisher:
            source = f"{source}, {self.publisher}" if source else self.publisher
        if source:
            parts.append(f"{source}.")
        if self.doi:
            parts.append(f"doi:{self.doi}")
        elif self.url:
            parts.append(self.url)
        return " ".join(parts)

    def __str__(self) -> str:
        return self.formatted()


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _references_root() -> Traversable:
    root = resources.files("nanobridge")
    for part in REFERENCES_DIR:
        root = root / part
    return root


def _yaml_files(folder: Traversable) -> list[Traversable]:
    if not folder.is_dir():
        return []
    return sorted(
        (f for f in folder.iterdir() if f.is_file() and f.name.endswith((".yaml", ".yml"))),
        key=lambda f: f.name,
    )


def _parse_reference_file(name: str, text: str) -> dict[str, Reference]:
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise CitationRegistryError(f"references/{name}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise CitationRegistryError(
            f"references/{name}: expected a mapping of key -> reference, got {type(data).__name__}"
        )
    refs: dict[str, Reference] = {}
    problems: list[str] = []
    for key, entry in data.items():
        if not isinstance(key, str) or not key.strip():
            problems.append(f"{key!r}: reference keys must be non-empty strings")
            continue
        if not isinstance(entry, Mapping):
            problems.append(f"{key}: expected a mapping of fields, got {type(entry).__name__}")
            continue
        try:
            refs[key] = Reference.model_validate({**entry, "key": key})
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                problems.append(f"{key}.{loc}: {err.get('input')!r} -> {err['msg']}")
    if problems:
        raise CitationRegistryError(
            f"references/{name}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems)
        )
    return refs


def load_reference_files(files: Iterable[tuple[str, str]]) -> dict[str, Reference]:
    """Build a registry from ``(file name, YAML text)`` pairs, checking every entry and that a
    key reused across files names the same work (same DOI)."""
    registry: dict[str, Reference] = {}
    origin: dict[str, str] = {}
    for name, text in files:
        for key, ref in _parse_reference_file(name, text).items():
            if key in registry:
                first_doi = registry[key].doi
                if ref.doi and first_doi and ref.doi.lower() == first_doi.lower():
                    continue  # the same work registered by two files: keep the first
                raise CitationRegistryError(
                    f"citation key {key!r} is defined twice, for different works: in "
                    f"references/{origin[key]} and references/{name} (same key is fine only "
                    "with the same doi)"
                )
            registry[key] = ref
            origin[key] = name
    return registry


@functools.lru_cache(maxsize=1)
def _registry() -> dict[str, Reference]:
    files = _yaml_files(_references_root())
    return load_reference_files((f.name, f.read_text(encoding="utf-8")) for f in files)


def reload_references() -> None:
    """Forget the cached registry (the next look-up re-reads the packaged files)."""
    _registry.cache_clear()


def get_reference(key: str) -> Reference:
    """Return the reference for ``key``; raise :class:`UnknownCitationError` if there is none."""
    registry = _registry()
    try:
        return registry[key]
    except KeyError:
        pass
    except TypeError:  # unhashable key
        raise UnknownCitationError(repr(key)) from None
    suggestions = difflib.get_close_matches(str(key), list(registry), n=3, cutoff=0.6)
    lowered = {k.lower(): k for k in registry}
    if str(key).lower() in lowered and lowered[str(key).lower()] not in suggestions:
        suggestions.insert(0, lowered[str(key).lower()])
    raise UnknownCitationError(str(key), suggestions)


def all_references() -> dict[str, Reference]:
    """All known references, keyed by citation key (a copy; sorted by key)."""
    return dict(sorted(_registry().items()))


# --------------------------------------------------------------------------------------------
# Recording what a run cited
# --------------------------------------------------------------------------------------------


class CitationCollector:
    """Records the citation keys cited while it is active (ordered, without repeats)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, None] = {}

    def _add(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._keys.setdefault(key, None)

    @property
    def keys(self) -> tuple[str, ...]:
        """Cited keys in first-cited order."""
        with self._lock:
            return tuple(self._keys)

    def references(self) -> list[Reference]:
        """The :class:`Reference` objects for :attr:`keys`, in the same order; a work cited
        under two keys (same DOI, e.g. from two reference files) appears once."""
        refs: list[Reference] = []
        seen_dois: set[str] = set()
        for key in self.keys:
            ref = get_reference(key)
            if ref.doi:
                if ref.doi.lower() in seen_dois:
                    continue
                seen_dois.add(ref.doi.lower())
            refs.append(ref)
        return refs

    def formatted(self) -> list[str]:
        """One formatted line per cited reference."""
        return [ref.formatted() for ref in self.references()]

    def bind(self, fn: Callable[_P, _R]) -> Callable[_P, _R]:
        """Wrap ``fn`` so that, wherever it runs (e.g. in a thread pool), its citations are
        recorded in this collector and in the collectors that were active around it when
        :meth:`bind` was called (so nesting holds across threads)."""
        captured = _ACTIVE.get()
        stack = captured if self in captured else (*captured, self)

        @functools.wraps(fn)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            token = _ACTIVE.set(stack)
            try:
                return fn(*args, **kwargs)
            finally:
                _ACTIVE.reset(token)

        return wrapper

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._keys

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys)

    def __repr__(self) -> str:
        return f"CitationCollector(keys={list(self.keys)!r})"


_ACTIVE: contextvars.ContextVar[tuple[CitationCollector, ...]] = contextvars.ContextVar(
    "nanobridge_citation_collectors", default=()
)


def cite(*keys: str) -> tuple[str, ...]:
    """Record ``keys`` as used by the current computation and return them.

    Every key must exist in the registry (:class:`UnknownCitationError` otherwise, before any
    key is recorded). Keys go to every active :func:`collect_citations` collector; with none
    active, the call only validates.
    """
    for key in keys:
        get_reference(key)
    for collector in _ACTIVE.get():
        collector._add(keys)
    return keys


@contextmanager
def collect_citations() -> Iterator[CitationCollector]:
    """Collect the keys cited inside the ``with`` block (nestable; per thread / task)."""
    collector = CitationCollector()
    token = _ACTIVE.set((*_ACTIVE.get(), collector))
    try:
        yield collector
    finally:
        _ACTIVE.reset(token)


# --------------------------------------------------------------------------------------------
# Checking packaged data
# --------------------------------------------------------------------------------------------


def _is_citation_field(name: object) -> bool:
    return isinstance(name, str) and (name in CITATION_FIELD_NAMES or name.endswith(CITATION_FIELD_SUFFIX))


def find_citation_keys(data: Any, path: str = "") -> list[tuple[str, str]]:
    """Find citation keys in nested data: ``(path, key)`` for every value of a field named
    ``citation``, ``citations``, ``citation_key(s)`` or ``*_citation``."""
    found: list[tuple[str, str]] = []
    if isinstance(data, Mapping):
        for name, value in data.items():
            sub = f"{path}.{name}" if path else str(name)
            if _is_citation_field(name):
                if isinstance(value, str):
                    found.append((sub, value))
                elif isinstance(value, list | tuple):
                    found.extend((f"{sub}[{i}]", v) for i, v in enumerate(value) if isinstance(v, str))
                elif isinstance(value, Mapping):  # e.g. {field_name: key}
                    found.extend((f"{sub}.{k}", v) for k, v in value.items() if isinstance(v, str))
            else:
                found.extend(find_citation_keys(value, sub))
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            found.extend(find_citation_keys(value, f"{path}[{i}]"))
    return found


def _walk_data_files(folder: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda f: f.name):
        rel = f"{prefix}/{entry.name}"
        if entry.is_dir():
            if entry.name.startswith((".", "__")):
                continue
            yield from _walk_data_files(entry, rel)
        elif entry.name.endswith((".yaml", ".yml", ".json")):
            yield rel, entry


def validate_citation_keys(*, strict: bool = True) -> list[str]:
    """Check that every citation key used in packaged data (``nanobridge/data/**``, YAML and
    JSON, references excluded) exists in the registry.

    Returns the list of problems (``"data/file.yaml: path -> 'Key' ..."``); with ``strict``
    (the default) raises :class:`CitationRegistryError` listing them all instead.
    """
    import json

    registry = _registry()
    problems: list[str] = []
    data_root = resources.files("nanobridge") / "data"
    if not data_root.is_dir():
        return problems
    for rel, file in _walk_data_files(data_root, "data"):
        if rel.startswith("data/references/"):
            continue
        text = file.read_text(encoding="utf-8")
        try:
            content = json.loads(text) if rel.endswith(".json") else yaml.load(text, Loader=UniqueKeyLoader)
        except (ValueError, yaml.YAMLError) as exc:
            problems.append(f"{rel}: cannot be parsed: {exc}")
            continue
        for path, key in find_citation_keys(content):
            if key not in registry:
                try:
                    get_reference(key)
                except UnknownCitationError as exc:
                    problems.append(f"{rel}: {path} -> {exc}")
    if problems and strict:
        raise CitationRegistryError(
            f"{len(problems)} citation problem(s) in packaged data:\n  - " + "\n  - ".join(problems)
        )
    return problems
