"""`task=sessions_synthetic`: agent-like sessions generated from a few numbers, for users without traces.

The shape of vLLM's multi-turn benchmark and AIPerf's prefix layers: a shared prefix (the system text,
the same in every session), a per-session prefix (opening the first user message), then turns of user
text, each answered with up to `output_tokens` and sent after `think_time_s`. Each size is a number or a
distribution, drawn under `task.seed` (session i from its own generator, so it does not change with
`task.sessions`):

    4                                     a constant
    {dist: uniform, low: 3, high: 8}      uniform between low and high
    {dist: exponential, mean: 2.0}        exponential with that mean
    {dist: lognormal, mean: 200, sigma: 0.5}   lognormal with that mean (not median) and log-space sigma

Token counts are rounded to integers (turns at least 1). Text of N tokens is N words drawn from `WORDS`,
common short English words that are each about one token in the BPE vocabularies of current models
(a space and the word), so the target is approximate: the server counts the real prompt tokens. Each turn's
recorded reply is text of its output size, so `task.history=recorded` grows the context alike on every model.
Scored as `task=sessions` (completion; synthetic sessions declare no expected end).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Mapping

from sustain.errors import SustainError
from sustain.tasks.sessions import SessionExample, SessionsTask, SessionsTaskConfig
from sustain.types import Session, Turn

WORDS = tuple("""the of and to in is you that it he was for on are as with his they at be this have from or one
had by word but not what all were we when your can said there use an each which she do how their if will up
other about out many then them these so some her would make like him into time has look two more write go see
number no way could people my than first water been call who oil its now find long down day did get come made
may part over new sound take only little work know place year live me back give most very after thing our just
name good sentence man think say great where help through much before line right too mean old any same tell boy
follow came want show also around form three small set put end does another well large must big even such
because turn here why ask went men read need land different home us move try kind hand picture again change off
play spell air away animal house point page letter mother answer found study still learn should world""".split())
DISTRIBUTIONS = {"uniform": ("low", "high"), "exponential": ("mean",), "lognormal": ("mean", "sigma")}
SIZES = {"turns": 1, "shared_prefix_tokens": 0, "session_prefix_tokens": 0, "turn_tokens": 1,
         "output_tokens": 1, "think_time_s": 0}  # each size key and its least value


@dataclass
class SyntheticSessionsConfig(SessionsTaskConfig):
    _target_: str = "sustain.tasks.synthetic_sessions.SyntheticSessionsTask"
    name: str = "sessions_synthetic"
    dataset: str = "synthetic"  # generated from the keys below; no file is read
    sessions: int = 16  # how many sessions
    turns: Any = 4  # turns per session
    shared_prefix_tokens: Any = 1000  # system text shared by every session (system prompt and tools)
    session_prefix_tokens: Any = 200  # context opening each session's first user message
    turn_tokens: Any = 50  # each user message
    output_tokens: Any = 64  # each reply's cap (Turn.max_tokens)
    think_time_s: Any = field(default_factory=lambda: {"dist": "exponential", "mean": 1.0})  # before turns 1..


class SyntheticSessionsTask(SessionsTask):
    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        if cfg.sessions < 1:
            raise SustainError(f"task.sessions={cfg.sessions} generates no session: use a positive number.")
        for key in SIZES:
            check(key, getattr(cfg, key))

    def load(self) -> None:
        shared = self._size("shared_prefix_tokens", random.Random(f"{self.cfg.seed}/shared"))
        system = text(random.Random(f"{self.cfg.seed}/shared-text"), shared) or None
        examples = [self._session(i, system) for i in range(self.cfg.sessions)]
        self._keep(examples, f"synthetic(seed={self.cfg.seed})")

    def _session(self, index: int, system: str | None) -> SessionExample:
        rng = random.Random(f"{self.cfg.seed}/session-{index}")
        opening = text(rng, self._size("session_prefix_tokens", rng))
        turns = []
        for t in range(self._size("turns", rng)):
            user = text(rng, self._size("turn_tokens", rng))
            if t == 0 and opening:
                user = f"{opening}\n\n{user}"
            delay = 0.0 if t == 0 else max(0.0, draw(self.cfg.think_time_s, rng))
            cap = self._size("output_tokens", rng)
            turns.append(Turn(({"role": "user", "content": user},), delay, cap,
                              {"role": "assistant", "content": text(rng, cap)}))
        session = Session(f"synthetic-{index:03d}", tuple(turns), system)
        return SessionExample(session, (), {"id": session.id, "turns": len(turns)})

    def _size(self, key: str, rng: random.Random) -> int:
        return max(SIZES[key], round(draw(getattr(self.cfg, key), rng)))


def text(rng: random.Random, tokens: int) -> str:
    """About `tokens` tokens of words (see the module docstring for the ratio)."""
    return " ".join(rng.choices(WORDS, k=tokens))


def draw(spec: Any, rng: random.Random) -> float:
    """One value of a size spec (a number or a distribution, already `check`ed)."""
    if not isinstance(spec, Mapping):
        return float(spec)
    kind = spec["dist"]
    if kind == "uniform":
        return rng.uniform(spec["low"], spec["high"])
    if kind == "exponential":
        return rng.expovariate(1 / spec["mean"])
    sigma = spec["sigma"]
    return rng.lognormvariate(math.log(spec["mean"]) - sigma ** 2 / 2, sigma)


def check(key: str, spec: Any) -> None:
    """A number >= 0 or a distribution with its parameters, else one sentence on what to write."""
    usage = ("use a number, {dist: uniform, low: 3, high: 8}, {dist: exponential, mean: 2.0} or "
             "{dist: lognormal, mean: 200, sigma: 0.5}")
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        if spec < 0:
            raise SustainError(f"task.{key}={spec} is negative: {usage}.")
        return
    if not isinstance(spec, Mapping) or spec.get("dist") not in DISTRIBUTIONS:
        raise SustainError(f"task.{key}={spec} is not a size: {usage}.")
    params = DISTRIBUTIONS[spec["dist"]]
    values = [spec.get(p) for p in params]
    if set(spec) != {"dist", *params} or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in values):
        raise SustainError(f"task.{key}={spec}: dist {spec['dist']} takes {', '.join(params)}, numbers >= 0, "
                           f"and nothing else; {usage}.")
    if spec["dist"] == "uniform" and values[0] > values[1]:
        raise SustainError(f"task.{key}={spec}: low is above high; swap them.")
    if spec["dist"] != "uniform" and not values[0] > 0:
        raise SustainError(f"task.{key}={spec}: the mean must be positive; {usage}.")


SCHEMAS = {"sessions_synthetic_schema": SyntheticSessionsConfig}
