"""IND readiness and the dossier's science: requirements, evidence, readiness, ISA-TAB-Nano.

- :mod:`~nanobridge.science.dossier.requirements`: the requirements model (packaged data with
  citations: FDA 2022 nanomaterial attributes, NCL assay cascade, MIRIBEL, dosimetry, IND);
- :mod:`~nanobridge.science.dossier.evidence`: evidence items, acceptance criteria, the
  :class:`EvidenceSource` protocol and the folder-of-evidence manifest;
- :mod:`~nanobridge.science.dossier.readiness`: met / partly met / missing / failed per
  requirement with the next experiment, and a readiness score per area;
- :mod:`~nanobridge.science.dossier.isatab`: an ISA-TAB-Nano style export of the
  characterization data, and a reader.

Pure functions on typed inputs; gathering the evidence of an agent from simulations, QC and
safety and rendering the dossier is :mod:`nanobridge.workflows.dossier`.
"""

from nanobridge.science.dossier.evidence import (
    MANIFEST_SCHEMA,
    Acceptance,
    EvidenceBundle,
    EvidenceItem,
    EvidenceSource,
    ItemVerdict,
    ManifestEvidenceSource,
    judge_item,
    load_manifest,
    parse_acceptance,
    parse_outcome,
    prediction_item,
)
from nanobridge.science.dossier.readiness import (
    STATUSES,
    AreaScore,
    GroupStatus,
    Readiness,
    RequirementStatus,
    assess_readiness,
)
from nanobridge.science.dossier.requirements import (
    AREAS,
    PREDICTION_KINDS,
    TRAITS,
    EvidenceGroup,
    EvidenceType,
    Requirement,
    RequirementsModel,
    agent_traits,
    load_requirements,
    requirements_model,
)

__all__ = [
    "AREAS",
    "MANIFEST_SCHEMA",
    "PREDICTION_KINDS",
    "STATUSES",
    "TRAITS",
    "Acceptance",
    "AreaScore",
    "EvidenceBundle",
    "EvidenceGroup",
    "EvidenceItem",
    "EvidenceSource",
    "EvidenceType",
    "GroupStatus",
    "ItemVerdict",
    "ManifestEvidenceSource",
    "Readiness",
    "Requirement",
    "RequirementStatus",
    "RequirementsModel",
    "agent_traits",
    "assess_readiness",
    "judge_item",
    "load_manifest",
    "load_requirements",
    "parse_acceptance",
    "parse_outcome",
    "prediction_item",
    "requirements_model",
]
