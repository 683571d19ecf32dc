"""Evidence items, their acceptance criteria, and where they come from.

An :class:`EvidenceItem` is one record a project holds for its IND: a measurement, an analysis of
measurements, a document, or a prediction. It names its evidence type (an NCL protocol such as
``PCC-1`` or ``ITA-5.2``, or a dossier type such as ``ORTHO-SIZE``; see
:mod:`nanobridge.science.dossier.requirements`), optionally the requirements it is filed against,
its data file, date, batch, result, a numeric value with unit and acceptance criterion, an
outcome, and who signed it.

:func:`judge_item` gives each item a verdict on its own (acceptable, fails its criterion, hazard
found, inconclusive, in progress, unverifiable, unsigned; predictions are only ever supporting).
The readiness assessment combines the verdicts per requirement.

Sources implement :class:`EvidenceSource` (``collect(agent_name) -> EvidenceBundle``). Without
the web app the source is a folder with a manifest (:class:`ManifestEvidenceSource`,
:func:`load_manifest`): a YAML/JSON file listing the items, with file paths relative to it. A
store-backed source can implement the same protocol later (items and their signatures from the
audit trail).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import yaml
from pydantic import BaseModel, ConfigDict, Field

from nanobridge._yaml import UniqueKeyLoader
from nanobridge.domain.errors import NO_VALUE, Problem, SpecError
from nanobridge.science.dossier.requirements import PREDICTION_KINDS, RequirementsModel, requirements_model

__all__ = [
    "MANIFEST_SCHEMA",
    "OUTCOMES",
    "Acceptance",
    "EvidenceBundle",
    "EvidenceItem",
    "EvidenceSource",
    "ItemVerdict",
    "ManifestEvidenceSource",
    "judge_item",
    "load_manifest",
    "parse_acceptance",
    "parse_outcome",
    "prediction_item",
]

#: Schema tag of an evidence manifest.
MANIFEST_SCHEMA = "nanobridge-evidence-1"

Kind = Literal["measurement", "analysis", "document", "prediction"]
Outcome = Literal["pass", "fail", "hazard", "no hazard", "inconclusive", "reported"]
#: Outcomes an item may report (``pass``/``fail``: against its acceptance criterion; ``hazard``/
#: ``no hazard``: a safety assay's finding; ``reported``: data without a judgement).
OUTCOMES: tuple[str, ...] = ("pass", "fail", "hazard", "no hazard", "inconclusive", "reported")
Verdict = Literal[
    "acceptable", "fails", "hazard", "inconclusive", "in progress", "unverified", "unsigned", "supporting"
]

_OUTCOME_ALIASES: dict[str, Outcome] = {
    "pass": "pass",
    "passed": "pass",
    "meets": "pass",
    "conforms": "pass",
    "complies": "pass",
    "acceptable": "pass",
    "withinspecification": "pass",
    "fail": "fail",
    "failed": "fail",
    "oos": "fail",
    "outofspecification": "fail",
    "doesnotconform": "fail",
    "notacceptable": "fail",
    "hazard": "hazard",
    "positive": "hazard",
    "detected": "hazard",
    "toxic": "hazard",
    "nohazard": "no hazard",
    "negative": "no hazard",
    "notdetected": "no hazard",
    "nontoxic": "no hazard",
    "none": "no hazard",
    "inconclusive": "inconclusive",
    "equivocal": "inconclusive",
    "invalid": "inconclusive",
    "interference": "inconclusive",
    "reported": "reported",
}
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_BOUND = re.compile(rf"^\s*(<=|>=|<|>|≤|≥|=<|=>)\s*({_NUM})\s*(.*?)\s*$")
_RANGE = re.compile(rf"^\s*({_NUM})\s*(?:-|–|to|\.\.)\s*({_NUM})\s*(.*?)\s*$")


def _key(text: object) -> str:
    return re.sub(r"[\s_\-]+", "", str(text).strip().lower())


class Acceptance(BaseModel):
    """A numeric acceptance criterion: ``min``/``max`` (inclusive unless said) in ``unit``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min: float | None = None
    max: float | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True
    unit: str = ""
    text: str = ""

    def accepts(self, value: float) -> bool:
        """Whether ``value`` meets the criterion (NaN never does)."""
        if not math.isfinite(value):
            return False
        if self.min is not None and (value < self.min or (value == self.min and not self.min_inclusive)):
            return False
        return not (
            self.max is not None and (value > self.max or (value == self.max and not self.max_inclusive))
        )

    def describe(self) -> str:
        """``'<= 0.5 EU/mL'``, ``'6 to 8 nm'``."""
        if self.text:
            return self.text
        unit = f" {self.unit}" if self.unit else ""
        if self.min is not None and self.max is not None:
            return f"{self.min:g} to {self.max:g}{unit}"
        if self.max is not None:
            return f"{'<=' if self.max_inclusive else '<'} {self.max:g}{unit}"
        if self.min is not None:
            return f"{'>=' if self.min_inclusive else '>'} {self.min:g}{unit}"
        return "(no bound)"


