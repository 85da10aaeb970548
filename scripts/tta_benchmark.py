#!/usr/bin/env python
"""Test-time adaptation on corrupted MNIST (issue 30, items 5 and 6) -> the section ``tta_digits`` of BENCHMARKS.md.

Per seed, a source model is trained once on the clean source third of ``dataset=mnist_corrupted`` (MNIST's 10k
test split dealt into disjoint thirds by ``dataset.seed=0``: source, target, target test; the same thirds in every
run): ``backbone=lenet_bn method=source_only``, with the digits recipe's optimizer (configs/recipe/
digits_source_only.yaml: SGD, Nesterov momentum 0.9, lr 0.01, weight decay 5e-4, inv schedule, batch 128, no
bottleneck) cut to a CPU budget of **10 epochs × 100 steps** (SOURCE_EPOCHS, SOURCE_STEPS; fixed before any target
result was looked at, never tuned on one). Its last iterate starts every test-time run (``init_from=``).

Then each test-time method (``--methods``, each at its own YAML: its published settings) reads the target test
third under each corruption at ``--severity`` once, online (batches of its recipe's size, in an order shuffled by
the seed, each predicted before the method adapts on it), and once more as a continual stream through the corruptions in turn
(``method.stream_order=given``). The figure is the online error, 100 − ``online_accuracy`` %; the labels are used
only to score. The table gives mean ± std over seeds, the ratio to the unadapted model's error (``no_adaptation``,
always run: the issue's goal is TENT ≤ 0.8 × it) and flags (†) a method whose online accuracy falls more than
``--margin`` points below the unadapted model's (item 5). Runs go in-process through :func:`dasuite.train`.

    python scripts/tta_benchmark.py --data-root ../shared/data                 # 3 seeds, 15 corruptions
    python scripts/tta_benchmark.py --data-root ../shared/data --quick         # 1 seed, 2 corruptions: a smoke test
    python scripts/tta_benchmark.py --data-root ../shared/data --reuse tta_runs/20250101-120000

Completed runs found in ``--reuse`` are read, not retrained; the section is rewritten after every run, so a
partial table can be finished later. ``--quick`` writes to its run folder's ``tta_quick.md`` unless ``--output``
is given (a smoke test never replaces the real section). Run it alone: another process distorts the timings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

from benchmark import completed_run, machine, markers, write_section

#: The stream's batch sizes when --batch-size is not given: each method's recipe's (configs/method/<name>.yaml).
RECIPE_BATCHES = "each method's recipe's size (TENT, BN adaptation: 128; EATA, SAR, RDumb: 64)"
#: The source model's budget: the digits recipe cut to 10 epochs x 100 steps of batch 128 (module docstring).
SOURCE_EPOCHS, SOURCE_STEPS = 10, 100
#: The unadapted model: every method's error is compared with its error on the same stream.
REFERENCE = "no_adaptation"
#: The methods run when --methods is not given (those with a config in configs/method/), in this order.
DEFAULT_METHODS = ("no_adaptation", "bn_adapt", "tent", "eata", "sar", "rdumb")
#: The issue's goal: TENT's mean error at most this share of the unadapted model's.
GOAL_RATIO, GOAL_METHOD = 0.8, "tent"
QUIET = ["trainer.plots=false", "trainer.progress=false", "trainer.select=null"]


def adaptation_methods() -> list[str]:
    """The method configs whose class is a test-time method (dasuite.methods.test_time.TestTimeMethod)."""
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    from dasuite.config.catalog import choices, config_dir
    from dasuite.methods.test_time import TestTimeMethod

    names = []
    for name in choices("method"):
        config = OmegaConf.load(config_dir() / "method" / f"{name}.yaml")
        target = (config.get("method") or config).get("_target_")
        if target and issubclass(get_class(target), TestTimeMethod):
            names.append(name)
    return names


# ---- the runs ----

def common(seed: int, data_root: Path) -> list[str]:
    return ["dataset=mnist_corrupted", "backbone=lenet_bn", "backbone.bottleneck_dim=null", f"seed={seed}",
            f"data_root={data_root}", *QUIET]


def source_overrides(seed: int, data_root: Path, corruption: str, severity: int) -> list[str]:
    """The source-only run (its own evaluation is on ``corruption``'s target test third; its training never sees
    a target image)."""
    return [*common(seed, data_root), "method=source_only", f"dataset.corruption={corruption}",
            f"dataset.severity={severity}", f"trainer.epochs={SOURCE_EPOCHS}",
            f"trainer.steps_per_epoch={SOURCE_STEPS}"]


def adapt_overrides(method: str, corruption: str, severity: int, seed: int, source: Path, data_root: Path,
                    batch_size: int | None, continual: bool = False) -> list[str]:
    """A test-time run of ``method`` from ``source``: online on one corruption, or through a continual stream."""
    return [*common(seed, data_root), f"method={method}", f"dataset.corruption={corruption}",
            f"dataset.severity={severity}", f"init_from={source}", "method.protocol=online",
            *([f"trainer.batch_size={batch_size}"] if batch_size else []),
            *(["method.stream_order=given"] if continual else [])]


def stream_setting(corruptions: list[str]) -> str:
    """``dataset.corruption`` for a continual stream through ``corruptions`` in order."""
    from dasuite.data.corruptions import STANDARD

    return "all" if tuple(corruptions) == STANDARD else "[" + ",".join(corruptions) + "]"


def completed(run_dir: Path) -> dict | None:
    """The summary of a completed run in ``run_dir``, with ``shifts``: each shift's online accuracy (a continual
    stream's ``online/accuracy/<shift>``, from its last metrics record); None if there is none."""
    found = completed_run(run_dir)
    if found is None:
        return None
    summary, records = found
    prefix = "online/accuracy/"
    summary["shifts"] = {k[len(prefix):]: v for k, v in records[-1].items() if k.startswith(prefix)}
    return summary


