"""The bench-to-clinic assessment of one agent: its biodistribution in each species scenario.

    >>> from nanobridge.domain import load_example_agent, load_example_scenario
    >>> agent = load_example_agent("cdot_pet_optical")
    >>> result = assess(agent, [load_example_scenario("mouse_tumor")])
    >>> result.runs[0].metric("DEmax").unit
    '%ID'

Every run happens inside :func:`nanobridge.citations.collect_citations`, so an
:class:`Assessment` knows the references behind its numbers (the agent's and scenario's own
sources, the catalog entries, the parameter set and the property relations).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

import nanobridge
from nanobridge.citations import Reference, cite, collect_citations, get_reference
from nanobridge.domain import AgentSpec, Problem, Scenario, SpecError, load_example_scenario, species_catalog
from nanobridge.domain.errors import NO_VALUE
from nanobridge.science.dosimetry.mird import DoseReport, absorbed_doses, default_dose_factors
from nanobridge.science.pbpk.biodistribution import Biodistribution
from nanobridge.science.pbpk.engine import MODEL_VERSION, TUMOR_PARAMETERS, simulate_agent
from nanobridge.science.pbpk.parameters import ParameterSet, default_parameter_set, load_parameter_set
from nanobridge.science.pbpk.solver import SolverOptions
from nanobridge.workflows.imaging import ImagingSummary, agent_modalities, imaging_summary

__all__ = [
    "DEFAULT_SCENARIO_OF_SPECIES",
    "METRIC_INFO",
    "SUMMARY_METRICS",
    "Assessment",
    "Metric",
    "ProgressCallback",
    "ScenarioRun",
    "assess",
    "default_scenario",
    "format_value",
    "load_tumor_params",
]

#: Packaged example scenario used for a species when no scenario file is given (rat: derived).
DEFAULT_SCENARIO_OF_SPECIES: dict[str, str] = {"mouse": "mouse_tumor", "human": "human_tumor"}

#: Label and meaning of each metric of :meth:`Biodistribution.metrics` shown in reports.
METRIC_INFO: dict[str, tuple[str, str]] = {
    "DE24": ("DE24", "tumour delivery efficiency at 24 h"),
    "DE168": ("DE168", "tumour delivery efficiency at 168 h"),
    "DEmax": ("DEmax", "maximum tumour delivery efficiency over the run"),
    "t_DEmax_h": ("t(DEmax)", "time of the maximum tumour delivery"),
    "auc_tumor_pct_id_h": ("AUC tumour", "area under the tumour amount curve"),
    "auc_tumor_pct_id_per_g_h": ("AUC tumour (conc.)", "area under the tumour concentration curve"),
    "auc_blood_pct_id_h": ("AUC blood", "area under the blood (plasma) amount curve"),
    "auc_liver_pct_id_h": ("AUC liver", "area under the liver amount curve"),
    "auc_spleen_pct_id_h": ("AUC spleen", "area under the spleen amount curve"),
    "auc_kidney_pct_id_h": ("AUC kidney", "area under the kidney amount curve"),
    "blood_t50_h": ("blood t50", "time for blood to fall to half its peak (includes distribution)"),
    "blood_half_life_24_168h_h": ("blood t½ (24–168 h)", "log-linear fit of blood between 24 h and 168 h"),
    "blood_terminal_half_life_h": ("blood t½ (terminal)", "log-linear fit to the last quarter of the run"),
    "urine_pct_id": ("urine", "cumulative urinary excretion at the end of the run"),
    "feces_pct_id": ("feces", "cumulative faecal (biliary) excretion at the end of the run"),
    "excreted_pct_id": ("excreted", "urine + feces at the end of the run"),
    "retention_30d_pct_id": ("retention 30 d", "amount still in the body at 30 days"),
    "retention_90d_pct_id": ("retention 90 d", "amount still in the body at 90 days"),
}

#: Metrics of the short summary tables (terminal and cross-agent comparison).
SUMMARY_METRICS: tuple[str, ...] = (
    "DE24",
    "DE168",
    "DEmax",
    "blood_t50_h",
    "urine_pct_id",
    "retention_30d_pct_id",
    "retention_90d_pct_id",
)

#: ``progress(label, done, total)``: called before each run (``done`` runs finished so far)
#: and once more when all are finished (``done == total``).
ProgressCallback = Callable[[str, int, int], None]


def format_value(value: float, digits: int = 3) -> str:
    """Readable number: ``—`` for NaN (not covered by the run), ``∞``, 3 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        text = f"{value:.{digits}g}"
        return f"{value:,.0f}" if "e" in text else text  # >= 10**digits: grouped integer
    return f"{value:.{digits - 1}e}"


