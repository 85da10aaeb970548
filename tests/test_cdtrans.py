"""CDTrans and the token hook it runs on: cross-attention, two-way pairing and distillation each alone, the
target branch at test time, a short training run on a tiny fake MNIST -> USPS pair, the non-ViT error, and
the experiments' official settings."""

import json

import pytest
import torch
from omegaconf import OmegaConf

from dasuite.config.catalog import choices
from dasuite.errors import ConfigError
from dasuite.methods.base import Stage
from dasuite.methods.cdtrans import CDTrans, distillation_loss, two_way_pairs
from dasuite.models.backbones import MLP
from dasuite.models.feature_extractor import FeatureExtractor
from dasuite.models.lenet import lenet
from dasuite.models.tokens import transformer_parts
from dasuite.models.torchvision_nets import vit_tiny
from tests import fake_data
from tests.conftest import compose_config, train_in_process

SMALL_VIT = {"patch_size": 7, "num_layers": 2, "num_heads": 2, "hidden_dim": 16, "mlp_dim": 32}


def _small_vit(bottleneck_dim=None):
    return vit_tiny((1, 14, 14), bottleneck_dim=bottleneck_dim, **SMALL_VIT)


def _timm_vit():
    timm = pytest.importorskip("timm")
    body = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=16, patch_size=8, in_chans=1,
                             embed_dim=16, depth=2, num_heads=2)
    return FeatureExtractor("timm:vit_tiny_patch16_224", body, (1, 16, 16), bottleneck_dim=8)


BACKBONES = {"torchvision": lambda: (_small_vit(bottleneck_dim=8), (1, 14, 14)),
             "timm": lambda: (_timm_vit(), (1, 16, 16))}


@pytest.mark.parametrize("kind", sorted(BACKBONES))
def test_the_parts_rebuild_the_backbone_and_cross_attention_on_itself_is_self_attention(kind):
    torch.manual_seed(0)
    backbone, shape = BACKBONES[kind]()
    backbone.eval()
    parts = transformer_parts(backbone)
    x, other = torch.randn(3, *shape), torch.randn(3, *shape)
    h, h_other = parts.tokens(x), parts.tokens(other)
    with torch.no_grad():
        for block in parts.blocks:
            assert torch.allclose(parts.run(block, h, context=h.clone()), block(h), atol=1e-5)
            assert not torch.allclose(parts.run(block, h, context=h_other), block(h), atol=1e-3)
            h, h_other = block(h), block(h_other)
        # the features include the bottleneck: what the classifier head sees
        assert torch.allclose(parts.features(h), backbone(x), atol=1e-5)
    assert parts.features(h).shape[1] == backbone.out_features == 8


def test_two_way_pairs_recover_planted_pairs_and_drop_disagreeing_ones():
    torch.manual_seed(0)
    basis = torch.eye(8)
    labels = torch.tensor([0, 1, 2, 3, 4, 3])
    perm = [3, 0, 2, 1]
    # sources 0-4 on axes; source 5 leans towards source 3's axis, so only its own nearest target pairs it
    sources = torch.cat([basis[:5], (0.9 * basis[3] + 0.4 * basis[5])[None]])
    targets = torch.stack([basis[p] for p in perm] + [basis[4]]) + 0.01 * torch.randn(5, 8)
    pseudo = torch.cat([labels[perm], torch.tensor([0])])  # target 4's pseudo-label disagrees with source 4
    s, t = two_way_pairs(sources, labels, targets, pseudo)
    expected = {(p, j) for j, p in enumerate(perm)} | {(5, 0)}
    assert set(zip(s.tolist(), t.tolist())) == expected and len(s) == len(expected)


def test_distillation_pulls_the_student_only_and_vanishes_when_they_agree():
    student = torch.randn(4, 5, requires_grad=True)
    teacher = torch.randn(4, 5, requires_grad=True)
    loss = distillation_loss(student, teacher)
    loss.backward()
    assert loss > 0 and student.grad.abs().sum() > 0 and teacher.grad is None
    assert distillation_loss(teacher.detach(), teacher.detach()).abs() < 1e-6


def _method(**kwargs):
    torch.manual_seed(0)
    method = CDTrans(_small_vit(), 3, **kwargs)
    target_set = torch.randn(12, 1, 14, 14)
    method.begin_epoch(Stage("adapt"), 0, lambda draw: iter([target_set]))
    return method


