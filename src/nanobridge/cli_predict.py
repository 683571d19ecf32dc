"""Command line: ``nanobridge predict PARTICLES.csv --out PRED.csv``.

Predicts tumour delivery (DE24, DE168, Demax [%ID], with 90 % CV+ prediction intervals) for each
row of a table of particles, from models trained on the packaged Nano-Tumor Database
(:mod:`nanobridge.science.design.delivery`). The models are trained at first use (seeded; a
progress bar shows it) and cached on disk; later calls load them. ``--ai-pbpk`` adds the
AI-PBPK predictions (predicted tumour parameters run through the mouse PBPK model).

As elsewhere in the CLI, a malformed file ends with one red message naming the line and exit
code 2; a bad *value* in a row only earns that row a warning (the ``warnings`` column) and an
applicability-domain flag. The lead registers the command with :func:`register`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from nanobridge.science.design.delivery import ModelConfig

__all__ = ["predict", "read_particle_table", "register"]

IN_SUFFIXES: tuple[str, ...] = (".csv", ".txt")
OUT_SUFFIXES: tuple[str, ...] = (".csv",)
#: Rows shown in the terminal summary (all rows go to --out).
SHOWN_ROWS = 15


def register(app: typer.Typer) -> None:
    """Add the ``predict`` command to ``app``."""
    app.command(name="predict")(predict)


def _model_config() -> ModelConfig:
    """Configuration of the models the command uses (tests substitute a small one)."""
    from nanobridge.science.design.delivery import ModelConfig

    return ModelConfig()


def read_particle_table(path: Path) -> pd.DataFrame:
    """Read a particle CSV strictly: every line must have as many fields as the header.

    Blank lines are skipped. Values stay text; the cleaning rules parse them per cell, so a bad
    value is a per-row warning, not an error. Raises ``ValueError`` naming the file and line.
    """
    import pandas as pd

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header: list[str] | None = None
    rows: list[list[str]] = []
    try:
        for fields in reader:
            if not fields or all(not f.strip() for f in fields):
                continue
            if header is None:
                header = [f.strip() for f in fields]
                empty = [i + 1 for i, h in enumerate(header) if not h]
                if empty:
                    raise ValueError(
                        f"{path}: header line {reader.line_num} has an empty column name (column {empty[0]})"
                    )
                dup = sorted({h for h in header if header.count(h) > 1})
                if dup:
                    raise ValueError(f"{path}: header repeats column(s) {dup}")
                continue
            if len(fields) != len(header):
                raise ValueError(
                    f"{path}: line {reader.line_num} has {len(fields)} fields but the header has "
                    f"{len(header)} ({', '.join(header)}); quote values that contain the delimiter"
                )
            rows.append([f.strip() for f in fields])
    except csv.Error as exc:
        raise ValueError(f"{path}: malformed CSV at line {reader.line_num}: {exc}") from None
    if header is None:
        raise ValueError(f"{path}: the file is empty (expected a header line and one row per particle)")
    if not rows:
        raise ValueError(f"{path}: no particle rows after the header ({', '.join(header)})")
    return pd.DataFrame(rows, columns=header, dtype=object)


def _summary(table: pd.DataFrame, ai_pbpk: bool) -> Table:
    from nanobridge.cli import _fmt

    t = Table(
        title="Predicted tumour delivery [%ID] (90 % prediction interval)",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
    )
    t.add_column("ID", max_width=20)
    for name in ("DE24", "DE168", "Demax"):
        t.add_column(name, justify="right")
    if ai_pbpk:
        t.add_column("DE24 / DE168 / Demax\nAI-PBPK", justify="right")
    t.add_column("domain")
    for _, row in table.head(SHOWN_ROWS).iterrows():
        cells = [str(row["ID"])]
        for name in ("DE24", "DE168", "Demax"):
            cells.append(f"{_fmt(row[name])} ({_fmt(row[f'{name}_lo'])}-{_fmt(row[f'{name}_hi'])})")
        if ai_pbpk:
            cells.append(" / ".join(_fmt(row[f"{n}_pbpk"]) for n in ("DE24", "DE168", "Demax")))
        style = {"in": "green", "incomplete": "yellow", "out": "bold red"}[str(row["domain"])]
        cells.append(f"[{style}]{row['domain']}[/]")
        t.add_row(*cells)
    return t


def predict(
    particles: Annotated[
        Path,
        typer.Argument(
            help="CSV table, one particle per row: database columns (Type, TS, HD, Zeta, Charge, Shape, "
            "TM, CT, TW, Dose, BW) or aliases (hydrodynamic_diameter_nm, zeta_mV, tumor_model, "
            "cancer_type, dose_mg_per_kg, body_weight_g, tumor_weight_g, targeting, ...).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write all predictions to this CSV file.")
    ] = None,
    ai_pbpk: Annotated[
        bool,
        typer.Option(
            "--ai-pbpk",
            help="Also predict the nine tumour PBPK parameters and simulate them in the mouse model "
            "(columns DE24_pbpk, DE168_pbpk, Demax_pbpk and the parameters).",
        ),
    ] = False,
    retrain: Annotated[
        bool, typer.Option("--retrain", help="Retrain the models even if a cached copy exists.")
    ] = False,
) -> None:
    """Predict tumour delivery (DE24, DE168, Demax) with 90 % intervals for a table of particles."""
    from nanobridge.cli import _check_suffix, _err, _out, _progress, _user_errors

    _check_suffix(particles, IN_SUFFIXES, "PARTICLES", "comma-, semicolon- or tab-separated table")
    _check_suffix(out, OUT_SUFFIXES, "--out", "CSV table")
    with _user_errors():
        from nanobridge.science.design.data import clean_descriptors, standardize_columns
        from nanobridge.science.design.delivery import load_or_train, predict_delivery

        raw = read_particle_table(particles)
        table, column_notes = standardize_columns(raw)
        cleaned = clean_descriptors(table)
        err = _err()
        for note in column_notes:
            err.print(f"[yellow]Note:[/] {escape(note)}", soft_wrap=True)
        with _progress() as progress:
            task = progress.add_task("loading the delivery models", total=1)

            def on_step(done: int, total: int, label: str) -> None:
                progress.update(
                    task,
                    total=total,
                    completed=done,
                    description=f"training the delivery models (first use): {label}",
                )

            loaded = load_or_train(_model_config(), progress=on_step, retrain=retrain)
            progress.update(task, completed=progress.tasks[0].total or 1)
        for note in loaded.notes:
            err.print(f"[yellow]Note:[/] {escape(note)}", soft_wrap=True)
        models = loaded.models
        result = predict_delivery(models, cleaned)
        ids = result["ID"].astype(str)
        dup = ids[ids.duplicated(keep=False)]
        if len(dup):
            result.loc[dup.index, "warnings"] = [
                "; ".join(filter(None, [w, f"ID {i!r} is not unique"]))
                for w, i in zip(result.loc[dup.index, "warnings"], dup, strict=True)
            ]
        if ai_pbpk:
            from nanobridge.science.design.ai_pbpk import predict_ai_pbpk

            with _progress() as progress:
                task = progress.add_task(f"AI-PBPK: simulating {len(result)} particle(s)", total=1)
                pb = predict_ai_pbpk(models, cleaned)
                progress.update(task, completed=1)
            extra = pb.table.drop(columns=["ID"])
            front = result.drop(columns=["domain", "mahalanobis_d2", "warnings"])
            back = result[["domain", "mahalanobis_d2", "warnings"]]
            result = front.join(extra).join(back)
        console = _out()
        source = {"memory": "in memory", "cache": f"cache {loaded.path}", "trained": "trained now"}[
            loaded.source
        ]
        console.print(
            f"[bold]{len(result)}[/] particle(s) from {escape(str(particles))} · models: "
            f"{escape(models.config.family)} on {models.n_training_rows} Nano-Tumor Database data sets "
            f"({escape(source)})",
            soft_wrap=True,
        )
        console.print(_summary(result, ai_pbpk))
        if len(result) > SHOWN_ROWS:
            console.print(f"[dim]… {len(result) - SHOWN_ROWS} more row(s) in the output file[/]")
        counts = result["domain"].value_counts()
        console.print(
            "applicability domain: "
            + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("in", "incomplete", "out"))
            + " (out: outside the training range, unseen category or Mahalanobis D² above the "
            "99th training percentile; incomplete: missing values imputed)",
            soft_wrap=True,
        )
        for _, row in result.iterrows():
            if row["warnings"]:
                console.print(
                    f"[yellow]· {escape(str(row['ID']))}:[/] {escape(str(row['warnings']))}", soft_wrap=True
                )
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            result.to_csv(out, index=False, float_format="%.5g")
            console.print(f"[bold]Predictions:[/] {escape(str(out))}", soft_wrap=True)
