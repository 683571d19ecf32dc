"""Virtual-population models: cited covariate distributions, read from packaged data.

Each species has one YAML file in ``nanobridge/data/population/`` (``human.yaml``,
``mouse.yaml``, ``rat.yaml``): every number has its unit, a citation key
(``data/references/population.yaml`` and the other reference files) and an ``assumed`` flag with
a note when no cited source gives it directly. This module only reads and checks the files; the
sampling is :mod:`nanobridge.science.population.covariates`.

    >>> model = load_population_model("human")
    >>> model["height_mean_cm_male"]          # cm, NHANES 2015-2016
    175.4
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from nanobridge.citations import cite, get_reference

__all__ = [
    "POPULATION_SPECIES",
    "PopulationModel",
    "PopulationModelError",
    "PopulationValue",
    "load_population_model",
]

#: Species with a packaged population model.
POPULATION_SPECIES: tuple[str, ...] = ("mouse", "rat", "human")

_FIELDS = frozenset({"value", "unit", "citation", "assumed", "note"})

#: Keys every model defines (the species-specific ones are checked by the samplers).
_COMMON_KEYS: tuple[str, ...] = (
    "tumor_volume_sd_log",
    "tumor_volume_min_mL",
    "tumor_permeability_sd_log",
    "tumor_phagocyte_uptake_sd_log",
    "corr_tumor_permeability_phagocyte_uptake",
    "corr_tumor_perfusion_permeability",
    "mps_uptake_cv",
    "biliary_clearance_cv",
    "cardiac_output_cv",
    "uncertainty_tumor_sd_log",
    "uncertainty_mps_sd_log",
    "uncertainty_biliary_sd_log",
)


class PopulationModelError(ValueError):
    """A population model file is missing or malformed."""


@dataclass(frozen=True)
class PopulationValue:
    """One number of a population model with its unit and source."""

    value: float
    unit: str
    citation: str
    assumed: bool
    note: str = ""


@dataclass(frozen=True)
class PopulationModel:
    """The covariate distributions of one species (immutable).

    ``model["key"]`` is the value (float); :meth:`entry` the full record; :meth:`use` returns the
    value and records its citation with :func:`nanobridge.citations.cite`.
    """

    name: str
    species: str
    description: str
    values: Mapping[str, PopulationValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def __getitem__(self, key: str) -> float:
        return self.entry(key).value

    def __contains__(self, key: object) -> bool:
        return key in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def entry(self, key: str) -> PopulationValue:
        try:
            return self.values[key]
        except KeyError:
            raise KeyError(
                f"population model {self.name!r} ({self.species}) has no value {key!r}; "
                f"known: {', '.join(sorted(self.values))}"
            ) from None

    def use(self, key: str) -> float:
        """The value of ``key``, citing its source."""
        entry = self.entry(key)
        cite(entry.citation)
        return entry.value

    def citation_keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.citation for v in self.values.values()))

    def assumed_keys(self) -> tuple[str, ...]:
        return tuple(k for k, v in self.values.items() if v.assumed)


def _parse(name: str, data: Any) -> PopulationModel:
    if not isinstance(data, Mapping):
        raise PopulationModelError(f"population/{name}: expected a mapping, got {type(data).__name__}")
    problems: list[str] = []
    raw = data.get("parameters")
    if not isinstance(raw, Mapping) or not raw:
        raise PopulationModelError(f"population/{name}: 'parameters' must be a non-empty mapping")
    values: dict[str, PopulationValue] = {}
    for key, entry in raw.items():
        if not isinstance(entry, Mapping):
            problems.append(f"{key}: expected a mapping with value, unit, citation, assumed")
            continue
        extra = set(entry) - _FIELDS
        if extra:
            problems.append(f"{key}: unknown field(s) {sorted(extra)}; allowed: {sorted(_FIELDS)}")
        try:
            value = float(entry["value"])
        except (KeyError, TypeError, ValueError):
            problems.append(f"{key}.value: {entry.get('value')!r} is not a number")
            continue
        if not math.isfinite(value):
            problems.append(f"{key}.value: {value!r} is not finite")
        citation = entry.get("citation")
        if not isinstance(citation, str) or not citation:
            problems.append(f"{key}.citation: every value needs a citation key (Assumed if none)")
            continue
        try:
            get_reference(citation)
        except KeyError as exc:
            problems.append(f"{key}.citation: {exc}")
        assumed = bool(entry.get("assumed", False))
        if citation == "Assumed" and not assumed:
            problems.append(f"{key}: cites Assumed but is not marked assumed: true")
        values[str(key)] = PopulationValue(
            value=value,
            unit=str(entry.get("unit", "")),
            citation=citation,
            assumed=assumed,
            note=str(entry.get("note", "")),
        )
    missing = [k for k in _COMMON_KEYS if k not in values]
    if missing:
        problems.append(f"missing value(s): {', '.join(missing)}")
    species = str(data.get("species", ""))
    if species not in POPULATION_SPECIES:
        problems.append(f"species: {species!r}; allowed: {', '.join(POPULATION_SPECIES)}")
    if problems:
        raise PopulationModelError(
            f"population/{name}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems)
        )
    return PopulationModel(
        name=str(data.get("name", name)),
        species=species,
        description=" ".join(str(data.get("description", "")).split()),
        values=values,
    )


@cache
def load_population_model(species: str) -> PopulationModel:
    """The packaged population model of ``species`` (mouse, rat or human)."""
    key = str(species).strip().lower()
    if key not in POPULATION_SPECIES:
        raise ValueError(
            f"species: {species!r} has no population model; allowed: {', '.join(POPULATION_SPECIES)}"
        )
    folder = resources.files("nanobridge") / "data" / "population"
    file = folder / f"{key}.yaml"
    if not file.is_file():
        raise PopulationModelError(f"population model file data/population/{key}.yaml is missing")
    return _parse(f"{key}.yaml", yaml.safe_load(file.read_text(encoding="utf-8")))
