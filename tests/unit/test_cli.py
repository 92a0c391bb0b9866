"""The command line around Hydra: --verbose, wrong-type overrides, the group listing of --help, and the
sweep's parent run name."""

from datetime import datetime
from typing import Dict, List, Optional

import pytest
from hydra import initialize_config_dir

from sustain.__main__ import CONF_DIR
from sustain.cli import describe, translate_flags, wrong_type_message
from sustain.resolvers import _group_listing
from sustain.config import register
from sustain.tracking.sweep import study_name

register()


def test_verbose_flag_becomes_an_override_unless_one_is_given():
    assert translate_flags(["--verbose", "batch_size=2"]) == ["batch_size=2", "verbose=true"]
    assert translate_flags(["verbose=false", "--verbose"]) == ["verbose=false"]
    assert translate_flags(["-m", "batch_size=2,8"]) == ["-m", "batch_size=2,8"]


@pytest.mark.parametrize("override, message", [
    ("batch_size=many", "batch_size=many is not an integer: give batch_size an integer."),
    ("energy.estimate.min_load=lots", "energy.estimate.min_load=lots is not a number: give energy.estimate.min_load a number."),
    ("reference.output_tokens=abc", "reference.output_tokens=abc is not a number or null: "
                                    "give reference.output_tokens a number or null."),
    ("rerun=maybe", "rerun=maybe is not true or false: give rerun true or false."),
    ("batch_size=2,x,8", "batch_size=x is not an integer: give batch_size an integer."),
])
def test_wrong_type_gets_one_sentence_naming_key_type_and_value(override, message):
    assert wrong_type_message([override]) == message


@pytest.mark.parametrize("overrides", [
    ["batch_size=8", "gpus=2", "model.max_model_len=null", "energy.estimate.min_load=0.2"],
    ["batch_size=2,8,32", "rerun=true", "tracking.uri=sqlite:///x.db"],
    ["model=qwen2_5_7b", "task.whatever=1", "engine.args.x=y", "hydra.run.dir=x", "+new=1", "nokey=3"],
    ["batch_size=${gpus}", "batch_size=range(1,4)"],
])
def test_right_types_and_keys_of_others_pass(overrides):
    assert wrong_type_message(overrides) is None


def test_describe_types():
    assert describe(Optional[int]) == "an integer or null"
    assert describe(List[float]) == "a list" and describe(Dict[str, str]) == "a mapping"


def test_help_lists_choices_without_schemas():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        listing = _group_listing()
    assert "_schema" not in listing
    lines = dict(line.split(": ", 1) for line in listing.splitlines())
    assert lines["reference"] == "gpt4o_estimate, mlflow_run, none" and "smollm2_135m" in lines["model"]
    assert not any(group.startswith("hydra") for group in lines)


def test_sweep_parent_is_named_for_the_study():
    at = datetime(2026, 12, 1, 21, 5)
    assert study_name("smoke", ["experiment=smoke"], at) == "smoke 2026-12-01 21:05"
    assert study_name(None, ["task.limit=4", "batch_size=2,8", "hydra.launcher.n_jobs=2,3"], at) \
        == "batch_size=2,8 2026-12-01 21:05"
    assert study_name(None, ["task.limit=4"], at) == "task.limit=4 2026-12-01 21:05"
    assert study_name(None, [], at) == "sweep 2026-12-01 21:05"
    assert study_name(None, ["task=arithmetic", "tracking.uri=sqlite:////tmp/x.db", "checkpoint_dir=/tmp/c",
                             "hydra/sweeper=batch_size"], at) == "task=arithmetic 2026-12-01 21:05"
    assert len(study_name(None, [f"model.path={'x' * 300},y"], at)) == 100 + 17


def test_log_lines_that_matter_reach_the_terminal_once_and_the_rest_only_when_verbose():
    from sustain.engines.log_relay import relay

    seen = set()
    oom = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert relay("INFO 12-01 ROCm library not found\n", "engine.log", False, seen) is None
    assert relay(oom, "engine.log", False, seen) == (
        "sustain: warning: out of memory: lower batch_size or model.max_model_len, or give the job more GPUs "
        "(see engine.log)")
    assert relay(oom, "engine.log", False, seen) is None
    long = "WARNING Token indices sequence length is longer than the maximum sequence length (9000 > 8192)"
    assert relay(long, "engine.log", False, seen).startswith("sustain: warning: a prompt was truncated")
    assert relay("INFO 12-01 ROCm library not found\n", "engine.log", True, set()) == "INFO 12-01 ROCm library not found"


def test_mlflow_variables_set_the_store_and_the_command_line_wins(tmp_path):
    """`python -m sustain --cfg job --resolve` with MLflow's variables set, without and with overrides."""
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from sustain.__main__ import main\n"
        "for extra in ([], ['tracking.uri=sqlite:///cli.db', 'tracking.experiment=cli']):\n"
        "    sys.argv = ['sustain', '--cfg', 'job', '--resolve', *extra]\n"
        "    main()\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": "http://mlflow.lab:5000", "MLFLOW_EXPERIMENT_NAME": "study"}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    uris = [line.split(": ", 1)[1] for line in out.stdout.splitlines() if line.startswith("  uri: ")]
    experiments = [line.split(": ", 1)[1] for line in out.stdout.splitlines() if line.startswith("  experiment: ")]
    assert uris == ["http://mlflow.lab:5000", "sqlite:///cli.db"] and experiments == ["study", "cli"]
    env.pop("MLFLOW_TRACKING_URI")
    default = subprocess.run([sys.executable, "-m", "sustain", "--cfg", "job", "--resolve"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
    assert f"  uri: sqlite:///{tmp_path}/mlruns/mlflow.db" in default.stdout.splitlines()


def test_library_loggers_are_hushed_and_device_probing_returns_with_verbose():
    import logging

    from sustain.cli import quiet_libraries

    quiet_libraries()
    assert logging.getLogger("alembic").level == logging.WARNING
    assert logging.getLogger("zeus").level == logging.ERROR
    quiet_libraries(verbose=True)
    assert logging.getLogger("zeus").level == logging.INFO and logging.getLogger("mlflow").level == logging.WARNING


def test_relabelling_a_group_points_to_the_group_choice():
    from sustain.cli import relabel_message
    from sustain.__main__ import CONF_DIR

    assert relabel_message(["judge.name=local"], CONF_DIR) == (
        "'judge.name=local' would only relabel the judge config, not choose it: write judge=local instead.")
    assert "energy=auto,estimate" in relabel_message(["energy.name=auto,estimate"], CONF_DIR)
    assert relabel_message(["task.name=my_tickets", "judge=local", "batch_size=2"], CONF_DIR) is None
    assert relabel_message(["model.path=Qwen/Qwen2.5-0.5B-Instruct", "model.name=qwen2_5_0_5b"], CONF_DIR) is None
