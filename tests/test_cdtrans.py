"""CDTrans and the token hook it runs on: cross-attention, two-way pairing over whole sets and distillation each
alone, which branch each loss term trains (the official current version and the first release), the target
branch at test time, pairs completed with items fetched from outside the batch, a short
training run and an exact mid-epoch resume on a tiny fake MNIST -> USPS pair, the non-ViT error, and the
experiments' official settings."""

import json

import pytest
import torch
from omegaconf import OmegaConf

from dasuite.errors import ConfigError
from dasuite.methods.base import Batch, Draw, Stage, StepContext
from dasuite.methods.cdtrans import CDTrans, soft_cross_entropy, two_way_partners
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


def _brute_force_partners(source_features, source_labels, target_features, pseudo):
    """The partners from the whole similarity matrix at once (what two_way_partners computes by blocks)."""
    similarity = torch.nn.functional.normalize(source_features, dim=1) @ \
        torch.nn.functional.normalize(target_features, dim=1).T
    nearest_source, nearest_target = similarity.argmax(0), similarity.argmax(1)
    return (torch.where(pseudo[nearest_target] == source_labels, nearest_target, -1),
            torch.where(source_labels[nearest_source] == pseudo, nearest_source, -1))


@pytest.mark.parametrize("block", [1, 7, 40, 10 ** 9])  # one source per block, ragged blocks, one block
def test_two_way_partners_by_blocks_equal_the_whole_similarity_matrix(block):
    g = torch.Generator().manual_seed(block % 97)
    source, target = torch.randn(53, 6, generator=g), torch.randn(41, 6, generator=g)
    labels, pseudo = torch.randint(0, 3, (53,), generator=g), torch.randint(0, 3, (41,), generator=g)
    partners = two_way_partners(source, labels, target, pseudo, block=block)
    expected = _brute_force_partners(source, labels, target, pseudo)
    assert all(torch.equal(a, b) for a, b in zip(partners, expected))
    assert (partners[0] >= 0).any() and (partners[0] < 0).any() and (partners[1] >= 0).any()


def test_two_way_partners_recover_planted_pairs_across_blocks_and_drop_disagreeing_ones():
    torch.manual_seed(0)
    n = 12
    basis = torch.eye(n)
    source_of = torch.randperm(n)  # target j is a noisy copy of source source_of[j]
    sources = basis
    targets = basis[source_of] + 0.01 * torch.randn(n, n)
    labels = torch.arange(n) % 4
    pseudo = labels[source_of].clone()
    pseudo[0] = (pseudo[0] + 1) % 4  # target 0's pseudo-label disagrees with its nearest source's label
    target_of = torch.empty(n, dtype=torch.long)
    target_of[source_of] = torch.arange(n)
    # blocks of 3 sources against the 12 targets: the pairs cross four block boundaries
    partner_of_source, partner_of_target = two_way_partners(sources, labels, targets, pseudo, block=3 * n)
    assert partner_of_target[0] == -1 and torch.equal(partner_of_target[1:], source_of[1:])
    expected = target_of.clone()
    expected[source_of[0]] = -1  # the source whose nearest target is target 0
    assert torch.equal(partner_of_source, expected)


def test_the_distillation_is_the_official_soft_cross_entropy_and_trains_the_teacher_too():
    torch.manual_seed(0)
    student = torch.randn(4, 5, requires_grad=True)
    teacher = torch.randn(4, 5, requires_grad=True)
    loss = soft_cross_entropy(student, teacher)
    p = teacher.softmax(1)
    assert torch.allclose(loss, -(p * student.log_softmax(1)).sum(1).mean())
    loss.backward()
    # not detached: the teacher is pulled too (processor_uda.py's distill_loss has no stop-gradient)
    assert student.grad.abs().sum() > 0 and teacher.grad is not None and teacher.grad.abs().sum() > 0
    # student = teacher: what is left is the teacher's entropy, not zero (a cross-entropy, not a KL)
    same = teacher.detach()
    assert torch.allclose(soft_cross_entropy(same, same), -(p * p.log()).sum(1).mean().detach())


