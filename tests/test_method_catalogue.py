"""Unit tests of the catalogue's methods: loss terms, stages, optimizers, composition, inputs.

Each method is driven through the same interface the trainer uses (stages, param_groups,
training_step with a StepContext, predict), on 2-D points and on (N, C, H, W) image batches.
"""

import copy
from functools import partial

import pytest
import torch

from dasuite.assembly.nested_methods import expand
from dasuite.errors import ConfigError
from dasuite.methods.adda import ADDA
from dasuite.methods.base import MAIN, Batch, Draw, StepContext
from dasuite.methods.cdan import CDAN
from dasuite.methods.coral import CORAL
from dasuite.methods.dann import DANN
from dasuite.methods.jan import JAN
from dasuite.methods.mcc import MCC
from dasuite.methods.mdd import MDD
from dasuite.methods.mmd import MMD
from dasuite.methods.rotation import RotationSSL, rotate
from dasuite.methods.self_training import SelfTraining
from dasuite.methods.shot import SHOT
from dasuite.methods.source_only import SourceOnly
from dasuite.models.backbones import MLP
from dasuite.models.lenet import lenet


def _batch(shape=(2,), n=8, num_classes=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Batch({"source": Draw(torch.randn(n, *shape, generator=g), torch.randint(0, num_classes, (n,), generator=g),
                             torch.arange(n)),
                  "target": Draw(torch.randn(n, *shape, generator=g) + 1, index=torch.arange(n))})


def _ctx(stage="adapt", optimizer=MAIN, progress=0.5, epoch=0):
    return StepContext(progress=progress, stage=stage, optimizer=optimizer, epoch=epoch, step=0)


def _steps(method, batch):
    """(stage, optimizer) pairs in the order the trainer runs them, each stage begun on ``batch``'s target."""
    for stage in method.stages():
        method.begin_epoch(stage, 0, lambda draw: iter([batch.xt]))
        for name in method.param_groups(stage):
            yield stage, name


# terms each method returns from its adaptation step (the one that draws target data)
SINGLE_STAGE = [(CDAN, {}, {"cls", "domain"}), (CDAN, {"entropy": True}, {"cls", "domain"}),
                (CORAL, {}, {"cls", "coral"}), (CORAL, {"layer": "logits"}, {"cls", "coral"}),
                (JAN, {}, {"cls", "jmmd"}), (MCC, {}, {"cls", "mcc"}), (RotationSSL, {}, {"cls", "rotation"}),
                (MDD, {"warmup_steps": None, "gamma": None}, {"cls", "mdd"}),
                (SelfTraining, {}, {"cls", "pseudo"}), (SelfTraining, {"base": partial(DANN)}, {"cls", "domain", "pseudo"})]
ALL = [(cls, kwargs) for cls, kwargs, _ in SINGLE_STAGE] + [(ADDA, {}), (SHOT, {})]


@pytest.mark.parametrize(("cls", "kwargs", "terms"), SINGLE_STAGE, ids=lambda v: getattr(v, "__name__", None))
def test_each_adaptation_term_is_finite_and_reaches_the_backbone(cls, kwargs, terms):
    torch.manual_seed(0)
    method = cls(MLP((2,), hidden=[8]), 2, threshold=0.0, **kwargs) if cls is SelfTraining else \
        cls(MLP((2,), hidden=[8]), 2, **kwargs)
    (stage,) = method.stages()
    assert "target" in stage.draws and list(method.param_groups(stage)) == [MAIN]
    for term in terms:
        method.zero_grad()
        out = method.training_step(_batch(), _ctx(stage.name))
        assert set(out) == terms and all(torch.isfinite(v) and v.ndim == 0 for v in out.values())
        out[term].backward()
        assert method.backbone.net[1].weight.grad.abs().sum() > 0, term


@pytest.mark.parametrize(("cls", "kwargs"), ALL, ids=lambda v: getattr(v, "__name__", None))
@pytest.mark.parametrize("backbone", ["mlp", "lenet"])
def test_every_method_takes_image_batches(cls, kwargs, backbone):
    """No method assumes 2-D points: every stage and optimizer step runs on (N, C, H, W) images."""
    torch.manual_seed(0)
    shape = (1, 8, 8) if backbone == "mlp" else (1, 28, 28)
    net = MLP(shape, hidden=[16]) if backbone == "mlp" else lenet(shape, out_features=32)
    method = cls(net, 3, **kwargs)
    batch = _batch(shape, n=6, num_classes=3)
    for stage, optimizer in _steps(method, batch):
        out = method.training_step(batch, _ctx(stage.name, optimizer))
        sum(out.values()).backward()
        assert all(torch.isfinite(v) for v in out.values()), (stage, optimizer)
    assert method.predict(batch.xs).shape == (6, 3)


def test_cdan_conditions_the_discriminator_on_features_times_classes():
    method = CDAN(MLP((2,), hidden=[8]), 3)
    assert not method.domain_loss.conditioning.randomized
    assert method.domain_loss.discriminator[0].in_features == 8 * 3
    assert not CDAN(MLP((2,), hidden=[600]), 10).domain_loss.conditioning.randomized  # default: the full map
    big = CDAN(MLP((2,), hidden=[600]), 10, multilinear_max_dim=4096)  # 6000 > 4096: the randomized map
    assert big.domain_loss.conditioning.randomized and big.domain_loss.discriminator[0].in_features == 1024
    assert "domain_loss.conditioning.random_f" in big.state_dict()
    forced = CDAN(MLP((2,), hidden=[8]), 3, multilinear_max_dim=0, randomized_dim=16)
    assert forced.domain_loss.discriminator[0].in_features == 16
    assert CDAN(MLP((2,)), 2, entropy=True).domain_loss.entropy_conditioning


def test_cdan_reversal_follows_the_dann_schedule():
    dann, cdan = DANN(MLP((2,)), 2, trade_off=0.7), CDAN(MLP((2,)), 2, trade_off=0.7)
    assert [cdan.reversal_coeff(p) for p in (0, 0.3, 1)] == [dann.reversal_coeff(p) for p in (0, 0.3, 1)]


def test_coral_term_scales_with_trade_off_and_uses_the_chosen_layer():
    torch.manual_seed(0)
    a = CORAL(MLP((2,), hidden=[8]), 2, trade_off=1.0)
    b = CORAL(MLP((2,), hidden=[8]), 2, trade_off=2.0)
    b.load_state_dict(a.state_dict())
    assert b.training_step(_batch(), _ctx())["coral"].item() == pytest.approx(2 * a.training_step(_batch(), _ctx())["coral"].item())
    logits = CORAL(MLP((2,), hidden=[8]), 2, layer="logits")
    logits.load_state_dict(a.state_dict())
    assert logits.training_step(_batch(), _ctx())["coral"] != a.training_step(_batch(), _ctx())["coral"]


def test_adda_pretrains_then_alternates_discriminator_and_target_encoder_steps():
    torch.manual_seed(0)
    method = ADDA(MLP((2,), hidden=[8]), 2, source_epochs=3, discriminator_hidden=[16])
    source, adapt = method.stages()
    assert source.draws == ("source",) and source.epochs == 3 and adapt.draws == ("source", "target")
    groups = method.param_groups(adapt)
    assert list(groups) == ["disc", MAIN]  # the trainer steps the discriminator first, then the encoder
    assert [g["lr_mult"] for name in groups for g in groups[name]] == [0.1, 0.1]  # adapt_lr_mult
    ids = lambda module: {id(p) for p in module.parameters()}  # noqa: E731
    assert {id(p) for g in groups["disc"] for p in g["params"]} == ids(method.discriminator)
    assert {id(p) for g in groups[MAIN] for p in g["params"]} == ids(method.target_encoder)
    # stage 1 trains the source encoder; the target encoder is a separate module
    method.training_step(_batch(), _ctx("source"))["cls"].backward()
    with torch.no_grad():
        method.backbone.net[1].weight.add_(1.0)  # as if pretraining had moved it
    x = torch.randn(5, 2)
    assert not method.adapting and torch.equal(method.predict(x), method.head(method.backbone(x)))
    # the first adaptation step copies M_s into M_t, and predictions now use M_t
    method.zero_grad()
    disc = method.training_step(_batch(), _ctx("adapt", "disc"))
    assert method.adapting and torch.equal(method.target_encoder.net[1].weight, method.backbone.net[1].weight)
    disc["disc"].backward()
    assert method.discriminator[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in method.target_encoder.parameters())  # encoders fixed in the D step
    method.zero_grad()
    method.training_step(_batch(), _ctx("adapt", MAIN))["confusion"].backward()
    assert method.target_encoder.net[1].weight.grad.abs().sum() > 0
    assert method.backbone.net[1].weight.grad is None and method.head.weight.grad is None
    with torch.no_grad():
        method.target_encoder.net[1].weight.add_(1.0)
    assert torch.equal(method.predict(x), method.head(method.target_encoder(x)))
    # the switch is saved with the model
    clone = ADDA(MLP((2,), hidden=[8]), 2, discriminator_hidden=[16])
    clone.load_state_dict(method.state_dict())
    assert clone.adapting and torch.equal(clone.predict(x), method.predict(x))


def test_adda_encoder_loss_uses_inverted_labels():
    torch.manual_seed(0)
    method = ADDA(MLP((2,), hidden=[8]), 2, discriminator_hidden=[])
    method.start_adaptation()
    torch.nn.init.zeros_(method.discriminator[0].weight)
    torch.nn.init.constant_(method.discriminator[0].bias, 2.0)  # D says "source" (logit 2) for everything
    confusion = method.training_step(_batch(), _ctx("adapt", MAIN))["confusion"]
    disc = method.training_step(_batch(), _ctx("adapt", "disc"))["disc"]
    softplus = torch.nn.functional.softplus
    assert confusion.item() == pytest.approx(softplus(torch.tensor(-2.0)).item(), rel=1e-5)  # target labelled 1
    assert disc.item() == pytest.approx(0.5 * (softplus(torch.tensor(-2.0)) + softplus(torch.tensor(2.0))).item(), rel=1e-5)


def test_shot_is_source_free_and_freezes_the_head():
    torch.manual_seed(0)
    method = SHOT(MLP((2,), hidden=[8]), 2)
    source, adapt = method.stages()
    assert source.draws == ("source",) and adapt.draws == ("target",)
    params = [p for g in method.param_groups(adapt)[MAIN] for p in g["params"]]
    assert {id(p) for p in params} == {id(p) for p in method.backbone.parameters()}
    assert method.label_smoothing == 0.1  # the paper's source training
    batch = Batch({"target": Draw(torch.randn(8, 2), index=torch.arange(8))})  # the adaptation stage: targets only
    method.begin_epoch(adapt, 1, lambda draw: iter([batch.xt]))
    out = method.training_step(batch, _ctx("adapt"))
    assert set(out) == {"im", "pseudo"}
    sum(out.values()).backward()
    assert method.backbone.net[1].weight.grad.abs().sum() > 0 and method.head.weight.grad is None


def test_self_training_composes_a_base_method_without_branching():
    torch.manual_seed(0)
    method = SelfTraining(MLP((2,), hidden=[8]), 2, base=partial(DANN, trade_off=0.3), threshold=0.0)
    assert isinstance(method.base, DANN) and method.base.trade_off == 0.3
    assert method.backbone is method.base.backbone and method.head is method.base.head
    assert method.stages() == method.base.stages()
    params = [p for g in method.param_groups(method.stages()[0])[MAIN] for p in g["params"]]
    assert len(params) == len({id(p) for p in params}) == len(list(method.base.parameters()))
    x = torch.randn(4, 2)
    assert torch.equal(method.predict(x), method.base.predict(x))
    terms = method.training_step(_batch(), _ctx())
    base_terms = copy.deepcopy(method.base).training_step(_batch(), _ctx())
    assert set(terms) == set(base_terms) | {"pseudo"}
    assert terms["cls"].item() == pytest.approx(base_terms["cls"].item())


def test_self_training_alone_adds_target_data_to_source_only():
    method = SelfTraining(MLP((2,)), 2)
    assert isinstance(method.base, SourceOnly)
    (stage,) = method.stages()
    assert stage.draws == ("source", "target")


def test_self_training_adds_its_term_only_to_the_main_step_of_stages_with_target_data():
    torch.manual_seed(0)
    method = SelfTraining(MLP((2,), hidden=[8]), 2, base=partial(ADDA, discriminator_hidden=[8]), threshold=0.0)
    source, adapt = method.stages()
    assert source.draws == ("source",)  # ADDA's pretraining is left as it is
    sources = Batch({"source": Draw(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))})
    assert set(method.training_step(sources, _ctx("source"))) == {"cls"}
    assert set(method.training_step(_batch(), _ctx("adapt", "disc"))) == {"disc"}
    assert set(method.training_step(_batch(), _ctx("adapt", MAIN))) == {"confusion", "pseudo"}


