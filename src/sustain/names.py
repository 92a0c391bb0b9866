"""Tag names that more than one stage reads, spelt once; metric names come from the registry
(`sustain.catalog`, re-exported here for the stages that read both).

A run logs its task's primary metric twice: under its own name (`macro_f1`, `exact_match`, `pass_at_1`)
and as `quality`, with the name in the tag `task.primary_metric`, so tables and rankings can compare
runs of any task without knowing it. The report never ranks runs of different tasks together.
"""

from sustain.catalog import (  # noqa: F401
    DECODE_LATENCY, DEPLOYMENT_KGCO2E_YEAR, DEPLOYMENT_KWH_YEAR, DEPLOYMENT_WATER_L_YEAR, ENERGY_DOMAIN_PER_REQUEST,
    ENERGY_NODE_PER_REQUEST, ENERGY_PER_CORRECT, ENERGY_PER_OUTPUT_TOKEN, ENERGY_PER_PROMPT_TOKEN, ENERGY_PER_REQUEST,
    JUDGE_SCORE, N_CORRECT, OM, QUALITY, TIMELINE_ENERGY, TIMELINE_POWER, WATER_PER_REQUEST,
)

QUALITY_METRIC_TAG = "task.primary_metric"  # the name of the metric `quality` holds
ENERGY_SOURCE_TAG = "energy.source"
ENERGY_MEASURED_TAG = "energy.measured"
ENERGY_NODE_TAG = "energy.node"  # e.g. "gpu measured + cpu estimate": what the node figure sums
ENERGY_DOMAIN_SOURCE_TAG = "energy.{domain}.source"
OM_MEANINGFUL_TAG = "om.meaningful"  # "false" with a zero quality (run or reference): no OM is logged then
OM_COMPARABLE_TAG = "om.comparable"  # "false" when the run's quality and the reference's measure different things
TASK_TAG = "task"
ENGINE_TAG = "engine"
SEARCH_PARETO_TAG = "search.pareto"  # "true" on each run of a multi-objective search's Pareto set
SEARCH_BEST_BATCH_TAG = "search.best_batch_size"  # "true" on the run a batch-size search picked