def parse_acceptance(value: Any) -> Acceptance:
    """An :class:`Acceptance` from ``'<= 0.5 EU/mL'``, ``'>= 95 %'``, ``'6 to 8 nm'`` or a mapping
    ``{min, max, unit, min_inclusive, max_inclusive}``. ValueError says what is allowed."""
    if isinstance(value, Acceptance):
        return value
    if isinstance(value, Mapping):
        data = dict(value)
        if data.get("min") is None and data.get("max") is None:
            raise ValueError("an acceptance mapping needs min and/or max")
        return Acceptance.model_validate(data)
    if isinstance(value, str):
        text = value.strip()
        m = _BOUND.match(text)
        if m:
            op, num, unit = m.groups()
            number = float(num)
            if op in ("<=", "≤", "=<"):
                return Acceptance(max=number, unit=unit, text=text)
            if op == "<":
                return Acceptance(max=number, max_inclusive=False, unit=unit, text=text)
            if op in (">=", "≥", "=>"):
                return Acceptance(min=number, unit=unit, text=text)
            return Acceptance(min=number, min_inclusive=False, unit=unit, text=text)
        m = _RANGE.match(text)
        if m:
            lo, hi, unit = m.groups()
            return Acceptance(
                min=min(float(lo), float(hi)), max=max(float(lo), float(hi)), unit=unit, text=text
            )
    raise ValueError(
        f"acceptance {value!r} not understood: give '<= X unit', '< X', '>= X', '> X', 'A to B unit' "
        "or a mapping {min: .., max: .., unit: ..}"
    )


