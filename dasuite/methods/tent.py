"""TENT: fully test-time adaptation by entropy minimisation (Wang, Shelhamer, Liu, Olshausen & Darrell, ICLR 2021).

Each batch of the stream is predicted by the model with BatchNorm normalising by the batch's own statistics, and
the mean entropy of those predictions is minimised with respect to the BatchNorm scales and shifts only; every
other weight stays as trained (section 3; DequanWang/tent ``tent.py``: ``configure_model`` drops the running
statistics, ``collect_params`` takes the affine BN parameters, ``forward_and_adapt`` predicts, then steps once).
The recipe (configs/method/tent.yaml) is the official CIFAR-10-C one (``cfgs/tent.yaml``): Adam, lr 1e-3,
β = (0.9, 0.999), no weight decay, batch 128, one step per batch, online, no reset.
"""

from __future__ import annotations

from dasuite.errors import ConfigError
from dasuite.methods.test_time import TestTimeMethod, batch_norm_affine


class Tent(TestTimeMethod):
    """Entropy minimisation on the BatchNorm affine parameters, at test time."""

    def adapted(self):
        affine = batch_norm_affine(self)
        if not affine:
            raise ConfigError("method=tent adapts the scale and shift of BatchNorm layers, and this model has none: "
                              "choose a backbone with BatchNorm (backbone=lenet_bn, resnet18, resnet50).")
        return affine

    def adapt_step(self, x, ctx) -> dict:
        logits = self.predict(x)
        ctx.predicted(self.draw, logits)
        return {"entropy": -(logits.softmax(1) * logits.log_softmax(1)).sum(1).mean()}  # tent.py softmax_entropy
