"""Safe-by-design rules: each fires on an agent that should trigger it and stays silent on one
that should not; severities, evidence, citations; the workflow and its HTML section."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanobridge.citations import collect_citations, get_reference, validate_citation_keys
from nanobridge.domain import (
    AgentSpec,
    Scenario,
    load_agent,
    load_example_agent,
    load_example_scenario,
    materials,
)
from nanobridge.science.dosimetry.mird import absorbed_doses, default_dose_factors
from nanobridge.science.pbpk.biodistribution import Biodistribution
from nanobridge.science.pbpk.model import OUTPUT_GROUPS
from nanobridge.science.safety import RULES, SEVERITIES, SpeciesRun, evaluate_safety, severity_rank
from nanobridge.science.safety.findings import (
    SafetyReport,
    cationic_cytotox_evidence,
    cationic_viability_by_material,
    material_fate,
    material_fates,
    rule_constants,
)
from nanobridge.workflows.safety import safety_assessment, safety_figure, safety_runs, safety_section_html

CYTOTOX = (
    Path(__file__).resolve().parents[2] / "shared" / "validation" / "cytotox" / "inorganic_viability.csv"
)


def make_agent(**changes: Any) -> AgentSpec:
    """A 6 nm PEG-silica C-dot-like particle, with ``changes`` applied."""
    data: dict[str, Any] = {
        "name": "test agent",
        "core_material": "silica",
        "core_diameter_nm": 4.0,
        "hydrodynamic_diameter_nm": 6.0,
        "zeta_potential_mV": -2.0,
        "coating": {"kind": "PEG", "peg_mw_Da": 500},
    }
    data.update(changes)
    return load_agent(data)


def report_for(agent: AgentSpec, runs: Sequence[SpeciesRun] = ()) -> SafetyReport:
    return evaluate_safety(agent, list(runs))


def fired(report: SafetyReport, rule: str) -> list[Any]:
    return report.findings_of(rule)


def synthetic_run(
    species: str = "human",
    *,
    liver: float = 0.0,
    spleen: float = 0.0,
    urine: float = 0.0,
    feces: float = 0.0,
    days: float = 180.0,
    scenario: Scenario | None = None,
) -> SpeciesRun:
    """A run whose organs hold constant %ID from 1 h on (the rest in 'rest_of_body'), for testing
    rule logic independently of the PBPK."""
    times = np.arange(0.0, days * 24.0 + 1e-9, 24.0)
    times = np.union1d(times, [1.0, 24.0])
    frac = np.zeros((1, times.size, len(OUTPUT_GROUPS)))
    idx = {o: i for i, o in enumerate(OUTPUT_GROUPS)}
    frac[0, 0, idx["blood"]] = 1.0
    rest = 100.0 - liver - spleen - urine - feces
    for organ, value in (
        ("liver", liver),
        ("spleen", spleen),
        ("urine", urine),
        ("feces", feces),
        ("rest_of_body", rest),
    ):
        frac[0, 1:, idx[organ]] = value / 100.0
    bd = Biodistribution.from_arrays(
        frac, times, np.ones((1, len(OUTPUT_GROUPS))), attrs={"species": species}
    )
    sc = scenario if scenario is not None else load_example_scenario(f"{species}_tumor")
    return SpeciesRun(scenario=sc, biodistribution=bd)


@pytest.fixture(scope="module")
def cdot_runs() -> list[SpeciesRun]:
    agent = load_example_agent("cdot_pet_optical")
    return safety_runs(agent, [load_example_scenario("human_tumor"), load_example_scenario("mouse_tumor")])


@pytest.fixture(scope="module")
def gold_runs() -> list[SpeciesRun]:
    agent = load_example_agent("gold_peg_100nm")
    return safety_runs(agent, [load_example_scenario("human_tumor"), load_example_scenario("mouse_tumor")])


# --------------------------------------------------------------------------------------------
# Packaged data
# --------------------------------------------------------------------------------------------


def test_packaged_data_is_cited_and_complete() -> None:
    assert validate_citation_keys(strict=False) == []
    for name, c in rule_constants().items():
        get_reference(c.citation)
        assert c.unit, name
        assert c.assumed == (c.citation == "Assumed"), name
    assert rule_constants()["renal_filtration_threshold_nm"].value == 5.5
    assert rule_constants()["renal_filtration_threshold_nm"].citation == "Choi2007"
    assert set(material_fates()) == set(materials().keys())
    assert material_fate("au").fate == "persistent"
    assert material_fate("Fe3O4").fate == "metabolised"
    assert material_fate("CdSe").toxic_ions == ("Cd2+",)


def test_severity_scale() -> None:
    assert SEVERITIES == ("info", "low", "moderate", "high", "critical")
    assert [severity_rank(s) for s in SEVERITIES] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="allowed: info, low"):
        severity_rank("severe")


@pytest.mark.skipif(not CYTOTOX.is_file(), reason="shared cytotoxicity table not available")
def test_cytotox_calibration_recomputes_from_the_shared_table() -> None:
    table = pd.read_csv(CYTOTOX)
    packaged = cationic_cytotox_evidence()
    assert packaged["n_measurements"] == len(table)
    assert packaged["n_materials"] == table["Material"].nunique()
    computed = [m.model_dump() for m in cationic_viability_by_material(table, packaged["zeta_threshold_mV"])]
    assert computed == packaged["materials"]
    # grouped by material the direction is not consistent: the dataset does not calibrate the rule
    signs = {np.sign(m["median_difference_pct"]) for m in computed}
    assert signs == {-1.0, 1.0}


def test_cytotox_calibration_needs_its_columns() -> None:
    with pytest.raises(ValueError, match="Viability"):
        cationic_viability_by_material(pd.DataFrame({"Material": ["Au"]}))


# --------------------------------------------------------------------------------------------
# Renal clearance
# --------------------------------------------------------------------------------------------


def test_renal_rule_silent_for_the_6nm_c_dot(cdot_runs: list[SpeciesRun]) -> None:
    report = evaluate_safety(load_example_agent("cdot_pet_optical"), cdot_runs)
    assert not fired(report, "renal_clearance")
    check = next(c for c in report.checks if c.rule == "renal_clearance")
    assert not check.triggered and "renally cleared" in check.summary and "6.5 nm" in check.summary
    # the cross-check: the PBPK puts almost all of it in urine
    for run in cdot_runs:
        assert (run.amount_at("urine", run.end_h) or 0) > 90


def test_renal_rule_fires_for_100nm_gold(gold_runs: list[SpeciesRun]) -> None:
    report = evaluate_safety(load_example_agent("gold_peg_100nm"), gold_runs)
    (finding,) = fired(report, "renal_clearance")
    assert finding.severity == "moderate"  # not clearable and the core persists
    values = {e.quantity: e.value for e in finding.evidence}
    assert values["hydrodynamic diameter"] == 120.0
    assert values["renal filtration threshold"] == 5.5
    assert values["glomerular sieving coefficient"] < 1e-6
    assert values["urine at 180 d, human"] < 1.0
    assert "Choi2007" in finding.citation_keys and "Longmire2008" in finding.citation_keys


def test_renal_rule_degradable_large_core_is_low() -> None:
    agent = make_agent(core_material="iron_oxide", hydrodynamic_diameter_nm=30.0, coating={"kind": "dextran"})
    (finding,) = fired(report_for(agent), "renal_clearance")
    assert finding.severity == "low"


def test_renal_rule_flags_a_small_particle_the_pbpk_does_not_clear() -> None:
    agent = make_agent(hydrodynamic_diameter_nm=4.0)
    assert not fired(report_for(agent, [synthetic_run(urine=95.0)]), "renal_clearance")
    (finding,) = fired(report_for(agent, [synthetic_run(urine=10.0)]), "renal_clearance")
    assert finding.severity == "low" and "incomplete" in finding.title


def test_renal_rule_charge_zone_and_shape() -> None:
    agent = make_agent(hydrodynamic_diameter_nm=7.0, zeta_potential_mV=-30.0)
    (finding,) = fired(report_for(agent, [synthetic_run(urine=20.0)]), "renal_clearance")
    assert "charge" in finding.title and "anionic" in finding.rationale
    assert any(e.quantity == "zeta potential" and e.value == -30.0 for e in finding.evidence)
    rod = make_agent(hydrodynamic_diameter_nm=40.0, shape="rod", aspect_ratio=4.0)
    (finding,) = fired(report_for(rod), "renal_clearance")
    assert "Ruggiero2010" in finding.citation_keys


# --------------------------------------------------------------------------------------------
# Retention
# --------------------------------------------------------------------------------------------


def test_retention_fires_for_gold_and_not_for_the_c_dot(
    gold_runs: list[SpeciesRun], cdot_runs: list[SpeciesRun]
) -> None:
    gold = evaluate_safety(load_example_agent("gold_peg_100nm"), gold_runs)
    by_species = {f.species: f for f in fired(gold, "organ_retention")}
    assert set(by_species) == {"human", "mouse"}
    human = by_species["human"]
    assert human.severity == "high"  # > 50 %ID of a persistent core at 180 d
    quantities = [e.quantity for e in human.evidence]
    for day in ("30", "90", "180"):
        assert f"liver at {day} d" in quantities and f"spleen at {day} d" in quantities
    liver180 = next(e.value for e in human.evidence if e.quantity == "liver at 180 d")
    run = next(r for r in gold_runs if r.species == "human")
    assert liver180 == pytest.approx(run.amount_at("liver", 4320.0))
    points = {(p.species, p.organ, p.day): p.pct_id for p in gold.retention}
    assert points[("human", "liver", 180.0)] == pytest.approx(liver180)
    cdot = evaluate_safety(load_example_agent("cdot_pet_optical"), cdot_runs)
    assert not fired(cdot, "organ_retention")
    assert all(not c.triggered for c in cdot.checks if c.rule == "organ_retention")


def test_retention_bands_depend_on_persistence() -> None:
    gold = make_agent(core_material="gold", hydrodynamic_diameter_nm=60.0)
    silica = make_agent(hydrodynamic_diameter_nm=60.0)
    (f,) = fired(report_for(gold, [synthetic_run(liver=20.0, spleen=10.0)]), "organ_retention")
    assert f.severity == "moderate"
    (f,) = fired(report_for(silica, [synthetic_run(liver=20.0, spleen=10.0)]), "organ_retention")
    assert f.severity == "low"
    assert not fired(report_for(silica, [synthetic_run(liver=4.0, spleen=4.0)]), "organ_retention")
    (f,) = fired(report_for(gold, [synthetic_run(liver=1.0, spleen=0.5)]), "organ_retention")
    assert f.severity == "low"


def test_retention_uses_the_last_checkpoint_a_short_run_reaches() -> None:
    gold = make_agent(core_material="gold", hydrodynamic_diameter_nm=60.0)
    (f,) = fired(report_for(gold, [synthetic_run(liver=40.0, spleen=20.0, days=100.0)]), "organ_retention")
    assert "at 90 d" in f.title
    check = next(
        c
        for c in report_for(gold, [synthetic_run(liver=40.0, days=10.0)]).checks
        if c.rule == "organ_retention"
    )
    assert not check.triggered and "before the first checkpoint" in check.summary


@settings(max_examples=30, deadline=None)
@given(a=st.floats(0.0, 95.0), b=st.floats(0.0, 95.0), persistent=st.booleans())
def test_retention_severity_is_monotone_in_retained_amount(a: float, b: float, persistent: bool) -> None:
    agent = make_agent(core_material="gold" if persistent else "silica", hydrodynamic_diameter_nm=60.0)
    low, high = sorted((a, b))

    def rank(pct: float) -> int:
        found = fired(report_for(agent, [synthetic_run(liver=pct)]), "organ_retention")
        return -1 if not found else severity_rank(found[0].severity)

    assert rank(low) <= rank(high)


# --------------------------------------------------------------------------------------------
# Core persistence
# --------------------------------------------------------------------------------------------


def test_core_persistence() -> None:
    assert not fired(report_for(make_agent()), "core_persistence")  # silica dissolves
    assert not fired(
        report_for(make_agent(core_material="iron_oxide", coating={"kind": "dextran"})), "core_persistence"
    )
    (gold,) = fired(report_for(make_agent(core_material="gold")), "core_persistence")
    assert gold.severity == "moderate" and "Sadauskas2009" in gold.citation_keys
    (qd,) = fired(
        report_for(make_agent(core_material="CdSe", coating={"kind": "zwitterionic"})), "core_persistence"
    )
    assert qd.severity == "critical" and "Cd2+" in qd.title
    assert {"Hardman2006", "Oh2016_QD"} <= set(qd.citation_keys)
    (claimed,) = fired(report_for(make_agent(core_material="gold", biodegradable=True)), "core_persistence")
    assert claimed.severity == "low" and "without support" in claimed.title
    (unknown,) = fired(report_for(make_agent(core_material="polymer")), "core_persistence")
    assert unknown.severity == "low" and "Assumed" in unknown.citation_keys


# --------------------------------------------------------------------------------------------
# Cationic surface, PEG
# --------------------------------------------------------------------------------------------


def test_cationic_surface() -> None:
    assert not fired(report_for(make_agent(zeta_potential_mV=-2.0)), "cationic_surface")
    assert not fired(report_for(make_agent(zeta_potential_mV=10.0)), "cationic_surface")  # neutral band edge
    (f,) = fired(report_for(make_agent(zeta_potential_mV=25.0)), "cationic_surface")
    assert f.severity == "moderate"
    assert {"Clogston2011", "Frohlich2012", "Labouta2019"} <= set(f.citation_keys)
    assert any("grouped by material" in e.quantity for e in f.evidence)
    (f,) = fired(report_for(make_agent(zeta_potential_mV=45.0)), "cationic_surface")
    assert f.severity == "high" and "Assumed" in f.citation_keys
    assert set(f.assays) >= {"ITA-1", "ITA-2", "ITA-12"}


def test_peg_finding() -> None:
    (f,) = fired(report_for(make_agent(coating={"kind": "PEG", "peg_mw_Da": 5000})), "peg_immunogenicity")
    assert f.severity == "moderate"
    assert {"Szebeni2014", "IshidaKiwada2008", "Yang2016_antiPEG", "Chen2016_antiPEG"} <= set(f.citation_keys)
    assert any(e.quantity == "PEG molecular weight" and e.value == 5000 for e in f.evidence)
    assert "ITA-5" in f.assays
    assert not fired(report_for(make_agent(coating={"kind": "zwitterionic"})), "peg_immunogenicity")


# --------------------------------------------------------------------------------------------
# Radiation dose and dose reduction
# --------------------------------------------------------------------------------------------


def _with_dose(run: SpeciesRun, agent: AgentSpec, activity_MBq: float) -> SpeciesRun:
    dose = absorbed_doses(
        run.biodistribution, agent, run.scenario, default_dose_factors(run.species), activity_MBq=activity_MBq
    )
    return SpeciesRun(run.scenario, run.biodistribution, dose=dose, min_activity_MBq=run.min_activity_MBq)


def test_radiation_dose_rule(cdot_runs: list[SpeciesRun]) -> None:
    agent = load_example_agent("cdot_pet_optical")
    human = next(r for r in cdot_runs if r.species == "human")
    (f,) = fired(evaluate_safety(agent, [human]), "radiation_dose")  # planned 185 MBq
    assert f.severity == "critical" and "urinary_bladder_wall" in f.title
    bladder = next(e for e in f.evidence if "urinary_bladder_wall" in e.quantity)
    assert bladder.value > 50.0 and bladder.unit == "mSv"
    limit_activity = next(e.value for e in f.evidence if e.quantity.startswith("activity keeping"))
    assert 185.0 * 50.0 / bladder.value == pytest.approx(limit_activity, rel=1e-6)
    assert "CFR21_361_1" in f.citation_keys
    near = fired(evaluate_safety(agent, [_with_dose(human, agent, 0.8 * limit_activity)]), "radiation_dose")
    assert [x.severity for x in near] == ["moderate"]
    assert not fired(
        evaluate_safety(agent, [_with_dose(human, agent, 0.2 * limit_activity)]), "radiation_dose"
    )
    mouse = next(r for r in cdot_runs if r.species == "mouse")
    assert not fired(evaluate_safety(agent, [mouse]), "radiation_dose")  # limits are for humans


def test_dose_reduction(cdot_runs: list[SpeciesRun]) -> None:
    agent = load_example_agent("cdot_pet_optical")
    (f,) = fired(evaluate_safety(agent, cdot_runs), "dose_reduction")
    assert f.severity == "info"
    headroom = next(e for e in f.evidence if e.quantity == "headroom, human")
    human = next(r for r in cdot_runs if r.species == "human")
    assert human.min_activity_MBq is not None
    assert headroom.value == pytest.approx(185.0 / human.min_activity_MBq)
    assert any("NIR-II" in m for m in f.mitigations)
    nir2 = next(
        e
        for e in f.evidence
        if e.quantity.startswith("dose needed, NIR-II") and "criterion cnr" in e.quantity
    )
    assert 0 < nir2.value < 1  # NIR-II meets CNR >= 5 below the scenario dose at 1 mm
    # a NIR-II dye without a radionuclide has no option; neither has an unlabelled particle
    nir2_agent = make_agent(
        labels={
            "fluorophore": {
                "name": "NIR-II dye",
                "excitation_nm": 808,
                "emission_nm": 1100,
                "quantum_yield": 0.02,
                "extinction_coefficient_per_M_per_cm": 1e5,
            }
        }
    )
    assert not fired(report_for(nir2_agent), "dose_reduction")
    assert not fired(report_for(load_example_agent("gold_peg_100nm")), "dose_reduction")
    far_red = make_agent(labels={"fluorophore": {"name": "Cy5"}})
    (f,) = fired(report_for(far_red), "dose_reduction")  # qualitative without a simulation
    assert "Zhu2018_NIRII" in f.citation_keys


def test_dose_reduction_silent_without_headroom(cdot_runs: list[SpeciesRun]) -> None:
    agent = load_example_agent("cdot_pet_optical").evolve(labels={"fluorophore": None}, assumed_fields=[])
    human = next(r for r in cdot_runs if r.species == "human")
    assert human.min_activity_MBq is not None
    tight = SpeciesRun(human.scenario, human.biodistribution, min_activity_MBq=150.0)
    assert not fired(evaluate_safety(agent, [tight]), "dose_reduction")
    roomy = SpeciesRun(human.scenario, human.biodistribution, min_activity_MBq=10.0)
    assert fired(evaluate_safety(agent, [roomy]), "dose_reduction")


# --------------------------------------------------------------------------------------------
# Environmental release
# --------------------------------------------------------------------------------------------


def test_environmental_release() -> None:
    gold = make_agent(core_material="gold", hydrodynamic_diameter_nm=20.0)
    (f,) = fired(report_for(gold, [synthetic_run(urine=10.0, feces=30.0)]), "environmental_release")
    assert f.severity == "low" and "Mahapatra2015" in f.citation_keys
    assert next(
        e.value for e in f.evidence if e.quantity.startswith("core mass excreted per mg")
    ) == pytest.approx(0.4)
    mouse = load_example_scenario("mouse_tumor")  # gives a mass dose: 0.85 mg/kg x 0.025 kg
    (f,) = fired(
        report_for(gold, [synthetic_run("mouse", urine=10.0, feces=30.0, scenario=mouse)]),
        "environmental_release",
    )
    assert next(e.value for e in f.evidence if e.quantity == "core mass excreted") == pytest.approx(
        0.4 * 0.85 * 0.025
    )
    qd = make_agent(core_material="quantum_dot", coating={"kind": "zwitterionic"})
    (f,) = fired(report_for(qd, [synthetic_run(urine=50.0)]), "environmental_release")
    assert f.severity == "moderate"
    assert not fired(report_for(make_agent(), [synthetic_run(urine=90.0)]), "environmental_release")


# --------------------------------------------------------------------------------------------
# The whole report, the workflow and the HTML section
# --------------------------------------------------------------------------------------------


def test_every_rule_fires_somewhere_and_findings_are_sorted() -> None:
    hot = make_agent(
        core_material="quantum_dot",
        hydrodynamic_diameter_nm=25.0,
        zeta_potential_mV=35.0,
        labels={"fluorophore": {"name": "Cy5"}},
    )
    report = report_for(hot, [synthetic_run(liver=40.0, spleen=20.0, urine=1.0)])
    rules = {f.rule for f in report.findings}
    assert rules >= set(RULES) - {"radiation_dose"}
    ranks = [severity_rank(f.severity) for f in report.findings]
    assert ranks == sorted(ranks, reverse=True)
    assert report.max_severity == "critical"
    assert sum(report.counts().values()) == len(report.findings)
    for f in report.findings:
        assert f.evidence and f.citation_keys and f.assays
        assert f.evidence_status is not None and f.evidence_status.status == "missing"
        for key in f.citation_keys:
            get_reference(key)
    frame = report.to_frame()
    assert list(frame["id"]) == [f.id for f in report.findings]


def test_safety_assessment_workflow_and_html() -> None:
    agent = load_example_agent("gold_peg_100nm")
    with collect_citations() as outer:
        report = safety_assessment(agent, [load_example_scenario("mouse_tumor").evolve(duration_h=24)])
    assert report.duration_h == (4320.0,)  # extended to reach 180 d
    assert any("simulated for 180 d" in n for n in report.notes)
    assert {"Cheng2020", "Choi2007", "Sadauskas2009", "NCL_AssayCascade"} <= set(report.citation_keys)
    assert set(report.citation_keys) <= set(outer.keys)
    html = safety_section_html(report)
    assert html.startswith('<section id="safety" class="nb-safety">') and html.rstrip().endswith("</section>")
    for text in ("Safe-by-design assessment", "sev-high", "organ_retention.mouse", "Evidence map", "ITA-5"):
        assert text in html
    assert "plotly" in html.lower() and "<script" in html  # the retention chart
    assert "Sadauskas E" in html  # its own reference list
    assert safety_figure(report) is not None
    with pytest.raises(ValueError, match="duration_h"):
        safety_assessment(agent, duration_h=-1)


def test_html_escapes_and_skips_a_useless_chart(cdot_runs: list[SpeciesRun]) -> None:
    agent = make_agent(name="<b>C dot</b> & co")
    report = evaluate_safety(agent, cdot_runs)
    assert safety_figure(report) is None  # ~0 %ID retained: no chart
    html = safety_section_html(report)
    assert "&lt;b&gt;C dot&lt;/b&gt; &amp; co" in html and "<b>C dot</b>" not in html
    assert "retention" in html and "Plotly.newPlot" not in html
    assert not math.isnan(report.duration_h[0])
