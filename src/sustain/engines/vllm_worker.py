"""The offline vLLM engine's process: builds an `LLMEngine`, submits every request at once, steps it,
and streams records back with the time of every output token (taken when `step()` returns it).

It runs in a fresh spawned process per job (see `runner`), so a sweep never inherits a previous
engine's memory, and vLLM's own worker processes hang off it. Everything it sends is plain data.
"""

from __future__ import annotations

import os
import platform
import time
import traceback
from typing import Any


def main(spec: dict[str, Any], queue: Any) -> None:
    os.environ.setdefault("VLLM_LOGGING_LEVEL", spec.get("log_level", "WARNING"))
    if spec.get("log_file"):
        _log_to(spec["log_file"], spec.get("verbose", False))
    try:
        _run(spec, queue)
    except BaseException as exc:  # the parent turns this into a FAILED run with its kind
        queue.put(("error", {"kind": classify(exc), "message": f"{type(exc).__name__}: {exc}",
                             "traceback": traceback.format_exc()}))


def _log_to(path: str, verbose: bool) -> None:
    """Send this process's (and vLLM's child processes') stdout and stderr through the log relay, which
    keeps the run's engine log and shows the terminal what matters (everything with `verbose`)."""
    import subprocess
    import sys

    argv = [sys.executable, "-m", "sustain.engines.log_relay", path, *(["--verbose"] if verbose else [])]
    relay = subprocess.Popen(argv, stdin=subprocess.PIPE)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(relay.stdin.fileno(), 1)
    os.dup2(relay.stdin.fileno(), 2)
    relay.stdin.close()


def classify(exc: BaseException) -> str:
    text = f"{type(exc).__name__} {exc}".lower()
    if "out of memory" in text or "outofmemory" in text or "kv cache" in text or "memory utilization" in text:
        return "out_of_memory"
    if "repository not found" in text or "does not appear to have" in text or "not a valid model" in text:
        return "model_not_found"
    return "engine_error"


