"""Readers for DLS correlograms: plain CSV, ALV ``.ASC`` and Malvern Zetasizer ``.xlsx`` exports.

:func:`read_correlograms` dispatches by content (zip signature → Zetasizer workbook; an ``ALV``
first line or a ``"Correlation"`` section → ALV; otherwise CSV) and returns one
:class:`~nanobridge.science.qc.dls.Correlogram` per angle/channel/record. Every problem raises a
:class:`QCInputError` naming the file and, where it applies, the line, column or cell.
:func:`read_correlogram_file` returns the valid correlograms and the rejected ones with their
reasons instead of raising on the first physically impossible record.

Formats
-------
* **ALV** (ALV-5000/7004 software, Latin-1 text): ``key : value`` header lines with
  ``Temperature [K]``, ``Viscosity [cp]`` (= mPa·s), ``Refractive Index``, ``Wavelength [nm]``
  and either ``Angle(i)[°]`` (multi-angle goniometers, one g2−1 column per angle) or a single
  ``Angle [°]`` (then every correlation column that is not all zero is a detector channel,
  e.g. the two cross-correlations of a CGS-3, returned separately); a ``"Correlation"`` section
  with the lag in **ms** and g2−1 columns; an optional ``"Count Rate"`` section (time [s],
  count rate [kHz] per angle/channel).
* **CSV** (nanobridge convention): optional ``# key: value`` metadata lines
  (``temperature_K`` or ``temperature_C``, ``viscosity_mPa_s`` (or ``viscosity_cP``),
  ``solvent_refractive_index``, ``wavelength_nm``, ``angle_deg``, ``label``); one header line;
  delimiter comma, semicolon, tab or whitespace. The first column is the lag and its header must
  declare the unit (``lag_s``, ``tau_ms``, ``lag [µs]``, ``time (ns)``); every other column is
  ``g2−1`` named ``g2m1``, ``g2-1``, ``g2_minus_1`` or ``correlation``, optionally with its angle
  (``g2m1_90deg``, ``g2-1 @ 173``, ``g2-1 [90°]``); columns without an angle use ``angle_deg``.
* **Zetasizer** (Malvern export to ``.xlsx``): per sheet, column pairs ``Time (µs) - NAME [...]``
  and ``Correlation Coefficient (g₂-1) - NAME [...]``. Consecutive pairs with the same NAME are
  one record measured at several angles (MADLS: backscatter, side, forward, in that order;
  MalvernMADLS_TN180719). Trailing channels that are exactly 0.0 are channels the instrument did
  not fill and are dropped. The export carries **no measurement conditions**: unless given, the
  reader assumes (``Assumed``; recorded in each correlogram's ``assumed``) 25 °C water
  (0.8900 mPa·s, Huber2009; refractive index 1.330), a 632.8 nm He-Ne laser, and angles of
  174.7°, 90° and 12.78° for a three-angle record (173° for a single-angle record). Pass
  ``conditions=`` and ``angles_deg=`` with the instrument's values whenever they are known.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from nanobridge.citations import cite
from nanobridge.science.qc.dls import Correlogram, MeasurementConditions
from nanobridge.science.qc.errors import QCInputError

__all__ = [
    "ZETASIZER_ASSUMED_CONDITIONS",
    "ZETASIZER_MADLS_ANGLES_DEG",
    "CorrelogramFile",
    "RejectedRecord",
    "read_correlogram_file",
    "read_correlograms",
]

#: Assumed conditions of Zetasizer exports without metadata: 25 °C, water viscosity at 25 °C
#: (Huber2009), water refractive index 1.330 and He-Ne 632.8 nm (Assumed).
ZETASIZER_ASSUMED_CONDITIONS = MeasurementConditions(
    temperature_K=298.15, viscosity_mPa_s=0.8900, solvent_refractive_index=1.330, wavelength_nm=632.8
)
#: Assumed detection angles of a three-angle (MADLS) Zetasizer record, in export order
#: backscatter, side, forward (order: MalvernMADLS_TN180719; values: Assumed).
ZETASIZER_MADLS_ANGLES_DEG = (174.7, 90.0, 12.78)
#: Assumed angle of a single-angle Zetasizer record (non-invasive backscatter; Assumed).
ZETASIZER_SINGLE_ANGLE_DEG = 173.0

_LAG_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9}


class RejectedRecord(BaseModel):
    """A record of a file that did not give a valid correlogram, and why."""

    model_config = ConfigDict(frozen=True)

    label: str
    angle_deg: float | None
    reason: str


class CorrelogramFile(BaseModel):
    """Everything read from one file: valid correlograms and rejected records."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    path: str
    format: Literal["alv", "csv", "zetasizer_xlsx"]
    correlograms: tuple[Correlogram, ...]
    rejected: tuple[RejectedRecord, ...]


