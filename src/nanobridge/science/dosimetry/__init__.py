"""MIRD internal dosimetry: time-integrated activity, decay emissions, dose factors, doses.

    from nanobridge.science.dosimetry import absorbed_doses, SpecificAbsorbedFractions
    report = absorbed_doses(bd, agent, scenario)              # local electron absorption (partial)
    saf = SpecificAbsorbedFractions.from_icrp133_files(photon="rcp-am_photon_2016-08-12.SAF",
                                                       electron="rcp-am_electron_2016-08-12.SAF")
    report = absorbed_doses(bd, agent, scenario, dose_factors=saf)
    report = absorbed_doses(bd, agent, scenario, dose_factors=phantom_photon_dose_factors())

Pieces: :mod:`.tiac` (time-integrated activity coefficients), :mod:`.bladder` (urinary bladder
voiding model), :mod:`.emissions` (the :class:`EmissionSource` interface and its ICRP 107
implementation), :mod:`.mird` (dose-factor models, ICRP 133 SAF reader, absorbed/effective dose,
21 CFR 361.1 limit checks), :mod:`.phantom` and :mod:`.photon_mc` (the bundled stylized adult
phantom and its photon Monte Carlo SAFs; loaded lazily, they import numba), :mod:`.reference`
(ICRP reference radiopharmaceuticals for validation).
"""

from typing import Any

from nanobridge.science.dosimetry.emissions import (
    EMISSION_KINDS,
    EmissionLines,
    EmissionSource,
    ICRP107Emissions,
)
from nanobridge.science.dosimetry.mird import (
    MGY_KG_PER_MBQ_H_MEV,
    RDRC_LIMITS_MSV,
    DoseFactorModel,
    DoseFactors,
    DoseReport,
    LimitCheck,
    LocalElectronAbsorption,
    SAFTable,
    SpecificAbsorbedFractions,
    absorbed_doses,
    doses_from_tiac,
    read_icrp133_saf,
    tissue_weights,
)
from nanobridge.science.dosimetry.tiac import (
    REMAINDER,
    URINARY_BLADDER_CONTENTS,
    TIACResult,
    half_life_h,
    tiac,
    tiac_from_coefficients,
)

_LAZY = {"phantom_photon_dose_factors", "phantom_photon_saf"}


def __getattr__(name: str) -> Any:
    """Load the phantom photon dose factors on first use (photon_mc imports numba)."""
    if name in _LAZY:
        from nanobridge.science.dosimetry import photon_mc

        return getattr(photon_mc, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EMISSION_KINDS",
    "MGY_KG_PER_MBQ_H_MEV",
    "RDRC_LIMITS_MSV",
    "REMAINDER",
    "URINARY_BLADDER_CONTENTS",
    "DoseFactorModel",
    "DoseFactors",
    "DoseReport",
    "EmissionLines",
    "EmissionSource",
    "ICRP107Emissions",
    "LimitCheck",
    "LocalElectronAbsorption",
    "SAFTable",
    "SpecificAbsorbedFractions",
    "TIACResult",
    "absorbed_doses",
    "doses_from_tiac",
    "half_life_h",
    "phantom_photon_dose_factors",
    "phantom_photon_saf",
    "read_icrp133_saf",
    "tiac",
    "tiac_from_coefficients",
    "tissue_weights",
]
