"""``nanobridge predict`` through Typer's CliRunner on a small app built with ``register``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import nanobridge.cli_predict as cli_predict
from nanobridge.science.design.delivery import ModelConfig, forget_loaded_models

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})

HEADER = (
    "id,hydrodynamic_diameter_nm,zeta_mV,Type,targeting,Shape,tumor_model,cancer_type,"
    "tumor_weight_g,dose_mg_per_kg,body_weight_g,notes\n"
)
CSV = (
    HEADER
    + """gold-40,40,-18,Inorganic,Passive,Spherical,Xenograft Heterotopic,breast,0.2,5,20,lab A
lipo-110,110,,organic,ACTIVE,sphere,Allograft Orthotopic,Liver,0.3,,22,
giant,2000,12,Organic,Passive,Spherical,Xenograft Heterotopic,melanoma,0.2,lots,20,typo in dose
"""
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[typer.Typer]:
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NANOBRIDGE_CACHE_DIR", str(cache))
        mp.setattr(cli_predict, "_model_config", lambda: ModelConfig(rf_n_estimators=10, interval_folds=3))
        forget_loaded_models()
        application = typer.Typer()
        cli_predict.register(application)

        @application.command()
        def version() -> None:  # a second command, so that `predict` is a sub-command as in nanobridge
            """Print nothing."""

        yield application
    forget_loaded_models()


def run(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_predict_writes_one_row_per_particle_with_intervals_and_flags(
    app: typer.Typer, tmp_path: Path
) -> None:
    src = tmp_path / "particles.csv"
    src.write_text(CSV)
    out = tmp_path / "pred" / "out.csv"
    code, text = run(app, "predict", str(src), "--out", str(out))
    assert code == 0, text
    pred = pd.read_csv(out)
    assert list(pred["ID"]) == ["gold-40", "lipo-110", "giant"]
    for name in ("DE24", "DE168", "Demax"):
        assert (pred[f"{name}_lo"] <= pred[name]).all() and (pred[name] <= pred[f"{name}_hi"]).all()
        assert (pred[name] > 0).all()
    assert list(pred["domain"]) == ["in", "incomplete", "out"]
    warnings = dict(zip(pred["ID"], pred["warnings"].fillna(""), strict=True))
    assert warnings["gold-40"] == ""  # a signed zeta and a lower-case cancer type are routine
    assert "missing Zeta, Dose" in warnings["lipo-110"]
    assert "Dose 'lots' must be a number > 0" in warnings["giant"]
    assert "HD [nm] 2000 outside the training range" in warnings["giant"]
    assert "CT 'Melanoma' not seen in training" in warnings["giant"]
    assert "column 'notes' is not a descriptor; ignored" in text
    assert "1 in, 1 incomplete, 1 out" in text
    assert "Predictions:" in text


def test_second_call_reuses_the_models_and_ai_pbpk_adds_columns(app: typer.Typer, tmp_path: Path) -> None:
    src = tmp_path / "p.csv"
    src.write_text(CSV)
    out = tmp_path / "out.csv"
    code, text = run(app, "predict", str(src), "-o", str(out), "--ai-pbpk")
    assert code == 0, text
    assert "trained now" not in text
    pred = pd.read_csv(out)
    for col in ("DE24_pbpk", "DE168_pbpk", "Demax_pbpk", "KTRESmax", "VTC", "domain", "warnings"):
        assert col in pred.columns
    assert list(pred.columns)[-3:] == ["domain", "mahalanobis_d2", "warnings"]
    assert (pred["Demax_pbpk"] >= pred["DE24_pbpk"]).all()


def test_semicolon_separated_file_and_duplicate_ids(app: typer.Typer, tmp_path: Path) -> None:
    src = tmp_path / "p.csv"
    src.write_text("ID;HD;Zeta;Charge\nx;50;10;0\n\nx;60;5;1\n")
    out = tmp_path / "o.csv"
    code, text = run(app, "predict", str(src), "--out", str(out))
    assert code == 0, text
    pred = pd.read_csv(out)
    assert len(pred) == 2 and all("ID 'x' is not unique" in w for w in pred["warnings"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("ID,HD,Zeta\na,50,10\nb,60,5,7\n", "line 3 has 4 fields but the header has 3"),
        ("", "the file is empty"),
        ("ID,HD\n", "no particle rows"),
        ("ID,colour\na,red\n", "no descriptor column"),
        ("ID,HD,,Zeta\na,1,2,3\n", "empty column name (column 3)"),
        ("ID,HD,HD\na,1,2\n", "repeats column(s) ['HD']"),
        ("ID,HD,hd_nm\na,1,2\n", "'HD' and 'hd_nm' both give the same descriptor"),
    ],
)
def test_malformed_tables_end_with_a_clear_error(
    app: typer.Typer, tmp_path: Path, content: str, message: str
) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(content)
    code, text = run(app, "predict", str(src))
    assert code == 2
    assert message in " ".join(text.split())


def test_wrong_suffixes_and_missing_file(app: typer.Typer, tmp_path: Path) -> None:
    src = tmp_path / "p.csv"
    src.write_text(CSV)
    code, text = run(app, "predict", str(src), "--out", str(tmp_path / "o.xlsx"))
    assert code == 2 and "unknown extension '.xlsx'" in text
    code, text = run(app, "predict", str(tmp_path / "p.json"))
    assert code == 2 and "unknown extension '.json'" in text
    code, text = run(app, "predict", str(tmp_path / "missing.csv"))
    assert code == 2 and "missing.csv" in text
    latin = tmp_path / "latin.csv"
    latin.write_bytes("ID,CT\nà,Breast\n".encode("latin-1"))
    code, text = run(app, "predict", str(latin))
    assert code == 2 and "not UTF-8 text" in text
