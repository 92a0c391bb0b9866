"""sustain's own metrics (quality, energy, latency, serving, carbon, water, overall, judge, run), declared
in the registry. Plugins declare theirs in their own module's `METRICS`; the constants here are the
names the stages and the report use."""

from __future__ import annotations

from sustain.registry import MAXIMIZE as MAX
from sustain.registry import MINIMIZE as MIN
from sustain.registry import NEITHER, declare

PER_REQ = "mean over requests"
WINDOW = "steady-state window"
RUN = "whole run"

# Quality: the task's primary metric under a name every task shares, and the label metrics of
# classification tasks (sustain.metrics.quality).
QUALITY = declare("quality", "1", MAX, "task's primary metric", "The task's primary metric under one name "
                  "(the tag task.primary_metric says which), 0..1, so runs of any task sort alike.", "quality", "quality")
N_CORRECT = declare("n_correct", "count", MAX, RUN, "Requests whose answer the task scored correct.", "quality",
                    "n_correct")
declare("n", "count", NEITHER, RUN, "Outputs the task scored.", "quality")
MACRO_F1 = declare("macro_f1", "1", MAX, "over labels seen", "Macro F1 over the labels seen, the Error class "
                   "(unreadable or off-format answers) included.", "quality", "f1")
declare("accuracy", "1", MAX, PER_REQ, "Share of outputs with the gold label.", "quality")
declare("error_rate", "1", MIN, PER_REQ, "Share of outputs the task could not read (the Error class).", "quality")
declare("f1_{label}", "1", MAX, "per label", "F1 of one label.", "quality")
declare("precision_{label}", "1", MAX, "per label", "Precision of one label.", "quality")
declare("recall_{label}", "1", MAX, "per label", "Recall of one label.", "quality")
declare("support_{label}", "count", NEITHER, "per label", "Gold examples of one label.", "quality")

# Energy: the headline (steady-state attribution of the headline meter), its cross-checks and the node.
ENERGY_PER_REQUEST = declare("energy_per_request_j_mean", "J", MIN, f"{PER_REQ}, {WINDOW}",
                             "Energy per request: the window's J per output token × each request's output "
                             "tokens (GPU where measured, else the labelled source).", "energy", "energy_j")
declare("energy_per_request_j_std", "J", NEITHER, "std over requests", "Spread of energy per request: the spread "
        "of output lengths, not a measurement uncertainty.", "energy", "energy_j_std")
ENERGY_PER_CORRECT = declare("energy_per_correct_j", "J", MIN, RUN, "Energy of the measured requests divided by "
                             "the correct answers among them; absent with none correct.", "energy",
                             "energy_per_correct_j")
ENERGY_PER_SAMPLE_GROUP = declare("energy_per_sample_j_{group}", "J", MIN, "per sub-task, over its samples",
                                  "Energy per sample of one sub-task (an lm-eval task of the run): its samples' "
                                  "attributed energy (a sample's requests summed, the choices of a multiple-choice "
                                  "question) over those samples; samples with an unmeasured request are left "
                                  "out.", "energy")
ENERGY_PER_CORRECT_GROUP = declare("energy_per_correct_j_{group}", "J", MIN, "per sub-task, over its samples",
                                   "Energy of one sub-task's measured requests over its correctly answered "
                                   "samples; absent with none correct.", "energy")
SUBTASKS = declare("subtasks", "count", NEITHER, RUN, "Sub-tasks a run scored apart (lm-eval tasks and groups): "
                   "their scores and energy are the run's subtasks.json table.", "quality")
declare("energy_per_token_j", "J", MIN, WINDOW, "Energy per output token in the steady-state window.", "energy")
declare("energy_window_j", "J", NEITHER, WINDOW, "Energy the meter read over the steady-state window.", "energy")
declare("energy_window_s", "s", NEITHER, WINDOW, "Length of the steady-state window.", "energy")
declare("energy_whole_run_j", "J", NEITHER, RUN, "Energy over the whole engine run (load excluded).", "energy")
declare("energy_whole_run_per_request_j", "J", MIN, RUN, "Whole-run energy over requests: the cross-check of "
        "the steady-state figure.", "energy")
declare("energy_whole_run_per_token_j", "J", MIN, RUN, "Whole-run energy over output tokens.", "energy")
declare("energy_measured", "bool", NEITHER, RUN, "1 when the headline energy is a measured counter, 0 for an "
        "estimate.", "energy")
declare("avg_running_batch", "count", NEITHER, WINDOW, "Requests running at once, averaged over the window.",
        "energy")
declare("batch_fill", "1", MAX, WINDOW, "avg_running_batch over batch_size.", "energy")
declare("steady_state", "bool", NEITHER, RUN, "1 when a steady-state window was found, 0 for whole-run "
        "attribution.", "energy")
declare("reused_requests", "count", NEITHER, RUN, "Requests taken from an interrupted attempt, priced at this "
        "run's J per token.", "energy")
