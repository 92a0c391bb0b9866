"""The streaming chat client against the stand-in server: records, token times, usage, loads, errors."""

import sys

import pytest

from sustain.engines import server, streaming
from sustain.errors import SustainError
from sustain.load.concurrency import ConcurrencyConfig
from sustain.load.poisson import PoissonConfig
from sustain.metrics.latency import peak_in_flight
from sustain.plugins import build
from tests.conftest import ROOT

STANDIN = str(ROOT / "scripts" / "standin_server.py")


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    port = server.free_port()
    argv = [sys.executable, STANDIN, str(port), "--tokens", "12", "--delay-ms", "20", "--api-key", "k"]
    with server.running(argv, f"http://127.0.0.1:{port}/health", tmp_path_factory.mktemp("s") / "s.log", 60):
        yield f"http://127.0.0.1:{port}/v1"


def body(max_tokens=12):
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens, "stream": True,
            "stream_options": {"include_usage": True}}


def test_every_token_is_timed_and_usage_is_read(standin):
    seen = []
    result = streaming.run(streaming.Endpoint(standin, "m", "k"), [("a", body()), ("b", body(5))],
                           build(PoissonConfig(rate=20.0, seed=1), "load"), seen.append, timeout_s=30)
    by_id = {r.id: r for r in result.records}
    assert sorted(r.id for r in seen) == ["a", "b"]
    a, b = by_id["a"], by_id["b"]
    assert a.output_tokens == 12 and len(a.token_times_s) == 12 and a.prompt_tokens == 7
    assert a.finish_reason == "stop" and b.finish_reason == "length" and b.output_tokens == 5
    assert a.output_text == "yes " * 12 and a.error is None
    assert a.arrival_s < a.first_token_s <= a.last_token_s and a.token_times_s == sorted(a.token_times_s)
    assert all(gap > 0.005 for gap in a.itl_s)  # the stand-in waits 20 ms between tokens
    # the span ends when the last response is done, as `vllm bench serve`'s duration does
    assert result.start_s <= a.arrival_s and result.end_s >= max(a.last_token_s, b.last_token_s)


def test_concurrency_caps_requests_in_flight(standin):
    result = streaming.run(streaming.Endpoint(standin, "m", "k"), [(str(i), body(4)) for i in range(6)],
                           build(ConcurrencyConfig(max_in_flight=2), "load"), lambda r: None, timeout_s=30)
    assert len(result.records) == 6 and peak_in_flight(result.records) <= 2


def test_a_wrong_key_is_one_sentence_and_the_key_is_never_shown(standin):
    with pytest.raises(SustainError, match="refused the API key") as err:
        streaming.run(streaming.Endpoint(standin, "m", "secret-wrong"), [("a", body())],
                      build(ConcurrencyConfig(max_in_flight=1), "load"), lambda r: None, timeout_s=30)
    assert "secret-wrong" not in str(err.value) and "secret-wrong" not in repr(streaming.Endpoint(standin, "m", "x"))


def test_an_unreachable_server_is_an_error_record():
    port = server.free_port()
    result = streaming.run(streaming.Endpoint(f"http://127.0.0.1:{port}/v1", "m"), [("a", body())],
                           build(ConcurrencyConfig(max_in_flight=1), "load"), lambda r: None, timeout_s=5)
    (r,) = result.records
    assert r.error and "Connect" in r.error and r.first_token_s is None and r.finish_reason is None


def test_the_openai_engine_refuses_an_unreachable_endpoint_and_a_wrong_key(standin, monkeypatch):
    from sustain.engines.openai import check_reachable

    port = server.free_port()
    with pytest.raises(SustainError, match="cannot be reached") as err:
        check_reachable(streaming.Endpoint(f"http://127.0.0.1:{port}/v1", "m"))
    assert err.value.kind == "unreachable"
    with pytest.raises(SustainError, match="refused the API key"):
        check_reachable(streaming.Endpoint(standin, "m", "wrong"))
    check_reachable(streaming.Endpoint(standin, "m", "k"))


@pytest.fixture(scope="module")
def closing_standin(tmp_path_factory):
    """A stand-in that closes each connection 50 ms after a streamed response it announced as keep-alive, as
    llama.cpp's llama-server does."""
    port = server.free_port()
    argv = [sys.executable, STANDIN, str(port), "--tokens", "3", "--close-after-stream-ms", "50"]
    with server.running(argv, f"http://127.0.0.1:{port}/health", tmp_path_factory.mktemp("c") / "s.log", 60):
        yield f"http://127.0.0.1:{port}/v1"


@pytest.mark.parametrize("keep_alive", [True, False])
def test_a_server_that_closes_after_each_stream_loses_no_request_without_keep_alive(closing_standin, keep_alive):
    """Requests one after another: with keep-alive the next one goes out on the connection the server is about to
    close and is lost (the CI failure of the llama.cpp sessions test); without, every one is answered."""
    result = streaming.run(streaming.Endpoint(closing_standin, "m", keep_alive=keep_alive),
                           [(str(i), body(3)) for i in range(20)], build(ConcurrencyConfig(max_in_flight=1), "load"),
                           lambda r: None, timeout_s=30)
    errors = [r.error for r in result.records if r.error]
    if keep_alive:
        assert errors and all("ServerDisconnected" in e for e in errors)
    else:
        assert errors == []

