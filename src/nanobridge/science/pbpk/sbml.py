"""Export the nanoparticle PBPK model to SBML Level 3 Version 2 (python-libsbml).

The exported model runs in any SBML tool (COPASI, tellurium/libroadrunner, ...). It is the
same linear system nanobridge integrates (:func:`nanobridge.science.pbpk.model.build_system`):

- one species per state (amounts, ``hasOnlySubstanceUnits``; unit: fraction of the injected
  dose unless ``dose`` is given), all in a unit-volume compartment ``body`` — organ volumes
  enter through the rate constants;
- one mass-action reaction per first-order transfer, ``<src>_to_<dst>``, with its rate constant
  ``k_<src>_to_<dst>`` [1/h] as a global parameter (flows over volumes, permeability-surface
  products over volumes and partition coefficients, release and excretion constants);
- one reaction per phagocytic uptake, ``uptake_<organ>``, whose rate ``K<X>RESUP`` is an
  assignment rule of time: ``K<X>RESmax * time^n / (K<X>RES50^n + time^n)`` with the published
  parameter names, so a population can be simulated by setting parameters without reloading;
- every input parameter (published names, e.g. ``QCC``, ``PATC``) is also stored as a constant
  global parameter for provenance.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import libsbml
import numpy as np

from nanobridge.science.pbpk.model import _STEM, PC_ORGANS, STATE_NAMES, build_system

__all__ = ["consistency_errors", "hill_parameter_names", "to_sbml", "transfer_parameter_name", "write_sbml"]


def transfer_parameter_name(src: str, dst: str) -> str:
    """Name of the SBML rate constant of the transfer ``src -> dst``."""
    return f"k_{src}_to_{dst}"


def hill_parameter_names(organ: str) -> tuple[str, str, str]:
    """Published names (Kmax, K50, n) of an organ's phagocytic uptake parameters."""
    stem = _STEM[organ]
    return f"K{stem}RESmax", f"K{stem}RES50", f"K{stem}RESn"


def _check(code: int, what: str) -> None:
    if code != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise RuntimeError(f"libsbml failed to {what}: {libsbml.OperationReturnValue_toString(code)}")


def _parameter(model: libsbml.Model, pid: str, value: float, units: str, constant: bool = True) -> None:
    p = model.createParameter()
    _check(p.setId(pid), f"set parameter id {pid}")
    _check(p.setValue(float(value)), f"set value of {pid}")
    _check(p.setConstant(constant), f"set constant of {pid}")
    _check(p.setUnits(units), f"set units of {pid}")


def _unit(model: libsbml.Model, uid: str, parts: list[tuple[int, float, int, float]]) -> None:
    ud = model.createUnitDefinition()
    ud.setId(uid)
    for kind, exponent, scale, multiplier in parts:
        u = ud.createUnit()
        u.setKind(kind)
        u.setExponent(exponent)
        u.setScale(scale)
        u.setMultiplier(multiplier)


