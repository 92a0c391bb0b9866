"""`load=replay`: requests sent at the times of a recorded schedule, e.g. a `vllm bench serve` run's.

`load.schedule` names a JSON or JSONL file of send times in seconds: a list of numbers, one number or
`{"timestamp": s}` per line, or a `vllm bench serve` result file saved with `--save-detailed`, whose
`start_times` are its requests' send times (perf_counter seconds, any origin; under --max-concurrency
they are the times the requests left the client's queue). The times are sorted and shifted so that the
first request goes at once, as under every profile: the run's span then starts at the first request
sent, as vLLM's benchmark duration does. Request i is sent at the i-th time; a schedule shorter than
the task is refused, and times beyond the task's requests are left unused.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from sustain.errors import SustainError
from sustain.load.base import LoadConfig, LoadProfile


@dataclass
class ReplayConfig(LoadConfig):
    _target_: str = "sustain.load.replay.Replay"
    name: str = "replay"
    schedule: Optional[str] = None  # JSON/JSONL of send times in seconds, or a vLLM result file

    @property
    def rate(self) -> float | None:
        """The schedule's mean rate, so a replay, which sends over time, gets its achieved rate reported."""
        return None if self.schedule is None else mean_rate(read_schedule(self.schedule))


SCHEMAS = {"replay_schema": ReplayConfig}


def mean_rate(offsets: list[float]) -> float:
    """Requests per second between the first and the last send time; inf when all go at once."""
    span = offsets[-1] - offsets[0] if offsets else 0.0
    return (len(offsets) - 1) / span if span > 0 else math.inf


def read_schedule(path: str) -> list[float]:
    """Send offsets in seconds from the first, sorted; one sentence for a file that holds no schedule."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SustainError(f"load.schedule={path} cannot be read ({exc.strerror}): give the path of a JSON or "
                           f"JSONL file of request send times.") from None
    try:
        times = _times(_parse(text), path)
    except (ValueError, TypeError):
        raise SustainError(
            f"load.schedule={path} holds no schedule sustain reads: give a JSON list of send times in seconds, "
            f"JSONL with one number or {{\"timestamp\": s}} a line, or a `vllm bench serve` result file "
            f"saved with --save-detailed.") from None
    if not times:
        raise SustainError(f"load.schedule={path} holds no send times: record at least one request.")
    times.sort()
    return [t - times[0] for t in times]


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _times(doc: Any, path: str) -> list[float]:
    """A list of times or of {"timestamp"} entries; any other object is a vLLM result, one to a file."""
    items = doc if isinstance(doc, list) else [doc]
    results = [item for item in items if isinstance(item, dict) and "timestamp" not in item]
    if not results:
        return [_seconds(item["timestamp"] if isinstance(item, dict) else item) for item in items]
    if len(items) > 1:
        raise SustainError(f"load.schedule={path} holds {len(items)} results or entries besides a vLLM result "
                           f"(--append-result?): keep the one run to replay in its own file.")
    if "start_times" not in results[0]:
        raise SustainError(f"load.schedule={path} has no `start_times`: rerun `vllm bench serve` with "
                           f"--save-result --save-detailed, which records each request's send time.")
    return [_seconds(t) for t in results[0]["start_times"]]


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not math.isfinite(seconds := float(value)):
        raise ValueError(value)
    return seconds


class Replay(LoadProfile):
    def __init__(self, cfg: ReplayConfig) -> None:
        super().__init__(cfg)
        if not cfg.schedule:
            raise SustainError("load=replay needs a schedule: load.schedule=path of a JSON/JSONL file of send "
                               "times or of a `vllm bench serve` result saved with --save-detailed.")
        self.offsets = read_schedule(cfg.schedule)

    def arrivals(self, n: int) -> list[float]:
        if n > len(self.offsets):
            raise SustainError(
                f"load.schedule={self.cfg.schedule} has {len(self.offsets)} send times for {n} requests: "
                f"record a longer schedule or run fewer requests (e.g. task.limit={len(self.offsets)}).")
        return self.offsets[:n]
