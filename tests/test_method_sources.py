"""Each method's losses and network against its official code (the commits cited in each module): MMD/DAN
and MDD as Transfer-Learning-Library, SHOT's pseudo-labels as tim-learn/SHOT, CDAN+E as thuml/CDAN."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from torch import nn

from dasuite.errors import ConfigError
from dasuite.losses import ConditionalDomainAdversarialLoss, MultiKernelMMD, MultilinearMap, entropy, shot_pseudo_labels
from dasuite.methods.base import MAIN, Batch, Draw, StepContext
from dasuite.methods.cdan import CDAN
from dasuite.methods.mdd import MDD
from dasuite.methods.mmd import MMD
from dasuite.methods.shot import SHOT
from dasuite.models.backbones import MLP
from dasuite.models.bottlenecks import use_bottleneck_form

TLL_WIDTHS = [2 * 2 ** k for k in range(-3, 2)]  # 2·α, α = 2^k, k = -3..1 (dan.py's GaussianKernel alphas)


def _ctx(stage="adapt", step=0):
    return StepContext(progress=0.5, stage=stage, optimizer=MAIN, epoch=0, step=step)


# ----- MMD / DAN ------------------------------------------------------------------------------------------

def _kernel(d2: float, sigma2: float) -> float:
    return sum(math.exp(-d2 / (c * sigma2)) for c in TLL_WIDTHS)


def test_mk_mmd_of_a_known_pair_is_the_sum_over_tlls_five_kernels():
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[3.0], [5.0]])
    # mean squared distance over the 16 ordered pairs of (0, 1, 3, 5), diagonal included: 2 × variance
    sigma2 = 2 * np.var([0.0, 1.0, 3.0, 5.0])
    assert sigma2 == pytest.approx(7.375)
    k = lambda d2: _kernel(d2, sigma2)  # noqa: E731
    quadratic = k(1) + k(4) - (k(9) + k(25) + k(4) + k(16)) / 2  # within pairs 0-1 and 3-5; the 4 cross pairs
    linear = (k(1) + k(4) - k(25) - k(4)) / 2 + (k(1) + k(4) - k(4) - k(25)) / 2  # i = 0 and i = 1 of the chain
    assert MultiKernelMMD(TLL_WIDTHS, "quadratic")(x, y).item() == pytest.approx(quadratic, rel=1e-6)
    assert MultiKernelMMD(TLL_WIDTHS, "linear")(x, y).item() == pytest.approx(linear, rel=1e-6)
    # summed, not averaged: the five kernels together give the sum of each alone
    alone = sum(MultiKernelMMD([c], "quadratic")(x, y).item() for c in TLL_WIDTHS)
    assert MultiKernelMMD(TLL_WIDTHS, "quadratic")(x, y).item() == pytest.approx(alone, rel=1e-6)


def _tll_index_matrix(n: int, linear: bool) -> torch.Tensor:
    """The weights TLL's ``_update_index_matrix`` puts on the joint kernel matrix (source rows first)."""
    index = torch.zeros(2 * n, 2 * n, dtype=torch.float64)
    if linear:
        for i in range(n):
            j = (i + 1) % n
            index[i, j] = index[n + i, n + j] = 1 / n
            index[i, n + j] = index[j, n + i] = -1 / n
        return index
    for i in range(n):
        for j in range(n):
            index[i, n + j] = index[n + i, j] = -1 / n ** 2
            if i != j:
                index[i, j] = index[n + i, n + j] = 1 / (n * (n - 1))
    return index


@pytest.mark.parametrize("estimator", ["linear", "quadratic"])
def test_mk_mmd_equals_tlls_index_matrix_form(estimator):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 5, generator=g, dtype=torch.float64)
    y = torch.randn(7, 5, generator=g, dtype=torch.float64) + 0.7
    z = torch.cat([x, y])
    d2 = ((z[None] - z[:, None]) ** 2).sum(2)  # as GaussianKernel: mean over the whole (2n)² matrix
    kernels = sum(torch.exp(-d2 / (c * d2.mean())) for c in TLL_WIDTHS)
    expected = (kernels * _tll_index_matrix(7, estimator == "linear")).sum()  # without TLL's constant 2/(n-1)
    assert MultiKernelMMD(TLL_WIDTHS, estimator)(x, y).item() == pytest.approx(expected.item(), rel=1e-9)


def test_mmd_method_runs_dan_as_tll_does():
    backbone = MLP((2,), hidden=[8], bottleneck_dim=4)
    method = MMD(backbone, 3)
    assert [type(m) for m in backbone.bottleneck] == [nn.Linear, nn.ReLU, nn.Dropout]
    assert backbone.bottleneck[2].p == 0.5 and backbone.bottleneck[0].out_features == 4
    assert method.mmd.estimator == "linear" and not method.joint_forward
    assert method.mmd.multipliers.tolist() == TLL_WIDTHS


