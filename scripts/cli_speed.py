"""How fast the CLI answers: wall time of whole `dasuite` commands, as a user types them.

Each command runs ``--repeat`` times in a fresh process (in a scratch folder, so `dasuite train`
writes its run folder there); the table gives the median and the fastest wall time and is written
to BENCHMARKS.md between the ``cli_speed`` markers. For `dasuite train` it also gives the run's own
training-step seconds (summary.json ``train_seconds``) and the fixed cost beyond them: wall − steps
(start-up, imports, configuration, evaluations, checkpoints, plots). Goals: help, list and argument
errors under 0.5 s; the default `dasuite train` (DANN on moons) under 15 s end to end and
at most ~3 s beyond its training steps (issue 21).

    python scripts/cli_speed.py [--repeat 5] [--train-repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import machine, write_section  # noqa: E402 - the sibling script's report helpers

#: (command, the exit code it must end with, goal in seconds, goal for the seconds beyond the training steps)
COMMANDS = [
    (["--help"], 0, 0.5, None),
    (["list"], 0, 0.5, None),
    (["train", "method=nope"], 2, 0.5, None),
    (["train", "trainer.epoch=3"], 2, 0.5, None),
    (["train"], 0, 15.0, 3.0),
    (["train", "trainer.plots=false"], 0, 15.0, 3.0),
]


def wall_times(args: list[str], expected: int, repeat: int, cwd: Path) -> tuple[list[float], list[float]]:
    """Seconds per run of `dasuite ARGS`, and each training run's training-step seconds (summary.json);
    fails if the exit code is not ``expected``."""
    times, steps = [], []
    for i in range(repeat):
        run_dir = cwd / f"run{len(list(cwd.iterdir()))}"
        extra = [f"hydra.run.dir={run_dir}"] if args[0] == "train" and expected == 0 else []
        tick = time.perf_counter()
        done = subprocess.run(["dasuite", *args, *extra], cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - tick)
        if done.returncode != expected:
            raise SystemExit(f"`dasuite {' '.join(args)}` exited {done.returncode}, expected {expected}:\n"
                             f"{done.stderr[-2000:]}")
        if extra:
            steps.append(json.loads((run_dir / "summary.json").read_text())["train_seconds"])
    return times, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each quick command")
    parser.add_argument("--train-repeat", type=int, default=3, help="runs of the default `dasuite train`")
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args()
    if shutil.which("dasuite") is None:
        raise SystemExit("the `dasuite` command is not on PATH: run `pip install -e .` first.")
    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for command, expected, goal, beyond_goal in COMMANDS:
            repeat = args.train_repeat if beyond_goal is not None else args.repeat
            times, steps = wall_times(command, expected, repeat, Path(scratch))
            median = statistics.median(times)
            met = median < goal
            if steps:
                beyond = statistics.median(t - s for t, s in zip(times, steps))
                met = met and beyond <= beyond_goal
                fixed = f"{statistics.median(steps):.2f} | {beyond:.2f} | ≤ {beyond_goal:g}"
            else:
                fixed = "– | – | –"
            rows.append(f"| `dasuite {' '.join(command)}` | {median:.2f} | {min(times):.2f} | {fixed} | {repeat} | "
                        f"< {goal:g} | {'yes' if met else '**no**'} |")
            print(rows[-1], flush=True)
    section = "\n".join([
        "<!-- cli_speed:begin -->", "### How fast the CLI answers", "",
        f"Measured {started} on: {machine()}.", "",
        "```", "python scripts/cli_speed.py " + " ".join(sys.argv[1:]), "```", "",
        "Wall time of the whole command in a fresh process, as typed by a user. `dasuite train` is the "
        "default experiment (DANN on moons_adapt, 800 epochs of 3 steps) including Python start-up, imports, "
        "training, evaluation, checkpoints and plots; 'steps s' is its training-step clock (summary.json "
        "train_seconds), 'beyond steps s' the median of wall − steps.", "",
        "| command | median s | fastest s | steps s | beyond steps s | goal beyond steps s | runs | goal s | met? |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows, "", "<!-- cli_speed:end -->"])
    write_section(args.output, "cli_speed", section)


if __name__ == "__main__":
    main()