declare("window_tokens_counted", "count", NEITHER, WINDOW, "Output tokens generated in the window, from token "
        "times.", "energy")
declare("window_tokens_uniform", "count", NEITHER, WINDOW, "The same count under the uniform-rate "
        "approximation used where token times are missing.", "energy")
declare("window_tokens_uniform_error", "1", NEITHER, WINDOW, "How far the approximation is from the count.",
        "energy")
ENERGY_NODE_PER_REQUEST = declare("energy_node_per_request_j_mean", "J", MIN, f"{PER_REQ}, {WINDOW}",
                                  "Whole node per request: every domain (gpu, cpu, dram) over the headline's "
                                  "window, summed.", "energy", "energy_node_j")
declare("energy_node_per_token_j", "J", MIN, WINDOW, "Whole node per output token.", "energy")
declare("energy_node_measured", "bool", NEITHER, RUN, "1 when every node domain is a measured counter.", "energy")
ENERGY_DOMAIN_PER_REQUEST = declare("energy_{domain}_per_request_j_mean", "J", MIN, f"{PER_REQ}, {WINDOW}",
                                    "One domain's energy per request (gpu, cpu, dram, ...).", "energy")
declare("energy_{domain}_window_j", "J", NEITHER, WINDOW, "One domain's energy over the window.", "energy")
declare("energy_prefill_j", "J", NEITHER, WINDOW, "Window energy while a prompt was being prefilled.", "energy")
declare("energy_decode_j", "J", NEITHER, WINDOW, "Window energy while only decoding ran.", "energy")
declare("prefill_time_share", "1", NEITHER, WINDOW, "Share of the window with a prefill running.", "energy")
ENERGY_PER_PROMPT_TOKEN = declare("energy_per_prompt_token_j", "J", MIN, WINDOW, "Prefill energy per prompt "
                                  "token.", "energy")
ENERGY_PER_OUTPUT_TOKEN = declare("energy_per_output_token_j", "J", MIN, WINDOW, "Decode energy per output "
                                  "token.", "energy")

# Carbon, water and a deployment's year.
declare("gco2e_per_request", "gCO2e", MIN, PER_REQ, "Whole-node energy per request (the headline where no node "
        "figure exists; tag carbon.basis) × grid intensity × PUE.", "carbon", "gco2e_per_request")
declare("kwh_per_1k_requests", "kWh", MIN, PER_REQ, "Energy of 1,000 requests on carbon's basis, PUE included.",
        "carbon")
declare("gco2e_per_1k_requests", "gCO2e", MIN, PER_REQ, "Carbon of 1,000 requests.", "carbon")
WATER_PER_REQUEST = declare("water_l_per_request", "L", MIN, PER_REQ, "On-site and off-site water per request "
                            "(WUE and the grid's water intensity).", "water", "water_l_per_request")
DEPLOYMENT_KWH_YEAR = declare("deployment_kwh_per_year", "kWh", MIN, "carbon.requests_per_day × 365",
                              "A deployment's yearly energy.", "water", "deployment_kwh_per_year")
DEPLOYMENT_KGCO2E_YEAR = declare("deployment_kgco2e_per_year", "kgCO2e", MIN, "carbon.requests_per_day × 365",
                                 "A deployment's yearly carbon.", "water", "deployment_kgco2e_per_year")
DEPLOYMENT_WATER_L_YEAR = declare("deployment_water_l_per_year", "L", MIN, "carbon.requests_per_day × 365",
                                  "A deployment's yearly water.", "water", "deployment_water_l_per_year")

# Latency, named like vLLM's benchmark keys.
DECODE_LATENCY = declare("decode_latency_s_mean", "s", MIN, PER_REQ, "First to last output token of a request.",
                         "latency", "decode_latency_s")
declare("decode_latency_s_std", "s", NEITHER, "std over requests", "Spread of decode latency.", "latency",
        "decode_latency_s_std")
for _what, _means in (("ttft", "arrival to first token"), ("tpot", "time per output token after the first"),
                      ("e2el", "arrival to last token"), ("decode", "first to last output token"),
                      ("itl", "every gap between two output tokens of a request, pooled")):
    declare(f"mean_{_what}_ms", "ms", MIN, PER_REQ, f"Mean {_what}: {_means}.", "latency")
    declare(f"median_{_what}_ms", "ms", MIN, "median over requests", f"Median {_what}.", "latency")
    declare(f"std_{_what}_ms", "ms", NEITHER, "std over requests", f"Spread of {_what}.", "latency")
    declare(f"p{{q}}_{_what}_ms", "ms", MIN, "percentile over requests", f"Percentile q of {_what}.", "latency")
P90_DECODE_MS = "p90_decode_ms"

