"""MDD: the disparity discrepancy on hand-made logits, the reversed gradient, and a short training run."""

import math

import pytest
import torch

from dasuite.errors import ConfigError
from dasuite.losses import MarginDisparityDiscrepancy
from dasuite.methods.base import MAIN, Batch, Draw, StepContext
from dasuite.methods.mdd import MDD
from dasuite.models.backbones import MLP
from tests.conftest import train_in_process

LN3 = math.log(3.0)
# main logits: source predicts [0, 1], target [1, 0]
Y_S, Y_T = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.0, 1.0], [3.0, 0.0]])
# adversary's probabilities: source [.5, .5] and [.25, .75]; target [.25, .75] and [.5, .5]
ADV_S, ADV_T = torch.tensor([[0.0, 0.0], [0.0, LN3]]), torch.tensor([[0.0, LN3], [0.0, 0.0]])


def test_discrepancy_on_hand_made_logits():
    # source: CE of the adversary to the main predictions: -ln .5 and -ln .75, mean ln(8/3) / 2
    # target: log(1 - p_adv[main prediction]) = ln(1 - .75) and ln(1 - .5), mean -ln(8) / 2
    expected = -math.log(8) / 2 - 4 * math.log(8 / 3) / 2
    value = MarginDisparityDiscrepancy(margin=4.0)(Y_S, ADV_S, Y_T, ADV_T)
    assert value.item() == pytest.approx(expected, rel=1e-5)
    assert MarginDisparityDiscrepancy(margin=1.0)(Y_S, ADV_S, Y_T, ADV_T).item() == pytest.approx(
        -math.log(8) / 2 - math.log(8 / 3) / 2, rel=1e-5)


def test_target_term_uses_log_one_minus_softmax_with_the_official_shift():
    # an adversary certain of the main prediction: log(1 - 1 + 1e-6), not -inf
    sure = MarginDisparityDiscrepancy(margin=0.0)(Y_S, ADV_S, torch.tensor([[0.0, 1.0]]), torch.tensor([[-100.0, 100.0]]))
    assert sure.item() == pytest.approx(math.log(1e-6), rel=1e-4)
    # an adversary certain of the other class: log(min(1 + 1e-6, 1)) = 0
    other = MarginDisparityDiscrepancy(margin=0.0)(Y_S, ADV_S, torch.tensor([[0.0, 1.0]]), torch.tensor([[100.0, -100.0]]))
    assert other.item() == 0.0


def _ctx(step: int) -> StepContext:
    return StepContext(progress=0.5, stage="adapt", optimizer=MAIN, epoch=0, step=step)


def _batch():
    g = torch.Generator().manual_seed(0)
    return Batch({"source": Draw(torch.randn(8, 2, generator=g), torch.randint(0, 3, (8,), generator=g)),
                  "target": Draw(torch.randn(8, 2, generator=g) + 1)})


def test_reversal_reaches_the_features_with_the_opposite_sign_and_not_the_main_head():
    torch.manual_seed(0)
    method = MDD(MLP((2,), hidden=[8]), 3)
    method.set_head([4])
    method.eval()  # no dropout: the two passes below see the same network
    step = 2000
    coeff = method.reversal_coeff(0.5, step)
    assert coeff == pytest.approx(0.1 * (2 / (1 + math.exp(-2)) - 1))
    batch = _batch()
    method.training_step(batch, _ctx(step))["mdd"].backward()
    reversed_grad = method.backbone.net[1].weight.grad.clone()
    adv_grad = method.adv_head[0].weight.grad.clone()
    assert method.head[0].weight.grad is None  # the main head enters only through argmax
    method.zero_grad()
    # the same term without reversal: the feature gradient flips sign and scales by the coefficient
    f_s, f_t = method.features_of_both(batch)
    plain = -method.discrepancy(method.head(f_s), method.adv_head(f_s), method.head(f_t), method.adv_head(f_t))
    plain.backward()
    assert reversed_grad.abs().sum() > 0
    assert torch.allclose(reversed_grad, -coeff * method.backbone.net[1].weight.grad, atol=1e-7)
    assert torch.allclose(adv_grad, method.adv_head[0].weight.grad)  # the adversary itself is not reversed


def test_heads_share_the_shape_and_the_official_init():
    method = MDD(MLP((2,), hidden=[8]), 5, head_dropout=0.3)
    method.set_head([16])
    for head in (method.head, method.adv_head):
        assert [type(m).__name__ for m in head] == ["Linear", "ReLU", "Dropout", "Linear"]
        assert head[2].p == 0.3 and head[3].out_features == 5 and torch.all(head[0].bias == 0)
    assert method.head[0].weight.std().item() == pytest.approx(0.01, rel=0.3)
    assert method.predict(torch.randn(4, 2)).shape == (4, 5)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"margin": -1}, "method.margin=-1 must be >= 0"),
    ({"head_dropout": 1.0}, r"method.head_dropout=1.0 must lie in \[0, 1\)"),
    ({"reversal_weight": "high"}, "method.reversal_weight='high' must be a number"),
    ({"warmup_steps": 0}, "method.warmup_steps=0 must be null or an integer >= 1"),
])
def test_bad_values_name_the_key(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MDD(MLP((2,)), 2, **kwargs)


def test_a_short_training_run_logs_both_terms(tmp_path):
    import json

    summary = train_in_process(tmp_path, "method=mdd", "trainer.epochs=1", "method.head_hidden=[8]")
    assert summary["status"] == "completed", summary.get("error")
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {"train/cls", "train/mdd"} <= set(rows[-1]) and all(math.isfinite(r["train/mdd"]) for r in rows)
