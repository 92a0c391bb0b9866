"""The short table a run prints at its end: the three objectives, and where each figure came from."""

from __future__ import annotations

import math
from typing import Any

from sustain import names


def format_summary(summary: dict[str, Any]) -> str:
    m = summary["metrics"]
    run = summary["run"]
    energy = summary["energy"]

    def num(key: str, fmt: str = "{:.3f}") -> str:
        return fmt.format(m[key]) if key in m and math.isfinite(m[key]) else "n/a"

    if energy["mode"] == "steady_state":
        how = f"steady state; whole-run cross-check {num('energy_whole_run_per_request_j', '{:.2f}')} J"
    elif energy["mode"] == "remote":
        how = "remote endpoint, an estimate of its model" if "energy_per_request_j_mean" in m else energy["source"]
    else:
        how = "whole-run attribution, no usable steady state"
    rows = [
        ("model", f"{run['model']} ({run['quantization']}), batch_size={run['batch_size']}, gpus={run['gpus']}"),
        ("requests", f"{run['n_requests']} from {run['dataset']}"),
        _quality_row(summary),
        *[tuple(row) for row in summary.get("quality", {}).get("summary", [])],  # the task's own reading
        *_subtask_rows(summary.get("subtasks", [])),
        ("correct answers", _correct_line(m)),
        ("error rate", num("error_rate", "{:.1%}")),
        ("energy / request", _energy_line(m, num, how)),
        ("energy source", energy["source"]),
        *_footprint_rows(summary.get("footprint"), m, num),
        ("carbon", f"{num('gco2e_per_request', '{:.4f}')} gCO2e / request, {num('kwh_per_1k_requests', '{:.5f}')} "
                   f"kWh / 1k requests (energy: {summary.get('carbon', {}).get('basis', 'headline')})"),
        *_water_rows(summary.get("footprint"), m),
        ("decode latency", f"mean {num('mean_decode_ms', '{:.0f}')} ms, p50 {num('p50_decode_ms', '{:.0f}')}, "
                           f"p90 {num('p90_decode_ms', '{:.0f}')}, p99 {num('p99_decode_ms', '{:.0f}')} ms"),
        ("TTFT", f"mean {num('mean_ttft_ms', '{:.0f}')} ms, p99 {num('p99_ttft_ms', '{:.0f}')} ms"),
        ("output tokens", f"{num('mean_output_tokens', '{:.1f}')} / request, {num('output_throughput_tok_s', '{:.1f}')} tok/s"),
        _roofline_row(m, summary.get("tags", {})),
        *_reasoning_rows(m, num),
        *_session_rows(summary.get("sessions"), num),
    ]
    if "judge_score_mean" in m:
        judge_energy = (f"{m['judge_energy_j']:.0f} J" if "judge_energy_j" in m
                        else summary.get("judge", {}).get("energy_source", "energy not measured"))
        rows.append(("LLM judge", f"{m['judge_score_mean']:.3f} ± {m['judge_score_std']:.3f} over "
                                  f"{m['judge_n_scored']:.0f} outputs (judge's own {m['judge_time_s']:.0f} s, "
                                  f"{judge_energy}, kept apart)"))
    if summary.get("overall"):
        rows.append(("overall metric", _om_line(summary["overall"].get("om"), summary["overall"])))
    flags = summary["validity"]["flags"]
    rows.append(("validity", "ok" if not flags else f"{len(flags)} flag(s): " + "; ".join(flags)))
    rows.append(("MLflow run", f"{run.get('run_id')} in {run.get('tracking_uri')}"))
    rows.append(("next", _next_step(run, bool(summary.get("sessions")), bool(summary.get("subtasks")))))
    width = max(len(k) for k, _ in rows)
    line = "─" * (width + 60)
    body = "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)
    return f"{line}\n  sustain · {run['name']}\n{line}\n{body}\n{line}"


def _roofline_row(m: dict[str, float], tags: dict[str, str]) -> tuple[str, str]:
    """How close decoding came to the memory-bandwidth bound: near 1 the hardware is the limit, low the software."""
    if "roofline_share" not in m:
        return "roofline", f"not estimated: {tags.get('roofline.missing', 'no decode throughput to compare')}"
    return "roofline", (f"decode at {m['roofline_share']:.0%} of the memory-bandwidth bound "
                        f"({m.get('roofline_bound_tok_s', math.nan):.0f} tok/s at the running batch, "
                        f"{m.get('memory_bandwidth_gb_s', math.nan):.1f} GB/s, "
                        f"{tags.get('roofline.bandwidth_source', 'bandwidth source not recorded')}; an estimate)")


