"""Reading a task's JSONL file: one JSON object per line, unique ids, at least one example.

Shared by the task kinds so every one of them names a bad file, line and field in the same words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from sustain.errors import SustainError


@dataclass(frozen=True)
class Row:
    """One line of the file: where it was, and its object."""

    path: Path
    lineno: int
    data: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.path}, line {self.lineno}"

    def field(self, name: str, kind: type | tuple[type, ...], kind_name: str) -> Any:
        """The value of a required field, of the right type, or one sentence saying what to fix."""
        if name not in self.data:
            raise SustainError(f"{self.where}: field '{name}' is missing; add it to every line of the file.")
        value = self.data[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise SustainError(
                f"{self.where}: field '{name}' must be {kind_name}, got {type(value).__name__}; fix that line."
            )
        return value


def read_rows(path: Path, id_field: str = "id") -> list[Row]:
    """Every non-blank line of `path` as an object with a unique string or integer id."""
    rows: list[Row] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            row = Row(path, lineno, _object(line, path, lineno))
            ex_id = str(row.field(id_field, (str, int), "a string or an integer"))
            if ex_id in seen:
                raise SustainError(
                    f"{row.where}: field '{id_field}' repeats '{ex_id}' from line {seen[ex_id]}; "
                    f"give every example a unique id."
                )
            seen[ex_id] = lineno
            rows.append(row)
    if not rows:
        raise SustainError(f"Dataset file {path} holds no example: add one JSON object per line.")
    return rows


def first(rows: list[Any], limit: int | None) -> list[Any]:
    """`task.limit`: the first `limit` examples, all of them for None."""
    if limit is None:
        return rows
    if limit < 1:
        raise SustainError(f"task.limit={limit} selects no example: use a positive number or null.")
    return rows[:limit]


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """One object per line, UTF-8 as is: how the dataset generators write the files `read_rows` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _object(line: str, path: Path, lineno: int) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SustainError(
            f"{path}, line {lineno} is not valid JSON ({exc.msg} at column {exc.colno}): fix or remove it."
        ) from None
    if not isinstance(obj, dict):
        raise SustainError(
            f"{path}, line {lineno} is a JSON {type(obj).__name__}, not an object: write one object per line."
        )
    return obj
