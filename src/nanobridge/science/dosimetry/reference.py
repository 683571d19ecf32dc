"""ICRP reference radiopharmaceuticals: descriptive biokinetic models, their TIACs and published doses.

The packaged file ``data/dosimetry/icrp_reference_biokinetics.yaml`` holds the ICRP descriptive
models (fractions taken up at once and kept, with urinary excretion in exponential components)
and the published TIACs and dose coefficients. :func:`reference_tiac` integrates a model with
physical decay and the bladder voiding model of :mod:`.bladder`, giving a
:class:`~nanobridge.science.dosimetry.tiac.TIACResult` for any dose-factor model; the tests use
it to validate nanobridge's phantom dose factors against the ICRP 18F-FDG dose coefficients.

For a compartment of fraction ``F`` with a part ``E`` (of the injected activity) excreted in urine
in components (share ``s_j``, biological half-time ``T_j``):

    f(t) = F − E Σ_j s_j (1 − e^{−k_j t}),     U(t) = E Σ_j s_j (1 − e^{−k_j t}),

    ã = F/λ − E Σ_j s_j k_j / (λ (λ + k_j))     (exact),

and the bladder contents follow from ``U`` (decay-corrected cumulative urine).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from nanobridge._yaml import UniqueKeyLoader
from nanobridge.citations import cite
from nanobridge.science.dosimetry.bladder import ICRP_ADULT_VOIDING_INTERVAL_H, bladder_contents_tiac
from nanobridge.science.dosimetry.tiac import (
    URINARY_BLADDER_CONTENTS,
    TIACResult,
    half_life_h,
    tiac_from_coefficients,
)

__all__ = [
    "PublishedComparisonRow",
    "PublishedDosimetry",
    "ReferenceModel",
    "UrinaryExcretion",
    "compare_with_published",
    "load_reference_models",
    "reference_tiac",
]


class UrinaryExcretion(BaseModel):
    """Part of one compartment excreted in urine: ``fraction`` of the injected activity in
    exponential components ``(share, biological half-time [h])`` whose shares sum to 1."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    from_: str = Field(alias="from")
    fraction: float = Field(ge=0.0, le=1.0)
    components: tuple[tuple[float, float], ...]


class PublishedDosimetry(BaseModel):
    """Published values to compare with (units in the names)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tiac_h: dict[str, float]
    absorbed_dose_mGy_per_MBq: dict[str, float]
    effective_dose_mSv_per_MBq: float
    tolerance: dict[str, float]


class ReferenceModel(BaseModel):
    """An ICRP descriptive biokinetic model (see the data file for provenance)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    name: str
    nuclide: str
    citations: tuple[str, ...]
    compartments: dict[str, float]
    urine: UrinaryExcretion | None = None
    published: PublishedDosimetry


@lru_cache(maxsize=1)
def load_reference_models() -> dict[str, ReferenceModel]:
    """Every model of ``data/dosimetry/icrp_reference_biokinetics.yaml`` by key (e.g. ``fdg``)."""
    text = (
        resources.files("nanobridge") / "data" / "dosimetry" / "icrp_reference_biokinetics.yaml"
    ).read_text(encoding="utf-8")
    raw = UniqueKeyLoader(text).get_single_data() or {}
    models: dict[str, ReferenceModel] = {}
    for key, entry in raw.items():
        model = ReferenceModel.model_validate({"key": key, **entry})
        total = sum(model.compartments.values())
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(f"icrp_reference_biokinetics.yaml: {key} compartments sum to {total}, not 1")
        if model.urine is not None:
            if model.urine.from_ not in model.compartments:
                raise ValueError(f"icrp_reference_biokinetics.yaml: {key} urine.from is not a compartment")
            if model.urine.fraction > model.compartments[model.urine.from_]:
                raise ValueError(f"icrp_reference_biokinetics.yaml: {key} excretes more than its compartment")
            shares = sum(s for s, _ in model.urine.components)
            if not math.isclose(shares, 1.0, abs_tol=1e-9):
                raise ValueError(
                    f"icrp_reference_biokinetics.yaml: {key} urine component shares sum to {shares}"
                )
        models[key] = model
    return models


