"""``Scenario``: who gets the agent, how much, by which route, and for how long."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from nanobridge.citations import UnknownCitationError, cite, get_reference
from nanobridge.domain._base import SpecModel
from nanobridge.domain.catalogs import (
    INTERSTITIAL_ROUTES,
    InjectionSite,
    Species,
    injection_site_species,
    injection_sites,
    species_catalog,
)
from nanobridge.domain.errors import MISSING, CatalogLookupError, FieldProblems, Problem

__all__ = [
    "INTERSTITIAL_ROUTES",
    "MAX_DURATION_H",
    "SUPPORTED_ROUTES",
    "TUMOR_DENSITY_G_PER_CM3",
    "Route",
    "Scenario",
    "TumorSpec",
]

#: Routes of administration the models support: an intravenous bolus, or an interstitial depot
#: drained by the lymphatics (the sentinel-lymph-node routes; they need an injection site).
SUPPORTED_ROUTES: tuple[str, ...] = ("iv", *INTERSTITIAL_ROUTES)
#: Longest simulated follow-up [h]: two years.
MAX_DURATION_H = 24 * 365 * 2
#: Tumour density used to turn a volume into a mass [g/cm3] (assumed, water-like tissue).
TUMOR_DENSITY_G_PER_CM3 = 1.0
#: At most this many output time points.
MAX_OUTPUT_POINTS = 1_000_000

Route = Literal["iv", "subcutaneous", "intradermal", "peritumoral"]
_ROUTE_ALIASES = {
    "iv": "iv",
    "i.v.": "iv",
    "intravenous": "iv",
    "intravenously": "iv",
    "ivbolus": "iv",
    "sc": "subcutaneous",
    "s.c.": "subcutaneous",
    "subcutaneous": "subcutaneous",
    "subcutaneously": "subcutaneous",
    "subcut": "subcutaneous",
    "subdermal": "subcutaneous",
    "id": "intradermal",
    "i.d.": "intradermal",
    "intradermal": "intradermal",
    "intracutaneous": "intradermal",
    "peritumoral": "peritumoral",
    "peritumoural": "peritumoral",
    "ip": "ip",
    "i.p.": "ip",
    "intraperitoneal": "ip",
    "it": "it",
    "intratumoral": "it",
    "intratumoural": "it",
    "oral": "oral",
    "po": "oral",
    "inhalation": "inhalation",
}


class TumorSpec(SpecModel):
    """The tumour: its volume and where it grows."""

    spec_kind: ClassVar[str] = "tumour"

    volume_mm3: float = Field(gt=0)
    site: str = "subcutaneous flank"
    model: str | None = None

    @property
    def volume_mL(self) -> float:
        return self.volume_mm3 / 1000.0

    @property
    def mass_g(self) -> float:
        """Mass at :data:`TUMOR_DENSITY_G_PER_CM3` (assumed 1 g/cm3)."""
        return self.volume_mm3 / 1000.0 * TUMOR_DENSITY_G_PER_CM3


class Scenario(SpecModel):
    """Species, body weight, dose (mass and/or activity), route, tumour and simulated time."""

    spec_kind: ClassVar[str] = "scenario"

    name: str = ""
    description: str = ""
    species: str
    body_weight_kg: float = Field(gt=0)
    dose_mg_per_kg: float | None = Field(default=None, gt=0, le=5000)
    activity_MBq: float | None = Field(default=None, gt=0, le=100_000)
    route: Route = "iv"
    injection_site: str | None = None
    injection_volume_mL: float | None = Field(default=None, gt=0, le=20)
    tumor: TumorSpec | None = None
    duration_h: float = Field(default=168.0, ge=1, le=MAX_DURATION_H)
    output_interval_h: float = Field(default=1.0, gt=0)
    citations: tuple[str, ...] = ()
    assumed_fields: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "tumour" in data and "tumor" not in data:
            data["tumor"] = data.pop("tumour")
        species_key = (
            species_catalog().resolve_key(data["species"]) if isinstance(data.get("species"), str) else None
        )
        if data.get("body_weight_kg") is None and species_key is not None:
            data["body_weight_kg"] = species_catalog().get(species_key).default_body_weight_kg
        site = data.get("injection_site")
        if isinstance(site, str) and species_key in injection_site_species():
            key = injection_sites(species_key).resolve_key(site)
            if key is not None:
                data["injection_site"] = key  # canonical key; unknown names are reported below
        return data

    @field_validator("species", mode="before")
    @classmethod
    def _species(cls, value: Any) -> Any:
        catalog = species_catalog()
        if isinstance(value, str):
            key = catalog.resolve_key(value)
            if key is not None:
                return key
        raise CatalogLookupError("species", value, catalog.keys())

    @field_validator("route", mode="before")
    @classmethod
    def _route(cls, value: Any) -> Any:
        if isinstance(value, str):
            route = _ROUTE_ALIASES.get(re.sub(r"[\s_\-]+", "", value.strip().lower()), value.strip())
            if route in SUPPORTED_ROUTES:
                return route
            raise ValueError(
                f"route {route!r} is not supported yet; supported: {', '.join(SUPPORTED_ROUTES)}"
                " (aliases: sc, id, i.v.)"
            )
        raise ValueError(f"route must be text; supported: {', '.join(SUPPORTED_ROUTES)}")

    @field_validator("citations", "assumed_fields", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistency(self) -> Scenario:
        problems: list[Problem] = []
        sp = self.species_entry
        lo, hi = sp.body_weight_range_kg
        if not lo <= self.body_weight_kg <= hi:
            problems.append(
                Problem(
                    "body_weight_kg",
                    self.body_weight_kg,
                    f"implausible for a {sp.key}: must be in [{lo:g}, {hi:g}] kg",
                )
            )
        if self.dose_mg_per_kg is None and self.activity_MBq is None:
            problems.append(
                Problem(
                    "dose_mg_per_kg",
                    MISSING,
                    "give the dose: dose_mg_per_kg and/or activity_MBq (at least one)",
                )
            )
        if self.tumor is not None and lo <= self.body_weight_kg <= hi:
            limit_g = sp.max_tumor_fraction_of_body_weight * self.body_weight_kg * 1000.0
            if self.tumor.mass_g > limit_g:
                limit_mm3 = limit_g * 1000.0 / TUMOR_DENSITY_G_PER_CM3
                problems.append(
                    Problem(
                        "tumor.volume_mm3",
                        self.tumor.volume_mm3,
                        f"implausible for a {self.body_weight_kg:g} kg {sp.key}: at most "
                        f"{limit_mm3:.4g} mm³ ({sp.max_tumor_fraction_of_body_weight:.0%} of body weight)",
                    )
                )
        if self.output_interval_h > self.duration_h:
            problems.append(
                Problem(
                    "output_interval_h",
                    self.output_interval_h,
                    f"must be <= duration_h ({self.duration_h:g} h)",
                )
            )
        elif self.duration_h / self.output_interval_h > MAX_OUTPUT_POINTS:
            problems.append(
                Problem(
                    "output_interval_h",
                    self.output_interval_h,
                    f"too fine: at most {MAX_OUTPUT_POINTS:,} output points over {self.duration_h:g} h",
                )
            )
        problems += self._route_problems()
        for i, key in enumerate(self.citations):
            try:
                get_reference(key)
            except UnknownCitationError as exc:
                problems.append(Problem(f"citations[{i}]", key, str(exc)))
        for i, path in enumerate(self.assumed_fields):
            head = path.split(".")[0]
            if head not in type(self).model_fields:
                problems.append(Problem(f"assumed_fields[{i}]", path, "not a field of this scenario"))
        if problems:
            raise FieldProblems(problems)
        return self

    def _route_problems(self) -> list[Problem]:
        """Route, injection site and injected volume must fit together and the species."""
        interstitial = ", ".join(INTERSTITIAL_ROUTES)
        if self.route == "iv":
            return [
                Problem(
                    name,
                    getattr(self, name),
                    f"only for the interstitial routes ({interstitial}); route is iv",
                )
                for name in ("injection_site", "injection_volume_mL")
                if getattr(self, name) is not None
            ]
        with_sites = injection_site_species()
        if self.species not in with_sites:
            return [
                Problem(
                    "route",
                    self.route,
                    f"needs lymphatic parameters, which exist for {', '.join(with_sites)} only; "
                    f"use route iv for a {self.species}",
                )
            ]
        catalog = injection_sites(self.species)
        fitting = [k for k, e in catalog.items() if self.route in e.routes]
        if self.injection_site is None:
            return [
                Problem(
                    "injection_site",
                    MISSING,
                    f"required for route {self.route}: one of {', '.join(fitting)} ({self.species})",
                )
            ]
        key = catalog.resolve_key(self.injection_site)
        if key is None:
            return [
                Problem(
                    "injection_site",
                    self.injection_site,
                    f"unknown {self.species} injection site; allowed: {', '.join(catalog.keys())}",
                )
            ]
        site = catalog.get(key)
        if self.route not in site.routes:
            return [
                Problem(
                    "route",
                    self.route,
                    f"not used at the {self.species} {key} site; allowed there: {', '.join(site.routes)}"
                    + (f" (sites for {self.route}: {', '.join(fitting)})" if fitting else ""),
                )
            ]
        return []

    @property
    def species_entry(self) -> Species:
        return species_catalog().get(self.species)

    @property
    def is_interstitial(self) -> bool:
        """True for the subcutaneous, intradermal and peritumoral routes (a lymphatic depot)."""
        return self.route in INTERSTITIAL_ROUTES

    @property
    def injection_site_entry(self) -> InjectionSite | None:
        """The injection-site catalog entry (None for the IV route)."""
        if self.injection_site is None:
            return None
        return injection_sites(self.species).get(self.injection_site)

    @property
    def injected_volume_mL(self) -> float | None:
        """``injection_volume_mL`` or the site's default (None for the IV route)."""
        site = self.injection_site_entry
        if site is None:
            return None
        return (
            self.injection_volume_mL
            if self.injection_volume_mL is not None
            else site.default_injection_volume_mL
        )

    @property
    def dose_mg(self) -> float | None:
        """Total administered mass [mg] (``dose_mg_per_kg`` x ``body_weight_kg``)."""
        return None if self.dose_mg_per_kg is None else self.dose_mg_per_kg * self.body_weight_kg

    @property
    def output_times_h(self) -> tuple[float, ...]:
        """Output times [h]: 0, interval, 2 x interval, ... up to and including ``duration_h``."""
        n = int(self.duration_h / self.output_interval_h + 1e-9)
        times = [round(i * self.output_interval_h, 12) for i in range(n + 1)]
        if self.duration_h - times[-1] > 1e-9:
            times.append(self.duration_h)
        return tuple(times)

    def citation_keys(self) -> tuple[str, ...]:
        """The scenario's own citations, then the species catalog entry's."""
        return tuple(dict.fromkeys((*self.citations, *self.species_entry.citation_keys())))

    def cite(self) -> tuple[str, ...]:
        return cite(*self.citation_keys())
