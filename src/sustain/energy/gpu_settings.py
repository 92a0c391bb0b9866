"""GPU power limit and locked clocks for a run (`gpu.power_limit_w`, `gpu.clocks_mhz`), through Zeus.

Applied to every GPU of the run before the engine starts and put back afterwards, also when the run
fails: the power limit to the value it had, the clocks unlocked. A setting the machine cannot take (no
GPU, a limit outside the card's range, a clock it does not support, no SYS_ADMIN) is refused with one
sentence before anything changes. Zeus addresses GPUs in CUDA_VISIBLE_DEVICES order, as vLLM does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from sustain.errors import SustainError


def _open_gpus(what: str) -> Any:
    try:
        from zeus.device import get_gpus
        from zeus.device.exception import ZeusBaseGPUError
    except ImportError as exc:
        raise SustainError(f"{what} needs Zeus, which is not installed ({exc}); pip install zeus",
                           kind="gpu_settings") from exc
    try:
        gpus = get_gpus()
    except (ZeusBaseGPUError, ImportError) as exc:
        raise SustainError(f"{what} cannot be applied: no GPU can be managed here ({exc}); drop the setting",
                           kind="gpu_settings") from exc
    if len(gpus) == 0:
        raise SustainError(f"{what} cannot be applied: this machine has no GPU; drop the setting",
                           kind="gpu_settings")
    return gpus


def _check(gpus: Any, indices: Sequence[int], power_limit_w: float | None, clocks_mhz: int | None) -> None:
    if max(indices) >= len(gpus):
        raise SustainError(f"the run uses GPU {max(indices)} but only {len(gpus)} GPU(s) are visible; "
                           "set gpus= to at most that", kind="gpu_settings")
    for i in indices:
        if power_limit_w is not None:
            low, high = (mw / 1000.0 for mw in gpus.get_power_management_limit_constraints(i))
            if not low <= power_limit_w <= high:
                raise SustainError(f"gpu.power_limit_w={power_limit_w:g} is outside GPU {i}'s range "
                                   f"{low:g}-{high:g} W; choose a limit in that range", kind="gpu_settings")
        if clocks_mhz is not None:
            supported = gpus.get_supported_graphics_clocks(i)
            if supported and clocks_mhz not in supported:
                raise SustainError(f"gpu.clocks_mhz={clocks_mhz} is not a graphics clock of GPU {i}; it supports "
                                   f"{min(supported)}-{max(supported)} MHz in steps, e.g. {sorted(supported)[-3:]}",
                                   kind="gpu_settings")


@contextlib.contextmanager
def applied(power_limit_w: float | None, clocks_mhz: int | None, indices: Sequence[int]) -> Iterator[dict[str, str]]:
    """Apply the settings for the block; yields tags saying what was set (empty when nothing was asked)."""
    if power_limit_w is None and clocks_mhz is None:
        yield {}
        return
    what = " and ".join(f"gpu.{k}={v:g}" for k, v in (("power_limit_w", power_limit_w), ("clocks_mhz", clocks_mhz))
                        if v is not None)
    indices = list(indices)
    if not indices:
        raise SustainError(f"{what} needs a GPU but the run uses none (gpus=0); drop the setting",
                           kind="gpu_settings")
    from zeus.device.exception import ZeusBaseGPUError

    gpus = _open_gpus(what)
    try:
        _check(gpus, indices, power_limit_w, clocks_mhz)
    except ZeusBaseGPUError as exc:
        raise SustainError(f"{what} cannot be applied: the GPU does not report its limits or clocks "
                           f"({type(exc).__name__}: {exc}); drop the setting", kind="gpu_settings") from exc
    undo: list[Any] = []
    try:
        for i in indices:
            if power_limit_w is not None:
                before = gpus.get_power_management_limit(i)
                gpus.set_power_management_limit(i, round(power_limit_w * 1000))
                undo.append(lambda i=i, before=before: gpus.set_power_management_limit(i, before))
            if clocks_mhz is not None:
                gpus.set_gpu_locked_clocks(i, clocks_mhz, clocks_mhz)
                undo.append(lambda i=i: gpus.reset_gpu_locked_clocks(i))
    except ZeusBaseGPUError as exc:
        _restore(undo)
        raise SustainError(f"{what} was refused by the GPU ({type(exc).__name__}: {exc}); setting power limits "
                           "and clocks needs SYS_ADMIN (or the Zeus daemon) and a GPU that supports them",
                           kind="gpu_settings") from exc
    tags = {"gpu.settings": what, "gpu.settings.gpus": "+".join(map(str, indices))}
    try:
        yield tags
    finally:
        _restore(undo)


def _restore(undo: list[Any]) -> None:
    """Undo in reverse order; every step is tried, and the first failure is raised after the rest ran."""
    failure: Exception | None = None
    for step in reversed(undo):
        try:
            step()
        except Exception as exc:  # keep restoring the other GPUs
            failure = failure or exc
    if failure is not None:
        raise SustainError(f"restoring the GPU settings failed ({failure}); check them with nvidia-smi",
                           kind="gpu_settings") from failure
