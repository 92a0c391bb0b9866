"""Generate the embedded validation-agent dataset (src/sustain/tasks/data/hallucination.jsonl).

The paper's customer-service data is not public, so the benchmark ships a synthetic stand-in, declared
as data: per-domain policy templates, value pools and chat phrases (data/hallucination_templates.json)
and the intents that draw a conversation from them (data/hallucination_scenarios.json). This script
only interprets those declarations under a fixed seed, so the file is reproducible byte for byte and
tests/unit/test_dataset_file.py can check it.
Run: python scripts/make_hallucination_dataset.py [OUT]
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache, partial
from pathlib import Path
from types import CodeType, SimpleNamespace

from sustain.errors import SustainError
from sustain.tasks.examples import write_jsonl

SEED = 260119311
ROOT = Path(__file__).resolve().parents[1]
OUT_PATH = ROOT / "src" / "sustain" / "tasks" / "data" / "hallucination.jsonl"
SCENARIO_FILE = "scripts/data/hallucination_scenarios.json"
GROUNDED, UNGROUNDED, SMALL_TALK = "GROUNDED", "UNGROUNDED", "SMALL_TALK"
PER_DOMAIN = 25
MIN_WORDS = 160
MAX_USER_TURNS = 4
DATA = json.loads((ROOT / "scripts" / "data" / "hallucination_templates.json").read_text("utf-8"))
SCENARIOS = json.loads((ROOT / SCENARIO_FILE).read_text("utf-8"))
MONTHS, FIRST_NAMES, SURNAMES = DATA["months"], DATA["first_names"], DATA["surnames"]
POOLS = DATA["pools"]
CHAT = DATA["chat"]
TALK_REASONS = DATA["talk_reasons"]


def fmt(d: date) -> str:
    return f"{MONTHS[d.month - 1]} {d.day}"


def fmt_year(d: date) -> str:
    return f"{fmt(d)}, {d.year}"


def hm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def cents(rng: random.Random, lo: float, hi: float) -> float:
    return rng.randrange(int(lo * 100), int(hi * 100)) / 100


def days(n: int) -> timedelta:
    return timedelta(days=n)


def money(cur: str, x: float) -> str:
    x = round(x, 2)
    return f"{cur}{x:,.0f}" if x == int(x) else f"{cur}{x:,.2f}"


def call(name: str, arguments: dict, result: object) -> dict:
    return {"name": name, "arguments": arguments, "result": result}


@dataclass(frozen=True)
class Claim:
    """A candidate agent response with the sources that back (or refute) it and why."""

    text: str
    sources: tuple[str, ...]
    reason: str


@dataclass
class Setting:
    """One company's policies and one customer, drawn per example so numbers vary across examples."""

    brand: str
    cur: str
    p: dict
    docs: dict[str, str]
    today: date
    name: str
    surname: str


@dataclass
class Scenario:
    """What an intent yields: the tool calls, the chat so far and candidate responses."""

    functions: list[dict]
    history: list[str]
    grounded: list[Claim]
    ungrounded: list[Claim]


# --------------------------------------------------------------------------- declared intents
#
# An intent is a list of steps run in order, so its random draws happen in the order they are declared:
#   {"let": {"name": EXPR, "a, b": EXPR}}      bind names (a tuple target unpacks)
#   {"if": EXPR, "then": [...], "else": [...]} ("else" optional)
#   {"for": "name", "in": EXPR, "do": [...]}  {"do": EXPR} (an expression run for its effect, e.g. x.append(...))
#   {"history": [TEMPLATE]}                    the chat so far, user first
#   {"grounded": [CLAIM]} / {"grounded+": [CLAIM]} (and "ungrounded"): set / extend the candidates,
#       a CLAIM being {"text": TEMPLATE, "sources": TEMPLATE, "reason": TEMPLATE}
#   {"return": EXPR}                           the tool calls (a helper: its value)
# EXPR is a Python expression over the draws below; a TEMPLATE is text with {EXPR} fields ({{ for a brace).

SAFE_BUILTINS = {f.__name__: f for f in (
    abs, all, any, dict, divmod, enumerate, float, format, int, len, list, max, min, range, round, sorted, str,
    sum, tuple, zip)}
CLAIM_LISTS = ("grounded", "ungrounded", "grounded+", "ungrounded+")


