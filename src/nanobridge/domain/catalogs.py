"""Packaged catalogs: materials, radionuclides, fluorophores, contrast elements and species.

Each catalog is a YAML file in ``nanobridge/data/catalogs/``; every entry names its unit in its
field names and cites a reference key from :mod:`nanobridge.citations`. Catalogs are loaded
once (cached) and looked up by key, case-insensitively, or by an alias::

    >>> radionuclide("89Zr").half_life_h
    78.41
    >>> material("Fe3O4").key
    'iron_oxide'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from importlib import resources
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nanobridge.citations import cite, get_reference
from nanobridge.domain._io import load_yaml_text
from nanobridge.domain.errors import CatalogLookupError, SpecError

__all__ = [
    "INTERSTITIAL_ROUTES",
    "Catalog",
    "CatalogEntry",
    "ContrastElement",
    "DecayBranch",
    "Fluorophore",
    "InjectionSite",
    "Material",
    "Radionuclide",
    "Species",
    "contrast_element",
    "contrast_elements",
    "fluorophore",
    "fluorophores",
    "injection_site",
    "injection_site_species",
    "injection_sites",
    "material",
    "materials",
    "normalize_nuclide",
    "radionuclide",
    "radionuclides",
    "species",
    "species_catalog",
]

ImagingMode = Literal["PET", "SPECT", "therapy"]
EmissionType = Literal["positron", "gamma", "beta-minus", "alpha", "auger"]


class CatalogEntry(BaseModel):
    """Fields shared by all catalog entries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    display_name: str = ""
    aliases: tuple[str, ...] = ()
    citation: str
    assumed: bool = False
    assumed_fields: tuple[str, ...] = ()
    note: str | None = None

    @model_validator(mode="after")
    def _default_display_name(self) -> CatalogEntry:
        if not self.display_name:
            object.__setattr__(self, "display_name", self.key)
        return self

    def citation_keys(self) -> tuple[str, ...]:
        """All reference keys this entry cites (``citation`` and every ``*_citation``)."""
        keys = [self.citation]
        for name in type(self).model_fields:
            if name.endswith("_citation"):
                value = getattr(self, name)
                if isinstance(value, str):
                    keys.append(value)
        return tuple(dict.fromkeys(keys))

    def cite(self) -> tuple[str, ...]:
        """Record this entry's references as used (see :func:`nanobridge.citations.cite`)."""
        return cite(*self.citation_keys())


class Material(CatalogEntry):
    """A core material."""

    category: Literal["inorganic", "polymer", "lipid", "hybrid"]
    elements: tuple[str, ...] = ()
    density_g_per_cm3: float | None = Field(default=None, gt=0, le=25)
    biodegradable: bool
    biodegradable_citation: str

    @property
    def composition_is_variable(self) -> bool:
        return not self.elements


class DecayBranch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: str
    daughter: str
    fraction: float = Field(gt=0, le=1)


class Radionuclide(CatalogEntry):
    """A radionuclide label."""

    half_life_h: float = Field(gt=0)
    decay_mode_for_imaging: ImagingMode
    emission_types: tuple[EmissionType, ...]
    decay_branches: tuple[DecayBranch, ...] = ()
    software_citation: str | None = None

    @property
    def symbol(self) -> str:
        return self.key.split("-")[0]

    @property
    def mass_number(self) -> int:
        return int(re.sub(r"\D", "", self.key.split("-")[1]))

    @property
    def decay_constant_per_h(self) -> float:
        import math

        return math.log(2) / self.half_life_h

    @property
    def imaging_modality(self) -> Literal["PET", "SPECT"] | None:
        """PET for positron emitters, SPECT for gamma emitters (including therapeutic nuclides
        with a usable gamma line); ``None`` if the nuclide cannot be imaged directly."""
        if self.decay_mode_for_imaging == "PET":
            return "PET"
        if self.decay_mode_for_imaging == "SPECT" or "gamma" in self.emission_types:
            return "SPECT"
        return None

    @property
    def is_therapeutic(self) -> bool:
        return self.decay_mode_for_imaging == "therapy"


