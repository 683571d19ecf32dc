"""Manufacturing QC workflows: the analyses behind ``nanobridge qc`` and the report's QC section.

The science lives in :mod:`nanobridge.science.qc` (DLS, TEM sizing, release, SPC, comparability)
and :mod:`nanobridge.domain.batch` (lots and specifications); this module strings it together
for one input each, adds the Plotly figures the science layer does not draw (DLS correlograms
and size distributions, TEM size histograms) and runs the bundled examples:

- ``dls_bam_MW002-03_averaged.ASC``: a real ALV multi-angle DLS measurement of polymer particles
  (BAM, MIT licence; see ``data/examples/qc/README.md``);
- ``tem_gold_example.png``: a TEM micrograph (when packaged; otherwise a synthetic micrograph with
  known particles is rendered with :func:`nanobridge.science.qc.tem_synth.synthesize_micrograph`);
- ``lot_history.csv`` and ``specifications.yaml``: a SYNTHETIC lot history of 12 lab-scale and 8
  scale-up lots and an illustrative release specification.

:func:`qc_example_summary` runs all of them (DLS analysis, TEM sizing, SPC of the key attributes,
release of every scale-up lot, comparability of scale-up against lab lots) inside
:func:`~nanobridge.citations.collect_citations` and returns typed results, figures and the
citation keys used. Nothing here prints or writes files except :func:`figures_html` (which only
returns text).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go
from numpy.typing import NDArray
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from nanobridge.citations import cite, collect_citations
from nanobridge.domain.batch import (
    AttributeSeries,
    Batch,
    Specification,
    attribute_series,
    canonical_attribute,
    load_batches,
    load_specification,
    sort_batches,
)
from nanobridge.science.qc.comparability import ComparabilityReport, compare_batches
from nanobridge.science.qc.dls import (
    Correlogram,
    CumulantSettings,
    DLSAnalysis,
    InversionSettings,
    MeasurementConditions,
    MultiAngleResult,
    Peak,
    analyze_correlograms,
    multi_angle_analysis,
)
from nanobridge.science.qc.dls_io import RejectedRecord, read_correlogram_file
from nanobridge.science.qc.errors import QCInputError
from nanobridge.science.qc.plots import (
    capability_figure,
    comparability_figure,
    equivalence_figure,
    imr_figure,
)
from nanobridge.science.qc.spc import (
    CapabilityResult,
    IMRChart,
    RuleSelection,
    capability,
    imr_chart,
    imr_limits,
)
from nanobridge.science.qc.specs import ReleaseDecision, release_decision
from nanobridge.science.qc.tem import TEMSizingResult, render_overlay, size_particles
from nanobridge.workflows.assessment import format_value

__all__ = [
    "QC_EXAMPLE_FILES",
    "QC_EXAMPLE_KEY_ATTRIBUTES",
    "DLSRun",
    "MultiAngleGroup",
    "QCExampleSummary",
    "SPCRun",
    "TEMExampleInput",
    "TEMRun",
    "analyze_dls_file",
    "batches_of_scale",
    "canonical_scale",
    "dls_figure",
    "dls_rows",
    "figures_html",
    "format_peaks",
    "overlay_data_uri",
    "overlay_png",
    "qc_example_path",
    "qc_example_summary",
    "read_dls",
    "resolve_qc_input",
    "spc_analysis",
    "tem_example",
    "tem_example_input",
    "tem_figure",
]

ExampleKind = Literal["dls", "history", "spec", "tem"]

#: Bundled example files (in ``nanobridge/data/examples/qc``) by kind.
QC_EXAMPLE_FILES: dict[str, str] = {
    "dls": "dls_bam_MW002-03_averaged.ASC",
    "history": "lot_history.csv",
    "spec": "specifications.yaml",
    "tem": "tem_gold_example.png",
}
#: Attributes charted in the example summary (the Z-average and PDI carry the example's drift).
QC_EXAMPLE_KEY_ATTRIBUTES: tuple[str, ...] = ("z_average", "pdi")
#: Length of the scale bar of the bundled TEM example [nm] when its generator does not say.
TEM_EXAMPLE_SCALE_BAR_NM = 50.0
#: The word that selects a bundled example file on the command line.
EXAMPLE_WORD = "example"

_ANGLE_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12}


# --------------------------------------------------------------------------------------------
# Bundled examples and input resolution
# --------------------------------------------------------------------------------------------


def qc_example_path(kind: ExampleKind) -> Path:
    """Filesystem path of a bundled QC example (``'dls'``, ``'history'``, ``'spec'``, ``'tem'``).

    Raises :class:`FileNotFoundError` naming the file when it is not packaged."""
    if kind not in QC_EXAMPLE_FILES:
        raise ValueError(f"unknown QC example {kind!r}; allowed: {', '.join(QC_EXAMPLE_FILES)}")
    traversable = resources.files("nanobridge") / "data" / "examples" / "qc" / QC_EXAMPLE_FILES[kind]
    with resources.as_file(traversable) as path:  # package data is on disk for normal installs
        p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: the bundled QC example is not packaged in this installation")
    return p


def resolve_qc_input(value: str | Path | None, kind: ExampleKind) -> tuple[Path, bool]:
    """``(path, bundled)``: ``None`` or the word ``example`` select the bundled example of
    ``kind``; anything else is a path (not checked here: the readers name missing files)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == EXAMPLE_WORD):
        return qc_example_path(kind), True
    return Path(value), False


