"""Finished requests persisted as they arrive, so a job that dies (preempted, timed out, killed) resumes
where it stopped instead of starting over.

The file is keyed by the job's config hash, outside the job folder, because a requeued Slurm job and a
re-run sweep get new folders. It is deleted once the run has been recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sustain.engines.records import RequestRecord


class Checkpoint:
    def __init__(self, root: str | Path, config_hash: str) -> None:
        self.path = Path(root).expanduser() / f"{config_hash}.jsonl"
        self._fh = None

    def load(self, wanted: set[str]) -> list[RequestRecord]:
        """Successful records of an earlier attempt for the requests still wanted; a torn last line is ignored."""
        if not self.path.is_file():
            return []
        found: dict[str, RequestRecord] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = RequestRecord(**json.loads(line))
            except (json.JSONDecodeError, TypeError):
                continue
            if record.id in wanted and record.error is None:
                found[record.id] = record
        return list(found.values())

    def resume(self, job: Any) -> list[RequestRecord]:
        """The requests an interrupted attempt finished, taken off `job` (an EngineJob), and the file opened
        for this attempt; none when all of them finished (there would be nothing left to measure energy on:
        the whole run is measured again)."""
        ids = {r.id for r in job.requests}
        reused = self.load(ids)
        if len(reused) == len(ids):
            reused = []
        if reused:
            print(f"sustain: resuming: {len(reused)} request(s) reused from an interrupted attempt, "
                  f"{len(ids) - len(reused)} to run", flush=True)
        self.open(reused)
        done = {r.id for r in reused}
        job.requests = [r for r in job.requests if r.id not in done]
        return reused

    def open(self, keep: list[RequestRecord]) -> None:
        """Start writing, keeping only `keep` from any earlier attempt."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("w", encoding="utf-8")
        for record in keep:
            self.append(record)

    def append(self, record: RequestRecord) -> None:
        assert self._fh is not None
        self._fh.write(json.dumps(record.to_dict()) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
