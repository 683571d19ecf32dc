"""Command line: ``nanobridge demo | simulate | params | sbml | version``.

Bad input (an invalid agent or scenario file, an unknown parameter set, a wrong file extension)
ends with one red message that names the file and the field, and exit code 2; no traceback.
Heavy modules (numpy, xarray, plotly, the solver) are imported inside the commands, so ``--help``
and ``version`` answer at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

import nanobridge
from nanobridge.cli_qc import qc_app
from nanobridge.cli_sln import InjectionVolumeOpt, RouteOpt, SiteOpt

if TYPE_CHECKING:
    from nanobridge.domain import Scenario
    from nanobridge.workflows.assessment import Assessment, ScenarioRun

__all__ = ["app"]

app = typer.Typer(
    name="nanobridge",
    help="Bench-to-clinic evidence for nanoparticle cancer imaging agents: PBPK biodistribution, "
    "imaging performance, dosimetry, safety, manufacturing QC and a self-contained HTML report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(
    qc_app,
    name="qc",
    help="Manufacturing QC: DLS analysis, TEM sizing, batch release, SPC and scale-up comparability.",
)

#: Extensions of the biodistribution export (``--out``).
DATA_SUFFIXES: tuple[str, ...] = (".csv", ".nc", ".nc4", ".netcdf")
REPORT_SUFFIXES: tuple[str, ...] = (".html", ".htm")
SBML_SUFFIXES: tuple[str, ...] = (".xml", ".sbml")

#: Terminal summary columns: metric name and header (with unit).
SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("DE24", "DE24\n[%ID]"),
    ("DEmax", "DEmax\n[%ID]"),
    ("blood_t50_h", "blood\nt50 [h]"),
    ("urine_pct_id", "urine\n[%ID]"),
    ("retention_30d_pct_id", "retention\n30 d [%ID]"),
    ("retention_90d_pct_id", "retention\n90 d [%ID]"),
)


# Options shared by the simulate, sbml, image and dose commands (one declaration each).
AgentFileArg = Annotated[Path, typer.Argument(help="Agent spec (.yaml, .yml or .json).", show_default=False)]
SpeciesOpt = Annotated[
    str | None,
    typer.Option(
        "--species",
        "-s",
        help="mouse, rat or human; without --scenario the bundled scenario of the species "
        "(mouse_tumor, human_tumor; rat derived from the mouse one). \\[default: mouse]",
        show_default=False,
    ),
]
ScenarioOpt = Annotated[Path | None, typer.Option("--scenario", help="Scenario file (.yaml, .yml or .json).")]
DurationOpt = Annotated[
    float | None, typer.Option("--duration-h", help="Override the simulated time \\[h] (2160 h = 90 days).")
]
BodyWeightOpt = Annotated[
    float | None, typer.Option("--body-weight-kg", help="Override the scenario's body weight \\[kg].")
]
ParameterSetOpt = Annotated[
    str | None, typer.Option("--parameter-set", help="PBPK parameter set (see `nanobridge params`).")
]
TumorParamsOpt = Annotated[
    Path | None,
    typer.Option(
        "--tumor-params",
        help="Tumour parameters (YAML/JSON mapping, or a Nano-Tumor-Database-style CSV table).",
    ),
]
DatasetIdOpt = Annotated[
    str | None, typer.Option("--dataset-id", help="Row of the --tumor-params CSV table (its ID).")
]


def _out() -> Console:
    return Console(highlight=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0]) if not hasattr(exc, "message") else str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        reason = exc.strerror or str(exc)
        return f"{exc.filename}: {reason}"
    return str(exc)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the errors bad input causes into a red message and exit code 2."""
    try:
        yield
    except (ValueError, KeyError, OSError) as exc:  # SpecError and ParameterSetError are ValueErrors
        _err().print(f"[bold red]Error:[/] {escape(_message(exc))}", soft_wrap=True)
        raise typer.Exit(code=2) from None


def _fail(message: str) -> typer.Exit:
    _err().print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(code=2)


