"""Progress on the console, from rank 0 only: tqdm's bar on a terminal; where the stream is no
terminal (a Slurm log, ``| tee``, a launcher's captured output) one plain line about every tenth of
the steps instead of the bar's carriage returns, each line written whole (:func:`write_line`), so
jobs' lines never mix."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

from dasuite.engine.callbacks.base import Callback
from dasuite.engine.callbacks.metrics_log import summary_line


class Progress(Callback):
    rank_zero_only = True

    def __init__(self, stream=None):
        self.stream = stream  # None: sys.stderr when training starts (as tqdm)
        self.bar = None
        self.postfix = ""

    def before_fit(self, state) -> None:
        self.stream = self.stream or sys.stderr
        self.total, self.done = sum(epochs * steps for _, epochs, steps in state.plan), state.at.step
        if _is_terminal(self.stream):
            self.bar = tqdm(total=self.total, initial=self.done, unit="step", dynamic_ncols=True, file=self.stream)
        else:
            self.first, self.since, self.tenth = self.done, time.perf_counter(), 10 * self.done // self.total

    def before_stage(self, state) -> None:
        if self.bar is not None:
            self.bar.set_description(state.stage.name)

    def after_step(self, state) -> None:
        if self.bar is not None:
            self.bar.update()
            return
        self.done += 1
        if 10 * self.done // self.total > self.tenth:
            self.tenth = 10 * self.done // self.total
            rate = (self.done - self.first) / max(time.perf_counter() - self.since, 1e-9)
            write_line(f"{state.stage.name}: {100 * self.done // self.total:3d}% {self.done}/{self.total} steps, "
                       f"{rate:.1f} step/s{' | ' + self.postfix if self.postfix else ''}", self.stream)

    def after_evaluation(self, state, record: dict) -> None:
        self.postfix = summary_line(record)
        if self.bar is not None:
            self.bar.set_postfix_str(self.postfix, refresh=False)

    def after_fit(self, state) -> None:
        self.teardown(state)

    def teardown(self, state) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def write_line(text: str, stream=None) -> None:
    """``text`` and its newline in one write call, flushed (``stream`` None: sys.stdout). ``print`` writes
    the newline in a call of its own, so on an unbuffered stream (PYTHONUNBUFFERED=1) shared by parallel
    jobs another job's line can land between the two ("...training)Run folder: ...")."""
    stream = stream or sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
