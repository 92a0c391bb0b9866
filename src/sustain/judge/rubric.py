"""The paper's LLM-as-a-judge rubric, scored with ragas' rubric-based criteria metric.

The paper (arXiv 2601.19311) uses ragas' "Rubric-Based Criteria Scoring" with three levels normalised to
0, 0.5 and 1. ragas >= 0.4 implements it as `ragas.metrics.collections.RubricsScoreWithReference`
(a `DomainSpecificRubrics` whose rubric dict is keyed `score{n}_description`); the judge's integer score
comes back in `MetricResult.value` and its feedback in `MetricResult.reason`.
"""

from __future__ import annotations

import os
from typing import Any

from sustain.types import JudgeItem

RUBRIC = {
    "score1_description": "The response is factually incorrect, misleading, or irrelevant to the input.",
    "score2_description": (
        "The response is partially correct or relevant but contains notable inaccuracies, ambiguities, "
        "or lacks clarity."
    ),
    "score3_description": (
        "The response is factually accurate, relevant, and clearly addresses the input without significant issues."
    ),
}

LEVELS = {1: 0.0, 2: 0.5, 3: 1.0}


def normalise(raw: Any) -> float:
    """Map the judge's level (1, 2, 3) to the paper's 0, 0.5, 1; anything else is a ValueError."""
    level = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        level = raw
    elif isinstance(raw, float) and raw.is_integer():
        level = int(raw)
    if level not in LEVELS:
        raise ValueError(f"the judge gave score {raw!r}, not one of the rubric's levels 1, 2, 3")
    return LEVELS[level]


def telemetry_off() -> None:
    """ragas sends usage events unless this is set before its first event; a benchmark phones nobody."""
    os.environ["RAGAS_DO_NOT_TRACK"] = "true"


def scoring_metric(llm: Any, output_model: Any = None) -> Any:
    """ragas' rubric metric with the paper's three levels.

    ragas' collections prompt ships two few-shot examples scored on its default 1-5 scale (one scores 5);
    with a 3-level rubric they teach an out-of-range score, and the RubricsScore the paper used
    (ragas <= 0.3) had none, so they are dropped. `output_model` replaces the answer schema the prompt
    shows, so that a constrained judge is shown the schema it is held to.
    """
    telemetry_off()
    from ragas.metrics.collections import RubricsScoreWithReference

    metric = RubricsScoreWithReference(llm=llm, rubrics=dict(RUBRIC))
    metric.scoring_prompt.examples = []
    if output_model is not None:
        metric.scoring_prompt.output_model = output_model
    return metric


def prompt_text(metric: Any, item: JudgeItem) -> str:
    """The exact prompt ragas sends for `item`: rubric, output schema and inputs, hence the cache key's core."""
    from ragas.metrics.collections.domain_specific_rubrics.util import RubricScoreInput

    return metric.scoring_prompt.to_string(
        RubricScoreInput(user_input=item.input, response=item.output, reference=item.reference)
    )
