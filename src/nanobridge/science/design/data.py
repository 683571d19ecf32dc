"""Load and clean the Nano-Tumor Database for delivery models; the same rules clean user tables.

Source: the packaged copy (``nanobridge/data/nano_tumor_db/``, CC0-1.0) of the PBPK-calibrated
Nano-Tumor Database (Cheng et al. 2020 ``Cheng2020``; model data set of Chou et al. 2023
``Chou2023_AIPBPK``): 302 tumour-bearing-mouse data sets, one particle in one tumour model each.

Cleaning rules (each one is applied by :func:`clean_descriptors` and logged as a
:class:`CleaningNote` naming the row, the column, the old and the new value):

- **C1 text**: leading/trailing whitespace stripped, inner runs of whitespace collapsed, matching
  case-insensitive; every categorical level is mapped to one canonical spelling (``cervix`` and
  ``Cervix`` -> ``Cervix``; ``other`` -> ``Other``; ``sphere`` -> ``Spherical``).
- **C2 targeting (TS)**: canonical levels ``Active``/``Passive``. Any other value is set missing.
  In the database two rows carry ``negtive`` (ID 206) and ``positive`` (ID 207): these are charge
  labels that slipped into the targeting column (they agree with the rows' ``Charge`` codes 0 and 1,
  see C3), so the targeting of those rows is unknown.
- **C3 charge coding**: ``Charge`` 0 = negative, 1 = positive, 2 = neutral, checked against the
  data: all 34 rows with zeta 0 mV are coded 2 and no row coded 0 or 1 has zeta 0 mV; the stray
  targeting labels of C2 pair ``negtive`` with code 0 and ``positive`` with code 1; code 0 is the
  majority (189/269), as expected for PEGylated and anionic particles. Text (``negative``,
  ``cationic``, ``+``, ...) is accepted too. One row coded neutral has |zeta| 24.6 mV (ID 19): it is
  kept and noted, since the sign of that zeta is unknown.
- **C4 zeta**: ``Zeta`` is the magnitude |zeta| [mV]; a negative value there gives its sign to a
  missing ``Charge``. The friendly ``zeta_mV`` column is signed: its sign sets a missing ``Charge``
  (negative, positive; exactly 0 mV -> neutral, as in the database). An opposite sign and a given
  ``Charge`` keep the given code and are noted. |zeta| > 100 mV is treated as a recording error and
  set missing (ID 332: 274.2 mV); the bound is an assumption (``Assumed``): measured zeta
  potentials of dispersed nanoparticles lie well within +/-100 mV.
- **C5 positive quantities**: ``HD`` [nm], ``TW`` [g], ``Dose`` [mg/kg], ``BW`` [g] must be finite
  and > 0; anything else (text, zero, negative) is set missing and noted.
- **C6 tumour size TSz** is not used as a feature: it is nearly collinear with the tumour weight
  (Pearson r = 0.985 of the logs; TW = 1.2 x TSz in most rows) and has 26 missing values where TW
  has none.
- **C7 outcomes**: DE24, DE168, Demax [%ID] and the nine fitted tumour parameters must be > 0 to
  be modelled on the log scale; other values become missing targets. ``Demax`` is by definition at
  least DE24 and DE168; one row breaks this (ID 39: 1.69 < 9.48 %ID) and its Demax is set missing.
- **C8 log transforms**: features ``log10_HD_nm``, ``log10_TW_g``, ``log10_dose_mg_per_kg``; all
  targets log10. |zeta| and body weight stay linear (|zeta| has true zeros; BW spans 17-35 g).
- **C9 missing values** are *not* filled here: numeric features stay NaN and categorical ones
  ``None``; the model pipelines impute inside cross-validation (median + missing-indicator for
  numbers, a ``missing`` level for categories), so no information leaks from test folds.

The database has no core-material column (only ``Type``: Organic, Inorganic, Hybrid), so
"material" enters the models only through ``Type``.

Groups for cross-validation (:func:`particle_groups`, :func:`study_groups`) keep near-duplicate
rows together; see their docstrings.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from io import StringIO
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from nanobridge.citations import cite
from nanobridge.science.pbpk.engine import TUMOR_PARAMETERS

__all__ = [
    "CATEGORICAL_FEATURES",
    "DATA_FILES",
    "DELIVERY_TARGETS",
    "FEATURES",
    "NUMERIC_FEATURES",
    "PARAMETER_TARGETS",
    "TARGETS",
    "CleanedTable",
    "CleaningNote",
    "clean_descriptors",
    "data_fingerprint",
    "feature_frame",
    "load_clean_datasets",
    "load_raw_datasets",
    "load_time_courses",
    "particle_groups",
    "standardize_columns",
    "study_groups",
    "target_frame",
]

#: Packaged files (under ``nanobridge/data/nano_tumor_db/``).
DATA_FILES: tuple[str, ...] = ("datasets.csv", "time_courses.csv")

#: Tumour delivery efficiencies [%ID] predicted directly.
DELIVERY_TARGETS: tuple[str, ...] = ("DE24", "DE168", "Demax")
#: The nine fitted tumour PBPK parameters (Cheng et al. 2020).
PARAMETER_TARGETS: tuple[str, ...] = TUMOR_PARAMETERS
TARGETS: tuple[str, ...] = DELIVERY_TARGETS + PARAMETER_TARGETS

#: Model inputs (after cleaning and transforms; units in the names).
NUMERIC_FEATURES: tuple[str, ...] = (
    "log10_HD_nm",
    "abs_zeta_mV",
    "log10_TW_g",
    "log10_dose_mg_per_kg",
    "BW_g",
)
CATEGORICAL_FEATURES: tuple[str, ...] = ("Type", "TS", "Charge", "Shape", "TM", "CT")
FEATURES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES

#: Raw descriptor columns (database names) and the positive numeric ones among them.
DESCRIPTOR_COLUMNS: tuple[str, ...] = (
    "Type",
    "TS",
    "HD",
    "Zeta",
    "Charge",
    "Shape",
    "TM",
    "CT",
    "TW",
    "Dose",
    "BW",
)
POSITIVE_NUMERIC: tuple[str, ...] = ("HD", "TW", "Dose", "BW")

#: Column of a signed zeta potential [mV] (from the ``zeta_mV`` alias); the sign sets ``Charge``.
SIGNED_ZETA = "zeta_signed_mV"
#: Bound on |zeta| [mV] above which a value is taken as a recording error (assumed, rule C4).
MAX_ABS_ZETA_MV = 100.0

_CANONICAL: dict[str, dict[str, str]] = {
    "Type": {"organic": "Organic", "inorganic": "Inorganic", "hybrid": "Hybrid"},
    "TS": {"active": "Active", "passive": "Passive"},
    "Charge": {
        "0": "negative",
        "negative": "negative",
        "neg": "negative",
        "anionic": "negative",
        "-": "negative",
        "1": "positive",
        "positive": "positive",
        "pos": "positive",
        "cationic": "positive",
        "+": "positive",
        "2": "neutral",
        "neutral": "neutral",
    },
    "Shape": {
        "spherical": "Spherical",
        "sphere": "Spherical",
        "spheres": "Spherical",
        "rod": "Rod",
        "rods": "Rod",
        "flake": "Flake",
        "flakes": "Flake",
        "plate": "Plate",
        "plates": "Plate",
        "irregular": "Irregular",
        "other": "Other",
    },
    "TM": {
        "allograft heterotopic": "Allograft Heterotopic",
        "allograft orthotopic": "Allograft Orthotopic",
        "xenograft heterotopic": "Xenograft Heterotopic",
        "xenograft orthotopic": "Xenograft Orthotopic",
        "other": "Other",
    },
    "CT": {
        name.lower(): name
        for name in (
            "Brain",
            "Breast",
            "Cervix",
            "Colon",
            "Kidney",
            "Liver",
            "Lung",
            "Other",
            "Ovary",
            "Pancreas",
            "Prostate",
            "Skin",
            "Stomach",
        )
    },
}
#: Categorical columns whose unknown levels are dropped (set missing) rather than kept: a value
#: outside these closed vocabularies is noise (rule C2); tumour model, cancer type and shape keep
#: unknown levels, which the models then treat as unseen (applicability domain).
_CLOSED = ("Type", "TS", "Charge")


@dataclass(frozen=True)
class CleaningNote:
    """One change made by a cleaning rule: ``rule`` is C1-C7 of the module docstring.

    ``warning`` is False for routine normalisation (spelling, a charge read from the sign of a
    signed zeta), True when a value was dropped or conflicts with another.
    """

    row: int  # 0-based position in the input table
    id: str
    column: str
    old: str
    new: str
    rule: str
    message: str
    warning: bool = True


@dataclass(frozen=True)
class CleanedTable:
    """A cleaned descriptor table: database column names, canonical levels, NaN/None for missing."""

    table: pd.DataFrame
    notes: tuple[CleaningNote, ...] = field(default_factory=tuple)

    def notes_for_row(self, row: int) -> list[CleaningNote]:
        return [n for n in self.notes if n.row == row]


# --------------------------------------------------------------------------------------------
# Packaged data
# --------------------------------------------------------------------------------------------


def _data_text(name: str) -> str:
    if name not in DATA_FILES:
        raise ValueError(f"unknown packaged file {name!r}; allowed: {', '.join(DATA_FILES)}")
    return (resources.files("nanobridge") / "data" / "nano_tumor_db" / name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def data_fingerprint() -> str:
    """SHA-256 of the packaged database files (part of the model cache key)."""
    h = hashlib.sha256()
    for name in DATA_FILES:
        h.update(name.encode())
        h.update(_data_text(name).encode("utf-8"))
    return h.hexdigest()


def load_raw_datasets() -> pd.DataFrame:
    """The packaged ``datasets.csv`` as read (302 rows), citing its sources."""
    cite("Cheng2020")
    cite("Chou2023_AIPBPK")
    return pd.read_csv(StringIO(_data_text("datasets.csv")))


def load_time_courses() -> pd.DataFrame:
    """The packaged ``time_courses.csv``: ``ID``, ``Time`` [h], ``Tumor`` [%ID], ``Tumor_g`` [%ID/g]."""
    cite("Cheng2020")
    return pd.read_csv(StringIO(_data_text("time_courses.csv")))


@functools.lru_cache(maxsize=1)
def _clean_packaged() -> CleanedTable:
    return clean_descriptors(load_raw_datasets(), with_targets=True)


def load_clean_datasets() -> CleanedTable:
    """The packaged database after the cleaning rules (a copy; cached)."""
    cite("Cheng2020")
    cite("Chou2023_AIPBPK")
    cleaned = _clean_packaged()
    return CleanedTable(cleaned.table.copy(), cleaned.notes)


# --------------------------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and value.strip().lower() in {"", "nan", "na", "n/a", "none", "null"}:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text_key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return re.sub(r"\s+", " ", str(value).strip()).lower()


def _as_float(value: Any) -> float | None:
    if _is_missing(value):
        return None
    if isinstance(value, bool):
        return None
    try:
        x = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def clean_descriptors(raw: pd.DataFrame, *, with_targets: bool = False) -> CleanedTable:
    """Apply rules C1-C7 to a table with database column names (any subset of them).

    Missing columns are added as all-missing. Returns the cleaned table (``ID`` as text, the
    descriptor columns, and with ``with_targets`` the outcome and parameter columns) and the notes.
    Never raises for a bad value: it becomes missing and is noted.
    """
    n = len(raw)
    ids = (
        [str(v) if not _is_missing(v) else str(i + 1) for i, v in enumerate(raw["ID"])]
        if "ID" in raw.columns
        else [str(i + 1) for i in range(n)]
    )
    ids = [i[:-2] if re.fullmatch(r"\d+\.0", i) else i for i in ids]
    notes: list[CleaningNote] = []

    def note(
        row: int, column: str, old: Any, new: Any, rule: str, message: str, warning: bool = True
    ) -> None:
        notes.append(CleaningNote(row, ids[row], column, str(old), str(new), rule, message, warning))

    def column(name: str) -> list[Any]:
        return list(raw[name]) if name in raw.columns else [None] * n

    out: dict[str, Any] = {"ID": ids}
    # categorical columns (C1-C3)
    for name in ("Type", "TS", "Charge", "Shape", "TM", "CT"):
        levels = _CANONICAL[name]
        values: list[str | None] = []
        for i, v in enumerate(column(name)):
            if _is_missing(v):
                values.append(None)
                continue
            key = _text_key(v)
            if key in levels:
                new = levels[key]
                if str(v) != new and name != "Charge":
                    note(i, name, v, new, "C1", f"{name} {v!r} normalised to {new!r}", warning=False)
                values.append(new)
            elif name in _CLOSED:
                allowed = sorted(set(levels.values()))
                note(i, name, v, "missing", "C2", f"{name} {v!r} is not one of {allowed}; set missing")
                values.append(None)
            else:
                new = re.sub(r"\s+", " ", str(v).strip())
                new = new[:1].upper() + new[1:]
                values.append(new)
                if new != str(v):
                    note(i, name, v, new, "C1", f"{name} {v!r} normalised to {new!r}", warning=False)
        out[name] = values

    # zeta (C4): ``Zeta`` holds |zeta| (a negative value still carries its sign); the signed
    # alias column ``zeta_signed_mV`` gives the charge from its sign (0 mV -> neutral)
    signed_source = "Zeta" not in raw.columns and SIGNED_ZETA in raw.columns
    source = SIGNED_ZETA if signed_source else "Zeta"
    zeta: list[float] = []
    for i, v in enumerate(column(source)):
        x = _as_float(v)
        if x is None:
            if not _is_missing(v):
                note(i, "Zeta", v, "missing", "C5", f"zeta {v!r} is not a number; set missing")
            zeta.append(math.nan)
            continue
        charge = out["Charge"][i]
        sign = "negative" if x < 0 else ("positive" if x > 0 else "neutral")
        if x < 0 or signed_source:
            if charge is None:
                out["Charge"][i] = sign
                note(i, "Charge", "missing", sign, "C4", f"zeta {x:g} mV sets Charge {sign}", warning=False)
            elif {charge, sign} == {"negative", "positive"}:
                note(
                    i, "Charge", charge, charge, "C4", f"zeta {x:g} mV conflicts with Charge {charge!r}; kept"
                )
        x = abs(x)
        charge = out["Charge"][i]
        if x > MAX_ABS_ZETA_MV:
            cite("Assumed")
            note(
                i,
                "Zeta",
                v,
                "missing",
                "C4",
                f"|zeta| {x:g} mV > {MAX_ABS_ZETA_MV:g} mV is implausible; set missing",
            )
            zeta.append(math.nan)
            continue
        if charge == "neutral" and x > 10.0:
            note(i, "Zeta", v, v, "C3", f"Charge neutral but |zeta| {x:g} mV; kept (sign unknown)")
        zeta.append(x)
    out["Zeta"] = zeta

    # positive quantities (C5)
    for name in POSITIVE_NUMERIC:
        vals: list[float] = []
        for i, v in enumerate(column(name)):
            x = _as_float(v)
            if x is None or x <= 0:
                if not _is_missing(v):
                    note(i, name, v, "missing", "C5", f"{name} {v!r} must be a number > 0; set missing")
                vals.append(math.nan)
            else:
                vals.append(x)
        out[name] = vals

    if with_targets:
        for name in TARGETS:
            vals = []
            for i, v in enumerate(column(name)):
                x = _as_float(v)
                if x is None or x <= 0:
                    if not _is_missing(v):
                        note(i, name, v, "missing", "C7", f"{name} {v!r} must be > 0; set missing")
                    vals.append(math.nan)
                else:
                    vals.append(x)
            out[name] = vals
        for i in range(n):
            dmax = out["Demax"][i]
            others = [out["DE24"][i], out["DE168"][i]]
            top = max((x for x in others if math.isfinite(x)), default=math.nan)
            if math.isfinite(dmax) and math.isfinite(top) and dmax < top:
                note(
                    i,
                    "Demax",
                    dmax,
                    "missing",
                    "C7",
                    f"Demax {dmax:g} < max(DE24, DE168) {top:g}; set missing",
                )
                out["Demax"][i] = math.nan
    table = pd.DataFrame(
        {k: pd.Series(v, dtype=object if k in CATEGORICAL_FEATURES else None) for k, v in out.items()}
    )
    return CleanedTable(table, tuple(notes))


# --------------------------------------------------------------------------------------------
# Model inputs, targets and groups
# --------------------------------------------------------------------------------------------


def feature_frame(cleaned: CleanedTable | pd.DataFrame) -> pd.DataFrame:
    """The model inputs :data:`FEATURES` of a cleaned table (log transforms of rule C8)."""
    t = cleaned.table if isinstance(cleaned, CleanedTable) else cleaned
    with np.errstate(divide="ignore", invalid="ignore"):
        feats = pd.DataFrame(
            {
                "log10_HD_nm": np.log10(t["HD"].to_numpy(dtype=float)),
                "abs_zeta_mV": t["Zeta"].to_numpy(dtype=float),
                "log10_TW_g": np.log10(t["TW"].to_numpy(dtype=float)),
                "log10_dose_mg_per_kg": np.log10(t["Dose"].to_numpy(dtype=float)),
                "BW_g": t["BW"].to_numpy(dtype=float),
            },
            index=t.index,
        )
    for name in CATEGORICAL_FEATURES:
        feats[name] = pd.Series(
            [None if _is_missing(v) else str(v) for v in t[name]], index=t.index, dtype=object
        )
    return feats


def target_frame(cleaned: CleanedTable | pd.DataFrame, targets: Iterable[str] = TARGETS) -> pd.DataFrame:
    """log10 of the targets (NaN where missing or not positive)."""
    t = cleaned.table if isinstance(cleaned, CleanedTable) else cleaned
    out = {}
    for name in targets:
        if name not in t.columns:
            raise ValueError(f"target {name!r} is not in the table; allowed: {', '.join(TARGETS)}")
        x = t[name].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = np.where(x > 0, np.log10(np.where(x > 0, x, 1.0)), np.nan)
    return pd.DataFrame(out, index=t.index)


#: Descriptors that identify a particle (rule of :func:`particle_groups`).
PARTICLE_KEY: tuple[str, ...] = ("Type", "TS", "HD", "Zeta", "Charge", "Shape")
#: Descriptors that identify an experimental setting (rule of :func:`study_groups`).
SETTING_KEY: tuple[str, ...] = ("TM", "CT", "TW", "Dose", "BW")


def _key_codes(t: pd.DataFrame, columns: Mapping[str, int | None]) -> NDArray[np.int64]:
    def fmt(v: Any, digits: int | None) -> str:
        if _is_missing(v):
            return "<missing>"
        if digits is not None:
            return f"{round(float(v), digits):.{digits}f}"
        return str(v)

    keys = ["|".join(fmt(row[c], d) for c, d in columns.items()) for _, row in t.iterrows()]
    codes, _ = pd.factorize(pd.Series(keys, dtype=object))
    return np.asarray(codes, dtype=np.int64)


def particle_groups(cleaned: CleanedTable | pd.DataFrame) -> NDArray[np.int64]:
    """Group label per row: rows with identical particle descriptors share a label.

    Descriptors: ``Type``, ``TS``, ``HD`` (to 0.1 nm), ``Zeta`` (|zeta| to 0.01 mV), ``Charge``,
    ``Shape``, after cleaning; a missing value counts as a value of its own, so two rows that both
    lack HD but agree on the rest are grouped (the conservative choice). In the database this makes
    284 groups of 302 rows: the same particle tested in several tumour models or doses.
    """
    t = cleaned.table if isinstance(cleaned, CleanedTable) else cleaned
    return _key_codes(t, {"Type": None, "TS": None, "HD": 1, "Zeta": 2, "Charge": None, "Shape": None})


def study_groups(cleaned: CleanedTable | pd.DataFrame) -> NDArray[np.int64]:
    """Stricter groups, a proxy for the source study (the database has no study column).

    Two rows are linked when they share the particle descriptors of :func:`particle_groups` *or*
    the whole experimental setting (tumour model, cancer type, tumour weight, dose, body weight);
    groups are the connected components of these links. Rows of one paper usually share the
    setting, so this keeps most of a paper's particles together (181 groups of 302 rows), at the
    price of occasionally joining two papers that used the same common setting.
    """
    t = cleaned.table if isinstance(cleaned, CleanedTable) else cleaned
    n = len(t)
    a = particle_groups(t)
    b = _key_codes(t, {"TM": None, "CT": None, "TW": 4, "Dose": 4, "BW": 2})
    rows: list[int] = []
    cols: list[int] = []
    for codes in (a, b):
        first: dict[int, int] = {}
        for i, c in enumerate(codes):
            j = first.setdefault(int(c), i)
            if j != i:
                rows.append(i)
                cols.append(j)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Friendly column names of user tables
# --------------------------------------------------------------------------------------------

#: Accepted column names (case-insensitive, spaces/dashes as underscores) -> database column.
COLUMN_ALIASES: dict[str, str] = {
    "id": "ID",
    "name": "ID",
    "particle": "ID",
    "type": "Type",
    "particle_type": "Type",
    "material_type": "Type",
    "ts": "TS",
    "targeting": "TS",
    "targeting_strategy": "TS",
    "hd": "HD",
    "hd_nm": "HD",
    "hydrodynamic_diameter_nm": "HD",
    "zeta": "Zeta",
    "zeta_mv": SIGNED_ZETA,
    "zeta_potential_mv": SIGNED_ZETA,
    "zeta_signed_mv": SIGNED_ZETA,
    "charge": "Charge",
    "shape": "Shape",
    "tm": "TM",
    "tumor_model": "TM",
    "tumour_model": "TM",
    "ct": "CT",
    "cancer_type": "CT",
    "tw": "TW",
    "tumor_weight_g": "TW",
    "tumour_weight_g": "TW",
    "dose": "Dose",
    "dose_mg_per_kg": "Dose",
    "bw": "BW",
    "body_weight_g": "BW",
}
#: Aliases in other units: alias -> (database column, factor to its unit).
SCALED_ALIASES: dict[str, tuple[str, float]] = {
    "body_weight_kg": ("BW", 1000.0),
    "tumor_weight_mg": ("TW", 1e-3),
}


def standardize_columns(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Rename alias columns to database names (converting units where the alias says so).

    Matching ignores case and treats spaces and dashes as underscores. Returns the renamed table
    and notes on ignored columns. Two columns that mean the same descriptor raise ``ValueError``
    naming both; so does a table with none of the descriptor columns.
    """
    notes: list[str] = []
    mapping: dict[str, str] = {}
    scale: dict[str, float] = {}
    for col in table.columns:
        norm = re.sub(r"[\s\-]+", "_", str(col).strip()).lower()
        if norm in COLUMN_ALIASES:
            target, factor = COLUMN_ALIASES[norm], 1.0
        elif norm in SCALED_ALIASES:
            target, factor = SCALED_ALIASES[norm]
        else:
            notes.append(f"column {col!r} is not a descriptor; ignored")
            continue
        same = {target, "Zeta", SIGNED_ZETA} if target in ("Zeta", SIGNED_ZETA) else {target}
        clash = [c for c, t in mapping.items() if t in same]
        if clash:
            raise ValueError(
                f"columns {clash[0]!r} and {col!r} both give the same descriptor; keep one of them"
            )
        mapping[str(col)] = target
        if factor != 1.0:
            scale[target] = factor
    if not any(t != "ID" for t in mapping.values()):
        known = sorted({*COLUMN_ALIASES, *SCALED_ALIASES})
        raise ValueError(
            f"no descriptor column found among {list(map(str, table.columns))}; use database names "
            f"({', '.join(DESCRIPTOR_COLUMNS)}) or aliases ({', '.join(known)})"
        )
    out = table[list(mapping)].rename(columns=mapping)
    for target, factor in scale.items():
        numeric = pd.to_numeric(out[target], errors="coerce")
        out[target] = [
            v * factor if pd.notna(v) else raw for v, raw in zip(numeric, out[target], strict=True)
        ]
    return out, notes
