"""On-disk cache of judge answers, so that a rerun does not pay (in money or energy) for the same verdict.

One small JSON file per answer, named by the SHA-256 of the judge's identity (endpoint and model), the
decoding settings and ragas' full prompt (rubric and inputs). A file holds the judge's raw score and
feedback only: never the API key, which is not part of the key material either.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def key(identity: dict[str, Any], prompt: str) -> str:
    material = json.dumps({"judge": identity, "prompt": prompt}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class AnswerCache:
    def __init__(self, root: Path | None) -> None:
        self.root = root

    def _path(self, digest: str) -> Path:
        assert self.root is not None
        return self.root / digest[:2] / f"{digest}.json"

    def get(self, digest: str) -> dict[str, Any] | None:
        if self.root is None:
            return None
        try:
            entry = json.loads(self._path(digest).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return entry if isinstance(entry, dict) and "raw_score" in entry and "feedback" in entry else None

    def put(self, digest: str, raw_score: Any, feedback: str) -> None:
        """Atomic, so that parallel jobs sharing the cache never read half a file."""
        if self.root is None:
            return
        path = self._path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"raw_score": raw_score, "feedback": feedback}, fh, ensure_ascii=False)
        os.replace(tmp, path)
