"""The moons' source validation set: large enough to tell models apart, and the training data unchanged by it."""

from __future__ import annotations

import pytest
import torch

from dasuite.data.toy import moons
from dasuite.errors import ConfigError
from dasuite.assembly.pair import build_pair
from tests.conftest import compose_config


@pytest.mark.parametrize("dataset", ["moons", "moons_adapt"])
@pytest.mark.parametrize("seeds", ["dataset.seed=0",
                                   "dataset.seed=7 dataset.split_seed=3 dataset.target_labels_per_class=3"])
def test_more_validation_points_leave_every_training_and_test_tensor_as_it_was(dataset, seeds):
    overrides = [f"dataset={dataset}", *seeds.split()]
    cfg = compose_config(*overrides).dataset
    pool = max(1, round(cfg.val_fraction * cfg.n_per_domain)) if cfg.val_fraction > 0 else 0  # held out of the pool
    assert cfg.n_source_val == 500
    new = build_pair(cfg)
    old = build_pair(compose_config(*overrides, "dataset.n_source_val=0").dataset)  # the split before the extra draw
    for name in ("source_train", "target_test", "target_labeled"):
        before, after = getattr(old, name), getattr(new, name)
        assert (before is None and after is None) or (torch.equal(before.x, after.x) and torch.equal(before.y, after.y))
    assert torch.equal(old.target_train, new.target_train)
    assert len(old.source_val) == pool and len(new.source_val) == pool + 500  # 15 on moons (0 on moons_adapt), + 500
    assert torch.equal(new.source_val.x[:pool], old.source_val.x)
    assert torch.equal(new.source_val.y[:pool], old.source_val.y)


def test_the_extra_validation_points_are_fresh_seeded_moons():
    a, b = moons(n_source_val=400, seed=1), moons(n_source_val=400, seed=1)
    assert torch.equal(a.source_val.x, b.source_val.x) and len(a.source_val) == 400
    assert not torch.equal(moons(n_source_val=400, seed=2).source_val.x, a.source_val.x)
    pool = {tuple(p) for p in a.source.x.tolist() + a.target.x.tolist() + a.target_test.x.tolist()}
    assert not pool & {tuple(p) for p in a.source_val.x.tolist()}
    assert 150 < int(a.source_val.y.sum()) < 250  # both classes
    assert moons(seed=1).source_val is None
    with pytest.raises(ConfigError, match="dataset.n_source_val=-1 must be >= 0"):
        moons(n_source_val=-1)
