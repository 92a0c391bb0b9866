"""sustain as a package: `python -m build` on a copy of the checkout makes an sdist and, from it, a wheel;
the wheel installed into a throw-away target runs from a folder that has no `conf/`, with the configs it
carries. Dependencies come from this environment, behind the target on the path, so nothing is
downloaded."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

EXPERIMENTS = sorted(p.stem for p in (ROOT / "src" / "sustain" / "conf" / "experiment").glob("*.yaml"))


def _checkout_copy(dest: Path) -> Path:
    """The files a clean clone has (tracked, plus new ones git does not ignore), without build leftovers."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(src.read_bytes())
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, target folder, environment whose PYTHONPATH puts the target first)."""
    tmp = tmp_path_factory.mktemp("wheel")
    checkout = _checkout_copy(tmp / "checkout")
    dist = tmp / "dist"
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(checkout)],
                   check=True, capture_output=True)
    (wheel,) = dist.glob("sustain-*.whl")
    assert len(list(dist.glob("sustain-*.tar.gz"))) == 1
    target = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
                    "--disable-pip-version-check", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return wheel, target, env


def _run(env, cwd, *args):
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_wheel_carries_configs_data_and_launchers(installed):
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "sustain/conf/config.yaml" in names and "sustain/conf/model/smollm2_135m.yaml" in names
    assert {f"sustain/conf/experiment/{e}.yaml" for e in EXPERIMENTS} <= names
    assert {"sustain/conf/hydra/launcher/parallel.yaml", "sustain/conf/hydra/launcher/slurm.yaml"} <= names
    assert "sustain/tasks/data/hallucination.jsonl" in names
    assert any(n.startswith("sustain/report/data/") and n.endswith(".csv") for n in names)
    assert {"hydra_plugins/sustain_launchers/launchers.py", "hydra_plugins/sustain_launchers/config.py"} <= names


def test_installed_wheel_runs_from_any_folder(installed, tmp_path):
    _, target, env = installed
    where = _run(env, tmp_path, "-c", "import sustain.__main__ as m, hydra_plugins.sustain_launchers as l; "
                                      "print(m.CONF_DIR); print(l.__file__)")
    assert where.returncode == 0, where.stderr
    conf_dir, launchers = where.stdout.split()
    assert Path(conf_dir) == target / "sustain" / "conf" and launchers.startswith(str(target))

    job = _run(env, tmp_path, "-m", "sustain", "--cfg", "job", "--resolve", "hydra.job.chdir=false")
    assert job.returncode == 0, job.stderr
    assert "path: embedded" in job.stdout and f"sqlite:///{tmp_path}/mlruns/mlflow.db" in job.stdout
    assert job.stderr == ""  # no warning about the missing ./conf either

    help_ = _run(env, tmp_path, "-m", "sustain", "--help")
    groups = help_.stdout.split("== Config ==")[0]  # the listing; the config below may hold json_schema
    assert help_.returncode == 0 and "smollm2_135m" in groups and "_schema" not in groups

    report = _run(env, tmp_path, "-m", "sustain.report", "--help")
    assert report.returncode == 0 and "usage" in report.stdout.lower(), report.stderr


def test_every_built_in_experiment_composes_from_the_wheel(installed, tmp_path):
    """`python -m sustain --cfg job experiment=X` for each experiment the wheel carries, in one process."""
    _, _, env = installed
    script = (
        "import contextlib, io, sys\n"
        "from sustain.__main__ import main\n"
        f"for exp in {EXPERIMENTS!r}:\n"
        "    sys.argv = ['sustain', '--cfg', 'job', f'experiment={exp}']\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        main()\n"
        "    print(exp, 'model:' in out.getvalue() and 'task:' in out.getvalue())\n"
    )
    composed = _run(env, tmp_path, "-c", script)
    assert composed.returncode == 0, composed.stderr
    assert composed.stdout.split() == [w for e in EXPERIMENTS for w in (e, "True")]
