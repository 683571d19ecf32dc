"""Tests for the domain layer: AgentSpec, Scenario, catalogs, loading and errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nanobridge.citations import collect_citations
from nanobridge.domain import (
    AgentSpec,
    Coating,
    SpecError,
    contrast_elements,
    example_agent_names,
    example_scenario_names,
    fluorophores,
    load_agent,
    load_example_agent,
    load_example_scenario,
    load_scenario,
    material,
    materials,
    normalize_nuclide,
    radionuclide,
    radionuclides,
    species,
)

# ---- helpers --------------------------------------------------------------------------------


def minimal_agent(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "test particle",
        "core_material": "gold",
        "core_diameter_nm": 15,
        "hydrodynamic_diameter_nm": 30,
        "zeta_potential_mV": -10,
    }
    data.update(changes)
    return data


def minimal_scenario(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"species": "mouse", "body_weight_kg": 0.025, "dose_mg_per_kg": 1.0}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def spec_error(loader: Any, data: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        loader(data)
    return info.value


# ---- examples -------------------------------------------------------------------------------


def test_examples_are_packaged() -> None:
    assert example_agent_names() == ["cdot_pet_optical", "gold_peg_100nm", "iron_oxide_mri"]
    assert example_scenario_names() == ["human_tumor", "mouse_tumor"]


def test_cdot_example() -> None:
    agent = load_example_agent("cdot_pet_optical")
    assert agent.modalities == ["PET", "optical"]
    assert agent.core_material == "silica"
    assert agent.labels.radionuclide is not None and agent.labels.radionuclide.nuclide == "I-124"
    fl = agent.labels.fluorophore
    assert fl is not None and fl.name == "Cy5"
    assert fl.excitation_nm == fluorophores().get("Cy5").excitation_nm  # filled from the catalog
    assert 6 <= agent.hydrodynamic_diameter_nm <= 7
    assert 3 <= agent.core_diameter_nm <= 5
    assert agent.is_pegylated and agent.is_targeted and agent.targeting_ligand == "cRGDY"
    assert agent.biodegradable is True  # silica default from the materials catalog
    assert "Phillips2014" in agent.citation_keys() and "ICRP107" in agent.citation_keys()


def test_gold_example() -> None:
    agent = load_example_agent("gold_peg_100nm")
    assert agent.core_diameter_nm == 100
    assert agent.modalities == []
    assert agent.biodegradable is False
    assert agent.coating.kind == "PEG" and agent.coating.peg_mw_Da == 5000
    assert agent.effective_core_density_g_per_cm3 == pytest.approx(19.3)


def test_iron_oxide_example() -> None:
    agent = load_example_agent("iron_oxide_mri")
    mri = agent.labels.mri
    assert agent.modalities == ["MRI"]
    assert mri is not None and mri.element == "Fe" and mri.field_T == 1.5
    assert mri.r1_per_mM_per_s == pytest.approx(19.0) and mri.r2_per_mM_per_s == pytest.approx(64.9)
    assert mri.r2_r1_ratio > 3
    assert agent.coating.kind == "dextran"
    assert "Knobloch2018" in agent.citations


def test_scenario_examples() -> None:
    mouse = load_example_scenario("mouse_tumor")
    assert mouse.species == "mouse" and mouse.body_weight_kg == 0.025
    assert mouse.dose_mg_per_kg and mouse.activity_MBq
    assert mouse.tumor is not None and 150 <= mouse.tumor.volume_mm3 <= 250
    assert mouse.route == "iv" and mouse.duration_h == 168
    assert mouse.dose_mg == pytest.approx(0.85 * 0.025)
    human = load_example_scenario("human_tumor")
    assert human.body_weight_kg == 70
    assert human.tumor is not None and human.tumor.volume_mL == pytest.approx(10)


@pytest.mark.parametrize("name", ["cdot_pet_optical", "gold_peg_100nm", "iron_oxide_mri"])
def test_agent_yaml_and_json_round_trip(name: str, tmp_path: Path) -> None:
    agent = load_example_agent(name)
    yaml_file = tmp_path / "agent.yaml"
    agent.to_yaml(yaml_file)
    assert load_agent(yaml_file) == agent
    json_file = tmp_path / "agent.json"
    json_file.write_text(json.dumps(agent.to_dict()))
    assert load_agent(json_file) == agent
    assert load_agent(agent.to_dict()) == agent


def test_scenario_round_trip(tmp_path: Path) -> None:
    scenario = load_example_scenario("mouse_tumor")
    path = tmp_path / "s.yml"
    scenario.to_yaml(path)
    assert load_scenario(path) == scenario


def test_study_file_with_agent_and_scenario(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(
        "agent:\n"
        + "".join(f"  {k}: {v}\n" for k, v in minimal_agent().items())
        + "scenario:\n  species: rat\n  dose_mg_per_kg: 2\n"
    )
    assert load_agent(path).name == "test particle"
    scenario = load_scenario(path)
    assert scenario.species == "rat" and scenario.body_weight_kg == species("rat").default_body_weight_kg


def test_evolve_revalidates() -> None:
    agent = load_example_agent("cdot_pet_optical")
    zr = agent.evolve(labels={"radionuclide": {"nuclide": "zr89"}})
    assert zr.labels.radionuclide is not None and zr.labels.radionuclide.nuclide == "Zr-89"
    assert zr.labels.fluorophore == agent.labels.fluorophore  # nested merge keeps the dye
    with pytest.raises(SpecError, match="hydrodynamic_diameter_nm"):
        agent.evolve(hydrodynamic_diameter_nm=2.0)


def test_agent_cite_records_catalog_sources() -> None:
    agent = load_example_agent("cdot_pet_optical")
    with collect_citations() as used:
        agent.cite()
    assert used.keys[:2] == ("Phillips2014", "Chen2017")
    assert {"ICRP107", "Croissant2017", "Markova2013"} <= set(used.keys)


# ---- agent validation -----------------------------------------------------------------------


BAD_AGENTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("negative size", {"core_diameter_nm": -5}, "core_diameter_nm", "-5"),
    ("absurd size", {"hydrodynamic_diameter_nm": 5000}, "hydrodynamic_diameter_nm", "5000"),
    ("core larger than hydrodynamic", {"core_diameter_nm": 50}, "hydrodynamic_diameter_nm", "30"),
    ("unknown material", {"core_material": "unobtainium"}, "core_material", "'unobtainium'"),
    ("zeta out of range", {"zeta_potential_mV": 250}, "zeta_potential_mV", "250"),
    ("unknown shape", {"shape": "banana"}, "shape", "'banana'"),
    ("elongated sphere", {"aspect_ratio": 3}, "aspect_ratio", "3"),
    ("PEG without MW", {"coating": {"kind": "PEG"}}, "coating.peg_mw_Da", "required"),
    ("PEG MW on dextran", {"coating": {"kind": "dextran", "peg_mw_Da": 2000}}, "coating.peg_mw_Da", "2000"),
    (
        "unknown nuclide",
        {"labels": {"radionuclide": {"nuclide": "Zr-90"}}},
        "labels.radionuclide.nuclide",
        "'Zr-90'",
    ),
    (
        "not a nuclide",
        {"labels": {"radionuclide": {"nuclide": "banana"}}},
        "labels.radionuclide.nuclide",
        "'banana'",
    ),
    (
        "negative activity",
        {"labels": {"radionuclide": {"nuclide": "89Zr", "activity_MBq": -1}}},
        "labels.radionuclide.activity_MBq",
        "-1",
    ),
    (
        "emission below excitation",
        {
            "labels": {
                "fluorophore": {
                    "name": "mystery dye",
                    "excitation_nm": 700,
                    "emission_nm": 650,
                    "quantum_yield": 0.2,
                    "extinction_coefficient_per_M_per_cm": 1e5,
                }
            }
        },
        "labels.fluorophore.emission_nm",
        "650",
    ),
    (
        "emission beyond NIR-II",
        {"labels": {"fluorophore": {"name": "ICG", "emission_nm": 1800}}},
        "labels.fluorophore.emission_nm",
        "1800",
    ),
    (
        "quantum yield above 1",
        {"labels": {"fluorophore": {"name": "Cy5", "quantum_yield": 1.5}}},
        "labels.fluorophore.quantum_yield",
        "1.5",
    ),
    (
        "uncatalogued dye without photophysics",
        {"labels": {"fluorophore": {"name": "mystery dye"}}},
        "labels.fluorophore.excitation_nm",
        "required",
    ),
    (
        "MRI r1 zero",
        {
            "labels": {
                "mri": {
                    "element": "Gd",
                    "r1_per_mM_per_s": 0,
                    "r2_per_mM_per_s": 5,
                    "field_T": 3,
                    "payload": True,
                }
            }
        },
        "labels.mri.r1_per_mM_per_s",
        "0",
    ),
    (
        "MRI r2 below r1",
        {
            "labels": {
                "mri": {
                    "element": "Gd",
                    "r1_per_mM_per_s": 8,
                    "r2_per_mM_per_s": 5,
                    "field_T": 3,
                    "payload": True,
                }
            }
        },
        "labels.mri.r2_per_mM_per_s",
        "5",
    ),
    (
        "MRI with a CT element",
        {"labels": {"mri": {"element": "Au", "r1_per_mM_per_s": 1, "r2_per_mM_per_s": 5, "field_T": 3}}},
        "labels.mri.element",
        "'Au'",
    ),
    (
        "MRI element not in core",
        {"labels": {"mri": {"element": "Gd", "r1_per_mM_per_s": 4, "r2_per_mM_per_s": 5, "field_T": 1.5}}},
        "labels.mri.element",
        "'Gd'",
    ),
    (
        "CT element not in core",
        {"labels": {"ct": {"element": "Bi", "element_mass_fraction": 0.3}}},
        "labels.ct.element",
        "'Bi'",
    ),
    (
        "CT element not allowed",
        {"labels": {"ct": {"element": "Fe", "element_mass_fraction": 0.3}}},
        "labels.ct.element",
        "'Fe'",
    ),
    (
        "CT without an amount",
        {"labels": {"ct": {"element": "Au"}}},
        "labels.ct.mass_mg_per_particle_dose",
        "give",
    ),
    ("unknown citation", {"citations": ["Phillip2014"]}, "citations[0]", "'Phillip2014'"),
    ("bad assumed field", {"assumed_fields": ["colour_nm"]}, "assumed_fields[0]", "'colour_nm'"),
]


@pytest.mark.parametrize(
    ("changes", "path", "shown"),
    [pytest.param(c, p, s, id=i) for i, c, p, s in BAD_AGENTS],
)
def test_bad_agent_input_names_field_and_value(changes: dict[str, Any], path: str, shown: str) -> None:
    err = spec_error(load_agent, minimal_agent(**changes))
    assert isinstance(err, ValueError)
    assert path in err.paths, str(err)
    line = next(str(p) for p in err.problems if p.path == path)
    assert line.startswith(f"{path}: ")
    assert shown in line, line
    assert "->" in line or "required" in line


def test_unknown_material_lists_allowed() -> None:
    err = spec_error(load_agent, minimal_agent(core_material="unobtainium"))
    for name in ("gold", "silica", "iron_oxide", "plga", "liposome", "quantum_dot", "hybrid"):
        assert name in str(err)


def test_several_problems_are_reported_together() -> None:
    err = spec_error(load_agent, minimal_agent(core_diameter_nm=-1, zeta_potential_mV=500, colour="red"))
    assert set(err.paths) == {"core_diameter_nm", "zeta_potential_mV", "colour"}
    assert "3 problems" in str(err)


def test_range_message_gives_the_allowed_range_and_unit() -> None:
    err = spec_error(load_agent, minimal_agent(hydrodynamic_diameter_nm=5000))
    assert "hydrodynamic_diameter_nm: 5000 -> must be in [1.0, 1000.0] nm" in str(err)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"diameter_um": 0.1},
            "'core_diameter_nm' or 'hydrodynamic_diameter_nm'? sizes are given in nm (0.1 µm = 100 nm)",
        ),
        ({"hydrodynamic_diameter": 7}, "did you mean 'hydrodynamic_diameter_nm'"),
        (
            {"zeta_potential_V": -0.02},
            "did you mean 'zeta_potential_mV'? potentials are given in mV (-0.02 V = -20 mV)",
        ),
        (
            {"coating": {"kind": "PEG", "peg_mw_kDa": 5}},
            "did you mean 'peg_mw_Da'? molecular weights are given in Da (5 kDa = 5000 Da)",
        ),
        ({"core_materail": "gold"}, "did you mean 'core_material'"),
    ],
)
def test_unknown_keys_get_unit_hints(changes: dict[str, Any], expected: str) -> None:
    data = minimal_agent()
    data.update(changes)
    if "core_materail" in changes:
        del data["core_material"]
    err = spec_error(load_agent, data)
    assert expected in str(err), str(err)
    assert "unknown field" in str(err)


def test_direct_construction_raises_spec_error() -> None:
    with pytest.raises(SpecError) as info:
        AgentSpec(name="x")  # type: ignore[call-arg]
    assert {"core_material", "core_diameter_nm", "hydrodynamic_diameter_nm"} <= set(info.value.paths)
    with pytest.raises(SpecError, match="peg_mw_Da"):
        Coating(kind="PEG")


def test_specs_are_immutable() -> None:
    agent = load_example_agent("gold_peg_100nm")
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises its own frozen-instance error
        agent.core_diameter_nm = 5  # type: ignore[misc]
    assert hash(agent) == hash(load_example_agent("gold_peg_100nm"))


def test_material_names_are_case_insensitive_with_aliases() -> None:
    for spelling, key in [
        ("GOLD", "gold"),
        ("Fe3O4", "iron_oxide"),
        ("iron oxide", "iron_oxide"),
        ("PLGA", "plga"),
        ("LNP", "lipid_nanoparticle"),
    ]:
        assert load_agent(minimal_agent(core_material=spelling, core_diameter_nm=10)).core_material == key


def test_biodegradable_default_and_override() -> None:
    assert load_agent(minimal_agent(core_material="plga")).biodegradable is True
    assert load_agent(minimal_agent(core_material="gold")).biodegradable is False
    assert load_agent(minimal_agent(core_material="gold", biodegradable=True)).biodegradable is True


def test_coating_shorthand_and_ligand_normalisation() -> None:
    agent = load_agent(minimal_agent(coating="none", targeting_ligand="none"))
    assert agent.coating.kind == "none" and agent.targeting_ligand is None
    agent = load_agent(
        minimal_agent(coating={"kind": "pegylated", "peg_mw_Da": 2000}, targeting_ligand="antibody:anti-HER2")
    )
    assert agent.coating.kind == "PEG" and agent.targeting_ligand == "antibody:anti-HER2"


def test_payload_allows_foreign_contrast_element() -> None:
    agent = load_agent(
        minimal_agent(
            core_material="liposome",
            core_diameter_nm=90,
            hydrodynamic_diameter_nm=110,
            labels={
                "mri": {
                    "element": "gadolinium",
                    "r1_per_mM_per_s": 4,
                    "r2_per_mM_per_s": 5,
                    "field_T": 1.5,
                    "payload": True,
                }
            },
        )
    )
    assert agent.modalities == ["MRI"] and agent.labels.mri is not None and agent.labels.mri.element == "Gd"


def test_gold_ct_and_multimodal_modalities() -> None:
    agent = load_agent(
        minimal_agent(
            labels={
                "ct": {"element": "au", "mass_mg_per_particle_dose": 50},
                "radionuclide": {"nuclide": "111In", "chelator": "DTPA"},
                "fluorophore": {"name": "IRDye 800CW"},
            }
        )
    )
    assert agent.modalities == ["SPECT", "optical", "CT"]


def test_therapeutic_nuclide_modalities() -> None:
    lu = load_agent(minimal_agent(labels={"radionuclide": {"nuclide": "177Lu", "chelator": "DOTA"}}))
    assert lu.modalities == ["SPECT"] and lu.is_theranostic
    ac = load_agent(minimal_agent(labels={"radionuclide": {"nuclide": "Ac-225"}}))
    assert ac.modalities == [] and ac.is_theranostic


def test_fluorophore_override_and_brightness() -> None:
    agent = load_agent(
        minimal_agent(labels={"fluorophore": {"name": "icg", "quantum_yield": 0.12, "dyes_per_particle": 10}})
    )
    fl = agent.labels.fluorophore
    assert fl is not None and fl.quantum_yield == 0.12
    assert fl.excitation_nm == fluorophores().get("ICG").excitation_nm
    assert fl.window == "NIR-I"
    assert fl.brightness_per_particle_per_M_per_cm == pytest.approx(
        10 * 0.12 * fl.extinction_coefficient_per_M_per_cm
    )


# ---- radionuclide spellings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("89Zr", "Zr-89"),
        ("Zr-89", "Zr-89"),
        ("zr89", "Zr-89"),
        ("ZR 89", "Zr-89"),
        ("⁸⁹Zr", "Zr-89"),
        ("99mTc", "Tc-99m"),
        ("Tc-99m", "Tc-99m"),
        ("tc99m", "Tc-99m"),
        ("18F", "F-18"),
        ("I-124", "I-124"),
        ("124i", "I-124"),
        ("225Ac", "Ac-225"),
    ],
)
def test_nuclide_spellings(spelling: str, canonical: str) -> None:
    assert normalize_nuclide(spelling) == canonical
    assert radionuclide(spelling).key == canonical
    agent = load_agent(minimal_agent(labels={"radionuclide": {"nuclide": spelling}}))
    assert agent.labels.radionuclide is not None and agent.labels.radionuclide.nuclide == canonical


@pytest.mark.parametrize("bad", ["", "Zr", "89", "banana", "Zr-89-1", "m99Tc"])
def test_not_nuclide_spellings(bad: str) -> None:
    assert normalize_nuclide(bad) is None


@settings(max_examples=80, deadline=None)
@given(
    key=st.sampled_from(sorted(radionuclides().keys())),
    mass_first=st.booleans(),
    sep=st.sampled_from(["", "-", " ", "_"]),
    upper=st.booleans(),
)
def test_every_catalog_nuclide_in_any_spelling(key: str, mass_first: bool, sep: str, upper: bool) -> None:
    symbol, mass = key.split("-")
    text = f"{mass}{sep}{symbol}" if mass_first else f"{symbol}{sep}{mass}"
    text = text.upper() if upper else text.lower()
    assert radionuclide(text).key == key


# ---- catalogs -------------------------------------------------------------------------------


def test_catalog_contents() -> None:
    assert set(materials().keys()) == {
        "gold", "silica", "iron_oxide", "plga", "polymer", "liposome",
        "lipid_nanoparticle", "quantum_dot", "carbon", "hybrid",
    }  # fmt: skip
    assert set(radionuclides().keys()) == {
        "F-18", "Cu-64", "Ga-68", "Zr-89", "I-124", "Tc-99m", "In-111",
        "Lu-177", "I-131", "I-123", "I-125", "Y-90", "Ac-225",
    }  # fmt: skip
    assert {"ICG", "IRDye800CW", "Cy5.5", "Cy7", "Cy5"} <= set(fluorophores().keys())
    assert {"Au", "I", "Bi", "Gd", "Ta", "Yb", "W"} <= {
        k for k, e in contrast_elements().items() if "CT" in e.modalities
    }
    assert material("gold").density_g_per_cm3 == pytest.approx(19.3)


def test_radionuclide_classification_is_consistent() -> None:
    for nuc in radionuclides().values():
        if nuc.decay_mode_for_imaging == "PET":
            assert "positron" in nuc.emission_types, nuc.key
        if nuc.decay_mode_for_imaging == "SPECT":
            assert "gamma" in nuc.emission_types, nuc.key
        assert sum(b.fraction for b in nuc.decay_branches) == pytest.approx(1.0, abs=1e-3)
    assert radionuclide("18F").imaging_modality == "PET"
    assert radionuclide("99mTc").imaging_modality == "SPECT"
    assert radionuclide("90Y").imaging_modality is None


def test_half_lives_match_icrp107() -> None:
    rd = pytest.importorskip("radioactivedecay")
    for nuc in radionuclides().values():
        expected = rd.Nuclide(nuc.key).half_life("h")
        assert nuc.half_life_h == pytest.approx(expected, rel=1e-5), nuc.key


def test_known_half_lives_within_a_percent() -> None:
    """Independent sanity check against textbook half-lives (hours)."""
    textbook = {"F-18": 1.83, "Ga-68": 1.13, "Cu-64": 12.7, "Zr-89": 78.4, "Tc-99m": 6.01, "I-131": 192.5}
    for key, hours in textbook.items():
        assert radionuclide(key).half_life_h == pytest.approx(hours, rel=0.01)


def test_species_catalog() -> None:
    for name, lo, hi in [("mouse", 0.01, 0.06), ("rat", 0.1, 0.8), ("human", 3, 250)]:
        sp = species(name)
        assert sp.body_weight_range_kg == (lo, hi)
        assert lo <= sp.default_body_weight_kg <= hi


def test_catalog_lookup_error_lists_allowed() -> None:
    with pytest.raises(ValueError, match="allowed: F-18, Cu-64") as info:
        radionuclide("Xx-1")
    assert "Xx-1" in str(info.value)


# ---- scenario -------------------------------------------------------------------------------


BAD_SCENARIOS: list[tuple[str, dict[str, Any], str, str]] = [
    ("wrong route", {"route": "oral"}, "route", "route 'oral'"),
    ("heavy mouse", {"body_weight_kg": 2.0}, "body_weight_kg", "2.0 -> implausible for a mouse"),
    ("tiny human", {"species": "human", "body_weight_kg": 0.5}, "body_weight_kg", "[3, 250] kg"),
    ("unknown species", {"species": "dog"}, "species", "'dog'"),
    ("no dose", {"dose_mg_per_kg": None}, "dose_mg_per_kg", "at least one"),
    ("negative dose", {"dose_mg_per_kg": -1}, "dose_mg_per_kg", "-1"),
    ("negative activity", {"activity_MBq": -3}, "activity_MBq", "-3"),
    ("negative tumour", {"tumor": {"volume_mm3": -1}}, "tumor.volume_mm3", "-1"),
    ("huge tumour", {"tumor": {"volume_mm3": 20000}}, "tumor.volume_mm3", "20000"),
    ("short duration", {"duration_h": 0.5}, "duration_h", "[1, 17520] h"),
    ("long duration", {"duration_h": 24 * 365 * 3}, "duration_h", "26280"),
    ("coarse output", {"output_interval_h": 500}, "output_interval_h", "<= duration_h"),
    ("grams", {"body_weight_g": 25, "body_weight_kg": None}, "body_weight_g", "(25 g = 0.025 kg)"),
    (
        "curies",
        {"activity_mCi": 5},
        "activity_mCi",
        "did you mean 'activity_MBq'? activities are given in MBq (5 mCi = 185 MBq)",
    ),
]


@pytest.mark.parametrize(
    ("changes", "path", "shown"),
    [pytest.param(c, p, s, id=i) for i, c, p, s in BAD_SCENARIOS],
)
def test_bad_scenario_input_names_field_and_value(changes: dict[str, Any], path: str, shown: str) -> None:
    err = spec_error(load_scenario, minimal_scenario(**changes))
    assert path in err.paths, str(err)
    line = next(str(p) for p in err.problems if p.path == path)
    assert shown in line, line


def test_scenario_defaults() -> None:
    scenario = load_scenario({"species": "Rats", "activity_MBq": 10, "route": "I.V."})
    assert scenario.species == "rat"
    assert scenario.body_weight_kg == species("rat").default_body_weight_kg
    assert scenario.route == "iv"
    assert scenario.duration_h == 168 and scenario.output_interval_h == 1
    assert scenario.dose_mg is None
    assert scenario.output_times_h[0] == 0 and scenario.output_times_h[-1] == 168
    assert len(scenario.output_times_h) == 169


def test_output_times_include_the_end() -> None:
    scenario = load_scenario(minimal_scenario(duration_h=10, output_interval_h=3))
    assert scenario.output_times_h == (0, 3, 6, 9, 10)


def test_tumour_british_spelling() -> None:
    scenario = load_scenario(minimal_scenario(tumour={"volume_mm3": 100, "site": "orthotopic"}))
    assert scenario.tumor is not None and scenario.tumor.site == "orthotopic"


# ---- files ----------------------------------------------------------------------------------


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ncore_material: gold\n  core_diameter_nm: 5\n")
    err = spec_error(load_agent, path)
    assert str(path) in str(err)
    assert "line 3" in str(err)
    assert "malformed YAML" in str(err)


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x",\n "core_material": gold}')
    err = spec_error(load_agent, path)
    assert "broken.json, line 2" in str(err) and "malformed JSON" in str(err)


def test_duplicate_yaml_keys_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("name: a\nname: b\n")
    err = spec_error(load_agent, path)
    assert "duplicate key 'name'" in str(err) and "line 2" in str(err)


@pytest.mark.parametrize(
    ("filename", "content", "expected"),
    [
        ("agent.txt", "name: x\n", "file type must be .yaml, .yml or .json"),
        ("list.yaml", "- a\n- b\n", "must hold a mapping"),
        ("empty.yaml", "", "file is empty"),
    ],
)
def test_bad_files(tmp_path: Path, filename: str, content: str, expected: str) -> None:
    path = tmp_path / filename
    path.write_text(content)
    assert expected in str(spec_error(load_agent, path))


def test_missing_file() -> None:
    assert "file not found" in str(spec_error(load_scenario, "/nonexistent/scenario.yaml"))


def test_field_errors_in_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    data = minimal_agent(core_diameter_nm=-3)
    path.write_text("".join(f"{k}: {v}\n" for k, v in data.items()))
    err = spec_error(load_agent, path)
    assert err.source == str(path) and str(path) in str(err).splitlines()[0]
    assert "core_diameter_nm: -3" in str(err)


# ---- properties (hypothesis) ----------------------------------------------------------------

sizes = st.floats(min_value=1.0, max_value=1000.0, allow_nan=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    core=sizes,
    extra=st.floats(min_value=0.0, max_value=200.0),
    zeta=st.floats(min_value=-100, max_value=100),
    material_key=st.sampled_from(sorted(materials().keys())),
    shape=st.sampled_from(["sphere", "rod", "cube", "star"]),
)
def test_valid_agents_validate_and_round_trip(
    core: float, extra: float, zeta: float, material_key: str, shape: str
) -> None:
    hd = min(core + extra, 1000.0)
    data = minimal_agent(
        core_material=material_key,
        core_diameter_nm=core,
        hydrodynamic_diameter_nm=hd,
        zeta_potential_mV=zeta,
        shape=shape,
        aspect_ratio=1.0 if shape == "sphere" else 2.5,
    )
    agent = load_agent(data)
    assert agent.core_diameter_nm <= agent.hydrodynamic_diameter_nm
    assert load_agent(agent.to_dict()) == agent


@settings(max_examples=100, deadline=None)
@given(core=sizes, hd=sizes)
def test_hydrodynamic_smaller_than_core_always_fails(core: float, hd: float) -> None:
    assume(hd < core)
    err = spec_error(load_agent, minimal_agent(core_diameter_nm=core, hydrodynamic_diameter_nm=hd))
    assert err.paths == ("hydrodynamic_diameter_nm",)


@settings(max_examples=100, deadline=None)
@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_core_diameter_range_is_enforced(value: float) -> None:
    data = minimal_agent(core_diameter_nm=value, hydrodynamic_diameter_nm=1000)
    if 0.5 <= value <= 1000:
        assert load_agent(data).core_diameter_nm == value
    else:
        err = spec_error(load_agent, data)
        assert "core_diameter_nm" in err.paths


@settings(max_examples=100, deadline=None)
@given(
    weight=st.floats(min_value=1e-4, max_value=1e3, allow_nan=False),
    name=st.sampled_from(["mouse", "rat", "human"]),
)
def test_body_weight_plausibility(weight: float, name: str) -> None:
    lo, hi = species(name).body_weight_range_kg
    data = minimal_scenario(species=name, body_weight_kg=weight)
    if lo <= weight <= hi:
        assert load_scenario(data).body_weight_kg == weight
    else:
        assert "body_weight_kg" in spec_error(load_scenario, data).paths


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers() | st.text(max_size=5), max_size=5))
def test_garbage_input_only_ever_raises_spec_error(extra: dict[str, Any]) -> None:
    data = copy.deepcopy(minimal_agent())
    data.update(extra)
    try:
        load_agent(data)
    except SpecError as err:
        assert err.problems
        for problem in err.problems:
            assert str(problem).startswith(problem.path)
