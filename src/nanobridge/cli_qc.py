"""Command line: ``nanobridge qc analyze-dls | size-tem | release | compare | spc``.

Manufacturing QC on the command line: DLS correlogram analysis, TEM/SEM particle sizing, batch
release against a specification, statistical process control and scale-up comparability. The
word ``example`` (or, for ``--history``/``--spec``, leaving the option out) selects the bundled
example files, and every command prints which files it used.

As in :mod:`nanobridge.cli`, bad input ends with one red message naming the file or option and
what is wrong, and exit code 2; heavy modules are imported inside the commands. The shared
helpers (error handling, consoles, progress) are those of :mod:`nanobridge.cli`, imported lazily
because ``nanobridge.cli`` registers this sub-app at import time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

if TYPE_CHECKING:
    from nanobridge.domain.batch import Batch, Specification
    from nanobridge.science.qc.dls import DLSAnalysis
    from nanobridge.workflows.qc import DLSRun

__all__ = ["qc_app"]

qc_app = typer.Typer(
    name="qc",
    help="Manufacturing QC: DLS analysis, TEM sizing, batch release, SPC and scale-up comparability. "
    "Use the word 'example' (or leave out --history/--spec) for the bundled example files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

DATA_OUT_SUFFIXES: tuple[str, ...] = (".csv", ".json")
PLOT_SUFFIXES: tuple[str, ...] = (".html", ".htm")
_STATUS_STYLE = {
    "pass": "green",
    "release": "bold green",
    "fail": "bold red",
    "reject": "bold red",
    "out-of-trend": "yellow",
    "hold": "bold yellow",
    "missing": "magenta",
    "not-evaluable": "magenta",
    "incomplete": "bold magenta",
    "warn": "yellow",
    "equivalent": "green",
    "within range": "green",
    "not shown equivalent": "bold red",
    "outside range": "bold red",
    "descriptive": "dim",
    "not evaluable": "magenta",
}
_CONDITION_OPTIONS = {
    "temperature_K": "--temperature-k",
    "viscosity_mPa_s": "--viscosity-mpa-s",
    "solvent_refractive_index": "--refractive-index",
    "wavelength_nm": "--wavelength-nm",
}


# --------------------------------------------------------------------------------------------
# Shared helpers (those of nanobridge.cli, imported when a command runs)
# --------------------------------------------------------------------------------------------


@contextmanager
def _user_errors() -> Iterator[None]:
    from nanobridge.cli import _user_errors as user_errors

    with user_errors():
        yield


def _fail(message: str) -> typer.Exit:
    from nanobridge.cli import _fail as fail

    return fail(message)


def _out() -> Console:
    from nanobridge.cli import _out as out

    return out()


def _progress() -> Progress:
    from nanobridge.cli import _progress as progress

    return progress()


def _check_suffix(path: Path | None, allowed: Sequence[str], option: str, what: str) -> None:
    from nanobridge.cli import _check_suffix as check_suffix

    check_suffix(path, allowed, option, what)


def _fmt(value: float | None, digits: int = 3) -> str:
    from nanobridge.workflows.assessment import format_value

    return "—" if value is None else format_value(value, digits)


def _styled(text: str) -> str:
    style = _STATUS_STYLE.get(text)
    return f"[{style}]{escape(text)}[/]" if style else escape(text)


def _used(console: Console, what: str, path: Path, bundled: bool) -> None:
    tag = " [dim](bundled example)[/]" if bundled else ""
    console.print(f"[bold]{what}:[/] {escape(str(path))}{tag}", soft_wrap=True)


def _sources(console: Console, keys: Sequence[str]) -> None:
    if keys:
        console.print(f"[dim]sources: {escape(', '.join(keys))}[/]", soft_wrap=True)


def _finite_option(value: float | None, option: str, *, positive: bool = False) -> None:
    if value is None:
        return
    if not math.isfinite(value) or (positive and value <= 0):
        raise _fail(f"{option} {value!r}: must be a {'positive' if positive else 'finite'} number")


def _rules(text: str | None, option: str = "--rules") -> tuple[str, ...] | None:
    """``nelson``, ``western_electric``, ``all`` or a comma-separated list such as ``N1,N3,WE2``."""
    if text is None:
        return None
    from nanobridge.science.qc.errors import QCInputError
    from nanobridge.science.qc.spc import resolve_rules

    items = [t.strip() for t in text.split(",") if t.strip()]
    try:
        return resolve_rules(items)
    except QCInputError as exc:
        raise _fail(f"{option} {text!r}: {exc}") from None


def _write_plot(path: Path, html: str, console: Console) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    console.print(f"[bold]Plot:[/] {escape(str(path))}", soft_wrap=True)


def _load_spec(spec: str | None, console: Console) -> Specification:
    from nanobridge.domain.batch import load_specification
    from nanobridge.workflows.qc import resolve_qc_input

    path, bundled = resolve_qc_input(spec, "spec")
    specification = load_specification(path)
    _used(console, "specification", path, bundled)
    return specification


def _load_history(
    history: str | None, console: Console, spec: Specification | None = None
) -> tuple[list[Batch], Path, bool]:
    from nanobridge.domain.batch import load_batches, sort_batches
    from nanobridge.workflows.qc import resolve_qc_input

    path, bundled = resolve_qc_input(history, "history")
    batches = sort_batches(load_batches(path, spec))
    counts: dict[str, int] = {}
    for b in batches:
        counts[b.scale] = counts.get(b.scale, 0) + 1
    _used(console, "lot history", path, bundled)
    console.print(
        f"[dim]{len(batches)} lots: {escape(', '.join(f'{n} {s}' for s, n in counts.items()))}[/]",
        soft_wrap=True,
    )
    return batches, path, bundled


# --------------------------------------------------------------------------------------------
# analyze-dls
# --------------------------------------------------------------------------------------------


def _dls_table(run: DLSRun, inverted: bool) -> Table:
    from nanobridge.workflows.qc import format_peaks

    table = Table(
        title=f"{run.path.name} · {run.file_format.upper()} · {len(run.analyses)} correlogram(s)",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    several = len(run.records) > 1
    if several:
        table.add_column("record", max_width=28, overflow="fold")
    for header in ("angle\n[°]", "Z-avg\n[nm]", "Rh\n[nm]", "PDI", "inter-\ncept", "fit window\n[µs]"):
        table.add_column(escape(header), justify="right")
    table.add_column("verdict")
    if inverted:
        table.add_column(escape("intensity peaks\n[nm (area)]"), max_width=24)
        table.add_column(escape("volume peaks\n[nm (area)]"), max_width=20)
        table.add_column(escape("number peaks\n[nm (area)]"), max_width=20, style="dim")
    for a in run.analyses:
        c = a.cumulants
        row = [escape(a.label)] if several else []
        row += [
            f"{a.angle_deg:g}",
            _fmt(c.z_average_nm, 4),
            _fmt(c.hydrodynamic_radius_nm, 4),
            f"{c.pdi:.3f}",
            f"{c.intercept:.3f}",
            f"{_fmt(c.first_lag_s * 1e6)}–{_fmt(c.last_lag_s * 1e6)}",
            _styled(a.quality.verdict),
        ]
        d = a.distribution
        if inverted:
            row += (
                ["—"] * 3
                if d is None
                else [
                    escape(format_peaks(d.intensity_peaks, compact=True)),
                    escape(format_peaks(d.volume_peaks, 2, compact=True)),
                    escape(format_peaks(d.number_peaks, 2, compact=True)),
                ]
            )
        table.add_row(*row)
    return table


@qc_app.command("analyze-dls")
def analyze_dls(
    file: Annotated[
        str,
        typer.Argument(
            help="Correlogram file: ALV .ASC, CSV or Zetasizer .xlsx; 'example' for the bundled BAM "
            "multi-angle measurement.",
            show_default=False,
        ),
    ],
    cutoff: Annotated[
        float,
        typer.Option(
            "--cutoff", help="Cumulant fit window ends where g2−1 falls below this fraction of the intercept."
        ),
    ] = 0.1,
    order: Annotated[int, typer.Option("--order", help="Number of cumulants: 2 (ISO 22412) or 3.")] = 2,
    min_lag_s: Annotated[
        float, typer.Option("--min-lag-s", help="First lag used [s] (detector artefacts before it).")
    ] = 1e-6,
    max_lag_s: Annotated[
        float | None, typer.Option("--max-lag-s", help="Last lag the cumulant fit may use [s].")
    ] = None,
    particle_index: Annotated[
        float | None,
        typer.Option(
            "--particle-index",
            help="Particle refractive index (real part): Mie instead of Rayleigh-Gans-Debye weighting "
            "for the volume/number distributions (needed for metals and oxides).",
        ),
    ] = None,
    particle_absorption: Annotated[
        float, typer.Option("--particle-absorption", help="Imaginary part of the particle index (Mie).")
    ] = 0.0,
    no_inversion: Annotated[
        bool, typer.Option("--no-inversion", help="Cumulants and quality only (no size distribution).")
    ] = False,
    lenient: Annotated[
        bool,
        typer.Option(
            "--lenient", help="Skip records that are not valid correlograms (listed) instead of stopping."
        ),
    ] = False,
    temperature_k: Annotated[
        float | None, typer.Option("--temperature-k", help="Override the temperature [K].")
    ] = None,
    viscosity_mpa_s: Annotated[
        float | None, typer.Option("--viscosity-mpa-s", help="Override the dispersant viscosity [mPa·s].")
    ] = None,
    refractive_index: Annotated[
        float | None, typer.Option("--refractive-index", help="Override the dispersant refractive index.")
    ] = None,
    wavelength_nm: Annotated[
        float | None, typer.Option("--wavelength-nm", help="Override the laser wavelength [nm].")
    ] = None,
    angles: Annotated[
        str | None,
        typer.Option(
            "--angles",
            help="Scattering angles [°], comma-separated: of CSV columns without one, or of each "
            "Zetasizer record's channels.",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the results: .csv (one row per angle) or .json.")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Correlograms, fits, residuals and size distributions (.html)."),
    ] = None,
) -> None:
    """DLS: Z-average, PDI, quality verdict and size distributions of every correlogram; D and Rh at
    q² → 0 when there are several angles."""
    _check_suffix(out, DATA_OUT_SUFFIXES, "--out", "CSV table or JSON")
    _check_suffix(plot, PLOT_SUFFIXES, "--plot", "HTML plot")
    if order not in (2, 3):
        raise _fail(f"--order {order}: allowed 2 or 3")
    if not (math.isfinite(cutoff) and 0.0 < cutoff < 1.0):
        raise _fail(f"--cutoff {cutoff!r}: must be between 0 and 1 (a fraction of the intercept)")
    if not (math.isfinite(min_lag_s) and min_lag_s >= 0.0):
        raise _fail(f"--min-lag-s {min_lag_s!r}: must be a non-negative number of seconds")
    _finite_option(max_lag_s, "--max-lag-s", positive=True)
    _finite_option(particle_index, "--particle-index", positive=True)
    if not (math.isfinite(particle_absorption) and particle_absorption >= 0.0):
        raise _fail(f"--particle-absorption {particle_absorption!r}: must be a number >= 0")
    overrides = {
        key: value
        for key, value in (
            ("temperature_K", temperature_k),
            ("viscosity_mPa_s", viscosity_mpa_s),
            ("solvent_refractive_index", refractive_index),
            ("wavelength_nm", wavelength_nm),
        )
        if value is not None
    }
    angle_list: list[float] | None = None
    if angles is not None:
        try:
            angle_list = [float(a) for a in angles.replace(";", ",").split(",") if a.strip()]
        except ValueError:
            raise _fail(
                f"--angles {angles!r}: give numbers in degrees separated by commas, e.g. 173,90,13"
            ) from None
        if not angle_list or not all(0.0 < a < 180.0 for a in angle_list):
            raise _fail(f"--angles {angles!r}: every angle must be between 0 and 180 degrees")
    with _user_errors():
        from nanobridge.science.qc.dls import CumulantSettings, InversionSettings, MeasurementConditions
        from nanobridge.science.qc.dls_io import ZETASIZER_ASSUMED_CONDITIONS
        from nanobridge.science.qc.errors import QCInputError
        from nanobridge.workflows.qc import analyze_dls_file, dls_figure, dls_rows, resolve_qc_input

        if overrides:  # check the values here, so the message names the option
            for key, value in overrides.items():
                try:
                    MeasurementConditions(**{**ZETASIZER_ASSUMED_CONDITIONS.model_dump(), key: value})
                except QCInputError as exc:
                    raise _fail(
                        f"{_CONDITION_OPTIONS[key]} {value!r}: {str(exc).split(': ', 2)[-1]}"
                    ) from None
        cumulant_settings = CumulantSettings(
            order=order, cutoff_fraction=cutoff, min_lag_s=min_lag_s, max_lag_s=max_lag_s
        )
        inversion_settings = (
            None
            if no_inversion
            else InversionSettings(
                min_lag_s=min_lag_s,
                form_factor="mie" if particle_index is not None else "rgd",
                particle_refractive_index=particle_index,
                particle_absorption_index=particle_absorption,
            )
        )
        path, bundled = resolve_qc_input(file, "dls")
        with _progress() as progress:
            task = progress.add_task(f"analysing {path.name}", total=1)
            run = analyze_dls_file(
                path,
                cumulant_settings=cumulant_settings,
                inversion_settings=inversion_settings,
                invert=not no_inversion,
                strict=not lenient,
                condition_overrides=overrides or None,
                angles_deg=angle_list,
            )
            progress.update(task, completed=1)
        console = _out()
        _used(console, "DLS file", path, bundled)
        c = run.conditions
        console.print(
            f"conditions: {_fmt(c.temperature_K, 5)} K · {_fmt(c.viscosity_mPa_s, 5)} mPa·s · "
            f"n {_fmt(c.solvent_refractive_index, 4)} · {_fmt(c.wavelength_nm, 4)} nm"
            + (f" · [yellow]assumed: {escape(', '.join(run.assumed))}[/]" if run.assumed else "")
            + (f" · [dim]overridden: {escape(', '.join(overrides))}[/]" if overrides else ""),
            soft_wrap=True,
        )
        fit = (
            f"fit: cumulants of order {order}, weights (g2−1)², lags ≥ {_fmt(min_lag_s * 1e6)} µs"
            + (f" and ≤ {_fmt(max_lag_s * 1e6)} µs" if max_lag_s is not None else "")
            + f" until g2−1 < {_fmt(cutoff)} × intercept"
        )
        if run.inversion_settings is not None:
            inv = run.inversion_settings
            fit += (
                f"; inversion: NNLS on {inv.n_diameters} diameters, α by GCV, "
                + ("Mie" if inv.form_factor == "mie" else "Rayleigh-Gans-Debye")
                + " sphere weighting"
            )
        console.print(f"[dim]{escape(fit)}[/]", soft_wrap=True)
        for rec in run.rejected:
            console.print(f"[yellow]skipped:[/] {escape(rec.reason)}", soft_wrap=True)
        console.print(_dls_table(run, not no_inversion))
        several = len(run.records) > 1

        def where(a: DLSAnalysis) -> str:
            return (f"{a.label} " if several else "") + f"{a.angle_deg:g}°"

        for a in run.analyses:
            for flag in a.quality.flags:
                if flag.severity == "info":
                    continue
                style = "red" if flag.severity == "failure" else "yellow"
                console.print(
                    f"[{style}]{escape(where(a))} {flag.severity}:[/] {escape(flag.message)}", soft_wrap=True
                )
        for group in run.multi_angle:
            m = group.result
            record = escape(f" · {group.label}" if several else "")
            console.print(
                f"[bold]multi-angle{record} ({len(m.points)} angles):[/] "
                f"D(q²→0) = {_fmt(m.diffusion_q0_m2_per_s, 4)} ± {_fmt(m.diffusion_q0_se_m2_per_s, 2)} m²/s "
                f"→ [bold]Rh(q²→0) = {_fmt(m.radius_q0_nm, 4)} ± {_fmt(m.radius_q0_se_nm, 2)} nm[/]; "
                f"mean Rh over angles {_fmt(m.radius_mean_nm, 4)} ± "
                f"{_fmt(m.radius_sd_nm, 2)} nm; mean PDI {m.pdi_mean:.3f} ± {m.pdi_sd:.3f}",
                soft_wrap=True,
            )
        for note in run.multi_angle_notes[:5]:
            console.print(f"[dim]{escape(note)}[/]", soft_wrap=True)
        if len(run.multi_angle_notes) > 5:
            console.print(f"[dim]… and {len(run.multi_angle_notes) - 5} more such notes[/]", soft_wrap=True)
        if not no_inversion:
            console.print(
                "[dim]peaks: mode (share of the area); volume and number distributions assume homogeneous "
                "spheres and are for orientation only (dividing by the steep intensity weighting amplifies "
                "noise).[/]",
                soft_wrap=True,
            )
            edge = [
                where(a)
                for a in run.analyses
                if a.distribution is not None
                and any(
                    p.lower_nm <= a.distribution.diameters_nm[0]
                    for p in (*a.distribution.volume_peaks, *a.distribution.number_peaks)
                )
            ]
            if edge:
                which = (
                    ", ".join(edge) if len(edge) <= 8 else f"{len(edge)} of {len(run.analyses)} correlograms"
                )
                console.print(
                    "[yellow]note:[/] volume/number peaks at the smallest diameter of the grid "
                    f"({escape(which)}) are noise of the intensity distribution amplified by the "
                    "d⁻⁶ conversion, not particles.",
                    soft_wrap=True,
                )
        _sources(console, run.citations)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            if out.suffix.lower() == ".json":
                payload: dict[str, Any] = {
                    "file": str(run.path),
                    "format": run.file_format,
                    "cumulant_settings": run.cumulant_settings.model_dump(mode="json"),
                    "inversion_settings": None
                    if run.inversion_settings is None
                    else run.inversion_settings.model_dump(mode="json"),
                    "analyses": [a.model_dump(mode="json") for a in run.analyses],
                    "multi_angle": [
                        {"record": g.label, **g.result.model_dump(mode="json")} for g in run.multi_angle
                    ],
                    "multi_angle_notes": list(run.multi_angle_notes),
                    "rejected": [r.model_dump(mode="json") for r in run.rejected],
                    "citations": list(run.citations),
                }
                out.write_text(json.dumps(payload, indent=1), encoding="utf-8")
            else:
                import pandas as pd

                pd.DataFrame(dls_rows(run)).to_csv(out, index=False)
            console.print(f"[bold]Results:[/] {escape(str(out))}", soft_wrap=True)
        if plot is not None:
            from nanobridge.workflows.qc import figures_html

            _write_plot(plot, figures_html([dls_figure(run)], f"DLS analysis of {run.path.name}"), console)


# --------------------------------------------------------------------------------------------
# size-tem
# --------------------------------------------------------------------------------------------


@qc_app.command("size-tem")
def size_tem(
    image: Annotated[
        str,
        typer.Argument(
            help="Micrograph (.png, .tif, .jpg); 'example' for the bundled example.", show_default=False
        ),
    ],
    nm_per_px: Annotated[float | None, typer.Option("--nm-per-px", help="Pixel size [nm/px].")] = None,
    scale_bar_nm: Annotated[
        float | None,
        typer.Option(
            "--scale-bar-nm", help="Length of the image's scale bar [nm]: the bar is found and measured."
        ),
    ] = None,
    polarity: Annotated[
        str, typer.Option("--polarity", help="dark particles (bright-field TEM) or bright (HAADF-STEM, SEM).")
    ] = "dark",
    method: Annotated[
        str, typer.Option("--method", help="shape_prior (convexity-aware splitting) or classic watershed.")
    ] = "shape_prior",
    threshold: Annotated[
        str, typer.Option("--threshold", help="Global threshold: otsu, isodata, li or triangle.")
    ] = "otsu",
    expected_diameter_nm: Annotated[
        float | None,
        typer.Option("--expected-diameter-nm", help="Typical particle diameter [nm] (else estimated)."),
    ] = None,
    min_diameter_nm: Annotated[
        float | None, typer.Option("--min-diameter-nm", help="Drop specks smaller than this ECD [nm].")
    ] = None,
    min_area_px: Annotated[
        int | None, typer.Option("--min-area-px", help="Drop specks smaller than this area [px].")
    ] = None,
    keep_edge: Annotated[
        bool, typer.Option("--keep-edge-particles", help="Count particles cut by the image border too.")
    ] = False,
    overlay: Annotated[
        Path | None, typer.Option("--overlay", help="Write the segmentation overlay for review (.png).")
    ] = None,
    numbers: Annotated[bool, typer.Option("--numbers", help="Label the particles on the overlay.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write one row per particle (.csv).")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Size histogram and shape plot (.html).")
    ] = None,
) -> None:
    """TEM/SEM particle sizing: count, ECD distribution (D10/D50/D90), Feret diameters, shape, warnings."""
    _check_suffix(overlay, (".png",), "--overlay", "PNG image")
    _check_suffix(out, (".csv",), "--out", "CSV table")
    _check_suffix(plot, PLOT_SUFFIXES, "--plot", "HTML plot")
    if polarity not in ("dark", "bright"):
        raise _fail(f"--polarity {polarity!r}: allowed dark (bright-field TEM) or bright (HAADF-STEM, SEM)")
    if method not in ("shape_prior", "classic"):
        raise _fail(f"--method {method!r}: allowed shape_prior or classic")
    if threshold not in ("otsu", "isodata", "li", "triangle"):
        raise _fail(f"--threshold {threshold!r}: allowed otsu, isodata, li or triangle")
    for value, option in (
        (nm_per_px, "--nm-per-px"),
        (scale_bar_nm, "--scale-bar-nm"),
        (expected_diameter_nm, "--expected-diameter-nm"),
    ):
        _finite_option(value, option, positive=True)
    _finite_option(min_diameter_nm, "--min-diameter-nm")
    if min_diameter_nm is not None and min_diameter_nm < 0:
        raise _fail(f"--min-diameter-nm {min_diameter_nm!r}: must be >= 0")
    if min_area_px is not None and min_area_px < 1:
        raise _fail(f"--min-area-px {min_area_px}: must be at least 1 pixel")
    if min_area_px is not None and min_diameter_nm is not None:
        raise _fail("give either --min-area-px or --min-diameter-nm, not both")
    bundled = image.strip().lower() == "example"
    if not bundled and nm_per_px is None and scale_bar_nm is None:
        raise _fail(
            f"{image}: the pixel size is needed: give --nm-per-px X, or --scale-bar-nm L with the length "
            "of the image's scale bar in nm"
        )
    with _user_errors():
        import numpy as np

        from nanobridge.citations import collect_citations
        from nanobridge.science.qc.tem import detect_scale_bar, load_micrograph, save_overlay, size_particles
        from nanobridge.workflows.qc import tem_example_input

        console = _out()
        if bundled:
            example = tem_example_input()
            gray = example.image
            source = example.source
            if nm_per_px is None and scale_bar_nm is None:
                scale_bar_nm = example.scale_bar_nm
            console.print(
                f"[bold]Micrograph:[/] {escape(example.description)} [dim](bundled example)[/]",
                soft_wrap=True,
            )
        else:
            gray = load_micrograph(image)
            source = image
            console.print(f"[bold]Micrograph:[/] {escape(image)}", soft_wrap=True)
        if min_area_px is not None:
            px = nm_per_px
            if px is None:
                bar = detect_scale_bar(gray, scale_bar_nm)
                px = bar.nm_per_px
            assert px is not None
            min_diameter_nm = math.sqrt(4.0 * min_area_px / math.pi) * px
        with collect_citations() as used, _progress() as progress:
            task = progress.add_task(f"sizing {Path(source).name}", total=1)
            result = size_particles(
                gray,
                polarity=polarity,  # type: ignore[arg-type]
                nm_per_px=nm_per_px,
                scale_bar_nm=scale_bar_nm,
                method=method,  # type: ignore[arg-type]
                threshold=threshold,  # type: ignore[arg-type]
                expected_diameter_nm=expected_diameter_nm,
                min_diameter_nm=min_diameter_nm,
                exclude_edge_particles=not keep_edge,
                source=source,
            )
            progress.update(task, completed=1)
        calibration = (
            f"from the {_fmt(scale_bar_nm)} nm scale bar ({_fmt(result.scale_bar.length_px, 4)} px)"
            if result.calibration == "scale_bar" and result.scale_bar is not None
            else "given"
        )
        console.print(
            f"{result.image_shape_px[0]} × {result.image_shape_px[1]} px · {_fmt(result.nm_per_px, 4)} nm/px "
            f"{calibration} · polarity {polarity} · method {method} · threshold {threshold}",
            soft_wrap=True,
        )
        table = Table(header_style="bold", box=box.SIMPLE_HEAD, title="Particle sizing", title_justify="left")
        table.add_column("quantity")
        table.add_column("value", justify="right")
        table.add_column("unit")
        table.add_column("note", style="dim")
        excluded: dict[str, int] = {}
        for p in result.particles:
            if not p.counted:
                key = p.exclusion or "excluded"
                excluded[key] = excluded.get(key, 0) + 1
        table.add_row(
            "particles counted",
            str(result.count),
            "",
            "excluded: " + (", ".join(f"{n} {k}" for k, n in excluded.items()) or "none"),
        )
        dist = result.distribution
        counted = result.counted()
        if dist is not None:
            table.add_row(
                "ECD mean ± SD", f"{_fmt(dist.mean_nm)} ± {_fmt(dist.sd_nm)}", "nm", f"CV {dist.cv:.1%}"
            )
            table.add_row(
                "D10 / D50 / D90",
                f"{_fmt(dist.d10_nm)} / {_fmt(dist.d50_nm)} / {_fmt(dist.d90_nm)}",
                "nm",
                "number-based",
            )
            table.add_row("D[4,3]", _fmt(dist.volume_mean_nm), "nm", "volume-weighted mean")
            table.add_row("min – max ECD", f"{_fmt(dist.min_nm)} – {_fmt(dist.max_nm)}", "nm", "")
        if counted:
            feret_max = float(np.mean([p.feret_max_nm for p in counted]))
            feret_min = float(np.mean([p.feret_min_nm for p in counted]))
            table.add_row(
                "Feret max / min, mean", f"{_fmt(feret_max)} / {_fmt(feret_min)}", "nm", "rotating calipers"
            )
        if result.aspect_ratio_mean is not None:
            table.add_row("aspect ratio, mean", _fmt(result.aspect_ratio_mean), "", "Feret max / Feret min")
        if result.circularity_mean is not None:
            table.add_row("circularity, mean", _fmt(result.circularity_mean), "", "4πA/P², Crofton perimeter")
        table.add_row("coverage", f"{result.coverage_fraction:.1%}", "", "particle area / analysed area")
        table.add_row(
            "split fraction", f"{result.split_fraction:.1%}", "", "counted particles from watershed splits"
        )
        table.add_row("contrast-to-noise", _fmt(result.contrast_to_noise), "", "")
        table.add_row(
            "reliable",
            "[green]yes[/]" if result.reliable else "[bold red]NO[/]",
            "",
            "dense fields and many splits are not sized reliably",
        )
        console.print(table)
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
        if bundled and example.true_diameters_nm is not None and dist is not None:
            true = example.true_diameters_nm
            console.print(
                f"[dim]synthetic truth: {len(true)} particles inside the field, "
                f"mean ECD {_fmt(float(true.mean()))} nm "
                f"(found {result.count}, mean {_fmt(dist.mean_nm)} nm)[/]",
                soft_wrap=True,
            )
        _sources(console, used.keys)
        if overlay is not None:
            overlay.parent.mkdir(parents=True, exist_ok=True)
            save_overlay(overlay, gray, result, numbers=numbers)
            console.print(
                f"[bold]Overlay:[/] {escape(str(overlay))} "
                "[dim](cyan counted, orange excluded, yellow annotation)[/]",
                soft_wrap=True,
            )
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            result.to_dataframe().to_csv(out, index=False)
            console.print(f"[bold]Particles:[/] {escape(str(out))}", soft_wrap=True)
        if plot is not None:
            from nanobridge.workflows.qc import figures_html, tem_figure

            _write_plot(
                plot, figures_html([tem_figure(result)], f"TEM sizing of {Path(source).name}"), console
            )


# --------------------------------------------------------------------------------------------
# release
# --------------------------------------------------------------------------------------------


@qc_app.command()
def release(
    batch_id: Annotated[str, typer.Argument(help="The lot to release, e.g. S08.", show_default=False)],
    history: Annotated[
        str | None,
        typer.Option("--history", help="Lot history (.csv, .yaml, .json) [default: the bundled example]."),
    ] = None,
    spec: Annotated[
        str | None,
        typer.Option("--spec", help="Release specification (.yaml, .json) [default: the bundled example]."),
    ] = None,
    baseline_scale: Annotated[
        str | None,
        typer.Option(
            "--baseline-scale",
            help="Trend limits from the lots of this scale (e.g. lab) instead of all earlier lots.",
        ),
    ] = None,
    rules: Annotated[
        str | None,
        typer.Option(
            "--rules",
            help="Trend rules: nelson, western_electric, all or a list such as N1,N3,N5 "
            "[default: N1,N2,N3,N5,N6].",
        ),
    ] = None,
) -> None:
    """Release decision of one lot: every specified attribute's status (pass, fail, out-of-trend,
    missing, not-evaluable) with reasons, and release / hold / reject / incomplete."""
    chosen = _rules(rules)
    with _user_errors():
        from nanobridge.citations import collect_citations
        from nanobridge.domain.batch import find_batch
        from nanobridge.science.qc.specs import DEFAULT_TREND_RULES, release_decision
        from nanobridge.workflows.qc import batches_of_scale

        console = _out()
        specification = _load_spec(spec, console)
        batches, path, _ = _load_history(history, console, specification)
        batch = find_batch(batches, batch_id)
        baseline = (
            None if baseline_scale is None else batches_of_scale(batches, baseline_scale, source=str(path))
        )
        with collect_citations() as used:
            decision = release_decision(
                batch, specification, batches, baseline=baseline, rules=chosen or DEFAULT_TREND_RULES
            )
        trend_source = (
            f"limits from the {len(baseline)} {baseline[0].scale} lots"
            if baseline
            else f"limits from the {len(decision.history_batches)} earlier lots"
        )
        table = Table(
            title=f"Lot {batch.batch_id} ({batch.scale}{', ' + str(batch.date) if batch.date else ''}) "
            f"against {specification.label}",
            title_justify="left",
            header_style="bold",
            box=box.SIMPLE_HEAD,
        )
        table.add_column("attribute")
        table.add_column("status")
        table.add_column("result", justify="right")
        table.add_column("acceptance", justify="right")
        table.add_column("tier", justify="right")
        table.add_column("reason / note", style="dim", ratio=1)
        for r in decision.results:
            if r.status == "out-of-trend":
                detail = ["rules " + ", ".join(dict.fromkeys(v.rule for v in r.trend_violations))]
            else:
                detail = [reason.removeprefix(f"{r.title}: ") for reason in r.reasons]
            detail += [n for n in r.notes if not n.startswith("trend")]
            table.add_row(
                escape(r.title),
                _styled(r.status),
                escape(r.measured or "—"),
                escape(r.acceptance),
                str(r.tier),
                escape("; ".join(detail)),
            )
        console.print(table)
        console.print(
            f"trend check: {trend_source}; rules {escape(', '.join(decision.trend_rules))}", soft_wrap=True
        )
        style = _STATUS_STYLE.get(decision.decision, "bold")
        console.print(
            f"[bold]Decision:[/] [{style}]{escape(decision.decision_text.upper())}[/]", soft_wrap=True
        )
        for reason in decision.reasons:
            console.print(f"  · {escape(reason)}", soft_wrap=True)
        _sources(console, used.keys)


# --------------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------------


def _group(text: str, option: str) -> tuple[str, str | None]:
    """Split ``FILE[:scale]``; the part after the last ':' is a scale unless it looks like a path."""
    from nanobridge.domain import SpecError
    from nanobridge.workflows.qc import canonical_scale

    head, sep, tail = text.rpartition(":")
    if not sep or not head or "/" in tail or "\\" in tail or "." in tail:
        return text, None
    try:
        return head, canonical_scale(tail)
    except SpecError:
        raise _fail(
            f"{option} {text!r}: unknown scale {tail!r}; "
            "allowed lab, scale-up or GMP (also pilot, bench, cGMP)"
        ) from None


@qc_app.command()
def compare(
    reference: Annotated[
        str,
        typer.Option("--reference", help="Reference lots: FILE[:scale], e.g. example:lab or lots.csv:lab."),
    ] = "example:lab",
    test: Annotated[
        str, typer.Option("--test", help="Test lots: FILE[:scale], e.g. example:scale-up.")
    ] = "example:scale-up",
    spec: Annotated[
        str | None,
        typer.Option(
            "--spec", help="Specification with the comparability tiers [default: the bundled example]."
        ),
    ] = None,
    margin_factor: Annotated[
        float, typer.Option("--margin-factor", help="Tier 1: equivalence margin in reference SDs.")
    ] = 1.5,
    k: Annotated[float, typer.Option("--k", help="Tier 2: quality range = reference mean ± k SD.")] = 3.0,
    required_fraction: Annotated[
        float, typer.Option("--required-fraction", help="Tier 2: share of test lots that must be in range.")
    ] = 0.9,
    alpha: Annotated[float, typer.Option("--alpha", help="Tier 1: level of each one-sided test.")] = 0.05,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the comparison table (.csv).")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Equivalence forest plot and per-attribute plots (.html).")
    ] = None,
) -> None:
    """Scale-up comparability: tier 1 equivalence (TOST), tier 2 quality range, tier 3 descriptive,
    per attribute, and the conclusion."""
    _check_suffix(out, (".csv",), "--out", "CSV table")
    _check_suffix(plot, PLOT_SUFFIXES, "--plot", "HTML plot")
    for value, option in ((margin_factor, "--margin-factor"), (k, "--k")):
        _finite_option(value, option, positive=True)
    if not (math.isfinite(required_fraction) and 0.0 < required_fraction <= 1.0):
        raise _fail(f"--required-fraction {required_fraction!r}: must be in (0, 1]")
    if not (math.isfinite(alpha) and 0.0 < alpha < 0.5):
        raise _fail(f"--alpha {alpha!r}: must be in (0, 0.5)")
    ref_file, ref_scale = _group(reference, "--reference")
    test_file, test_scale = _group(test, "--test")
    with _user_errors():
        from nanobridge.citations import collect_citations
        from nanobridge.domain.batch import load_batches, sort_batches
        from nanobridge.science.qc.comparability import compare_batches
        from nanobridge.workflows.qc import batches_of_scale, resolve_qc_input

        console = _out()
        specification = _load_spec(spec, console)
        groups = []
        for label, file, scale in (("reference", ref_file, ref_scale), ("test", test_file, test_scale)):
            path, bundled = resolve_qc_input(file, "history")
            batches = sort_batches(load_batches(path, specification))
            chosen = batches if scale is None else batches_of_scale(batches, scale, source=str(path))
            _used(console, f"{label} lots", path, bundled)
            console.print(
                f"[dim]{len(chosen)} {scale or 'lots (all scales)'}: "
                f"{escape(', '.join(b.batch_id for b in chosen))}[/]",
                soft_wrap=True,
            )
            groups.append(chosen)
        with collect_citations() as used:
            report = compare_batches(
                groups[0],
                groups[1],
                specification,
                margin_factor=margin_factor,
                alpha=alpha,
                k=k,
                required_fraction=required_fraction,
            )
        table = Table(
            title=f"{report.test_label} vs {report.reference_label}",
            title_justify="left",
            header_style="bold",
            box=box.SIMPLE_HEAD,
        )
        n_ref, n_test = len(report.reference_batches), len(report.test_batches)
        table.add_column("attribute", min_width=14)
        table.add_column("tier", justify="right")
        table.add_column("unit", max_width=8, overflow="fold")
        table.add_column(escape(f"reference\nmean ± SD\n(n = {n_ref})"), justify="right", no_wrap=True)
        table.add_column(escape(f"test\nmean ± SD\n(n = {n_test})"), justify="right", no_wrap=True)
        table.add_column(escape("difference\n(90 % CI)"), justify="right", no_wrap=True)
        table.add_column("verdict", max_width=14)

        def group(values: Sequence[float], results: dict[str, int], n_all: int) -> str:
            if not values:
                return ", ".join(f"{n} {r}" for r, n in results.items()) or "—"
            mean = sum(values) / len(values)
            sd = (
                math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
                if len(values) > 1
                else None
            )
            text = _fmt(mean, 4) + ("" if sd is None else f" ± {_fmt(sd)}")
            return text + (f"\n(n = {len(values)})" if len(values) != n_all else "")

        for a in report.attributes:
            diff = "—"
            if a.difference is not None:
                diff = _fmt(a.difference)
                if a.difference_ci is not None:
                    diff += f"\n({_fmt(a.difference_ci[0])}, {_fmt(a.difference_ci[1])})"
            desc = a.descriptive
            table.add_row(
                escape(a.title),
                str(a.tier),
                escape(a.unit),
                escape(group(a.reference_values, desc.reference_results if desc else {}, n_ref)),
                escape(group(a.test_values, desc.test_results if desc else {}, n_test)),
                escape(diff),
                _styled(a.verdict),
            )
        console.print(table)
        for i, line in enumerate(text for text in report.conclusion.splitlines() if text.strip()):
            style = ("bold green" if report.comparable else "bold red") if i == 0 else ""
            console.print(f"[{style}]{escape(line)}[/]" if style else escape(line), soft_wrap=True)
        for caveat in report.caveats:
            console.print(f"[dim]caveat: {escape(caveat)}[/]", soft_wrap=True)
        _sources(console, used.keys)
        if out is not None:
            import pandas as pd

            out.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(report.table()).to_csv(out, index=False)
            console.print(f"[bold]Table:[/] {escape(str(out))}", soft_wrap=True)
        if plot is not None:
            from nanobridge.science.qc.plots import comparability_figure, equivalence_figure
            from nanobridge.workflows.qc import figures_html

            figures = []
            if any(a.equivalence is not None for a in report.attributes):
                figures.append(equivalence_figure(report))
            figures += [
                comparability_figure(a) for a in report.attributes if a.reference_values or a.test_values
            ]
            _write_plot(plot, figures_html(figures, report.conclusion.splitlines()[0]), console)


# --------------------------------------------------------------------------------------------
# spc
# --------------------------------------------------------------------------------------------


@qc_app.command()
def spc(
    attribute: Annotated[str, typer.Argument(help="Attribute, e.g. z_average or pdi.", show_default=False)],
    history: Annotated[
        str | None,
        typer.Option("--history", help="Lot history (.csv, .yaml, .json) [default: the bundled example]."),
    ] = None,
    spec: Annotated[
        str | None,
        typer.Option(
            "--spec",
            help="Specification for the limits and unit [default: the bundled one with the bundled history].",
        ),
    ] = None,
    baseline: Annotated[
        int | None, typer.Option("--baseline", help="Control limits from the first N lots (phase II after).")
    ] = None,
    baseline_scale: Annotated[
        str | None,
        typer.Option("--baseline-scale", help="Control limits from the lots of this scale, e.g. lab."),
    ] = None,
    rules: Annotated[
        str, typer.Option("--rules", help="nelson, western_electric, all or a list such as N1,N2,WE2.")
    ] = "nelson",
    lsl: Annotated[
        float | None, typer.Option("--lsl", help="Lower specification limit (capability).")
    ] = None,
    usl: Annotated[
        float | None, typer.Option("--usl", help="Upper specification limit (capability).")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="I-MR chart and capability plot (.html).")
    ] = None,
) -> None:
    """Statistical process control of one attribute: I-MR limits, run-rule violations, capability."""
    _check_suffix(plot, PLOT_SUFFIXES, "--plot", "HTML plot")
    if baseline is not None and baseline_scale is not None:
        raise _fail("give either --baseline N or --baseline-scale SCALE, not both")
    if baseline is not None and baseline < 2:
        raise _fail(f"--baseline {baseline}: at least 2 lots are needed for control limits")
    _finite_option(lsl, "--lsl")
    _finite_option(usl, "--usl")
    if lsl is not None and usl is not None and not lsl < usl:
        raise _fail(f"--lsl {lsl:g} must be below --usl {usl:g}")
    chosen = _rules(rules)
    assert chosen is not None
    with _user_errors():
        from nanobridge.citations import collect_citations
        from nanobridge.workflows.qc import resolve_qc_input, spc_analysis

        console = _out()
        _, history_bundled = resolve_qc_input(history, "history")
        specification = _load_spec(spec, console) if spec is not None or history_bundled else None
        batches, _, _ = _load_history(history, console, specification)
        if baseline is not None and baseline > len(batches):
            raise _fail(f"--baseline {baseline}: the lot history has only {len(batches)} lots")
        with collect_citations() as used:
            run = spc_analysis(
                batches,
                attribute,
                spec=specification,
                baseline=baseline,
                baseline_scale=baseline_scale,
                rules=chosen,
                lsl=lsl,
                usl=usl,
            )
        ch = run.chart
        lim = ch.limits
        u = f" {run.unit}" if run.unit else ""
        console.print(
            f"[bold]{escape(run.title)}[/]{escape(f' [{run.unit}]' if run.unit else '')} · "
            f"{len(ch.values)} lots · {escape(run.baseline_note)}",
            soft_wrap=True,
        )
        console.print(
            f"I chart: centre {_fmt(lim.center, 4)}{u}, LCL {_fmt(lim.lcl, 4)}, UCL {_fmt(lim.ucl, 4)} "
            f"(sigma = MRbar/d2 = {_fmt(lim.sigma, 3)}); MR chart: centre {_fmt(lim.mr_center, 3)}, "
            f"UCL {_fmt(lim.mr_ucl, 3)}",
            soft_wrap=True,
        )
        console.print(f"[dim]rules: {escape(', '.join(ch.rules))}[/]", soft_wrap=True)
        signals: dict[int, list[str]] = {}
        for v in ch.violations:
            for p in v.signal_points:
                signals.setdefault(p, []).append(v.rule)
        table = Table(header_style="bold", box=box.SIMPLE_HEAD, collapse_padding=True)
        table.add_column("lot")
        table.add_column(f"value{escape(f' [{run.unit}]' if run.unit else '')}", justify="right")
        table.add_column("MR", justify="right")
        table.add_column("", style="dim")
        table.add_column("signals")
        for i, (label, value) in enumerate(zip(ch.labels, ch.values, strict=True)):
            table.add_row(
                escape(label),
                _fmt(value, 4),
                "" if i == 0 else _fmt(ch.moving_ranges[i - 1], 3),
                "baseline" if i < ch.n_baseline and ch.phase == "II" else "",
                f"[red]{escape(', '.join(signals[i]))}[/]" if i in signals else "",
            )
        console.print(table)
        if not ch.violations:
            console.print("[green]in control:[/] no rule signalled", soft_wrap=True)
        for v in ch.violations:
            where = " (in the baseline)" if v.in_baseline else ""
            console.print(f"[red]{escape(v.rule)}{where}:[/] {escape(v.explanation)}", soft_wrap=True)
        for warning in ch.warnings:
            console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
        cap = run.capability
        if cap is not None:
            lots = run.capability_lots
            console.print(
                f"[bold]capability[/] of {len(lots)} lots ({escape(lots[0])}–{escape(lots[-1])}) against "
                f"LSL {_fmt(run.lsl)} / USL {_fmt(run.usl)}{u} ({escape(run.limits_source or '')}): "
                f"{escape(cap.summary())}; expected out of spec {_fmt(cap.expected_out_of_spec_ppm)} ppm",
                soft_wrap=True,
            )
            console.print(f"[dim]{escape(cap.normality)}[/]", soft_wrap=True)
            for warning in cap.warnings:
                if warning != cap.normality:
                    console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
        else:
            console.print(
                "[dim]capability: no specification limit (give --lsl/--usl or --spec)[/]", soft_wrap=True
            )
        for item in run.series.excluded:
            console.print(f"[dim]not charted: {escape(item)}[/]", soft_wrap=True)
        _sources(console, used.keys)
        if plot is not None:
            from nanobridge.science.qc.plots import capability_figure, imr_figure
            from nanobridge.workflows.qc import figures_html

            figures = [imr_figure(ch, title=f"I-MR chart — {run.title} ({run.baseline_note})")]
            if cap is not None:
                values = [ch.values[ch.labels.index(lab)] for lab in run.capability_lots]
                figures.append(capability_figure(values, cap, title=f"Capability — {run.title}"))
            _write_plot(plot, figures_html(figures, f"SPC of {run.title}"), console)
