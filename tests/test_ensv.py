"""EnsV (dasuite/engine/ensv.py) on constructed candidates, and the within-run pick it drives
(EnsembleSelection: candidate checkpoints, best.pt, resume) on run folders written here."""

import numpy as np
import pytest
import torch

from dasuite.engine.ensv import agreements, pick
from dasuite.engine.predictions import load_predictions, predictions_file, save_predictions
from dasuite.engine.run_folder import RunFolder
from dasuite.engine.selection import EnsembleSelection, selection_for


def confident(labels, num_classes=2, p=0.9):
    """Probabilities putting ``p`` on each sample's label, the rest spread evenly."""
    out = np.full((len(labels), num_classes), (1 - p) / (num_classes - 1), dtype=np.float32)
    out[np.arange(len(labels)), labels] = p
    return out


def test_agreement_with_the_ensemble_worked_by_hand():
    candidates = [confident([0, 0, 1, 1]), confident([0, 1, 1, 1]), confident([1, 1, 1, 0])]
    # per sample, the votes are 0,0,1 | 0,1,1 | 1,1,1 | 1,1,0: the ensemble says 0, 1, 1, 1
    assert agreements(candidates) == [0.75, 1.0, 0.5]
    assert pick([0.75, 1.0, 0.5], [False, False, False]) == 1


def test_the_ensemble_averages_probabilities_not_votes():
    sure, unsure = np.array([[0.9, 0.1]], np.float32), np.array([[0.4, 0.6]], np.float32)
    assert agreements([sure, unsure, unsure]) == [1.0, 0.0, 0.0]  # 1.7 against 1.3: class 0


def test_pick_prefers_unflagged_then_the_higher_score_then_the_earlier():
    assert pick([0.9, 0.5, 0.5], [True, False, False]) == 1
    assert pick([0.9, 0.95], [True, True]) == 1
    assert pick([0.7, 0.7], [False, False]) == 0


@pytest.mark.parametrize("seed", range(20))
def test_ensv_picks_the_candidate_closest_to_the_ensemble_never_the_worst(seed):
    """Five candidates with independent errors on 400 samples of 4 classes: decent ones (5-30 % wrong),
    one collapsed onto class 0 and one mostly wrong. EnsV's pick agrees most with the ensemble, is
    never the worst candidate, and every candidate obeys acc_k >= EnsV_k - err_ens."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, 400)

    def with_errors(rate):
        wrong = rng.random(400) < rate
        return np.where(wrong, (truth + rng.integers(1, 4, 400)) % 4, truth)

    labels = [with_errors(0.05), with_errors(0.15), with_errors(0.3), np.zeros(400, int), with_errors(0.8)]
    candidates = [confident(y, 4, p=rng.uniform(0.5, 0.95)) for y in labels]
    scores = agreements(candidates)
    ensemble = sum(candidates).argmax(1)
    closest = max(range(5), key=lambda k: ((candidates[k].argmax(1) == ensemble).mean(), -k))
    accuracy = [(y == truth).mean() for y in labels]
    chosen = pick(scores, [False] * 5)
    assert chosen == closest
    assert chosen != int(np.argmin(accuracy))
    ensemble_error = (ensemble != truth).mean()
    assert all(accuracy[k] >= scores[k] - ensemble_error - 1e-12 for k in range(5))


def evaluate(run, selection, epoch: int, labels: list[int], flagged: bool = False, p: float = 0.9) -> None:
    """What the trainer does at an evaluation of the last stage: predictions, offer, last.pt, keep."""
    save_predictions(predictions_file(run.path, epoch), torch.from_numpy(confident(labels, p=p)))
    name = selection.offer({"epoch": epoch, "guard/collapsed": flagged, "target/acc": epoch / 10, "source/acc": 0.9})
    assert name == f"epoch_{epoch:04d}.pt" == selection.kept(epoch)
    run.save_checkpoint({"epoch": epoch, "model": {}})
    selection.keep(run, name)


def best_epoch(run) -> int:
    return torch.load(run.checkpoints / "best.pt", weights_only=True)["epoch"]


def candidate_run(tmp_path, predicted: dict[int, list[int]], flagged=()):
    """A run folder holding each candidate epoch's predictions and checkpoint, offered to an EnsV pick."""
    run, selection = RunFolder(tmp_path), EnsembleSelection()
    for epoch, labels in predicted.items():
        evaluate(run, selection, epoch, labels, epoch in flagged)
    return run, selection


