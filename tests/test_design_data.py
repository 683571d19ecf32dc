"""Cleaning rules, features, targets and CV groups of the packaged Nano-Tumor Database."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanobridge.science.design.data import (
    CATEGORICAL_FEATURES,
    FEATURES,
    TARGETS,
    clean_descriptors,
    data_fingerprint,
    feature_frame,
    load_clean_datasets,
    load_raw_datasets,
    load_time_courses,
    particle_groups,
    standardize_columns,
    study_groups,
    target_frame,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "validation" / "nano_tumor_db"


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return load_raw_datasets()


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return load_clean_datasets().table.set_index("ID")


def test_packaged_copy_is_the_shared_database_unchanged() -> None:
    if not SHARED.exists():
        pytest.skip(f"shared validation data not found at {SHARED}")
    packaged = Path(__file__).resolve().parents[1] / "src" / "nanobridge" / "data" / "nano_tumor_db"
    for name in ("datasets.csv", "time_courses.csv"):
        assert (packaged / name).read_bytes() == (SHARED / name).read_bytes()
    assert (packaged / "README.md").read_text().count("CC0-1.0") >= 1
    assert len(data_fingerprint()) == 64
    courses = load_time_courses()
    assert set(courses["ID"]) <= set(load_raw_datasets()["ID"])


def test_stray_targeting_values_become_missing_and_the_rest_are_canonical(clean: pd.DataFrame) -> None:
    assert clean.loc["206", "TS"] is None and clean.loc["207", "TS"] is None
    assert set(clean["TS"].dropna()) == {"Active", "Passive"}
    assert clean["TS"].isna().sum() == 2


def test_charge_coding_follows_the_data(raw: pd.DataFrame, clean: pd.DataFrame) -> None:
    # the evidence the coding rests on (rule C3), re-checked on the raw table
    zero = raw["Zeta"] == 0
    assert set(raw.loc[zero, "Charge"]) == {2.0}
    assert not ((raw["Charge"].isin([0.0, 1.0])) & zero).any()
    assert raw.set_index("ID").loc[206, "TS"] == "negtive" and raw.set_index("ID").loc[206, "Charge"] == 0
    assert raw.set_index("ID").loc[207, "TS"] == "positive" and raw.set_index("ID").loc[207, "Charge"] == 1
    mapping = {0.0: "negative", 1.0: "positive", 2.0: "neutral"}
    expected = raw["Charge"].map(mapping)
    got = clean["Charge"].reindex(raw["ID"].astype(str)).to_numpy()
    same = [
        ((e is None or (isinstance(e, float) and math.isnan(e))) and g is None) or e == g
        for e, g in zip(expected, got, strict=True)
    ]
    assert all(same)


def test_cancer_type_case_is_normalised(clean: pd.DataFrame) -> None:
    levels = set(clean["CT"])
    assert "Cervix" in levels and "cervix" not in levels and "other" not in levels
    assert all(level[0].isupper() for level in levels)
    assert len(levels) == 13


def test_implausible_zeta_and_inconsistent_demax_are_set_missing(
    raw: pd.DataFrame, clean: pd.DataFrame
) -> None:
    assert np.isnan(float(clean["Zeta"]["332"]))
    assert np.isnan(float(clean["Demax"]["39"]))
    assert clean.loc["39", "DE24"] == pytest.approx(9.48)
    # nothing else changed in the numeric columns
    r = raw.set_index(raw["ID"].astype(str))
    for col in ("HD", "TW", "Dose", "BW", "DE24", "DE168"):
        a, b = r[col].to_numpy(dtype=float), clean.loc[r.index, col].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(a[~np.isnan(a)], b[~np.isnan(b)])
    notes = load_clean_datasets().notes
    assert {n.rule for n in notes} == {"C1", "C2", "C3", "C4", "C7"}
    assert {n.id for n in notes if n.rule == "C2"} == {"206", "207"}


def test_user_values_are_parsed_per_cell_and_noted() -> None:
    table = pd.DataFrame(
        {
            "ID": ["a", "b", "c", "d"],
            "Type": [" organic ", "metal", "Inorganic", None],
            "TS": ["PASSIVE", "active", "sometimes", ""],
            "HD": ["50", "-3", "abc", 120],
            "Zeta": [-12, 5, 300, None],
            "Charge": [None, "negative", 1, "2"],
            "Shape": ["sphere", "Rods", "star", None],
            "CT": ["  breast", "melanoma", "LIVER", None],
            "TW": [0.2, 0, None, "0.3"],
            "Dose": [5, 5, 5, 5],
            "BW": [20, 20, 20, 20],
        }
    )
    c = clean_descriptors(table)
    t = c.table
    assert list(t["Type"]) == ["Organic", None, "Inorganic", None]
    assert list(t["TS"]) == ["Passive", "Active", None, None]
    assert t["HD"].iloc[0] == 50 and math.isnan(t["HD"].iloc[1]) and math.isnan(t["HD"].iloc[2])
    assert t["Zeta"].iloc[0] == 12 and t["Charge"].iloc[0] == "negative"  # sign of a negative Zeta
    assert t["Charge"].iloc[1] == "negative"  # positive |zeta| does not override a given charge
    assert math.isnan(t["Zeta"].iloc[2])  # 300 mV: implausible
    assert list(t["Charge"])[2:] == ["positive", "neutral"]
    assert list(t["Shape"]) == ["Spherical", "Rod", "Star", None]  # unknown shape kept (unseen level)
    assert list(t["CT"]) == ["Breast", "Melanoma", "Liver", None]
    assert math.isnan(t["TW"].iloc[1]) and t["TW"].iloc[3] == 0.3
    by_row = {i: {n.rule for n in c.notes_for_row(i)} for i in range(4)}
    assert "C5" in by_row[1] and "C5" in by_row[2] and "C2" in by_row[1] and "C4" in by_row[2]


def test_signed_zeta_alias_sets_the_charge_and_conflicts_are_noted() -> None:
    table, notes = standardize_columns(
        pd.DataFrame(
            {"zeta_mV": [-20, 15, 0, 10], "charge": [None, None, None, "negative"], "HD_nm": [1, 2, 3, 4]}
        )
    )
    assert notes == []
    c = clean_descriptors(table)
    assert list(c.table["Charge"]) == ["negative", "positive", "neutral", "negative"]
    assert list(c.table["Zeta"]) == [20, 15, 0, 10]
    assert any("conflicts" in n.message for n in c.notes_for_row(3))


def test_aliases_units_and_column_errors() -> None:
    t, notes = standardize_columns(
        pd.DataFrame(
            {
                "Hydrodynamic Diameter nm": [50],
                "tumor-model": ["Xenograft Heterotopic"],
                "cancer_type": ["Breast"],
                "dose_mg_per_kg": [5],
                "body_weight_kg": [0.025],
                "colour": ["red"],
            }
        )
    )
    assert set(t.columns) == {"HD", "TM", "CT", "Dose", "BW"}
    assert t["BW"].iloc[0] == pytest.approx(25.0)
    assert notes == ["column 'colour' is not a descriptor; ignored"]
    with pytest.raises(ValueError, match="'HD' and 'hydrodynamic_diameter_nm'"):
        standardize_columns(pd.DataFrame({"HD": [1], "hydrodynamic_diameter_nm": [2]}))
    with pytest.raises(ValueError, match="'Zeta' and 'zeta_mV'"):
        standardize_columns(pd.DataFrame({"Zeta": [1], "zeta_mV": [2]}))
    with pytest.raises(ValueError, match="no descriptor column"):
        standardize_columns(pd.DataFrame({"ID": [1], "colour": ["red"]}))


def test_features_and_targets_are_log_transformed(clean: pd.DataFrame) -> None:
    data = load_clean_datasets()
    X = feature_frame(data)
    Y = target_frame(data)
    assert tuple(X.columns) == FEATURES and tuple(Y.columns) == TARGETS
    t = data.table
    ok = t["HD"].notna()
    assert np.allclose(10 ** X.loc[ok, "log10_HD_nm"], t.loc[ok, "HD"])
    assert np.allclose(10 ** X["log10_dose_mg_per_kg"], t["Dose"])
    assert np.allclose(10 ** Y["DE24"], t["DE24"])
    assert X["log10_HD_nm"].isna().sum() == t["HD"].isna().sum() == 27  # not imputed here (rule C9)
    assert X[list(CATEGORICAL_FEATURES)].isna().sum().sum() > 0
    assert Y["Demax"].isna().sum() == 1


def test_group_counts_and_nesting() -> None:
    data = load_clean_datasets()
    p = particle_groups(data)
    s = study_groups(data)
    assert len(np.unique(p)) == 284
    assert len(np.unique(s)) == 181
    # every particle group lies inside one study group
    for g in np.unique(p):
        assert len(np.unique(s[p == g])) == 1


descriptor_rows = st.fixed_dictionaries(
    {
        "Type": st.sampled_from(["Organic", "Inorganic", "Hybrid"]),
        "TS": st.sampled_from(["Active", "Passive", None]),
        "HD": st.one_of(st.none(), st.floats(1, 500).map(lambda x: round(x, 1))),
        "Zeta": st.one_of(st.none(), st.floats(0, 60).map(lambda x: round(x, 2))),
        "Charge": st.sampled_from([0, 1, 2, None]),
        "Shape": st.sampled_from(["Spherical", "Rod"]),
        "TM": st.sampled_from(["Allograft Heterotopic", "Xenograft Orthotopic"]),
        "CT": st.sampled_from(["Breast", "Liver"]),
        "TW": st.sampled_from([0.1, 0.2]),
        "Dose": st.sampled_from([1.0, 5.0]),
        "BW": st.sampled_from([20.0, 25.0]),
    }
)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(descriptor_rows, min_size=2, max_size=12), dup=st.lists(st.integers(0, 11), max_size=6))
def test_rows_with_identical_particle_descriptors_share_a_group(
    rows: list[dict[str, object]], dup: list[int]
) -> None:
    copies = [dict(rows[i % len(rows)], TM="Other", CT="Lung") for i in dup]  # same particle, other tumour
    table = clean_descriptors(pd.DataFrame(rows + copies)).table
    p = particle_groups(table)
    s = study_groups(table)
    keys = [
        tuple("<na>" if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in r)
        for r in table[["Type", "TS", "HD", "Zeta", "Charge", "Shape"]].itertuples(index=False)
    ]
    for i in range(len(keys)):
        for j in range(len(keys)):
            assert (keys[i] == keys[j]) == (p[i] == p[j])
            if p[i] == p[j]:
                assert s[i] == s[j]
