"""Command line: ``nanobridge safety AGENT.yaml`` - the safe-by-design assessment.

``register(app)`` adds the command to a Typer app (the lead's ``nanobridge.cli`` calls it). The
command simulates the agent in the packaged human and mouse scenarios for 180 days (or one species
with ``--species``), applies the rules of :mod:`nanobridge.science.safety.findings`, and prints a
table of findings, most severe first, with the evidence that triggered each and the NCL assays
still to run. Findings are not errors: the exit code is 0. A bad agent file, evidence file,
species or ``--out`` extension ends with one red message and exit code 2 (the helpers of
:mod:`nanobridge.cli`, imported lazily because that module imports this one).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from nanobridge.science.safety.findings import SafetyReport

__all__ = ["OUT_SUFFIXES", "register", "safety"]

#: Extensions of ``--out``.
OUT_SUFFIXES: tuple[str, ...] = (".json", ".csv")
#: At most this many evidence lines per finding in the terminal table (all are in --out).
MAX_EVIDENCE_LINES = 6

_SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "moderate": "bold yellow",
    "low": "cyan",
    "info": "dim",
}
_STATUS_STYLE = {"held": "green", "partial": "yellow", "missing": "magenta", "contradicts": "bold red"}


def register(app: typer.Typer) -> None:
    """Add the ``safety`` command to ``app``."""
    app.command(name="safety")(safety)


def _findings_table(report: SafetyReport) -> Table:
    table = Table(
        title=f"{report.agent} · safe-by-design findings ({', '.join(report.species)}; most severe first)",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_lines=True,
    )
    table.add_column("severity", no_wrap=True)
    table.add_column("finding", min_width=18, max_width=34, overflow="fold")
    table.add_column("evidence", min_width=30, overflow="fold")
    table.add_column("NCL / assays", min_width=16, max_width=32, overflow="fold")
    for f in report.findings:
        lines = [e.short for e in f.evidence]
        shown = lines[:MAX_EVIDENCE_LINES]
        if len(lines) > MAX_EVIDENCE_LINES:
            shown.append(f"… {len(lines) - MAX_EVIDENCE_LINES} more (--out)")
        ev = f.evidence_status
        if ev is None:
            assays = " ".join(f.assays)
        else:
            style = _STATUS_STYLE.get(ev.status, "")
            held = [a for a in ev.assays if a.state != "missing"]
            assays = f"[{style}]{ev.status}[/]"
            if ev.missing:
                assays += "\nto run: " + escape(", ".join(ev.missing))
            for a in held:
                assays += "\n" + escape(f"held {a.id}: {a.state}")
        table.add_row(
            f"[{_SEVERITY_STYLE[f.severity]}]{f.severity}[/]",
            f"{escape(f.title)}\n[dim]{escape(f.id)}[/]",
            escape("\n".join(shown)),
            assays,
        )
    return table


def safety(
    agent_file: Annotated[
        Path, typer.Argument(help="Agent spec (.yaml, .yml or .json).", show_default=False)
    ],
    species: Annotated[
        str | None,
        typer.Option(
            "--species",
            "-s",
            help="human or mouse (the bundled scenario of the species); default: both.",
            show_default=False,
        ),
    ] = None,
    evidence: Annotated[
        Path | None,
        typer.Option(
            "--evidence",
            "-e",
            help="Assay results the project holds (.yaml/.yml/.json list or .csv: protocol, outcome, "
            "result, date).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write the findings (.json: full report; .csv: one row per finding)."
        ),
    ] = None,
) -> None:
    """Safe-by-design assessment: renal clearance, retention, biodegradability, charge, PEG, dose, release."""
    from nanobridge.cli import _check_suffix, _fail, _out, _progress, _user_errors

    _check_suffix(out, OUT_SUFFIXES, "--out", "findings as JSON or CSV")
    with _user_errors():
        from nanobridge.domain import load_agent, species_catalog
        from nanobridge.science.safety.findings import RULES
        from nanobridge.science.safety.ncl import load_evidence
        from nanobridge.workflows.assessment import default_scenario
        from nanobridge.workflows.safety import DEFAULT_SPECIES, safety_assessment

        allowed = [s for s in DEFAULT_SPECIES if s in species_catalog()]
        if species is None:
            chosen = list(allowed)
        else:
            key = species_catalog().resolve_key(species)
            if key not in allowed:
                raise _fail(f"--species {species!r}: allowed {', '.join(allowed)}")
            chosen = [str(key)]
        agent = load_agent(agent_file)
        held = load_evidence(evidence) if evidence is not None else None
        scenarios = [default_scenario(s) for s in chosen]
        with _progress() as progress:
            task = progress.add_task(f"simulating {agent.name} for 180 d ({', '.join(chosen)})", total=1)
            report = safety_assessment(agent, scenarios, held)
            progress.update(task, advance=1)
        console = _out()
        counts = ", ".join(f"{n} {s}" for s, n in report.counts().items() if n) or "no findings"
        if report.findings:
            console.print(_findings_table(report))
        console.print(f"[bold]{escape(agent.name)}:[/] {counts}", soft_wrap=True)
        passed = [c for c in report.checks if not c.triggered]
        if passed:
            console.print("[bold]Rules that did not fire:[/]")
            for c in passed:
                where = f" ({c.species})" if c.species else ""
                console.print(
                    f"  [green]✓[/] {escape(c.title)}{escape(where)}: {escape(c.summary)}", soft_wrap=True
                )
        baseline = ", ".join(f"{a.id} {a.state}" for a in report.baseline)
        console.print(f"[bold]Baseline assays[/] (every IV nanomedicine): {escape(baseline)}", soft_wrap=True)
        for warning in report.evidence_warnings:
            console.print(f"[yellow]evidence:[/] {escape(warning)}", soft_wrap=True)
        for note in report.notes:
            console.print(f"[dim]note: {escape(note)}[/]", soft_wrap=True)
        console.print(
            f"[dim]{len(RULES)} rules; severity scale info < low < moderate < high < critical; "
            f"{len(report.citation_keys)} references (--out .json lists them with rationale and options)[/]",
            soft_wrap=True,
        )
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            if out.suffix.lower() == ".json":
                import json

                from nanobridge.citations import get_reference

                data = json.loads(report.model_dump_json())
                data["references"] = {k: get_reference(k).formatted() for k in report.citation_keys}
                out.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
            else:
                report.to_frame().to_csv(out, index=False)
            console.print(f"[bold]Findings:[/] {escape(str(out))}", soft_wrap=True)
