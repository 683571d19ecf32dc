"""Urinary bladder contents with periodic voiding: the bladder TIAC from a urinary excretion curve.

Activity excreted into the urine collects in the bladder and leaves it at each void. With
``U(t)`` the cumulative fraction of the injected amount excreted in urine by time ``t``
(decay-corrected, as the PBPK engine and ICRP descriptive models give it) and voids at times
``v_1 < v_2 < ...``, the bladder contents per unit injected activity are

    b(t) = [U(t) − U(v_k)] · exp(−λ t),      v_k ≤ t < v_(k+1)  (v_0 = 0, U(0) = 0),

and the time-integrated activity coefficient is ã_UB = ∫0^∞ b(t) dt. This is the fixed-interval
voiding model used for the ICRP radiopharmaceutical dose coefficients (ICRP Publication 53 and
its addenda 80, 106 and the compendium ICRP 128: voiding every 3.5 h in the adult, the first
void 3.5 h after administration); the bladder volume does not enter (the dynamic bladder model
of Cloutier et al. 1973, with a filling volume, would be the next refinement: it changes the
wall dose through the wall geometry, not the TIAC).

``U`` is interpolated linearly between the given times and the integral of the piecewise linear
contents times the exponential is exact on each piece. After the last given time ``T`` no more
urine is assumed to arrive (consistent with :func:`nanobridge.science.dosimetry.tiac.tiac`,
which lets the body activity decay physically after ``T``); what is in the bladder at ``T``
stays until the next void.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nanobridge.citations import cite

__all__ = ["ICRP_ADULT_VOIDING_INTERVAL_H", "bladder_contents_tiac", "void_times"]

#: Adult voiding interval of the ICRP radiopharmaceutical publications [h] (ICRP53, ICRP128).
ICRP_ADULT_VOIDING_INTERVAL_H = 3.5


def void_times(interval_h: float, until_h: float, first_void_h: float | None = None) -> NDArray[np.float64]:
    """Void times ``first_void_h, first_void_h + interval_h, ...`` up to and including the first
    void at or after ``until_h`` (so the contents at ``until_h`` know when they leave)."""
    if not (math.isfinite(interval_h) and interval_h > 0):
        raise ValueError(f"voiding interval must be a positive number of hours, got {interval_h!r}")
    first = interval_h if first_void_h is None else float(first_void_h)
    if not (math.isfinite(first) and first > 0):
        raise ValueError(
            f"first void must be a positive number of hours after injection, got {first_void_h!r}"
        )
    n = max(math.ceil((until_h - first) / interval_h), 0) + 1
    times = first + interval_h * np.arange(n, dtype=float)
    if times[-1] < until_h:  # rounding: k·interval can fall a hair short of until_h
        times = np.append(times, times[-1] + interval_h)
    return times


def _segment_integral(
    ya: NDArray[np.float64], yb: NDArray[np.float64], a: float, b: float, lam: float
) -> NDArray[np.float64]:
    """∫_a^b (ya + (yb − ya)(t − a)/(b − a)) e^{−λt} dt, exact (vectorised over ya, yb)."""
    h = b - a
    e = math.exp(-lam * h)
    lh = lam * h
    # (1 - e^{-λh})/λ and (1 - e^{-λh}(1 + λh))/(λ² h), series for tiny λh (no cancellation)
    if lh < 1e-6:
        i0 = h * (1.0 - lh / 2.0)
        i1 = h * (0.5 - lh / 3.0)
    else:
        i0 = -math.expm1(-lh) / lam
        i1 = (1.0 - e * (1.0 + lh)) / (lam * lam * h)
    return math.exp(-lam * a) * (ya * i0 + (yb - ya) * i1)


def bladder_contents_tiac(
    times_h: ArrayLike,
    cumulative_urine_fraction: ArrayLike,
    decay_constant_per_h: float,
    voiding_interval_h: float | None = ICRP_ADULT_VOIDING_INTERVAL_H,
    *,
    first_void_h: float | None = None,
) -> NDArray[np.float64]:
    """TIAC of the urinary bladder contents [h = MBq·h per MBq injected].

    ``cumulative_urine_fraction`` (…, time): decay-corrected cumulative fraction of the injected
    amount excreted in urine at ``times_h`` (non-decreasing, starting at 0 at or before the first
    time); leading axes (subjects) are kept. ``voiding_interval_h=None`` means no voiding: the
    bladder keeps everything (an upper bound). Raises ValueError naming a bad argument.
    """
    cite("ICRP53", "ICRP128")
    t = np.asarray(times_h, dtype=float)
    u = np.asarray(cumulative_urine_fraction, dtype=float)
    if t.ndim != 1 or t.size < 2:
        raise ValueError(f"times_h must be 1-D with at least 2 times, got shape {t.shape}")
    if np.any(np.diff(t) <= 0) or t[0] < 0 or not np.all(np.isfinite(t)):
        raise ValueError("times_h must be finite, >= 0 and strictly increasing")
    if u.shape[-1] != t.size:
        raise ValueError(f"cumulative_urine_fraction has {u.shape[-1]} times, times_h has {t.size}")
    if not np.all(np.isfinite(u)):
        raise ValueError("cumulative_urine_fraction holds NaN or infinite values")
    if np.any(u < -1e-9) or np.any(u > 1.0 + 1e-6):
        raise ValueError("cumulative_urine_fraction must lie in [0, 1] (a fraction of the injected amount)")
    if np.any(np.diff(u, axis=-1) < -1e-9):
        raise ValueError("cumulative_urine_fraction must not decrease (urine leaves the body for good)")
    if not (math.isfinite(decay_constant_per_h) and decay_constant_per_h > 0):
        raise ValueError(f"decay_constant_per_h must be > 0 and finite, got {decay_constant_per_h!r}")
    lam = float(decay_constant_per_h)
    if t[0] > 0:  # nothing excreted at injection
        t = np.concatenate([[0.0], t])
        u = np.concatenate([np.zeros((*u.shape[:-1], 1)), u], axis=-1)
    last = float(t[-1])

    if voiding_interval_h is None:
        voids = np.zeros(0)
    else:
        voids = void_times(float(voiding_interval_h), last, first_void_h)
    inner_voids = voids[voids < last]
    knots = np.union1d(t, inner_voids)
    # linear interpolation of U at the knots, along the last axis for every leading index
    idx = np.clip(np.searchsorted(t, knots, side="right") - 1, 0, t.size - 2)
    w = (knots - t[idx]) / (t[idx + 1] - t[idx])
    uk = u[..., idx] * (1.0 - w) + u[..., idx + 1] * w

    total = np.zeros(u.shape[:-1])
    emptied_at = np.zeros(u.shape[:-1])  # U at the last void
    void_set = set(inner_voids.tolist())
    for k in range(knots.size - 1):
        a, b = float(knots[k]), float(knots[k + 1])
        if a in void_set:
            emptied_at = uk[..., k]
        ya = uk[..., k] - emptied_at
        yb = uk[..., k + 1] - emptied_at
        total = total + _segment_integral(ya, yb, a, b, lam)
    later = voids[voids >= last]
    if last in void_set or (later.size and math.isclose(float(later[0]), last)):
        return np.asarray(total)  # voided exactly at the last time: nothing left
    remaining = uk[..., -1] - emptied_at
    if later.size == 0:  # no voiding: the contents only decay
        tail = remaining * math.exp(-lam * last) / lam
    else:
        nxt = float(later[0])
        tail = remaining * (math.exp(-lam * last) - math.exp(-lam * nxt)) / lam
    return np.asarray(total + tail)