def to_sbml(
    params: Mapping[str, float],
    body_weight_kg: float,
    renal_clearance_L_per_h: float = 0.0,
    *,
    model_id: str = "nanobridge_pbpk",
    dose: float = 1.0,
) -> str:
    """The model for one subject as an SBML L3V2 document (XML string)."""
    if not (dose > 0 and np.isfinite(dose)):
        raise ValueError(f"dose must be > 0, got {dose}")
    system = build_system(params, body_weight_kg, renal_clearance_L_per_h)
    doc = libsbml.SBMLDocument(3, 2)
    model = doc.createModel()
    model.setId(model_id)
    model.setName("Tumour-bearing nanoparticle PBPK (Cheng et al. 2020 / Lin et al. 2016), nanobridge")
    _unit(model, "hour", [(libsbml.UNIT_KIND_SECOND, 1.0, 0, 3600.0)])
    _unit(model, "per_hour", [(libsbml.UNIT_KIND_SECOND, -1.0, 0, 1.0 / 3600.0)])
    model.setTimeUnits("hour")
    model.setSubstanceUnits("dimensionless")
    model.setExtentUnits("dimensionless")
    model.setVolumeUnits("dimensionless")
    notes = (
        "<body xmlns='http://www.w3.org/1999/xhtml'><p>Exported by nanobridge. Amounts are in units "
        f"of the injected dose x {dose:g}; time in hours. Body weight {body_weight_kg:g} kg; particle "
        f"renal clearance {renal_clearance_L_per_h:g} L/h. Liver venous return (QL+QS)*CVL; "
        "phagocytic uptake evaluated in continuous time.</p></body>"
    )
    model.setNotes(notes)

    comp = model.createCompartment()
    comp.setId("body")
    comp.setSize(1.0)
    comp.setConstant(True)
    comp.setSpatialDimensions(3)
    comp.setUnits("dimensionless")

    for i, name in enumerate(STATE_NAMES):
        sp = model.createSpecies()
        _check(sp.setId(name), f"set species {name}")
        sp.setCompartment("body")
        sp.setInitialAmount(float(dose) if i == system.dose_state else 0.0)
        sp.setHasOnlySubstanceUnits(True)
        sp.setBoundaryCondition(False)
        sp.setConstant(False)
        sp.setSubstanceUnits("dimensionless")

    provenance = {k: float(v) for k, v in params.items() if np.size(v) == 1}
    provenance["BW"] = float(body_weight_kg)
    hill_names = {n for organ in PC_ORGANS for n in hill_parameter_names(organ)}
    for key in sorted(provenance):
        if key in hill_names:
            continue
        _parameter(model, f"input_{key}", provenance[key], "dimensionless")

    values = system.values[0]
    for k in range(values.size):
        dst, src = int(system.rows[k]), int(system.cols[k])
        if dst == src or values[k] == 0.0:
            continue
        src_name, dst_name = STATE_NAMES[src], STATE_NAMES[dst]
        pid = transfer_parameter_name(src_name, dst_name)
        _parameter(model, pid, values[k], "per_hour")
        rx = model.createReaction()
        rx.setId(f"{src_name}_to_{dst_name}")
        rx.setReversible(False)
        r = rx.createReactant()
        r.setSpecies(src_name)
        r.setStoichiometry(1.0)
        r.setConstant(True)
        pr = rx.createProduct()
        pr.setSpecies(dst_name)
        pr.setStoichiometry(1.0)
        pr.setConstant(True)
        law = rx.createKineticLaw()
        _check(law.setMath(libsbml.parseL3Formula(f"{pid} * {src_name}")), f"set law of {pid}")

    for j, organ in enumerate(PC_ORGANS):
        kmax_id, k50_id, n_id = hill_parameter_names(organ)
        kmax, k50, n = (float(x) for x in system.hill[0, j])
        _parameter(model, kmax_id, kmax, "per_hour")
        _parameter(model, k50_id, k50, "hour")
        _parameter(model, n_id, n, "dimensionless")
        rate_id = f"K{_STEM[organ]}RESUP"
        _parameter(model, rate_id, 0.0, "per_hour", constant=False)
        rule = model.createAssignmentRule()
        rule.setVariable(rate_id)
        formula = f"{kmax_id} * pow(time, {n_id}) / (pow({k50_id}, {n_id}) + pow(time, {n_id}))"
        _check(rule.setMath(libsbml.parseL3Formula(formula)), f"set rule {rate_id}")
        src_name = STATE_NAMES[int(system.pc_src[j])]
        dst_name = STATE_NAMES[int(system.pc_dst[j])]
        rx = model.createReaction()
        rx.setId(f"uptake_{organ}")
        rx.setReversible(False)
        r = rx.createReactant()
        r.setSpecies(src_name)
        r.setStoichiometry(1.0)
        r.setConstant(True)
        pr = rx.createProduct()
        pr.setSpecies(dst_name)
        pr.setStoichiometry(1.0)
        pr.setConstant(True)
        law = rx.createKineticLaw()
        _check(law.setMath(libsbml.parseL3Formula(f"{rate_id} * {src_name}")), f"set law uptake_{organ}")

    text = libsbml.writeSBMLToString(doc)
    if not isinstance(text, str) or not text:
        raise RuntimeError("libsbml produced no SBML text")
    return text


def write_sbml(
    path: str | Path,
    params: Mapping[str, float],
    body_weight_kg: float,
    renal_clearance_L_per_h: float = 0.0,
    **kwargs: object,
) -> Path:
    """Write :func:`to_sbml` to ``path`` and return it."""
    path = Path(path)
    text = to_sbml(params, body_weight_kg, renal_clearance_L_per_h, **kwargs)  # type: ignore[arg-type]
    path.write_text(text, encoding="utf-8")
    return path


def consistency_errors(sbml_text: str) -> list[str]:
    """Errors (not warnings) reported by libsbml's consistency checks, as messages."""
    doc = libsbml.readSBMLFromString(sbml_text)
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, False)
    doc.checkConsistency()
    errors = []
    for i in range(doc.getNumErrors()):
        err = doc.getError(i)
        if err.getSeverity() >= libsbml.LIBSBML_SEV_ERROR:
            errors.append(err.getMessage())
    return errors
