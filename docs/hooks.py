"""MkDocs hook: the reference pages, generated at build time from the code they describe.

`reference/config.md` comes from the typed schemas (`sustain.config`) and the YAML options under
`src/sustain/conf/<group>/`; `reference/metrics.md` from the metric registry. Written by hand they would
drift from the code; generated, a misspelt key in the docs cannot exist.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import sys
import tokenize
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
CONF = SRC / "sustain" / "conf"
EXTRA_GROUPS = ("experiment", "hydra/launcher", "hydra/sweeper", "hydra/sweeper/sampler")


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))  # document this checkout, not whichever sustain is installed
    files.append(File.generated(config, "reference/config.md", content=config_page()))
    files.append(File.generated(config, "reference/metrics.md", content=metrics_page()))
    return files


# --- reference/config.md ---------------------------------------------------------------------------

def config_page() -> str:
    from sustain.config import GROUPS, PLUGIN_PACKAGES, SustainConfig, plugin_schemas

    out = ["# Configuration reference", "",
           "Generated from the typed schemas in `src/sustain/config.py` and the plugin modules, and from the "
           "YAML files under `src/sustain/conf/<group>/`. Each key is shown with its type, its default in "
           "the schema (`???`: required, set by the option's YAML) and the comment beside it in the code. "
           "`python -m sustain --cfg job` prints what a command line composes to.", ""]
    out += _sections(SustainConfig, set(GROUPS))
    for group, schema in GROUPS.items():
        out += [f"## `{group}=`", ""]
        if schema.__doc__ and not schema.__doc__.startswith(schema.__name__ + "("):
            out += [_oneline(schema.__doc__), ""]
        out += [f"Schema `{schema.__name__}` (`{group}_schema`), the keys every `{group}` option has:", ""]
        out += _table(schema, prefix=f"{group}.")
        if group in PLUGIN_PACKAGES:
            out += _kinds(group, schema, plugin_schemas(PLUGIN_PACKAGES[group]))
        out += _options(group)
    out += ["## Experiments, launchers and sweepers", "",
            "Experiments (whole studies as one file, `# @package _global_`) and sustain's choices for Hydra's "
            "launcher and sweeper.", ""]
    for group in EXTRA_GROUPS:
        out += _options(group)
    out += _sweeper_schemas()
    return "\n".join(out) + "\n"


def _sections(root: type, groups: set[str]) -> list[str]:
    """The root config's own keys, and its sections that are no group (carbon, gpu, ...)."""
    scalars = [f for f in dataclasses.fields(root) if f.name not in groups and _nested(f) is None]
    out = ["## Top-level keys", "", "Keys of the root config (`SustainConfig`, `conf/config.yaml`):", ""]
    out += _table(root, only={f.name for f in scalars})
    for f in dataclasses.fields(root):
        node = _nested(f)
        if f.name in groups or node is None:
            continue
        out += [f"## `{f.name}`", ""]
        if node.__doc__ and not node.__doc__.startswith(node.__name__ + "("):
            out += [_oneline(node.__doc__), ""]
        out += _table(node, prefix=f"{f.name}.")
    return out


def _kinds(group: str, base: type, schemas: dict[str, type]) -> list[str]:
    base_defaults = {f.name: _default(f) for f in dataclasses.fields(base)}
    out = [f"### Kinds of `{group}`", "",
           f"A `{group}` option names its kind's schema in its defaults; the kind adds these keys to the "
           f"ones above (or changes their default):", ""]
    for name, schema in sorted(schemas.items()):
        changed = {f.name for f in dataclasses.fields(schema)
                   if f.name not in base_defaults or _default(f) != base_defaults[f.name]}
        out += [f"#### `{name}`", "", f"`{schema.__module__}.{schema.__name__}`", ""]
        out += (_table(schema, prefix=f"{group}.", only=changed) if changed
                else ["No keys beyond the base schema's.", ""])
    return out


def _sweeper_schemas() -> list[str]:
    from hydra_plugins.sustain_sweepers.config import BatchSizeSearchConf, ParetoSearchConf

    out = ["## `hydra.sweeper` settings", ""]
    for option, schema in (("pareto", ParetoSearchConf), ("batch_size", BatchSizeSearchConf)):
        out += [f"### `hydra/sweeper={option}`", "", f"`{schema.__module__}.{schema.__name__}`", ""]
        out += _table(schema, prefix="hydra.sweeper.")
    return out


def _options(group: str) -> list[str]:
    folder = CONF / group
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    if not files:
        return []
    out = [f"### Options of `{group}`", "",
           f"One YAML file each in `src/sustain/conf/{group}/`; pick one with `{group}=<option>`.", ""]
    for path in files:
        text = path.read_text()
        out += [f"#### `{group}={path.stem}`", ""]
        summary = _summary(text)
        if summary:
            out += [summary, ""]
        out += [f'??? example "conf/{group}/{path.name}"', "", "    ```yaml"]
        out += [f"    {line}".rstrip() for line in text.rstrip().splitlines()]
        out += ["    ```", ""]
    return out


