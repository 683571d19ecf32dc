"""IND readiness: each requirement met, partly met, missing or failed, and a score per area.

:func:`assess_readiness` (pure: typed inputs, a :class:`Readiness` out) judges every applicable
requirement of the model against the evidence items:

- every evidence group of the requirement (the groups whose ``when`` trait the agent has) is
  judged by its most recent matching item (dated after undated, then file order), as the NCL
  evidence map does: ``ok`` if that item is acceptable, ``failed`` if it fails its acceptance
  criterion, ``partial`` for a positive safety result, an inconclusive or unfinished study, an
  unverifiable (no or missing data file) or unsigned record, ``missing`` if no item matches;
- the requirement is **met** when every group is ok, **failed** when any group failed,
  **missing** when every group is missing, and **partly met** otherwise;
- nanobridge's predictions (and manifest items of kind ``prediction``) are listed as
  *supporting* evidence and never change a status: they are planning evidence, not the
  measurements a regulatory requirement asks for;
- the next experiment is the missing or weak groups' ``how`` (an NCL protocol or an analysis),
  or a follow-up, a repeat after a failure, a signature or a missing file.

Scores: see :meth:`RequirementsModel.scoring_rule` (met 1, partly met 0.5, missing and failed 0;
essential requirements weigh 2, supporting 1; weighted mean per area, in percent).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

from nanobridge.science.dossier.evidence import EvidenceItem, ItemVerdict, judge_item
from nanobridge.science.dossier.requirements import Requirement, RequirementsModel, requirements_model

__all__ = [
    "STATUSES",
    "AreaScore",
    "GroupStatus",
    "Readiness",
    "RequirementStatus",
    "assess_readiness",
]

Status = Literal["met", "partly met", "missing", "failed", "not applicable"]
GroupState = Literal["ok", "partial", "failed", "missing"]
#: Requirement statuses from best to worst (and not applicable).
STATUSES: tuple[str, ...] = ("met", "partly met", "missing", "failed", "not applicable")


class GroupStatus(BaseModel):
    """One evidence group of a requirement: its types, its state and the items behind it."""

    model_config = ConfigDict(frozen=True)

    types: tuple[str, ...]
    state: GroupState
    deciding: ItemVerdict | None = None
    others: tuple[ItemVerdict, ...] = ()


class RequirementStatus(BaseModel):
    """The verdict on one requirement."""

    model_config = ConfigDict(frozen=True)

    requirement: Requirement
    status: Status
    groups: tuple[GroupStatus, ...] = ()
    supporting: tuple[EvidenceItem, ...] = ()
    reasons: tuple[str, ...] = ()
    next_steps: tuple[str, ...] = ()
    score: float | None = None
    weight: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        """The requirement's id."""
        return self.requirement.id

    @property
    def met_by(self) -> tuple[EvidenceItem, ...]:
        """The items that meet the requirement's groups (empty unless met or partly met)."""
        return tuple(g.deciding.item for g in self.groups if g.state == "ok" and g.deciding is not None)

    @property
    def is_gap(self) -> bool:
        """Applicable and not met."""
        return self.status in ("partly met", "missing", "failed")

    @property
    def next_experiment(self) -> str:
        """The next steps as one sentence (empty when met)."""
        return "; ".join(self.next_steps)


class AreaScore(BaseModel):
    """Readiness of one area."""

    model_config = ConfigDict(frozen=True)

    area: str
    title: str
    ctd: str
    score_pct: float | None
    counts: dict[str, int]
    n_applicable: int
    essential_gaps: tuple[str, ...] = ()


