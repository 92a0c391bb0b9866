"""lm-eval's code tasks (`unsafe_code: true`: HumanEval, MBPP and a user's own) scored in sustain's jail.

lm-eval scores such a task by running the model's program and the document's tests with HF evaluate's
`code_eval`, an unsandboxed `exec` in the scoring process. sustain never calls it: before any output is
scored, every metric of the task is replaced by `JailedPassAtK`, which runs each program with the
document's tests in `sustain.jail` (the trusted runner of `task=code`: a pass is the runner's token after
the last test statement, never an exit status) and computes pass@k as `code_eval` does (the unbiased
estimator over a document's n programs, for each k no larger than n). lm-eval's filters still build the
programs (HumanEval prepends the prompt) and its aggregation still averages over documents.

What the metric returns keeps lm-eval's shape: with `k` in the metric's kwargs (HumanEval's `pass_at_k`)
a dict `{"pass@1": ...}`, as `code_eval` returns it; without (MBPP's `pass_at_1`), the pass@1 float.
The test values cross from the program to the tests as Python literals (the runner's proxies), so a
function that returns something else (a set of objects, `float('inf')`) fails its sample, with that reason.
"""

from __future__ import annotations

import hashlib
from math import comb
from typing import Any

from sustain.jail import Jail, Limits, jail_for
from sustain.tasks.code import PROCESS_FLAG, Problem, run_tests


def jail_metrics(task: Any, cfg: Any) -> "JailedPassAtK":
    """Replace every metric of an lm-eval code task by pass@k in a jail of `cfg`'s kind and limits."""
    jail = jail_for(cfg.jail, Limits(wall_s=cfg.timeout_s, cpu_s=cfg.cpu_s, memory_bytes=cfg.memory_mb * 2**20))
    jail.check_available()
    scorer = JailedPassAtK(jail)
    for metric in list(task._metric_fn_list):
        task._metric_fn_list[metric] = scorer
        k = task._metric_fn_kwargs.get(metric, {}).get("k")
        if k is not None:  # logged as pass@k: that name, not the function's, carries the direction and aggregation
            for n in [k] if isinstance(k, int) else k:
                task._higher_is_better[f"pass@{n}"] = task._higher_is_better[metric]
                task._aggregation_list[f"pass@{n}"] = task._aggregation_list[metric]
            del task._higher_is_better[metric], task._aggregation_list[metric]
    return scorer


class JailedPassAtK:
    """lm-eval's metric interface (`references=[tests], predictions=[program or programs], k=...`), each program
    run once per (program, tests): `predict` and `score` both ask."""

    def __init__(self, jail: Jail) -> None:
        self.jail = jail
        self.verdicts: dict[str, str] = {}

    @property
    def flags(self) -> list[str]:
        return [PROCESS_FLAG] if self.jail.name == "process" else []

    def __call__(self, references: list[str], predictions: list[Any], k: int | list[int] | None = None) \
            -> float | dict[str, float]:
        tests = str(references[0])
        found = predictions[0]
        programs = [str(p) for p in (found if isinstance(found, (list, tuple)) else [found])]
        passed = sum(self.verdict(program, tests) == "passed" for program in programs)
        if k is None:
            return pass_at(len(programs), passed, 1)
        ks = [k] if isinstance(k, int) else list(k)
        return {f"pass@{n}": pass_at(len(programs), passed, n) for n in ks if n <= len(programs)}

    def verdict(self, program: str, tests: str) -> str:
        """"passed", or why not (the jail's reason), for one program against one document's tests."""
        key = hashlib.sha256(f"{len(program)}:{program}{tests}".encode()).hexdigest()
        if key not in self.verdicts:
            problem = Problem(key[:12], entry_point="", signature="", prompt="", tests=tests, raw={})
            self.verdicts[key] = run_tests(self.jail, program, problem)[0] if program.strip() else "no code"
        return self.verdicts[key]


def pass_at(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator of Chen et al. (2021) over n programs of which c passed."""
    return 1.0 if n - c < k else 1.0 - comb(n - c, k) / comb(n, k)