@lru_cache(maxsize=None)
def compiled(src: str) -> CodeType:
    """An expression, refused if it reaches for a dunder name (the way out of the names below)."""
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        raise SustainError(f"{SCENARIO_FILE}: {src!r} is not an expression ({e.msg}); fix it there.") from e
    for node in ast.walk(tree):
        name = getattr(node, "attr", None) or getattr(node, "id", None) or ""
        if name.startswith("__") or isinstance(node, (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
            raise SustainError(f"{SCENARIO_FILE}: {src!r} uses {name or type(node).__name__}; "
                               "declare plain expressions over the draws.")
    return compile(tree, SCENARIO_FILE, "eval")


def evaluate(src: str, scope: dict) -> object:
    try:
        return eval(compiled(src), scope)  # noqa: S307 - a checked expression from our own data file
    except SustainError:
        raise
    except Exception as e:
        raise SustainError(f"{SCENARIO_FILE}: {src!r} failed ({type(e).__name__}: {e}); fix it there.") from e


@lru_cache(maxsize=None)
def template_parts(template: str) -> tuple[tuple[str, str | None], ...]:
    """Split a template into (literal text, expression or None) pairs; `{{` and `}}` are literal braces."""
    parts, text, i = [], [], 0
    while i < len(template):
        c = template[i]
        if c in "{}" and template[i + 1:i + 2] == c:
            text.append(c)
            i += 2
        elif c == "{":
            depth, j, quote = 1, i + 1, None
            while depth:
                ch = template[j]
                if quote:
                    quote = None if ch == quote else quote
                elif ch in "'\"":
                    quote = ch
                else:
                    depth += (ch == "{") - (ch == "}")
                j += 1
            parts.append(("".join(text), template[i + 1:j - 1]))
            text, i = [], j
        else:
            text.append(c)
            i += 1
    return (*parts, ("".join(text), None))


def render(template: str, scope: dict) -> str:
    return "".join(text + ("" if src is None else format(evaluate(src, scope), ""))
                   for text, src in template_parts(template))


def bind(target: str, value: object, scope: dict) -> None:
    names = [n.strip() for n in target.split(",")]
    scope.update(zip(names, value, strict=True) if len(names) > 1 else [(target, value)])


def run(steps: list[dict], scope: dict) -> tuple[bool, object]:
    """Run steps in order (so draws happen in declared order); (True, value) once a step returns."""
    for step in steps:
        done, value = False, None
        if "let" in step:
            for target, src in step["let"].items():
                bind(target, evaluate(src, scope), scope)
        elif "if" in step:
            done, value = run(step["then"] if evaluate(step["if"], scope) else step.get("else", []), scope)
        elif "for" in step:
            for item in evaluate(step["in"], scope):
                bind(step["for"], item, scope)
                done, value = run(step["do"], scope)
                if done:
                    break
        elif "do" in step:
            evaluate(step["do"], scope)
        elif "history" in step:
            scope["history"] = [render(t, scope) for t in step["history"]]
        elif "return" in step:
            done, value = True, evaluate(step["return"], scope)
        elif len(step) == 1 and next(iter(step)) in CLAIM_LISTS:
            (key, declared), = step.items()
            new = [Claim(render(c["text"], scope), tuple(render(c["sources"], scope).split()),
                         render(c["reason"], scope)) for c in declared]
            name = key.rstrip("+")
            scope[name] = scope[name] + new if key.endswith("+") else new
        else:
            raise SustainError(f"{SCENARIO_FILE}: unknown step {sorted(step)}; see the step kinds in {__file__}.")
        if done:
            return done, value
    return False, None


def draws(rng: random.Random, s: Setting) -> dict:
    """What an intent's expressions can name: the draws (bound to this example's rng), the pools, this
    example's setting (`p`, `today`, `name`, ...; `m(x)` formats money) and the formatting helpers."""
    scope = {"__builtins__": SAFE_BUILTINS, "pool": SimpleNamespace(**POOLS), "months": MONTHS,
             "first_names": FIRST_NAMES, "surnames": SURNAMES, "date": date, "days": days, "fmt": fmt,
             "fmt_year": fmt_year, "hm": hm, "plural": plural, "call": call, "cents": partial(cents, rng),
             "m": partial(money, s.cur), **vars(s)}
    scope |= {f: getattr(rng, f) for f in ("choice", "randint", "randrange", "random", "sample", "shuffle",
                                            "uniform")}
    for name, helper in SCENARIOS["helpers"].items():
        scope[name] = partial(call_helper, helper, scope)
    return scope


def call_helper(helper: dict, scope: dict, *args: object) -> object:
    """A declared helper sees the draws and its parameters, not its caller's names."""
    return run(helper["steps"], {**scope, **dict(zip(helper["params"], args, strict=True))})[1]


def intent(name: str, steps: list[dict]) -> Callable[[random.Random, Setting], Scenario]:
    def scenario(rng: random.Random, s: Setting) -> Scenario:
        scope = dict(draws(rng, s))
        done, functions = run(steps, scope)
        if not done:
            raise SustainError(f"{SCENARIO_FILE}: intent {name} never returns its tool calls; end it with a "
                               '"return" step.')
        return Scenario(functions, scope["history"], scope["grounded"], scope["ungrounded"])

    scenario.__name__ = name
    return scenario


# --------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class Domain:
    """A service sector: its brands (with per-brand policy values), policy draws and texts, intent
    templates and label quota."""

    brands: dict[str, dict]
    cur: str
    policy: dict[str, list]
    docs: dict[str, str]
    intents: tuple[Callable[[random.Random, Setting], Scenario], ...]
    signoffs: tuple[str, ...]
    ungrounded: int
    small_talk: int


class PolicyText(string.Formatter):
    """Policy templates: `{key!m}` is money in the domain's currency, `{key!j}` a list joined by commas,
    `{key:word}` the count with the word in the plural when it is not 1."""

    def __init__(self, cur: str) -> None:
        self.cur = cur

    def convert_field(self, value: object, conversion: str | None) -> object:
        if conversion == "m":
            return money(self.cur, value)
        if conversion == "j":
            return ", ".join(value)
        return super().convert_field(value, conversion)

    def format_field(self, value: object, format_spec: str) -> str:
        return plural(value, format_spec) if format_spec.isalpha() else super().format_field(value, format_spec)


def draw_policy(rng: random.Random, domain: Domain, brand: str) -> tuple[dict, dict]:
    """One company's policy values, drawn in the data file's order, and its policy texts."""
    p = {key: rng.choice(choices) for key, choices in domain.policy.items()} | domain.brands[brand]
    text = PolicyText(domain.cur)
    fields = {**p, **POOLS, "brand": brand, "cur": domain.cur}
    return p, {key: text.vformat(doc, (), fields) for key, doc in domain.docs.items()}


DOMAINS = tuple(
    Domain(d["brands"], d["currency"], d["policy"], d["docs"],
           tuple(intent(n, steps) for n, steps in SCENARIOS["intents"][name].items()), tuple(d["signoffs"]),
           d["ungrounded"], d["small_talk"])
    for name, d in DATA["domains"].items())
TALK_KINDS = tuple(TALK_REASONS)
TOKEN = re.compile(r"<(\w+)>")


def roles(texts: list[str]) -> list[dict]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)]


