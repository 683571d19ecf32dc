"""Packaged PBPK parameter sets: completeness, sources, reference-code values, physiology, API."""

from __future__ import annotations

import csv
import math
import statistics
from importlib import resources
from pathlib import Path

import pytest
import yaml

from nanobridge.science.pbpk.parameters import (
    BLOOD_FRACTION_PARAMETERS,
    FLOW_FRACTION_PARAMETERS,
    REQUIRED_PARAMETERS,
    VOLUME_FRACTION_PARAMETERS,
    ParameterSet,
    ParameterSetError,
    ParameterValue,
    available_parameter_sets,
    default_parameter_set,
    load_parameter_set,
)

DB = Path(__file__).resolve().parents[1].parent / "shared" / "validation" / "nano_tumor_db" / "datasets.csv"
SETS = ("Cheng2020_mouse", "Brown1997_rat", "ICRP89_human")
TUMOUR_COLUMNS = ("KTRESrelease", "KTRESmax", "KTRES50", "KTRESn", "QTC", "VTC", "BVT", "PT", "PATC")
PC_ORGANS = ("L", "S", "K", "Lu", "M", "R", "T")

# Mouse values of the Cheng 2020 reference code (UFPBPK/Nano-AI-PBPK-G1, Main_Code.R, $PARAM),
# organ parameters only (the tumour defaults are replaced by the database medians).
REFERENCE_CODE_MOUSE = {
    "QCC": 16.5, "QLC": 0.02, "QLuC": 1.0, "QKC": 0.091, "QBrC": 0.033, "QSC": 0.011, "QMC": 0.159,
    "BW_kg": 0.02, "VLC": 0.055, "VLuC": 0.007, "VKC": 0.017, "VBrC": 0.017, "VSC": 0.005,
    "VBldC": 0.06, "VPlasC": 0.0355, "VMC": 0.384,
    "BVL": 0.31, "BVBr": 0.03, "BVK": 0.24, "BVS": 0.17, "BVLu": 0.5, "BVM": 0.04, "BVR": 0.04,
    "PL": 0.08, "PK": 0.15, "PBr": 0.15, "PS": 0.15, "PLu": 0.15, "PH": 0.15, "PM": 0.15, "PR": 0.15,
    "PALC": 0.001, "PABrC": 1e-6, "PAKC": 0.01, "PASC": 0.15, "PALuC": 0.001, "PAMC": 5e-5,
    "PARC": 5e-5,
    "KLRESrelease": 0.0015, "KLRESmax": 0.3, "KLRES50": 48.0, "KLRESn": 5.0,
    "KSRESrelease": 0.001, "KSRESmax": 5.0, "KSRES50": 36.0, "KSRESn": 5.0,
    "KKRESrelease": 0.001, "KKRESmax": 0.12, "KKRES50": 48.0, "KKRESn": 5.0,
    "KLuRESrelease": 0.003, "KLuRESmax": 0.085, "KLuRES50": 48.0, "KLuRESn": 5.0,
    "KMRESrelease": 0.005, "KMRESmax": 0.4, "KMRES50": 48.0, "KMRESn": 5.0,
    "KRRESrelease": 0.005, "KRRESmax": 0.4, "KRRES50": 48.0, "KRRESn": 5.0,
    "KbileC": 3e-5, "KurineC": 3e-6,
    "FracArterialPlasma": 0.2,
}  # fmt: skip


def reference_keys() -> set[str]:
    """Citation keys of every references file in the package (read directly, not via a registry)."""
    keys: set[str] = set()
    folder = resources.files("nanobridge").joinpath("data", "references")
    for entry in folder.iterdir():
        if entry.name.endswith((".yaml", ".yml")):
            doc = yaml.safe_load(entry.read_text(encoding="utf-8"))
            if isinstance(doc, dict):
                keys.update(doc)
    return keys


@pytest.fixture(scope="module")
def mouse() -> ParameterSet:
    return load_parameter_set("Cheng2020_mouse")


@pytest.fixture(scope="module")
def human() -> ParameterSet:
    return load_parameter_set("ICRP89_human")


# --- every set ------------------------------------------------------------------------------


def test_the_three_sets_are_packaged() -> None:
    assert set(SETS) <= set(available_parameter_sets())


@pytest.mark.parametrize("name", SETS)
def test_set_is_complete_with_units_and_known_citations(name: str) -> None:
    ps = load_parameter_set(name)
    assert ps.name == name
    assert set(REQUIRED_PARAMETERS) <= set(ps.keys())
    known = reference_keys()
    for key in ps:
        entry = ps.parameter(key)
        assert isinstance(entry.value, float) and math.isfinite(entry.value) and entry.value >= 0, key
        assert entry.unit.strip(), f"{name}.{key} has no unit"
        if entry.citation is None:
            assert entry.assumed, f"{name}.{key} has neither a citation nor assumed: true"
        else:
            assert entry.citation in known, f"{name}.{key} cites unknown key {entry.citation!r}"
        if entry.assumed:
            assert entry.note.strip(), f"{name}.{key} is assumed but does not say why"
    assert ps.citation_keys() <= known
    assert set(ps.citations) <= known


