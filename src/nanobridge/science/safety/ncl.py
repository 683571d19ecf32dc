"""The NCI Nanotechnology Characterization Laboratory (NCL) assay cascade as the evidence map.

The packaged map (``data/safety/ncl_assay_cascade.yaml``) lists the assays - NCL protocols
(physicochemical PCC, sterility and endotoxin STE, in vitro immunology ITA and toxicology GTA) and
the tailored in vivo and outside-the-cascade studies nanobridge names itself - and, for every
safe-by-design rule of :mod:`nanobridge.science.safety.findings`, the assays that answer it with
their role:

- ``hazard``: the assay tests the hazard the finding predicts; a held result whose outcome is
  "no hazard" *contradicts* the finding (a measurement beats a model or a rule of thumb);
- ``data``: the assay supplies numbers the finding uses; held or missing, never contradicting.

A project's evidence is a list of held results (:func:`load_evidence`, YAML or CSV: protocol id,
outcome, result, date). :func:`finding_evidence` then says, per finding, whether the evidence is
``held`` (every mapped assay has a result), ``partial``, ``missing`` or ``contradicts`` it.

Limits: the outcome is the user's reading of the assay against its own acceptance criterion;
nanobridge does not interpret numeric results (no hemolysis or endotoxin threshold is applied).
Protocol titles marked ``title_checked: false`` are descriptive, not the published titles.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, computed_field

from nanobridge._yaml import UniqueKeyLoader
from nanobridge.citations import cite, get_reference
from nanobridge.domain.errors import NO_VALUE, Problem, SpecError

__all__ = [
    "EVIDENCE_STATUSES",
    "Assay",
    "AssayCascade",
    "AssayMethod",
    "AssayResult",
    "AssayStatus",
    "EvidenceSet",
    "FindingAssay",
    "FindingEvidence",
    "Outcome",
    "assay_cascade",
    "evidence_from_rows",
    "finding_evidence",
    "load_evidence",
    "normalize_protocol_id",
]

Outcome = Literal["hazard", "no hazard", "inconclusive", "reported"]
Role = Literal["hazard", "data"]
#: State of one assay: for a finding (missing, supports, contradicts, inconclusive, reported) or, for
#: the baseline assays that answer no finding, the outcome itself (hazard, no hazard).
AssayState = Literal["missing", "supports", "contradicts", "inconclusive", "reported", "hazard", "no hazard"]
EvidenceStatus = Literal["held", "partial", "missing", "contradicts"]

#: Finding-level evidence statuses, from best to worst covered.
EVIDENCE_STATUSES: tuple[str, ...] = ("held", "partial", "missing", "contradicts")

_OUTCOME_ALIASES: dict[str, Outcome] = {
    "hazard": "hazard",
    "hazardobserved": "hazard",
    "positive": "hazard",
    "fail": "hazard",
    "failed": "hazard",
    "detected": "hazard",
    "yes": "hazard",
    "toxic": "hazard",
    "nohazard": "no hazard",
    "nohazardobserved": "no hazard",
    "negative": "no hazard",
    "pass": "no hazard",
    "passed": "no hazard",
    "notdetected": "no hazard",
    "no": "no hazard",
    "none": "no hazard",
    "nontoxic": "no hazard",
    "inconclusive": "inconclusive",
    "equivocal": "inconclusive",
    "interference": "inconclusive",
    "invalid": "inconclusive",
    "reported": "reported",
    "": "reported",
}
_COLUMN_ALIASES: dict[str, str] = {
    "protocol": "protocol",
    "protocolid": "protocol",
    "protocol_id": "protocol",
    "assay": "protocol",
    "id": "protocol",
    "outcome": "outcome",
    "result": "result",
    "value": "result",
    "date": "date",
    "reference": "reference",
    "source": "reference",
    "note": "note",
}
_NCL_ID = re.compile(r"^(?:NCL\s*(?:METHOD)?\s*)?(PCC|STE|ITA|GTA)[\s\-_]*(\d+)(?:\.(\d+))?$")


class AssayMethod(BaseModel):
    """One published method of an assay family (e.g. ITA-5.2 of ITA-5)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    title_checked: bool = False
    title_source: str = ""