def settings(overrides: list[str]) -> set[str]:
    """What a run's overrides set, but for its paths (a --reuse folder may have moved)."""
    return {o for o in overrides if not o.startswith(("data_root=", "init_from="))}


def run(overrides: list[str], run_dir: Path) -> dict:
    """One run, in this process (or, if ``run_dir`` holds a completed one, that one's summary)."""
    from dasuite import train

    summary = completed(run_dir)
    if summary is not None:
        asked, held = settings(overrides), settings(summary.get("overrides", []))
        if asked != held:
            raise SystemExit(f"{run_dir} holds a run of other settings ({sorted(held ^ asked)}): give a --reuse "
                             "folder of this invocation's settings, or none.")
        print(f"  reusing {run_dir}", flush=True)
        return summary
    if run_dir.exists() and any(run_dir.iterdir()):
        raise SystemExit(f"{run_dir} holds an unfinished run; delete that folder and run again with the same --reuse.")
    print("  dasuite train", " ".join(overrides), flush=True)
    train(overrides, run_dir=run_dir)
    return completed(run_dir)


# ---- the report ----

def error(accuracy: float) -> float:
    """Online error in %, from an accuracy in [0, 1]."""
    return 100.0 * (1.0 - accuracy)


def points(margin: float) -> str:
    return f"{margin:g} point{'' if margin == 1 else 's'}"


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def cell(values: list[float], reference: list[float] | None, margin: float) -> str:
    """``mean ± std`` of errors (%), with the ratio of means to ``reference``'s and † where the mean error exceeds
    the reference's by more than ``margin`` points (accuracy below it by more than ``margin``)."""
    if not values:
        return "pending"
    mean, std = mean_std(values)
    text = f"{mean:.1f} ± {std:.1f}"
    if reference:
        base = statistics.mean(reference)
        text += f" ({mean / base:.2f})" if base > 0 else " (–)"
        if mean - base > margin:
            text += " †"
    return text


