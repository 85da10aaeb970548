"""What each label-free validator, and EnsV, would pick in a sweep, beside the oracle that uses target labels.

Two selection problems, each solved by every validator, by EnsV and by the oracle:

* **any epoch** (the model ``checkpoints/best.pt`` keeps): each run picks its own epoch as
  ``trainer.select=<validator>`` does (:mod:`dasuite.engine.selection`): the best score among the
  epochs of the method's last stage, an epoch the collapse guard flags losing to any unflagged one,
  ties keeping the earlier epoch. A configuration's score is the mean over its seeds of their
  picked scores; the configuration with the best score wins, a configuration with a flagged pick
  losing to any without one.
* **last epoch** (the model ``checkpoints/last.pt`` keeps): a configuration's score is the mean over
  its seeds of the last epoch's score; flagged last epochs lose as above.

EnsV (:mod:`dasuite.commands.report.ensv`) scores each run's candidate (its own EnsV pick, or its last epoch)
by its agreement with the ensemble of the runs sharing its target sample, then picks the same way.
A pick's accuracy is the mean (± std) over its seeds of the target accuracy at the picked epochs
(``--metric``: of another target metric, :mod:`dasuite.commands.report.measure`). The oracle picks
the same way by that figure itself, without the guard; regret is the oracle's figure minus the
pick's, in points. A configuration where a seed lacks the score cannot be picked
by it. Ties between configurations keep the earlier one in the table, and the pick records the
configurations it tied with: such a pick is arbitrary (a source validation set too small to tell them
apart, say), and the report says so.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from dasuite.commands.report.groups import Group
from dasuite.commands.report.measure import Measure
from dasuite.commands.report.runs import Run

#: The validators of :data:`dasuite.validators.VALIDATORS`, named here so the report needs no torch.
VALIDATORS = ("source_acc", "iwcv", "dev", "entropy", "im", "bnm", "class_ami", "snd", "mixval")
#: EnsV's row and ``--select`` name (:mod:`dasuite.commands.report.ensv`)
ENSV = "ensv"
#: ``--select``'s default: ``trainer.select``'s (configs/trainer/default.yaml)
DEFAULT_SELECT = ENSV
ORACLE = "oracle (uses target labels)"
#: the record key of what picks are measured by, unless ``--metric`` names another
TARGET = Measure().key


@dataclass
class Pick:
    """A configuration and, per seed, the picked epoch and its target accuracy (or ``--metric``)."""

    group: Group
    score: float
    epochs: list[int]
    targets: list[float]
    flagged: int  # how many of its seeds' picked epochs the collapse guard flags
    tied: list[Group] = field(default_factory=list)  # the other configurations with the same score

    @property
    def collapsed(self) -> bool:
        """Some seed's pick is flagged: the configuration loses to any without a flagged pick."""
        return self.flagged > 0

    @property
    def target(self) -> tuple[float | None, float | None]:
        return mean_std(self.targets)


@dataclass
class Row:
    """One line of the selection table: a validator's (or the oracle's) two picks and their regrets."""

    name: str
    any_epoch: Pick | None
    last_epoch: Pick | None
    regret_any: float | None = None
    regret_last: float | None = None


def validator_names(runs: list[Run]) -> list[str]:
    """The known validators, then any other ``val/<name>`` the runs record."""
    found = {k[4:] for run in runs for record in run.metrics for k in record if k.startswith("val/")}
    return [*VALIDATORS, *sorted(found - set(VALIDATORS))]


def selection_rows(groups: list[Group], validators: list[str], target: str = TARGET) -> list[Row]:
    """A row per validator, then EnsV's, then the oracle's, their picks measured by the record key ``target``;
    regrets against the oracle."""
    from dasuite.commands.report.ensv import ensv_records  # numpy, to read the stored predictions

    runs = [run for group in groups for run in group.runs]
    oracle = Row(ORACLE, choose(groups, target, partial(run_pick, key=target, guard=False), guard=False,
                                target=target),
                 choose(groups, target, last_record, guard=False, target=target))
    rows = [Row(f"val/{name}", choose(groups, f"val/{name}", partial(run_pick, key=f"val/{name}"), target=target),
                choose(groups, f"val/{name}", last_record, target=target)) for name in validators]
    any_epoch, last_epoch = ensv_records(runs, last=False), ensv_records(runs, last=True)
    rows.append(Row(ENSV, choose(groups, ENSV, lambda run: any_epoch.get(run.path), target=target),
                    choose(groups, ENSV, lambda run: last_epoch.get(run.path), target=target)))
    for row in rows:
        row.regret_any = _regret(oracle.any_epoch, row.any_epoch)
        row.regret_last = _regret(oracle.last_epoch, row.last_epoch)
    return [*rows, oracle]


def choose(groups: list[Group], key: str, record_of: Callable[[Run], dict | None], guard: bool = True,
           target: str = TARGET) -> Pick | None:
    """The configuration whose runs' records (``record_of``: each run's candidate epoch) have the best
    mean ``key``, with the configurations that score the same in ``tied``, measured by ``target``; None if no
    group has one."""
    picks = [p for p in (_group_pick(g, key, record_of, guard, target) for g in groups) if p is not None]
    pool = [p for p in picks if not p.collapsed] or picks
    if not pool:
        return None
    best = max(pool, key=lambda p: p.score)  # max keeps the first of equals
    best.tied = [p.group for p in pool if p is not best and math.isclose(p.score, best.score, rel_tol=1e-9)]
    return best


def _group_pick(group: Group, key: str, record_of: Callable[[Run], dict | None], guard: bool,
                target: str) -> Pick | None:
    records = [record_of(run) for run in group.runs]
    if any(record is None or _finite(record.get(key)) is None for record in records):
        return None
    return Pick(group, statistics.fmean(r[key] for r in records), [r.get("epoch") for r in records],
                [r.get(target) for r in records], sum(guard and _flagged(r) for r in records))


def last_record(run: Run) -> dict | None:
    """The record of the run's last evaluated epoch."""
    return (run.final_stage[-1:] or [None])[0]


def run_pick(run: Run, key: str, guard: bool = True) -> dict | None:
    """The record of the final-stage epoch ``trainer.select`` would keep by ``key`` (None: never scored)."""
    scored = [r for r in run.final_stage if _finite(r.get(key)) is not None]
    # max keeps the first of equals: the earlier epoch
    return max(scored, key=lambda r: (not (guard and _flagged(r)), r[key])) if scored else None


def _flagged(record: dict) -> bool:
    return bool(record.get("guard/collapsed"))


def _finite(value) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else None


def _regret(oracle: Pick | None, pick: Pick | None) -> float | None:
    if oracle is None or pick is None or pick.target[0] is None:
        return None
    return 100 * (oracle.target[0] - pick.target[0])


def mean_std(values) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (0 for one value) of the numbers among ``values``."""
    numbers = [v for v in values if _finite(v) is not None]
    if not numbers:
        return None, None
    return statistics.fmean(numbers), statistics.stdev(numbers) if len(numbers) > 1 else 0.0
