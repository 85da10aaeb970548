"""SSRT: the perturbation and self-refinement loss alone, safe training's diversity rule and restore, a short
training run on vit_tiny, the non-ViT error, and the experiments' official settings."""

import json
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from dasuite.errors import ConfigError
from dasuite.methods.base import Batch, Draw, StepContext
from dasuite.methods.safe_training import SafeTraining
from dasuite.methods.ssrt import SSRT, DiversityWatch, refinement_loss
from dasuite.models.lenet import lenet
from dasuite.models.torchvision_nets import vit_tiny
from tests.conftest import compose_config
from tests.test_cdtrans import SMALL_VIT, train_small_vit



def _method(**kwargs):
    torch.manual_seed(0)
    return SSRT(vit_tiny((1, 14, 14), bottleneck_dim=8, **SMALL_VIT), 3, discriminator_hidden=[16], **kwargs)


def _batch(n=6):
    g = torch.Generator().manual_seed(1)
    return Batch({"source": Draw(torch.randn(n, 1, 14, 14, generator=g), torch.randint(0, 3, (n,), generator=g)),
                  "target": Draw(torch.randn(n, 1, 14, 14, generator=g))})


@pytest.mark.parametrize("layer", [-1, 0, 1])
def test_the_perturbed_copy_moves_only_with_alpha(layer):
    method = _method(refine_layers=[layer]).eval()
    batch = _batch()
    with torch.no_grad():
        _, _, _, logits_t, same = method._forward(batch.xs, batch.xt, 0.0)
        _, _, _, again, moved = method._forward(batch.xs, batch.xt, 0.5)
    assert torch.allclose(logits_t, same, atol=1e-5) and torch.allclose(logits_t, again, atol=1e-5)
    assert not torch.allclose(logits_t, moved, atol=1e-4)
    assert torch.allclose(logits_t, method.predict(batch.xt), atol=1e-5)  # the unperturbed path is predict


def test_refinement_loss_counts_confident_teachers_only():
    confident, unsure = torch.tensor([[8.0, 0.0, 0.0]]), torch.tensor([[0.1, 0.0, 0.0]])
    student = torch.tensor([[0.0, 5.0, 0.0], [0.0, 5.0, 0.0]])
    both = refinement_loss(torch.cat([confident, unsure]), student, 0.4, unperturbed_teaches=True)
    alone = refinement_loss(confident, student[:1], 0.4, unperturbed_teaches=True)
    assert both > 1 and torch.allclose(both, alone)
    assert refinement_loss(unsure, student[:1], 0.4, unperturbed_teaches=True) == 0
    # the other direction: the perturbed prediction teaches
    assert torch.allclose(refinement_loss(student[:1], confident, 0.4, unperturbed_teaches=False), alone)


def test_a_diversity_drop_asks_for_a_restore_and_restarts_a_longer_ramp():
    watch = DiversityWatch(interval=8, levels=2)
    assert watch.ramp(0) == 0 and 0 < watch.ramp(4) < 1 and watch.ramp(8) == 1
    watch.diversity = [10.0] * 8
    assert not watch.end_interval(7, r=1.0) and watch.last_period == [10.0] * 8
    watch.diversity = [10.0] * 6 + [7.0] * 2  # the last quarter drops by 3 classes
    assert not watch.end_interval(15, r=0.05)  # r <= 0.1: no restore yet
    assert watch.end_interval(15, r=1.0)
    assert watch.phase == 15 and watch.period == 8 and watch.ramp(15) == 0  # the ramp restarts
    watch.last_restore = 16  # the method restored the weights at the next step
    assert watch.end_interval(23, r=0.5)  # another drop within a period of that restore: a longer ramp
    assert watch.phase == 23 and watch.period == 16


def _loop_state(method):
    """What SafeTraining reads of the loop's state: the step, the method, one process."""
    return SimpleNamespace(at=SimpleNamespace(step=0), method=method, device=torch.device("cpu"),
                           trainer=SimpleNamespace(dist=SimpleNamespace(world_size=1)))


def test_safe_training_restores_the_weights_saved_at_the_interval_start(monkeypatch):
    method = _method(safe_interval=2, refine_layers=[0, 1])
    (safe,) = method.callbacks()
    state = _loop_state(method)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.5)
    batch = _batch()
    monkeypatch.setattr(method.watch, "end_interval", lambda step, r: True)
    weights = {}
    for step in range(3):
        before = {k: v.detach().clone() for k, v in method.named_parameters()}
        safe.before_step(state)
        terms = method.training_step(batch, StepContext(step / 3, "adapt", "main", 0, step))
        weights[step] = ({k: v.detach().clone() for k, v in method.named_parameters()}, before)
        optimizer.zero_grad()
        sum(terms.values()).backward()
        optimizer.step()
        state.at.step += 1
        safe.after_step(state)
    (at_0, _), (at_2, before_2) = weights[0], weights[2]
    # step 2 (after the interval's end at step 1) ran from the weights saved at step 0, not those it was given
    assert all(torch.equal(at_0[k], at_2[k]) for k in at_0)
    assert not all(torch.equal(at_0[k], before_2[k]) for k in at_0)
    assert method.watch.last_restore == 2


