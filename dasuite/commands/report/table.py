"""The report's tables as Markdown (percent, for people) and CSV (fractions, for programs)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from dasuite.commands.report.groups import Group, format_value
from dasuite.commands.report.measure import Measure, beside_accuracy
from dasuite.commands.report.problems import Problem, regrets, summary
from dasuite.commands.report.runs import Run
from dasuite.commands.report.select import ORACLE, Pick, last_record, mean_std

SEMANTICS = """\
Validators score a model without target labels (higher is better). **Any epoch**: each run keeps the
epoch of its method's last stage with the best score (as `trainer.select` does for
`checkpoints/best.pt`), and the configuration with the best mean score over its seeds wins.
**Last epoch**: the configuration whose last epoch has the best mean score wins. **ensv** scores each
run's candidate (its own EnsV pick among its epochs, or its last epoch) by its agreement with the
ensemble of the runs that share its target sample (same seed and dataset), averaged over seeds.
Epochs the collapse guard flags (`guard/collapsed`) lose to any unflagged one. A pick's {label} is the
mean ± std over the seeds at the picked epochs. The oracle picks by {label} itself: an upper bound no
label-free procedure can claim. Regret = oracle − pick, in points. n/a: no run
records the score (ensv: no run stores predictions)."""
REGRET_SEMANTICS = """\
Each problem is solved alone, as above, and each validator's regret (oracle − pick, in points) is
averaged over the problems where it could pick; the worst case is its largest regret and the problem it
happened in. A selector that is safe for a user has a small worst case, not only a small mean."""


def configuration_rows(groups: list[Group], keys: list[str], extra: Sequence[Measure] = ()) -> list[dict]:
    """Per configuration: its key values, seeds, and the mean/std of the summaries' accuracies (and of the
    ``extra`` metrics' last-iterate and best.pt figures)."""
    rows = []
    for group in groups:
        summaries = [run.summary for run in group.runs]
        row = {key: value for key, value in zip(keys, group.values)}
        row.update(runs=len(group.runs), seeds=[run.config.get("seed") for run in group.runs])
        for field in ("target_acc", "source_acc", "best_target_acc", *(f"{p}{m.field}" for m in extra
                                                                       for p in ("", "best_"))):
            row[f"{field}_mean"], row[f"{field}_std"] = mean_std(s.get(field) for s in summaries)
        row["best_epochs"] = [s.get("best_epoch") for s in summaries]
        row["select"] = sorted({str(s["select"]) for s in summaries if s.get("select")})
        row["last_flagged"] = sum(bool((last_record(run) or {}).get("guard/collapsed")) for run in group.runs)
        rows.append(row)
    return rows


def render_markdown(keys: list[str], per: list[str], problems: list[Problem], select: str, left_out: list[Run],
                    where: str, relative_to: Path, measure: Measure = Measure()) -> str:
    """report.md: one problem as headline, configurations and selection table; several problems (``--per``,
    or runs of several pairs) first as each selector's regret over them, then a section each. Picks are
    measured by ``measure``."""
    runs = sum(len(g.runs) for p in problems for g in p.groups)
    configurations = sum(len(p.groups) for p in problems)
    grouping = (f"grouped by {', '.join(keys)} (the seeds of a configuration are averaged)" if keys
                else "each problem's runs form one configuration")
    lines = ["# dasuite report", ""]
    if len(problems) == 1 and not per:
        problem = problems[0]
        lines += [_headline(problem, select, keys, measure), "",
                  f"{runs} completed run(s) in {configurations} configuration(s) under {where}; {grouping}.", ""]
        lines += _problem_lines(keys, problem, select, "##", measure)
    else:
        lines += [_regret_headline(problems, select, per), "",
                  f"{runs} completed run(s) in {configurations} configuration(s) under {where}, in "
                  f"{len(problems)} selection problem(s) by {', '.join(per)} (each solved alone); {grouping}.", "",
                  "## Regret over the selection problems", "", REGRET_SEMANTICS, ""]
        lines += _regret_table(problems, select, per)
        for problem in problems:
            lines += ["", f"## {problem.label(per)}", "", _headline(problem, select, keys, measure), ""]
            lines += _problem_lines(keys, problem, select, "###", measure)
    if left_out:
        lines += ["", f"## Runs left out of the tables ({len(left_out)})", ""]
        lines += _markdown_table(["run", "status", "error"],
                                 [[_relative(run.path, relative_to), run.status, _cell(run.error) or "-"]
                                  for run in left_out])
    return "\n".join(lines) + "\n"