def canonical_scale(text: str) -> str:
    """A manufacturing scale in canonical spelling (``lab``, ``scale-up``, ``GMP``), accepting the
    aliases :class:`~nanobridge.domain.batch.Batch` accepts (``pilot``, ``bench``, ``cGMP`` ...);
    :class:`~nanobridge.domain.SpecError` names the value otherwise."""
    return Batch(batch_id="scale", scale=text).scale


def batches_of_scale(batches: Iterable[Batch], scale: str, *, source: str = "the lot history") -> list[Batch]:
    """The batches of ``scale`` (any accepted spelling); :class:`QCInputError` if there are none."""
    wanted = canonical_scale(scale)
    all_batches = list(batches)
    chosen = [b for b in all_batches if b.scale == wanted]
    if not chosen:
        present = sorted({b.scale for b in all_batches})
        raise QCInputError(f"{source}: no {wanted} batches; scales present: {', '.join(present) or '(none)'}")
    return chosen


def figures_html(figures: Sequence[go.Figure], title: str) -> str:
    """One self-contained HTML page (plotly.js inline once, no network) holding ``figures``."""
    parts = [
        fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}) for fig in figures
    ]
    safe_title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{safe_title}</title><script type='text/javascript'>{get_plotlyjs()}</script></head>"
        f"<body style='font-family: system-ui, sans-serif'><h2>{safe_title}</h2>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


# --------------------------------------------------------------------------------------------
# DLS
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MultiAngleGroup:
    """The multi-angle extrapolation of one record (one sample: the correlograms of a file that
    share its source and label)."""

    label: str
    result: MultiAngleResult


@dataclass(frozen=True)
class DLSRun:
    """A DLS file and its analysis: one :class:`DLSAnalysis` per valid correlogram, the records
    the reader rejected (lenient mode) and, per record measured at ≥ 2 angles, the extrapolation
    to q² → 0 (``multi_angle_notes`` say why it is missing for the others). Correlograms of
    different records (samples) are never pooled; correlograms whose quality verdict is "fail"
    are left out of the extrapolation (and said so)."""

    path: Path
    file_format: str
    correlograms: tuple[Correlogram, ...]
    rejected: tuple[RejectedRecord, ...]
    analyses: tuple[DLSAnalysis, ...]
    multi_angle: tuple[MultiAngleGroup, ...]
    multi_angle_notes: tuple[str, ...]
    cumulant_settings: CumulantSettings
    inversion_settings: InversionSettings | None
    citations: tuple[str, ...]

    @property
    def records(self) -> tuple[str, ...]:
        """Distinct record labels, in file order."""
        return tuple(dict.fromkeys(a.label for a in self.analyses))

    @property
    def multi_angle_result(self) -> MultiAngleResult | None:
        """The extrapolation when the file holds one multi-angle record, else ``None``."""
        return self.multi_angle[0].result if len(self.multi_angle) == 1 and len(self.records) == 1 else None

    @property
    def conditions(self) -> MeasurementConditions:
        """Conditions of the first correlogram."""
        return self.correlograms[0].conditions

    @property
    def assumed(self) -> tuple[str, ...]:
        """Condition fields that the file did not record and were filled with assumed values."""
        return tuple(dict.fromkeys(a for c in self.correlograms for a in c.assumed))


_CONDITION_FIELDS = ("temperature_K", "viscosity_mPa_s", "solvent_refractive_index", "wavelength_nm")


