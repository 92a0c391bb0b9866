"""Hostile programs against the jail and the proven pass: each fails and leaves no trace on the host."""

import glob
import os
import signal
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sustain.jail import Jail, Limits
from sustain.tasks.code import Problem, run_tests

LIMITS = Limits(wall_s=3.0, cpu_s=1, memory_bytes=256 * 2**20, file_bytes=2**20)
MARK = f"sustain-jail-adv-{uuid.uuid4().hex}"
ADD = Problem("p", "add", "add(a, b)", "Add.",
              "assert add(2, 3) == 5\nassert add(-4, 4) == 0\nassert add(0, 0) == 0\n", {})
README = Path("/work/main/README.md")
SECRET_LINE = next((line for line in README.read_text().splitlines() if len(line) > 30), "") \
    if README.is_file() else ""
PY_SLEEPER = f"import sys, time\\nopen('/tmp/{MARK}-' + sys.argv[1], 'w')\\ntime.sleep(300)"

PROGRAMS = {
    # early exits in every form
    "system_exit": "raise SystemExit(0)",
    "os_exit": "import os\nos._exit(0)",
    "exit": "exit()",
    "quit": "quit()",
    "atexit_os_exit": "import atexit, os\natexit.register(lambda: os._exit(0))\ndef add(a, b):\n    raise SystemExit(0)",
    "sys_exit_in_thread": "import os, sys, threading, time\nthreading.Thread(target=sys.exit, args=(0,)).start()\n"
                          "threading.Thread(target=lambda: (time.sleep(0.05), os._exit(0))).start()\n"
                          "def add(a, b):\n    time.sleep(1)\n    return a + b",
    "signal_self": "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)",
    "exit_in_function": "def add(a, b):\n    import os\n    os._exit(0)",
    # forged success lines
    "forged_stdout": "import sys\nprint('{\"token\": \"' + '0' * 32 + '\", \"ran\": 3}')\n"
                     "print('passed', file=sys.stderr)\nraise SystemExit(0)",
    "forged_fds": "import json, os\nfor fd in range(0, 256):\n    try:\n"
                  "        os.write(fd, json.dumps({'token': 'f' * 32, 'ran': 3}).encode() + b'\\n')\n"
                  "    except OSError:\n        pass\ndef add(a, b):\n    return a - b",
    "read_the_token": "import os\nfor fd in range(3, 256):\n    try:\n        print(fd, os.read(fd, 4096))\n"
                      "    except OSError:\n        pass\nprint(dict(os.environ))\ndef add(a, b):\n    return 0",
    # harness tampering
    "patch_builtins": "import builtins\nbuiltins.AssertionError = type('Nope', (Exception,), {})\n"
                      "builtins.len = lambda x: 0\ndef add(a, b):\n    return None",
    "patch_assertion_error": "import builtins\nclass E(BaseException):\n    pass\nbuiltins.AssertionError = E\n"
                             "def add(a, b):\n    raise AssertionError('x')",
    "eq_always_true": "class A:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
                      "def add(a, b):\n    return A()",
    "eq_with_literal_repr": "class A(int):\n    def __eq__(self, other):\n        return True\n"
                           "def add(a, b):\n    return A(7)",
    "settrace": "import sys\ndef tracer(frame, event, arg):\n    raise SystemExit(0)\n"
                "sys.settrace(tracer)\nsys.setprofile(tracer)\ndef add(a, b):\n    return -1",
    "patch_sys_modules": "import sys, types\nshim = sys.modules['__main__']\nreal = shim.answer\n"
                         "shim.answer = lambda **kw: real(value='5') if 'value' in kw else real(**kw)\nsys.modules['json'] = types.ModuleType('json')\n"
                         "def add(a, b):\n    return 0",
    "ptrace_the_runner": "import ctypes, os\nlibc = ctypes.CDLL(None)\nprint('attach', libc.ptrace(16, os.getppid(), 0, 0))\n"
                         "print('unshare', libc.unshare(0x10000000))\nprint('mount', libc.mount(b'proc', b'/tmp', b'proc', 0, 0))\n"
                         "raise SystemExit(0)",
    # processes
    "fork_bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
    "double_fork_daemon": "import os, sys\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                          f"        os.execv(sys.executable, [sys.executable, '-c', \"{PY_SLEEPER}\", 'daemon'])\n"
                          "    os._exit(0)\nraise SystemExit(0)",
    "sleeping_grandchild": "import subprocess, sys\n"
                           f"subprocess.Popen([sys.executable, '-c', \"{PY_SLEEPER}\", 'grandchild'], start_new_session=True)\n"
                           "def add(a, b):\n    import time\n    time.sleep(30)",
    "kill_the_runner": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\ndef add(a, b):\n    return a + b",
    "kill_minus_one": "import os\nos.kill(-1, 9)\ndef add(a, b):\n    return a + b",
    "threads": "import threading\ndef spin():\n    while True:\n        pass\n"
               "for _ in range(8):\n    threading.Thread(target=spin, daemon=True).start()\ndef add(a, b):\n    return a - b",
    # files
    "write_host_tmp": f"open('/tmp/{MARK}-write', 'w').write('x')\nopen('../{MARK}-up', 'w').write('x')\n"
                      "def add(a, b):\n    return None",
    "symlink_out": f"import os\nos.symlink('/tmp', 'escape')\nopen('escape/{MARK}-link', 'w').write('x')\n"
                   f"os.symlink('{README}', 'readme')\nprint(open('readme').read())\nraise SystemExit(0)",
    "os_system": f"import os\nprint(os.system('touch /tmp/{MARK}-system'))\nraise SystemExit(0)",
    "read_shadow": "print(open('/etc/shadow').read())\nraise SystemExit(0)",
    "read_host_file": f"text = open('{README}').read()\nprint(text)\ndef add(a, b):\n    return text",
    "read_runner_memory": "import os\nprint(os.listdir('/proc'))\nprint(open(f'/proc/{os.getppid()}/mem', 'rb').read(10))",
    # network
    "connect_localhost": "import socket\nsocket.create_connection(('127.0.0.1', PORT), timeout=1).sendall(b'hi')\n"
                         "raise SystemExit(0)",
    "resolve_and_connect": "import socket\nsocket.create_connection(('localhost', 22), timeout=1)\nraise SystemExit(0)",
    # resources
    "huge_output": "while True:\n    print('x' * 10000)",
    "memory_bomb": "blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))",
    "recursion_bomb": "import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1)\nf(0)",
    "huge_answer": "def add(a, b):\n    return 'x' * (3 * 2**20)",
    "sleep_past_limit": "import time\ndef add(a, b):\n    time.sleep(100)",
}


@pytest.fixture(scope="module")
def results():
    jail = Jail(LIMITS)
    jail.check_available()
    received = []
    handlers = {s: signal.signal(s, lambda signum, frame: received.append(signum))
                for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGINT)}
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = {name: pool.submit(run_tests, jail, source.replace("PORT", str(port)), ADD)
                       for name, source in PROGRAMS.items()}
            out = {name: future.result() for name, future in futures.items()}
        try:
            listener.accept()
            connected = True
        except OSError:
            connected = False
    finally:
        listener.close()
        for s, handler in handlers.items():
            signal.signal(s, handler)
    time.sleep(0.5)
    return out, connected, received


def test_the_suite_is_large_enough():
    assert len(PROGRAMS) >= 25


@pytest.mark.parametrize("name", PROGRAMS)
def test_each_hostile_program_fails_with_a_reason(results, name):
    result, outcome = results[0][name]
    assert result != "passed" and result, (name, result)
    assert outcome.duration_s < LIMITS.wall_s + 3.0, (name, outcome)
    assert "forged" not in result or name.startswith("forged")


def test_nothing_is_left_on_the_host(results):
    _, connected, received = results
    assert glob.glob(f"/tmp/*{MARK}*") == []
    assert glob.glob(str(Path.cwd().parent / f"*{MARK}*")) == [] and glob.glob(f"/*{MARK}*") == []
    assert not connected
    assert received == []
    survivors = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            if MARK.encode() in Path(cmdline).read_bytes():
                survivors.append(cmdline)
        except OSError:
            pass
    assert survivors == []


def test_host_files_never_reach_the_outcome(results):
    shadow = Path("/etc/shadow")
    secrets = [SECRET_LINE] + ([line for line in shadow.read_text().splitlines() if line][:1]
                               if os.access(shadow, os.R_OK) else [])
    for name in ("read_shadow", "read_host_file", "symlink_out"):
        result, outcome = results[0][name]
        for secret in filter(None, secrets):
            assert secret not in outcome.output and secret not in result, name


def test_early_exits_are_named(results):
    for name in ("system_exit", "os_exit", "exit", "quit", "signal_self", "forged_stdout"):
        assert results[0][name][0].startswith("program exited before the tests ran"), results[0][name][0]
    assert results[0]["exit_in_function"][0] == "test 1 of 3: program exited (status 0)"
    assert results[0]["patch_sys_modules"][0] == "test 2 of 3 failed: AssertionError"
