"""The sessions tasks: reading and checking a sessions file, delays, the tools in the prompt, scoring
sessions by hand, the synthetic generator, and the shipped data and configs."""

import copy
import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from sustain.errors import SustainError
from sustain.tasks.sessions import SessionsTask, SessionsTaskConfig
from sustain.tasks.synthetic_sessions import SyntheticSessionsConfig, SyntheticSessionsTask

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "sustain" / "tasks" / "data" / "sessions.jsonl"
TOOL = {"type": "function", "function": {"name": "calculator", "description": "Evaluate arithmetic.", "parameters": {
    "type": "object", "properties": {"expression": {"type": "string"}}}}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "calculator", "arguments": '{"expression": "2+3"}'}}
ADD = {"id": "add", "system": "Be brief.", "tools": [TOOL], "expected": {"final_contains": ["Five", "apples"]},
       "turns": [{"messages": [{"role": "user", "content": "2+3 apples?"}], "delay_s": 0.5,
                  "recorded": {"role": "assistant", "content": "", "tool_calls": [CALL]}},
                 {"messages": [{"role": "tool", "tool_call_id": "call_1", "content": "5"}], "delay_s": 0.25,
                  "recorded": {"role": "assistant", "content": "5 apples."}}]}
CHAT = {"id": "chat", "turns": [{"messages": [{"role": "user", "content": "Hi"}]},
                                {"messages": [{"role": "user", "content": "Bye"}], "delay_s": 2}]}
NAME = {"id": "name", "expected": {"final_contains": "Ada"},
        "turns": [{"messages": [{"role": "user", "content": "Who wrote the first program?"}]}]}


def write(tmp_path, rows):
    path = tmp_path / "s.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def make(tmp_path, rows, **kw):
    task = SessionsTask(SessionsTaskConfig(dataset=str(write(tmp_path, rows)), **kw))
    task.load()
    return task


def record(session, turn, text="ok", error=None):
    return SimpleNamespace(id=f"{session}/{turn}", session_id=session, turn=turn,
                           output_text=None if error else text, error=error)


def test_embedded_set_has_the_shape_of_agent_traces():
    task = SessionsTask(SessionsTaskConfig())
    task.load()
    sessions = task.sessions()
    assert 12 <= len(sessions) <= 16 and task.source.endswith("sessions.jsonl") and task.requests() == []
    assert all(3 <= len(s.turns) <= 8 for s in sessions)
    assert len({s.system for s in sessions}) == 1  # one shared prefix
    assert 1000 <= len(sessions[0].system) / 3.6 <= 2000  # about 1,000-2,000 tokens at ~3.6 characters a token
    assert sum(s.expected is not None for s in sessions) > len(sessions) / 2
    tool_turns = [t for s in sessions for t in s.turns if t.messages[0]["role"] == "tool"]
    assert tool_turns and all(0.1 <= t.delay_s <= 1.0 for t in tool_turns)
    user_turns = [t for s in sessions for t in s.turns[1:] if t.messages[0]["role"] == "user"]
    assert user_turns and all(0.5 <= t.delay_s <= 3.0 for t in user_turns)
    assert all(s.turns[0].delay_s == 0 for s in sessions)


