"""Generate the SYNTHETIC example lot history ``lot_history.csv`` (deterministic).

Run ``python src/nanobridge/data/examples/qc/make_example.py`` to rewrite the file; the test
suite checks that the shipped file equals :func:`make_lot_history`'s output.

The values are illustrative, not measurements: an ultrasmall PEGylated silica "C' dot"-like
agent labelled with 89Zr (modelled loosely on Phillips2014 / Chen2017), 12 lab-scale lots and
8 scale-up lots. In the scale-up series the Z-average creeps up and the PDI widens (as if the
larger reactor mixed less evenly and let a few particles aggregate), while the silica core
size, charge, radiolabelling and dye loading stay as they were. Each group is drawn from a
normal distribution whose sample mean and SD are set exactly (standardized draws), so the
summary statistics below hold by construction:

===========================  ==========================  ==========================================
attribute                    lab (n = 12): mean ± SD      scale-up (n = 8)
===========================  ==========================  ==========================================
z_average [nm]               6.45 ± 0.12                  6.50 + 0.075 per lot, noise SD 0.035
pdi                          0.100 ± 0.012                0.105 + 0.0145 per lot, noise SD 0.004
tem_core_diameter [nm]       4.00 ± 0.15                  4.02 ± 0.16
zeta_potential [mV]          −2.5 ± 0.9                   −2.8 ± 1.0
particle_concentration       12.0 ± 1.2 µM                12.5 ± 1.5 µM, reported in nM
radiochemical_purity [%]     98.2 ± 0.6                   98.0 ± 0.6
dye_loading [dyes/particle]  2.20 ± 0.10                  2.17 ± 0.11
endotoxin [EU/mL]            log-normal, median ~0.7      median ~0.9; lot L04 reported "<0.50"
pH, osmolality [mOsm/kg]     7.20 ± 0.10, 295 ± 4         7.18 ± 0.10, 296 ± 4
sterility                    pass                         pass; S07 result pending (left out)
===========================  ==========================  ==========================================
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import numpy as np

SEED = 20240109
N_LAB = 12
N_SCALE_UP = 8
COLUMNS = (
    "batch_id",
    "scale",
    "date",
    "process_version",
    "site",
    "attribute",
    "value",
    "unit",
    "method",
    "replicates",
    "analyst",
    "instrument",
    "notes",
)

DLS = "DLS cumulants (ISO 22412)"
METHODS = {
    "z_average": (DLS, "nm", "Zetasizer Ultra"),
    "pdi": (DLS, "", "Zetasizer Ultra"),
    "tem_core_diameter": ("TEM image analysis (ECD, >= 300 particles)", "nm", "JEOL 1400"),
    "zeta_potential": ("ELS (ISO 13099-2)", "mV", "Zetasizer Ultra"),
    "particle_concentration": ("FCS", "µM", "FCS setup"),
    "radiochemical_purity": ("radio-iTLC", "%", "iTLC scanner"),
    "dye_loading": ("absorbance + FCS", "dyes/particle", "UV-Vis/FCS"),
    "endotoxin": ("LAL kinetic chromogenic (USP <85>)", "EU/mL", "plate reader"),
    "sterility": ("USP <71> membrane filtration", "", ""),
    "ph": ("potentiometry", "pH", "pH meter"),
    "osmolality": ("freezing-point osmometry", "mOsm/kg", "osmometer"),
}


def _exact(rng: np.random.Generator, n: int, mean: float, sd: float) -> np.ndarray:
    """``n`` normal draws rescaled to sample mean ``mean`` and sample SD ``sd`` exactly."""
    z = rng.standard_normal(n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


def _series(rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:
    lab: dict[str, np.ndarray] = {}
    up: dict[str, np.ndarray] = {}
    steps = np.arange(N_SCALE_UP)
    lab["z_average"] = _exact(rng, N_LAB, 6.45, 0.12)
    up["z_average"] = 6.50 + 0.075 * steps + _exact(rng, N_SCALE_UP, 0.0, 0.035)
    lab["pdi"] = _exact(rng, N_LAB, 0.100, 0.012)
    up["pdi"] = 0.105 + 0.0145 * steps + _exact(rng, N_SCALE_UP, 0.0, 0.004)
    lab["tem_core_diameter"] = _exact(rng, N_LAB, 4.00, 0.15)
    up["tem_core_diameter"] = _exact(rng, N_SCALE_UP, 4.02, 0.16)
    lab["zeta_potential"] = _exact(rng, N_LAB, -2.5, 0.9)
    up["zeta_potential"] = _exact(rng, N_SCALE_UP, -2.8, 1.0)
    lab["particle_concentration"] = _exact(rng, N_LAB, 12.0, 1.2)
    up["particle_concentration"] = _exact(rng, N_SCALE_UP, 12.5, 1.5)
    lab["radiochemical_purity"] = _exact(rng, N_LAB, 98.2, 0.6)
    up["radiochemical_purity"] = _exact(rng, N_SCALE_UP, 98.0, 0.6)
    lab["dye_loading"] = _exact(rng, N_LAB, 2.20, 0.10)
    up["dye_loading"] = _exact(rng, N_SCALE_UP, 2.17, 0.11)
    lab["endotoxin"] = np.exp(_exact(rng, N_LAB, np.log(0.7), 0.35))
    up["endotoxin"] = np.exp(_exact(rng, N_SCALE_UP, np.log(0.9), 0.35))
    lab["ph"] = _exact(rng, N_LAB, 7.20, 0.10)
    up["ph"] = _exact(rng, N_SCALE_UP, 7.18, 0.10)
    lab["osmolality"] = _exact(rng, N_LAB, 295.0, 4.0)
    up["osmolality"] = _exact(rng, N_SCALE_UP, 296.0, 4.0)
    return {"lab": lab, "scale-up": up}


def _fmt(attribute: str, value: float, scale: str) -> str:
    digits = {
        "z_average": 2,
        "pdi": 3,
        "tem_core_diameter": 2,
        "zeta_potential": 1,
        "particle_concentration": 1,
        "radiochemical_purity": 1,
        "dye_loading": 2,
        "endotoxin": 2,
        "ph": 2,
        "osmolality": 0,
    }[attribute]
    if attribute == "particle_concentration" and scale == "scale-up":
        return f"{value * 1000:.0f}"  # reported in nM by the pilot plant's software
    return f"{value:.{digits}f}"


def make_lot_history(seed: int = SEED) -> str:
    """The CSV text of the synthetic lot history (see the module docstring)."""
    rng = np.random.default_rng(seed)
    series = _series(rng)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    lots = [
        (f"L{i + 1:02d}", "lab", dt.date(2024, 1, 9) + dt.timedelta(days=14 * i), "LAB-1", "research lab", i)
        for i in range(N_LAB)
    ] + [
        (
            f"S{i + 1:02d}",
            "scale-up",
            dt.date(2024, 7, 2) + dt.timedelta(days=21 * i),
            "SU-1",
            "pilot plant",
            i,
        )
        for i in range(N_SCALE_UP)
    ]
    for batch_id, scale, date, process, site, i in lots:
        analyst = "AK" if scale == "lab" else ("MR" if i % 2 else "JT")
        for attribute, (method, unit, instrument) in METHODS.items():
            notes = ""
            replicates = ""
            if attribute == "sterility":
                if batch_id == "S07":
                    continue  # 14-day incubation not finished: result pending
                value = "pass"
            else:
                x = float(series[scale][attribute][i])
                value = _fmt(attribute, x, scale)
                if attribute == "z_average":
                    reps = x + 0.03 * rng.standard_normal(3)
                    reps += x - reps.mean()  # the reported value is the mean of the runs
                    replicates = ";".join(f"{r:.3f}" for r in reps)
                if attribute == "endotoxin" and batch_id == "L04":
                    value = "<0.50"
                    notes = "below the lowest standard"
            if attribute == "particle_concentration" and scale == "scale-up":
                unit = "nM"
            writer.writerow(
                (
                    batch_id,
                    scale,
                    date.isoformat(),
                    process,
                    site,
                    attribute,
                    value,
                    unit,
                    method,
                    replicates,
                    analyst,
                    instrument,
                    notes,
                )
            )
    return out.getvalue()


def main() -> None:
    """Rewrite ``lot_history.csv`` beside this script."""
    path = Path(__file__).with_name("lot_history.csv")
    path.write_text(make_lot_history(), encoding="utf-8")


if __name__ == "__main__":
    main()
