"""Export the nanoparticle PBPK model to SBML Level 3 Version 2 (COPASI, tellurium, libroadrunner).

The exported file is a readable mechanistic model, not a matrix dump:

- **Input parameters** carry the published names of the reference code (``QCC``, ``QLC``,
  ``VLC``, ``BVL``, ``PL``, ``PALC``, ``KLRESrelease``, ``KLRESmax``, ``KLRES50``, ``KLRESn``,
  ..., ``KbileC``, ``KurineC``), plus the body weight ``BW`` [kg], the particle's renal
  clearance ``CLrenal`` [L/h] and the ``dose`` [mg], each with its unit.
- **Derived flows, volumes and clearances** are initial assignments of those parameters
  (``QC = QCC*BW^0.75``, ``QL = QC*QLC``, ``QR = QC*QRC``, ``VL = BW*VLC``, ``VLb = VL*BVL``,
  ``VLt = VL - VLb``, ``PAL = PALC*QL``, ``Kbile = KbileC*BW^0.75``...). Tools that re-apply
  initial assignments on reset (COPASI, tellurium's ``init(QCC)``) keep the model consistent
  when a published parameter changes.
- **Species** are *amounts* (``hasOnlySubstanceUnits``), one per state of
  :data:`nanobridge.science.pbpk.model.STATE_NAMES`, in a single nominal compartment ``body``
  (1 L, so a tool's "concentration" equals the amount); the sub-compartment volumes are the
  parameters ``VXb``/``VXt``/``VA``/``VV``.
- **Reactions** are the first-order transfers, one per pair: ``<src>_to_<dst>`` with the
  mass-action law ``k_<src>_to_<dst> * <src>`` and a rate constant [1/h] that reads like the
  physiology (``k_arterial_plasma_to_liver_blood = QL/VA``,
  ``k_liver_tissue_to_liver_blood = PAL/(PL*VLt)``). Phagocytic uptake ``uptake_<organ>``
  moves amount into ``<organ>_pc`` at the Hill rate of (csymbol) time, an assignment rule named
  as in the published code: ``KLRESUP = KLRESmax*time^KLRESn/(KLRES50^KLRESn + time^KLRESn)``.
- ``total_<group>`` (assignment rules) add up the organ groups of
  :data:`~nanobridge.science.pbpk.model.OUTPUT_GROUPS` for plotting.

Every transfer of :func:`~nanobridge.science.pbpk.model.build_system` appears once. On export the
document's own MathML is evaluated and compared with the matrix that the numba solver integrates
(same pattern, values within 1e-12), so the file cannot drift from the engine. ``QLuC`` is not
exported: the lungs receive the whole cardiac output.

For a population in libroadrunner, load once and per subject either set the rate constants
``k_*`` and Hill parameters after ``resetAll()``, or set ``init(<published name>)`` and then
``resetAll()`` (which re-applies the initial assignments); see
:mod:`nanobridge.science.pbpk.reference_solvers`.

    >>> from nanobridge.science.pbpk.parameters import load_parameter_set
    >>> xml = to_sbml(load_parameter_set("Cheng2020_mouse").as_dict(), body_weight_kg=0.02)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import libsbml
import numpy as np

from nanobridge.science.pbpk.model import (
    _STEM,
    GROUP_OF_STATE,
    OUTPUT_GROUPS,
    PC_ORGANS,
    STATE_NAMES,
    build_system,
)

__all__ = [
    "SBMLExportError",
    "consistency_errors",
    "hill_parameter_names",
    "input_parameter_ids",
    "to_sbml",
    "transfer_parameter_name",
    "uptake_rate_name",
    "write_sbml",
]

_LEVEL, _VERSION = 3, 2
_COMPARTMENT = "body"

_SYSTEMIC = ("heart", "brain", "muscle", "kidney", "spleen", "liver", "rest_of_body", "tumor")
_STEMS: tuple[str, ...] = tuple(_STEM.values())  # Lu, H, Br, M, K, S, L, R, T
_FLOW_FRACTION_STEMS = ("L", "K", "Br", "S", "M", "H", "T")  # R is the remainder, Lu the whole QC
_VOLUME_FRACTION_STEMS = ("L", "Lu", "K", "Br", "S", "H", "M", "T")

_SECOND, _GRAM, _LITRE, _KILOGRAM = (
    libsbml.UNIT_KIND_SECOND,
    libsbml.UNIT_KIND_GRAM,
    libsbml.UNIT_KIND_LITRE,
    libsbml.UNIT_KIND_KILOGRAM,
)
# unit id -> [(kind, exponent, scale, multiplier)], SBML semantics (multiplier * 10^scale * kind)^exponent
_UNITS: dict[str, list[tuple[int, float, int, float]]] = {
    "hour": [(_SECOND, 1.0, 0, 3600.0)],
    "per_hour": [(_SECOND, -1.0, 0, 3600.0)],
    "milligram": [(_GRAM, 1.0, -3, 1.0)],
    "litre_per_kilogram": [(_LITRE, 1.0, 0, 1.0), (_KILOGRAM, -1.0, 0, 1.0)],
    "litre_per_hour": [(_LITRE, 1.0, 0, 1.0), (_SECOND, -1.0, 0, 3600.0)],
    "litre_per_hour_per_kg0_75": [
        (_LITRE, 1.0, 0, 1.0),
        (_SECOND, -1.0, 0, 3600.0),
        (_KILOGRAM, -0.75, 0, 1.0),
    ],
}

_ORGAN_LABEL = {
    "lung": "lung",
    "heart": "heart",
    "brain": "brain",
    "muscle": "muscle",
    "kidney": "kidney",
    "spleen": "spleen",
    "liver": "liver",
    "rest_of_body": "rest of body",
    "tumor": "tumour",
}


class SBMLExportError(RuntimeError):
    """The SBML document is invalid or does not reproduce the engine's system matrix."""


