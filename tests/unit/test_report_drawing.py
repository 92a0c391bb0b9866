"""The report's figures drawn side by side: the same files as drawn one by one, the report's own process
drawing whatever no worker has started."""

import os
import time

import pytest

from sustain.report import drawing
from sustain.report.__main__ import main


def test_queued_figures_are_drawn_here_while_the_worker_draws_the_first():
    with drawing.Drawing(jobs=2) as d:  # one worker and this process
        first = d.draw(os.getpid)
        assert first.result() != os.getpid()  # the worker, once it has started
        d.draw(time.sleep, 0.4)  # keeps the worker busy
        rest = [d.draw(os.getpid) for _ in range(3)]
        d.finish()
        assert rest[-1].result() == os.getpid()  # the last submitted: never started by the busy worker


def test_one_job_draws_everything_here():
    with drawing.Drawing(jobs=1) as d:
        jobs = [d.draw(os.getpid) for _ in range(3)]
        d.finish()
    assert [j.result() for j in jobs] == [os.getpid()] * 3


def test_a_figure_that_fails_in_a_worker_fails_the_report():
    with drawing.Drawing(jobs=2) as d:
        job = d.draw(int, "not a number")
        with pytest.raises(ValueError):
            d.finish()
        with pytest.raises(ValueError):
            job.result()


def test_jobs_must_be_one_or_more(capsys):
    with pytest.raises(SystemExit):
        main(["--jobs", "0"])
    assert "'0' is not a whole number of processes of 1 or more" in capsys.readouterr().err
