"""The task interface: what a benchmark asks the model, and how its answers are scored.

A task is chosen by `_target_` in `conf/task/<name>.yaml` and built with its typed config. The pipeline
only ever calls the methods below, in this order: `load` (validate every example before an engine
starts), `requests` (chat messages per example) or `sessions` (multi-turn work), `decoding` (constrained decoding, if asked for),
`predict_record` (read one engine record once the meter stopped: by default `predict` of its output),
`score` (all outputs into a typed `QualityResult`),
`judge_item` (a task-neutral item for the LLM judge).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Optional

from sustain.errors import SustainError
from sustain.tasks.examples import first
from sustain.types import Decoding, JudgeItem, Prediction, QualityResult, Request, Session  # noqa: F401  (plugins' API)

EMBEDDED = "embedded"


@dataclass
class TaskConfig:
    """Keys every task has, so users and scripts need not learn each task anew.

    A kind of task subclasses this in its own module and lists it in the module's `SCHEMAS`
    (`{"<kind>_schema": ItsConfig}`); `sustain.config.register` stores it in the `task` group.
    """

    _target_: str = "sustain.tasks.hallucination.HallucinationTask"
    name: str = "hallucination"  # appears in run names and tags
    dataset: str = EMBEDDED  # "embedded" or a path to a JSONL file
    limit: Optional[int] = None  # first N examples; None = all
    decoding: str = "free"  # free | json_schema | choice (what the task offers)
    strip_reasoning: bool = True  # score the answer after a leading <think>...</think> block
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0


class Task(ABC):
    """One kind of task. Subclasses take their typed config (a `TaskConfig` subclass)."""

    history: str = "generated"  # sessions: what a session's history holds of its replies (generated | recorded)

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self.name: str = cfg.name
        self.examples: dict[str, Any] = {}
        self._source = ""

    @abstractmethod
    def load(self) -> None:
        """Read and validate every example (then `_keep` them); a bad one raises SustainError naming file,
        line and field."""

    def _keep(self, examples: list[Any], source: Path | str) -> None:
        """The first `task.limit` of the loaded examples (each with an `id`), by id, and where they came from."""
        self.examples = {ex.id: ex for ex in first(examples, self.cfg.limit)}
        self._source = str(source)

    @property
    def ids(self) -> list[str]:
        """Example ids in dataset order (after `task.limit`)."""
        return list(self.examples)

    @property
    def source(self) -> str:
        """Where the examples came from (a path), for tags and the dataset input."""
        return self._source

    @abstractmethod
    def requests(self) -> list[Request]:
        ...

    def sessions(self) -> list[Session]:
        """Multi-turn work (agent sessions), sent turn by turn; a task that has sessions has no `requests`."""
        return []

    def environment(self) -> Any:
        """The `ToolEnvironment` that answers live sessions' tool calls; None for a task without tools."""
        return None

    def decoding(self) -> Decoding | None:
        """Constrained decoding for `task.decoding`; None for `free`. Tasks that offer none refuse others."""
        if self.cfg.decoding == "free":
            return None
        raise SustainError(f"task.decoding={self.cfg.decoding} is not offered by task={self.name}: use free.")

    @abstractmethod
    def predict(self, id: str, output: str | None, error: str | None = None) -> Prediction:
        """Read one output (None with `error` when the request failed); never raises for a bad output."""

    def predict_record(self, record: Any) -> Prediction:
        """One engine record (`RequestRecord`) read by the task; tasks that score log-probabilities read more
        of it than the output text."""
        return self.predict(record.id, record.output_text, record.error)

    @abstractmethod
    def score(self, predictions: list[Prediction]) -> QualityResult:
        ...

    @abstractmethod
    def judge_item(self, id: str, output: str) -> JudgeItem:
        ...

    def example_field(self, id: str, name: str) -> Any:
        """A raw field of one example (e.g. reference output tokens), or None."""
        return None


def correct_share(primary: str, answered: str, predictions: list[Prediction]) -> QualityResult:
    """A task whose score is the share of correct answers (`primary`), beside the share that gave a
    readable answer at all (`answered`)."""
    n = len(predictions)
    if not n:
        raise ValueError("no predictions to score")
    return QualityResult(
        primary=primary,
        metrics={primary: sum(p.correct for p in predictions) / n,
                 answered: sum(p.predicted is not None for p in predictions) / n, "n": float(n)},
        predictions=predictions,
    )


def dataset_path(dataset: str, embedded: str) -> Path:
    """`task.dataset` as a path: `embedded` is the package's `tasks/data/<embedded>`."""
    if dataset == EMBEDDED:
        return Path(str(resources.files("sustain.tasks") / "data" / embedded))
    path = Path(dataset).expanduser()
    if not path.is_file():
        raise SustainError(
            f"Dataset file {path} does not exist: pass an existing JSONL file as "
            f"task.dataset=path/to/file.jsonl, or task.dataset=embedded for the built-in one."
        )
    return path
