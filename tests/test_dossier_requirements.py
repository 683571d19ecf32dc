"""The IND requirements model: packaged data, citations, traits, checks on load, vocabulary."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from nanobridge.citations import get_reference
from nanobridge.domain import example_agent_names, load_example_agent
from nanobridge.science.dossier import AREAS, agent_traits, load_requirements, requirements_model
from nanobridge.science.dossier.isatab import isatab_vocabulary
from nanobridge.science.safety.ncl import assay_cascade

VOCAB = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "validation"
    / "vocab"
    / "cananolab_controlled_vocabulary.json"
)


def raw_requirements() -> dict[str, Any]:
    path = resources.files("nanobridge") / "data" / "dossier" / "requirements.yaml"
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_model_loads_with_every_area_and_source() -> None:
    model = requirements_model()
    assert tuple(model.areas) == AREAS
    assert {"FDA2022", "NCL", "MIRIBEL", "DOSIMETRY"} <= set(model.sources)
    for area in AREAS:
        assert any(r.area == area for r in model.requirements), area
    ids = [r.id for r in model.requirements]
    assert len(ids) == len(set(ids))


def test_fda_2022_attribute_list_is_covered() -> None:
    """The attributes the FDA 2022 guidance lists each have a requirement citing the guidance."""
    model = requirements_model()
    fda = {r.id for r in model.requirements if "FDA2022_nanomaterials" in r.citations}
    for rid in (
        "Q-COMP",
        "Q-SIZE",
        "Q-SHAPE",
        "Q-CHARGE",
        "Q-COATING",
        "Q-LIGAND",
        "Q-STAB-STORAGE",
        "Q-RELEASE",
        "Q-IMPURITIES",
        "Q-CONC",
    ):
        assert rid in fda, rid
    assert model.requirement("Q-SIZE").evidence_types() == ("PCC-1", "ORTHO-SIZE")


def test_every_requirement_cites_registered_references() -> None:
    model = requirements_model()
    for r in model.requirements:
        assert r.citations, r.id
        for key in r.citations:
            get_reference(key)
    assert get_reference("Faria2018_MIRIBEL").doi == "10.1038/s41565-018-0246-4"
    assert get_reference("Faria2018_MIRIBEL").pages == "777-785"


def test_ncl_assays_come_from_the_safety_cascade_not_a_copy() -> None:
    raw = raw_requirements()
    cascade = assay_cascade()
    assert not set(raw["evidence_types"]) & set(cascade.assays)
    model = requirements_model()
    for aid, assay in cascade.assays.items():
        assert model.evidence_types[aid].title == assay.title
        assert model.evidence_types[aid].ncl == assay.ncl
    assert model.resolve_type("ITA-5.2") == "ITA-5"
    assert model.resolve_type("ortho-size") == "ORTHO-SIZE"
    assert model.resolve_type("XRD") is None


def test_every_next_experiment_names_an_assay_or_analysis() -> None:
    model = requirements_model()
    for r in model.requirements:
        for t in r.evidence_types():
            how = model.evidence_types[t].how
            assert len(how) > 20, t
    assert "NCL PCC-1" in model.evidence_types["PCC-1"].how


def test_traits_of_the_bundled_agents() -> None:
    cdot = agent_traits(load_example_agent("cdot_pet_optical"))
    assert {"radiolabelled", "pet", "fluorescent", "targeted", "pegylated", "coated"} <= cdot
    assert "mri" not in cdot
    gold = agent_traits(load_example_agent("gold_peg_100nm"))
    assert "non_biodegradable" in gold and "radiolabelled" not in gold
    model = requirements_model()
    dosimetry = [r for r in model.requirements if r.area == "dosimetry"]
    assert dosimetry and all(r.applies(cdot) for r in dosimetry)
    assert not any(r.applies(gold) for r in dosimetry)
    assert model.requirement("I-RELAXIVITY").applies(agent_traits(load_example_agent("iron_oxide_mri")))
    assert set(example_agent_names()) >= {"cdot_pet_optical", "gold_peg_100nm"}


def test_scoring_rule_is_documented() -> None:
    rule = requirements_model().scoring_rule()
    assert "met" in rule and "0.5" in rule and "essential" in rule and "never" in rule


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("requirements", 0, "area"), "cmc", "area 'cmc' unknown"),
        (("requirements", 0, "evidence"), [{"types": ["XRD"]}], "evidence type 'XRD' unknown"),
        (("requirements", 0, "citations"), ["NoSuchRef2099"], "NoSuchRef2099"),
        (("requirements", 0, "applies_when"), ["magnetic"], "trait 'magnetic' unknown"),
        (("requirements", 0, "predicted_by"), ["oracle"], "prediction 'oracle' unknown"),
    ],
)
def test_bad_requirements_data_is_rejected(path: tuple[Any, ...], value: Any, message: str) -> None:
    data = copy.deepcopy(raw_requirements())
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        load_requirements(data, where="test.yaml")


def test_duplicate_ids_and_ncl_copies_are_rejected() -> None:
    data = copy.deepcopy(raw_requirements())
    data["requirements"].append(copy.deepcopy(data["requirements"][0]))
    with pytest.raises(ValueError, match="duplicate requirement id"):
        load_requirements(data)
    data = copy.deepcopy(raw_requirements())
    data["evidence_types"]["PCC-1"] = {"title": "copy", "how": "copy of the cascade's DLS assay"}
    with pytest.raises(ValueError, match="repeat NCL cascade assays"):
        load_requirements(data)


def test_isatab_vocabulary_terms_are_canonalab_terms() -> None:
    if not VOCAB.is_file():
        pytest.skip(f"caNanoLab vocabulary copy not found at {VOCAB}")
    lookups = json.loads(VOCAB.read_text(encoding="utf-8"))["lookups"]
    found = 0

    def walk(node: Any) -> None:
        nonlocal found
        if isinstance(node, dict):
            if "term" in node and "lookup" in node:
                name, attribute = node["lookup"]
                assert node["term"] in lookups[name][attribute], node
                found += 1
            else:
                for value in node.values():
                    walk(value)

    walk(isatab_vocabulary())
    assert found >= 30
