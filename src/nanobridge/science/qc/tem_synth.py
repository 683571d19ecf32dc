"""Synthetic TEM/SEM micrographs of nanoparticles with known ground truth.

Used by the tests and benchmarks of :mod:`nanobridge.science.qc.tem` to measure how well particle
sizing recovers the count and the size distribution of particles that are known exactly.

Model (deterministic for a given ``seed``):

- Sizes: area-equivalent diameters ``d`` are lognormal with number-weighted mean ``mean_diameter_nm``
  and coefficient of variation ``cv`` (``sigma_ln = sqrt(ln(1 + cv^2))``,
  ``mu_ln = ln(mean) - sigma_ln^2 / 2``). Shapes are ellipses with an aspect ratio drawn uniformly in
  ``[1, max_aspect_ratio]`` (discs when it is 1) and a random orientation; ``roughness`` > 0 modulates
  the outline radially by ``1 + sum_k A_k cos(k alpha + phase_k)``, k = 2..6, ``A_k`` uniform in
  ``[0, roughness / (k - 1)]`` (irregular, faceted-looking particles). Every outline is scaled to the
  area of the disc of diameter ``d``, so ``d`` is the exact equivalent circular diameter (ECD).
- Placement: random sequential addition until the area fraction covered by particles reaches
  ``coverage`` (or attempts run out; the achieved value is returned). With probability
  ``touching_fraction`` a new particle is placed in contact with a randomly chosen existing one (centre
  distance ``1 - overlap`` to 1 times the sum of the radii along the line of centres, so neighbours
  touch or overlap, as projected particles in an agglomerate do; the new particle may overlap others by
  at most the lens of two equal discs at the closest contact plus 3 % of its area); otherwise it must
  keep a gap of ``min_gap_px`` to every other particle. Particles may be cut by the image border
  (flagged). Nothing is placed under the scale bar and its label.
- Image formation: each particle's pixel coverage is computed with 4 x 4 supersampling (partial pixels
  at the rim), the union of particles gives a coverage map ``C`` in [0, 1]. Dark polarity (bright-field
  TEM): ``I = B(x) (1 - contrast C)`` with a bright background ``B``; bright polarity (HAADF-STEM, SEM
  secondary electrons): ``I = B(x) + contrast C`` on a dark background. ``B`` carries a linear
  illumination gradient of relative amplitude ``gradient`` across the field and, if ``film_texture`` >
  0, a multiplicative support-film texture (Gaussian-filtered white noise, correlation length 1.5 px,
  relative SD ``film_texture``), as amorphous carbon gives. Then a Gaussian point
  spread function (``blur_sigma_px``), Poisson shot noise for ``dose_e_per_px`` electrons per pixel at
  full scale, and additive Gaussian read noise ``read_noise`` (fraction of full scale); values are
  clipped to [0, 1].
- Annotation: an optional solid scale bar of ``round(scale_bar_nm / nm_per_px)`` pixels, drawn in the
  chosen corner after noise (as instruments burn it in), with four solid blocks standing for its text
  label; optionally on an opaque information band along the bottom edge (as SEM data bars).

This is a test fixture, not a physical image simulation: no phase contrast, Fresnel fringes,
diffraction contrast, thickness (mass-thickness) contrast of overlapping particles or sharp facets;
the support-film texture is a stand-in for amorphous carbon, not a model of it. Bad settings raise
``ValueError`` (a programming error in a test, not user input).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage as ndi

__all__ = [
    "EXAMPLE_SETTINGS",
    "SyntheticMicrograph",
    "TrueParticle",
    "example_micrograph",
    "synthesize_micrograph",
    "write_png",
]

Polarity = Literal["dark", "bright"]
Corner = Literal["bottom-right", "bottom-left", "top-right", "top-left"]

_SUPERSAMPLE = 4
_EXTRA_TOUCH_OVERLAP = 0.03  # overlap allowed beyond the lens of two equal discs at the closest contact
_TEXTURE_SIGMA_PX = 1.5  # correlation length of the support-film texture [px]


class TrueParticle(BaseModel):
    """One rendered particle: position [px], size [nm] and flags."""

    model_config = ConfigDict(frozen=True)

    row_px: float
    col_px: float
    diameter_nm: float = Field(description="area-equivalent (ECD) diameter")
    major_nm: float = Field(description="major axis length (2a)")
    minor_nm: float = Field(description="minor axis length (2b)")
    angle_deg: float
    touches_edge: bool = Field(description="its outline reaches the centre of a border pixel or beyond")
    edge_distance_px: float = Field(
        description="distance from the outline to the line of border pixel centres (< 0: cut by the border)"
    )
    touching: bool = Field(description="in contact with (or overlapping) another particle")


class SyntheticMicrograph(BaseModel):
    """A synthetic micrograph (float image in [0, 1]) and its ground truth."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    image: NDArray[np.float64]
    nm_per_px: float
    polarity: Polarity
    particles: tuple[TrueParticle, ...]
    coverage_fraction: float = Field(description="area fraction of the field covered by particles")
    scale_bar_nm: float | None = None
    scale_bar_length_px: int | None = None
    scale_bar_box: tuple[int, int, int, int] | None = Field(
        default=None, description="(row0, col0, row1, col1), end exclusive"
    )
    annotation_box: tuple[int, int, int, int] | None = Field(
        default=None, description="bar, its label and any information band (row0, col0, row1, col1)"
    )
    seed: int

    def interior(self) -> list[TrueParticle]:
        """Particles that a correct analysis counts (not cut by the image border)."""
        return [p for p in self.particles if not p.touches_edge]

    def ambiguous(self, margin_px: float = 0.5) -> list[TrueParticle]:
        """Particles whose outline passes within ``margin_px`` of the border pixel centres: whether they
        touch the border after blur and noise is a coin toss, so evaluations may leave them out."""
        return [p for p in self.particles if abs(p.edge_distance_px) <= margin_px]

    def true_diameters_nm(self) -> NDArray[np.float64]:
        """ECDs [nm] of the interior particles."""
        return np.array([p.diameter_nm for p in self.interior()], dtype=np.float64)

    def to_uint8(self) -> NDArray[np.uint8]:
        """The image quantized to 8 bits."""
        return np.clip(np.rint(self.image * 255.0), 0, 255).astype(np.uint8)

    def to_uint16(self) -> NDArray[np.uint16]:
        """The image quantized to 16 bits."""
        return np.clip(np.rint(self.image * 65535.0), 0, 65535).astype(np.uint16)