def _with_conditions(corrs: Sequence[Correlogram], overrides: Mapping[str, float]) -> list[Correlogram]:
    unknown = sorted(set(overrides) - set(_CONDITION_FIELDS))
    if unknown:
        raise QCInputError(
            f"unknown measurement condition(s) {', '.join(unknown)}; allowed: {_CONDITION_FIELDS}"
        )
    out = []
    for corr in corrs:
        conditions = MeasurementConditions(**{**corr.conditions.model_dump(), **overrides})
        data = {name: getattr(corr, name) for name in Correlogram.model_fields}
        data["conditions"] = conditions
        data["assumed"] = tuple(a for a in corr.assumed if a not in overrides)
        out.append(Correlogram(**data))
    return out


def read_dls(
    path: str | Path,
    *,
    strict: bool = True,
    condition_overrides: Mapping[str, float] | None = None,
    angles_deg: Sequence[float] | None = None,
) -> tuple[str, list[Correlogram], tuple[RejectedRecord, ...]]:
    """``(format, correlograms, rejected)`` of a correlogram file (CSV, ALV ``.ASC``, Zetasizer
    ``.xlsx``). ``strict`` raises on the first physically impossible record (naming it); otherwise
    such records are returned as rejected. ``condition_overrides`` replaces recorded (or assumed)
    conditions field by field (``temperature_K``, ``viscosity_mPa_s``, ``solvent_refractive_index``,
    ``wavelength_nm``)."""
    result = read_correlogram_file(path, angles_deg=angles_deg)
    if strict and result.rejected:
        first = result.rejected[0]
        more = (
            f" (and {len(result.rejected) - 1} more; use lenient reading to skip them)"
            if len(result.rejected) > 1
            else " (use lenient reading to skip it)"
        )
        raise QCInputError(f"{first.reason}{more}")
    corrs = list(result.correlograms)
    if not corrs:
        reasons = "; ".join(r.reason for r in result.rejected[:3])
        raise QCInputError(f"{path}: no valid correlogram in the file" + (f" ({reasons})" if reasons else ""))
    if condition_overrides:
        corrs = _with_conditions(corrs, condition_overrides)
    return result.format, corrs, result.rejected


def analyze_dls_file(
    path: str | Path,
    *,
    cumulant_settings: CumulantSettings | None = None,
    inversion_settings: InversionSettings | None = None,
    invert: bool = True,
    strict: bool = True,
    condition_overrides: Mapping[str, float] | None = None,
    angles_deg: Sequence[float] | None = None,
) -> DLSRun:
    """Read a correlogram file and analyse every correlogram: ISO 22412 cumulants, the
    regularized size distribution (unless ``invert`` is false), the quality verdict and, with
    two or more distinct angles, the extrapolation of D to q² → 0 (see :mod:`nanobridge.science.qc.dls`)."""
    cum = cumulant_settings or CumulantSettings()
    inv = (inversion_settings or InversionSettings()) if invert else None
    with collect_citations() as used:
        fmt, corrs, rejected = read_dls(
            path, strict=strict, condition_overrides=condition_overrides, angles_deg=angles_deg
        )
        if any(c.assumed for c in corrs):
            cite("Assumed")
        analyses = analyze_correlograms(corrs, cum, inv, invert=invert)
        groups: dict[tuple[str, str], list[DLSAnalysis]] = {}
        for a in analyses:
            groups.setdefault((a.source, a.label), []).append(a)
        multi: list[MultiAngleGroup] = []
        notes: list[str] = []
        for (_, label), group in groups.items():
            name = label or Path(path).name
            members = [a for a in group if a.quality.verdict != "fail"]
            if len(members) < len(group):
                failed = ", ".join(f"{a.angle_deg:g}°" for a in group if a.quality.verdict == "fail")
                notes.append(f"{name}: left out of the extrapolation (quality verdict fail): {failed}")
            if len({round(a.angle_deg, 6) for a in members}) < 2:
                notes.append(f"{name}: fewer than two usable angles, no extrapolation to q² → 0")
                continue
            try:
                multi.append(MultiAngleGroup(name, multi_angle_analysis([a.cumulants for a in members])))
            except QCInputError as exc:
                notes.append(f"{name}: multi-angle extrapolation not done: {exc}")
    return DLSRun(
        path=Path(path),
        file_format=fmt,
        correlograms=tuple(corrs),
        rejected=tuple(rejected),
        analyses=tuple(analyses),
        multi_angle=tuple(multi),
        multi_angle_notes=tuple(notes),
        cumulant_settings=cum,
        inversion_settings=inv,
        citations=used.keys,
    )


