"""Named draws and logged values: a batch maps each set its stage draws to its items (inputs, labels,
positions), a stage draws any training set the pair names (one under a new name too) and a name the pair
lacks is refused when training starts, and ``ctx.log`` values reach metrics.jsonl beside the loss terms
without entering the loss."""

import dataclasses

import pytest
import torch

from dasuite.data.pair import Domains, DomainPair, Labeled, split
from dasuite.engine.callbacks.defaults import default_callbacks
from dasuite.engine.run_folder import RunFolder
from dasuite.engine.trainer import Trainer
from dasuite.errors import ConfigError
from dasuite.methods.base import Batch, Draw, Stage, StepContext
from dasuite.methods.source_only import SourceOnly
from dasuite.models.backbones import MLP


def _pair() -> DomainPair:
    g = torch.Generator().manual_seed(0)
    source = Labeled(torch.randn(40, 2, generator=g), torch.arange(40) % 2)
    target = Labeled(torch.randn(24, 2, generator=g) + 1, torch.arange(24) % 2)
    test = Labeled(torch.randn(20, 2, generator=g) + 1, torch.arange(20) % 2)
    return split(Domains(source, target, test, 2, (2,)), val_fraction=0.1, labels_per_class=0, seed=0)


class WithTestStream(DomainPair):
    """A pair that offers its target test set for training with its labels (dasuite's own offers its inputs only)."""

    def training_sets(self):
        return {**super().training_sets(), "target_test": (self.target_test.x, self.target_test.y)}


def _fit(method, pair, run_dir, **settings):
    trainer = Trainer(**{"epochs": 2, "batch_size": 8, "device": "cpu", "deterministic": True,
                         "callbacks": default_callbacks(progress=False, plots=False), **settings})
    return trainer.fit(method, pair, RunFolder(run_dir), seed=0)


def _method(cls=SourceOnly, **kwargs):
    torch.manual_seed(0)
    return cls(MLP((2,), hidden=[8]), 2, **kwargs)


def test_a_batch_maps_draw_names_to_their_items_with_shorthands_for_the_default_draws():
    source, target = Draw(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]), torch.arange(4)), Draw(torch.randn(3, 2))
    batch = Batch({"source": source, "target": target, "source_2": Draw(torch.randn(2, 2), torch.tensor([1, 1]))})
    assert list(batch) == ["source", "target", "source_2"] and len(batch) == 3 and "source_2" in batch
    assert batch.xs is source.x and batch.ys is source.y and batch.xt is target.x and target.y is None
    assert batch.xl is None and batch.yl is None and "target_labeled" not in batch
    with pytest.raises(KeyError, match=r"this step draws no 'target_test' set; it draws \['source', 'source_2', "):
        batch["target_test"]
    with pytest.raises(RuntimeError, match=r"batch.fetch\('source', ...\): this batch was built without a fetch"):
        batch.fetch("source", torch.arange(2))


def test_ctx_log_takes_one_number_per_name_and_step_detached():
    ctx = StepContext(0.5, "adapt", "main", 0, 0)
    weight = torch.ones(3, requires_grad=True)
    ctx.log("norm", weight.norm())
    ctx.log("count", 7)
    assert not ctx.logged["norm"].requires_grad and ctx.logged["count"].dtype == torch.float32
    with pytest.raises(ValueError, match=r"ctx.log\('norm', ...\) was called twice in one step"):
        ctx.log("norm", 1.0)
    with pytest.raises(ValueError, match=r"ctx.log\('rows', ...\) got a tensor of shape \(3,\); log one number"):
        ctx.log("rows", weight)
    with pytest.raises(ValueError, match="the name must be a non-empty string"):
        ctx.log("", 1.0)


class DrawsTheTestStream(SourceOnly):
    """Source-only whose stage also draws the pair's ``target_test`` set; it keeps the batches it saw."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def stages(self):
        return [Stage("adapt", draws=("source", "target_test"))]

    def training_step(self, batch, ctx):
        self.seen.append(batch)
        return super().training_step(batch, ctx)


def test_a_stage_draws_a_set_the_pair_offers_under_a_new_name(tmp_path):
    pair = WithTestStream(**{f.name: getattr(_pair(), f.name) for f in dataclasses.fields(DomainPair)})
    method = _method(DrawsTheTestStream)
    result = _fit(method, pair, tmp_path)
    assert result.steps == len(method.seen) > 0
    for batch in method.seen:
        assert list(batch) == ["source", "target_test"] and batch.xt is None
        test, stream = pair.target_test, batch["target_test"]
        assert torch.equal(stream.x, test.x[stream.index]) and torch.equal(stream.y, test.y[stream.index])
        fetched = batch.fetch("target_test", torch.tensor([0, 19]))
        assert torch.equal(fetched.x, test.x[[0, 19]]) and torch.equal(fetched.y, test.y[[0, 19]])
    assert result.samples == sum(len(b["source"]) + len(b["target_test"]) for b in method.seen)


class DrawsTargetLabels(SourceOnly):
    def stages(self):
        return [Stage("adapt", draws=("source", "target_labeled"))]


class DrawsASecondSource(SourceOnly):
    def stages(self):
        return [Stage("adapt", draws=("source", "source_2"))]


def test_a_stage_drawing_a_set_the_pair_lacks_is_refused_naming_the_pair_s_sets(tmp_path):
    with pytest.raises(ConfigError, match=r"method DrawsASecondSource draws \['source_2'\], which this dataset "
                                          r"pair does not have: .* here \['source', 'target', 'target_test'\]\.$"):
        _fit(_method(DrawsASecondSource), _pair(), tmp_path)
    with pytest.raises(ConfigError, match=r"\('target_labeled' needs dataset.target_labels_per_class=k with k >= 1\)"):
        _fit(_method(DrawsTargetLabels), _pair(), tmp_path / "labeled")


class LogsScaledCE(SourceOnly):
    """Source-only that logs ten times its cross-entropy, graph and all, beside the term itself."""

    def training_step(self, batch, ctx):
        terms = super().training_step(batch, ctx)
        ctx.log("cls_x10", 10 * terms["cls"])
        return terms


def test_logged_values_are_averaged_like_the_terms_and_never_enter_the_loss(tmp_path):
    plain, logging = _method(), _method(LogsScaledCE)
    _fit(plain, _pair(), tmp_path / "plain", eval_every=1)
    _fit(logging, _pair(), tmp_path / "logging", eval_every=1)
    without, with_log = ([{k: v for k, v in r.items() if k != "time_s"} for r in RunFolder(run).read_metrics()]
                         for run in (tmp_path / "plain", tmp_path / "logging"))
    assert len(with_log) == 2
    for plain_record, record in zip(without, with_log):
        assert record.pop("train/cls_x10") == pytest.approx(10 * record["train/cls"], rel=1e-6)
        assert record["train/loss"] == record["train/cls"]  # the loss is the terms' sum alone
        assert record == plain_record
    # the same gradients every step: the same weights at the end
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), logging.state_dict().values()))


class LogsItsTerm(SourceOnly):
    def training_step(self, batch, ctx):
        terms = super().training_step(batch, ctx)
        ctx.log("cls", terms["cls"])
        return terms


def test_a_logged_value_named_as_a_loss_term_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"ctx.log\('cls', ...\) in the 'source' stage's 'main' step: that name is a "
                                         r"loss term of the step \(terms \['cls'\]\)"):
        _fit(_method(LogsItsTerm), _pair(), tmp_path)