class Assay(BaseModel):
    """An assay of the evidence map."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    title_checked: bool = False
    title_source: str = ""
    category: Literal["physicochemical", "sterility", "in_vitro_immunology", "in_vitro_toxicology", "in_vivo"]
    ncl: bool
    measures: str
    methods: tuple[AssayMethod, ...] = ()
    note: str = ""
    citation: str | None = None
    citations: tuple[str, ...] = ()

    def citation_keys(self) -> tuple[str, ...]:
        keys = ([self.citation] if self.citation else []) + list(self.citations)
        return tuple(dict.fromkeys(keys))


class FindingAssay(BaseModel):
    """An assay that answers a finding, its role and the question it answers there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    role: Role
    question: str


class AssayCascade(BaseModel):
    """The packaged evidence map."""

    model_config = ConfigDict(frozen=True)

    assays: dict[str, Assay]
    findings: dict[str, tuple[FindingAssay, ...]]
    baseline: tuple[str, ...]
    baseline_note: str
    citation_keys: tuple[str, ...]

    def assays_for(self, rule: str) -> tuple[FindingAssay, ...]:
        """The assays mapped to ``rule`` (KeyError naming the known rules otherwise)."""
        try:
            return self.findings[rule]
        except KeyError:
            raise KeyError(f"no assays mapped to rule {rule!r}; mapped: {', '.join(self.findings)}") from None

    def resolve(self, protocol: str) -> str | None:
        """The assay id a reported protocol id belongs to (``ITA-5.2`` -> ``ITA-5``), or None."""
        norm = normalize_protocol_id(protocol)
        if norm in self.assays:
            return norm
        family = norm.split(".")[0]
        if family in self.assays:
            return family
        return None


def normalize_protocol_id(text: str) -> str:
    """``'NCL Method ITA 5.2'`` -> ``'ITA-5.2'``; other ids upper-cased and trimmed."""
    key = re.sub(r"\s+", " ", str(text).strip().upper())
    m = _NCL_ID.match(key)
    if m:
        prefix, number, sub = m.groups()
        return f"{prefix}-{int(number)}" + (f".{int(sub)}" if sub is not None else "")
    return key.replace(" ", "-")


@functools.lru_cache(maxsize=1)
def assay_cascade() -> AssayCascade:
    """Load and check ``data/safety/ncl_assay_cascade.yaml`` (cached).

    Raises ValueError if a finding maps an unknown assay or a citation key is not registered.
    """
    path = resources.files("nanobridge") / "data" / "safety" / "ncl_assay_cascade.yaml"
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    where = "data/safety/ncl_assay_cascade.yaml"
    assays = {str(k): Assay.model_validate({**v, "id": str(k)}) for k, v in raw["assays"].items()}
    findings: dict[str, tuple[FindingAssay, ...]] = {}
    for rule, entry in raw["findings"].items():
        items = tuple(FindingAssay.model_validate(a) for a in entry["assays"])
        unknown = [a.id for a in items if a.id not in assays]
        if unknown or not items:
            raise ValueError(f"{where}: finding {rule!r} maps unknown assay(s) {unknown} or none")
        findings[str(rule)] = items
    baseline = tuple(str(a) for a in raw["baseline"]["assays"])
    missing = [a for a in baseline if a not in assays]
    if missing:
        raise ValueError(f"{where}: baseline lists unknown assay(s) {missing}")
    keys: list[str] = [raw["source"]["citation"], *raw["baseline"].get("citations", [])]
    for assay in assays.values():
        keys.extend(assay.citation_keys())
    for key in keys:
        get_reference(key)
    return AssayCascade(
        assays=assays,
        findings=findings,
        baseline=baseline,
        baseline_note=" ".join(str(raw["baseline"].get("note", "")).split()),
        citation_keys=tuple(dict.fromkeys(keys)),
    )


# --------------------------------------------------------------------------------------------
# Held evidence
# --------------------------------------------------------------------------------------------


class AssayResult(BaseModel):
    """One held assay result."""

    model_config = ConfigDict(frozen=True)

    protocol: str = Field(description="as reported, normalized (e.g. ITA-5.2)")
    assay_id: str = Field(description="the assay of the map it counts for (e.g. ITA-5)")
    outcome: Outcome
    result: str = ""
    date: dt.date | None = None
    reference: str = ""
    row: str = Field(default="", description="where it was read, e.g. 'evidence.csv row 3'")


