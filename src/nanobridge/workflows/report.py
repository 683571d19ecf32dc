"""A self-contained HTML report of one or more assessments.

The report is one file: plotly.js is embedded inline once, styles are in the page, and nothing is
fetched when it is opened, so it works offline and can be archived or mailed as is. It holds the
agent specs, per scenario the organ time courses, the tumour delivery curve, clearance and
retention, a metrics table with units, the run's notes and sources, the model's documented
choices and the full reference list of everything cited.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from numpy.typing import NDArray
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

import nanobridge
from nanobridge.citations import get_reference
from nanobridge.domain import AgentSpec, Scenario
from nanobridge.science.pbpk import model as pbpk_model
from nanobridge.science.pbpk.engine import MODEL_VERSION
from nanobridge.science.pbpk.model import EXCRETA, ORGANS
from nanobridge.workflows.assessment import (
    METRIC_INFO,
    SUMMARY_METRICS,
    Assessment,
    ScenarioRun,
    format_value,
    unique_references,
)
from nanobridge.workflows.imaging import ImagingSummary

if TYPE_CHECKING:
    from nanobridge.science.safety.findings import SafetyReport
    from nanobridge.workflows.qc import QCExampleSummary
    from nanobridge.workflows.sln import SLNDemo

__all__ = ["model_choices", "render_report", "spec_rows", "write_report"]

#: Organ colours, fixed so that an organ looks the same in every figure.
ORGAN_COLORS: dict[str, str] = {
    "blood": "#d62728",
    "lung": "#17becf",
    "heart": "#e377c2",
    "brain": "#bcbd22",
    "muscle": "#8c564b",
    "kidney": "#ff7f0e",
    "spleen": "#9467bd",
    "liver": "#2ca02c",
    "rest_of_body": "#7f7f7f",
    "tumor": "#1f77b4",
    "urine": "#e7ba52",
    "feces": "#6b4c2a",
}
ORGAN_LABELS: dict[str, str] = {o: o.replace("_", " ") for o in (*ORGANS, *EXCRETA)}
ORGAN_LABELS["tumor"] = "tumour"

#: Metrics shown in each run's table, in order (the AUCs of the other organs follow).
TABLE_METRICS: tuple[str, ...] = (
    "DE24",
    "DE168",
    "DEmax",
    "t_DEmax_h",
    "auc_tumor_pct_id_h",
    "auc_tumor_pct_id_per_g_h",
    "blood_t50_h",
    "blood_half_life_24_168h_h",
    "blood_terminal_half_life_h",
    "urine_pct_id",
    "feces_pct_id",
    "excreted_pct_id",
    "retention_30d_pct_id",
    "retention_90d_pct_id",
)

_PLOT_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}
_FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12}


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _plot_indices(
    t: NDArray[np.float64], dense_until_h: float = 168.0, step_h: float = 12.0
) -> NDArray[np.int64]:
    """Every sample up to ``dense_until_h``, then about one every ``step_h`` (and the last one):
    keeps a 90-day hourly run's figures light without changing their look."""
    if t.size < 3:
        return np.arange(t.size)
    interval = float(np.median(np.diff(t)))
    stride = max(1, round(step_h / interval)) if interval > 0 else 1
    early = np.flatnonzero(t <= dense_until_h + 1e-9)
    late = np.flatnonzero(t > dense_until_h + 1e-9)[::stride]
    idx = np.union1d(np.union1d(early, late), [t.size - 1])
    return idx.astype(np.int64)


def _base_layout(fig: go.Figure, title: str, y_title: str, x_title: str = "time after injection [h]") -> None:
    fig.update_layout(
        template="plotly_white",
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 14}},
        font=_FONT,
        height=430,
        margin={"l": 60, "r": 20, "t": 80, "b": 50},
        legend={"font": {"size": 11}, "itemclick": "toggle", "itemdoubleclick": "toggleothers"},
        hovermode="x unified",
    )
    fig.update_xaxes(title_text=x_title, showline=True, linecolor="#999", zeroline=False)
    fig.update_yaxes(title_text=y_title, showline=True, linecolor="#999", zeroline=False)


