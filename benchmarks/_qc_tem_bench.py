"""TEM/SEM particle sizing: accuracy on synthetic micrographs and throughput against a reference.

``run(quick)`` times nanobridge's sizing (:func:`nanobridge.science.qc.tem.size_particles`, default
shape-prior method; CPU seconds of this process, best of 3, interleaved with the reference, so other
load on the machine matters little) and a straightforward reference implementation written here - the usual
scikit-image recipe (Gaussian smoothing, Otsu threshold, hole filling, speck removal, distance
transform, ``peak_local_max`` markers, watershed, ``clear_border``) followed by a per-particle loop
over ``regionprops`` (area, Crofton perimeter, ``feret_diameter_max``) and a minimum Feret diameter
from projections at 180 angles - on the same synthetic micrographs in the same process, and returns
megapixels per second of both, their ratio and the particle counts.

``accuracy(quick)`` sweeps synthetic micrographs with known particles over density, noise, size
dispersity, shape and particle size, and reports the count error and the mean-ECD error of both
sizing methods (``classic`` and ``shape_prior``); the table in the docstring of
``nanobridge.science.qc.tem`` comes from ``python benchmarks/_qc_tem_bench.py``.
Tuning of the shape-prior constants used seeds 0-2; the table uses seeds 100-102.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi

from nanobridge.science.qc.tem import TEMSizingResult, size_particles
from nanobridge.science.qc.tem_synth import SyntheticMicrograph, synthesize_micrograph

REPORT_SEEDS = (100, 101, 102)

#: name -> synthesize_micrograph keyword arguments (768 x 768 px, 0.5 nm/px, blur 1 px)
_BASE: dict[str, Any] = {
    "shape_px": (768, 768),
    "mean_diameter_nm": 15.0,
    "cv": 0.15,
    "touching_fraction": 0.3,
    "dose_e_per_px": 200.0,
}
CONDITIONS: dict[str, dict[str, Any]] = {
    "coverage 5 %": {**_BASE, "coverage": 0.05},
    "coverage 10 %": {**_BASE, "coverage": 0.10},
    "coverage 20 %": {**_BASE, "coverage": 0.20},
    "coverage 35 %": {**_BASE, "coverage": 0.35},
    "coverage 50 %": {**_BASE, "coverage": 0.50},
    "coverage 50 %, 70 % touching": {**_BASE, "coverage": 0.50, "touching_fraction": 0.7},
    "cover 20 %, touch 60 %, overlap 20 %": {
        **_BASE,
        "coverage": 0.20,
        "touching_fraction": 0.6,
        "overlap": 0.2,
    },
    "cover 45 %, touch 60 %, overlap 20 %": {
        **_BASE,
        "coverage": 0.45,
        "touching_fraction": 0.6,
        "overlap": 0.2,
    },
    "noise: 30 e/px (CNR 2.4/px)": {**_BASE, "coverage": 0.10, "dose_e_per_px": 30.0},
    "noise: 10 e/px + film texture": {**_BASE, "coverage": 0.10, "dose_e_per_px": 10.0, "film_texture": 0.08},
    "noise: 5 e/px + film texture": {**_BASE, "coverage": 0.05, "dose_e_per_px": 5.0, "film_texture": 0.1},
    "dispersity CV 30 %": {**_BASE, "coverage": 0.20, "cv": 0.30},
    "dispersity CV 45 %": {**_BASE, "coverage": 0.20, "cv": 0.45},
    "irregular (rough 0.15, AR <= 2.2)": {
        **_BASE,
        "coverage": 0.20,
        "roughness": 0.15,
        "max_aspect_ratio": 2.2,
    },
    "rods (AR <= 3)": {**_BASE, "coverage": 0.10, "max_aspect_ratio": 3.0},
    "small: 6 nm = 12 px": {**_BASE, "coverage": 0.15, "mean_diameter_nm": 6.0},
    "gradient 40 %, bright polarity": {**_BASE, "coverage": 0.20, "gradient": 0.4, "polarity": "bright"},
}


def _compare(m: SyntheticMicrograph, r: TEMSizingResult) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """True ECDs of the interior particles and ECDs of the counted ones [nm], both without the particles
    that pass within 0.5 px of the border pixel centres (whether those touch the border is ambiguous)."""
    amb = m.ambiguous(0.5)
    true = np.array([p.diameter_nm for p in m.interior() if p not in amb])
    labels = r.label_image()
    rows, cols = labels.shape
    skip = set()
    for p in amb:
        lab = labels[min(max(round(p.row_px), 0), rows - 1), min(max(round(p.col_px), 0), cols - 1)]
        if lab:
            skip.add(int(lab))
    found = np.array([p.ecd_nm for p in r.counted() if p.label not in skip])
    return true, found


def _errors(m: SyntheticMicrograph, method: str) -> tuple[float, float, float, float]:
    """Count error, mean-ECD error, split fraction and reliable flag (1/0) of one analysis."""
    r = size_particles(m.image, polarity=m.polarity, nm_per_px=m.nm_per_px, method=method)  # type: ignore[arg-type]
    true, found = _compare(m, r)
    count_err = (len(found) - len(true)) / len(true)
    ecd_err = float(found.mean() / true.mean() - 1.0) if len(found) else float("nan")
    return count_err, ecd_err, r.split_fraction, float(r.reliable)


def accuracy(quick: bool = False, seeds: tuple[int, ...] = REPORT_SEEDS) -> list[dict[str, Any]]:
    """Count and mean-ECD errors of both methods per condition (mean over seeds; max |count error|)."""
    rows = []
    names = list(CONDITIONS)[:: 3 if quick else 1]
    for name in names:
        row: dict[str, Any] = {"condition": name}
        ms = [synthesize_micrograph(seed=s, **CONDITIONS[name]) for s in (seeds[:1] if quick else seeds)]
        row["n_true"] = float(np.mean([len(m.interior()) for m in ms]))
        row["coverage"] = float(np.mean([m.coverage_fraction for m in ms]))
        for method in ("classic", "shape_prior"):
            errs = np.array([_errors(m, method) for m in ms])
            row[f"{method}_count_err"] = float(errs[:, 0].mean())
            row[f"{method}_count_err_max"] = float(np.abs(errs[:, 0]).max())
            row[f"{method}_ecd_err"] = float(errs[:, 1].mean())
            row[f"{method}_split_fraction"] = float(errs[:, 2].mean())
            row[f"{method}_reliable"] = float(errs[:, 3].mean())
        rows.append(row)
    return rows


def _pct(x: float) -> str:
    return f"{100 * x:+.1f} %" if abs(x) < 10 else f"{100 * x:+.1e} %"


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown-like table of :func:`accuracy` rows."""
    head = "| condition | n | classic count (max) | ECD | shape-prior count (max) | ECD | split | flagged |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['condition']} | {r['n_true']:.0f} "
            f"| {_pct(r['classic_count_err'])} ({100 * r['classic_count_err_max']:.3g}) "
            f"| {_pct(r['classic_ecd_err'])} "
            f"| {_pct(r['shape_prior_count_err'])} ({100 * r['shape_prior_count_err_max']:.2g}) "
            f"| {_pct(r['shape_prior_ecd_err'])} "
            f"| {r['shape_prior_split_fraction']:.2f} | {1 - r['shape_prior_reliable']:.0%} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# Reference implementation (straightforward scikit-image recipe, per-particle loop)
