"""Generate the embedded agent-sessions dataset (src/sustain/tasks/data/sessions.jsonl).

Sessions in the shape of public agent traces: one shared prefix (a system prompt and eight OpenAI-style
tool schemas, about 1,800 tokens once rendered), then 4-7 turns of user messages and tool results, each
after the recorded assistant message whose `tool_calls` it answers. The conversations are data
(scripts/data/sessions_tools.json, scripts/data/sessions_scenarios.json); this script only lays them out
as turns and draws, under a fixed seed, the tool-call ids and the delays: think time 0.5-3 s before a user
message (none before a session's first), tool time 0.1-1 s before tool results. Reproducible byte for byte
(tests/unit/test_task_sessions.py checks it). Run: python scripts/make_sessions_dataset.py
"""

from __future__ import annotations

import json
import random
import string
import sys
from pathlib import Path
from typing import Any

from sustain.tasks.examples import write_jsonl

SEED = 19
DATA = Path(__file__).resolve().parent / "data"
OUT_PATH = Path(__file__).resolve().parents[1] / "src" / "sustain" / "tasks" / "data" / "sessions.jsonl"
THINK_S = (0.5, 3.0)
TOOL_S = (0.1, 1.0)


def session(scenario: dict[str, Any], prefix: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One JSONL line: each exchange is a user turn, then one turn of tool results per round of calls."""
    turns: list[dict[str, Any]] = []
    for exchange in scenario["exchanges"]:
        delay = _draw(rng, THINK_S) if turns else 0.0
        messages = [{"role": "user", "content": exchange["user"]}]
        for calls in exchange["rounds"]:
            ids = [_call_id(rng) for _ in calls]
            turns.append({"messages": messages, "delay_s": delay, "recorded": _calls(calls, ids)})
            messages = [{"role": "tool", "tool_call_id": i, "content": json.dumps(c["result"])}
                        for i, c in zip(ids, calls)]
            delay = _draw(rng, TOOL_S)
        turns.append({"messages": messages, "delay_s": delay,
                      "recorded": {"role": "assistant", "content": exchange["reply"]}})
    line = {"id": scenario["id"], "system": prefix["system"], "tools": prefix["tools"], "turns": turns}
    if "expected" in scenario:
        line["expected"] = {"final_contains": scenario["expected"]}
    return line


def _calls(calls: list[dict[str, Any]], ids: list[str]) -> dict[str, Any]:
    return {"role": "assistant", "content": "", "tool_calls": [
        {"id": i, "type": "function", "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
        for i, c in zip(ids, calls)]}


def _call_id(rng: random.Random) -> str:
    return "call_" + "".join(rng.choices(string.ascii_letters + string.digits, k=9))


def _draw(rng: random.Random, bounds: tuple[float, float]) -> float:
    return round(rng.uniform(*bounds), 2)


def main(out: Path = OUT_PATH) -> None:
    prefix = json.loads((DATA / "sessions_tools.json").read_text(encoding="utf-8"))
    scenarios = json.loads((DATA / "sessions_scenarios.json").read_text(encoding="utf-8"))
    rng = random.Random(SEED)
    write_jsonl(out, [session(s, prefix, rng) for s in scenarios])


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_PATH)
