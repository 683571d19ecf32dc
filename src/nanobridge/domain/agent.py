"""``AgentSpec``: what a nanoparticle imaging agent is.

A team describes its agent once, in YAML or JSON (``load_agent``), e.g.::

    name: 124I-cRGDY-PEG-C dot
    core_material: silica
    core_diameter_nm: 4
    hydrodynamic_diameter_nm: 6.5
    zeta_potential_mV: -2
    coating: {kind: PEG, peg_mw_Da: 500}
    targeting_ligand: cRGDY
    labels:
      radionuclide: {nuclide: 124I, activity_MBq: 185}
      fluorophore: {name: Cy5, dyes_per_particle: 2}

Every number carries its unit in its name. Unknown keys, values out of range and labels that do
not fit the agent raise :class:`~nanobridge.domain.errors.SpecError`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from nanobridge.citations import UnknownCitationError, cite, get_reference
from nanobridge.domain._base import SpecModel
from nanobridge.domain.catalogs import (
    ContrastElement,
    Fluorophore,
    Material,
    Radionuclide,
    contrast_elements,
    fluorophores,
    materials,
    normalize_nuclide,
    radionuclides,
)
from nanobridge.domain.errors import MISSING, CatalogLookupError, FieldProblems, Problem

__all__ = [
    "CORE_DIAMETER_RANGE_NM",
    "CT_ELEMENTS",
    "HYDRODYNAMIC_DIAMETER_RANGE_NM",
    "AgentSpec",
    "CTLabel",
    "Coating",
    "CoatingKind",
    "FluorophoreLabel",
    "Labels",
    "MRILabel",
    "Modality",
    "RadionuclideLabel",
    "Shape",
]

#: Accepted core diameters [nm] (ultrasmall clusters to large particles).
CORE_DIAMETER_RANGE_NM = (0.5, 1000.0)
#: Accepted hydrodynamic diameters [nm].
HYDRODYNAMIC_DIAMETER_RANGE_NM = (1.0, 1000.0)
#: Elements a CT label may use.
CT_ELEMENTS = ("Au", "I", "Bi", "Gd", "Ta", "Yb", "W")
#: A sphere's aspect ratio may deviate from 1 by at most this much.
SPHERE_ASPECT_RATIO_TOLERANCE = 0.1

CoatingKind = Literal["none", "PEG", "zwitterionic", "dextran", "albumin", "other"]
Shape = Literal["sphere", "rod", "cube", "plate", "star", "cage", "shell", "other"]
Modality = Literal["PET", "SPECT", "optical", "MRI", "CT"]

_COATING_ALIASES: dict[str, str] = {
    "none": "none",
    "no": "none",
    "bare": "none",
    "uncoated": "none",
    "citrate": "other",
    "peg": "PEG",
    "pegylated": "PEG",
    "polyethyleneglycol": "PEG",
    "poly(ethyleneglycol)": "PEG",
    "zwitterionic": "zwitterionic",
    "zwitterion": "zwitterionic",
    "dextran": "dextran",
    "carboxymethyldextran": "dextran",
    "carboxydextran": "dextran",
    "albumin": "albumin",
    "other": "other",
}
_SHAPES: tuple[str, ...] = ("sphere", "rod", "cube", "plate", "star", "cage", "shell", "other")
_SHAPE_ALIASES = {
    "spherical": "sphere",
    "spheres": "sphere",
    "nanosphere": "sphere",
    "rods": "rod",
    "nanorod": "rod",
    "cubic": "cube",
    "nanocube": "cube",
    "disc": "plate",
    "disk": "plate",
    "sheet": "plate",
    "nanoplate": "plate",
    "nanostar": "star",
    "nanocage": "cage",
    "nanoshell": "shell",
    "core-shell": "shell",
}


def _key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.strip().lower())


class Coating(SpecModel):
    """Surface coating. PEG needs its molecular weight; PEG fields are only for PEG."""

    spec_kind: ClassVar[str] = "coating"

    kind: CoatingKind = "none"
    peg_mw_Da: float | None = Field(default=None, ge=100, le=100_000)
    peg_density_chains_per_nm2: float | None = Field(default=None, gt=0, le=10)
    description: str | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _normalize_kind(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _COATING_ALIASES.get(_key(value), value)
        if value is None:
            return "none"
        return value

    @model_validator(mode="after")
    def _peg_fields(self) -> Coating:
        problems: list[Problem] = []
        if self.kind == "PEG" and self.peg_mw_Da is None:
            problems.append(
                Problem(
                    "peg_mw_Da",
                    MISSING,
                    "required when kind is PEG: give the PEG molecular weight in Da (e.g. 2000, 5000)",
                )
            )
        if self.kind != "PEG":
            for name in ("peg_mw_Da", "peg_density_chains_per_nm2"):
                value = getattr(self, name)
                if value is not None:
                    problems.append(
                        Problem(name, value, f"only meaningful for PEG coatings (kind is {self.kind!r})")
                    )
        if problems:
            raise FieldProblems(problems)
        return self


class RadionuclideLabel(SpecModel):
    """A radionuclide label. ``nuclide`` accepts ``'89Zr'``, ``'Zr-89'``, ``'zr89'`` ..."""

    spec_kind: ClassVar[str] = "radionuclide label"

    nuclide: str
    activity_MBq: float | None = Field(default=None, gt=0, le=100_000)
    chelator: str | None = None

    @field_validator("nuclide", mode="before")
    @classmethod
    def _canonical_nuclide(cls, value: Any) -> Any:
        catalog = radionuclides()
        if not isinstance(value, str):
            raise CatalogLookupError("radionuclide", value, catalog.keys(), "write it like '89Zr' or 'Zr-89'")
        key = catalog.resolve_key(value)
        if key is not None:
            return key
        parsed = normalize_nuclide(value)
        hint = (
            "not a nuclide spelling; write it like '89Zr' or 'Zr-89'"
            if parsed is None
            else f"read as {parsed}, which is not in the radionuclide catalog"
        )
        raise CatalogLookupError("radionuclide", value, catalog.keys(), hint)

    @property
    def entry(self) -> Radionuclide:
        """The catalog entry (half-life, decay mode, citation)."""
        return radionuclides().get(self.nuclide)


class FluorophoreLabel(SpecModel):
    """A fluorescent label. For a dye in the fluorophore catalog, photophysical values that are
    not given are taken from the catalog; any given value overrides it."""

    spec_kind: ClassVar[str] = "fluorophore label"

    name: str = Field(min_length=1)
    excitation_nm: float = Field(ge=300, le=1700)
    emission_nm: float = Field(ge=400, le=1700)
    quantum_yield: float = Field(gt=0, le=1)
    extinction_coefficient_per_M_per_cm: float = Field(gt=0, le=1e8)
    dyes_per_particle: float = Field(default=1.0, ge=1, le=1e7)

    _PHOTOPHYSICS: ClassVar[tuple[str, ...]] = (
        "excitation_nm",
        "emission_nm",
        "quantum_yield",
        "extinction_coefficient_per_M_per_cm",
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_from_catalog(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return data
        key = fluorophores().resolve_key(data["name"])
        if key is None:
            return data
        entry = fluorophores().get(key)
        filled = dict(data)
        for name in cls._PHOTOPHYSICS:
            if filled.get(name) is None:
                filled[name] = getattr(entry, name)
        return filled

    @model_validator(mode="after")
    def _stokes_shift(self) -> FluorophoreLabel:
        if self.emission_nm <= self.excitation_nm:
            raise FieldProblems(
                [
                    Problem(
                        "emission_nm",
                        self.emission_nm,
                        f"must exceed excitation_nm ({self.excitation_nm:g} nm): "
                        "fluorescence is emitted at longer wavelengths",
                    )
                ]
            )
        return self

    @property
    def catalog_entry(self) -> Fluorophore | None:
        key = fluorophores().resolve_key(self.name)
        return None if key is None else fluorophores().get(key)

    @property
    def window(self) -> str:
        """Spectral window of the emission: visible, far-red, NIR-I or NIR-II."""
        if self.emission_nm >= 1000:
            return "NIR-II"
        if self.emission_nm >= 700:
            return "NIR-I"
        if self.emission_nm >= 620:
            return "far-red"
        return "visible"

    @property
    def brightness_per_particle_per_M_per_cm(self) -> float:
        """Dyes per particle x quantum yield x molar absorption coefficient [M-1 cm-1]."""
        return self.dyes_per_particle * self.quantum_yield * self.extinction_coefficient_per_M_per_cm


def _resolve_element(value: Any, modality: Literal["CT", "MRI"], allowed: tuple[str, ...]) -> str:
    catalog = contrast_elements()
    if isinstance(value, str):
        key = catalog.resolve_key(value)
        if key is not None and key in allowed:
            return key
        if key is not None:
            raise CatalogLookupError(
                f"{modality} contrast element", value, allowed, f"{key} is not used for {modality}"
            )
    raise CatalogLookupError(f"{modality} contrast element", value, allowed)


class MRILabel(SpecModel):
    """MRI contrast: relaxivities per mM of the contrast element, at a field strength."""

    spec_kind: ClassVar[str] = "MRI label"

    element: str
    r1_per_mM_per_s: float = Field(gt=0, le=1000)
    r2_per_mM_per_s: float = Field(gt=0, le=10_000)
    field_T: float = Field(gt=0, le=25)
    medium: str | None = None
    payload: bool = False

    @field_validator("element", mode="before")
    @classmethod
    def _element(cls, value: Any) -> str:
        allowed = tuple(k for k, e in contrast_elements().items() if "MRI" in e.modalities)
        return _resolve_element(value, "MRI", allowed)

    @model_validator(mode="after")
    def _r2_at_least_r1(self) -> MRILabel:
        if self.r2_per_mM_per_s < self.r1_per_mM_per_s:
            raise FieldProblems(
                [
                    Problem(
                        "r2_per_mM_per_s",
                        self.r2_per_mM_per_s,
                        f"must be >= r1_per_mM_per_s ({self.r1_per_mM_per_s:g} mM⁻¹ s⁻¹): "
                        "transverse relaxivity is never below longitudinal",
                    )
                ]
            )
        return self

    @property
    def r2_r1_ratio(self) -> float:
        """r2/r1: near 1 for T1 (positive) agents, large for T2 (negative) agents."""
        return self.r2_per_mM_per_s / self.r1_per_mM_per_s

    @property
    def entry(self) -> ContrastElement:
        return contrast_elements().get(self.element)


class CTLabel(SpecModel):
    """CT contrast from a high-Z element: the element mass per administered dose and/or the
    element's mass fraction of the particle."""

    spec_kind: ClassVar[str] = "CT label"

    element: str
    mass_mg_per_particle_dose: float | None = Field(default=None, gt=0, le=100_000)
    element_mass_fraction: float | None = Field(default=None, gt=0, le=1)
    payload: bool = False

    @field_validator("element", mode="before")
    @classmethod
    def _element(cls, value: Any) -> str:
        return _resolve_element(value, "CT", CT_ELEMENTS)

    @model_validator(mode="after")
    def _amount(self) -> CTLabel:
        if self.mass_mg_per_particle_dose is None and self.element_mass_fraction is None:
            raise FieldProblems(
                [
                    Problem(
                        "mass_mg_per_particle_dose",
                        MISSING,
                        "give mass_mg_per_particle_dose (mg of element per dose) "
                        "or element_mass_fraction (0-1)",
                    )
                ]
            )
        return self

    @property
    def entry(self) -> ContrastElement:
        return contrast_elements().get(self.element)


