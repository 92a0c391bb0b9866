"""A live agent task's world: the declared tools, whether a call is valid, and what answers it.

`Toolbox` holds the OpenAI tool schemas and judges a call (well-formed JSON arguments, a tool the session is
offered, arguments valid against its schema); an invalid call is never executed. Two environments answer the
valid ones: `TableEnvironment` looks results up by tool and canonical JSON arguments; `PythonEnvironment` runs
the task's tools file in the jail (`sustain.jail`), never in sustain's process: one jail run per call, the
episode's state (the tools file's module-level `STATE` dict) passed in and read back as JSON, so a tool that
loops, forks or writes outside its folder is stopped by the jail's limits and takes no episode down with it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Iterable

from sustain.errors import SustainError
from sustain.jail import REPORT_BYTES, Jail, Outcome
from sustain.types import ToolCall, ToolEnvironment, ToolEpisode, ToolResult

CONTENT_CHARS = 8000  # a tool's answer beyond this is cut (the model reads it)
FOLDER_BYTES = 8 * 2**20  # the tools file's folder as copied into the jail, every call
TEXT_FILES = (".py", ".json", ".jsonl", ".csv", ".tsv", ".txt", ".yaml", ".yml", ".md")

# Inside the jail: reads the job (the tools file's name, the call, the state) from the secret descriptor,
# runs the tools file, calls one function, and writes its answer and the new state on the report descriptor.
DRIVER = r'''
import json, os, sys
with os.fdopen(int(os.environ.pop("SUSTAIN_SECRET_FD")), "rb") as secret:
    job = json.loads(secret.read())
report = os.fdopen(int(os.environ.pop("SUSTAIN_REPORT_FD")), "w", encoding="utf-8")


def said(error):
    return (f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)[:500]


def finish(**answer):
    try:
        text = json.dumps(answer)
    except (TypeError, ValueError) as error:
        text = json.dumps({"failure": f"left a STATE that is not JSON ({said(error)})"})
    if len(text.encode()) > job["report_bytes"]:
        text = json.dumps({"failure": f"gave an answer and a STATE over {job['report_bytes']} bytes of JSON"})
    report.write(text)
    report.flush()
    os._exit(0)


sys.path.insert(0, os.getcwd())
tools = {"__name__": "tools", "__file__": os.path.abspath(job["file"]), "__builtins__": __builtins__}
try:
    exec(compile(open(job["file"], encoding="utf-8").read(), job["file"], "exec"), tools)
except BaseException as error:
    finish(load_error=said(error))
if "call" not in job:
    state = tools.get("STATE", {})
    finish(names=sorted(n for n, v in tools.items() if callable(v) and not n.startswith("_")
                        and getattr(v, "__module__", None) == "tools"),
           state=state if isinstance(state, dict) else None)
tools["STATE"] = job["state"]
try:
    value = tools[job["call"]](**job["arguments"])
except BaseException as error:
    finish(error=said(error), state=tools["STATE"])
try:
    content = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
except (TypeError, ValueError):
    content = repr(value)
finish(content=content[:job["max_chars"]], state=tools["STATE"])
'''


class Toolbox:
    """The declared tools by name (OpenAI tool objects) and the validity of a call against them."""

    def __init__(self, tools: Iterable[dict[str, Any]]) -> None:
        self.tools = {t["function"]["name"]: t for t in tools}

    def schemas(self, names: Iterable[str]) -> tuple[dict[str, Any], ...]:
        return tuple(self.tools[n] for n in names)

    def check(self, call: ToolCall | dict[str, Any],
              offered: Iterable[str]) -> tuple[dict[str, Any] | None, str | None]:
        """The call's arguments as an object, or None and why the call is invalid."""
        name, arguments = (call.name, call.arguments) if isinstance(call, ToolCall) else \
            (call.get("name"), call.get("arguments"))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError as error:
                return None, f"the arguments are not valid JSON ({error.msg} at column {error.colno})"
        if not isinstance(arguments, dict):
            return None, f"the arguments are a JSON {_json_type(arguments)}, not an object"
        offered = list(offered)
        if name not in offered:
            return None, f"no tool named {name!r} is offered; call one of {', '.join(offered) or 'none'}"
        why = schema_error(self.tools[name]["function"].get("parameters", {}), arguments)
        if why:
            return None, f"the arguments do not fit {name}'s schema: {why}"
        return arguments, None


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def schema_error(schema: dict[str, Any], value: Any) -> str | None:
    """The most relevant way `value` breaks `schema` (JSON Schema, its declared draft or 2020-12), or None."""
    from jsonschema import exceptions, validators

    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    error = exceptions.best_match(cls(schema).iter_errors(value))
    if error is None:
        return None
    at = "/".join(str(p) for p in error.absolute_path)
    return f"{error.message}" + (f" (at {at})" if at else "")


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a valid JSON Schema, or None."""
    from jsonschema import exceptions, validators

    if not isinstance(schema, dict):
        return f"it is a JSON {type(schema).__name__}, not an object"
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except exceptions.SchemaError as error:
        at = "/".join(str(p) for p in error.absolute_path)
        return error.message + (f" (at {at})" if at else "")
    return None


def canonical(arguments: dict[str, Any]) -> str:
    """One text per set of arguments, whatever the order or spacing the model wrote them in."""
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def invalid(why: str) -> ToolResult:
    return ToolResult(f"Error: invalid call: {why}.", f"invalid call: {why}")


def failed(why: str) -> ToolResult:
    return ToolResult(f"Error: {why}", why)


class _Episode(ToolEpisode):
    """Validity first; only a valid call reaches `_answer`."""

    def __init__(self, toolbox: Toolbox, offered: tuple[str, ...]) -> None:
        self.toolbox, self.offered = toolbox, offered

    def call(self, call: ToolCall) -> ToolResult:
        arguments, why = self.toolbox.check(call, self.offered)
        return invalid(why) if why else self._answer(call.name, arguments or {})

    def _answer(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        raise NotImplementedError


class TableEnvironment(ToolEnvironment):
    """Results recorded in advance: `{tool: {canonical arguments: result}}`; stateless."""

    name = "table"

    def __init__(self, toolbox: Toolbox, offered: dict[str, tuple[str, ...]], table: dict[str, dict[str, Any]]):
        self.toolbox, self.offered, self.table = toolbox, offered, table

    def start(self, session_id: str) -> ToolEpisode:
        return _TableEpisode(self.toolbox, self.offered[session_id], self.table)


class _TableEpisode(_Episode):
    def __init__(self, toolbox: Toolbox, offered: tuple[str, ...], table: dict[str, dict[str, Any]]) -> None:
        super().__init__(toolbox, offered)
        self.table = table

    def _answer(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        key = canonical(arguments)
        if key not in self.table.get(name, {}):
            return failed(f"no result is recorded for {name} with the arguments {key}")
        result = self.table[name][key]
        return ToolResult(result if isinstance(result, str) else json.dumps(result, ensure_ascii=False))


class PythonEnvironment(ToolEnvironment):
    """The tools file's functions, run in `jail` with the text files of its folder beside it."""

    name = "python"

    def __init__(self, toolbox: Toolbox, offered: dict[str, tuple[str, ...]], tools_file: Path, jail: Jail):
        self.toolbox, self.offered, self.jail = toolbox, offered, jail
        self.path, self.file = tools_file, tools_file.name
        self.files = folder_files(tools_file)
        self.initial: dict[str, Any] = {}

    def probe(self) -> list[str]:
        """Run the tools file once: its function names, its initial `STATE` kept for every episode."""
        answer, outcome = self.ask({"file": self.file})
        if answer is None:
            why = f"it ended without an answer ({_ended(outcome)})"
        elif "names" not in answer:
            why = f"it raised {answer['load_error']}" if "load_error" in answer else f"it {answer['failure']}"
        else:
            why = None if isinstance(answer.get("state"), dict) else "its STATE is not a dict"
        if why:
            raise SustainError(f"The tools file {self.path} cannot be loaded in the {self.jail.name} jail: {why}; "
                               f"fix it so that it runs with the standard library alone and its STATE (if any) "
                               f"is a dict of JSON values.")
        self.initial = answer["state"]
        return list(answer["names"])

    def start(self, session_id: str) -> ToolEpisode:
        return _PythonEpisode(self, self.offered[session_id])

    def ask(self, job: dict[str, Any]) -> tuple[dict[str, Any] | None, Outcome]:
        """One jail run of the driver; its answer, or None when it wrote none (a limit stopped it)."""
        job = {**job, "max_chars": CONTENT_CHARS, "report_bytes": REPORT_BYTES - 1024}
        outcome = self.jail.run(self.files, ["-I", "-S", "-B", "-c", DRIVER], secret=json.dumps(job).encode())
        try:
            answer = json.loads(outcome.report) if outcome.report.strip() else None
        except ValueError:
            answer = None
        return (answer if isinstance(answer, dict) else None), outcome