# ---------------------------------------------------------------------------------------------------


def reference_sizing(
    image: NDArray[np.float64], nm_per_px: float, expected_diameter_px: float
) -> list[dict[str, float]]:
    """Otsu + watershed + per-particle regionprops loop (dark particles). Returns one dict per particle."""
    from skimage import filters, measure, segmentation
    from skimage.feature import peak_local_max

    smooth = filters.gaussian(image, sigma=1.0)
    binary = smooth < filters.threshold_otsu(smooth)
    binary = ndi.binary_fill_holes(binary)
    labels = measure.label(binary)
    min_area = math.pi * (0.35 * expected_diameter_px) ** 2 / 4.0
    for region in measure.regionprops(labels):
        if region.area < min_area:
            labels[labels == region.label] = 0
    binary = labels > 0
    distance = ndi.distance_transform_edt(binary)
    coords = peak_local_max(
        distance, min_distance=max(1, round(0.25 * expected_diameter_px)), labels=measure.label(binary)
    )
    markers = np.zeros(distance.shape, dtype=np.int32)
    for i, (r, c) in enumerate(coords, start=1):
        markers[r, c] = i
    ws = segmentation.watershed(-distance, markers, mask=binary)
    ws = segmentation.clear_border(ws)
    out = []
    angles = np.deg2rad(np.arange(180))
    for region in measure.regionprops(ws):
        pts = region.coords.astype(np.float64)
        widths = []
        for a in angles:
            proj = pts[:, 0] * math.cos(a) + pts[:, 1] * math.sin(a)
            widths.append(proj.max() - proj.min() + 1.0)
        perim = region.perimeter_crofton
        out.append(
            {
                "ecd_nm": math.sqrt(4 * region.area / math.pi) * nm_per_px,
                "feret_max_nm": region.feret_diameter_max * nm_per_px,
                "feret_min_nm": min(widths) * nm_per_px,
                "circularity": 4 * math.pi * region.area / perim**2 if perim > 0 else 1.0,
            }
        )
    return out


