"""Lists every import in src/sustain that runs upward against the layering (docs/concepts/design.md).

    python scripts/check_layers.py        # exit 1 when an import runs upward that ALLOWED does not name
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "sustain"
LAYERS = [
    {"errors", "types", "registry", "catalog", "names", "plugins", "jail", "resolvers", "tool_calls"},
    {"load", "models"},
    {"engines"},
    {"energy"},
    {"metrics", "judge"},
    {"tasks"},
    {"config", "cli"},
    {"tracking"},
    {"search"},
    {"report"},
    {"pipeline", "__main__", "__init__"},
]
# Upward imports argued for in docs/concepts/design.md ("Imports against the layering").
ALLOWED = {("tracking/sweep.py", "report")}


def layer(unit: str) -> int:
    for i, units in enumerate(LAYERS):
        if unit in units:
            return i
    raise SystemExit(f"{unit} is in no layer: add it to LAYERS in {__file__} and to the design page")


def imported(node: ast.AST) -> list[str]:
    """The top-level sustain units an import statement names."""
    if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sustain":
        parts = node.module.split(".")
        return [a.name for a in node.names] if len(parts) == 1 else [parts[1]]
    if isinstance(node, ast.Import):
        return [a.name.split(".")[1] for a in node.names if a.name.startswith("sustain.")]
    return []


def upward() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        unit = rel.split("/")[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in imported(node):
                if target != unit and layer(target) > layer(unit):
                    found.append((rel, node.lineno, target))
    return found


def main() -> int:
    found = upward()
    for rel, line, target in found:
        mark = "allowed" if (rel, target) in ALLOWED else "UPWARD"
        print(f"{mark}: src/sustain/{rel}:{line} imports sustain.{target}")
    unexplained = [f for f in found if (f[0], f[2]) not in ALLOWED]
    print(f"{len(found)} upward import(s), {len(unexplained)} not argued for")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
