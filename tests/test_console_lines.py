"""Console lines that parallel jobs share a stream with: each written whole, newline included, in one call."""

from __future__ import annotations

from dasuite.engine.callbacks.progress import write_line


class Recorder:
    """A stream that records each write call (an unbuffered stdout turns each into one system call)."""

    def __init__(self):
        self.calls: list[str] = []
        self.flushed = 0

    def write(self, text: str) -> int:
        self.calls.append(text)
        return len(text)

    def flush(self) -> None:
        self.flushed = len(self.calls)


def test_a_line_and_its_newline_go_out_in_one_flushed_write():
    stream = Recorder()
    write_line("Run folder: runs/0\nsource accuracy 100.00% | target accuracy 97.70% (last epoch of 3)", stream)
    assert stream.calls == ["Run folder: runs/0\nsource accuracy 100.00% | target accuracy 97.70% (last epoch of 3)\n"]
    assert stream.flushed == 1