def _summary(text: str) -> str:
    """The first sentence of the file's leading comment."""
    import re

    comment = []
    for line in text.splitlines():
        if not line.lstrip().startswith("#"):
            break
        if not line.startswith("# @package"):
            comment.append(line.lstrip("# ").strip())
    prose = " ".join(c for c in comment if c)
    return _cell(re.split(r"(?<=\.)\s+(?=[A-Z])", prose, maxsplit=1)[0]) if prose else ""


def _table(node: type, prefix: str = "", only: set[str] | None = None) -> list[str]:
    rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    comments = _field_comments(node)
    for f in dataclasses.fields(node):
        if only is not None and f.name not in only:
            continue
        nested = _nested(f)
        if nested is not None:
            rows += _table(nested, prefix=f"{prefix}{f.name}.")[2:]
            continue
        rows.append(f"| `{prefix}{f.name}` | `{_type(f.type)}` | {_code(_default(f))} | "
                    f"{_cell(comments.get(f.name, ''))} |")
    return rows + [""]


def _nested(f: dataclasses.Field) -> type | None:
    """The dataclass a field holds (a section), else None."""
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = f.default_factory()  # type: ignore[misc]
        return type(value) if dataclasses.is_dataclass(value) else None
    return f.type if isinstance(f.type, type) and dataclasses.is_dataclass(f.type) else None


def _default(f: dataclasses.Field) -> str:
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return repr(f.default_factory())  # type: ignore[misc]
    if f.default is dataclasses.MISSING:
        return "???"
    if f.default == "???":
        return "???"
    return "None" if f.default is None else repr(f.default)


def _type(annotation: Any) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return text.replace("typing.", "")


def _field_comments(node: type) -> dict[str, str]:
    """`name: type = default  # comment`: the comment beside each field, from the class that declares it."""
    found: dict[str, str] = {}
    for cls in reversed(node.__mro__):
        if not dataclasses.is_dataclass(cls) or cls is object:
            continue
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        own = cls.__dict__.get("__annotations__", {})
        for line, comment in _line_comments(source).items():
            name = line.strip().split(":", 1)[0].strip()
            if name in own:
                found[name] = comment
    return found


def _line_comments(source: str) -> dict[str, str]:
    """Each source line that carries code and a trailing comment → the comment's text."""
    import textwrap

    lines = textwrap.dedent(source).splitlines(keepends=True)
    out: dict[str, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO("".join(lines)).readline):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            code = lines[row - 1][:col]
            if code.strip():
                out[code] = tok.string.lstrip("#").strip()
    return out


# --- reference/metrics.md --------------------------------------------------------------------------

def metrics_page() -> str:
    from sustain.registry import registry

    metrics = sorted(registry(), key=lambda m: (m.group, m.name))
    out = ["# Metrics reference", "",
           "Every metric sustain logs, from the registry (`sustain.registry.registry()`): sustain's "
           "own in `sustain.catalog`, each plugin's in its module's `METRICS`. A name with "
           "`{placeholders}` is a family: any name that fits the pattern is that metric. *Column* is the "
           "report's short column and `--pick` name, where the metric has one.", "",
           f"{len(metrics)} metrics declared.", ""]
    for group in sorted({m.group for m in metrics}):
        out += [f"## {group}", "", "| metric | unit | direction | aggregation | column | meaning | declared by |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for m in (m for m in metrics if m.group == group):
            out.append(f"| `{m.name}` | {_cell(m.unit)} | {m.direction} | {_cell(m.aggregation)} | "
                       f"{_code(m.column) if m.column else ''} | {_cell(m.description)} | `{m.source}` |")
        out.append("")
    return "\n".join(out) + "\n"


# --- Markdown helpers ------------------------------------------------------------------------------

def _oneline(text: str) -> str:
    return _cell(" ".join(inspect.cleandoc(text).split()))


def _cell(text: str) -> str:
    """Text for a table cell or paragraph: pipes escaped, and `<` outside code spans (else raw HTML)."""
    import re

    parts = re.split(r"(`[^`]*`)", text.replace("|", "\\|"))
    return "".join(p if i % 2 else p.replace("<", "&lt;") for i, p in enumerate(parts))


def _code(text: str) -> str:
    """A code span that survives backticks in the text (a fence longer than any run inside)."""
    import re

    if not text:
        return ""
    fence = "`" * (max((len(r) for r in re.findall("`+", text)), default=0) + 1)
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"
