"""Where a run came from: the identity of its measurement (config hash), and the code, host and library
versions it ran with, as MLflow tags."""

from __future__ import annotations

import hashlib
import json
import platform
import socket
import subprocess
from typing import Any

# Keys of the resolved config that say where results go or what the run is called, not what is measured.
BOOKKEEPING_KEYS = ("tracking", "run_name", "rerun", "checkpoint_dir", "slurm", "resources", "verbose")


def config_hash(resolved: dict[str, Any]) -> str:
    """Identity of a job's measurement: the resolved config without where results go or what it is called."""
    keep = {k: v for k, v in resolved.items() if k not in BOOKKEEPING_KEYS}
    engine = dict(keep.get("engine", {}))
    engine.pop("timeout_s", None)
    keep["engine"] = engine
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_tags(cfg: Any) -> dict[str, str]:
    """The configuration's labels and the software it ran on."""
    return {
        "model": cfg.model.name, "quantization": cfg.quantization.name, "gpus": str(cfg.gpus),
        "batch_size": str(cfg.batch_size), "task": cfg.task.name, "engine": cfg.engine.name,
        "judge": cfg.judge.name, "git_commit": git_commit(), "host": socket.gethostname(),
        "python": platform.python_version(), "vllm_version": _version("vllm"),
        "torch_version": _version("torch"), "sustain_version": _version("sustain"),
        "mlflow.source.name": "sustain",
    }


def _version(dist: str) -> str:
    import importlib.metadata as md

    for name in (dist, f"{dist}-cpu"):
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            continue
    return "absent"


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, timeout=5)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
