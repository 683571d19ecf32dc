"""Command line: ``nanobridge design`` — multi-objective inverse design around a base agent.

``register(app)`` adds the command to a Typer app (the lead's ``nanobridge.cli`` calls it). As in
:mod:`nanobridge.cli`, bad input ends with one red message naming the option and what is wrong,
exit code 2; heavy modules are imported inside the command. The science is
:mod:`nanobridge.science.design.inverse`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from nanobridge.domain import AgentSpec
    from nanobridge.science.design.inverse import Band, DesignResult

__all__ = ["design", "register"]

#: The base agent when ``--base`` is left out.
DEFAULT_BASE_EXAMPLE = "cdot_pet_optical"
_CSV = (".csv",)
_HTML = (".html", ".htm")


def register(app: typer.Typer) -> None:
    """Add the ``design`` command to ``app``."""
    app.command(name="design")(design)


def _split(values: list[str] | None) -> list[str] | None:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]``; ``None`` stays ``None``."""
    if not values:
        return None
    out = [part.strip() for v in values for part in v.split(",") if part.strip()]
    return out or None


def _load_base(base: str | None) -> AgentSpec:
    from nanobridge.domain import example_agent_names, load_agent, load_example_agent

    if base is None:
        return load_example_agent(DEFAULT_BASE_EXAMPLE)
    path = Path(base)
    if path.exists():
        return load_agent(path)
    if base in example_agent_names():
        return load_example_agent(base)
    raise ValueError(
        f"--base {base}: no such file, and not a bundled example agent ({', '.join(example_agent_names())})"
    )


def _pair(
    name: str, lo: float | None, hi: float | None, default: tuple[float, float]
) -> tuple[float, float] | None:
    if lo is None and hi is None:
        return None
    return (default[0] if lo is None else lo, default[1] if hi is None else hi)


def _band(b: Band | None) -> str:
    from nanobridge.cli import _fmt

    if b is None:
        return "—"
    return f"{_fmt(b.p50)} [{_fmt(b.p5)}–{_fmt(b.p95)}]"


def _design_cells(design: dict[str, object], varied: list[str]) -> list[str]:
    from nanobridge.cli import _fmt

    cells = []
    for name in varied:
        v = design.get(name)
        if name == "coating" and v == "PEG":
            mw, dens = design.get("peg_mw_Da"), design.get("peg_density_chains_per_nm2")
            text = f"PEG {_fmt(float(mw)) if isinstance(mw, float | int) else '?'} Da"
            if isinstance(dens, float | int):
                text += f" @{_fmt(float(dens))}/nm²"
            cells.append(text)
        elif name == "targeting" and v == "active":
            cells.append(f"active ({design.get('ligand', '')})")
        elif isinstance(v, float):
            cells.append(_fmt(v))
        else:
            cells.append("—" if v is None else str(v))
    return cells


_VAR_HEADERS = {
    "hydrodynamic_diameter_nm": "d_H\n[nm]",
    "zeta_potential_mV": "ζ\n[mV]",
    "coating": "coating",
    "targeting": "targeting",
    "core_material": "core",
    "radionuclide": "nuclide",
    "fluorophore": "dye",
}


def _pareto_table(result: DesignResult) -> Table:
    from nanobridge.cli import _fmt

    varied = [v for v in result.variables if v in _VAR_HEADERS]
    table = Table(
        title=f"Pareto designs · base {result.base_agent} · {result.species} · "
        f"{len(result.trials)} trials, seed {result.seed}",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        caption="objective: nominal value, then median [5–95 %] of the virtual population; "
        "(+n equal): other trials with the same objective values",
        caption_justify="left",
    )
    table.add_column("trial", justify="right")
    for v in varied:
        table.add_column(escape(_VAR_HEADERS[v]))
    for o in result.objectives:
        arrow = "↑" if o.direction == "maximize" else "↓"
        unit = "" if o.unit == "ratio" else f" [{o.unit}]"
        table.add_column(escape(f"{o.key} {arrow}{unit}"), justify="right")
    for p in result.pareto:
        trial = str(p.trial) + (f"\n(+{len(p.equivalent_trials)} equal)" if p.equivalent_trials else "")
        cells = [trial, *_design_cells(p.design, varied)]
        for o in result.objectives:
            cells.append(f"{_fmt(p.values[o.key])}\n{_band(p.bands.get(o.key))}")
        table.add_row(*(escape(c) for c in cells))
    if not result.baseline:
        return table
    base_cells = ["base", *(["" for _ in varied])]
    for o in result.objectives:
        base_cells.append(
            f"{_fmt(result.baseline.get(o.key, float('nan')))}\n{_band(result.baseline_bands.get(o.key))}"
        )
    table.add_row(*(escape(c) for c in base_cells), style="dim")
    return table


