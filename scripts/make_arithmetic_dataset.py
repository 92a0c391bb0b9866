"""Generate the embedded arithmetic dataset (src/sustain/tasks/data/arithmetic.jsonl).

Multi-step word problems in the style of GSM8K (2601.08844's reasoning family), each with one exact
integer answer computed here from the same numbers the text states. Ten problem shapes of two to four
operations, twenty problems each, drawn under a fixed seed so the file is reproducible byte for byte
(tests/unit/test_arithmetic.py checks it). Run: python scripts/make_arithmetic_dataset.py
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from pathlib import Path

from sustain.tasks.examples import write_jsonl

SEED = 260108844
PER_SHAPE = 20
OUT_PATH = Path(__file__).resolve().parents[1] / "src" / "sustain" / "tasks" / "data" / "arithmetic.jsonl"
NAMES = ["Maria", "Tom", "Aisha", "Lukas", "Mei", "Carlos", "Emma", "Kwame", "Priya", "Jonas", "Ines", "Ravi"]
ITEMS = [("notebooks", "notebook"), ("apples", "apple"), ("tickets", "ticket"), ("candles", "candle"),
         ("plants", "plant"), ("mugs", "mug")]

Problem = tuple[str, int]


def bakery(r: random.Random) -> Problem:
    a, b, p = r.randint(20, 80), r.randint(5, 30), r.randint(2, 6)
    return (f"A bakery sells {a} loaves of bread on Monday and {b} more loaves on Tuesday than on Monday. "
            f"Each loaf costs ${p}. How many dollars does the bakery take in over the two days?", (2 * a + b) * p)


def stickers(r: random.Random) -> Problem:
    name, c, b, d = r.choice(NAMES), r.randint(3, 7), r.randint(4, 12), r.randint(5, 40)
    a = b * c + r.randint(10, 60)
    return (f"{name} has {a} stickers. {name} gives {b} stickers to each of {c} friends and then buys "
            f"{d} more. How many stickers does {name} have now?", a - b * c + d)


def train(r: random.Random) -> Problem:
    s, h, s2, h2 = r.randrange(40, 130, 5), r.randint(2, 5), r.randrange(30, 110, 5), r.randint(1, 4)
    return (f"A train travels at {s} km per hour for {h} hours, then at {s2} km per hour for {h2} more "
            f"hours. How many kilometres does it travel in total?", s * h + s2 * h2)


def warehouse(r: random.Random) -> Problem:
    a, b, c, d = r.randint(12, 60), r.choice([6, 12, 24]), r.randint(5, 40), r.choice([8, 10, 15, 20])
    return (f"A warehouse holds {a} boxes with {b} bottles in each box. {c} bottles break, and the rest "
            f"are packed into cases of {d}. How many full cases can be packed?", (a * b - c) // d)


def bus(r: random.Random) -> Problem:
    pct = r.choice([10, 20, 25, 40, 50, 60, 75])
    while True:
        a, b = r.randint(4, 20), r.randint(18, 32)
        if a * b * pct % 100 == 0:
            break
    return (f"A school has {a} classes with {b} students in each class. {pct}% of the students take the "
            f"bus to school. How many students do not take the bus?", a * b - a * b * pct // 100)


def savings(r: random.Random) -> Problem:
    name, w, h, n = r.choice(NAMES), r.randint(12, 30), r.randint(10, 40), r.randint(3, 12)
    rent = r.randint(50, w * h - 20)
    return (f"{name} earns ${w} per hour and works {h} hours each week. Every week {name} pays ${rent} "
            f"for rent and saves the rest. How many dollars has {name} saved after {n} weeks?", (w * h - rent) * n)


def ages(r: random.Random) -> Problem:
    name, a, b, k, n = r.choice(NAMES), r.randint(4, 15), r.randint(2, 9), r.randint(2, 3), r.randint(3, 20)
    return (f"{name} is {a} years old. {name}'s brother is {b} years older than {name}, and their aunt is "
            f"{k} times as old as the brother. How old will the aunt be in {n} years?", (a + b) * k + n)


def fence(r: random.Random) -> Problem:
    length, width, g, c = r.randint(10, 60), r.randint(5, 40), r.randint(2, 4), r.randint(3, 15)
    return (f"A garden is {length} metres long and {width} metres wide. A fence goes all around it except "
            f"for a gate {g} metres wide. Fencing costs ${c} per metre. How many dollars does the fence "
            f"cost?", (2 * (length + width) - g) * c)


def tank(r: random.Random) -> Problem:
    while True:
        cap, frac_den, rate = r.randrange(200, 2000, 50), r.choice([2, 4, 5]), r.choice([5, 10, 25])
        filled = cap // frac_den
        if cap % frac_den == 0 and (cap - filled) % rate == 0:
            break
    share = {2: "half", 4: "a quarter", 5: "a fifth"}[frac_den]
    return (f"A water tank holds {cap} litres. It is {share} "
            f"full. A pump adds {rate} litres per minute. How many minutes does the pump need to fill the "
            f"tank?", (cap - filled) // rate)


def shop(r: random.Random) -> Problem:
    (plural, _), name = r.choice(ITEMS), r.choice(NAMES)
    n, p, m, q = r.randint(2, 9), r.randint(3, 20), r.randint(2, 6), r.randint(4, 25)
    total = n * p + m * q
    paid = (total // 50 + 1) * 50
    return (f"{name} buys {n} {plural} at ${p} each and {m} books at ${q} each, and pays with ${paid}. "
            f"How many dollars of change does {name} get?", paid - total)


SHAPES: list[Callable[[random.Random], Problem]] = [
    bakery, stickers, train, warehouse, bus, savings, ages, fence, tank, shop,
]


def build_examples(per_shape: int = PER_SHAPE) -> list[dict[str, object]]:
    """`per_shape` above 20 gives more distinct problems (benchmarks that need many requests)."""
    rng = random.Random(SEED)
    problems: list[Problem] = []
    seen: set[str] = set()
    for shape in SHAPES:
        count = 0
        while count < per_shape:
            question, answer = shape(rng)
            if question not in seen:
                seen.add(question)
                problems.append((question, answer))
                count += 1
    rng.shuffle(problems)
    return [{"id": f"ar-{i:04d}", "question": q, "answer": a} for i, (q, a) in enumerate(problems, start=1)]


def main(out: Path = OUT_PATH) -> None:
    write_jsonl(out, build_examples())


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_PATH)
