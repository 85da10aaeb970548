"""Test-time adaptation's core: a stream stage reads every target test item once, in a seeded (or label-shifted)
order; each batch is predicted before the method adapts on it and scored by the engine; TENT adapts only the
BatchNorm affine parameters; the episodic protocol ends where it started; the unadapted model's online accuracy
is its evaluation accuracy."""

import pytest
import torch

from dasuite import fit, seed_everything
from dasuite.data.pair import pair_from_tensors
from dasuite.engine.callbacks.defaults import default_callbacks
from dasuite.engine.stream_order import stream_order
from dasuite.engine.trainer import Trainer
from dasuite.errors import ConfigError
from dasuite.methods.base import Stream
from dasuite.methods.bn_adapt import BatchNormAdapt
from dasuite.methods.source_only import SourceOnly
from dasuite.methods.tent import Tent
from dasuite.models.backbones import MLP
from dasuite.models.lenet import lenet


def _images(n: int, shift: float, generator: torch.Generator):
    y = torch.randint(0, 2, (n,), generator=generator)
    x = torch.randn(n, 1, 28, 28, generator=generator) * 0.5
    x[:, :, 5:12, 5:12] += (y.float() * 2 - 1).view(-1, 1, 1, 1)
    return x + shift, y


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A LeNet with BatchNorm trained on clean images, and a pair whose target is shifted."""
    g = torch.Generator().manual_seed(0)
    (xs, ys), (xt, yt) = _images(300, 0.0, g), _images(250, 1.5, g)
    pair = pair_from_tensors((xs, ys), xt[:100], (xt[100:], yt[100:]))
    folder = tmp_path_factory.mktemp("tta") / "source"
    seed_everything(0)
    fit(SourceOnly(lenet((1, 28, 28), batch_norm=True), 2), pair, _trainer(epochs=2), run_dir=folder)
    return folder, pair


def _trainer(**settings):
    return Trainer(batch_size=32, callbacks=default_callbacks(plots=False, progress=False, select=None), **settings)


def _adapt(method, source_run, run_dir, **settings):
    folder, pair = source_run
    trainer = _trainer(epochs=1, optimizer="adam", lr=1e-3, weight_decay=0.0, lr_schedule="constant", **settings)
    return fit(method, pair, trainer, run_dir=run_dir, init_from=folder)


def _lenet():
    return lenet((1, 28, 28), batch_norm=True)


def test_a_stream_reads_every_item_once_in_a_seeded_order():
    labels = torch.arange(50) % 5
    given = stream_order(labels, "given", None, torch.Generator().manual_seed(0))
    shuffled = [stream_order(labels, "shuffled", None, torch.Generator().manual_seed(s)) for s in (0, 0, 1)]
    assert given.tolist() == list(range(50))
    assert sorted(shuffled[0].tolist()) == list(range(50))
    assert torch.equal(shuffled[0], shuffled[1]) and not torch.equal(shuffled[0], shuffled[2])


def test_a_label_shifted_stream_holds_each_item_once_in_longer_runs_of_one_class():
    labels = torch.arange(1000) % 10

    def mean_run(order):
        classes = labels[order]
        return len(classes) / (1 + int((classes[1:] != classes[:-1]).sum()))

    shifted = stream_order(labels, "shuffled", 0.1, torch.Generator().manual_seed(0))
    shuffled = stream_order(labels, "shuffled", None, torch.Generator().manual_seed(0))
    assert sorted(shifted.tolist()) == list(range(1000))
    assert torch.equal(shifted, stream_order(labels, "shuffled", 0.1, torch.Generator().manual_seed(0)))
    assert mean_run(shifted) > 3 * mean_run(shuffled)


def test_a_continual_stream_keeps_its_shifts_in_order_under_label_shift():
    labels = torch.arange(200) % 4
    order = stream_order(labels, "given", 0.5, torch.Generator().manual_seed(0), segments=[100, 100])
    assert sorted(order[:100].tolist()) == list(range(100)) and sorted(order[100:].tolist()) == list(range(100, 200))


def test_the_unadapted_model_predicts_online_as_it_evaluates(source_run, tmp_path):
    run = _adapt(BatchNormAdapt(_lenet(), 2, norm="source"), source_run, tmp_path / "none")
    pair = source_run[1]
    assert run.summary["steps"] == -(-len(pair.target_test) // 32)  # one pass, the last batch smaller
    assert run.summary["samples_per_second"] > 0
    assert run.summary["online_accuracy"] == pytest.approx(run.summary["target_acc"], abs=1e-6)
    trained = torch.load(source_run[0] / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(v.cpu(), trained[k]) for k, v in run.method.state_dict().items())  # nothing changed


def test_tent_adapts_only_the_batchnorm_affine_parameters(source_run, tmp_path):
    run = _adapt(Tent(_lenet(), 2), source_run, tmp_path / "tent")
    trained = torch.load(source_run[0] / "checkpoints" / "last.pt", weights_only=True)["model"]
    changed = {k for k, v in run.method.state_dict().items() if not torch.equal(v.cpu(), trained[k])}
    assert changed and all(k.rsplit(".", 1)[1] in ("weight", "bias") and ".conv." in k for k in changed), changed
    assert "online_accuracy" in run.summary and 0 <= run.summary["online_accuracy"] <= 1
    assert "train/entropy" in run.metrics[-1]


def test_the_episodic_protocol_ends_where_it_started(source_run, tmp_path):
    start = Tent(_lenet(), 2, protocol="episodic")
    run = _adapt(start, source_run, tmp_path / "episodic")
    trained = torch.load(source_run[0] / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(v.cpu(), trained[k]) for k, v in run.method.state_dict().items())
    online = _adapt(Tent(_lenet(), 2), source_run, tmp_path / "online")
    assert any(not torch.equal(v.cpu(), trained[k]) for k, v in online.method.state_dict().items())


def test_online_accuracy_scores_each_shift_of_a_continual_stream(source_run, tmp_path):
    folder, pair = source_run
    half = len(pair.target_test) // 2
    pair.target_test_segments = [("first", half), ("second", len(pair.target_test) - half)]
    try:
        run = _adapt(BatchNormAdapt(_lenet(), 2, stream_order="given"), source_run, tmp_path / "continual")
    finally:
        pair.target_test_segments = None
    record = run.metrics[-1]
    parts = [record["online/accuracy/first"], record["online/accuracy/second"]]
    assert record["online/accuracy"] == pytest.approx((parts[0] * half + parts[1] * (len(pair.target_test) - half))
                                                      / len(pair.target_test), abs=1e-6)


def test_tent_on_a_model_without_batchnorm_is_one_paragraph():
    with pytest.raises(ConfigError, match="has none: choose a backbone with BatchNorm"):
        Tent(MLP((2,), hidden=[8]), 2).param_groups(None)


@pytest.mark.parametrize("settings, problem", [
    ({"protocol": "nightly"}, "method.protocol='nightly' is not one of online, episodic, offline"),
    ({"norm": "layer"}, "method.norm='layer' is not one of batch, source"),
    ({"stream_order": "sorted"}, "Stream order 'sorted' is not one of given, shuffled"),
    ({"label_shift": 0}, "label_shift=0 must be a positive Dirichlet concentration"),
    ({"reset_every": 0}, "method.reset_every=0 must be null"),
])
def test_bad_test_time_settings_are_named(settings, problem):
    with pytest.raises(ConfigError, match=problem):
        Tent(_lenet(), 2, **settings)


def test_a_stream_stage_reads_once():
    with pytest.raises(ValueError, match="reads a stream, once: it needs epochs=1"):
        from dasuite.methods.base import Stage

        Stage("adapt", draws=("target_test",), epochs=3, stream=Stream())
