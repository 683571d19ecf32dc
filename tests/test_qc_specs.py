"""Batches, measurements, specifications and release decisions (nanobridge.domain.batch,
nanobridge.science.qc.specs), and the bundled synthetic lot history."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from nanobridge.citations import collect_citations
from nanobridge.domain.batch import (
    AttributeSpec,
    Batch,
    Measurement,
    Specification,
    UnitMismatchError,
    attribute_series,
    convert_unit,
    find_batch,
    load_batches,
    load_specification,
    normalize_unit,
    sort_batches,
)
from nanobridge.domain.errors import SpecError
from nanobridge.science.qc.specs import evaluate_attribute, release_decision

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "nanobridge" / "data" / "examples" / "qc"
LOT_HISTORY = EXAMPLES / "lot_history.csv"
SPEC_FILE = EXAMPLES / "specifications.yaml"

HEADER = "batch_id,scale,date,attribute,value,unit,method\n"


def write(tmp_path: Path, text: str, name: str = "lots.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def small_spec() -> Specification:
    return Specification.from_dict(
        {
            "name": "test spec",
            "version": 2,
            "attributes": {
                "z_average": {"unit": "nm", "lower": 5.5, "upper": 8.0, "tier": 1},
                "pdi": {"upper": 0.2, "tier": 2},
                "endotoxin": {"unit": "EU/mL", "upper": 17.5},
                "sterility": {"criterion": "pass"},
            },
        }
    )


def batch(batch_id: str, day: int, scale: str = "lab", **values: Any) -> Batch:
    ms = []
    for attribute, v in values.items():
        if isinstance(v, dict):
            ms.append({"attribute": attribute, **v})
        elif isinstance(v, str) and not v.startswith("<"):
            ms.append({"attribute": attribute, "result": v})
        else:
            unit = {"z_average": "nm", "endotoxin": "EU/mL"}.get(attribute, "")
            ms.append({"attribute": attribute, "value": v, "unit": unit})
    return Batch.from_dict(
        {
            "batch_id": batch_id,
            "scale": scale,
            "date": dt.date(2024, 1, 1) + dt.timedelta(days=day),
            "measurements": ms,
        }
    )


def history(n: int = 12) -> list[Batch]:
    zs = [6.50, 6.42, 6.55, 6.47, 6.38, 6.52, 6.45, 6.58, 6.41, 6.49, 6.44, 6.53, 6.40, 6.51, 6.46]
    pdis = [0.10, 0.11, 0.09, 0.10, 0.12, 0.10, 0.09, 0.11, 0.10, 0.11, 0.10, 0.09, 0.10, 0.11, 0.10]
    return [
        batch(f"H{i:02d}", i, z_average=zs[i], pdi=pdis[i], endotoxin=0.8, sterility="pass") for i in range(n)
    ]


# ---- units ----------------------------------------------------------------------------------


def test_unit_spellings_and_conversions() -> None:
    assert normalize_unit("um") == "µm"
    assert normalize_unit("μm") == "µm"
    assert normalize_unit("eu/ml") == "EU/mL"
    assert normalize_unit(None) == ""
    assert convert_unit(0.0065, "µm", "nm") == pytest.approx(6.5)
    assert convert_unit(0.5, "V", "mV") == pytest.approx(500.0)
    assert convert_unit(1.0, "nM", "particles/mL") == pytest.approx(6.02214076e11)
    assert convert_unit(12500, "nM", "µM") == pytest.approx(12.5)
    assert convert_unit(2.0, "Osm/kg", "mOsm/kg") == pytest.approx(2000.0)


def test_unit_mismatch_is_a_clear_error() -> None:
    with pytest.raises(UnitMismatchError) as info:
        convert_unit(1.0, "EU/kg", "EU/mL", what="endotoxin.unit")
    text = str(info.value)
    assert "endotoxin.unit" in text and "EU/kg" in text and "dose volume" in text
    with pytest.raises(UnitMismatchError, match="furlong"):
        convert_unit(1.0, "furlong", "nm")
    with pytest.raises(UnitMismatchError, match="length"):
        convert_unit(1.0, "nm", "mV")


# ---- models ---------------------------------------------------------------------------------


def test_measurement_forms() -> None:
    m = Measurement(attribute="Z-Average", value=6.5, unit="nm", method="DLS ISO 22412")
    assert m.attribute == "z_average" and not m.is_qualitative
    assert Measurement(attribute="endotoxin", value="<0.5", unit="EU/mL").qualifier == "<"
    assert Measurement(attribute="sterility", result="No growth").result == "pass"
    assert Measurement(attribute="sterility", value="Complies").result == "pass"
    reps = Measurement(attribute="z_average", replicates=[6.4, 6.5, 6.6], unit="nm")
    assert reps.value == pytest.approx(6.5)
    assert Measurement(attribute="z", value=6500, unit="um").value_in("nm") == pytest.approx(6.5e6)


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        ({"attribute": "pdi"}, "value", "numeric value"),
        ({"attribute": "pdi", "value": 0.1, "result": "pass"}, "result", "not both"),
        ({"attribute": "pdi", "value": "abc"}, "value", "number"),
        ({"attribute": "pdi", "value": 0.1, "uncertainty": -1}, "uncertainty", ">= 0"),
    ],
)
def test_measurement_errors_name_the_field(data: dict[str, Any], path: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        Measurement.from_dict(data)
    assert path in info.value.paths
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        ({"attribute": "x", "lower": 1, "tolerance": 1, "target": 2}, "tolerance", "not both"),
        ({"attribute": "x", "tolerance": 1}, "target", "required"),
        ({"attribute": "x", "lower": 3, "upper": 2}, "upper", "greater than"),
        ({"attribute": "x"}, "lower", "no acceptance criterion"),
        ({"attribute": "x", "criterion": "pass", "tier": 1}, "tier", "qualitative"),
        ({"attribute": "x", "criterion": "pass", "upper": 1}, "criterion", "excludes"),
        ({"attribute": "x", "upper": 1, "citations": ["NoSuchKey1999"]}, "citations[0]", "unknown citation"),
    ],
)
def test_attribute_spec_errors(data: dict[str, Any], path: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        AttributeSpec.from_dict(data)
    assert path in info.value.paths
    assert fragment in str(info.value)


def test_attribute_spec_limits() -> None:
    a = AttributeSpec(attribute="z", unit="nm", target=6.5, tolerance=1.0, tier="tier 1")
    assert (a.lower_limit, a.upper_limit, a.tier) == (5.5, 7.5, 1)
    assert a.acceptance_text() == "6.5 ± 1 nm"
    assert AttributeSpec(attribute="r", unit="%", lower=95).acceptance_text() == "≥ 95 %"


def test_specification_rejects_duplicates_and_finds_attributes() -> None:
    spec = small_spec()
    assert spec.version == "2" and "Z-Average" in spec and spec.get("PDI") is not None
    with pytest.raises(SpecError, match="defined twice"):
        Specification.from_dict(
            {"name": "s", "attributes": [{"attribute": "pdi", "upper": 1}, {"attribute": "PDI", "upper": 2}]}
        )


def test_batch_scale_aliases_and_duplicate_attributes() -> None:
    b = Batch(batch_id=101, scale="Lab scale", measurements=())
    assert (b.batch_id, b.scale) == ("101", "lab")
    assert Batch(batch_id="x", scale="pilot").scale == "scale-up"
    with pytest.raises(SpecError) as info:
        Batch(batch_id="x", scale="moon")
    assert "scale" in info.value.paths
    with pytest.raises(SpecError, match="measured twice"):
        Batch.from_dict(
            {"batch_id": "x", "scale": "lab", "measurements": [{"attribute": "pdi", "value": 0.1}] * 2}
        )


def test_find_and_sort_batches() -> None:
    bs = [batch("B", 5), batch("A", 1), Batch(batch_id="C", scale="lab")]
    assert [b.batch_id for b in sort_batches(bs)] == ["A", "B", "C"]
    assert find_batch(bs, "A").batch_id == "A"
    with pytest.raises(SpecError, match="available: B, A, C"):
        find_batch(bs, "Z")


def test_attribute_series_converts_and_excludes() -> None:
    bs = [
        batch("A", 0, z_average=6.5),
        batch("B", 1, z_average={"value": 0.0066, "unit": "µm"}),
        batch("C", 2, endotoxin="<0.5"),
        batch("D", 3, z_average={"value": "<5", "unit": "nm"}),
    ]
    s = attribute_series(bs, "z_average", "nm")
    assert s.labels == ("A", "B") and s.values == pytest.approx((6.5, 6.6))
    assert any("C: no z_average" in e for e in s.excluded) and any("censored" in e for e in s.excluded)


# ---- loading --------------------------------------------------------------------------------


def test_load_csv_and_yaml(tmp_path: Path) -> None:
    csv_path = write(
        tmp_path,
        HEADER
        + "A1,lab,2024-01-02,Z-average,6.5,nm,DLS\n"
        + "A1,lab,2024-01-02,sterility,pass,,USP <71>\n"
        + "A1,lab,2024-01-02,endotoxin,<0.50,EU/mL,LAL\n"
        + "\n"
        + "B1,scale-up,2024-02-02,z_average,0.0068,µm,DLS\n",
    )
    bs = load_batches(csv_path, small_spec())
    assert [b.batch_id for b in bs] == ["A1", "B1"]
    a1 = bs[0]
    assert a1.date == dt.date(2024, 1, 2)
    assert a1.measurement("sterility").result == "pass"  # type: ignore[union-attr]
    assert a1.measurement("endotoxin").qualifier == "<"  # type: ignore[union-attr]
    yaml_path = write(
        tmp_path,
        "batches:\n  - batch_id: Y1\n    scale: GMP\n    date: 2024-03-01\n    measurements:\n"
        "      - {attribute: pdi, value: 0.12}\n      - {attribute: sterility, result: pass}\n",
        "lots.yaml",
    )
    (y1,) = load_batches(yaml_path, small_spec())
    assert y1.scale == "GMP" and y1.measurement("pdi").value == 0.12  # type: ignore[union-attr]


def csv_error(tmp_path: Path, body: str, header: str = HEADER, spec: Specification | None = None) -> str:
    with pytest.raises(SpecError) as info:
        load_batches(write(tmp_path, header + body), spec)
    return str(info.value)


def test_csv_text_where_a_number_is_expected_names_line_and_column(tmp_path: Path) -> None:
    text = csv_error(tmp_path, "A,lab,2024-01-02,pdi,0.1,,DLS\nA,lab,2024-01-02,z_average,6.5 nm,nm,DLS\n")
    assert "line 3, column 'value'" in text
    assert "'6.5 nm'" in text and "unit" in text
    text = csv_error(tmp_path, 'A,lab,2024-01-02,z_average,"6,5",nm,DLS\n')
    assert "line 2, column 'value'" in text and "decimal separator" in text
    text = csv_error(tmp_path, "A,lab,2024-01-02,z_average,big,nm,DLS\n")
    assert "line 2, column 'value'" in text and "not a number" in text


def test_csv_missing_and_unknown_columns(tmp_path: Path) -> None:
    text = csv_error(
        tmp_path, "A,lab,2024-01-02,pdi,0.1,DLS\n", header="batch_id,scale,date,attribute,value,method\n"
    )
    assert "column 'unit'" in text and "required column is missing" in text
    text = csv_error(tmp_path, "A,lab,2024-01-02,pdi,0.1,,DLS,x\n", header=HEADER.strip() + ",analsyt\n")
    assert "unknown column" in text and "'analyst'" in text


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("A,lab,02/01/2024,pdi,0.1,,DLS\n", "line 2, column 'date'"),
        ("A,moon,2024-01-02,pdi,0.1,,DLS\n", "line 2, column 'scale'"),
        ("A,lab,2024-01-02,pdi,0.1,,DLS,extra\n", "line 2: has 8 fields"),
        ("A,lab,2024-01-02,pdi,,,DLS\n", "line 2, column 'value'"),
        (",lab,2024-01-02,pdi,0.1,,DLS\n", "line 2, column 'batch_id'"),
        ("A,lab,2024-01-02,pdi,0.1,,DLS\nA,lab,2024-01-02,pdi,0.2,,DLS\n", "line 3, column 'attribute'"),
        ("A,lab,2024-01-02,pdi,0.1,,DLS\nA,GMP,2024-01-02,z_average,6,nm,DLS\n", "line 3, column 'scale'"),
        ("A,lab,2024-01-02,pdi,nan,,DLS\n", "finite"),
    ],
)
def test_csv_row_errors(tmp_path: Path, body: str, fragment: str) -> None:
    assert fragment in csv_error(tmp_path, body)


def test_csv_against_specification(tmp_path: Path) -> None:
    spec = small_spec()
    text = csv_error(tmp_path, "A,lab,2024-01-02,z_avg,6.5,nm,DLS\n", spec=spec)
    assert "line 2, column 'attribute'" in text and "did you mean 'z_average'" in text
    text = csv_error(tmp_path, "A,lab,2024-01-02,endotoxin,0.1,EU/kg,LAL\n", spec=spec)
    assert "line 2, column 'unit'" in text and "EU/kg" in text
    text = csv_error(tmp_path, "A,lab,2024-01-02,sterility,1,,USP\n", spec=spec)
    assert "qualitative" in text
    text = csv_error(tmp_path, "A,lab,2024-01-02,pdi,pass,,DLS\n", spec=spec)
    assert "numeric in the specification" in text


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_batches(tmp_path / "none.csv")
    with pytest.raises(SpecError, match="file is empty"):
        load_batches(write(tmp_path, ""))
    with pytest.raises(SpecError, match="no data rows"):
        load_batches(write(tmp_path, HEADER))
    with pytest.raises(SpecError, match=r"\.csv, \.yaml"):
        load_batches(write(tmp_path, "x", "lots.txt"))
    with pytest.raises(SpecError, match=r"batches\[0\]\.measurements\[0\]\.value"):
        load_batches({"batches": [{"batch_id": "A", "scale": "lab", "measurements": [{"attribute": "pdi"}]}]})


def test_load_specification_file(tmp_path: Path) -> None:
    spec = load_specification(SPEC_FILE)
    assert spec.get("endotoxin").upper == 17.5  # type: ignore[union-attr]
    bad = write(tmp_path, "name: s\nattributes:\n  pdi: {upper: 0.2, tier: 4}\n", "spec.yaml")
    with pytest.raises(SpecError) as info:
        load_specification(bad)
    assert "attributes[0].tier" in info.value.paths and str(bad) in str(info.value)


# ---- release decisions ----------------------------------------------------------------------


def test_release_when_everything_passes_and_is_in_trend() -> None:
    new = batch("N1", 30, z_average=6.47, pdi=0.10, endotoxin=0.7, sterility="pass")
    d = release_decision(new, small_spec(), history())
    assert d.decision == "release", d.summary()
    assert d.result("z_average").trend_checked
    assert all(r.status == "pass" for r in d.results)


def test_fail_rejects_with_reason() -> None:
    new = batch("N1", 30, z_average=8.4, pdi=0.10, endotoxin=0.7, sterility="pass")
    d = release_decision(new, small_spec(), history())
    assert d.decision == "reject"
    assert d.result("z_average").status == "fail"
    assert any("8.4 nm is above the upper limit 8 nm" in r for r in d.reasons)
    failed_sterility = batch("N2", 30, z_average=6.5, pdi=0.1, endotoxin=0.7, sterility="fail")
    assert release_decision(failed_sterility, small_spec()).decision == "reject"


def test_missing_makes_incomplete() -> None:
    new = batch("N1", 30, z_average=6.47, pdi=0.10, endotoxin=0.7)
    d = release_decision(new, small_spec(), history())
    assert d.decision == "incomplete"
    assert d.result("sterility").status == "missing"
    assert any("[missing] sterility: no result" in r for r in d.reasons)


def test_out_of_trend_holds_for_investigation() -> None:
    # within 5.5-8 nm, far above the history's 3-sigma limit (~6.7 nm)
    new = batch("N1", 30, z_average=7.3, pdi=0.10, endotoxin=0.7, sterility="pass")
    d = release_decision(new, small_spec(), history())
    assert d.decision == "hold" and d.decision_text == "hold for investigation"
    r = d.result("z_average")
    assert r.status == "out-of-trend"
    assert {v.rule for v in r.trend_violations} >= {"N1"}
    assert any("within specification but out of trend" in reason for reason in d.reasons)


def test_out_of_trend_by_a_run_rule() -> None:
    hist = history(12)
    rising = [6.40, 6.44, 6.48, 6.52, 6.56]
    hist += [
        batch(f"R{i}", 20 + i, z_average=z, pdi=0.1, endotoxin=0.7, sterility="pass")
        for i, z in enumerate(rising)
    ]
    new = batch("N1", 40, z_average=6.60, pdi=0.10, endotoxin=0.7, sterility="pass")
    d = release_decision(new, small_spec(), hist, baseline=history(12))
    assert d.result("z_average").status == "out-of-trend"
    assert "N3" in {v.rule for v in d.result("z_average").trend_violations}


def test_short_history_is_not_trended_and_says_so() -> None:
    new = batch("N1", 30, z_average=7.9, pdi=0.10, endotoxin=0.7, sterility="pass")
    d = release_decision(new, small_spec(), history(4))
    assert d.decision == "release"
    assert any("trend not checked" in n for n in d.result("z_average").notes)


def test_units_are_converted_or_not_evaluable() -> None:
    new = batch(
        "N1",
        30,
        z_average={"value": 0.0065, "unit": "µm"},
        pdi=0.1,
        endotoxin={"value": 1.0, "unit": "EU/kg"},
        sterility="pass",
    )
    d = release_decision(new, small_spec())
    assert d.result("z_average").status == "pass" and d.result("z_average").value == pytest.approx(6.5)
    e = d.result("endotoxin")
    assert e.status == "not-evaluable" and "EU/kg" in e.reasons[0]
    assert d.decision == "incomplete"


def test_censored_values_and_qualitative_mismatch() -> None:
    spec = Specification.from_dict(
        {
            "name": "s",
            "attributes": {
                "endotoxin": {"unit": "EU/mL", "upper": 17.5},
                "rcp": {"unit": "%", "lower": 95},
                "sterility": {"criterion": "pass"},
            },
        }
    )
    a = spec.get("endotoxin")
    assert a is not None
    assert (
        evaluate_attribute(a, Measurement(attribute="endotoxin", value="<0.5", unit="EU/mL")).status == "pass"
    )
    assert (
        evaluate_attribute(a, Measurement(attribute="endotoxin", value=">20", unit="EU/mL")).status == "fail"
    )
    rcp = spec.get("rcp")
    assert rcp is not None
    assert (
        evaluate_attribute(rcp, Measurement(attribute="rcp", value="<99", unit="%")).status == "not-evaluable"
    )
    assert evaluate_attribute(rcp, Measurement(attribute="rcp", value="<90", unit="%")).status == "fail"
    st = spec.get("sterility")
    assert st is not None
    assert evaluate_attribute(st, Measurement(attribute="sterility", value=1.0)).status == "not-evaluable"


def test_method_mismatch_and_uncertainty_are_noted() -> None:
    a = AttributeSpec(attribute="z", unit="nm", upper=8.0, method="DLS cumulants (ISO 22412)")
    r = evaluate_attribute(
        a, Measurement(attribute="z", value=7.95, unit="nm", method="NTA", uncertainty=0.05)
    )
    assert r.status == "pass"
    assert any("differs from the specified" in n for n in r.notes)
    assert any("two standard uncertainties" in n for n in r.notes)


def test_release_records_citations() -> None:
    spec = load_specification(SPEC_FILE)
    batches = load_batches(LOT_HISTORY, spec)
    with collect_citations() as used:
        release_decision(find_batch(batches, "S05"), spec, batches)
    assert {"Montgomery2020", "Nelson1984", "USP85", "USP71"} <= set(used.keys)


# ---- the bundled synthetic example ----------------------------------------------------------


def _load_make_example() -> Any:
    spec = importlib.util.spec_from_file_location("qc_make_example", EXAMPLES / "make_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_lot_history_is_reproducible() -> None:
    module = _load_make_example()
    assert module.make_lot_history() == LOT_HISTORY.read_text(encoding="utf-8")


def test_example_release_decisions() -> None:
    spec = load_specification(SPEC_FILE)
    batches = load_batches(LOT_HISTORY, spec)
    assert len(batches) == 20
    decisions = {
        b.batch_id: release_decision(b, spec, batches).decision for b in batches if b.scale == "scale-up"
    }
    assert decisions["S01"] == "release"
    assert decisions["S05"] == "hold"
    assert decisions["S07"] == "incomplete"
    assert decisions["S08"] == "reject"
    # particle concentration is reported in nM by the scale-up lots and converted to µM
    s01 = release_decision(find_batch(batches, "S01"), spec, batches).result("particle_concentration")
    assert s01.unit == "µM" and 8 < (s01.value or 0) < 18
