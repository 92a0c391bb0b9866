"""The report's agents section over agent runs logged by hand: the per-run CSV, the Pareto front (min energy per
successful task, max success rate) on hand-worked numbers, a run that never succeeded kept off the energy axis,
and nothing new for a report without agent runs."""

import time

import pandas as pd
import pytest
from mlflow.entities import Metric, Param

from sustain.report import agents
from sustain.report.__main__ import main

SOURCE = "zeus: NVIDIA GPU counters"
# name: (task, model, tool_calling, enable_thinking, success, J per successful task, extra metrics)
RUNS = {
    "a": ("agent", "qwen3_8b", "api", "False", 0.5, 100.0, {}),
    "b": ("agent", "small", "api", None, 0.25, 50.0, {}),
    "c": ("agent", "mid", "api", None, 0.5, 150.0, {}),  # A's success rate for more energy: dominated
    "d": ("agent", "qwen3_8b", "api", "True", 0.75, 300.0, {"mean_reasoning_tokens": 420.0,
                                                             "reasoning_token_share": 0.8}),
    "e": ("agent", "tiny", "constrained", None, 0.2, 80.0, {}),  # B beats it on both
    "f": ("agent", "nano", "constrained", None, 0.0, None, {}),  # never succeeded
    "g": ("my_agent", "nano", "api", None, 0.0, None, {}),  # the only run of its task, no success
}


def log_run(client, exp, name, task, model, tool_calling, thinking, success, per_success, extra):
    tags = {"model": model, "task": task, "engine": "vllm_server", "quantization": "none",
            "energy.source": SOURCE, "sustain.config_hash": name}
    run = client.create_run(exp, run_name=name, tags=tags).info.run_id
    metrics = {"energy_per_request_j_mean": 1.0, "decode_latency_s_mean": 1.0, "quality": success,
               "agent_success_rate": success, "sessions": 20, "steps_per_session": 3.0,
               "tool_calls_per_session": 2.0, "energy_per_session_j": (per_success or 40.0) * max(success, 0.05),
               "successful_sessions_per_kwh": 3.6e6 / per_success if per_success else 0.0, **extra}
    if tool_calling == "api":
        metrics["tool_call_validity"] = 0.9
    if per_success is not None:
        metrics["energy_per_successful_session_j"] = per_success
    params = {"task.tool_calling": tool_calling, **({agents.THINKING_KEY: thinking} if thinking else {})}
    stamp = int(time.time() * 1000)
    client.log_batch(run, metrics=[Metric(k, float(v), stamp, 0) for k, v in metrics.items()],
                     params=[Param(k, v) for k, v in params.items()])
    client.set_terminated(run)
    return run


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("agents")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("sustain", artifact_location=(root / "artifacts").as_uri())
    ids = {name: log_run(client, exp, name, *spec) for name, spec in RUNS.items()}
    return {"uri": uri, "ids": ids, "client": client, "exp": exp}


@pytest.fixture(scope="module")
def report(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["--tracking-uri", store["uri"], "--out", str(out)]) == 0
    return out


def rows(report):
    return pd.read_csv(report / "agents.csv").set_index("run_name")


def test_the_csv_holds_each_runs_figures_and_settings(store, report):
    got = rows(report)
    assert set(got.index) == set(RUNS) and set(got["run_id"]) == set(store["ids"].values())
    a = got.loc["a"]
    assert (a["task"], a["model"], a["engine"], a["tool_calling"], a["enable_thinking"]) == (
        "agent", "qwen3_8b", "vllm_server", "api", "off")
    assert (a["agent_success_rate"], a["energy_per_successful_session_j"], a["energy_per_session_j"]) == (
        0.5, 100.0, 50.0)
    assert (a["steps_per_session"], a["tool_calls_per_session"], a["sessions"]) == (3.0, 2.0, 20)
    assert a["successful_sessions_per_kwh"] == pytest.approx(36_000)
    assert a["energy_source"] == SOURCE and pd.isna(a["mean_reasoning_tokens"])
    assert (got.loc["d", "mean_reasoning_tokens"], got.loc["d", "reasoning_token_share"]) == (420.0, 0.8)
    # validity is measured in api mode only; constrained calls are well-formed by construction
    assert (got.loc["a", "tool_call_validity"], got.loc["e", "tool_call_validity"]) == ("0.9", "enforced")
    # thinking was swept on qwen3_8b only: the label says so there, and nowhere else
    assert (got.loc["a", "label"], got.loc["d", "label"], got.loc["b", "label"]) == (
        "qwen3_8b, api calls, thinking off", "qwen3_8b, api calls, thinking on", "small, api calls")
    assert got.loc["g", "label"] == "nano, api calls" and pd.isna(got.loc["b", "enable_thinking"])