def test_best_pt_holds_the_pick_among_the_candidates_so_far(tmp_path):
    """An interrupted or failed run keeps a best.pt: EnsV's pick among the epochs evaluated until then."""
    run, selection = candidate_run(tmp_path, {1: [1, 1, 1, 1]})
    assert best_epoch(run) == 1
    evaluate(run, selection, 2, [0, 0, 1, 1], p=0.6)
    assert best_epoch(run) == 1  # the surer epoch 1 carries samples 0 and 1 (class 1: 0.9 + 0.4 > 0.1 + 0.6)
    evaluate(run, selection, 3, [0, 0, 1, 1])
    assert best_epoch(run) == 2 and selection.summary()["best_epoch"] == 2  # the ensemble says 0011 now


def test_the_within_run_pick_keeps_the_winner_as_best_pt_and_deletes_the_other_candidates(tmp_path):
    run, selection = candidate_run(tmp_path, {2: [0, 0, 1, 1], 4: [0, 1, 1, 1], 6: [1, 1, 1, 1]}, flagged={4})
    selection.finish(run)  # ensemble 0,1,1,1: epoch 4 agrees fully but is flagged; 2 and 6 agree on 3 of 4
    assert selection.summary() == {"select": "ensv", "best_epoch": 2, "best_value": 0.75, "best_collapsed": False,
                                   "best_target_acc": 0.2, "best_source_acc": 0.9}
    assert sorted(p.name for p in run.checkpoints.iterdir()) == ["best.pt", "last.pt"]
    assert best_epoch(run) == 2
    assert load_predictions(predictions_file(run.path, 4)).dtype == np.float32  # predictions stay
    selection.finish(run)  # again, as a resumed run with nothing left to train does: the same pick
    assert selection.summary()["best_epoch"] == 2


def test_the_pick_and_its_candidates_survive_a_checkpoint_round_trip(tmp_path):
    run, selection = candidate_run(tmp_path, {1: [0, 0, 1, 1], 2: [0, 0, 1, 1]})
    state = selection.state_dict()
    torch.save(state, tmp_path / "state.pt")
    restored = selection_for("ensv")
    restored.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert restored.kept(2) == "epoch_0002.pt" and restored.kept(3) is None
    restored.finish(run)
    assert restored.summary()["best_epoch"] == 1


def test_an_extended_run_picks_only_among_weights_still_on_disk(tmp_path):
    """A finished run extended by resume= kept only its earlier pick (in best.pt): the candidates whose
    checkpoints were deleted cannot win again, or best.pt would not hold the epoch summary.json names."""
    run, selection = candidate_run(tmp_path, {1: [1, 1, 1, 1], 2: [0, 0, 1, 1], 3: [0, 0, 1, 1]})
    run.copy_checkpoint("epoch_0003.pt", "best.pt")  # the earlier pick
    for epoch in (1, 2, 3):
        (run.checkpoints / f"epoch_{epoch:04d}.pt").unlink()
    resumed = selection_for("ensv")
    resumed.load_state_dict(selection.state_dict())
    evaluate(run, resumed, 4, [0, 0, 1, 0])
    resumed.finish(run)  # epoch 2 agrees most (4 of 4, as does 3) but its weights are gone: 3 is in best.pt
    assert resumed.summary()["best_epoch"] == 3 and best_epoch(run) == 3
