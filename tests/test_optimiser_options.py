"""The optimiser and backbone options CDTrans' official code uses, each a general setting: plain (not Nesterov)
momentum, the biases' learning-rate multiplier, gradient-norm clipping (trainer.nesterov, trainer.bias_lr_mult,
trainer.grad_clip_norm), and stochastic depth in the ViT backbones (backbone.drop_path)."""

import pytest
import torch

from dasuite.engine.callbacks.base import Callback
from dasuite.engine.optim import bias_ids, body_ids, build_optimizer, scale_lr
from dasuite.engine.precision import Precision
from dasuite.engine.trainer import Trainer
from dasuite.errors import ConfigError
from dasuite.models.drop_path import DropPath
from dasuite.models.tokens import transformer_parts
from dasuite.models.torchvision_nets import torchvision_backbone, vit_tiny
from tests.conftest import train_in_process

SMALL_VIT = {"patch_size": 7, "num_layers": 3, "num_heads": 2, "hidden_dim": 16, "mlp_dim": 32}


def test_nesterov_false_is_plain_heavy_ball_momentum():
    def two_steps(nesterov):
        w = torch.nn.Parameter(torch.tensor([1.0]))
        opt = build_optimizer("sgd", [{"params": [w]}], 0.1, 0.9, 0.0, nesterov=nesterov)
        for _ in range(2):
            opt.zero_grad()
            (w ** 2).sum().backward()  # gradient 2w
            opt.step()
        return w.item(), opt.param_groups[0]["nesterov"]

    # heavy ball: v1 = 2, w1 = 0.8; v2 = 0.9 * 2 + 1.6 = 3.4, w2 = 0.8 - 0.34
    assert two_steps(False) == (pytest.approx(0.46), False)
    # Nesterov: w1 = 1 - 0.1 * (2 + 0.9 * 2) = 0.62; v2 = 1.8 + 1.24 = 3.04, w2 = 0.62 - 0.1 * (1.24 + 0.9 * 3.04)
    assert two_steps(True) == (pytest.approx(0.62 - 0.1 * (1.24 + 0.9 * 3.04)), True)


def test_the_biases_are_every_parameter_named_bias_attention_in_proj_bias_included():
    backbone = vit_tiny((1, 14, 14), **SMALL_VIT)
    names = {name for name, p in backbone.named_parameters() if id(p) in bias_ids(backbone)}
    assert "body.encoder.layers.encoder_layer_0.self_attention.in_proj_bias" in names
    assert "body.encoder.layers.encoder_layer_0.ln_1.bias" in names and "body.conv_proj.bias" in names
    assert all(name.rpartition(".")[2] in ("bias", "in_proj_bias") for name in names)
    assert not {"body.class_token", "body.encoder.pos_embedding", "body.conv_proj.weight"} & names


def test_bias_lr_mult_composes_with_the_backbone_multiplier():
    weight, bias, head_bias = (torch.nn.Parameter(torch.zeros(1)) for _ in range(3))
    groups = scale_lr(scale_lr([{"params": [weight, bias, head_bias]}], {id(weight), id(bias)}, 0.1),
                      {id(bias), id(head_bias)}, 2.0)
    lr = {id(p): g.get("lr_mult", 1.0) for g in groups for p in g["params"]}
    assert lr == {id(weight): pytest.approx(0.1), id(bias): pytest.approx(0.2), id(head_bias): pytest.approx(2.0)}


def test_each_backbone_declares_its_body_apart_from_the_bottleneck_on_top():
    from dasuite.models.backbones import MLP
    from dasuite.models.lenet import lenet

    for backbone in (lenet((1, 28, 28), bottleneck_dim=8), MLP((2,), hidden=[8], bottleneck_dim=4)):
        body = body_ids(backbone)
        assert body and body == {id(p) for name, p in backbone.named_parameters() if not name.startswith("bottleneck")}
    plain = torch.nn.Linear(2, 3)  # a backbone that declares nothing: all of it is its own
    assert body_ids(plain) == {id(p) for p in plain.parameters()}


class RecordsLearningRates(Callback):
    """The learning rate of each parameter (by name) in the stage's optimizer, at the stage's start."""

    seen: dict = {}

    def before_stage(self, state) -> None:
        names = {id(p): name for name, p in state.method.named_parameters()}
        for group in state.optimizers["main"].param_groups:
            RecordsLearningRates.seen.update({names[id(p)]: group["lr"] for p in group["params"]})


def test_backbone_lr_mult_scales_the_body_but_not_the_bottleneck_or_the_head(tmp_path):
    summary = train_in_process(tmp_path, "method=source_only", "backbone=mlp", "backbone.bottleneck_dim=4",
                               "trainer.epochs=1", "trainer.lr=0.01", "trainer.backbone_lr_mult=0.1",
                               "trainer.callbacks=[{_target_:tests.test_optimiser_options.RecordsLearningRates}]")
    assert summary["status"] == "completed", summary.get("error")
    lr = RecordsLearningRates.seen
    assert lr["backbone.net.1.weight"] == pytest.approx(0.001) and lr["backbone.bottleneck.0.weight"] == 0.01
    assert lr["head.weight"] == 0.01
    assert {v for k, v in lr.items() if k.startswith("backbone.net")} == {lr["backbone.net.1.weight"]}


