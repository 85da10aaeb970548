"""EATA/ETA, SAR and RDumb: what each adapts, their sample filters, SAR's functional sharpness-aware pass and model
recovery, RDumb's reset, and a SAR stream stopped mid-way that resumes exactly. Small synthetic image pairs, a LeNet
with BatchNorm, trained briefly as the deployed source model."""

from __future__ import annotations

import copy
import math
import shutil

import pytest
import torch

from dasuite import fit, seed_everything
from dasuite.data.pair import pair_from_tensors
from dasuite.engine.callbacks.defaults import default_callbacks
from dasuite.engine.checkpoint import load_model
from dasuite.engine.run_folder import RunFolder
from dasuite.engine.trainer import Trainer
from dasuite.errors import ConfigError
from dasuite.experiment import train_run
from dasuite.loggers.base import Logger
from dasuite.methods.base import MAIN, StepContext
from dasuite.methods.eata import EATA
from dasuite.methods.rdumb import RDumb
from dasuite.methods.reliable_entropy import softmax_entropy
from dasuite.methods.sar import SAR
from dasuite.methods.source_only import SourceOnly
from dasuite.models.lenet import lenet
from tests.helpers import SignalsItself

SHAPE, CLASSES = (1, 28, 28), 3
STREAM_STEPS = 7  # 200 stream items in batches of 32


def _net():
    return lenet(SHAPE, batch_norm=True)