@dataclass(frozen=True)
class _Param:
    id: str
    units: str
    name: str


@dataclass(frozen=True)
class _Derived:
    id: str
    formula: str
    units: str
    name: str


@dataclass(frozen=True)
class _Transfer:
    id: str
    src: str
    dst: str
    rate_id: str  # parameter holding the rate constant [1/h]
    formula: str  # its definition
    name: str


# ---------------------------------------------------------------------------------------------
# the model, symbolically


def transfer_parameter_name(src: str, dst: str) -> str:
    """Id of the rate constant [1/h] of the first-order transfer ``src -> dst``."""
    return f"k_{src}_to_{dst}"


def hill_parameter_names(organ: str) -> tuple[str, str, str]:
    """Published ids ``(Kmax [1/h], K50 [h], n)`` of the phagocytic uptake of ``organ``."""
    st = _STEM[organ]
    return f"K{st}RESmax", f"K{st}RES50", f"K{st}RESn"


def uptake_rate_name(organ: str) -> str:
    """Id of the time-dependent uptake rate [1/h] of ``organ``'s phagocytic cells (``KXRESUP``)."""
    return f"K{_STEM[organ]}RESUP"


def _label(stem: str) -> str:
    return _ORGAN_LABEL[next(o for o, s in _STEM.items() if s == stem)]


def _input_parameters() -> list[_Param]:
    """The model's inputs, with the names of the published code and their units."""
    ps = [_Param("QCC", "litre_per_hour_per_kg0_75", "cardiac output constant")]
    ps += [
        _Param(f"Q{st}C", "dimensionless", f"blood flow to {_label(st)}, fraction of cardiac output")
        for st in _FLOW_FRACTION_STEMS
    ]
    ps += [
        _Param(
            f"V{st}C", "litre_per_kilogram", f"volume of {_label(st)} per body weight (fraction at 1 kg/L)"
        )
        for st in _VOLUME_FRACTION_STEMS
    ]
    ps += [
        _Param("VPlasC", "litre_per_kilogram", "plasma volume per body weight"),
        _Param("FracArterialPlasma", "dimensionless", "arterial fraction of the plasma volume"),
    ]
    ps += [_Param(f"BV{st}", "dimensionless", f"capillary blood fraction of {_label(st)}") for st in _STEMS]
    ps += [
        _Param(f"P{st}", "dimensionless", f"{_label(st)} tissue:plasma partition coefficient")
        for st in _STEMS
    ]
    ps += [
        _Param(f"PA{st}C", "dimensionless", f"{_label(st)} permeability-surface area, fraction of its flow")
        for st in _STEMS
    ]
    for organ in PC_ORGANS:
        st, lab = _STEM[organ], _ORGAN_LABEL[organ]
        kmax, k50, n = hill_parameter_names(organ)
        ps += [
            _Param(f"K{st}RESrelease", "per_hour", f"release rate from {lab} phagocytic cells"),
            _Param(kmax, "per_hour", f"maximum uptake rate by {lab} phagocytic cells"),
            _Param(k50, "hour", f"time of half-maximal uptake by {lab} phagocytic cells"),
            _Param(n, "dimensionless", f"Hill coefficient of uptake by {lab} phagocytic cells"),
        ]
    ps += [
        _Param("KbileC", "litre_per_hour_per_kg0_75", "biliary clearance constant (from liver tissue)"),
        _Param("KurineC", "litre_per_hour_per_kg0_75", "urinary clearance constant (from kidney blood)"),
        _Param("BW", "kilogram", "body weight"),
        _Param("CLrenal", "litre_per_hour", "renal (glomerular) clearance of the particle"),
        _Param("dose", "milligram", "intravenous bolus dose, into venous plasma"),
    ]
    return ps