def _legend_below(fig: go.Figure) -> None:
    fig.update_layout(
        legend={"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.2, "yanchor": "top"},
        margin={"b": 100},
        height=470,
    )


def _buttons(
    y_toggle: bool,
    ranges: Sequence[tuple[str, float | None]],
    x_log_toggle: bool = False,
    x_log_default: bool = False,
    x_extra: tuple[dict[str, Any], dict[str, Any]] = ({}, {}),
) -> list[dict[str, Any]]:
    menus: list[dict[str, Any]] = []
    common = {
        "type": "buttons",
        "direction": "right",
        "showactive": True,
        "yanchor": "bottom",
        "y": 1.02,
        "pad": {"r": 4, "t": 0},
        "font": {"size": 10},
        "bgcolor": "#f4f6f8",
        "bordercolor": "#c8ced6",
    }
    x_pos = 0.0
    if ranges:
        buttons = []
        for label, end in ranges:
            args: dict[str, Any] = (
                {"xaxis.autorange": True}
                if end is None
                else {"xaxis.range": [0, end], "xaxis.autorange": False}
            )
            buttons.append({"label": label, "method": "relayout", "args": [args]})
        menus.append({**common, "buttons": buttons, "x": x_pos, "xanchor": "left", "active": 0})
        x_pos = 1.0
    if y_toggle:
        menus.append(
            {
                **common,
                "x": 1.0,
                "xanchor": "right",
                "active": 0,
                "buttons": [
                    {"label": "linear y", "method": "relayout", "args": [{"yaxis.type": "linear"}]},
                    {"label": "log y", "method": "relayout", "args": [{"yaxis.type": "log"}]},
                ],
            }
        )
    if x_log_toggle:
        menus.append(
            {
                **common,
                "x": x_pos if not y_toggle else 0.55,
                "xanchor": "right" if x_pos else "left",
                "active": 1 if x_log_default else 0,
                "buttons": [
                    {
                        "label": "linear time",
                        "method": "relayout",
                        "args": [
                            {
                                "xaxis.type": "linear",
                                "xaxis.title.text": "time after injection [d]",
                                **x_extra[0],
                            }
                        ],
                    },
                    {
                        "label": "log time",
                        "method": "relayout",
                        "args": [
                            {
                                "xaxis.type": "log",
                                "xaxis.title.text": "time after injection [d] (log scale)",
                                **x_extra[1],
                            }
                        ],
                    },
                ],
            }
        )
    return menus


def _time_ranges(duration_h: float) -> list[tuple[str, float | None]]:
    """Range buttons: a default window first, then shorter and the whole run."""
    options: list[tuple[str, float | None]] = []
    if duration_h > 168:
        options.append(("0–7 d", 168.0))
    if duration_h > 48:
        options.append(("0–48 h", 48.0))
    if duration_h > 24:
        options.append(("0–24 h", 24.0))
    options.append((f"all ({format_value(duration_h / 24)} d)" if duration_h >= 48 else "all", None))
    return options


def organ_figure(run: ScenarioRun, variable: str) -> go.Figure:
    """Organ time courses of ``amount_pct_id`` (with excreta, hidden at first) or
    ``conc_pct_id_per_g``; organs toggle from the legend, buttons pick window and y scale."""
    bd = run.biodistribution
    t_all = bd.times_h
    idx = _plot_indices(t_all)
    t = t_all[idx]
    data = bd.data[variable].isel(subject=0).values[idx]
    organs = [str(o) for o in bd.data["organ"].values]
    fig = go.Figure()
    concentration = variable == "conc_pct_id_per_g"
    unit = "%ID/g" if concentration else "%ID"
    for j, organ in enumerate(organs):
        if concentration and organ in EXCRETA:
            continue
        fig.add_trace(
            go.Scatter(
                x=t,
                y=data[:, j],
                mode="lines",
                name=ORGAN_LABELS.get(organ, organ),
                line={"color": ORGAN_COLORS.get(organ), "width": 3 if organ == "tumor" else 1.8},
                visible="legendonly" if organ in EXCRETA else True,
                hovertemplate=f"%{{y:.3g}} {unit}<extra>{ORGAN_LABELS.get(organ, organ)}</extra>",
            )
        )
    what = "Concentration" if concentration else "Amount"
    _base_layout(fig, f"{what} by organ [{unit}]", f"{what.lower()} [{unit}]")
    ranges = _time_ranges(float(t_all[-1]))
    fig.update_layout(updatemenus=_buttons(True, ranges))
    first = ranges[0][1]
    if first is not None:
        fig.update_xaxes(range=[0, first])
    return fig


def _de_label_offset(label: str, when_h: float, t_demax_h: float) -> tuple[int, int, str]:
    """Arrow offset [px] and anchor of a DE label, keeping DE24/DE168 clear of a nearby DEmax."""
    near_peak = np.isfinite(t_demax_h) and abs(when_h - t_demax_h) < 12.0
    if label == "DEmax":
        return 30, -16, "left"
    if label == "DE168":
        return -30, (34 if near_peak else -26), "right"
    return 34, (34 if near_peak else -26), "left"


def tumor_figure(run: ScenarioRun) -> go.Figure:
    """Tumour amount [%ID] (left axis) and concentration [%ID/g] (right axis) over time, with
    DE24, DE168 and DEmax marked."""
    bd = run.biodistribution
    t_all = bd.times_h
    idx = _plot_indices(t_all)
    t = t_all[idx]
    amount = bd.amount("tumor").isel(subject=0).values[idx]
    conc = bd.concentration("tumor").isel(subject=0).values[idx]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(
            x=t,
            y=amount,
            mode="lines",
            name="tumour amount [%ID]",
            line={"color": ORGAN_COLORS["tumor"], "width": 3},
            hovertemplate="%{y:.3g} %ID<extra>amount</extra>",
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=t,
            y=conc,
            mode="lines",
            name="tumour concentration [%ID/g]",
            line={"color": "#5b8fd1", "width": 1.6, "dash": "dot"},
            hovertemplate="%{y:.3g} %ID/g<extra>concentration</extra>",
        ),
        secondary_y=True,
    )
    marks: list[tuple[str, float, float]] = []
    for name, when in (("DE24", 24.0), ("DE168", 168.0)):
        value = run.metric(name).value
        if np.isfinite(value):
            marks.append((name, when, value))
    demax = run.metric("DEmax").value
    t_demax = run.metric("t_DEmax_h").value
    if np.isfinite(demax):
        marks.append(("DEmax", t_demax, demax))
    if marks:
        fig.add_trace(
            go.Scatter(
                x=[m[1] for m in marks],
                y=[m[2] for m in marks],
                mode="markers",
                name="DE24 · DE168 · DEmax",
                text=[f"{m[0]} {format_value(m[2])} %ID" for m in marks],
                marker={"size": 10, "color": "#111", "symbol": "diamond"},
                hovertemplate="%{text} at %{x:.3g} h<extra></extra>",
            ),
            secondary_y=False,
        )
        for label, when, value in marks:
            ax, ay, anchor = _de_label_offset(label, when, t_demax)
            fig.add_annotation(
                x=when,
                y=value,
                xref="x",
                yref="y",
                text=f"{label} {format_value(value)} %ID"
                + (f" at {format_value(when)} h" if label == "DEmax" else ""),
                showarrow=True,
                arrowhead=0,
                arrowcolor="#555",
                ax=ax,
                ay=ay,
                xanchor=anchor,
                font={"size": 11, "color": "#222"},
                bgcolor="rgba(255,255,255,0.85)",
            )
    _base_layout(fig, "Tumour delivery", "amount in tumour [%ID]")
    _legend_below(fig)
    fig.update_yaxes(rangemode="tozero", secondary_y=False)
    fig.update_yaxes(
        title_text="concentration in tumour [%ID/g]",
        secondary_y=True,
        showgrid=False,
        rangemode="tozero",
        tickmode="auto",
        nticks=6,
        tickformat=".3~g",
    )
    duration = float(t_all[-1])
    ranges = _time_ranges(duration)
    fig.update_layout(updatemenus=_buttons(False, ranges), hovermode="closest")
    first = ranges[0][1]
    if first is not None:
        fig.update_xaxes(range=[0, first * 1.05 if first == 168 else first])
    return fig


