"""The whole pipeline in seconds: a fake engine stands in for vLLM, everything after it is real
(task plugin, estimate meter, attribution, metrics, MLflow on SQLite, artifacts)."""

import json
import sys
import time

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from sustain import pipeline
from sustain.config import register
from sustain.engines.base import Engine
from sustain.engines.records import EngineRun, RequestRecord
from sustain.errors import SustainError
from sustain.report.summary import format_summary
from sustain.tasks import hallucination

from pathlib import Path

CONF = Path(__file__).resolve().parents[2] / "src" / "sustain" / "conf"
GOOD = '{"result": "GROUNDED", "sources": [], "reason": "ok"}'
TOKENS, TOKEN_S = 4, 0.01


class FakeEngine(Engine):
    """Runs `batch_size` requests at a time, `TOKENS` tokens each, one every `TOKEN_S` seconds; every
    other answer is valid JSON naming GROUNDED, the rest is prose (an Error)."""

    def prepare(self, job):
        self.model_path = "fake"

    def run(self, job, on_loaded, on_record):
        on_loaded({"load_s": 0.0, "info": {"platform": None, "devices": ["fake"]}})
        start = time.monotonic()
        records = []
        for i in range(0, len(job.requests), job.batch_size):
            batch = job.requests[i:i + job.batch_size]
            arrival = time.monotonic()
            times = []
            for _ in range(TOKENS):
                time.sleep(TOKEN_S)
                times.append(time.monotonic())
            for k, req in enumerate(batch):
                text = GOOD if (i + k) % 2 == 0 else "It is grounded."
                records.append(RequestRecord(req.id, 100, TOKENS, text, "stop", start, arrival, times[0],
                                             times[-1], token_times_s=list(times)))
                on_record(records[-1])
        return EngineRun(records=records, start_s=start, end_s=time.monotonic(), load_s=0.0, info={})


def compose_cfg(tmp_path, *overrides):
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[
            f"engine._target_={__name__}.FakeEngine", "energy=estimate", "task.limit=12", "batch_size=2",
            f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", f"tracking.artifact_root={tmp_path}/artifacts",
            f"checkpoint_dir={tmp_path}/checkpoints", "energy.min_window_s=0", *overrides,
        ])
    return OmegaConf.to_object(cfg), OmegaConf.to_container(cfg, resolve=True)


def test_a_run_logs_the_task_metric_energy_per_correct_and_predictions(tmp_path):
    typed, resolved = compose_cfg(tmp_path)
    summary = pipeline.run(typed, resolved, tmp_path / "out")
    m = summary["metrics"]
    gold = [ex.label for ex in hallucination.load("embedded", 12).examples]
    correct = sum(label == "GROUNDED" for label in gold[::2])  # even positions answer GROUNDED
    assert m["n_requests"] == 12 and m["n_correct"] == correct > 0
    assert m["quality"] == m["macro_f1"] and summary["run"]["primary_metric"] == "macro_f1"
    assert m["energy_per_correct_j"] == pytest.approx(m["energy_per_request_j_mean"] * 12 / correct)
    assert m["window_tokens_counted"] > 0 and "window_tokens_uniform" in m
    rows = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").open()]
    assert {"predicted", "gold", "correct", "output"} <= set(rows[0]) and "label" not in rows[0]
    assert [r["predicted"] for r in rows[:2]] == ["GROUNDED", "Error"]
    assert summary["tags"]["task.primary_metric"] == "macro_f1" and summary["tags"]["engine"] == "vllm"


def test_no_correct_answer_leaves_energy_per_correct_undefined(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "GOOD", "nope")
    typed, resolved = compose_cfg(tmp_path)
    summary = pipeline.run(typed, resolved, tmp_path / "out")
    assert summary["metrics"]["n_correct"] == 0 and "energy_per_correct_j" not in summary["metrics"]
    assert summary["tags"]["energy_per_correct"] == "undefined: no correct answer"


def test_an_unknown_plugin_target_is_one_sentence(tmp_path):
    typed, resolved = compose_cfg(tmp_path, "task._target_=sustain.tasks.nope.Nope")
    with pytest.raises(SustainError, match=r"task._target_=sustain.tasks.nope.Nope names no class"):
        pipeline.run(typed, resolved, tmp_path / "out")


def test_the_reference_is_a_plugin_and_an_om_on_another_measure_is_said_to_be_so(tmp_path):
    """Default: GPT-4o's judge score against this run's macro F1, flagged; a reference on the run's own
    measure is comparable; reference=none gives no OM; an earlier run by tags is read through MLflow."""
    typed, resolved = compose_cfg(tmp_path)
    first = pipeline.run(typed, resolved, tmp_path / "a")
    assert first["overall"]["reference"]["quality_metric"] == "judge_score_mean"
    assert first["overall"]["comparable"] is False and first["tags"]["om.comparable"] == "false"
    assert "not like with like: this run's quality against the reference's judge_score_mean" in format_summary(first)

    typed, resolved = compose_cfg(tmp_path, "reference.quality_metric=quality", "reference.quality=0.5")
    same = pipeline.run(typed, resolved, tmp_path / "b")
    assert same["overall"]["comparable"] is True and same["metrics"]["reference_quality"] == 0.5

    typed, resolved = compose_cfg(tmp_path, "reference=none", "rerun=true")
    assert pipeline.run(typed, resolved, tmp_path / "c")["overall"] == {}

    typed, resolved = compose_cfg(tmp_path, "reference=mlflow_run", "+reference.tags={batch_size: '2'}",
                                  "rerun=true")
    earlier = pipeline.run(typed, resolved, tmp_path / "d")["overall"]
    assert earlier["comparable"] is True and earlier["reference"]["name"].startswith("run smollm2_135m")