def _check_suffix(path: Path | None, allowed: Sequence[str], option: str, what: str) -> None:
    if path is not None and path.suffix.lower() not in allowed:
        raise _fail(
            f"{option} {path}: unknown extension {path.suffix or '(none)'!r}; "
            f"use {' or '.join(allowed)} ({what})"
        )


def _first_sentence(text: str, limit: int = 110) -> str:
    head = re.split(r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)\.\s+(?=[A-Z])", text, maxsplit=1)[0].rstrip(".") + "."
    return head if len(head) <= limit else head[: limit - 1] + "…"


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err(),
        transient=False,
    )


def _fmt(value: float) -> str:
    from nanobridge.workflows.assessment import format_value

    return format_value(value)


def _resolve_scenario(
    species: str | None,
    scenario_file: Path | None,
    body_weight_kg: float | None,
    duration_h: float | None,
) -> Scenario:
    from nanobridge.domain import load_scenario, species_catalog
    from nanobridge.workflows.assessment import default_scenario

    if scenario_file is not None:
        scenario = load_scenario(scenario_file)
        if species is not None:
            wanted = species_catalog().resolve_key(species)
            if wanted != scenario.species:
                raise _fail(
                    f"--species {species} conflicts with {scenario_file}: species is {scenario.species!r} "
                    "(leave out --species, or use another scenario file)"
                )
    else:
        scenario = default_scenario(species or "mouse")
    changes: dict[str, float] = {}
    if body_weight_kg is not None:
        changes["body_weight_kg"] = body_weight_kg
    if duration_h is not None:
        changes["duration_h"] = duration_h
        if duration_h < scenario.output_interval_h:
            changes["output_interval_h"] = duration_h
    return scenario.evolve(**changes) if changes else scenario


def _tumor_params(path: Path | None, dataset_id: str | None) -> tuple[dict[str, float] | None, str | None]:
    from nanobridge.workflows.assessment import load_tumor_params

    if path is None:
        if dataset_id is not None:
            raise _fail("--dataset-id needs --tumor-params FILE (a CSV table with an ID column)")
        return None, None
    values = load_tumor_params(path, dataset_id)
    source = path.name + (f", ID {dataset_id}" if dataset_id is not None else "")
    return values, source


