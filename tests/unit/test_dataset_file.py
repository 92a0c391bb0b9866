"""Guards the shipped validation-agent dataset: it must be exactly what the generator produces and
well-formed enough that scoring against `reference` never hits a missing key or a dangling source."""

import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "make_hallucination_dataset.py"
DATA = ROOT / "src" / "sustain" / "tasks" / "data" / "hallucination.jsonl"
LABELS = {"GROUNDED", "UNGROUNDED", "SMALL_TALK"}
KEYS = {"id", "context", "functions", "conversation_history", "response", "label", "reference"}
SOURCE = re.compile(r"(context|functions)\[(\d+)\]")


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("make_hallucination_dataset", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def rows():
    with DATA.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_shipped_file_is_the_generator_output(generator, tmp_path):
    """A hand edit or a generator change without regenerating would silently change the benchmark."""
    out = tmp_path / "hallucination.jsonl"
    generator.main(out)
    assert out.read_bytes() == DATA.read_bytes(), "run: python scripts/make_hallucination_dataset.py"


def test_build_examples_matches_file(generator, rows):
    assert generator.build_examples() == rows


def test_every_row_has_the_schema(rows):
    for row in rows:
        assert set(row) == KEYS, row.get("id")
        assert isinstance(row["id"], str)
        assert 1 <= len(row["context"]) <= 4 and all(isinstance(c, str) and c for c in row["context"])
        for fn in row["functions"]:
            assert set(fn) == {"name", "arguments", "result"}, row["id"]
            assert isinstance(fn["name"], str) and fn["name"]
            assert isinstance(fn["arguments"], dict)
        history = row["conversation_history"]
        assert history and history[-1]["role"] == "user", row["id"]
        for i, turn in enumerate(history):
            assert set(turn) == {"role", "content"}
            assert turn["role"] == ("user" if i % 2 == 0 else "assistant"), row["id"]
            assert isinstance(turn["content"], str) and turn["content"]
        assert sum(t["role"] == "user" for t in history) <= 4, row["id"]
        assert isinstance(row["response"], str) and row["response"]
        assert row["label"] in LABELS
        ref = row["reference"]
        assert set(ref) == {"result", "sources", "reason"}, row["id"]
        assert ref["result"] == row["label"]
        assert isinstance(ref["sources"], list) and all(isinstance(s, str) for s in ref["sources"])
        assert isinstance(ref["reason"], str) and ref["reason"]


def test_label_counts_meet_minimums_and_keep_the_skew(rows):
    counts = Counter(row["label"] for row in rows)
    assert len(rows) >= 150
    assert counts["UNGROUNDED"] >= 12
    assert counts["SMALL_TALK"] >= 15
    assert 0.7 <= counts["GROUNDED"] / len(rows) <= 0.85


def test_ids_and_responses_are_unique(rows):
    ids = [row["id"] for row in rows]
    assert all(re.fullmatch(r"cs-\d{4}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert len({row["response"] for row in rows}) == len(rows)


def test_reference_sources_point_at_existing_items(rows):
    for row in rows:
        sources = row["reference"]["sources"]
        if row["label"] == "SMALL_TALK":
            assert sources == [], row["id"]
            continue
        assert sources, row["id"]
        for source in sources:
            match = SOURCE.fullmatch(source)
            assert match, (row["id"], source)
            assert int(match.group(2)) < len(row[match.group(1)]), (row["id"], source)


def test_examples_stay_small_enough_for_a_cpu_model(rows):
    for row in rows:
        text = row["context"] + [t["content"] for t in row["conversation_history"]]
        text += [json.dumps(row["functions"]), row["response"]]
        words = sum(len(part.split()) for part in text)
        assert 150 <= words <= 600, (row["id"], words)
