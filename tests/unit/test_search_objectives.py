"""Objectives come out of a run's metrics; the Pareto set keeps exactly the non-dominated runs."""

import math

import pytest

from sustain.errors import SustainError
from sustain.search.objectives import Objective, dominates, objectives_from, pareto_front, values_of
from sustain.search.space import search_space

ENERGY_MIN = Objective("energy_per_request_j_mean", "minimize")
QUALITY_MAX = Objective("quality", "maximize")
LATENCY_MIN = Objective("decode_latency_s_mean", "minimize")


def test_objectives_pair_metrics_with_directions_in_order():
    assert objectives_from(["energy_per_correct_j", "judge_score_mean"], ["minimize", "maximize"]) == [
        Objective("energy_per_correct_j", "minimize"), Objective("judge_score_mean", "maximize")]


@pytest.mark.parametrize("metrics, directions, message", [
    ([], [], "no objectives"),
    (["quality"], ["minimize", "maximize"], "1 metric\\(s\\) but directions has 2"),
    (["quality"], ["up"], "direction=up is unknown"),
])
def test_bad_objectives_are_refused_with_the_fix(metrics, directions, message):
    with pytest.raises(SustainError, match=message):
        objectives_from(metrics, directions)


def test_values_are_read_from_the_runs_metrics():
    metrics = {"energy_per_request_j_mean": 12.5, "quality": 0.9, "decode_latency_s_mean": 1.5, "n_requests": 6.0}
    assert values_of(metrics, [QUALITY_MAX, ENERGY_MIN]) == [0.9, 12.5]


def test_a_missing_objective_names_the_ones_the_run_has():
    with pytest.raises(SustainError, match="no metric judge_score_mean.*energy_per_request_j_mean, quality"):
        values_of({"energy_per_request_j_mean": 1.0, "quality": 0.5}, [Objective("judge_score_mean", "maximize")])


def test_a_non_finite_objective_is_no_value():
    with pytest.raises(SustainError, match="nan"):
        values_of({"quality": math.nan}, [QUALITY_MAX])


def test_dominance_respects_each_direction():
    objs = [ENERGY_MIN, QUALITY_MAX]
    assert dominates([10, 0.9], [12, 0.9], objs)
    assert dominates([10, 0.95], [10, 0.9], objs)
    assert not dominates([10, 0.9], [10, 0.9], objs)
    assert not dominates([10, 0.8], [12, 0.9], objs)


def test_pareto_front_of_energy_and_quality():
    points = [[100, 0.90], [50, 0.80], [60, 0.70], [100, 0.95], [40, 0.60], [50, 0.80]]
    # [60, .70] is dominated by [50, .80]; [100, .90] by [100, .95]; equal points both stay
    assert pareto_front(points, [ENERGY_MIN, QUALITY_MAX]) == [1, 3, 4, 5]


def test_pareto_front_of_three_objectives_and_of_one():
    points = [[10, 0.9, 2.0], [10, 0.9, 1.0], [5, 0.5, 3.0], [20, 1.0, 5.0]]
    assert pareto_front(points, [ENERGY_MIN, QUALITY_MAX, LATENCY_MIN]) == [1, 2, 3]
    assert pareto_front([[3.0], [1.0], [2.0]], [ENERGY_MIN]) == [1]
    assert pareto_front([], [ENERGY_MIN]) == []


def test_search_space_from_params_and_command_line_sweeps():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space = search_space(
        {"batch_size": "choice(2,8,32)", "engine.args.max_num_batched_tokens": "tag(log,int(interval(512,8192)))",
         "engine.args.gpu_memory_utilization": "interval(0.6,0.9)"},
        ["model=qwen2_5_0_5b,qwen2_5_1_5b", "gpus=range(1,3)", "task.limit=6"])
    d = space.distributions
    assert d["batch_size"] == CategoricalDistribution(("2", "8", "32"))
    assert d["engine.args.max_num_batched_tokens"] == IntDistribution(512, 8192, log=True)
    assert d["engine.args.gpu_memory_utilization"] == FloatDistribution(0.6, 0.9)
    assert d["model"] == CategoricalDistribution(("qwen2_5_0_5b", "qwen2_5_1_5b"))
    assert d["gpus"] == CategoricalDistribution(("1", "2"))
    assert space.fixed == ["task.limit=6"]
    assert space.overrides({"batch_size": "8", "gpus": "2"}) == ["task.limit=6", "batch_size=8", "gpus=2"]


def test_an_empty_search_space_says_how_to_give_one():
    with pytest.raises(SustainError, match="search space is empty: sweep on the command line \\(batch_size=2,8,32"):
        search_space({}, ["task.limit=6"])
