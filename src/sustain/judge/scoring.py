"""LLM-as-a-judge over a run's outputs: ragas' rubric metric against an OpenAI-compatible endpoint.

The judge's own time and energy are measured around the judging alone and reported apart from the
evaluated model's: a local judge with the run's `energy` settings (its server runs on this machine); a
remote endpoint's energy is not measured at all, and says so, since this machine's meters see none of it. Verdicts are cached on disk. A judge that cannot be used at all (unreachable, wrong
key, unknown model) stops the run with one sentence; a judge that answers badly for some items (not the
expected JSON, a score outside the rubric, a timeout) costs those items only, each failure recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sustain.errors import SustainError
from sustain.judge import cache
from sustain.judge.config import JudgeConfig, cache_path
from sustain.judge.endpoints import Endpoint, JudgeEndpoint
from sustain.judge.rubric import JudgeItem, normalise, prompt_text, scoring_metric, telemetry_off

REMOTE_ENERGY = "not measured (remote endpoint)"
MAX_FAILURE_CHARS = 300
NOISY_LOGGERS = ("instructor", "httpx", "openai")  # they log every failed attempt / request; judge.jsonl has them


@dataclass
class JudgeResult:
    scores: dict[str, float | None]  # 0, 0.5, 1; None where the item failed
    feedback: dict[str, str]
    failures: dict[str, str]
    mean: float | None
    std: float | None  # population std, as the paper's mean ± std
    n_scored: int
    n_cached: int
    time_s: float  # judging only; a local server's start-up is in startup_s
    startup_s: float
    energy_j: float | None  # None for a remote endpoint: nothing here can measure it
    energy_source: str
    energy_measured: bool
    energy_notes: list[str]
    model: str
    endpoint: str  # base URL; never the key

    def metrics(self) -> dict[str, float]:
        """Flat numbers for the tracker, prefixed `judge_`."""
        out = {
            "judge_n_scored": float(self.n_scored),
            "judge_n_failed": float(len(self.failures)),
            "judge_n_cached": float(self.n_cached),
            "judge_time_s": self.time_s,
            "judge_startup_s": self.startup_s,
        }
        if self.energy_j is not None:
            out["judge_energy_j"] = self.energy_j
        if self.mean is not None and self.std is not None:
            out.update(judge_score_mean=self.mean, judge_score_std=self.std)
        return out

    def tags(self) -> dict[str, str]:
        return {
            "judge.model": self.model,
            "judge.endpoint": self.endpoint,
            "judge.energy_source": self.energy_source,
            "judge.energy_measured": str(self.energy_measured).lower(),
        }


@dataclass
class _Verdict:
    raw: Any = None
    feedback: str = ""
    failure: str | None = None
    fatal: str | None = None  # the endpoint itself is unusable: the same for every item
    cached: bool = False


def evaluate(cfg: JudgeConfig, items: list[JudgeItem], out_dir: Path, energy: Any = None) -> JudgeResult:
    """Judge every item; writes `out_dir/judge.jsonl` (and `judge-server.log` for judge=local).

    `energy` is the run's energy config (a `sustain.energy.config.EnergyConfig` kind), used to meter a
    local judge; None means energy=auto's defaults."""
    judge = _checked_endpoint(cfg, items)
    telemetry_off()
    out_dir.mkdir(parents=True, exist_ok=True)
    endpoint = judge.endpoint()
    client = _client(cfg, endpoint)
    metric, constraint = _metric(cfg, endpoint, client)
    answers = cache.AnswerCache(cache_path(cfg) if cfg.cache else None)
    identity = {**endpoint.identity, "temperature": cfg.temperature, "max_tokens": cfg.max_tokens, **constraint}
    digests = {item.id: cache.key(identity, prompt_text(metric, item)) for item in items}

    verdicts: dict[str, _Verdict] = {}
    for item in items:
        entry = answers.get(digests[item.id])
        if entry is not None:
            verdicts[item.id] = _Verdict(raw=entry["raw_score"], feedback=entry["feedback"], cached=True)
    pending = [item for item in items if item.id not in verdicts]

    with contextlib.ExitStack() as stack:
        startup_s, meter, notes = judge.serve(stack, out_dir / "judge-server.log", energy, bool(pending))
        t0 = time.monotonic()
        if meter is not None:
            meter.start()
        try:
            with _quiet(NOISY_LOGGERS):
                verdicts.update(asyncio.run(_judge_all(cfg, endpoint, metric, client, pending, answers, digests)))
        finally:
            timeline = meter.stop() if meter is not None else None
            time_s = time.monotonic() - t0

    result = _result(items, verdicts, endpoint, time_s, startup_s, timeline, notes)
    _write(out_dir / "judge.jsonl", items, verdicts, result)
    fatal = next((v.fatal for v in verdicts.values() if v.fatal), None)
    if fatal and result.n_scored == 0:
        raise SustainError(fatal)
    return result


