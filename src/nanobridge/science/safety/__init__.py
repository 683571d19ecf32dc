"""Safe-by-design assessment: findings on an agent and its simulated biodistribution, and the NCL
assay cascade as the evidence map.

    >>> from nanobridge.science.safety import RULES, SEVERITIES
    >>> SEVERITIES
    ('info', 'low', 'moderate', 'high', 'critical')

:func:`evaluate_safety` (pure: typed inputs, a :class:`SafetyReport` out) is run for an agent by
:func:`nanobridge.workflows.safety.safety_assessment`, which simulates it first.
"""

from nanobridge.science.safety.findings import (
    RULES,
    SEVERITIES,
    SEVERITY_SCALE,
    EvidenceItem,
    Finding,
    MaterialFate,
    RetentionPoint,
    RuleCheck,
    SafetyReport,
    Severity,
    SpeciesRun,
    cationic_viability_by_material,
    evaluate_safety,
    material_fate,
    rule_constant,
    severity_rank,
)
from nanobridge.science.safety.ncl import (
    Assay,
    AssayCascade,
    AssayResult,
    AssayStatus,
    EvidenceSet,
    FindingEvidence,
    assay_cascade,
    evidence_from_rows,
    finding_evidence,
    load_evidence,
)

__all__ = [
    "RULES",
    "SEVERITIES",
    "SEVERITY_SCALE",
    "Assay",
    "AssayCascade",
    "AssayResult",
    "AssayStatus",
    "EvidenceItem",
    "EvidenceSet",
    "Finding",
    "FindingEvidence",
    "MaterialFate",
    "RetentionPoint",
    "RuleCheck",
    "SafetyReport",
    "Severity",
    "SpeciesRun",
    "assay_cascade",
    "cationic_viability_by_material",
    "evaluate_safety",
    "evidence_from_rows",
    "finding_evidence",
    "load_evidence",
    "material_fate",
    "rule_constant",
    "severity_rank",
]