def seed_means(per_corruption: dict[str, dict[int, float]], corruptions: list[str]) -> dict[int, float]:
    """Per seed, the mean error over ``corruptions``, for the seeds that have all of them."""
    seeds = set.intersection(*(set(per_corruption.get(c, {})) for c in corruptions)) if corruptions else set()
    return {s: statistics.mean(per_corruption[c][s] for c in corruptions) for s in sorted(seeds)}


def errors_by_seed(records: list[dict], key=lambda r: r["online_accuracy"]) -> dict[int, float]:
    return {r["seed"]: error(key(r)) for r in records}


def render(online: dict, continual: dict, args, command: str, started: str, machine_line: str) -> str:
    """The section: ``online[method][corruption]`` and ``continual[method]`` are lists of run summaries (one per
    seed: ``seed``, ``online_accuracy``, and for the continual runs ``shifts``, each shift's online accuracy)."""
    begin, end = markers(args.section)
    methods, corruptions, margin = args.methods, args.corruptions, args.margin
    errors = {m: {c: errors_by_seed(online.get(m, {}).get(c, [])) for c in corruptions} for m in methods}
    means = {m: seed_means(errors[m], corruptions) for m in methods}
    last = f"{corruptions[-1]}_{args.severity}"
    stream = {m: errors_by_seed(continual.get(m, [])) for m in methods}
    stream_last = {m: errors_by_seed([r for r in continual.get(m, []) if last in r["shifts"]],
                                     key=lambda r: r["shifts"][last]) for m in methods}
    durations = [r["duration_s"] for m in methods for runs in online.get(m, {}).values() for r in runs
                 if "duration_s" in r]

    def paired(table: dict[int, float], reference: dict[int, float]) -> tuple[list[float], list[float]]:
        """The errors of the seeds both have (a method and the reference over the same seeds)."""
        seeds = sorted(set(table) & set(reference))
        return [table[s] for s in seeds], [reference[s] for s in seeds]

    def row_cells(table: dict[str, dict[int, float]]) -> list[str]:
        out = []
        for m in methods:
            if m == REFERENCE:
                out.append(cell(list(table[m].values()), None, margin))
            else:
                values, reference = paired(table[m], table[REFERENCE])
                out.append(cell(values, reference, margin) if values else "pending")
        return out

    labels = [m.replace("_", " ") for m in methods]
    lines = [begin, f"### Test-time adaptation on corrupted MNIST (severity {args.severity}, online)", "",
             f"Measured {started} on: {machine_line}.", "",
             *(["**A `--quick` smoke test (1 seed, 2 corruptions): not a result.**", ""] if args.quick else []),
             "```", command, "```", "",
             "MNIST's 10,000-image test split (the 60k train split is not on these machines) is dealt into "
             "disjoint thirds by `dataset.seed=0`, the same in every run (`dataset=mnist_corrupted`): source, "
             "target and target test. Per seed, a source model (`backbone=lenet_bn`: LeNet with BatchNorm after "
             "each convolution, no bottleneck; `method=source_only`) trains on the clean source third (10% of it "
             "held out as source validation) with the digits recipe's optimizer (SGD, Nesterov momentum 0.9, lr "
             f"0.01, weight decay 5e-4, inv schedule) cut to {SOURCE_EPOCHS} epochs × {SOURCE_STEPS} steps of "
             "batch 128, a budget fixed before any target result was seen; its last iterate starts every "
             "test-time run (`init_from=`). Each method runs at its own config (its published settings, never "
             "tuned on target labels) on the target test third corrupted at severity "
             f"{args.severity} (dasuite/data/corruptions.py), online: one pass in batches of "
             f"{args.batch_size or RECIPE_BATCHES}, in an "
             "order shuffled by the seed, each batch predicted before the method adapts "
             "on it. The figure is the online error, 100 − online accuracy % over the whole stream (what the "
             "last iterate reports: the online predictions); no label is used except to score. The continual "
             "stream is the same corruptions one after another (`method.stream_order=given`), with no reset "
             f"beyond a method's own. The seed ({', '.join(map(str, args.seeds))}) sets the source model's "
             "initialisation and batch order and the stream's order; the thirds and the corruptions' randomness "
             "are fixed by `dataset.seed=0`. `no adaptation` is the source model as deployed (its trained "
             "BatchNorm statistics).", "",
             f"**Online, one corruption at a time.** Error % (mean ± std over seeds) and, in brackets, its ratio "
             f"to the unadapted model's error on the same seeds; † marks online accuracy more than {points(margin)} "
             "below the unadapted model's (adaptation hurt: issue 30, item 5).", "",
             "| corruption | " + " | ".join(labels) + " |", "| --- |" + " --- |" * len(methods)]
    for c in corruptions:
        lines.append(f"| {c.replace('_', ' ')} | " + " | ".join(row_cells({m: errors[m][c] for m in methods})) + " |")
    lines.append("| **mean over corruptions** | " + " | ".join(row_cells(means)) + " |")
    lines += ["", f"**Continual: the {len(corruptions)} corruptions in turn** (one stream, no reset beyond a method's "
              f"own), error % over the whole stream and on its last corruption "
              f"({corruptions[-1].replace('_', ' ')}), ratio and † as above.", "",
              "| method | whole stream | last corruption |", "| --- | --- | --- |"]
    for m, label, whole, end_part in zip(methods, labels, row_cells(stream), row_cells(stream_last)):
        lines.append(f"| {label} | {whole} | {end_part} |")
    lines += ["", *goals(means, stream, stream_last, methods), "",
              f"† online accuracy below the unadapted model's by more than {points(margin)}, mean over seeds.",
              *([f"Mean wall time of one online run: {statistics.mean(durations):.1f} s."] if durations else []),
              "", end]
    return "\n".join(lines)