def _reasoning_rows(m: dict[str, float], num: Any) -> list[tuple[str, str]]:
    """Thinking apart from answering, where the model reasoned at all: what reasoning on or off changes."""
    if not m.get("mean_reasoning_tokens"):
        return []
    return [("  reasoning", f"{num('mean_reasoning_tokens', '{:.1f}')} reasoning + {num('mean_answer_tokens', '{:.1f}')}"
                            f" answer tokens / request: {num('reasoning_token_share', '{:.0%}')} of the output and "
                            f"of its energy")]


def _session_rows(sessions: dict[str, Any] | None, num: Any) -> list[tuple[str, str]]:
    """A multi-turn run priced per completed task: what an agent's user pays for."""
    if not sessions:
        return []
    success = (f"{sessions['succeeded']} of {sessions['scored']} succeeded"
               if sessions["scored"] else "no expected end declared, success not scored")
    hit = sessions.get("prefix_cache_hit_rate")
    idle = sessions.get("idle_energy_j")
    per_success = (f"{num('energy_per_successful_session_j', '{:.2f}')} J per success (failures' energy included)"
                   if sessions["succeeded"] else "no success to price" if sessions["scored"] else "success not scored")
    return [
        ("sessions", f"{sessions['completed']} of {sessions['sessions']} completed, {success}"),
        ("energy / session", f"{num('energy_per_session_j', '{:.2f}')} J per completed session, "
                             f"{per_success}; {num('sessions_per_kwh', '{:.0f}')} sessions / kWh"),
        ("  idle (think time)", "n/a" if idle is None else f"{idle:.2f} J while no request was in flight, kept apart "
                                f"({num('energy_per_session_with_idle_j', '{:.2f}')} J / session with it)"),
        ("session latency", f"p50 {num('session_latency_s_p50', '{:.1f}')} s, p90 {num('session_latency_s_p90', '{:.1f}')} s;"
                            f" {num('sessions_per_hour', '{:.0f}')} sessions / h"),
        ("prefix cache", "not reported by the engine" if hit is None else f"{hit:.0%} of prompt tokens served from it"),
    ]


def _quality_row(summary: dict[str, Any]) -> tuple[str, str]:
    """The task's primary metric under its own name (macro F1 for a run from before tasks named one)."""
    m = summary["metrics"]
    if names.QUALITY in m:
        name = summary.get("tags", {}).get(names.QUALITY_METRIC_TAG) or summary["run"].get("task", "task") + " quality"
        return name, f"{m[names.QUALITY]:.3f}"
    return "macro F1", f"{m['macro_f1']:.3f}" if "macro_f1" in m else "n/a"


def _correct_line(m: dict[str, float]) -> str:
    """Energy per correct answer: what compares a small model that is often wrong with a big one that is right."""
    scored = m.get("n", m.get("n_requests"))  # what the task scored: documents, where a request is one choice
    count = f"{m[names.N_CORRECT]:.0f} of {scored:.0f}" if names.N_CORRECT in m and scored is not None else "n/a"
    if names.ENERGY_PER_CORRECT in m:
        return f"{count}; {m[names.ENERGY_PER_CORRECT]:.2f} J per correct answer"
    if m.get(names.N_CORRECT) == 0:
        return f"{count}; energy per correct answer undefined: no correct answer"
    return f"{count}; energy per correct answer not recorded"


def _footprint_rows(footprint: dict[str, Any] | None, m: dict[str, float], num: Any) -> list[tuple[str, str]]:
    """Whole-node energy beside the headline, each domain with its source kind, and prefill vs decode."""
    if not footprint:
        return []
    parts = " + ".join(f"{d['domain']} {d['per_request_j_mean']:.2f} J ({'measured' if d['measured'] else 'estimate'})"
                       for d in footprint["domains"])
    rows = [("whole node / request", f"{num('energy_node_per_request_j_mean', '{:.2f}')} J = {parts}")]
    for d in footprint["domains"]:
        rows.append((f"  {d['domain']} source", d["source"]))
    if footprint.get("node_notes"):
        rows.append(("  left out", "; ".join(footprint["node_notes"])))
    if "energy_per_output_token_j" not in m and "energy_per_prompt_token_j" in m:
        rows.append(("prefill / decode", f"{num('energy_per_prompt_token_j', '{:.4g}')} J / prompt token, the whole "
                                         f"window's energy; no split: a request was in prefill (or queued, where the "
                                         f"engine reports no scheduling time) at every moment of the window"))
        return rows
    rows.append(("prefill / decode", f"{num('energy_per_prompt_token_j', '{:.4g}')} J / prompt token, "
                                     f"{num('energy_per_output_token_j', '{:.4g}')} J / output token "
                                     f"({footprint['phases_method']})"))
    return rows


