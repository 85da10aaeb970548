"""What every test-time method shares: a trained model (``init_from=<run>``) adapted where it is deployed, without
the source data, on the target as it arrives.

The protocol is a setting (``method.protocol``), not a code path:

- ``online``: one pass over the target test stream (``target_test``, labels kept by the engine): each batch is
  predicted, then learned from; the accuracy of those predictions is the figure (``online/accuracy``). The order
  is ``method.stream_order`` (``shuffled`` by the seed, or ``given``: the set's own order, e.g. a continual stream of
  corruptions one after another, ``dataset.corruption=all``), optionally label-shifted (``method.label_shift``, a
  Dirichlet concentration).
- ``episodic``: online, and the model and optimizer are put back to where they started after every batch.
- ``offline``: ``trainer.epochs`` epochs over the unlabeled target train set, then the usual evaluation on the
  target test set (transductive: SHOT's target stage is the reference).

``reset_every=N`` puts the model and optimizer back every N steps (RDumb, Press et al. 2023); a method may bring
other callbacks. The normalisation layers follow ``norm``: ``batch`` (each batch normalised by its own statistics,
the BatchNorm running statistics dropped: TENT's ``configure_model``), or ``source`` (the trained running
statistics, as the deployed model had them, never updated). Dropout is off: the deployed model's predictions.
A subclass says which parameters it adapts (:meth:`adapted`) and implements :meth:`adapt_step`, returning its
loss terms after predicting the batch with ``ctx.predicted``.
"""

from __future__ import annotations

from torch import nn

from dasuite.errors import ConfigError
from dasuite.methods.base import MAIN, Method, Stage, Stream
from dasuite.methods.resets import PeriodicReset

PROTOCOLS = ("online", "episodic", "offline")
NORMS = ("batch", "source")
#: The draw each protocol adapts on.
STREAM, TARGET = "target_test", "target"
#: The stage that adapts (the one resets act in).
ADAPT = "adapt"


class TestTimeMethod(Method):
    """A method that adapts a trained model at test time (module docstring)."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, backbone, num_classes: int, protocol: str = "online", stream_order: str = "shuffled",
                 label_shift: float | None = None, reset_every: int | None = None, norm: str = "batch"):
        super().__init__(backbone, num_classes)
        if protocol not in PROTOCOLS:
            raise ConfigError(f"method.protocol={protocol!r} is not one of {', '.join(PROTOCOLS)}.")
        if norm not in NORMS:
            raise ConfigError(f"method.norm={norm!r} is not one of {', '.join(NORMS)}.")
        if reset_every is not None and (isinstance(reset_every, bool) or not isinstance(reset_every, int)
                                        or reset_every < 1):
            raise ConfigError(f"method.reset_every={reset_every!r} must be null (never) or a number of steps >= 1.")
        try:
            self.stream = Stream(stream_order, label_shift)
        except ValueError as error:
            raise ConfigError(f"method.stream_order / method.label_shift: {error}") from None
        self.protocol, self.norm = protocol, norm
        self.reset_every = 1 if protocol == "episodic" else reset_every
        if norm == "batch":
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.track_running_stats, module.running_mean, module.running_var = False, None, None
                    module.num_batches_tracked = None

    def train(self, mode: bool = True) -> TestTimeMethod:
        """Training mode for the adapted layers only: dropout stays off, and so do the running statistics of
        ``norm=source``."""
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.modules.dropout._DropoutNd) or self.norm == "source" and isinstance(
                    module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self

    @property
    def draw(self) -> str:
        return TARGET if self.protocol == "offline" else STREAM

    def stages(self) -> list[Stage]:
        if self.protocol == "offline":
            return [Stage(ADAPT, draws=(TARGET,))]
        return [Stage(ADAPT, draws=(STREAM,), epochs=1, stream=self.stream)]

    def adapted(self) -> list[nn.Parameter]:
        """The parameters the method updates (none: it only predicts)."""
        return []

    def param_groups(self, stage: Stage) -> dict[str, list[dict]]:
        """One optimizer over :meth:`adapted`; the other parameters get no gradient."""
        adapted = self.adapted()
        chosen = {id(p) for p in adapted}
        for parameter in self.parameters():
            parameter.requires_grad_(id(parameter) in chosen)
        return {MAIN: [{"params": adapted}]}

    def training_step(self, batch, ctx) -> dict:
        return self.adapt_step(batch[self.draw].x, ctx)

    def adapt_step(self, x, ctx) -> dict:
        """Predict ``x`` (``ctx.predicted(self.draw, logits)``) and return the loss terms that adapt on it."""
        raise NotImplementedError

    def callbacks(self) -> list:
        return [*super().callbacks(), *([PeriodicReset(self.reset_every, ADAPT)] if self.reset_every else [])]


def batch_norm_affine(method: nn.Module) -> list[nn.Parameter]:
    """The scale and shift of every BatchNorm layer (what TENT adapts), in module order."""
    return norm_affine(method, (nn.modules.batchnorm._BatchNorm,))


#: The normalisation layers whose scale and shift SAR adapts.
NORM_LAYERS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)


def norm_affine(method: nn.Module, kinds: tuple[type, ...] = NORM_LAYERS) -> list[nn.Parameter]:
    """The scale and shift of every normalisation layer of the ``kinds`` (BatchNorm, LayerNorm, GroupNorm), in module
    order."""
    return [p for m in method.modules() if isinstance(m, kinds) for p in (m.weight, m.bias) if p is not None]