def read_correlograms(
    path: str | Path,
    *,
    conditions: MeasurementConditions | None = None,
    angles_deg: Sequence[float] | None = None,
    strict: bool = True,
) -> list[Correlogram]:
    """Read every correlogram of a CSV, ALV ``.ASC`` or Zetasizer ``.xlsx`` file.

    ``conditions`` replaces the conditions recorded in the file (or supplies them where the file
    has none); ``angles_deg`` gives the angles of CSV columns without one, or of the correlograms
    of each Zetasizer record. With ``strict`` (default) a physically impossible record raises
    :class:`QCInputError`; otherwise it is skipped (see :func:`read_correlogram_file` for the reasons).
    """
    result = read_correlogram_file(path, conditions=conditions, angles_deg=angles_deg)
    if strict and result.rejected:
        first = result.rejected[0]
        more = f" (and {len(result.rejected) - 1} more)" if len(result.rejected) > 1 else ""
        raise QCInputError(f"{first.reason}{more}")
    if not result.correlograms:
        raise QCInputError(f"{path}: no valid correlogram in the file")
    return list(result.correlograms)


def read_correlogram_file(
    path: str | Path,
    *,
    conditions: MeasurementConditions | None = None,
    angles_deg: Sequence[float] | None = None,
) -> CorrelogramFile:
    """Read a correlogram file, keeping rejected records (with reasons) instead of raising.

    File-level problems (missing, empty, binary, malformed) still raise :class:`QCInputError`."""
    p = Path(path)
    if not p.exists():
        raise QCInputError(f"{p}: file does not exist")
    if not p.is_file():
        raise QCInputError(f"{p}: not a regular file")
    raw = p.read_bytes()
    if not raw.strip():
        raise QCInputError(f"{p}: file is empty")
    if raw[:4] == b"PK\x03\x04":
        return _read_zetasizer(p, raw, conditions, angles_deg)
    if p.suffix.lower() in {".xlsx", ".xlsm"}:
        raise QCInputError(f"{p}: has an .xlsx extension but is not an Excel workbook (no zip signature)")
    head = raw[:8192]
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    if b"\x00" in head or controls > 0.01 * len(head):
        raise QCInputError(f"{p}: binary content; expected a text (CSV/ALV) or .xlsx correlogram export")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    lines = text.splitlines()
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    if first.upper().startswith("ALV") or any(ln.strip() == '"Correlation"' for ln in lines):
        return _read_alv(p, lines, conditions)
    return _read_csv(p, lines, conditions, angles_deg)


def _build(
    records: list[dict[str, Any]], path: Path, fmt: Literal["alv", "csv", "zetasizer_xlsx"]
) -> CorrelogramFile:
    good: list[Correlogram] = []
    bad: list[RejectedRecord] = []
    for rec in records:
        try:
            good.append(Correlogram(**rec))
        except QCInputError as exc:
            bad.append(
                RejectedRecord(
                    label=str(rec.get("label", "")), angle_deg=rec.get("angle_deg"), reason=str(exc)
                )
            )
    return CorrelogramFile(path=str(path), format=fmt, correlograms=tuple(good), rejected=tuple(bad))


# --------------------------------------------------------------------------------------------
# ALV
# --------------------------------------------------------------------------------------------

