import math

import pytest
import torch

from dasuite.data import Labeled
from dasuite.data.pair import Domains, split
from dasuite.data.toy import MOONS_CENTRE, _rotate, blobs, moons
from dasuite.errors import ConfigError


def test_moons_sizes_labels_and_seed():
    d = moons(n_per_domain=150, n_target_test=500, seed=3)
    assert d.source.x.shape == (150, 2) and d.target.x.shape == (150, 2) and d.target_test.x.shape == (500, 2)
    assert set(d.source.y.tolist()) == {0, 1} and d.num_classes == 2 and d.input_shape == (2,)
    again = moons(n_per_domain=150, n_target_test=500, seed=3)
    assert torch.equal(d.source.x, again.source.x) and torch.equal(d.target_test.y, again.target_test.y)
    assert not torch.equal(d.source.x, moons(seed=4).source.x)


def test_moons_target_is_the_source_distribution_rotated():
    unrotated = moons(rotation_deg=0.0, noise=0.0, seed=0)
    rotated = moons(rotation_deg=35.0, noise=0.0, seed=0)
    # same draws, so undoing the rotation recovers the unrotated target exactly
    back = _rotate(rotated.target.x, -35.0, MOONS_CENTRE)
    assert torch.allclose(back, unrotated.target.x, atol=1e-5)
    assert torch.equal(rotated.source.x, unrotated.source.x)
    # noiseless moons lie on their arcs: the upper arc is the unit circle around the origin
    upper = unrotated.source.x[unrotated.source.y == 0]
    assert torch.allclose(upper.norm(dim=1), torch.ones(len(upper)), atol=1e-5)


def test_rotation_by_90_degrees_about_the_centre():
    c = torch.tensor(MOONS_CENTRE)
    point = c + torch.tensor([[1.0, 0.0]])
    assert torch.allclose(_rotate(point, 90.0, MOONS_CENTRE), c + torch.tensor([[0.0, 1.0]]), atol=1e-6)


def test_blobs_target_is_shifted_by_shift():
    d = blobs(n_per_domain=3000, n_target_test=3000, shift=[2.0, -1.0], std=0.5, seed=0)
    delta = d.target.x.mean(0) - d.source.x.mean(0)
    assert torch.allclose(delta, torch.tensor([2.0, -1.0]), atol=0.15)
    with pytest.raises(ConfigError, match=r"dataset.shift=\[1.0, 2.0, 3.0\]"):
        blobs(shift=[1.0, 2.0, 3.0], dim=2)


def _domains(n_target_per_class=(10, 4, 7)):
    y_t = torch.cat([torch.full((n,), c) for c, n in enumerate(n_target_per_class)])
    return Domains(source=Labeled(torch.randn(50, 2), torch.arange(50) % 3),
                   target=Labeled(torch.randn(len(y_t), 2), y_t),
                   target_test=Labeled(torch.randn(9, 2), torch.arange(9) % 3),
                   num_classes=3, input_shape=(2,))


def test_split_holds_out_a_seeded_disjoint_validation_set():
    d = _domains()
    pair = split(d, val_fraction=0.2, labels_per_class=0, seed=0)
    assert len(pair.source_val) == 10 and len(pair.source_train) == 40
    rows = {tuple(r.tolist()) for r in torch.cat([pair.source_train.x, pair.source_val.x])}
    assert len(rows) == 50  # a partition of the pool
    again = split(d, val_fraction=0.2, labels_per_class=0, seed=0)
    assert torch.equal(pair.source_val.x, again.source_val.x)
    assert pair.target_labeled is None and len(pair.target_train) == 21


def test_split_draws_exactly_k_labeled_target_samples_per_class():
    pair = split(_domains(), val_fraction=0.1, labels_per_class=3, seed=0)
    assert torch.bincount(pair.target_labeled.y).tolist() == [3, 3, 3]


def test_k_larger_than_the_smallest_target_class_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"target_labels_per_class=5 .* smallest class has 4 .*\[10, 4, 7\]"):
        split(_domains(), val_fraction=0.1, labels_per_class=5, seed=0)


def test_empty_domain_and_bad_fraction_are_errors():
    d = _domains()
    with pytest.raises(ConfigError, match="val_fraction=1.0"):
        split(d, val_fraction=1.0, labels_per_class=0, seed=0)
    d.target_test = Labeled(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ConfigError, match="target test domain .* is empty"):
        split(d, val_fraction=0.1, labels_per_class=0, seed=0)


def test_moons_is_the_dann_paper_toy():
    from tests.conftest import compose_config

    cfg = compose_config("dataset=moons")
    assert cfg.dataset.n_per_domain == 150 and cfg.dataset.noise == 0.05
    assert math.isclose(cfg.dataset.rotation_deg, 35.0)


def test_adapts_moons_train_on_the_source_points_rotated_and_test_on_fresh_ones():
    domains = moons(n_per_domain=100, n_target_test=50, rotation_deg=30.0, centre=(0.5, 0.0), target_from_source=True)
    angle = math.radians(30.0)
    rotation = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    centre = torch.tensor([0.5, 0.0])
    assert torch.allclose(domains.target.x, (domains.source.x - centre) @ rotation.T + centre, atol=1e-6)
    assert torch.equal(domains.target.y, domains.source.y)
    assert not torch.allclose(domains.target_test.x[:10], domains.target.x[:10])


def test_moons_in_the_dann_authors_frame_are_the_same_points_centred_on_the_source_mean_and_scaled():
    raw = moons(n_per_domain=150, n_target_test=40, rotation_deg=0.0, seed=2, n_source_val=20)
    moved = moons(n_per_domain=150, n_target_test=40, rotation_deg=0.0, seed=2, n_source_val=20, centre=None,
                  recentre=True, scale=2.0)
    mean = raw.source.x.mean(0)
    for name in ("source", "target", "target_test", "source_val"):
        assert torch.allclose(getattr(moved, name).x, 2.0 * (getattr(raw, name).x - mean), atol=1e-6)
    assert torch.allclose(moved.source.x.mean(0), torch.zeros(2), atol=1e-6)
    # centre=None rotates the target about the source pool's mean: in the authors' frame, about the origin
    turned = moons(n_per_domain=150, n_target_test=40, rotation_deg=35.0, seed=2, centre=None, recentre=True)
    unturned = moons(n_per_domain=150, n_target_test=40, rotation_deg=0.0, seed=2, centre=None, recentre=True)
    angle = math.radians(35.0)
    rotation = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    assert torch.allclose(turned.target.x, unturned.target.x @ rotation.T, atol=1e-5)
    with pytest.raises(ConfigError, match="dataset.scale=0.0 must be > 0"):
        moons(scale=0.0)
