"""Command line: ``nanobridge population`` (virtual trials) and ``nanobridge fit`` (personalization).

``register(app)`` adds both commands to a Typer app (the lead's :mod:`nanobridge.cli` calls it).
As in :mod:`nanobridge.cli`, bad input ends with one red message naming the option or file and
what is allowed, exit code 2; heavy modules are imported inside the commands, and the shared
helpers of :mod:`nanobridge.cli` (imported lazily: it imports this module) do the error
handling, consoles and progress bars. The science is :mod:`nanobridge.science.population`, the
job code :mod:`nanobridge.workflows.population`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from nanobridge.science.population.fitting import FitResult, IndividualPrediction
    from nanobridge.science.population.sensitivity import SobolResult
    from nanobridge.science.population.trial import PopulationSummary

__all__ = ["fit", "population", "register"]

_JSON = (".json",)


def register(app: typer.Typer) -> None:
    """Add the ``population`` and ``fit`` commands to ``app``."""
    app.command(name="population")(population)
    app.command(name="fit")(fit)


def _f(value: float) -> str:
    from nanobridge.cli import _fmt

    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return str(_fmt(float(value)))


def _times(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    from nanobridge.cli import _fail

    try:
        values = tuple(float(x) for x in text.replace(";", ",").split(",") if x.strip())
    except ValueError:
        raise _fail(f"--times {text!r}: give comma-separated hours, e.g. 1,4,24,48") from None
    if not values:
        raise _fail(f"--times {text!r}: give comma-separated hours, e.g. 1,4,24,48")
    return values


# Metrics shown in the terminal (the CSV next to the store has them all).
_HEADLINE_PREFIXES = ("DE24", "DEmax", "tumor_auc", "tbr_", "cnr_", "best_tbr", "dose_", "effective_dose")


def _summary_table(summary: PopulationSummary) -> Table:
    ui = summary.n_draws > 1
    table = Table(
        title=f"Virtual trial · {summary.n_subjects:,} subjects · {summary.n_draws} uncertainty draw(s)",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        caption="median [5–95 %] over subjects (inter-individual variability)"
        + ("; 90 % uncertainty interval of the median over the parameter-uncertainty draws" if ui else ""),
        caption_justify="left",
    )
    table.add_column("metric")
    table.add_column("unit")
    table.add_column("median", justify="right")
    table.add_column("5–95 %", justify="right")
    if ui:
        table.add_column("median: 90 % UI", justify="right")
    m = summary.metrics
    for name in m.index:
        if not str(name).startswith(_HEADLINE_PREFIXES):
            continue
        r = m.loc[name]
        unit = str(r["unit"]).split(" (")[0]
        cells = [str(name), unit, _f(r["p50"]), f"{_f(r['p5'])}–{_f(r['p95'])}"]
        if ui:
            cells.append(f"{_f(r['p50_ui5'])}–{_f(r['p50_ui95'])}")
        table.add_row(*(escape(c) for c in cells))
    return table


def _detection_table(summary: PopulationSummary) -> Table:
    ui = summary.n_draws > 1
    table = Table(
        title="Share of subjects in whom the tumour is detectable",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("imaging time [h]", justify="right")
    table.add_column("detectable", justify="right")
    if ui:
        table.add_column("90 % UI", justify="right")
    for _, r in summary.detection.iterrows():
        when = "any" if not math.isfinite(r["time_h"]) else _f(r["time_h"])
        cells = [when, f"{100 * r['share_detectable']:.1f} %"]
        if ui:
            cells.append(f"{100 * r['ui5']:.1f}–{100 * r['ui95']:.1f} %")
        table.add_row(*cells)
    return table


def _sobol_table(result: SobolResult, top: int = 4) -> Table:
    table = Table(
        title=f"Sobol sensitivity of ln contrast · {result.n_evaluations:,} simulations "
        f"(N = {result.n_base})",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        caption="total index ST (first-order S1) of the leading factors; ± 95 % bootstrap half-width of ST",
        caption_justify="left",
    )
    table.add_column("output")
    for i in range(top):
        table.add_column(f"#{i + 1}")
    for output in dict.fromkeys(result.indices["output"]):
        ranked = result.ranking(output).head(top)
        cells = [str(output)]
        for _, r in ranked.iterrows():
            cells.append(f"{r['factor']}\n{r['ST']:.2f} ({r['S1']:.2f}) ±{r['ST_conf']:.2f}")
        table.add_row(*(escape(c) for c in cells))
    return table


def _references(keys: Any) -> list[str]:
    from nanobridge.citations import get_reference

    out: list[str] = []
    seen: set[str] = set()
    for key in keys:
        try:
            ref = get_reference(key)
        except KeyError:
            continue
        line = ref.formatted()
        if line not in seen:
            seen.add(line)
            out.append(f"[{key}] {line}")
    return out


def population(
    agent_file: Annotated[
        Path, typer.Argument(help="Agent spec (.yaml, .yml or .json).", show_default=False)
    ],
    n: Annotated[int, typer.Option("--n", "-n", help="Number of virtual subjects.", min=1)] = 10_000,
    species: Annotated[
        str | None,
        typer.Option("--species", "-s", help="mouse, rat or human (default: the scenario's, else mouse)."),
    ] = None,
    scenario_file: Annotated[
        Path | None, typer.Option("--scenario", help="Scenario file (.yaml/.json).")
    ] = None,
    duration_h: Annotated[
        float | None, typer.Option("--duration-h", help="Override the simulated time \\[h].")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same subjects).")] = 0,
    draws: Annotated[
        int,
        typer.Option(
            "--draws", help="Parameter-uncertainty draws (outer level); 1 = variability only.", min=1
        ),
    ] = 10,
    times: Annotated[
        str | None,
        typer.Option("--times", help="Imaging times \\[h], comma-separated (default 1,4,24,48,72,168)."),
    ] = None,
    background: Annotated[
        str, typer.Option("--background", help="Background organ of the contrast.")
    ] = "muscle",
    activity_mbq: Annotated[
        float | None,
        typer.Option("--activity-mbq", help="Injected activity \\[MBq] (default: scenario/label)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Output folder (Zarr store + CSV summaries); default population-<agent>."
        ),
    ] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="Subjects per task.", min=1)] = 1000,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", help="Local worker processes (default: one per core; 0: in this process).", min=0
        ),
    ] = None,
    curves: Annotated[
        bool,
        typer.Option("--curves", help="Also store tumour and background curves (subject x time) in Zarr."),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace a stored run of other inputs in --out (else it resumes)."),
    ] = False,
    sensitivity: Annotated[
        int,
        typer.Option(
            "--sensitivity",
            help="Sobol analysis of contrast with N base samples (a power of 2; 0: off).",
            min=0,
        ),
    ] = 0,
) -> None:
    """Run a virtual trial: distributions of tumour delivery, contrast, doses and detectability.

    Results stream to OUT/population.zarr as chunks finish; rerunning the same command continues
    an interrupted run.
    """
    from nanobridge.cli import _out, _progress, _resolve_scenario, _user_errors

    with _user_errors():
        from nanobridge.citations import collect_citations
        from nanobridge.domain import load_agent
        from nanobridge.science.population.trial import DEFAULT_IMAGING_TIMES_H, TrialDesign, prepare_trial
        from nanobridge.workflows.population import run_population

        agent = load_agent(agent_file)
        scenario = _resolve_scenario(species, scenario_file, None, duration_h)
        imaging = _times(times) or tuple(t for t in DEFAULT_IMAGING_TIMES_H if t <= scenario.duration_h)
        design = TrialDesign(imaging_times_h=imaging, background_organ=background, activity_MBq=activity_mbq)
        folder = out or Path(f"population-{_slug(agent.name)}")
        with collect_citations() as used:
            ctx = prepare_trial(agent, scenario, n, design=design, uncertainty_draws=min(draws, n), seed=seed)
            with _progress() as progress:
                task = progress.add_task(
                    f"{n:,} virtual subjects ({scenario.species}) · {agent.name}", total=None
                )

                def step(done: int, total: int, subjects: int) -> None:
                    progress.update(task, completed=done, total=total)

                run = run_population(
                    ctx,
                    folder,
                    chunk_size=chunk_size,
                    scheduler=scheduler,
                    workers=workers,
                    store_curves=curves,
                    progress=step,
                    overwrite=overwrite,
                )
            sobol = None
            if sensitivity:
                from nanobridge.science.population.sensitivity import sobol_sensitivity

                with _progress() as progress:
                    task = progress.add_task(f"Sobol sensitivity, N = {sensitivity}", total=1)
                    sobol = sobol_sensitivity(
                        agent,
                        scenario,
                        n_base=sensitivity,
                        imaging_times_h=design.imaging_times_h,
                        background_organ=background,
                        seed=seed,
                    )
                    progress.update(task, completed=1)
                sobol.indices.to_csv(run.out_dir / "sobol_indices.csv", index=False, float_format="%.6g")
        console = _out()
        console.print(
            f"[bold]{escape(agent.name)}[/] · {n:,} virtual subjects ({escape(scenario.species)}, "
            f"{escape(ctx.model.name)}) · {escape(run.executor)} · "
            f"{run.chunks_run} chunk(s) run, {run.chunks_skipped} reused · {run.seconds:.1f} s",
            soft_wrap=True,
        )
        console.print(_summary_table(run.summary))
        console.print(_detection_table(run.summary))
        if sobol is not None:
            console.print(_sobol_table(sobol))
        for note in (*run.notes, *run.summary.assumptions):
            console.print(f"[dim]· {escape(note)}[/]", soft_wrap=True)
        console.print(
            f"[bold]Results:[/] {escape(str(run.out_dir))} (population.zarr, summary_metrics.csv, "
            "summary_detection.csv, run.json, references.txt"
            + (", sobol_indices.csv" if sobol is not None else "")
            + ")",
            soft_wrap=True,
        )
        keys = list(dict.fromkeys([*run.summary.citations, *used.keys]))
        refs = _references(keys)
        (run.out_dir / "references.txt").write_text("\n".join(refs) + "\n", encoding="utf-8")
        console.print(
            f"[bold]References[/] ({len(refs)}, in full in references.txt): "
            f"[dim]{escape(', '.join(keys))}[/]",
            soft_wrap=True,
        )


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "agent"


def _fit_table(result: FitResult) -> Table:
    table = Table(
        title=f"Fitted parameters · {result.method} · {result.n_observations} observations · "
        f"residual CV {100 * result.sigma_log:.1f} % (log scale)",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        caption="estimate: posterior mode with the population model as prior; "
        "90 % interval from the posterior",
        caption_justify="left",
    )
    for col, justify in (
        ("parameter", "left"),
        ("nominal", "right"),
        ("estimate", "right"),
        ("90 % interval", "right"),
        ("× nominal", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, r in result.parameters.iterrows():
        table.add_row(
            escape(str(name)),
            _f(r["nominal"]),
            _f(r["estimate"]),
            f"{_f(r['ci5'])}–{_f(r['ci95'])}",
            _f(r["multiplier"]),
        )
    return table


def _delivery_rows(table: Table, label: str, frame: Any) -> None:
    units = {
        "DE24_pct_id": "%ID",
        "DEmax_pct_id": "%ID",
        "t_DEmax_h": "h",
        "tumor_auc_pct_id_per_g_h": "%ID·h/g",
        "DEmax_mg": "mg",
    }
    for metric, r in frame.iterrows():
        table.add_row(
            escape(label),
            escape(str(metric)),
            units.get(str(metric), ""),
            _f(r["p50"]),
            f"{_f(r['p5'])}–{_f(r['p95'])}",
        )


def _prediction_tables(pred: IndividualPrediction, imaging_name: str) -> list[Table]:
    crit = pred.criterion.upper()
    window = Table(
        title="Imaging window of this individual",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
    )
    window.add_column("quantity")
    window.add_column("value", justify="right")
    b5, b50, b95 = pred.best_time_h
    window.add_row(f"best time ({crit})", f"{_f(b50)} h [{_f(b5)}–{_f(b95)}]")
    window.add_row("window", f"{_f(pred.window_h[0])}–{_f(pred.window_h[1])} h")
    best = pred.contrast.iloc[(pred.contrast["time_h"] - b50).abs().argmin()]
    window.add_row(
        "T/B at the best time", f"{_f(best['tbr_p50'])} [{_f(best['tbr_p5'])}–{_f(best['tbr_p95'])}]"
    )
    if "cnr_p50" in pred.contrast:
        window.add_row(
            "CNR at the best time", f"{_f(best['cnr_p50'])} [{_f(best['cnr_p5'])}–{_f(best['cnr_p95'])}]"
        )
        window.add_row("P(detectable) at the best time", f"{100 * best['p_detectable']:.0f} %")
    delivery = Table(
        title="Tumour delivery (posterior median [90 % interval])",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
    )
    for col in ("particle", "metric", "unit", "median", "90 % interval"):
        delivery.add_column(col, justify="right" if col in ("median", "90 % interval") else "left")
    _delivery_rows(delivery, imaging_name, pred.imaging_agent)
    if pred.sister is not None:
        _delivery_rows(delivery, f"{pred.sister_name} (sister)", pred.sister)
    return [window, delivery]


def fit(
    tac_file: Annotated[
        Path,
        typer.Argument(
            help="Time-activity curves (.csv): time_h + <roi>_pct_id_per_g or <roi>_kBq_per_mL columns.",
            show_default=False,
        ),
    ],
    agent_file: Annotated[
        Path, typer.Option("--agent", "-a", help="The imaging agent (.yaml/.json).", show_default=False)
    ],
    species: Annotated[
        str | None,
        typer.Option("--species", "-s", help="mouse, rat or human (default: the scenario's, else mouse)."),
    ] = None,
    scenario_file: Annotated[
        Path | None, typer.Option("--scenario", help="Scenario file (.yaml/.json).")
    ] = None,
    body_weight_kg: Annotated[
        float | None, typer.Option("--body-weight-kg", help="The individual's weight \\[kg].")
    ] = None,
    duration_h: Annotated[
        float | None, typer.Option("--duration-h", help="Predict up to this time \\[h].")
    ] = None,
    parameters: Annotated[
        str | None,
        typer.Option(
            "--params",
            help="Parameters to fit, comma-separated (default from the ROIs): "
            "PATC, KTRESmax, KTRESrelease, QTC, KLRESmax, KSRESmax, KbileC, renal.",
        ),
    ] = None,
    method: Annotated[str, typer.Option("--method", help="laplace (fast) or mcmc (Metropolis).")] = "laplace",
    activity_mbq: Annotated[
        float | None, typer.Option("--activity-mbq", help="Injected activity \\[MBq] (for kBq/mL columns).")
    ] = None,
    nuclide: Annotated[
        str | None, typer.Option("--nuclide", help="Nuclide, to decay-correct kBq/mL values.")
    ] = None,
    not_decay_corrected: Annotated[
        bool,
        typer.Option(
            "--not-decay-corrected", help="kBq/mL values are not decay-corrected (needs --nuclide)."
        ),
    ] = False,
    sister: Annotated[
        Path | None,
        typer.Option("--sister", help="Therapeutic sister particle (.yaml/.json): predict its delivery."),
    ] = None,
    background: Annotated[
        str, typer.Option("--background", help="Background organ of the contrast.")
    ] = "muscle",
    samples: Annotated[
        int, typer.Option("--samples", help="Posterior samples for the predictions.", min=20)
    ] = 400,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write everything as JSON (.json).")] = None,
) -> None:
    """Fit an individual's parameters to measured time-activity curves; predict its imaging window."""
    from nanobridge.cli import _check_suffix, _out, _progress, _resolve_scenario, _user_errors

    _check_suffix(out, _JSON, "--out", "JSON")
    with _user_errors():
        from nanobridge.citations import collect_citations
        from nanobridge.domain import load_agent
        from nanobridge.science.population.fitting import fit_tac, predict_individual, read_tac_csv

        agent = load_agent(agent_file)
        sister_agent = load_agent(sister) if sister is not None else None
        scenario = _resolve_scenario(species, scenario_file, body_weight_kg, duration_h)
        label = agent.labels.radionuclide
        tac = read_tac_csv(
            tac_file,
            activity_MBq=activity_mbq or scenario.activity_MBq or (label.activity_MBq if label else None),
            nuclide=nuclide or (label.nuclide if label else None),
            decay_corrected=not not_decay_corrected,
        )
        names = [p.strip() for p in parameters.split(",") if p.strip()] if parameters else None
        with collect_citations() as used, _progress() as progress:
            task = progress.add_task(f"fitting {', '.join(tac.rois)} ({method})", total=2)
            result = fit_tac(
                tac, agent, scenario, parameters=names, method=method, n_samples=samples, seed=seed
            )
            progress.update(task, completed=1, description="predicting")
            pred = predict_individual(
                result, agent, scenario, sister=sister_agent, background_organ=background
            )
            progress.update(task, completed=2)
        console = _out()
        console.print(
            f"[bold]{escape(agent.name)}[/] · {escape(scenario.species)}, {_f(scenario.body_weight_kg)} kg · "
            f"{escape(tac_file.name)}: {len(tac.times_h)} times × {len(tac.rois)} ROIs "
            f"({escape(', '.join(tac.rois))})",
            soft_wrap=True,
        )
        console.print(_fit_table(result))
        for t in _prediction_tables(pred, agent.name):
            console.print(t)
        for note in (*result.notes, *pred.assumptions):
            console.print(f"[dim]· {escape(note)}[/]", soft_wrap=True)
        if result.method == "mcmc":
            d = result.diagnostics
            console.print(
                f"[dim]· MCMC: {int(d['chains'])} chains, acceptance {d['acceptance_rate']:.2f}, "
                f"max split R-hat {d['max_rhat']:.3f}[/]"
            )
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            payload = {
                "agent": agent.name,
                "species": scenario.species,
                "method": result.method,
                "sigma_log": result.sigma_log,
                "parameters": result.parameters.reset_index().to_dict(orient="records"),
                "diagnostics": result.diagnostics,
                "best_time_h": {
                    "p5": pred.best_time_h[0],
                    "p50": pred.best_time_h[1],
                    "p95": pred.best_time_h[2],
                },
                "window_h": list(pred.window_h),
                "criterion": pred.criterion,
                "contrast": pred.contrast.to_dict(orient="list"),
                "imaging_agent_delivery": pred.imaging_agent.reset_index().to_dict(orient="records"),
                "sister": None
                if pred.sister is None
                else {
                    "agent": pred.sister_name,
                    "delivery": pred.sister.reset_index().to_dict(orient="records"),
                },
                "residuals": result.residuals.to_dict(orient="records"),
                "assumptions": list(pred.assumptions),
                "citations": list(dict.fromkeys([*used.keys])),
            }
            out.write_text(json.dumps(payload, indent=2, default=float))
            console.print(f"[bold]Fit:[/] {escape(str(out))}", soft_wrap=True)
        refs = _references(used.keys)
        console.print(f"[bold]References[/] ({len(refs)}):")
        for line in refs:
            console.print(f"[dim]{escape(line)}[/]", soft_wrap=True)
