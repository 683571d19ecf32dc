"""The IND requirements model: what a nanoparticle imaging agent needs before first-in-human.

Packaged data (``data/dossier/requirements.yaml``) built from the FDA guidance on drug products
that contain nanomaterials (2022), the NCI NCL assay cascade (its assays are read from
``data/safety/ncl_assay_cascade.yaml``, not repeated), the MIRIBEL reporting standard and the
dosimetry expectations for radiolabelled agents. Every requirement cites its sources.

    >>> model = requirements_model()
    >>> model.requirement("Q-SIZE").title
    'Average particle size and size distribution'
    >>> [g.types for g in model.requirement("Q-SIZE").evidence]
    [('PCC-1',), ('ORTHO-SIZE',)]

A requirement applies to an agent when one of its ``applies_when`` traits is among the agent's
(:func:`agent_traits`); it is met when every evidence group (whose ``when`` applies) holds an
acceptable item of one of its types (:mod:`nanobridge.science.dossier.readiness`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nanobridge._yaml import UniqueKeyLoader
from nanobridge.citations import get_reference
from nanobridge.domain import AgentSpec
from nanobridge.science.safety.ncl import assay_cascade

__all__ = [
    "AREAS",
    "PREDICTION_KINDS",
    "TRAITS",
    "Area",
    "EvidenceGroup",
    "EvidenceType",
    "Priority",
    "Requirement",
    "RequirementsModel",
    "Source",
    "agent_traits",
    "load_requirements",
    "requirements_model",
]

#: Readiness areas, in the order the dossier shows them.
AREAS: tuple[str, ...] = ("quality", "nonclinical", "imaging", "dosimetry", "clinical")
#: Agent traits a requirement or an evidence group can depend on (``always`` holds for every agent).
TRAITS: tuple[str, ...] = (
    "always",
    "radiolabelled",
    "pet",
    "spect",
    "fluorescent",
    "mri",
    "ct",
    "targeted",
    "coated",
    "pegylated",
    "non_biodegradable",
)
#: nanobridge predictions and analyses that can support (never meet) a requirement.
PREDICTION_KINDS: tuple[str, ...] = ("pbpk", "imaging", "dosimetry", "safety-rules", "qc-example")

Priority = Literal["essential", "supporting"]
ItemKind = Literal["measurement", "analysis", "document"]
_DATA_FILE = "data/dossier/requirements.yaml"


class Source(BaseModel):
    """A standard the requirements come from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    citation: str | None = None
    citations: tuple[str, ...] = ()

    def citation_keys(self) -> tuple[str, ...]:
        """The source's citation keys."""
        return tuple(dict.fromkeys(([self.citation] if self.citation else []) + list(self.citations)))


class Area(BaseModel):
    """A readiness area (quality/CMC, nonclinical, imaging, dosimetry, clinical inputs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    ctd: str


class EvidenceType(BaseModel):
    """A kind of evidence: an NCL cascade assay or one of the dossier's own types."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    kind: ItemKind = "measurement"
    category: str = ""
    technique: str | None = Field(default=None, description="caNanoLab technique term (ISA-TAB-Nano export)")
    how: str = Field(description="the experiment or analysis that produces it (the 'next experiment')")
    ncl: bool = False
    citations: tuple[str, ...] = ()


class EvidenceGroup(BaseModel):
    """Evidence of any of ``types``; only asked for when the agent has the trait ``when``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    types: tuple[str, ...] = Field(min_length=1)
    when: str = "always"


class Requirement(BaseModel):
    """One requirement of the IND readiness model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    area: str
    ctd: str
    title: str
    text: str
    source: str
    applies_when: tuple[str, ...] = ("always",)
    priority: Priority = "essential"
    evidence: tuple[EvidenceGroup, ...] = Field(min_length=1)
    predicted_by: tuple[str, ...] = ()
    follow_up: str = ""
    citations: tuple[str, ...] = Field(min_length=1)

    def applies(self, traits: Iterable[str]) -> bool:
        """Whether the requirement applies to an agent with ``traits``."""
        have = set(traits) | {"always"}
        return any(t in have for t in self.applies_when)

    def groups_for(self, traits: Iterable[str]) -> tuple[EvidenceGroup, ...]:
        """The evidence groups asked of an agent with ``traits``."""
        have = set(traits) | {"always"}
        return tuple(g for g in self.evidence if g.when in have)

    def evidence_types(self) -> tuple[str, ...]:
        """Every evidence type any group accepts."""
        return tuple(dict.fromkeys(t for g in self.evidence for t in g.types))


