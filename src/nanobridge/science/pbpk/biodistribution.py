"""The labelled result of a PBPK simulation and its derived pharmacokinetic metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import NDArray

from nanobridge.science.pbpk.model import EXCRETA, OUTPUT_GROUPS

__all__ = ["TIDY_COLUMNS", "Biodistribution", "pk_metrics"]

#: Columns of the tidy CSV export, in order.
TIDY_COLUMNS: tuple[str, ...] = ("subject", "time_h", "organ", "amount_pct_id", "conc_pct_id_per_g")

#: Retention checkpoints [h]: 30 and 90 days.
RETENTION_TIMES_H: dict[str, float] = {"retention_30d_pct_id": 720.0, "retention_90d_pct_id": 2160.0}


@dataclass(frozen=True)
class Biodistribution:
    """Amount and concentration of the agent per subject, time and organ.

    ``data`` is an :class:`xarray.Dataset` with dimensions ``subject``, ``time`` (coordinate
    ``time`` in hours) and ``organ`` and the variables

    - ``amount_pct_id`` [%ID]: amount in the organ (capillary blood + tissue + phagocytic
      cells), ``blood`` being the arterial + venous plasma pools, ``urine`` and ``feces`` the
      cumulative excreted amounts;
    - ``conc_pct_id_per_g`` [%ID/g]: amount over organ mass (tissue density 1 g/mL; NaN for
      excreta);
    - ``organ_mass_g`` [g] per subject and organ;
    - ``amount_mg`` [mg] when the injected mass is known.

    Attributes record the species, agent, parameter set, solver settings and citation keys.
    """

    data: xr.Dataset

    @classmethod
    def from_arrays(
        cls,
        fraction_of_dose: NDArray[np.float64],
        times_h: NDArray[np.float64],
        organ_mass_g: NDArray[np.float64],
        *,
        organs: Sequence[str] | None = None,
        subject_ids: list[str] | None = None,
        dose_mg: NDArray[np.float64] | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> Biodistribution:
        """Build from solver output ``(S, T, organ)`` in fractions of the injected dose.

        ``organs`` names the last axis (default :data:`~nanobridge.science.pbpk.model.OUTPUT_GROUPS`;
        an interstitial route adds the injection site and lymph nodes).
        """
        s_count = fraction_of_dose.shape[0]
        ids = subject_ids if subject_ids is not None else [str(i) for i in range(s_count)]
        pct = 100.0 * fraction_of_dose
        conc = pct / organ_mass_g[:, None, :]
        names = list(OUTPUT_GROUPS if organs is None else organs)
        if len(names) != fraction_of_dose.shape[-1]:
            raise ValueError(f"{len(names)} organ names for {fraction_of_dose.shape[-1]} output columns")
        coords = {"subject": ids, "time": np.asarray(times_h, dtype=float), "organ": names}
        ds = xr.Dataset(
            {
                "amount_pct_id": (("subject", "time", "organ"), pct),
                "conc_pct_id_per_g": (("subject", "time", "organ"), conc),
                "organ_mass_g": (("subject", "organ"), organ_mass_g),
            },
            coords=coords,
        )
        ds["time"].attrs["units"] = "h"
        ds["amount_pct_id"].attrs.update(units="%ID", long_name="amount, percent of injected dose")
        ds["conc_pct_id_per_g"].attrs.update(units="%ID/g", long_name="concentration")
        ds["organ_mass_g"].attrs["units"] = "g"
        if dose_mg is not None:
            dose = np.broadcast_to(np.asarray(dose_mg, dtype=float), (s_count,))
            ds["amount_mg"] = (("subject", "time", "organ"), fraction_of_dose * dose[:, None, None])
            ds["amount_mg"].attrs["units"] = "mg"
            ds["dose_mg"] = (("subject",), dose)
            ds["dose_mg"].attrs["units"] = "mg"
        ds.attrs.update(dict(attrs or {}))
        return cls(ds)

    # -- access ------------------------------------------------------------------------
    @property
    def times_h(self) -> NDArray[np.float64]:
        return np.asarray(self.data["time"].values, dtype=float)

    @property
    def subjects(self) -> list[str]:
        return [str(s) for s in self.data["subject"].values]

    def amount(self, organ: str) -> xr.DataArray:
        """%ID in ``organ`` over subject and time."""
        self._check_organ(organ)
        return self.data["amount_pct_id"].sel(organ=organ)

    def concentration(self, organ: str) -> xr.DataArray:
        """%ID/g in ``organ`` over subject and time."""
        self._check_organ(organ)
        return self.data["conc_pct_id_per_g"].sel(organ=organ)

    def mass_balance_error(self) -> float:
        """Largest |total - 100| over subjects and times, in %ID."""
        total = self.data["amount_pct_id"].sum("organ")
        return float(np.abs(total - 100.0).max())

    @property
    def organs(self) -> list[str]:
        """Organ (output group) names, in order."""
        return [str(o) for o in self.data["organ"].values]

    def _check_organ(self, organ: str) -> None:
        if organ not in self.organs:
            raise KeyError(f"unknown organ '{organ}'; known: {', '.join(self.organs)}")

    # -- export ------------------------------------------------------------------------
    def to_tidy(self) -> pd.DataFrame:
        """One row per subject, time and organ with the columns of :data:`TIDY_COLUMNS`."""
        df = (
            self.data[["amount_pct_id", "conc_pct_id_per_g"]]
            .to_dataframe()
            .reset_index()
            .rename(columns={"time": "time_h"})
        )
        return df[list(TIDY_COLUMNS)]

    def write(self, path: str | Path) -> Path:
        """Write tidy CSV (``.csv``) or NetCDF (``.nc``), chosen by the file extension."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            self.to_tidy().to_csv(path, index=False, float_format="%.6g")
        elif suffix in (".nc", ".netcdf", ".nc4"):
            ds = self.data.copy()
            ds.attrs = {k: _netcdf_attr(v) for k, v in ds.attrs.items()}
            ds.to_netcdf(path, engine="h5netcdf")
        else:
            raise ValueError(f"cannot write '{path}': use a .csv (tidy table) or .nc (NetCDF) extension")
        return path

    @classmethod
    def read_netcdf(cls, path: str | Path) -> Biodistribution:
        return cls(xr.load_dataset(path, engine="h5netcdf"))

    def metrics(self) -> xr.Dataset:
        """Derived pharmacokinetic metrics per subject (see :func:`pk_metrics`)."""
        return pk_metrics(self)


