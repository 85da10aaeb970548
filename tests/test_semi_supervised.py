"""A few target labels with any method: the extra cross-entropy term, the draws, the evaluation split."""

import json
import statistics

import pytest
import torch
import torch.nn.functional as F

from dasuite.data import Labeled
from dasuite.data.pair import Domains, split
from dasuite.methods.adda import ADDA
from dasuite.methods.base import LABELED, Batch, Draw, StepContext
from dasuite.methods.dann import DANN
from dasuite.methods.finetune import FineTune
from dasuite.methods.shot import SHOT
from dasuite.models.backbones import MLP
from tests.conftest import train_in_process


def _batch():
    g = torch.Generator().manual_seed(0)
    return Batch({"source": Draw(torch.randn(8, 2, generator=g), torch.randint(0, 2, (8,), generator=g)),
                  "target": Draw(torch.randn(8, 2, generator=g)),
                  LABELED: Draw(torch.randn(4, 2, generator=g), torch.tensor([0, 1, 0, 1]))})


@pytest.mark.parametrize("cls", [DANN, ADDA, SHOT])
def test_every_stage_draws_the_labels_and_the_main_step_gets_the_weighted_term(cls):
    torch.manual_seed(0)
    method = cls(MLP((2,), hidden=[8]), 2)
    method.target_label_weight = 0.5
    stages = method.training_stages(has_target_labels=True)
    assert [s.draws[:-1] for s in stages] == [s.draws for s in method.stages()]
    assert all(s.draws[-1] == LABELED for s in stages)
    batch = _batch()
    terms = method.step_losses(batch, StepContext(0.5, stages[0].name, "main", 0, 0))
    with torch.no_grad():
        expected = 0.5 * F.cross_entropy(method.predict(batch.xl), batch.yl, label_smoothing=method.label_smoothing)
    assert torch.allclose(terms["target_labels"], expected)
    assert set(terms) - {"target_labels"} == set(method.training_step(batch, StepContext(0.5, stages[0].name, "main",
                                                                                         0, 0)))


def test_no_term_without_labels_at_weight_zero_or_on_other_optimizers():
    method = DANN(MLP((2,), hidden=[8]), 2)
    assert method.training_stages(has_target_labels=False) == method.stages()
    assert "target_labels" not in method.step_losses(_batch(), StepContext(0.5, "adapt", "main", 0, 0))
    method.training_stages(has_target_labels=True)
    assert "target_labels" not in method.step_losses(_batch(), StepContext(0.5, "adapt", "disc", 0, 0))
    method.target_label_weight = 0.0
    assert method.training_stages(has_target_labels=True) == method.stages()


def test_a_method_that_draws_the_labels_itself_is_left_to_use_them_its_own_way():
    method = FineTune(MLP((2,), hidden=[8]), 2)
    assert method.training_stages(has_target_labels=True) == method.stages()
    terms = method.step_losses(_batch(), StepContext(0.5, "target", "main", 0, 0))
    assert list(terms) == ["cls"]


def _domains(shared_test: bool) -> Domains:
    g = torch.Generator().manual_seed(0)
    target = Labeled(torch.randn(40, 2, generator=g), torch.arange(40) % 2)
    test = target if shared_test else Labeled(torch.randn(30, 2, generator=g), torch.arange(30) % 2)
    return Domains(Labeled(torch.randn(50, 2, generator=g), torch.arange(50) % 2), target, test, 2, (2,))


def test_the_labeled_samples_leave_a_shared_test_set_and_only_then():
    pair = split(_domains(shared_test=True), val_fraction=0.1, labels_per_class=3, seed=0)
    index = pair.target_labeled_index
    assert len(index) == 6 and pair.target_labeled.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert torch.equal(pair.target_labeled.x, pair.target_train[index])
    assert len(pair.target_test) == 34
    labeled = {tuple(r) for r in pair.target_labeled.x.tolist()}
    assert not labeled & {tuple(r) for r in pair.target_test.x.tolist()}
    separate = split(_domains(shared_test=False), val_fraction=0.1, labels_per_class=3, seed=0)
    assert len(separate.target_test) == 30 and torch.equal(separate.target_labeled_index, index)


def test_semi_supervised_dann_beats_unsupervised_dann_on_moons(tmp_path):
    """k = 3 labels per class, 3 seeds, 60 epochs: measured 86.1 % against 75.9 % (300 epochs: 88.5 / 67.8);
    asserted: half that 10-point margin."""
    means = {}
    for k in (0, 3):
        accuracies = []
        for seed in range(3):
            run_dir = tmp_path / f"k{k}_s{seed}"
            summary = train_in_process(run_dir, "method=dann", f"dataset.target_labels_per_class={k}", f"seed={seed}",
                                       "trainer.epochs=60", "trainer.eval_every=60")
            assert summary["status"] == "completed", summary.get("error")
            accuracies.append(summary["target_acc"])
            metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
            assert ("train/target_labels" in metrics[-1]) == (k > 0)
            assert (run_dir / "target_labels.json").is_file() == (k > 0)
        means[k] = statistics.mean(accuracies)
    assert means[3] >= means[0] + 0.05, means
