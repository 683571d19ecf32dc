"""Command-line options of the interstitial (sentinel-lymph-node) routes for ``nanobridge simulate``.

``cli.py`` wires these into ``simulate``::

    scenario = _resolve_scenario(species, scenario_file, body_weight_kg, duration_h)
    scenario = route_options_to_scenario(scenario, route, site, injection_volume_mL)
    ...
    table = sln_summary_table(run.biodistribution)
    if table is not None:
        console.print(table)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

if TYPE_CHECKING:  # heavy modules stay out of the CLI's start-up (imported where used)
    from nanobridge.domain import Scenario
    from nanobridge.science.pbpk.biodistribution import Biodistribution

__all__ = [
    "InjectionVolumeOpt",
    "RouteOpt",
    "SiteOpt",
    "route_options_to_scenario",
    "sln_summary_table",
]

RouteOpt = Annotated[
    str | None,
    typer.Option(
        "--route",
        help="Route: iv (default), subcutaneous (sc), intradermal (id) or peritumoral; the last three "
        "need --site.",
    ),
]
SiteOpt = Annotated[
    str | None,
    typer.Option(
        "--site",
        help="Injection site of an interstitial route, e.g. hind_footpad, forepaw, flank (mouse); "
        "breast, head_neck_skin (human).",
    ),
]
InjectionVolumeOpt = Annotated[
    float | None,
    typer.Option("--injection-volume-ml", help="Injected volume \\[mL] (default: the site's usual volume)."),
]


def route_options_to_scenario(
    scenario: Scenario,
    route: str | None,
    site: str | None,
    injection_volume_mL: float | None = None,
) -> Scenario:
    """``scenario`` with the route, injection site and volume of the command line applied.

    No options: the scenario unchanged. ``--site`` or ``--injection-volume-ml`` without
    ``--route`` apply to the scenario's own route. Switching to ``iv`` drops a site the scenario
    had. Raises ``ValueError`` (a :class:`~nanobridge.domain.SpecError` for what the scenario
    rejects) naming the option, the value and what is allowed: an unknown route, a site unknown
    for the species or not used with that route, an interstitial route without a site, a
    species without lymphatic parameters, a volume that is not a positive number.
    """
    if route is None and site is None and injection_volume_mL is None:
        return scenario
    if injection_volume_mL is not None and not (
        math.isfinite(injection_volume_mL) and injection_volume_mL > 0
    ):
        raise ValueError(f"--injection-volume-ml {injection_volume_mL!r}: must be a number > 0 (mL)")
    changes: dict[str, object] = {}
    if route is not None:
        if not route.strip():
            from nanobridge.domain.scenario import SUPPORTED_ROUTES

            raise ValueError(f"--route is empty; allowed: {', '.join(SUPPORTED_ROUTES)}")
        changes["route"] = route
    target_route = route if route is not None else scenario.route
    if str(target_route).strip().lower() in ("iv", "i.v.", "intravenous"):
        if site is not None or injection_volume_mL is not None:
            what = "--site" if site is not None else "--injection-volume-ml"
            raise ValueError(
                f"{what} is only for the interstitial routes (subcutaneous, intradermal, peritumoral); "
                "add --route subcutaneous (or intradermal, peritumoral)"
            )
        changes["injection_site"] = None  # evolve(): None removes the field
        changes["injection_volume_mL"] = None
    else:
        if site is not None:
            changes["injection_site"] = site
        if injection_volume_mL is not None:
            changes["injection_volume_mL"] = injection_volume_mL
    return scenario.evolve(**changes)


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "—"
    text = f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def sln_summary_table(bd: Biodistribution) -> Table | None:
    """A table of the node time course for an interstitial route; ``None`` for IV."""
    if "lymph_node_1" not in bd.organs:
        return None
    from nanobridge.workflows.sln import sln_time_course

    tc = sln_time_course(bd)
    table = Table(
        title=f"Sentinel lymph node · {tc.route} at {tc.injection_site} · {tc.first_node} → {tc.second_node}",
        title_justify="left",
        header_style="bold",
    )
    table.add_column("time [h]", justify="right")
    table.add_column("injection site [%ID]", justify="right")
    table.add_column("node 1 [%ID]", justify="right")
    table.add_column("node 2 [%ID]", justify="right")
    table.add_column("node 1 / site", justify="right")
    table.add_column("node 1 / background", justify="right")
    end = tc.times_h[-1]
    for t in (0.5, 1.0, 2.0, 4.0, 6.0, 24.0, 48.0, 168.0):
        if t > end + 1e-9:
            continue
        table.add_row(
            f"{t:g}",
            _fmt(tc.at("injection_site_pct_id", t)),
            _fmt(tc.at("node_1_pct_id", t)),
            _fmt(tc.at("node_2_pct_id", t)),
            _fmt(tc.at("node_1_to_injection_site", t)),
            _fmt(tc.at("node_1_to_background", t)),
        )
    if tc.window_start_h is None:
        window = "none (node 2 follows node 1 too closely)"
    else:
        window = f"{tc.window_start_h:g}–{tc.window_end_h:g} h"
    table.caption = (
        f"depot half-time {_fmt(tc.depot_half_life_h, 'h')}, {tc.lymph_fraction:.0%} to lymph; "
        f"per-pass node retention {tc.node_retention_per_pass:.2f}; node 1 peak "
        f"{_fmt(tc.peak_node_1_pct_id, '%ID')} at {tc.peak_node_1_time_h:g} h; window (node 1 ≥ "
        f"{tc.bright_fraction:g}× peak, node 2 < {tc.second_node_fraction:g}× node 1): {window}"
    )
    return table
