"""The live agent task: its environments on hand-worked episodes (a table; Python tools in the jail, with
state across calls, a tool that raises, loops or writes outside its folder), the validity of calls, scoring
sessions from hand-made records, bad task files, the shipped data and configs, and a user's own task."""

import importlib.util
import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from sustain.errors import SustainError
from sustain.jail import Jail, Limits
from sustain.tasks.agent import PROCESS_FLAG, AgentTask, AgentTaskConfig, contains
from sustain.tasks.agent_env import Toolbox
from sustain.types import ToolCall

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "sustain" / "tasks" / "data" / "agent"


def tool(name, **properties):
    return {"type": "function", "function": {"name": name, "description": name, "parameters": {
        "type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}}}


TOOLS = [tool("note", text={"type": "string"}), tool("boom", x={"type": "integer"}),
         tool("spin", x={"type": "integer"}), tool("escape", path={"type": "string"}),
         tool("add", a={"type": "number"}, b={"type": "number"})]
TOOLS_PY = """\
STATE = {"notes": []}


def note(text):
    STATE["notes"].append(text)
    return {"notes": len(STATE["notes"])}


def boom(x):
    raise ValueError(f"no {x}")


def spin(x):
    while True:
        x += 1


def escape(path):
    with open(path, "w") as fh:
        fh.write("out")
    return "written"


def add(a, b):
    if a == -1:
        STATE["big"] = "x" * 100000
    return a + b
"""
NOTES = {"id": "notes", "task": "Note a, then b.", "tools": ["note", "add"],
         "expected": {"state": {"notes": ["a", "b"]}, "calls": ["note"]}}
SUM = {"id": "sum", "task": "What is 2 + 3?", "expected": {"final_contains": "5"}}
TABLE = {"add": [{"arguments": {"a": 2, "b": 3}, "result": {"value": 5}}], "note": [{"arguments": {"text": "a"},
                                                                                       "result": "noted"}]}


def folder(tmp_path, tasks=(NOTES, SUM), tools=TOOLS, tools_py=TOOLS_PY, table=None):
    """A task folder as a user writes it: tasks.jsonl, tools.json and tools.py (or table.json)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "tasks.jsonl").write_text("".join((t if isinstance(t, str) else json.dumps(t)) + "\n" for t in tasks))
    (tmp_path / "tools.json").write_text(tools if isinstance(tools, str) else json.dumps(tools))
    (tmp_path / "tools.py").write_text(tools_py)
    if table is not None:
        (tmp_path / "table.json").write_text(json.dumps(table))
    return tmp_path


def make(path, table=False, **kw):
    files = {"dataset": str(path / "tasks.jsonl"), "tools": str(path / "tools.json")}
    files.update({"tools_file": None, "table": str(path / "table.json")} if table else
                 {"tools_file": str(path / "tools.py")})
    task = AgentTask(AgentTaskConfig(**files, **kw))
    task.load()
    return task


@pytest.fixture(scope="module")
def jailed(tmp_path_factory):
    """The Python environment of the test folder, its tools run in the bubblewrap jail."""
    Jail(Limits()).check_available()
    return make(folder(tmp_path_factory.mktemp("agent")), tool_timeout_s=1.5)


def call(name, arguments, id="c"):
    return ToolCall(id, name, arguments if isinstance(arguments, str) else json.dumps(arguments))


def test_python_tools_keep_state_across_calls_and_report_it(jailed):
    episode = jailed.environment().start("notes")
    assert episode.call(call("note", {"text": "a"})).content == '{"notes": 1}'
    assert episode.call(call("note", {"text": "b"})).error is None
    assert episode.state() == {"notes": ["a", "b"]}
    other = jailed.environment().start("notes")  # a fresh episode starts from the tools file's STATE
    assert other.state() == {"notes": []}
    assert json.loads(jailed.environment().start("sum").call(call("add", {"a": 2, "b": 3.5})).content) == 5.5


def test_a_tool_that_raises_is_an_error_result_and_the_episode_goes_on(jailed):
    episode = jailed.environment().start("sum")
    result = episode.call(call("boom", {"x": 7}))
    assert result.error == "boom raised ValueError: no 7" and result.content.startswith("Error: boom raised")
    assert episode.call(call("add", {"a": 1, "b": 1})).content == "2"
    too_big = episode.call(call("add", {"a": -1, "b": 1}))
    assert too_big.error.startswith("add gave an answer and a STATE over") and episode.state() == {"notes": []}


def test_a_looping_tool_is_stopped_by_the_jail_limit(jailed):
    result = jailed.environment().start("sum").call(call("spin", {"x": 0}))
    assert result.error.startswith("spin ended without an answer") and "limit" in result.error, result.error


def test_a_tool_cannot_write_outside_its_folder(jailed, tmp_path):
    target, host = tmp_path / "escaped.txt", tmp_path / "host.txt"
    host.write_text("host")
    result = jailed.environment().start("sum").call(call("escape", {"path": str(target)}))
    assert result.error is not None and "escape raised" in result.error and not target.exists()
    assert jailed.environment().start("sum").call(call("escape", {"path": str(host)})).error is not None
    assert host.read_text() == "host"
    inside = jailed.environment().start("sum").call(call("escape", {"path": "scratch.txt"}))
    assert inside.error is None  # its own private working directory is writable


@pytest.mark.parametrize("made, why", [
    (call("note", '{"text": "a"'), "invalid call: the arguments are not valid JSON (Expecting ',' delimiter"),
    (call("note", '["a"]'), "invalid call: the arguments are a JSON array, not an object"),
    (call("nope", {}), "invalid call: no tool named 'nope' is offered; call one of note, add"),
    (call("boom", {"x": 1}), "invalid call: no tool named 'boom' is offered"),  # declared, not offered to this task
    (call("note", {"text": 3}), "invalid call: the arguments do not fit note's schema: 3 is not of type 'string'"),
    (call("note", {}), "invalid call: the arguments do not fit note's schema: 'text' is a required property"),
    (call("note", {"text": "a", "more": 1}), "invalid call: the arguments do not fit note's schema: Additional"),
])
def test_an_invalid_call_is_not_executed_and_says_why(jailed, made, why):
    episode = jailed.environment().start("notes")
    result = episode.call(made)
    assert result.error.startswith(why), result.error
    assert episode.state() == {"notes": []}


def test_table_hit_whatever_the_argument_order_and_a_miss(tmp_path):
    task = make(folder(tmp_path, table=TABLE), table=True)
    episode = task.environment().start("sum")
    assert episode.call(call("add", '{"b": 3,  "a": 2}')).content == '{"value": 5}'
    miss = episode.call(call("add", {"a": 2, "b": 4}))
    assert miss.error == 'no result is recorded for add with the arguments {"a":2,"b":4}'
    assert episode.call(call("note", {"text": 1})).error.startswith("invalid call")
    assert episode.state() == {}


def record(session, step, text="", calls=(), state=None, error=None):
    return SimpleNamespace(id=f"{session}/{step}", session_id=session, turn=step, output_text=None if error else text,
                           error=error, tool_calls=[{"id": f"c{i}", "name": n, "arguments": a}
                                                    for i, (n, a) in enumerate(calls)] or None, final_state=state)


def test_scoring_sessions_by_hand(tmp_path):
    rows = [NOTES, SUM, {**SUM, "id": "loop"}, {**SUM, "id": "wrong"}, {**SUM, "id": "unsent"}]
    task = make(folder(tmp_path, tasks=rows, table=TABLE), table=True, max_steps=2)
    records = [
        record("notes", 0, calls=[("note", '{"text": "a"}'), ("note", '{"text": 1}')]),
        record("notes", 1, calls=[("note", '{"text": "b"}')]),
        record("notes", 2, "Done.", state={"notes": ["a", "b"], "extra": 1}),  # holds the expected state
        record("sum", 0, calls=[("add", "{bad")]),
        record("sum", 1, "<think>2 + 3 is 5</think>It is 5.", state={}),
        record("loop", 0, calls=[("add", '{"a": 2, "b": 3}')]),
        record("loop", 1, calls=[("add", '{"a": 2, "b": 3}')], state={}),
        record("wrong", 0, "<think>5</think>It is 6.", state={}),
    ]
    result = task.score([task.predict_record(r) for r in records])
    assert result.primary == "agent_success_rate" and result.value == pytest.approx(2 / 5)
    assert result.metrics["tool_call_validity"] == pytest.approx(4 / 6)  # {"text": 1} and "{bad" are invalid
    assert result.metrics["steps_per_success"] == pytest.approx(8 / 2)
    assert result.metrics["tool_calls_per_session"] == pytest.approx(6 / 5)
    assert result.metrics["steps_per_session"] == pytest.approx(8 / 5) and result.metrics["sessions"] == 5
    assert [p.id for p in result.predictions if p.correct] == ["notes/2", "sum/1"]
    failures = {r["session"]: r["failure"] for r in result.details["sessions"]}
    assert failures == {"notes": None, "sum": None, "loop": "no final answer within 2 steps (task.max_steps)",
                        "wrong": "the final answer lacks one of ['5']",
                        "unsent": "no request of the session was answered"}
    assert result.tags == {"agent.environment": "table"} and result.flags == []


def test_success_needs_the_state_the_calls_and_a_reply(tmp_path):
    task = make(folder(tmp_path, table=TABLE), table=True)
    score = lambda *rs: task.score([task.predict_record(r) for r in rs]).details["sessions"][0]["failure"]  # noqa: E731
    assert score(record("notes", 0, "Done.", state={"notes": ["a"]})) == \
        "the final state does not hold the expected state"
    assert score(record("notes", 0, "Done.", state={"notes": ["a", "b"]})) == "no valid call of note"
    assert score(record("notes", 0, calls=[("note", '{"text": "a"}')]),
                 record("notes", 1, error="HTTP 500")) == "request failed: HTTP 500"
    assert contains({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}}) and not contains({"a": [1, 2]}, {"a": [1]})


def test_thousands_separators_and_no_calls_keep_the_figures_honest(tmp_path):
    big = {"id": "big", "task": "1234 * 5678?", "expected": {"final_contains": "7006652"}}
    task = make(folder(tmp_path, tasks=[big], table=TABLE), table=True)
    result = task.score([task.predict_record(record("big", 0, "It is 7,006,652.", state={}))])
    assert result.value == 1.0 and "tool_call_validity" not in result.metrics  # no call: no validity figure
    failed = task.score([task.predict_record(record("big", 0, "It is 7,006,653.", state={}))])
    assert failed.value == 0.0 and "steps_per_success" not in failed.metrics


BAD_LINES = [
    ("{not json", "line 1 is not valid JSON"),
    (json.dumps({"id": 1, "task": "x"}), "line 1: field 'expected' is missing or names no end"),
    (json.dumps({"id": 1, "task": "x", "expected": {"calls": ["note"]}}), "field 'expected' is missing or names no"),
    (json.dumps({"id": 1, "task": "x", "expected": {"final_contains": "y", "calls": ["nope"]}}),
     "line 1: field 'expected.calls' names tool 'nope', which this task does not offer"),
    (json.dumps({"id": 1, "task": "x", "tools": ["note"], "expected": {"final_contains": "y", "calls": ["add"]}}),
     "field 'expected.calls' names tool 'add', which this task does not offer"),
    (json.dumps({"id": 1, "task": "x", "tools": ["nope"], "expected": {"final_contains": "y"}}),
     "line 1: field 'tools' names 'nope', which"),
    (json.dumps({"id": 1, "task": "x", "expected": {"final_contains": "y", "answer": 1}}),
     "field 'expected' has the unknown key 'answer'"),
    (json.dumps({"id": 1, "task": "x", "expected": {"state": []}}), "field 'expected.state' must be a non-empty"),
    (json.dumps({"id": 1, "expected": {"final_contains": "y"}}), "line 1: field 'task' is missing"),
]


@pytest.mark.parametrize("line, says", BAD_LINES)
def test_a_bad_task_line_is_one_sentence_naming_file_and_line(tmp_path, line, says):
    with pytest.raises(SustainError) as caught:
        make(folder(tmp_path, tasks=[line], table=TABLE), table=True)
    message = str(caught.value)
    assert says in message and str(tmp_path / "tasks.jsonl") in message and message.count(". ") == 0, message


BAD_TOOLS = [
    ("[", "tools.json is not valid JSON"),
    ([tool("note", text={"type": "strin"})], "tool 'note' field 'parameters' is not valid JSON Schema"),
    ([{"type": "function", "function": {"name": "x y"}}], "tool 0 is not an OpenAI tool object"),
    ([tool("note"), tool("note")], "tool 1 repeats the name 'note'"),
]


@pytest.mark.parametrize("tools, says", BAD_TOOLS)
def test_bad_tool_schemas_are_one_sentence(tmp_path, tools, says):
    with pytest.raises(SustainError) as caught:
        make(folder(tmp_path, tasks=[SUM], tools=tools, table={}), table=True)
    assert says in str(caught.value) and str(caught.value).count(". ") == 0, caught.value


@pytest.mark.parametrize("table, says", [
    ({"nope": []}, "tool 'nope' is not declared in the tool schemas"),
    ({"add": [{"arguments": {"a": "2", "b": 3}, "result": 5}]}, "add[0].arguments do not fit the tool's schema"),
    ({"add": [{"arguments": {"a": 2, "b": 3}}]}, 'add[0] must be {"arguments": {...}, "result": ...}'),
])
def test_a_bad_table_is_one_sentence(tmp_path, table, says):
    with pytest.raises(SustainError) as caught:
        make(folder(tmp_path, table=table), table=True)
    assert says in str(caught.value) and str(caught.value).count(". ") == 0, caught.value


def test_a_tools_file_must_define_every_declared_tool_and_load(tmp_path, jailed):
    with pytest.raises(SustainError, match="defines no function add, which the tool schemas declare"):
        make(folder(tmp_path / "a", tools_py=TOOLS_PY.replace("def add(", "def plus(")))
    with pytest.raises(SustainError, match="tools.py cannot be loaded in the bwrap jail: it raised "
                                           "ModuleNotFoundError: No module named 'nowhere'"):
        make(folder(tmp_path / "b", tools_py="from nowhere import thing\n" + TOOLS_PY))
    with pytest.raises(SustainError, match="cannot be loaded in the bwrap jail: its STATE is not a dict"):
        make(folder(tmp_path / "c", tools_py=TOOLS_PY.replace('STATE = {"notes": []}', "STATE = [1]")))
    with pytest.raises(SustainError, match="cannot be loaded in the bwrap jail: it left a STATE that is not JSON"):
        make(folder(tmp_path / "d", tools_py=TOOLS_PY.replace('STATE = {"notes": []}', "STATE = {1: object()}")))
    with pytest.raises(SustainError, match="exactly one of task.tools_file"):
        AgentTask(AgentTaskConfig(table="t.json"))


def test_the_process_jail_is_flagged_on_every_figure(tmp_path):
    task = make(folder(tmp_path), jail="process")
    assert task.environment().start("sum").call(call("add", {"a": 1, "b": 2})).content == "3"
    result = task.score([task.predict_record(record("sum", 0, "5", state={}))])
    assert result.flags == [PROCESS_FLAG] and result.tags["agent.jail"] == "process"


def test_validity_is_recomputed_from_the_schemas():
    box = Toolbox(TOOLS)
    assert box.check({"name": "add", "arguments": {"a": 1, "b": 2}}, ["add"]) == ({"a": 1, "b": 2}, None)
    assert box.check({"name": "add", "arguments": '{"a": 1}'}, ["add"])[1].endswith("'b' is a required property")


def test_shipped_files_are_the_generator_output(tmp_path):
    spec = importlib.util.spec_from_file_location("make_agent_dataset", ROOT / "scripts" / "make_agent_dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in ("tasks.jsonl", "tools.json", "facts.json"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), "run: python scripts/make_agent_dataset.py"


def test_shipped_yaml_composes_loads_and_its_tools_answer_in_the_jail():
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    from tests.fakes import compose_config

    typed = OmegaConf.to_object(compose_config("task=agent").task)
    assert type(typed).__name__ == "AgentTaskConfig" and typed.name == "agent" and typed.max_steps == 6
    task = get_class(typed._target_)(typed)
    task.load()
    sessions = task.sessions()
    assert 20 <= len(sessions) <= 40 and all(s.live and s.max_steps == 6 and s.expected for s in sessions)
    assert task.requests() == [] and len(sessions[0].turns) == 1
    episode = task.environment().start("cart-stock-limit")
    assert episode.call(call("add_to_cart", {"sku": "FB-502", "quantity": 4})).error.endswith("the cart would hold 4")
    assert episode.call(call("add_to_cart", {"sku": "FB-502", "quantity": 3})).error is None
    assert contains(episode.state(), task.examples["cart-stock-limit"].session.expected["state"])
    kettle = task.environment().start("shop-sku").call(call("lookup_product", {"product": "nimbus kettle"}))
    assert json.loads(kettle.content)["sku"] == "NK-310"


def test_cli_prints_the_composed_job(sustain_cmd, run_env):
    done = subprocess.run([*sustain_cmd, "task=agent", "--cfg", "job"], capture_output=True, text=True,
                          env=run_env, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "_target_: sustain.tasks.agent.AgentTask" in done.stdout and "max_steps: 6" in done.stdout


USER_YAML = """\
defaults:
  - agent_schema
_target_: sustain.tasks.agent.AgentTask
name: my_agent
dataset: {folder}/tasks.jsonl
tools: {folder}/tools.json
tools_file: {folder}/tools.py
max_steps: 4
"""


def test_a_users_own_agent_task_from_a_folder_runs_with_no_change_to_sustain(tmp_path, jailed):
    from hydra import compose, initialize_config_dir
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    from sustain.config import register

    mine = folder(tmp_path / "my-agent")
    (mine / "conf" / "task").mkdir(parents=True)
    (mine / "conf" / "task" / "my_agent.yaml").write_text(USER_YAML.format(folder=mine))
    register()
    with initialize_config_dir(config_dir=str(ROOT / "src" / "sustain" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"hydra.searchpath=[file://{mine / 'conf'}]", "task=my_agent"])
    typed = OmegaConf.to_object(cfg.task)
    task = get_class(typed._target_)(typed)
    task.load()
    assert [s.id for s in task.sessions()] == ["notes", "sum"] and task.sessions()[0].max_steps == 4
    assert [t["function"]["name"] for t in task.sessions()[0].tools] == ["note", "add"]
    episode = task.environment().start("notes")
    episode.call(call("note", {"text": "a"}))
    assert episode.state() == {"notes": ["a"]}


def test_metrics_are_declared_in_the_agent_group():
    from sustain.registry import registry

    for name in ("agent_success_rate", "tool_call_validity", "steps_per_success", "tool_calls_per_session",
                 "steps_per_session"):
        assert registry().get(name).group == "agent", name