def format_peaks(peaks: Sequence[Peak], limit: int = 3, *, compact: bool = False) -> str:
    """``'128 nm (97 %); 579 nm (3 %)'`` (``compact``: ``'128 (97%) 579 (3%)'``): mode and area
    fraction of the largest ``limit`` peaks."""
    if not peaks:
        return "—"
    ranked = sorted(peaks, key=lambda p: p.area_fraction, reverse=True)[:limit]
    if compact:
        return " ".join(f"{format_value(p.mode_nm)} ({100 * p.area_fraction:.0f}%)" for p in ranked)
    return "; ".join(f"{format_value(p.mode_nm)} nm ({100 * p.area_fraction:.0f} %)" for p in ranked)


def dls_rows(run: DLSRun) -> list[dict[str, Any]]:
    """One flat row per correlogram: cumulant results, verdict and flags, peaks, settings."""
    rows = []
    for a in run.analyses:
        c = a.cumulants
        d = a.distribution
        rows.append(
            {
                "source": a.source,
                "label": a.label,
                "angle_deg": a.angle_deg,
                "z_average_nm": c.z_average_nm,
                "hydrodynamic_radius_nm": c.hydrodynamic_radius_nm,
                "pdi": c.pdi,
                "intercept": c.intercept,
                "decay_rate_per_s": c.decay_rate_per_s,
                "diffusion_m2_per_s": c.diffusion_m2_per_s,
                "fit_first_lag_s": c.first_lag_s,
                "fit_last_lag_s": c.last_lag_s,
                "fit_points": c.n_points,
                "rms_residual_rel": c.rms_residual_rel,
                "verdict": a.quality.verdict,
                "flags": "; ".join(f"{f.severity}: {f.code}: {f.message}" for f in a.quality.flags),
                "intensity_peaks": "" if d is None else format_peaks(d.intensity_peaks),
                "volume_peaks": "" if d is None else format_peaks(d.volume_peaks),
                "number_peaks": "" if d is None else format_peaks(d.number_peaks),
                "alpha_rel": None if d is None else d.alpha_rel,
                "cumulant_order": c.settings.order,
                "cutoff_fraction": c.settings.cutoff_fraction,
                "min_lag_s": c.settings.min_lag_s,
                "weighting": c.settings.weighting,
                "form_factor": None if d is None else d.form_factor,
                "temperature_K": c.conditions.temperature_K,
                "viscosity_mPa_s": c.conditions.viscosity_mPa_s,
                "solvent_refractive_index": c.conditions.solvent_refractive_index,
                "wavelength_nm": c.conditions.wavelength_nm,
            }
        )
    return rows


def _angle_color(i: int) -> str:
    return _ANGLE_COLORS[i % len(_ANGLE_COLORS)]


