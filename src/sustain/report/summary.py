"""The short table a run prints at its end: the three objectives, and where each figure came from."""

from __future__ import annotations

from typing import Any


def _quality(m: dict[str, Any], run: dict[str, Any]) -> str:
    primary = run.get("primary_metric", "macro_f1")
    text = f"{primary} {m[primary]:.3f}" if primary in m else f"{primary} n/a"
    if "n_correct" in m:
        text += f", {m['n_correct']:.0f} of {run['n_requests']} correct"
    if "error_rate" in m:
        text += f", {m['error_rate']:.1%} unreadable (Error)"
    return text


def format_summary(summary: dict[str, Any]) -> str:
    m = summary["metrics"]
    run = summary["run"]
    energy = summary["energy"]

    def num(key: str, fmt: str = "{:.3f}") -> str:
        return fmt.format(m[key]) if key in m else "n/a"

    if energy["mode"] == "steady_state":
        how = f"steady state; whole-run cross-check {num('energy_whole_run_per_request_j', '{:.2f}')} J"
    else:
        how = "whole-run attribution, no usable steady state"
    rows = [
        ("model", f"{run['model']} ({run['quantization']}), batch_size={run['batch_size']}, gpus={run['gpus']}"),
        ("requests", f"{run['n_requests']} from {run['dataset']}"),
        (f"quality ({run.get('task', 'task')})", _quality(m, run)),
        ("energy / request", f"{num('energy_per_request_j_mean', '{:.2f}')} ± {num('energy_per_request_j_std', '{:.2f}')} J "
                             f"({how})"),
        ("energy / correct", f"{num('energy_per_correct_j', '{:.2f}')} J" if "energy_per_correct_j" in m
                             else "undefined: no correct answer"),
        ("energy source", energy["source"]),
        ("carbon", f"{num('gco2e_per_request', '{:.4f}')} gCO2e / request, {num('kwh_per_1k_requests', '{:.5f}')} kWh / 1k requests"),
        ("decode latency", f"mean {num('mean_decode_ms', '{:.0f}')} ms, p50 {num('p50_decode_ms', '{:.0f}')}, "
                           f"p90 {num('p90_decode_ms', '{:.0f}')}, p99 {num('p99_decode_ms', '{:.0f}')} ms"),
        ("TTFT", f"mean {num('mean_ttft_ms', '{:.0f}')} ms, p99 {num('p99_ttft_ms', '{:.0f}')} ms"),
        ("output tokens", f"{num('mean_output_tokens', '{:.1f}')} / request, {num('output_throughput_tok_s', '{:.1f}')} tok/s"),
    ]
    if "judge_score_mean" in m:
        rows.append(("LLM judge", f"{m['judge_score_mean']:.3f} ± {m['judge_score_std']:.3f} over "
                                  f"{m['judge_n_scored']:.0f} outputs (judge's own {m['judge_time_s']:.0f} s, "
                                  f"{m['judge_energy_j']:.0f} J, kept apart)"))
    if "om" in m:
        rows.append(("overall metric", f"{m['om']:.3f} vs {summary['overall']['reference']['name']}"))
    flags = summary["validity"]["flags"]
    rows.append(("validity", "ok" if not flags else f"{len(flags)} flag(s): " + "; ".join(flags)))
    rows.append(("MLflow run", f"{run.get('run_id')} in {run.get('tracking_uri')}"))
    width = max(len(k) for k, _ in rows)
    line = "─" * (width + 60)
    body = "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)
    return f"{line}\n  sustain · {run['name']}\n{line}\n{body}\n{line}"