def parse_outcome(value: Any) -> Outcome | None:
    """The outcome for a reported word (``'passed'`` -> ``'pass'``, ``'negative'`` -> ``'no hazard'``);
    None for an empty value; ValueError listing the allowed words otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return "pass" if value else "fail"
    found = _OUTCOME_ALIASES.get(_key(value))
    if found is None:
        raise ValueError(
            f"outcome {value!r} not understood; allowed: {', '.join(OUTCOMES)} "
            "(also passed/failed, positive/negative, OOS, equivocal)"
        )
    return found


class EvidenceItem(BaseModel):
    """One evidence record (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    type: str = Field(description="evidence type id (NCL family or dossier type), resolved")
    reported_type: str = Field(default="", description="as written, e.g. 'ITA-5.2'")
    requirements: tuple[str, ...] = Field(default=(), description="filed against these only (empty: any)")
    kind: Kind = "measurement"
    prediction: str | None = Field(default=None, description="for nanobridge predictions: pbpk, imaging, ...")
    title: str = ""
    file: str | None = None
    file_found: bool | None = Field(default=None, description="None: no file declared")
    sha256: str | None = None
    date: dt.date | None = None
    batch: str | None = None
    quantity: str = ""
    technique: str = Field(default="", description="measurement technique as written (ISA-TAB-Nano export)")
    value: float | None = None
    unit: str = ""
    acceptance: Acceptance | None = None
    outcome: Outcome | None = None
    complete: bool = True
    result: str = ""
    signed_by: str | None = None
    signed_on: dt.date | None = None
    signature_meaning: str = ""
    source: str = ""
    note: str = ""
    illustrative: bool = False

    @property
    def signed(self) -> bool:
        """Whether someone signed the record."""
        return bool(self.signed_by)

    @property
    def short(self) -> str:
        """``'EV-01 PCC-1 2025-01-14: Z-average 6.9 nm'`` for tables."""
        parts = [self.id, self.reported_type or self.type]
        if self.date is not None:
            parts.append(self.date.isoformat())
        text = " ".join(parts)
        shown = self.result or self.title
        return f"{text}: {shown}" if shown else text


class ItemVerdict(BaseModel):
    """What an item is worth on its own: ``verdict`` and the reasons (issues)."""

    model_config = ConfigDict(frozen=True)

    item: EvidenceItem
    verdict: Verdict
    issues: tuple[str, ...] = ()

    @property
    def counts(self) -> bool:
        """Whether the item meets a requirement group by itself."""
        return self.verdict == "acceptable"


# Verdicts from worst to best (the worst issue decides).
_VERDICT_ORDER: tuple[Verdict, ...] = (
    "fails",
    "unverified",
    "in progress",
    "inconclusive",
    "hazard",
    "unsigned",
    "acceptable",
)


def judge_item(item: EvidenceItem, *, require_signature: bool = True) -> ItemVerdict:
    """The verdict of one item on its own.

    - a prediction is only ``supporting`` (never meets a requirement);
    - ``fails``: its value is outside its acceptance criterion, or its outcome is ``fail``;
    - ``unverified``: its data file was declared but not found, or none was declared;
    - ``in progress`` (not complete), ``inconclusive``, ``hazard`` (a safety assay found the
      hazard it tests: the requirement needs a follow-up), ``unsigned`` (with
      ``require_signature``);
    - otherwise ``acceptable``.
    """
    if item.kind == "prediction":
        return ItemVerdict(
            item=item,
            verdict="supporting",
            issues=("a prediction: supporting evidence for planning, not a measurement",),
        )
    issues: dict[Verdict, list[str]] = {}

    def add(verdict: Verdict, text: str) -> None:
        issues.setdefault(verdict, []).append(text)

    if item.value is not None and item.acceptance is not None:
        unit_ok = not item.acceptance.unit or not item.unit or _key(item.acceptance.unit) == _key(item.unit)
        if not unit_ok:
            add(
                "inconclusive",
                f"value unit {item.unit!r} differs from the criterion's {item.acceptance.unit!r}: not judged",
            )
        elif not item.acceptance.accepts(item.value):
            add(
                "fails",
                f"{item.quantity or 'value'} {item.value:g}{(' ' + item.unit) if item.unit else ''} "
                "fails the "
                f"acceptance criterion {item.acceptance.describe()}",
            )
        elif item.outcome == "fail":
            add("fails", "outcome 'fail' although the value meets the criterion: counted as failing")
    if item.outcome == "fail" and "fails" not in issues:
        add("fails", "reported outcome: fail")
    elif item.outcome == "hazard":
        add("hazard", "the assay found the hazard it tests (positive): a follow-up is needed")
    elif item.outcome == "inconclusive":
        add("inconclusive", "reported outcome: inconclusive")
    if item.file is None:
        add("unverified", "no data file is filed with the record")
    elif item.file_found is False:
        add("unverified", f"data file {item.file!r} not found")
    if not item.complete:
        add("in progress", "the study or record is not complete")
    if require_signature and not item.signed:
        add("unsigned", "not signed (draft record)")
    for verdict in _VERDICT_ORDER:
        if verdict in issues:
            flat = tuple(text for v in _VERDICT_ORDER for text in issues.get(v, []))
            return ItemVerdict(item=item, verdict=verdict, issues=flat)
    return ItemVerdict(item=item, verdict="acceptable")


class EvidenceBundle(BaseModel):
    """The items a source holds for one agent, with the warnings raised while reading them."""

    model_config = ConfigDict(frozen=True)

    items: tuple[EvidenceItem, ...] = ()
    warnings: tuple[str, ...] = ()
    source: str = ""
    description: str = ""
    illustrative: bool = False


@runtime_checkable
class EvidenceSource(Protocol):
    """Where a project's evidence comes from: a manifest folder now, the store later."""

    def collect(self, agent_name: str) -> EvidenceBundle:
        """The evidence held for the agent called ``agent_name``."""
        ...


# --------------------------------------------------------------------------------------------
# The folder-of-evidence route
# --------------------------------------------------------------------------------------------

_FIELD_ALIASES: dict[str, str] = {
    "assay": "type",
    "protocol": "type",
    "evidencetype": "type",
    "requirement": "requirements",
    "signedby": "signed_by",
    "signedon": "signed_on",
    "signaturemeaning": "signature_meaning",
}
_KNOWN_FIELDS = {
    "id",
    "type",
    "requirements",
    "kind",
    "title",
    "file",
    "date",
    "batch",
    "quantity",
    "technique",
    "value",
    "unit",
    "acceptance",
    "outcome",
    "status",
    "result",
    "signed_by",
    "signed_on",
    "signature_meaning",
    "note",
}


def _date(value: Any, where: str, field: str) -> dt.date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"{field} {value!r} is not an ISO date (YYYY-MM-DD)") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _item(
    raw: Mapping[str, Any],
    index: int,
    where: str,
    base: Path,
    model: RequirementsModel,
    illustrative: bool,
    warnings: list[str],
) -> EvidenceItem | None:
    row = {_FIELD_ALIASES.get(_key(k), str(k).strip()): v for k, v in raw.items()}
    label = f"{where} item {index}" + (f" ({row['id']})" if row.get("id") else "")
    unknown = sorted(set(row) - _KNOWN_FIELDS)
    if unknown:
        warnings.append(
            f"{label}: unknown field(s) {', '.join(unknown)} ignored "
            f"(known: {', '.join(sorted(_KNOWN_FIELDS))})"
        )
    item_id = str(row.get("id") or f"item-{index}")
    reported = row.get("type")
    if reported is None or not str(reported).strip():
        warnings.append(f"{label}: no evidence type (type/assay); skipped")
        return None
    type_id = model.resolve_type(str(reported))
    if type_id is None:
        warnings.append(
            f"{label}: evidence type {reported!r} unknown; skipped "
            f"(known: {', '.join(model.evidence_types)}; "
            "NCL methods such as ITA-5.2 count for their family)"
        )
        return None
    reqs_raw = row.get("requirements") or ()
    reqs = (reqs_raw,) if isinstance(reqs_raw, str) else tuple(str(r) for r in reqs_raw)
    known_ids = {r.id for r in model.requirements}
    bad = [r for r in reqs if r not in known_ids]
    if bad:
        warnings.append(f"{label}: requirement(s) {', '.join(bad)} unknown; ignored")
        reqs = tuple(r for r in reqs if r in known_ids)
    kind = str(row.get("kind") or "measurement").strip().lower()
    if kind not in ("measurement", "analysis", "document", "prediction"):
        warnings.append(
            f"{label}: kind {kind!r} unknown (measurement, analysis, document, prediction); read as "
            "measurement"
        )
        kind = "measurement"
    problems: list[str] = []
    value: float | None = None
    if row.get("value") is not None:
        try:
            value = float(row["value"])
        except (TypeError, ValueError):
            problems.append(f"value {row['value']!r} is not a number")
    acceptance: Acceptance | None = None
    if row.get("acceptance") is not None:
        try:
            acceptance = parse_acceptance(row["acceptance"])
        except ValueError as exc:
            problems.append(str(exc))
    outcome: Outcome | None = None
    try:
        outcome = parse_outcome(row.get("outcome"))
    except ValueError as exc:
        problems.append(str(exc))
        outcome = "inconclusive"
    dates: dict[str, dt.date | None] = {}
    for field in ("date", "signed_on"):
        try:
            dates[field] = _date(row.get(field), label, field)
        except ValueError as exc:
            problems.append(str(exc))
            dates[field] = None
    status = str(row.get("status") or "complete").strip().lower()
    if status not in ("complete", "completed", "final", "in progress", "ongoing", "draft", "planned"):
        problems.append(f"status {status!r} unknown (complete, in progress, planned)")
    complete = status in ("complete", "completed", "final")
    file_text = row.get("file")
    file_found: bool | None = None
    sha: str | None = None
    if file_text is not None and str(file_text).strip():
        path = Path(str(file_text))
        path = path if path.is_absolute() else base / path
        file_found = path.is_file()
        if file_found:
            sha = _sha256(path)
    else:
        file_text = None
    for text in problems:
        warnings.append(f"{label}: {text}")
    if problems and outcome is None:
        outcome = "inconclusive"  # a record that cannot be read fully is never counted as met
    signed_by = row.get("signed_by")
    return EvidenceItem(
        id=item_id,
        type=type_id,
        reported_type=str(reported).strip(),
        requirements=reqs,
        kind=kind,
        title=str(row.get("title") or ""),
        file=None if file_text is None else str(file_text),
        file_found=file_found,
        sha256=sha,
        date=dates["date"],
        batch=None if row.get("batch") is None else str(row["batch"]),
        quantity=str(row.get("quantity") or ""),
        technique=str(row.get("technique") or ""),
        value=value,
        unit=str(row.get("unit") or ""),
        acceptance=acceptance,
        outcome=outcome,
        complete=complete,
        result=str(row.get("result") or ""),
        signed_by=None if signed_by is None or not str(signed_by).strip() else str(signed_by).strip(),
        signed_on=dates["signed_on"],
        signature_meaning=str(row.get("signature_meaning") or ""),
        source=label,
        note=str(row.get("note") or ""),
        illustrative=illustrative,
    )


