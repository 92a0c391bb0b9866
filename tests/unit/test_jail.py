"""The jail's honest behaviour: references pass, wrong answers fail with reasons, limits hold."""

import glob
import json
import os
import pwd
import stat
import time

import pytest

from sustain.errors import SustainError
from sustain.jail import Jail, Limits, ProcessJail, jail_for
from sustain.tasks.code import CodeConfig, CodeTask, Problem, run_tests, verdict

LIMITS = Limits(wall_s=4.0, cpu_s=1, memory_bytes=256 * 2**20, file_bytes=2**20)
SLACK_S = 3.0  # process start and kill on a loaded 2-core machine
ADD = Problem("p", "add", "add(a, b)", "Add.", "assert add(2, 3) == 5\nassert add(-4, 4) == 0\n", {})


@pytest.fixture(scope="module")
def jail():
    jail = Jail(LIMITS)
    jail.check_available()
    return jail


def test_every_reference_passes_in_the_jail():
    task = CodeTask(CodeConfig(timeout_s=20.0))
    task.load()
    assert len(task.ids) == 30
    failed = {id: p.detail["result"] for id in task.ids
              if not (p := task.predict(id, f"```python\n{task.examples[id].raw['reference']}\n```")).correct}
    assert failed == {}


def test_references_pass_in_the_process_mode_too():
    task = CodeTask(CodeConfig(jail="process", limit=3, timeout_s=20.0))
    task.load()
    details = [task.predict(id, task.examples[id].raw["reference"]).detail for id in task.ids]
    assert all(d["result"] == "passed" for d in details), details


@pytest.mark.parametrize("program, reason", [
    ("def add(a, b):\n    return a - b", "test 1 of 2 failed: AssertionError"),
    ("def add(a, b):\n    return a + b if a > 0 else 1", "test 2 of 2 failed: AssertionError"),
    ("def add(a, b):\n    raise ValueError('no')", "test 1 of 2 failed: ValueError: no"),
    ("def plus(a, b):\n    return a + b", "test 1 of 2 failed: NameError: name 'add' is not defined"),
    ("def add(a, b):\n    return {1, 2, object()}", "test 1 of 2: add returned a value that is not a literal"),
    ("def add(a,", "program raised SyntaxError"),
    ("raise SystemExit(0)", "program exited before the tests ran (status 0)"),
    ("def add(a, b):\n    raise SystemExit(3)", "test 1 of 2: program exited (status 3)"),
])
def test_wrong_programs_fail_with_their_reason(jail, program, reason):
    result, outcome = run_tests(jail, program, ADD)
    assert result.startswith(reason), result
    assert outcome.duration_s < LIMITS.wall_s + SLACK_S


def test_other_top_level_names_of_the_tests_reach_the_program(jail):
    problem = Problem("p", "area", "area(r)", "", "assert math.isclose(area(1.0), PI)\nassert helper(2) == 4\n", {})
    program = "import math\nPI = math.pi\ndef helper(x):\n    return x * 2\ndef area(r):\n    return PI * r * r"
    assert run_tests(jail, program, problem)[0] == "passed"


def test_the_program_output_is_kept_and_a_test_may_expect_an_exception(jail):
    problem = Problem("p", "inv", "inv(x)", "", "try:\n    inv(0)\nexcept ZeroDivisionError:\n    pass\n"
                      "else:\n    raise AssertionError('no error')\nassert inv(2) == 0.5\n", {})
    result, outcome = run_tests(jail, "print('hello from the program')\ndef inv(x):\n    return 1 / x", problem)
    assert result == "passed" and "hello from the program" in outcome.output


@pytest.mark.parametrize("report, timed_out, expected", [
    ('{"token": "t", "ran": 2}\n', False, "passed"),
    ('{"token": "t", "ran": 2}\n', True, "passed"),  # it finished the tests before the limit
    ('{"token": "u", "ran": 2}\n', False, "forged result line"),
    ('{"token": "t", "ran": 1}\n', False, "only 1 of 2 tests ran"),
    ('{"reason": "test 1 of 2 failed: AssertionError"}\n', False, "test 1 of 2 failed: AssertionError"),
    ("", False, "the test runner ended without a result (exit status 0)"),
    ("", True, "exit status 0"),
    ("[1]\n", False, "unreadable result line"),
])
def test_verdict_needs_the_token_and_the_full_count(report, timed_out, expected):
    assert verdict(report, "exit status 0", timed_out, "t", 2) == expected


