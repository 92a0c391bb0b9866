"""`task=agent`: live agent tasks. The model acts: its tool calls are answered by the task's environment and
sent back until a reply without a tool call (the final answer) or `task.max_steps` requests; each task is
scored on whether it ended as expected, how many steps it took and how many of its calls were valid.

A task folder holds a tasks file (JSONL, one task a line: `{"id", "task", "system"?, "tools"?: [names],
"expected": {"final_contains"?, "state"?, "calls"?}}`), the tools' OpenAI schemas (`tools.json`) and either a
Python tools file run in the jail or a table of recorded results (docs/guides/agents.md has every field).
Every file is checked before an engine starts: a bad one fails in one sentence naming file, line and field.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from sustain import tool_calls
from sustain.errors import SustainError
from sustain.jail import Limits, jail_for
from sustain.metrics.quality import strip_reasoning
from sustain.registry import MAXIMIZE, MINIMIZE, NEITHER, Metric
from sustain.tasks.agent_env import (
    PythonEnvironment, TableEnvironment, Toolbox, canonical, schema_error, schema_problem,
)
from sustain.tasks.base import EMBEDDED, JudgeItem, Prediction, QualityResult, Request, Task, TaskConfig, dataset_path
from sustain.tasks.examples import Row, read_rows
from sustain.tasks.sessions import meets
from sustain.types import Session, ToolEnvironment, Turn

SUCCESS = "agent_success_rate"
VALIDITY = "tool_call_validity"
ENDS = ("final_contains", "state", "calls")
SYSTEM = ("You are an agent that completes the user's task with the tools you are given. Call a tool whenever "
          "you need a fact or a computation; when you have what you need, reply with the final answer in one "
          "short sentence.")
PROCESS_FLAG = ("agent tools ran WITHOUT the bubblewrap jail (task.jail=process): the tools file could read and "
                "change the host's files and reach its network")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


@dataclass
class AgentTaskConfig(TaskConfig):
    _target_: str = "sustain.tasks.agent.AgentTask"
    name: str = "agent"
    dataset: str = EMBEDDED  # the tasks, JSONL; embedded: tasks/data/agent/tasks.jsonl
    tools: str = EMBEDDED  # the tools' OpenAI schemas, a JSON list; embedded: tasks/data/agent/tools.json
    tools_file: Optional[str] = EMBEDDED  # Python file of the tool functions, run in the jail; null: use table
    table: Optional[str] = None  # JSON {tool: [{"arguments", "result"}]} of recorded results (with tools_file null)
    system: str = SYSTEM  # the system prompt of a task that states none
    max_steps: int = 6  # requests per task at most (the last one's tool calls go unanswered)
    tool_calling: str = "api"  # api: the API's `tools`, parsed by the server (vLLM's tool-call parser, llama.cpp's
    # template); constrained: tools described in the system text, replies held to a call-or-answer JSON schema
    # (sustain.tool_calls): any engine and chat template, for models without native tool calling
    first_tool_choice: str = "auto"  # api only; required: the first request must call a tool
    max_tokens: int = 128
    jail: str = "bwrap"  # bwrap | process (weaker, opt-in: flagged on every figure of the run)
    tool_timeout_s: float = 5.0  # wall-clock limit per tool call (its CPU-time limit rounds it up)


@dataclass(frozen=True)
class AgentExample:
    session: Session
    offered: tuple[str, ...]  # the tools this task may call
    raw: dict[str, Any]

    @property
    def id(self) -> str:
        return self.session.id


class AgentTask(Task):
    examples: dict[str, AgentExample]

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        if (cfg.tools_file is None) == (cfg.table is None):
            raise SustainError("Set exactly one of task.tools_file (Python tools run in the jail) and task.table "
                               "(recorded results), and the other to null.")
        if cfg.tool_calling not in tool_calls.MODES:
            raise SustainError(f"task.tool_calling={cfg.tool_calling} is not one of {', '.join(tool_calls.MODES)}: "
                               f"choose one.")
        if cfg.first_tool_choice not in ("auto", "required"):
            raise SustainError(f"task.first_tool_choice={cfg.first_tool_choice} is not auto or required: choose one.")
        if cfg.max_steps < 1:
            raise SustainError(f"task.max_steps={cfg.max_steps} allows no request: use a positive number.")
        self.jail = jail_for(cfg.jail, Limits(wall_s=cfg.tool_timeout_s, cpu_s=max(1, math.ceil(cfg.tool_timeout_s))))
        self.toolbox = Toolbox(())
        self._env: PythonEnvironment | TableEnvironment | None = None

    def load(self) -> None:
        tools_path = _path(self.cfg.tools, "agent/tools.json", "task.tools")
        self.toolbox = Toolbox(read_tools(tools_path))
        path = dataset_path(self.cfg.dataset, "agent/tasks.jsonl")
        examples = [self._example(row, tools_path) for row in read_rows(path)]
        offered = {ex.id: ex.offered for ex in examples}
        if self.cfg.tools_file is not None:
            self._env = self._python(offered)
        else:
            table_path = _path(self.cfg.table, "agent/table.json", "task.table")
            self._env = TableEnvironment(self.toolbox, offered, read_table(table_path, self.toolbox))
        self._keep(examples, path)

    def _python(self, offered: dict[str, tuple[str, ...]]) -> PythonEnvironment:
        tools_file = _path(self.cfg.tools_file, "agent/tools.py", "task.tools_file")
        self.jail.check_available()
        env = PythonEnvironment(self.toolbox, offered, tools_file, self.jail)
        missing = sorted(set(self.toolbox.tools) - set(env.probe()))
        if missing:
            raise SustainError(f"The tools file {tools_file} defines no function {', '.join(missing)}, which the "
                               f"tool schemas declare: define it there or remove its schema.")
        return env

    def requests(self) -> list[Request]:
        return []

    def sessions(self) -> list[Session]:
        return [ex.session for ex in self.examples.values()]

    def environment(self) -> ToolEnvironment | None:
        return self._env

    def predict_record(self, record: Any) -> Prediction:
        session_id, step = record.session_id, record.turn
        if session_id is None or step is None:
            session_id, step = Session.split_request_id(record.id)
        return self._predict(record.id, session_id, step, record.output_text, record.error,
                             record.tool_calls or [], record.final_state)

    def predict(self, id: str, output: str | None, error: str | None = None) -> Prediction:
        return self._predict(id, *Session.split_request_id(id), output, error, [], None)

    def _predict(self, id: str, session_id: str, step: int, output: str | None, error: str | None,
                 tool_calls: list[dict[str, Any]], final_state: dict[str, Any] | None) -> Prediction:
        """One request of a session: its reply and each of its calls judged anew from the schemas (never from
        what the environment answered)."""
        ex = self.examples[session_id]
        calls = []
        for call in tool_calls:
            why = self.toolbox.check(call, ex.offered)[1]
            calls.append({"name": call.get("name"), "valid": why is None, **({"why": why} if why else {})})
        detail: dict[str, Any] = {"session": session_id, "step": step, "tool_calls": calls}
        if final_state is not None:
            detail["final_state"] = final_state
        if error is not None or output is None:
            return Prediction(id, None, ex.session.expected, False, parse_error=f"request failed: {error}",
                              detail=detail)
        reply = strip_reasoning(output) if self.cfg.strip_reasoning else output
        return Prediction(id, reply, ex.session.expected, False, detail=detail)

    def score(self, predictions: list[Prediction]) -> QualityResult:
        """Per session (its requests in step order): steps, calls, valid calls and success; the last request's
        `correct` is its session's success, so energy per correct answer is energy per successful task."""
        by_session: dict[str, list[Prediction]] = {}
        for p in predictions:
            by_session.setdefault(p.detail["session"], []).append(p)
        rows = [self._outcome(ex, sorted(by_session.get(ex.id, []), key=lambda p: p.detail["step"]))
                for ex in self.examples.values()]
        n, steps = len(rows), sum(r["steps"] for r in rows)
        calls, valid = sum(r["tool_calls"] for r in rows), sum(r["valid_tool_calls"] for r in rows)
        succeeded = sum(r["successful"] for r in rows)
        metrics = {SUCCESS: succeeded / n if n else 0.0, "tool_calls_per_session": calls / n if n else 0.0,
                   "steps_per_session": steps / n if n else 0.0, "sessions": float(n), "n": float(len(predictions))}
        if calls and self.cfg.tool_calling == "api":  # constrained calls are well-formed by construction
            metrics[VALIDITY] = valid / calls
        if succeeded:
            metrics["steps_per_success"] = steps / succeeded
        python = isinstance(self._env, PythonEnvironment)
        return QualityResult(SUCCESS, metrics, predictions, details={"sessions": rows, "summary": _reading(metrics, n, self.cfg.tool_calling == "constrained")},
                             flags=[PROCESS_FLAG] if python and self.jail.name == "process" else [],
                             tags={"agent.environment": "python" if python else "table",
                                   **({"agent.jail": self.jail.name} if python else {})})

    def _outcome(self, ex: AgentExample, preds: list[Prediction]) -> dict[str, Any]:
        calls = [c for p in preds for c in p.detail["tool_calls"]]
        failure = _failure(ex, preds, {c["name"] for c in calls if c["valid"]}, self.cfg.max_steps)
        if preds:
            preds[-1].correct = failure is None
        return {"session": ex.id, "steps": len(preds), "tool_calls": len(calls),
                "valid_tool_calls": sum(c["valid"] for c in calls), "successful": failure is None,
                "failure": failure}

    def judge_item(self, id: str, output: str) -> JudgeItem:
        ex = self.examples[Session.split_request_id(id)[0]]
        expected = ex.session.expected or {}
        reference = ", ".join(expected.get("final_contains", [])) or json.dumps(expected.get("state", {}))
        answer = strip_reasoning(output) if self.cfg.strip_reasoning else output
        return JudgeItem(id, ex.raw["task"], answer, reference)

    def example_field(self, id: str, name: str) -> Any:
        ex = self.examples.get(id) or self.examples.get(id.rpartition("/")[0])
        return None if ex is None else ex.raw.get(name)

    def _example(self, row: Row, tools_path: Path) -> AgentExample:
        text = row.field("task", str, "a string")
        if not text.strip():
            raise SustainError(f"{row.where}: field 'task' is empty; write the user's task as text.")
        system = row.data.get("system", self.cfg.system)
        if not isinstance(system, str):
            raise SustainError(f"{row.where}: field 'system' must be a string, got {type(system).__name__}; "
                               f"write the system prompt as text or leave the field out.")
        offered = _offered(row, self.toolbox, tools_path)
        schemas = self.toolbox.schemas(offered)
        if self.cfg.tool_calling == "constrained":
            system = tool_calls.describe(system, schemas)
        session = Session(str(row.data["id"]), (Turn(({"role": "user", "content": text},)),), system or None,
                          _expected(row, offered), schemas, self.cfg.max_steps, self.cfg.first_tool_choice,
                          self.cfg.tool_calling)
        return AgentExample(session, offered, row.data)


