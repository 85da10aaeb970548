"""``dasuite report PATH --table tasks``: a sweep over ``dataset.task`` as the field's results table.

One row per configuration (the runs' differing keys, less ``seed`` and the ``dataset.*`` keys the task
decides, such as ``dataset.source``), one column per task in the order the sweep first ran them, then
Avg, the mean over the tasks. A cell is the mean over seeds of the target accuracy (or ``--metric``) at the epoch each
run picks: by default the label-free pick of ``--select`` (a validator, as ``trainer.select`` keeps
``best.pt``, or EnsV across the runs that share a target sample); with ``--oracle`` the epoch of best
target accuracy instead, labelled as such. A cell lacks a value when a seed has no pick; Avg needs
every task. The best value of each column is bold. Written as report_tasks.md and report_tasks.tex.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from dasuite.commands.report.groups import default_keys, format_value, group_runs
from dasuite.commands.report.measure import Measure, chosen
from dasuite.commands.report.outputs import Outputs
from dasuite.commands.report.runs import CHOICES, Run, find_run_folders, load_run
from dasuite.commands.report.select import ENSV, ORACLE, run_pick, validator_names
from dasuite.errors import ConfigError

TASK = "dataset.task"
AVG = "Avg"


@dataclass
class TaskTable:
    """Rows of per-task accuracies in percent (None: no value), the tasks' order and what picked the epochs."""

    heading: str
    tasks: list[str]
    labels: list[str]
    cells: list[list[float | None]]  # per row: one value per task, then Avg


def task_of(run: Run) -> str:
    """``dataset.task``, or the dataset's name for a pair without tasks."""
    return str(run.config.get(TASK) or run.config.get("dataset"))


def task_table(runs: list[Run], select: str, oracle: bool = False, measure: Measure = Measure()) -> TaskTable:
    """The table of the completed ``runs``' ``measure``; ``select`` is ``ensv`` or ``val/<validator>``."""
    tasks = list(dict.fromkeys(task_of(run) for run in runs))
    keys = [k for k in default_keys(runs) if k != TASK and not _decided_by_task(k, runs)]
    if oracle:
        picks = {run.path: run_pick(run, measure.key, guard=False) for run in runs}
    elif select == ENSV:
        from dasuite.commands.report.ensv import ensv_records  # numpy, to read the stored predictions

        picks = ensv_records(runs, last=False)
    else:
        picks = {run.path: run_pick(run, select) for run in runs}
    labels, cells = [], []
    for group in group_runs(runs, keys):
        labels.append(", ".join(format_value(v) if k in CHOICES else f"{k}={format_value(v)}"
                                for k, v in zip(keys, group.values)))
        row = [_cell([picks.get(run.path) for run in group.runs if task_of(run) == task], measure.key)
               for task in tasks]
        known = [v for v in row if v is not None]
        cells.append([*row, statistics.fmean(known) if len(known) == len(row) else None])
    how = ORACLE if oracle else f"label-free pick of {select}"
    return TaskTable(f"{measure.label.capitalize()} (%) per task: {how}", tasks, labels, cells)


def _decided_by_task(key: str, runs: list[Run]) -> bool:
    """A ``dataset.*`` key whose value the task determines (``dataset.source`` for ``dataset.task=A2W``)."""
    if not key.startswith("dataset."):
        return False
    seen: dict = {}
    return all(seen.setdefault(task_of(run), run.config.get(key)) == run.config.get(key) for run in runs)


def _cell(records: list[dict | None], key: str) -> float | None:
    """Mean ``key`` (%) over the seeds' picked records; None if a seed has none or there are no runs."""
    values = [r.get(key) if r else None for r in records]
    if not values or any(not isinstance(v, (int, float)) for v in values):
        return None
    return 100 * statistics.fmean(values)


def _best(table: TaskTable) -> list[float | None]:
    columns = list(zip(*table.cells)) if table.cells else []
    return [max((v for v in column if v is not None), default=None) for column in columns]