def design(
    objective: Annotated[
        list[str] | None,
        typer.Option(
            "--objective",
            help="Objective(s), repeat or comma-separate: DE24, DE168, DEmax, tumor_auc_168h, tbr, cnr, "
            "retention_30d, retention_90d, effective_dose (human), organ_dose; aliases delivery, contrast, "
            "retention, dose.",
            show_default=False,
        ),
    ] = None,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help=f"Base agent (.yaml/.json, or a bundled example name) whose other properties are kept "
            f"\\[default: {DEFAULT_BASE_EXAMPLE}].",
            show_default=False,
        ),
    ] = None,
    species: Annotated[
        str | None,
        typer.Option("--species", "-s", help="mouse or human (bundled scenario) \\[default: mouse]."),
    ] = None,
    scenario_file: Annotated[
        Path | None, typer.Option("--scenario", help="Scenario file (.yaml/.json).")
    ] = None,
    trials: Annotated[int, typer.Option("--trials", help="Candidates to evaluate.")] = 200,
    population: Annotated[
        int, typer.Option("--population", help="NSGA-II population (one generation).")
    ] = 40,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the search and the virtual population.")] = 0,
    draws: Annotated[
        int, typer.Option("--draws", help="Virtual-population draws per Pareto design (uncertainty bands).")
    ] = 32,
    time_h: Annotated[float, typer.Option("--time-h", help="Imaging time for tbr/cnr \\[h].")] = 24.0,
    modality: Annotated[
        str | None,
        typer.Option("--modality", "-m", help="pet, spect or nirf for tbr/cnr \\[default: the base's]."),
    ] = None,
    scanner: Annotated[
        str | None, typer.Option("--scanner", help="PET/SPECT scanner of the catalog.")
    ] = None,
    depth_mm: Annotated[
        float, typer.Option("--depth-mm", help="NIRF: depth of the lesion's top \\[mm].")
    ] = 2.0,
    activity_mbq: Annotated[
        float | None, typer.Option("--activity-mbq", help="PET/SPECT injected activity for cnr \\[MBq].")
    ] = None,
    renal_clearable: Annotated[
        bool, typer.Option("--renal-clearable", help="Hydrodynamic diameter <= 5.5 nm (Choi et al. 2007).")
    ] = False,
    biodegradable: Annotated[
        bool, typer.Option("--biodegradable", help="Only biodegradable core materials (materials catalog).")
    ] = False,
    materials: Annotated[
        list[str] | None, typer.Option("--materials", help="Allowed core materials (comma-separated).")
    ] = None,
    nuclides: Annotated[list[str] | None, typer.Option("--nuclides", help="Allowed radionuclides.")] = None,
    dyes: Annotated[list[str] | None, typer.Option("--dyes", help="Allowed dyes (NIRF).")] = None,
    coatings: Annotated[
        list[str] | None, typer.Option("--coatings", help="Allowed coatings (PEG, none, zwitterionic, ...).")
    ] = None,
    targeting: Annotated[list[str] | None, typer.Option("--targeting", help="passive and/or active.")] = None,
    ligand: Annotated[str | None, typer.Option("--ligand", help="Ligand name for active targeting.")] = None,
    min_diameter_nm: Annotated[float | None, typer.Option("--min-diameter-nm", help="\\[default: 2]")] = None,
    max_diameter_nm: Annotated[
        float | None, typer.Option("--max-diameter-nm", help="\\[default: 200]")
    ] = None,
    min_zeta_mv: Annotated[float | None, typer.Option("--min-zeta-mv", help="\\[default: -30]")] = None,
    max_zeta_mv: Annotated[float | None, typer.Option("--max-zeta-mv", help="\\[default: 30]")] = None,
    limit: Annotated[
        list[str] | None,
        typer.Option("--limit", help="Constraint on an objective, e.g. 'retention_90d<=5' (repeatable)."),
    ] = None,
    tumor_db: Annotated[
        Path | None,
        typer.Option("--tumor-db", help="Nano-Tumor Database datasets.csv \\[default: the packaged copy]."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the Pareto designs (.csv).")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the Pareto front plot (.html).")] = None,
    agents_dir: Annotated[
        Path | None, typer.Option("--agents-dir", help="Write each Pareto design as an agent YAML file here.")
    ] = None,
) -> None:
    """Inverse design: Pareto-optimal particles (size, charge, coating, targeting, material, label)
    for the chosen objectives, with 5-95 % uncertainty bands."""
    from nanobridge.cli import _check_suffix, _fail, _fmt, _out, _progress, _resolve_scenario, _user_errors

    _check_suffix(out, _CSV, "--out", "CSV table")
    _check_suffix(plot, _HTML, "--plot", "HTML plot")
    objectives = _split(objective)
    if not objectives:
        raise _fail(
            "--objective: give at least one, e.g. --objective DE24 --objective retention_90d "
            "(known: DE24, DE168, DEmax, tumor_auc_168h, tbr, cnr, retention_30d, retention_90d, "
            "effective_dose, organ_dose)"
        )
    with _user_errors():
        from pydantic import ValidationError

        from nanobridge.science.design.inverse import (
            DEFAULT_DIAMETER_RANGE_NM,
            DEFAULT_ZETA_RANGE_MV,
            DesignSettings,
            design_space,
            pareto_figure,
            parse_limit,
            run_design,
        )

        agent = _load_base(base)
        scenario = _resolve_scenario(species, scenario_file, None, None)
        try:
            settings = DesignSettings(
                n_trials=trials,
                population_size=population,
                seed=seed,
                uncertainty_draws=draws,
                time_h=time_h,
                scanner=scanner,
                depth_mm=depth_mm,
                activity_MBq=activity_mbq,
                limits=tuple(limit or ()),
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            option = {
                "n_trials": "--trials",
                "population_size": "--population",
                "uncertainty_draws": "--draws",
            }
            name = str(err["loc"][0]) if err["loc"] else "settings"
            raise _fail(
                f"{option.get(name, '--' + name.replace('_', '-'))} {err.get('input')!r}: {err['msg']}"
            ) from None
        limit_keys = [parse_limit(text, scenario.species).key for text in settings.limits]
        space = design_space(
            agent,
            [*objectives, *limit_keys],
            species=scenario.species,
            modality=modality,
            renal_clearable=renal_clearable,
            biodegradable=biodegradable,
            diameter_nm=_pair("diameter", min_diameter_nm, max_diameter_nm, DEFAULT_DIAMETER_RANGE_NM),
            zeta_mV=_pair("zeta", min_zeta_mv, max_zeta_mv, DEFAULT_ZETA_RANGE_MV),
            coatings=_split(coatings),
            targeting=_split(targeting),
            ligand=ligand,
            materials_allowed=_split(materials),
            nuclides=_split(nuclides),
            dyes=_split(dyes),
        )
        with _progress() as progress:
            task = progress.add_task("designing", total=trials)

            def step(label: str, done: int, total: int) -> None:
                progress.update(task, description=label, completed=done, total=total)

            result = run_design(
                agent,
                scenario,
                objectives,
                space=space,
                settings=settings,
                tumor_table=tumor_db,
                progress=step,
            )
        console = _out()
        console.print(_pareto_table(result))
        t = result.timings_s
        console.print(
            f"{len(result.trials)} trials ({result.n_feasible} feasible), "
            f"{len(result.pareto)} Pareto designs; "
            f"{_fmt(t['total'])} s (search {_fmt(t['optimisation'])} s, bands {_fmt(t['uncertainty'])} s), "
            f"{result.subjects_simulated:,} subjects simulated",
            soft_wrap=True,
        )
        for w in result.warnings:
            console.print(f"[yellow]warning:[/] {escape(w)}", soft_wrap=True)
        for c in [*result.constraints, *result.limits]:
            console.print(f"[dim]· constraint: {escape(c)}[/]", soft_wrap=True)
        console.print(f"[dim]· uncertainty: {escape(result.uncertainty)}[/]", soft_wrap=True)
        console.print(f"[dim]· references: {escape(', '.join(result.citations))}[/]", soft_wrap=True)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            result.pareto_frame().to_csv(out, index=False, float_format="%.6g")
            console.print(f"[bold]Pareto designs:[/] {escape(str(out))}", soft_wrap=True)
        if plot is not None:
            if len(result.objectives) < 2:
                console.print(
                    "[yellow]--plot: a Pareto front needs two or more objectives; no plot written[/]"
                )
            elif not result.pareto:
                console.print("[yellow]--plot: no feasible design; no plot written[/]")
            else:
                plot.parent.mkdir(parents=True, exist_ok=True)
                pareto_figure(result).write_html(str(plot), include_plotlyjs=True, full_html=True)
                console.print(f"[bold]Plot:[/] {escape(str(plot))}", soft_wrap=True)
        if agents_dir is not None:
            import yaml

            agents_dir.mkdir(parents=True, exist_ok=True)
            for p in result.pareto:
                path = agents_dir / f"design_{p.trial:04d}.yaml"
                path.write_text(
                    yaml.safe_dump(p.agent, sort_keys=False, allow_unicode=True), encoding="utf-8"
                )
            console.print(
                f"[bold]Agents:[/] {len(result.pareto)} YAML files in {escape(str(agents_dir))}",
                soft_wrap=True,
            )
