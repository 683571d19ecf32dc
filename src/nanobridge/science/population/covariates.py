"""Virtual subjects: covariates, parameter uncertainty and the per-subject PBPK parameters.

Two levels of variation are kept apart (a "two-dimensional" Monte Carlo):

- **parameter uncertainty** (outer level): the *typical* values of the nanoparticle parameters
  of a species (tumour permeability ``PATC``, tumour phagocytic uptake ``KTRESmax`` and release
  ``KTRESrelease``, phagocytic uptake maxima of the organs, biliary clearance) are uncertain. One
  log-normal multiplier per parameter group is drawn per *uncertainty draw*
  (:func:`sample_uncertainty`); every subject of that draw shares it.
- **inter-individual variability** (inner level): subjects of one draw differ in their
  covariates (:func:`sample_covariates`) and in log-normal random effects on the nanoparticle
  parameters.

Covariate models (data: :func:`~nanobridge.science.population.models.load_population_model`):

- *human*, conditional sampling: sex ~ Bernoulli; age ~ truncated normal; height | sex ~ normal
  and ln BMI | sex ~ normal (correlation with height from the model, 0 by default), weight = BMI x
  height^2; BSA by Du Bois; GFR | age from measured-GFR reference values (young-adult mean, decline
  per decade before and after 45), log-normal scatter, de-indexed by BSA/1.73 m^2 and truncated
  below; liver mass | weight, age, sex from an autopsy regression with log-normal scatter. The
  scenario's body weight is not used: the population defines it.
- *mouse, rat*: ln body weight and ln tumour mass jointly normal around the scenario's values
  (spread and correlation from the Nano-Tumor Database for the mouse); organ volume fractions, GFR
  and the nanoparticle parameters log-normal with assumed CVs.
- *tumour* (all species): ln volume, ln perfusion, ln permeability multiplier and ln phagocytic
  uptake multiplier jointly normal (their correlations from the model). Perfusion is per gram:
  the human model gives it in mL/min/g (Mantyla 1979); for rodents it is the nominal perfusion of
  the adapted parameter set (flow QTC over tumour mass) times a log-normal multiplier.

Subjects are generated in fixed blocks of :data:`BLOCK_SIZE` with a generator seeded by
``(seed, block)``, so subject ``i`` is the same whatever the chunking and the order in which
chunks run (the property resumable, distributed runs need).

Limits: covariates are independent of the tumour's kind and stage; organ sizes other than the
liver scale with body weight; the human model is of US adults (NHANES) and ignores age trends of
height and BMI; the mouse tumour heterogeneity is a share of between-study variance (assumed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from nanobridge.citations import cite
from nanobridge.science.population.models import PopulationModel

__all__ = [
    "BLOCK_SIZE",
    "COVARIATE_UNITS",
    "UNCERTAINTY_GROUPS",
    "IndividualParameters",
    "NominalSubject",
    "draw_of_subjects",
    "individual_parameters",
    "nominal_subject",
    "sample_covariates",
    "sample_subjects",
    "sample_uncertainty",
]

#: Subjects per generator block (subject ``i`` is in block ``i // BLOCK_SIZE``).
BLOCK_SIZE = 256

#: Covariate columns and their units.
COVARIATE_UNITS: dict[str, str] = {
    "sex_male": "1 (1 male, 0 female; NaN: not modelled)",
    "age_years": "years (NaN: not modelled)",
    "height_cm": "cm (NaN: not modelled)",
    "bmi_kg_per_m2": "kg/m^2 (NaN: not modelled)",
    "body_weight_kg": "kg",
    "bsa_m2": "m^2 (NaN: not modelled)",
    "gfr_mL_per_min": "mL/min",
    "liver_mass_g": "g",
    "tumor_volume_mL": "mL",
    "tumor_perfusion_mL_per_min_per_g": "mL/min/g",
    "tumor_permeability_mult": "1 (multiplier on PATC)",
    "tumor_phagocyte_uptake_mult": "1 (multiplier on KTRESmax)",
    "mps_uptake_mult": "1 (multiplier on the organs' phagocytic uptake maxima)",
    "biliary_clearance_mult": "1 (multiplier on KbileC)",
    "cardiac_output_mult": "1 (multiplier on QCC)",
    "organ_volume_mult": "1 (multiplier on lung, heart, brain, kidney, spleen volume fractions)",
}

#: Parameter groups of the outer (uncertainty) level and the PBPK parameters each multiplies.
UNCERTAINTY_GROUPS: dict[str, tuple[str, ...]] = {
    "u_tumor_permeability": ("PATC",),
    "u_tumor_phagocyte_uptake": ("KTRESmax",),
    "u_tumor_phagocyte_release": ("KTRESrelease",),
    "u_mps_uptake": ("KLRESmax", "KSRESmax", "KKRESmax", "KLuRESmax", "KMRESmax", "KRRESmax"),
    "u_biliary_clearance": ("KbileC",),
}
_UNCERTAINTY_SD_KEY = {
    "u_tumor_permeability": "uncertainty_tumor_sd_log",
    "u_tumor_phagocyte_uptake": "uncertainty_tumor_sd_log",
    "u_tumor_phagocyte_release": "uncertainty_tumor_sd_log",
    "u_mps_uptake": "uncertainty_mps_sd_log",
    "u_biliary_clearance": "uncertainty_biliary_sd_log",
}
_MPS_UPTAKE = UNCERTAINTY_GROUPS["u_mps_uptake"]
_ORGAN_VOLUMES = ("VLuC", "VHC", "VBrC", "VKC", "VSC")
_FLOW_FRACTIONS = ("QLC", "QKC", "QBrC", "QSC", "QMC", "QHC")
_VOLUME_FRACTIONS = ("VLC", "VLuC", "VKC", "VBrC", "VSC", "VHC", "VMC", "VBldC")
#: Largest share of the flow (or volume) left by the other organs that the tumour may take.
_TUMOR_SHARE_CAP = 0.5


@dataclass(frozen=True)
class NominalSubject:
    """The scenario's subject with the agent-adapted parameters (what the population varies)."""

    params: Mapping[str, float]
    body_weight_kg: float
    tumor_volume_mL: float
    tumor_perfusion_mL_per_min_per_g: float
    sieving_coefficient: float  # renal clearance of the particle / GFR
    gfr_L_per_h: float


