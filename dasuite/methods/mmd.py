"""MMD alignment (DAN: Long, Cao, Wang, Jordan, "Learning Transferable Features with Deep Adaptation Networks",
ICML 2015), as Transfer-Learning-Library runs it (thuml/Transfer-Learning-Library at c4aa59eb:
``examples/domain_adaptation/image_classification/dan.py`` and ``dan.sh``, ``tllib/alignment/dan.py``,
``tllib/modules/kernels.py``):

    L = CE(h(f_s), y_s) + trade_off · MK-MMD²(f_s, f_t)

on the features the head sees (after the bottleneck, and after its dropout in training, as TLL's
``ImageClassifier`` returns them). MK-MMD² is :class:`dasuite.losses.MultiKernelMMD`: the sum of Gaussian
kernels of widths ``bandwidth_multipliers`` × the mean squared distance, with the linear-time estimator
(``estimator``; ``dan.py`` builds it with ``linear=not args.non_linear`` and dan.sh never passes
``--non-linear``). Source and target go through the network in two passes (``joint_forward=false``: dan.py calls
``model(x_s)``, then ``model(x_t)``), so each BatchNorm layer normalises each domain with its own batch
statistics. ``bottleneck`` is the form of the backbone's bottleneck (:mod:`dasuite.models.bottlenecks`;
DAN's ``ImageClassifier``: Linear-ReLU-Dropout(0.5)).
"""

from __future__ import annotations

from collections.abc import Sequence

from dasuite.errors import ConfigError
from dasuite.losses import MultiKernelMMD
from dasuite.losses.mmd import ESTIMATORS
from dasuite.methods.base import Batch, Method, StepContext, check_flag, check_trade_off
from dasuite.models.bottlenecks import use_bottleneck_form


class MMD(Method):
    """Source cross-entropy + trade_off · MK-MMD²(source features, target features)."""

    adaptation_weight = "trade_off"

    def __init__(self, backbone, num_classes: int, trade_off: float = 1.0,
                 bandwidth_multipliers: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0), estimator: str = "linear",
                 joint_forward: bool = False, bottleneck: str = "dropout", label_smoothing: float = 0.0):
        super().__init__(backbone, num_classes, label_smoothing)
        self.trade_off = check_trade_off(trade_off)
        self.joint_forward = check_flag("joint_forward", joint_forward)
        if estimator not in ESTIMATORS:
            raise ConfigError(f"method.estimator={estimator!r} is not an MMD estimator; choose one of "
                              f"{', '.join(ESTIMATORS)} (linear: TLL dan.py's default; quadratic: the unbiased, "
                              "O(N²) one).")
        try:
            self.mmd = MultiKernelMMD(bandwidth_multipliers, estimator)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"method.bandwidth_multipliers={list(bandwidth_multipliers)}: {error}") from None
        use_bottleneck_form(backbone, bottleneck)

    def training_step(self, batch: Batch, ctx: StepContext):
        f_s, f_t = self.features_of_both(batch, joint=self.joint_forward)
        return {
            "cls": self.classification_loss(self.head(f_s), batch.ys),
            "mmd": self.trade_off * self.mmd(f_s, f_t),
        }