class RequirementsModel(BaseModel):
    """The packaged requirements with their evidence types, areas, sources and scoring rule."""

    model_config = ConfigDict(frozen=True)

    requirements: tuple[Requirement, ...]
    evidence_types: dict[str, EvidenceType]
    areas: dict[str, Area]
    sources: dict[str, Source]
    status_values: dict[str, float]
    priority_weights: dict[str, float]

    def requirement(self, requirement_id: str) -> Requirement:
        """The requirement ``requirement_id`` (KeyError naming the known ids otherwise)."""
        for r in self.requirements:
            if r.id == requirement_id:
                return r
        raise KeyError(
            f"unknown requirement {requirement_id!r}; known: {', '.join(r.id for r in self.requirements)}"
        )

    def evidence_type(self, type_id: str) -> EvidenceType:
        """The evidence type ``type_id`` (KeyError naming the known ones otherwise)."""
        try:
            return self.evidence_types[type_id]
        except KeyError:
            raise KeyError(
                f"unknown evidence type {type_id!r}; known: {', '.join(self.evidence_types)}"
            ) from None

    def resolve_type(self, text: str) -> str | None:
        """The evidence type a reported assay id stands for: a dossier type id (any case), or an
        NCL protocol id normalized to its family (``'ITA-5.2'`` -> ``'ITA-5'``); None if unknown."""
        key = str(text).strip()
        upper = key.upper()
        for tid in self.evidence_types:
            if tid.upper() == upper:
                return tid
        family = assay_cascade().resolve(key)
        return family if family in self.evidence_types else None

    def citation_keys(self) -> tuple[str, ...]:
        """Every reference the model cites (sources, requirements, evidence types)."""
        keys: list[str] = []
        for s in self.sources.values():
            keys.extend(s.citation_keys())
        for r in self.requirements:
            keys.extend(r.citations)
        for t in self.evidence_types.values():
            keys.extend(t.citations)
        return tuple(dict.fromkeys(keys))

    def scoring_rule(self) -> str:
        """The scoring rule in words (printed in the dossier)."""
        v = self.status_values
        w = self.priority_weights
        return (
            f"Each applicable requirement scores {v['met']:g} when met, {v['partly met']:g} when partly met "
            f"and {v['missing']:g} when missing or failed; essential requirements weigh {w['essential']:g}, "
            f"supporting ones {w['supporting']:g}. An area's readiness is the weighted mean over its "
            "applicable requirements, in percent (overall: over all of them). Predictions by nanobridge "
            "never raise a status: they are supporting evidence for planning."
        )


def agent_traits(agent: AgentSpec) -> frozenset[str]:
    """The traits of ``agent`` that requirements depend on (see :data:`TRAITS`)."""
    traits = {"always"}
    labels = agent.labels
    if labels.radionuclide is not None:
        traits.add("radiolabelled")
        modality = labels.radionuclide.entry.imaging_modality
        if modality == "PET":
            traits.add("pet")
        elif modality == "SPECT":
            traits.add("spect")
    if labels.fluorophore is not None:
        traits.add("fluorescent")
    if labels.mri is not None:
        traits.add("mri")
    if labels.ct is not None:
        traits.add("ct")
    if agent.targeting_ligand:
        traits.add("targeted")
    if agent.coating.kind != "none":
        traits.add("coated")
    if agent.coating.kind == "PEG":
        traits.add("pegylated")
    if not agent.biodegradable:
        traits.add("non_biodegradable")
    return frozenset(traits)