# Serving: throughput, load and goodput.
declare("completed_requests", "count", MAX, RUN, "Requests that finished without an error.", "serving")
declare("total_output_tokens", "count", NEITHER, RUN, "Output tokens of completed requests.", "serving")
declare("total_prompt_tokens", "count", NEITHER, RUN, "Prompt tokens of completed requests.", "serving")
declare("mean_output_tokens", "count", NEITHER, PER_REQ, "Output tokens per completed request.", "serving",
        "mean_output_tokens")
declare("mean_reasoning_tokens", "count", NEITHER, PER_REQ, "Output tokens spent reasoning (a think block or a "
        "reasoning parser's field), where the engine counts them.", "serving", "reasoning_tokens")
declare("mean_answer_tokens", "count", NEITHER, PER_REQ, "Output tokens of the answer, reasoning left out.", "serving")
declare("reasoning_token_share", "1", MIN, RUN, "Reasoning tokens over output tokens: the share of the energy a "
        "reasoning model spends thinking (energy is attributed per output token).", "serving", "reasoning_share")
declare("output_throughput_tok_s", "tok/s", MAX, RUN, "Output tokens of the requests that ended without an error, "
        "over first request sent to last response done: `vllm bench serve`'s output_throughput.", "serving")
declare("request_throughput_req_s", "req/s", MAX, RUN, "Requests that ended without an error, over first request "
        "sent to last response done: `vllm bench serve`'s request_throughput.", "serving")
declare("achieved_request_rate_req_s", "req/s", NEITHER, "first to last arrival", "Requests sent per second "
        "under a load with a rate (poisson, gamma); absent where every request was sent at once.", "serving")
declare("peak_in_flight", "count", NEITHER, RUN, "Most requests in flight at once.", "serving")
declare("batch_filled", "bool", NEITHER, RUN, "1 when peak_in_flight reached batch_size.", "serving")
declare("goodput_share", "1", MAX, RUN, "Share of requests within every SLO set.", "serving")
declare("request_goodput_req_s", "req/s", MAX, RUN, "Requests within every SLO per second.", "serving")
declare("truncated_share", "1", MIN, PER_REQ, "Share of outputs cut at max_tokens.", "serving")
declare("failed_requests", "count", MIN, RUN, "Requests the engine failed.", "serving")
declare("n_requests", "count", NEITHER, RUN, "Requests of the run.", "run")
declare("client_cpu_s", "s", NEITHER, RUN, "CPU time of sustain's HTTP client over the run (server engines): "
        "near the run's duration, the client, not the engine, set the pace (a validity flag says so).", "run")
declare("engine_load_s", "s", MIN, RUN, "Engine start-up: model load and warm-up.", "run")
declare("run_duration_s", "s", NEITHER, RUN, "First request sent to last response done (vLLM's benchmark "
        "duration).", "run")

# The Overall Metric against a reference, only where it means something (quality above 0).
OM = declare("om", "1", MAX, RUN, "Overall Metric for overall.weights: sqrt(wQ (Q/Q_R)² + wL (L_R/L)² + "
             "wE (E_R/E)²); absent when quality or the reference's is 0 (the report computes its own OM table).", "overall")
declare("om_{scenario}", "1", MAX, RUN, "Overall Metric for one of the paper's weight scenarios.", "overall")
declare("reference_energy_j", "J", NEITHER, "reference", "The OM reference's energy per request.", "overall")
declare("reference_decode_latency_s", "s", NEITHER, "reference", "The OM reference's decode latency.", "overall")
declare("reference_quality", "1", NEITHER, "reference", "The OM reference's quality.", "overall")

# LLM-as-a-judge, kept apart from the evaluated model's figures.
JUDGE_SCORE = declare("judge_score_mean", "1", MAX, "mean over judged outputs", "The judge's score of the "
                      "outputs.", "judge", "judge")
declare("judge_score_std", "1", NEITHER, "std over judged outputs", "Spread of the judge's score.", "judge",
        "judge_std")
declare("judge_n_scored", "count", NEITHER, RUN, "Outputs the judge scored.", "judge")
declare("judge_n_failed", "count", MIN, RUN, "Outputs the judge could not score.", "judge")
declare("judge_n_cached", "count", NEITHER, RUN, "Verdicts taken from the judge's cache.", "judge")
declare("judge_time_s", "s", NEITHER, RUN, "The judge's own time.", "judge")
declare("judge_startup_s", "s", NEITHER, RUN, "A local judge server's start-up.", "judge")
declare("judge_energy_j", "J", NEITHER, RUN, "The judge's own energy, where measured.", "judge")

# The meter's samples as step metrics, so a run's own MLflow chart draws power over time.
TIMELINE_POWER = declare("timeline.power_w", "W", NEITHER, "one value per meter sample", "Power the headline meter "
                         "read at each sample (step = sample number).", "energy")
TIMELINE_ENERGY = declare("timeline.energy_cumulative_j", "J", NEITHER, "one value per meter sample", "The headline "
                          "meter's cumulative energy since its first sample.", "energy")