class Readiness(BaseModel):
    """The readiness assessment of one agent."""

    model_config = ConfigDict(frozen=True)

    agent: str
    traits: tuple[str, ...]
    requirements: tuple[RequirementStatus, ...]
    areas: tuple[AreaScore, ...]
    overall_pct: float | None
    scoring_rule: str
    unmatched: tuple[EvidenceItem, ...] = ()
    citation_keys: tuple[str, ...] = ()

    def status(self, requirement_id: str) -> RequirementStatus:
        """The verdict on ``requirement_id`` (KeyError naming the known ids otherwise)."""
        for r in self.requirements:
            if r.id == requirement_id:
                return r
        raise KeyError(
            f"no requirement {requirement_id!r}; known: {', '.join(r.id for r in self.requirements)}"
        )

    def area(self, area: str) -> AreaScore:
        """The score of ``area`` (KeyError naming the areas otherwise)."""
        for a in self.areas:
            if a.area == area:
                return a
        raise KeyError(f"no area {area!r}; areas: {', '.join(a.area for a in self.areas)}")

    def counts(self) -> dict[str, int]:
        """Number of requirements per status (all statuses present)."""
        return {s: sum(r.status == s for r in self.requirements) for s in STATUSES}

    def gaps(self, *, essential_only: bool = False) -> list[RequirementStatus]:
        """Applicable requirements not met (failed first, then missing, then partly met)."""
        order = {"failed": 0, "missing": 1, "partly met": 2}
        out = [
            r
            for r in self.requirements
            if r.is_gap and (not essential_only or r.requirement.priority == "essential")
        ]
        return sorted(out, key=lambda r: (order[r.status], r.requirement.priority != "essential"))


_VERDICT_TEXT: dict[str, str] = {
    "fails": "fails its acceptance criterion",
    "hazard": "is positive (the hazard was found)",
    "inconclusive": "is inconclusive",
    "in progress": "is not complete",
    "unverified": "cannot be verified",
    "unsigned": "is not signed",
    "acceptable": "is acceptable",
    "supporting": "is supporting only",
}


def _latest(verdicts: Sequence[ItemVerdict]) -> ItemVerdict:
    """The most recent verdict: the latest dated item (file order breaks ties), else the last."""
    dated = [(v.item.date, i, v) for i, v in enumerate(verdicts) if v.item.date is not None]
    if dated:
        return max(dated, key=lambda t: (t[0], t[1]))[2]
    return verdicts[-1]


def _group_state(verdict: ItemVerdict) -> GroupState:
    if verdict.verdict == "acceptable":
        return "ok"
    if verdict.verdict == "fails":
        return "failed"
    return "partial"


def _matches(item: EvidenceItem, requirement: Requirement, types: Iterable[str]) -> bool:
    if item.kind == "prediction":
        return False
    if item.requirements and requirement.id not in item.requirements:
        return False
    return item.type in set(types)


def _supports(item: EvidenceItem, requirement: Requirement) -> bool:
    if item.kind != "prediction":
        return False
    if item.requirements:
        return requirement.id in item.requirements
    return item.prediction is not None and item.prediction in requirement.predicted_by


def _type_how(model: RequirementsModel, type_id: str) -> str:
    t = model.evidence_types.get(type_id)
    return t.how if t is not None else type_id


def _judge(
    requirement: Requirement,
    model: RequirementsModel,
    traits: frozenset[str],
    items: Sequence[EvidenceItem],
    verdicts: dict[str, ItemVerdict],
) -> RequirementStatus:
    weight = model.priority_weights[requirement.priority]
    supporting = tuple(i for i in items if _supports(i, requirement))
    if not requirement.applies(traits):
        why = ", ".join(requirement.applies_when)
        return RequirementStatus(
            requirement=requirement,
            status="not applicable",
            supporting=supporting,
            reasons=(f"applies only to agents that are {why}",),
            weight=0.0,
        )
    groups: list[GroupStatus] = []
    reasons: list[str] = []
    steps: list[str] = []
    for group in requirement.groups_for(traits):
        label = " or ".join(group.types)
        matched = [verdicts[i.id] for i in items if _matches(i, requirement, group.types)]
        if not matched:
            groups.append(GroupStatus(types=group.types, state="missing"))
            reasons.append(f"{label}: no evidence held")
            steps.append(" or ".join(_type_how(model, t) for t in group.types))
            continue
        deciding = _latest(matched)
        state = _group_state(deciding)
        others = tuple(v for v in matched if v is not deciding)
        groups.append(GroupStatus(types=group.types, state=state, deciding=deciding, others=others))
        item = deciding.item
        signer = f", signed by {item.signed_by}" if item.signed_by else ""
        if state == "ok":
            reasons.append(f"{label}: met by {item.short}{signer}")
        else:
            reasons.append(
                f"{label}: {item.id} {_VERDICT_TEXT[deciding.verdict]} ({'; '.join(deciding.issues)})"
            )
        if state == "ok":
            earlier = [v for v in others if v.verdict == "fails"]
            if earlier:
                reasons.append(
                    f"{label}: earlier result(s) {', '.join(v.item.id for v in earlier)} failed; the "
                    "latest meets "
                    "the criterion (document the investigation)"
                )
            continue
        how = " or ".join(_type_how(model, t) for t in group.types)
        if deciding.verdict == "fails":
            steps.append(f"investigate the failing result {item.id} (root cause), then repeat: {how}")
        elif deciding.verdict == "hazard":
            steps.append(requirement.follow_up or f"follow up the positive result {item.id}: {how}")
        elif deciding.verdict == "inconclusive":
            steps.append(f"repeat {item.id}: {how}")
        elif deciding.verdict == "in progress":
            steps.append(f"complete {item.id}")
        elif deciding.verdict == "unverified":
            steps.append(f"file the data of {item.id} in the evidence folder")
        elif deciding.verdict == "unsigned":
            steps.append(f"review and sign {item.id}")
    states = [g.state for g in groups]
    status: Status
    if states and all(s == "ok" for s in states):
        status = "met"
    elif "failed" in states:
        status = "failed"
    elif all(s == "missing" for s in states):
        status = "missing"
    else:
        status = "partly met"
    if status != "met" and supporting:
        reasons.append(
            "supported by nanobridge prediction(s) "
            + ", ".join(i.id for i in supporting)
            + ": planning evidence only, not a measurement"
        )
    score = model.status_values[status]
    return RequirementStatus(
        requirement=requirement,
        status=status,
        groups=tuple(groups),
        supporting=supporting,
        reasons=tuple(reasons),
        next_steps=tuple(dict.fromkeys(steps)),
        score=score,
        weight=weight,
    )


