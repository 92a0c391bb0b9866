"""Constrained tool calls: tool calling for any engine and chat template, without a server-side parser.

A live agent session in `tool_calling=constrained` mode gets the tools described in its system text and every
reply constrained (JSON schema, as the engines' structured outputs enforce it) to one object: a call,
`{"tool_call": {"name": <one of the tools>, "arguments": {...}}}`, or the final answer, `{"answer": "..."}`.
The client reads the reply back
into OpenAI-shaped tool calls (`read_reply`).

Each call is held to its tool's own argument schema (no properties beyond those declared), so a constrained
call is well-formed by construction: a run in this mode logs no tool-call validity (it would read 1 whatever
the model), only steps, calls and success.
"""

from __future__ import annotations

import json
from typing import Any

MODES = ("api", "constrained")
INSTRUCTIONS = ("\n\nTo call a function, reply with exactly one JSON object {\"tool_call\": {\"name\": <function name>, "
                "\"arguments\": {<arguments>}}}; its result comes back in the next message. When you have the "
                "answer, reply {\"answer\": \"<your answer>\"}.")


def names(tools: tuple[dict[str, Any], ...]) -> list[str]:
    return [t["function"]["name"] for t in tools]


def describe(system: str | None, tools: tuple[dict[str, Any], ...]) -> str:
    """The system text with the tools' schemas, one JSON object a line, and how to call them."""
    lines = "\n".join(json.dumps(t["function"], ensure_ascii=False, sort_keys=True) for t in tools)
    return f"{(system or '').rstrip()}\n\nYou can use these functions:\n{lines}{INSTRUCTIONS}".lstrip()


def reply_schema(tools: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """A call of one of `tools`, its arguments held to that tool's schema, or a final answer."""
    calls = [{"type": "object", "properties": {"tool_call": {
        "type": "object", "properties": {"name": {"const": t["function"]["name"]}, "arguments": _closed(
            t["function"].get("parameters") or {"type": "object"})},
        "required": ["name", "arguments"], "additionalProperties": False}},
        "required": ["tool_call"], "additionalProperties": False} for t in tools]
    answer = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
              "additionalProperties": False}
    return {"anyOf": [*calls, answer]}


def _closed(parameters: dict[str, Any]) -> dict[str, Any]:
    """The tool's argument schema with no undeclared property: a small model otherwise invents nested ones."""
    return {"additionalProperties": False, **parameters}


def read_reply(text: str, step: int) -> tuple[list[dict[str, str]], str]:
    """The reply's tool calls (`{"id", "name", "arguments"}`, arguments as JSON text) and its answer text: a
    reply that is not the envelope (cut at max_tokens, say) is an answer as it stands, with no call."""
    try:
        reply = json.loads(text)
    except ValueError:
        return [], text
    if isinstance(reply, dict) and isinstance(reply.get("tool_call"), dict):
        call = reply["tool_call"]
        return [{"id": f"call_{step}", "name": str(call.get("name", "")),
                 "arguments": json.dumps(call.get("arguments", {}), ensure_ascii=False)}], ""
    if isinstance(reply, dict) and isinstance(reply.get("answer"), str):
        return [], reply["answer"]
    return [], text
