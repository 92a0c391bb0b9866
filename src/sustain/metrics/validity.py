"""What makes a run's figures need a caveat, as flags: each one sentence, shown in the summary and logged
as the `validity.flags` tag, so a number is never read without them."""

from __future__ import annotations

from typing import Any

from sustain.energy.attribution import Attribution
from sustain.engines.records import EngineRun
from sustain.metrics import latency

SHORT_WINDOW_S = 20.0  # ML.ENERGY wants a steady state of at least 20-30 s
FULL_BATCH = 0.85
CLIENT_SATURATED = 0.9  # share of one core the client's event loop may use before it, not the engine, sets the pace


def measurement_flags(attribution: Attribution, engine_run: EngineRun, batch_size: int, gpus: int,
                      load_name: str) -> list[str]:
    """The attribution's own warnings, a short or missing steady state, a batch that never filled, and
    fewer GPUs seen than asked for."""
    flags = list(attribution.warnings)
    window_s = attribution.span_s[1] - attribution.span_s[0]
    if attribution.mode == "steady_state" and window_s < SHORT_WINDOW_S:
        flags.append(f"steady-state window is {window_s:.1f} s, shorter than the {SHORT_WINDOW_S:.0f} s "
                     f"ML.ENERGY asks for")
    if attribution.mode == "remote":
        flags.append(f"energy of a remote endpoint: {attribution.reason}")
    elif attribution.mode != "steady_state":
        flags.append(f"energy attributed over the whole run: {attribution.reason}")
    peak = latency.peak_in_flight(engine_run.records)
    if load_name != "burst" and peak < batch_size:
        flags.append(f"the batch never filled under load={load_name}: at most {peak} of batch_size={batch_size} "
                     f"requests were in flight")
    if attribution.mode == "steady_state" and attribution.batch_fill < FULL_BATCH:
        flags.append(f"batch_size={max(1, round(attribution.avg_running_batch))} would have filled")
    client_s, span_s = engine_run.info.get("client_cpu_s"), engine_run.end_s - engine_run.start_s
    if client_s is not None and span_s > 0 and client_s / span_s > CLIENT_SATURATED:
        flags.append(f"the client used {client_s / span_s:.0%} of a core over the run: it was saturated, so latency "
                     f"and throughput measure the client as much as the engine")
    visible = engine_run.info.get("device_count_visible", 0)
    if engine_run.info.get("platform") not in ("cpu", None) and visible < gpus:
        flags.append(f"the engine saw {visible} GPU(s) but gpus={gpus}")
    return flags


def tags(flags: list[str]) -> dict[str, Any]:
    return {"validity.flags": " | ".join(flags) or "none", "validity.ok": str(not flags).lower()}
