"""The code tasks' own functions, as lm-eval's HumanEval and MBPP modules have them. Their metrics would run
the model's program unsandboxed (as HF evaluate's code_eval does); sustain must never call them."""

import os


def pass_at_k(references, predictions, k=None):
    raise AssertionError(f"the task's own unsandboxed metric ran (HF_ALLOW_CODE_EVAL={os.environ.get('HF_ALLOW_CODE_EVAL')})")


def pass_at_1(references, predictions):
    raise AssertionError("the task's own unsandboxed metric ran")


def build_programs(resps, docs):
    return [[doc["prompt"] + r for r in resp] for resp, doc in zip(resps, docs)]