class Labels(SpecModel):
    """Imaging labels carried by the agent (each optional)."""

    spec_kind: ClassVar[str] = "labels"

    radionuclide: RadionuclideLabel | None = None
    fluorophore: FluorophoreLabel | None = None
    mri: MRILabel | None = None
    ct: CTLabel | None = None


class AgentSpec(SpecModel):
    """A nanoparticle imaging agent: material, size, shape, surface, targeting and labels."""

    spec_kind: ClassVar[str] = "agent spec"

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    core_material: str
    core_diameter_nm: float = Field(ge=CORE_DIAMETER_RANGE_NM[0], le=CORE_DIAMETER_RANGE_NM[1])
    hydrodynamic_diameter_nm: float = Field(
        ge=HYDRODYNAMIC_DIAMETER_RANGE_NM[0], le=HYDRODYNAMIC_DIAMETER_RANGE_NM[1]
    )
    shape: Shape = "sphere"
    aspect_ratio: float = Field(default=1.0, ge=1, le=100)
    zeta_potential_mV: float = Field(ge=-100, le=100)
    coating: Coating = Field(default_factory=Coating)
    targeting_ligand: str | None = None
    biodegradable: bool
    core_density_g_per_cm3: float | None = Field(default=None, gt=0, le=25)
    labels: Labels = Field(default_factory=Labels)
    citations: tuple[str, ...] = ()
    assumed_fields: tuple[str, ...] = ()

    # ---- input normalisation ---------------------------------------------------------------

    @model_validator(mode="before")
    @classmethod
    def _defaults_from_catalog(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("coating"), str):
            data["coating"] = {"kind": data["coating"]}
        if data.get("biodegradable") is None:
            material = data.get("core_material")
            key = materials().resolve_key(material) if isinstance(material, str) else None
            # Unknown or missing material is reported on core_material; don't add a second,
            # derived "biodegradable missing" problem.
            data["biodegradable"] = materials().get(key).biodegradable if key else False
        return data

    @field_validator("core_material", mode="before")
    @classmethod
    def _material(cls, value: Any) -> Any:
        catalog = materials()
        if isinstance(value, str):
            key = catalog.resolve_key(value)
            if key is not None:
                return key
        raise CatalogLookupError("core material", value, catalog.keys())

    @field_validator("shape", mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        if isinstance(value, str):
            k = _key(value)
            return _SHAPE_ALIASES.get(k, k if k in _SHAPES else value)
        return value

    @field_validator("targeting_ligand", mode="before")
    @classmethod
    def _ligand(cls, value: Any) -> Any:
        if isinstance(value, str) and _key(value) in {"", "none", "no", "untargeted", "passive"}:
            return None
        return value

    @field_validator("citations", "assumed_fields", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    # ---- cross-field checks ----------------------------------------------------------------

    @model_validator(mode="after")
    def _consistency(self) -> AgentSpec:
        problems: list[Problem] = []
        if self.hydrodynamic_diameter_nm < self.core_diameter_nm:
            problems.append(
                Problem(
                    "hydrodynamic_diameter_nm",
                    self.hydrodynamic_diameter_nm,
                    f"must be >= core_diameter_nm ({self.core_diameter_nm:g} nm): the "
                    "hydrodynamic diameter includes the core and its coating",
                )
            )
        if self.shape == "sphere" and abs(self.aspect_ratio - 1) > SPHERE_ASPECT_RATIO_TOLERANCE:
            problems.append(
                Problem(
                    "aspect_ratio",
                    self.aspect_ratio,
                    f"a sphere has aspect ratio 1 (up to {1 + SPHERE_ASPECT_RATIO_TOLERANCE:g}); "
                    "use shape 'rod' (or another shape) for elongated particles",
                )
            )
        mat = self.material
        for label_name in ("ct", "mri"):
            label = getattr(self.labels, label_name)
            if label is None or label.payload or mat.composition_is_variable:
                continue
            if label.element not in mat.elements:
                problems.append(
                    Problem(
                        f"labels.{label_name}.element",
                        label.element,
                        f"{label.element} is not part of a {mat.key} core "
                        f"({', '.join(mat.elements)}); if it is carried as a payload "
                        f"(chelate, encapsulated, shell), set labels.{label_name}.payload: true",
                    )
                )
        for i, key in enumerate(self.citations):
            try:
                get_reference(key)
            except UnknownCitationError as exc:
                problems.append(Problem(f"citations[{i}]", key, str(exc)))
        for i, path in enumerate(self.assumed_fields):
            if not self._has_path(path):
                problems.append(
                    Problem(
                        f"assumed_fields[{i}]",
                        path,
                        "not a field of this spec (e.g. 'zeta_potential_mV', 'coating.peg_mw_Da')",
                    )
                )
        if problems:
            raise FieldProblems(problems)
        return self

    def _has_path(self, path: str) -> bool:
        obj: Any = self
        for part in path.split("."):
            if not isinstance(obj, SpecModel) or part not in type(obj).model_fields:
                return False
            obj = getattr(obj, part)
        return True

    # ---- derived information ---------------------------------------------------------------

    @property
    def material(self) -> Material:
        """The core material's catalog entry."""
        return materials().get(self.core_material)

    @property
    def effective_core_density_g_per_cm3(self) -> float | None:
        """``core_density_g_per_cm3`` if given, else the material catalog's density."""
        if self.core_density_g_per_cm3 is not None:
            return self.core_density_g_per_cm3
        return self.material.density_g_per_cm3

    @property
    def is_pegylated(self) -> bool:
        return self.coating.kind == "PEG"

    @property
    def is_targeted(self) -> bool:
        return self.targeting_ligand is not None

    @property
    def modalities(self) -> list[str]:
        """Imaging modalities the labels give, in the order PET, SPECT, optical, MRI, CT."""
        found: list[str] = []
        rn = self.labels.radionuclide
        if rn is not None:
            modality = rn.entry.imaging_modality
            if modality is not None:
                found.append(modality)
        if self.labels.fluorophore is not None:
            found.append("optical")
        if self.labels.mri is not None:
            found.append("MRI")
        if self.labels.ct is not None:
            found.append("CT")
        order = ["PET", "SPECT", "optical", "MRI", "CT"]
        return sorted(dict.fromkeys(found), key=order.index)

    @property
    def is_theranostic(self) -> bool:
        """True if the radionuclide is a therapeutic one (e.g. Lu-177, Ac-225)."""
        rn = self.labels.radionuclide
        return rn is not None and rn.entry.is_therapeutic

    def catalog_entries(self) -> list[Material | Radionuclide | Fluorophore | ContrastElement]:
        """Catalog entries this spec relies on (material, nuclide, dye, contrast elements)."""
        entries: list[Material | Radionuclide | Fluorophore | ContrastElement] = [self.material]
        if self.labels.radionuclide is not None:
            entries.append(self.labels.radionuclide.entry)
        if self.labels.fluorophore is not None and self.labels.fluorophore.catalog_entry:
            entries.append(self.labels.fluorophore.catalog_entry)
        if self.labels.mri is not None:
            entries.append(self.labels.mri.entry)
        if self.labels.ct is not None:
            entries.append(self.labels.ct.entry)
        return entries

    def citation_keys(self) -> tuple[str, ...]:
        """The spec's own citations, then those of the catalog entries it uses."""
        keys = list(self.citations)
        for entry in self.catalog_entries():
            keys.extend(entry.citation_keys())
        return tuple(dict.fromkeys(keys))

    def cite(self) -> tuple[str, ...]:
        """Record :meth:`citation_keys` as used by the current run."""
        return cite(*self.citation_keys())

    def assumptions(self) -> list[str]:
        """Human-readable list of assumed (unsourced) values this spec relies on."""
        out = [f"{self.name}: {path} is assumed" for path in self.assumed_fields]
        for entry in self.catalog_entries():
            if entry.assumed:
                fields = ", ".join(entry.assumed_fields) if entry.assumed_fields else "some values"
                out.append(f"catalog {type(entry).__name__.lower()} {entry.key}: {fields} assumed")
        return out