_Harmonics = tuple[tuple[float, float], ...]  # (amplitude, phase) for k = 2, 3, ...


def _shape_factor(alpha: NDArray[np.float64] | float, harm: _Harmonics) -> NDArray[np.float64]:
    """Radial modulation 1 + sum_k A_k cos(k alpha + phase_k) of a rough particle outline."""
    out = np.ones_like(np.asarray(alpha, dtype=np.float64))
    for k, (amp, phase) in enumerate(harm, start=2):
        out = out + amp * np.cos(k * np.asarray(alpha) + phase)
    return out


def _radius_along(a: float, b: float, phi: float, theta: float, harm: _Harmonics = ()) -> float:
    """Distance from the centre to the particle boundary in direction theta."""
    alpha = theta - phi
    r = a * b / math.sqrt((b * math.cos(alpha)) ** 2 + (a * math.sin(alpha)) ** 2)
    return r * float(_shape_factor(alpha, harm)) if harm else r


def _area_scale(a: float, b: float, harm: _Harmonics) -> float:
    """Factor on (a, b) that keeps the area of the modulated ellipse at pi a b."""
    if not harm:
        return 1.0
    alpha = np.linspace(0.0, 2.0 * math.pi, 1440, endpoint=False)
    r = a * b / np.sqrt((b * np.cos(alpha)) ** 2 + (a * np.sin(alpha)) ** 2) * _shape_factor(alpha, harm)
    area = 0.5 * float(np.mean(r**2)) * 2.0 * math.pi
    return math.sqrt(math.pi * a * b / area)