def test_the_target_branch_predicts_alone_whatever_the_source_batch():
    method = _method().eval()
    xt, ys = torch.randn(6, 1, 14, 14), torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.no_grad():
        first = method.branches(torch.randn(6, 1, 14, 14), ys, xt)
        second = method.branches(torch.randn(6, 1, 14, 14), ys, xt)
        assert torch.allclose(first["target"], method.predict(xt), atol=1e-5)  # the distilled student is predict
        assert torch.allclose(first["target"], second["target"], atol=1e-6)
        # the source-target branch, by contrast, mixes in the paired source image
        assert len(first["pair_source"]) >= 2
        assert not torch.allclose(first["source_target"], first["target"][first["pair_target"]], atol=1e-3)


def test_class_centres_refresh_every_pair_interval_epochs_and_survive_a_checkpoint():
    method = _method(pair_interval=2)
    calls = []
    target_set = torch.randn(12, 1, 14, 14)

    def inputs(draw):
        calls.append(draw)
        return iter([target_set])

    for epoch in (1, 2, 3):  # centres came from epoch 0: rebuilt at 2 only
        method.begin_epoch(Stage("adapt"), epoch, inputs)
    method.begin_epoch(Stage("source", draws=("source",)), 4, inputs)
    assert calls == ["target"] and method.centroids_epoch == 2
    restored = CDTrans(_small_vit(), 3)
    restored.load_state_dict(method.state_dict())
    assert restored.centroids_epoch == 2 and torch.equal(restored.centroids, method.centroids)


@pytest.mark.parametrize("backbone", [lambda: lenet((1, 28, 28)), lambda: MLP((2,), hidden=[8])],
                         ids=["lenet", "mlp"])
def test_a_backbone_that_is_no_vit_is_a_config_error_naming_the_vits(backbone):
    with pytest.raises(ConfigError, match=r"method=cdtrans runs the blocks of a vision transformer.*backbone=vit_tiny"
                                          r".*backbone=vit_b_16.*backbone=timm"):
        CDTrans(backbone(), 10)


def train_small_vit(tmp_path, *overrides: str) -> dict:
    """A few steps of a tiny vit_tiny on a fake 14-px MNIST -> USPS pair; the run's summary."""
    root = tmp_path / "data"
    fake_data.write_mnist(root, "train")
    fake_data.write_usps(root, "train")
    fake_data.write_usps(root, "test")
    vit = [f"backbone.{key}={value}" for key, value in SMALL_VIT.items()]
    return train_in_process(tmp_path / "run", "dataset=mnist_usps", f"data_root={root}", "dataset.image_size=14",
                            "backbone=vit_tiny", *vit, "trainer.batch_size=16", *overrides)


def test_a_short_training_run_on_vit_tiny_completes(tmp_path):
    summary = train_small_vit(tmp_path, "method=cdtrans", "method.source_epochs=1", "trainer.epochs=1",
                              "trainer.steps_per_epoch=3")
    assert summary["status"] == "completed", summary.get("error")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in rows] == ["source", "adapt"]
    assert {"train/cls", "train/cross", "train/distill"} <= set(rows[1])
    assert all(torch.isfinite(torch.tensor(rows[1][k])) for k in ("train/cls", "train/cross", "train/distill"))


# experiment -> (pair, backbone, keys): the official CDTrans settings (configs/pretrain.yml, configs/uda.yml,
# scripts/) or, on digits, the benchmark protocol's 20 epochs split 1:4 between the warm start and adaptation
EXPERIMENTS = {
    "mnist_usps_vit_cdtrans": ("mnist_usps", "vit_tiny", {"method.source_epochs": 4, "trainer.epochs": 16,
                                                          "method.pair_interval": 4, "trainer.steps_per_epoch": 2500}),
    "office_home_cdtrans": ("office_home", "vit_b_16", {
        "method.source_epochs": 10, "trainer.epochs": 40, "trainer.lr": 0.008, "trainer.batch_size": 64,
        "trainer.weight_decay": 0.0001, "trainer.backbone_lr_mult": 1.0, "backbone.bottleneck_dim": None,
        "backbone.pretrained": True, "method.adapt_lr_mult": 1.0}),
    "visda2017_cdtrans": ("visda2017", "vit_b_16", {"trainer.lr": 0.0005, "method.adapt_lr_mult": 0.1,
                                                    "trainer.epochs": 40, "backbone.pretrained": True}),
}


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_the_experiments_compose_into_the_official_settings(name):
    dataset, backbone, keys = EXPERIMENTS[name]
    if dataset not in choices("dataset"):
        pytest.skip(f"configs/dataset/{dataset}.yaml is not there yet")
    cfg = compose_config(f"experiment={name}", with_hydra=True)
    picked = cfg.hydra.runtime.choices
    assert (picked.method, picked.dataset, picked.backbone) == ("cdtrans", dataset, backbone)
    for key, value in keys.items():
        assert OmegaConf.select(cfg, key) == value, key
