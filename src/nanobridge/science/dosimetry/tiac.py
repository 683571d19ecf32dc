"""Time-integrated activity coefficients (TIAC, MIRD Pamphlet 21) from a PBPK biodistribution.

The PBPK engine knows nothing of radioactive decay: ``amount_pct_id`` is the decay-corrected
amount of the agent (percent of the injected dose). The activity in source organ ``S`` per unit
injected activity is therefore ``f_S(t) = amount_pct_id(t)/100 · exp(-λt)`` and its time integral

    ã_S = ∫0^T f_S(t) e^{-λt} dt  +  f_S(T) e^{-λT} / λ          [MBq·h/MBq = h]

where the first term is the trapezoid rule on the simulated curve (times of the biodistribution)
and the second the tail after the last simulated time ``T``, assuming physical decay only from
the last value (no further biological clearance or redistribution; conservative when the organ
is still clearing, an underestimate when it is still taking up).

Sources are the body organs of the biodistribution (or a chosen subset); ``remainder`` is the
total body minus the listed sources (zero when every organ is listed). Urine and feces are the
cumulative excreted amounts: that activity is outside the body and is reported under
``excreta``. Urine passes through the urinary bladder first: with ``urinary_bladder=True``
(default) the source ``urinary_bladder_contents`` holds the bladder-contents TIAC from the
cumulative urine curve and a fixed-interval voiding model (:mod:`.bladder`, ICRP adult 3.5 h).
No gut transit model is included: the colon dose from faecal activity is not computed.

Half-lives come from the ICRP-107 data set shipped with ``radioactivedecay`` (Malins2022).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from nanobridge.citations import cite
from nanobridge.domain import normalize_nuclide
from nanobridge.science.dosimetry.bladder import ICRP_ADULT_VOIDING_INTERVAL_H, bladder_contents_tiac
from nanobridge.science.pbpk.biodistribution import Biodistribution
from nanobridge.science.pbpk.model import EXCRETA

__all__ = [
    "REMAINDER",
    "URINARY_BLADDER_CONTENTS",
    "TIACResult",
    "half_life_h",
    "tiac",
    "tiac_from_coefficients",
    "time_integral_with_tail",
]

#: Name of the remainder-of-body source (total body minus the listed sources).
REMAINDER = "remainder"
#: Name of the urinary bladder contents source (urine not yet voided; not a body tissue).
URINARY_BLADDER_CONTENTS = "urinary_bladder_contents"
#: Largest negative amount [%ID] tolerated as solver round-off (clipped to 0).
_NEGATIVE_TOLERANCE_PCT_ID = 1e-3


def _canonical_nuclide(nuclide: str) -> str:
    name = normalize_nuclide(nuclide) if isinstance(nuclide, str) else None
    if name is None:
        raise ValueError(f"nuclide {nuclide!r} is not a nuclide spelling; write it like '89Zr' or 'Zr-89'")
    return name


def half_life_h(nuclide: str) -> float:
    """Physical half-life [h] from the ICRP-107 data of ``radioactivedecay``.

    Raises ValueError naming the nuclide when it is unknown or stable.
    """
    import radioactivedecay as rd

    name = _canonical_nuclide(nuclide)
    try:
        value = float(rd.Nuclide(name).half_life("h"))
    except (ValueError, KeyError) as exc:
        raise ValueError(f"nuclide {nuclide!r} (read as {name}) is not in the ICRP-107 decay data") from exc
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"nuclide {nuclide!r} (read as {name}) is stable: no radiation dose")
    cite("ICRP107", "Malins2022")
    return value


def time_integral_with_tail(
    times_h: NDArray[np.float64], fraction: NDArray[np.float64], decay_constant_per_h: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Trapezoid integral of ``fraction·exp(-λt)`` over ``times_h`` (last axis) and the
    physical-decay tail ``fraction(T)·exp(-λT)/λ``; both [h] per unit injected activity."""
    t = np.asarray(times_h, dtype=float)
    if t.ndim != 1 or t.size < 2:
        raise ValueError(f"times_h must hold at least 2 time points, got {t.size}")
    if np.any(np.diff(t) <= 0):
        raise ValueError("times_h must be strictly increasing")
    if not (decay_constant_per_h > 0 and math.isfinite(decay_constant_per_h)):
        raise ValueError(f"decay_constant_per_h must be > 0 and finite, got {decay_constant_per_h}")
    activity = np.asarray(fraction, dtype=float) * np.exp(-decay_constant_per_h * t)
    trapezoid = np.sum(0.5 * (activity[..., 1:] + activity[..., :-1]) * np.diff(t), axis=-1)
    tail = activity[..., -1] / decay_constant_per_h
    return np.asarray(trapezoid), np.asarray(tail)