class _Placed(NamedTuple):
    cy: float
    cx: float
    a: float
    b: float
    phi: float
    harm: _Harmonics
    d_nm: float
    ext: tuple[float, float, float, float]  # row min, row max, col min, col max of the outline


def _extents(
    cy: float, cx: float, a: float, b: float, phi: float, harm: _Harmonics
) -> tuple[float, float, float, float]:
    """Row and column extent of the particle outline (sampled at 720 angles)."""
    alpha = np.linspace(0.0, 2.0 * math.pi, 720, endpoint=False)
    r = a * b / np.sqrt((b * np.cos(alpha)) ** 2 + (a * np.sin(alpha)) ** 2) * _shape_factor(alpha, harm)
    x = cx + r * (np.cos(alpha) * math.cos(phi) - np.sin(alpha) * math.sin(phi))
    y = cy + r * (np.cos(alpha) * math.sin(phi) + np.sin(alpha) * math.cos(phi))
    return float(y.min()), float(y.max()), float(x.min()), float(x.max())


def _window(
    ext: tuple[float, float, float, float], shape: tuple[int, int], pad: float
) -> tuple[int, int, int, int] | None:
    y0, y1, x0, x1 = ext
    r0, r1 = max(0, math.floor(y0 - pad) - 1), min(shape[0], math.ceil(y1 + pad) + 2)
    c0, c1 = max(0, math.floor(x0 - pad) - 1), min(shape[1], math.ceil(x1 + pad) + 2)
    if r0 >= r1 or c0 >= c1:
        return None
    return r0, r1, c0, c1


def _inside(
    rows: NDArray[np.float64],
    cols: NDArray[np.float64],
    cy: float,
    cx: float,
    a: float,
    b: float,
    phi: float,
    harm: _Harmonics = (),
) -> NDArray[np.bool_]:
    c, s = math.cos(phi), math.sin(phi)
    dy, dx = rows - cy, cols - cx
    u = dx * c + dy * s
    v = -dx * s + dy * c
    if not harm:
        return np.asarray((u / a) ** 2 + (v / b) ** 2 <= 1.0)
    alpha = np.arctan2(v, u)
    rho2 = ((u / a) ** 2 + (v / b) ** 2) / _shape_factor(alpha, harm) ** 2
    return np.asarray(rho2 <= 1.0)


def _coverage(
    cy: float, cx: float, a: float, b: float, phi: float, harm: _Harmonics, win: tuple[int, int, int, int]
) -> NDArray[np.float64]:
    """Fraction of each pixel of the window covered by the ellipse (4 x 4 supersampling)."""
    r0, r1, c0, c1 = win
    n = _SUPERSAMPLE
    offs = (np.arange(n) + 0.5) / n - 0.5
    rr = (np.arange(r0, r1)[:, None] + offs[None, :]).reshape(-1)
    cc = (np.arange(c0, c1)[:, None] + offs[None, :]).reshape(-1)
    inside = _inside(rr[:, None], cc[None, :], cy, cx, a, b, phi, harm).astype(np.float64)
    return inside.reshape(r1 - r0, n, c1 - c0, n).mean(axis=(1, 3))