def dls_figure(run: DLSRun, *, title: str | None = None) -> go.Figure:
    """Correlograms with their cumulant fits (top left) and fit residuals (bottom left); the
    intensity-weighted (top right) and volume- (solid) and number-weighted (dotted) size
    distributions (bottom right) of every angle. Click a legend entry to hide an angle."""
    has_dist = any(a.distribution is not None for a in run.analyses)
    fig = make_subplots(
        rows=2,
        cols=2 if has_dist else 1,
        row_heights=[0.65, 0.35],
        vertical_spacing=0.1,
        horizontal_spacing=0.1,
        subplot_titles=(
            (
                "g2−1 and cumulant fit",
                "intensity-weighted distribution",
                "fit residuals",
                "volume (—) and number (···)",
            )
            if has_dist
            else ("g2−1 and cumulant fit", "fit residuals")
        ),
    )
    several = len(run.records) > 1
    repeated = len({(a.label, round(a.angle_deg, 6)) for a in run.analyses}) < len(run.analyses)
    for i, (corr, a) in enumerate(zip(run.correlograms, run.analyses, strict=True)):
        color = _angle_color(i)
        name = (f"{a.label} " if several else "") + f"{a.angle_deg:g}°" + (f" #{i + 1}" if repeated else "")
        group = f"g{i}"
        c = a.cumulants
        fig.add_trace(
            go.Scatter(
                x=corr.tau_s,
                y=corr.g2m1,
                mode="markers",
                marker={"size": 3, "color": color, "opacity": 0.55},
                name=name,
                legendgroup=group,
                hovertemplate="τ %{x:.3g} s: %{y:.4f}<extra>" + name + "</extra>",
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=c.fit_tau_s,
                y=c.fit_g2m1,
                mode="lines",
                line={"color": color, "width": 2},
                name=f"{name} fit",
                legendgroup=group,
                showlegend=False,
                hovertemplate=(
                    f"Z-average {format_value(c.z_average_nm)} nm, PDI {c.pdi:.3f}<extra>{name}</extra>"
                ),
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=c.fit_tau_s,
                y=c.residuals,
                mode="lines",
                line={"color": color, "width": 1},
                name=f"{name} residuals",
                legendgroup=group,
                showlegend=False,
                hovertemplate="τ %{x:.3g} s: %{y:.2e}<extra>" + name + "</extra>",
            ),
            row=2,
            col=1,
        )
        d = a.distribution
        if d is not None:
            fig.add_trace(
                go.Scatter(
                    x=d.diameters_nm,
                    y=d.intensity,
                    mode="lines",
                    line={"color": color, "width": 2},
                    name=f"{name} intensity",
                    legendgroup=group,
                    showlegend=False,
                    hovertemplate="%{x:.3g} nm: %{y:.3f}<extra>" + name + " intensity</extra>",
                ),
                row=1,
                col=2,
            )
            for weights, dash, what in ((d.volume, "solid", "volume"), (d.number, "dot", "number")):
                fig.add_trace(
                    go.Scatter(
                        x=d.diameters_nm,
                        y=weights,
                        mode="lines",
                        line={"color": color, "width": 1.5, "dash": dash},
                        name=f"{name} {what}",
                        legendgroup=group,
                        showlegend=False,
                        hovertemplate="%{x:.3g} nm: %{y:.3f}<extra>" + f"{name} {what}</extra>",
                    ),
                    row=2,
                    col=2,
                )
    fig.update_xaxes(type="log", title_text="lag time τ [s]", row=1, col=1)
    fig.update_xaxes(type="log", title_text="lag time τ [s]", row=2, col=1)
    fig.update_yaxes(title_text="g2 − 1", row=1, col=1)
    fig.update_yaxes(title_text="measured − fit", row=2, col=1)
    if has_dist:
        fig.update_xaxes(type="log", title_text="hydrodynamic diameter [nm]", row=1, col=2)
        fig.update_xaxes(type="log", title_text="hydrodynamic diameter [nm]", row=2, col=2)
        fig.update_yaxes(title_text="fraction per bin", row=1, col=2)
        fig.update_yaxes(title_text="fraction per bin", row=2, col=2)
    heading = title or f"DLS · {run.path.name}"
    m = run.multi_angle_result
    if m is not None:
        heading += f" · Rh(q²→0) {format_value(m.radius_q0_nm)} ± {format_value(m.radius_q0_se_nm, 2)} nm"
    fig.update_layout(
        template="plotly_white",
        title={"text": heading, "x": 0.01, "xanchor": "left", "font": {"size": 14}},
        font=_FONT,
        height=620,
        margin={"l": 60, "r": 20, "t": 80, "b": 50},
        legend={"title": {"text": "angle"}},
    )
    return fig


# --------------------------------------------------------------------------------------------
# TEM
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TEMRun:
    """A sized micrograph: the result, the gray image it came from (for the overlay), whether it
    is the synthetic stand-in (then ``true_diameters_nm`` holds its known particle sizes)."""

    source: str
    result: TEMSizingResult
    image: NDArray[np.float64] = field(repr=False)
    synthetic: bool
    description: str
    true_diameters_nm: NDArray[np.float64] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TEMExampleInput:
    """The TEM example image: the packaged micrograph, or the synthetic stand-in with its truth."""

    image: NDArray[np.float64] = field(repr=False)
    source: str
    synthetic: bool
    scale_bar_nm: float
    description: str
    true_diameters_nm: NDArray[np.float64] | None = field(default=None, repr=False)


def tem_example_input() -> TEMExampleInput:
    """The bundled TEM example as a gray image. The packaged ``tem_gold_example.png`` is itself
    synthetic (rendered by :func:`~nanobridge.science.qc.tem_synth.example_micrograph`, see
    ``tem_gold_example.md``): when re-rendering gives the same 8-bit pixels, its known particles
    are attached as ``true_diameters_nm``. Without the PNG the micrograph is rendered here."""
    from nanobridge.science.qc import tem_synth
    from nanobridge.science.qc.tem import load_micrograph

    m = tem_synth.example_micrograph()
    bar_nm = float(m.scale_bar_nm) if m.scale_bar_nm is not None else TEM_EXAMPLE_SCALE_BAR_NM
    true = m.true_diameters_nm()
    truth = f"{len(true)} known particles inside the field, mean ECD {format_value(float(true.mean()))} nm"
    try:
        path = qc_example_path("tem")
    except FileNotFoundError:
        path = None
    if path is None:
        return TEMExampleInput(
            image=m.image,
            source="synthetic micrograph",
            synthetic=True,
            scale_bar_nm=bar_nm,
            description=(
                f"SYNTHETIC bright-field micrograph rendered at run time ({m.image.shape[0]} × "
                f"{m.image.shape[1]} px, seed {m.seed}; the example PNG is not packaged): {truth}; "
                f"calibrated from its {format_value(bar_nm)} nm scale bar"
            ),
            true_diameters_nm=true,
        )
    gray = load_micrograph(path)
    same = gray.shape == m.image.shape and bool(
        np.array_equal(np.rint(gray * 255.0).astype(np.uint8), m.to_uint8())
    )
    return TEMExampleInput(
        image=gray,
        source=path.name,
        synthetic=True,
        scale_bar_nm=bar_nm,
        description=(
            f"bundled example micrograph {path.name}, a SYNTHETIC bright-field image "
            f"({gray.shape[0]} × {gray.shape[1]} px; see {path.stem}.md)"
            + (f": {truth}" if same else " (its pixels differ from the generator's: no ground truth)")
            + f"; calibrated from its {format_value(bar_nm)} nm scale bar"
        ),
        true_diameters_nm=true if same else None,
    )


