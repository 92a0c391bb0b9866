"""Config identity, resume checkpoints, override checks and the sweep table."""

import json

from sustain.config import unknown_key_message
from sustain.engines.checkpoint import Checkpoint
from sustain.engines.records import RequestRecord
from sustain.tracking.provenance import config_hash
from sustain.report.sweep_table import format_sweep_table, skipped_rows


def record(rid, error=None):
    return RequestRecord(id=rid, prompt_tokens=10, output_tokens=5, output_text="{}", finish_reason="stop",
                         arrival_s=1.0, scheduled_s=1.1, first_token_s=1.5, last_token_s=2.0, error=error)


def test_config_hash_ignores_where_results_go_but_not_what_is_measured():
    base = {"model": {"path": "embedded"}, "batch_size": 8, "engine": {"seed": 0, "timeout_s": 60},
            "tracking": {"uri": "a"}, "run_name": "x", "rerun": False, "checkpoint_dir": "/a"}
    moved = {**base, "tracking": {"uri": "b"}, "run_name": "y", "rerun": True, "checkpoint_dir": "/b",
             "engine": {"seed": 0, "timeout_s": 999}}
    assert config_hash(base) == config_hash(moved)
    assert config_hash(base) != config_hash({**base, "batch_size": 16})
    assert config_hash(base) != config_hash({**base, "engine": {"seed": 1, "timeout_s": 60}})


def test_checkpoint_resumes_successful_requests_only(tmp_path):
    cp = Checkpoint(tmp_path, "abc")
    cp.open([])
    cp.append(record("a"))
    cp.append(record("b", error="boom"))
    cp.append(record("c"))
    cp.close()
    with cp.path.open("a") as fh:
        fh.write('{"id": "d", "prompt_')  # the line a killed job was writing
    again = Checkpoint(tmp_path, "abc")
    assert sorted(r.id for r in again.load({"a", "b", "d"})) == ["a"]
    assert sorted(r.id for r in again.load({"a", "b", "c", "d"})) == ["a", "c"]
    again.open([record("a")])
    again.close()
    assert [json.loads(line)["id"] for line in again.path.read_text().splitlines()] == ["a"]
    again.discard()
    assert not again.path.exists()


def test_unknown_keys_are_named_with_the_closest_real_one():
    assert "did you mean 'batch_size'" in unknown_key_message(["batch_sizee=3"])
    assert "did you mean 'energy.estimate.tdp_w'" in unknown_key_message(["energy.estimate.tdp=3"])
    assert unknown_key_message(["batch_size=1,2", "task.limit=3", "model=anything", "+engine.args.x=1",
                                "engine.args.enable_prefix_caching=true", "hydra.run.dir=x", "my_group=x"]) is None
    assert unknown_key_message(["experiment=smoke"], frozenset({"experiment"})) is None


def test_sweep_table_counts_and_explains(tmp_path):
    (tmp_path / "2-job").mkdir()
    (tmp_path / "2-job" / "skipped.json").write_text(json.dumps({"run_name": "m-bs4", "same_as": "r1"}))
    rows = [
        {"job": "#0 m-bs2", "status": "FINISHED", "batch_size": "2", "gpus": "1", "energy_j": 1.5,
         "decode_s": 0.25, "macro_f1": 0.5, "error": ""},
        {"job": "#1 m-bs8", "status": "FAILED", "batch_size": "8", "gpus": "1", "energy_j": None,
         "decode_s": None, "macro_f1": None, "error": "out_of_memory: KV cache too small"},
        *skipped_rows(tmp_path),
    ]
    table = format_sweep_table(rows)
    assert table.splitlines()[0] == "sweep: 3 job(s): 1 finished, 1 failed, 1 skipped (already done)"
    assert "out_of_memory: KV cache too small" in table and "1.500" in table
    assert "#2 m-bs4" in table and "same config as finished run r1" in table