def test_mmd_passes_source_and_target_separately_so_batchnorm_sees_each_domain_alone():
    torch.manual_seed(0)
    method = MMD(MLP((2,), hidden=[8], bottleneck_dim=4), 2, bottleneck="bn", estimator="quadratic")
    g = torch.Generator().manual_seed(1)
    batch = Batch({"source": Draw(torch.randn(6, 2, generator=g), torch.randint(0, 2, (6,), generator=g)),
                   "target": Draw(torch.randn(6, 2, generator=g) * 3 + 2)})
    method.train()
    separate = method.features_of_both(batch, joint=False)
    joint = method.features_of_both(batch, joint=True)
    assert torch.allclose(separate[0], method.backbone(batch.xs))
    assert torch.allclose(separate[1], method.backbone(batch.xt))
    assert not torch.allclose(separate[1], joint[1], atol=1e-3)  # per-domain batch statistics differ
    with torch.no_grad():
        term = method.training_step(batch, _ctx())["mmd"]
    assert term.item() == pytest.approx(method.mmd(*separate).item(), rel=1e-6)
    method.joint_forward = True
    with torch.no_grad():
        assert method.training_step(batch, _ctx())["mmd"].item() == pytest.approx(method.mmd(*joint).item(), rel=1e-6)


def test_a_bottleneck_form_keeps_its_widths_and_an_unchanged_form_keeps_its_weights():
    backbone = MLP((3,), hidden=[8], bottleneck_dim=5)
    built = backbone.bottleneck
    use_bottleneck_form(backbone, "bn")
    assert backbone.bottleneck is built  # already that form: untouched
    use_bottleneck_form(backbone, "bn_dropout")
    assert [type(m) for m in backbone.bottleneck] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout]
    assert (backbone.bottleneck[0].in_features, backbone.bottleneck[0].out_features) == (8, 5)
    plain = MLP((3,), hidden=[8])
    use_bottleneck_form(plain, "dropout")  # no bottleneck: nothing to reshape
    assert plain.bottleneck is None
    with pytest.raises(ConfigError, match="method.bottleneck='ln' is not a bottleneck form; choose one of bn,"):
        MMD(MLP((2,)), 2, bottleneck="ln")
    with pytest.raises(ConfigError, match="method.estimator='cubic' is not an MMD estimator; choose one of quadratic,"):
        MMD(MLP((2,)), 2, estimator="cubic")


# ----- MDD ------------------------------------------------------------------------------------------------

def test_mdd_bottleneck_has_tlls_form_and_initialisation():
    torch.manual_seed(0)
    backbone = MLP((2,), hidden=[64], bottleneck_dim=256)
    MDD(backbone, 3)
    linear = backbone.bottleneck[0]
    assert [type(m) for m in backbone.bottleneck] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout]
    assert backbone.bottleneck[3].p == 0.5
    assert torch.all(linear.bias == 0.1)
    assert linear.weight.mean().item() == pytest.approx(0.0, abs=5e-4)
    assert linear.weight.std().item() == pytest.approx(0.005, rel=0.05)


# ----- SHOT -----------------------------------------------------------------------------------------------