SOURCE_SET, TARGET_SET = torch.randn(20, 1, 14, 14), torch.randn(12, 1, 14, 14)
SOURCE_LABELS = torch.arange(20) % 3


def _inputs(draw, labels=False):
    """begin_epoch's ``inputs`` over a small source and target set."""
    if labels:
        return iter([SOURCE_LABELS[:8], SOURCE_LABELS[8:]])
    return iter([SOURCE_SET[:8], SOURCE_SET[8:]] if draw == "source" else [TARGET_SET])


def _fetch(draw, index):
    if draw == "source":
        return Draw(SOURCE_SET[index], SOURCE_LABELS[index], index)
    return Draw(TARGET_SET[index], index=index)


def _method(**kwargs):
    torch.manual_seed(0)
    method = CDTrans(_small_vit(), 3, **kwargs)
    method.begin_epoch(Stage("adapt"), 0, _inputs)
    return method


def test_the_pairs_are_built_over_the_whole_sets_from_the_current_model():
    method = _method()
    features = {d: method.outputs_on(_inputs, d)[0] for d in ("source", "target")}
    expected = two_way_partners(features["source"], SOURCE_LABELS, features["target"], method.pseudo_labels)
    assert torch.equal(method.partner_of_source, expected[0]) and torch.equal(method.partner_of_target, expected[1])
    assert method.partner_of_source.shape == (20,) and method.partner_of_target.shape == (12,)
    kept = method.partner_of_target >= 0
    assert torch.equal(SOURCE_LABELS[method.partner_of_target[kept]], method.pseudo_labels[kept])


def _planted(method, fetch=_fetch) -> Batch:
    """Planted partners: targets 0, 5 -> sources 7, 19; sources 2, 11 -> targets 10, 3; the rest have none. The
    batch: sources 11, 4, 2, 0 and targets 5, 1, 0, fetching with ``fetch``."""
    method.partner_of_target = torch.full((12,), -1)
    method.partner_of_target[[0, 5]] = torch.tensor([7, 19])
    method.partner_of_source = torch.full((20,), -1)
    method.partner_of_source[[2, 11]] = torch.tensor([10, 3])
    index_s, index_t = torch.tensor([11, 4, 2, 0]), torch.tensor([5, 1, 0])
    return Batch({"source": Draw(SOURCE_SET[index_s], SOURCE_LABELS[index_s], index_s),
                  "target": Draw(TARGET_SET[index_t], index=index_t)}, fetch)


def test_a_step_pairs_batch_items_with_their_partners_fetched_from_the_whole_sets():
    method = _method()
    fetched = []

    def fetch(draw, index):
        fetched.append((draw, index.tolist()))
        return _fetch(draw, index)

    batch = _planted(method, fetch)
    images, pair_source, pair_target, labels = method.pairs(batch)
    assert fetched == [("source", [19, 7]), ("target", [3, 10])]  # partners of the batch's targets, then sources
    pairs = [(images[s], images[t]) for s, t in zip(pair_source, pair_target)]
    expected = [(19, 5), (7, 0), (11, 3), (2, 10)]  # (source, target) positions in the sets
    assert len(pairs) == len(expected) and all(torch.equal(a, SOURCE_SET[s]) and torch.equal(b, TARGET_SET[t])
                                               for (a, b), (s, t) in zip(pairs, expected))
    assert labels.tolist() == SOURCE_LABELS[[s for s, _ in expected]].tolist()
    ctx = StepContext(0.5, "adapt", "main", 1, 0)
    terms = method.training_step(batch, ctx)
    assert set(terms) == {"cls", "pseudo", "distill"} and all(torch.isfinite(v) and v > 0 for v in terms.values())
    assert {k: v.item() for k, v in ctx.logged.items()} == {"pairs": 4}  # logged beside the terms, not one of them
    no_positions = Batch({**batch, "target": Draw(batch.xt)}, _fetch)
    with pytest.raises(RuntimeError, match=r"positions of the batch's items \(batch\['source'\].index"):
        method.training_step(no_positions, StepContext(0.5, "adapt", "main", 1, 0))


