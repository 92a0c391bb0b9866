"""`task=sessions`: agent sessions replayed turn by turn, scored by how many complete and succeed.

A dataset is JSONL, one session a line (docs/guides/sessions.md has every field):
`{"id", "system"?, "tools"?: [OpenAI tool objects], "turns": [{"messages": [user or tool messages],
"delay_s"?, "max_tokens"?, "recorded"?: assistant message}], "expected"?: {"final_contains": str | [str]}}`.
Every line is checked before any engine starts, so a bad file fails in a second with file, line and field
named. The engines send each turn after the previous reply plus its delay; the history holds the model's
own replies (`history=generated`) or the recorded ones (`history=recorded`). The tools are rendered as
JSON into the system text, so the shared prefix is the same text on every engine and chat template.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from typing import Any

from sustain.errors import SustainError
from sustain.metrics.quality import strip_reasoning
from sustain.registry import MAXIMIZE, NEITHER, Metric
from sustain.tasks.base import JudgeItem, Prediction, QualityResult, Request, Task, TaskConfig, dataset_path
from sustain.tasks.examples import Row, read_rows
from sustain.types import HISTORIES, Session, Turn

DELAYS = ("recorded", "none", "exponential")
ROLES = ("user", "tool")
SUCCESS = "session_success_rate"
COMPLETION = "session_completion_rate"
TOOLS_HEADER = ("\n\n# Tools\n\nYou may call one or more of these functions. Their signatures, one JSON "
                "object a line:\n<tools>\n")
TOOLS_FOOTER = ("\n</tools>\n\nTo call a function, reply with one JSON object a call, "
                '{"name": <function name>, "arguments": <object>}, inside <tool_call></tool_call> tags.')


@dataclass
class SessionsTaskConfig(TaskConfig):
    _target_: str = "sustain.tasks.sessions.SessionsTask"
    name: str = "sessions"
    history: str = "generated"  # generated | recorded: which assistant replies the history holds
    delays: str = "recorded"  # recorded | none | exponential: the wait before each turn is sent
    delay_mean_s: float = 1.0  # mean of the exponential delays
    seed: int = 0  # seeds the exponential delays
    tools_in_prompt: bool = True  # render the tool schemas as JSON into the system text
    max_tokens: int = 64  # each reply's cap, where a turn sets none


@dataclass(frozen=True)
class SessionExample:
    """A loaded session as the file states it (recorded delays, tools not yet rendered)."""

    session: Session
    tools: tuple[dict[str, Any], ...]
    raw: dict[str, Any]

    @property
    def id(self) -> str:
        return self.session.id


class SessionsTask(Task):
    examples: dict[str, SessionExample]

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        _one_of("task.history", cfg.history, HISTORIES)
        _one_of("task.delays", cfg.delays, DELAYS)
        self.history = cfg.history
        if cfg.delays == "exponential" and not cfg.delay_mean_s > 0:
            raise SustainError(f"task.delay_mean_s={cfg.delay_mean_s} is no mean delay: use a positive number "
                               f"of seconds with task.delays=exponential.")

    def load(self) -> None:
        path = dataset_path(self.cfg.dataset, "sessions.jsonl")
        self._keep([parse_session(row) for row in read_rows(path)], path)

    def requests(self) -> list[Request]:
        return []

    def sessions(self) -> list[Session]:
        """The sessions to send: delays per `task.delays`, tools rendered into the system text."""
        return [self._prepared(ex) for ex in self.examples.values()]

    def _prepared(self, ex: SessionExample) -> Session:
        session = ex.session
        if self.cfg.tools_in_prompt and ex.tools:
            session = replace(session, system=render_tools(session.system, ex.tools))
        delays = self._delays(session)
        return replace(session, turns=tuple(replace(t, delay_s=d) for t, d in zip(session.turns, delays)))

    def _delays(self, session: Session) -> list[float]:
        """Recorded as the file says; none: 0; exponential: 0 before the first turn, then drawn per session
        from its own generator (seeded by `task.seed` and the session id, so `task.limit` changes none)."""
        if self.cfg.delays == "recorded":
            return [t.delay_s for t in session.turns]
        if self.cfg.delays == "none":
            return [0.0] * len(session.turns)
        rng = random.Random(f"{self.cfg.seed}/{session.id}")
        return [0.0] + [rng.expovariate(1 / self.cfg.delay_mean_s) for _ in session.turns[1:]]

    def predict_record(self, record: Any) -> Prediction:
        session_id, turn = record.session_id, record.turn
        if session_id is None or turn is None:
            session_id, turn = Session.split_request_id(record.id)
        return self._predict(record.id, session_id, turn, record.output_text, record.error)

    def predict(self, id: str, output: str | None, error: str | None = None) -> Prediction:
        return self._predict(id, *Session.split_request_id(id), output, error)

    def _predict(self, id: str, session_id: str, turn: int, output: str | None, error: str | None) -> Prediction:
        session = self.examples[session_id].session
        last = turn == len(session.turns) - 1
        gold = _gold(session) if last else None
        detail = {"session": session_id, "turn": turn}
        if error is not None or output is None:
            return Prediction(id, None, gold, False, parse_error=f"request failed: {error}", detail=detail)
        reply = strip_reasoning(output) if self.cfg.strip_reasoning else output
        return Prediction(id, reply, gold, last and meets(session.expected, reply), detail=detail)

    def score(self, predictions: list[Prediction]) -> QualityResult:
        """Per session: complete when every turn has a prediction without error, successful when complete
        and the final reply meets `expected`; the last turn's `correct` is set to its session's success."""
        by_session: dict[str, dict[int, Prediction]] = {}
        for p in predictions:
            by_session.setdefault(p.detail["session"], {})[p.detail["turn"]] = p
        rows = [self._outcome(ex.session, by_session.get(ex.id, {})) for ex in self.examples.values()]
        n = len(rows)
        declared = [r for r in rows if r["expected"]]
        metrics = {COMPLETION: sum(r["completed"] for r in rows) / n if n else 0.0,
                   "sessions": float(n), "n": float(len(predictions))}
        if declared:
            metrics[SUCCESS] = sum(r["successful"] for r in declared) / len(declared)
        return QualityResult(SUCCESS if declared else COMPLETION, metrics, predictions,
                             details={"sessions": rows})

    @staticmethod
    def _outcome(session: Session, preds: dict[int, Prediction]) -> dict[str, Any]:
        turns = range(len(session.turns))
        completed = all(t in preds and preds[t].parse_error is None for t in turns)
        final = preds.get(len(session.turns) - 1)
        successful = completed and final is not None and meets(session.expected, final.predicted or "")
        if final is not None:
            final.correct = successful
        return {"session": session.id, "turns": len(session.turns), "answered": len(preds),
                "completed": completed, "expected": session.expected is not None, "successful": successful}

    def judge_item(self, id: str, output: str) -> JudgeItem:
        session_id, turn = Session.split_request_id(id)
        session = self.examples[session_id].session
        said = [m for m in session.turns[turn].messages if m.get("role") in ROLES]
        reference = _gold(session) if turn == len(session.turns) - 1 else None
        answer = strip_reasoning(output) if self.cfg.strip_reasoning else output
        return JudgeItem(id, said[-1]["content"] if said else "", answer, ", ".join(reference or []))

    def example_field(self, id: str, name: str) -> Any:
        ex = self.examples.get(id) or self.examples.get(id.rsplit("/", 1)[0])
        return None if ex is None else ex.raw.get(name)


def meets(expected: dict[str, Any] | None, reply: str) -> bool:
    """Every `final_contains` string in the reply, case-insensitively; never without an expected end."""
    if not expected:
        return False
    text = reply.lower()
    return all(s.lower() in text for s in expected["final_contains"])


def render_tools(system: str | None, tools: tuple[dict[str, Any], ...]) -> str:
    """The system text with the tool schemas as JSON, one a line, in the Hermes style most chat templates
    use for tools, so the prefix is the same text whatever the engine."""
    lines = "\n".join(json.dumps(t, ensure_ascii=False, sort_keys=True) for t in tools)
    return (system or "").rstrip() + TOOLS_HEADER + lines + TOOLS_FOOTER


def _gold(session: Session) -> list[str] | None:
    return list(session.expected["final_contains"]) if session.expected else None


def _one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SustainError(f"{key}={value} is not one of {', '.join(allowed)}: choose one of them.")


# Reading a line: one function per field, each failing in one sentence that names file, line and field.

def parse_session(row: Row) -> SessionExample:
    system = row.data.get("system")
    if system is not None and not isinstance(system, str):
        raise SustainError(f"{row.where}: field 'system' must be a string, got {type(system).__name__}; "
                           f"write the system prompt as text or leave the field out.")
    turns = _turns(row)
    session = Session(str(row.data["id"]), turns, system, _expected(row))
    return SessionExample(session, _tools(row), row.data)


def _turns(row: Row) -> tuple[Turn, ...]:
    value = row.field("turns", list, "a list of turns")
    if not value:
        raise SustainError(f"{row.where}: field 'turns' is an empty list; give the session at least one turn.")
    turns: list[Turn] = []
    for i, turn in enumerate(value):
        calls = _call_ids(turns[-1].recorded) if turns else set()
        turns.append(_turn(row, f"turns[{i}]", turn, calls))
    return tuple(turns)


def _turn(row: Row, where: str, turn: Any, calls: set[str]) -> Turn:
    if not isinstance(turn, dict):
        raise SustainError(f"{row.where}: {where} is a {type(turn).__name__}, not an object; write each turn as "
                           f'{{"messages": [...], "delay_s": 1.0}}.')
    messages = turn.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SustainError(f"{row.where}: {where}.messages is missing or empty; give every turn a list of at "
                           f"least one user or tool message.")
    delay = turn.get("delay_s", 0.0)
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or not delay >= 0:
        raise SustainError(f"{row.where}: {where}.delay_s is {delay!r}, not a number of seconds >= 0; write it "
                           f"as a number such as 1.5.")
    cap = turn.get("max_tokens")
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
        raise SustainError(f"{row.where}: {where}.max_tokens is {cap!r}, not a positive integer; fix it or "
                           f"leave it out for task.max_tokens.")
    checked = tuple(_message(row, f"{where}.messages[{j}]", m, calls) for j, m in enumerate(messages))
    recorded = turn.get("recorded")
    if recorded is not None:
        _recorded(row, f"{where}.recorded", recorded)
    return Turn(checked, float(delay), cap, recorded)


def _message(row: Row, where: str, message: Any, calls: set[str]) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise SustainError(f"{row.where}: {where} is a {type(message).__name__}, not an object; write "
                           f'{{"role": "user", "content": "..."}}.')
    role = message.get("role")
    if role not in ROLES:
        raise SustainError(f"{row.where}: {where} has role {role!r}, not one of {', '.join(ROLES)}; the system "
                           f"prompt goes in the session's 'system' and assistant replies in a turn's 'recorded'.")
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        what = "its tool result as a 'content' string" if role == "tool" else "a non-empty 'content' string"
        raise SustainError(f"{row.where}: {where} has no content; give the {role} message {what}.")
    if role == "tool" and message.get("tool_call_id") not in calls:
        raise SustainError(f"{row.where}: {where}.tool_call_id {message.get('tool_call_id')!r} names no call of "
                           f"the previous turn's recorded tool_calls; use one of {sorted(calls) or 'their ids'}.")
    return message


def _recorded(row: Row, where: str, recorded: Any) -> None:
    if not isinstance(recorded, dict) or recorded.get("role", "assistant") != "assistant":
        raise SustainError(f"{row.where}: {where} is not an assistant message; write it as "
                           f'{{"role": "assistant", "content": "...", "tool_calls": [...]}}.')
    content, calls = recorded.get("content"), recorded.get("tool_calls")
    if content is not None and not isinstance(content, str):
        raise SustainError(f"{row.where}: {where}.content must be a string or null; fix that line.")
    if calls is None:
        return
    if not isinstance(calls, list) or not all(
            isinstance(c, dict) and isinstance(c.get("id"), str) and isinstance(c.get("function"), dict)
            and isinstance(c["function"].get("name"), str) and isinstance(c["function"].get("arguments"), str)
            for c in calls):
        raise SustainError(f"{row.where}: {where}.tool_calls must be a list of OpenAI tool calls "
                           f'{{"id", "type": "function", "function": {{"name", "arguments": JSON text}}}}; fix it.')


def _call_ids(recorded: dict[str, Any] | None) -> set[str]:
    return {c["id"] for c in (recorded or {}).get("tool_calls") or []}


def _tools(row: Row) -> tuple[dict[str, Any], ...]:
    tools = row.data.get("tools", [])
    ok = isinstance(tools, list) and all(
        isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str) and isinstance(t["function"].get("parameters", {}), dict)
        for t in tools)
    if not ok:
        raise SustainError(f"{row.where}: field 'tools' must be a list of OpenAI tool objects "
                           f'{{"type": "function", "function": {{"name", "description", "parameters"}}}}; fix it.')
    return tuple(tools)


def _expected(row: Row) -> dict[str, Any] | None:
    expected = row.data.get("expected")
    if expected is None:
        return None
    wanted = expected.get("final_contains") if isinstance(expected, dict) else None
    wanted = [wanted] if isinstance(wanted, str) else wanted
    if (not isinstance(expected, dict) or set(expected) != {"final_contains"} or not isinstance(wanted, list)
            or not wanted or not all(isinstance(s, str) and s.strip() for s in wanted)):
        raise SustainError(f"{row.where}: field 'expected' must be {{\"final_contains\": \"text\"}} or "
                           f"{{\"final_contains\": [\"text\", ...]}} with non-empty strings; fix it or leave it out.")
    return {"final_contains": wanted}


SCHEMAS = {"sessions_schema": SessionsTaskConfig}
METRICS = [
    Metric(SUCCESS, "1", MAXIMIZE, "over sessions with an expected end", "Share of the sessions that declare an "
           "expected end whose every turn was answered and whose final reply holds every expected string.",
           "session", source=__name__),
    Metric(COMPLETION, "1", MAXIMIZE, "over sessions", "Share of sessions whose every turn got a reply "
           "without error.", "session", source=__name__),
    Metric("sessions", "count", NEITHER, "whole run", "Sessions the task scored (after task.limit).", "session",
           source=__name__),
]
