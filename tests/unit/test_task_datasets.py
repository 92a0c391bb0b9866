"""The shipped data of the financial_sentiment, arithmetic and code tasks is exactly what their generators
produce, and has the shape and balance the task modules rely on."""

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "sustain" / "tasks" / "data"
GENERATORS = {
    "financial_sentiment": "make_financial_sentiment_dataset.py",
    "arithmetic": "make_arithmetic_dataset.py",
    "code": "make_code_dataset.py",
}


def generator(name):
    spec = importlib.util.spec_from_file_location(f"make_{name}", ROOT / "scripts" / GENERATORS[name])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


def rows(name):
    with (DATA / f"{name}.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_shipped_file_is_the_generator_output(name, tmp_path):
    """A hand edit or a generator change without regenerating would silently change the benchmark."""
    out = tmp_path / f"{name}.jsonl"
    generator(name).main(out)
    assert out.read_bytes() == (DATA / f"{name}.jsonl").read_bytes(), f"run: python scripts/{GENERATORS[name]}"


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_ids_are_unique(name):
    ids = [row["id"] for row in rows(name)]
    assert len(set(ids)) == len(ids)


def test_financial_sentiment_is_large_balanced_and_unique():
    data = rows("financial_sentiment")
    assert len(data) >= 300
    assert Counter(row["label"] for row in data) == {"positive": 110, "negative": 110, "neutral": 110}
    assert len({row["sentence"] for row in data}) == len(data)
    assert all(set(row) == {"id", "sentence", "label"} and 5 <= len(row["sentence"].split()) <= 30 for row in data)


def test_arithmetic_answers_are_integers_and_questions_unique():
    data = rows("arithmetic")
    assert len(data) == 200 and len({row["question"] for row in data}) == 200
    assert all(isinstance(row["answer"], int) and row["answer"] >= 0 for row in data)


def test_code_reference_solutions_pass_and_naive_ones_fail():
    data = rows("code")
    assert len(data) >= 30
    generator("code").check(data)
    for row in data:
        stub = f"def {row['entry_point']}(*args, **kwargs):\n    return None\n"
        with pytest.raises(AssertionError):
            exec(compile(stub + row["tests"], row["id"], "exec"), {})


def test_code_signatures_name_the_entry_point():
    for row in rows("code"):
        assert row["signature"].startswith(row["entry_point"] + "("), row["id"]
        assert f"def {row['entry_point']}(" in row["reference"], row["id"]


@pytest.mark.parametrize("name, kind", [
    ("financial_sentiment", "ClassificationConfig"), ("arithmetic", "ArithmeticConfig"), ("code", "CodeConfig"),
])
def test_shipped_task_yaml_composes_to_its_kind_and_loads(name, kind):
    from hydra import compose, initialize_config_dir
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    from sustain.config import register

    register()
    with initialize_config_dir(config_dir=str(ROOT / "src" / "sustain" / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"task={name}", "task.limit=2"])
    typed = OmegaConf.to_object(cfg.task)
    assert type(typed).__name__ == kind and typed.name == name
    task = get_class(typed._target_)(typed)
    task.load()
    assert len(task.requests()) == 2 and task.source.endswith(f"{name}.jsonl")
