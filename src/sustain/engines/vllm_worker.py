"""The offline vLLM engine's process: builds an `LLMEngine`, submits every request at once (or runs every
session's turns in order, `SessionRunner`), steps it, and streams records back with the time of every
output token (taken when `step()` returns it).

It runs in a fresh spawned process per job (see `runner`), so a sweep never inherits a previous
engine's memory, and vLLM's own worker processes hang off it. Everything it sends is plain data.
"""

from __future__ import annotations

import heapq
import os
import platform
import time
import traceback
from typing import Any

from sustain.engines.rolling import document_windows
from sustain.types import THINK_END, Session, Turn


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
    engine, args, on_cpu = _start_engine(spec)
    load_s = time.monotonic() - t0
    queue.put(("loaded", {"load_s": load_s, "info": _info(args, on_cpu)}))

    def emit(record: dict[str, Any]) -> None:
        queue.put(("record", record))

    sampling = _sampling(spec)
    if spec.get("sessions"):
        start_s = _run_sessions(engine, spec, sampling, emit)
    else:
        start_s = _run_requests(engine, spec, sampling, emit)
    queue.put(("done", {"start_s": start_s, "end_s": time.monotonic()}))
    del engine


def _start_engine(spec: dict[str, Any]) -> tuple[Any, dict[str, Any], bool]:
    from vllm import EngineArgs
    from vllm.platforms import current_platform
    from vllm.v1.engine.llm_engine import LLMEngine

    on_cpu = current_platform.is_cpu()
    args: dict[str, Any] = dict(spec["engine_args"])
    if on_cpu:
        args.setdefault("gpu_memory_utilization", spec["cpu_memory_fraction"])
    if spec.get("enforce_eager") is not None:
        args.setdefault("enforce_eager", spec["enforce_eager"])
    elif on_cpu:
        args.setdefault("enforce_eager", True)
    return LLMEngine.from_engine_args(EngineArgs(**args)), args, on_cpu


def _info(args: dict[str, Any], on_cpu: bool) -> dict[str, Any]:
    import torch
    import vllm
    from vllm.platforms import current_platform

    if on_cpu:
        devices = [platform.processor() or platform.machine()]
        try:
            import cpuinfo

            devices = [cpuinfo.get_cpu_info().get("brand_raw", devices[0])]
        except Exception:
            pass
    else:
        devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "pid": os.getpid(),
        "vllm_version": vllm.__version__,
        "torch_version": torch.__version__,
        "platform": "cpu" if on_cpu else current_platform.device_name,
        "devices": devices,
        "device_count_visible": 0 if on_cpu else torch.cuda.device_count(),
        "engine_args": {k: v for k, v in args.items() if isinstance(v, (str, int, float, bool, type(None)))},
    }


def _sampling(spec: dict[str, Any]) -> dict[str, Any]:
    """The job's SamplingParams fields, with its constrained decoding."""
    from vllm.sampling_params import StructuredOutputsParams

    sampling = dict(spec["sampling"])
    if spec.get("json_schema") is not None:
        sampling["structured_outputs"] = StructuredOutputsParams(json=spec["json_schema"])
    elif spec.get("choice") is not None:
        sampling["structured_outputs"] = StructuredOutputsParams(choice=spec["choice"])
    return sampling


def _renderer(engine: Any, spec: dict[str, Any]) -> Any:
    """Chat messages to the prompt text, through the model's chat template."""
    tokenizer = engine.get_tokenizer()
    kwargs = spec.get("chat_template_kwargs", {})

    def render(messages: list[dict[str, Any]]) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)

    return render


def _run_requests(engine: Any, spec: dict[str, Any], sampling: dict[str, Any], emit: Any) -> float:
    """Every request submitted at once, then the engine stepped until all are done; returns the start."""
    from vllm import SamplingParams

    params = SamplingParams(**sampling)
    overrides = dict(spec.get("overrides", {}))
    raw = spec.get("prompts", {})
    render, tokenizer = _renderer(engine, spec), engine.get_tokenizer()
    prompts = [(rid, raw[rid] if rid in raw else render(messages)) for rid, messages in spec["requests"]]
    continuations = spec.get("continuations", {})
    ctxlens: dict[str, int] = {}
    for k, (rid, prompt) in enumerate(prompts):
        if rid in continuations:
            ids, ctxlens[rid] = encode_pair(tokenizer, prompt, continuations[rid])
            prompts[k] = (rid, {"prompt_token_ids": ids})
            overrides[rid] = {**overrides.get(rid, {}), "prompt_logprobs": 1}
    rolled = RollingDocs(set(spec.get("rolling", ())), tokenizer, _max_model_len(engine))
    prompts = rolled.split(prompts, ctxlens, overrides, emit)

    arrivals: dict[str, float] = {}
    start_s = time.monotonic()
    for rid, prompt in prompts:
        arrivals[rid] = time.monotonic()
        try:
            own = SamplingParams(**{**sampling, **overrides[rid]}) if rid in overrides else params
            engine.add_request(rid, prompt, own)
        except Exception as exc:  # e.g. a prompt longer than max_model_len: that request fails alone
            failed = rolled.failure(_failed(rid, arrivals[rid], f"{type(exc).__name__}: {exc}"))
            if failed is not None:
                emit(failed)

    token_times: dict[str, list[float]] = {rid: [] for rid, _ in prompts}
    while engine.has_unfinished_requests():
        outputs = engine.step()
        now = time.monotonic()
        for out in outputs:
            times = _track(token_times[out.request_id], out, now)
            if out.finished:
                record = _record(out, arrivals[out.request_id], times, tokenizer)
                if out.request_id in ctxlens:
                    record["logprob"], record["is_greedy"] = continuation_score(
                        out.prompt_logprobs, out.prompt_token_ids, ctxlens[out.request_id])
                done = rolled.finished(record) if record["id"] in rolled.document_of else record
                if done is not None:
                    emit(done)
    return start_s


