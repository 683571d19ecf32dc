"""Validation of the bundled phantom dose factors against the ICRP 18F-FDG dose coefficients.

Acceptance (nanobridge issue 3): with the ICRP 128 TIACs of 2-[18F]FDG (here computed from the
ICRP 106/128 descriptive model, whose TIACs test_dosimetry_bladder.py checks against the
published ones), the adult effective dose is within 20 % of 0.019 mSv/MBq and the urinary
bladder wall dose within 25 % of 0.13 mGy/MBq (ICRP106, ICRP128).
"""

from __future__ import annotations

import pytest

from nanobridge.science.dosimetry.mird import doses_from_tiac
from nanobridge.science.dosimetry.photon_mc import PHANTOM_TISSUE_MAP, phantom_photon_dose_factors
from nanobridge.science.dosimetry.reference import (
    compare_with_published,
    load_reference_models,
    reference_tiac,
)
from nanobridge.science.dosimetry.tiac import tiac_from_coefficients


@pytest.fixture(scope="module")
def fdg_report():  # type: ignore[no-untyped-def]
    return doses_from_tiac(reference_tiac("fdg"), "human", phantom_photon_dose_factors())


def test_fdg_effective_dose_within_20_percent_of_icrp128(fdg_report) -> None:  # type: ignore[no-untyped-def]
    published = load_reference_models()["fdg"].published
    e = float(fdg_report.effective_dose_mSv_per_MBq[0])
    assert e == pytest.approx(published.effective_dose_mSv_per_MBq, rel=published.tolerance["effective_dose"])
    assert fdg_report.effective_dose_weight_covered == pytest.approx(1.0)
    assert fdg_report.tissues_without_dose == ()


def test_fdg_bladder_wall_within_25_percent_of_icrp128(fdg_report) -> None:  # type: ignore[no-untyped-def]
    published = load_reference_models()["fdg"].published
    wall = float(fdg_report.absorbed_dose_mGy_per_MBq.sel(target="urinary_bladder_wall")[0])
    expected = published.absorbed_dose_mGy_per_MBq["bladder"]
    assert wall == pytest.approx(expected, rel=published.tolerance["bladder"])
    # and the wall is the most exposed tissue, as in ICRP 128
    tissues = {
        str(t): float(fdg_report.absorbed_dose_mGy_per_MBq.sel(target=t)[0])
        for t in fdg_report.absorbed_dose_mGy_per_MBq["target"].values
        if str(t) not in ("urinary_bladder_contents", "whole_body")
    }
    assert max(tissues, key=tissues.__getitem__) == "urinary_bladder_wall"


def test_fdg_organs_with_uptake_agree_with_icrp(fdg_report) -> None:  # type: ignore[no-untyped-def]
    """Source organs (brain, heart, liver, lungs) are dominated by self-dose: within 25 %."""
    doses = {
        str(t): float(fdg_report.absorbed_dose_mGy_per_MBq.sel(target=t)[0])
        for t in fdg_report.absorbed_dose_mGy_per_MBq["target"].values
    }
    rows = {r.tissue: r for r in compare_with_published("fdg", doses, None, PHANTOM_TISSUE_MAP)}
    for tissue in ("brain", "liver", "lung"):
        assert rows[tissue].ratio == pytest.approx(1.0, abs=0.25), tissue
    # the phantom's heart is wall + contents (larger mass than the ICRP heart wall): lower dose
    assert 0.6 < rows["heart"].ratio < 1.1


def test_bladder_dose_follows_the_voiding_interval() -> None:
    factors = phantom_photon_dose_factors()
    walls = []
    for interval in (1.0, 3.5, 6.0):
        rep = doses_from_tiac(reference_tiac("fdg", interval), "human", factors)
        walls.append(float(rep.absorbed_dose_mGy_per_MBq.sel(target="urinary_bladder_wall")[0]))
    assert walls[0] < walls[1] < walls[2]


def test_electron_self_dose_and_wall_convention_are_exact() -> None:
    """1 h of 18F in the bladder contents only: the wall gets half the contents' electron dose."""
    factors = phantom_photon_dose_factors()
    rep = doses_from_tiac(tiac_from_coefficients("18F", {"urinary_bladder_contents": 1.0}), "human", factors)
    by_kind = rep.absorbed_dose_by_kind_mGy_per_MBq.sel(kind="electron")
    contents = float(by_kind.sel(target="urinary_bladder_contents")[0])
    wall = float(by_kind.sel(target="urinary_bladder_wall")[0])
    assert wall == pytest.approx(0.5 * contents, rel=1e-9)
    m = factors.region_mass_kg["urinary_bladder_contents"]
    # 18F: 0.2498 MeV mean positron energy x 0.9673 per decay (ICRP 107) + Auger/IC (tiny)
    assert contents == pytest.approx(0.5768 * 0.2498 * 0.9673 / m, rel=0.01)


def test_rest_of_body_saf_is_the_mass_weighted_complement() -> None:
    """M_RB·SAF(T←RB) + Σ_r M_r·SAF(T←r) = M_WB·SAF(T←WB) for every target and energy."""
    import numpy as np

    from nanobridge.science.dosimetry.mird import rest_of_body_saf

    factors = phantom_photon_dose_factors()
    table = factors.tables["photon"]
    masses = factors.region_mass_kg
    excluded = ["liver", "brain", "urinary_bladder_contents"]
    m_rb = masses["whole_body"] - sum(masses[r] for r in excluded)
    energies = np.array([0.05, 0.14, 0.511])
    for target in ("liver", "lungs", "skeleton", "remainder"):
        rb = rest_of_body_saf(table, excluded, masses, energies, target)
        total = m_rb * rb + sum(masses[r] * table.saf(target, r, energies) for r in excluded)
        assert np.allclose(total, masses["whole_body"] * table.saf(target, "whole_body", energies), rtol=1e-9)
        # nothing excluded: the whole body itself
        assert np.allclose(
            rest_of_body_saf(table, [], masses, energies, target), table.saf(target, "whole_body", energies)
        )