_ALV_KEYS = {
    "temperature_K": re.compile(r"^Temperature\s*\[K\]$", re.I),
    "viscosity_mPa_s": re.compile(r"^Viscosity\s*\[cp\]$", re.I),
    "solvent_refractive_index": re.compile(r"^Refractive\s*Index$", re.I),
    "wavelength_nm": re.compile(r"^Wavelength\s*\[nm\]$", re.I),
}
_ALV_ANGLE = re.compile(r"^Angle\s*(?:\((\d+)\))?\s*\[.*\]$", re.I)


def _num(token: str, where: str) -> float:
    try:
        return float(token)
    except ValueError:
        raise QCInputError(f"{where}: {token!r} is not a number") from None


def _alv_block(lines: list[str], start: int, path: Path, what: str) -> tuple[np.ndarray, int]:
    """Numeric rows from ``start`` up to a blank line or a quoted section title."""
    rows: list[list[float]] = []
    ncols = None
    i = start
    while i < len(lines):
        s = lines[i].strip()
        if not s or s.startswith('"'):
            break
        tokens = s.split()
        if ncols is None:
            ncols = len(tokens)
        elif len(tokens) != ncols:
            raise QCInputError(
                f"{path}, line {i + 1}: {what} row has {len(tokens)} columns, the rows above have {ncols}"
            )
        rows.append([_num(t, f"{path}, line {i + 1}, column {k + 1}") for k, t in enumerate(tokens)])
        i += 1
    if not rows:
        raise QCInputError(f"{path}, line {start + 1}: the {what} section holds no numeric rows")
    return np.array(rows, dtype=np.float64), i


def _read_alv(path: Path, lines: list[str], conditions: MeasurementConditions | None) -> CorrelogramFile:
    header: dict[str, float] = {}
    angles: dict[int, float] = {}
    sample = ""
    corr_start = None
    for i, ln in enumerate(lines):
        s = ln.strip()
        if s == '"Correlation"':
            corr_start = i + 1
            break
        if ":" not in s:
            continue
        key, _, value = s.partition(":")
        key, value = key.strip(), value.strip().strip('"').strip()
        if key.lower() == "samplename":
            sample = value
            continue
        m = _ALV_ANGLE.match(key)
        if m:
            angles[int(m.group(1) or 1)] = _num(value, f"{path}, line {i + 1} ({key})")
            continue
        for name, pat in _ALV_KEYS.items():
            if pat.match(key):
                header[name] = _num(value, f"{path}, line {i + 1} ({key})")
    if corr_start is None:
        raise QCInputError(f'{path}: no "Correlation" section; not an ALV correlogram export')
    if not angles:
        raise QCInputError(f"{path}: the ALV header names no scattering angle (Angle [°] or Angle(i)[°])")
    if conditions is None:
        missing = [k for k in _ALV_KEYS if k not in header]
        if missing:
            raise QCInputError(f"{path}: the ALV header lacks {', '.join(missing)}; pass conditions= instead")
        try:
            conditions = MeasurementConditions(**header)
        except QCInputError as exc:
            raise QCInputError(f"{path}: {exc}") from None
    data, end = _alv_block(lines, corr_start, path, "correlation")
    if data.shape[1] < 2:
        raise QCInputError(
            f"{path}, line {corr_start + 1}: correlation rows need a lag and at least one g2-1 column"
        )
    tau_s = data[:, 0] * 1e-3  # ALV lags are in ms
    ncorr = data.shape[1] - 1
    rate: np.ndarray | None = None
    for j in range(end, len(lines)):
        if lines[j].strip() == '"Count Rate"':
            rate, _ = _alv_block(lines, j + 1, path, "count-rate")
            break
    ordered = [angles[k] for k in sorted(angles)]
    if ncorr == len(ordered):
        columns = [(k, ordered[k], f"{sample}".strip()) for k in range(ncorr)]
    elif len(ordered) == 1:
        columns = [
            (k, ordered[0], f"{sample} ch{k}".strip()) for k in range(ncorr) if np.any(data[:, k + 1] != 0)
        ]
        if not columns:
            raise QCInputError(f"{path}: every correlation column is zero")
    else:
        raise QCInputError(
            f"{path}, line {corr_start + 1}: {ncorr} g2-1 columns but {len(ordered)} angles in the header"
        )
    if rate is not None and rate.shape[1] - 1 < max(k for k, _, _ in columns) + 1:
        raise QCInputError(
            f"{path}: the count-rate section has {rate.shape[1] - 1} rate columns for {ncorr} "
            "correlation columns"
        )
    records = []
    for k, angle, label in columns:
        rec: dict[str, Any] = dict(
            tau_s=tau_s,
            g2m1=data[:, k + 1],
            conditions=conditions,
            angle_deg=angle,
            source=str(path),
            label=label,
        )
        if rate is not None:
            rec["count_rate_time_s"] = rate[:, 0]
            rec["count_rate_kHz"] = rate[:, k + 1]
        records.append(rec)
    return _build(records, path, "alv")


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------

