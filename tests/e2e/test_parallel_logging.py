"""Many jobs logging into one store at once lose nothing (what parallel sweep jobs do)."""

import multiprocessing as mp

from sustain.tracking.mlflow_tracker import Tracker

JOBS = 6


def job(uri: str, root: str, i: int) -> None:
    tracker = Tracker(uri, root, "parallel")
    tracker.start(f"job-{i}", tags={"job": str(i)}, params={f"p{k}": str(k) for k in range(120)})
    for step in range(5):
        tracker.log_metrics({f"m{k}": float(i * 100 + k + step) for k in range(40)})
    tracker.set_tags({"done": "yes"})
    tracker.finish()


def test_parallel_jobs_lose_nothing(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    Tracker(uri, str(tmp_path / "artifacts"), "parallel")  # the store's schema exists before the rush
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=job, args=(uri, str(tmp_path / "artifacts"), i)) for i in range(JOBS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * JOBS

    client = Tracker(uri, str(tmp_path / "artifacts"), "parallel").client
    runs = client.search_runs([client.get_experiment_by_name("parallel").experiment_id])
    assert sorted(r.data.tags["job"] for r in runs) == [str(i) for i in range(JOBS)]
    for r in runs:
        i = int(r.data.tags["job"])
        assert r.info.status == "FINISHED" and r.data.tags["done"] == "yes"
        assert len(r.data.params) == 120 and len(r.data.metrics) == 40
        assert r.data.metrics["m7"] == float(i * 100 + 7 + 4)
