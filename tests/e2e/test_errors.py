"""Bad input gets one clear sentence and a non-zero exit, never a traceback; the run is recorded as FAILED."""

import subprocess

import pytest


def sustain(cmd, env, *args):
    return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=300)


def assert_one_sentence(proc, *fragments):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("sustain: error:")]
    assert len(errors) == 1, proc.stderr[-2000:]
    for fragment in fragments:
        assert fragment in errors[0]


def failed_runs(tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    exp = client.get_experiment_by_name("sustain")
    return [r for r in client.search_runs([exp.experiment_id]) if r.info.status == "FAILED"]


def test_missing_dataset(tmp_path, sustain_cmd, run_env, tracking_overrides):
    proc = sustain(sustain_cmd, run_env, f"task.dataset={tmp_path}/nope.jsonl", *tracking_overrides)
    assert_one_sentence(proc, "nope.jsonl does not exist", "task.dataset=")
    [run] = failed_runs(tmp_path)
    assert run.data.tags["error.kind"] == "input" and "nope.jsonl" in run.data.tags["error.message"]


def test_malformed_line(tmp_path, sustain_cmd, run_env, tracking_overrides):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "context": [], "functions": [], "conversation_history": [], '
                   '"response": "hi", "label": "SMALL_TALK"}\n{"id": "b", "context": [}\n')
    proc = sustain(sustain_cmd, run_env, f"task.dataset={bad}", *tracking_overrides)
    assert_one_sentence(proc, "bad.jsonl, line 2 is not valid JSON")


def test_unknown_model(tmp_path, sustain_cmd, run_env, tracking_overrides):
    proc = sustain(sustain_cmd, run_env, "model.path=nobody/no-such-model-xyz", *tracking_overrides)
    assert_one_sentence(proc, "Model 'nobody/no-such-model-xyz'", "model.path")
    [run] = failed_runs(tmp_path)
    assert run.data.tags["error.kind"] == "model_not_found"


def test_unknown_model_config_lists_the_options(sustain_cmd, run_env):
    proc = sustain(sustain_cmd, run_env, "model=no_such_model")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "Could not find 'model/no_such_model'" in proc.stderr and "smollm2_135m" in proc.stderr


@pytest.mark.parametrize(("override", "suggestion"), [
    ("batch_sizee=3", "did you mean 'batch_size'"),
    ("task.decodng=free", "did you mean 'task.decoding'"),
])
def test_misspelt_override(sustain_cmd, run_env, override, suggestion):
    proc = sustain(sustain_cmd, run_env, override)
    assert_one_sentence(proc, suggestion)


def test_wrong_type_is_refused_before_running(sustain_cmd, run_env):
    proc = sustain(sustain_cmd, run_env, "batch_size=many")
    assert_one_sentence(proc, "batch_size=many is not an integer: give batch_size an integer.")


def test_help_and_cfg_job(sustain_cmd, run_env):
    helped = sustain(sustain_cmd, run_env, "--help")
    assert helped.returncode == 0 and "batch_size=2,8,32 -m" in helped.stdout and "model:" in helped.stdout
    groups = helped.stdout[helped.stdout.index("== Configuration groups =="):helped.stdout.index("== Config ==")]
    assert "smollm2_135m" in groups and "_schema" not in groups
    job = sustain(sustain_cmd, run_env, "--cfg", "job", "batch_size=64")
    assert job.returncode == 0 and "batch_size: 64" in job.stdout
    assert "hydra:" not in job.stdout.splitlines()
