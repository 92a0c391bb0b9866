"""Function-writing problems scored by pass@1: the model's code must pass hidden unit tests.

A dataset is JSONL, one problem per line: `{"id", "entry_point", "signature", "prompt", "tests"}` and
optionally `reference` (a reference solution, shown to the judge, never to the program). `tests` is
Python (usually asserts) that calls the program's functions with literal arguments. One greedy sample
per problem, so pass@1 is the share of problems passed.

A pass is proven, not inferred from an exit status (docs/jail.md): inside the jail (`sustain.jail`) a
trusted runner gets the tests and a random token on a descriptor the program never sees, starts the
program in a separate process, and runs each test statement itself; the program's top-level names are
proxies that send the arguments' repr to the program and take back the `ast.literal_eval` of its
result's repr. Only after the last statement completed does the runner write the token and the count
on its report descriptor; the sample passes when both are right.

How the code is read from an output (after a leading `<think>...</think>` block, with
`task.strip_reasoning`): the first fenced block (```` ```python ````, ```` ```py ```` or a bare
```` ``` ````) that defines `def <entry_point>(`; else the first fenced block; else, when an opening
fence is never closed (the output was cut at `task.max_tokens`), everything after it; else the whole
output as bare code.

`predict` runs the tests (up to `task.timeout_s` per sample), so it belongs after the measured window.
"""

from __future__ import annotations

import ast
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sustain.errors import SustainError
from sustain.jail import Jail, Limits, Outcome, jail_for
from sustain.metrics.quality import strip_reasoning
from sustain.registry import MAXIMIZE, Metric
from sustain.tasks.base import (
    JudgeItem, Prediction, QualityResult, Request, Task, TaskConfig, correct_share, dataset_path,
)
from sustain.tasks.examples import Row, read_rows

SYSTEM_PROMPT = (
    "You are a Python programmer. Write the requested function with the given name and parameters, "
    "using only the standard library. Reply with the complete code in one ```python block and no explanation."
)

_FENCED = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_OPEN_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n", re.IGNORECASE)

PROCESS_FLAG = ("code ran WITHOUT the bubblewrap jail (task.jail=process): the model's programs could read "
                "and change the host's files and reach its network, so pass_at_1 is not proven against them")

# The trusted runner, inside the jail: reads the token and the tests, starts the program as a separate
# process (CANDIDATE), runs each test statement against proxies of the program's names, and writes the
# token and the count only after the last one completed.
RUNNER = r"""
import ast, builtins, ctypes, importlib, json, os, signal, subprocess, sys
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no ptrace or memory reads of this process
sys.set_int_max_str_digits(0)
with os.fdopen(int(os.environ.pop("SUSTAIN_SECRET_FD")), "rb") as secret:
    job = json.loads(secret.read())
report = os.fdopen(int(os.environ.pop("SUSTAIN_REPORT_FD")), "w", encoding="utf-8")
requests_r, requests_w = os.pipe()
answers_r, answers_w = os.pipe()
program = subprocess.Popen([sys.executable, "-I", "-B", "-u", "-c", job["candidate"], str(requests_r), str(answers_w)],
                           pass_fds=(requests_r, answers_w), stdin=subprocess.DEVNULL,
                           env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": os.getcwd()})
os.close(requests_r)
os.close(answers_w)
to_program = os.fdopen(requests_w, "w", encoding="utf-8")
from_program = os.fdopen(answers_r, "rb")


class Ended(BaseException):
    "The program cannot answer; a test may not catch this."


def finish(**result):
    report.write(json.dumps(result) + "\n")
    report.flush()
    program.kill()
    os._exit(0)


def status():
    try:
        code = program.wait(timeout=2)
    except subprocess.TimeoutExpired:
        return "it closed its channel"
    if code >= 0:
        return f"status {code}"
    limit = " (CPU-time limit)" if code == -signal.SIGXCPU else ""
    return f"killed by {signal.Signals(-code).name}{limit}"


def ask(message):
    try:
        to_program.write(json.dumps(message) + "\n")
        to_program.flush()
        line = from_program.readline(1 << 20)
    except OSError:
        line = b""
    if not line:
        raise Ended(f"program exited ({status()})")
    try:
        answer = json.loads(line)
        assert isinstance(answer, dict)
        return answer
    except Exception:
        raise Ended("program wrote something that is not an answer on its channel") from None


def proxy(name):
    def call(*args, **kwargs):
        try:
            ast.literal_eval(repr((args, kwargs)))
        except Exception:
            raise Ended(f"the tests pass {name} an argument that is not a literal") from None
        answer = ask({"call": name, "args": repr(args), "kwargs": repr(kwargs)})
        if "raised" in answer:
            kind = getattr(builtins, str(answer["raised"]), None)
            if not (isinstance(kind, type) and issubclass(kind, Exception)):
                raise RuntimeError(f"{answer['raised']}: {answer.get('message', '')}")
            try:
                error = kind(str(answer.get("message", "")))
            except Exception:
                error = RuntimeError(f"{answer['raised']}: {answer.get('message', '')}")
            raise error
        try:
            return ast.literal_eval(str(answer["value"]))
        except Exception:
            raise Ended(f"{name} returned a value that is not a literal: {str(answer.get('value'))[:80]}") from None
    return call


def bind(tree):
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    names = sorted((loaded - stored - set(dir(builtins))) | {job["entry_point"]})
    try:
        answer = ask({"names": names})
    except Ended as ended:
        said = str(ended)
        finish(reason=said.replace("program exited", "program exited before the tests ran", 1)
               if said.startswith("program exited") else f"{said}, before the tests ran")
    if "error" in answer:
        finish(reason=f"program raised {str(answer['error'])[:300]} before the tests ran")
    scope = {"__builtins__": builtins, "__name__": "__tests__"}
    for name, kind in dict(answer.get("kinds", {})).items():
        kind = str(kind)
        if name not in names:
            continue
        if kind == "callable":
            scope[name] = proxy(name)
        elif kind.startswith("module:") and kind[7:] in sys.stdlib_module_names:
            scope[name] = importlib.import_module(kind[7:])
        elif kind.startswith("value:"):
            try:
                scope[name] = ast.literal_eval(kind[6:])
            except Exception:
                pass
    return scope


tree = ast.parse(job["tests"])
scope = bind(tree)
total = len(tree.body)
for number, statement in enumerate(tree.body, 1):
    try:
        exec(compile(ast.Module([statement], []), "<tests>", "exec", dont_inherit=True, optimize=0), scope)
    except Ended as ended:
        finish(reason=f"test {number} of {total}: {ended}")
    except BaseException as error:
        said = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        finish(reason=f"test {number} of {total} failed: {said[:300]}")
finish(token=job["token"], ran=total)
"""

