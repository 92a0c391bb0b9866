"""A sessions run through the whole pipeline with the fake engine: the sessions table, its MLflow table, the
per-session metrics beside the per-request ones, and the terminal summary's sessions block."""

import json

import pandas as pd
import pytest


def test_a_sessions_run_prices_each_session_and_reports_the_prefix_cache(fake_run):
    summary, out = fake_run("task=sessions", "task.limit=4", "task.delays=none", "batch_size=4")
    sessions, requests = pd.read_csv(out / "sessions.csv"), pd.read_csv(out / "requests.csv")
    assert len(sessions) == 4 and sessions["completed"].all()
    assert len(requests) == sessions["turns"].sum() and set(requests["session"]) == set(sessions["session"])
    summed = requests.groupby("session")["energy_attributed_j"].sum()
    assert all(row.energy_j == pytest.approx(summed[row.session]) for row in sessions.itertuples())
    m = summary["metrics"]
    assert m["sessions_completed"] == 4 and m["n"] == len(requests)
    # the fake engine's turn k has 100 (k+1) prompt tokens, 100 k of them cached
    turns = requests["turn"]
    assert m["prefix_cache_hit_rate"] == pytest.approx((100 * turns).sum() / (100 * (turns + 1)).sum())
    assert summary["sessions"]["sessions"] == 4 and len(summary["sessions"]["turns"]) == turns.max() + 1
    assert (out / "turns.csv").exists()
    text = json.loads((out / "summary.json").read_text())
    from sustain.report.summary import format_summary

    shown = format_summary(text)
    assert "4 of 4 completed" in shown and "served from it" in shown and "kept apart" in shown


def test_the_sessions_table_reaches_mlflow(fake_run, tmp_path):
    summary, _ = fake_run("task=sessions", "task.limit=2", "task.delays=none")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    run_id = summary["run"]["run_id"]
    assert "sessions.json" in {a.path for a in client.list_artifacts(run_id)}
    assert client.get_run(run_id).data.metrics["sessions_completed"] == 2


def test_predictions_on_disk_say_what_the_task_scored(fake_run, tmp_path):
    """The task decides a session's success only when it scores all of it: predictions.jsonl and requests.csv
    carry that verdict, not the per-turn guess written while the engine ran."""
    lines = [{"id": f"s{i}", "turns": [{"messages": [{"role": "user", "content": "hi"}]},
                                       {"messages": [{"role": "user", "content": "verdict?"}]}],
              "expected": {"final_contains": "\"sources\""}} for i in range(4)]
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    summary, out = fake_run("task=sessions", f"task.dataset={data}", "task.delays=none", "batch_size=4")
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    correct = sorted(r["id"] for r in rows if r["correct"])
    assert correct == ["s0/1", "s2/1"]  # the fake engine answers its JSON on even sessions' last turns
    requests = pd.read_csv(out / "requests.csv")
    assert sorted(requests[requests["correct"]]["id"]) == correct
    assert summary["metrics"]["session_success_rate"] == 0.5 and summary["sessions"]["succeeded"] == 2
