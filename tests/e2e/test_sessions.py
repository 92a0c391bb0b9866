"""Agent sessions end to end, as a user runs them: a YAML and a sessions JSONL in their own folder, replayed on a
real engine with the embedded model. Each turn waits for the previous reply, the prefix cache serves the shared
system prompt and the history, and each session's energy is the sum of its requests' energy."""

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

SYSTEM = ("You are Atlas, an assistant for a small travel agency. You answer in one short sentence. " * 12).strip()
USER_YAML = """\
# A user's own sessions task: the built-in kind on their file
defaults:
  - sessions
name: my_agent
dataset: data/my_sessions.jsonl
max_tokens: 12
"""


def user_folder(root: Path) -> Path:
    """conf/task/my_agent.yaml and data/my_sessions.jsonl: three sessions of three turns, one with a tool turn."""
    (root / "conf" / "task").mkdir(parents=True)
    (root / "conf" / "task" / "my_agent.yaml").write_text(USER_YAML)
    call = [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Porto"}'}}]
    sessions = []
    for i, city in enumerate(["Porto", "Lyon", "Graz"]):
        turns = [{"messages": [{"role": "user", "content": f"What is the weather in {city} tomorrow?"}],
                  "recorded": {"role": "assistant", "content": "", "tool_calls": call}},
                 {"messages": [{"role": "tool", "tool_call_id": "call_1", "content": '{"max_c": 17, "rain": 0.7}'}],
                  "delay_s": 0.2},
                 {"messages": [{"role": "user", "content": "Thanks. And should I take an umbrella?"}],
                  "delay_s": 0.5}]
        sessions.append({"id": f"trip-{i}", "system": SYSTEM, "turns": turns,
                         **({"expected": {"final_contains": "umbrella"}} if i == 0 else {})})
    (root / "data").mkdir()
    (root / "data" / "my_sessions.jsonl").write_text("".join(json.dumps(s) + "\n" for s in sessions))
    return root


def run_in(folder: Path, engine_overrides: list[str], sustain_cmd, run_env, tmp_path) -> tuple[dict, Path]:
    out = tmp_path / "run"
    proc = subprocess.run(
        [*sustain_cmd, "task=my_agent", *engine_overrides, f"hydra.run.dir={out}",
         f"tracking.uri=sqlite:///{tmp_path}/mlruns/mlflow.db", f"tracking.artifact_root={tmp_path}/mlruns/artifacts",
         f"checkpoint_dir={tmp_path}/checkpoints", "energy.min_window_s=0"],
        cwd=folder, env=run_env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(proc.stdout[-2500:])
    assert "sessions" in proc.stdout and "prefix cache" in proc.stdout
    return json.loads((out / "summary.json").read_text()), out


def why(requests: pd.DataFrame, out: Path) -> str:
    """What failed, and what the server logged last: a failure here must say more than a False."""
    log = out / "engine-server.log"
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else "(no server log)"
    return f"{requests[['id', 'error']].to_string()}\n--- server log, last lines ---\n{tail}"


def check_sessions(summary: dict, out: Path) -> pd.DataFrame:
    requests = pd.read_csv(out / "requests.csv")
    sessions = pd.read_csv(out / "sessions.csv")
    assert sorted(sessions["session"]) == ["trip-0", "trip-1", "trip-2"] and sessions["completed"].all(), why(requests, out)
    assert len(requests) == 9 and requests["error"].isna().all(), why(requests, out)
    summed = requests.groupby("session")["energy_attributed_j"].sum()
    for row in sessions.itertuples():
        assert row.energy_j == pytest.approx(summed[row.session], rel=1e-9)
        assert row.requests == 3 and 0.69 <= row.think_s < 1.5  # the 0.2 + 0.5 s delays, measured
    for session, group in requests.groupby("session"):  # each turn sent after the previous reply
        group = group.sort_values("turn")
        assert list(group["turn"]) == [0, 1, 2]
    later = requests[requests["turn"] > 0]
    assert (later["cached_tokens"] > 0).all(), requests[["id", "prompt_tokens", "cached_tokens"]]
    m = summary["metrics"]
    assert m["sessions_completed"] == 3 and m["prefix_cache_hit_rate"] > 0.3
    assert m["energy_per_session_j"] == pytest.approx(sessions["energy_j"].mean(), rel=1e-9)
    assert m["session_idle_energy_j"] >= 0 and m["session_latency_s_p50"] > 0.7
    assert summary["tags"]["task.primary_metric"] == "session_success_rate"
    assert summary["sessions"]["scored"] == 1
    return requests


def test_a_users_sessions_replay_on_the_vllm_server_with_prefix_caching(tmp_path, sustain_cmd, run_env):
    summary, out = run_in(user_folder(tmp_path / "study"), ["engine=vllm_server", "engine.cpu_memory_fraction=0.08",
                                                            "load=concurrency", "load.max_in_flight=2", "batch_size=2"],
                          sustain_cmd, run_env, tmp_path)
    check_sessions(summary, out)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    run = client.get_run(summary["run"]["run_id"])
    assert run.data.metrics["sessions_completed"] == 3 and "energy_per_session_j" in run.data.metrics
    assert "sessions.json" in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_the_same_sessions_on_llama_cpp(tmp_path, sustain_cmd, run_env):
    summary, out = run_in(user_folder(tmp_path / "study"), ["engine=llamacpp", "batch_size=2", "load=concurrency",
                                                            "load.max_in_flight=2"], sustain_cmd, run_env, tmp_path)
    check_sessions(summary, out)


def test_the_same_sessions_on_the_offline_engine(tmp_path, sustain_cmd, run_env):
    summary, out = run_in(user_folder(tmp_path / "study"), ["engine=vllm", "engine.cpu_memory_fraction=0.08",
                                                            "batch_size=4"], sustain_cmd, run_env, tmp_path)
    requests = check_sessions(summary, out)
    assert (requests["reasoning_tokens"] == 0).all()  # no think block in these answers
