"""Unit suffixes of field names (``diameter_nm``, ``activity_MBq``): parsing, display, hints.

nanobridge puts the unit of every number in its field name. This module knows the suffixes, so
that an unknown key such as ``diameter_um`` or ``hydrodynamic_diameter`` can be answered with
"did you mean ``hydrodynamic_diameter_nm``? 0.1 um = 100 nm".
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["UnitSuffix", "describe_unit", "split_unit", "unknown_key_hint"]


@dataclass(frozen=True)
class UnitSuffix:
    """A unit spelled as a field-name suffix: its dimension and factor to the base unit."""

    suffix: str
    dimension: str
    factor: float  # value_in_base = value * factor
    display: str


def _u(suffix: str, dimension: str, factor: float, display: str | None = None) -> UnitSuffix:
    return UnitSuffix(suffix, dimension, factor, display or suffix)


_UNITS: tuple[UnitSuffix, ...] = (
    # length, base nm
    _u("nm", "length", 1.0),
    _u("um", "length", 1e3, "µm"),
    _u("µm", "length", 1e3),
    _u("micron", "length", 1e3, "µm"),
    _u("microns", "length", 1e3, "µm"),
    _u("mm", "length", 1e6),
    _u("cm", "length", 1e7),
    _u("m", "length", 1e9),
    _u("angstrom", "length", 0.1, "Å"),
    # molar mass, base Da
    _u("Da", "molar_mass", 1.0),
    _u("kDa", "molar_mass", 1e3),
    _u("g_per_mol", "molar_mass", 1.0, "g/mol"),
    _u("kg_per_mol", "molar_mass", 1e3, "kg/mol"),
    # activity, base MBq
    _u("MBq", "activity", 1.0),
    _u("kBq", "activity", 1e-3),
    _u("GBq", "activity", 1e3),
    _u("Bq", "activity", 1e-6),
    _u("mCi", "activity", 37.0),
    _u("uCi", "activity", 0.037, "µCi"),
    _u("µCi", "activity", 0.037),
    _u("Ci", "activity", 37000.0),
    # time, base h
    _u("h", "time", 1.0),
    _u("hr", "time", 1.0, "h"),
    _u("hours", "time", 1.0, "h"),
    _u("min", "time", 1 / 60, "min"),
    _u("s", "time", 1 / 3600),
    _u("d", "time", 24.0),
    _u("days", "time", 24.0, "d"),
    _u("weeks", "time", 168.0, "weeks"),
    # mass, base kg
    _u("kg", "mass", 1.0),
    _u("g", "mass", 1e-3),
    _u("mg", "mass", 1e-6),
    _u("ug", "mass", 1e-9, "µg"),
    # volume, base mm3
    _u("mm3", "volume", 1.0, "mm³"),
    _u("cm3", "volume", 1e3, "cm³"),
    _u("mL", "volume", 1e3),
    _u("ml", "volume", 1e3, "mL"),
    _u("uL", "volume", 1.0, "µL"),
    _u("L", "volume", 1e6),
    # dose per body weight, base mg/kg
    _u("mg_per_kg", "dose", 1.0, "mg/kg"),
    _u("ug_per_kg", "dose", 1e-3, "µg/kg"),
    _u("g_per_kg", "dose", 1e3, "g/kg"),
    # electric potential, base mV
    _u("mV", "potential", 1.0),
    _u("V", "potential", 1e3),
    # magnetic field, base T
    _u("T", "field", 1.0),
    _u("mT", "field", 1e-3),
    # relaxivity, base 1/(mM s)
    _u("per_mM_per_s", "relaxivity", 1.0, "mM⁻¹ s⁻¹"),
    _u("per_M_per_s", "relaxivity", 1e-3, "M⁻¹ s⁻¹"),
    # molar absorption coefficient, base 1/(M cm)
    _u("per_M_per_cm", "extinction", 1.0, "M⁻¹ cm⁻¹"),
    _u("per_mM_per_cm", "extinction", 1e3, "mM⁻¹ cm⁻¹"),
    # grafting density, base chains/nm2
    _u("chains_per_nm2", "grafting", 1.0, "chains/nm²"),
    # density, base g/cm3
    _u("g_per_cm3", "density", 1.0, "g/cm³"),
    _u("kg_per_m3", "density", 1e-3, "kg/m³"),
    _u("g_per_mL", "density", 1.0, "g/mL"),
    # energy, base keV
    _u("keV", "energy", 1.0),
    _u("MeV", "energy", 1e3),
)
_BY_LENGTH = sorted(_UNITS, key=lambda u: len(u.suffix), reverse=True)
_DIMENSIONS_TO_WORD = {
    "length": "sizes",
    "molar_mass": "molecular weights",
    "activity": "activities",
    "time": "times",
    "mass": "masses",
    "volume": "volumes",
    "dose": "doses",
    "potential": "potentials",
    "field": "field strengths",
    "relaxivity": "relaxivities",
    "extinction": "absorption coefficients",
    "grafting": "grafting densities",
    "density": "densities",
    "energy": "energies",
}


def split_unit(key: str) -> tuple[str, UnitSuffix | None]:
    """Split ``"core_diameter_nm"`` into ``("core_diameter", <nm>)``; ``(key, None)`` if the key
    carries no known unit. Exact-case suffixes win; then a case-insensitive match (so
    ``activity_mbq`` is read as MBq)."""
    for unit in _BY_LENGTH:
        if key.endswith("_" + unit.suffix) and len(key) > len(unit.suffix) + 1:
            return key[: -len(unit.suffix) - 1], unit
    lowered = key.lower()
    for unit in _BY_LENGTH:
        suffix = "_" + unit.suffix.lower()
        if lowered.endswith(suffix) and len(key) > len(suffix):
            # "m" vs "M", "mbq" vs "MBq": prefer the interpretation used by nanobridge fields
            return key[: -len(suffix)], unit
    return key, None


def describe_unit(field_name: str) -> str:
    """Display form of the unit in a field name (``""`` if none)."""
    _, unit = split_unit(field_name)
    return unit.display if unit else ""


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _stem_matches(stem: str, other_stem: str) -> bool:
    if stem == other_stem:
        return True
    a, b = stem.lower(), other_stem.lower()
    return a == b or b.endswith("_" + a) or a.endswith("_" + b)


def unknown_key_hint(key: str, value: object, allowed: Iterable[str]) -> str:
    """Explain an unknown key: a unit that nanobridge spells differently, a missing unit, or a
    near-miss spelling. ``allowed`` are the field names valid at that place."""
    allowed = [a for a in allowed]
    stem, unit = split_unit(key)

    if unit is not None:
        same_dim = [
            a
            for a in allowed
            if (split := split_unit(a))[1] is not None
            and split[1].dimension == unit.dimension
            and _stem_matches(stem, split[0])
        ]
        if same_dim:
            target_unit = split_unit(same_dim[0])[1]
            assert target_unit is not None
            options = " or ".join(repr(a) for a in same_dim)
            word = _DIMENSIONS_TO_WORD.get(unit.dimension, "values")
            hint = f"did you mean {options}? {word} are given in {target_unit.display}"
            if isinstance(value, int | float) and not isinstance(value, bool):
                converted = value * unit.factor / target_unit.factor
                hint += f" ({_fmt(value)} {unit.display} = {_fmt(converted)} {target_unit.display})"
            return hint
    else:
        with_unit = [
            a for a in allowed if (split := split_unit(a))[1] is not None and _stem_matches(key, split[0])
        ]
        if with_unit:
            options = " or ".join(repr(a) for a in with_unit)
            return f"every number carries its unit in its name: did you mean {options}?"

    close = difflib.get_close_matches(key, allowed, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "allowed here: " + ", ".join(sorted(allowed))
