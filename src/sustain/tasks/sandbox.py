"""Run untrusted Python (a model's code and its unit tests) in a confined subprocess.

What confines the program, in layers (each one stops the cases named; none is a security boundary
against a determined attacker, see the README):

- Time: a wall-clock limit, after which its whole process group is killed (SIGKILL), and a CPU-time
  limit (RLIMIT_CPU: SIGXCPU, then SIGKILL a second later).
- Memory: RLIMIT_AS; an allocation past it raises MemoryError in the program.
- Output and files: RLIMIT_FSIZE caps any file it writes, its stdout and stderr included (they go to
  files, never into this process's memory); RLIMIT_NOFILE caps open files; no core dumps.
- Processes: an audit hook installed before the program runs refuses fork, exec, spawn, subprocess,
  os.system, kill and ctypes; when this process is root and the user `nobody` exists the program also
  runs as `nobody` with RLIMIT_NPROC (root ignores that limit), and the process group is killed once the
  program ends, so a child it left behind dies with it.
- Network: the program starts in a new, empty network namespace (unshare(CLONE_NEWNET)) where the host
  allows it (root or CAP_SYS_ADMIN); the audit hook refuses socket creation and connection everywhere.
- Files: a throw-away working directory, deleted afterwards; the audit hook refuses opening for write,
  creating, deleting, renaming, linking and changing the mode, owner or times of any path outside it;
  running as `nobody` adds the kernel's own permission checks under the hook.

Not stopped: reading files the program's user may read; anything done by C code the hook cannot see
(an extension module already imported, or a bug in the interpreter); CPU and memory use below the limits.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

UNPRIVILEGED_USER = "nobody"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0
    cpu_s: int = 5
    memory_bytes: int = 512 * 2**20
    processes: int = 16  # RLIMIT_NPROC, effective when the program runs as an unprivileged user
    file_bytes: int = 8 * 2**20
    open_files: int = 64


@dataclass(frozen=True)
class Outcome:
    """How a program ended: `passed` only for exit status 0 within every limit."""

    passed: bool
    reason: str  # "passed", "exit status 1: AssertionError ...", "wall-clock limit of 10 s", ...
    returncode: int
    duration_s: float
    output: str  # the end of its stdout and stderr
    user: str  # the user it ran as


# Runs in the child before the program: reads the program, installs the hook, then executes it.
GUARD = r'''
import os, sys
ROOT = os.path.realpath(os.getcwd())
SOURCE = open("program.py", encoding="utf-8").read()
REFUSED = {"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.kill",
           "os.killpg", "subprocess.Popen", "pty.spawn", "socket.__new__", "socket.connect", "socket.bind",
           "socket.getaddrinfo", "socket.sendto", "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata",
           "ctypes.call_function", "sys.setprofile", "sys.settrace"}
PATH_EVENTS = {"os.chmod", "os.chown", "os.chflags", "os.link", "os.mkdir", "os.mkfifo", "os.mknod",
               "os.remove", "os.rename", "os.rmdir", "os.symlink", "os.truncate", "os.utime",
               "os.setxattr", "os.removexattr", "shutil.rmtree", "shutil.copyfile", "shutil.copymode",
               "shutil.copystat", "shutil.chown", "shutil.move", "shutil.make_archive", "shutil.unpack_archive"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

def _inside(path):
    if isinstance(path, int):
        return True
    full = os.path.realpath(os.path.join(ROOT, os.fsdecode(path)))
    return full == ROOT or full.startswith(ROOT + os.sep)

def _is_path(value):
    return isinstance(value, (str, bytes)) or hasattr(value, "__fspath__")

def _guard(event, args):
    if event in REFUSED:
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & WRITE_FLAGS)
        if writing and not _inside(path):
            raise PermissionError(f"sandbox: writing {path!r} outside the working directory is not allowed")
    elif event in PATH_EVENTS:
        for value in args:
            if _is_path(value) and not _inside(value):
                raise PermissionError(f"sandbox: {event} on {value!r} outside the working directory is not allowed")

sys.addaudithook(_guard)
del _guard
exec(compile(SOURCE, "program.py", "exec"), {"__name__": "__main__"})
'''


# Runs first, in the new session, as this process's user: network namespace, limits, the user switch,
# then exec of the guarded program (a separate process rather than preexec_fn, which is unsafe in a
# process with threads).
LAUNCHER = r'''
import ctypes, json, os, resource, sys
spec = json.loads(sys.argv[1])
try:
    ctypes.CDLL(None, use_errno=True).unshare(0x40000000)  # CLONE_NEWNET; -1 where the host refuses
except (OSError, AttributeError):
    pass
for name, soft, hard in spec["rlimits"]:
    resource.setrlimit(getattr(resource, name), (soft, hard))
if spec["user"]:
    uid, gid = spec["user"]
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
os.execv(spec["argv"][0], spec["argv"])
'''


def run_python(source: str, limits: Limits = Limits()) -> Outcome:
    """Run `source` as a Python program in a fresh working directory and report how it ended."""
    workdir = Path(tempfile.mkdtemp(prefix="sustain-sandbox-"))
    try:
        (workdir / "program.py").write_text(source, encoding="utf-8")
        python, user = _interpreter_and_user()
        if user is not None:
            os.chown(workdir, user.pw_uid, user.pw_gid)
        with open(workdir / "output.txt", "wb") as out:
            return _supervise(python, workdir, out, limits, user)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _supervise(python: str, workdir: Path, out, limits: Limits, user: pwd.struct_passwd | None) -> Outcome:
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-B", "-c", LAUNCHER, _launch_spec(python, limits, user)],
        cwd=workdir,
        env={"PATH": SYSTEM_PATH, "HOME": str(workdir), "LANG": "C.UTF-8"},
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    timed_out = not _wait_unreaped(proc.pid, start + limits.wall_s)
    _kill_group(proc.pid)  # the leader is a zombie until reaped, so its group id is still its own
    returncode = proc.wait()
    duration = time.monotonic() - start
    output = (workdir / "output.txt").read_bytes()[-4000:].decode("utf-8", errors="replace")
    reason = _reason(returncode, timed_out, limits, output)
    user_name = user.pw_name if user is not None else pwd.getpwuid(os.geteuid()).pw_name
    return Outcome(reason == "passed", reason, returncode, duration, output, user_name)


def _wait_unreaped(pid: int, deadline: float) -> bool:
    """Wait until the process exits (leaving it unreaped) or the deadline passes; True if it exited."""
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.01)
    return False


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reason(returncode: int, timed_out: bool, limits: Limits, output: str) -> str:
    if timed_out:
        return f"wall-clock limit of {limits.wall_s:g} s"
    if returncode == -signal.SIGXCPU:
        return f"CPU-time limit of {limits.cpu_s} s"
    if returncode == -signal.SIGXFSZ:
        return f"file-size limit of {limits.file_bytes} bytes"
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    if returncode:
        last = output.strip().splitlines()[-1:] or [""]
        return f"exit status {returncode}: {last[0][:200]}"
    return "passed"


def _interpreter_and_user() -> tuple[str, pwd.struct_passwd | None]:
    """The Python to run and the user to switch to: `nobody` when this process is root, `nobody` exists
    and can execute this Python (or a system one of the same version); else this process's own user."""
    if os.geteuid() != 0:
        return sys.executable, None
    try:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        return sys.executable, None
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, shutil.which(version, path=SYSTEM_PATH)):
        if candidate and _others_can_run(candidate):
            return candidate, user
    return sys.executable, None


def _others_can_run(path: str) -> bool:
    """True when a user who owns none of it can reach and execute `path` (the 'other' permission bits)."""
    real = Path(os.path.realpath(path))
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in (real, *real.parents))


def _launch_spec(python: str, limits: Limits, user: pwd.struct_passwd | None) -> str:
    """What LAUNCHER needs: the limits as (name, soft, hard), the user to become, the Python to exec."""
    rlimits = [
        ("RLIMIT_CPU", limits.cpu_s, limits.cpu_s + 1),
        ("RLIMIT_AS", limits.memory_bytes, limits.memory_bytes),
        ("RLIMIT_FSIZE", limits.file_bytes, limits.file_bytes),
        ("RLIMIT_NOFILE", limits.open_files, limits.open_files),
        ("RLIMIT_CORE", 0, 0),
    ]
    if user is not None:
        rlimits.append(("RLIMIT_NPROC", limits.processes, limits.processes))
    ids = [user.pw_uid, user.pw_gid] if user is not None else None
    return json.dumps({"rlimits": rlimits, "user": ids, "argv": [python, "-I", "-S", "-B", "-c", GUARD]})
