"""LLM-as-a-judge: the paper's three-level rubric, scored with ragas by an OpenAI-compatible endpoint.

`evaluate(cfg, items, out_dir)` is the entry point; `item_for(example, output)` builds its items from the
validation-agent task. ragas, instructor and openai are imported only when a judge runs.
"""

from sustain.judge.config import JudgeConfig
from sustain.judge.rubric import JudgeItem, item_for
from sustain.judge.scoring import JudgeResult, evaluate

__all__ = ["JudgeConfig", "JudgeItem", "JudgeResult", "evaluate", "item_for"]