class Fluorophore(CatalogEntry):
    """A fluorescent dye."""

    excitation_nm: float = Field(gt=200, lt=2000)
    emission_nm: float = Field(gt=200, lt=2000)
    quantum_yield: float = Field(gt=0, le=1)
    extinction_coefficient_per_M_per_cm: float = Field(gt=0)
    medium: str = ""
    window: Literal["visible", "far-red", "NIR-I", "NIR-II"]

    @model_validator(mode="after")
    def _stokes(self) -> Fluorophore:
        if self.emission_nm <= self.excitation_nm:
            raise ValueError(f"{self.key}: emission_nm must exceed excitation_nm")
        return self

    @property
    def brightness_per_M_per_cm(self) -> float:
        """Molecular brightness, quantum yield x molar absorption coefficient [M-1 cm-1]."""
        return self.quantum_yield * self.extinction_coefficient_per_M_per_cm


#: Interstitial routes of administration (a depot drained by lymphatics and blood capillaries).
INTERSTITIAL_ROUTES: tuple[str, ...] = ("subcutaneous", "intradermal", "peritumoral")
InterstitialRoute = Literal["subcutaneous", "intradermal", "peritumoral"]


class InjectionSite(CatalogEntry):
    """An interstitial injection site of one species: routes, draining nodes and their anatomy."""

    species: str
    description: str = ""
    routes: tuple[InterstitialRoute, ...] = Field(min_length=1)
    first_node: str
    second_node: str
    node_1_volume_mL: float = Field(gt=0, le=50)
    node_2_volume_mL: float = Field(gt=0, le=50)
    default_injection_volume_mL: float = Field(gt=0, le=20)
    skin_thickness_mm: float = Field(ge=0, le=20)
    fat_thickness_mm: float = Field(ge=0, le=200)
    volume_citation: str
    injection_volume_citation: str
    depth_citation: str

    @property
    def node_1_depth_mm(self) -> float:
        """Depth of the top of the first node below the skin surface [mm] (skin + fat)."""
        return self.skin_thickness_mm + self.fat_thickness_mm


class ContrastElement(CatalogEntry):
    """An element used as CT and/or MRI contrast."""

    name: str
    atomic_number: int = Field(ge=1, le=118)
    k_edge_keV: float = Field(gt=0)
    modalities: tuple[Literal["CT", "MRI"], ...]
    mri_mechanism: str | None = None

    @property
    def symbol(self) -> str:
        return self.key


class Species(CatalogEntry):
    """A species a scenario can use."""

    default_body_weight_kg: float = Field(gt=0)
    body_weight_range_kg: tuple[float, float]
    range_citation: str
    max_tumor_fraction_of_body_weight: float = Field(gt=0, le=1)
    tumor_citation: str

    @field_validator("body_weight_range_kg")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] < value[1]:
            raise ValueError("body_weight_range_kg must be [min, max] with 0 < min < max")
        return value

    @model_validator(mode="after")
    def _default_in_range(self) -> Species:
        lo, hi = self.body_weight_range_kg
        if not lo <= self.default_body_weight_kg <= hi:
            raise ValueError("default_body_weight_kg lies outside body_weight_range_kg")
        return self


E = TypeVar("E", bound=CatalogEntry)


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-.()/,']+", "", name.lower())