def test_refine_layers_outside_the_backbone_and_non_vits_are_config_errors():
    with pytest.raises(ConfigError, match=r"method.refine_layers=\[5\] .* from 0 to 1 \(this backbone has 2\)"):
        _method(refine_layers=[5])
    with pytest.raises(ConfigError, match="method=ssrt runs the blocks of a vision transformer.*backbone=vit_tiny"):
        SSRT(lenet((1, 28, 28)), 10)


def test_a_short_training_run_on_vit_tiny_completes(tmp_path):
    summary = train_small_vit(tmp_path, "method=ssrt", "method.refine_layers=[0,1]", "method.safe_interval=2",
                              "trainer.epochs=2", "trainer.steps_per_epoch=2")
    assert summary["status"] == "completed", summary.get("error")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and {"train/cls", "train/domain", "train/refine"} <= set(rows[-1])


# experiment -> (pair, keys): tsun/SSRT main_SSRT.office_home.py / main_SSRT.visda.py and trainer/argument_parser.py
EXPERIMENTS = {
    "office_home_ssrt": ("office_home", {
        "trainer.lr": 0.004, "trainer.batch_size": 32, "trainer.epochs": 20, "trainer.steps_per_epoch": 1000,
        "trainer.weight_decay": 0.0005, "trainer.backbone_lr_mult": 0.1, "trainer.lr_schedule": "inv",
        "backbone.bottleneck_dim": 2048, "method.head_hidden": [2048], "method.refine_weight": 0.2,
        "method.safe_interval": 1000}),
    "visda2017_ssrt": ("visda2017", {"trainer.lr": 0.002, "backbone.bottleneck_dim": 1024,
                                     "method.discriminator_hidden": [1024]}),
}


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_the_experiments_compose_into_the_official_settings(name):
    dataset, keys = EXPERIMENTS[name]
    cfg = compose_config(f"experiment={name}", with_hydra=True)
    picked = cfg.hydra.runtime.choices
    assert (picked.method, picked.dataset, picked.backbone) == ("ssrt", dataset, "vit_b_16")
    for key, value in keys.items():
        found = OmegaConf.select(cfg, key)
        assert (list(found) if isinstance(value, list) else found) == value, key


def test_safe_training_is_the_methods_callback_and_its_state_rides_in_the_checkpoint():
    method = _method(safe_interval=2, refine_layers=[0, 1])
    (safe,) = method.callbacks()
    assert isinstance(safe, SafeTraining) and safe.method is method
    assert _method(safe_training=False).callbacks() == [] and _method(refine_weight=0.0).callbacks() == []
    state = _loop_state(method)
    safe.before_step(state)  # step 0: saves the weights
    safe.restore = True
    checkpoint = {"model": method.state_dict()}
    safe.on_save_checkpoint(state, checkpoint)
    assert set(checkpoint["model"]["_extra_state"]) == {"watch"}  # the saved weights are not the model's state
    again = SafeTraining(method)
    again.on_load_checkpoint(state, checkpoint)
    assert again.restore and again.snapshot.keys() == safe.snapshot.keys()
    assert all(torch.equal(again.snapshot[k], safe.snapshot[k]) for k in safe.snapshot)
    # a checkpoint written while the method kept them in its own state
    older = {"model": {"_extra_state": {"watch": method.watch.state_dict(), "restore": True,
                                        "snapshot": safe.snapshot}}}
    legacy = SafeTraining(method)
    legacy.on_load_checkpoint(state, older)
    assert legacy.restore and legacy.snapshot is safe.snapshot


def test_a_method_built_on_ssrt_brings_its_safe_training():
    from functools import partial

    from dasuite.methods.self_training import SelfTraining

    torch.manual_seed(0)
    backbone = vit_tiny((1, 14, 14), bottleneck_dim=8, **SMALL_VIT)
    method = SelfTraining(backbone, 3, base=partial(SSRT, discriminator_hidden=[16], refine_layers=[0, 1]))
    (safe,) = method.callbacks()
    assert isinstance(safe, SafeTraining) and safe.method is method.base


def test_under_torchrun_the_decision_reads_the_ranks_mean_diversity():
    method = _method(safe_interval=2, safe_levels=1)
    (safe,) = method.callbacks()
    other_rank = torch.tensor([10.0, 10.0])  # the other rank's diversity: no drop there

    def average(sums):
        return {key: (value + other_rank) / 2 for key, value in sums.items()}

    state = _loop_state(method)
    state.trainer.dist = SimpleNamespace(world_size=2, average=average)
    method.watch.last_period = [10.0, 10.0]
    method.watch.diversity = [10.0, 6.0]  # alone, a drop of 4 classes (r > 0.1 at step 3) asks for a restore
    state.at.step = 4  # after step 3, an interval's last
    safe.after_step(state)
    assert method.watch.diversity == [10.0, 8.0] and safe.restore  # mean: 8 < 10 - 1
    method.watch.diversity, safe.restore = [10.0, 8.5], False
    state.at.step = 6
    safe.after_step(state)
    assert method.watch.diversity == [10.0, 9.25] and not safe.restore  # 9.25: within a class of 10
