"""Metric and tag names that more than one stage reads, spelt once.

A run logs its task's primary metric twice: under its own name (`macro_f1`, `exact_match`, `pass_at_1`)
and as `quality`, with the name in the tag `task.primary_metric`, so tables and rankings can compare
runs of any task without knowing it. The report never ranks runs of different tasks together.
"""

# Quality
QUALITY = "quality"  # the task's primary metric, 0..1
QUALITY_METRIC_TAG = "task.primary_metric"  # its name
JUDGE_SCORE = "judge_score_mean"
N_CORRECT = "n_correct"

# Energy (steady-state attribution; GPU where measured, else the labelled source)
ENERGY_PER_REQUEST = "energy_per_request_j_mean"
ENERGY_PER_CORRECT = "energy_per_correct_j"  # energy of the measured requests / correct answers
ENERGY_SOURCE_TAG = "energy.source"
ENERGY_MEASURED_TAG = "energy.measured"
# Whole node (issue 10): every domain (gpu, cpu, dram) attributed over the headline's window, and their sum
ENERGY_NODE_PER_REQUEST = "energy_node_per_request_j_mean"
ENERGY_NODE_TAG = "energy.node"  # e.g. "gpu measured + cpu estimate": what the node figure sums
ENERGY_DOMAIN_PER_REQUEST = "energy_{domain}_per_request_j_mean"  # .format(domain="cpu")
ENERGY_DOMAIN_SOURCE_TAG = "energy.{domain}.source"
# Prefill vs decode (issue 10), of the headline energy over the same window
ENERGY_PER_PROMPT_TOKEN = "energy_per_prompt_token_j"
ENERGY_PER_OUTPUT_TOKEN = "energy_per_output_token_j"

# Latency
DECODE_LATENCY = "decode_latency_s_mean"

# Water and a deployment's year (issue 10)
WATER_PER_REQUEST = "water_l_per_request"
DEPLOYMENT_KWH_YEAR = "deployment_kwh_per_year"
DEPLOYMENT_KGCO2E_YEAR = "deployment_kgco2e_per_year"
DEPLOYMENT_WATER_L_YEAR = "deployment_water_l_per_year"

# Overall Metric
OM = "om"
OM_MEANINGFUL_TAG = "om.meaningful"  # "false" with a zero quality (run or reference): OM says nothing then
OM_COMPARABLE_TAG = "om.comparable"  # "false" when the run's quality and the reference's measure different things

# Tags
TASK_TAG = "task"
ENGINE_TAG = "engine"
SEARCH_PARETO_TAG = "search.pareto"  # "true" on each run of a multi-objective search's Pareto set
SEARCH_BEST_BATCH_TAG = "search.best_batch_size"  # "true" on the run a batch-size search picked