def _failure(ex: AgentExample, preds: list[Prediction], called: set[str], max_steps: int) -> str | None:
    """Why a session did not end as expected, or None for a success."""
    if not preds:
        return "no request of the session was answered"
    last, expected = preds[-1], ex.session.expected or {}
    if last.parse_error is not None:
        return last.parse_error
    if last.detail["tool_calls"]:
        return f"no final answer within {len(preds)} steps" + (" (task.max_steps)" if len(preds) >= max_steps else "")
    if "final_contains" in expected and not meets(expected, _THOUSANDS.sub("", last.predicted or "")):
        return f"the final answer lacks one of {expected['final_contains']}"
    if "state" in expected and not contains(last.detail.get("final_state"), expected["state"]):
        return "the final state does not hold the expected state"
    missing = [name for name in expected.get("calls", []) if name not in called]
    return f"no valid call of {', '.join(missing)}" if missing else None


def contains(state: Any, subset: Any) -> bool:
    """`state` holds `subset`: every key of a dict, recursively; any other value equal."""
    if isinstance(subset, dict):
        return isinstance(state, dict) and all(k in state and contains(state[k], v) for k, v in subset.items())
    return state == subset


def _path(value: str | None, embedded: str, key: str) -> Path:
    if value == EMBEDDED:
        return dataset_path(EMBEDDED, embedded)
    path = Path(str(value)).expanduser()
    if not path.is_file():
        raise SustainError(f"{key}={value} names no file: pass an existing file, or {key}=embedded for the "
                           f"built-in one.")
    return path


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise SustainError(f"{path} is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}): "
                           f"fix it.") from None