def nominal_subject(
    params: Mapping[str, float], body_weight_kg: float, renal_clearance_L_per_h: float
) -> NominalSubject:
    """Describe the adapted parameter set of one subject (from
    :func:`nanobridge.science.pbpk.engine.agent_parameters`): its tumour volume [mL], specific
    tumour perfusion [mL/min/g] = tumour flow / tumour mass, and the particle's glomerular sieving
    coefficient = renal clearance / GFR."""
    bw = float(body_weight_kg)
    qc_L_per_h = float(params["QCC"]) * bw**0.75
    volume_mL = float(params["VTC"]) * bw * 1000.0
    if not volume_mL > 0:
        raise ValueError("the scenario needs a tumour (VTC > 0) for a virtual population")
    flow_mL_per_min = float(params["QTC"]) * qc_L_per_h * 1000.0 / 60.0
    gfr = float(params["GFR_L_per_h_per_kg"]) * bw
    sieving = float(renal_clearance_L_per_h) / gfr if gfr > 0 else 0.0
    return NominalSubject(
        params={k: float(v) for k, v in params.items()},
        body_weight_kg=bw,
        tumor_volume_mL=volume_mL,
        tumor_perfusion_mL_per_min_per_g=flow_mL_per_min / volume_mL,
        sieving_coefficient=sieving,
        gfr_L_per_h=gfr,
    )


def _lognormal_sd(cv: float) -> float:
    return math.sqrt(math.log1p(cv * cv))


