"""The judge end to end against a fake OpenAI-compatible endpoint (a tiny http.server on 127.0.0.1)."""

import json
import logging
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sustain.errors import SustainError
from sustain.judge import JudgeConfig, JudgeItem, evaluate
from sustain.judge.endpoints import LocalJudgeConfig, OpenAIJudgeConfig

KEY = "sk-test-DO-NOT-LEAK-4f2a9c"
OPENAI = "sustain.judge.endpoints.OpenAICompatible"
KEY_ENV = "SUSTAIN_TEST_JUDGE_KEY"


def completion(content: str, finish: str = "stop") -> dict:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "fake-judge",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def verdict(score, feedback="ok") -> tuple[int, dict]:
    return 200, completion(json.dumps({"feedback": feedback, "score": score}))


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        status, payload = self.server.reply("\n".join(m["content"] for m in body["messages"]))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    """Start a fake endpoint whose answer to each prompt is `reply(prompt) -> (status, json)`."""
    servers = []

    def start(reply):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        srv.daemon_threads = True
        srv.requests, srv.reply = [], reply
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)


def config(srv_or_url, tmp_path, **kw) -> OpenAIJudgeConfig:
    url = srv_or_url if isinstance(srv_or_url, str) else f"http://127.0.0.1:{srv_or_url.server_port}/v1"
    base = dict(_target_=OPENAI, name="openai", base_url=url, model="fake-judge", api_key_env=KEY_ENV,
                cache_dir=str(tmp_path / "cache"), timeout_s=10.0, max_retries=0, concurrency=2)
    return OpenAIJudgeConfig(**{**base, **kw})


def items(*outputs: str) -> list[JudgeItem]:
    return [JudgeItem(f"ex-{i}", json.dumps({"context": ["c"], "response": "r"}), out,
                      json.dumps({"result": "GROUNDED"})) for i, out in enumerate(outputs)]


def by_output(table: dict[str, tuple[int, dict]]):
    """Answer according to which evaluated output the prompt carries."""
    def reply(prompt: str):
        for marker, answer in table.items():
            if marker in prompt:
                return answer
        return 500, {"error": {"message": "unexpected prompt"}}
    return reply


def jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_scores_map_levels_to_the_papers_scale(endpoint, key_env, tmp_path):
    srv = endpoint(by_output({"OUT-GOOD": verdict(3), "OUT-MID": verdict(2), "OUT-BAD": verdict(1, "wrong")}))
    result = evaluate(config(srv, tmp_path), items("OUT-GOOD", "OUT-MID", "OUT-BAD"), tmp_path / "job")

    assert result.scores == {"ex-0": 1.0, "ex-1": 0.5, "ex-2": 0.0}
    assert result.failures == {} and result.n_scored == 3 and result.n_cached == 0
    assert result.mean == pytest.approx(0.5) and result.std == pytest.approx((1 / 6) ** 0.5)
    assert result.feedback["ex-2"] == "wrong"
    assert result.model == "fake-judge" and result.endpoint == f"http://127.0.0.1:{srv.server_port}/v1"
    assert result.time_s > 0
    # a remote endpoint's energy is nothing this machine can see: no figure, and the label says why
    assert result.energy_j is None and result.energy_source == "not measured (remote endpoint)"
    assert not result.energy_measured and "judge_energy_j" not in result.metrics()
    assert result.tags()["judge.energy_source"] == "not measured (remote endpoint)"
    assert result.metrics()["judge_score_mean"] == pytest.approx(0.5)
    rows = jsonl(tmp_path / "job" / "judge.jsonl")
    assert [(r["id"], r["score"], r["raw_score"], r["failure"]) for r in rows] == [
        ("ex-0", 1.0, 3, None), ("ex-1", 0.5, 2, None), ("ex-2", 0.0, 1, None)]
    assert os.environ["RAGAS_DO_NOT_TRACK"] == "true"


def test_request_carries_rubric_inputs_and_decoding(endpoint, key_env, tmp_path):
    srv = endpoint(lambda prompt: verdict(3))
    item = JudgeItem("x", '{"context": ["INPUT-MARK"]}', "OUTPUT-MARK", '{"result": "REFERENCE-MARK"}')
    evaluate(config(srv, tmp_path, temperature=0.0, max_tokens=77), [item], tmp_path / "job")

    [request] = srv.requests
    body = request["body"]
    assert request["path"] == "/v1/chat/completions" and body["model"] == "fake-judge"
    assert body["temperature"] == 0.0 and body["max_tokens"] == 77
    assert body["response_format"] == {"type": "json_object"}
    prompt = body["messages"][-1]["content"]
    rubric_line = "score3_description: The response is factually accurate"
    for marker in ("INPUT-MARK", "OUTPUT-MARK", "REFERENCE-MARK", rubric_line):
        assert marker in prompt
    assert "score4_description" not in prompt and "capital of France" not in prompt


