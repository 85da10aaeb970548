"""CDAN's map as its official codes run it: ``multilinear_max_dim=null`` keeps the full f ⊗ g at any size
(TLL's cdan.py and thuml/CDAN without -r / --random); 4096 is the CDAN paper's rule, one override away."""

import pytest
import torch

from dasuite.errors import ConfigError
from dasuite.losses import MultilinearMap, multilinear_map
from dasuite.methods.cdan import CDAN
from dasuite.models.backbones import MLP


def test_null_keeps_the_full_map_above_the_papers_threshold():
    full, paper = MultilinearMap(256, 31, max_dim=None), MultilinearMap(256, 31, max_dim=4096)
    assert (full.randomized, full.out_features) == (False, 256 * 31)
    assert (paper.randomized, paper.out_features) == (True, 1024)
    f, g = torch.randn(4, 256), torch.softmax(torch.randn(4, 31), 1)
    assert torch.equal(full(f, g), multilinear_map(f, g))


def test_the_method_takes_null_and_still_rejects_a_bad_threshold():
    backbone = MLP((2,), hidden=[64])
    method = CDAN(backbone, 100, multilinear_max_dim=None)  # 64 x 100 = 6,400 values, full
    assert method.domain_loss.conditioning.out_features == 6400
    with pytest.raises(ConfigError, match="method.multilinear_max_dim=-1 must be an integer >= 0"):
        CDAN(MLP((2,), hidden=[8]), 2, multilinear_max_dim=-1)