def test_every_reference_has_the_required_fields() -> None:
    doc = yaml.safe_load(
        resources.files("nanobridge").joinpath("data", "references", "pbpk.yaml").read_text(encoding="utf-8")
    )
    for key, ref in doc.items():
        for field in ("authors", "year", "title", "journal", "volume", "pages", "doi"):
            assert field in ref, f"{key} lacks {field}"
        assert ref["authors"] and ref["title"] and ref["journal"] and isinstance(ref["year"], int), key
        assert ref["doi"] is None or str(ref["doi"]).startswith("10."), key


@pytest.mark.parametrize("name", SETS)
def test_physiology_leaves_a_positive_rest_of_body(name: str) -> None:
    ps = load_parameter_set(name)
    flow = sum(ps[k] for k in FLOW_FRACTION_PARAMETERS)
    volume = sum(ps[k] for k in VOLUME_FRACTION_PARAMETERS)
    assert 0 < flow < 1
    assert 0 < volume < 1
    assert ps["QLuC"] == 1.0
    assert 0 < ps["VPlasC"] < ps["VBldC"]
    for key in BLOOD_FRACTION_PARAMETERS:
        assert 0 < ps[key] < 1, key
    # plasma/blood implies a hematocrit in the physiological range of these species
    assert 0.3 < 1 - ps["VPlasC"] / ps["VBldC"] < 0.5


@pytest.mark.parametrize(("species", "name"), [("mouse", SETS[0]), ("rat", SETS[1]), ("human", SETS[2])])
def test_default_set_per_species(species: str, name: str) -> None:
    ps = default_parameter_set(species)
    assert ps.name == name and ps.species == species
    assert default_parameter_set(species.upper()).name == name


# --- mouse: the reference code and the Nano-Tumor Database ----------------------------------


def test_mouse_spot_check_against_reference_code(mouse: ParameterSet) -> None:
    spot = {"QCC": 16.5, "QLC": 0.02, "VLC": 0.055, "PL": 0.08, "PASC": 0.15, "KSRESmax": 5.0,
            "KLRES50": 48.0, "KbileC": 3e-5, "KurineC": 3e-6}  # fmt: skip
    for key, value in spot.items():
        assert mouse[key] == value, key


def test_mouse_equals_every_organ_value_of_reference_code(mouse: ParameterSet) -> None:
    for key, value in REFERENCE_CODE_MOUSE.items():
        assert mouse[key] == pytest.approx(value, rel=1e-12, abs=0), key


def test_mouse_heart_is_added_from_brown_with_assumed_nanoparticle_values(mouse: ParameterSet) -> None:
    assert mouse["QHC"] == 0.066 and mouse["VHC"] == 0.005
    assert mouse.parameter("QHC").citation == "Brown1997"
    assert mouse["PH"] == mouse["PM"] and mouse["PAHC"] == mouse["PAMC"]
    assert mouse.parameter("PH").assumed and mouse.parameter("PAHC").assumed


@pytest.mark.skipif(not DB.exists(), reason=f"validation data not found at {DB}")
def test_mouse_tumour_defaults_are_database_medians(mouse: ParameterSet) -> None:
    with DB.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for column in TUMOUR_COLUMNS:
        median = statistics.median(float(r[column]) for r in rows if r[column].strip())
        assert mouse[column] == pytest.approx(median, rel=1e-12), column
        assert mouse.parameter(column).citation == "Cheng2020"
        assert "median" in mouse.parameter(column).note


# --- rat and human: scaling and human physiology ---------------------------------------------


@pytest.mark.parametrize("name", SETS[1:])
def test_rate_constants_scale_with_body_weight_to_the_minus_quarter(name: str, mouse: ParameterSet) -> None:
    ps = load_parameter_set(name)
    factor = (ps["BW_kg"] / mouse["BW_kg"]) ** -0.25
    for organ in PC_ORGANS:
        for suffix in ("release", "max"):
            key = f"K{organ}RES{suffix}"
            assert ps[key] == pytest.approx(mouse[key] * factor, rel=1e-3), key
            assert ps.parameter(key).assumed
        for suffix in ("50", "n"):
            key = f"K{organ}RES{suffix}"
            assert ps[key] == mouse[key], key
    for key in ("PL", "PK", "PS", "PLu", "PR", "PALC", "PASC"):  # dimensionless, carried over
        assert ps[key] == mouse[key], key


def test_human_cardiac_output_is_in_the_published_range(human: ParameterSet) -> None:
    qc_L_per_min = human["QCC"] * 70**0.75 / 60
    assert 5.0 <= qc_L_per_min <= 7.0
    assert human["BW_kg"] == 70.0


