"""The docs site builds strictly (every link and anchor resolves), and its reference pages are generated
from the code: a config key and a metric the code declares appear on them."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_docs_build_strict_with_generated_reference(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    config = (site / "reference" / "config" / "index.html").read_text()
    assert "<code>energy.window_rule</code>" in config  # a key of EnergyConfig, with its comment beside it
    assert "mlenergy (B first tokens .. N-B-1 finished)" in config  # an option's YAML, under conf/energy/
    assert "<code>load.max_in_flight</code>" in config  # a key only a plugin kind's schema (ConcurrencyConfig) has
    metrics = (site / "reference" / "metrics" / "index.html").read_text()
    assert "<code>energy_per_request_j_mean</code>" in metrics  # declared in sustain.catalog