def _checked_endpoint(cfg: JudgeConfig, items: list[JudgeItem]) -> JudgeEndpoint:
    """The endpoint `judge._target_` names, once the config and the items are known to be usable."""
    from sustain.plugins import build

    if not cfg._target_:
        raise SustainError(f"judge={cfg.name} names no judge endpoint: use judge=openai or judge=local.")
    judge = build(cfg, "judge")
    judge.check()
    for name, value, low in (("concurrency", cfg.concurrency, 1), ("max_tokens", cfg.max_tokens, 1),
                             ("max_retries", cfg.max_retries, 0)):
        if value < low:
            raise SustainError(f"judge.{name}={value} is invalid: use a number >= {low}.")
    if cfg.timeout_s <= 0:
        raise SustainError("judge.timeout_s must be a positive number of seconds.")
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise SustainError(f"judge item id {item.id!r} repeats: every item needs a unique id.")
        seen.add(item.id)
    return judge


def _client(cfg: JudgeConfig, endpoint: Endpoint) -> Any:
    from openai import AsyncOpenAI

    return AsyncOpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, timeout=cfg.timeout_s,
                       max_retries=cfg.max_retries)


def _metric(cfg: JudgeConfig, endpoint: Endpoint, client: Any) -> tuple[Any, dict[str, Any]]:
    """The rubric metric on ragas' instructor LLM (JSON mode for provider "openai"), or on one constrained to
    the rubric's schema; with what the constraint adds to the cache identity. `max_retries` reaches
    instructor, which re-asks that many times after an answer that does not parse."""
    args = {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens, "max_retries": cfg.max_retries}
    if cfg.constrain:
        from sustain.judge import constrained

        llm = constrained.llm(client, endpoint.model, **args)
        return scoring_metric(llm, output_model=constrained.LevelScoreOutput), {"schema": constrained.schema()}
    from ragas.llms import llm_factory

    return scoring_metric(llm_factory(endpoint.model, provider="openai", client=client, **args)), {}


async def _judge_all(
    cfg: JudgeConfig, endpoint: Endpoint, metric: Any, client: Any, pending: list[JudgeItem],
    answers: cache.AnswerCache, digests: dict[str, str],
) -> dict[str, _Verdict]:
    """The first item goes alone: if the endpoint is unusable, nothing else is sent."""
    from tqdm import tqdm

    gate = asyncio.Semaphore(cfg.concurrency)
    bar = tqdm(total=len(pending), desc="judge", unit="req", dynamic_ncols=True, disable=not pending)

    async def one(item: JudgeItem) -> _Verdict:
        async with gate:
            try:
                result = await metric.ascore(user_input=item.input, response=item.output, reference=item.reference)
            except Exception as exc:
                verdict = _Verdict(failure=_failure_text(exc, cfg, endpoint),
                                   fatal=_endpoint_problem(exc, cfg, endpoint))
            else:
                raw = int(result.value) if float(result.value).is_integer() else result.value
                answers.put(digests[item.id], raw, result.reason or "")
                verdict = _Verdict(raw=raw, feedback=result.reason or "")
        bar.update(1)
        return verdict

    try:
        if not pending:
            return {}
        first = await one(pending[0])
        if first.fatal:
            skipped = f"not sent, the first request failed: {first.failure}"
            rest = [dataclasses.replace(first, failure=skipped) for _ in pending[1:]]
        else:
            rest = list(await asyncio.gather(*(one(item) for item in pending[1:])))
        return {item.id: verdict for item, verdict in zip(pending, [first, *rest])}
    finally:
        bar.close()
        await client.close()


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _endpoint_problem(exc: BaseException, cfg: JudgeConfig, endpoint: Endpoint) -> str | None:
    """One sentence when the endpoint cannot serve any request; None for a per-item problem."""
    import openai

    where = f"The judge endpoint {endpoint.base_url}"
    for e in _chain(exc):
        if isinstance(e, openai.APITimeoutError):
            return None
        if isinstance(e, openai.APIConnectionError):
            root = str(list(_chain(e))[-1]).split("] ")[-1] or type(e).__name__
            return f"{where} cannot be reached ({root}): check judge.base_url, and that the server there is running."
        if isinstance(e, (openai.AuthenticationError, openai.PermissionDeniedError)):
            key_env = getattr(cfg, "api_key_env", None)  # judge=openai's; judge=local's server takes any key
            if key_env is None:
                return f"{where} refused the request (HTTP {e.status_code}): check judge.engine_args."
            return (f"{where} refused the API key from {key_env} (HTTP {e.status_code}): "
                    f"put a valid key for this endpoint in {key_env}.")
        if isinstance(e, openai.NotFoundError):
            return (f"{where} answered HTTP 404 for model '{endpoint.model}': check judge.model and "
                    f"judge.base_url (it usually ends in /v1).")
    return None