def test_shipped_file_is_the_generator_output(tmp_path):
    spec = importlib.util.spec_from_file_location("make_sessions", ROOT / "scripts" / "make_sessions_dataset.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    module.main(tmp_path / "s.jsonl")
    assert (tmp_path / "s.jsonl").read_bytes() == DATA.read_bytes(), "run: python scripts/make_sessions_dataset.py"


def test_a_file_is_read_into_sessions(tmp_path):
    task = make(tmp_path, [ADD, CHAT], limit=1)
    (add,) = task.sessions()
    assert task.ids == ["add"] and add.request_id(1) == "add/1"
    assert [t.messages[0]["role"] for t in add.turns] == ["user", "tool"]
    assert add.expected == {"final_contains": ["Five", "apples"]}
    assert make(tmp_path, [NAME]).sessions()[0].expected == {"final_contains": ["Ada"]}  # one string: a list of one


def test_history_holds_generated_or_recorded_replies_with_the_recorded_calls(tmp_path):
    add = make(tmp_path, [ADD]).sessions()[0]
    assert add.reply(0, "let me compute", "generated") == {"role": "assistant", "content": "let me compute",
                                                          "tool_calls": [CALL]}
    assert add.reply(0, "let me compute", "recorded") == {"role": "assistant", "content": "", "tool_calls": [CALL]}
    assert add.reply(1, "It is 5.", "recorded") == {"role": "assistant", "content": "5 apples."}
    assert add.reply(1, "It is 5.", "generated") == {"role": "assistant", "content": "It is 5."}


def test_tools_rendered_into_the_system_text(tmp_path):
    system = make(tmp_path, [ADD]).sessions()[0].system
    assert system.startswith("Be brief.\n\n# Tools") and json.dumps(TOOL, sort_keys=True) in system
    assert make(tmp_path, [ADD], tools_in_prompt=False).sessions()[0].system == "Be brief."
    assert make(tmp_path, [CHAT]).sessions()[0].system is None  # no tools, no system: nothing sent


def test_delays_recorded_none_and_exponential(tmp_path):
    rows = [ADD, CHAT]
    delays = lambda **kw: [[t.delay_s for t in s.turns] for s in make(tmp_path, rows, **kw).sessions()]  # noqa: E731
    assert delays() == [[0.5, 0.25], [0.0, 2.0]]
    assert delays(delays="none") == [[0.0, 0.0], [0.0, 0.0]]
    drawn = delays(delays="exponential", delay_mean_s=2.0, seed=7)
    assert drawn == delays(delays="exponential", delay_mean_s=2.0, seed=7)  # seeded
    assert drawn != delays(delays="exponential", delay_mean_s=2.0, seed=8)
    assert [d[0] for d in drawn] == [0.0, 0.0] and all(d[1] > 0 for d in drawn)
    assert delays(delays="exponential", delay_mean_s=2.0, seed=7, limit=1) == drawn[:1]  # a session's own draws
    with pytest.raises(SustainError, match="delay_mean_s=0 is no mean delay"):
        make(tmp_path, rows, delays="exponential", delay_mean_s=0)
    with pytest.raises(SustainError, match="task.delays=poisson is not one of recorded, none, exponential"):
        make(tmp_path, rows, delays="poisson")
    with pytest.raises(SustainError, match="task.history=mine is not one of generated, recorded"):
        make(tmp_path, rows, history="mine")


def bad(**changes):
    row = copy.deepcopy(ADD)
    for path, value in changes.items():
        node, *keys = path.split("__")
        target = row
        for key in [node, *keys][:-1]:
            target = target[int(key) if key.isdigit() else key]
        last = [node, *keys][-1]
        target[int(last) if last.isdigit() else last] = value
    return row


@pytest.mark.parametrize("row, message", [
    ("{not json", r"line 2 is not valid JSON \(.*\): fix or remove it"),
    ({"id": "x"}, r"line 2: field 'turns' is missing"),
    (bad(turns=[]), r"line 2: field 'turns' is an empty list; give the session at least one turn"),
    (bad(turns__0__messages=[]), r"line 2: turns\[0\].messages is missing or empty"),
    (bad(turns__0__messages__0={"role": "user"}), r"line 2: turns\[0\].messages\[0\] has no content"),
    (bad(turns__1__messages__0={"role": "tool", "tool_call_id": "call_1"}),
     r"line 2: turns\[1\].messages\[0\] has no content; give the tool message its tool result"),
    (bad(turns__0__messages__0={"role": "assistant", "content": "hi"}),
     r"line 2: turns\[0\].messages\[0\] has role 'assistant', not one of user, tool"),
    (bad(turns__1__delay_s="soon"), r"line 2: turns\[1\].delay_s is 'soon', not a number of seconds >= 0"),
    (bad(turns__1__delay_s=-1), r"line 2: turns\[1\].delay_s is -1, not a number"),
    (bad(turns__1__delay_s=True), r"line 2: turns\[1\].delay_s is True"),
    (bad(tools={"calculator": {}}), r"line 2: field 'tools' must be a list of OpenAI tool objects"),
    (bad(tools=[{"name": "calculator"}]), r"line 2: field 'tools' must be a list of OpenAI tool objects"),
    (bad(expected="Five"), r"line 2: field 'expected' must be \{\"final_contains\""),
    (bad(expected={"final_contains": []}), r"line 2: field 'expected' must be"),
    (bad(expected={"contains": "x"}), r"line 2: field 'expected' must be"),
    (bad(turns__1__messages__0__tool_call_id="call_9"), r"line 2: turns\[1\].messages\[0\].tool_call_id 'call_9' "
                                                        r"names no call of the previous turn's recorded tool_calls"),
    (bad(turns__0__recorded={"role": "assistant", "tool_calls": [{"id": "c"}]}),
     r"line 2: turns\[0\].recorded.tool_calls must be a list of OpenAI tool calls"),
    (bad(turns__0__max_tokens=0), r"line 2: turns\[0\].max_tokens is 0, not a positive integer"),
    (bad(system=["a"]), r"line 2: field 'system' must be a string"),
])
def test_bad_file_is_one_sentence_naming_the_line(tmp_path, row, message):
    with pytest.raises(SustainError, match=message) as caught:
        make(tmp_path, [CHAT, row])
    assert str(caught.value).count(". ") == 0 and str(tmp_path / "s.jsonl") in str(caught.value)


def test_predict_reads_each_turn(tmp_path):
    task = make(tmp_path, [ADD, CHAT])
    first = task.predict_record(record("add", 0, "Calling the calculator."))
    assert (first.id, first.gold, first.correct, first.detail) == ("add/0", None, False, {"session": "add", "turn": 0})
    last = task.predict_record(record("add", 1, "<think>2+3=5</think>Five APPLES."))
    assert last.predicted == "Five APPLES." and last.gold == ["Five", "apples"] and last.correct
    assert not task.predict_record(record("add", 1, "<think>five apples</think>5")).correct  # thinking is not the reply
    failed = task.predict_record(record("add", 1, error="timeout"))
    assert failed.predicted is None and not failed.correct and "timeout" in failed.parse_error
    assert task.predict("chat/1", "bye").detail == {"session": "chat", "turn": 1}  # a record without session fields


def test_scoring_sessions_by_hand(tmp_path):
    task = make(tmp_path, [ADD, CHAT, NAME])
    preds = [task.predict_record(r) for r in [
        record("add", 0, "calling"), record("add", 1, "five apples"),  # complete, successful
        record("chat", 0, "hello"), record("chat", 1, error="engine died"),  # incomplete
    ]]  # "name": no record at all, so incomplete
    result = task.score(preds)
    assert result.primary == "session_success_rate" and result.value == pytest.approx(1 / 2)  # add of add, name
    assert result.metrics == {"session_success_rate": 0.5, "session_completion_rate": pytest.approx(1 / 3),
                              "sessions": 3.0, "n": 4.0}
    assert result.n_correct == 1 and [p.correct for p in preds] == [False, True, False, False]
    assert [(r["session"], r["completed"], r["successful"]) for r in result.details["sessions"]] == [
        ("add", True, True), ("chat", False, False), ("name", False, False)]


def test_a_final_reply_after_a_failed_turn_is_not_a_success(tmp_path):
    task = make(tmp_path, [ADD])
    preds = [task.predict_record(record("add", 0, error="503")), task.predict_record(record("add", 1, "Five apples"))]
    assert preds[1].correct  # read alone, the last turn meets the expected end
    result = task.score(preds)
    assert result.value == 0.0 and result.n_correct == 0 and not preds[1].correct


def test_without_expected_ends_completion_is_primary(tmp_path):
    task = make(tmp_path, [CHAT])
    result = task.score([task.predict_record(record("chat", t, "fine")) for t in (0, 1)])
    assert result.primary == "session_completion_rate" and result.value == 1.0
    assert "session_success_rate" not in result.metrics and result.n_correct == 0  # nothing to succeed at


def test_judge_item_and_example_field(tmp_path):
    task = make(tmp_path, [ADD])
    item = task.judge_item("add/1", "<think>hm</think>5 apples")
    assert (item.input, item.output, item.reference) == ("5", "5 apples", "Five, apples")
    assert task.judge_item("add/0", "x").reference == "" and task.judge_item("add/0", "x").input == "2+3 apples?"
    assert task.example_field("add/1", "system") == "Be brief." and task.example_field("add", "nope") is None


def synthetic(**kw):
    task = SyntheticSessionsTask(SyntheticSessionsConfig(**kw))
    task.load()
    return task.sessions()


def test_synthetic_counts_and_seeding():
    sessions = synthetic(sessions=5, turns=3, shared_prefix_tokens=40, session_prefix_tokens=10, turn_tokens=7,
                         output_tokens=9, think_time_s=1.5)
    assert len(sessions) == 5 and all(len(s.turns) == 3 for s in sessions)
    assert len({s.system for s in sessions}) == 1 and len(sessions[0].system.split()) == 40
    first = sessions[0].turns
    assert len(first[0].messages[0]["content"].split()) == 10 + 7 and len(first[1].messages[0]["content"].split()) == 7
    assert [t.delay_s for t in first] == [0.0, 1.5, 1.5] and all(t.max_tokens == 9 for t in first)
    assert len(first[0].recorded["content"].split()) == 9 and sessions[0].expected is None
    assert len({s.turns[0].messages[0]["content"] for s in sessions}) == 5  # only the shared prefix is shared
    spec = dict(turns={"dist": "uniform", "low": 2, "high": 6}, turn_tokens={"dist": "lognormal", "mean": 30,
                "sigma": 0.5}, think_time_s={"dist": "exponential", "mean": 2.0})
    drawn = synthetic(sessions=20, seed=3, **spec)
    assert drawn == synthetic(sessions=20, seed=3, **spec) and drawn != synthetic(sessions=20, seed=4, **spec)
    assert synthetic(sessions=5, seed=3, **spec) == drawn[:5]  # session i does not depend on task.sessions
    assert {len(s.turns) for s in drawn} <= set(range(2, 7)) and len({len(s.turns) for s in drawn}) > 1
    assert synthetic(sessions=2, shared_prefix_tokens=0)[0].system is None


@pytest.mark.parametrize("key, spec, message", [
    ("turns", {"dist": "normal", "mean": 3}, "task.turns=.* is not a size: use a number"),
    ("turns", -1, "task.turns=-1 is negative"),
    ("turn_tokens", {"dist": "uniform", "low": 9, "high": 3}, "low is above high"),
    ("think_time_s", {"dist": "exponential", "mean": 0}, "the mean must be positive"),
    ("output_tokens", {"dist": "lognormal", "mean": 9}, "dist lognormal takes mean, sigma"),
    ("sessions", 0, "task.sessions=0 generates no session"),
])
def test_synthetic_bad_sizes(key, spec, message):
    with pytest.raises(SustainError, match=message):
        SyntheticSessionsTask(SyntheticSessionsConfig(**{key: spec}))


@pytest.mark.parametrize("name, kind", [("sessions", "SessionsTaskConfig"),
                                        ("sessions_synthetic", "SyntheticSessionsConfig")])
def test_shipped_yaml_composes_to_its_kind_and_loads(name, kind):
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    from tests.fakes import compose_config

    typed = OmegaConf.to_object(compose_config(f"task={name}", "task.limit=2").task)
    assert type(typed).__name__ == kind and typed.name == name
    task = get_class(typed._target_)(typed)
    task.load()
    assert len(task.sessions()) == 2 and task.requests() == []


def test_cli_prints_the_composed_job(sustain_cmd, run_env):
    import subprocess

    done = subprocess.run([*sustain_cmd, "task=sessions", "--cfg", "job"], capture_output=True, text=True,
                          env=run_env, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "_target_: sustain.tasks.sessions.SessionsTask" in done.stdout and "history: generated" in done.stdout


def test_metrics_are_declared_in_the_session_group():
    from sustain.registry import registry

    for name in ("session_success_rate", "session_completion_rate", "sessions"):
        assert registry().get(name).group == "session", name
