"""The report's figures drawn side by side: in worker processes and in the report's own.

Drawing (matplotlib's layout, rasterising, PNG encoding) is most of a report's time at any number of runs,
and each figure is independent of the others. With `jobs` N, N - 1 workers start with the report and import
matplotlib while it reads the runs; each figure's tables are pickled across as it is submitted, and once the
report has written everything else it draws, in its own process, the figures no worker has started. A worker
costs memory (its own matplotlib, the pages it touches), so the report itself is one of the N. With one CPU,
or `--jobs 1`, every figure is drawn in the report's own process.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable

PRELOAD = ["sustain.report.figures", "matplotlib.pyplot"]


def default_jobs() -> int:
    """One process per CPU this process may use, at most four (nine figures at the most per task)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def _start_method() -> str:
    """Fork where this process has no other thread (the report's own command line: the workers then share its
    imports, and its memory until they write to it); else a fork server, since forking a process whose other
    threads may hold a lock can leave the child waiting on it for ever."""
    import threading

    return "fork" if threading.active_count() == 1 else "forkserver"


def _warm() -> None:
    from sustain.report import figures

    figures._pyplot()


class Job:
    """One figure: drawn by a worker, or by the report when no worker had started it."""

    def __init__(self, fn: Callable[..., Any], args: tuple, future: Future | None) -> None:
        self.fn, self.args, self.future = fn, args, future
        self._here: Future | None = None

    def take(self) -> None:
        """Draw it here if no worker has started it."""
        if self.future is None or self.future.cancel():
            here: Future = Future()
            try:
                here.set_result(self.fn(*self.args))
            except Exception as exc:
                here.set_exception(exc)
            self._here = here

    def result(self) -> Any:
        return (self._here or self.future).result()


class Drawing:
    """Figures submitted as (function, arguments); `finish` draws what is left and returns nothing until every
    figure is drawn."""

    def __init__(self, jobs: int | None = None) -> None:
        jobs = default_jobs() if jobs is None else jobs
        self._pool: ProcessPoolExecutor | None = None
        self._jobs: list[Job] = []
        if jobs > 1:
            import multiprocessing

            context = multiprocessing.get_context(_start_method())
            if context.get_start_method() == "forkserver":
                context.set_forkserver_preload(PRELOAD)
            self._pool = ProcessPoolExecutor(jobs - 1, mp_context=context, initializer=_warm)
            self._pool.submit(os.getpid)  # the pool starts its workers at its first submission: now, not at a figure

    def draw(self, fn: Callable[..., Any], *args: Any) -> Job:
        job = Job(fn, args, self._pool.submit(fn, *args) if self._pool is not None else None)
        self._jobs.append(job)
        return job

    def finish(self) -> None:
        """The figures still queued, drawn here from the last submitted back, while the workers go on from the
        first: nothing waits on a queue while a CPU is free."""
        for job in reversed(self._jobs):
            job.take()
        for job in self._jobs:  # the first failure, raised
            job.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "Drawing":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
