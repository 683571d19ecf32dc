"""``nanobridge qc ...`` on the bundled examples (Typer's CliRunner, in process)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nanobridge.cli import app
from nanobridge.science.qc.dls import diffusion_coefficient_m2_per_s, scattering_vector_per_m
from nanobridge.workflows.qc import QC_EXAMPLE_FILES, qc_example_path

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})

#: BAM's own ISO 13321 cumulant results for the bundled MW002-03 file (data/examples/qc/README.md).
BAM_RH_Q0_NM, BAM_RH_Q0_SE_NM = 61.558, 0.688
BAM_RH_MEAN_NM, BAM_RH_MEAN_SD_NM = 63.982, 2.003


def qc(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["qc", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not found in:\n{text}"
    return float(match.group(1).replace(",", ""))


def test_help_lists_the_qc_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "qc" in result.output
    code, out = qc("--help")
    assert code == 0
    for command in ("analyze-dls", "size-tem", "release", "compare", "spc"):
        assert command in out


# --------------------------------------------------------------------------------------------
# analyze-dls
# --------------------------------------------------------------------------------------------


def test_analyze_dls_on_the_bundled_bam_file_reproduces_bam_radii(tmp_path: Path) -> None:
    out, plot, js = tmp_path / "dls.csv", tmp_path / "dls.html", tmp_path / "dls.json"
    code, text = qc("analyze-dls", "example", "--out", str(out), "--plot", str(plot))
    assert code == 0, text
    assert QC_EXAMPLE_FILES["dls"] in text and "bundled example" in text
    assert "292.9" in text and "632.8 nm" in text  # conditions read from the file
    assert "cumulants of order 2" in text and "GCV" in text  # settings printed
    rh0 = number(r"Rh\(q²→0\) = ([\d.]+)", text)
    rh0_se = number(r"Rh\(q²→0\) = [\d.]+ ± ([\d.]+) nm", text)
    assert abs(rh0 - BAM_RH_Q0_NM) < 2 * math.hypot(rh0_se, BAM_RH_Q0_SE_NM)  # ~ 61.4 vs BAM 61.6
    rh_mean = number(r"mean Rh over angles ([\d.]+)", text)
    assert abs(rh_mean - BAM_RH_MEAN_NM) < 0.5 * BAM_RH_MEAN_SD_NM  # ~ 63.8 vs BAM 64.0
    df = pd.read_csv(out)
    assert list(df["angle_deg"]) == [26, 42, 58, 74, 90, 106, 122, 138]
    assert df["z_average_nm"].between(110, 140).all() and df["pdi"].between(0, 0.2).all()
    assert set(df["verdict"]) <= {"pass", "warn"}
    assert (df["cumulant_order"] == 2).all() and (df["cutoff_fraction"] == 0.1).all()
    row90 = df[df["angle_deg"] == 90].iloc[0]
    assert abs(row90["hydrodynamic_radius_nm"] - 64.07) < 2.0  # BAM Rh(90°) = 64.07 ± 1.01 nm
    assert "large_particles" in df.loc[df["angle_deg"] == 26, "flags"].iloc[0]  # dust/aggregates at 26°
    html = plot.read_text(encoding="utf-8")
    assert "<script src=" not in html and html.count("plotly-graph-div") == 1
    code, text = qc("analyze-dls", "example", "--no-inversion", "--out", str(js))
    assert code == 0, text
    payload = json.loads(js.read_text(encoding="utf-8"))
    assert payload["inversion_settings"] is None and len(payload["analyses"]) == 8
    assert all(a["distribution"] is None for a in payload["analyses"])
    assert [g["radius_q0_nm"] for g in payload["multi_angle"]] == [pytest.approx(rh0, abs=0.01)]
    assert "Koppel1972" in payload["citations"]


def test_analyze_dls_settings_and_condition_overrides_change_the_result(tmp_path: Path) -> None:
    base, hot = tmp_path / "base.csv", tmp_path / "hot.csv"
    assert qc("analyze-dls", "example", "--no-inversion", "--out", str(base))[0] == 0
    code, text = qc(
        "analyze-dls", "example", "--no-inversion", "--temperature-k", "298.15", "--viscosity-mpa-s", "0.89",
        "--order", "3", "--cutoff", "0.2", "--out", str(hot),
    )  # fmt: skip
    assert code == 0, text
    assert "cumulants of order 3" in text and "overridden: temperature_K, viscosity_mPa_s" in text
    a, b = pd.read_csv(base), pd.read_csv(hot)
    assert (b["temperature_K"] == 298.15).all() and (b["cumulant_order"] == 3).all()
    # Stokes-Einstein: d = kT / (3 pi eta D); with another fit (order 3, cutoff 0.2) D changes a
    # little, the T/eta factor is exact
    factor = (298.15 / 292.93654) / (0.89 / 1.00703)
    ratio = b["z_average_nm"] / a["z_average_nm"] / factor
    assert ratio.between(0.9, 1.1).all()
    assert not np.allclose(b["pdi"], a["pdi"])  # the fit window changed the PDI


def _csv_correlograms(path: Path, *, second_decays: bool) -> Path:
    tau = np.geomspace(1e-7, 1.0, 120)
    q = scattering_vector_per_m(1.33, 633.0, 90.0)
    gamma = float(diffusion_coefficient_m2_per_s(100.0, 298.15, 0.89)) * q**2
    good = 0.8 * np.exp(-2 * gamma * tau)
    other = 0.8 * np.exp(-2 * gamma * tau) if second_decays else np.full_like(tau, 0.6)
    lines = [
        "# temperature_K: 298.15",
        "# viscosity_mPa_s: 0.89",
        "# solvent_refractive_index: 1.33",
        "# wavelength_nm: 633",
        "lag_s,g2m1_90deg,g2m1_173deg",
        *(f"{t:.6e},{g:.6f},{o:.6f}" for t, g, o in zip(tau, good, other, strict=True)),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_analyze_dls_csv_strict_and_lenient(tmp_path: Path) -> None:
    bad = _csv_correlograms(tmp_path / "two_angles.csv", second_decays=False)
    code, text = qc("analyze-dls", str(bad))
    assert code == 2
    assert "two_angles.csv" in text and "never decays" in text
    code, text = qc("analyze-dls", str(bad), "--lenient")
    assert code == 0, text
    assert "skipped:" in text and "fewer than two usable angles" in text
    z = number(r"\n\s+90\s+([\d.]+)", text)
    assert z == pytest.approx(100.0, rel=0.01)  # a noise-free 100 nm monodisperse correlogram


ZETASIZER = Path(__file__).resolve().parents[1].parent / "shared" / "validation" / "dls"
ZETASIZER /= "zetasizer_multiangle_correlograms.xlsx"


@pytest.mark.skipif(not ZETASIZER.is_file(), reason="shared Zetasizer validation export not available")
def test_analyze_dls_extrapolates_each_record_separately(tmp_path: Path) -> None:
    out = tmp_path / "zs.json"
    code, text = qc("analyze-dls", str(ZETASIZER), "--lenient", "--no-inversion", "--out", str(out))
    assert code == 0, text[-2000:]
    assert "assumed: temperature_K" in text  # Zetasizer exports carry no conditions
    payload = json.loads(out.read_text(encoding="utf-8"))
    records = {a["label"] for a in payload["analyses"]}
    assert len(records) > 1
    groups = payload["multi_angle"]
    assert groups and {g["record"] for g in groups} <= records
    for g in groups:  # never more angles than one record has (3 for these MADLS records)
        assert 2 <= len(g["points"]) <= 3
    failed = {(a["label"], a["angle_deg"]) for a in payload["analyses"] if a["quality"]["verdict"] == "fail"}
    used = {(g["record"], p["angle_deg"]) for g in groups for p in g["points"]}
    assert not failed & used


def test_analyze_dls_bad_input_exits_2_naming_file_or_option(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ASC"
    junk.write_text("ALV-7004 CGS-8F Data\nTemperature [K] : warm\n", encoding="latin-1")
    code, text = qc("analyze-dls", str(junk))
    assert code == 2 and "junk.ASC" in text and "Traceback" not in text
    code, text = qc("analyze-dls", str(tmp_path / "missing.csv"))
    assert code == 2 and "missing.csv" in text
    for args, named in (
        (("--order", "4"), "--order"),
        (("--cutoff", "1.5"), "--cutoff"),
        (("--temperature-k", "900"), "--temperature-k"),
        (("--angles", "90,abc"), "--angles"),
        (("--out", str(tmp_path / "x.txt")), "--out"),
        (("--plot", str(tmp_path / "x.png")), "--plot"),
    ):
        code, text = qc("analyze-dls", "example", *args)
        assert code == 2 and named in text, (args, text)


# --------------------------------------------------------------------------------------------
# size-tem
# --------------------------------------------------------------------------------------------


def test_size_tem_example_writes_overlay_and_particles(tmp_path: Path) -> None:
    from PIL import Image

    overlay, out, plot = tmp_path / "overlay.png", tmp_path / "particles.csv", tmp_path / "tem.html"
    code, text = qc("size-tem", "example", "--overlay", str(overlay), "--out", str(out), "--plot", str(plot))
    assert code == 0, text
    count = number(r"particles counted\s+(\d+)", text)
    mean = number(r"ECD mean ± SD\s+([\d.]+)", text)
    assert count >= 30 and 2.0 < mean < 200.0
    for word in ("D10 / D50 / D90", "Feret max / min", "aspect ratio", "circularity", "reliable"):
        assert word in text
    with Image.open(overlay) as im:
        assert im.mode == "RGB" and min(im.size) >= 64
    df = pd.read_csv(out)
    assert int(df["counted"].sum()) == count
    assert {"ecd_nm", "feret_max_nm", "feret_min_nm", "aspect_ratio", "circularity"} <= set(df.columns)
    assert "plotly-graph-div" in plot.read_text(encoding="utf-8")


def test_size_tem_on_a_synthetic_file_finds_the_known_particles(tmp_path: Path) -> None:
    from PIL import Image

    from nanobridge.science.qc.tem_synth import synthesize_micrograph

    m = synthesize_micrograph(coverage=0.10, mean_diameter_nm=15.0, cv=0.1, dose_e_per_px=300.0, seed=3)
    path = tmp_path / "micrograph.png"
    Image.fromarray(m.to_uint8()).save(path)
    code, text = qc("size-tem", str(path), "--nm-per-px", str(m.nm_per_px), "--min-area-px", "20")
    assert code == 0, text
    true = m.true_diameters_nm()
    assert number(r"particles counted\s+(\d+)", text) == pytest.approx(len(true), rel=0.1)
    assert number(r"ECD mean ± SD\s+([\d.]+)", text) == pytest.approx(float(true.mean()), rel=0.05)
    assert "0.5 nm/px given" in text


def test_size_tem_bad_input_exits_2(tmp_path: Path) -> None:
    code, text = qc("size-tem", str(tmp_path / "nothere.png"), "--nm-per-px", "0.5")
    assert code == 2 and "nothere.png" in text
    not_image = tmp_path / "notes.png"
    not_image.write_text("not an image", encoding="utf-8")
    code, text = qc("size-tem", str(not_image), "--nm-per-px", "0.5")
    assert code == 2 and "notes.png" in text
    code, text = qc("size-tem", str(not_image))  # no calibration
    assert code == 2 and "--nm-per-px" in text
    code, text = qc("size-tem", "example", "--polarity", "grey")
    assert code == 2 and "--polarity" in text
    code, text = qc("size-tem", "example", "--overlay", str(tmp_path / "o.jpg"))
    assert code == 2 and "--overlay" in text


# --------------------------------------------------------------------------------------------
# release
# --------------------------------------------------------------------------------------------


def test_release_of_the_example_lots() -> None:
    code, text = qc("release", "S08")
    assert code == 0, text
    assert QC_EXAMPLE_FILES["history"] in text and QC_EXAMPLE_FILES["spec"] in text
    assert "Decision: REJECT" in text
    assert "0.213 is above the upper limit 0.2" in text
    assert re.search(r"Z-average diameter\s+out-of-trend", text)
    code, text = qc("release", "S01", "--history", "example", "--spec", "example")
    assert code == 0 and "Decision: RELEASE" in text
    code, text = qc("release", "S07")
    assert code == 0 and "INCOMPLETE" in text and re.search(r"Sterility\s+missing", text)
    code, text = qc("release", "S03", "--baseline-scale", "lab", "--rules", "N1,N5")
    assert code == 0 and "limits from the 12 lab lots" in text and "rules N1, N5, MR" in text


def test_release_errors_name_the_batch_file_or_option(tmp_path: Path) -> None:
    code, text = qc("release", "S99")
    assert code == 2 and "S99" in text and "available" in text and "S08" in text
    code, text = qc("release", "S01", "--history", str(tmp_path / "none.csv"))
    assert code == 2 and "none.csv" in text
    broken = tmp_path / "lots.csv"
    rows = qc_example_path("history").read_text(encoding="utf-8").splitlines()
    rows[3] = rows[3].replace("4.22", "4,22")
    broken.write_text("\n".join(rows) + "\n", encoding="utf-8")
    code, text = qc("release", "L01", "--history", str(broken))
    assert code == 2 and "lots.csv" in text and "line 4" in text
    code, text = qc("release", "S01", "--rules", "N1,N99")
    assert code == 2 and "--rules" in text
    code, text = qc("release", "S01", "--baseline-scale", "moon")
    assert code == 2 and "moon" in text


# --------------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------------


def test_compare_scale_up_against_lab(tmp_path: Path) -> None:
    out, plot = tmp_path / "comparison.csv", tmp_path / "comparison.html"
    code, text = qc(
        "compare",
        "--reference",
        "example:lab",
        "--test",
        "example:scale-up",
        "--out",
        str(out),
        "--plot",
        str(plot),
    )
    assert code == 0, text
    assert "NOT DEMONSTRATED" in text
    assert re.search(r"Z-average diameter\s+1\s+nm\s+6.449 ± 0.12\s+6.761 ± 0.189\s+0.312", text)
    assert re.search(r"Radiochemical purity.*equivalent", text)
    assert re.search(r"Polydispersity index.*outside range", text)
    df = pd.read_csv(out)
    assert (
        dict(zip(df["attribute"], df["verdict"], strict=True))["Z-average diameter"] == "not shown equivalent"
    )
    assert plot.read_text(encoding="utf-8").count("plotly-graph-div") >= 2
    # a wider margin makes the Z-average equivalent (CI 0.18-0.45 nm, reference SD 0.12 nm)
    code, text = qc("compare", "--margin-factor", "4")
    assert code == 0 and re.search(r"Z-average diameter.*\bequivalent", text)


def test_compare_errors(tmp_path: Path) -> None:
    code, text = qc("compare", "--reference", "example:labb")
    assert code == 2 and "--reference" in text and "labb" in text
    code, text = qc("compare", "--test", "example:GMP")
    assert code == 2 and "no GMP batches" in text
    code, text = qc("compare", "--reference", str(tmp_path / "absent.csv") + ":lab")
    assert code == 2 and "absent.csv" in text
    code, text = qc("compare", "--required-fraction", "0")
    assert code == 2 and "--required-fraction" in text


# --------------------------------------------------------------------------------------------
# spc
# --------------------------------------------------------------------------------------------


def test_spc_of_the_example_z_average(tmp_path: Path) -> None:
    plot = tmp_path / "spc.html"
    code, text = qc("spc", "z_average", "--baseline-scale", "lab", "--plot", str(plot))
    assert code == 0, text
    assert "limits from the 12 lab lots" in text
    ucl = number(r"I chart: .*?UCL ([\d.]+)", text)
    assert ucl == pytest.approx(6.901, abs=0.002)
    assert "N1: S07 6.99 nm, S08 7.03 nm above the UCL" in text
    assert "capability of 12 lots" in text and "Cpk" in text
    assert plot.read_text(encoding="utf-8").count("plotly-graph-div") == 2
    same_limits = qc("spc", "z_average", "--baseline", "12")[1]
    assert number(r"I chart: .*?UCL ([\d.]+)", same_limits) == pytest.approx(ucl)
    code, text = qc("spc", "pdi", "--rules", "western_electric", "--usl", "0.25")
    assert code == 0 and "WE1" in text and "phase I" in text and "USL 0.25" in text


def test_spc_errors() -> None:
    code, text = qc("spc", "zeta")
    assert code == 2 and "zeta_potential" in text  # did you mean
    code, text = qc("spc", "sterility")
    assert code == 2 and "qualitative" in text
    code, text = qc("spc", "pdi", "--baseline", "5", "--baseline-scale", "lab")
    assert code == 2 and "--baseline" in text
    code, text = qc("spc", "pdi", "--lsl", "0.3", "--usl", "0.2")
    assert code == 2 and "--lsl" in text