class Catalog(Generic[E]):
    """Entries of one catalog file, looked up by key, case-insensitively, or by alias."""

    def __init__(
        self,
        label: str,
        entries: Mapping[str, E],
        normalizer: Callable[[str], str | None] | None = None,
    ) -> None:
        self.label = label
        self._entries = dict(entries)
        self._normalizer = normalizer
        self._index: dict[str, str] = {}
        for key, entry in self._entries.items():
            extra_name = getattr(entry, "name", None)
            names = (key, entry.display_name, *entry.aliases, *([extra_name] if extra_name else []))
            for name in names:
                norm = _norm(name)
                if not norm:
                    continue
                other = self._index.get(norm)
                if other is not None and other != key:
                    raise ValueError(f"{label} catalog: name {name!r} is used by {other!r} and {key!r}")
                self._index[norm] = key

    def keys(self) -> list[str]:
        return list(self._entries)

    def values(self) -> list[E]:
        return list(self._entries.values())

    def items(self) -> list[tuple[str, E]]:
        return list(self._entries.items())

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.resolve_key(name) is not None

    def resolve_key(self, name: str) -> str | None:
        """Canonical key for ``name``, or ``None``."""
        if name in self._entries:
            return name
        if self._normalizer is not None:
            canonical = self._normalizer(name)
            if canonical is not None and canonical in self._entries:
                return canonical
        return self._index.get(_norm(name))

    def get(self, name: str) -> E:
        """Entry for ``name``; :class:`CatalogLookupError` listing what is allowed otherwise."""
        if not isinstance(name, str):
            raise CatalogLookupError(self.label, name, self.keys(), "give it as text")
        key = self.resolve_key(name)
        if key is None:
            import difflib

            close = difflib.get_close_matches(_norm(name), list(self._index), n=1, cutoff=0.75)
            hint = f"did you mean {self._index[close[0]]!r}?" if close else ""
            raise CatalogLookupError(self.label, name, self.keys(), hint)
        return self._entries[key]

    def __getitem__(self, name: str) -> E:
        return self.get(name)

    def citation_keys(self) -> tuple[str, ...]:
        keys: list[str] = []
        for entry in self._entries.values():
            keys.extend(entry.citation_keys())
        return tuple(dict.fromkeys(keys))


# --------------------------------------------------------------------------------------------
# Radionuclide spellings
# --------------------------------------------------------------------------------------------

_SEP = r"[\s\-_^]?"
_MASS_FIRST = re.compile(rf"^(\d{{1,3}})(m?){_SEP}([a-z]{{1,2}})$")
_SYMBOL_FIRST = re.compile(rf"^([a-z]{{1,2}}){_SEP}(\d{{1,3}})(m?)$")


def normalize_nuclide(spelling: str) -> str | None:
    """Canonical ``'Zr-89'`` / ``'Tc-99m'`` form of spellings such as ``'89Zr'``, ``'Zr-89'``,
    ``'zr89'``, ``'99mTc'``, ``'Tc 99m'`` or ``'⁸⁹Zr'``; ``None`` if it is not a nuclide spelling."""
    if not isinstance(spelling, str):
        return None
    text = spelling.strip().translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹ᵐ", "0123456789m"))
    text = text.lower()
    m = _MASS_FIRST.match(text)
    if m:
        mass, meta, symbol = m.groups()
    else:
        m = _SYMBOL_FIRST.match(text)
        if not m:
            return None
        symbol, mass, meta = m.groups()
    return f"{symbol.capitalize()}-{int(mass)}{meta}"


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _read_catalog_file(filename: str) -> dict[str, Any]:
    path = resources.files("nanobridge") / "data" / "catalogs" / filename
    text = path.read_text(encoding="utf-8")
    data = load_yaml_text(text, f"data/catalogs/{filename}", kind="catalog")
    if not isinstance(data, dict):
        raise ValueError(f"data/catalogs/{filename}: expected a mapping of entries")
    return data


def _load(
    filename: str, label: str, model: type[E], normalizer: Callable[[str], str | None] | None = None
) -> Catalog[E]:
    raw = _read_catalog_file(filename)
    entries: dict[str, E] = {}
    for key, fields in raw.items():
        if not isinstance(fields, dict):
            raise ValueError(f"data/catalogs/{filename}: entry {key!r} must be a mapping")
        try:
            entry = model.model_validate({**fields, "key": str(key)})
        except ValidationError as exc:
            raise SpecError.from_validation_error(
                exc, model, source=f"data/catalogs/{filename} [{key}]", kind=f"{label} catalog entry"
            ) from exc
        for ref_key in entry.citation_keys():
            get_reference(ref_key)  # UnknownCitationError if the key is not registered
        entries[str(key)] = entry
    return Catalog(label, entries, normalizer)