def _obtain_label(features: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """SHOT's ``obtain_label`` (object/image_target.py; distance cosine, threshold 0), in numpy and scipy."""
    f = np.concatenate([features, np.ones((len(features), 1))], 1)
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    num_classes = probabilities.shape[1]
    aff, predict = probabilities, probabilities.argmax(1)
    for _ in range(2):
        centres = aff.T @ f / (1e-8 + aff.sum(0)[:, None])
        labelset = np.where(np.eye(num_classes)[predict].sum(0) > 0)[0]
        predict = labelset[cdist(f, centres[labelset], "cosine").argmin(1)]
        aff = np.eye(num_classes)[predict]
    return predict


@pytest.mark.parametrize("seed", range(5))
def test_shot_pseudo_labels_follow_obtain_label(seed):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(60, 6, generator=g, dtype=torch.float64) + torch.randint(0, 3, (60, 1), generator=g) * 2
    logits = torch.randn(60, 5, generator=g, dtype=torch.float64) * 2
    logits[:, 4] -= 20  # class 4 is nobody's prediction: its cluster must be dropped
    probabilities = logits.softmax(1)
    labels = shot_pseudo_labels(features, probabilities)
    assert labels.dtype == torch.int64 and 4 not in labels.tolist()
    assert labels.tolist() == _obtain_label(features.numpy(), probabilities.numpy()).tolist()


def test_an_empty_class_gets_no_centroid_even_where_it_would_be_nearest():
    # two samples; class 2 is nobody's argmax, but the second sample's probability mass sits on it only
    # slightly less than on class 1, so its soft centroid is that sample itself: kept, it would take it
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    probabilities = torch.tensor([[0.9, 0.1, 0.0], [0.0, 0.51, 0.49]])
    assert shot_pseudo_labels(features, probabilities).tolist() == [0, 1]


def test_shot_pseudo_labels_are_fixed_per_epoch_from_the_whole_unaugmented_target_set():
    torch.manual_seed(0)
    method = SHOT(MLP((2,), hidden=[8], dropout=0.5), 3)
    source, adapt = method.stages()
    method.begin_epoch(source, 0, lambda draw: pytest.fail("the source stage needs no pseudo-labels"))
    assert method.pseudo_labels is None
    data, seen = torch.randn(12, 2) * 2, []

    def inputs(draw):
        seen.append(draw)
        yield from data.split(5)  # the whole set, in three evaluation batches, preprocessed for evaluation

    method.train()
    method.begin_epoch(adapt, 3, inputs)
    assert seen == ["target"] and method.training  # training mode restored
    method.eval()  # the labels are those of the evaluation-mode model (no dropout) on all 12 inputs
    with torch.no_grad():
        features = method.features(data)
        expected = shot_pseudo_labels(features, method.head(features).softmax(1))
    assert torch.equal(method.pseudo_labels, expected)
    # a step takes its items' labels by position, whatever its (augmented) inputs; a model that moved
    # during the epoch does not change them
    index = torch.tensor([7, 2, 11, 0])
    augmented = -data[index]
    optimizer = torch.optim.SGD(method.param_groups(adapt)[MAIN][0]["params"], lr=1.0)
    for _ in range(3):
        out = method.training_step(Batch({"target": Draw(augmented, index=index)}), _ctx())
        logits = method.frozen_head(method.features(augmented))
        assert out["pseudo"].item() == pytest.approx(
            method.beta * nn.functional.cross_entropy(logits, expected[index]).item(), rel=1e-5)
        optimizer.zero_grad()
        sum(out.values()).backward()
        optimizer.step()
    assert torch.equal(method.pseudo_labels, expected)
    with pytest.raises(RuntimeError, match=r"batch\['target'\].index"):
        method.training_step(Batch({"target": Draw(augmented)}), _ctx())


# ----- CDAN+E ---------------------------------------------------------------------------------------------

def _cdan_case():
    conditioning = MultilinearMap(3, 2)
    disc = nn.Linear(conditioning.out_features, 1)
    nn.init.zeros_(disc.weight)
    nn.init.constant_(disc.bias, 1.0)  # logit 1 for every sample: source BCE softplus(-1), target softplus(1)
    logits_s = torch.tensor([[10.0, -10.0], [0.0, 0.0]], requires_grad=True)  # certain, uncertain
    logits_t = torch.tensor([[10.0, -10.0], [10.0, -10.0]], requires_grad=True)  # both certain
    return disc, conditioning, torch.randn(2, 3), logits_s, torch.randn(2, 3), logits_t


def test_cdan_e_weights_are_normalised_per_domain_by_default_and_jointly_as_tll():
    disc, conditioning, f_s, logits_s, f_t, logits_t = _cdan_case()
    sp = nn.functional.softplus
    bce_s, bce_t = sp(torch.tensor(-1.0)).item(), sp(torch.tensor(1.0)).item()
    w_s, w_t = [2.0, 1.5], [2.0, 2.0]  # 1 + exp(-H): H = 0 (certain), log 2 (uncertain)
    domain = ConditionalDomainAdversarialLoss(disc, conditioning, True)(f_s, logits_s, f_t, logits_t)
    assert domain.item() == pytest.approx(0.5 * (bce_s + bce_t), rel=1e-4)  # each domain's weights sum to 1
    joint_loss = ConditionalDomainAdversarialLoss(disc, conditioning, True, normalisation="joint")
    joint = joint_loss(f_s, logits_s, f_t, logits_t)
    expected = (sum(w_s) * bce_s + sum(w_t) * bce_t) / (sum(w_s) + sum(w_t))  # the confident target weighs more
    assert joint.item() == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ConfigError, match="method.entropy_normalisation='both' is not one of domain, joint"):
        CDAN(MLP((2,)), 2, entropy=True, entropy_normalisation="both")


def test_cdan_e_entropy_weights_pass_a_reversed_gradient_as_thuml_cdan():
    coeff = 0.3
    disc, conditioning, f_s, logits_s, f_t, logits_t = _cdan_case()
    ConditionalDomainAdversarialLoss(disc, conditioning, True)(f_s, logits_s, f_t, logits_t, coeff).backward()
    through_weights = logits_s.grad.clone()
    # the same weighted loss without reversal: its gradient through the entropies, times -coeff
    logits_s.grad = None
    bce = nn.functional.binary_cross_entropy_with_logits
    w = 1 + torch.exp(-entropy(torch.softmax(logits_s, 1)))
    plain = 0.5 * (w * bce(torch.ones(2), torch.ones(2), reduction="none")).sum() / w.detach().sum()
    plain.backward()
    assert through_weights.abs().sum() > 0
    assert torch.allclose(through_weights, -coeff * logits_s.grad, atol=1e-7)
    # TLL's variant: the weights are constants
    logits_s.grad = None
    ConditionalDomainAdversarialLoss(disc, conditioning, True, entropy_gradient=False)(f_s, logits_s, f_t, logits_t,
                                                                                        coeff).backward()
    assert logits_s.grad is None or torch.all(logits_s.grad == 0)
