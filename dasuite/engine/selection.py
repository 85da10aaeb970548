"""The label-free pick of a run (``trainer.select``), kept as ``checkpoints/best.pt``.

Candidates are the evaluated epochs of the method's last stage (for ADDA, SHOT and fine-tuning, the
adapted model, not the source pretraining). An epoch the collapse guard flags loses to any unflagged
one; among flagged epochs (when every epoch is flagged) the score still decides, and the summary
says ``best_collapsed: true``. Ties keep the earlier epoch. Target labels never enter the choice.

* :class:`Selection` (``trainer.select=<validator>``): the epoch whose ``val/<validator>`` is best,
  known as training goes, so best.pt is replaced whenever a better epoch comes.
* :class:`EnsembleSelection` (``trainer.select=ensv``): EnsV (:mod:`dasuite.engine.ensv`) over the
  candidates' stored predictions (:mod:`dasuite.engine.predictions`). A later candidate changes the
  ensemble, so any earlier one may still win: until training ends every candidate's checkpoint is
  kept as ``checkpoints/epoch_<N>.pt`` (disk use grows to one checkpoint per evaluation of the last
  stage, about 50 with ``trainer.eval_every=auto``) and best.pt holds the pick among the candidates
  so far; at the end best.pt holds the final pick and the candidate checkpoints are deleted.

Both keep their state in checkpoints (plain containers and numbers), so resume keeps the pick.
"""

from __future__ import annotations

import logging
import math

from dasuite.engine.checkpoint import read_checkpoint
from dasuite.engine.ensv import agreements, pick
from dasuite.engine.evaluate import MEASURED, summary_fields
from dasuite.engine.predictions import load_predictions, predictions_file
from dasuite.validators import VALIDATORS

log = logging.getLogger(__name__)

ENSV = "ensv"
#: the values of ``trainer.select``
SELECTORS = (*VALIDATORS, ENSV)
#: what a candidate's state keeps of its metrics record (besides the metrics it records, reported only)
_KEPT = ("epoch", "guard/collapsed", "target/acc", "source/acc")


def selection_for(select: str) -> Selection | EnsembleSelection:
    """The pick ``trainer.select`` (one of :data:`SELECTORS`, checked by the trainer) names."""
    return EnsembleSelection() if select == ENSV else Selection(select)


class Selection:
    """The best epoch so far by one validator."""

    def __init__(self, validator: str):
        self.key = f"val/{validator}"
        self.validator = validator
        self.epoch: int | None = None
        self.value = -math.inf
        self.collapsed = True
        self.record: dict = {}

    def offer(self, record: dict) -> str | None:
        """Consider the evaluation ``record`` of a candidate epoch; the checkpoint to copy that epoch's
        weights to (best.pt) when it becomes the pick, else None."""
        value = record.get(self.key)
        value = -math.inf if value is None or not math.isfinite(value) else value
        collapsed = bool(record.get("guard/collapsed", False))
        if self.epoch is not None and (not collapsed, value) <= (not self.collapsed, self.value):
            return None
        self.epoch, self.value, self.collapsed, self.record = record["epoch"], value, collapsed, record
        return "best.pt"

    def kept(self, epoch: int) -> str | None:
        """The checkpoint that must hold ``epoch``'s weights (for resume to finish a copy a crash cut short)."""
        return "best.pt" if epoch == self.epoch else None

    def keep(self, run, name: str) -> None:
        """Copy the checkpoint just saved (last.pt) to ``name``, as :meth:`offer` or :meth:`kept` said."""
        run.copy_checkpoint("last.pt", name)

    def finish(self, run) -> None:
        """Nothing left to do when training ends: best.pt already holds the pick."""

    def state_dict(self) -> dict:
        return {"validator": self.validator, "epoch": self.epoch, "value": self.value,
                "collapsed": self.collapsed, "record": self.record}

    def load_state_dict(self, state: dict | None) -> None:
        if state and state.get("validator") == self.validator:
            self.epoch, self.value = state["epoch"], state["value"]
            self.collapsed, self.record = state["collapsed"], state["record"]

    def summary(self) -> dict:
        """The summary.json fields of the pick (its metrics are reported, never used to choose)."""
        return {"select": self.validator, "best_epoch": self.epoch,
                "best_value": self.value if math.isfinite(self.value) else None,
                "best_collapsed": self.collapsed if self.epoch is not None else None,
                **summary_fields(self.record, "best_")}