# The program's side, a separate process: runs program.py, then answers the runner's requests.
CANDIDATE = r"""
import ast, json, os, sys, types
sys.set_int_max_str_digits(0)
requests = os.fdopen(int(sys.argv[1]), "r", encoding="utf-8")
answers = os.fdopen(int(sys.argv[2]), "w", encoding="utf-8")
del sys.argv[1:]


def answer(**message):
    answers.write(json.dumps(message) + "\n")
    answers.flush()


def kind(name):
    try:
        value = program[name]
        if isinstance(value, types.ModuleType):
            return "module:" + value.__name__
        return "callable" if callable(value) else "value:" + repr(value)
    except Exception:
        return "missing"


program = {"__name__": "__main__", "__builtins__": __builtins__}
try:
    exec(compile(open("program.py", encoding="utf-8").read(), "program.py", "exec"), program)
except Exception as error:
    answer(error=(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)[:300])
    raise SystemExit(1)
for line in requests:
    request = json.loads(line)
    if "names" in request:
        answer(kinds={name: kind(name) for name in request["names"]})
        continue
    try:
        args, kwargs = ast.literal_eval(request["args"]), ast.literal_eval(request["kwargs"])
        result = repr(program[request["call"]](*args, **kwargs))
    except Exception as error:
        answer(raised=type(error).__name__, message=str(error)[:300])
    else:
        answer(value=result)
"""


@dataclass
class CodeConfig(TaskConfig):
    _target_: str = "sustain.tasks.code.CodeTask"
    name: str = "code"
    max_tokens: int = 384
    timeout_s: float = 10.0  # wall-clock limit per sample
    cpu_s: int = 5  # CPU-time limit per sample
    memory_mb: int = 512  # address-space limit per sample
    jail: str = "bwrap"  # bwrap | process (weaker, opt-in, flagged on every figure; docs/jail.md)


@dataclass(frozen=True)
class Problem:
    id: str
    entry_point: str
    signature: str
    prompt: str
    tests: str
    raw: dict[str, Any]


def extract_code(text: str, entry_point: str) -> str:
    """The program text of an output, chosen as the module docstring says."""
    blocks = _FENCED.findall(text)
    defining = [b for b in blocks if re.search(rf"\bdef\s+{re.escape(entry_point)}\s*\(", b)]
    if defining or blocks:
        return (defining or blocks)[0].strip("\n")
    opened = _OPEN_FENCE.search(text)
    return (text[opened.end():] if opened else text).strip("\n")


