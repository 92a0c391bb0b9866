"""LLM-as-a-judge: the paper's three-level rubric, scored with ragas by an OpenAI-compatible endpoint.

`evaluate(cfg, items, out_dir)` is the entry point; its items are task-neutral (`Task.judge_item`). ragas, instructor and openai are imported only when a judge runs.
"""

from sustain.judge.config import JudgeConfig
from sustain.judge.rubric import JudgeItem
from sustain.judge.scoring import JudgeResult, evaluate

__all__ = ["JudgeConfig", "JudgeItem", "JudgeResult", "evaluate"]
