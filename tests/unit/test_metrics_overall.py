import math

import pytest

from sustain.metrics.overall import WEIGHT_SCENARIOS, normalise_weights, overall_metric


@pytest.mark.parametrize("weights", [*WEIGHT_SCENARIOS.values(), (5, 0, 0), (0.2, 7, 1)])
def test_reference_scores_exactly_one(weights):
    assert overall_metric(0.978, 0.58, 1499, 0.978, 0.58, 1499, *weights) == pytest.approx(1.0, abs=1e-12)


def test_hand_checked_case():
    om = overall_metric(q_e=0.5, l_e=1.0, e_e=1.0, q_r=1.0, l_r=2.0, e_r=4.0, w_q=1, w_l=1, w_e=1)
    assert om == pytest.approx(math.sqrt((0.25 + 4 + 16) / 3))


def test_single_objective_weights():
    args = dict(q_e=0.9, l_e=10.0, e_e=500.0, q_r=1.0, l_r=0.5, e_r=1500.0)
    assert overall_metric(**args, w_q=1, w_l=0, w_e=0) == pytest.approx(0.9)
    assert overall_metric(**args, w_q=0, w_l=1, w_e=0) == pytest.approx(0.05)
    assert overall_metric(**args, w_q=0, w_l=0, w_e=1) == pytest.approx(3.0)


def test_weights_are_normalised():
    args = (0.9, 10.0, 500.0, 1.0, 0.5, 1500.0)
    assert overall_metric(*args, 2, 2, 2) == pytest.approx(overall_metric(*args, 1 / 3, 1 / 3, 1 / 3))
    assert overall_metric(*args, 8, 1, 1) == pytest.approx(overall_metric(*args, 0.8, 0.1, 0.1))
    assert normalise_weights(1, 1, 2) == pytest.approx((0.25, 0.25, 0.5))


@pytest.mark.parametrize("weights", [(-0.1, 0.6, 0.5), (0, 0, 0), (float("nan"), 1, 1)])
def test_invalid_weights_raise(weights):
    with pytest.raises(ValueError):
        overall_metric(1, 1, 1, 1, 1, 1, *weights)


@pytest.mark.parametrize(
    "values",
    [(1, 0, 1, 1, 1, 1), (1, 1, 0, 1, 1, 1), (1, 1, 1, 1, -1, 1), (1, 1, 1, 1, 1, 0), (1, 1, 1, 0, 1, 1)],
)
def test_non_positive_latency_energy_or_reference_quality_raise(values):
    with pytest.raises(ValueError):
        overall_metric(*values, 1, 1, 1)


def test_weight_scenarios():
    assert {round(w[0], 2) for w in WEIGHT_SCENARIOS.values()} == {0.0, 0.33, 0.5, 0.8, 0.98, 1.0}
    for name, (wq, wl, we) in WEIGHT_SCENARIOS.items():
        assert wq + wl + we == pytest.approx(1.0), name
        assert wl == pytest.approx(we), name
    assert WEIGHT_SCENARIOS["equal"] == pytest.approx((1 / 3, 1 / 3, 1 / 3))