def _problem_lines(keys: list[str], problem: Problem, select: str, level: str, measure: Measure) -> list[str]:
    """One problem's configurations table (the metrics beyond accuracy that its runs record last) and selection
    table."""
    extra = beside_accuracy([run for group in problem.groups for run in group.runs])
    lines = [f"{level} Configurations", ""]
    lines += _markdown_table(
        [*keys, "runs", "seeds", "target acc % (last epoch)", "source acc % (last epoch)",
         "collapse guard (last epoch)", "best.pt target acc %", "best.pt epochs", "best.pt selected by",
         *(h for m in extra for h in (f"{m.short} % (last epoch)", f"best.pt {m.short} %"))],
        [[*(format_value(r[k]) for k in keys), str(r["runs"]), _list(r["seeds"]),
          _percent(r["target_acc_mean"], r["target_acc_std"]), _percent(r["source_acc_mean"], r["source_acc_std"]),
          _flags(r["last_flagged"], r["runs"]),
          _percent(r["best_target_acc_mean"], r["best_target_acc_std"]), _list(r["best_epochs"]),
          ", ".join(r["select"]) or "n/a",
          *(_percent(r[f"{f}_mean"], r[f"{f}_std"]) for m in extra for f in (m.field, f"best_{m.field}"))]
         for r in configuration_rows(problem.groups, keys, extra)])
    lines += ["", f"{level} Model selection without target labels", "", SEMANTICS.format(label=measure.label), ""]
    lines += _markdown_table(
        ["validator", "any epoch: configuration", "epochs (per seed)", f"{measure.short} %", "regret (points)",
         "last epoch: configuration", f"{measure.short} %", "regret (points)"],
        [[f"**{row.name}**" if row.name == select else row.name,
          *_pick_cells(row.any_epoch, keys, epochs=True), _points(row.regret_any),
          *_pick_cells(row.last_epoch, keys, epochs=False), _points(row.regret_last)] for row in problem.rows])
    ties = _tie_lines(problem)
    if ties:
        lines += ["", *ties]
    if any(p is not None and p.collapsed for row in problem.rows for p in (row.any_epoch, row.last_epoch)):
        lines += ["", "(flagged): the collapse guard flags every seed's picked epoch, so every configuration had a "
                  "flagged seed; (flagged in k of n seeds): the seeds disagree, the guard flags k of them."]
    return lines


def _regret_headline(problems: list[Problem], select: str, per: list[str]) -> str:
    found = next(r for r in regrets(problems) if r.name == select)
    mean, worst, index = summary(found.any_epoch)
    if mean is None:
        return f"**No label-free pick:** no run records `{select}`."
    return (f"**`{select}` (the label-free pick), over {len(problems)} selection problems: mean regret "
            f"{_points(mean)} points, worst case {_points(worst)} ({problems[index].label(per)})**, against the "
            f"{ORACLE} of each problem.")


def _regret_table(problems: list[Problem], select: str, per: list[str]) -> list[str]:
    rows = []
    for found in regrets(problems):
        cells = [f"**{found.name}**" if found.name == select else found.name]
        for values in (found.any_epoch, found.last_epoch):
            mean, worst, index = summary(values)
            cells += [_points(mean), "n/a" if worst is None else f"{_points(worst)} ({problems[index].label(per)})",
                      f"{sum(v is not None for v in values)} of {len(values)}"]
        rows.append(cells)
    return _markdown_table(["validator", "any epoch: mean regret", "worst regret (problem)", "picked in",
                            "last epoch: mean regret", "worst regret (problem)", "picked in"], rows)


def _headline(problem: Problem, select: str, keys: list[str], measure: Measure) -> str:
    row = next(r for r in problem.rows if r.name == select)
    oracle = problem.rows[-1].any_epoch
    if row.any_epoch is None:
        return (f"**No label-free pick:** no run records `{select}` (runs trained before it existed, or without "
                "it). The last-epoch accuracies below are the honest numbers.")
    pick = row.any_epoch
    text = (f"**{_percent(*pick.target)} % {measure.label}: the label-free pick by `{select}`**, "
            f"{pick.group.label(keys)}{_flag_note(pick)}, epochs {_list(pick.epochs)} (per seed, "
            f"{len(pick.targets)} seed(s)).")
    if oracle is not None:
        text += (f" Beside it, the {ORACLE}: {_percent(*oracle.target)} %, {oracle.group.label(keys)}, epochs "
                 f"{_list(oracle.epochs)}; regret {_points(row.regret_any)} points.")
    if pick.tied:
        text += f" `{select}` {_ties(pick, problem)}."
    return text