def _summary_table(assessments: Sequence[Assessment]) -> Table:
    table = Table(
        title="Summary (retention: amount still in the body)",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column("agent", min_width=12, max_width=28)
    table.add_column("species", min_width=7)
    for _, header in SUMMARY_COLUMNS:
        table.add_column(escape(header), justify="right", min_width=6)
    for assessment in assessments:
        for run in assessment.runs:
            table.add_row(
                assessment.agent.name,
                run.species,
                *(_fmt(run.metrics[name].value) for name, _ in SUMMARY_COLUMNS),
            )
    return table


def _metrics_table(run: ScenarioRun) -> Table:
    from nanobridge.workflows.report import metric_rows

    table = Table(header_style="bold", title="Metrics", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("meaning", style="dim")
    for row in metric_rows(run):
        if row.label.startswith("AUC") and row.label not in ("AUC tumour", "AUC tumour (conc.)", "AUC blood"):
            continue
        table.add_row(row.label, row.value, row.unit, row.note)
    return table


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


@app.command()
def demo(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for index.html and the data/ CSV files.")
    ] = Path("nanobridge-report"),
    duration_h: Annotated[
        float,
        typer.Option(
            "--duration-h", help="Simulated time \\[h]; 4320 h = 180 days (retention at 30/90/180 d)."
        ),
    ] = 4320.0,
) -> None:
    """Run the example agents in a tumour-bearing mouse and a patient and write the HTML report."""
    with _user_errors():
        from nanobridge.workflows.demo import run_demo_full

        with _progress() as progress:
            task = progress.add_task("starting", total=None)

            def step(label: str, done: int, total: int) -> None:
                progress.update(task, description=label, completed=done, total=total)

            result = run_demo_full(out, duration_h=duration_h, progress=step)
        console = _out()
        console.print(_summary_table(result.assessments))
        console.print(f"[bold]Report:[/] {escape(str(result.report))}", soft_wrap=True)
        console.print(
            f"[bold]Data:[/] {len(result.data_files)} tidy CSV files in "
            f"{escape(str(result.report.parent / 'data'))}",
            soft_wrap=True,
        )


@app.command()
def simulate(
    agent_file: AgentFileArg,
    species: SpeciesOpt = None,
    scenario_file: ScenarioOpt = None,
    body_weight_kg: BodyWeightOpt = None,
    duration_h: DurationOpt = None,
    parameter_set: ParameterSetOpt = None,
    tumor_params: TumorParamsOpt = None,
    dataset_id: DatasetIdOpt = None,
    route: RouteOpt = None,
    site: SiteOpt = None,
    injection_volume_ml: InjectionVolumeOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the biodistribution: .csv (tidy) or .nc (NetCDF)."),
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write an HTML report (.html).")] = None,
) -> None:
    """Simulate one agent in one species (intravenous or an interstitial route) and print its metrics."""
    _check_suffix(out, DATA_SUFFIXES, "--out", "tidy CSV table or NetCDF")
    _check_suffix(report, REPORT_SUFFIXES, "--report", "HTML report")
    with _user_errors():
        from nanobridge.cli_sln import route_options_to_scenario, sln_summary_table
        from nanobridge.domain import load_agent
        from nanobridge.workflows.assessment import assess

        agent = load_agent(agent_file)
        scenario = _resolve_scenario(species, scenario_file, body_weight_kg, duration_h)
        scenario = route_options_to_scenario(scenario, route, site, injection_volume_ml)
        tparams, source = _tumor_params(tumor_params, dataset_id)
        with _progress() as progress:
            task = progress.add_task(f"simulating {agent.name} in a {scenario.species}", total=1)
            assessment = assess(
                agent,
                [scenario],
                parameter_set=parameter_set,
                tumor_params=tparams,
                tumor_params_source=source,
            )
            progress.update(task, completed=1)
        run = assessment.runs[0]
        console = _out()
        console.print(
            f"[bold]{escape(agent.name)}[/] in a {escape(scenario.species)} "
            f"({escape(run.label)}; {_fmt(scenario.body_weight_kg)} kg; {_fmt(scenario.duration_h)} h) "
            f"· parameter set [bold]{escape(run.parameter_set)}[/]",
            soft_wrap=True,
        )
        console.print(_metrics_table(run))
        sln_table = sln_summary_table(run.biodistribution)
        if sln_table is not None:
            console.print(sln_table)
        for note in run.notes:
            if note.startswith("parameter set "):
                continue
            console.print(f"[dim]· {escape(note)}[/]", soft_wrap=True)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            path = run.biodistribution.write(out)
            console.print(f"[bold]Biodistribution:[/] {escape(str(path))}", soft_wrap=True)
        if report is not None:
            from nanobridge.workflows.report import write_report

            with _progress() as progress:
                task = progress.add_task("writing the report", total=1)
                path = write_report([assessment], report)
                progress.update(task, completed=1)
            console.print(f"[bold]Report:[/] {escape(str(path))}", soft_wrap=True)


@app.command()
def params(
    name: Annotated[
        str | None, typer.Argument(help="A parameter set to show; without it, list them all.")
    ] = None,
    notes: Annotated[bool, typer.Option("--notes", help="Also show each value's note.")] = False,
) -> None:
    """List the PBPK parameter sets, or show one with units, citations and assumed values."""
    with _user_errors():
        from nanobridge.science.pbpk.parameters import (
            DEFAULT_PARAMETER_SETS,
            available_parameter_sets,
            load_parameter_set,
        )

        console = _out()
        if name is None:
            table = Table(title="PBPK parameter sets", title_justify="left", header_style="bold")
            table.add_column("name", no_wrap=True)
            table.add_column("species")
            table.add_column("default", justify="center")
            table.add_column("values", justify="right")
            table.add_column("assumed", justify="right")
            table.add_column("description", style="dim", ratio=1)
            for set_name in available_parameter_sets():
                pset = load_parameter_set(set_name)
                default = "✓" if DEFAULT_PARAMETER_SETS.get(pset.species) == pset.name else ""
                description = _first_sentence(pset.description)
                table.add_row(
                    pset.name,
                    pset.species,
                    default,
                    str(len(pset)),
                    str(len(pset.assumed_parameters())),
                    escape(description),
                )
            console.print(table)
            console.print(
                "Show one with [bold]nanobridge params NAME[/] (add --notes for each value's note)."
            )
            return
        pset = load_parameter_set(name)
        console.print(f"[bold]{escape(pset.name)}[/] ({escape(pset.species)})", soft_wrap=True)
        console.print(f"[dim]{escape(pset.description)}[/]", soft_wrap=True)
        console.print(f"citations: {escape(', '.join(pset.citations))}", soft_wrap=True)
        table = Table(header_style="bold")
        table.add_column("name", no_wrap=True)
        table.add_column("value", justify="right")
        table.add_column("unit")
        table.add_column("citation")
        table.add_column("assumed", justify="center")
        if notes:
            table.add_column("note", style="dim", ratio=1)
        for key in pset:
            entry = pset.parameter(key)
            row = [
                key,
                f"{entry.value:.6g}",
                escape(entry.unit),
                escape(entry.citation or "—"),
                "[yellow]assumed[/]" if entry.assumed else "",
            ]
            if notes:
                row.append(escape(entry.note))
            table.add_row(*row)
        console.print(table)
        assumed = pset.assumed_parameters()
        console.print(f"{len(pset)} values, {len(assumed)} assumed.")


@app.command()
def sbml(
    agent_file: AgentFileArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="SBML file to write (.xml).", show_default=False)],
    species: SpeciesOpt = None,
    scenario_file: ScenarioOpt = None,
    body_weight_kg: BodyWeightOpt = None,
    parameter_set: ParameterSetOpt = None,
    tumor_params: TumorParamsOpt = None,
    dataset_id: DatasetIdOpt = None,
) -> None:
    """Export the agent's PBPK model (parameters adapted to agent and scenario) as SBML."""
    _check_suffix(out, SBML_SUFFIXES, "--out", "SBML")
    with _user_errors():
        try:
            from nanobridge.science.pbpk.sbml import write_sbml
        except ModuleNotFoundError as exc:
            if exc.name == "nanobridge.science.pbpk.sbml":
                raise _fail(
                    "SBML export is not available in this installation (nanobridge.science.pbpk.sbml)"
                ) from None
            raise _fail(
                f"SBML export needs the package that provides {exc.name!r} (python-libsbml)"
            ) from None
        from nanobridge.domain import load_agent
        from nanobridge.science.pbpk.engine import agent_parameters

        agent = load_agent(agent_file)
        scenario = _resolve_scenario(species, scenario_file, body_weight_kg, None)
        tparams, _ = _tumor_params(tumor_params, dataset_id)
        ap = agent_parameters(agent, scenario, parameter_set, tparams)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_sbml(str(out), ap.params, ap.body_weight_kg, renal_clearance_L_per_h=ap.renal_clearance_L_per_h)
        console = _out()
        console.print(
            f"[bold]SBML:[/] {escape(str(out))} ({escape(agent.name)} in a {escape(scenario.species)}, "
            f"{_fmt(ap.body_weight_kg)} kg, parameter set {escape(ap.parameter_set)})",
            soft_wrap=True,
        )
        for note in ap.notes:
            console.print(f"[dim]· {escape(note)}[/]", soft_wrap=True)