def tem_example() -> TEMRun:
    """Size the TEM example of :func:`tem_example_input` (dark particles, default settings)."""
    example = tem_example_input()
    result = size_particles(
        example.image, polarity="dark", scale_bar_nm=example.scale_bar_nm, source=example.source
    )
    return TEMRun(
        source=example.source,
        result=result,
        image=example.image,
        synthetic=example.synthetic,
        description=example.description,
        true_diameters_nm=example.true_diameters_nm,
    )


def overlay_png(image: NDArray[Any], result: TEMSizingResult, *, numbers: bool = False) -> bytes:
    """The operator-review overlay (:func:`~nanobridge.science.qc.tem.render_overlay`) as PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(render_overlay(image, result, numbers=numbers)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def overlay_data_uri(image: NDArray[Any], result: TEMSizingResult) -> str:
    """The overlay as a ``data:image/png;base64,...`` URI (for a self-contained page)."""
    return "data:image/png;base64," + base64.b64encode(overlay_png(image, result)).decode("ascii")


def tem_figure(result: TEMSizingResult, *, title: str | None = None) -> go.Figure:
    """Histogram of the counted particles' ECD with D10/D50/D90 marked (left) and circularity
    against ECD (right; aspect ratio in the hover)."""
    counted = result.counted()
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.6, 0.4],
        horizontal_spacing=0.12,
        subplot_titles=("ECD distribution (number)", "shape"),
    )
    dist = result.distribution
    if dist is not None and counted:
        edges = np.asarray(dist.histogram_edges_nm)
        counts = np.asarray(dist.histogram_counts)
        fig.add_trace(
            go.Bar(
                x=0.5 * (edges[:-1] + edges[1:]),
                y=counts,
                width=np.diff(edges),
                marker={"color": "#5b8fd1", "line": {"color": "#2b5f9e", "width": 1}},
                name="particles",
                hovertemplate="%{x:.3g} nm: %{y} particles<extra></extra>",
            ),
            row=1,
            col=1,
        )
        for label, value in (("D10", dist.d10_nm), ("D50", dist.d50_nm), ("D90", dist.d90_nm)):
            fig.add_vline(
                x=value,
                line={"color": "#d62728", "dash": "dash", "width": 1},
                annotation_text=f"{label} {format_value(value)}",
                annotation_position="top",
                row=1,
                col=1,
            )
        fig.add_trace(
            go.Scatter(
                x=[p.ecd_nm for p in counted],
                y=[p.circularity for p in counted],
                mode="markers",
                marker={"size": 6, "color": ["#d62728" if p.split else "#1f77b4" for p in counted]},
                text=[
                    f"#{p.label}, aspect ratio {p.aspect_ratio:.2f}" + (", split" if p.split else "")
                    for p in counted
                ],
                name="particle (red: watershed split)",
                hovertemplate="ECD %{x:.3g} nm, circularity %{y:.3f}<br>%{text}<extra></extra>",
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text="equivalent circular diameter [nm]", row=1, col=1)
    fig.update_yaxes(title_text="particles", row=1, col=1)
    fig.update_xaxes(title_text="ECD [nm]", row=1, col=2)
    fig.update_yaxes(title_text="circularity 4πA/P²", row=1, col=2)
    head = title or f"TEM sizing · {result.source or 'image'}"
    if dist is not None:
        head += f" · n = {dist.count}, ECD {format_value(dist.mean_nm)} ± {format_value(dist.sd_nm, 2)} nm"
    fig.update_layout(
        template="plotly_white",
        title={"text": head, "x": 0.01, "xanchor": "left", "font": {"size": 14}},
        font=_FONT,
        height=430,
        showlegend=False,
        margin={"l": 60, "r": 20, "t": 80, "b": 50},
    )
    return fig


# --------------------------------------------------------------------------------------------
# SPC
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SPCRun:
    """An I-MR chart of one attribute over the lot history (manufacturing order) and, when
    specification limits are known, the process capability of ``capability_lots``."""

    attribute: str
    title: str
    unit: str
    series: AttributeSeries
    chart: IMRChart
    baseline_note: str
    capability: CapabilityResult | None
    capability_lots: tuple[str, ...]
    lsl: float | None
    usl: float | None
    limits_source: str | None


def spc_analysis(
    batches: Sequence[Batch],
    attribute: str,
    *,
    spec: Specification | None = None,
    baseline: int | None = None,
    baseline_scale: str | None = None,
    rules: RuleSelection = "nelson",
    lsl: float | None = None,
    usl: float | None = None,
) -> SPCRun:
    """I-MR chart (and capability) of ``attribute`` across ``batches`` in manufacturing order.

    Limits: phase I from every value (default), from the first ``baseline`` values, or from the
    lots of ``baseline_scale`` (e.g. the validated ``lab`` lots; when these are not the first lots
    the limits are fixed from them and every lot is monitored). Capability
    (:func:`~nanobridge.science.qc.spc.capability`) needs a limit: ``lsl``/``usl`` or the
    attribute's limits in ``spec``; it is computed from the baseline lots when there is a baseline
    (Montgomery2020: capability of the process in control), else from every lot.
    """
    key = canonical_attribute(attribute)
    if baseline is not None and baseline_scale is not None:
        raise QCInputError("give either a baseline count or a baseline scale, not both")
    a_spec = spec.get(key) if spec is not None else None
    if spec is not None and a_spec is None:
        raise QCInputError(
            f"{attribute!r} is not in specification {spec.label}; {spec.unknown_attribute_hint(key)}"
        )
    if a_spec is not None and a_spec.is_qualitative:
        raise QCInputError(f"{key} is a qualitative attribute ({a_spec.criterion!r}); SPC needs numbers")
    ordered = sort_batches(batches)
    series = attribute_series(ordered, key, a_spec.unit if a_spec is not None else None)
    if len(series) == 0:
        known = sorted({m.attribute for b in ordered for m in b.measurements})
        raise QCInputError(
            f"no numeric values of {key!r} in the lot history; "
            f"attributes measured: {', '.join(known) or '(none)'}"
        )
    if len(series) < 3:
        raise QCInputError(f"{key}: only {len(series)} numeric values; an I-MR chart needs at least 3")
    unit = series.unit
    values, labels = list(series.values), list(series.labels)
    base_labels: list[str] | None = None
    if baseline_scale is not None:
        wanted = canonical_scale(baseline_scale)
        scale_of = {b.batch_id: b.scale for b in ordered}
        base_idx = [i for i, lab in enumerate(labels) if scale_of.get(lab) == wanted]
        if len(base_idx) < 2:
            raise QCInputError(
                f"{key}: {len(base_idx)} values from {wanted} lots; a baseline needs at least 2"
            )
        base_labels = [labels[i] for i in base_idx]
        if base_idx == list(range(len(base_idx))):
            chart = imr_chart(values, labels, baseline=len(base_idx), rules=rules, attribute=key, unit=unit)
            note = (
                f"limits from the {len(base_idx)} {wanted} lots ({base_labels[0]}–{base_labels[-1]}), "
                "phase II after"
            )
        else:
            limits = imr_limits([values[i] for i in base_idx], unit=unit)
            chart = imr_chart(values, labels, limits=limits, rules=rules, attribute=key, unit=unit)
            note = f"limits fixed from the {len(base_idx)} {wanted} lots; every lot monitored"
    elif baseline is not None:
        chart = imr_chart(values, labels, baseline=baseline, rules=rules, attribute=key, unit=unit)
        base_labels = labels[:baseline]
        note = f"limits from the first {baseline} lots ({labels[0]}–{labels[baseline - 1]}), phase II after"
    else:
        chart = imr_chart(values, labels, rules=rules, attribute=key, unit=unit)
        note = f"phase I: limits from all {len(values)} lots"
    low = lsl if lsl is not None else (a_spec.lower if a_spec is not None else None)
    high = usl if usl is not None else (a_spec.upper if a_spec is not None else None)
    limits_source: str | None = None
    if lsl is not None or usl is not None:
        limits_source = (
            "given on the command line"
            if a_spec is None
            else f"given (specification {spec.label if spec else ''} overridden)"
        )
    elif a_spec is not None and (low is not None or high is not None):
        limits_source = f"specification {spec.label if spec else ''}"
    cap: CapabilityResult | None = None
    cap_lots: tuple[str, ...] = ()
    if low is not None or high is not None:
        use = base_labels if base_labels is not None else labels
        cap_values = [values[labels.index(lab)] for lab in use]
        if len(cap_values) >= 3:
            cap = capability(cap_values, low, high, attribute=key, unit=unit)
            cap_lots = tuple(use)
    title = a_spec.title if a_spec is not None and a_spec.title else key
    return SPCRun(
        attribute=key,
        title=title,
        unit=unit,
        series=series,
        chart=chart,
        baseline_note=note,
        capability=cap,
        capability_lots=cap_lots,
        lsl=low,
        usl=high,
        limits_source=limits_source,
    )


# --------------------------------------------------------------------------------------------
# The bundled examples, end to end
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QCExampleSummary:
    """Everything :func:`qc_example_summary` computed, with figures and the citation keys used."""

    files: dict[str, Path]
    dls: DLSRun
    tem: TEMRun
    specification: Specification
    batches: tuple[Batch, ...]
    spc: tuple[SPCRun, ...]
    releases: tuple[ReleaseDecision, ...]
    comparability: ComparabilityReport
    figures: dict[str, go.Figure]
    citations: tuple[str, ...]

    @property
    def lot_counts(self) -> dict[str, int]:
        """Number of lots per scale."""
        out: dict[str, int] = {}
        for b in self.batches:
            out[b.scale] = out.get(b.scale, 0) + 1
        return out


def qc_example_summary(
    *,
    key_attributes: Sequence[str] = QC_EXAMPLE_KEY_ATTRIBUTES,
    reference_scale: str = "lab",
    test_scale: str = "scale-up",
) -> QCExampleSummary:
    """Run the bundled QC examples: DLS analysis of the BAM file (cumulants, inversion, quality,
    multi-angle), TEM sizing of the example micrograph, I-MR charts and capability of
    ``key_attributes`` with the ``reference_scale`` lots as baseline, the release decision of every
    ``test_scale`` lot against the lot history, and the comparability of ``test_scale`` against
    ``reference_scale`` lots. Takes about a second."""
    kinds: tuple[ExampleKind, ...] = ("dls", "history", "spec")
    files: dict[str, Path] = {kind: qc_example_path(kind) for kind in kinds}
    with collect_citations() as used:
        dls = analyze_dls_file(files["dls"])
        tem = tem_example()
        spec = load_specification(files["spec"])
        cite(*spec.citations)
        for a_spec in spec.attributes:
            cite(*a_spec.citations)
        batches = sort_batches(load_batches(files["history"], spec))
        spc = tuple(
            spc_analysis(batches, attr, spec=spec, baseline_scale=reference_scale) for attr in key_attributes
        )
        reference = batches_of_scale(batches, reference_scale)
        test = batches_of_scale(batches, test_scale)
        releases = tuple(release_decision(b, spec, batches) for b in test)
        comparison = compare_batches(reference, test, spec)
    figures: dict[str, go.Figure] = {"dls": dls_figure(dls), "tem": tem_figure(tem.result)}
    for run in spc:
        figures[f"imr_{run.attribute}"] = imr_figure(
            run.chart, title=f"I-MR chart — {run.title} ({run.baseline_note})"
        )
        if run.capability is not None:
            cap_values = [run.series.values[run.series.labels.index(lab)] for lab in run.capability_lots]
            figures[f"capability_{run.attribute}"] = capability_figure(
                cap_values,
                run.capability,
                title=f"Capability — {run.title} ({len(cap_values)} {reference_scale} lots)",
            )
    if any(a.equivalence is not None for a in comparison.attributes):
        figures["equivalence"] = equivalence_figure(comparison)
    for a in comparison.attributes:
        if a.tier in (1, 2) and a.verdict in ("not shown equivalent", "outside range"):
            figures[f"comparability_{a.attribute}"] = comparability_figure(a)
    if tem.source == QC_EXAMPLE_FILES["tem"]:
        files["tem"] = qc_example_path("tem")
    return QCExampleSummary(
        files=files,
        dls=dls,
        tem=tem,
        specification=spec,
        batches=tuple(batches),
        spc=spc,
        releases=releases,
        comparability=comparison,
        figures=figures,
        citations=used.keys,
    )