def test_self_training_threshold_gates_the_pseudo_labels():
    torch.manual_seed(0)
    method = SelfTraining(MLP((2,), hidden=[8]), 2, threshold=1.0)
    assert method.training_step(_batch(), _ctx("source"))["pseudo"].item() == 0.0


def test_rotation_of_points_and_images():
    points = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 2.0], [3.0, 4.0]])
    k = torch.tensor([0, 1, 2, 3])
    assert torch.equal(rotate(points, k), torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -2.0], [4.0, -3.0]]))
    images = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).reshape(2, 1, 3, 3)
    out = rotate(images, torch.tensor([0, 1]))
    assert torch.equal(out[0], images[0]) and torch.equal(out[1], torch.rot90(images[1], 1, dims=(1, 2)))
    # four quarter turns give the input back
    x = torch.randn(5, 3)
    once = torch.ones(5, dtype=torch.long)
    assert torch.equal(rotate(rotate(rotate(rotate(x, once), once), once), once), x)
    with pytest.raises(ValueError, match="square"):
        rotate(torch.zeros(2, 1, 3, 4), k[:2])
    with pytest.raises(ValueError, match="shape"):
        rotate(torch.zeros(2, 1), k[:2])


def test_rotation_head_learns_from_both_domains():
    torch.manual_seed(0)
    method = RotationSSL(MLP((2,), hidden=[8]), 2, rotation_head_hidden=[4])
    out = method.training_step(_batch(), _ctx())
    out["rotation"].backward()
    assert method.rotation_head[0].weight.grad.abs().sum() > 0 and method.head.weight.grad is None