class EvidenceSet(BaseModel):
    """Held results and the per-row warnings raised while reading them."""

    model_config = ConfigDict(frozen=True)

    results: tuple[AssayResult, ...] = ()
    warnings: tuple[str, ...] = ()
    source: str = ""

    def latest(self, assay_id: str) -> AssayResult | None:
        """The most recent result for ``assay_id`` (dated results beat undated; then file order)."""
        rows = [r for r in self.results if r.assay_id == assay_id]
        if not rows:
            return None
        ordered = sorted(
            enumerate(rows), key=lambda ir: (ir[1].date is not None, ir[1].date or dt.date.min, ir[0])
        )
        return ordered[-1][1]


def _key(text: object) -> str:
    return re.sub(r"[\s_\-]+", "", str(text).strip().lower())


def _parse_date(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value).strip())


def evidence_from_rows(
    rows: Iterable[Any], source: str = "evidence", cascade: AssayCascade | None = None
) -> EvidenceSet:
    """Held results from mappings with ``protocol`` (or ``protocol_id``/``assay``), ``outcome``,
    ``result``, ``date`` (ISO), optional ``reference``/``note``.

    A row with no protocol, an unknown protocol, an unknown outcome or a bad date is skipped (or
    its outcome read as ``inconclusive``) with a warning naming the row, the value and what is
    allowed - it never stops the others.
    """
    casc = cascade if cascade is not None else assay_cascade()
    results: list[AssayResult] = []
    warnings: list[str] = []
    for i, raw in enumerate(rows, start=1):
        where = f"{source} row {i}"
        if not isinstance(raw, Mapping):
            warnings.append(f"{where}: expected a mapping of protocol, outcome, result, date; skipped")
            continue
        row = {
            _COLUMN_ALIASES.get(_key(k), _COLUMN_ALIASES.get(str(k).strip().lower(), "")): v
            for k, v in raw.items()
        }
        protocol = row.get("protocol")
        if protocol is None or not str(protocol).strip():
            warnings.append(
                f"{where}: protocol is missing; skipped (give an NCL id such as ITA-1 or INVIVO-PK)"
            )
            continue
        assay_id = casc.resolve(str(protocol))
        if assay_id is None:
            warnings.append(
                f"{where}: protocol {protocol!r} is not in the evidence map; skipped "
                f"(known: {', '.join(casc.assays)}; NCL methods such as ITA-5.2 count for their family)"
            )
            continue
        outcome_text = row.get("outcome")
        outcome = _OUTCOME_ALIASES.get(_key(outcome_text if outcome_text is not None else ""))
        if outcome is None:
            warnings.append(
                f"{where}: outcome {outcome_text!r} not understood; read as inconclusive "
                "(allowed: hazard, no hazard, inconclusive, or positive/negative, fail/pass; "
                "leave it empty for a result that only reports data)"
            )
            outcome = "inconclusive"
        try:
            date = _parse_date(row.get("date"))
        except ValueError:
            warnings.append(
                f"{where}: date {row.get('date')!r} is not an ISO date (YYYY-MM-DD); kept undated"
            )
            date = None
        result_value = row.get("result")
        results.append(
            AssayResult(
                protocol=normalize_protocol_id(str(protocol)),
                assay_id=assay_id,
                outcome=outcome,
                result="" if result_value is None else str(result_value),
                date=date,
                reference=str(row.get("reference") or row.get("note") or ""),
                row=where,
            )
        )
    return EvidenceSet(results=tuple(results), warnings=tuple(warnings), source=source)


