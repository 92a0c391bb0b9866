"""One self-contained HTML page (figures inlined as base64) that can be mailed or attached to a run."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1250px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; } .note { color: #555; font-size: 0.9em; }
ul.sources li { margin: 0.3em 0; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f8f8f8; padding: 0.6em; }
"""


@dataclass(frozen=True)
class Block:
    heading: str
    note: str = ""
    table: pd.DataFrame | None = None
    figure: Path | None = None
    text: str = ""  # preformatted lines (the pick's answer)


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'


def render(title: str, sources: list[str], blocks: list[Block]) -> str:
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Where the numbers come from</h2>",
        '<ul class="sources">' + "".join(f"<li>{html.escape(s)}</li>" for s in sources) + "</ul>",
    ]
    for block in blocks:
        parts.append(f"<h2>{html.escape(block.heading)}</h2>")
        if block.note:
            parts.append(f'<p class="note">{html.escape(block.note)}</p>')
        if block.text:
            parts.append(f"<pre>{html.escape(block.text)}</pre>")
        if block.table is not None:
            parts.append(block.table.to_html(index=False, border=0, escape=True, na_rep=""))
        if block.figure is not None:
            parts.append(_image(block.figure))
    parts.append("</body></html>")
    return "\n".join(parts)