def input_parameter_ids() -> tuple[str, ...]:
    """Ids of the constant inputs of the exported model (published names, ``BW``, ``CLrenal``, ``dose``)."""
    return tuple(p.id for p in _input_parameters())


def _derived() -> list[_Derived]:
    """Flows [L/h], volumes [L] and clearances [L/h] from the inputs, in dependency order."""
    flow_sum = " + ".join(f"Q{st}C" for st in _FLOW_FRACTION_STEMS)
    vol_sum = " + ".join(f"V{st}C" for st in _VOLUME_FRACTION_STEMS) + " + VPlasC"
    out = [
        _Derived("QC", "QCC * BW^0.75", "litre_per_hour", "cardiac output"),
        _Derived(
            "QRC",
            f"1 dimensionless - ({flow_sum})",
            "dimensionless",
            "rest-of-body flow, fraction of cardiac output",
        ),
        _Derived(
            "VRC",
            f"1 litre_per_kilogram - ({vol_sum})",
            "litre_per_kilogram",
            "rest-of-body volume per body weight",
        ),
        _Derived("QLu", "QC", "litre_per_hour", "blood flow through the lungs"),
    ]
    out += [
        _Derived(f"Q{st}", f"QC * Q{st}C", "litre_per_hour", f"blood flow to {_label(st)}")
        for st in (*_FLOW_FRACTION_STEMS, "R")
    ]
    for st in _STEMS:
        lab = _label(st)
        out += [
            _Derived(f"V{st}", f"BW * V{st}C", "litre", f"volume of {lab}"),
            _Derived(f"V{st}b", f"V{st} * BV{st}", "litre", f"{lab} capillary blood volume"),
            _Derived(f"V{st}t", f"V{st} - V{st}b", "litre", f"{lab} tissue volume"),
            _Derived(f"PA{st}", f"PA{st}C * Q{st}", "litre_per_hour", f"{lab} permeability-surface area"),
        ]
    out += [
        _Derived("VPlas", "BW * VPlasC", "litre", "plasma volume"),
        _Derived("VA", "VPlas * FracArterialPlasma", "litre", "arterial plasma volume"),
        _Derived("VV", "VPlas * (1 dimensionless - FracArterialPlasma)", "litre", "venous plasma volume"),
        _Derived("Kurine", "KurineC * BW^0.75", "litre_per_hour", "urinary clearance (model)"),
        _Derived("Kbile", "KbileC * BW^0.75", "litre_per_hour", "biliary clearance"),
    ]
    return out


def _pc_source(organ: str) -> str:
    return f"{organ}_blood" if organ == "liver" else f"{organ}_tissue"


def _first_order(src: str, dst: str, formula: str, name: str) -> _Transfer:
    return _Transfer(f"{src}_to_{dst}", src, dst, transfer_parameter_name(src, dst), formula, name)