def word_count(ex: dict) -> int:
    parts = ex["context"] + [m["content"] for m in ex["conversation_history"]]
    parts += [json.dumps(ex["functions"]), ex["response"]]
    return sum(len(part.split()) for part in parts)


def user_turns(history: list[str]) -> int:
    return (len(history) + 1) // 2


def lead_in(rng: random.Random, s: Setting, history: list[str]) -> list[str]:
    """Vary how the chat opens: a bare greeting in the first message, a greeting exchange, or an ID check."""
    room = MAX_USER_TURNS - user_turns(history)
    style = rng.choice(["opener", "opener", "greeting", "verify"][: 2 + min(room, 2)])
    if style == "opener":
        return [rng.choice(CHAT["openers"]) + history[0]] + history[1:]
    if style == "greeting":
        return [rng.choice(CHAT["greetings"]), rng.choice(CHAT["greeting_replies"]).format(brand=s.brand),
                *history]
    return [rng.choice(CHAT["verify_asks"]), rng.choice(CHAT["verify_prompts"]), f"{s.name} {s.surname}.",
            rng.choice(CHAT["verified"]).format(name=s.name)] + history


# A small-talk kind: the customer's last turn and the agent's reply, as keys of the chat phrases.
TALK_TURNS = {"thanks": ("thanks", "thanks_replies"), "anything_else": ("acks", "anything_else"),
              "empathy": ("vents", "empathy")}


