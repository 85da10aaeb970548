"""Label-free validators and the collapse guard on small hand-made predictions (dasuite/validators)."""

import dataclasses
import math

import pytest
import torch

from dasuite.validators import VALIDATORS, Outputs, score
from dasuite.validators.bnm import bnm
from dasuite.validators.class_ami import class_ami
from dasuite.validators.collapse import collapse_guard
from dasuite.validators.dev import dev
from dasuite.validators.entropy import entropy
from dasuite.validators.im import im
from dasuite.validators.iwcv import iwcv
from dasuite.validators.mixval import mixval, probes
from dasuite.validators.snd import snd
from dasuite.validators.source_acc import source_acc

BIG = 50.0  # logits this far apart are one-hot predictions in float64


def one_hot_logits(classes, num_classes):
    return BIG * torch.nn.functional.one_hot(torch.as_tensor(classes), num_classes).double()


def outputs(target_logits, source_logits=None, source_labels=None, source_features=None, target_features=None):
    n_t, c = target_logits.shape
    source_logits = one_hot_logits([0, 1], c) if source_logits is None else source_logits
    source_labels = torch.tensor([0, 1]) if source_labels is None else source_labels
    return Outputs(torch.zeros(len(source_labels), 3, dtype=torch.float64) if source_features is None else source_features,
                   source_logits, source_labels,
                   torch.zeros(n_t, 3, dtype=torch.float64) if target_features is None else target_features,
                   target_logits)


def test_source_acc_counts_correct_source_predictions():
    o = outputs(one_hot_logits([0, 1], 2), one_hot_logits([0, 1, 1, 0], 2), torch.tensor([0, 1, 0, 0]))
    assert source_acc(o) == pytest.approx(0.75)


def test_entropy_is_zero_for_confident_and_minus_log_c_for_uniform_predictions():
    assert entropy(outputs(one_hot_logits([0, 1, 2, 3], 4))) == pytest.approx(0.0, abs=1e-9)
    assert entropy(outputs(torch.zeros(5, 4, dtype=torch.float64))) == pytest.approx(-math.log(4))


def test_im_rewards_confident_and_diverse_predictions():
    assert im(outputs(one_hot_logits([0, 1, 2, 3], 4))) == pytest.approx(math.log(4), abs=1e-9)  # confident, balanced
    assert im(outputs(one_hot_logits([2, 2, 2, 2], 4))) == pytest.approx(0.0, abs=1e-9)  # confident, collapsed
    assert im(outputs(torch.zeros(4, 4, dtype=torch.float64))) == pytest.approx(0.0, abs=1e-9)  # uncertain


def test_bnm_is_the_nuclear_norm_per_sample():
    assert bnm(outputs(one_hot_logits([0, 1, 2, 3], 4))) == pytest.approx(1.0)  # rank 4, singular values 1
    assert bnm(outputs(one_hot_logits([1, 1, 1, 1], 4))) == pytest.approx(0.5)  # rank 1: sqrt(4) / 4


def test_snd_of_identical_predictions_is_the_entropy_of_a_uniform_neighbourhood():
    same = one_hot_logits([1] * 6, 3)
    assert snd(outputs(same)) == pytest.approx(math.log(5))
    two_groups = one_hot_logits([0, 0, 0, 1, 1, 1], 3)  # each sample's neighbours: its 2 twins
    assert snd(outputs(two_groups)) == pytest.approx(math.log(2), abs=1e-6)


def test_class_ami_is_high_when_predictions_follow_the_feature_clusters():
    torch.manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 10.0]], dtype=torch.float64)
    ys, yt = torch.tensor([0, 1] * 20), torch.tensor([0, 1] * 30)
    xs = centres[ys] + 0.1 * torch.randn(40, 2, dtype=torch.float64)
    xt = centres[yt] + 0.1 * torch.randn(60, 2, dtype=torch.float64)
    agreeing = Outputs(xs, one_hot_logits(ys, 2), ys, xt, one_hot_logits(yt, 2))
    random_predictions = Outputs(xs, one_hot_logits(ys, 2), ys, xt, one_hot_logits(torch.randint(0, 2, (60,)), 2))
    assert class_ami(agreeing) == pytest.approx(1.0)
    assert class_ami(random_predictions) < 0.6


def on_a_line(x, logits_of):
    """Outputs of a 1-D model ``logits_of`` on target inputs ``x``, with the probe MixVal mixes them through."""
    x = torch.tensor(x, dtype=torch.float64)
    o = outputs(logits_of(x))
    o.probe = lambda i, j, ratio: logits_of(ratio * x[i] + (1 - ratio) * x[j])
    return o


def sign(x):  # class 1 for x > 0
    return torch.stack([-x, x], 1)


def outside(x):  # class 1 for |x| > 1: not convex
    return torch.stack([1 - x.abs(), x.abs() - 1], 1)