def _transfers(reference_liver_return: bool) -> list[_Transfer]:
    """Every constant first-order transfer of :func:`build_system`."""
    ts = [
        _first_order("venous_plasma", "lung_blood", "QC / VV", "venous return to the lungs"),
        _first_order("lung_blood", "arterial_plasma", "QC / VLub", "pulmonary outflow"),
    ]
    for organ in _SYSTEMIC:
        st, lab = _STEM[organ], _ORGAN_LABEL[organ]
        ts.append(
            _first_order("arterial_plasma", f"{organ}_blood", f"Q{st} / VA", f"arterial supply of {lab}")
        )
    for organ in ("heart", "brain", "muscle", "kidney", "rest_of_body", "tumor"):
        st, lab = _STEM[organ], _ORGAN_LABEL[organ]
        ts.append(
            _first_order(f"{organ}_blood", "venous_plasma", f"Q{st} / V{st}b", f"venous outflow of {lab}")
        )
    ts.append(
        _first_order("spleen_blood", "liver_blood", "QS / VSb", "splenic (portal) outflow to the liver")
    )
    liver_out = "QL / VLb" if reference_liver_return else "(QL + QS) / VLb"
    ts.append(_first_order("liver_blood", "venous_plasma", liver_out, "hepatic venous outflow"))
    for organ, st in _STEM.items():
        lab = _ORGAN_LABEL[organ]
        ts.append(
            _first_order(f"{organ}_blood", f"{organ}_tissue", f"PA{st} / V{st}b", f"{lab}: blood to tissue")
        )
        ts.append(
            _first_order(
                f"{organ}_tissue", f"{organ}_blood", f"PA{st} / (P{st} * V{st}t)", f"{lab}: tissue to blood"
            )
        )
    for organ in PC_ORGANS:
        st, lab = _STEM[organ], _ORGAN_LABEL[organ]
        ts.append(
            _first_order(
                f"{organ}_pc", _pc_source(organ), f"K{st}RESrelease", f"release from {lab} phagocytic cells"
            )
        )
    ts.append(_first_order("kidney_blood", "urine", "(Kurine + CLrenal) / VKb", "urinary excretion"))
    ts.append(_first_order("liver_tissue", "feces", "Kbile / VLt", "biliary excretion"))
    return ts


def _uptakes() -> list[_Transfer]:
    out = []
    for organ in PC_ORGANS:
        kmax, k50, n = hill_parameter_names(organ)
        hill = f"{kmax} * time^{n} / ({k50}^{n} + time^{n})"
        out.append(
            _Transfer(
                f"uptake_{organ}", _pc_source(organ), f"{organ}_pc", uptake_rate_name(organ), hill,
                f"uptake by {_ORGAN_LABEL[organ]} phagocytic cells",
            )
        )  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------------
# document construction


def _check(status: int, what: str) -> None:
    if status != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise SBMLExportError(f"libsbml failed to {what}: {libsbml.OperationReturnValue_toString(status)}")


def _math(formula: str) -> libsbml.ASTNode:
    ast = libsbml.parseL3Formula(formula)  # the L3 parser reads `time` as the csymbol time
    if ast is None:
        raise SBMLExportError(f"cannot parse formula '{formula}': {libsbml.getLastParseL3Error()}")
    return ast


def _add_parameter(
    model: libsbml.Model, pid: str, units: str, name: str, *, value: float | None, constant: bool
) -> None:
    p = model.createParameter()
    _check(p.setId(pid), f"set parameter id '{pid}'")
    p.setName(name)
    p.setUnits(units)
    p.setConstant(constant)
    if value is not None:
        p.setValue(float(value))


def _add_initial_assignment(model: libsbml.Model, symbol: str, formula: str) -> None:
    ia = model.createInitialAssignment()
    _check(ia.setSymbol(symbol), f"set initial assignment symbol '{symbol}'")
    _check(ia.setMath(_math(formula)), f"set the initial assignment of '{symbol}'")


def _add_assignment_rule(model: libsbml.Model, variable: str, formula: str) -> None:
    rule = model.createAssignmentRule()
    _check(rule.setVariable(variable), f"set rule variable '{variable}'")
    _check(rule.setMath(_math(formula)), f"set the rule for '{variable}'")


def _add_citations(model: libsbml.Model) -> None:
    try:
        from nanobridge.citations import get_reference

        dois = [get_reference(key).doi for key in ("Cheng2020", "Lin2016_gold_mouse")]
    except Exception:  # the citation registry only decorates the export
        dois = []
    model.setMetaId(f"meta_{model.getId()}")
    for doi in dois:
        if doi:
            cv = libsbml.CVTerm(libsbml.MODEL_QUALIFIER)
            cv.setModelQualifierType(libsbml.BQM_IS_DESCRIBED_BY)
            cv.addResource(f"https://identifiers.org/doi:{doi}")
            model.addCVTerm(cv)