def _tie_lines(problem: Problem) -> list[str]:
    """A bullet per label-free pick that tied with other configurations (the oracle's ties change nothing)."""
    return [f"- `{row.name}` ({selection}) {_ties(pick, problem)}." for row in problem.rows[:-1]
            for selection, pick in (("any epoch", row.any_epoch), ("last epoch", row.last_epoch))
            if pick is not None and pick.tied]


def _ties(pick: Pick, problem: Problem) -> str:
    """How many of the problem's runs share the pick's score: "ties across 9 of 9 runs (3 configurations): ..."."""
    tied = sum(len(g.runs) for g in [pick.group, *pick.tied])
    runs = sum(len(g.runs) for g in problem.groups)
    return (f"ties across {tied} of {runs} runs ({len(pick.tied) + 1} configurations): its pick "
            f"{'is' if tied == runs else 'among them is'} arbitrary")


def _pick_cells(pick: Pick | None, keys: list[str], epochs: bool) -> list[str]:
    if pick is None:
        return ["n/a", "n/a", "n/a"] if epochs else ["n/a", "n/a"]
    label = pick.group.label(keys) + _flag_note(pick)
    return [label, _list(pick.epochs), _percent(*pick.target)] if epochs else [label, _percent(*pick.target)]


def _flag_note(pick: Pick) -> str:
    if not pick.flagged:
        return ""
    seeds = len(pick.targets)
    return " (flagged)" if pick.flagged == seeds else f" (flagged in {pick.flagged} of {seeds} seeds)"


def _flags(flagged: int, runs: int) -> str:
    """How many of a configuration's runs the collapse guard flags, saying when its seeds disagree."""
    if flagged == 0:
        return "none flagged"
    return "all flagged" if flagged == runs else f"{flagged} of {runs} flagged: the seeds disagree"


def render_csv(keys: list[str], groups: list[Group]) -> str:
    """report.csv: one row per configuration, accuracies (and the metrics beyond accuracy the runs record) as
    fractions."""
    extra = beside_accuracy([run for group in groups for run in group.runs])
    rows = configuration_rows(groups, keys, extra)
    columns = [*keys, "runs", "seeds", "target_acc_mean", "target_acc_std", "source_acc_mean", "source_acc_std",
               "last_flagged", "best_target_acc_mean", "best_target_acc_std", "best_epochs", "select",
               *(f"{f}_{s}" for m in extra for f in (m.field, f"best_{m.field}") for s in ("mean", "std"))]
    return _csv(columns, [[_csv_value(r[c]) for c in columns] for r in rows])


def render_selection_csv(per: list[str], keys: list[str], problems: list[Problem], measure: Measure = Measure()) -> str:
    """report_selection.csv: per problem, each validator's picks (and the oracle's), measured by ``measure``
    (``target_acc_mean``, ...) as fractions."""
    columns = [*per, "validator", "selection", "configuration", "epochs", f"{measure.field}_mean",
               f"{measure.field}_std", "regret_points", "all_flagged", "flagged_seeds"]
    lines = []
    for problem in problems:
        where = [format_value(v) for v in problem.values]
        for row in problem.rows:
            for selection, pick, regret in (("any_epoch", row.any_epoch, row.regret_any),
                                            ("last_epoch", row.last_epoch, row.regret_last)):
                if pick is None:
                    lines.append([*where, row.name, selection, "", "", "", "", "", "", ""])
                    continue
                lines.append([*where, row.name, selection, pick.group.label(keys), _csv_value(pick.epochs),
                              *map(_csv_value, pick.target), _csv_value(regret),
                              _csv_value(pick.flagged == len(pick.targets)), str(pick.flagged)])
    return _csv(columns, lines)


def _csv(columns: list[str], rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(_csv_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return format_value(value)


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def _percent(mean: float | None, std: float | None) -> str:
    return "n/a" if mean is None else f"{100 * mean:.1f} ± {100 * std:.1f}"


def _points(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _list(values: list) -> str:
    return ", ".join("n/a" if v is None else format_value(v) for v in values) or "n/a"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
