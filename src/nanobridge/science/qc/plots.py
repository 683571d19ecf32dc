"""Plotly figures for QC: I-MR chart, capability histogram, comparability plots.

Each function builds and returns a :class:`plotly.graph_objects.Figure`; nothing is shown or
written here (the report and web layers do that).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy import stats

from nanobridge.science.qc.comparability import AttributeComparison, ComparabilityReport
from nanobridge.science.qc.errors import QCInputError
from nanobridge.science.qc.spc import CapabilityResult, IMRChart

__all__ = ["capability_figure", "comparability_figure", "equivalence_figure", "imr_figure"]

_BASE = "#1f77b4"
_MONITOR = "#ff7f0e"
_SIGNAL = "#d62728"
_LIMIT = "#d62728"
_ZONE = "#9e9e9e"
_TEST = "#ff7f0e"


def _u(unit: str) -> str:
    return f" [{unit}]" if unit else ""


def imr_figure(chart: IMRChart, *, title: str | None = None) -> go.Figure:
    """I chart (top) and MR chart (bottom) with centre lines, 3-sigma limits, 1- and 2-sigma
    zone lines, the baseline/monitoring split (phase II) and the points of every rule violation
    marked, with the rules and explanations in the hover text."""
    lim = chart.limits
    n = len(chart.values)
    x = list(range(n))
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.68, 0.32],
        vertical_spacing=0.06,
        subplot_titles=("Individuals (I)", "Moving range (MR)"),
    )
    colours = [_BASE if i < chart.n_baseline else _MONITOR for i in range(n)]
    fig.add_trace(
        go.Scatter(
            x=x,
            y=list(chart.values),
            mode="lines+markers",
            line={"color": "#555555", "width": 1},
            marker={"color": colours, "size": 8},
            text=list(chart.labels),
            hovertemplate="%{text}: %{y:.4g}<extra></extra>",
            name=chart.attribute or "value",
        ),
        row=1,
        col=1,
    )
    for y, dash, colour, label in (
        (lim.center, "solid", "#2ca02c", "CL"),
        (lim.ucl, "dash", _LIMIT, "UCL"),
        (lim.lcl, "dash", _LIMIT, "LCL"),
        (lim.zone_line(2), "dot", _ZONE, "+2σ"),
        (lim.zone_line(-2), "dot", _ZONE, "−2σ"),
        (lim.zone_line(1), "dot", _ZONE, "+1σ"),
        (lim.zone_line(-1), "dot", _ZONE, "−1σ"),
    ):
        fig.add_hline(
            y=y,
            line={"dash": dash, "color": colour, "width": 1},
            annotation_text=f"{label} {y:.4g}" if label in {"CL", "UCL", "LCL"} else "",
            annotation_position="right",
            row=1,
            col=1,
        )
    # violations: I chart points, with all rules that involve each point
    i_rules: dict[int, list[str]] = {}
    mr_rules: dict[int, list[str]] = {}
    for v in chart.violations:
        for p in v.signal_points if v.chart == "I" else v.points[1:]:
            target = i_rules if v.chart == "I" else mr_rules
            target.setdefault(p, []).append(f"{v.rule}: {v.explanation}")
    if i_rules:
        pts = sorted(i_rules)
        fig.add_trace(
            go.Scatter(
                x=pts,
                y=[chart.values[p] for p in pts],
                mode="markers",
                marker={"symbol": "circle-open", "size": 16, "color": _SIGNAL, "line": {"width": 2}},
                text=["<br>".join(i_rules[p]) for p in pts],
                hovertemplate="%{text}<extra>rule signal</extra>",
                name="rule signal",
            ),
            row=1,
            col=1,
        )
    mr_x = list(range(1, n))
    fig.add_trace(
        go.Scatter(
            x=mr_x,
            y=list(chart.moving_ranges),
            mode="lines+markers",
            line={"color": "#555555", "width": 1},
            marker={"color": colours[1:], "size": 6},
            name="moving range",
            showlegend=False,
        ),
        row=2,
        col=1,
    )
    fig.add_hline(y=lim.mr_center, line={"color": "#2ca02c", "width": 1}, row=2, col=1)
    fig.add_hline(
        y=lim.mr_ucl,
        line={"dash": "dash", "color": _LIMIT, "width": 1},
        annotation_text=f"UCL {lim.mr_ucl:.3g}",
        annotation_position="right",
        row=2,
        col=1,
    )
    if mr_rules:
        pts = sorted(mr_rules)
        fig.add_trace(
            go.Scatter(
                x=pts,
                y=[chart.moving_ranges[p - 1] for p in pts],
                mode="markers",
                marker={"symbol": "circle-open", "size": 14, "color": _SIGNAL, "line": {"width": 2}},
                text=["<br>".join(mr_rules[p]) for p in pts],
                hovertemplate="%{text}<extra>MR signal</extra>",
                showlegend=False,
            ),
            row=2,
            col=1,
        )
    if chart.phase == "II" and 0 < chart.n_baseline < n:
        for row in (1, 2):
            fig.add_vline(x=chart.n_baseline - 0.5, line={"dash": "dot", "color": "#444444"}, row=row, col=1)
    fig.update_xaxes(tickmode="array", tickvals=x, ticktext=list(chart.labels), row=2, col=1)
    fig.update_yaxes(title_text=f"{chart.attribute}{_u(chart.unit)}", row=1, col=1)
    fig.update_yaxes(title_text=f"MR{_u(chart.unit)}", rangemode="tozero", row=2, col=1)
    phase = (
        f"phase II: limits from the first {chart.n_baseline} batches"
        if chart.phase == "II" and chart.n_baseline
        else ("phase II: fixed limits" if chart.phase == "II" else "phase I")
    )
    fig.update_layout(
        title=title
        or f"I-MR chart — {chart.attribute or 'series'} ({phase}; rules {', '.join(chart.rules)})",
        template="plotly_white",
        height=560,
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def capability_figure(
    values: Sequence[float], result: CapabilityResult, *, nbins: int | None = None, title: str | None = None
) -> go.Figure:
    """Histogram of ``values`` (density) with the normal curves of the overall and the within
    sigma, the specification limits, the mean and the capability indices with their CIs."""
    x = np.asarray(list(values), dtype=float)
    if x.size != result.n:
        raise QCInputError(f"{x.size} values given, the capability result was computed from {result.n}")
    fig = go.Figure()
    fig.add_trace(
        go.Histogram(
            x=x,
            histnorm="probability density",
            nbinsx=nbins or max(5, int(np.ceil(np.sqrt(x.size)))),
            marker={"color": "#9ecae1", "line": {"color": "#3182bd", "width": 1}},
            name="batches",
        )
    )
    lo_edge = min([x.min(), *(v for v in (result.lsl,) if v is not None)])
    hi_edge = max([x.max(), *(v for v in (result.usl,) if v is not None)])
    pad = 0.1 * (hi_edge - lo_edge) + 3 * result.sigma_overall
    grid = np.linspace(lo_edge - pad, hi_edge + pad, 300)
    for sigma, name, dash in (
        (result.sigma_overall, "normal (overall SD)", "solid"),
        (result.sigma_within, "normal (within, MRbar/d2)", "dash"),
    ):
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=stats.norm.pdf(grid, result.mean, sigma),
                mode="lines",
                name=name,
                line={"dash": dash},
            )
        )
    for limit, name in ((result.lsl, "LSL"), (result.usl, "USL")):
        if limit is not None:
            fig.add_vline(
                x=limit,
                line={"color": _LIMIT, "width": 2},
                annotation_text=f"{name} {limit:.4g}",
                annotation_position="top",
            )
    fig.add_vline(
        x=result.mean,
        line={"color": "#2ca02c", "dash": "dot"},
        annotation_text="mean",
        annotation_position="bottom",
    )
    fig.update_layout(
        title=title or f"Capability — {result.attribute or 'series'}: {result.summary()}",
        xaxis_title=f"{result.attribute or 'value'}{_u(result.unit)}",
        yaxis_title="density",
        template="plotly_white",
        bargap=0.02,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def comparability_figure(comparison: AttributeComparison, *, title: str | None = None) -> go.Figure:
    """Reference and test lots of one numeric attribute side by side (one point per lot, in lot
    order), their means, and — by tier — the quality range band (tier 2) or the equivalence
    margin drawn around the reference mean (tier 1)."""
    if not comparison.reference_values and not comparison.test_values:
        raise QCInputError(f"{comparison.attribute}: no numeric values to plot (qualitative or missing)")
    fig = go.Figure()
    nr = len(comparison.reference_values)
    fig.add_trace(
        go.Scatter(
            x=list(comparison.reference_labels),
            y=list(comparison.reference_values),
            mode="markers",
            marker={"color": _BASE, "size": 9},
            name=f"reference (n = {nr})",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=list(comparison.test_labels),
            y=list(comparison.test_values),
            mode="markers",
            marker={"color": _TEST, "size": 9, "symbol": "diamond"},
            name=f"test (n = {len(comparison.test_values)})",
        )
    )
    if nr:
        ref_mean = float(np.mean(comparison.reference_values))
        fig.add_hline(y=ref_mean, line={"color": _BASE, "dash": "dot"}, annotation_text="reference mean")
    if comparison.test_values:
        fig.add_hline(
            y=float(np.mean(comparison.test_values)),
            line={"color": _TEST, "dash": "dot"},
            annotation_text="test mean",
        )
    qr, eq = comparison.quality_range, comparison.equivalence
    if qr is not None:
        fig.add_hrect(
            y0=qr.range_lower,
            y1=qr.range_upper,
            fillcolor=_BASE,
            opacity=0.1,
            line_width=0,
            annotation_text=f"quality range (mean ± {qr.k:g} SD)",
            annotation_position="top left",
        )
    if eq is not None:
        m = eq.reference.mean
        fig.add_hrect(
            y0=m - eq.margin,
            y1=m + eq.margin,
            fillcolor="#2ca02c",
            opacity=0.1,
            line_width=0,
            annotation_text=f"reference mean ± margin ({eq.margin:.3g})",
            annotation_position="top left",
        )
    fig.update_layout(
        title=title or f"{comparison.title} — tier {comparison.tier}: {comparison.verdict}",
        xaxis_title="lot",
        yaxis_title=f"{comparison.title}{_u(comparison.unit)}",
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def equivalence_figure(report: ComparabilityReport, *, title: str | None = None) -> go.Figure:
    """Forest plot of the tier-1 attributes: the difference of means (test − reference) and its
    90 % CI divided by each attribute's margin, against the equivalence band ±1 (so attributes
    in different units share one axis). Green: equivalent; red: not shown equivalent."""
    rows = [a for a in report.attributes if a.equivalence is not None]
    if not rows:
        raise QCInputError("the report has no tier-1 (equivalence) results to plot")
    fig = go.Figure()
    names = [a.title for a in rows]
    for a, name in zip(rows, names, strict=True):
        eq = a.equivalence
        assert eq is not None
        colour = "#2ca02c" if eq.equivalent else _SIGNAL
        u = f" {a.unit}" if a.unit else ""
        fig.add_trace(
            go.Scatter(
                x=[eq.difference / eq.margin],
                y=[name],
                mode="markers",
                marker={"color": colour, "size": 11},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [(eq.ci_upper - eq.difference) / eq.margin],
                    "arrayminus": [(eq.difference - eq.ci_lower) / eq.margin],
                    "color": colour,
                    "thickness": 2,
                },
                name=name,
                showlegend=False,
                hovertemplate=(
                    f"{name}: difference {eq.difference:.3g}{u}, "
                    f"90 % CI {eq.ci_lower:.3g} to {eq.ci_upper:.3g}{u}, "
                    f"margin ±{eq.margin:.3g}{u}<extra></extra>"
                ),
            )
        )
    fig.add_vrect(x0=-1, x1=1, fillcolor="#2ca02c", opacity=0.08, line_width=0)
    for xv in (-1, 1):
        fig.add_vline(x=xv, line={"color": "#2ca02c", "dash": "dash"})
    fig.add_vline(x=0, line={"color": "#777777", "width": 1})
    fig.update_layout(
        title=title or f"Tier-1 equivalence: {report.test_label} vs {report.reference_label}",
        xaxis_title="difference of means / margin (equivalent if the CI is inside ±1)",
        template="plotly_white",
        height=200 + 60 * len(rows),
    )
    return fig
