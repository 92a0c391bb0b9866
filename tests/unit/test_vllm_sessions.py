"""The offline engine's session loop (`vllm_worker.SessionRunner`) driven by a fake LLMEngine on a fake clock."""

from types import SimpleNamespace

import pytest

from sustain.config import ModelConfig, QuantizationConfig
from sustain.engines.base import EngineJob, Sampling
from sustain.engines.vllm import VllmEngine, VllmEngineConfig
from sustain.engines.vllm_worker import SessionRunner, sessions_of
from sustain.types import Session, Turn

STEP_S = 0.1


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class FakeEngine:
    """LLMEngine's add_request / step / has_unfinished_requests: each request makes one token a step and
    finishes after `steps` steps; its reply names its id; a prompt holding "TOO LONG" is refused."""

    def __init__(self, clock: Clock, steps: int = 2, cached: int = 7) -> None:
        self.clock, self.steps, self.cached = clock, steps, cached
        self.added: list[tuple[str, str, object, float]] = []  # (id, prompt, params, time)
        self.live: dict[str, int] = {}

    def add_request(self, rid: str, prompt: str, params: object) -> None:
        if "TOO LONG" in prompt:
            raise ValueError("prompt is longer than max_model_len")
        self.added.append((rid, prompt, params, self.clock()))
        self.live[rid] = 0

    def has_unfinished_requests(self) -> bool:
        return bool(self.live)

    def step(self) -> list[SimpleNamespace]:
        self.clock.now += STEP_S
        outs = []
        for rid in list(self.live):
            self.live[rid] += 1
            done = self.live[rid] >= self.steps
            if done:
                del self.live[rid]
            completion = SimpleNamespace(token_ids=[0] * self.live.get(rid, self.steps), text=f"reply to {rid}",
                                         finish_reason="stop" if done else None)
            outs.append(SimpleNamespace(request_id=rid, finished=done, prompt_token_ids=[1, 2, 3], metrics=None,
                                        num_cached_tokens=self.cached, outputs=[completion]))
        return outs


def render(messages):
    return " | ".join(f"{m['role']}: {m['content']}" for m in messages)


def drive(sessions, history="generated", steps=2):
    clock = Clock()
    engine = FakeEngine(clock, steps)
    records = []
    runner = SessionRunner(engine, sessions, history, render, lambda max_tokens: max_tokens, records.append,
                           clock=clock, sleep=clock.sleep)
    start = runner.run()
    return start, engine, records, clock


def user(text):
    return ({"role": "user", "content": text},)


def test_turns_go_in_order_each_after_the_previous_reply_and_its_delay():
    a = Session("a", (Turn(user("a0")), Turn(user("a1"), delay_s=1.0), Turn(user("a2"), delay_s=0.5)))
    b = Session("b", (Turn(user("b0"), delay_s=0.25), Turn(user("b1"))))
    start, engine, records, clock = drive([a, b])
    added = {rid: t for rid, _, _, t in engine.added}
    assert [rid for rid, *_ in engine.added] == ["a/0", "b/0", "b/1", "a/1", "a/2"]
    finished = {r["id"]: r["token_times_s"][-1] for r in records}
    assert added["a/0"] == start and added["b/0"] >= start + 0.25
    assert added["a/1"] >= finished["a/0"] + 1.0 and added["a/2"] >= finished["a/1"] + 0.5
    assert added["b/1"] >= finished["b/0"]
    assert [(r["session_id"], r["turn"]) for r in records if r["session_id"] == "a"] == [("a", 0), ("a", 1), ("a", 2)]
    assert all(r["error"] is None and r["cached_tokens"] == 7 for r in records)


def test_idle_waits_sleep_until_the_next_turn_is_due_instead_of_spinning():
    s = Session("s", (Turn(user("x")), Turn(user("y"), delay_s=3.0)))
    _, engine, _, clock = drive([s])
    assert clock.slept == [pytest.approx(3.0)]
    assert engine.added[1][3] == pytest.approx(engine.added[0][3] + 2 * STEP_S + 3.0)