def load_manifest(
    path: str | Path, agent_name: str | None = None, model: RequirementsModel | None = None
) -> EvidenceBundle:
    """Read an evidence manifest (``.yaml``/``.yml``/``.json``).

    Layout: ``{manifest: nanobridge-evidence-1, agent: NAME, illustrative: bool, description:
    text, items: [...]}``; each item has ``id``, ``type`` (or ``assay``/``protocol``), and any of
    ``requirements``, ``kind``, ``title``, ``file`` (relative to the manifest), ``date``,
    ``batch``, ``quantity``, ``value``, ``unit``, ``acceptance``, ``outcome``, ``status``,
    ``result``, ``signed_by``, ``signed_on``, ``signature_meaning``, ``note``.

    File-level problems (missing or unreadable file, wrong schema, a manifest for another agent
    than ``agent_name``) raise :class:`SpecError` naming the file; item-level problems become
    warnings and never count the item as met (an unreadable value or outcome reads as
    inconclusive; an unknown type skips the item).
    """
    p = Path(path)
    source = str(p)
    kind = "evidence manifest"
    if not p.is_file():
        raise SpecError([Problem(source, NO_VALUE, "file not found")], source=source, kind=kind)
    suffix = p.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise SpecError(
            [Problem("file type", suffix or "<none>", "use .yaml, .yml or .json")], source=source, kind=kind
        )
    text = p.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text) if suffix == ".json" else yaml.load(text, Loader=UniqueKeyLoader)
    except (ValueError, yaml.YAMLError) as exc:
        raise SpecError(
            [Problem(source, NO_VALUE, f"malformed {suffix[1:].upper()}: {exc}")], source=source, kind=kind
        ) from None
    if not isinstance(data, Mapping):
        raise SpecError(
            [Problem("<root>", NO_VALUE, "expected a mapping with manifest, agent and items")],
            source=source,
            kind=kind,
        )
    problems: list[Problem] = []
    if data.get("manifest") != MANIFEST_SCHEMA:
        problems.append(Problem("manifest", data.get("manifest"), f"must be {MANIFEST_SCHEMA!r}"))
    items_raw = data.get("items")
    if not isinstance(items_raw, list):
        problems.append(
            Problem(
                "items", items_raw if items_raw is not None else NO_VALUE, "must be a list of evidence items"
            )
        )
    declared = data.get("agent")
    if (
        agent_name is not None
        and declared is not None
        and str(declared).strip().lower() != agent_name.strip().lower()
    ):
        problems.append(
            Problem(
                "agent", declared, f"this manifest is for another agent; the dossier is for {agent_name!r}"
            )
        )
    if problems:
        raise SpecError(problems, source=source, kind=kind)
    reqs = model if model is not None else requirements_model()
    illustrative = bool(data.get("illustrative", False))
    warnings: list[str] = []
    if declared is None:
        warnings.append(f"{source}: the manifest names no agent (agent: ...); its items are used as given")
    items: list[EvidenceItem] = []
    seen: set[str] = set()
    assert isinstance(items_raw, list)
    for i, raw in enumerate(items_raw, start=1):
        if not isinstance(raw, Mapping):
            warnings.append(f"{source} item {i}: expected a mapping; skipped")
            continue
        item = _item(raw, i, source, p.parent, reqs, illustrative, warnings)
        if item is None:
            continue
        if item.id in seen:
            warnings.append(f"{source} item {i}: duplicate id {item.id!r}; skipped")
            continue
        seen.add(item.id)
        items.append(item)
    return EvidenceBundle(
        items=tuple(items),
        warnings=tuple(warnings),
        source=source,
        description=" ".join(str(data.get("description") or "").split()),
        illustrative=illustrative,
    )