_G2_NAME = re.compile(r"^(g2\s*(?:-|−|–|m|_minus_|minus)\s*1|g2m1|correlation(?:\s*coefficient)?)", re.I)
_ANGLE_IN_NAME = re.compile(r"(?:@|_|\[|\(|\s)\s*(\d+(?:\.\d+)?)\s*(?:deg|°|degrees)?\s*[\])]?\s*$", re.I)
_UNIT_IN_NAME = re.compile(r"(?:[\[(]\s*(s|ms|us|µs|μs|ns)\s*[\])]|_(s|ms|us|ns)$)", re.I)
_META = {
    "temperature_k": "temperature_K",
    "temperature_c": "temperature_C",
    "viscosity_mpa_s": "viscosity_mPa_s",
    "viscosity_cp": "viscosity_mPa_s",
    "solvent_refractive_index": "solvent_refractive_index",
    "refractive_index": "solvent_refractive_index",
    "wavelength_nm": "wavelength_nm",
    "angle_deg": "angle_deg",
}


def _split(line: str, delim: str | None) -> list[str]:
    return [t.strip() for t in (line.split(delim) if delim else line.split())]


def _read_csv(
    path: Path, lines: list[str], conditions: MeasurementConditions | None, angles_deg: Sequence[float] | None
) -> CorrelogramFile:
    meta: dict[str, float] = {}
    label = path.stem
    header_i = None
    for i, ln in enumerate(lines):
        s = ln.strip()
        if not s:
            continue
        if s.startswith("#"):
            body = s.lstrip("#").strip()
            m = re.match(r"^([A-Za-z_ ]+?)\s*[:=]\s*(.+)$", body)
            if m:
                key = m.group(1).strip().lower().replace(" ", "_")
                if key in ("label", "sample"):
                    label = m.group(2).strip()
                elif key in _META:
                    meta[_META[key]] = _num(
                        m.group(2).strip(), f"{path}, line {i + 1} ({m.group(1).strip()})"
                    )
            continue
        header_i = i
        break
    if header_i is None:
        raise QCInputError(f"{path}: no header line and no data")
    head = lines[header_i]
    delim = next((d for d in (",", ";", "\t") if d in head), None)
    names = _split(head, delim)
    if len(names) < 2:
        raise QCInputError(
            f"{path}, line {header_i + 1}: header {head.strip()!r} has {len(names)} column; expected a lag "
            "column and at least one g2-1 column (e.g. 'lag_s,g2m1')"
        )
    unit = _UNIT_IN_NAME.search(names[0])
    if unit is None:
        raise QCInputError(
            f"{path}, line {header_i + 1}: first column {names[0]!r} declares no lag unit; name it e.g. "
            "'lag_s', 'tau_ms', 'lag [µs]' or 'time (ns)'"
        )
    factor = _LAG_UNITS[(unit.group(1) or unit.group(2)).lower()]
    default_angle = meta.get("angle_deg")
    col_angles: list[float | None] = []
    for k, name in enumerate(names[1:], start=2):
        if not _G2_NAME.match(name):
            raise QCInputError(
                f"{path}, line {header_i + 1}, column {k} ({name!r}): not a g2-1 column; name g2-1 columns "
                "'g2m1', 'g2-1', 'g2_minus_1' or 'correlation', optionally with an angle ('g2m1_90deg')"
            )
        m = _ANGLE_IN_NAME.search(re.sub(r"^(g2\s*(?:-|−|–|m|_minus_|minus)\s*1|g2m1)", "", name, flags=re.I))
        col_angles.append(float(m.group(1)) if m else None)
    if any(a is None for a in col_angles):
        if angles_deg is not None:
            if len(angles_deg) != len(col_angles):
                raise QCInputError(
                    f"{path}: angles_deg has {len(angles_deg)} values for {len(col_angles)} g2-1 columns"
                )
            col_angles = [float(a) for a in angles_deg]
        elif default_angle is not None:
            col_angles = [a if a is not None else default_angle for a in col_angles]
        else:
            raise QCInputError(
                f"{path}: no scattering angle for g2-1 column(s) "
                f"{', '.join(n for n, a in zip(names[1:], col_angles, strict=True) if a is None)}; add "
                "'# angle_deg: 90', put it in the column name ('g2m1_90deg') or pass angles_deg="
            )
    rows: list[list[float]] = []
    for i in range(header_i + 1, len(lines)):
        s = lines[i].strip()
        if not s or s.startswith("#"):
            continue
        tokens = _split(lines[i], delim)
        if len(tokens) != len(names):
            raise QCInputError(f"{path}, line {i + 1}: {len(tokens)} fields, the header has {len(names)}")
        rows.append(
            [_num(t, f"{path}, line {i + 1}, column {k + 1} ({names[k]!r})") for k, t in enumerate(tokens)]
        )
    if not rows:
        raise QCInputError(f"{path}: header but no data rows")
    data = np.array(rows, dtype=np.float64)
    if conditions is None:
        values = dict(meta)
        if "temperature_C" in values:
            values.setdefault("temperature_K", values["temperature_C"] + 273.15)
        needed = ("temperature_K", "viscosity_mPa_s", "solvent_refractive_index", "wavelength_nm")
        missing = [k for k in needed if k not in values]
        if missing:
            raise QCInputError(
                f"{path}: measurement conditions missing: {', '.join(missing)}; add '# {missing[0]}: value' "
                "lines above the header or pass conditions="
            )
        try:
            conditions = MeasurementConditions(**{k: values[k] for k in needed})
        except QCInputError as exc:
            raise QCInputError(f"{path}: {exc}") from None
    records = [
        dict(
            tau_s=data[:, 0] * factor,
            g2m1=data[:, k + 1],
            conditions=conditions,
            angle_deg=angle,
            source=str(path),
            label=label if len(names) == 2 else f"{label} {names[k + 1]}",
        )
        for k, angle in enumerate(col_angles)
    ]
    return _build(records, path, "csv")


