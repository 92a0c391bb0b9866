"""sustain's own metrics (quality, energy, latency, serving, carbon, water, overall, judge, run), declared
in the registry. Plugins declare theirs in their own module's `METRICS`."""

from __future__ import annotations

from sustain.metrics.registry import MAXIMIZE, MINIMIZE, NEITHER, declare

QUALITY = declare("quality", "1", MAXIMIZE, "task's primary metric over all requests",
                  "The task's primary metric (named by the tag task.primary_metric), 0..1.", "quality", "quality")
ENERGY_PER_REQUEST = declare("energy_per_request_j_mean", "J", MINIMIZE, "mean over requests, steady-state window",
                             "Energy per request: the steady-state window's J per output token times each "
                             "request's output tokens.", "energy", "energy_j")
DECODE_LATENCY = declare("decode_latency_s_mean", "s", MINIMIZE, "mean over requests",
                         "Decode latency: first to last output token of a request.", "latency", "decode_latency_s")