def clearance_figure(run: ScenarioRun) -> go.Figure:
    """Cumulative urine and feces and the amount still in the body [%ID] over the whole run (in
    days), with the 30- and 90-day retention marked."""
    bd = run.biodistribution
    t_all = bd.times_h
    idx = _plot_indices(t_all)
    days = t_all[idx] / 24.0
    urine = bd.amount("urine").isel(subject=0).values[idx]
    feces = bd.amount("feces").isel(subject=0).values[idx]
    body = bd.data["amount_pct_id"].isel(subject=0).drop_sel(organ=list(EXCRETA)).sum("organ").values[idx]
    fig = go.Figure()
    series = (
        ("in the body", body, "#333333", "solid"),
        ("urine (cumulative)", urine, ORGAN_COLORS["urine"], "solid"),
        ("feces (cumulative)", feces, ORGAN_COLORS["feces"], "solid"),
        ("excreted (urine + feces)", urine + feces, "#8a8a8a", "dash"),
    )
    for name, values, color, dash in series:
        fig.add_trace(
            go.Scatter(
                x=days,
                y=values,
                mode="lines",
                name=name,
                line={"color": color, "width": 2.2, "dash": dash},
                hovertemplate="%{y:.3g} %ID<extra>" + name + "</extra>",
            )
        )
    marks = [
        (label, when, run.metric(name).value)
        for label, when, name in (
            ("30 d", 30.0, "retention_30d_pct_id"),
            ("90 d", 90.0, "retention_90d_pct_id"),
        )
        if np.isfinite(run.metric(name).value)
    ]
    if marks:
        fig.add_trace(
            go.Scatter(
                x=[m[1] for m in marks],
                y=[m[2] for m in marks],
                mode="markers",
                name="retention 30 d · 90 d",
                text=[f"{m[0]}: {format_value(m[2])} %ID" for m in marks],
                marker={"size": 10, "color": "#111", "symbol": "diamond"},
                hovertemplate="%{text}<extra>retention</extra>",
            )
        )
        for k, (label, when, value) in enumerate(marks):
            # arrows of different lengths keep the two labels apart on the log axis
            down = 1 if value > 50 else -1
            fig.add_annotation(
                x=float(np.log10(when)),
                y=value,
                text=f"retention {label}: {format_value(value)} %ID",
                showarrow=True,
                arrowhead=0,
                arrowcolor="#555",
                ax=-40,
                ay=down * (28 + 30 * k),
                xanchor="right",
                font={"size": 11},
                bgcolor="rgba(255,255,255,0.8)",
            )
    _base_layout(
        fig, "Clearance and retention", "amount [%ID]", x_title="time after injection [d] (log scale)"
    )
    _legend_below(fig)
    fig.update_yaxes(range=[-2, 105])
    # excretion spans hours (renal) to months (hepatobiliary): a log time axis shows both
    fig.update_xaxes(type="log")
    # annotations on a log axis are placed in log10 units: move them with the axis type
    linear_extra = {f"annotations[{k}].x": m[1] for k, m in enumerate(marks)}
    log_extra = {f"annotations[{k}].x": float(np.log10(m[1])) for k, m in enumerate(marks)}
    fig.update_layout(
        updatemenus=_buttons(
            False, [], x_log_toggle=True, x_log_default=True, x_extra=(linear_extra, log_extra)
        )
    )
    return fig


def _figure_html(fig: go.Figure, div_id: str) -> Markup:
    text = pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        div_id=div_id,
        config=_PLOT_CONFIG,
        default_width="100%",
    )
    return Markup(text)