class ManifestEvidenceSource:
    """The folder-of-evidence :class:`EvidenceSource`: a manifest file and the files it lists."""

    def __init__(self, path: str | Path, model: RequirementsModel | None = None) -> None:
        self.path = Path(path)
        self.model = model

    def collect(self, agent_name: str) -> EvidenceBundle:
        """The manifest's items for ``agent_name`` (:func:`load_manifest`)."""
        return load_manifest(self.path, agent_name, self.model)

    def __repr__(self) -> str:
        return f"ManifestEvidenceSource({str(self.path)!r})"


def prediction_item(
    item_id: str,
    prediction: str,
    title: str,
    result: str,
    *,
    requirements: Sequence[str] = (),
    source: str = "nanobridge",
) -> EvidenceItem:
    """A nanobridge prediction as a (supporting-only) evidence item: it supports the requirements
    whose ``predicted_by`` names ``prediction`` (or only ``requirements`` when given)."""
    if prediction not in PREDICTION_KINDS:
        raise ValueError(f"prediction {prediction!r} unknown; allowed: {', '.join(PREDICTION_KINDS)}")
    return EvidenceItem(
        id=item_id,
        type="prediction",
        reported_type=prediction,
        requirements=tuple(requirements),
        kind="prediction",
        prediction=prediction,
        title=title,
        result=result,
        source=source,
    )
