"""Species parameter sets for the nanoparticle PBPK model (Cheng 2020 / Lin 2016 structure).

The sets are data, not code: one YAML file per set in ``nanobridge/data/pbpk/``, each value with
its unit, a citation key (``nanobridge/data/references/pbpk.yaml``) and an ``assumed`` flag. This
module only reads and checks them; the flows and volume of the rest of body are remainders that
the engine computes, so they are never stored here.

    >>> mouse = load_parameter_set("Cheng2020_mouse")
    >>> mouse["QCC"]                       # L/h/kg^0.75
    16.5
    >>> bigger = mouse.with_overrides(VTC=0.02)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from types import MappingProxyType
from typing import Any

import yaml

__all__ = [
    "BLOOD_FRACTION_PARAMETERS",
    "DEFAULT_PARAMETER_SETS",
    "FLOW_FRACTION_PARAMETERS",
    "REQUIRED_PARAMETERS",
    "VOLUME_FRACTION_PARAMETERS",
    "ParameterSet",
    "ParameterSetError",
    "ParameterValue",
    "available_parameter_sets",
    "default_parameter_set",
    "load_parameter_set",
]

_PC_ORGANS: tuple[str, ...] = ("L", "S", "K", "Lu", "M", "R", "T")

#: Flows to organs as fractions of cardiac output (QLuC, the lungs, is 1 and not part of the sum).
FLOW_FRACTION_PARAMETERS: tuple[str, ...] = ("QLC", "QKC", "QBrC", "QSC", "QMC", "QHC", "QTC")
#: Volumes as fractions of body weight that, with the rest of body, make up the body.
#: Whole blood (VBldC) is counted; plasma (VPlasC) is part of it.
VOLUME_FRACTION_PARAMETERS: tuple[str, ...] = (
    "VLC",
    "VLuC",
    "VKC",
    "VBrC",
    "VSC",
    "VHC",
    "VMC",
    "VTC",
    "VBldC",
)
#: Residual (capillary) blood as a fraction of each organ's volume.
BLOOD_FRACTION_PARAMETERS: tuple[str, ...] = ("BVL", "BVBr", "BVK", "BVS", "BVLu", "BVM", "BVH", "BVR", "BVT")
_PARTITION_PARAMETERS: tuple[str, ...] = ("PL", "PK", "PBr", "PS", "PLu", "PH", "PM", "PR", "PT")
_PERMEABILITY_PARAMETERS: tuple[str, ...] = (
    "PALC",
    "PABrC",
    "PAKC",
    "PASC",
    "PALuC",
    "PAHC",
    "PAMC",
    "PARC",
    "PATC",
)
_PC_PARAMETERS: tuple[str, ...] = tuple(
    f"K{organ}RES{suffix}" for organ in _PC_ORGANS for suffix in ("release", "max", "50", "n")
)

#: Every parameter set defines at least these keys (it may carry documented extras).
REQUIRED_PARAMETERS: tuple[str, ...] = (
    "BW_kg",
    "QCC",
    "QLuC",
    *FLOW_FRACTION_PARAMETERS,
    *VOLUME_FRACTION_PARAMETERS,
    "VPlasC",
    "FracArterialPlasma",
    *BLOOD_FRACTION_PARAMETERS,
    *_PARTITION_PARAMETERS,
    *_PERMEABILITY_PARAMETERS,
    *_PC_PARAMETERS,
    "KbileC",
    "KurineC",
    "GFR_L_per_h_per_kg",
)

# Values that a division or a power law needs strictly positive.
_STRICTLY_POSITIVE: tuple[str, ...] = (
    "BW_kg",
    "QCC",
    "VPlasC",
    "FracArterialPlasma",
    *_PARTITION_PARAMETERS,
    *(f"K{organ}RES50" for organ in _PC_ORGANS),
    *(f"K{organ}RESn" for organ in _PC_ORGANS),
)

#: Default parameter set of each species.
DEFAULT_PARAMETER_SETS: Mapping[str, str] = MappingProxyType(
    {"mouse": "Cheng2020_mouse", "rat": "Brown1997_rat", "human": "ICRP89_human"}
)

_ENTRY_FIELDS = frozenset({"value", "unit", "citation", "assumed", "note"})


class ParameterSetError(ValueError):
    """A parameter set is missing, malformed, or physiologically impossible."""


@dataclass(frozen=True)
class ParameterValue:
    """One parameter: its value, unit, source and whether the value is assumed."""

    value: float
    unit: str
    citation: str | None
    assumed: bool
    note: str = ""


@dataclass(frozen=True)
class ParameterSet:
    """An immutable, validated set of PBPK parameters for one species.

    ``ps["QCC"]`` gives the value (a float); ``ps.parameter("QCC")`` the full
    :class:`ParameterValue` with unit and citation.
    """

    name: str
    species: str
    description: str
    citations: tuple[str, ...]
    values: Mapping[str, ParameterValue]
    overridden: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        # Freeze the mapping so that the set cannot be changed behind its validation.
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        _validate(self)

    def __hash__(self) -> int:
        return hash((self.name, self.species, tuple(self.values.items())))

    def __getitem__(self, key: str) -> float:
        return self.parameter(key).value

    def __contains__(self, key: object) -> bool:
        return key in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def keys(self) -> tuple[str, ...]:
        return tuple(self.values)

    def parameter(self, key: str) -> ParameterValue:
        """The full record (value, unit, citation, assumed, note) of one parameter."""
        try:
            return self.values[key]
        except KeyError:
            raise KeyError(
                f"parameter set {self.name!r} has no parameter {key!r}; "
                f"allowed: {', '.join(sorted(self.values))}"
            ) from None

    def with_overrides(self, **values: float) -> ParameterSet:
        """A new set with some values replaced (units kept); this set is unchanged.

        Unknown keys, non-numeric, non-finite or negative values, and results that break the
        physiological checks raise :class:`ParameterSetError` naming the key and the value.
        """
        unknown = sorted(set(values) - set(self.values))
        if unknown:
            raise ParameterSetError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} for set {self.name!r}; "
                f"allowed: {', '.join(sorted(self.values))}"
            )
        new_values = dict(self.values)
        for key, raw in values.items():
            number = _as_number(raw, f"override {key}")
            if not math.isfinite(number) or number < 0:
                raise ParameterSetError(
                    f"override {key}={raw!r} is not allowed: values must be finite and >= 0"
                )
            old = self.values[key]
            new_values[key] = ParameterValue(
                value=number,
                unit=old.unit,
                citation=None,
                assumed=False,
                note=f"user override (set {self.name} value: {old.value:g} {old.unit})",
            )
        return ParameterSet(
            name=self.name,
            species=self.species,
            description=self.description,
            citations=self.citations,
            values=new_values,
            overridden=self.overridden | frozenset(values),
        )

    def as_dict(self) -> dict[str, float]:
        """Plain ``{key: value}`` for the engine (units are those of :meth:`parameter`)."""
        return {key: entry.value for key, entry in self.values.items()}

    def citation_keys(self) -> set[str]:
        """Citation keys of the set and of all its values (for the report's reference list)."""
        keys = set(self.citations)
        keys.update(entry.citation for entry in self.values.values() if entry.citation)
        return keys

    def assumed_parameters(self) -> tuple[str, ...]:
        """Keys whose values no cited source gives directly."""
        return tuple(key for key, entry in self.values.items() if entry.assumed)


def _as_number(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ParameterSetError(f"{where}: value {raw!r} is not a number")
    return float(raw)


def _validate(ps: ParameterSet) -> None:
    missing = [key for key in REQUIRED_PARAMETERS if key not in ps.values]
    if missing:
        raise ParameterSetError(
            f"parameter set {ps.name!r} lacks required parameter(s): {', '.join(missing)}"
        )
    for key, entry in ps.values.items():
        if not math.isfinite(entry.value) or entry.value < 0:
            raise ParameterSetError(
                f"parameter set {ps.name!r}: {key}={entry.value!r} must be finite and >= 0"
            )
        if not entry.unit.strip():
            raise ParameterSetError(f"parameter set {ps.name!r}: {key} has no unit")
    for key in _STRICTLY_POSITIVE:
        if ps.values[key].value <= 0:
            raise ParameterSetError(f"parameter set {ps.name!r}: {key}={ps.values[key].value!r} must be > 0")
    if not math.isclose(ps.values["QLuC"].value, 1.0, rel_tol=0, abs_tol=1e-12):
        raise ParameterSetError(
            f"parameter set {ps.name!r}: QLuC={ps.values['QLuC'].value!r} must be 1 "
            "(the lungs receive the whole cardiac output)"
        )
    flow_sum = sum(ps.values[key].value for key in FLOW_FRACTION_PARAMETERS)
    if flow_sum >= 1:
        raise ParameterSetError(
            f"parameter set {ps.name!r}: organ flow fractions "
            f"({' + '.join(FLOW_FRACTION_PARAMETERS)}) sum to {flow_sum:.4g}; "
            "they must sum to < 1 so that the rest of body keeps a positive flow"
        )
    volume_sum = sum(ps.values[key].value for key in VOLUME_FRACTION_PARAMETERS)
    if volume_sum >= 1:
        raise ParameterSetError(
            f"parameter set {ps.name!r}: volume fractions "
            f"({' + '.join(VOLUME_FRACTION_PARAMETERS)}) sum to {volume_sum:.4g}; "
            "they must sum to < 1 so that the rest of body keeps a positive volume"
        )
    if ps.values["VPlasC"].value > ps.values["VBldC"].value:
        raise ParameterSetError(
            f"parameter set {ps.name!r}: plasma VPlasC={ps.values['VPlasC'].value!r} "
            f"exceeds whole blood VBldC={ps.values['VBldC'].value!r}"
        )
    for key in (*BLOOD_FRACTION_PARAMETERS, "FracArterialPlasma"):
        value = ps.values[key].value
        if not 0 < value < 1:
            raise ParameterSetError(f"parameter set {ps.name!r}: {key}={value!r} must lie in (0, 1)")


def _pbpk_dir() -> Traversable:
    return resources.files("nanobridge").joinpath("data", "pbpk")


#: YAML files in ``data/pbpk/`` that are not parameter sets (the lymphatic-route kinetics).
NOT_PARAMETER_SETS: frozenset[str] = frozenset({"lymphatic"})


def available_parameter_sets() -> list[str]:
    """Names of the packaged parameter sets (the YAML file stems), sorted."""
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in _pbpk_dir().iterdir()
        if entry.is_file()
        and entry.name.endswith(".yaml")
        and entry.name.removesuffix(".yaml") not in NOT_PARAMETER_SETS
    )


def _parse_entry(set_name: str, key: Any, raw: Any) -> ParameterValue:
    where = f"parameter set {set_name!r}, parameter {key!r}"
    if not isinstance(key, str):
        raise ParameterSetError(f"{where}: keys must be strings")
    if not isinstance(raw, Mapping):
        raise ParameterSetError(f"{where}: expected a mapping with {sorted(_ENTRY_FIELDS)}")
    extra = set(raw) - _ENTRY_FIELDS
    if extra or "value" not in raw or "unit" not in raw:
        raise ParameterSetError(
            f"{where}: fields must be value, unit (required) and citation, assumed, note; "
            f"got {sorted(map(str, raw))}"
        )
    value = _as_number(raw["value"], where)
    unit = raw["unit"]
    citation = raw.get("citation")
    assumed = raw.get("assumed", False)
    note = raw.get("note") or ""
    if not isinstance(unit, str):
        raise ParameterSetError(f"{where}: unit {unit!r} is not text")
    if citation is not None and (not isinstance(citation, str) or not citation.strip()):
        raise ParameterSetError(f"{where}: citation {citation!r} must be a key or null")
    if not isinstance(assumed, bool):
        raise ParameterSetError(f"{where}: assumed {assumed!r} must be true or false")
    if citation is None and not assumed:
        raise ParameterSetError(f"{where}: a value without a citation must be marked assumed")
    if not isinstance(note, str):
        raise ParameterSetError(f"{where}: note {note!r} is not text")
    return ParameterValue(value=value, unit=unit, citation=citation, assumed=assumed, note=note)


@cache
def load_parameter_set(name: str) -> ParameterSet:
    """Load and validate the packaged parameter set ``name`` (a file stem)."""
    available = available_parameter_sets()
    if name not in available:
        raise ParameterSetError(f"unknown parameter set {name!r}; available: {', '.join(available)}")
    text = _pbpk_dir().joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParameterSetError(f"parameter set {name!r}: invalid YAML ({exc})") from exc
    if not isinstance(doc, Mapping):
        raise ParameterSetError(f"parameter set {name!r}: the file must hold a mapping")
    if doc.get("name") != name:
        raise ParameterSetError(
            f"parameter set file {name}.yaml declares name {doc.get('name')!r}; they must match"
        )
    species = doc.get("species")
    description = doc.get("description", "")
    citations = doc.get("citations", [])
    parameters = doc.get("parameters")
    if not isinstance(species, str) or not species:
        raise ParameterSetError(f"parameter set {name!r}: species must be given")
    if not isinstance(description, str):
        raise ParameterSetError(f"parameter set {name!r}: description must be text")
    if not isinstance(citations, list) or not all(isinstance(c, str) for c in citations):
        raise ParameterSetError(f"parameter set {name!r}: citations must be a list of keys")
    if not isinstance(parameters, Mapping):
        raise ParameterSetError(f"parameter set {name!r}: parameters must be a mapping")
    values = {key: _parse_entry(name, key, raw) for key, raw in parameters.items()}
    return ParameterSet(
        name=name,
        species=species,
        description=" ".join(description.split()),
        citations=tuple(citations),
        values=values,
    )


def default_parameter_set(species: str) -> ParameterSet:
    """The default set of a species: mouse, rat or human (case-insensitive)."""
    key = species.strip().lower() if isinstance(species, str) else species
    if key not in DEFAULT_PARAMETER_SETS:
        raise ParameterSetError(
            f"no default parameter set for species {species!r}; allowed: {', '.join(DEFAULT_PARAMETER_SETS)}"
        )
    return load_parameter_set(DEFAULT_PARAMETER_SETS[key])