class _PythonEpisode(_Episode):
    def __init__(self, env: PythonEnvironment, offered: tuple[str, ...]) -> None:
        super().__init__(env.toolbox, offered)
        self.env = env
        self._state = copy.deepcopy(env.initial)

    def _answer(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        answer, outcome = self.env.ask({"file": self.env.file, "call": name, "arguments": arguments,
                                        "state": self._state})
        if answer is None:
            return failed(f"{name} ended without an answer ({_ended(outcome)})")
        if "load_error" in answer:
            return failed(f"the tools file raised {answer['load_error']}")
        if "failure" in answer:
            return failed(f"{name} {answer['failure']}")
        if isinstance(answer.get("state"), dict):
            self._state = answer["state"]
        if "error" in answer:
            return failed(f"{name} raised {answer['error']}")
        return ToolResult(str(answer.get("content", "")))

    def state(self) -> dict[str, Any]:
        return copy.deepcopy(self._state)


def folder_files(tools_file: Path) -> dict[str, str]:
    """The tools file and the text files beside it (its data), as the jail's working directory holds them."""
    found = [p for p in sorted(tools_file.parent.iterdir())
             if p == tools_file or (p.is_file() and not p.name.startswith(".") and p.suffix in TEXT_FILES)]
    size = sum(p.stat().st_size for p in found)
    if size > FOLDER_BYTES:
        raise SustainError(f"The folder of the tools file {tools_file} holds {size / 2**20:.1f} MiB of text files, "
                           f"all copied into the jail on every call: move the tools file and its data into a "
                           f"folder of their own (at most {FOLDER_BYTES // 2**20} MiB).")
    return {p.name: p.read_text(encoding="utf-8", errors="replace") for p in found}


def _ended(outcome: Outcome) -> str:
    tail = " ".join(outcome.output.split())[-300:]
    return outcome.reason + (f": {tail}" if tail and outcome.returncode not in (None, 0) else "")