def run(quick: bool = False) -> dict[str, float]:
    """Megapixels per second of nanobridge's sizing and of the reference, their ratio, counts."""
    side = 512 if quick else 1024
    n_images = 2 if quick else 3
    repeats = 1 if quick else 3
    ms = [
        synthesize_micrograph(
            shape_px=(side, side), coverage=0.2, touching_fraction=0.3, cv=0.15, dose_e_per_px=200.0, seed=s
        )
        for s in range(n_images)
    ]
    d_px = 15.0 / ms[0].nm_per_px
    size_particles(ms[0].image[:128, :128], polarity="dark", nm_per_px=0.5)  # warm imports
    reference_sizing(ms[0].image[:128, :128], 0.5, d_px)
    # CPU time of this process (all code here is single-threaded), interleaved, best of `repeats` per
    # image: robust against other load on the machine
    t_ours = t_ref = 0.0
    ours, ref = [], []
    for m in ms:
        best_o = best_r = math.inf
        for _ in range(repeats):
            t0 = time.process_time()
            r_o = size_particles(m.image, polarity="dark", nm_per_px=m.nm_per_px)
            best_o = min(best_o, time.process_time() - t0)
            t0 = time.process_time()
            r_r = reference_sizing(m.image, m.nm_per_px, d_px)
            best_r = min(best_r, time.process_time() - t0)
        ours.append(r_o)
        ref.append(r_r)
        t_ours += best_o
        t_ref += best_r
    mp = sum(m.image.size for m in ms) / 1e6
    n_true = sum(len(m.interior()) for m in ms)  # (ambiguous border particles included)
    n_ours = sum(r.count for r in ours)
    n_ref = sum(len(r) for r in ref)
    return {
        "megapixels": mp,
        "mp_per_s_nanobridge": mp / t_ours,
        "mp_per_s_reference": mp / t_ref,
        "speedup": t_ref / t_ours,
        "count_true": float(n_true),
        "count_nanobridge": float(n_ours),
        "count_reference": float(n_ref),
        "count_difference": float(n_ours - n_ref),
    }


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    rows = accuracy(quick=quick)
    print(format_table(rows))
    res = run(quick=quick)
    print(" ".join(f"{k}={v:.4g}" for k, v in res.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