@app.command()
def image(
    agent_file: AgentFileArg,
    modality: Annotated[
        str, typer.Option("--modality", "-m", help="pet, spect, nirf, mri or ct.", show_default=False)
    ],
    species: SpeciesOpt = None,
    scenario_file: ScenarioOpt = None,
    duration_h: DurationOpt = None,
    scanner: Annotated[
        str | None, typer.Option("--scanner", help="PET/SPECT scanner of the catalog.")
    ] = None,
    scan_min: Annotated[
        float | None, typer.Option("--scan-min", help="PET/SPECT scan duration \\[min].")
    ] = None,
    activity_mbq: Annotated[
        float | None, typer.Option("--activity-mbq", help="PET/SPECT injected activity [MBq].")
    ] = None,
    field_t: Annotated[float | None, typer.Option("--field-t", help="MRI field strength [T].")] = None,
    sequence: Annotated[
        str | None, typer.Option("--sequence", help="MRI: spin_echo or spoiled_gradient_echo.")
    ] = None,
    tr_ms: Annotated[float | None, typer.Option("--tr-ms", help="MRI repetition time \\[ms].")] = None,
    te_ms: Annotated[float | None, typer.Option("--te-ms", help="MRI echo time \\[ms].")] = None,
    flip_deg: Annotated[float | None, typer.Option("--flip-deg", help="MRI flip angle \\[deg].")] = None,
    kvp: Annotated[float | None, typer.Option("--kvp", help="CT tube voltage \\[kVp].")] = None,
    depth_mm: Annotated[
        float | None, typer.Option("--depth-mm", help="NIRF: depth of the lesion's top \\[mm].")
    ] = None,
    tissue: Annotated[
        str | None, typer.Option("--tissue", help="NIRF: tissue type (soft_tissue, skin, muscle, brain).")
    ] = None,
    noise_hu: Annotated[float | None, typer.Option("--noise-hu", help="CT image noise [HU].")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write contrast and CNR over time (.csv).")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write contrast and CNR over time as a plot (.html).")
    ] = None,
) -> None:
    """Imaging performance of an agent for one modality: contrast, CNR, best time, minimum dose."""
    _check_suffix(out, (".csv",), "--out", "CSV table")
    _check_suffix(plot, REPORT_SUFFIXES, "--plot", "HTML plot")
    with _user_errors():
        from nanobridge.domain import load_agent
        from nanobridge.science.pbpk.engine import simulate_agent
        from nanobridge.workflows.imaging import imaging_summary

        agent = load_agent(agent_file)
        scenario = _resolve_scenario(species, scenario_file, None, duration_h)
        given = {
            "scanner": scanner,
            "scan_duration_min": scan_min,
            "activity_MBq": activity_mbq,
            "field_T": field_t,
            "sequence": sequence,
            "TR_ms": tr_ms,
            "TE_ms": te_ms,
            "flip_deg": flip_deg,
            "kvp": kvp,
            "noise_HU": noise_hu,
            "depth_mm": depth_mm,
            "tissue": tissue,
        }
        allowed = {
            "pet": {"scanner", "scan_duration_min", "activity_MBq"},
            "spect": {"scanner", "scan_duration_min", "activity_MBq"},
            "mri": {"field_T", "sequence", "TR_ms", "TE_ms", "flip_deg"},
            "ct": {"kvp", "noise_HU"},
            "nirf": {"depth_mm", "tissue"},
        }.get(modality.lower(), set())
        wrong = sorted(k for k, v in given.items() if v is not None and k not in allowed)
        if wrong:
            raise _fail(f"option(s) {', '.join(wrong)} do not apply to --modality {modality}")
        options = {k: v for k, v in given.items() if v is not None}
        with _progress() as progress:
            task = progress.add_task(f"simulating {agent.name} in a {scenario.species}", total=2)
            bd = simulate_agent(agent, scenario)
            progress.update(task, advance=1, description=f"{modality} imaging model")
            summary = imaging_summary(bd, agent, scenario, modality, options)
            progress.update(task, advance=1)
        console = _out()
        table = Table(
            title=f"{agent.name} · {modality.upper()} · {summary.setting} · {scenario.species}",
            title_justify="left",
            header_style="bold",
            box=box.SIMPLE_HEAD,
        )
        table.add_column("figure")
        table.add_column("value", justify="right")
        table.add_column("unit")
        table.add_column("meaning", style="dim")
        for h in summary.headlines:
            value = h.value if isinstance(h.value, str) else ("—" if h.value is None else _fmt(h.value))
            table.add_row(escape(h.name), escape(value), escape(h.unit), escape(h.meaning))
        console.print(table)
        for note in summary.assumptions:
            console.print(f"[dim]· assumed: {escape(note)}[/]", soft_wrap=True)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            summary.timeseries.to_csv(out, index=False, float_format="%.6g")
            console.print(f"[bold]Time series:[/] {escape(str(out))}", soft_wrap=True)
        if plot is not None:
            from nanobridge.workflows.report import imaging_figure_html

            plot.parent.mkdir(parents=True, exist_ok=True)
            plot.write_text(imaging_figure_html(summary, title=agent.name), encoding="utf-8")
            console.print(f"[bold]Plot:[/] {escape(str(plot))}", soft_wrap=True)