def _water_rows(footprint: dict[str, Any] | None, m: dict[str, float]) -> list[tuple[str, str]]:
    if not footprint or "water_l_per_request" not in m:
        return []
    water = footprint["water"]
    rows = [("water", f"{m['water_l_per_request'] * 1000:.4f} mL / request ({water['label']}; "
                      f"energy: {water['basis']})")]
    year = footprint.get("deployment")
    if year is not None:
        rows.append(("deployment year", f"{year['kwh']:.4g} kWh, {year['kgco2e']:.4g} kg CO2e, "
                                        f"{year['water_l']:.4g} L per year"))
        rows.append(("  inputs", year["label"]))
    else:
        rows.append(("deployment year", "set carbon.requests_per_day for a year's kWh, kg CO2e and litres"))
    return rows


def _om_line(om: float | None, overall: dict[str, Any]) -> str:
    """OM against its reference, or why it says nothing; an OM whose two qualities measure different
    things is shown with that said beside it."""
    reference = overall["reference"]
    if not overall.get("meaningful", True) or om is None:
        return f"not logged: quality 0 (here or in {reference['name']}) leaves latency and energy alone to decide"
    if overall.get("comparable", True):
        return f"{om:.3f} vs {reference['name']}"
    mine, theirs = overall["quality_metric"], reference.get("quality_metric", "?")
    return (f"{om:.3f} vs {reference['name']}, not like with like: this run's {mine} against the reference's "
            f"{theirs} (add a judge, or give reference.quality and reference.quality_metric={mine})")


def _energy_line(m: dict[str, float], num: Any, how: str) -> str:
    """Mean energy per request. A request is charged its output tokens at one J/token rate, so the spread
    across requests is the spread of their lengths, not an uncertainty of the measurement: said as such."""
    if how.startswith("remote") or not math.isfinite(m.get("energy_per_token_j", math.nan)):
        return f"{num('energy_per_request_j_mean', '{:.2f}')} J ({how})"
    return (f"{num('energy_per_request_j_mean', '{:.2f}')} J = {num('energy_per_token_j', '{:.4g}')} J / output token "
            f"× each request's tokens (spread across requests {num('energy_per_request_j_std', '{:.2f}')} J; {how})")


def _subtask_rows(subtasks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Each task and group of a run made of tasks: its primary score, documents and energy per sample."""
    rows = []
    for i, sub in enumerate(subtasks):
        energy = ("energy: its tasks'" if sub["kind"] == "group" else "no energy per sample"
                  if sub["energy_per_sample_j"] is None else f"{sub['energy_per_sample_j']:.3g} J / sample")
        correct = "" if sub["energy_per_correct_j"] is None else f", {sub['energy_per_correct_j']:.3g} J / correct sample"
        rows.append(("sub-tasks" if i == 0 else "", f"{sub['subtask']} ({sub['kind']}): {sub['label']} {sub['value']:.3f} "
                                                     f"over {sub['n']} documents; {energy}{correct}"))
    return rows


def _next_step(run: dict[str, Any], sessions: bool = False, subtasks: bool = False) -> str:
    """What a newcomer can try from here, one override away."""
    if subtasks:
        return (f"subtasks.csv in the run folder has every task's and group's scores and energy; batch_size=2,8,32 -m "
                f"for a sweep; python -m sustain.report shows each task as a row family; mlflow ui --backend-store-uri "
                f"{run.get('tracking_uri')}")
    if sessions:
        server = "engine=vllm_server " if run.get("engine") == "vllm" else ""  # the offline engine starts all at once
        return (f"{server}load=concurrency load.max_in_flight=4 for four sessions at once; +engine.args.enable_prefix_caching="
                f"false to see what the prefix cache saves; -m experiment=agent_sessions sweeps both; "
                f"sessions.csv in the run folder; mlflow ui --backend-store-uri {run.get('tracking_uri')}")
    decoding = run.get("decoding", "free")
    other = ("task.decoding=free for the paper's free decoding" if decoding != "free"
             else "task.decoding=json_schema to constrain the output to the task's format")
    return (f"{other}; batch_size=2,8,32 -m for a sweep; python -m sustain.report for tables and figures; "
            f"mlflow ui --backend-store-uri {run.get('tracking_uri')}")