class TIACResult(BaseModel):
    """Time-integrated activity coefficients per subject and source [h = MBq·h/MBq].

    - ``tiac_h`` (subject, source): body sources, ``remainder``, then (when modelled)
      ``urinary_bladder_contents`` (outside the body tissues: its mass is 0);
    - ``tail_h`` (subject, source): the part of ``tiac_h`` after the last simulated time;
    - ``total_body_h`` (subject): the whole body (sum of all body organs);
    - ``excreta_h`` (subject, excretum): urine and feces (outside the body; not a dose source);
    - ``source_mass_g`` (subject, source): organ masses (remainder: the unlisted organs).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    nuclide: str
    half_life_h: float
    tiac_h: xr.DataArray
    tail_h: xr.DataArray
    total_body_h: xr.DataArray
    excreta_h: xr.DataArray
    source_mass_g: xr.DataArray
    last_time_h: float
    assumptions: tuple[str, ...]
    citation_keys: tuple[str, ...]

    @property
    def sources(self) -> list[str]:
        return [str(s) for s in self.tiac_h["source"].values]

    def tail_fraction(self) -> xr.DataArray:
        """Share of each TIAC that comes from the tail (large values: run the PBPK longer)."""
        return xr.where(self.tiac_h > 0, self.tail_h / self.tiac_h, 0.0)


def tiac(
    bd: Biodistribution,
    nuclide: str,
    sources: Sequence[str] | None = None,
    *,
    urinary_bladder: bool = True,
    voiding_interval_h: float | None = ICRP_ADULT_VOIDING_INTERVAL_H,
) -> TIACResult:
    """Time-integrated activity coefficients of ``bd`` labelled with ``nuclide``.

    ``sources`` defaults to every body organ of the biodistribution (excreta are never sources);
    the remainder of body is added as :data:`REMAINDER`. With ``urinary_bladder`` and a urine
    output, :data:`URINARY_BLADDER_CONTENTS` is added from the voiding model
    (``voiding_interval_h``; None = the bladder never voids, an upper bound).
    """
    name = _canonical_nuclide(nuclide)
    t_half = half_life_h(name)
    lam = math.log(2) / t_half
    amounts = bd.data["amount_pct_id"]
    organs = [str(o) for o in amounts["organ"].values]
    body = [o for o in organs if o not in EXCRETA]
    chosen = list(body if sources is None else sources)
    if not chosen:
        raise ValueError("sources must name at least one organ")
    for s in chosen:
        if s not in body:
            raise ValueError(
                f"source organ {s!r} is not a body organ of the biodistribution; allowed: {', '.join(body)}"
            )
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"sources must not repeat an organ: {chosen}")

    values = np.asarray(amounts.transpose("subject", "time", "organ").values, dtype=float)
    if not np.all(np.isfinite(values)):
        raise ValueError("amount_pct_id holds NaN or infinite values")
    worst = float(values.min())
    if worst < -_NEGATIVE_TOLERANCE_PCT_ID:
        raise ValueError(f"amount_pct_id must be >= 0 (negative activity), got {worst:g} %ID")
    values = np.clip(values, 0.0, None) / 100.0  # fraction of injected activity
    times = bd.times_h
    trap, tail = time_integral_with_tail(times, np.moveaxis(values, 1, 2), lam)  # (subject, organ)
    total = trap + tail
    idx = {o: i for i, o in enumerate(organs)}
    body_idx = [idx[o] for o in body]
    src_idx = [idx[o] for o in chosen]
    total_body = total[:, body_idx].sum(axis=1)
    remainder = np.clip(total_body - total[:, src_idx].sum(axis=1), 0.0, None)
    remainder_tail = np.clip(tail[:, body_idx].sum(axis=1) - tail[:, src_idx].sum(axis=1), 0.0, None)

    masses = np.asarray(bd.data["organ_mass_g"].transpose("subject", "organ").values, dtype=float)
    rest = [idx[o] for o in body if o not in chosen]
    remainder_mass = masses[:, rest].sum(axis=1) if rest else np.zeros(masses.shape[0])

    subjects = bd.subjects
    src_names = [*chosen, REMAINDER]
    columns = [total[:, src_idx], remainder]
    tail_columns = [tail[:, src_idx], remainder_tail]
    mass_columns = [masses[:, src_idx], remainder_mass]
    bladder_note: list[str] = []
    if urinary_bladder and "urine" in idx:
        urine = values[:, :, idx["urine"]]  # (subject, time), decay-corrected fraction
        ub = bladder_contents_tiac(times, np.maximum.accumulate(urine, axis=1), lam, voiding_interval_h)
        src_names.append(URINARY_BLADDER_CONTENTS)
        columns.append(ub)
        tail_columns.append(np.zeros_like(ub))
        mass_columns.append(np.zeros_like(ub))
        every = "never (no voiding)" if voiding_interval_h is None else f"every {voiding_interval_h:g} h"
        bladder_note.append(
            "Urinary bladder contents from the cumulative urine curve with fixed-interval voiding "
            f"{every} (ICRP 53/128 adult model; the bladder volume is not modelled); no urine "
            "arrives after the last simulated time."
        )
        if str(bd.data.attrs.get("species", "human")) != "human":
            bladder_note.append(
                "ASSUMED: the ICRP adult voiding interval is used for a non-human species unless another "
                "is given (small animals void more often)."
            )
    coords = {"subject": subjects, "source": src_names}
    tiac_da = xr.DataArray(np.column_stack(columns), dims=("subject", "source"), coords=coords)
    tiac_da.attrs["units"] = "h"
    tail_da = xr.DataArray(np.column_stack(tail_columns), dims=("subject", "source"), coords=coords)
    tail_da.attrs["units"] = "h"
    excreta = [o for o in organs if o in EXCRETA]
    excreta_da = xr.DataArray(
        total[:, [idx[o] for o in excreta]] if excreta else np.zeros((len(subjects), 0)),
        dims=("subject", "excretum"),
        coords={"subject": subjects, "excretum": excreta},
    )
    excreta_da.attrs["units"] = "h"
    mass_da = xr.DataArray(np.column_stack(mass_columns), dims=("subject", "source"), coords=coords)
    mass_da.attrs["units"] = "g"
    total_da = xr.DataArray(total_body, dims=("subject",), coords={"subject": subjects})
    total_da.attrs["units"] = "h"

    assumptions = [
        "TIAC = trapezoid rule on the simulated decay-corrected curve times exp(-lambda t), plus a tail "
        f"after the last simulated time ({times[-1]:g} h) with physical decay only from the last value "
        "(no further biological clearance or uptake).",
        "Remainder of body = total body minus the listed source organs.",
        *bladder_note,
        "Feces are outside the body and are not a dose source: no gut transit model is included (the colon "
        "dose from excreted activity is not computed).",
        "Daughter activity is not redistributed (handled with the emission data, see emissions.py).",
    ]
    if float(tail_da.sum("source").max()) > 0.1 * max(float(total_da.max()), 1e-300):
        assumptions.append(
            "More than 10 % of the total-body TIAC comes from the tail beyond the simulated time: "
            "simulate longer for a more reliable estimate."
        )
    return TIACResult(
        nuclide=name,
        half_life_h=t_half,
        tiac_h=tiac_da,
        tail_h=tail_da,
        total_body_h=total_da,
        excreta_h=excreta_da,
        source_mass_g=mass_da,
        last_time_h=float(times[-1]),
        assumptions=tuple(assumptions),
        citation_keys=cite("MIRD2009", "ICRP107", "Malins2022"),
    )


def tiac_from_coefficients(
    nuclide: str,
    coefficients_h: dict[str, float],
    *,
    source_mass_g: dict[str, float] | None = None,
    assumptions: Sequence[str] = (),
    citation_keys: Sequence[str] = (),
) -> TIACResult:
    """A one-subject :class:`TIACResult` from given coefficients [h] per source (e.g. from a
    published biokinetic model or an imaging study), for dose factors that need no biodistribution.

    ``source_mass_g`` (optional) gives masses for local-absorption models; sources without one
    get mass 0 (not usable by :class:`~nanobridge.science.dosimetry.mird.LocalElectronAbsorption`).
    """
    name = _canonical_nuclide(nuclide)
    t_half = half_life_h(name)
    if not coefficients_h:
        raise ValueError("coefficients_h must name at least one source")
    for src, value in coefficients_h.items():
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise ValueError(f"TIAC of source {src!r} must be a finite number of hours >= 0, got {value!r}")
    sources = list(coefficients_h)
    masses = source_mass_g or {}
    coords = {"subject": [0], "source": sources}
    tiac_da = xr.DataArray(
        [[float(coefficients_h[s]) for s in sources]], dims=("subject", "source"), coords=coords
    )
    tiac_da.attrs["units"] = "h"
    zero = xr.zeros_like(tiac_da)
    mass_da = xr.DataArray(
        [[float(masses.get(s, 0.0)) for s in sources]], dims=("subject", "source"), coords=coords
    )
    mass_da.attrs["units"] = "g"
    body = [s for s in sources if s != URINARY_BLADDER_CONTENTS]
    total = xr.DataArray(
        [float(sum(coefficients_h[s] for s in body))], dims=("subject",), coords={"subject": [0]}
    )
    total.attrs["units"] = "h"
    excreta = xr.DataArray(
        np.zeros((1, 0)), dims=("subject", "excretum"), coords={"subject": [0], "excretum": []}
    )
    return TIACResult(
        nuclide=name,
        half_life_h=t_half,
        tiac_h=tiac_da,
        tail_h=zero,
        total_body_h=total,
        excreta_h=excreta,
        source_mass_g=mass_da,
        last_time_h=math.inf,
        assumptions=("TIACs given directly (not integrated from a biodistribution).", *assumptions),
        citation_keys=cite("MIRD2009", *citation_keys),
    )