@app.command()
def dose(
    agent_file: AgentFileArg,
    species: SpeciesOpt = None,
    scenario_file: ScenarioOpt = None,
    duration_h: DurationOpt = None,
    activity_mbq: Annotated[
        float | None, typer.Option("--activity-mbq", help="Planned injected activity [MBq].")
    ] = None,
    saf_photon: Annotated[
        Path | None, typer.Option("--saf-photon", help="ICRP 133 photon SAF file (user-supplied).")
    ] = None,
    saf_electron: Annotated[
        Path | None, typer.Option("--saf-electron", help="ICRP 133 electron SAF file (user-supplied).")
    ] = None,
    dose_factors: Annotated[
        str,
        typer.Option(
            "--dose-factors",
            help="auto (phantom for a human, local otherwise), phantom (nanobridge's adult photon Monte "
            "Carlo + local electrons) or local (electrons only: a lower bound). ICRP 133 files override.",
        ),
    ] = "auto",
    voiding_interval_h: Annotated[
        float,
        typer.Option(
            "--voiding-interval-h", help="Urinary bladder voiding interval \\[h] (ICRP adult: 3.5)."
        ),
    ] = 3.5,
    no_bladder: Annotated[
        bool, typer.Option("--no-bladder", help="Leave the urinary bladder contents out (no voiding model).")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the per-organ doses (.csv).")] = None,
) -> None:
    """MIRD internal dosimetry of the agent's radionuclide: TIACs, organ and effective doses."""
    _check_suffix(out, (".csv",), "--out", "CSV table")
    if dose_factors not in ("auto", "phantom", "local"):
        raise _fail(f"--dose-factors {dose_factors!r}: allowed auto, phantom, local")
    if not (math.isfinite(voiding_interval_h) and voiding_interval_h > 0):
        raise _fail(f"--voiding-interval-h {voiding_interval_h!r}: must be a positive number of hours")
    with _user_errors():
        from nanobridge.domain import load_agent
        from nanobridge.science.dosimetry.mird import (
            DoseFactorModel,
            LocalElectronAbsorption,
            SpecificAbsorbedFractions,
            absorbed_doses,
            default_dose_factors,
        )
        from nanobridge.science.pbpk.engine import simulate_agent

        agent = load_agent(agent_file)
        scenario = _resolve_scenario(species, scenario_file, None, duration_h)
        factors: DoseFactorModel
        if saf_photon is not None or saf_electron is not None:
            factors = SpecificAbsorbedFractions.from_icrp133_files(photon=saf_photon, electron=saf_electron)
        elif dose_factors == "phantom":
            from nanobridge.science.dosimetry.photon_mc import phantom_photon_dose_factors

            factors = phantom_photon_dose_factors()
        elif dose_factors == "local":
            factors = LocalElectronAbsorption()
        else:
            factors = default_dose_factors(scenario.species)
        with _progress() as progress:
            task = progress.add_task(f"simulating {agent.name} in a {scenario.species}", total=2)
            bd = simulate_agent(agent, scenario)
            progress.update(task, advance=1, description="dosimetry")
            report = absorbed_doses(
                bd,
                agent,
                scenario,
                factors,
                activity_MBq=activity_mbq,
                urinary_bladder=not no_bladder,
                voiding_interval_h=voiding_interval_h,
            )
            progress.update(task, advance=1)
        subject = 0
        tiac = report.tiac_h.isel(subject=subject)
        per_mbq = report.absorbed_dose_mGy_per_MBq.isel(subject=subject)
        at_activity = (
            None if report.absorbed_dose_mGy is None else report.absorbed_dose_mGy.isel(subject=subject)
        )
        console = _out()
        sources = Table(
            title=f"{agent.name} · {report.nuclide} · {scenario.species} · time-integrated activity",
            title_justify="left",
            header_style="bold",
            box=box.SIMPLE_HEAD,
        )
        sources.add_column("source")
        sources.add_column(escape("TIAC [h] = MBq·h/MBq"), justify="right")
        for src in [str(x) for x in tiac["source"].values]:
            sources.add_row(src, _fmt(float(tiac.sel(source=src))))
        console.print(sources)
        title = f"absorbed dose · {report.dose_factor_model}"
        if report.partial:
            title += " · PARTIAL (lower bound)"
        table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD)
        table.add_column("target")
        table.add_column(escape("absorbed dose [mGy/MBq]"), justify="right")
        if at_activity is not None:
            table.add_column(escape(f"at {_fmt(report.activity_MBq or 0.0)} MBq [mGy]"), justify="right")
        rows: list[tuple[str, str, float, str]] = [
            ("tiac", src, float(tiac.sel(source=src)), "h") for src in [str(x) for x in tiac["source"].values]
        ]
        for organ in [str(t) for t in per_mbq["target"].values]:
            row = [organ, _fmt(float(per_mbq.sel(target=organ)))]
            rows.append(("absorbed_dose", organ, float(per_mbq.sel(target=organ)), "mGy/MBq"))
            if at_activity is not None:
                row.append(_fmt(float(at_activity.sel(target=organ))))
                rows.append(("absorbed_dose_at_activity", organ, float(at_activity.sel(target=organ)), "mGy"))
            table.add_row(*row)
        console.print(table)
        if report.effective_dose_mSv_per_MBq is not None:
            e = float(report.effective_dose_mSv_per_MBq.isel(subject=subject))
            console.print(
                f"effective dose (ICRP 103): {_fmt(e)} mSv/MBq"
                f" — tissue weights covered: {report.effective_dose_weight_covered:.2f}",
                soft_wrap=True,
            )
        for check in report.limit_checks:
            flag = "[bold red]EXCEEDS[/]" if check.exceeds else "within"
            bound = " (lower bound)" if check.lower_bound else ""
            console.print(
                f"{escape(check.quantity)} {escape(check.target)}: {_fmt(check.dose_mSv)} mSv{bound} "
                f"{flag} the {_fmt(check.limit_mSv)} mSv limit ({escape(check.citation_key)})",
                soft_wrap=True,
            )
        for item in report.not_included:
            console.print(f"[yellow]not included:[/] {escape(item)}", soft_wrap=True)
        if out is not None:
            import pandas as pd

            out.parent.mkdir(parents=True, exist_ok=True)
            if report.effective_dose_mSv_per_MBq is not None:
                e_val = float(report.effective_dose_mSv_per_MBq.isel(subject=subject))
                rows.append(("effective_dose", "ICRP 103", e_val, "mSv/MBq"))
                if report.activity_MBq is not None:
                    rows.append(
                        ("effective_dose_at_activity", "ICRP 103", e_val * report.activity_MBq, "mSv")
                    )
            pd.DataFrame(rows, columns=["quantity", "name", "value", "unit"]).to_csv(out, index=False)
            console.print(f"[bold]Doses:[/] {escape(str(out))}", soft_wrap=True)


@app.command()
def version() -> None:
    """Print the nanobridge and model versions."""
    from nanobridge.science.pbpk.engine import MODEL_VERSION

    console = _out()
    console.print(f"nanobridge {nanobridge.__version__}")
    console.print(f"model: {MODEL_VERSION}", soft_wrap=True)


def _register_subcommands() -> None:
    """Commands defined in their own modules (each has ``register(app)``); imported here, after the
    shared helpers above exist, since those modules import them lazily from this one."""
    from nanobridge.cli_design import register as register_design
    from nanobridge.cli_dossier import register as register_dossier
    from nanobridge.cli_population import register as register_population
    from nanobridge.cli_predict import register as register_predict
    from nanobridge.cli_safety import register as register_safety
    from nanobridge.cli_store import register as register_store
    from nanobridge.cli_web import register as register_web

    register_safety(app)
    register_predict(app)
    register_design(app)
    register_population(app)
    register_dossier(app)
    register_store(app)
    register_web(app)


_register_subcommands()


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