# --------------------------------------------------------------------------------------------
# Tables and text
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of a property table."""

    label: str
    value: str
    unit: str = ""
    assumed: bool = False
    note: str = ""


def _num(value: float | None) -> str:
    return "—" if value is None else format_value(float(value), digits=4)


def spec_rows(agent: AgentSpec) -> list[Row]:
    """The agent spec as a property table (values with units; assumed fields flagged)."""
    assumed = set(agent.assumed_fields)
    rows = [
        Row(
            "core material", agent.material.display_name or agent.core_material, note=agent.material.category
        ),
        Row("core diameter", _num(agent.core_diameter_nm), "nm", "core_diameter_nm" in assumed),
        Row(
            "hydrodynamic diameter",
            _num(agent.hydrodynamic_diameter_nm),
            "nm",
            "hydrodynamic_diameter_nm" in assumed,
        ),
        Row(
            "shape",
            agent.shape + (f" (aspect ratio {_num(agent.aspect_ratio)})" if agent.aspect_ratio != 1 else ""),
            assumed="shape" in assumed,
        ),
        Row("zeta potential", _num(agent.zeta_potential_mV), "mV", "zeta_potential_mV" in assumed),
    ]
    coating = agent.coating
    rows.append(
        Row("coating", coating.kind, assumed="coating.kind" in assumed, note=coating.description or "")
    )
    if coating.peg_mw_Da is not None:
        rows.append(
            Row("PEG molecular weight", _num(coating.peg_mw_Da), "Da", "coating.peg_mw_Da" in assumed)
        )
    if coating.peg_density_chains_per_nm2 is not None:
        rows.append(
            Row(
                "PEG grafting density",
                _num(coating.peg_density_chains_per_nm2),
                "chains/nm²",
                "coating.peg_density_chains_per_nm2" in assumed,
            )
        )
    rows.append(
        Row(
            "targeting ligand",
            agent.targeting_ligand or "none (passive targeting)",
            assumed="targeting_ligand" in assumed,
        )
    )
    rows.append(Row("biodegradable", "yes" if agent.biodegradable else "no"))
    density = agent.effective_core_density_g_per_cm3
    if density is not None:
        rows.append(
            Row(
                "core density",
                _num(density),
                "g/cm³",
                "core_density_g_per_cm3" in assumed,
                note="" if agent.core_density_g_per_cm3 is not None else "material catalog",
            )
        )
    labels = agent.labels
    if labels.radionuclide is not None:
        rn = labels.radionuclide
        rows.append(
            Row(
                "radionuclide",
                rn.entry.display_name or rn.nuclide,
                note=f"t½ {format_value(rn.entry.half_life_h)} h; {rn.entry.decay_mode_for_imaging}"
                + (f"; chelator {rn.chelator}" if rn.chelator else ""),
            )
        )
        if rn.activity_MBq is not None:
            rows.append(
                Row(
                    "activity (label)",
                    _num(rn.activity_MBq),
                    "MBq",
                    "labels.radionuclide.activity_MBq" in assumed,
                )
            )
    if labels.fluorophore is not None:
        fl = labels.fluorophore
        rows.append(Row("fluorophore", fl.name, note=f"{fl.window} window"))
        rows.append(Row("excitation / emission", f"{_num(fl.excitation_nm)} / {_num(fl.emission_nm)}", "nm"))
        rows.append(
            Row(
                "dyes per particle",
                _num(fl.dyes_per_particle),
                "",
                "labels.fluorophore.dyes_per_particle" in assumed,
            )
        )
    if labels.mri is not None:
        mri = labels.mri
        rows.append(Row("MRI contrast element", mri.element, note=mri.medium or ""))
        rows.append(
            Row(
                "relaxivity r1 / r2",
                f"{_num(mri.r1_per_mM_per_s)} / {_num(mri.r2_per_mM_per_s)}",
                "mM⁻¹ s⁻¹",
                note=f"at {_num(mri.field_T)} T",
            )
        )
    if labels.ct is not None:
        ct = labels.ct
        rows.append(Row("CT contrast element", ct.element))
        if ct.mass_mg_per_particle_dose is not None:
            rows.append(Row("CT element per dose", _num(ct.mass_mg_per_particle_dose), "mg"))
        if ct.element_mass_fraction is not None:
            rows.append(Row("CT element mass fraction", _num(ct.element_mass_fraction), ""))
    rows.append(Row("imaging modalities", ", ".join(agent.modalities) or "none (label-free)"))
    return rows


def scenario_rows(run: ScenarioRun) -> list[Row]:
    """The scenario and the run's derived inputs as a property table."""
    sc: Scenario = run.scenario
    assumed = set(sc.assumed_fields)
    rows = [
        Row("species", sc.species_entry.display_name or sc.species),
        Row("body weight", _num(sc.body_weight_kg), "kg", "body_weight_kg" in assumed),
    ]
    if sc.dose_mg_per_kg is not None:
        rows.append(
            Row(
                "dose",
                _num(sc.dose_mg_per_kg),
                "mg/kg",
                "dose_mg_per_kg" in assumed,
                note=f"{format_value(sc.dose_mg or 0.0)} mg in total",
            )
        )
    if sc.activity_MBq is not None:
        rows.append(Row("activity", _num(sc.activity_MBq), "MBq", "activity_MBq" in assumed))
    rows.append(Row("route", "intravenous bolus" if sc.route == "iv" else sc.route))
    if sc.tumor is not None:
        rows.append(
            Row(
                "tumour volume",
                _num(sc.tumor.volume_mm3),
                "mm³",
                "tumor.volume_mm3" in assumed,
                note=", ".join(x for x in (sc.tumor.site, sc.tumor.model or "") if x),
            )
        )
    else:
        rows.append(Row("tumour", "none given", note="generic tumour values of the parameter set"))
    rows.append(
        Row(
            "simulated time",
            _num(sc.duration_h),
            "h",
            note=f"output every {format_value(sc.output_interval_h)} h",
        )
    )
    rows.append(Row("parameter set", run.parameter_set))
    rows.append(
        Row(
            "renal clearance of the particle",
            _num(run.renal_clearance_L_per_h),
            "L/h",
            note="GFR × glomerular sieving of the hydrodynamic diameter",
        )
    )
    rows.append(
        Row(
            "phagocytic (MPS) uptake multiplier",
            _num(run.mps_multiplier),
            "×",
            note="size, charge and PEG relative to the parameter set's particle",
        )
    )
    if run.tumor_params:
        rows.append(
            Row(
                "tumour parameters",
                "replayed calibration",
                note=(run.tumor_params_source or "")
                + ": "
                + ", ".join(f"{k} {format_value(v)}" for k, v in run.tumor_params.items()),
            )
        )
    return rows


def metric_rows(run: ScenarioRun) -> list[Row]:
    """Metrics of a run (headline metrics first, then the other organs' AUCs)."""
    rows: list[Row] = []
    shown = [m for m in TABLE_METRICS if m in run.metrics]
    shown += [m for m in run.metrics if m.startswith("auc_") and m not in shown]
    for name in shown:
        metric = run.metrics[name]
        label, description = METRIC_INFO.get(name, (name, ""))
        if name.startswith("auc_") and name not in METRIC_INFO:
            organ = name.removeprefix("auc_").removesuffix("_pct_id_h")
            label, description = (
                f"AUC {ORGAN_LABELS.get(organ, organ)}",
                f"area under the {organ} amount curve",
            )
        rows.append(Row(label, format_value(metric.value), metric.unit, note=description))
    return rows