_NOTES = """<body xmlns="http://www.w3.org/1999/xhtml">
<p>Tumour-bearing nanoparticle PBPK model of Cheng et al. 2020 (ACS Nano 14:3075) on the structure of
Lin et al. 2016 (Nanotoxicology 10:162), exported by nanobridge. Amounts in mg (a dose of 1 gives
fractions of the dose), time in h, volumes in L, flows in L/h; species are amounts in one nominal
compartment, sub-compartment volumes are parameters (VXb capillary blood, VXt tissue, VA/VV plasma).</p>
<p>Departures from the authors' reference code: the liver returns {liver} to the veins; the
phagocytic uptake rate KXRESUP is a Hill function of continuous time.</p>
</body>"""


def _build_document(
    values: Mapping[str, float], model_id: str, reference_liver_return: bool
) -> libsbml.SBMLDocument:
    doc = libsbml.SBMLDocument(_LEVEL, _VERSION)
    model = doc.createModel()
    _check(model.setId(model_id), f"set model id '{model_id}' (must be a valid SBML identifier)")
    model.setName("Nanoparticle PBPK model, tumour-bearing (Cheng 2020 / Lin 2016)")
    liver = "QL x CVL only, as the reference code" if reference_liver_return else "(QL + QS) x CVL"
    _check(model.setNotes(_NOTES.replace("{liver}", liver)), "set the model notes")
    _add_citations(model)
    for uid, units in _UNITS.items():
        ud = model.createUnitDefinition()
        _check(ud.setId(uid), f"set unit id '{uid}'")
        for kind, exponent, scale, multiplier in units:
            u = ud.createUnit()
            u.setKind(kind)
            u.setExponent(exponent)
            u.setScale(scale)
            u.setMultiplier(multiplier)
    model.setTimeUnits("hour")
    model.setVolumeUnits("litre")
    model.setSubstanceUnits("milligram")
    model.setExtentUnits("milligram")

    for p in _input_parameters():
        _add_parameter(model, p.id, p.units, p.name, value=values[p.id], constant=True)
    for d in _derived():
        _add_parameter(model, d.id, d.units, d.name, value=None, constant=True)
        _add_initial_assignment(model, d.id, d.formula)

    comp = model.createCompartment()
    comp.setId(_COMPARTMENT)
    comp.setName("body (nominal; species are amounts)")
    comp.setSpatialDimensions(3)
    comp.setSize(1.0)
    comp.setUnits("litre")
    comp.setConstant(True)
    for state in STATE_NAMES:
        sp = model.createSpecies()
        _check(sp.setId(state), f"set species id '{state}'")
        sp.setName(state.replace("_pc", " phagocytic cells").replace("_", " "))
        sp.setCompartment(_COMPARTMENT)
        sp.setHasOnlySubstanceUnits(True)
        sp.setBoundaryCondition(False)
        sp.setConstant(False)
        sp.setSubstanceUnits("milligram")
        sp.setInitialAmount(0.0)
    _add_initial_assignment(model, "venous_plasma", "dose")

    transfers = _transfers(reference_liver_return)
    uptakes = _uptakes()
    for tr in transfers:
        _add_parameter(model, tr.rate_id, "per_hour", f"rate constant: {tr.name}", value=None, constant=True)
        _add_initial_assignment(model, tr.rate_id, tr.formula)
    for tr in uptakes:
        _add_parameter(model, tr.rate_id, "per_hour", f"Hill rate: {tr.name}", value=None, constant=False)
        _add_assignment_rule(model, tr.rate_id, tr.formula)
    for tr in transfers + uptakes:
        rx = model.createReaction()
        _check(rx.setId(tr.id), f"set reaction id '{tr.id}'")
        rx.setName(tr.name)
        rx.setReversible(False)
        rx.setSBOTerm(185)  # transport reaction
        for ref, species in ((rx.createReactant(), tr.src), (rx.createProduct(), tr.dst)):
            ref.setSpecies(species)
            ref.setStoichiometry(1.0)
            ref.setConstant(True)
        kl = rx.createKineticLaw()
        _check(kl.setMath(_math(f"{tr.rate_id} * {tr.src}")), f"set the kinetic law of '{tr.id}'")

    for gi, group in enumerate(OUTPUT_GROUPS):
        members = [STATE_NAMES[i] for i in np.flatnonzero(np.equal(GROUP_OF_STATE, gi))]
        gid = f"total_{group}"
        _add_parameter(model, gid, "milligram", f"amount in {group}", value=None, constant=False)
        _add_assignment_rule(model, gid, " + ".join(members))
    return doc


