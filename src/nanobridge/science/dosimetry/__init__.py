"""MIRD internal dosimetry: time-integrated activity, decay emissions, dose factors, doses.

    from nanobridge.science.dosimetry import absorbed_doses, SpecificAbsorbedFractions
    report = absorbed_doses(bd, agent, scenario)              # local electron absorption (partial)
    saf = SpecificAbsorbedFractions.from_icrp133_files(photon="rcp-am_photon_2016-08-12.SAF",
                                                       electron="rcp-am_electron_2016-08-12.SAF")
    report = absorbed_doses(bd, agent, scenario, dose_factors=saf)

Pieces: :mod:`.tiac` (time-integrated activity coefficients), :mod:`.emissions` (the
:class:`EmissionSource` interface and its ICRP 107 implementation), :mod:`.mird` (dose-factor
models, ICRP 133 SAF reader, absorbed/effective dose, 21 CFR 361.1 limit checks).
"""

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
    read_icrp133_saf,
    tissue_weights,
)
from nanobridge.science.dosimetry.tiac import REMAINDER, TIACResult, half_life_h, tiac

__all__ = [
    "EMISSION_KINDS",
    "MGY_KG_PER_MBQ_H_MEV",
    "RDRC_LIMITS_MSV",
    "REMAINDER",
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
    "half_life_h",
    "read_icrp133_saf",
    "tiac",
    "tissue_weights",
]