@functools.lru_cache(maxsize=1)
def materials() -> Catalog[Material]:
    """The core-materials catalog (``data/catalogs/materials.yaml``)."""
    return _load("materials.yaml", "material", Material)


@functools.lru_cache(maxsize=1)
def radionuclides() -> Catalog[Radionuclide]:
    """The radionuclide catalog (``data/catalogs/radionuclides.yaml``)."""
    return _load("radionuclides.yaml", "radionuclide", Radionuclide, normalize_nuclide)


@functools.lru_cache(maxsize=1)
def fluorophores() -> Catalog[Fluorophore]:
    """The fluorophore catalog (``data/catalogs/fluorophores.yaml``)."""
    return _load("fluorophores.yaml", "fluorophore", Fluorophore)


@functools.lru_cache(maxsize=1)
def contrast_elements() -> Catalog[ContrastElement]:
    """CT/MRI contrast elements (``data/catalogs/contrast_elements.yaml``)."""
    return _load("contrast_elements.yaml", "contrast element", ContrastElement)


@functools.lru_cache(maxsize=1)
def species_catalog() -> Catalog[Species]:
    """The species catalog (``data/catalogs/species.yaml``)."""
    return _load("species.yaml", "species", Species)


@functools.lru_cache(maxsize=1)
def _injection_site_catalogs() -> dict[str, Catalog[InjectionSite]]:
    raw = _read_catalog_file("injection_sites.yaml")
    out: dict[str, Catalog[InjectionSite]] = {}
    for species_key, sites in raw.items():
        if not isinstance(sites, dict):
            raise ValueError(
                f"data/catalogs/injection_sites.yaml: {species_key!r} must map site keys to entries"
            )
        entries: dict[str, InjectionSite] = {}
        for key, fields in sites.items():
            if not isinstance(fields, dict):
                raise ValueError(f"data/catalogs/injection_sites.yaml: {species_key}.{key} must be a mapping")
            try:
                entry = InjectionSite.model_validate({**fields, "key": str(key), "species": str(species_key)})
            except ValidationError as exc:
                raise SpecError.from_validation_error(
                    exc,
                    InjectionSite,
                    source=f"data/catalogs/injection_sites.yaml [{species_key}.{key}]",
                    kind="injection site catalog entry",
                ) from exc
            for ref_key in entry.citation_keys():
                get_reference(ref_key)
            entries[str(key)] = entry
        out[str(species_key)] = Catalog(f"{species_key} injection site", entries)
    return out


def injection_site_species() -> tuple[str, ...]:
    """Species that have interstitial injection sites (and so the lymphatic routes)."""
    return tuple(_injection_site_catalogs())


def injection_sites(species: str) -> Catalog[InjectionSite]:
    """The injection sites of ``species`` (``data/catalogs/injection_sites.yaml``).

    Raises :class:`CatalogLookupError` naming the species with sites when ``species`` has none.
    """
    catalogs = _injection_site_catalogs()
    if species not in catalogs:
        raise CatalogLookupError(
            "species with interstitial injection sites",
            species,
            list(catalogs),
            "the subcutaneous, intradermal and peritumoral routes have lymphatic parameters only for these",
        )
    return catalogs[species]


def injection_site(species: str, name: str) -> InjectionSite:
    """The injection site ``name`` (key or alias) of ``species``."""
    return injection_sites(species).get(name)


def material(name: str) -> Material:
    return materials().get(name)


def radionuclide(name: str) -> Radionuclide:
    return radionuclides().get(name)


def fluorophore(name: str) -> Fluorophore:
    return fluorophores().get(name)


def contrast_element(symbol: str) -> ContrastElement:
    return contrast_elements().get(symbol)


def species(name: str) -> Species:
    return species_catalog().get(name)


def clear_caches() -> None:
    """Forget loaded catalogs (tests; after editing packaged data)."""
    for fn in (materials, radionuclides, fluorophores, contrast_elements, species_catalog):
        fn.cache_clear()
    _injection_site_catalogs.cache_clear()