def test_a_step_with_fewer_than_two_pairs_has_no_cross_branch_terms_and_logs_its_pairs():
    method = _method()
    batch = _planted(method)
    method.partner_of_target[:] = -1
    method.partner_of_source[:] = -1
    method.partner_of_source[2] = 10  # one pair: (source 2, target 10)
    ctx = StepContext(0.5, "adapt", "main", 1, 0)
    assert set(method.training_step(batch, ctx)) == {"cls"}
    assert {k: v.item() for k, v in ctx.logged.items()} == {"pairs": 1}


def _branch_gradients(loss_version: str) -> tuple[dict, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One adaptation step on the planted pairs: for each loss term, its gradient with respect to the
    self-attention logits (rows: the step's images; the source branch on sources, the target branch on
    targets) and to the source-target logits; the step's source rows and pair target rows; and the gradient a
    cross-entropy on the pseudo-labels alone puts on the logits of the branch that learns them."""
    method = _method(loss_version=loss_version)
    batch = _planted(method)
    ctx = StepContext(0.5, "adapt", "main", 1, 0)
    _, _, pair_target, labels = method.pairs(batch)
    branches, out = method.branches, {}

    def recording(*args):
        out["logits"], out["fusion"] = branches(*args)
        return out["logits"], out["fusion"]

    method.branches = recording
    terms = method.training_step(batch, ctx)
    gradients = {}
    outputs = (out["logits"], out["fusion"])
    for name, term in terms.items():
        grads = torch.autograd.grad(term, outputs, retain_graph=True, allow_unused=True)
        gradients[name] = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, outputs)]
    sources = torch.arange(len(batch.xs))
    # the pseudo-label CE's own gradient on the branch that learns them: (softmax - one-hot) / pairs
    student = out["logits"][pair_target] if loss_version == "fixed" else out["fusion"]
    expected = (student.softmax(1) - torch.nn.functional.one_hot(labels, 3)).detach() / len(labels)
    return gradients, sources, pair_target, expected


def _rows(gradient: torch.Tensor) -> set[int]:
    return set((gradient.abs().sum(1) > 0).nonzero().flatten().tolist())


def test_the_official_losses_train_the_target_branch_on_pseudo_labels_and_the_fusion_through_the_distillation():
    """processor_uda.py since 8ee48d0: loss1 = CE(source branch, source label), loss2 = CE(target branch, target
    pseudo-label), loss3 = distill_loss(fusion, target branch) without a stop-gradient."""
    gradients, sources, pair_target, expected = _branch_gradients("fixed")
    (cls_self, cls_fusion), (pseudo_self, pseudo_fusion) = gradients["cls"], gradients["pseudo"]
    distill_self, distill_fusion = gradients["distill"]
    assert _rows(cls_self) == set(sources.tolist()) and not cls_fusion.any()  # the source label: source branch only
    assert _rows(pseudo_self) == set(pair_target.tolist()) and not pseudo_fusion.any()  # pseudo-labels: target branch
    pair_rows = torch.zeros_like(pseudo_self)
    pair_rows.index_add_(0, pair_target, expected)
    assert torch.allclose(pseudo_self, pair_rows, atol=1e-6)
    assert _rows(distill_self) == set(pair_target.tolist())  # the target branch is the student ...
    assert _rows(distill_fusion) == set(range(len(pair_target)))  # ... and the fusion teacher is not detached


def test_loss_version_initial_puts_the_pseudo_labels_on_the_fusion_branch_and_distils_the_target_into_it():
    """The first release (392c3db): loss1 = CE(fusion, pseudo-label), loss3 = distill_loss(target branch, fusion)."""
    gradients, sources, pair_target, expected = _branch_gradients("initial")
    (pseudo_self, pseudo_fusion), (distill_self, distill_fusion) = gradients["pseudo"], gradients["distill"]
    assert _rows(gradients["cls"][0]) == set(sources.tolist()) and not gradients["cls"][1].any()
    assert not pseudo_self.any() and torch.allclose(pseudo_fusion, expected, atol=1e-6)
    assert _rows(distill_fusion) == set(range(len(pair_target))) and _rows(distill_self) == set(pair_target.tolist())


def test_an_unknown_loss_version_is_a_config_error_naming_both():
    with pytest.raises(ConfigError, match=r"method.loss_version='paper' is not one of fixed .*; initial "):
        CDTrans(_small_vit(), 3, loss_version="paper")


def test_the_target_branch_predicts_alone_whatever_the_source_image():
    method = _method().eval()
    xt = torch.randn(4, 1, 14, 14)
    pair_source, pair_target = torch.tensor([0, 1, 2, 3]), torch.tensor([4, 5, 6, 7])
    with torch.no_grad():
        first, cross = method.branches(torch.cat([torch.randn(4, 1, 14, 14), xt]), pair_source, pair_target)
        second, _ = method.branches(torch.cat([torch.randn(4, 1, 14, 14), xt]), pair_source, pair_target)
        assert torch.allclose(first[4:], method.predict(xt), atol=1e-5)  # the distilled student is predict
        assert torch.allclose(first[4:], second[4:], atol=1e-6)
        # the source-target branch, by contrast, mixes in the paired source image
        assert not torch.allclose(cross, first[4:], atol=1e-3)
        assert method.branches(torch.cat([torch.randn(4, 1, 14, 14), xt]), pair_source[:1], pair_target[:1])[1] is None


def test_the_pairs_refresh_every_pair_interval_epochs_and_survive_a_checkpoint():
    method = _method(pair_interval=2)
    calls = []

    def inputs(draw, labels=False):
        calls.append((draw, labels))
        return _inputs(draw, labels)

    for epoch in (1, 2, 3):  # pairs came from epoch 0: rebuilt at 2 only
        method.begin_epoch(Stage("adapt"), epoch, inputs)
    method.begin_epoch(Stage("source", draws=("source",)), 4, inputs)
    assert sorted(calls) == [("source", False), ("source", True), ("target", False)] and method.pairs_epoch == 2
    restored = CDTrans(_small_vit(), 3)
    restored.load_state_dict(method.state_dict())
    assert restored.pairs_epoch == 2
    for key in ("partner_of_source", "partner_of_target", "pseudo_labels"):
        assert torch.equal(getattr(restored, key), getattr(method, key)), key


@pytest.mark.parametrize("backbone", [lambda: lenet((1, 28, 28)), lambda: MLP((2,), hidden=[8])],
                         ids=["lenet", "mlp"])
def test_a_backbone_that_is_no_vit_is_a_config_error_naming_the_vits(backbone):
    with pytest.raises(ConfigError, match=r"method=cdtrans runs the blocks of a vision transformer.*backbone=vit_tiny"
                                          r".*backbone=vit_b_16.*backbone=timm"):
        CDTrans(backbone(), 10)


def _small_vit_overrides(tmp_path) -> list[str]:
    """A tiny vit_tiny on a fake 14-px MNIST -> USPS pair (written under ``tmp_path / "data"``)."""
    root = tmp_path / "data"
    vit = [f"backbone.{key}={value}" for key, value in SMALL_VIT.items()]
    return ["dataset=mnist_usps", f"data_root={root}", "dataset.image_size=14", "backbone=vit_tiny", *vit,
            "trainer.batch_size=16"]


def train_small_vit(tmp_path, *overrides: str) -> dict:
    """A few steps of a tiny vit_tiny on a fake 14-px MNIST -> USPS pair; the run's summary."""
    root = tmp_path / "data"
    fake_data.write_mnist(root, "train")
    fake_data.write_usps(root, "train")
    fake_data.write_usps(root, "test")
    return train_in_process(tmp_path / "run", *_small_vit_overrides(tmp_path), *overrides)


def _recording_fetches(monkeypatch) -> list:
    """Record, for every CDTrans adaptation step, the batch's positions and what the step fetched."""
    steps = []
    training_step = CDTrans.training_step

    def step(self, batch, ctx):
        if ctx.stage == "adapt":
            record = {"index_s": batch["source"].index.tolist(), "index_t": batch["target"].index.tolist(),
                      "fetched": {}}
            steps.append(record)

            def fetch(draw, index, engine_fetch=batch.fetch):
                record["fetched"][draw] = index.tolist()
                return engine_fetch(draw, index)

            batch = Batch(batch, fetch)
        terms = training_step(self, batch, ctx)
        if ctx.stage == "adapt":
            record["pseudo"] = terms["pseudo"].item() if "pseudo" in terms else 0.0
        return terms

    monkeypatch.setattr(CDTrans, "training_step", step)
    return steps


def test_a_short_training_run_pairs_the_batch_with_items_from_outside_it(tmp_path, monkeypatch):
    steps = _recording_fetches(monkeypatch)
    summary = train_small_vit(tmp_path, "method=cdtrans", "method.source_epochs=1", "trainer.epochs=2",
                              "trainer.steps_per_epoch=3")
    assert summary["status"] == "completed", summary.get("error")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in rows] == ["source", "adapt", "adapt"]
    terms = ("train/cls", "train/pseudo", "train/distill")
    assert {*terms, "train/pairs"} <= set(rows[1]) and rows[1]["train/pairs"] > 0
    assert all(torch.isfinite(torch.tensor(rows[1][k])) for k in terms)
    # the logged number of pairs is no loss term: the loss is the terms' sum alone
    assert rows[1]["train/loss"] == pytest.approx(sum(rows[1][k] for k in terms), rel=1e-5)
    assert len(steps) == 6
    outside = [i for s in steps for i in s["fetched"].get("source", []) if i not in s["index_s"]] + \
        [i for s in steps for i in s["fetched"].get("target", []) if i not in s["index_t"]]
    assert outside, steps  # partners come from the whole sets, not from the step's own batch
    assert any(s["pseudo"] > 0 for s in steps)