# ---------------------------------------------------------------------------------------------
# evaluate the document's own math, to check it against the engine


def _evaluator(model: libsbml.Model, time_h: float) -> Callable[[str], float]:
    defs: dict[str, libsbml.ASTNode] = {}
    for i in range(model.getNumInitialAssignments()):
        ia = model.getInitialAssignment(i)
        defs[ia.getSymbol()] = ia.getMath()
    for i in range(model.getNumRules()):
        rule = model.getRule(i)
        defs[rule.getVariable()] = rule.getMath()
    cache: dict[str, float] = {}

    def value(sid: str) -> float:
        if sid not in cache:
            if sid in defs:
                cache[sid] = ev(defs[sid])
            elif model.getParameter(sid) is not None:
                cache[sid] = float(model.getParameter(sid).getValue())
            else:
                raise SBMLExportError(f"identifier '{sid}' has no value")
        return cache[sid]

    def ev(node: libsbml.ASTNode) -> float:
        t = node.getType()
        if t == libsbml.AST_NAME_TIME:
            return time_h
        if t == libsbml.AST_NAME:
            return value(node.getName())
        if node.isNumber():
            return float(node.getValue())
        kids = [ev(node.getChild(i)) for i in range(node.getNumChildren())]
        if t == libsbml.AST_PLUS:
            return float(sum(kids))
        if t == libsbml.AST_MINUS:
            return -kids[0] if len(kids) == 1 else kids[0] - kids[1]
        if t == libsbml.AST_TIMES:
            return math.prod(kids)
        if t == libsbml.AST_DIVIDE:
            return kids[0] / kids[1]
        if t in (libsbml.AST_POWER, libsbml.AST_FUNCTION_POWER):
            return float(kids[0] ** kids[1])
        raise SBMLExportError(f"unsupported MathML in '{libsbml.formulaToL3String(node)}'")

    return value


def _verify_against_engine(
    model: libsbml.Model,
    params: Mapping[str, float],
    body_weight_kg: float,
    renal_clearance_L_per_h: float,
    reference_liver_return: bool,
) -> None:
    """The reactions must reproduce ``build_system``'s constant matrix and its uptake rates."""
    system = build_system(
        params, body_weight_kg, renal_clearance_L_per_h, reference_liver_return=reference_liver_return
    )
    n = system.n_states
    a_engine = system.dense_A0(0)
    np.fill_diagonal(a_engine, 0.0)
    a_sbml = np.zeros((n, n))
    index = {name: i for i, name in enumerate(STATE_NAMES)}
    at0 = _evaluator(model, 0.0)
    uptake_ids = {uptake_rate_name(o) for o in PC_ORGANS}
    for i in range(model.getNumReactions()):
        rx = model.getReaction(i)
        rate_id = rx.getKineticLaw().getMath().getChild(0).getName()
        if rate_id not in uptake_ids:
            src, dst = rx.getReactant(0).getSpecies(), rx.getProduct(0).getSpecies()
            a_sbml[index[dst], index[src]] += at0(rate_id)
    tol = 1e-12 * np.abs(a_engine)
    bad = np.argwhere((np.abs(a_sbml - a_engine) > tol) | ((a_sbml != 0) & (a_engine == 0)))
    if bad.size:
        r, c = bad[0]
        raise SBMLExportError(
            f"SBML transfer {STATE_NAMES[c]} -> {STATE_NAMES[r]} has rate {a_sbml[r, c]:.6g} 1/h, the "
            f"engine's matrix {a_engine[r, c]:.6g}: sbml.py is out of sync with model.build_system"
        )
    for t_h in (0.5, 24.0, 150.0):
        at_t = _evaluator(model, t_h)
        for j in range(system.pc_src.size):
            organ = STATE_NAMES[system.pc_dst[j]].removesuffix("_pc")
            kmax, k50, nh = system.hill[0, j]
            expected = kmax * t_h**nh / (k50**nh + t_h**nh)
            got = at_t(uptake_rate_name(organ))
            if abs(got - expected) > 1e-12 * abs(expected) + 1e-300:
                raise SBMLExportError(
                    f"SBML uptake rate {uptake_rate_name(organ)} is {got:.6g} at {t_h} h, "
                    f"the engine's {expected:.6g}: sbml.py is out of sync with model.build_system"
                )