def goals(means: dict, stream: dict, stream_last: dict, methods: list[str]) -> list[str]:
    """Issue 30's goals, as met or not by the figures at hand."""
    def ratio(table: dict, method: str) -> float | None:
        seeds = sorted(set(table[method]) & set(table[REFERENCE]))
        if not seeds:
            return None
        base = statistics.mean(table[REFERENCE][s] for s in seeds)
        return statistics.mean(table[method][s] for s in seeds) / base if base > 0 else None

    lines = ["Goals (issue 30):", ""]
    if GOAL_METHOD in methods and (r := ratio(means, GOAL_METHOD)) is not None:
        lines.append(f"- online, mean over corruptions: TENT error / unadapted error = {r:.2f} (goal ≤ {GOAL_RATIO}: "
                     f"{'met' if r <= GOAL_RATIO else 'not met'}).")
    others = [m for m in methods if m != REFERENCE]
    below = [m.replace("_", " ") for m in others if (r := ratio(stream, m)) is not None and r < 1]
    above = [m.replace("_", " ") for m in others if (r := ratio(stream_last, m)) is not None and r > 1]
    if any(stream[m] for m in others):
        lines.append(f"- continual, whole stream: below the unadapted model's error: "
                     f"{', '.join(below) if below else 'none'}.")
    if any(stream_last[m] for m in others):
        lines.append(f"- continual, last corruption: above the unadapted model's error: "
                     f"{', '.join(above) if above else 'none'} (goal: none).")
    return lines if len(lines) > 2 else []


# ---- the command ----