def read_tools(path: Path) -> list[dict[str, Any]]:
    """The declared tools: a JSON list of OpenAI tool objects with unique names and valid JSON Schemas."""
    tools = _json(path)
    if not isinstance(tools, list) or not tools:
        raise SustainError(f"{path} must be a non-empty JSON list of OpenAI tool objects; fix it.")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        ok = isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("function"), dict) \
            and isinstance(tool["function"].get("name"), str) and tool["function"]["name"].isidentifier()
        if not ok:
            raise SustainError(f"{path}: tool {i} is not an OpenAI tool object {{\"type\": \"function\", "
                               f"\"function\": {{\"name\": a Python name, \"description\", \"parameters\"}}}}; fix it.")
        name = tool["function"]["name"]
        if name in names:
            raise SustainError(f"{path}: tool {i} repeats the name {name!r}; give every tool its own name.")
        names.add(name)
        why = schema_problem(tool["function"].get("parameters", {}))
        if why:
            raise SustainError(f"{path}: tool {name!r} field 'parameters' is not valid JSON Schema ({why}); fix it.")
    return tools


def read_table(path: Path, toolbox: Toolbox) -> dict[str, dict[str, Any]]:
    """Recorded results `{tool: [{"arguments": {...}, "result": ...}]}`, keyed by canonical arguments."""
    table = _json(path)
    if not isinstance(table, dict):
        raise SustainError(f"{path} must be a JSON object {{tool: [{{\"arguments\", \"result\"}}]}}; fix it.")
    keyed: dict[str, dict[str, Any]] = {}
    for name, entries in table.items():
        if name not in toolbox.tools:
            raise SustainError(f"{path}: tool {name!r} is not declared in the tool schemas; declare it or remove "
                               f"its results.")
        if not isinstance(entries, list):
            raise SustainError(f"{path}: tool {name!r} must map to a list of {{\"arguments\", \"result\"}}; fix it.")
        for i, entry in enumerate(entries):
            where = f"{path}: {name}[{i}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("arguments"), dict) or "result" not in entry:
                raise SustainError(f"{where} must be {{\"arguments\": {{...}}, \"result\": ...}}; fix it.")
            why = schema_error(toolbox.tools[name]["function"].get("parameters", {}), entry["arguments"])
            if why:
                raise SustainError(f"{where}.arguments do not fit the tool's schema ({why}); fix them.")
            keyed.setdefault(name, {})[canonical(entry["arguments"])] = entry["result"]
    return keyed