def test_constrain_holds_the_request_to_the_rubric_schema_and_levels(endpoint, key_env, tmp_path):
    srv = endpoint(lambda prompt: verdict(2))
    plain = evaluate(config(srv, tmp_path), items("a"), tmp_path / "plain")
    held = evaluate(config(srv, tmp_path, constrain=True), items("a"), tmp_path / "held")

    off, on = (request["body"] for request in srv.requests)
    assert off["response_format"] == {"type": "json_object"}
    assert on["response_format"]["type"] == "json_schema"
    schema = on["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["feedback", "score"]
    assert schema["properties"]["score"]["type"] == "integer" and schema["properties"]["score"]["enum"] == [1, 2, 3]
    assert schema["properties"]["feedback"]["type"] == "string" and schema["properties"]["feedback"]["maxLength"] > 0
    assert on["temperature"] == off["temperature"] and on["max_tokens"] == off["max_tokens"]
    assert '"enum": [1, 2, 3]' in on["messages"][-1]["content"]
    assert '"enum"' not in json.dumps(off)
    assert plain.scores == held.scores == {"ex-0": 0.5} and held.n_cached == 0


def test_a_constrained_answer_off_the_levels_is_re_asked(endpoint, key_env, tmp_path):
    answers = iter([verdict(5), verdict(3)])
    srv = endpoint(lambda prompt: next(answers))
    result = evaluate(config(srv, tmp_path, constrain=True, max_retries=1), items("a"), tmp_path / "job")
    assert result.scores == {"ex-0": 1.0} and len(srv.requests) == 2


def test_rerun_is_served_from_the_cache(endpoint, key_env, tmp_path):
    srv = endpoint(by_output({"OUT-A": verdict(3, "fine"), "OUT-B": verdict(2, "so-so")}))
    cfg = config(srv, tmp_path)
    first = evaluate(cfg, items("OUT-A", "OUT-B"), tmp_path / "run1")
    sent = len(srv.requests)
    second = evaluate(cfg, items("OUT-A", "OUT-B"), tmp_path / "run2")

    assert sent == 2 and len(srv.requests) == sent
    assert second.scores == first.scores and second.feedback == first.feedback
    assert second.n_cached == 2 and all(r["cached"] for r in jsonl(tmp_path / "run2" / "judge.jsonl"))

    other_model = evaluate(config(srv, tmp_path, model="other-judge"), items("OUT-A"), tmp_path / "run3")
    assert other_model.n_cached == 0 and len(srv.requests) == sent + 1


def test_cache_off_sends_every_time(endpoint, key_env, tmp_path):
    srv = endpoint(lambda prompt: verdict(3))
    cfg = config(srv, tmp_path, cache=False)
    evaluate(cfg, items("a"), tmp_path / "r1")
    evaluate(cfg, items("a"), tmp_path / "r2")
    assert len(srv.requests) == 2 and not (tmp_path / "cache").exists()


def test_garbage_answers_are_recorded_per_item_and_the_run_goes_on(endpoint, key_env, tmp_path):
    srv = endpoint(by_output({
        "OUT-GOOD": verdict(3),
        "OUT-PROSE": (200, completion("The response looks fine to me, I would say 3.")),
        "OUT-FIVE": verdict(5),
        "OUT-NOFIELD": (200, completion(json.dumps({"score": 2}))),
        "OUT-CUT": (200, completion('{"feedback": "long', finish="length")),
        "OUT-500": (500, {"error": {"message": "boom"}}),
    }))
    outputs = ("OUT-GOOD", "OUT-PROSE", "OUT-FIVE", "OUT-NOFIELD", "OUT-CUT", "OUT-500")
    result = evaluate(config(srv, tmp_path, max_retries=1), items(*outputs), tmp_path / "job")

    assert result.scores["ex-0"] == 1.0 and result.n_scored == 1 and result.mean == 1.0
    assert set(result.failures) == {"ex-1", "ex-2", "ex-3", "ex-4", "ex-5"}
    assert "not the expected JSON after 2 attempt(s)" in result.failures["ex-1"]
    assert "score 5" in result.failures["ex-2"]
    assert "not the expected JSON" in result.failures["ex-3"] and "feedback" in result.failures["ex-3"]
    assert "max_tokens" in result.failures["ex-4"]
    assert "HTTP 500" in result.failures["ex-5"]
    rows = {r["id"]: r for r in jsonl(tmp_path / "job" / "judge.jsonl")}
    assert all(rows[i]["score"] is None and rows[i]["failure"] for i in result.failures)
    assert rows["ex-2"]["raw_score"] == 5


def test_a_judge_that_only_answers_garbage_scores_nothing_without_stopping(endpoint, key_env, tmp_path):
    srv = endpoint(lambda prompt: (200, completion("no idea")))
    result = evaluate(config(srv, tmp_path), items("a", "b", "c"), tmp_path / "job")
    assert result.n_scored == 0 and result.mean is None and len(result.failures) == 3
    assert "judge_score_mean" not in result.metrics()


def test_timeout_is_a_per_item_failure(endpoint, key_env, tmp_path):
    def reply(prompt):
        if "OUT-SLOW" in prompt:
            time.sleep(3)
        return verdict(3)

    srv = endpoint(reply)
    result = evaluate(config(srv, tmp_path, timeout_s=1.0), items("OUT-FAST", "OUT-SLOW"), tmp_path / "job")
    assert result.scores["ex-0"] == 1.0
    assert "Timeout" in result.failures["ex-1"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_endpoint_is_one_clear_error(key_env, tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    with pytest.raises(SustainError) as err:
        evaluate(config(url, tmp_path), items("a", "b", "c"), tmp_path / "job")
    message = str(err.value)
    assert message.startswith(f"The judge endpoint {url} cannot be reached")
    assert "judge.base_url" in message and "\n" not in message
    assert len(jsonl(tmp_path / "job" / "judge.jsonl")) == 3


def test_wrong_key_stops_after_one_request_and_never_shows_the_key(endpoint, key_env, tmp_path):
    srv = endpoint(lambda prompt: (401, {"error": {"message": f"Incorrect API key provided: {KEY}",
                                                    "type": "invalid_request_error", "code": "invalid_api_key"}}))
    with pytest.raises(SustainError) as err:
        evaluate(config(srv, tmp_path), items("a", "b", "c"), tmp_path / "job")
    assert "HTTP 401" in str(err.value) and KEY_ENV in str(err.value) and KEY not in str(err.value)
    assert len(srv.requests) == 1
    assert KEY not in (tmp_path / "job" / "judge.jsonl").read_text()


def test_unknown_model_is_one_clear_error(endpoint, key_env, tmp_path):
    srv = endpoint(lambda prompt: (404, {"error": {"message": "The model does not exist"}}))
    with pytest.raises(SustainError, match="HTTP 404 for model 'fake-judge'"):
        evaluate(config(srv, tmp_path), items("a"), tmp_path / "job")


def test_endpoint_lost_after_some_scores_keeps_them(endpoint, key_env, tmp_path):
    srv = endpoint(by_output({"OUT-A": verdict(3), "OUT-B": (401, {"error": {"message": "key revoked"}})}))
    result = evaluate(config(srv, tmp_path, concurrency=1), items("OUT-A", "OUT-B"), tmp_path / "job")
    assert result.scores == {"ex-0": 1.0, "ex-1": None} and "HTTP 401" in result.failures["ex-1"]


def test_missing_key_variable_is_named(monkeypatch, tmp_path):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(SustainError, match=f"environment variable {KEY_ENV}, which is not set"):
        evaluate(config("http://127.0.0.1:9/v1", tmp_path), items("a"), tmp_path / "job")


def test_the_key_is_sent_but_stored_nowhere(endpoint, key_env, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    srv = endpoint(by_output({"OUT-A": verdict(3), "OUT-B": (200, completion("garbage"))}))
    result = evaluate(config(srv, tmp_path), items("OUT-A", "OUT-B"), tmp_path / "job")

    assert {r["auth"] for r in srv.requests} == {f"Bearer {KEY}"}
    assert KEY not in repr(result) and KEY not in json.dumps(result.__dict__, default=str)
    assert KEY not in json.dumps(result.metrics()) + json.dumps(result.tags())
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in files)
    for path in files:
        assert KEY not in path.read_text(errors="replace"), path
    assert KEY not in caplog.text


def test_invalid_settings_fail_before_any_request(tmp_path):
    with pytest.raises(SustainError, match="judge=openai or judge=local"):
        evaluate(JudgeConfig(name="none"), items("a"), tmp_path)
    with pytest.raises(SustainError, match="judge.concurrency=0"):
        evaluate(OpenAIJudgeConfig(model="m", concurrency=0), items("a"), tmp_path)
    with pytest.raises(SustainError, match="needs judge.model"):
        evaluate(OpenAIJudgeConfig(), items("a"), tmp_path)
    with pytest.raises(SustainError, match="repeats"):
        evaluate(OpenAIJudgeConfig(model="m"), items("a") + items("b"), tmp_path)
    with pytest.raises(SustainError, match="judge.startup_timeout_s"):
        evaluate(LocalJudgeConfig(startup_timeout_s=0), items("a"), tmp_path)


def test_a_local_judge_is_metered_with_the_runs_energy_settings(tmp_path):
    """Nothing to serve (every verdict cached): no server starts, but the meter follows the run's `energy`."""
    import contextlib

    from sustain.energy.config import EstimateConfig
    from sustain.energy.meters import CpuEstimateConfig, EstimateMeter
    from sustain.judge.endpoints import LocalServer

    energy = CpuEstimateConfig(interval_s=0.2, estimate=EstimateConfig(tdp_w=30.0))
    with contextlib.ExitStack() as stack:
        startup_s, meter, notes = LocalServer(LocalJudgeConfig()).serve(stack, tmp_path / "log", energy, needed=False)
    assert startup_s == 0.0 and not (tmp_path / "log").exists()
    assert isinstance(meter, EstimateMeter) and meter.tdp_w == 30.0 and meter.interval_s == 0.2 and notes == []
