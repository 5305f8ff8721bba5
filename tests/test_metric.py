import numpy as np
import pandas as pd
import pytest

from hms.constants import VOTE_COLS
from hms.data import eeg_level, vote_probabilities
from hms.metric import MetricError, kl_per_class, score, score_arrays


def test_reference_values_on_real_golden_set(real_train):
    eegs = eeg_level(real_train)
    golden = eegs[eegs["golden"]]
    assert len(golden) == 5441
    p = vote_probabilities(golden)
    assert score_arrays(p, np.full_like(p, 1 / 6)) == pytest.approx(1.1653, abs=5e-5)
    assert score_arrays(p, np.tile(p.mean(axis=0), (len(p), 1))) == pytest.approx(0.834, abs=5e-4)


def test_matches_hand_computed_kl():
    sol = np.array([[0.5, 0.5, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1.0]])
    sub = np.array([[0.25, 0.25, 0.125, 0.125, 0.125, 0.125], [0.1, 0.1, 0.1, 0.1, 0.1, 0.5]])
    expected = ((0.5 * np.log(2) * 2) + np.log(2)) / 2
    assert score_arrays(sol, sub) == pytest.approx(expected)
    assert kl_per_class(sol, sub).sum() == pytest.approx(expected)
    assert score_arrays(sol, sol) == pytest.approx(0.0)


def test_zero_predictions_are_clipped_not_renormalised():
    sol = np.array([[1.0, 0, 0, 0, 0, 0]])
    sub = np.array([[0.0, 1.0, 0, 0, 0, 0]])
    assert score_arrays(sol, sub) == pytest.approx(-np.log(1e-15))


@pytest.mark.parametrize(
    "bad",
    [np.array([[0.5, 0.5, 0.5, 0, 0, 0]]), np.array([[np.nan, 1, 0, 0, 0, 0]]), np.array([[-0.1, 1.1, 0, 0, 0, 0]])],
)
def test_invalid_probabilities_raise(bad):
    good = np.array([[1.0, 0, 0, 0, 0, 0]])
    with pytest.raises(MetricError):
        score_arrays(good, bad)
    with pytest.raises(MetricError):
        score_arrays(bad, good)


def test_score_tables_join_on_eeg_id_and_normalise_votes():
    solution = pd.DataFrame([[1, 3, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 0, 5]], columns=["eeg_id", *VOTE_COLS])
    sub = pd.DataFrame([[2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.5], [1, 0.75, 0, 0, 0, 0, 0.25]], columns=["eeg_id", *VOTE_COLS])
    assert score(solution, sub) == pytest.approx(np.log(1 / 0.5) / 2)
    with pytest.raises(MetricError, match="lacks"):
        score(solution, sub.iloc[:1])