def test_human_organs_match_reference_adult(human: ParameterSet) -> None:
    bw = human["BW_kg"]
    assert 1.5 < human["VLC"] * bw < 2.0  # liver, kg
    assert 1.2 < human["VBrC"] * bw < 1.6  # brain, kg
    assert 4.5 < human["VBldC"] * bw < 6.0  # blood, L
    assert 2.5 < human["VPlasC"] * bw < 3.5  # plasma, L
    assert 6.5 < human["GFR_L_per_h_per_kg"] * bw < 8.5  # GFR, L/h (125 mL/min = 7.5 L/h)


def test_human_tumour_flow_follows_its_perfusion(human: ParameterSet) -> None:
    bw = human["BW_kg"]
    perfusion = human["tumor_perfusion_mL_per_min_per_g"]
    assert 0.01 <= perfusion <= 1.0
    tumour_g = human["VTC"] * bw * 1000
    qt_L_per_h = perfusion * tumour_g * 60 / 1000
    qc_L_per_h = human["QCC"] * bw**0.75
    assert human["QTC"] == pytest.approx(qt_L_per_h / qc_L_per_h, rel=0.01)
    assert human.parameter("tumor_perfusion_mL_per_min_per_g").unit == "mL/min/g"


# --- API -------------------------------------------------------------------------------------


def test_with_overrides_returns_new_validated_set(mouse: ParameterSet) -> None:
    bigger = mouse.with_overrides(VTC=0.02, QTC=0.05)
    assert bigger["VTC"] == 0.02 and bigger["QTC"] == 0.05
    assert mouse["VTC"] != 0.02  # original unchanged
    assert bigger.overridden == {"VTC", "QTC"}
    assert bigger.parameter("VTC").unit == mouse.parameter("VTC").unit
    assert bigger.parameter("VTC").citation is None and "override" in bigger.parameter("VTC").note
    assert bigger.as_dict()["VTC"] == 0.02


def test_with_overrides_rejects_unknown_keys_and_lists_allowed(mouse: ParameterSet) -> None:
    with pytest.raises(ParameterSetError, match=r"unknown parameter.*'QTumour'.*allowed:.*QTC"):
        mouse.with_overrides(QTumour=0.1)


@pytest.mark.parametrize("bad", [-0.01, math.nan, math.inf, True, "0.1"])
def test_with_overrides_rejects_bad_values(mouse: ParameterSet, bad: object) -> None:
    with pytest.raises(ParameterSetError, match="VTC"):
        mouse.with_overrides(VTC=bad)  # type: ignore[arg-type]


def test_with_overrides_rechecks_physiology(mouse: ParameterSet) -> None:
    with pytest.raises(ParameterSetError, match="rest of body"):
        mouse.with_overrides(QMC=0.9)
    with pytest.raises(ParameterSetError, match=r"BVL.*\(0, 1\)"):
        mouse.with_overrides(BVL=1.0)
    with pytest.raises(ParameterSetError, match="PL"):
        mouse.with_overrides(PL=0.0)


def test_unknown_set_and_species_list_the_choices() -> None:
    with pytest.raises(ParameterSetError, match=r"unknown parameter set 'dog'.*Cheng2020_mouse"):
        load_parameter_set("dog")
    with pytest.raises(ParameterSetError, match=r"species 'dog'.*mouse, rat, human"):
        default_parameter_set("dog")


def test_unknown_key_lookup_lists_allowed(mouse: ParameterSet) -> None:
    with pytest.raises(KeyError, match="allowed"):
        mouse["nope"]


def test_set_is_immutable_and_complete_on_construction(mouse: ParameterSet) -> None:
    with pytest.raises(TypeError):
        mouse.values["QCC"] = ParameterValue(1.0, "x", None, True)  # type: ignore[index]
    with pytest.raises(AttributeError):
        mouse.name = "other"  # type: ignore[misc]
    partial = {k: v for k, v in mouse.values.items() if k != "KbileC"}
    with pytest.raises(ParameterSetError, match="KbileC"):
        ParameterSet("x", "mouse", "", (), partial)


def test_as_dict_and_citation_keys(mouse: ParameterSet) -> None:
    values = mouse.as_dict()
    assert set(values) == set(mouse.keys()) and all(isinstance(v, float) for v in values.values())
    assert {"Cheng2020", "Lin2016_gold_mouse", "Brown1997"} <= mouse.citation_keys()
    same = mouse.with_overrides(VTC=mouse["VTC"])
    assert same == mouse.with_overrides(VTC=mouse["VTC"]) and hash(same) == hash(
        mouse.with_overrides(VTC=mouse["VTC"])
    )
    assert {mouse: 1}[load_parameter_set("Cheng2020_mouse")] == 1
    assert "GFR_L_per_h_per_kg" in mouse.assumed_parameters()