def _task_name(task: str, arrow: str, escape=lambda text: text) -> str:
    """``A2W`` as ``A→W`` (``arrow``); other names as they are, each part passed through ``escape``."""
    match = re.fullmatch(r"([A-Za-z]+)2([A-Za-z]+)", task)
    return f"{escape(match[1])}{arrow}{escape(match[2])}" if match else escape(task)


def render_markdown(table: TaskTable, semantics: str) -> str:
    best = _best(table)
    header = ["method", *(_task_name(t, "→") for t in table.tasks), AVG]
    lines = [f"# {table.heading}", "", semantics, "", "| " + " | ".join(header) + " |",
             "| --- |" + " ---: |" * (len(header) - 1)]
    for label, row in zip(table.labels, table.cells):
        values = ["—" if v is None else f"**{v:.1f}**" if v == b else f"{v:.1f}" for v, b in zip(row, best)]
        lines.append("| " + " | ".join([label.replace("|", "\\|"), *values]) + " |")
    return "\n".join(lines) + "\n"


def render_latex(table: TaskTable) -> str:
    best = _best(table)
    header = ["Method", *(_task_name(t, "$\\to$", _latex) for t in table.tasks), AVG]
    lines = [f"% {table.heading}", "\\begin{tabular}{l" + "r" * (len(header) - 1) + "}", "\\toprule",
             " & ".join(header) + " \\\\", "\\midrule"]
    for label, row in zip(table.labels, table.cells):
        values = ["--" if v is None else f"\\textbf{{{v:.1f}}}" if v == b else f"{v:.1f}" for v, b in zip(row, best)]
        lines.append(" & ".join([_latex(label), *values]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def _latex(text: str) -> str:
    return re.sub(r"([&%$#_{}])", r"\\\1", text)


def report_tasks(paths: list[Path], select: str, oracle: bool = False, out: Path | None = None,
                 metric: str = "accuracy") -> int:
    """Write report_tasks.md and report_tasks.tex and print the Markdown; 0 when a run completed, else 1."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ConfigError(f"PATH {missing[0]} does not exist; give run folders or folders holding them "
                          "(runs/, multirun/<date>/<time>).")
    runs = [load_run(folder) for folder in find_run_folders(paths)]
    completed = [run for run in runs if run.status == "completed"]
    select = select if select == ENSV or select.startswith("val/") else f"val/{select}"
    validators = validator_names(runs)
    if select != ENSV and select[4:] not in validators:
        raise ConfigError(f"--select {select!r} is neither a validator nor a selector; valid choices: {ENSV}, "
                          f"{', '.join('val/' + v for v in validators)}.")
    measure = chosen(metric, runs)
    if not completed:
        print(f"dasuite report: no completed run among the {len(runs)} found under "
              f"{', '.join(map(str, paths))}.", file=sys.stderr)
        return 1
    result = task_table(completed, select, oracle, measure)
    picked = (f"the epoch of best {measure.label}: an upper bound no label-free procedure can claim" if oracle
              else f"the epoch {select} picks without target labels" + (" (agreement with the runs sharing the "
                                                                         "target sample)" if select == ENSV else ""))
    semantics = (f"Each cell: the mean over a configuration's seeds of the {measure.label} at {picked}; Avg: the mean "
                 f"over the {len(result.tasks)} task(s). {len(completed)} completed run(s) of {len(runs)} found; "
                 "— : a seed without a pick.")
    out = out or (paths[0] if len(paths) == 1 and paths[0].is_dir() else Path(os.path.commonpath(
        [str(p.resolve() if p.is_dir() else p.resolve().parent) for p in paths])))
    outputs = Outputs(out)
    outputs.check(["report_tasks.md", "report_tasks.tex"])
    markdown = render_markdown(result, semantics)
    outputs.write("report_tasks.md", markdown)
    outputs.write("report_tasks.tex", render_latex(result))
    print(markdown)
    print(f"Wrote report_tasks.md, report_tasks.tex in {out}")
    return 0