def test_grad_clip_norm_bounds_the_total_gradient_norm_of_the_step():
    w = torch.nn.Parameter(torch.zeros(3))
    opt = build_optimizer("sgd", [{"params": [w]}], 1.0, 0.0, 0.0)
    Precision("32", torch.device("cpu")).backward_and_step((w * torch.tensor([30.0, 40.0, 0.0])).sum(), opt, 1.0)
    assert torch.allclose(w.detach(), torch.tensor([-0.6, -0.8, 0.0]))  # gradient (30, 40, 0), norm 50 -> 1
    opt.zero_grad()
    Precision("32", torch.device("cpu")).backward_and_step((w * torch.tensor([0.3, 0.0, 0.0])).sum(), opt, 1.0)
    assert torch.allclose(w.detach(), torch.tensor([-0.9, -0.8, 0.0]))  # below the bound: untouched


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"bias_lr_mult": -2}, "trainer.bias_lr_mult=-2 must be >= 0"),
    ({"grad_clip_norm": 0}, "trainer.grad_clip_norm=0 must be null (no clipping) or > 0"),
    ({"nesterov": "no"}, "trainer.nesterov='no' must be true or false"),
])
def test_the_trainer_rejects_bad_optimiser_options(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Trainer(**kwargs)


def test_a_run_steps_an_optimiser_with_the_options(tmp_path):
    summary = train_in_process(tmp_path, "dataset=blobs", "method=source_only", "trainer.epochs=1",
                               "trainer.steps_per_epoch=2", "trainer.nesterov=false", "trainer.bias_lr_mult=2",
                               "trainer.grad_clip_norm=1.0", "trainer.lr=0.01")
    assert summary["status"] == "completed", summary.get("error")
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    groups = state["optimizers"]["main"]["param_groups"]
    assert {g["nesterov"] for g in groups} == {False}
    model = state["model"]
    biases = sum(1 for name in model if name.endswith("bias"))
    weights = sum(1 for name in model if name.endswith("weight"))
    assert biases > 0 and weights + biases == sum(len(g["params"]) for g in groups)
    assert sum(len(g["params"]) for g in groups if g["initial_lr"] == pytest.approx(0.02)) == biases
    assert sum(len(g["params"]) for g in groups if g["initial_lr"] == pytest.approx(0.01)) == weights


def _vit(drop_path):
    torch.manual_seed(0)
    return vit_tiny((1, 14, 14), drop_path=drop_path, **SMALL_VIT)


def test_drop_path_grows_linearly_over_the_blocks_and_leaves_the_weights_as_they_are():
    dropped, plain = _vit(0.1), _vit(0.0)
    rates = [[m.p for m in block.modules() if isinstance(m, DropPath)] for block in dropped.body.encoder.layers]
    assert rates == [[], [pytest.approx(0.05)] * 2, [pytest.approx(0.1)] * 2]  # attention and MLP branches
    assert not any(isinstance(m, DropPath) for m in plain.modules())
    plain.load_state_dict(dropped.state_dict())  # strict: the same parameters and buffers
    x = torch.randn(8, 1, 14, 14)
    dropped.eval(), plain.eval()
    with torch.no_grad():
        assert torch.allclose(dropped(x), plain(x), atol=1e-6)  # evaluation: the identity
        dropped.train()
        assert not torch.allclose(dropped(x), dropped(x), atol=1e-4)  # training: sampled per forward


def test_drop_path_reaches_the_blocks_that_cdtrans_runs_itself():
    parts = transformer_parts(_vit(0.5))
    block = parts.blocks[-1]
    h = parts.tokens(torch.randn(64, 1, 14, 14))
    with torch.no_grad():
        branch = parts.run(block, h) - h
        dropped_rows = (branch.abs().flatten(1).amax(1) == 0).sum().item()
        block.eval()
        assert (parts.run(block, h) - h).abs().flatten(1).amax(1).min() > 0
    assert 0 < dropped_rows < 64  # whole samples dropped (both branches, p = 0.5 each), not all of them


def test_drop_path_on_a_network_without_vit_blocks_is_a_config_error():
    with pytest.raises(ConfigError, match=r"backbone.drop_path=0.1 is stochastic depth for vision transformers.*"
                                          r"backbone resnet18 has no transformer blocks"):
        torchvision_backbone((3, 32, 32), "resnet18", drop_path=0.1)
    with pytest.raises(ConfigError, match=r"backbone.drop_path=1.0 must lie in \[0, 1\)"):
        _vit(1.0)
