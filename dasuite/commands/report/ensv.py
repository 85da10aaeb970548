"""EnsV across the runs of a sweep (:mod:`dasuite.engine.ensv`), from the predictions each run stores.

Each run offers one candidate: its last epoch, or (any epoch) the epoch EnsV picks among its own
last-stage epochs, as ``trainer.select=ensv`` does. Candidates are ensembled with the runs that
share their target sample, the validators' sample drawn by the run's seed: runs with the same seed
and dataset settings. A run's score (``ensv`` in its candidate's record) is its agreement with that
ensemble; a run alone in its cohort has nothing to agree with and no score (it would agree fully and
win). Runs without stored predictions (trained before dasuite stored them) have no score either. numpy is imported only here, when predictions are read.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from dasuite.commands.report.groups import IGNORED
from dasuite.commands.report.runs import Run
from dasuite.commands.report.select import ENSV
from dasuite.engine.ensv import agreements, pick
from dasuite.engine.predictions import load_predictions, predictions_file


def ensv_records(runs: list[Run], last: bool) -> dict[Path, dict]:
    """Per run with stored predictions: its candidate's metrics record, with ``ensv`` its agreement."""
    candidates = {run.path: found for run in runs if (found := _candidate(run, last)) is not None}
    cohorts: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        if run.path in candidates:
            cohorts[_cohort(run, candidates[run.path][1].shape)].append(run)
    scored = {}
    for members in (m for m in cohorts.values() if len(m) > 1):
        for run, score in zip(members, agreements([candidates[run.path][1] for run in members])):
            scored[run.path] = {**candidates[run.path][0], ENSV: score}
    return scored


def _candidate(run: Run, last: bool):
    """(record, probabilities) of the run's candidate epoch, or None without predictions."""
    records = run.final_stage[-1:] if last else run.final_stage
    found = [(r, p) for r in records if isinstance(r.get("epoch"), int)
             and (p := load_predictions(predictions_file(run.path, r["epoch"]))) is not None]
    if not found:
        return None
    k = pick(agreements([p for _, p in found]), [bool(r.get("guard/collapsed")) for r, _ in found])
    return found[k]


def _cohort(run: Run, shape: tuple) -> tuple:
    dataset = sorted((k, str(v)) for k, v in run.config.items()
                     if (k == "dataset" or k.startswith("dataset.")) and k not in IGNORED)
    return run.config.get("seed"), tuple(dataset), shape