def _trainer(**kwargs):
    return Trainer(**{"epochs": 1, "batch_size": 32, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9,
                      "nesterov": False, "weight_decay": 0.0, "lr_schedule": "constant", "device": "cpu",
                      "callbacks": default_callbacks(plots=False, progress=False, select=None), **kwargs})


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A pair whose target is shifted, and a source model trained on it for one epoch (moderately confident)."""
    g = torch.Generator().manual_seed(0)

    def images(n, shift):
        y = torch.randint(0, CLASSES, (n,), generator=g)
        x = torch.randn(n, *SHAPE, generator=g)
        for c in range(CLASSES):
            x[y == c, :, 4 + 7 * c:10 + 7 * c, 5:20] += 0.8
        return x + shift, y

    (xs, ys), (xt, yt) = images(300, 0.0), images(400, 0.7)
    pair = pair_from_tensors((xs, ys), xt[:200], (xt[200:], yt[200:]))
    root = tmp_path_factory.mktemp("deployed")
    seed_everything(0)
    fit(SourceOnly(_net(), CLASSES), pair, _trainer(lr=0.01), run_dir=root / "source")
    return pair, root / "source", root


def _adapt(deployed, method, name, **trainer):
    pair, source, root = deployed
    return fit(method, pair, _trainer(**trainer), run_dir=root / name, init_from=source)


def _source_weights(deployed, method_cls, **kwargs) -> dict[str, torch.Tensor]:
    """The named parameters of a method started from the deployed model, before it adapts."""
    pair, source, root = deployed
    from dasuite.assembly.init_from import init_weights

    method = method_cls(_net(), CLASSES, **kwargs)
    init_weights(method, source, "last", pair.class_names)
    return {k: v.detach().clone() for k, v in method.named_parameters()}


def _changed(method, before: dict) -> set[str]:
    return {k for k, v in method.named_parameters() if not torch.equal(v.detach(), before[k])}


def _affine(method) -> set[str]:
    chosen = {id(p) for p in method.adapted()}
    return {k for k, p in method.named_parameters() if id(p) in chosen}


@pytest.mark.parametrize(("cls", "kwargs"), [(EATA, {"fisher_size": 64}), (EATA, {"fisher_alpha": 0.0}),
                                             (SAR, {}), (RDumb, {"reset_every": 1000})],
                         ids=["eata", "eta", "sar", "rdumb"])
def test_each_method_adapts_its_normalisation_affine_parameters_only(deployed, cls, kwargs):
    before = _source_weights(deployed, cls, **kwargs)
    method = cls(_net(), CLASSES, redundancy_margin=1.0, **kwargs) if cls is not SAR else cls(_net(), CLASSES,
                                                                                             **kwargs)
    run = _adapt(deployed, method, f"only_{cls.__name__}_{len(kwargs)}_{kwargs.get('fisher_alpha', 1)}")
    changed = _changed(method, before)
    assert changed and changed <= _affine(method)
    batch_norms = {f"{name}.{part}" for name, m in method.named_modules()
                   if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for part in ("weight", "bias")}
    assert batch_norms and _affine(method) == batch_norms  # lenet_bn's norm layers are all BatchNorm
    assert run.summary["online_accuracy"] is not None and run.summary["steps"] >= STREAM_STEPS


def test_eata_estimates_the_fisher_from_source_first_and_etas_stream_never_reads_source(deployed):
    eata = EATA(_net(), CLASSES, fisher_size=64)
    assert [s.name for s in eata.stages()] == ["fisher", "adapt"] and eata.stages()[0].draws == ("source",)
    assert [s.draws for s in EATA(_net(), CLASSES, fisher_alpha=0.0).stages()] == [("target_test",)]
    _adapt(deployed, eata, "fisher")
    assert eata.fisher.shape == eata.anchor.shape == (sum(p.numel() for p in eata.adapted()),)
    assert (eata.fisher >= 0).all() and eata.fisher.sum() > 0
    before = _source_weights(deployed, EATA, fisher_size=64)
    assert torch.equal(eata.anchor, torch.cat([before[k].reshape(-1) for k in sorted(_affine(eata),
                       key=list(before).index)]))  # θ0: the deployed weights


def _ctx():
    return StepContext(progress=0.0, stage="adapt", optimizer=MAIN, epoch=0, step=0)


def _stubbed(method, logits: torch.Tensor):
    """``method`` predicting ``logits`` whatever its input (the filters' inputs, chosen)."""
    method.predict = lambda x: logits
    return method


def test_eatas_filters_drop_unreliable_and_redundant_samples_and_weight_the_rest():
    margin = 0.4 * math.log(CLASSES)
    confident, unsure = [6.0, 0.0, 0.0], [0.1, 0.0, 0.0]
    logits = torch.tensor([confident, unsure, [0.0, 6.0, 0.0], unsure], requires_grad=True)
    method = _stubbed(EATA(_net(), CLASSES, fisher_alpha=0.0), logits)
    entropy = softmax_entropy(logits.detach())
    assert (entropy < margin).tolist() == [True, False, True, False]
    ctx = _ctx()
    terms = method.adapt_step(torch.zeros(4, *SHAPE), ctx)
    assert ctx.logged["reliable_samples"] == 2 and ctx.logged["kept_samples"] == 2  # no average yet: no redundancy
    kept = torch.tensor([0, 2])
    expected = (entropy[kept] * torch.exp(margin - entropy[kept])).mean()
    assert terms["entropy"].item() == pytest.approx(expected.item(), rel=1e-6)
    terms["entropy"].backward()
    assert logits.grad[[1, 3]].abs().sum() == 0 and logits.grad[[0, 2]].abs().sum() > 0
    probabilities = logits.detach().softmax(1)
    assert torch.allclose(method.average, probabilities[kept].mean(0)) and method.average_seen
    # the average now leans on classes 0 and 1: a confident class-2 sample is non-redundant (cosine < ε = 0.05)
    # only when the average's mass on class 2 is tiny: here it is, and a class-0 one is redundant
    logits2 = torch.tensor([confident, [0.0, 0.0, 9.0]], requires_grad=True)
    ctx = _ctx()
    terms = _stubbed(method, logits2).adapt_step(torch.zeros(2, *SHAPE), ctx)
    assert ctx.logged["reliable_samples"] == 2 and ctx.logged["kept_samples"] == 1
    terms["entropy"].backward()
    assert logits2.grad[0].abs().sum() == 0 and logits2.grad[1].abs().sum() > 0
    assert torch.allclose(method.average, 0.9 * probabilities[kept].mean(0) + 0.1 * logits2.detach().softmax(1)[1])
    ctx = _ctx()  # nothing kept: no term, so the trainer steps nothing
    assert _stubbed(method, torch.tensor([unsure], requires_grad=True)).adapt_step(torch.zeros(1, *SHAPE), ctx) == {}
    assert ctx.logged["kept_samples"] == 0


def test_sars_filter_drops_high_entropy_samples_from_both_passes():
    logits = torch.tensor([[6.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.0, 5.0]], requires_grad=True)
    method = _stubbed(SAR(_net(), CLASSES), logits)
    ctx = _ctx()
    terms = method.adapt_step(torch.zeros(3, *SHAPE), ctx)
    assert ctx.logged["reliable_samples"] == 2 and ctx.logged["kept_samples"] == 2
    entropy = softmax_entropy(logits.detach())
    assert terms["entropy"].item() == pytest.approx(entropy[[0, 2]].mean().item(), rel=1e-6)
    terms["entropy"].backward()
    assert logits.grad[1].abs().sum() == 0 and logits.grad[[0, 2]].abs().sum() > 0
    with pytest.raises(ConfigError, match="method.entropy_margin=0"):
        SAR(_net(), CLASSES, entropy_margin=0)


def _entropies_at(method, x, margin, keep=None):
    entropy = softmax_entropy(method.predict(x))
    keep = entropy.detach() < margin if keep is None else keep & (entropy.detach() < margin)
    return entropy[keep].mean(), keep


def test_sars_functional_perturbed_pass_gives_the_gradient_at_w_plus_e_as_in_place_sam():
    torch.manual_seed(0)
    method = SAR(_net(), CLASSES, entropy_margin=0.99, rho=0.5).train()
    method.param_groups(method.stages()[0])  # gradients for the adapted parameters only, as in a run
    x = torch.randn(16, *SHAPE) * 3
    reference = copy.deepcopy(method)
    weights = {k: v.detach().clone() for k, v in method.named_parameters()}
    # the official two steps, in place: ascend to w + e with the first gradient, take the gradient there
    params = reference.adapted()
    first, reliable = _entropies_at(reference, x, method.margin)
    assert 0 < reliable.sum() < len(x)  # the filter is at work
    first.backward()
    norm = torch.stack([p.grad.norm() for p in params]).norm()
    with torch.no_grad():
        for p in params:
            p.add_(0.5 * p.grad / (norm + 1e-12))
            p.grad = None
    second, _ = _entropies_at(reference, x, method.margin, reliable)
    second.backward()
    # dasuite's: one loss whose backward is the engine's, the weights never moved
    terms = method.adapt_step(x, _ctx())
    terms["entropy"].backward()
    assert terms["entropy"].item() == pytest.approx(second.item(), rel=1e-5)
    assert {k for k, v in method.named_parameters() if not torch.equal(v.detach(), weights[k])} == set()
    ours = {k: p.grad for k, p in method.named_parameters() if p.grad is not None}
    theirs = {k: p.grad for k, p in reference.named_parameters() if p.grad is not None}
    assert set(ours) == set(theirs) == _affine(method)
    for k in ours:
        assert torch.allclose(ours[k], theirs[k], atol=1e-6, rtol=1e-4), k
    # and not the gradient at w
    plain, _ = _entropies_at(copy.deepcopy(method), x, method.margin)
    assert plain.item() != pytest.approx(second.item(), rel=1e-5)


def test_sars_recovery_criterion_is_the_entropy_ema_below_its_threshold():
    method = SAR(_net(), CLASSES)
    assert not method.collapsed()  # no e_m yet
    method.track(torch.tensor(0.5), torch.tensor(True))
    method.track(torch.tensor(0.1), torch.tensor(True))
    assert method.entropy_ema.item() == pytest.approx(0.9 * 0.5 + 0.1 * 0.1) and not method.collapsed()
    method.track(torch.tensor(9.0), torch.tensor(False))  # nothing kept: e_m unchanged
    assert method.entropy_ema.item() == pytest.approx(0.46)
    method.entropy_ema.fill_(0.19)
    assert method.collapsed() and not SAR(_net(), CLASSES, recovery_threshold=None).collapsed()


def test_sar_recovers_the_deployed_model_whenever_its_ema_falls_below_the_threshold(deployed):
    before = _source_weights(deployed, SAR)
    always = SAR(_net(), CLASSES, recovery_threshold=100.0)  # e_m is always below: reset after every step
    _adapt(deployed, always, "recovered")
    assert _changed(always, before) == set() and not always.entropy_ema_seen
    never = SAR(_net(), CLASSES, recovery_threshold=None)
    _adapt(deployed, never, "unrecovered")
    assert _changed(never, before) and never.entropy_ema_seen


def test_rdumb_resets_to_the_deployed_model_every_t_steps(deployed):
    before = _source_weights(deployed, RDumb)
    kept = {"redundancy_margin": 1.0, "entropy_margin": 0.9}  # most samples kept, so that each step adapts
    reset = RDumb(_net(), CLASSES, reset_every=STREAM_STEPS, **kept)  # the stream's last step is a reset
    _adapt(deployed, reset, "rdumb_reset")
    assert _changed(reset, before) == set() and not reset.average_seen  # the moving average put back too
    earlier = RDumb(_net(), CLASSES, reset_every=STREAM_STEPS - 1, **kept)  # reset after step 6, adapts on step 7
    _adapt(deployed, earlier, "rdumb_step_7")
    assert _changed(earlier, before) and earlier.average_seen
    assert RDumb(_net(), CLASSES).reset_every == 1000 and RDumb(_net(), CLASSES).fisher_alpha == 0


class SARSignalsItself(SignalsItself, SAR):
    """SAR stopped mid-stream (SIGTERM at ``signal_at_step``) while ``marker`` does not exist."""


def test_sar_stopped_mid_stream_resumes_exactly_with_its_recovery_state(deployed, tmp_path):
    """At this threshold e_m falls below it after steps 1 and 5 of 7 (a reset before and one after the stop, after
    step 3): the resumed run must reset to the deployed model, not to the weights it resumed with."""
    pair, source, _ = deployed
    sar = {"signal_at_step": 2, "recovery_threshold": 0.38}

    def fresh(marker):
        seed_everything(0)
        return SARSignalsItself(_net(), CLASSES, marker=str(marker), **sar)

    (tmp_path / "done").touch()
    straight = fresh(tmp_path / "done")
    reference = fit(straight, pair, _trainer(), run_dir=tmp_path / "straight", init_from=source)
    with pytest.raises(KeyboardInterrupt):
        fit(fresh(tmp_path / "marker"), pair, _trainer(), run_dir=tmp_path / "stopped", init_from=source)
    shutil.copytree(tmp_path / "stopped", tmp_path / "control")
    path = tmp_path / "stopped" / "checkpoints" / "last.pt"
    checkpoint = torch.load(path, weights_only=False)
    assert checkpoint["partial"]["epoch_step"] == 3 and checkpoint["callbacks"]["recovery_reset"] is not None

    def resume(folder, checkpoint):
        method = fresh(tmp_path / "marker")
        load_model(method, checkpoint, folder / "checkpoints" / "last.pt")  # as dasuite train resume= does
        run = RunFolder(folder)
        run.logger = Logger(folder, None)
        summary = train_run(method, pair, _trainer(), run, 0, {"method": "SAR", "dataset": "DomainPair",
                                                                 "backbone": "LeNet"}, checkpoint=checkpoint)
        return method, summary

    resumed, summary = resume(tmp_path / "stopped", checkpoint)
    assert summary["online_accuracy"] == reference.summary["online_accuracy"]
    assert [k for k, v in straight.state_dict().items() if not torch.equal(v, resumed.state_dict()[k])] == []
    final = lambda path: {k: v for k, v in RunFolder(path).read_metrics()[-1].items() if k != "time_s"}  # noqa: E731
    assert final(tmp_path / "stopped") == final(tmp_path / "straight")
    # the control: without the deployed weights in the checkpoint, step 5's reset goes to step 3's weights
    forgetful = torch.load(tmp_path / "control" / "checkpoints" / "last.pt", weights_only=False)
    forgetful["callbacks"]["recovery_reset"] = None
    control, _ = resume(tmp_path / "control", forgetful)
    assert any(not torch.equal(v, control.state_dict()[k]) for k, v in straight.state_dict().items())