def test_files_stdin_and_what_the_program_sees(jail):
    source = ("import os, sys\nprint(open('data.txt').read(), input(), os.getcwd())\n"
              "print(sorted(os.listdir('/')), sorted(os.environ))")
    outcome = jail.run({"main.py": source, "data.txt": "payload"}, ["main.py"], stdin="typed\n")
    assert outcome.returncode == 0 and outcome.reason == "exit status 0", outcome
    first, second = outcome.output.splitlines()[:2]
    assert first == "payload typed /sandbox"
    assert "proc" not in second and "work" not in second and "root" not in second and "home" not in second
    assert "SUSTAIN_SECRET_FD" not in second  # no secret asked for, none passed


@pytest.mark.parametrize("source, reason, says", [
    ("while True:\n    pass", "killed by SIGXCPU (CPU-time limit 1 s)", ""),
    ("import time\ntime.sleep(60)", "time limit 4 s", ""),
    # Python ignores SIGXFSZ: the write past the limit fails (EFBIG), and so does the program.
    ("while True:\n    print('x' * 10000)", "exit status 120", "x"),
    ("b = []\nwhile True:\n    b.append(bytearray(10**7))", "exit status 1", "MemoryError"),
])
def test_limits_hold(jail, source, reason, says):
    outcome = jail.run({}, ["-c", source])
    assert outcome.reason in (reason, "time limit 4 s"), outcome
    assert outcome.duration_s < LIMITS.wall_s + SLACK_S
    assert len(outcome.output) <= 4000 and says in outcome.output


def test_the_process_limit_holds(jail):
    source = "import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            time.sleep(5)\n" \
             "            os._exit(0)\n        n += 1\nexcept OSError:\n    print('forks', n)"
    outcome = jail.run({}, ["-c", source])
    assert outcome.returncode == 0, outcome
    assert 0 < int(outcome.output.split()[-1]) < LIMITS.processes


def test_unknown_jail_and_unusable_bwrap_raise_one_sentence(tmp_path, monkeypatch):
    with pytest.raises(SustainError, match="Unknown jail 'docker': use bwrap"):
        jail_for("docker", LIMITS)
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr("sustain.jail._bwrap", lambda: str(fake))
    monkeypatch.setattr("sustain.jail._host_user", lambda: {})
    import sustain.jail
    with pytest.raises(SustainError, match=r"No permissions to create new namespace.*unprivileged_userns_clone=1"):
        sustain.jail._probe.__wrapped__(Jail)


def test_the_code_task_refuses_to_load_without_the_jail(tmp_path, monkeypatch):
    def broken(self):
        if type(self) is Jail:
            raise SustainError("The bwrap jail does not work on this host (x): fix it.")
    monkeypatch.setattr(Jail, "check_available", broken)
    with pytest.raises(SustainError, match="does not work on this host"):
        CodeTask(CodeConfig()).load()
    task = CodeTask(CodeConfig(jail="process", limit=1))
    task.load()  # the process mode has its own check
    assert isinstance(task.jail, ProcessJail)


def test_a_report_only_comes_from_the_report_descriptor(jail):
    source = ("import json, os\nprint(os.read(int(os.environ['SUSTAIN_SECRET_FD']), 100).decode())\n"
              "os.write(int(os.environ['SUSTAIN_REPORT_FD']), json.dumps({'ok': 1}).encode())")
    outcome = jail.run({"main.py": source}, ["main.py"], secret=b"s3cret")
    assert outcome.output.strip() == "s3cret" and json.loads(outcome.report) == {"ok": 1}
    assert not os.path.exists("/sandbox")


def _zombies_of(uid: int) -> list[str]:
    found = []
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in open(status).read().splitlines() if ":" in line)
        except OSError:
            continue
        if fields.get("State", "").split()[:1] == ["Z"] and int(fields["Uid"].split()[1]) == uid:
            found.append(status)
    return found


@pytest.mark.parametrize("kind", [Jail, ProcessJail])
def test_runs_leave_no_zombies_of_the_jails_user(kind):
    """bwrap exits before its namespace's init is reaped, and a process-mode program's orphans outlive it:
    a host PID 1 that does not reap would keep them, and they count against the process limit."""
    uid = pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else os.getuid()
    before = len(_zombies_of(uid))
    orphan = "import os, time\nif os.fork() == 0:\n    time.sleep(0.2)\n    os._exit(0)\nprint('parent done')"
    for _ in range(3):
        assert kind(LIMITS).run({}, ["-c", orphan]).returncode == 0
    time.sleep(0.5)
    assert len(_zombies_of(uid)) <= before