# --------------------------------------------------------------------------------------------
# Zetasizer .xlsx
# --------------------------------------------------------------------------------------------

_ZS_RECORD = re.compile(r"^\s*(time|correlation[^-]*)\s*(?:\([^)]*\))?\s*-\s*(.+?)\s*(\[[^\]]*\])?\s*$", re.I)


def _col_letter(k: int) -> str:
    s = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        s = chr(65 + r) + s
    return s


def _read_zetasizer(
    path: Path, raw: bytes, conditions: MeasurementConditions | None, angles_deg: Sequence[float] | None
) -> CorrelogramFile:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as exc:
        raise QCInputError(f"{path}: not a readable .xlsx workbook ({exc})") from None
    assumed: list[str] = []
    if conditions is None:
        cite("Assumed", "Huber2009")
        conditions = ZETASIZER_ASSUMED_CONDITIONS
        assumed += ["temperature_K", "viscosity_mPa_s", "solvent_refractive_index", "wavelength_nm"]
    records: list[dict[str, Any]] = []
    try:
        for ws in wb.worksheets:
            rows = list(ws.iter_rows(values_only=True))
            if not rows or not any(v is not None for v in rows[0]):
                continue
            header = [str(v).strip() if v is not None else "" for v in rows[0]]
            while header and not header[-1]:
                header.pop()
            if len(header) % 2:
                raise QCInputError(
                    f"{path}, sheet {ws.title!r}: {len(header)} header columns; "
                    "expected (time, correlation) pairs"
                )
            names: list[str] = []
            for k in range(0, len(header), 2):
                mt, mc = _ZS_RECORD.match(header[k]), _ZS_RECORD.match(header[k + 1])
                if not mt or not mt.group(1).lower().startswith("time"):
                    raise QCInputError(
                        f"{path}, sheet {ws.title!r}, cell {_col_letter(k)}1: {header[k]!r} is not a "
                        "'Time (µs) - NAME' header"
                    )
                if not mc or not mc.group(1).lower().startswith("correlation"):
                    raise QCInputError(
                        f"{path}, sheet {ws.title!r}, cell {_col_letter(k + 1)}1: {header[k + 1]!r} is not a "
                        "'Correlation Coefficient (g2-1) - NAME' header"
                    )
                if "(µs)" not in header[k] and "(us)" not in header[k].lower():
                    raise QCInputError(
                        f"{path}, sheet {ws.title!r}, cell {_col_letter(k)}1: lag unit must be µs, "
                        f"got {header[k]!r}"
                    )
                names.append(mt.group(2))
            groups: list[list[int]] = []
            for j, name in enumerate(names):
                if groups and names[groups[-1][0]] == name:
                    groups[-1].append(j)
                else:
                    groups.append([j])
            for members in groups:
                n_ang = len(members)
                rec_assumed = list(assumed)
                if angles_deg is not None:
                    if len(angles_deg) != n_ang:
                        raise QCInputError(
                            f"{path}, sheet {ws.title!r}, record {names[members[0]]!r}: {n_ang} correlograms "
                            f"but angles_deg has {len(angles_deg)} values"
                        )
                    angs = [float(a) for a in angles_deg]
                elif n_ang == 3:
                    cite("Assumed", "MalvernMADLS_TN180719")
                    angs = list(ZETASIZER_MADLS_ANGLES_DEG)
                    rec_assumed.append("angle_deg")
                elif n_ang == 1:
                    cite("Assumed")
                    angs = [ZETASIZER_SINGLE_ANGLE_DEG]
                    rec_assumed.append("angle_deg")
                else:
                    raise QCInputError(
                        f"{path}, sheet {ws.title!r}, record {names[members[0]]!r}: {n_ang} correlograms "
                        "per record; pass angles_deg= with their scattering angles"
                    )
                for j, angle in zip(members, angs, strict=True):
                    tau, g2 = _zs_columns(path, ws.title, rows, 2 * j)
                    records.append(
                        dict(
                            tau_s=tau,
                            g2m1=g2,
                            conditions=conditions,
                            angle_deg=angle,
                            source=str(path),
                            label=f"{ws.title}/{names[j]}",
                            assumed=tuple(rec_assumed),
                        )
                    )
    finally:
        wb.close()
    if not records:
        raise QCInputError(f"{path}: the workbook holds no Zetasizer correlogram columns")
    return _build(records, path, "zetasizer_xlsx")


def _zs_columns(path: Path, sheet: str, rows: list[tuple[Any, ...]], k: int) -> tuple[np.ndarray, np.ndarray]:
    tau: list[float] = []
    g2: list[float] = []
    for r, row in enumerate(rows[1:], start=2):
        t = row[k] if k < len(row) else None
        v = row[k + 1] if k + 1 < len(row) else None
        if t is None and v is None:
            break
        for val, col in ((t, k), (v, k + 1)):
            if not isinstance(val, int | float) or isinstance(val, bool):
                raise QCInputError(
                    f"{path}, sheet {sheet!r}, cell {_col_letter(col)}{r}: {val!r} is not a number"
                )
        tau.append(float(t))  # type: ignore[arg-type]
        g2.append(float(v))  # type: ignore[arg-type]
    g = np.array(g2, dtype=np.float64)
    nz = np.flatnonzero(g != 0.0)
    end = int(nz[-1]) + 1 if nz.size else 0
    return np.array(tau[:end], dtype=np.float64) * 1e-6, g[:end]