@dataclass(frozen=True)
class Metric:
    """One derived pharmacokinetic number of a run."""

    name: str
    value: float
    unit: str
    label: str
    description: str

    @property
    def text(self) -> str:
        """``value unit`` for tables (no unit after ``—``)."""
        shown = format_value(self.value)
        return shown if shown == "—" else f"{shown} {self.unit}"


@dataclass(frozen=True)
class ScenarioRun:
    """The agent in one scenario: biodistribution, metrics, provenance and notes."""

    scenario: Scenario
    biodistribution: Biodistribution
    metrics: dict[str, Metric]
    parameter_set: str
    citations: tuple[str, ...]
    notes: tuple[str, ...]
    renal_clearance_L_per_h: float
    mps_multiplier: float
    tumor_params: dict[str, float] | None = None
    tumor_params_source: str | None = None
    imaging: tuple[ImagingSummary, ...] = ()
    dose: DoseReport | None = None

    @property
    def species(self) -> str:
        return self.scenario.species

    @property
    def label(self) -> str:
        return self.scenario.name or self.scenario.species

    def metric(self, name: str) -> Metric:
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(f"unknown metric {name!r}; known: {', '.join(self.metrics)}") from None


@dataclass(frozen=True)
class Assessment:
    """One agent across one or more scenarios (typically a tumour-bearing mouse and a patient)."""

    agent: AgentSpec
    runs: tuple[ScenarioRun, ...]
    citations: tuple[str, ...]
    notes: tuple[str, ...]
    model_version: str = MODEL_VERSION
    nanobridge_version: str = nanobridge.__version__
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    def references(self) -> list[Reference]:
        """The references of :attr:`citations` (a work cited under two keys appears once)."""
        return unique_references(self.citations)

    def run(self, species: str) -> ScenarioRun:
        """The (first) run of ``species``."""
        for run in self.runs:
            if run.species == species:
                return run
        raise KeyError(
            f"no {species!r} run in the assessment of {self.agent.name!r}; "
            f"runs: {', '.join(r.species for r in self.runs)}"
        )


def unique_references(keys: Iterable[str]) -> list[Reference]:
    """References for ``keys`` in order, without repeats (same key or same DOI)."""
    refs: list[Reference] = []
    seen_keys: set[str] = set()
    seen_dois: set[str] = set()
    for key in keys:
        if key in seen_keys:
            continue
        seen_keys.add(key)
        ref = get_reference(key)
        if ref.doi:
            if ref.doi.lower() in seen_dois:
                continue
            seen_dois.add(ref.doi.lower())
        refs.append(ref)
    return refs


def _metrics_of(bd: Biodistribution) -> dict[str, Metric]:
    ds = bd.metrics()
    out: dict[str, Metric] = {}
    for name in ds.data_vars:
        key = str(name)
        label, description = METRIC_INFO.get(key, (key, ""))
        out[key] = Metric(
            name=key,
            value=float(ds[key].values[0]),
            unit=str(ds[key].attrs.get("units", "")),
            label=label,
            description=description,
        )
    return out


def _resolve_parameter_set(spec: str | ParameterSet | None, species: str) -> ParameterSet:
    if spec is None:
        return default_parameter_set(species)
    if isinstance(spec, ParameterSet):
        return spec
    return load_parameter_set(spec)


