"""Where the wall time of one `dasuite train` goes: imports, training steps, evaluations, checkpoints, plots.

Runs the command in this process (no profiler: its overhead inflates Python-heavy parts several-fold) with
timers around the phases, then prints seconds per phase; "rest" is configuration, data, model, run folder
and summary. The process's start (~0.05 s) and end are not included: `dasuite train` skips the
interpreter's teardown. Run it alone, in a scratch folder (the run folder lands under runs/):

    python scripts/run_phases.py [train overrides...]       # e.g. trainer.plots=false
"""

from __future__ import annotations

import collections
import json
import sys
import time
from pathlib import Path

SECONDS: dict[str, float] = collections.defaultdict(float)


def timed(owner, name: str, phase: str) -> None:
    """Add the time spent in ``owner.name`` to ``SECONDS[phase]``."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        tick = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            SECONDS[phase] += time.perf_counter() - tick

    setattr(owner, name, wrapper)


def main() -> None:
    start = time.perf_counter()
    import torch  # noqa: F401

    SECONDS["import torch"] = time.perf_counter() - start
    tick = time.perf_counter()
    import torch._dynamo  # noqa: F401 - what torch.optim imports on the first optimizer

    SECONDS["import torch._dynamo (torch.optim)"] = time.perf_counter() - tick
    tick = time.perf_counter()
    import sklearn.linear_model  # noqa: F401 - the validators' density ratio, t-SNE, the proxy A-distance

    SECONDS["import scikit-learn"] = time.perf_counter() - tick
    import dasuite.engine.callbacks.evaluation as evaluation
    from dasuite.cli import main as dasuite
    from dasuite.diagnostics.run import Diagnostics
    from dasuite.engine.run_folder import RunFolder

    timed(evaluation.Evaluation, "metrics", "evaluations")
    timed(evaluation, "score", "  of which validators")
    timed(RunFolder, "save_checkpoint", "checkpoints")
    timed(Diagnostics, "initial", "plots (initial model)")
    timed(Diagnostics, "final", "plots, t-SNE, proxy A-distance")
    timed(Diagnostics, "_plot_tsne", "  of which t-SNE plots")
    try:
        dasuite(["train", "trainer.progress=false", *sys.argv[1:]])
    except SystemExit as done:
        if done.code:
            raise
    total = time.perf_counter() - start
    summary = max(Path("runs").glob("*/*/summary.json"), key=lambda p: p.stat().st_mtime)
    SECONDS["training steps"] = json.loads(summary.read_text())["train_seconds"]
    rest = total - sum(v for k, v in SECONDS.items() if not k.startswith("  "))
    for phase, seconds in [*SECONDS.items(), ("rest", rest), ("total (in process)", total)]:
        print(f"{phase:40s} {seconds:6.2f}")


if __name__ == "__main__":
    main()
