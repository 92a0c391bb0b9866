"""Turn a model config into what vLLM loads, failing early with one sentence when it cannot exist."""

from __future__ import annotations

import os
from pathlib import Path

from sustain.errors import SustainError

EMBEDDED = "embedded"


def resolve(path: str) -> str:
    """Return a local folder or a Hugging Face id that vLLM can load, or raise SustainError."""
    if path == EMBEDDED:
        from sustain.models import embedded

        return str(embedded.prepare())
    local = Path(path).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise SustainError(
                f"Model folder {local} has no config.json: point model.path at a Hugging Face model folder."
            )
        return str(local)
    if path.startswith((".", "/", "~")) or path.count("/") != 1:
        raise SustainError(
            f"Model '{path}' is neither an existing folder nor a Hugging Face id (owner/name): "
            f"fix model.path, or pick a config with model=<name> (see conf/model/).", "model_not_found"
        )
    return _check_hub(path)


def _check_hub(repo_id: str) -> str:
    from huggingface_hub import HfApi, try_to_load_from_cache
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
        return repo_id
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise SustainError(
            f"Model '{repo_id}' is not in the local Hugging Face cache and HF_HUB_OFFLINE=1: "
            f"download it first (`hf download {repo_id}`) or pass a local folder as model.path.", "model_not_found"
        )
    try:
        HfApi().model_info(repo_id, timeout=15)
    except RepositoryNotFoundError:
        raise SustainError(
            f"Model '{repo_id}' does not exist on the Hugging Face Hub (or is private): check the id in model.path.",
            "model_not_found",
        ) from None
    except GatedRepoError:
        raise SustainError(
            f"Model '{repo_id}' is gated: accept its licence on the Hub and set HF_TOKEN, then run again."
        ) from None
    except Exception as exc:
        raise SustainError(
            f"Model '{repo_id}' is not in the local Hugging Face cache and the Hub cannot be reached "
            f"({type(exc).__name__}): download it where there is network (`hf download {repo_id}`) "
            f"or pass a local folder as model.path.", "model_not_found"
        ) from None
    return repo_id
