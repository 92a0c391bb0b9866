"""judge=local for real: a vLLM OpenAI server serving the embedded model judges a few outputs.

A 135M judge judges badly; this checks the mechanics: the server starts on loopback, constrained decoding
gets scores on the paper's scale out of even this judge (every item ends scored or with a recorded failure,
at least one scored, so a mean is reported), time and energy are measured, and the server is gone
afterwards. (The cache is covered by the unit tests.)
"""

import json
import socket
import time
from urllib.parse import urlparse

import psutil
import pytest

from sustain.judge import evaluate
from sustain.judge.endpoints import LocalJudgeConfig
from sustain.tasks.hallucination import item_for
from sustain.judge.server import entrypoint
from sustain.tasks import hallucination

pytestmark = pytest.mark.slow


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def servers_on(port: int) -> list[psutil.Process]:
    module = entrypoint()
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if module in cmdline and str(port) in cmdline:
            found.append(proc)
    return found


def test_local_judge_starts_scores_and_stops(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    examples = hallucination.load("embedded", limit=4).examples
    outputs = [
        json.dumps(examples[0].reference),
        json.dumps(examples[1].reference),
        '{"result": "UNGROUNDED", "sources": [], "reason": "The weather is nice."}',
        "I am not sure what you mean.",
    ]
    items = [item_for(ex, out) for ex, out in zip(examples, outputs)]
    cfg = LocalJudgeConfig(constrain=True, model="embedded", cache_dir=str(tmp_path / "cache"), max_tokens=256)

    result = evaluate(cfg, items, tmp_path / "job")

    port = urlparse(result.endpoint).port
    assert result.endpoint == f"http://127.0.0.1:{port}/v1"
    for item in items:
        scored = result.scores[item.id] in (0.0, 0.5, 1.0)
        failed = bool(result.failures.get(item.id))
        assert scored != failed, (item.id, result.scores[item.id], result.failures.get(item.id))
    assert result.n_scored + len(result.failures) == len(items)
    assert result.n_scored >= 1, result.failures
    assert result.mean is not None and 0.0 <= result.mean <= 1.0
    assert result.metrics()["judge_score_mean"] == result.mean
    assert result.startup_s > 0 and result.time_s > 0 and result.energy_j > 0 and result.energy_source
    rows = [json.loads(line) for line in (tmp_path / "job" / "judge.jsonl").read_text().splitlines()]
    assert [row["id"] for row in rows] == [item.id for item in items]
    log = (tmp_path / "job" / "judge-server.log").read_text()
    assert log.count("POST /v1/chat/completions") >= len(items)

    deadline = time.monotonic() + 10
    while servers_on(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not servers_on(port) and not port_open(port)