def small_talk(rng: random.Random, domain: Domain, s: Setting, sc: Scenario, kind: str) -> tuple[list, list, str]:
    """Return (functions, history, response) for a turn that makes no factual claim."""
    fill = {"name": s.name, "brand": s.brand, "signoff": rng.choice(domain.signoffs)}
    answered = sc.history + [rng.choice(sc.grounded).text]
    if kind == "greeting":
        greeting = rng.choice(CHAT["greetings"])
        return [], [f"{greeting} {sc.history[0]}"], rng.choice(CHAT["welcomes"]).format(**fill)
    turn, reply = TALK_TURNS[kind]
    return sc.functions, answered + [rng.choice(CHAT[turn])], rng.choice(CHAT[reply]).format(**fill)


def draw(rng: random.Random, domain: Domain, intent: Callable, label: str, kind: str | None) -> dict:
    """One example: the scenario, the chosen response, and a context padded with off-topic policy excerpts."""
    brand = rng.choice(list(domain.brands))
    p, docs = draw_policy(rng, domain, brand)
    s = Setting(brand, domain.cur, p, docs, date(2025, 3, 3) + days(rng.randint(0, 270)),
                rng.choice(FIRST_NAMES), rng.choice(SURNAMES))
    sc = intent(rng, s)
    cited = [t for c in sc.grounded + sc.ungrounded for t in c.sources if not t.startswith("fn")]
    keys = list(dict.fromkeys(cited))
    if label == SMALL_TALK:
        functions, history, response = small_talk(rng, domain, s, sc, kind)
        chosen = None
    else:
        chosen = rng.choice(sc.grounded if label == GROUNDED else sc.ungrounded)
        functions, history, response = sc.functions, sc.history, chosen.text
    if kind != "greeting":
        history = lead_in(rng, s, history)
    assert len(keys) <= 4 and len(history) % 2 == 1 and user_turns(history) <= MAX_USER_TURNS
    spare = [k for k in s.docs if k not in keys]
    rng.shuffle(spare)
    target = rng.randint(max(1, len(keys)), min(4, len(keys) + 2))
    while len(keys) < target:
        keys.append(spare.pop())
    rng.shuffle(keys)
    while True:
        ex = {"context": [s.docs[k] for k in keys], "functions": functions, "conversation_history": roles(history),
              "response": response}
        if word_count(ex) >= MIN_WORDS or len(keys) == 4 or not spare:
            break
        keys.insert(rng.randint(0, len(keys)), spare.pop())
    if chosen is None:
        reference = {"result": SMALL_TALK, "sources": [], "reason": TALK_REASONS[kind]}
    else:
        def ref(token: str) -> str:
            return f"functions[{int(token[2:])}]" if token.startswith("fn") else f"context[{keys.index(token)}]"

        assert set(TOKEN.findall(chosen.reason)) <= set(chosen.sources)
        sources = sorted((ref(t) for t in chosen.sources), key=lambda r: (r[0] == "f", int(r[r.index("[") + 1:-1])))
        reason = TOKEN.sub(lambda mt: ref(mt.group(1)), chosen.reason)
        if label == UNGROUNDED:
            reason = "Not supported: " + reason[0].lower() + reason[1:]
        reference = {"result": label, "sources": sources, "reason": reason}
    return {**ex, "label": label, "reference": reference}


def build_examples() -> list[dict]:
    """All examples in file order, ids assigned after a seeded shuffle so labels and domains interleave."""
    rng = random.Random(SEED)
    seen: set[str] = set()
    examples = []
    talk = 0
    for domain in DOMAINS:
        labels = [UNGROUNDED] * domain.ungrounded + [SMALL_TALK] * domain.small_talk
        labels += [GROUNDED] * (PER_DOMAIN - len(labels))
        for i, label in enumerate(labels):
            kind = TALK_KINDS[talk % len(TALK_KINDS)] if label == SMALL_TALK else None
            talk += label == SMALL_TALK
            intent = domain.intents[i % len(domain.intents)]
            for _ in range(100):
                ex = draw(rng, domain, intent, label, kind)
                if ex["response"] not in seen:
                    break
            else:
                raise RuntimeError(f"could not draw a unique response for {intent.__name__}/{label}")
            seen.add(ex["response"])
            examples.append(ex)
    rng.shuffle(examples)
    return [{"id": f"cs-{n:04d}", **ex} for n, ex in enumerate(examples, 1)]


def main(out_path: Path = OUT_PATH) -> None:
    write_jsonl(Path(out_path), build_examples())


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("out", nargs="?", type=Path, default=OUT_PATH, help="where to write (default: %(default)s)")
    try:
        main(cli.parse_args().out)
    except SustainError as e:
        raise SystemExit(f"error: {e}") from None