def _run(spec: dict[str, Any], queue: Any) -> None:
    t0 = time.monotonic()
    import torch
    import vllm
    from vllm import EngineArgs, SamplingParams
    from vllm.platforms import current_platform
    from vllm.sampling_params import StructuredOutputsParams
    from vllm.v1.engine.llm_engine import LLMEngine

    on_cpu = current_platform.is_cpu()
    args: dict[str, Any] = dict(spec["engine_args"])
    if on_cpu:
        args.setdefault("gpu_memory_utilization", spec["cpu_memory_fraction"])
    if spec.get("enforce_eager") is not None:
        args.setdefault("enforce_eager", spec["enforce_eager"])
    elif on_cpu:
        args.setdefault("enforce_eager", True)
    engine = LLMEngine.from_engine_args(EngineArgs(**args))
    load_s = time.monotonic() - t0

    if on_cpu:
        devices = [platform.processor() or platform.machine()]
        try:
            import cpuinfo

            devices = [cpuinfo.get_cpu_info().get("brand_raw", devices[0])]
        except Exception:
            pass
    else:
        devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    queue.put(("loaded", {
        "load_s": load_s,
        "info": {
            "pid": os.getpid(),
            "vllm_version": vllm.__version__,
            "torch_version": torch.__version__,
            "platform": "cpu" if on_cpu else current_platform.device_name,
            "devices": devices,
            "device_count_visible": 0 if on_cpu else torch.cuda.device_count(),
            "engine_args": {k: v for k, v in args.items() if isinstance(v, (str, int, float, bool, type(None)))},
        },
    }))

    sampling = dict(spec["sampling"])
    if spec.get("json_schema") is not None:
        sampling["structured_outputs"] = StructuredOutputsParams(json=spec["json_schema"])
    elif spec.get("choice") is not None:
        sampling["structured_outputs"] = StructuredOutputsParams(choice=spec["choice"])
    params = SamplingParams(**sampling)
    overrides = dict(spec.get("overrides", {}))
    raw = spec.get("prompts", {})
    tokenizer = engine.get_tokenizer()
    prompts = [
        (rid, raw[rid] if rid in raw else tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, **spec.get("chat_template_kwargs", {})))
        for rid, messages in spec["requests"]
    ]
    continuations = spec.get("continuations", {})
    ctxlens: dict[str, int] = {}
    for k, (rid, prompt) in enumerate(prompts):
        if rid in continuations:
            ids, ctxlens[rid] = encode_pair(tokenizer, prompt, continuations[rid])
            prompts[k] = (rid, {"prompt_token_ids": ids})
            overrides[rid] = {**overrides.get(rid, {}), "prompt_logprobs": 1}

    arrivals: dict[str, float] = {}
    start_s = time.monotonic()
    for rid, prompt in prompts:
        arrivals[rid] = time.monotonic()
        try:
            own = SamplingParams(**{**sampling, **overrides[rid]}) if rid in overrides else params
            engine.add_request(rid, prompt, own)
        except Exception as exc:  # e.g. a prompt longer than max_model_len: that request fails alone
            queue.put(("record", _failed(rid, arrivals[rid], f"{type(exc).__name__}: {exc}")))

    token_times: dict[str, list[float]] = {rid: [] for rid, _ in prompts}
    while engine.has_unfinished_requests():
        outputs = engine.step()
        now = time.monotonic()
        for out in outputs:
            times = token_times[out.request_id]
            times.extend([now] * (len(out.outputs[0].token_ids) - len(times)))
            if out.finished:
                record = _record(out, arrivals[out.request_id], times)
                if out.request_id in ctxlens:
                    record["logprob"], record["is_greedy"] = continuation_score(
                        out.prompt_logprobs, out.prompt_token_ids, ctxlens[out.request_id])
                queue.put(("record", record))
    queue.put(("done", {"start_s": start_s, "end_s": time.monotonic()}))
    del engine


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], int]:
    """Context + continuation as token ids and the context's share, tokenized as lm-eval's `_encode_pair` does:
    trailing spaces move to the continuation, the whole is encoded, then the context alone."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    return tokenizer.encode(context + continuation), len(tokenizer.encode(context))


def continuation_score(prompt_logprobs: Any, token_ids: Any, ctxlen: int) -> tuple[float, bool]:
    """The continuation tokens' summed log-probability, and whether each was the model's top-1 (rank 1), from
    vLLM's `prompt_logprobs` (per position a {token id: Logprob}, which always holds the prompt's own token)."""
    chosen = [prompt_logprobs[i][token_ids[i]] for i in range(ctxlen, len(token_ids))]
    return float(sum(lp.logprob for lp in chosen)), all(lp.rank == 1 for lp in chosen)


def _record(out: Any, arrival_s: float, token_times: list[float]) -> dict[str, Any]:
    completion = out.outputs[0]
    m = out.metrics

    def ts(value: float | None) -> float | None:
        return value if value else None

    return {
        "id": out.request_id,
        "prompt_tokens": len(out.prompt_token_ids or []),
        "output_tokens": len(completion.token_ids),
        "output_text": completion.text,
        "finish_reason": completion.finish_reason,
        "arrival_s": arrival_s,
        "scheduled_s": ts(getattr(m, "scheduled_ts", None)),
        "first_token_s": ts(getattr(m, "first_token_ts", None)),
        "last_token_s": ts(getattr(m, "last_token_ts", None)),
        "error": None,
        "token_times_s": token_times,
    }


def _failed(rid: str, arrival_s: float, message: str) -> dict[str, Any]:
    return {"id": rid, "prompt_tokens": 0, "output_tokens": 0, "output_text": "", "finish_reason": None,
            "arrival_s": arrival_s, "scheduled_s": None, "first_token_s": None, "last_token_s": None,
            "error": message}