def reference_tiac(key: str, voiding_interval_h: float | None = ICRP_ADULT_VOIDING_INTERVAL_H) -> TIACResult:
    """TIACs [h] of the reference model ``key`` (exact for the compartments; bladder contents by
    :func:`~nanobridge.science.dosimetry.bladder.bladder_contents_tiac` on a fine time grid)."""
    models = load_reference_models()
    if key not in models:
        raise ValueError(f"unknown reference radiopharmaceutical {key!r}; allowed: {', '.join(models)}")
    model = models[key]
    lam = math.log(2) / half_life_h(model.nuclide)
    coefficients = {src: frac / lam for src, frac in model.compartments.items()}
    if model.urine is not None:
        u = model.urine
        removed = sum(s * (k := math.log(2) / t) / (lam * (lam + k)) for s, t in u.components)
        coefficients[u.from_] -= u.fraction * removed
        # bladder: decay-corrected cumulative urine on a grid fine against the fastest component
        fastest = min(t for _, t in u.components)
        end = 40.0 * max(max(t for _, t in u.components), math.log(2) / lam)
        times = np.unique(
            np.concatenate([np.linspace(0.0, 10 * fastest, 2001), np.linspace(0.0, end, 20001)])
        )
        cumulative = u.fraction * sum(s * -np.expm1(-math.log(2) / t * times) for s, t in u.components)
        coefficients[URINARY_BLADDER_CONTENTS] = float(
            bladder_contents_tiac(times, cumulative, lam, voiding_interval_h)
        )
    every = "no voiding" if voiding_interval_h is None else f"voiding every {voiding_interval_h:g} h"
    return tiac_from_coefficients(
        model.nuclide,
        coefficients,
        assumptions=(
            f"ICRP descriptive model of {model.name} ({', '.join(model.citations)}): instantaneous uptake, "
            f"retention with physical decay only, urinary excretion in exponential components; {every}.",
        ),
        citation_keys=cite(*model.citations),
    )


class PublishedComparisonRow(BaseModel):
    """One tissue: nanobridge's dose next to the published one."""

    model_config = ConfigDict(frozen=True)

    tissue: str
    targets: tuple[str, ...]
    nanobridge: float
    published: float
    ratio: float
    unit: str


def compare_with_published(
    key: str,
    absorbed_dose_mGy_per_MBq: Mapping[str, float],
    effective_dose_mSv_per_MBq: float | None,
    tissue_targets: Mapping[str, Sequence[str]],
) -> list[PublishedComparisonRow]:
    """Rows (tissue, nanobridge, published, ratio) for every tissue with a published dose that
    ``tissue_targets`` can dose (mean over its targets), then the effective dose."""
    model = load_reference_models()[key]
    rows: list[PublishedComparisonRow] = []
    for tissue, published in model.published.absorbed_dose_mGy_per_MBq.items():
        targets = tuple(t for t in tissue_targets.get(tissue, ()) if t in absorbed_dose_mGy_per_MBq)
        if not targets:
            continue
        ours = float(np.mean([absorbed_dose_mGy_per_MBq[t] for t in targets]))
        rows.append(
            PublishedComparisonRow(
                tissue=tissue,
                targets=targets,
                nanobridge=ours,
                published=published,
                ratio=ours / published,
                unit="mGy/MBq",
            )
        )
    if effective_dose_mSv_per_MBq is not None:
        published = model.published.effective_dose_mSv_per_MBq
        rows.append(
            PublishedComparisonRow(
                tissue="effective dose",
                targets=(),
                nanobridge=effective_dose_mSv_per_MBq,
                published=published,
                ratio=effective_dose_mSv_per_MBq / published,
                unit="mSv/MBq",
            )
        )
    return rows
