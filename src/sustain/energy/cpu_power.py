"""The CPU's rated power (TDP) for the estimate meter, from codecarbon's table of CPU models.

codecarbon (a data dependency: only its file `codecarbon/data/hardware/cpu_power.csv` is read, the package
is never imported) ships the TDP of about 4,900 Intel and AMD models scraped from the vendors' sites. The
match follows codecarbon's `TDP._get_matching_cpu` (codecarbon 3.3, `codecarbon/core/cpu.py`): the brand
string as py-cpuinfo reports it, equal ignoring case; else the same after dropping "(R)", " CPU" and the
"@ x.xxGHz" suffix; else the one table model whose words all appear in the brand string (or the reverse),
refused when several do. Without a match codecarbon's documented fallback applies: 4 W per logical CPU.
"""

from __future__ import annotations

import csv
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

TABLE = "codecarbon/data/hardware/cpu_power.csv"
FALLBACK_W_PER_THREAD = 4.0  # codecarbon's DEFAULT_POWER_PER_CORE, applied per logical CPU


@dataclass(frozen=True)
class CpuRating:
    brand: str  # the CPU as this machine names it
    tdp_w: float
    matched: str | None  # the table's model name, None when the fallback applies
    source: str  # how tdp_w was obtained, for tags and labels


def table_path() -> Path | None:
    """codecarbon's CSV, located without importing codecarbon (its import pulls in its trackers)."""
    spec = importlib.util.find_spec("codecarbon")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))).parent / TABLE
    return path if path.is_file() else None


def load_table(path: Path) -> dict[str, float]:
    """Model name → TDP in W; the few rows whose TDP is not one number (e.g. "27.29.5") are left out."""
    table = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                table[row["Name"]] = float(row["TDP"])
            except (TypeError, ValueError):
                continue
    return table


def _words(text: str) -> frozenset[str]:
    return frozenset(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def match(brand: str, table: dict[str, float]) -> str | None:
    """The table's model for `brand`, by codecarbon's rules (see the module docstring), or None."""
    by_lower = {name.lower(): name for name in table}
    if brand.lower() in by_lower:
        return by_lower[brand.lower()]
    short = brand.replace("(R)", "")
    at = short.find(" CPU @ ")
    short = short[:at] if at > 0 else short
    short = re.sub(r" @\s*\d+\.\d+GHz", "", short.replace(" CPU", "")).strip()
    if short.lower() in by_lower:
        return by_lower[short.lower()]
    words = _words(short)
    if not words:
        return None
    subset = [name for name in table if (w := _words(name)) and (w <= words or words <= w)]
    return subset[0] if len(subset) == 1 else None


def detect_brand() -> str:
    import cpuinfo

    return str(cpuinfo.get_cpu_info().get("brand_raw") or "unknown CPU")


def rate(logical_cpus: int, brand: str | None = None, table: dict[str, float] | None = None) -> CpuRating:
    """This machine's CPU rating: a table match, or codecarbon's fallback with the reason stated."""
    brand = brand or detect_brand()
    if table is None:
        path = table_path()
        if path is None:
            return _fallback(brand, logical_cpus, "codecarbon's CPU table is not installed (pip install codecarbon)")
        table = load_table(path)
    name = match(brand, table)
    if name is None:
        return _fallback(brand, logical_cpus, f"'{brand}' matches no single model of codecarbon's CPU table")
    return CpuRating(brand, table[name], name, f"codecarbon CPU table: {name}, TDP {table[name]:g} W")


def _fallback(brand: str, logical_cpus: int, why: str) -> CpuRating:
    tdp = FALLBACK_W_PER_THREAD * logical_cpus
    return CpuRating(brand, tdp, None, f"{why}; codecarbon's fallback {FALLBACK_W_PER_THREAD:g} W × "
                                       f"{logical_cpus} logical CPUs = {tdp:g} W")