def _netcdf_attr(value: Any) -> Any:
    if isinstance(value, (str, int, float, np.number)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return str(value)


def _interp_at(times: NDArray[np.float64], values: NDArray[np.float64], t: float) -> NDArray[np.float64]:
    """Linear interpolation of ``values`` (S, T) at ``t``; NaN outside the simulated span."""
    if t < times[0] or t > times[-1] + 1e-9:
        return np.full(values.shape[0], np.nan)
    return np.array([np.interp(t, times, row) for row in values])


def _trapezoid(y: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(np.sum(0.5 * (y[..., 1:] + y[..., :-1]) * np.diff(x), axis=-1))


def _time_to_fraction(times: NDArray[np.float64], values: NDArray[np.float64], frac: float) -> float:
    """First time (linear interpolation) at which ``values`` falls below ``frac`` x its maximum."""
    peak_i = int(np.argmax(values))
    target = frac * values[peak_i]
    below = np.flatnonzero(values[peak_i:] <= target)
    if below.size == 0:
        return float("nan")
    j = peak_i + int(below[0])
    if j == 0:
        return float(times[0])
    t0, t1, v0, v1 = times[j - 1], times[j], values[j - 1], values[j]
    return float(t0 + (v0 - target) / (v0 - v1) * (t1 - t0)) if v0 != v1 else float(t1)


def _terminal_half_life(times: NDArray[np.float64], values: NDArray[np.float64]) -> float:
    """Half-life from a log-linear fit to the last quarter of the curve (at least 3 points)."""
    mask = values > 0
    t, v = times[mask], values[mask]
    if t.size < 3:
        return float("nan")
    start = max(0, min(t.size - 3, int(0.75 * t.size)))
    slope = np.polyfit(t[start:], np.log(v[start:]), 1)[0]
    return float(np.log(2) / -slope) if slope < 0 else float("inf")


def _window_half_life(
    times: NDArray[np.float64], values: NDArray[np.float64], start_h: float, end_h: float
) -> float:
    """Half-life from a log-linear fit of ``values`` on ``[start_h, end_h]`` (NaN if not covered)."""
    if times[-1] < end_h - 1e-9:
        return float("nan")
    mask = (times >= start_h) & (times <= end_h) & (values > 0)
    if mask.sum() < 3:
        return float("nan")
    slope = np.polyfit(times[mask], np.log(values[mask]), 1)[0]
    return float(np.log(2) / -slope) if slope < 0 else float("inf")


def pk_metrics(bd: Biodistribution) -> xr.Dataset:
    """Per-subject metrics of a biodistribution.

    - ``DE24``, ``DE168`` [%ID]: tumour delivery efficiency at 24 h and 168 h (NaN if the run is
      shorter); ``DEmax`` [%ID] and ``t_DEmax_h``: the maximum over the simulated times, as in
      the Nano-Tumor Database (Cheng et al. 2020);
    - ``auc_<organ>_pct_id_h`` [%ID·h]: trapezoidal AUC of the amount over the run;
      ``auc_tumor_pct_id_per_g_h`` [%ID/g·h];
    - ``blood_t50_h`` [h]: time for blood (plasma) to fall to half its peak (in this model it
      includes the fast distribution into the organs' capillary blood);
      ``blood_half_life_24_168h_h`` [h]: log-linear fit between 24 h and 168 h, the window of
      most nanoparticle blood measurements (NaN if the run is shorter);
      ``blood_terminal_half_life_h`` [h]: log-linear fit to the last quarter of the run (``inf``
      when blood no longer declines, e.g. when release from phagocytes sustains it);
    - ``urine_pct_id``, ``feces_pct_id``, ``excreted_pct_id`` [%ID] at the end of the run;
    - ``retention_30d_pct_id``, ``retention_90d_pct_id`` [%ID]: amount still in the body at 30
      and 90 days (NaN if the run is shorter).
    """
    t = bd.times_h
    amt = bd.data["amount_pct_id"]
    tumor = amt.sel(organ="tumor").values
    out: dict[str, tuple[tuple[str, ...], NDArray[np.float64]]] = {}
    unit: dict[str, str] = {}

    def put(name: str, value: NDArray[np.float64], units: str) -> None:
        out[name] = (("subject",), np.asarray(value, dtype=float))
        unit[name] = units

    put("DE24", _interp_at(t, tumor, 24.0), "%ID")
    put("DE168", _interp_at(t, tumor, 168.0), "%ID")
    put("DEmax", tumor.max(axis=1), "%ID")
    put("t_DEmax_h", t[np.argmax(tumor, axis=1)], "h")
    for organ in bd.organs:
        if organ in EXCRETA:
            continue
        put(f"auc_{organ}_pct_id_h", _trapezoid(amt.sel(organ=organ).values, t), "%ID*h")
    put(
        "auc_tumor_pct_id_per_g_h",
        _trapezoid(bd.data["conc_pct_id_per_g"].sel(organ="tumor").values, t),
        "%ID/g*h",
    )
    blood = amt.sel(organ="blood").values
    put("blood_t50_h", np.array([_time_to_fraction(t, row, 0.5) for row in blood]), "h")
    put(
        "blood_half_life_24_168h_h",
        np.array([_window_half_life(t, row, 24.0, 168.0) for row in blood]),
        "h",
    )
    put("blood_terminal_half_life_h", np.array([_terminal_half_life(t, row) for row in blood]), "h")
    urine = amt.sel(organ="urine").values[:, -1]
    feces = amt.sel(organ="feces").values[:, -1]
    put("urine_pct_id", urine, "%ID")
    put("feces_pct_id", feces, "%ID")
    put("excreted_pct_id", urine + feces, "%ID")
    body = amt.drop_sel(organ=list(EXCRETA)).sum("organ").values
    for name, when in RETENTION_TIMES_H.items():
        put(name, _interp_at(t, body, when), "%ID")
    ds = xr.Dataset(out, coords={"subject": bd.data["subject"].values})
    for name, u in unit.items():
        ds[name].attrs["units"] = u
    ds.attrs["end_time_h"] = float(t[-1])
    return ds
