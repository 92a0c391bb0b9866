"""The code task: reading code from an output, pass@1 through the jail, bad input."""

import json

import pytest

from sustain.errors import SustainError
from sustain.tasks.code import CodeConfig, CodeTask, extract_code

GOOD = "def add(a, b):\n    return a + b"


@pytest.mark.parametrize("text", [
    f"```python\n{GOOD}\n```",
    f"Here you go:\n```py\n{GOOD}\n```\nIt adds.",
    f"```\nprint('example')\n```\n```python\n{GOOD}\n```",  # the block that defines the entry point
    f"```python\n{GOOD}\n",  # cut at max_tokens: no closing fence
    GOOD,  # bare code
])
def test_extract_code(text):
    assert extract_code(text, "add") == GOOD


def test_first_block_when_none_defines_the_entry_point():
    assert extract_code("```python\nx = 1\n```\n```python\ny = 2\n```", "add") == "x = 1"


ROW = {"id": "p1", "entry_point": "add", "signature": "add(a, b)", "prompt": "Add.",
       "tests": "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n", "reference": GOOD}


def make(tmp_path, rows=(ROW,), **kw):
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = CodeTask(CodeConfig(dataset=str(path), timeout_s=3.0, cpu_s=1, **kw))
    task.load()
    return task


def test_pass_at_1_by_hand(tmp_path):
    rows = [ROW, {**ROW, "id": "p2"}, {**ROW, "id": "p3"}, {**ROW, "id": "p4"}]
    task = make(tmp_path, rows)
    preds = [
        task.predict("p1", f"```python\n{GOOD}\n```"),
        task.predict("p2", "```python\ndef add(a, b):\n    return a - b\n```"),
        task.predict("p3", "```python\ndef add(a, b):\n    while True:\n        pass\n```"),
        task.predict("p4", ""),
    ]
    assert [p.correct for p in preds] == [True, False, False, False]
    assert preds[1].detail["result"] == "test 1 of 2 failed: AssertionError"
    assert preds[2].detail["result"] in ("test 1 of 2: program exited (killed by SIGXCPU (CPU-time limit))",
                                         "time limit 3 s")
    assert preds[3].parse_error == "no code in the output"
    result = task.score(preds)
    assert result.primary == "pass_at_1" and result.value == 0.25 and result.metrics["code_found_rate"] == 0.75
    assert "result" in preds[1].to_dict()
    assert result.tags == {"code.jail": "bwrap"} and result.flags == []


def test_the_process_mode_is_flagged_on_the_result(tmp_path):
    task = make(tmp_path, jail="process")
    result = task.score([task.predict("p1", GOOD)])
    assert result.value == 1.0 and result.tags == {"code.jail": "process"}
    assert result.flags and result.flags[0].startswith("code ran WITHOUT the bubblewrap jail (task.jail=process)")


def test_bad_input(tmp_path):
    with pytest.raises(SustainError, match="line 1: field 'tests' is missing"):
        make(tmp_path, [{k: v for k, v in ROW.items() if k != "tests"}])
    with pytest.raises(SustainError, match="field 'entry_point' is 'my-func', not a Python name"):
        make(tmp_path, [{**ROW, "entry_point": "my-func"}])
    with pytest.raises(SustainError, match="field 'tests' is not Python"):
        make(tmp_path, [{**ROW, "tests": "assert add(1, 2) =="}])


def test_embedded_problems_load_and_the_judge_sees_the_reference():
    task = CodeTask(CodeConfig(limit=2))
    task.load()
    assert len(task.ids) == 2
    assert "def " in task.judge_item(task.ids[0], "x").reference
