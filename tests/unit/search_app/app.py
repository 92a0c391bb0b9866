"""A stand-in for `python -m sustain` whose jobs return metrics from a known curve, so the sweepers'
asking, launching, telling, resuming and reporting can be tested in seconds.

Energy per request is convex in log2(batch_size) with its minimum at 32; latency grows with it.
FAKE_FAIL_AT=<job num> makes that job fail; FAKE_DIE_AT=<job num> kills the whole search during that job
(an interruption).
"""

import math
import os
import signal

import hydra
from omegaconf import DictConfig


def energy(batch_size: int) -> float:
    u = 5 - math.log2(batch_size)
    return 100 * (1 + 0.3 * (2 ** u - 1 - math.log(2) * u))


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def job(cfg: DictConfig) -> dict:
    from hydra.core.hydra_config import HydraConfig

    num = str(HydraConfig.get().job.num)
    if os.environ.get("FAKE_DIE_AT") == num:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("FAKE_FAIL_AT") == num:
        raise RuntimeError("no KV cache left")
    metrics = {"energy_per_request_j_mean": energy(cfg.batch_size), "decode_latency_s_mean": 0.1 * cfg.batch_size,
               "quality": 0.8}
    _record(cfg, num, metrics)
    return metrics


def _record(cfg: DictConfig, num: str, metrics: dict) -> None:
    """A finished child run under the sweep's parent, found by its job number as sustain's are."""
    from sustain.tracking.mlflow_tracker import Tracker
    from sustain.tracking.sweep import parent_run_id

    parent = parent_run_id()
    if parent is None:
        return
    tracker = Tracker(cfg.tracking.uri, cfg.tracking.artifact_root, cfg.tracking.experiment)
    tracker.start(f"{cfg.variant}-bs{cfg.batch_size}", params={}, tags={
        "mlflow.parentRunId": parent, "sweep.job_num": num, "batch_size": str(cfg.batch_size), "variant": cfg.variant})
    tracker.log_metrics(metrics)
    tracker.finish()


if __name__ == "__main__":
    job()