def _max_model_len(engine: Any) -> int:
    config = getattr(engine, "model_config", None) or engine.vllm_config.model_config
    return int(config.max_model_len)


class RollingDocs:
    """Rolling log-likelihood (lm-eval's loglikelihood_rolling): each document cut into windows as
    `rolling.document_windows` cuts it, each window one engine request scored like a continuation, and the
    document's record is the windows' sum: log-probability, greedy only if all were, prompt and output tokens, the
    first arrival and the last token."""

    SEP = "\x1f"  # between a document's id and its window's index

    def __init__(self, ids: set[str], tokenizer: Any, max_model_len: int) -> None:
        self.ids, self.tokenizer, self.max_len = ids, tokenizer, max_model_len
        self.document_of: dict[str, str] = {}
        self.left: dict[str, int] = {}
        self.sums: dict[str, dict[str, Any]] = {}
        self.failed: set[str] = set()

    def split(self, prompts: list[tuple[str, Any]], ctxlens: dict[str, int], overrides: dict[str, dict[str, Any]],
              emit: Any) -> list[tuple[str, Any]]:
        """`prompts` with each rolling document replaced by its windows (a document without a token fails)."""
        out = []
        for rid, prompt in prompts:
            if rid not in self.ids:
                out.append((rid, prompt))
                continue
            windows = document_windows(self.tokenizer, prompt, self.max_len)
            if not windows:
                emit(_failed(rid, time.monotonic(), "the document has no token to score"))
            self.left[rid] = len(windows)
            for k, (context, predicted) in enumerate(windows):
                sub = f"{rid}{self.SEP}{k}"
                self.document_of[sub], ctxlens[sub] = rid, len(context)
                overrides[sub] = {**overrides.get(rid, {}), "prompt_logprobs": 1}
                out.append((sub, {"prompt_token_ids": context + predicted}))
        return out

    def failure(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """A failed request's record, a window's as its document's (once: the document has failed)."""
        doc = self.document_of.get(record["id"])
        if doc is None:
            return record
        if doc in self.failed:
            return None
        self.failed.add(doc)
        self.sums.pop(doc, None)
        return {**record, "id": doc}

    def finished(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """A window's record folded into its document's; the document's record once its last window is in."""
        doc = self.document_of[record["id"]]
        if doc in self.failed:
            return None
        total = self.sums.get(doc)
        if total is None:
            self.sums[doc] = total = {**record, "id": doc, "output_text": "", "token_times_s": []}
        else:
            for key in ("prompt_tokens", "output_tokens", "logprob"):
                total[key] += record[key]
            total["is_greedy"] = total["is_greedy"] and record["is_greedy"]
            for key, pick in (("arrival_s", min), ("scheduled_s", min), ("first_token_s", min), ("last_token_s", max)):
                known = [v for v in (total[key], record[key]) if v is not None]
                total[key] = pick(known) if known else None
        self.left[doc] -= 1
        return self.sums.pop(doc) if self.left[doc] == 0 else None


def _run_sessions(engine: Any, spec: dict[str, Any], sampling: dict[str, Any], emit: Any) -> float:
    """Every session's turns, each after the previous reply and its delay; returns the start."""
    from vllm import SamplingParams

    params = SamplingParams(**sampling)

    def params_for(max_tokens: int | None) -> Any:
        return params if max_tokens is None else SamplingParams(**{**sampling, "max_tokens": max_tokens})

    runner = SessionRunner(engine, sessions_of(spec["sessions"]), spec.get("history", "generated"),
                           _renderer(engine, spec), params_for, emit, engine.get_tokenizer())
    return runner.run()


def sessions_of(plain: list[dict[str, Any]]) -> list[Session]:
    """The spec's plain sessions back into `Session`s."""
    return [Session(id=s["id"], system=s.get("system"), turns=tuple(
        Turn(messages=tuple(t["messages"]), delay_s=t.get("delay_s", 0.0), max_tokens=t.get("max_tokens"),
             recorded=t.get("recorded")) for t in s["turns"])) for s in plain]


class SessionRunner:
    """Drives sessions through an `LLMEngine`-like object (`add_request`, `step`, `has_unfinished_requests`).

    Offline there is no client: every session starts at once, its first turn `delay_s` after the start; a turn
    is added `delay_s` after its previous reply, while the engine keeps stepping the others. When nothing runs
    and turns wait on their delays, it sleeps until the next is due. A turn that cannot be added (a prompt too
    long, a template that refuses its messages) ends its session with an error record.
    """

    def __init__(self, engine: Any, sessions: list[Session], history: str, render: Any, params_for: Any,
                 emit: Any, tokenizer: Any = None, clock: Any = time.monotonic, sleep: Any = time.sleep) -> None:
        self.engine, self.sessions, self.history = engine, sessions, history
        self.render, self.params_for, self.emit, self.tokenizer = render, params_for, emit, tokenizer
        self.clock, self.sleep = clock, sleep
        self.messages: list[list[dict[str, Any]]] = [s.opening() for s in sessions]
        self.due: list[tuple[float, int, int]] = []  # heap of (due time, session index, turn index)
        self.running: dict[str, tuple[int, int, float, list[float]]] = {}  # id: (session, turn, arrival, times)

    def run(self) -> float:
        start_s = self.clock()
        for k, session in enumerate(self.sessions):
            if session.turns:
                heapq.heappush(self.due, (start_s + session.turns[0].delay_s, k, 0))
        while self.due or self.engine.has_unfinished_requests():
            self._submit_due()
            if self.engine.has_unfinished_requests():
                outputs = self.engine.step()
                now = self.clock()
                for out in outputs:
                    self._progress(out, now)
            elif self.due:
                self.sleep(max(0.0, self.due[0][0] - self.clock()))
        return start_s

    def _submit_due(self) -> None:
        while self.due and self.due[0][0] <= self.clock():
            _, k, turn = heapq.heappop(self.due)
            self._submit(k, turn)

    def _submit(self, k: int, turn: int) -> None:
        session = self.sessions[k]
        rid = session.request_id(turn)
        self.messages[k].extend(session.turns[turn].messages)
        try:
            prompt = self.render(self.messages[k])
            arrival = self.clock()  # after rendering, as a request's arrival is
            self.engine.add_request(rid, prompt, self.params_for(session.turns[turn].max_tokens))
        except Exception as exc:  # the session cannot go on without this turn's reply
            self.emit({**_failed(rid, self.clock(), f"{type(exc).__name__}: {exc}"), "session_id": session.id,
                       "turn": turn})
            return
        self.running[rid] = (k, turn, arrival, [])

    def _progress(self, out: Any, now: float) -> None:
        k, turn, arrival, times = self.running[out.request_id]
        _track(times, out, now)
        if not out.finished:
            return
        del self.running[out.request_id]
        session = self.sessions[k]
        self.emit({**_record(out, arrival, times, self.tokenizer), "session_id": session.id, "turn": turn})
        self.messages[k].append(session.reply(turn, out.outputs[0].text, self.history))
        if turn + 1 < len(session.turns):
            heapq.heappush(self.due, (now + session.turns[turn + 1].delay_s, k, turn + 1))


def _track(times: list[float], out: Any, now: float) -> list[float]:
    """Stamp the output tokens this step brought with the step's return time."""
    times.extend([now] * (len(out.outputs[0].token_ids) - len(times)))
    return times


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


def _record(out: Any, arrival_s: float, token_times: list[float], tokenizer: Any = None) -> dict[str, Any]:
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
        "cached_tokens": getattr(out, "num_cached_tokens", None),
        "reasoning_tokens": None if tokenizer is None else reasoning_tokens(tokenizer, completion.token_ids,
                                                                            completion.text),
    }


def reasoning_tokens(tokenizer: Any, ids: Any, text: str) -> int:
    """Output tokens up to the end of a leading think block (`...</think>`, as `strip_reasoning` cuts it): the
    fewest leading tokens whose decoded text holds the closing tag, found by bisection; 0 without one."""
    if THINK_END not in text:
        return 0
    ids = list(ids)
    lo, hi = 1, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if THINK_END in tokenizer.decode(ids[:mid]):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _failed(rid: str, arrival_s: float, message: str) -> dict[str, Any]:
    return {"id": rid, "prompt_tokens": 0, "output_tokens": 0, "output_text": "", "finish_reason": None,
            "arrival_s": arrival_s, "scheduled_s": None, "first_token_s": None, "last_token_s": None,
            "error": message}