def test_the_history_holds_generated_replies_or_recorded_ones_with_their_tool_calls():
    call = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    turns = (Turn(user("q"), recorded={"content": "recorded answer", "tool_calls": call}),
             Turn(({"role": "tool", "content": "42", "tool_call_id": "c1"},)))
    s = Session("s", turns, system="be brief")
    _, generated, _, _ = drive([s], "generated")
    assert generated.added[1][1] == "system: be brief | user: q | assistant: reply to s/0 | tool: 42"
    _, recorded, _, _ = drive([s], "recorded")
    assert recorded.added[1][1] == "system: be brief | user: q | assistant: recorded answer | tool: 42"


def test_a_turn_that_cannot_be_added_ends_its_session_alone():
    bad = Session("bad", (Turn(user("fine")), Turn(user("TOO LONG")), Turn(user("never"))))
    good = Session("good", (Turn(user("g0")), Turn(user("g1"))))
    _, engine, records, _ = drive([bad, good])
    assert [rid for rid, *_ in engine.added] == ["bad/0", "good/0", "good/1"]
    failed = [r for r in records if r["error"]]
    assert len(failed) == 1 and failed[0]["id"] == "bad/1" and failed[0]["turn"] == 1
    assert failed[0]["session_id"] == "bad" and "max_model_len" in failed[0]["error"]
    assert sorted(r["id"] for r in records) == ["bad/0", "bad/1", "good/0", "good/1"]


def test_a_turns_own_max_tokens_reaches_its_sampling_params():
    s = Session("s", (Turn(user("x"), max_tokens=5), Turn(user("y"))))
    _, engine, _, _ = drive([s])
    assert [params for _, _, params, _ in engine.added] == [5, None]


def test_the_spec_carries_sessions_as_plain_data_that_the_worker_reads_back(tmp_path):
    sessions = [Session("s", (Turn(user("x"), delay_s=0.5, max_tokens=9, recorded={"content": "r"}),),
                        system="sys", expected={"answer": 1})]
    job = EngineJob(model=ModelConfig(name="m", path=str(tmp_path)), quantization=QuantizationConfig(),
                    batch_size=2, gpus=1, requests=[], sampling=Sampling(8, 0.0, 1.0, 0), decoding=None,
                    out_dir=tmp_path, sessions=sessions, history="recorded")
    engine = VllmEngine(VllmEngineConfig())
    engine.model_path = str(tmp_path)
    spec = engine.spec(job, tmp_path / "engine.log")
    assert spec["history"] == "recorded" and spec["requests"] == []
    back = sessions_of(spec["sessions"])
    assert back == [Session("s", sessions[0].turns, system="sys")]


def test_prefix_caching_can_be_switched_off_through_engine_args(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    job = EngineJob(model=ModelConfig(name="m", path=str(tmp_path)), quantization=QuantizationConfig(),
                    batch_size=2, gpus=1, requests=[], sampling=Sampling(8, 0.0, 1.0, 0), decoding=None,
                    out_dir=tmp_path, sessions=[Session("s", (Turn(user("x")),))])
    engine = VllmEngine(VllmEngineConfig(args={"enable_prefix_caching": False}))
    engine.prepare(job)
    assert engine.spec(job, tmp_path / "engine.log")["engine_args"]["enable_prefix_caching"] is False


def test_reasoning_tokens_end_with_the_closing_tag():
    from sustain.engines.vllm_worker import reasoning_tokens

    class Chars:  # one token a character
        def decode(self, ids):
            return "".join(chr(i) for i in ids)

    text = "so... </think>Paris"
    assert reasoning_tokens(Chars(), [ord(c) for c in text], text) == len("so... </think>")
    assert reasoning_tokens(Chars(), [ord(c) for c in "Paris"], "Paris") == 0
