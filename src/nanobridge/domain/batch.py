"""Manufactured batches, their release measurements and the specification they are released against.

A :class:`Batch` (lot) is one manufacturing run at a scale (``lab``, ``scale-up`` or ``GMP``)
with its :class:`Measurement` s: one result per quality attribute (Z-average, PDI, TEM diameter,
zeta potential, particle concentration, radiochemical purity, dye loading, endotoxin, sterility,
pH, osmolality ...), each with its unit, the analytical method and, optionally, replicates,
uncertainty, date, analyst and instrument. A :class:`Specification` lists the acceptance criteria
(:class:`AttributeSpec`): numeric limits (``lower``/``upper`` or ``target`` ± ``tolerance``) or a
qualitative criterion (``pass``, ``negative``), the method, and the criticality tier (1, 2, 3)
used for scale-up comparability.

Lot histories are tidy CSV files (one row per measurement)::

    batch_id,scale,date,attribute,value,unit,method
    L01,lab,2024-01-09,z_average,6.41,nm,DLS cumulants (ISO 22412)
    L01,lab,2024-01-09,sterility,pass,,USP <71>

or YAML (``batches: [{batch_id: ..., scale: ..., measurements: [...]}]``); specifications are
YAML (:func:`load_specification`). Units are converted between the spellings of one quantity
(nm/µm/Å, mV/V, %, EU/mL, particles/mL/nM, mg/mL/µg/mL, mOsm/kg ...) with a small table; a
unit of another quantity (e.g. EU/kg against EU/mL) is rejected with :class:`UnitMismatchError`.
Every bad input raises :class:`~nanobridge.domain.errors.SpecError` naming the file, the line and
column (CSV) or the field, the value and what is allowed.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nanobridge.citations import UnknownCitationError, get_reference
from nanobridge.domain._base import SpecModel
from nanobridge.domain._io import load_yaml_text, read_mapping
from nanobridge.domain.errors import MISSING, NO_VALUE, FieldProblems, Problem, SpecError

__all__ = [
    "AVOGADRO_PER_MOL",
    "CSV_OPTIONAL_COLUMNS",
    "CSV_REQUIRED_COLUMNS",
    "AttributeSeries",
    "AttributeSpec",
    "Batch",
    "Measurement",
    "Scale",
    "Specification",
    "UnitMismatchError",
    "attribute_series",
    "canonical_attribute",
    "canonical_result",
    "convert_unit",
    "find_batch",
    "load_batches",
    "load_specification",
    "normalize_unit",
    "sort_batches",
]

Scale = Literal["lab", "scale-up", "GMP"]

#: Avogadro constant [1/mol], exact in the SI since 2019 (BIPM2019); turns nM into particles/mL.
AVOGADRO_PER_MOL = 6.02214076e23

# --------------------------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _QCUnit:
    symbol: str
    dimension: str
    factor: float  # value_in_base = value * factor


def _qc_units() -> dict[str, _QCUnit]:
    per_nM = AVOGADRO_PER_MOL * 1e-9 / 1e3  # particles per mL in 1 nmol/L
    rows: list[tuple[str, str, float, tuple[str, ...]]] = [
        # symbol, dimension, factor to base, aliases
        ("nm", "length", 1.0, ("nanometer", "nanometre", "nanometers", "nanometres")),
        ("µm", "length", 1e3, ("um", "μm", "micron", "microns", "micrometer", "micrometre")),
        ("Å", "length", 0.1, ("angstrom", "A°")),
        ("mV", "potential", 1.0, ("millivolt", "millivolts")),
        ("V", "potential", 1e3, ("volt", "volts")),
        ("%", "percent", 1.0, ("percent", "pct")),
        ("EU/mL", "endotoxin concentration", 1.0, ("EU/ml", "EU per mL", "EU/cm3")),
        ("EU/L", "endotoxin concentration", 1e-3, ()),
        ("EU/kg", "endotoxin dose", 1.0, ("EU per kg", "EU/kg dose", "EU/kg/h")),
        ("particles/mL", "number concentration", 1.0, ("particles/ml", "1/mL", "per mL", "/mL")),
        ("particles/L", "number concentration", 1e-3, ("particles/l", "1/L", "per L", "/L")),
        ("pM", "number concentration", per_nM * 1e-3, ("pmol/L",)),
        ("nM", "number concentration", per_nM, ("nmol/L",)),
        ("µM", "number concentration", per_nM * 1e3, ("uM", "μM", "µmol/L", "umol/L")),
        ("mg/mL", "mass concentration", 1.0, ("mg/ml", "g/L", "g/l")),
        ("µg/mL", "mass concentration", 1e-3, ("ug/mL", "μg/mL", "ug/ml", "µg/ml", "mg/L", "mg/l")),
        ("mOsm/kg", "osmolality", 1.0, ("mOsmol/kg", "mosm/kg")),
        ("Osm/kg", "osmolality", 1e3, ("Osmol/kg",)),
        ("MBq/mL", "activity concentration", 1.0, ("MBq/ml",)),
        ("GBq/mL", "activity concentration", 1e3, ("GBq/ml",)),
        ("kBq/mL", "activity concentration", 1e-3, ("kBq/ml",)),
        ("mCi/mL", "activity concentration", 37.0, ("mCi/ml",)),
        ("µCi/mL", "activity concentration", 0.037, ("uCi/mL", "μCi/mL", "uCi/ml")),
        ("dyes/particle", "per particle", 1.0, ("dye/particle", "dyes per particle", "per particle")),
        ("pH", "pH", 1.0, ("pH units", "pH unit")),
        ("", "dimensionless", 1.0, ("1", "-", "dimensionless", "none", "unitless")),
    ]
    table: dict[str, _QCUnit] = {}
    for symbol, dimension, factor, aliases in rows:
        unit = _QCUnit(symbol, dimension, factor)
        for name in (symbol, *aliases):
            table[name] = unit
    return table


_UNITS = _qc_units()
_UNITS_LOWER: dict[str, list[_QCUnit]] = {}
for _name, _unit in _UNITS.items():
    _UNITS_LOWER.setdefault(_name.lower(), [])
    if _unit not in _UNITS_LOWER[_name.lower()]:
        _UNITS_LOWER[_name.lower()].append(_unit)


def _lookup_unit(text: str) -> _QCUnit | None:
    if text in _UNITS:
        return _UNITS[text]
    candidates = _UNITS_LOWER.get(text.lower(), [])
    return candidates[0] if len(candidates) == 1 else None  # 'NM': nm or nM? -> unknown


def normalize_unit(text: object) -> str:
    """Canonical spelling of a unit (``'um'`` → ``'µm'``, ``'eu/ml'`` → ``'EU/mL'``).

    ``None`` and empty text mean dimensionless (``''``). A unit not in the table is kept as
    written (stripped): it converts only to itself.
    """
    if text is None:
        return ""
    raw = re.sub(r"\s+", " ", str(text).strip())
    unit = _lookup_unit(raw)
    if unit is None:
        unit = _lookup_unit(raw.replace(" ", ""))
    return unit.symbol if unit is not None else raw


class UnitMismatchError(SpecError):
    """A value whose unit cannot be converted to the unit it is compared with."""

    def __init__(self, what: str, from_unit: str, to_unit: str, *, source: str | None = None) -> None:
        self.from_unit = from_unit
        self.to_unit = to_unit
        src, dst = _lookup_unit(from_unit), _lookup_unit(to_unit)
        show_from = from_unit or "dimensionless"
        show_to = to_unit or "dimensionless"
        if src is not None and dst is not None:
            why = f"{show_from} is a {src.dimension}, {show_to} is a {dst.dimension}"
            if {src.dimension, dst.dimension} == {"endotoxin concentration", "endotoxin dose"}:
                why += " (EU/mL to EU/kg needs the dose volume per kg body weight: convert by hand)"
        elif src is None and dst is None:
            why = f"{show_from!r} and {show_to!r} are different units nanobridge does not know"
        else:
            unknown = show_from if src is None else show_to
            why = f"{unknown!r} is not a unit nanobridge can convert"
        convertible = sorted(
            {u.symbol for u in _UNITS.values() if u.symbol and dst and u.dimension == dst.dimension}
        )
        allowed = f"; give it in {show_to}" + (
            f" (or {', '.join(s for s in convertible if s != to_unit)})" if len(convertible) > 1 else ""
        )
        super().__init__(
            [Problem(what, from_unit or "<dimensionless>", f"cannot convert to {show_to}: {why}{allowed}")],
            source=source,
            kind="unit",
        )


def convert_unit(value: float, from_unit: str, to_unit: str, *, what: str = "value") -> float:
    """``value`` in ``from_unit`` expressed in ``to_unit`` (same quantity only).

    Raises :class:`UnitMismatchError` (naming ``what``) for units of different quantities or
    units not in the table that differ in spelling. nM ↔ particles/mL uses the exact Avogadro
    constant (BIPM2019).
    """
    a, b = normalize_unit(from_unit), normalize_unit(to_unit)
    if a == b:
        return float(value)
    src, dst = _lookup_unit(a), _lookup_unit(b)
    if src is None or dst is None or src.dimension != dst.dimension:
        raise UnitMismatchError(what, a, b)
    return float(value) * src.factor / dst.factor


# --------------------------------------------------------------------------------------------
# Names and qualitative results
# --------------------------------------------------------------------------------------------

_PASS = ("pass", "passes", "passed", "complies", "conforms", "meets", "acceptable", "no growth", "sterile")
_FAIL = ("fail", "fails", "failed", "does not comply", "does not conform", "growth", "not sterile", "oos")
_RESULT_SYNONYMS: dict[str, str] = {
    **{w: "pass" for w in _PASS},
    **{w: "fail" for w in _FAIL},
    "negative": "negative",
    "neg": "negative",
    "not detected": "negative",
    "nd": "negative",
    "absent": "negative",
    "positive": "positive",
    "pos": "positive",
    "detected": "positive",
    "present": "positive",
}
#: Qualitative results that a ``value`` cell may hold instead of a number.
KNOWN_RESULTS = tuple(sorted(set(_RESULT_SYNONYMS)))


def canonical_result(text: str) -> str:
    """A qualitative result in canonical form: ``'Complies'``/``'no growth'`` → ``'pass'``,
    ``'not detected'`` → ``'negative'``; other text is lower-cased with single spaces.

    "No growth" counts as a sterility pass (USP71: the article complies when no microbial growth
    is found)."""
    key = re.sub(r"\s+", " ", text.strip().lower())
    return _RESULT_SYNONYMS.get(key, key)


def canonical_attribute(name: str) -> str:
    """Attribute identifier: lower case, runs of spaces/hyphens/dots as ``_``
    (``'Z-average'`` → ``'z_average'``)."""
    return re.sub(r"[\s\-./]+", "_", name.strip().lower()).strip("_")


def _as_text(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


_QUALIFIER_RE = re.compile(r"^\s*(<=|>=|<|>|≤|≥)\s*(.+)$")
_QUALIFIERS = {"<": "<", "<=": "<", "≤": "<", ">": ">", ">=": ">", "≥": ">"}

# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


class _AttributeUnitModel(SpecModel):
    """Shared normalisation of the ``attribute`` name and the ``unit`` of a measurement or a spec."""

    @field_validator("attribute", mode="before", check_fields=False)
    @classmethod
    def _attribute(cls, value: Any) -> Any:
        return canonical_attribute(value) if isinstance(value, str) else value

    @field_validator("unit", mode="before", check_fields=False)
    @classmethod
    def _unit(cls, value: Any) -> Any:
        return normalize_unit(value)


class Measurement(_AttributeUnitModel):
    """One result of one quality attribute of a batch.

    Numeric results give ``value`` (in ``unit``; replicates in the same unit, their mean is the
    value if ``value`` is omitted); a result reported as a bound, e.g. an endotoxin level
    "< 0.50 EU/mL", gives ``value: "<0.50"`` (stored as ``qualifier='<'``, ``value=0.5``).
    Qualitative results (sterility, identity) give ``result`` (``'pass'``, ``'negative'`` ...).
    ``uncertainty`` is a standard uncertainty in ``unit``.
    """

    spec_kind: ClassVar[str] = "measurement"

    attribute: str = Field(min_length=1)
    value: float | None = None
    qualifier: Literal["<", ">"] | None = None
    result: str | None = None
    unit: str = ""
    method: str | None = None
    replicates: tuple[float, ...] | None = None
    uncertainty: float | None = Field(default=None, ge=0)
    date: dt.date | None = None
    analyst: str | None = None
    instrument: str | None = None
    notes: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _split_qualifier(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        value = data.get("value")
        if isinstance(value, str):
            match = _QUALIFIER_RE.match(value)
            if match and data.get("qualifier") is None:
                data["qualifier"] = _QUALIFIERS[match.group(1)]
                data["value"] = match.group(2).strip()
            elif value.strip().lower() in _RESULT_SYNONYMS and data.get("result") is None:
                data["result"] = value
                data["value"] = None
        if data.get("value") is None and data.get("replicates") and data.get("result") is None:
            reps = data["replicates"]
            if isinstance(reps, list | tuple) and all(
                isinstance(r, int | float) and not isinstance(r, bool) for r in reps
            ):
                data["value"] = sum(float(r) for r in reps) / len(reps)
        return data

    @field_validator("result", mode="before")
    @classmethod
    def _result(cls, value: Any) -> Any:
        if isinstance(value, str):
            return canonical_result(value) if value.strip() else None
        return value

    @field_validator("method", "analyst", "instrument", "notes", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        value = _as_text(value)
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("replicates", mode="before")
    @classmethod
    def _replicates(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return [value]
        return value

    @model_validator(mode="after")
    def _one_kind_of_result(self) -> Measurement:
        problems: list[Problem] = []
        if self.value is None and self.result is None:
            problems.append(
                Problem(
                    "value",
                    MISSING,
                    "give a numeric value (with its unit) or a qualitative result such as 'pass'",
                )
            )
        if self.value is not None and self.result is not None:
            problems.append(
                Problem("result", self.result, f"give either a value ({self.value:g}) or a result, not both")
            )
        if self.qualifier is not None and self.value is None:
            problems.append(Problem("qualifier", self.qualifier, "a '<' or '>' qualifier needs a value"))
        if self.replicates is not None and len(self.replicates) == 0:
            problems.append(Problem("replicates", [], "must hold at least one value (or be left out)"))
        if self.replicates and self.result is not None:
            problems.append(Problem("replicates", list(self.replicates), "only for numeric results"))
        if problems:
            raise FieldProblems(problems)
        return self

    @property
    def is_qualitative(self) -> bool:
        """True for a qualitative result (``result``), False for a number."""
        return self.result is not None

    def value_in(self, unit: str) -> float:
        """The numeric value converted to ``unit`` (:class:`UnitMismatchError` if impossible)."""
        if self.value is None:
            raise SpecError(
                [Problem(self.attribute, self.result, "is a qualitative result, not a number")],
                kind="measurement",
            )
        return convert_unit(self.value, self.unit, unit, what=f"{self.attribute}.unit")

    def display(self) -> str:
        """``'6.52 nm'``, ``'< 0.5 EU/mL'``, ``'pass'``."""
        if self.value is None:
            return str(self.result)
        prefix = f"{self.qualifier} " if self.qualifier else ""
        return f"{prefix}{self.value:.4g}{' ' + self.unit if self.unit else ''}"


# --------------------------------------------------------------------------------------------
# Specification
# --------------------------------------------------------------------------------------------


def _check_citations(keys: Iterable[str], path: str) -> list[Problem]:
    problems = []
    for i, key in enumerate(keys):
        try:
            get_reference(key)
        except UnknownCitationError as exc:
            problems.append(Problem(f"{path}[{i}]", key, str(exc)))
    return problems


class AttributeSpec(_AttributeUnitModel):
    """Acceptance criterion of one attribute.

    Numeric: ``lower`` and/or ``upper`` (inclusive limits, in ``unit``), or ``target`` ±
    ``tolerance``; a ``target`` may also accompany ``lower``/``upper`` as the nominal value.
    Qualitative: ``criterion`` (``'pass'``, ``'negative'`` ...). ``tier`` (1 most critical, 3
    least) chooses the comparability test (Tsong2017): 1 equivalence (TOST), 2 quality range,
    3 descriptive. ``rationale`` and ``citations`` say where the limit comes from.
    """

    spec_kind: ClassVar[str] = "attribute specification"

    attribute: str = Field(min_length=1)
    title: str | None = None
    unit: str = ""
    lower: float | None = None
    upper: float | None = None
    target: float | None = None
    tolerance: float | None = Field(default=None, gt=0)
    criterion: str | None = None
    method: str | None = None
    tier: Literal[1, 2, 3] = 3
    rationale: str | None = None
    citations: tuple[str, ...] = ()

    @field_validator("criterion", mode="before")
    @classmethod
    def _criterion(cls, value: Any) -> Any:
        return canonical_result(value) if isinstance(value, str) and value.strip() else value

    @field_validator("tier", mode="before")
    @classmethod
    def _tier(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().lower().removeprefix("tier").strip()
            if text in {"1", "2", "3"}:
                return int(text)
        return value

    @field_validator("citations", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _criteria(self) -> AttributeSpec:
        problems: list[Problem] = []
        numeric = [n for n in ("lower", "upper", "target", "tolerance") if getattr(self, n) is not None]
        if self.criterion is not None and numeric:
            problems.append(
                Problem(
                    "criterion",
                    self.criterion,
                    f"a qualitative criterion excludes numeric limits (also given: {', '.join(numeric)})",
                )
            )
        if self.tolerance is not None and self.target is None:
            problems.append(Problem("target", MISSING, "required with tolerance (target ± tolerance)"))
        if self.tolerance is not None and (self.lower is not None or self.upper is not None):
            problems.append(
                Problem(
                    "tolerance", self.tolerance, "give either lower/upper or target ± tolerance, not both"
                )
            )
        if self.criterion is None and self.lower is None and self.upper is None and self.tolerance is None:
            problems.append(
                Problem(
                    "lower",
                    MISSING,
                    "no acceptance criterion: give lower and/or upper, target and tolerance, "
                    "or a qualitative criterion such as 'pass'",
                )
            )
        lo, hi = self.lower_limit, self.upper_limit
        if lo is not None and hi is not None and lo >= hi:
            problems.append(Problem("upper", hi, f"must be greater than the lower limit ({lo:g})"))
        if self.target is not None and lo is not None and hi is not None and not lo <= self.target <= hi:
            problems.append(Problem("target", self.target, f"must lie within the limits [{lo:g}, {hi:g}]"))
        if self.criterion is not None and self.tier != 3:
            problems.append(
                Problem(
                    "tier",
                    self.tier,
                    "tiers 1 and 2 (equivalence test, quality range) need a numeric attribute; "
                    "a qualitative attribute is tier 3",
                )
            )
        problems.extend(_check_citations(self.citations, "citations"))
        if problems:
            raise FieldProblems(problems)
        return self

    @property
    def is_qualitative(self) -> bool:
        return self.criterion is not None

    @property
    def lower_limit(self) -> float | None:
        """Effective lower limit (``lower`` or ``target - tolerance``)."""
        if self.lower is not None:
            return self.lower
        if self.target is not None and self.tolerance is not None:
            return self.target - self.tolerance
        return None

    @property
    def upper_limit(self) -> float | None:
        """Effective upper limit (``upper`` or ``target + tolerance``)."""
        if self.upper is not None:
            return self.upper
        if self.target is not None and self.tolerance is not None:
            return self.target + self.tolerance
        return None

    def acceptance_text(self) -> str:
        """The criterion as text: ``'5.5–8 nm'``, ``'≤ 0.2'``, ``'≥ 95 %'``, ``'pass'``."""
        if self.criterion is not None:
            return self.criterion
        u = f" {self.unit}" if self.unit else ""
        lo, hi = self.lower_limit, self.upper_limit
        if self.tolerance is not None and self.target is not None:
            return f"{self.target:g} ± {self.tolerance:g}{u}"
        if lo is not None and hi is not None:
            return f"{lo:g}–{hi:g}{u}"
        if hi is not None:
            return f"≤ {hi:g}{u}"
        return f"≥ {lo:g}{u}"

    @property
    def label(self) -> str:
        """``title`` or the attribute identifier."""
        return self.title or self.attribute


class Specification(SpecModel):
    """A named, versioned set of :class:`AttributeSpec`.

    In YAML, ``attributes`` is a list of attribute specs or a mapping ``attribute -> spec``.
    """

    spec_kind: ClassVar[str] = "specification"

    name: str = Field(min_length=1)
    version: str = "1"
    product: str | None = None
    description: str | None = None
    attributes: tuple[AttributeSpec, ...] = Field(min_length=1)
    citations: tuple[str, ...] = ()
    notes: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _mapping_of_attributes(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("attributes"), Mapping):
            data = dict(data)
            data["attributes"] = [
                {"attribute": name, **spec} if isinstance(spec, Mapping) else spec
                for name, spec in data["attributes"].items()
            ]
        return data

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        return _as_text(value)

    @field_validator("citations", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _unique(self) -> Specification:
        problems: list[Problem] = []
        seen: dict[str, int] = {}
        for i, spec in enumerate(self.attributes):
            if spec.attribute in seen:
                problems.append(
                    Problem(
                        f"attributes[{i}].attribute",
                        spec.attribute,
                        f"defined twice (also attributes[{seen[spec.attribute]}])",
                    )
                )
            seen.setdefault(spec.attribute, i)
        problems.extend(_check_citations(self.citations, "citations"))
        if problems:
            raise FieldProblems(problems)
        return self

    @property
    def names(self) -> tuple[str, ...]:
        """Attribute identifiers in specification order."""
        return tuple(a.attribute for a in self.attributes)

    def get(self, attribute: str) -> AttributeSpec | None:
        """The spec of ``attribute`` (any spelling :func:`canonical_attribute` accepts)."""
        key = canonical_attribute(attribute)
        return next((a for a in self.attributes if a.attribute == key), None)

    def __contains__(self, attribute: object) -> bool:
        return isinstance(attribute, str) and self.get(attribute) is not None

    def unknown_attribute_hint(self, attribute: str) -> str:
        """'did you mean ...?' for an attribute that is not in this specification."""
        key = canonical_attribute(attribute)
        close = [n for n in self.names if key and (n.startswith(key) or key.startswith(n))]
        close += [c for c in difflib.get_close_matches(key, self.names, n=3, cutoff=0.6) if c not in close]
        if close:
            return "did you mean " + " or ".join(repr(c) for c in close) + "?"
        return "specified attributes: " + ", ".join(self.names)

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


# --------------------------------------------------------------------------------------------
# Batch
# --------------------------------------------------------------------------------------------

_SCALE_ALIASES = {
    "lab": "lab",
    "labscale": "lab",
    "laboratory": "lab",
    "bench": "lab",
    "benchscale": "lab",
    "research": "lab",
    "scaleup": "scale-up",
    "pilot": "scale-up",
    "pilotscale": "scale-up",
    "gmp": "GMP",
    "cgmp": "GMP",
    "clinical": "GMP",
}


def _scale_key(value: str) -> str:
    return re.sub(r"[\s_\-]+", "", value.strip().lower())


class Batch(SpecModel):
    """One manufactured lot: identifier, scale, date, process version, site and measurements
    (at most one per attribute; replicate determinations go into ``Measurement.replicates``)."""

    spec_kind: ClassVar[str] = "batch"

    batch_id: str = Field(min_length=1)
    scale: Scale
    date: dt.date | None = None
    process_version: str | None = None
    site: str | None = None
    notes: str | None = None
    measurements: tuple[Measurement, ...] = ()

    @field_validator("batch_id", "process_version", "site", "notes", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _as_text(value)

    @field_validator("scale", mode="before")
    @classmethod
    def _scale(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _SCALE_ALIASES.get(_scale_key(value), value)
        return value

    @model_validator(mode="after")
    def _unique_attributes(self) -> Batch:
        problems: list[Problem] = []
        seen: dict[str, int] = {}
        for i, m in enumerate(self.measurements):
            if m.attribute in seen:
                problems.append(
                    Problem(
                        f"measurements[{i}].attribute",
                        m.attribute,
                        f"measured twice in batch {self.batch_id} (also measurements[{seen[m.attribute]}]); "
                        "give replicate determinations as 'replicates' of one measurement",
                    )
                )
            seen.setdefault(m.attribute, i)
        if problems:
            raise FieldProblems(problems)
        return self

    def measurement(self, attribute: str) -> Measurement | None:
        """The measurement of ``attribute`` or ``None``."""
        key = canonical_attribute(attribute)
        return next((m for m in self.measurements if m.attribute == key), None)

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(m.attribute for m in self.measurements)


def sort_batches(batches: Iterable[Batch]) -> list[Batch]:
    """Batches in manufacturing order: by date (undated last), ties in the given order."""
    indexed = list(enumerate(batches))
    indexed.sort(key=lambda ib: (ib[1].date is None, ib[1].date or dt.date.min, ib[0]))
    return [b for _, b in indexed]


def find_batch(batches: Sequence[Batch], batch_id: str) -> Batch:
    """The batch with ``batch_id``; :class:`SpecError` listing the available ids otherwise."""
    for b in batches:
        if b.batch_id == batch_id:
            return b
    ids = [b.batch_id for b in batches]
    close = difflib.get_close_matches(batch_id, ids, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise SpecError(
        [Problem("batch_id", batch_id, f"no such batch; {hint}available: {', '.join(ids) or '(none)'}")],
        kind="batch selection",
    )


# --------------------------------------------------------------------------------------------
# Attribute series (for trends, SPC and comparability)
# --------------------------------------------------------------------------------------------


class AttributeSeries(BaseModel):
    """Numeric values of one attribute across batches, in one unit, in batch order.

    ``excluded`` says which batches gave no usable number and why (no measurement, a
    qualitative result, a censored value such as '< 0.5').
    """

    model_config = ConfigDict(frozen=True)

    attribute: str
    unit: str
    labels: tuple[str, ...]
    values: tuple[float, ...]
    dates: tuple[dt.date | None, ...]
    excluded: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.values)


def attribute_series(batches: Iterable[Batch], attribute: str, unit: str | None = None) -> AttributeSeries:
    """The numeric values of ``attribute`` in ``batches`` (order kept), converted to ``unit``
    (default: the unit of the first measurement found). Raises :class:`UnitMismatchError`
    naming the batch when a unit cannot be converted."""
    key = canonical_attribute(attribute)
    target = normalize_unit(unit) if unit is not None else None
    labels: list[str] = []
    values: list[float] = []
    dates: list[dt.date | None] = []
    excluded: list[str] = []
    for b in batches:
        m = b.measurement(key)
        if m is None:
            excluded.append(f"{b.batch_id}: no {key} measurement")
            continue
        if m.value is None:
            excluded.append(f"{b.batch_id}: qualitative result {m.result!r}")
            continue
        if m.qualifier is not None:
            excluded.append(f"{b.batch_id}: censored value '{m.display()}'")
            continue
        if target is None:
            target = m.unit
        values.append(convert_unit(m.value, m.unit, target, what=f"batch {b.batch_id}: {key}.unit"))
        labels.append(b.batch_id)
        dates.append(b.date)
    return AttributeSeries(
        attribute=key,
        unit=target or "",
        labels=tuple(labels),
        values=tuple(values),
        dates=tuple(dates),
        excluded=tuple(excluded),
    )


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

#: Columns a lot-history CSV must have.
CSV_REQUIRED_COLUMNS = ("batch_id", "scale", "date", "attribute", "value", "unit", "method")
#: Columns it may have.
CSV_OPTIONAL_COLUMNS = (
    "result",
    "replicates",
    "uncertainty",
    "measurement_date",
    "analyst",
    "instrument",
    "notes",
    "process_version",
    "site",
)
_BATCH_COLUMNS = ("scale", "date", "process_version", "site")
_MAX_PROBLEMS = 50
_NUMBER_WITH_UNIT = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*[A-Za-zµμ%/]+.*$")


def _parse_float(text: str) -> float | str:
    """A finite float, or an error message."""
    try:
        number = float(text)
    except ValueError:
        if re.fullmatch(r"\s*[-+]?\d+,\d+\s*", text):
            return "is not a number: use '.' as the decimal separator"
        if _NUMBER_WITH_UNIT.match(text):
            return "is not a number: write the number alone and its unit in column 'unit'"
        return "is not a number"
    if not math.isfinite(number):
        return "must be a finite number"
    return number


def _csv_where(source: str, line: int, column: str | None = None) -> str:
    return f"{source}, line {line}" + (f", column '{column}'" if column else "")


def _read_csv_batches(text: str, source: str, spec: Specification | None) -> list[Batch]:
    problems: list[Problem] = []

    def add(line: int, column: str | None, value: Any, message: str) -> None:
        problems.append(Problem(_csv_where(source, line, column), value, message))

    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise SpecError(
            [Problem(source, NO_VALUE, "file is empty")], source=source, kind="lot history"
        ) from None
    columns = [re.sub(r"\s+", "_", h.strip().lower()) for h in header]
    allowed = CSV_REQUIRED_COLUMNS + CSV_OPTIONAL_COLUMNS
    missing = [c for c in CSV_REQUIRED_COLUMNS if c not in columns]
    for c in missing:
        add(1, c, MISSING, f"required column is missing (header has: {', '.join(h for h in columns if h)})")
    for i, c in enumerate(columns):
        if c not in allowed:
            close = difflib.get_close_matches(c, allowed, n=2, cutoff=0.6)
            hint = (
                f"did you mean {' or '.join(repr(x) for x in close)}?"
                if close
                else (f"allowed: {', '.join(allowed)}")
            )
            add(1, header[i].strip() or f"#{i + 1}", c, f"unknown column; {hint}")
        elif columns.index(c) != i:
            add(1, c, c, "column appears twice")
    if problems:
        raise SpecError(problems, source=source, kind="lot history")

    order: list[str] = []
    batch_fields: dict[str, dict[str, Any]] = {}
    batch_lines: dict[str, dict[str, int]] = {}
    measurements: dict[str, list[Measurement]] = {}
    seen_attr: dict[tuple[str, str], int] = {}

    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(problems) >= _MAX_PROBLEMS:
            break
        if len(row) != len(columns):
            add(line, None, NO_VALUE, f"has {len(row)} fields, the header has {len(columns)}")
            continue
        cells = {c: row[i].strip() for i, c in enumerate(columns)}
        batch_id = cells["batch_id"]
        if not batch_id:
            add(line, "batch_id", "", "must not be empty")
            continue
        n_before = len(problems)

        scale_text = cells["scale"]
        scale = _SCALE_ALIASES.get(_scale_key(scale_text)) if scale_text else None
        if scale is None:
            add(line, "scale", scale_text, "must be one of 'lab', 'scale-up', 'GMP'")
        date: dt.date | None = None
        if cells["date"]:
            try:
                date = dt.date.fromisoformat(cells["date"])
            except ValueError:
                add(line, "date", cells["date"], "is not a date; write it as YYYY-MM-DD")
        m_date: dt.date | None = None
        if cells.get("measurement_date"):
            try:
                m_date = dt.date.fromisoformat(cells["measurement_date"])
            except ValueError:
                add(
                    line,
                    "measurement_date",
                    cells["measurement_date"],
                    "is not a date; write it as YYYY-MM-DD",
                )

        attribute = canonical_attribute(cells["attribute"])
        if not attribute:
            add(line, "attribute", cells["attribute"], "must not be empty")
        elif spec is not None and attribute not in spec:
            add(
                line,
                "attribute",
                cells["attribute"],
                f"not in specification {spec.label}; {spec.unknown_attribute_hint(attribute)}",
            )

        value_text, result_text = cells["value"], cells.get("result", "")
        value: float | None = None
        qualifier: str | None = None
        result: str | None = result_text or None
        if value_text:
            match = _QUALIFIER_RE.match(value_text)
            number_text = value_text
            if match:
                qualifier = _QUALIFIERS[match.group(1)]
                number_text = match.group(2).strip()
            parsed = _parse_float(number_text)
            if isinstance(parsed, float):
                value = parsed
            elif not match and value_text.strip().lower() in _RESULT_SYNONYMS and result is None:
                result = value_text
            else:
                extra = (
                    ""
                    if match or _NUMBER_WITH_UNIT.match(number_text)
                    else "; a qualitative result is e.g. 'pass', 'fail', 'negative' or 'positive'"
                )
                add(line, "value", value_text, parsed + extra)
        elif not result:
            add(line, "value", "", "empty: give a number, or a qualitative result in column 'result'")

        replicates: list[float] | None = None
        if cells.get("replicates"):
            replicates = []
            for part in re.split(r"[;|\s]+", cells["replicates"].strip()):
                parsed = _parse_float(part)
                if isinstance(parsed, float):
                    replicates.append(parsed)
                else:
                    add(line, "replicates", part, parsed + " (separate replicates with ';')")
        uncertainty: float | None = None
        if cells.get("uncertainty"):
            parsed = _parse_float(cells["uncertainty"])
            if isinstance(parsed, float):
                uncertainty = parsed
            else:
                add(line, "uncertainty", cells["uncertainty"], parsed)

        unit = normalize_unit(cells["unit"])
        aspec = spec.get(attribute) if spec is not None and attribute else None
        if aspec is not None and value is None and result and not aspec.is_qualitative:
            add(
                line,
                "value",
                value_text or result,
                f"{attribute} is numeric in the specification ({aspec.acceptance_text()}): give a number",
            )
        if aspec is not None and value is not None:
            if aspec.is_qualitative:
                add(
                    line,
                    "value",
                    value_text,
                    f"{attribute} is qualitative in the specification "
                    f"(criterion {aspec.criterion!r}): give the result, not a number",
                )
            else:
                try:
                    convert_unit(1.0, unit, aspec.unit, what="unit")
                except UnitMismatchError as exc:
                    add(line, "unit", cells["unit"], exc.problems[0].message)

        if len(problems) > n_before:
            continue

        key = (batch_id, attribute)
        if key in seen_attr:
            add(
                line,
                "attribute",
                attribute,
                f"batch {batch_id} already has a {attribute} measurement "
                f"(line {seen_attr[key]}); put replicate determinations in column 'replicates'",
            )
            continue
        seen_attr[key] = line

        fields = {
            "scale": scale,
            "date": date,
            "process_version": cells.get("process_version") or None,
            "site": cells.get("site") or None,
        }
        if batch_id not in batch_fields:
            order.append(batch_id)
            batch_fields[batch_id] = fields
            batch_lines[batch_id] = {c: line for c in _BATCH_COLUMNS}
            measurements[batch_id] = []
        else:
            known = batch_fields[batch_id]
            for column in _BATCH_COLUMNS:
                if fields[column] is None:
                    continue
                if known[column] is None:
                    known[column] = fields[column]
                    batch_lines[batch_id][column] = line
                elif known[column] != fields[column]:
                    add(
                        line,
                        column,
                        cells[column],
                        f"batch {batch_id} has {column} "
                        f"{_as_text(known[column])!r} on line {batch_lines[batch_id][column]}; "
                        "a batch has one value",
                    )
        try:
            measurements[batch_id].append(
                Measurement(
                    attribute=attribute,
                    value=value,
                    qualifier=qualifier,
                    result=result,
                    unit=unit,
                    method=cells["method"] or None,
                    replicates=tuple(replicates) if replicates else None,
                    uncertainty=uncertainty,
                    date=m_date,
                    analyst=cells.get("analyst") or None,
                    instrument=cells.get("instrument") or None,
                    notes=cells.get("notes") or None,
                )
            )
        except SpecError as exc:
            for p in exc.problems:
                col = p.path.split(".")[0].split("[")[0] or None
                add(line, col, p.value, p.message)

    if not order and not problems:
        problems.append(Problem(source, NO_VALUE, "no measurements: the file has a header but no data rows"))
    if problems:
        raise SpecError(problems[:_MAX_PROBLEMS], source=source, kind="lot history")
    batches = []
    for batch_id in order:
        try:
            batches.append(
                Batch(batch_id=batch_id, measurements=tuple(measurements[batch_id]), **batch_fields[batch_id])
            )
        except SpecError as exc:
            problems.extend(p.prefixed(f"batch {batch_id}") for p in exc.problems)
    if problems:
        raise SpecError(problems, source=source, kind="lot history")
    return batches


def _check_against_spec(batches: Sequence[Batch], spec: Specification, source: str) -> None:
    problems: list[Problem] = []
    for i, b in enumerate(batches):
        for j, m in enumerate(b.measurements):
            path = f"batches[{i}].measurements[{j}]"
            aspec = spec.get(m.attribute)
            if aspec is None:
                problems.append(
                    Problem(
                        f"{path}.attribute",
                        m.attribute,
                        f"not in specification {spec.label}; {spec.unknown_attribute_hint(m.attribute)}",
                    )
                )
                continue
            if aspec.is_qualitative and m.value is not None:
                problems.append(
                    Problem(
                        f"{path}.value",
                        m.value,
                        f"{m.attribute} is qualitative in the "
                        f"specification (criterion {aspec.criterion!r}): give the result",
                    )
                )
            elif not aspec.is_qualitative and m.value is None:
                problems.append(
                    Problem(
                        f"{path}.result",
                        m.result,
                        f"{m.attribute} is numeric in the "
                        f"specification ({aspec.acceptance_text()}): give a value",
                    )
                )
            elif not aspec.is_qualitative:
                try:
                    convert_unit(1.0, m.unit, aspec.unit, what="unit")
                except UnitMismatchError as exc:
                    problems.append(Problem(f"{path}.unit", m.unit, exc.problems[0].message))
    if problems:
        raise SpecError(problems, source=source, kind="lot history")


def _batches_from_data(data: Any, source: str) -> list[Batch]:
    if isinstance(data, Mapping) and "batches" in data:
        extra = [k for k in data if k not in {"batches", "description", "notes", "name"}]
        if extra:
            raise SpecError(
                [
                    Problem(
                        str(extra[0]),
                        data[extra[0]],
                        "unknown field; allowed: batches, name, description, notes",
                    )
                ],
                source=source,
                kind="lot history",
            )
        items = data["batches"]
    elif isinstance(data, Mapping):
        items = [data]
    else:
        items = data
    if not isinstance(items, list) or not items:
        raise SpecError(
            [Problem("batches", NO_VALUE, "expected a non-empty list of batches")],
            source=source,
            kind="lot history",
        )
    batches: list[Batch] = []
    problems: list[Problem] = []
    ids: dict[str, int] = {}
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append(
                Problem(f"batches[{i}]", type(item).__name__, "must be a mapping of batch fields")
            )
            continue
        try:
            batch = Batch.from_dict(item)
        except SpecError as exc:
            problems.extend(p.prefixed(f"batches[{i}]") for p in exc.problems)
            continue
        if batch.batch_id in ids:
            problems.append(
                Problem(
                    f"batches[{i}].batch_id",
                    batch.batch_id,
                    f"duplicate batch id (also batches[{ids[batch.batch_id]}])",
                )
            )
        ids.setdefault(batch.batch_id, i)
        batches.append(batch)
    if problems:
        raise SpecError(problems, source=source, kind="lot history")
    return batches


def load_batches(
    source: str | Path | Sequence[Mapping[str, Any]] | Mapping[str, Any],
    specification: Specification | None = None,
) -> list[Batch]:
    """Batches from a tidy CSV (one row per measurement), a YAML/JSON file or in-memory data.

    CSV columns: :data:`CSV_REQUIRED_COLUMNS` (``batch_id, scale, date, attribute, value, unit,
    method``) and optionally :data:`CSV_OPTIONAL_COLUMNS`. ``value`` is a number, a bound such as
    ``<0.5``, or a qualitative result (``pass``); replicates are separated by ``;``. Batch-level
    columns (scale, date, process_version, site) must agree across a batch's rows.

    With a ``specification``, every attribute must be in it, numeric results must have a unit
    convertible to the specified unit, and qualitative attributes must have results.

    Raises :class:`SpecError` listing every problem with file, line and column.
    """
    if isinstance(source, str | Path):
        path = Path(source)
        name = str(path)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            try:
                text = path.read_text(encoding="utf-8-sig")
            except FileNotFoundError:
                raise SpecError(
                    [Problem(name, NO_VALUE, "file not found")], source=name, kind="lot history"
                ) from None
            except (OSError, UnicodeDecodeError) as exc:
                raise SpecError(
                    [Problem(name, NO_VALUE, f"cannot read file: {exc}")], source=name, kind="lot history"
                ) from exc
            return _read_csv_batches(text, name, specification)
        if suffix in {".yaml", ".yml", ".json"}:
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise SpecError(
                    [Problem(name, NO_VALUE, "file not found")], source=name, kind="lot history"
                ) from None
            data = load_yaml_text(text, name, kind="lot history")  # JSON is YAML
            if data is None:
                raise SpecError([Problem(name, NO_VALUE, "file is empty")], source=name, kind="lot history")
            batches = _batches_from_data(data, name)
        else:
            raise SpecError(
                [Problem(name, suffix or "<no extension>", "file type must be .csv, .yaml, .yml or .json")],
                source=name,
                kind="lot history",
            )
    else:
        name = "<data>"
        batches = _batches_from_data(source, name)
    if specification is not None:
        _check_against_spec(batches, specification, name)
    return batches


def load_specification(source: str | Path | Mapping[str, Any]) -> Specification:
    """A :class:`Specification` from a YAML/JSON file (or a mapping); a file holding
    ``{specification: {...}}`` is accepted too."""
    if isinstance(source, Specification):
        return source
    if isinstance(source, Mapping):
        return Specification.from_dict(source)
    path = Path(source)
    data = read_mapping(path, kind="specification", unwrap="specification")
    return Specification.from_dict(data, source=str(path))