def _weighted(statuses: Sequence[RequirementStatus]) -> float | None:
    scored = [s for s in statuses if s.score is not None and s.status != "not applicable"]
    total = sum(s.weight for s in scored)
    if total <= 0:
        return None
    return 100.0 * sum(s.weight * (s.score or 0.0) for s in scored) / total


def assess_readiness(
    agent_name: str,
    traits: Iterable[str],
    items: Sequence[EvidenceItem],
    *,
    model: RequirementsModel | None = None,
    require_signature: bool = True,
) -> Readiness:
    """Judge every requirement of ``model`` (default: the packaged one) for an agent with
    ``traits`` (:func:`~nanobridge.science.dossier.requirements.agent_traits`) against ``items``.

    ``require_signature``: an unsigned record counts as partly met (a draft); off, as met.
    Items with duplicate ids are an error (ValueError naming them).
    """
    reqs = model if model is not None else requirements_model()
    have = frozenset(traits) | {"always"}
    ids = [i.id for i in items]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"evidence item ids must be unique; repeated: {', '.join(dupes)}")
    verdicts = {i.id: judge_item(i, require_signature=require_signature) for i in items}
    statuses = tuple(_judge(r, reqs, have, items, verdicts) for r in reqs.requirements)
    used: set[str] = set()
    for s in statuses:
        for g in s.groups:
            if g.deciding is not None:
                used.add(g.deciding.item.id)
            used.update(v.item.id for v in g.others)
        used.update(i.id for i in s.supporting)
    unmatched = tuple(i for i in items if i.id not in used)
    areas: list[AreaScore] = []
    for area_id, area in reqs.areas.items():
        in_area = [s for s in statuses if s.requirement.area == area_id]
        applicable = [s for s in in_area if s.status != "not applicable"]
        areas.append(
            AreaScore(
                area=area_id,
                title=area.title,
                ctd=area.ctd,
                score_pct=_weighted(applicable),
                counts={st: sum(s.status == st for s in in_area) for st in STATUSES},
                n_applicable=len(applicable),
                essential_gaps=tuple(
                    s.id for s in applicable if s.is_gap and s.requirement.priority == "essential"
                ),
            )
        )
    keys: list[str] = []
    for s in statuses:
        if s.status != "not applicable":
            keys.extend(s.requirement.citations)
    return Readiness(
        agent=agent_name,
        traits=tuple(sorted(have)),
        requirements=statuses,
        areas=tuple(areas),
        overall_pct=_weighted(statuses),
        scoring_rule=reqs.scoring_rule(),
        unmatched=unmatched,
        citation_keys=tuple(dict.fromkeys(keys)),
    )