def test_a_run_stopped_mid_epoch_resumes_with_its_pairs(tmp_path, monkeypatch):
    """SIGTERM in the middle of an adaptation epoch: the checkpoint carries the pairs built at the epoch's
    start, which the resumed steps use (begin_epoch does not run again mid-epoch), and the run ends with the
    numbers of one never stopped; the next epoch keeps them too (the next rebuild is pair_interval epochs after
    the restored one's)."""
    import os
    import signal

    args = ["method=cdtrans", "method.source_epochs=1", "trainer.epochs=3", "trainer.steps_per_epoch=3",
            "method.pair_interval=3", "trainer.deterministic=true"]  # epochs: 0 source; 1, 2, 3 adapt (pairs at 1)
    train_small_vit(tmp_path / "reference", *args)
    training_step = CDTrans.training_step

    def signals_once(self, batch, ctx):
        if ctx.step == 7 and not (tmp_path / "signalled").exists():  # the second step of epoch 2
            (tmp_path / "signalled").touch()
            os.kill(os.getpid(), signal.SIGTERM)
        return training_step(self, batch, ctx)

    monkeypatch.setattr(CDTrans, "training_step", signals_once)
    with pytest.raises(KeyboardInterrupt):
        train_small_vit(tmp_path / "stopped", *args)
    run = tmp_path / "stopped" / "run"
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert (state["epoch"], state["partial"]["epoch_step"]) == (2, 2)
    extra = state["model"]["_extra_state"]
    assert extra["pairs_epoch"] == 1 and extra["partner_of_target"].shape == (40,)
    summary = train_in_process(run, *_small_vit_overrides(tmp_path / "stopped"), *args, resume=True)
    assert summary["status"] == "completed", summary.get("error")

    def values(folder):
        return [{k: v for k, v in json.loads(line).items() if k != "time_s"}
                for line in (folder / "metrics.jsonl").read_text().splitlines()]

    assert values(run) == values(tmp_path / "reference" / "run")


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
    cfg = compose_config(f"experiment={name}", with_hydra=True)
    picked = cfg.hydra.runtime.choices
    assert (picked.method, picked.dataset, picked.backbone) == ("cdtrans", dataset, backbone)
    for key, value in keys.items():
        assert OmegaConf.select(cfg, key) == value, key