def test_the_pareto_front_is_the_hand_worked_one_per_task(report):
    got = rows(report)
    assert sorted(got.index[got["pareto"] == "yes"]) == ["a", "b", "d"]
    assert got.loc["c", "pareto"] == got.loc["e", "pareto"] == "no"
    assert got.loc["g", "pareto"] == "no"  # the other task's lone run: no success, no point, no front


def test_pareto_membership_ties_and_a_run_with_a_success_but_no_energy():
    frame = pd.DataFrame({
        "run_id": list("wxyz"), "run_name": list("wxyz"), "model": list("wxyz"), "quantization": "none",
        "engine": "llamacpp", "task": "agent", "tool_calling": "api", "enable_thinking": None,
        "agent_success_rate": [0.5, 0.5, 0.9, 0.4], "energy_per_successful_session_j": [10.0, 10.0, None, 12.0],
        "tool_call_validity": 1.0})
    table = agents.table(frame).set_index("run_id")
    assert table["pareto"].to_dict() == {"w": "yes", "x": "yes", "y": "no", "z": "no"}
    assert not agents.no_success(table).any()  # y succeeded: it lacks an energy figure, not a success


def test_a_run_without_success_is_never_given_an_energy(report):
    got = rows(report)
    assert pd.isna(got.loc["f", "energy_per_successful_session_j"]) and got.loc["f", "agent_success_rate"] == 0
    md = (report / "agents.md").read_text()
    line = next(l for l in md.splitlines() if l.startswith("| nano, constrained calls"))
    assert "| no success |" in line and "| enforced |" in line and "0.0% (0 of 20)" in line
    page = (report / "report.html").read_text()
    assert "1 run(s) succeeded at no task" in page
    assert "No run succeeded at any task, so there is no Pareto front." in page  # task my_agent


def test_one_figure_per_agent_task_in_the_page(report):
    for task in ("agent", "my_agent"):
        assert (report / f"agents_pareto.{task}.png").stat().st_size > 10_000
    page = (report / "report.html").read_text()
    assert page.count("energy per successful task against success rate") == 2
    assert 'alt="agents_pareto.agent.png"' in page and 'alt="agents_pareto.my_agent.png"' in page
    assert "Reasoning share of output" in page and "80.0%" in page


def test_one_task_gets_a_figure_without_a_suffix(store, tmp_path):
    out = tmp_path / "r"
    assert main(["--tracking-uri", store["uri"], "--tag", "task=my_agent", "--out", str(out)]) == 0
    assert (out / "agents_pareto.png").exists() and list(pd.read_csv(out / "agents.csv")["run_name"]) == ["g"]
    assert "enable_thinking" not in (out / "agents.md").read_text()  # no run of it set the switch


def test_a_report_without_agent_runs_has_no_agents_section(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("sustain", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(exp, run_name="qa", tags={"model": "m", "task": "hallucination"}).info.run_id
    client.log_batch(run, metrics=[Metric(k, 1.0, 0, 0) for k in
                                   ("energy_per_request_j_mean", "decode_latency_s_mean", "quality")])
    client.set_terminated(run)
    out = tmp_path / "r"
    assert main(["--tracking-uri", uri, "--out", str(out)]) == 0
    assert not list(out.glob("agents*")) and "Agents" not in (out / "report.html").read_text()


def test_the_section_reads_the_metrics_the_agent_task_declares():
    from sustain.registry import registry
    from sustain.tasks import agent

    assert (agents.SUCCESS, agents.VALIDITY) == (agent.SUCCESS, agent.VALIDITY)
    assert [m for m in agents.METRICS if registry().get(m) is None] == []