def parser() -> argparse.ArgumentParser:
    from dasuite.data.corruptions import CORRUPTIONS, STANDARD

    available = adaptation_methods()
    parse = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parse.add_argument("--data-root", type=Path, default=None, help="folder with mnist/ (the 10k test split is enough)")
    parse.add_argument("--methods", nargs="+", choices=available,
                       default=[m for m in DEFAULT_METHODS if m in available],
                       help=f"test-time methods ({REFERENCE}, the reference, is always run)")
    parse.add_argument("--corruptions", nargs="+", choices=list(CORRUPTIONS), default=list(STANDARD))
    parse.add_argument("--severity", type=int, choices=range(1, 6), default=5)
    parse.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parse.add_argument("--batch-size", type=int, default=None,
                       help="the stream's batch size, every method alike (default: each method's recipe's, with "
                            "the step size published for it)")
    parse.add_argument("--margin", type=float, default=1.0,
                       help="accuracy points below the unadapted model's that flag a method (†)")
    parse.add_argument("--quick", action="store_true", help="a smoke test: the first seed, the first 2 corruptions")
    parse.add_argument("--runs-dir", type=Path, default=Path("tta_runs"))
    parse.add_argument("--reuse", type=Path, default=None,
                       help="an earlier invocation's folder (<runs-dir>/<stamp>): its completed runs are read, "
                            "the others are run into it")
    parse.add_argument("--output", type=Path, default=None,
                       help="the Markdown file whose section is (re)written (BENCHMARKS.md; --quick: the run "
                            "folder's tta_quick.md)")
    parse.add_argument("--section", default="tta_digits")
    return parse


def parse_args(argv: list[str]):
    parse = parser()
    args = parse.parse_args(argv)
    if args.quick:
        args.seeds, args.corruptions = args.seeds[:1], args.corruptions[:2]
    args.methods = [REFERENCE, *dict.fromkeys(m for m in args.methods if m != REFERENCE)]
    if len(set(args.seeds)) != len(args.seeds) or len(set(args.corruptions)) != len(args.corruptions):
        parse.error(f"--seeds {args.seeds} and --corruptions {args.corruptions} must not repeat a value")
    return parse, args


def main() -> None:
    parse, args = parse_args(sys.argv[1:])
    if args.data_root is None:
        parse.error("--data-root is required: the folder holding mnist/")
    data_root = args.data_root.resolve()
    folder = args.reuse or args.runs_dir / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    output = args.output or (folder / "tta_quick.md" if args.quick else Path("BENCHMARKS.md"))
    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    command = "python scripts/tta_benchmark.py " + " ".join(sys.argv[1:])
    machine_line = machine()
    online = {m: {c: [] for c in args.corruptions} for m in args.methods}
    continual = {m: [] for m in args.methods}
    severity, stream = args.severity, stream_setting(args.corruptions)
    stream_name = f"{'all' if stream == 'all' else '-'.join(args.corruptions)}_{severity}"
    tick = time.perf_counter()

    def report() -> None:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_section(output, args.section, render(online, continual, args, command, started, machine_line))

    for seed in args.seeds:  # seed by seed: a partial table has every method
        print(f"source model, seed {seed}:", flush=True)
        source = folder / "source" / f"seed{seed}"
        run(source_overrides(seed, data_root, args.corruptions[0], severity), source)
        for corruption in args.corruptions:
            for method in args.methods:
                print(f"{method} on {corruption} {severity}, seed {seed}:", flush=True)
                summary = run(adapt_overrides(method, corruption, severity, seed, source, data_root, args.batch_size),
                              folder / "online" / method / f"{corruption}_{severity}" / f"seed{seed}")
                online[method][corruption].append(summary)
                report()
        for method in args.methods:
            print(f"{method} on the continual stream, seed {seed}:", flush=True)
            summary = run(adapt_overrides(method, stream, severity, seed, source, data_root, args.batch_size,
                                          continual=True), folder / "continual" / method / stream_name / f"seed{seed}")
            continual[method].append(summary)
            report()
    report()
    print(render(online, continual, args, command, started, machine_line))
    print(f"\n{time.perf_counter() - tick:.0f} s in all; runs in {folder}; section {args.section} of {output}")


if __name__ == "__main__":
    main()