def load_evidence(path: str | Path, cascade: AssayCascade | None = None) -> EvidenceSet:
    """Read held assay results from a ``.yaml``/``.yml``/``.json`` (a list of mappings, or
    ``{evidence: [...]}``) or a ``.csv`` table (columns ``protocol``, ``outcome``, ``result``,
    ``date``; ``protocol_id``/``assay`` accepted).

    File-level problems (missing file, unreadable, no protocol column, not a list) raise
    :class:`SpecError` naming the file; row-level problems become warnings
    (:func:`evidence_from_rows`).
    """
    p = Path(path)
    source = str(p)
    kind = "evidence file"
    if not p.is_file():
        raise SpecError([Problem(source, NO_VALUE, "file not found")], source=source, kind=kind)
    suffix = p.suffix.lower()
    text = p.read_text(encoding="utf-8-sig")
    rows: Sequence[Any]
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        fields = [_COLUMN_ALIASES.get(_key(f), "") for f in (reader.fieldnames or [])]
        if "protocol" not in fields:
            raise SpecError(
                [
                    Problem(
                        "columns",
                        ", ".join(reader.fieldnames or []) or NO_VALUE,
                        "an evidence table needs a protocol column (and outcome, result, date)",
                    )
                ],
                source=source,
                kind=kind,
            )
        rows = list(reader)
    elif suffix in (".yaml", ".yml", ".json"):
        try:
            data = yaml.load(text, Loader=UniqueKeyLoader)
        except yaml.YAMLError as exc:
            raise SpecError(
                [Problem(source, NO_VALUE, f"malformed {suffix[1:].upper()}: {exc}")],
                source=source,
                kind=kind,
            ) from None
        if isinstance(data, Mapping) and "evidence" in data:
            data = data["evidence"]
        if not isinstance(data, list):
            raise SpecError(
                [Problem("<root>", NO_VALUE, "expected a list of results, or a mapping {evidence: [...]}")],
                source=source,
                kind=kind,
            )
        rows = data
    else:
        raise SpecError(
            [Problem(source, suffix or "<no extension>", "file type must be .yaml, .yml, .json or .csv")],
            source=source,
            kind=kind,
        )
    return evidence_from_rows(rows, source=p.name, cascade=cascade)


# --------------------------------------------------------------------------------------------
# Evidence per finding
# --------------------------------------------------------------------------------------------


class AssayStatus(BaseModel):
    """One mapped assay of a finding and what the held evidence says."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    role: Role
    question: str
    state: AssayState
    result: AssayResult | None = None

    @property
    def text(self) -> str:
        if self.result is None:
            return f"{self.id}: missing"
        date = f", {self.result.date.isoformat()}" if self.result.date else ""
        shown = f" ({self.result.result})" if self.result.result else ""
        return f"{self.id}: {self.state}{shown}{date}"


class FindingEvidence(BaseModel):
    """The evidence map's verdict for one finding."""

    model_config = ConfigDict(frozen=True)

    status: EvidenceStatus
    assays: tuple[AssayStatus, ...]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def missing(self) -> tuple[str, ...]:
        """Ids of the mapped assays without a held result (the assays to run)."""
        return tuple(a.id for a in self.assays if a.state == "missing")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        held = [a for a in self.assays if a.state != "missing"]
        parts: list[str] = [self.status]
        if held:
            parts.append("held: " + "; ".join(a.text for a in held))
        if self.missing:
            parts.append("to run: " + ", ".join(self.missing))
        return " — ".join(parts)


def _state(role: Role, result: AssayResult | None) -> AssayState:
    if result is None:
        return "missing"
    if role == "data" or result.outcome == "reported":
        return "reported"
    if result.outcome == "hazard":
        return "supports"
    if result.outcome == "no hazard":
        return "contradicts"
    return "inconclusive"


def finding_evidence(
    rule: str, evidence: EvidenceSet | None = None, cascade: AssayCascade | None = None
) -> FindingEvidence:
    """Per-assay states and the finding's status for ``rule`` given held ``evidence``.

    ``contradicts`` if any hazard assay's latest result found no hazard; else ``held`` if every
    mapped assay has a result, ``partial`` if some do, ``missing`` if none.
    """
    casc = cascade if cascade is not None else assay_cascade()
    held = evidence if evidence is not None else EvidenceSet()
    statuses: list[AssayStatus] = []
    for item in casc.assays_for(rule):
        result = held.latest(item.id)
        statuses.append(
            AssayStatus(
                id=item.id,
                title=casc.assays[item.id].title,
                role=item.role,
                question=item.question,
                state=_state(item.role, result),
                result=result,
            )
        )
    states = [s.state for s in statuses]
    status: EvidenceStatus
    if "contradicts" in states:
        status = "contradicts"
    elif all(s != "missing" for s in states):
        status = "held"
    elif any(s != "missing" for s in states):
        status = "partial"
    else:
        status = "missing"
    keys = [k for item in casc.assays_for(rule) for k in casc.assays[item.id].citation_keys()]
    cite(*dict.fromkeys(keys))
    return FindingEvidence(status=status, assays=tuple(statuses))