def _offered(row: Row, toolbox: Toolbox, tools_path: Path) -> tuple[str, ...]:
    value = row.data.get("tools", "all")
    if value == "all":
        return tuple(toolbox.tools)
    if not isinstance(value, list) or not value or not all(isinstance(n, str) for n in value):
        raise SustainError(f"{row.where}: field 'tools' must be \"all\" or a non-empty list of tool names; fix it.")
    unknown = [n for n in value if n not in toolbox.tools]
    if unknown:
        raise SustainError(f"{row.where}: field 'tools' names {unknown[0]!r}, which {tools_path} does not declare; "
                           f"use some of {', '.join(toolbox.tools)}.")
    return tuple(dict.fromkeys(value))


def _expected(row: Row, offered: tuple[str, ...]) -> dict[str, Any]:
    expected = row.data.get("expected")
    if not isinstance(expected, dict) or not ({"final_contains", "state"} & set(expected)):
        raise SustainError(f"{row.where}: field 'expected' is missing or names no end; write "
                           f"{{\"final_contains\": \"text\"}} and/or {{\"state\": {{...}}}}.")
    extra = sorted(set(expected) - set(ENDS))
    if extra:
        raise SustainError(f"{row.where}: field 'expected' has the unknown key {extra[0]!r}; use only "
                           f"{', '.join(ENDS)}.")
    out: dict[str, Any] = {}
    if "final_contains" in expected:
        wanted = expected["final_contains"]
        wanted = [wanted] if isinstance(wanted, str) else wanted
        if not isinstance(wanted, list) or not wanted or not all(isinstance(s, str) and s.strip() for s in wanted):
            raise SustainError(f"{row.where}: field 'expected.final_contains' must be a non-empty string or list "
                               f"of them; fix it.")
        out["final_contains"] = wanted
    if "state" in expected:
        if not isinstance(expected["state"], dict) or not expected["state"]:
            raise SustainError(f"{row.where}: field 'expected.state' must be a non-empty object the final state "
                               f"must hold; fix it.")
        out["state"] = expected["state"]
    if "calls" in expected:
        calls = expected["calls"]
        if not isinstance(calls, list) or not all(isinstance(c, str) for c in calls):
            raise SustainError(f"{row.where}: field 'expected.calls' must be a list of tool names; fix it.")
        unknown = [c for c in calls if c not in offered]
        if unknown:
            raise SustainError(f"{row.where}: field 'expected.calls' names tool {unknown[0]!r}, which this task does "
                               f"not offer; use some of {', '.join(offered)}.")
        out["calls"] = calls
    return out