def _ncl_types() -> dict[str, EvidenceType]:
    """The NCL cascade's assays as evidence types (read from the safety data file)."""
    out: dict[str, EvidenceType] = {}
    category = {"physicochemical": "physicochemical", "sterility": "sterility", "in_vivo": "in_vivo"}
    for aid, assay in assay_cascade().assays.items():
        prefix = f"NCL {aid}" if assay.ncl else aid
        out[aid] = EvidenceType(
            id=aid,
            title=assay.title,
            kind="measurement",
            category=category.get(assay.category, "in_vitro"),
            how=f"{prefix} ({assay.title}): {assay.measures}",
            ncl=assay.ncl,
            citations=assay.citation_keys(),
        )
    return out


def load_requirements(data: Mapping[str, Any], where: str = _DATA_FILE) -> RequirementsModel:
    """Build and check a requirements model from parsed data (the packaged file's layout).

    Raises ValueError naming the file, the requirement and the problem: an unknown area, trait,
    evidence type, prediction kind, source or citation key, or a duplicate id.
    """
    if data.get("schema") != "nanobridge-requirements-1":
        raise ValueError(f"{where}: schema must be 'nanobridge-requirements-1', got {data.get('schema')!r}")
    try:
        sources = {str(k): Source.model_validate({**v, "id": str(k)}) for k, v in data["sources"].items()}
        areas = {str(k): Area.model_validate({**v, "id": str(k)}) for k, v in data["areas"].items()}
        own = {
            str(k): EvidenceType.model_validate({**v, "id": str(k)})
            for k, v in data["evidence_types"].items()
        }
        reqs = tuple(Requirement.model_validate(r) for r in data["requirements"])
    except (KeyError, TypeError, ValidationError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    ncl = _ncl_types()
    clash = sorted(set(ncl) & set(own))
    if clash:
        raise ValueError(f"{where}: evidence types {clash} repeat NCL cascade assays; use the cascade's")
    types = {**ncl, **own}
    if tuple(areas) != AREAS:
        raise ValueError(f"{where}: areas must be {', '.join(AREAS)} in this order, got {', '.join(areas)}")
    problems: list[str] = []
    seen: set[str] = set()
    for r in reqs:
        if r.id in seen:
            problems.append(f"{r.id}: duplicate requirement id")
        seen.add(r.id)
        if r.area not in areas:
            problems.append(f"{r.id}: area {r.area!r} unknown (allowed: {', '.join(areas)})")
        if r.source not in sources:
            problems.append(f"{r.id}: source {r.source!r} unknown (allowed: {', '.join(sources)})")
        for trait in (*r.applies_when, *(g.when for g in r.evidence)):
            if trait not in TRAITS:
                problems.append(f"{r.id}: trait {trait!r} unknown (allowed: {', '.join(TRAITS)})")
        for tid in r.evidence_types():
            if tid not in types:
                problems.append(f"{r.id}: evidence type {tid!r} unknown")
        for kind in r.predicted_by:
            if kind not in PREDICTION_KINDS:
                problems.append(
                    f"{r.id}: prediction {kind!r} unknown (allowed: {', '.join(PREDICTION_KINDS)})"
                )
    values = {str(k): float(v) for k, v in data["scoring"]["status_values"].items()}
    weights = {str(k): float(v) for k, v in data["scoring"]["priority_weights"].items()}
    if set(values) != {"met", "partly met", "missing", "failed"}:
        problems.append(f"scoring.status_values: {sorted(values)} must be met, partly met, missing, failed")
    if set(weights) != {"essential", "supporting"}:
        problems.append(f"scoring.priority_weights: {sorted(weights)} must be essential, supporting")
    model = RequirementsModel(
        requirements=reqs,
        evidence_types=types,
        areas=areas,
        sources=sources,
        status_values=values,
        priority_weights=weights,
    )
    for key in model.citation_keys():
        try:
            get_reference(key)
        except KeyError as exc:
            problems.append(str(exc.args[0]) if exc.args else str(exc))
    if problems:
        raise ValueError(f"{where}: " + "; ".join(problems))
    return model


@functools.lru_cache(maxsize=1)
def requirements_model() -> RequirementsModel:
    """The packaged requirements model (cached; checked on load)."""
    path = resources.files("nanobridge") / "data" / "dossier" / "requirements.yaml"
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    return load_requirements(raw)