@pytest.mark.parametrize(("cls", "kwargs", "message"), [
    (CDAN, {"entropy": "yes"}, "method.entropy='yes' must be true or false"),
    (CDAN, {"multilinear_max_dim": -1}, "method.multilinear_max_dim=-1 must be an integer >= 0"),
    (CDAN, {"discriminator_hidden": [0]}, r"method.discriminator_hidden=\[0\] must be a list of positive integers"),
    (CORAL, {"layer": "fc8"}, "method.layer='fc8' is not one of features, logits"),
    (JAN, {"output_bandwidth_multipliers": [-1.0]}, "method.output_bandwidth_multipliers"),
    (MCC, {"temperature": 0}, "method.temperature=0 must be > 0"),
    (MCC, {"trade_off": -1}, "method.trade_off=-1 must be >= 0"),
    (ADDA, {"source_epochs": 0}, "method.source_epochs=0 must be null"),
    (ADDA, {"adapt_lr_mult": -1}, "method.adapt_lr_mult=-1 must be >= 0"),
    (SHOT, {"beta": -0.3}, "method.beta=-0.3 must be >= 0"),
    (RotationSSL, {"rotation_head_hidden": 3}, "method.rotation_head_hidden=3 must be a list"),
    (SelfTraining, {"threshold": 1.5}, r"method.threshold=1.5 must lie in \[0, 1\]"),
    (SelfTraining, {"base": "dann"}, "method.base='dann' must be a method: a name of configs/method/"),
    (SelfTraining, {"base": partial(SelfTraining)}, "self-training cannot be its own base"),
    (SelfTraining, {"base": partial(DANN, gamma=-1)}, r"method.base \(DANN\): method.gamma=-1 must be >= 0"),
])
def test_bad_values_name_the_key_and_the_valid_range(cls, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        cls(MLP((2,)), 2, **kwargs)


SELF_TRAINING = {"_target_": "dasuite.methods.self_training.SelfTraining"}


def test_a_base_method_by_name_becomes_its_nested_target_config():
    settings = expand({**SELF_TRAINING, "base": "dann", "base_args": {"trade_off": 0.3}})
    assert "base_args" not in settings
    assert settings["base"]["_target_"] == "dasuite.methods.dann.DANN" and settings["base"]["_partial_"] is True
    assert settings["base"]["trade_off"] == 0.3 and settings["base"]["gamma"] == 10.0  # configs/method/dann.yaml
    assert expand(settings) == settings  # a stored run config is built as it was trained
    method = SelfTraining(MLP((2,), hidden=[8]), 2, base=partial(DANN, trade_off=0.3, gamma=10.0))
    assert isinstance(method.base, DANN) and method.base.trade_off == 0.3


@pytest.mark.parametrize(("settings", "message"), [
    ({"base": "danm"}, "method.base='danm' is not a method; choose one of .*dann"),
    ({"base": "dann", "base_args": {"trade_of": 0.3}},
     "method.base_args.trade_of is not a setting of method dann; its keys are .*trade_off"),
    ({"base": None, "base_args": {"trade_off": 0.3}}, "method.base_args sets trade_off but method.base names no method"),
])
def test_a_bad_base_method_names_the_key_and_the_choices(settings, message):
    with pytest.raises(ConfigError, match=message):
        expand({**SELF_TRAINING, **settings})


def test_mmd_and_dann_keep_their_interface():
    for cls in (DANN, MMD, SourceOnly):
        method = cls(MLP((2,)), 2)
        assert all(list(method.param_groups(s)) == [MAIN] for s in method.stages())


def test_every_method_with_a_trade_off_declares_it_as_its_adaptation_weight():
    """What summary.json records as ``trade_off`` and the divergence hint names comes from the declaration, so a
    method taking ``trade_off`` must declare it (and a declared name must be a setting the method keeps)."""
    import inspect

    from dasuite.config.catalog import choices
    from dasuite.methods.base import Method
    from tests.conftest import method_class

    for name in choices("method"):
        cls = method_class(name)
        assert issubclass(cls, Method)
        takes = "trade_off" in inspect.signature(cls).parameters
        assert (cls.adaptation_weight == "trade_off") == takes, (name, cls.adaptation_weight)
    method = DANN(MLP((2,), hidden=[8]), 2, trade_off=0.3)
    assert getattr(method, method.adaptation_weight) == 0.3
