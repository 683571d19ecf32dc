"""Validation against the Nano-Tumor Database (Cheng et al. 2020; CC0), ../shared/validation.

Each data set's fitted tumour parameters, run through nanobridge's mouse model (organ
parameters of Lin et al. 2016 as in the authors' code, liver venous return fixed, uptake in
continuous time), must reproduce the tabulated tumour delivery efficiencies DE24 and DEmax.
The thresholds are set just below what the model achieves, so a regression in the model or
the solver fails this test; the figures are reported in the README.

DE168: the database README warns that the 168 h values do not all reproduce from the fitted
parameters. Most data sets were measured only to 24-48 h (median last time 24 h), so their
tumour parameters say little about 168 h. DE168 is asserted only on the data sets whose
measured time course reaches 160 h or later (18 data sets), where it does reproduce.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nanobridge.science.pbpk.parameters import load_parameter_set
from nanobridge.science.pbpk.validation import agreement, replay_tumor_calibrations

DB = Path(__file__).resolve().parents[1].parent / "shared" / "validation" / "nano_tumor_db" / "datasets.csv"

pytestmark = pytest.mark.skipif(not DB.exists(), reason=f"validation data not found at {DB}")


@pytest.fixture(scope="module")
def replay() -> pd.DataFrame:
    db = pd.read_csv(DB)
    organ = load_parameter_set("Cheng2020_mouse").as_dict()
    sim = replay_tumor_calibrations(db, organ)
    return db.merge(sim, on="ID")


def test_de24_reproduces_the_database(replay: pd.DataFrame) -> None:
    score = agreement(replay["DE24_sim"], replay["DE24"])
    print("DE24", score)
    assert score.n == len(replay) == 302
    assert score.r2_log10 >= 0.70
    assert score.within_2fold >= 0.80


def test_demax_reproduces_the_database(replay: pd.DataFrame) -> None:
    score = agreement(replay["DEmax_sim"], replay["Demax"])
    print("DEmax", score)
    assert score.r2_log10 >= 0.70
    assert score.within_2fold >= 0.83


def test_de168_reproduces_where_it_was_measured(replay: pd.DataFrame) -> None:
    all_sets = agreement(replay["DE168_sim"], replay["DE168"])
    print("DE168, all data sets (not asserted, see module docstring)", all_sets)
    courses = pd.read_csv(DB.with_name("time_courses.csv"))
    last = replay["ID"].map(courses.groupby("ID")["Time"].max())
    measured = replay[last >= 160]
    score = agreement(measured["DE168_sim"], measured["DE168"])
    print("DE168, data sets measured to >= 160 h", score)
    assert score.n == 18
    assert score.r2_log10 >= 0.65
    assert score.within_2fold >= 0.70


def test_agreement_scores_a_perfect_and_a_biased_prediction() -> None:
    obs = [0.1, 1.0, 10.0, 3.0]
    assert agreement(obs, obs).r2_log10 == pytest.approx(1.0)
    biased = agreement([3 * v for v in obs], obs)
    assert biased.within_2fold == 0.0
    assert biased.within_3fold == 1.0
    assert biased.median_ratio == pytest.approx(3.0)
    with pytest.raises(ValueError, match="at least 2"):
        agreement([1.0], [1.0])