def candidate_checkpoint(epoch: int) -> str:
    return f"epoch_{epoch:04d}.pt"


class EnsembleSelection(Selection):
    """EnsV across the candidate epochs, picked by :meth:`finish` when training ends."""

    def __init__(self):
        super().__init__(ENSV)
        self.candidates: list[dict] = []

    def offer(self, record: dict) -> str:
        """Keep the candidate (a re-evaluated epoch, after a resume, replaces its earlier entry); its
        weights go to ``checkpoints/epoch_<N>.pt``."""
        epoch = record["epoch"]
        kept = {**{k: record.get(k) for k in _KEPT}, **{k: record[k] for k in MEASURED if k in record}}
        self.candidates = [c for c in self.candidates if c["epoch"] != epoch] + [kept]
        return candidate_checkpoint(epoch)

    def kept(self, epoch: int) -> str | None:
        return candidate_checkpoint(epoch) if any(c["epoch"] == epoch for c in self.candidates) else None

    def keep(self, run, name: str) -> None:
        """Keep the candidate's checkpoint, and best.pt at the pick among the candidates so far."""
        super().keep(run, name)
        self._pick(run)

    def finish(self, run) -> None:
        """Make best.pt the final pick and delete the candidate checkpoints. Safe to repeat (a resumed
        run that had nothing left to train)."""
        self._pick(run)
        for stale in run.checkpoints.glob("epoch_*.pt"):
            stale.unlink()

    def _pick(self, run) -> None:
        """EnsV among the candidates whose weights are still on disk; best.pt becomes the pick's copy."""
        scored = [(c, p) for c in self.candidates if (p := load_predictions(predictions_file(run.path, c["epoch"])))
                  is not None]
        if len(scored) < len(self.candidates):
            log.warning("ensv: %d candidate epoch(s) have no readable predictions/ file and were left out",
                        len(self.candidates) - len(scored))
        scores = agreements([p for _, p in scored]) if scored else []
        available = self._on_disk(run, [c["epoch"] for c, _ in scored])
        eligible = [k for k, (c, _) in enumerate(scored) if c["epoch"] in available]
        if not eligible:
            return
        k = eligible[pick([scores[k] for k in eligible], [bool(scored[k][0]["guard/collapsed"]) for k in eligible])]
        candidate, previous = scored[k][0], self.epoch
        self.epoch, self.value, self.collapsed, self.record = (candidate["epoch"], scores[k],
                                                               bool(candidate["guard/collapsed"]), candidate)
        source, best = run.checkpoints / candidate_checkpoint(self.epoch), run.checkpoints / "best.pt"
        if source.is_file() and (self.epoch != previous or not best.is_file()):
            run.copy_checkpoint(source.name, best.name)

    @staticmethod
    def _on_disk(run, epochs: list[int]) -> set[int]:
        """The epochs whose weights exist: their candidate checkpoint, or best.pt (a finished run that
        ``resume=`` extends keeps only its earlier pick)."""
        found = {e for e in epochs if (run.checkpoints / candidate_checkpoint(e)).is_file()}
        best = run.checkpoints / "best.pt"
        if len(found) < len(epochs) and best.is_file():
            found.add(int(read_checkpoint(best, "read")["epoch"]))
        return found

    def state_dict(self) -> dict:
        return {"validator": ENSV, "candidates": self.candidates}

    def load_state_dict(self, state: dict | None) -> None:
        if state and state.get("validator") == ENSV:
            self.candidates = [dict(c) for c in state["candidates"]]
