"""``dasuite report``: one table (and plots) over the run folders of single runs and sweeps.

:mod:`~dasuite.commands.report.runs` finds and reads run folders, :mod:`~dasuite.commands.report.groups` groups their
seeds into configurations, :mod:`~dasuite.commands.report.select` says what each label-free validator, EnsV
(:mod:`~dasuite.commands.report.ensv`) and the oracle would pick, :mod:`~dasuite.commands.report.table` and
:mod:`~dasuite.commands.report.plots` write the results. Arguments are checked, and runs read, with the
standard library and yaml alone; numpy reads the stored predictions, matplotlib draws; torch is
never imported.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dasuite.commands.report.select import DEFAULT_SELECT, ENSV
from dasuite.errors import ConfigError

DESCRIPTION = """\
Aggregate run folders (single runs and multirun sweeps, mixed) into one report: first the target
accuracy (or --metric) of the label-free pick of --select, the oracle that uses target labels beside it;
per configuration the target and source accuracy (mean ± std over seeds), the label-free pick kept in
best.pt and any further metric the runs record (mean per-class accuracy, ...); per validator and for
EnsV the configuration and epoch it would pick, its target accuracy and its regret against the oracle.
Failed and unfinished runs are listed, never averaged. Writes report.md, report.csv,
report_selection.csv, report_target_acc.png and report_curves.png (replacing only files it wrote
itself: a user's own report.md there stops it, naming the file)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one paragraph and exit 2, like every other dasuite error
        raise ConfigError(f"{message} (`dasuite report --help` explains the arguments).")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dasuite report", description=DESCRIPTION, allow_abbrev=False)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="run folders, sweep folders, or folders holding them")
    parser.add_argument("--by", metavar="KEYS", help="comma-separated config keys that make a configuration, e.g. "
                        "method,method.trade_off (default: the keys that differ between the runs, except seed)")
    parser.add_argument("--select", default=DEFAULT_SELECT, metavar="SELECTOR",
                        help=f"the headline's label-free pick: ensv, or a validator such as val/mixval (default "
                             f"{DEFAULT_SELECT}, trainer.select's default)")
    parser.add_argument("--metric", default="accuracy", metavar="NAME",
                        help="what picks, the oracle and regrets are measured by on the target test set: accuracy "
                             "(default) or another metric the runs record (trainer.metrics), e.g. mean_class_accuracy "
                             "for VisDA-2017")
    parser.add_argument("--per", metavar="KEYS", help="comma-separated config keys that split the runs into "
                        "separate selection problems, e.g. method,seed: each is solved alone and each validator's "
                        "mean and worst-case regret over them is reported (default: dataset, when the runs span "
                        "several pairs)")
    parser.add_argument("-o", "--out", metavar="DIR", help="where to write the report (default: the one PATH, or "
                        "the folder holding all PATHs); the report replaces only files it wrote itself there")
    parser.add_argument("--table", choices=["tasks"], help="tasks: the paper-style table of a dataset.task sweep instead "
                        "(a row per configuration, a column per task, then Avg; report_tasks.md and .tex)")
    parser.add_argument("--oracle", action="store_true", help="with --table tasks: the oracle's epochs (target labels)")
    return parser


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
        _check_combination(args)
        if args.table == "tasks":
            from dasuite.commands.report.tasks import report_tasks

            return report_tasks([Path(p).expanduser() for p in args.paths], args.select, args.oracle,
                                None if args.out is None else Path(args.out).expanduser(), args.metric)
        return report([Path(p).expanduser() for p in args.paths], by=args.by, per=args.per, select=args.select,
                      out=None if args.out is None else Path(args.out).expanduser(), metric=args.metric)
    except ConfigError as error:
        print(f"dasuite report: error: {error}", file=sys.stderr)
        return 2


def _check_combination(args: argparse.Namespace) -> None:
    """Options that do not go together: one paragraph naming them, before any run is read."""
    if args.table == "tasks":
        given = [option for option, value in (("--by", args.by), ("--per", args.per)) if value is not None]
        if given:
            verb = "do" if len(given) > 1 else "does"
            raise ConfigError(f"{' and '.join(given)} {verb} not apply to --table tasks: its rows are the "
                              "configurations (the keys that differ between the runs, less seed and the dataset keys "
                              "the task decides), its columns the tasks. Leave them out, or drop --table tasks for "
                              "the report that --by and --per shape.")
    elif args.oracle:
        raise ConfigError("--oracle shows the oracle in the task table: add --table tasks (the default report "
                          "already lists the oracle beside every label-free pick).")


def report(paths: list[Path], by: str | None = None, select: str = DEFAULT_SELECT, out: Path | None = None,
           per: str | None = None, metric: str = "accuracy") -> int:
    """Write and print the report; 0 when at least one run completed, else 1."""
    from dasuite.commands.report.groups import check_keys, default_keys, group_runs
    from dasuite.commands.report.measure import chosen
    from dasuite.commands.report.outputs import Outputs
    from dasuite.commands.report.problems import default_per, solve
    from dasuite.commands.report.runs import find_run_folders, load_run
    from dasuite.commands.report.select import validator_names
    from dasuite.commands.report.table import render_csv, render_markdown, render_selection_csv

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ConfigError(f"PATH {missing[0]} does not exist; give run folders or folders holding them "
                          "(runs/, multirun/<date>/<time>).")
    folders = find_run_folders(paths)
    if not folders:
        raise ConfigError(f"no run folders under {', '.join(map(str, paths))}: a run folder holds "
                          ".hydra/config.yaml, summary.json or metrics.jsonl (what `dasuite train` writes).")
    runs = [load_run(folder) for folder in folders]
    completed = [run for run in runs if run.status == "completed"]
    left_out = [run for run in runs if run.status != "completed"]
    validators = validator_names(runs)
    measure = chosen(metric, runs)
    select = select if select == ENSV or select.startswith("val/") else f"val/{select}"
    if select != ENSV and select[4:] not in validators:
        raise ConfigError(f"--select {select!r} is neither a validator nor a selector; valid choices: {ENSV}, "
                          f"{', '.join('val/' + v for v in validators)}.")
    per_keys = _key_list(per, "--per") if per is not None else default_per(completed)
    keys = _key_list(by, "--by") if by is not None else default_keys(completed or runs)
    if per is not None:
        check_keys(per_keys, runs, "--per")
    if by is not None:
        check_keys(keys, runs, "--by")
    keys = [k for k in keys if k not in per_keys]
    problems = solve(completed, per_keys, keys, validators, measure)
    out = out or (paths[0] if len(paths) == 1 and paths[0].is_dir() else Path(os.path.commonpath(
        [str(p.resolve() if p.is_dir() else p.resolve().parent) for p in paths])))
    groups = group_runs(completed, per_keys + keys)
    written = ["report.md", "report.csv", "report_selection.csv",
               *(["report_target_acc.png", "report_curves.png"] if groups else [])]
    outputs = Outputs(out)
    outputs.check(written)
    markdown = render_markdown(keys, per_keys, problems, select, left_out, ", ".join(map(str, paths)), out.resolve(),
                               measure)
    outputs.write("report.md", markdown)
    outputs.write("report.csv", render_csv(per_keys + keys, groups))
    outputs.write("report_selection.csv", render_selection_csv(per_keys, keys, problems, measure))
    if groups:
        from dasuite.commands.report.plots import plot_curves, plot_target_acc

        pick = next(r for r in problems[0].rows if r.name == select).any_epoch if len(problems) == 1 else None
        plot_target_acc(groups, per_keys + keys, pick, select, out / "report_target_acc.png")
        outputs.record("report_target_acc.png")
        plot_curves(groups, per_keys + keys, out / "report_curves.png")
        outputs.record("report_curves.png")
    for run in left_out:
        if run.status == "unreadable":
            print(f"dasuite report: left out {run.path}: {run.problem}", file=sys.stderr)
    print(markdown)
    print(f"Wrote {', '.join(written)} in {out}")
    if not completed:
        print(f"dasuite report: no completed run among the {len(runs)} found (listed above).", file=sys.stderr)
    return 0 if completed else 1


def _key_list(text: str, option: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        raise ConfigError(f"{option} {text!r} names no config key; give comma-separated keys such as "
                          "method,method.trade_off.")
    return keys