def model_choices() -> list[tuple[str, str]]:
    """The model's documented departures from the reference code, read from the docstring of
    :mod:`nanobridge.science.pbpk.model` (``N. **Title.** text`` items)."""
    doc = pbpk_model.__doc__ or ""
    items = re.findall(r"^\s*\d+\.\s+\*\*(.+?)\*\*\s*(.+?)(?=^\s*\d+\.\s+\*\*|^\s*$)", doc, re.M | re.S)
    out = [(title.strip().rstrip("."), " ".join(text.split())) for title, text in items]
    if out:
        return out
    return [
        ("Venous return of the liver", "the liver returns hepatic-artery plus splenic flow to the veins"),
        (
            "Uptake evaluated in continuous time",
            "the phagocytic uptake rate is evaluated at every solver time",
        ),
    ]


def _model_summary() -> str:
    doc = pbpk_model.__doc__ or ""
    first = doc.strip().split("\n\n")
    return " ".join(first[1].split()) if len(first) > 1 else ""


def _code(text: str) -> Markup:
    """``code`` spans of the model docstring as <code> (escaped)."""
    escaped = html.escape(text)
    marked = re.sub(r"``(.+?)``", r"<code>\1</code>", escaped)
    marked = re.sub(r"(?<![\w*])\*(\w[^*]*?)\*(?![\w*])", r"<em>\1</em>", marked)
    return Markup(marked)


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("nanobridge", "templates"),
        autoescape=select_autoescape(["html", "j2", "html.j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = format_value
    env.filters["code"] = _code
    return env


def render_report(
    assessments: Sequence[Assessment],
    *,
    title: str | None = None,
    generated_at: datetime | None = None,
    run_files: Mapping[str, str] | None = None,
    qc: QCExampleSummary | None = None,
    qc_files: Mapping[str, str] | None = None,
    safety: Sequence[SafetyReport] | None = None,
    dossier: Mapping[str, str] | None = None,
    sln: SLNDemo | None = None,
) -> str:
    """The report as HTML text.

    ``run_files`` maps a run's subject id (``'<agent>/<species>'``) to a file name (relative to
    the report) to link as that run's data download. ``qc`` adds the "Manufacturing QC" section
    (:func:`nanobridge.workflows.qc.qc_example_summary`), its citations join the reference list;
    ``qc_files`` maps a label to a data file (relative to the report) to link from it. ``safety``
    adds a "Safe-by-design" section with one findings table per agent
    (:func:`nanobridge.workflows.safety.safety_from_assessment`). ``dossier`` (keys ``agent``,
    ``href``, ``score`` and optionally ``pdf``) links an IND readiness dossier written beside the report.
    ``sln`` adds the sentinel-lymph-node section (:func:`nanobridge.workflows.sln.sln_demo`).
    """
    if not assessments:
        raise ValueError("render_report() needs at least one assessment")
    when = generated_at or datetime.now(UTC)
    files = dict(run_files or {})
    agents: list[dict[str, Any]] = []
    keys: list[str] = []
    summary: list[dict[str, Any]] = []
    for a_index, assessment in enumerate(assessments):
        keys.extend(assessment.citations)
        anchor = f"agent-{a_index + 1}-{_slug(assessment.agent.name)}"
        runs: list[dict[str, Any]] = []
        for r_index, run in enumerate(assessment.runs):
            prefix = f"fig-{a_index + 1}-{r_index + 1}"
            run_anchor = f"{anchor}-{_slug(run.species)}-{r_index + 1}"
            subject = run.biodistribution.subjects[0]
            runs.append(
                {
                    "anchor": run_anchor,
                    "species": run.species,
                    "title": run.label,
                    "description": run.scenario.description,
                    "scenario_rows": scenario_rows(run),
                    "metric_rows": metric_rows(run),
                    "notes": list(run.notes),
                    "citations": list(run.citations),
                    "data_file": files.get(subject),
                    "figures": [
                        _figure_html(organ_figure(run, "amount_pct_id"), f"{prefix}-amount"),
                        _figure_html(organ_figure(run, "conc_pct_id_per_g"), f"{prefix}-conc"),
                        _figure_html(tumor_figure(run), f"{prefix}-tumor"),
                        _figure_html(clearance_figure(run), f"{prefix}-clearance"),
                    ],
                    "solver": str(run.biodistribution.data.attrs.get("solver", "")),
                    "dose": _dose_block(run),
                    "imaging": [
                        {
                            "modality": im.modality.upper(),
                            "setting": im.setting,
                            "rows": [
                                Row(
                                    h.name,
                                    h.value if isinstance(h.value, str) else _num(h.value),
                                    h.unit,
                                    note=h.meaning,
                                )
                                for h in im.headlines
                            ],
                            "figure": _figure_html(
                                imaging_figure(im, assessment.agent.name), f"{prefix}-img-{im.modality}"
                            ),
                            "assumptions": im.assumptions,
                        }
                        for im in run.imaging
                    ],
                }
            )
            summary.append(
                {
                    "agent": assessment.agent.name,
                    "anchor": run_anchor,
                    "species": run.species,
                    "values": [run.metrics[m].text if m in run.metrics else "—" for m in SUMMARY_METRICS],
                }
            )
        agents.append(
            {
                "anchor": anchor,
                "name": assessment.agent.name,
                "description": assessment.agent.description,
                "spec_rows": spec_rows(assessment.agent),
                "assumptions": list(assessment.notes),
                "citations": list(assessment.agent.citation_keys()),
                "runs": runs,
            }
        )
    if qc is not None:
        keys.extend(qc.citations)
    safety_blocks: list[dict[str, Any]] = []
    for rep in safety or ():
        from nanobridge.workflows.safety import safety_section_html

        keys.extend(rep.citation_keys)
        safety_blocks.append(
            {
                "agent": rep.agent,
                "html": Markup(safety_section_html(rep, section_id=f"safety-{_slug(rep.agent)}")),
            }
        )
    if sln is not None:
        keys.extend(sln.citation_keys)
    references = unique_references(dict.fromkeys(keys))
    ref_numbers = {ref.key: i + 1 for i, ref in enumerate(references)}
    ref_target = {ref.key: ref.key for ref in references}
    # keys that were dropped as duplicates (same DOI) point at the kept entry
    for key in dict.fromkeys(keys):
        if key not in ref_numbers:
            doi = (get_reference(key).doi or "").lower()
            for ref in references:
                if doi and (ref.doi or "").lower() == doi:
                    ref_numbers[key] = ref_numbers[ref.key]
                    ref_target[key] = ref.key
    names = [a.agent.name for a in assessments]
    default_title = "nanobridge assessment: " + ", ".join(names)
    summary_headers = [
        (METRIC_INFO[m][0], METRIC_INFO[m][1]) if m in METRIC_INFO else (m, "") for m in SUMMARY_METRICS
    ]
    context = {
        "title": title or default_title,
        "generated": when.strftime("%Y-%m-%d %H:%M UTC"),
        "generated_iso": when.isoformat(timespec="seconds"),
        "nanobridge_version": nanobridge.__version__,
        "model_version": MODEL_VERSION,
        "model_summary": _model_summary(),
        "model_choices": model_choices(),
        "agents": agents,
        "several_agents": len(assessments) > 1,
        "summary_headers": summary_headers,
        "summary": summary,
        "references": [
            {"number": ref_numbers[r.key], "key": r.key, "text": r.formatted(), "doi": r.doi, "note": r.note}
            for r in references
        ],
        "ref_numbers": ref_numbers,
        "ref_target": ref_target,
        "plotlyjs": Markup(get_plotlyjs()),
        "qc": None if qc is None else _qc_block(qc, qc_files or {}),
        "safety": safety_blocks,
        "dossier": dict(dossier) if dossier else None,
        "sln": None if sln is None else _sln_block(sln),
    }
    return _environment().get_template("report.html.j2").render(**context)


def write_report(
    assessments: Sequence[Assessment],
    path: str | Path,
    *,
    title: str | None = None,
    generated_at: datetime | None = None,
    run_files: Mapping[str, str] | None = None,
    qc: QCExampleSummary | None = None,
    qc_files: Mapping[str, str] | None = None,
    safety: Sequence[SafetyReport] | None = None,
    dossier: Mapping[str, str] | None = None,
    sln: SLNDemo | None = None,
) -> Path:
    """Render :func:`render_report` to ``path`` (``.html``/``.htm``); returns the path."""
    p = Path(path)
    if p.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"cannot write the report to '{p}': use a .html file name")
    text = render_report(
        assessments,
        title=title,
        generated_at=generated_at,
        run_files=run_files,
        qc=qc,
        qc_files=qc_files,
        safety=safety,
        dossier=dossier,
        sln=sln,
    )
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def _sln_block(sln: SLNDemo) -> dict[str, Any]:
    """Figures and tables of the sentinel-lymph-node section."""
    from nanobridge.workflows.sln import sln_figure

    def fmt(value: float | None, unit: str = "") -> str:
        if value is None or not math.isfinite(value):
            return "—"
        return format_value(value) + (f" {unit}" if unit else "")

    runs = []
    for i, run in enumerate(sln.assessments):
        tc = run.time_course
        window = (
            f"{fmt(tc.window_start_h)}–{fmt(tc.window_end_h)} h"
            if tc.window_start_h is not None and tc.window_end_h is not None
            else "none (node 2 follows node 1 too closely)"
        )
        rows = [
            ("depot half-time", fmt(tc.depot_half_life_h, "h")),
            ("share of depot clearance to the lymph", fmt(100 * tc.lymph_fraction, "%")),
            ("node retention per pass", fmt(tc.node_retention_per_pass)),
            (
                f"node 1 ({tc.first_node}) peak",
                f"{fmt(tc.peak_node_1_pct_id, '%ID')} at {fmt(tc.peak_node_1_time_h, 'h')}",
            ),
            ("imaging window", window),
        ]
        runs.append(
            {
                "title": f"{tc.species}: {tc.route} at the {tc.injection_site}",
                "rows": rows,
                "figure": _figure_html(sln_figure(tc), f"fig-sln-{i}"),
                "notes": list(run.notes) + list(tc.assumptions),
            }
        )
    comparison = [
        {
            "agent": r["agent"],
            "d": fmt(r["hydrodynamic_diameter_nm"], "nm"),
            "depot": fmt(r["depot_half_life_h"], "h"),
            "peak": f"{fmt(r['peak_node_1_pct_id'], '%ID')} at {fmt(r['peak_node_1_time_h'], 'h')}",
            "n1_24": fmt(r["node_1_pct_id_24h"], "%ID"),
            "n2_24": fmt(r["node_2_pct_id_24h"], "%ID"),
        }
        for r in sln.comparison
    ]
    return {"runs": runs, "comparison": comparison, "comparison_scenario": sln.comparison_scenario}


def _dose_block(run: ScenarioRun) -> dict[str, Any] | None:
    """Rows of the dosimetry table of a run (None when the agent has no radionuclide)."""
    rep = run.dose
    if rep is None:
        return None
    tiac = rep.tiac_h.isel(subject=0)
    per_mbq = rep.absorbed_dose_mGy_per_MBq.isel(subject=0)
    at = None if rep.absorbed_dose_mGy is None else rep.absorbed_dose_mGy.isel(subject=0)
    rows = []
    for organ in [str(t) for t in per_mbq["target"].values]:
        t_val = float(tiac.sel(source=organ)) if organ in tiac["source"].values else None
        rows.append(
            {
                "organ": organ,
                "tiac": _num(t_val),
                "per_mbq": _num(float(per_mbq.sel(target=organ))),
                "at": "—" if at is None else _num(float(at.sel(target=organ))),
            }
        )
    effective = None
    if rep.effective_dose_mSv_per_MBq is not None:
        effective = _num(float(rep.effective_dose_mSv_per_MBq.isel(subject=0)))
    return {
        "title": f"{rep.nuclide} · {rep.dose_factor_model}",
        "partial": rep.partial,
        "activity": None if rep.activity_MBq is None else _num(rep.activity_MBq),
        "rows": rows,
        "effective": effective,
        "weight_covered": f"{rep.effective_dose_weight_covered:.2f}",
        "limits": [
            f"{c.quantity} ({c.target}): {_num(c.dose_mSv)} mSv{' (lower bound)' if c.lower_bound else ''} — "
            f"{'EXCEEDS' if c.exceeds else 'within'} the {_num(c.limit_mSv)} mSv limit ({c.citation_key})"
            for c in rep.limit_checks
        ],
        "not_included": list(rep.not_included),
    }


def imaging_figure(summary: ImagingSummary, title: str = "") -> go.Figure:
    """Contrast and contrast-to-noise over time; beside it, the modality's second view (CNR vs
    activity or dose, or tumour-to-background ratio vs depth) with its detection threshold."""
    ts = summary.timeseries
    curve = summary.curve
    if curve is None:
        fig = make_subplots(specs=[[{"secondary_y": True}]])
    else:
        fig = make_subplots(
            rows=1,
            cols=2,
            specs=[[{"secondary_y": True}, {}]],
            column_widths=[0.6, 0.4],
            horizontal_spacing=0.14,
        )
    fig.add_trace(
        go.Scatter(x=ts["time_h"], y=ts["contrast"], name="contrast (tumour vs background)"),
        row=1,
        col=1,
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(x=ts["time_h"], y=ts["cnr"], name="contrast-to-noise", line={"dash": "dot"}),
        row=1,
        col=1,
        secondary_y=True,
    )
    fig.update_xaxes(title_text="time after injection [h] (log scale)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="contrast", secondary_y=False, row=1, col=1)
    fig.update_yaxes(title_text="CNR", secondary_y=True, row=1, col=1)
    if curve is not None:
        fig.add_trace(go.Scatter(x=curve.x, y=curve.y, name=curve.y_label), row=1, col=2)
        if curve.threshold is not None:
            fig.add_hline(y=curve.threshold, line_dash="dash", line_color="grey", row=1, col=2)
        fig.update_xaxes(title_text=curve.x_label, type="log" if curve.log_x else "linear", row=1, col=2)
        fig.update_yaxes(title_text=curve.y_label, type="log" if curve.log_x else "linear", row=1, col=2)
    fig.update_layout(
        title=f"{title} · {summary.modality.upper()} · {summary.setting}",
        template="plotly_white",
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def imaging_figure_html(summary: ImagingSummary, title: str = "") -> str:
    """A self-contained HTML page (plotly.js inline, no network) of :func:`imaging_figure`."""
    return str(imaging_figure(summary, title).to_html(include_plotlyjs=True, full_html=True))


# --------------------------------------------------------------------------------------------
# Manufacturing QC section
# --------------------------------------------------------------------------------------------

#: What the QC analyses cannot do, shown under the report's QC section.
QC_LIMITS: tuple[tuple[str, str], ...] = (
    (
        "DLS",
        "intensity weighting (~d⁶) lets a few large particles, aggregates or dust dominate the Z-average; "
        "populations closer than a factor of ~2–3 in size merge into one peak and peak widths reflect the "
        "regularization; volume and number distributions assume homogeneous spheres and are for orientation "
        "only; turbid or concentrated samples and non-spherical particles give apparent values; the PDI "
        "depends on the fit window, so the settings are stored with every result.",
    ),
    (
        "TEM sizing",
        "projections only: overlapping particles are merged or split with lost area; continuous aggregates "
        "without background between particles cannot be separated; roughly convex particles are assumed; "
        "particles under ~8 px across are not sized reliably; no edge-bias correction; the scale-bar length "
        "is given by the operator (no OCR); the outlines must be reviewed on the overlay.",
    ),
    (
        "SPC",
        "limits from fewer than 20–25 lots are themselves uncertain (signals are provisional); capability "
        "indices assume a stable, normal process and are imprecise for fewer than 30 lots — read the "
        "confidence intervals.",
    ),
    (
        "Comparability",
        "tier assignment is the sponsor's risk assessment (ICH Q5E); the 1.5 × SD margin comes from "
        "FDA's withdrawn 2017 draft guidance; with few lots the equivalence test has little power; lots "
        "are treated as independent samples of each process.",
    ),
)


def _qc_block(qc: QCExampleSummary, files: Mapping[str, str]) -> dict[str, Any]:
    """Template context of the "Manufacturing QC" section."""
    from nanobridge.workflows.qc import format_peaks, overlay_data_uri

    figures = qc.figures

    def fig(name: str) -> Markup | None:
        return _figure_html(figures[name], f"fig-qc-{_slug(name)}") if name in figures else None

    dls = qc.dls
    cond = dls.conditions
    dls_rows = []
    for a in dls.analyses:
        c = a.cumulants
        d = a.distribution
        dls_rows.append(
            {
                "angle": f"{a.angle_deg:g}",
                "z": _num(c.z_average_nm),
                "rh": _num(c.hydrodynamic_radius_nm),
                "pdi": f"{c.pdi:.3f}",
                "intercept": f"{c.intercept:.3f}",
                "verdict": a.quality.verdict,
                "flags": "; ".join(f.message for f in a.quality.flags if f.severity != "info"),
                "peaks": "—" if d is None else format_peaks(d.intensity_peaks),
            }
        )
    multi = None
    m = dls.multi_angle_result
    if m is not None:
        multi = (
            f"Rh extrapolated to q² → 0: {_num(m.radius_q0_nm)} ± {format_value(m.radius_q0_se_nm, 2)} nm "
            f"(D₀ = {format_value(m.diffusion_q0_m2_per_s)} m²/s); mean of the {len(m.points)} per-angle "
            f"Rh {_num(m.radius_mean_nm)} ± {format_value(m.radius_sd_nm, 2)} nm; mean PDI "
            f"{m.pdi_mean:.3f} ± {m.pdi_sd:.3f}"
        )
    cs = dls.cumulant_settings
    settings = (
        f"cumulants of order {cs.order}, weights (g2−1)², window from {format_value(cs.min_lag_s * 1e6)} µs "
        f"to g2−1 < {format_value(cs.cutoff_fraction)} × intercept"
    )
    if dls.inversion_settings is not None:
        inv = dls.inversion_settings
        settings += (
            f"; regularized NNLS inversion on {inv.n_diameters} log-spaced diameters, α by "
            f"{'GCV' if inv.regularization == 'gcv' else 'fixed value'}, "
            f"{inv.form_factor.upper()} form factor"
        )
    tem = qc.tem
    r = tem.result
    dist = r.distribution
    tem_rows = [
        Row(
            "counted particles",
            str(r.count),
            note=f"{len(r.particles) - r.count} excluded (edge, annotation)",
        ),
        Row("pixel size", _num(r.nm_per_px), "nm/px", note=r.calibration.replace("_", " ")),
    ]
    if dist is not None:
        tem_rows += [
            Row(
                "ECD mean ± SD", f"{_num(dist.mean_nm)} ± {_num(dist.sd_nm)}", "nm", note=f"CV {dist.cv:.1%}"
            ),
            Row("D10 / D50 / D90", f"{_num(dist.d10_nm)} / {_num(dist.d50_nm)} / {_num(dist.d90_nm)}", "nm"),
            Row("volume-weighted mean D[4,3]", _num(dist.volume_mean_nm), "nm"),
        ]
    if r.feret_max_distribution is not None:
        tem_rows.append(Row("max Feret diameter, mean", _num(r.feret_max_distribution.mean_nm), "nm"))
    if r.aspect_ratio_mean is not None:
        tem_rows.append(Row("aspect ratio, mean", _num(r.aspect_ratio_mean), "", note="Feret max / min"))
    if r.circularity_mean is not None:
        tem_rows.append(Row("circularity, mean", _num(r.circularity_mean), "", note="4πA/P²"))
    tem_rows.append(
        Row(
            "coverage · split fraction",
            f"{r.coverage_fraction:.1%} · {r.split_fraction:.1%}",
            note="reliable" if r.reliable else "NOT reliable (see warnings)",
        )
    )
    truth = None
    if tem.true_diameters_nm is not None and dist is not None:
        true = tem.true_diameters_nm
        truth = (
            f"Known truth of the synthetic image: {len(true)} particles inside the field, mean ECD "
            f"{_num(float(true.mean()))} nm; found {r.count} ({(r.count - len(true)) / len(true):+.1%}), "
            f"mean ECD {_num(dist.mean_nm)} nm ({dist.mean_nm / float(true.mean()) - 1:+.1%})."
        )
    spc = []
    for run in qc.spc:
        cap = run.capability
        spc.append(
            {
                "title": run.title,
                "note": run.baseline_note,
                "violations": [
                    f"{v.rule}{' (in the baseline)' if v.in_baseline else ''}: {v.explanation}"
                    for v in run.chart.violations
                ],
                "warnings": list(run.chart.warnings) + (list(cap.warnings) if cap is not None else []),
                "capability": None
                if cap is None
                else f"{cap.summary()} — lots {run.capability_lots[0]}–{run.capability_lots[-1]}; "
                f"{cap.normality}",
                "figures": [
                    f for f in (fig(f"imr_{run.attribute}"), fig(f"capability_{run.attribute}")) if f
                ],
            }
        )
    releases = [
        {
            "batch": d.batch_id,
            "scale": d.scale,
            "decision": d.decision,
            "decision_text": d.decision_text,
            "counts": ", ".join(f"{n} {status}" for status, n in sorted(d.counts().items())),
            "reasons": [reason for reason in d.reasons if not reason.startswith("all ")][:4],
        }
        for d in qc.releases
    ]
    comp = qc.comparability
    comp_rows = [
        {
            "attribute": a.title,
            "tier": a.tier,
            "unit": a.unit,
            "reference": row["reference"],
            "test": row["test"],
            "difference": "—"
            if a.difference is None
            else format_value(a.difference)
            + (
                f" ({format_value(a.difference_ci[0])} to {format_value(a.difference_ci[1])})"
                if a.difference_ci is not None
                else ""
            ),
            "verdict": a.verdict,
        }
        for a, row in zip(comp.attributes, comp.table(), strict=True)
    ]
    comp_figures = [fig("equivalence")] + [fig(n) for n in figures if n.startswith("comparability_")]
    counts = qc.lot_counts
    return {
        "inputs": [
            ("DLS", qc.files["dls"].name),
            (
                "TEM",
                qc.files["tem"].name
                if "tem" in qc.files
                else "synthetic micrograph (no example image packaged)",
            ),
            ("lot history", qc.files["history"].name),
            ("specification", qc.files["spec"].name),
        ],
        "data_files": [(label, href) for label, href in files.items()],
        "lots": ", ".join(f"{n} {scale}" for scale, n in counts.items()),
        "specification": qc.specification.label,
        "dls": {
            "file": dls.path.name,
            "format": dls.file_format.upper(),
            "conditions": (
                f"{_num(cond.temperature_K)} K, viscosity {_num(cond.viscosity_mPa_s)} mPa·s, solvent "
                f"refractive index {_num(cond.solvent_refractive_index)}, {_num(cond.wavelength_nm)} nm"
            ),
            "assumed": list(dls.assumed),
            "settings": settings,
            "rows": dls_rows,
            "multi": multi,
            "multi_note": "; ".join(dls.multi_angle_notes[:3]),
            "figure": fig("dls"),
        },
        "tem": {
            "description": tem.description,
            "rows": tem_rows,
            "warnings": list(r.warnings),
            "overlay": overlay_data_uri(tem.image, r),
            "figure": fig("tem"),
            "truth": truth,
        },
        "spc": spc,
        "releases": releases,
        "comparison": {
            "rows": comp_rows,
            "conclusion": [line for line in comp.conclusion.splitlines() if line.strip()],
            "caveats": list(comp.caveats),
            "figures": [f for f in comp_figures if f is not None],
        },
        "limits": list(QC_LIMITS),
        "citations": list(qc.citations),
    }
