"""The types that stages hand each other about requests and their scores, in one low module: engines take
`Request`s with an optional `Decoding`; tasks read outputs into `Prediction`s and score them into a
`QualityResult`; the judge sees `JudgeItem`s. Nothing here imports another part of sustain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

THINK_END = "</think>"  # the closing tag of the reasoning block reasoning models emit before their answer


@dataclass(frozen=True)
class Request:
    """One request as every engine takes it: chat `messages` sent through the model's chat template, or a raw
    `prompt` sent as it is (lm-eval's tasks without a chat template), with this request's own stop sequences
    and caps over the job's sampling where a task asks for them. With a `continuation`, nothing is generated
    that matters: the engine scores the continuation's log-probability after `prompt` (lm-eval's loglikelihood),
    which only engines with `prompt_logprobs` can; `rolling` asks for the log-probability of all of `prompt`
    (lm-eval's loglikelihood_rolling), which only engines with `rolling_logprobs` can."""

    id: str
    messages: list[dict[str, str]]
    prompt: str | None = None  # raw text, no chat template (a completion); `messages` is then unused
    stop: tuple[str, ...] = ()  # stop sequences, not part of the output
    max_tokens: int | None = None  # None: the job's
    temperature: float | None = None  # None: the job's
    continuation: str | None = None  # text whose log-probability after `prompt` is asked for
    rolling: bool = False  # the whole `prompt`'s log-probability, in windows of the model's context (perplexity)

    @property
    def scored(self) -> bool:
        """A request that asks for a log-probability, not for generated text."""
        return self.continuation is not None or self.rolling

    def sampling_overrides(self) -> dict[str, Any]:
        """This request's own sampling fields, by their vLLM / OpenAI names, over the job's."""
        if self.scored:
            return {"max_tokens": 1, "temperature": 0.0}
        out: dict[str, Any] = {"stop": list(self.stop)} if self.stop else {}
        if self.max_tokens is not None:
            out["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            out["temperature"] = self.temperature
        return out


@dataclass(frozen=True)
class Decoding:
    """Constrained decoding derived from a task: a JSON schema, or a list of allowed answers."""

    json_schema: dict[str, Any] | None = None
    choice: list[str] | None = None


@dataclass
class Prediction:
    """One output read by its task; `correct` is what `energy_per_correct_j` counts."""

    id: str
    predicted: str | None  # the label / number / code the task read from the output; None when unreadable
    gold: Any
    correct: bool
    parse_error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # task-specific, e.g. failed unit tests; "group" and
    # "sample" (a sub-task and the document scored) give energy per sample and per correct sample per group

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "predicted": self.predicted, "gold": self.gold, "correct": self.correct,
                "parse_error": self.parse_error, **self.detail}


@dataclass(frozen=True)
class SubtaskScore:
    """One sub-task's scores within a run (an lm-eval task, or a group of tasks): the report shows each as a row
    family, beside its energy per sample and per correct sample (`energy_per_sample_j_{name}`)."""

    name: str  # as in the predictions' detail["group"] (a task); a group's own name
    kind: str  # "task" or "group"
    n: int  # documents scored
    metrics: dict[str, float]  # metric names as logged (lm_eval_<name>_<metric>_<filter>) and their values
    primary: str  # the one of `metrics` that ranks runs (higher is better)
    tasks: tuple[str, ...] = ()  # a group's tasks
    prefix: str = ""  # what every one of its metric names starts with (lm_eval_<name>_)

    def label(self, metric: str) -> str:
        """A metric's name where the sub-task is named already: without the prefix."""
        return metric.removeprefix(self.prefix)


@dataclass
class QualityResult:
    """A task's score of a run: its primary metric by name, every other figure, and per-sample results."""

    primary: str  # name of the primary metric, a key of `metrics` (macro_f1, exact_match, pass_at_1, ...)
    metrics: dict[str, float]
    predictions: list[Prediction]
    details: dict[str, Any] = field(default_factory=dict)  # JSON-able extras: confusion matrix, per class
    flags: list[str] = field(default_factory=list)  # validity flags: why every figure of the run needs a caveat
    tags: dict[str, str] = field(default_factory=dict)  # run tags, e.g. {"code.jail": "bwrap"}
    subtasks: list[SubtaskScore] = field(default_factory=list)  # a task made of tasks (lm-eval): each one's scores

    @property
    def value(self) -> float:
        return self.metrics[self.primary]

    @property
    def n_correct(self) -> int:
        return sum(p.correct for p in self.predictions)


@dataclass(frozen=True)
class JudgeItem:
    """What the LLM judge sees, whatever the task."""

    id: str
    input: str  # what the evaluated model was asked
    output: str  # the evaluated model's answer
    reference: str  # the reference answer (or label) it is judged against


@dataclass(frozen=True)
class Turn:
    """One step of a session the client sends: `messages` appended to the history (a user message, tool
    results), after `delay_s` of think or tool time since the previous reply (since the session's start for the
    first turn). `recorded` is the assistant message the trace recorded after this turn: the history holds it
    instead of the model's own reply under `history=recorded`, and its `tool_calls` under either history, so a
    tool result that follows refers to a call the history holds."""

    messages: tuple[dict[str, Any], ...]
    delay_s: float = 0.0
    max_tokens: int | None = None  # this turn's output cap (None: the job's)
    recorded: dict[str, Any] | None = None


@dataclass(frozen=True)
class Session:
    """A multi-turn workload unit (an agent task): turns sent in order, each after the previous reply. Its
    requests are named `<session id>/<turn index>`; `expected` is what a successful end looks like (the task
    scores it).

    A *live* session (`tools` set) has one turn, the user's task: the model acts, every tool call it makes is
    answered by the job's environment (`ToolEnvironment`) and sent back, until a reply without a tool call
    (the final answer) or `max_steps` requests."""

    id: str
    turns: tuple[Turn, ...]
    system: str | None = None  # the shared prefix: system prompt, tool schemas rendered into it
    expected: dict[str, Any] | None = None
    tools: tuple[dict[str, Any], ...] = ()  # OpenAI tool schemas sent as the API's `tools`: a live session
    max_steps: int = 8  # a live session's cap on requests
    first_tool_choice: str = "auto"  # a live session's first request: auto, or required (a tool call forced)
    tool_calling: str = "api"  # api: the API's `tools`, parsed by the server; constrained: see sustain.tool_calls

    @property
    def live(self) -> bool:
        return bool(self.tools)

    def request_id(self, turn: int) -> str:
        return f"{self.id}/{turn}"

    @staticmethod
    def split_request_id(request_id: str) -> tuple[str, int]:
        """`request_id`'s inverse: the session id and the turn index."""
        session_id, _, turn = request_id.rpartition("/")
        return session_id, int(turn)

    def opening(self) -> list[dict[str, Any]]:
        return [{"role": "system", "content": self.system}] if self.system else []

    def reply(self, turn: int, generated: str, history: str) -> dict[str, Any]:
        """The assistant message the history holds after `turn`: the model's own text (`history=generated`) or
        the recorded one (`history=recorded`), with the recorded tool calls kept either way."""
        recorded = self.turns[turn].recorded or {}
        content = recorded.get("content", "") if history == "recorded" else generated
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if recorded.get("tool_calls"):
            message["tool_calls"] = recorded["tool_calls"]
        return message


HISTORIES = ("generated", "recorded")


@dataclass(frozen=True)
class ToolCall:
    """One tool call as the model made it: `arguments` is the JSON text it wrote, valid or not."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolResult:
    """What the environment answered: `content` goes back to the model as the tool message; `error` says the
    call failed (malformed arguments, an unknown tool, a tool that raised or was stopped by the jail)."""

    content: str
    error: str | None = None


class ToolEnvironment:
    """A live agent task's world: `start(session_id)` opens one episode (its own state) that answers the
    session's tool calls in order and reports its final state for the success check."""

    def start(self, session_id: str) -> "ToolEpisode":
        raise NotImplementedError


class ToolEpisode:
    def call(self, call: ToolCall) -> ToolResult:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """The environment's state at the end (JSON-able), for an expected end stated as a state."""
        return {}

    def close(self) -> None:
        """Release what the episode holds (a jail); called once the session ends."""
