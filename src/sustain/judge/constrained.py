"""Constrained decoding: the judge can only answer the rubric's JSON, its score one of the rubric's levels.

A small judge cannot keep to the schema from the prompt alone (the embedded 135M model echoes it, runs past
max_tokens, or scores 5), so no item gets a score. Here the request asks instructor for its JSON_SCHEMA mode
instead of ragas' JSON mode: the schema travels as `response_format={"type": "json_schema", ...}`, which
vLLM's OpenAI server enforces token by token (OpenAI's API accepts it too), with the score an enum of the
levels, and the feedback bounded in length: a judge that loops inside the feedback (the 135M one does)
still reaches the score well within max_tokens. judge=local also has its server emit compact JSON
(`server.engine_args`); a vLLM server behind judge=openai wants the same `--structured-outputs-config`
for a small model. Imported only when a judge runs, as it imports ragas and instructor.
"""

from __future__ import annotations

from typing import Any, Literal

import instructor
from pydantic import Field
from ragas.llms.base import InstructorLLM, InstructorModelArgs
from ragas.metrics.collections.domain_specific_rubrics.util import RubricScoreOutput

from sustain.judge.rubric import LEVELS

FEEDBACK_MAX_CHARS = 500


class LevelScoreOutput(RubricScoreOutput):
    """Output model for rubric-based scoring, the score one of the rubric's levels."""

    feedback: str = Field(
        ..., description="Detailed feedback explaining the score",
        json_schema_extra={"maxLength": FEEDBACK_MAX_CHARS},  # schema only: bounds decoding, rejects no answer
    )
    score: Literal[tuple(LEVELS)] = Field(  # type: ignore[valid-type]
        ..., description=f"Score from {min(LEVELS)}-{max(LEVELS)} based on the rubric"
    )


def schema() -> dict[str, Any]:
    """The schema the endpoint is held to; part of the cache identity."""
    return LevelScoreOutput.model_json_schema()


class LevelsLLM(InstructorLLM):
    """ragas' instructor LLM, asking for `LevelScoreOutput` where the rubric metric asks for its own model."""

    async def agenerate(self, prompt: str, response_model: Any) -> Any:
        if response_model is RubricScoreOutput:
            response_model = LevelScoreOutput
        return await super().agenerate(prompt, response_model)


def llm(client: Any, model: str, **model_args: Any) -> LevelsLLM:
    """What `ragas.llms.llm_factory` builds for provider "openai", in JSON_SCHEMA mode instead of JSON mode."""
    return LevelsLLM(client=instructor.from_openai(client, mode=instructor.Mode.JSON_SCHEMA), model=model,
                     provider="openai", model_args=InstructorModelArgs(), **model_args)