def _mult(rng: np.random.Generator, cv: float, n: int) -> NDArray[np.float64]:
    """Log-normal multipliers with mean 1 and coefficient of variation ``cv``."""
    s = _lognormal_sd(cv)
    return np.asarray(np.exp(s * rng.standard_normal(n) - 0.5 * s * s), dtype=float)


def _correlated_normals(rng: np.random.Generator, corr: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """``n`` draws of a standard multivariate normal with correlation ``corr``, shape (n, k)."""
    try:
        chol = np.linalg.cholesky(corr)
    except np.linalg.LinAlgError:
        raise ValueError(f"population model correlations are not positive definite:\n{corr}") from None
    return np.asarray(rng.standard_normal((n, corr.shape[0])) @ chol.T, dtype=float)


def _tumour_block(
    model: PopulationModel,
    rng: np.random.Generator,
    n: int,
    nominal: NominalSubject,
    *,
    with_body_weight: bool,
) -> dict[str, NDArray[np.float64]]:
    """Jointly log-normal tumour covariates (and, for rodents, body weight)."""
    names = ["tumor_volume", "perfusion", "permeability", "phagocyte"]
    if with_body_weight:
        names = ["body_weight", *names]
    k = len(names)
    corr = np.eye(k)

    def set_corr(a: str, b: str, key: str) -> None:
        i, j = names.index(a), names.index(b)
        corr[i, j] = corr[j, i] = model.use(key)

    set_corr("permeability", "phagocyte", "corr_tumor_permeability_phagocyte_uptake")
    set_corr("perfusion", "permeability", "corr_tumor_perfusion_permeability")
    if with_body_weight:
        set_corr("body_weight", "tumor_volume", "corr_log_body_weight_tumor_volume")
    z = _correlated_normals(rng, corr, n)
    col = {name: z[:, i] for i, name in enumerate(names)}
    out: dict[str, NDArray[np.float64]] = {}
    if with_body_weight:
        out["body_weight_kg"] = nominal.body_weight_kg * np.exp(
            model.use("body_weight_sd_log") * col["body_weight"]
        )
    out["tumor_volume_mL"] = nominal.tumor_volume_mL * np.exp(
        model.use("tumor_volume_sd_log") * col["tumor_volume"]
    )
    if "tumor_perfusion_mean_mL_per_min_per_g" in model:
        mean = model.use("tumor_perfusion_mean_mL_per_min_per_g")
        sd = model.use("tumor_perfusion_sd_mL_per_min_per_g")
        s = _lognormal_sd(sd / mean)
        out["tumor_perfusion_mL_per_min_per_g"] = mean * np.exp(s * col["perfusion"] - 0.5 * s * s)
    else:
        s = model.use("tumor_perfusion_sd_log")
        out["tumor_perfusion_mL_per_min_per_g"] = nominal.tumor_perfusion_mL_per_min_per_g * np.exp(
            s * col["perfusion"] - 0.5 * s * s
        )
    for name, key, column in (
        ("permeability", "tumor_permeability_sd_log", "tumor_permeability_mult"),
        ("phagocyte", "tumor_phagocyte_uptake_sd_log", "tumor_phagocyte_uptake_mult"),
    ):
        s = model.use(key)
        out[column] = np.exp(s * col[name] - 0.5 * s * s)
    return out


def _human_body(model: PopulationModel, rng: np.random.Generator, n: int) -> dict[str, NDArray[np.float64]]:
    male = (rng.random(n) < model.use("male_fraction")).astype(float)
    lo, hi = model.use("age_min_years"), model.use("age_max_years")
    mu, sd = model.use("age_mean_years"), model.use("age_sd_years")
    age = stats.truncnorm.rvs((lo - mu) / sd, (hi - mu) / sd, loc=mu, scale=sd, size=n, random_state=rng)
    rho = model.use("corr_height_log_bmi")
    z = _correlated_normals(rng, np.array([[1.0, rho], [rho, 1.0]]), n)
    is_m = male > 0.5
    h_mean = np.where(is_m, model.use("height_mean_cm_male"), model.use("height_mean_cm_female"))
    h_sd = np.where(is_m, model.use("height_sd_cm_male"), model.use("height_sd_cm_female"))
    b_mean = np.where(is_m, model.use("bmi_mean_kg_per_m2_male"), model.use("bmi_mean_kg_per_m2_female"))
    b_sdl = np.where(is_m, model.use("bmi_sd_log_male"), model.use("bmi_sd_log_female"))
    height = h_mean + h_sd * z[:, 0]
    bmi = b_mean * np.exp(b_sdl * z[:, 1] - 0.5 * b_sdl**2)
    weight = bmi * (height / 100.0) ** 2
    cite("DuBois1916_BSA")
    bsa = 0.007184 * weight**0.425 * height**0.725
    # measured-GFR reference values by age, indexed to 1.73 m2, then de-indexed by BSA
    ref_age = model.use("gfr_reference_age_years")
    d1 = model.use("gfr_decline_before_45_mL_per_min_per_1_73m2_per_decade") / 10.0
    d2 = model.use("gfr_decline_after_45_mL_per_min_per_1_73m2_per_decade") / 10.0
    before = np.clip(np.minimum(age, 45.0) - ref_age, 0.0, None)
    after = np.clip(age - 45.0, 0.0, None)
    gfr_indexed = model.use("gfr_young_adult_mL_per_min_per_1_73m2") - d1 * before - d2 * after
    gfr = gfr_indexed * _mult(rng, model.use("gfr_cv"), n) * bsa / 1.73
    gfr = np.maximum(gfr, model.use("gfr_min_mL_per_min"))
    # liver mass: autopsy regressions (younger and older adults)
    female = 1.0 - male
    young = (
        model.use("liver_young_intercept_g")
        + model.use("liver_young_g_per_kg") * weight
        + model.use("liver_young_g_per_year") * age
        + model.use("liver_young_female_g") * female
    )
    old = (
        model.use("liver_old_intercept_g")
        + model.use("liver_old_g_per_kg") * weight
        + model.use("liver_old_g_per_year") * age
    )
    liver = np.where(age <= model.use("liver_age_split_years"), young, old)
    liver = np.maximum(liver, 0.2 * young) * _mult(rng, model.use("liver_residual_cv"), n)
    return {
        "sex_male": male,
        "age_years": np.asarray(age, dtype=float),
        "height_cm": height,
        "bmi_kg_per_m2": bmi,
        "body_weight_kg": weight,
        "bsa_m2": bsa,
        "gfr_mL_per_min": gfr,
        "liver_mass_g": liver,
    }


def sample_covariates(
    model: PopulationModel, n: int, rng: np.random.Generator, nominal: NominalSubject
) -> pd.DataFrame:
    """``n`` subjects' covariates (columns of :data:`COVARIATE_UNITS`), one row per subject."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    nan = np.full(n, np.nan)
    human = model.species == "human"
    cols: dict[str, NDArray[np.float64]] = {}
    if human:
        cols.update(_human_body(model, rng, n))
        cols.update(_tumour_block(model, rng, n, nominal, with_body_weight=False))
        cols["organ_volume_mult"] = np.ones(n)
    else:
        cols.update(_tumour_block(model, rng, n, nominal, with_body_weight=True))
        bw = cols["body_weight_kg"]
        cap = model.use("tumor_max_fraction_of_body_weight") * bw * 1000.0  # mL at 1 g/mL
        cols["tumor_volume_mL"] = np.minimum(cols["tumor_volume_mL"], cap)
        gfr_L_per_h = nominal.params["GFR_L_per_h_per_kg"] * bw * _mult(rng, model.use("gfr_cv"), n)
        cols["gfr_mL_per_min"] = gfr_L_per_h * 1000.0 / 60.0
        cols["liver_mass_g"] = (
            nominal.params["VLC"] * bw * 1000.0 * _mult(rng, model.use("liver_volume_cv"), n)
        )
        cols["organ_volume_mult"] = _mult(rng, model.use("organ_volume_cv"), n)
        for key in ("sex_male", "age_years", "height_cm", "bmi_kg_per_m2", "bsa_m2"):
            cols[key] = nan.copy()
    cols["tumor_volume_mL"] = np.maximum(cols["tumor_volume_mL"], model.use("tumor_volume_min_mL"))
    cols["mps_uptake_mult"] = _mult(rng, model.use("mps_uptake_cv"), n)
    cols["biliary_clearance_mult"] = _mult(rng, model.use("biliary_clearance_cv"), n)
    cols["cardiac_output_mult"] = _mult(rng, model.use("cardiac_output_cv"), n)
    return pd.DataFrame({k: cols[k] for k in COVARIATE_UNITS})


def sample_uncertainty(model: PopulationModel, n_draws: int, seed: int) -> pd.DataFrame:
    """Outer-level multipliers of the typical values, one row per uncertainty draw.

    Columns are :data:`UNCERTAINTY_GROUPS`; log-normal with median 1 and the model's SD of the
    log. With ``n_draws == 1`` the single draw is the nominal model (all multipliers 1): the run
    then shows inter-individual variability only.
    """
    if n_draws < 1:
        raise ValueError(f"uncertainty draws must be >= 1, got {n_draws}")
    if n_draws == 1:
        return pd.DataFrame({g: [1.0] for g in UNCERTAINTY_GROUPS})
    rng = np.random.default_rng([int(seed), 2, 0])
    z = rng.standard_normal((n_draws, len(UNCERTAINTY_GROUPS)))
    return pd.DataFrame(
        {g: np.exp(model.use(_UNCERTAINTY_SD_KEY[g]) * z[:, i]) for i, g in enumerate(UNCERTAINTY_GROUPS)}
    )


def draw_of_subjects(subject_index: NDArray[np.int64], n_subjects: int, n_draws: int) -> NDArray[np.int64]:
    """Uncertainty draw of each subject: contiguous equal blocks of the population."""
    return np.asarray((subject_index * n_draws) // max(n_subjects, 1), dtype=np.int64)


def sample_subjects(
    model: PopulationModel,
    nominal: NominalSubject,
    start: int,
    size: int,
    *,
    seed: int,
) -> pd.DataFrame:
    """Covariates of subjects ``start .. start+size-1``, identical whatever the chunking."""
    if start < 0 or size < 0:
        raise ValueError(f"start and size must be >= 0, got {start}, {size}")
    if size == 0:
        return sample_covariates(model, 0, np.random.default_rng(0), nominal)
    first, last = start // BLOCK_SIZE, (start + size - 1) // BLOCK_SIZE
    parts = []
    for block in range(first, last + 1):
        rng = np.random.default_rng([int(seed), 1, block])
        part = sample_covariates(model, BLOCK_SIZE, rng, nominal)
        lo = max(start - block * BLOCK_SIZE, 0)
        hi = min(start + size - block * BLOCK_SIZE, BLOCK_SIZE)
        parts.append(part.iloc[lo:hi])
    out = pd.concat(parts, ignore_index=True)
    out.index = pd.RangeIndex(start, start + size, name="subject")
    return out


@dataclass(frozen=True)
class IndividualParameters:
    """Per-subject inputs of :func:`nanobridge.science.pbpk.engine.simulate`."""

    params: dict[str, NDArray[np.float64]]
    body_weight_kg: NDArray[np.float64]
    renal_clearance_L_per_h: NDArray[np.float64]
    notes: list[str] = field(default_factory=list)


def individual_parameters(
    nominal: NominalSubject,
    covariates: pd.DataFrame,
    uncertainty: pd.DataFrame | None = None,
) -> IndividualParameters:
    """PBPK parameters of each subject from its covariates and its draw's uncertainty multipliers.

    ``uncertainty`` has one row per subject (columns :data:`UNCERTAINTY_GROUPS`), or is None.
    Mapping: body weight as is; QCC x cardiac-output multiplier; liver volume fraction = liver
    mass / body weight (density 1 g/mL); lung, heart, brain, kidney, spleen volume fractions x the
    organ multiplier; tumour volume fraction from its volume; tumour flow fraction = perfusion x
    tumour mass / cardiac output (capped at half the flow the other organs leave, as its volume);
    PATC, KTRESmax x the tumour multipliers; the organs' phagocytic uptake maxima x the MPS
    multiplier (one per subject: a shared "phagocytic capacity"); KbileC x the biliary multiplier;
    particle renal clearance = sieving coefficient x the subject's GFR, and the model's urinary
    clearance KurineC x the subject's GFR relative to the species' GFR per kg (assumed).
    """
    n = len(covariates)
    p: dict[str, NDArray[np.float64]] = {k: np.full(n, float(v)) for k, v in nominal.params.items()}
    bw = covariates["body_weight_kg"].to_numpy(dtype=float)
    if np.any(~np.isfinite(bw)) or np.any(bw <= 0):
        raise ValueError("body_weight_kg of a virtual subject is not positive and finite")
    p["QCC"] = p["QCC"] * covariates["cardiac_output_mult"].to_numpy(dtype=float)
    qc_L_per_h = p["QCC"] * bw**0.75
    p["VLC"] = covariates["liver_mass_g"].to_numpy(dtype=float) / 1000.0 / bw
    organ = covariates["organ_volume_mult"].to_numpy(dtype=float)
    for key in _ORGAN_VOLUMES:
        p[key] = p[key] * organ
    volume_mL = covariates["tumor_volume_mL"].to_numpy(dtype=float)
    vtc = volume_mL / 1000.0 / bw
    v_left = 1.0 - np.sum([p[k] for k in _VOLUME_FRACTIONS], axis=0)
    p["VTC"] = np.minimum(vtc, _TUMOR_SHARE_CAP * v_left)
    mass_g = p["VTC"] * bw * 1000.0
    perfusion = covariates["tumor_perfusion_mL_per_min_per_g"].to_numpy(dtype=float)
    qtc = perfusion * mass_g * 60.0 / 1000.0 / qc_L_per_h
    q_left = 1.0 - np.sum([p[k] for k in _FLOW_FRACTIONS], axis=0)
    p["QTC"] = np.minimum(qtc, _TUMOR_SHARE_CAP * q_left)
    p["PATC"] = p["PATC"] * covariates["tumor_permeability_mult"].to_numpy(dtype=float)
    p["KTRESmax"] = p["KTRESmax"] * covariates["tumor_phagocyte_uptake_mult"].to_numpy(dtype=float)
    mps = covariates["mps_uptake_mult"].to_numpy(dtype=float)
    for key in _MPS_UPTAKE:
        p[key] = p[key] * mps
    p["KbileC"] = p["KbileC"] * covariates["biliary_clearance_mult"].to_numpy(dtype=float)
    gfr_L_per_h = covariates["gfr_mL_per_min"].to_numpy(dtype=float) * 60.0 / 1000.0
    relative_renal = gfr_L_per_h / (nominal.params["GFR_L_per_h_per_kg"] * bw)
    p["KurineC"] = p["KurineC"] * relative_renal
    if "tumor_perfusion_mL_per_min_per_g" in p:
        p["tumor_perfusion_mL_per_min_per_g"] = perfusion
    if uncertainty is not None:
        if len(uncertainty) != n:
            raise ValueError(f"uncertainty has {len(uncertainty)} rows for {n} subjects")
        for group, keys in UNCERTAINTY_GROUPS.items():
            u = uncertainty[group].to_numpy(dtype=float)
            for key in keys:
                p[key] = p[key] * u
    notes = []
    if np.any(vtc > p["VTC"]) or np.any(qtc > p["QTC"]):
        notes.append("tumour volume or flow capped at half of what the other organs leave")
    return IndividualParameters(
        params=p,
        body_weight_kg=bw,
        renal_clearance_L_per_h=nominal.sieving_coefficient * gfr_L_per_h,
        notes=notes,
    )