def synthesize_micrograph(
    *,
    shape_px: tuple[int, int] = (512, 512),
    nm_per_px: float = 0.5,
    mean_diameter_nm: float = 15.0,
    cv: float = 0.10,
    coverage: float = 0.10,
    touching_fraction: float = 0.0,
    overlap: float = 0.06,
    max_aspect_ratio: float = 1.0,
    roughness: float = 0.0,
    polarity: Polarity = "dark",
    contrast: float = 0.5,
    gradient: float = 0.0,
    blur_sigma_px: float = 1.0,
    dose_e_per_px: float | None = None,
    read_noise: float = 0.0,
    film_texture: float = 0.0,
    min_gap_px: float = 2.0,
    scale_bar_nm: float | None = None,
    scale_bar_corner: Corner = "bottom-right",
    scale_bar_value: Literal["auto", "dark", "bright"] = "auto",
    info_band_px: int = 0,
    seed: int = 0,
) -> SyntheticMicrograph:
    """Render a micrograph of lognormally sized discs/ellipses with known ground truth (see module doc).

    ``coverage`` is the target area fraction of the field covered by particles (0 < coverage < 0.7);
    random sequential addition may stop short of it in dense fields (``coverage_fraction`` of the result
    is the achieved value). ``info_band_px`` > 0 draws an opaque black band of that height along the bottom
    edge holding the scale bar, as on SEM data bars.
    """
    rows, cols = (int(shape_px[0]), int(shape_px[1]))
    if rows < 32 or cols < 32:
        raise ValueError(f"shape_px={shape_px!r}: at least 32 x 32 pixels")
    if not (0.0 < coverage < 0.7):
        raise ValueError(f"coverage={coverage}: allowed 0 < coverage < 0.7")
    if not (0.0 <= touching_fraction <= 1.0):
        raise ValueError(f"touching_fraction={touching_fraction}: allowed 0..1")
    if not (0.0 <= overlap < 0.5):
        raise ValueError(f"overlap={overlap}: allowed 0 <= overlap < 0.5")
    if nm_per_px <= 0 or mean_diameter_nm <= 0 or cv < 0 or max_aspect_ratio < 1.0:
        raise ValueError("nm_per_px, mean_diameter_nm > 0, cv >= 0 and max_aspect_ratio >= 1 required")
    rng = np.random.default_rng(seed)
    shape = (rows, cols)

    # --- annotation region (kept free of particles) --------------------------------------------------
    blocked = np.zeros(shape, dtype=bool)
    bar_box: tuple[int, int, int, int] | None = None
    ann_box: tuple[int, int, int, int] | None = None
    glyphs: list[tuple[int, int, int, int]] = []
    bar_len: int | None = None
    band_box: tuple[int, int, int, int] | None = None
    if info_band_px > 0:
        band_box = (rows - info_band_px, 0, rows, cols)
        blocked[band_box[0] :, :] = True
    if scale_bar_nm is not None:
        bar_len = round(scale_bar_nm / nm_per_px)
        thick = max(3, round(0.012 * rows))
        margin = max(4, round(0.03 * min(rows, cols)))
        if bar_len + 2 * margin > cols:
            raise ValueError(f"scale bar of {bar_len} px does not fit in {cols} columns")
        bottom = "bottom" in scale_bar_corner
        if band_box is not None:
            if not bottom:
                raise ValueError("an information band holds a bottom-corner scale bar")
            br1 = rows - max(2, (info_band_px - thick) // 2)
        else:
            br1 = rows - margin if bottom else margin + 4 * thick
        br0 = br1 - thick
        bc0 = cols - margin - bar_len if "right" in scale_bar_corner else margin
        bc1 = bc0 + bar_len
        bar_box = (br0, bc0, br1, bc1)
        glyph_h = round(2.5 * thick)
        glyph_w = max(2, round(1.5 * thick))
        gy1 = br0 - thick
        gx = (bc0 + bc1) // 2 - 2 * glyph_w - 3
        for k in range(4):
            g0 = gx + k * (glyph_w + 2)
            glyphs.append((max(0, gy1 - glyph_h), g0, gy1, g0 + glyph_w))
        top_of_label = max(0, gy1 - glyph_h)
        pad = margin // 2
        ann_box = (max(0, top_of_label - pad), max(0, bc0 - pad), min(rows, br1 + pad), min(cols, bc1 + pad))
        if band_box is not None:
            ann_box = (min(ann_box[0], band_box[0]), 0, rows, cols)
        blocked[ann_box[0] : ann_box[2], ann_box[1] : ann_box[3]] = True

    # --- particle placement ---------------------------------------------------------------------------
    kc = 1.0 - overlap  # lens area of two equal discs at centre distance kc (r1 + r2), fraction of one disc
    max_overlap_frac = (
        2.0 * math.acos(kc) - 2.0 * kc * math.sqrt(1.0 - kc * kc)
    ) / math.pi + _EXTRA_TOUCH_OVERLAP
    sigma_ln = math.sqrt(math.log1p(cv * cv))
    mu_ln = math.log(mean_diameter_nm) - 0.5 * sigma_ln * sigma_ln
    occ = np.zeros(shape, dtype=np.int32)  # label of the particle owning each pixel (hard masks)
    cover = np.zeros(shape, dtype=np.float64)
    params: list[_Placed] = []
    touching: list[bool] = []
    field_px = float(rows * cols)
    target_px = coverage * field_px
    covered_px = 0.0
    mean_area_px = math.pi * (mean_diameter_nm / nm_per_px) ** 2 / 4.0
    max_attempts = int(200 * target_px / mean_area_px) + 2000
    for _ in range(max_attempts):
        if covered_px >= target_px:
            break
        d_nm = float(rng.lognormal(mu_ln, sigma_ln)) if cv > 0 else mean_diameter_nm
        ar = float(rng.uniform(1.0, max_aspect_ratio))
        r_px = 0.5 * d_nm / nm_per_px
        a, b = r_px * math.sqrt(ar), r_px / math.sqrt(ar)
        phi = float(rng.uniform(0.0, math.pi))
        harm: _Harmonics = ()
        if roughness > 0:
            harm = tuple(
                (roughness * float(rng.uniform(0.0, 1.0)) / (k - 1), float(rng.uniform(0.0, 2.0 * math.pi)))
                for k in range(2, 7)
            )
            f = _area_scale(a, b, harm)
            a, b = a * f, b * f
        touch = bool(params) and rng.uniform() < touching_fraction
        if touch:
            anc = params[int(rng.integers(len(params)))]
            theta = float(rng.uniform(0.0, 2.0 * math.pi))
            dist = (
                _radius_along(anc.a, anc.b, anc.phi, theta, anc.harm)
                + _radius_along(a, b, phi, theta + math.pi, harm)
            ) * float(rng.uniform(1.0 - overlap, 1.0))
            cy, cx = anc.cy + dist * math.sin(theta), anc.cx + dist * math.cos(theta)
        else:
            cy, cx = float(rng.uniform(-0.5, rows - 0.5)), float(rng.uniform(-0.5, cols - 0.5))
        gap = 1.0 if touch else min_gap_px
        ext = _extents(cy, cx, a, b, phi, harm)
        win = _window(ext, shape, gap)
        if win is None:
            continue
        r0, r1, c0, c1 = win
        rr, cc = np.mgrid[r0:r1, c0:c1].astype(np.float64)
        grown = _inside(rr, cc, cy, cx, a + gap, b + gap, phi, harm)
        if np.any(blocked[r0:r1, c0:c1] & grown):
            continue
        others = occ[r0:r1, c0:c1]
        hard = _inside(rr, cc, cy, cx, a, b, phi, harm)
        if touch:
            area = max(int(hard.sum()), 1)
            if np.count_nonzero(hard & (others > 0)) > max_overlap_frac * area:
                continue
            neighbours = np.unique(others[grown & (others > 0)])
            if neighbours.size == 0:
                continue
            for lab in neighbours:
                touching[int(lab) - 1] = True
        elif np.any(others[grown] > 0):
            continue
        label = len(params) + 1
        new_px = np.count_nonzero(hard & (others == 0))
        occ[r0:r1, c0:c1][hard & (others == 0)] = label
        covered_px += new_px
        cov = _coverage(cy, cx, a, b, phi, harm, win)
        np.maximum(cover[r0:r1, c0:c1], cov, out=cover[r0:r1, c0:c1])
        params.append(_Placed(cy, cx, a, b, phi, harm, d_nm, ext))
        touching.append(bool(touch))

    particles = []
    for pl, tch in zip(params, touching, strict=True):
        y0, y1, x0, x1 = pl.ext
        edge_dist = min(y0, x0, rows - 1.0 - y1, cols - 1.0 - x1)  # to the border pixel centres
        particles.append(
            TrueParticle(
                row_px=pl.cy,
                col_px=pl.cx,
                diameter_nm=pl.d_nm,
                major_nm=2 * pl.a * nm_per_px,
                minor_nm=2 * pl.b * nm_per_px,
                angle_deg=math.degrees(pl.phi),
                touches_edge=bool(edge_dist < 0.0),
                edge_distance_px=float(edge_dist),
                touching=tch,
            )
        )

    # --- image formation ------------------------------------------------------------------------------
    theta_g = float(rng.uniform(0.0, 2.0 * math.pi))
    yy = (np.arange(rows, dtype=np.float64)[:, None] / rows - 0.5) * math.sin(theta_g)
    xx = (np.arange(cols, dtype=np.float64)[None, :] / cols - 0.5) * math.cos(theta_g)
    ramp = 1.0 + gradient * (yy + xx)
    if film_texture > 0:
        tex = ndi.gaussian_filter(rng.normal(size=shape), _TEXTURE_SIGMA_PX)
        ramp = ramp * (1.0 + film_texture * tex / tex.std())
    # bright-field: transmission of a bright beam; dark-field/SEM: signal added to a dark background
    img = 0.8 * ramp * (1.0 - contrast * cover) if polarity == "dark" else 0.15 * ramp + contrast * cover
    if blur_sigma_px > 0:
        img = ndi.gaussian_filter(img, blur_sigma_px, mode="reflect")
    if dose_e_per_px is not None:
        img = rng.poisson(np.clip(img, 0.0, None) * dose_e_per_px).astype(np.float64) / dose_e_per_px
    if read_noise > 0:
        img = img + rng.normal(0.0, read_noise, size=shape)
    img = np.clip(img, 0.0, 1.0)

    if band_box is not None:
        img[band_box[0] :, :] = 0.0
    if bar_box is not None:
        if scale_bar_value == "auto":
            local = img[bar_box[0] : bar_box[2], bar_box[1] : bar_box[3]].mean()
            value = 0.0 if local > 0.5 else 1.0
        else:
            value = 0.0 if scale_bar_value == "dark" else 1.0
        img[bar_box[0] : bar_box[2], bar_box[1] : bar_box[3]] = value
        for g in glyphs:
            img[g[0] : g[2], g[1] : g[3]] = value

    return SyntheticMicrograph(
        image=img,
        nm_per_px=nm_per_px,
        polarity=polarity,
        particles=tuple(particles),
        coverage_fraction=float(np.count_nonzero(occ) / field_px),
        scale_bar_nm=scale_bar_nm,
        scale_bar_length_px=bar_len,
        scale_bar_box=bar_box,
        annotation_box=ann_box,
        seed=seed,
    )


#: Settings of the packaged example ``data/examples/qc/tem_gold_example.png`` (gold-like particles of
#: 15 nm mean ECD, CV 12 %, 0.5 nm/px, dark 50 nm scale bar in the bottom-right corner).
EXAMPLE_SETTINGS: dict[str, Any] = {
    "shape_px": (512, 512),
    "nm_per_px": 0.5,
    "mean_diameter_nm": 15.0,
    "cv": 0.12,
    "coverage": 0.15,
    "touching_fraction": 0.3,
    "max_aspect_ratio": 1.15,
    "roughness": 0.04,
    "polarity": "dark",
    "contrast": 0.55,
    "gradient": 0.15,
    "blur_sigma_px": 1.0,
    "dose_e_per_px": 150.0,
    "film_texture": 0.03,
    "scale_bar_nm": 50.0,
    "scale_bar_corner": "bottom-right",
    "seed": 2024,
}


def example_micrograph() -> SyntheticMicrograph:
    """The synthetic micrograph behind the packaged example PNG (see ``EXAMPLE_SETTINGS``)."""
    return synthesize_micrograph(**EXAMPLE_SETTINGS)


def write_png(micrograph: SyntheticMicrograph, path: str | os.PathLike[str]) -> Path:
    """Write the micrograph as an 8-bit grayscale PNG."""
    from PIL import Image

    out = Path(path)
    Image.fromarray(micrograph.to_uint8(), mode="L").save(out, format="PNG", optimize=True)
    return out