class CodeTask(Task):
    def __init__(self, cfg: CodeConfig) -> None:
        super().__init__(cfg)
        self.examples: dict[str, Problem] = {}
        self.jail: Jail = jail_for(cfg.jail, Limits(wall_s=cfg.timeout_s, cpu_s=cfg.cpu_s,
                                                    memory_bytes=cfg.memory_mb * 2**20))

    def load(self) -> None:
        self.jail.check_available()
        path = dataset_path(self.cfg.dataset, "code.jsonl")
        problems = [self._problem(row) for row in read_rows(path)]
        self._keep(problems, path)

    def requests(self) -> list[Request]:
        return [
            Request(p.id, [{"role": "system", "content": SYSTEM_PROMPT},
                           {"role": "user", "content": f"Write a Python function `{p.signature}`.\n\n{p.prompt}"}])
            for p in self.examples.values()
        ]

    def predict(self, id: str, output: str | None, error: str | None = None) -> Prediction:
        problem = self.examples[id]
        gold = problem.raw.get("reference")
        if output is None:
            return Prediction(id, None, gold, False, parse_error=f"request failed: {error}")
        code = extract_code(strip_reasoning(output) if self.cfg.strip_reasoning else output, problem.entry_point)
        if not code.strip():
            return Prediction(id, None, gold, False, parse_error="no code in the output")
        result, outcome = run_tests(self.jail, code, problem)
        return Prediction(id, code, gold, result == "passed",
                          detail={"result": result, "test_seconds": round(outcome.duration_s, 3)})

    def score(self, predictions: list[Prediction]) -> QualityResult:
        result = correct_share("pass_at_1", "code_found_rate", predictions)
        result.tags = {"code.jail": self.jail.name}
        result.flags = [PROCESS_FLAG] if self.jail.name == "process" else []
        return result

    def judge_item(self, id: str, output: str) -> JudgeItem:
        p = self.examples[id]
        return JudgeItem(id, f"Write a Python function `{p.signature}`.\n\n{p.prompt}", output,
                         str(p.raw.get("reference") or p.tests))

    def example_field(self, id: str, name: str) -> Any:
        return self.examples[id].raw.get(name)

    @staticmethod
    def _problem(row: Row) -> Problem:
        fields = {name: row.field(name, str, "a string") for name in ("entry_point", "signature", "prompt", "tests")}
        if not fields["entry_point"].isidentifier():
            raise SustainError(f"{row.where}: field 'entry_point' is {fields['entry_point']!r}, not a Python name; fix it.")
        try:
            ast.parse(fields["tests"])
        except SyntaxError as error:
            raise SustainError(f"{row.where}: field 'tests' is not Python ({error.msg}, its line {error.lineno}); "
                               f"fix it.") from None
        return Problem(str(row.data["id"]), raw=row.data, **fields)


def run_tests(jail: Jail, code: str, problem: Problem) -> tuple[str, Outcome]:
    """Run the problem's tests against `code` in the jail: "passed" or why not, and how the jail ended."""
    token = secrets.token_hex(16)
    secret = {"token": token, "tests": problem.tests, "entry_point": problem.entry_point, "candidate": CANDIDATE}
    outcome = jail.run({"program.py": code}, ["-I", "-S", "-B", "-c", RUNNER], secret=json.dumps(secret).encode())
    return verdict(outcome.report, outcome.reason, outcome.returncode is None, token,
                   len(ast.parse(problem.tests).body)), outcome


def verdict(report: str, ended: str, timed_out: bool, token: str, count: int) -> str:
    """"passed" only for the runner's report line with this sample's token and the full test count."""
    try:
        result = json.loads(report.splitlines()[0]) if report.strip() else {}
    except ValueError:
        result = {"reason": "unreadable result line"}
    if not isinstance(result, dict):
        return "unreadable result line"
    if "token" in result:
        if result["token"] != token:
            return "forged result line"
        return "passed" if result.get("ran") == count else f"only {result.get('ran')} of {count} tests ran"
    if timed_out or "reason" not in result:
        return ended if timed_out else f"the test runner ended without a result ({ended})"
    return str(result["reason"])


SCHEMAS = {"code_schema": CodeConfig}
METRICS = [
    Metric("pass_at_1", "1", MAXIMIZE, "over problems, one greedy sample each", "Share of problems whose program "
           "passed every hidden test in the jail (proven by the runner's token, never by exit status).", "quality",
           source=__name__),
    Metric("code_found_rate", "1", MAXIMIZE, "over problems", "Share of outputs holding any code to run.",
           "quality", source=__name__),
]
