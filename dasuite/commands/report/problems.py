"""Selection problems: the runs split by ``--per`` keys, each solved alone, and each selector's regret over them.

A selection problem is the choice a user makes once: "which of these configurations and epochs do I
keep?". ``dasuite report --per method,seed`` makes one problem per method and seed (pick λ and the
epoch among that method's runs of that seed); without ``--per``, runs of different pairs are separate
problems (a pick never crosses datasets) and runs of one pair are one problem. Each problem is solved
by every validator, EnsV and the oracle (:mod:`dasuite.commands.report.select`); a selector's summary is its
mean regret over the problems and its **worst-case** regret, the figure EnsV's paper is about.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from dasuite.commands.report.groups import Group, format_value, group_runs
from dasuite.commands.report.measure import Measure
from dasuite.commands.report.runs import Run
from dasuite.commands.report.select import Row, selection_rows

#: What separates problems when ``--per`` is not given: a pick never crosses pairs.
DEFAULT_PER = ("dataset",)


@dataclass
class Problem:
    """The runs sharing one value tuple of the ``--per`` keys, grouped into configurations and solved."""

    values: tuple
    groups: list[Group]
    rows: list[Row]

    def label(self, per: list[str]) -> str:
        return ", ".join(f"{k}={format_value(v)}" for k, v in zip(per, self.values)) or "all runs"


@dataclass
class Regret:
    """One selector's regrets over the problems (None where it could not pick)."""

    name: str
    any_epoch: list[float | None]
    last_epoch: list[float | None]


def default_per(runs: list[Run]) -> list[str]:
    """``dataset`` when the runs span more than one pair, else nothing (one problem)."""
    return [k for k in DEFAULT_PER if len({run.config.get(k) for run in runs}) > 1]


def solve(runs: list[Run], per: list[str], keys: list[str], validators: list[str],
          measure: Measure = Measure()) -> list[Problem]:
    """One solved :class:`Problem` per distinct value tuple of ``per`` in sorted order; without ``per``, one;
    picks measured by ``measure``."""
    parts = [(g.values, g.runs) for g in group_runs(runs, per)] if per else [((), runs)]
    return [Problem(values, groups := group_runs(members, keys), selection_rows(groups, validators, measure.key))
            for values, members in parts]


def regrets(problems: list[Problem]) -> list[Regret]:
    """Per selector (in the rows' order, the oracle left out), its regret in each problem."""
    names = [row.name for row in problems[0].rows[:-1]] if problems else []
    found = []
    for name in names:
        rows = [next(r for r in p.rows if r.name == name) for p in problems]
        found.append(Regret(name, [r.regret_any for r in rows], [r.regret_last for r in rows]))
    return found


def summary(values: list[float | None]) -> tuple[float | None, float | None, int | None]:
    """Mean and worst (largest) regret over the problems where the selector picked, and the worst's index;
    all None when it picked in none."""
    known = [(v, i) for i, v in enumerate(values) if v is not None]
    if not known:
        return None, None, None
    worst, index = max(known, key=lambda pair: pair[0])  # the first of equal worsts
    return statistics.fmean(v for v, _ in known), worst, index