# ---------------------------------------------------------------------------------------------
# public API


def consistency_errors(sbml: str | libsbml.SBMLDocument, *, units: bool = False) -> list[str]:
    """Messages of severity error or fatal from libsbml's consistency checks (empty: valid).

    Unit checking is off unless ``units``: a Hill term with a parameter as exponent of time
    cannot be unit-checked, which libsbml reports as warnings anyway.
    """
    doc = libsbml.readSBMLFromString(sbml) if isinstance(sbml, str) else sbml
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, units)
    doc.checkConsistency()
    errors = []
    for i in range(doc.getNumErrors()):
        err = doc.getError(i)
        if err.getSeverity() >= libsbml.LIBSBML_SEV_ERROR:
            errors.append(f"line {err.getLine()}: {err.getMessage().strip()}")
    return errors


def _scalar(value: object, key: str) -> float:
    arr = np.asarray(value, dtype=float)
    if arr.size != 1:
        raise ValueError(f"'{key}' must be a scalar for SBML export (one subject), got shape {arr.shape}")
    v = float(arr.reshape(()))
    if not math.isfinite(v):
        raise ValueError(f"'{key}' must be finite, got {v}")
    return v


def to_sbml(
    params: Mapping[str, float],
    body_weight_kg: float,
    renal_clearance_L_per_h: float = 0.0,
    *,
    model_id: str = "nanobridge_pbpk",
    dose: float = 1.0,
    reference_liver_return: bool = False,
) -> str:
    """The PBPK model of one subject as an SBML Level 3 Version 2 document (XML string).

    ``params`` uses the published names (extra keys such as ``GFR_L_per_h_per_kg`` are ignored);
    ``dose`` [mg] starts in ``venous_plasma`` (the default 1 gives fractions of the dose).
    Raises ``KeyError``/``ValueError`` naming a missing or bad input, and
    :class:`SBMLExportError` if the document is invalid or disagrees with the engine.
    """
    if not (math.isfinite(dose) and dose > 0):
        raise ValueError(f"dose must be finite and > 0 (mg), got {dose}")
    values: dict[str, float] = {}
    for p in _input_parameters():
        if p.id in ("BW", "CLrenal", "dose"):
            continue
        if p.id not in params:
            raise KeyError(f"PBPK parameter '{p.id}' is missing")
        values[p.id] = _scalar(params[p.id], p.id)
    values["BW"] = _scalar(body_weight_kg, "body_weight_kg")
    values["CLrenal"] = _scalar(renal_clearance_L_per_h, "renal_clearance_L_per_h")
    values["dose"] = float(dose)
    # build_system validates ranges (fractions, positivity) and names the offending parameter
    doc = _build_document(values, model_id, reference_liver_return)
    errors = consistency_errors(doc)
    if errors:
        raise SBMLExportError("invalid SBML document:\n" + "\n".join(errors[:10]))
    _verify_against_engine(doc.getModel(), params, values["BW"], values["CLrenal"], reference_liver_return)
    return str(libsbml.writeSBMLToString(doc))


def write_sbml(
    path: str | os.PathLike[str],
    params: Mapping[str, float],
    body_weight_kg: float,
    renal_clearance_L_per_h: float = 0.0,
    *,
    model_id: str = "nanobridge_pbpk",
    dose: float = 1.0,
    reference_liver_return: bool = False,
) -> Path:
    """Write :func:`to_sbml` to ``path`` (UTF-8) and return the path."""
    xml = to_sbml(
        params, body_weight_kg, renal_clearance_L_per_h,
        model_id=model_id, dose=dose, reference_liver_return=reference_liver_return,
    )  # fmt: skip
    out = Path(path)
    out.write_text(xml, encoding="utf-8")
    return out