def _run_notes(
    agent: AgentSpec,
    scenario: Scenario,
    pset: ParameterSet,
    bd: Biodistribution,
    tumor_params: Mapping[str, float] | None,
    tumor_params_source: str | None,
) -> list[str]:
    attrs = bd.data.attrs
    notes: list[str] = [f"parameter set {pset.name} ({pset.species}): {pset.description}"]
    engine_notes = str(attrs.get("notes", "")).strip()
    notes += [
        n.strip()
        for n in engine_notes.split(";")
        if n.strip() and not (tumor_params and n.strip().startswith("tumour parameters replayed"))
    ]
    assumed = pset.assumed_parameters()
    if assumed:
        notes.append(
            f"{len(assumed)} of {len(pset)} values of {pset.name} are assumed (no cited source gives them "
            f"directly): {', '.join(assumed)}"
        )
    if tumor_params:
        where = f" from {tumor_params_source}" if tumor_params_source else ""
        notes.append(
            "tumour parameters replayed as published"
            + where
            + ": "
            + ", ".join(f"{k}={format_value(float(v))}" for k, v in tumor_params.items())
            + "; VTC from the calibration replaces the scenario's tumour volume when given"
        )
        if scenario.species != "mouse":
            notes.append(
                f"the Nano-Tumor Database tumour parameters were fitted in mice; they are applied to a "
                f"{scenario.species} as is (an extrapolation)"
            )
    for path in scenario.assumed_fields:
        notes.append(f"scenario: {path} is assumed")
    if scenario.tumor is None:
        notes.append("the scenario has no tumour: the parameter set's generic tumour values are used")
    end_h = float(bd.times_h[-1])
    if end_h < 168.0:
        notes.append(f"the run ends at {end_h:g} h: DE168 and the 24–168 h blood half-life are not available")
    if end_h < 2160.0:
        notes.append(
            f"the run ends at {end_h:g} h: retention at "
            + ("30 and 90 days is" if end_h < 720.0 else "90 days is")
            + " not available (run 2160 h for both)"
        )
    error = bd.mass_balance_error()
    notes.append(f"mass balance: body + excreta = 100 %ID within {error:.1e} %ID")
    return notes


def assess(
    agent: AgentSpec,
    scenarios: Sequence[Scenario],
    *,
    parameter_set: str | ParameterSet | Mapping[str, str | ParameterSet] | None = None,
    tumor_params: Mapping[str, float] | None = None,
    tumor_params_source: str | None = None,
    options: SolverOptions | None = None,
    progress: ProgressCallback | None = None,
) -> Assessment:
    """Simulate ``agent`` in every scenario and gather metrics, citations and notes.

    ``parameter_set``: a set name or object for every scenario, or a mapping species -> set; by
    default each species' default set. ``tumor_params``: any of the nine
    :data:`~nanobridge.science.pbpk.engine.TUMOR_PARAMETERS` (e.g. from
    :func:`load_tumor_params`), replayed in every scenario. ``progress(label, done, total)`` is
    called before each run and at the end.
    """
    if not scenarios:
        raise ValueError("assess() needs at least one scenario")
    total = len(scenarios)
    runs: list[ScenarioRun] = []
    with collect_citations() as everything:
        agent.cite()
        cite(*_model_citations())
        for i, scenario in enumerate(scenarios):
            if progress is not None:
                progress(f"{agent.name} · {scenario.species}", i, total)
            if isinstance(parameter_set, Mapping):
                pset = _resolve_parameter_set(parameter_set.get(scenario.species), scenario.species)
            else:
                pset = _resolve_parameter_set(parameter_set, scenario.species)
            with collect_citations() as used:
                agent.cite()
                scenario.cite()
                bd = simulate_agent(
                    agent, scenario, parameter_set=pset, tumor_params=tumor_params, options=options
                )
                imaging: list[ImagingSummary] = []
                imaging_notes: list[str] = []
                for modality in agent_modalities(agent):
                    try:
                        imaging.append(imaging_summary(bd, agent, scenario, modality))
                    except ValueError as exc:  # a label lacking what the model needs: say so
                        imaging_notes.append(f"{modality.upper()} imaging not assessed: {exc}")
                dose: DoseReport | None = None
                if agent.labels.radionuclide is not None:
                    try:
                        dose = absorbed_doses(bd, agent, scenario, default_dose_factors(scenario.species))
                        cite(*dose.citation_keys)
                    except ValueError as exc:
                        imaging_notes.append(f"dosimetry not assessed: {exc}")
            attrs = bd.data.attrs
            runs.append(
                ScenarioRun(
                    scenario=scenario,
                    biodistribution=bd,
                    metrics=_metrics_of(bd),
                    parameter_set=pset.name,
                    citations=used.keys,
                    notes=tuple(
                        [
                            *_run_notes(agent, scenario, pset, bd, tumor_params, tumor_params_source),
                            *imaging_notes,
                        ]
                    ),
                    renal_clearance_L_per_h=float(attrs.get("renal_clearance_L_per_h", float("nan"))),
                    mps_multiplier=float(attrs.get("mps_multiplier", float("nan"))),
                    tumor_params=None
                    if tumor_params is None
                    else {k: float(v) for k, v in tumor_params.items()},
                    tumor_params_source=tumor_params_source,
                    imaging=tuple(imaging),
                    dose=dose,
                )
            )
        if progress is not None:
            progress(f"{agent.name}: done", total, total)
    return Assessment(
        agent=agent,
        runs=tuple(runs),
        citations=everything.keys,
        notes=tuple(agent.assumptions()),
    )


