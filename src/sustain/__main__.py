"""`python -m sustain`: one benchmark run, or a sweep with `-m`.

The Hydra entry point sits under the `__main__` guard because vLLM spawns processes that re-import
this module.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from sustain.cli import quiet_libraries
from sustain.resolvers import register_resolvers
from sustain.config import register
from sustain.errors import SustainError

CONF_DIR = Path(__file__).resolve().parent / "conf"

register()
register_resolvers()  # here, so job processes that import this module resolve run names and the help template too
log = logging.getLogger("sustain")


def job(cfg: DictConfig) -> dict[str, float] | None:
    """One Hydra job; returns its metrics (what a search sweeper optimises). A failure is recorded as a
    FAILED MLflow run; a sweep goes on to the next job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from sustain import pipeline
    from sustain.tracking.sweep import parent_run_id

    quiet_libraries(bool(cfg.verbose))
    hc = HydraConfig.get()
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # not under submitit, which handles it itself
        signal.signal(signal.SIGTERM, _stop)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    typed = OmegaConf.to_object(cfg)
    try:
        report = pipeline.run(typed, resolved, Path(hc.runtime.output_dir), parent_run_id(), _job_tags(hc))
    except SustainError as exc:
        print(f"sustain: error: {exc}", file=sys.stderr, flush=True)
        if hc.mode == RunMode.MULTIRUN:
            return None
        sys.exit(2)
    if report is None:  # an identical finished run exists; the pipeline said which
        return None
    print(report.text(), flush=True)
    return report.metrics()


def _stop(signum: int, frame: object) -> None:
    """SIGTERM ends a job like Ctrl-C does: its run is recorded and its engine process is ended."""
    raise KeyboardInterrupt


def _job_tags(hc) -> dict[str, str]:
    from hydra.types import RunMode

    tags = {"hydra.overrides": " ".join(hc.overrides.task)[:5000]}
    if hc.mode == RunMode.MULTIRUN:
        tags["sweep.job_num"] = str(hc.job.num)
    return tags


def main() -> None:
    from sustain.cli import relabel_message, translate_flags, wrong_type_message
    from sustain.config import unknown_key_message

    sys.argv[1:] = translate_flags(sys.argv[1:])
    quiet_libraries()
    try:
        from hydra._internal.utils import get_args_parser

        overrides = get_args_parser().parse_args().overrides
    except SystemExit:
        overrides = []  # --help and friends: Hydra answers them
    groups = frozenset(p.name for p in CONF_DIR.iterdir() if p.is_dir())
    message = (unknown_key_message(overrides, groups) or wrong_type_message(overrides)
               or relabel_message(overrides, CONF_DIR))
    if message:
        print(f"sustain: error: {message}", file=sys.stderr)
        sys.exit(2)
    hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(job)()


if __name__ == "__main__":
    main()
