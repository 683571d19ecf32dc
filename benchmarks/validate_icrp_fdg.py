"""Compare nanobridge's bundled phantom dose factors with the ICRP 18F-FDG dose coefficients.

Usage: python benchmarks/validate_icrp_fdg.py

The ICRP 106/128 descriptive FDG model (its TIACs reproduced in the tests) is dosed with the
stylized adult phantom's photon Monte Carlo SAFs and local electron absorption, and every tissue
with a published dose is printed next to it (the README table). The acceptance criteria of the
tests are: effective dose within 20 % of 0.019 mSv/MBq, urinary bladder wall within 25 % of
0.13 mGy/MBq.
"""

from __future__ import annotations

from nanobridge.science.dosimetry.mird import doses_from_tiac
from nanobridge.science.dosimetry.photon_mc import PHANTOM_TISSUE_MAP, phantom_photon_dose_factors
from nanobridge.science.dosimetry.reference import compare_with_published, reference_tiac


def main() -> None:
    t = reference_tiac("fdg")
    print(
        "TIACs [h]: "
        + ", ".join(f"{s} {float(v):.3g}" for s, v in t.tiac_h.isel(subject=0).to_series().items())
    )
    report = doses_from_tiac(t, "human", phantom_photon_dose_factors())
    doses = {
        str(k): float(report.absorbed_dose_mGy_per_MBq.sel(target=k)[0])
        for k in report.absorbed_dose_mGy_per_MBq["target"].values
    }
    e = float(report.effective_dose_mSv_per_MBq[0]) if report.effective_dose_mSv_per_MBq is not None else None
    rows = compare_with_published("fdg", doses, e, PHANTOM_TISSUE_MAP)
    print("| tissue | phantom region(s) | nanobridge | ICRP 106/128 | ratio |")
    print("|---|---|---|---|---|")
    for r in rows:
        where = ", ".join(r.targets) if r.targets else "ICRP 103 weights"
        print(f"| {r.tissue} | {where} | {r.nanobridge:.3g} {r.unit} | {r.published:.3g} | {r.ratio:.2f} |")


if __name__ == "__main__":
    main()