@pytest.mark.parametrize(("x", "logits_of", "expected"), [
    # two samples a class: each class anchors one intra probe (its twin: the same point, right) and one
    # inter probe. Class 0 at -3 mixed with 1: 0.55·(-3) + 0.45·1 = -1.2, right; class 1 at 1 mixed with
    # -3: 0.55 - 1.35 = -0.8, wrong. ICE_intra = 1, ICE_inter = 1/2.
    ([-3, -3, 1, 1], sign, (1 + 0.5) / 2),
    ([-1.2, -1.2, 1, 1], sign, (1 + 1) / 2),  # 0.55 - 0.45·1.2 = +0.01: right
    ([-1.25, -1.25, 1, 1], sign, (1 + 0.5) / 2),  # 0.55 - 0.45·1.25 = -0.0125: wrong
    # class 1 at -3 and 3: its intra probe 0.55·(∓3) + 0.45·(±3) = ∓0.3 falls inside, wrong; its inter probe
    # (partner 0) ∓1.65, right; class 0 at 0: intra right, inter 0.45·(±3), outside, wrong.
    ([-3, 0, 0, 3], outside, (0.5 + 0.5) / 2),
])
def test_mixval_on_hand_made_probes(x, logits_of, expected):
    assert mixval(on_a_line(x, logits_of)) == pytest.approx(expected)


def test_mixvals_probes_cover_every_sample_once_and_pair_by_predicted_class():
    labels = torch.tensor([0, 0, 0, 1, 2, 2, 2, 2])
    (intra, intra_partners), (inter, inter_partners) = probes(labels, torch.Generator().manual_seed(0))
    assert sorted(torch.cat([intra, inter]).tolist()) == list(range(8))  # one probe per sample
    assert len(intra) == 1 + 0 + 2  # half of each class, rounded down: a lone sample has no intra partner
    assert (labels[intra] == labels[intra_partners]).all() and (intra != intra_partners).all()
    assert (labels[inter] != labels[inter_partners]).all()
    again = probes(labels, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for pair, same in zip(again, [(intra, intra_partners), (inter, inter_partners)])
               for a, b in zip(pair, same))


def test_mixval_is_nan_with_one_predicted_class_or_without_a_model():
    assert math.isnan(mixval(on_a_line([1, 2, 3, 4], sign)))  # no inter-cluster probe
    assert math.isnan(mixval(outputs(one_hot_logits([0, 1, 0, 1], 2))))  # no probe


def shifted_pair(target_near_hard: bool):
    """Source features in two clusters: around 0 the model is right, around 5 it is wrong. The target
    lies near the hard cluster (or is spread like the source)."""
    torch.manual_seed(1)
    easy = torch.randn(100, 2, dtype=torch.float64)
    hard = 5 + torch.randn(100, 2, dtype=torch.float64)
    source = torch.cat([easy, hard])
    labels = torch.zeros(200, dtype=torch.long)
    logits = torch.cat([one_hot_logits([0] * 100, 2) / 25, one_hot_logits([1] * 100, 2) / 25])  # wrong on the hard half
    target = 5 + torch.randn(300, 2, dtype=torch.float64) if target_near_hard else source[torch.randperm(200)]
    return Outputs(source, logits, labels, target, torch.zeros(len(target), 2, dtype=torch.float64))


def test_iwcv_and_dev_weight_the_source_losses_towards_the_target():
    unweighted = -shifted_pair(True).source_losses.mean().item()
    shifted, same = shifted_pair(True), shifted_pair(False)
    assert iwcv(shifted) < unweighted - 0.5  # the hard cluster, where the target is, counts more
    assert dev(shifted) < unweighted - 0.5
    assert iwcv(same) == pytest.approx(unweighted, abs=0.5)  # weights near 1 when nothing shifted
    assert dev(same) == pytest.approx(unweighted, abs=0.5)


def test_every_validator_is_scored_and_tiny_sets_give_nan():
    pair = shifted_pair(False)
    predicted = one_hot_logits(torch.arange(len(pair.target_logits)) % 2, 2)  # two classes, so MixVal has probes
    o = dataclasses.replace(pair, target_logits=predicted, probe=lambda i, j, ratio: predicted[i])
    scores = score(o)
    assert set(scores) == set(VALIDATORS)
    assert all(math.isfinite(v) for v in scores.values())
    tiny = outputs(one_hot_logits([0], 2))
    assert all(math.isnan(v) for v in score(tiny).values())


@pytest.mark.parametrize(("classes", "collapsed"), [([0] * 10, True), ([0] * 9 + [1], True), ([0, 1, 2, 3] * 3, False),
                                                     ([0, 1] * 6, False)])  # exactly half: allowed
def test_the_collapse_guard_flags_predictions_that_cover_few_classes(classes, collapsed):
    guard = collapse_guard(one_hot_logits(classes, 4), min_classes=0.5, min_entropy=0.5)
    assert guard["guard/collapsed"] is collapsed
    assert guard["guard/class_fraction"] == pytest.approx(len(set(classes)) / 4)
    assert 0.0 <= guard["guard/histogram_entropy"] <= 1.0


def test_the_guards_entropy_is_one_for_a_uniform_histogram_and_zero_for_one_class():
    assert collapse_guard(one_hot_logits([0, 1, 2] * 4, 3), 0.5, 0.5)["guard/histogram_entropy"] == pytest.approx(1.0)
    assert collapse_guard(one_hot_logits([2] * 5, 3), 0.5, 0.5)["guard/histogram_entropy"] == pytest.approx(0.0)