def _model_citations() -> tuple[str, ...]:
    """The model structure's sources (Cheng 2020 tumour model on Lin 2016's gold model)."""
    return ("Cheng2020", "Lin2016_gold_mouse")


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


def default_scenario(species: str) -> Scenario:
    """The scenario used when none is given: the packaged mouse or human example, or for the rat
    one derived from the mouse example (body weight from the species catalog, tumour volume scaled
    with body weight, same dose per kg; no activity) and marked assumed."""
    key = species_catalog().resolve_key(species) if isinstance(species, str) else None
    if key is None:
        raise SpecError(
            [Problem("species", species, f"unknown species; allowed: {', '.join(species_catalog().keys())}")],
            kind="scenario",
        )
    if key in DEFAULT_SCENARIO_OF_SPECIES:
        return load_example_scenario(DEFAULT_SCENARIO_OF_SPECIES[key])
    mouse = load_example_scenario("mouse_tumor")
    entry = species_catalog().get(key)
    bw = float(entry.default_body_weight_kg)
    tumor = mouse.tumor
    volume = None if tumor is None else tumor.volume_mm3 * bw / mouse.body_weight_kg
    data: dict[str, Any] = {
        "name": f"{key.capitalize()}, subcutaneous flank tumour (default, scaled from the mouse example)",
        "description": "Derived by nanobridge from the mouse example: same dose per kg, tumour "
        "volume scaled with body weight (assumed).",
        "species": key,
        "body_weight_kg": bw,
        "dose_mg_per_kg": mouse.dose_mg_per_kg,
        "route": "iv",
        "duration_h": mouse.duration_h,
        "output_interval_h": mouse.output_interval_h,
        "assumed_fields": ["dose_mg_per_kg", "tumor.volume_mm3"] if volume else ["dose_mg_per_kg"],
    }
    if mouse.dose_mg_per_kg is None:
        data["activity_MBq"] = mouse.activity_MBq
    if volume:
        data["tumor"] = {"volume_mm3": round(volume, 1), "site": "subcutaneous flank"}
    return Scenario.from_dict(data, source=f"default {key} scenario")


# --------------------------------------------------------------------------------------------
# Tumour parameters (Nano-Tumor Database calibrations)
# --------------------------------------------------------------------------------------------

_KIND = "tumour parameters"


def _error(source: str, path: str, value: Any, message: str) -> SpecError:
    return SpecError([Problem(path, value, message)], source=source, kind=_KIND)


def _compact_ids(ids: Sequence[str]) -> str:
    """``1-3, 6, 9-12`` for runs of consecutive integers; other IDs as they are."""
    try:
        numbers = sorted({int(i) for i in ids})
    except ValueError:
        return ", ".join(ids)
    parts: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)


