"""Interstitial injection and lymphatic transport: the sentinel-lymph-node routes of the PBPK model.

A subcutaneous, intradermal or peritumoral injection leaves a depot at the injection site. The
depot is cleared by two first-order paths whose share depends on the particle's hydrodynamic
diameter ``d`` [nm]:

- **initial lymphatics -> afferent lymph -> first (sentinel) node**:
  ``k_L(d) = k_ref * f_route * g(d)`` with the interstitial hindrance
  ``g(d) = 1 / (1 + (d / d_ret)^q)`` (large particles stay at the site);
- **blood capillaries -> venous plasma**: ``k_B(d) = k_ref * f_route * (d_B / d)^p`` (small
  molecules and particles below ~5 nm leak to blood; Supersaxo 1990 fit).

So particles below ~4 nm mostly reach the blood directly, ~10-100 nm particles drain to the
lymph, and large ones remain at the site. In each node a free particle either is taken up by
macrophages (per-pass probability ``E(d) = E_max d^s / (d^s + d_E^s)``, first order,
``k_up = E / (1 - E) / tau``; slow first-order release ``k_rel``) or flows on after a mean
residence ``tau``: node 1 -> node 2 -> thoracic duct -> venous plasma of the whole-body model.
Every constant is packaged data (``data/pbpk/lymphatic.yaml``, with units, citations and an
``assumed`` flag); the site anatomy (node volumes and depths, injected volume) is the injection-site
catalog (``data/catalogs/injection_sites.yaml``).

    >>> r = lymphatic_rates(6.5, "human", "breast", "peritumoral")
    >>> round(r.lymph_fraction, 2)            # share of the depot clearance that goes to the lymph
    0.72

Limits (also in :func:`describe_lymphatic_model`): one depot and two node stations, each lumping
the nodes of its echelon; a monodisperse particle (real colloids are polydisperse); no
receptor targeting in nodes, no cell-mediated transport of large particles, no saturation of
node macrophages, no injection-volume effect on the lymphatic uptake rate (the volume only sets
the injection-site concentration).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from nanobridge.domain.catalogs import INTERSTITIAL_ROUTES, InjectionSite, injection_site, injection_sites

__all__ = [
    "INTERSTITIAL_ROUTES",
    "LymphaticConstant",
    "LymphaticRates",
    "blood_to_lymph_ratio",
    "describe_lymphatic_model",
    "interstitial_hindrance",
    "lymph_fraction",
    "lymphatic_citation_keys",
    "lymphatic_constant",
    "lymphatic_rates",
    "node_retention_per_pass",
]

_DATA_FILE = ("data", "pbpk", "lymphatic.yaml")


@dataclass(frozen=True)
class LymphaticConstant:
    """One constant of the lymphatic model with its unit and provenance."""

    path: str
    value: float
    unit: str
    citations: tuple[str, ...]
    assumed: bool
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "value": self.value,
            "unit": self.unit,
            "citations": list(self.citations),
            "assumed": self.assumed,
            "note": self.note,
        }


@functools.lru_cache(maxsize=1)
def _raw() -> dict[str, Any]:
    text = resources.files("nanobridge").joinpath(*_DATA_FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{'/'.join(_DATA_FILE)}: expected a mapping at top level")
    return data


def lymphatic_constant(path: str) -> LymphaticConstant:
    """The constant at a dotted ``path`` of ``data/pbpk/lymphatic.yaml``, e.g.
    ``'size_relations.blood_partition.exponent'`` or ``'species.human.node_residence_h'``."""
    node: Any = _raw()
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"lymphatic.yaml has no constant {path!r}")
        node = node[part]
    if not isinstance(node, Mapping) or not {"value", "unit", "citations", "assumed", "note"} <= set(node):
        raise ValueError(f"lymphatic.yaml: {path!r} must have value, unit, citations, assumed and note")
    value = float(node["value"])
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"lymphatic.yaml: {path}={value!r} must be finite and >= 0")
    cites = node["citations"]
    return LymphaticConstant(
        path=path,
        value=value,
        unit=str(node["unit"]),
        citations=(cites,) if isinstance(cites, str) else tuple(str(c) for c in cites),
        assumed=bool(node["assumed"]),
        note=" ".join(str(node["note"]).split()),
    )


def _v(path: str) -> float:
    return lymphatic_constant(path).value


def _check_diameter(d_nm: float) -> float:
    d = float(d_nm)
    if not (math.isfinite(d) and d > 0):
        raise ValueError(f"hydrodynamic_diameter_nm must be a finite number > 0 nm, got {d_nm!r}")
    return d


# -- size relations ----------------------------------------------------------------------------


def blood_to_lymph_ratio(hydrodynamic_diameter_nm: float) -> float:
    """``k_B / k_ref``: blood-capillary absorption relative to unhindered lymphatic uptake,
    ``(d_B / d)^p`` (Supersaxo 1990 fit; decreasing with size)."""
    d = _check_diameter(hydrodynamic_diameter_nm)
    d_b = _v("size_relations.blood_partition.half_lymph_diameter_nm")
    p = _v("size_relations.blood_partition.exponent")
    return float((d_b / d) ** p)


def interstitial_hindrance(hydrodynamic_diameter_nm: float) -> float:
    """``g(d) = 1 / (1 + (d / d_ret)^q)``: lymphatic uptake relative to an unhindered solute
    (1 for small, -> 0 for large particles that stay at the site)."""
    d = _check_diameter(hydrodynamic_diameter_nm)
    d_ret = _v("size_relations.interstitial_hindrance.retention_diameter_nm")
    q = _v("size_relations.interstitial_hindrance.exponent")
    return float(1.0 / (1.0 + (d / d_ret) ** q))


def lymph_fraction(hydrodynamic_diameter_nm: float) -> float:
    """Share of the depot clearance that goes to the lymph, ``g / (g + (d_B/d)^p)`` (route- and
    site-independent: both paths scale with the site's rate)."""
    g = interstitial_hindrance(hydrodynamic_diameter_nm)
    return g / (g + blood_to_lymph_ratio(hydrodynamic_diameter_nm))


def node_retention_per_pass(hydrodynamic_diameter_nm: float, species: str) -> float:
    """Probability that a particle passing a node of ``species`` is kept by its macrophages,
    ``E_max d^s / (d^s + d_E^s)`` (increasing with size, below ``E_max < 1``)."""
    d = _check_diameter(hydrodynamic_diameter_nm)
    e_max = _species_constant(species, "node_retention_max").value
    d_e = _v("size_relations.node_retention.half_retention_diameter_nm")
    s = _v("size_relations.node_retention.exponent")
    if not 0 <= e_max < 1:
        raise ValueError(f"lymphatic.yaml: species.{species}.node_retention_max={e_max!r} must be in [0, 1)")
    return float(e_max * d**s / (d**s + d_e**s))


def _species_constant(species: str, name: str) -> LymphaticConstant:
    known = sorted(_raw().get("species", {}))
    if species not in known:
        raise ValueError(
            f"species={species!r} has no lymphatic parameters; allowed: {', '.join(known)} "
            "(use route iv for other species)"
        )
    return lymphatic_constant(f"species.{species}.{name}")


def _site_constant(species: str, site: str, name: str) -> LymphaticConstant:
    sites = _raw()["species"][species].get("sites", {})
    if site not in sites:
        raise ValueError(
            f"injection_site={site!r} has no lymphatic kinetics for a {species}; allowed: {', '.join(sites)}"
        )
    return lymphatic_constant(f"species.{species}.sites.{site}.{name}")


# -- rates of one agent in one scenario -------------------------------------------------------


@dataclass(frozen=True)
class LymphaticRates:
    """The rate constants [1/h] and masses [g] of the lymphatic route for one particle and site."""

    species: str
    site: str
    route: str
    hydrodynamic_diameter_nm: float
    k_depot_lymph_per_h: float
    k_depot_blood_per_h: float
    k_node1_uptake_per_h: float
    k_node1_release_per_h: float
    k_node1_out_per_h: float
    k_node2_uptake_per_h: float
    k_node2_release_per_h: float
    k_node2_out_per_h: float
    injection_site_mass_g: float
    lymph_node_1_mass_g: float
    lymph_node_2_mass_g: float
    lymph_fraction: float
    node_retention_per_pass: float
    first_node: str
    second_node: str
    node_1_depth_mm: float
    citation_keys: tuple[str, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def depot_clearance_per_h(self) -> float:
        """Total first-order clearance of the injection site [1/h]."""
        return self.k_depot_lymph_per_h + self.k_depot_blood_per_h

    @property
    def depot_half_life_h(self) -> float:
        """Injection-site clearance half-time [h] (``inf`` if nothing leaves)."""
        k = self.depot_clearance_per_h
        return math.log(2.0) / k if k > 0 else math.inf

    def as_engine_inputs(self) -> dict[str, float]:
        """The mapping :func:`nanobridge.science.pbpk.model.build_lymphatic_system` takes."""
        from nanobridge.science.pbpk.model import LYMPHATIC_MASS_KEYS, LYMPHATIC_TRANSFERS

        keys = [k for k, _, _ in LYMPHATIC_TRANSFERS] + list(LYMPHATIC_MASS_KEYS)
        return {k: float(getattr(self, k)) for k in keys}

    def attrs(self) -> dict[str, Any]:
        """Attributes recorded on the biodistribution."""
        return {
            "injection_site": self.site,
            "first_node": self.first_node,
            "second_node": self.second_node,
            "lymph_fraction": self.lymph_fraction,
            "node_retention_per_pass": self.node_retention_per_pass,
            "depot_half_life_h": self.depot_half_life_h,
            "node_1_depth_mm": self.node_1_depth_mm,
        }


def lymphatic_rates(
    hydrodynamic_diameter_nm: float,
    species: str,
    site: str | InjectionSite | None,
    route: str,
    *,
    injection_volume_mL: float | None = None,
) -> LymphaticRates:
    """Rates of the depot and nodes for a particle injected at ``site`` by ``route``.

    Raises ``ValueError`` naming the argument for a route that is not interstitial, a species
    without lymphatic parameters, an unknown site, a route the site does not take, a diameter
    or volume that is not a finite positive number.
    """
    if route not in INTERSTITIAL_ROUTES:
        raise ValueError(
            f"route={route!r} is not an interstitial route; allowed: {', '.join(INTERSTITIAL_ROUTES)}"
        )
    d = _check_diameter(hydrodynamic_diameter_nm)
    if site is None:
        fitting = [k for k, e in injection_sites(species).items() if route in e.routes]
        raise ValueError(
            f"injection_site is required for route {route}; allowed for a {species}: {', '.join(fitting)}"
        )
    entry = site if isinstance(site, InjectionSite) else injection_site(species, site)
    if entry.species != species:
        raise ValueError(f"injection_site {entry.key!r} is a {entry.species} site, not a {species} one")
    if route not in entry.routes:
        raise ValueError(
            f"route={route!r} is not used at the {species} {entry.key} site; "
            f"allowed: {', '.join(entry.routes)}"
        )
    volume = entry.default_injection_volume_mL if injection_volume_mL is None else float(injection_volume_mL)
    if not (math.isfinite(volume) and volume > 0):
        raise ValueError(f"injection_volume_mL must be a finite number > 0 mL, got {injection_volume_mL!r}")

    k_ref = _site_constant(species, entry.key, "lymphatic_uptake_ref_per_h")
    f_route = lymphatic_constant(f"route_factors.{route}")
    tau = _species_constant(species, "node_residence_h")
    k_rel = _species_constant(species, "node_release_per_h")
    if tau.value <= 0:
        raise ValueError(f"lymphatic.yaml: species.{species}.node_residence_h must be > 0")
    base = k_ref.value * f_route.value
    g = interstitial_hindrance(d)
    r_b = blood_to_lymph_ratio(d)
    e = node_retention_per_pass(d, species)
    k_out = 1.0 / tau.value
    k_up = e / (1.0 - e) * k_out
    used = [
        k_ref,
        f_route,
        tau,
        k_rel,
        _species_constant(species, "node_retention_max"),
        *(lymphatic_constant(f"size_relations.{p}") for p in _SIZE_PATHS),
    ]
    keys = {c for const in used for c in const.citations} | set(entry.citation_keys())
    notes = (
        f"{route} injection at the {species} {entry.key} ({volume:g} mL): depot clearance "
        f"{base * (g + r_b):.3g} /h (half-time {math.log(2) / (base * (g + r_b)):.3g} h), "
        f"{g / (g + r_b):.0%} to the lymph, {r_b / (g + r_b):.0%} to blood capillaries",
        f"nodes: {entry.first_node} (1), then {entry.second_node} (2); "
        f"per-pass macrophage retention {e:.2f}, "
        f"residence {tau.value:g} h, release {k_rel.value:g} /h",
    )
    return LymphaticRates(
        species=species,
        site=entry.key,
        route=route,
        hydrodynamic_diameter_nm=d,
        k_depot_lymph_per_h=base * g,
        k_depot_blood_per_h=base * r_b,
        k_node1_uptake_per_h=k_up,
        k_node1_release_per_h=k_rel.value,
        k_node1_out_per_h=k_out,
        k_node2_uptake_per_h=k_up,
        k_node2_release_per_h=k_rel.value,
        k_node2_out_per_h=k_out,
        injection_site_mass_g=volume,  # 1 g/mL
        lymph_node_1_mass_g=entry.node_1_volume_mL,
        lymph_node_2_mass_g=entry.node_2_volume_mL,
        lymph_fraction=g / (g + r_b),
        node_retention_per_pass=e,
        first_node=entry.first_node,
        second_node=entry.second_node,
        node_1_depth_mm=entry.node_1_depth_mm,
        citation_keys=tuple(sorted(keys)),
        notes=notes,
    )


_SIZE_PATHS: tuple[str, ...] = (
    "blood_partition.half_lymph_diameter_nm",
    "blood_partition.exponent",
    "interstitial_hindrance.retention_diameter_nm",
    "interstitial_hindrance.exponent",
    "node_retention.half_retention_diameter_nm",
    "node_retention.exponent",
)


def _all_constant_paths() -> list[str]:
    raw = _raw()
    paths = [f"size_relations.{p}" for p in _SIZE_PATHS]
    paths += [f"route_factors.{r}" for r in raw["route_factors"]]
    for sp, entry in raw["species"].items():
        paths += [
            f"species.{sp}.{k}" for k in ("node_retention_max", "node_residence_h", "node_release_per_h")
        ]
        paths += [f"species.{sp}.sites.{s}.lymphatic_uptake_ref_per_h" for s in entry.get("sites", {})]
    return paths


def describe_lymphatic_model() -> dict[str, Any]:
    """For reports: the structure, every constant (value, unit, citations, assumed, note) and limits."""
    raw = _raw()
    return {
        "structure": (
            "depot -(k_L)-> node 1 free <-> node 1 macrophages; node 1 free -(1/tau)-> node 2 free <-> "
            "node 2 macrophages; node 2 free -(1/tau)-> venous plasma (thoracic duct); "
            "depot -(k_B)-> venous plasma"
        ),
        "relations": {
            name: " ".join(str(entry["description"]).split()) for name, entry in raw["size_relations"].items()
        },
        "constants": [lymphatic_constant(p).as_dict() for p in _all_constant_paths()],
        "limits": [
            "one depot and two node stations, each lumping the nodes of its echelon",
            "monodisperse particle: the size distribution of real colloids is not modelled",
            "no receptor targeting in nodes, no dendritic-cell transport of large particles",
            "node macrophage uptake first order (no saturation), release slow and first order",
            "the injected volume sets the injection-site concentration only, not the uptake rate",
            "mouse kinetics calibrated by hand to few data; most node constants are assumed",
        ],
    }


def lymphatic_citation_keys() -> set[str]:
    """Every citation key the lymphatic model's constants rely on."""
    keys = set(_raw().get("citations", []))
    for path in _all_constant_paths():
        keys |= set(lymphatic_constant(path).citations)
    return keys
