"""load=replay: schedules from a list, JSONL and a vLLM result file; refusals; the declared rate."""

import json
import math
from types import SimpleNamespace

import pytest

from sustain.engines.records import RequestRecord
from sustain.errors import SustainError
from sustain.load.replay import ReplayConfig, mean_rate, read_schedule
from sustain.metrics.latency import measure_latency
from sustain.plugins import build


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def replay(path):
    return build(ReplayConfig(schedule=path), "load")


def test_a_list_of_seconds_is_sent_sorted_and_from_the_first(tmp_path):
    path = write(tmp_path, "s.json", "[2.5, 2.0, 3.0, 7.0]")
    assert replay(path).arrivals(3) == [0.0, 0.5, 1.0]
    assert replay(path).arrivals(4) == [0.0, 0.5, 1.0, 5.0]


def test_jsonl_numbers_and_timestamp_entries(tmp_path):
    numbers = write(tmp_path, "n.jsonl", "0\n0.25\n\n1\n")
    entries = write(tmp_path, "e.jsonl", '{"timestamp": 10, "id": "a"}\n{"timestamp": 10.5}\n')
    assert replay(numbers).arrivals(3) == [0.0, 0.25, 1.0]
    assert replay(entries).arrivals(2) == [0.0, 0.5]


def test_a_vllm_bench_serve_result_replays_its_start_times(tmp_path):
    result = {"date": "20250101-000000", "duration": 3.2, "completed": 3, "request_rate": 2.0,
              "start_times": [5000.5, 5000.0, 5001.75], "ttfts": [0.1, 0.1, 0.1], "errors": ["", "", ""]}
    assert replay(write(tmp_path, "r.json", json.dumps(result))).arrivals(3) == [0.0, 0.5, 1.75]
    assert replay(write(tmp_path, "r.jsonl", json.dumps(result) + "\n")).arrivals(2) == [0.0, 0.5]


def test_a_vllm_result_without_start_times_or_several_results_are_one_sentence(tmp_path):
    summary = {"duration": 3.2, "completed": 3, "request_throughput": 0.9}
    with pytest.raises(SustainError, match="no `start_times`: rerun `vllm bench serve` with --save-result"):
        replay(write(tmp_path, "r.json", json.dumps(summary)))
    appended = json.dumps({**summary, "start_times": [0]}) + "\n" + json.dumps({**summary, "start_times": [1]})
    with pytest.raises(SustainError, match="keep the one run to replay"):
        replay(write(tmp_path, "a.jsonl", appended))


def test_too_few_times_are_refused_in_one_sentence(tmp_path):
    profile = replay(write(tmp_path, "s.json", "[0, 1]"))
    with pytest.raises(SustainError, match=r"has 2 send times for 3 requests: .*task.limit=2"):
        profile.arrivals(3)


@pytest.mark.parametrize("text", ['{"a": [1]}x', '["soon"]', "[1, null]", "[true]", "[1, NaN]", "[]"])
def test_files_without_a_schedule_are_one_sentence(tmp_path, text):
    with pytest.raises(SustainError, match="load.schedule=.*(no schedule|no send times)"):
        read_schedule(write(tmp_path, "bad.json", text))


def test_a_missing_file_or_path_is_one_sentence(tmp_path):
    with pytest.raises(SustainError, match="cannot be read"):
        replay(str(tmp_path / "nope.json"))
    with pytest.raises(SustainError, match="load=replay needs a schedule: load.schedule=path"):
        build(ReplayConfig(), "load")


def test_a_replay_declares_its_rate_so_the_achieved_rate_is_reported(tmp_path):
    cfg = ReplayConfig(schedule=write(tmp_path, "s.json", "[0, 0.5, 1.0, 2.0]"))
    assert cfg.rate == pytest.approx(1.5) and mean_rate([0.0, 0.0]) == math.inf
    records = [RequestRecord(str(i), 10, 4, "", "stop", a, a, a + 0.1, a + 0.4)
               for i, a in enumerate([100.0, 100.5, 101.0, 102.0])]
    figures = measure_latency(records, records, 100.0, 102.4, 4, cfg).metrics()
    assert figures["achieved_request_rate_req_s"] == pytest.approx(1.5)
    without = measure_latency(records, records, 100.0, 102.4, 4, SimpleNamespace(slo=None)).metrics()
    assert "achieved_request_rate_req_s" not in without


def test_replay_composes_with_its_schema(tmp_path):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from sustain.config import register
    from tests.conftest import ROOT

    register()
    path = write(tmp_path, "s.json", "[0, 1]")
    with initialize_config_dir(config_dir=str(ROOT / "src" / "sustain" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["load=replay", f"load.schedule={path}"])
    load = OmegaConf.to_object(cfg.load)
    assert isinstance(load, ReplayConfig) and load.schedule == path and load.rate == 1.0
    assert build(load, "load").arrivals(2) == [0.0, 1.0]
