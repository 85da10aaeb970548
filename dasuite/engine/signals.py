"""Ctrl-C and SIGTERM (e.g. Slurm pre-emption) as a request to stop after the current step.

While training, the first SIGINT or SIGTERM only sets :attr:`StopRequests.signal`; the trainer sees
it after the step in progress, writes a checkpoint from which the run resumes exactly, and raises
:class:`TrainingInterrupted`. A second signal interrupts at once (a TrainingInterrupted too, without
a new checkpoint). Handlers are installed only in the main thread and restored on exit.
"""

from __future__ import annotations

import signal
import threading

HANDLED = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on a signal after saving a checkpoint; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signal_name = signal.Signals(signum).name
        self.exit_code = 128 + signum


class StopRequests:
    """Context manager: records the first SIGINT/SIGTERM instead of dying mid-step."""

    def __init__(self):
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if self.signal is not None:  # asked twice: stop now (exit code and summary name this signal)
            raise TrainingInterrupted(signum, "stopped at once by a second signal; checkpoints/last.pt keeps the "
                                              "last checkpoint written before it")
        self.signal = signum