def _failure_text(exc: BaseException, cfg: JudgeConfig, endpoint: Endpoint) -> str:
    """A one-line reason for judge.jsonl, with the key (should a server echo it) blanked out."""
    import openai
    from instructor.core import IncompleteOutputException, InstructorRetryException

    text = ""
    for e in _chain(exc):
        if isinstance(e, openai.APIStatusError):
            text = f"HTTP {e.status_code} from the judge ({type(e).__name__})"
            break
        if isinstance(e, openai.APIError):
            text = f"{type(e).__name__}: {e}"
            break
        if isinstance(e, IncompleteOutputException):
            text = f"the judge's answer was cut at judge.max_tokens={cfg.max_tokens}"
            break
    if not text and isinstance(exc, InstructorRetryException):
        lines = [line for line in str(exc.__cause__ or exc).splitlines() if not line.strip().startswith("For further")]
        problem = " ".join(lines[:3])
        text = f"the judge's answer is not the expected JSON after {exc.n_attempts} attempt(s): {problem}"
    if not text:
        text = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    text = " ".join(text.split())[:MAX_FAILURE_CHARS]
    return text.replace(endpoint.api_key, "***") if endpoint.api_key else text


def _result(
    items: list[JudgeItem], verdicts: dict[str, _Verdict], endpoint: Endpoint, time_s: float, startup_s: float,
    timeline: Any, notes: list[str],
) -> JudgeResult:
    scores: dict[str, float | None] = {}
    feedback: dict[str, str] = {}
    failures: dict[str, str] = {}
    for item in items:
        verdict = verdicts[item.id]
        feedback[item.id] = verdict.feedback
        scores[item.id] = None
        if verdict.failure is not None:
            failures[item.id] = verdict.failure
            continue
        try:
            scores[item.id] = normalise(verdict.raw)
        except ValueError as exc:
            failures[item.id] = str(exc)
    values = [s for s in scores.values() if s is not None]
    return JudgeResult(
        scores=scores,
        feedback=feedback,
        failures=failures,
        mean=statistics.fmean(values) if values else None,
        std=statistics.pstdev(values) if values else None,
        n_scored=len(values),
        n_cached=sum(v.cached for v in verdicts.values()),
        time_s=time_s,
        startup_s=startup_s,
        energy_j=None if timeline is None else timeline.energy_j[-1] - timeline.energy_j[0],
        energy_source=REMOTE_ENERGY if timeline is None else timeline.source,
        energy_measured=False if timeline is None else timeline.measured,
        energy_notes=list(notes),
        model=endpoint.model,
        endpoint=endpoint.base_url,
    )


def _write(path: Path, items: list[JudgeItem], verdicts: dict[str, _Verdict], result: JudgeResult) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for item in items:
            row = {
                "id": item.id,
                "score": result.scores[item.id],
                "raw_score": verdicts[item.id].raw,
                "feedback": result.feedback[item.id],
                "failure": result.failures.get(item.id),
                "cached": verdicts[item.id].cached,
                "judge_model": result.model,
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def _quiet(names: tuple[str, ...]) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