def _number(source: str, where: str, raw: Any) -> float:
    if isinstance(raw, bool) or raw is None or (isinstance(raw, str) and not raw.strip()):
        if isinstance(raw, bool):
            raise _error(source, where, raw, "not a number")
        raise _error(source, where, NO_VALUE, "missing value (empty): give a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise _error(source, where, raw, "not a number") from None
    if math.isnan(value):
        raise _error(source, where, NO_VALUE, "missing value (empty or NaN): give a number")
    if not math.isfinite(value) or value < 0:
        raise _error(source, where, raw, "must be a finite number >= 0")
    return value


def _from_mapping(source: str, data: Any) -> dict[str, float]:
    if isinstance(data, Mapping) and set(data) == {"tumor_params"}:
        data = data["tumor_params"]
    if not isinstance(data, Mapping) or not data:
        raise _error(
            source,
            "<root>",
            NO_VALUE,
            f"expected a mapping of tumour parameters, any of: {', '.join(TUMOR_PARAMETERS)}",
        )
    unknown = [str(k) for k in data if k not in TUMOR_PARAMETERS]
    if unknown:
        problems = [
            Problem(k, data[k], f"unknown tumour parameter; allowed: {', '.join(TUMOR_PARAMETERS)}")
            for k in unknown
        ]
        raise SpecError(problems, source=source, kind=_KIND)
    return {str(k): _number(source, str(k), v) for k, v in data.items()}


def _from_table(source: str, path: Path, dataset_id: str | None) -> dict[str, float]:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise _error(source, "<root>", NO_VALUE, "the CSV file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _error(source, "<root>", NO_VALUE, f"not a readable CSV table: {exc}") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in TUMOR_PARAMETERS if c not in table.columns]
    if missing:
        raise _error(
            source,
            "columns",
            NO_VALUE,
            f"missing column(s) {', '.join(missing)}; a tumour-parameter table needs the columns "
            f"{', '.join(TUMOR_PARAMETERS)} (and ID to choose among several rows)",
        )
    if table.empty:
        raise _error(source, "rows", NO_VALUE, "the table has no data rows")
    ids = [s.strip() for s in table["ID"]] if "ID" in table.columns else None
    if dataset_id is not None:
        if ids is None:
            raise _error(source, "ID", dataset_id, "the table has no ID column to choose a row by")
        wanted = str(dataset_id).strip()
        matches = [i for i, v in enumerate(ids) if v == wanted or _same_number(v, wanted)]
        if not matches:
            raise _error(
                source, "ID", dataset_id, f"no row with this ID; IDs in the table: {_compact_ids(ids)}"
            )
        if len(matches) > 1:
            raise _error(source, "ID", dataset_id, f"{len(matches)} rows have this ID; IDs must be unique")
        row_index = matches[0]
    elif len(table) == 1:
        row_index = 0
    else:
        listing = _compact_ids(ids) if ids is not None else "(no ID column)"
        raise _error(
            source,
            "ID",
            NO_VALUE,
            f"the table has {len(table)} rows: choose one with --dataset-id (dataset_id); IDs: {listing}",
        )
    row = table.iloc[row_index]
    label = f"row ID {ids[row_index]}" if ids is not None else f"row {row_index + 1}"
    return {c: _number(source, f"{label}, {c}", row[c]) for c in TUMOR_PARAMETERS}


def _same_number(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def load_tumor_params(path: str | Path, dataset_id: str | int | None = None) -> dict[str, float]:
    """Tumour PBPK parameters (any of the nine of the Nano-Tumor Database) from a file.

    - ``.yaml``/``.yml``/``.json``: a mapping ``{KTRESmax: 0.4, QTC: 0.02, ...}`` (a subset
      replaces only those values; unknown keys are errors);
    - ``.csv``: a table with the nine columns (e.g. the database's ``datasets.csv``; other
      columns are ignored). With several rows, ``dataset_id`` picks the row by its ``ID``.

    Raises :class:`SpecError` naming the file, the column or key and the value.
    """
    p = Path(path)
    source = str(p)
    if not p.is_file():
        raise _error(source, source, NO_VALUE, "file not found")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return _from_table(source, p, None if dataset_id is None else str(dataset_id))
    if suffix in (".yaml", ".yml", ".json"):
        if dataset_id is not None:
            raise _error(source, "dataset_id", dataset_id, "only for CSV tables with an ID column")
        text = p.read_text(encoding="utf-8")
        try:
            data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise _error(source, "<root>", NO_VALUE, f"malformed {suffix[1:].upper()}: {exc}") from None
        return _from_mapping(source, data)
    raise _error(source, "file type", suffix or "<no extension>", "must be .csv, .yaml, .yml or .json")
