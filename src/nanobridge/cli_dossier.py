"""Command line: ``nanobridge dossier AGENT --out DIR`` - IND readiness and the dossier.

``register(app)`` adds the command to a Typer app (the lead's ``nanobridge.cli`` calls it). The
command simulates the agent in the packaged mouse and human scenarios, runs the safe-by-design
rules and the bundled QC example, reads the project's evidence (``--evidence MANIFEST``; the word
``example`` selects the bundled illustrative manifest of the C dot), judges every requirement and
writes ``DIR/index.html``, ``DIR/dossier.pdf`` (``--no-pdf`` to skip), ``DIR/readiness.json``,
``DIR/readiness.csv`` and ``DIR/isatab/``. It prints the readiness per area and the essential
gaps with the next experiment. Gaps are not errors: the exit code is 0. A bad agent file, manifest
or output folder ends with one red message and exit code 2 (helpers of :mod:`nanobridge.cli`,
imported lazily because that module imports this one).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from nanobridge.science.dossier.readiness import Readiness

__all__ = ["EXAMPLE_MANIFESTS", "dossier", "register"]

#: Bundled illustrative evidence manifests by example agent name (``--evidence example``).
EXAMPLE_MANIFESTS: dict[str, str] = {"cdot_pet_optical": "cdot_pet_optical/manifest.yaml"}
_STATUS_STYLE = {"met": "green", "partly met": "yellow", "missing": "magenta", "failed": "bold red"}


def register(app: typer.Typer) -> None:
    """Add the ``dossier`` command to ``app``."""
    app.command(name="dossier")(dossier)


def _areas_table(readiness: Readiness) -> Table:
    table = Table(
        title=f"{readiness.agent} · IND readiness by area",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("area")
    table.add_column("score", justify="right")
    for status in ("met", "partly met", "missing", "failed"):
        table.add_column(status, justify="right")
    table.add_column("essential gaps", overflow="fold")
    for a in readiness.areas:
        if not a.n_applicable:
            table.add_row(a.title, "n/a", "", "", "", "", "not applicable to this agent")
            continue
        table.add_row(
            a.title,
            f"{a.score_pct:.0f} %" if a.score_pct is not None else "n/a",
            *(str(a.counts.get(s, 0)) for s in ("met", "partly met", "missing", "failed")),
            escape(", ".join(a.essential_gaps) or "—"),
        )
    return table


def _resolve_agent(agent: str) -> Path:
    """A path, or the name of a bundled example agent."""
    p = Path(agent)
    if p.exists() or p.suffix:
        return p
    from nanobridge.domain import example_agent_names, example_path

    if agent in example_agent_names():
        return Path(example_path("agents", agent))
    return p


def _resolve_manifest(evidence: str | None, agent_path: Path) -> Path | None:
    if evidence is None:
        return None
    if evidence.strip().lower() == "example":
        name = agent_path.stem
        if name not in EXAMPLE_MANIFESTS:
            from nanobridge.cli import _fail

            raise _fail(
                f"--evidence example: no bundled example manifest for {agent_path.name!r}; examples "
                "exist for "
                f"{', '.join(EXAMPLE_MANIFESTS)}"
            )
        root = resources.files("nanobridge") / "data" / "examples" / "evidence"
        return Path(str(root / EXAMPLE_MANIFESTS[name]))
    return Path(evidence)


def dossier(
    agent_file: Annotated[
        str,
        typer.Argument(
            help="Agent spec (.yaml, .yml or .json), or the name of a bundled example agent.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created).")],
    evidence: Annotated[
        str | None,
        typer.Option(
            "--evidence",
            "-e",
            help="Evidence manifest (.yaml/.yml/.json listing records, files, dates, results, signatures); "
            "'example' for the bundled illustrative one. Without it every requirement is a gap.",
        ),
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also write dossier.pdf (WeasyPrint).")] = True,
    population: Annotated[
        int,
        typer.Option(
            "--population", help="Virtual subjects per scenario for the prediction uncertainty (0: off)."
        ),
    ] = 200,
) -> None:
    """IND readiness and the dossier: requirements met, partly met, missing or failed; HTML, PDF, ISA-TAB."""
    from nanobridge.cli import _fail, _out, _progress, _user_errors

    if out.exists() and not out.is_dir():
        raise _fail(f"--out {out}: exists and is not a folder")
    if population < 0:
        raise _fail(f"--population {population}: must be >= 0")
    with _user_errors():
        from nanobridge.domain import load_agent
        from nanobridge.workflows.dossier import build_dossier, write_dossier

        agent_path = _resolve_agent(agent_file)
        agent = load_agent(agent_path)
        manifest = _resolve_manifest(evidence, agent_path)
        with _progress() as progress:
            task = progress.add_task(f"building the dossier of {agent.name}", total=2)
            result = build_dossier(agent, manifest, population_subjects=population)
            progress.update(task, advance=1, description="writing HTML" + (" and PDF" if pdf else ""))
            files = write_dossier(result, out, pdf=pdf)
            progress.update(task, advance=1)
        console = _out()
        rd = result.readiness
        console.print(_areas_table(rd))
        counts = rd.counts()
        overall = "n/a" if rd.overall_pct is None else f"{rd.overall_pct:.0f} %"
        console.print(
            f"[bold]{escape(agent.name)}:[/] overall {overall}; "
            + ", ".join(
                f"[{_STATUS_STYLE.get(s, '')}]{n} {s}[/]"
                for s, n in counts.items()
                if n and s != "not applicable"
            )
            + f"; {counts['not applicable']} not applicable",
            soft_wrap=True,
        )
        gaps = rd.gaps(essential_only=True)
        if gaps:
            console.print("[bold]Essential gaps and the next experiment:[/]")
            for g in gaps[:12]:
                style = _STATUS_STYLE.get(g.status, "")
                console.print(
                    f"  [{style}]{g.status}[/] {escape(g.id)} {escape(g.requirement.title)}: "
                    f"{escape(g.next_experiment)}",
                    soft_wrap=True,
                )
            if len(gaps) > 12:
                console.print(f"  … {len(gaps) - 12} more (readiness.csv)")
        if result.evidence.illustrative:
            console.print(
                "[yellow]The evidence manifest is illustrative: its records are made up.[/]", soft_wrap=True
            )
        for w in result.evidence.warnings:
            console.print(f"[yellow]evidence:[/] {escape(w)}", soft_wrap=True)
        console.print(
            "[dim]Predictions (PBPK, imaging, dosimetry) support planning; they never meet a "
            "requirement that "
            "needs a measurement.[/]",
            soft_wrap=True,
        )
        console.print(f"[bold]Dossier:[/] {escape(str(files.html))}", soft_wrap=True)
        if files.pdf is not None:
            console.print(f"[bold]PDF:[/] {escape(str(files.pdf))}", soft_wrap=True)
        console.print(
            f"[bold]Readiness:[/] {escape(str(files.readiness_csv))}, {escape(str(files.readiness_json))}; "
            f"[bold]ISA-TAB-Nano:[/] {escape(str(files.out_dir / 'isatab'))}",
            soft_wrap=True,
        )