SCHEMAS = {"agent_schema": AgentTaskConfig}
METRICS = [
    Metric(SUCCESS, "1", MAXIMIZE, "over tasks", "Share of agent tasks whose last reply is a final answer (no tool "
           "call) that meets the expected end: its text holds every expected string, the environment's final "
           "state holds the expected state, every expected tool was validly called.", "agent", source=__name__),
    Metric(VALIDITY, "1", MAXIMIZE, "over tool calls (absent without any)", "Share of the model's tool calls "
           "that were valid: JSON arguments, a tool the task offers, arguments valid against its schema.",
           "agent", source=__name__),
    Metric("steps_per_success", "count", MINIMIZE, "whole run (absent without a success)", "Requests of every "
           "task over the successful tasks: the steps one success costs, failures included.", "agent",
           source=__name__),
    Metric("steps_per_session", "count", NEITHER, "mean over tasks", "Requests per agent task, up to "
           "task.max_steps.", "agent", source=__name__),
    Metric("tool_calls_per_session", "count", NEITHER, "mean over tasks", "Tool calls the model made per agent "
           "task, valid or not.", "agent", source=__name__),
]


def _reading(m: dict[str, float], n: int, constrained: bool) -> list[list[str]]:
    """The terminal summary's agent rows: what the model did, and how to read it."""
    validity = (f"{m[VALIDITY]:.0%} of its tool calls valid (well-formed, an existing tool, arguments that fit "
                f"its schema)" if VALIDITY in m else "calls held to the tools' schemas (tool_calling=constrained), "
                f"so valid by construction" if constrained and m["tool_calls_per_session"] else "no tool call made")
    rows = [["agent", f"{m[SUCCESS]:.0%} of {n} tasks succeeded; {m['steps_per_session']:.1f} requests and "
                      f"{m['tool_calls_per_session']:.1f} tool calls per task; {validity}"]]
    if not m["tool_calls_per_session"]:
        rows.append(["  reading it", "the model answered every task at once without calling a tool: it did not "
                                     "act as an agent (small models often do not), so its success is what it knew; "
                                     "task.tool_calling=constrained holds its replies to a call-or-answer schema"])
    else:
        rows.append(["  reading it", "success needs a final answer (a reply without tool calls) that meets the task's "
                                     "expected end; energy per correct answer is energy per successful task"])
    return rows
