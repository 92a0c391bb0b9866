"""Live agents end to end on the embedded model: the model calls tools, the task's Python tools answer each call
from inside the bubblewrap jail, and success, steps and calls are scored, on llama.cpp (a user's own agent task
from their own folder, calls held to the tools' schemas) and on the vLLM server (the API's tools, vLLM's own
tool calls, a first call required)."""

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

TOOLS = [{"type": "function", "function": {
    "name": "lookup_price", "description": "The price in euros of a product of the shop, by its name.",
    "parameters": {"type": "object", "properties": {"product": {"type": "string"}}, "required": ["product"]}}}]
TOOLS_PY = '''\
STATE = {"looked_up": []}
PRICES = {"teapot": 23.5, "kettle": 41.0, "mug": 6.25}


def lookup_price(product):
    STATE["looked_up"].append(product)
    key = product.strip().lower()
    if key not in PRICES:
        raise KeyError(f"no product named {product}")
    return {"product": key, "price_eur": PRICES[key]}
'''
TASKS = [{"id": "teapot", "task": "How much does the teapot cost? Look up its price.",
          "expected": {"final_contains": "23.5", "calls": ["lookup_price"]}},
         {"id": "mug", "task": "What is the price of a mug in the shop?", "expected": {"final_contains": "6.25"}}]
USER_YAML = """\
# my own agent task: the built-in kind on my tools and tasks
defaults:
  - agent
name: my_shop
dataset: shop/tasks.jsonl
tools: shop/tools.json
tools_file: shop/tools.py
max_steps: 3
max_tokens: 48
"""


def user_folder(root: Path) -> Path:
    (root / "conf" / "task").mkdir(parents=True)
    (root / "conf" / "task" / "my_shop.yaml").write_text(USER_YAML)
    (root / "shop").mkdir()
    (root / "shop" / "tools.json").write_text(json.dumps(TOOLS))
    (root / "shop" / "tools.py").write_text(TOOLS_PY)
    (root / "shop" / "tasks.jsonl").write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    return root


def run(cwd: Path, overrides: list[str], sustain_cmd, run_env, tmp_path) -> tuple[dict, Path, str]:
    out = tmp_path / "run"
    proc = subprocess.run(
        [*sustain_cmd, *overrides, f"hydra.run.dir={out}", f"tracking.uri=sqlite:///{tmp_path}/mlruns/mlflow.db",
         f"tracking.artifact_root={tmp_path}/mlruns/artifacts", f"checkpoint_dir={tmp_path}/checkpoints"],
        cwd=cwd, env=run_env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(proc.stdout[-2500:])
    return json.loads((out / "summary.json").read_text()), out, proc.stdout


def executed_calls(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return [result for row in rows for result in row.get("tool_results") or []]


def test_a_users_agent_task_on_llama_cpp_calls_its_tools_in_the_jail(tmp_path, sustain_cmd, run_env):
    summary, out, stdout = run(user_folder(tmp_path / "study"),
                               ["task=my_shop", "task.tool_calling=constrained", "engine=llamacpp", "batch_size=2",
                                "load=concurrency", "load.max_in_flight=2"], sustain_cmd, run_env, tmp_path)
    m = summary["metrics"]
    assert summary["tags"]["task.primary_metric"] == "agent_success_rate" and 0 <= m["agent_success_rate"] <= 1
    assert summary["tags"]["agent.jail"] == "bwrap" and "tool_call_validity" not in m  # valid by construction
    assert m["tool_calls_per_session"] > 0 and 1 <= m["steps_per_session"] <= 3
    results = executed_calls(out)
    assert results and any("price_eur" in r["content"] or r["error"] for r in results)  # answered by tools.py
    sessions = pd.read_csv(out / "sessions.csv")
    assert sorted(sessions["session"]) == ["mug", "teapot"] and (sessions["requests"] <= 3).all()
    requests = pd.read_csv(out / "requests.csv")
    assert requests.groupby("session")["energy_attributed_j"].sum().to_dict() == pytest.approx(
        sessions.set_index("session")["energy_j"].to_dict())
    assert "agent " in stdout and "reading it" in stdout


def test_the_embedded_agent_task_on_the_vllm_server_with_the_apis_tool_calls(tmp_path, sustain_cmd, run_env):
    summary, out, _ = run(tmp_path, ["task=agent", "task.limit=2", "task.max_steps=2", "task.max_tokens=48",
                                     "task.first_tool_choice=required", "engine=vllm_server",
                                     "engine.cpu_memory_fraction=0.08", "batch_size=2"], sustain_cmd, run_env, tmp_path)
    m = summary["metrics"]
    assert m["tool_calls_per_session"] > 0 and "tool_call_validity" in m  # the API's calls: validity measured
    assert 0 <= m["tool_call_validity"] <= 1 and m["steps_per_session"] <= 2
    assert executed_calls(out)
    assert m["sessions_completed"] <= 2 and summary["sessions"]["sessions"] == 2
