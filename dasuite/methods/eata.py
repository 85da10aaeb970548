"""EATA and ETA: efficient anti-forgetting test-time adaptation (Niu, Wu, Zhang, Chen, Zheng, Zhao & Tan, "Efficient
Test-Time Model Adaptation without Forgetting", ICML 2022).

TENT's entropy minimisation on the BatchNorm scales and shifts, learned from fewer, better samples (section 3.1;
mr-eggplant/EATA ``eata.py`` ``forward_and_adapt_eata``):

- reliable: a sample whose prediction's entropy reaches E0 = ``entropy_margin`` · ln C is left out (Eqn. 3;
  ``main.py`` ``--e_margin`` = 0.4 · ln 1000);
- non-redundant: so is a sample whose probability vector has a cosine similarity of ``redundancy_margin`` (ε, 0.05:
  ``--d_margin``) or more to the moving average of the probabilities kept so far (Eqn. 4-5); the average starts at
  the mean of the first kept batch, then moves by ``average_momentum`` (0.9: ``update_model_probs``) towards the
  mean of each batch's kept samples;
- weighted: each kept sample's entropy by 1 / exp(entropy − E0) (Eqn. 6, the weight held fixed);
- no sample kept: no update at all (the official code skips the optimizer step; here the step returns no term).

EATA adds an anti-forgetting penalty ``fisher_alpha`` · Σ F (θ − θ0)² (section 3.2, Eqn. 8-9; β = 2000:
``--fisher_alpha``), F the diagonal Fisher information of the adapted parameters at the deployed weights θ0,
estimated from the squared gradients of the cross-entropy to the model's own predictions on ``fisher_size`` clean
samples (2000: ``--fisher_size``), one gradient per batch of ``fisher_batch`` (64, ``--batch_size``), averaged
over the batches (``main.py``, ``algorithm == 'eata'``). The official code takes those samples from the clean test
distribution (ImageNet's validation set). What a deployed dasuite model has at hand is its source training set:
with ``fisher_alpha`` > 0 the method first runs a stage ``fisher`` that draws ``source`` and estimates F at its
first epoch's start from the first ``fisher_size`` samples, preprocessed for evaluation; that stage's steps learn
nothing (``trainer.steps_per_epoch`` caps them). F is a property of the source model, computed once before the
stream, as a deployed model would ship with it; the stream stage never reads source data. ``fisher_alpha=0`` is
ETA (the paper's ablation, ``--algorithm eta``): no source data at all.

The number of samples kept per step is logged (``train/kept_samples``, the reliable ones ``train/reliable_samples``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dasuite.errors import ConfigError, check_number
from dasuite.methods.base import MAIN, SOURCE, Stage
from dasuite.methods import reliable_entropy
from dasuite.methods.reliable_entropy import softmax_entropy
from dasuite.methods.test_time import TestTimeMethod, batch_norm_affine

#: The stage that estimates the Fisher information (EATA, ``fisher_alpha`` > 0).
FISHER = "fisher"


class EATA(TestTimeMethod):
    """Reliable, non-redundant, weighted entropy minimisation on the BatchNorm affine parameters, optionally held
    near the deployed weights by a Fisher penalty (module docstring)."""

    def __init__(self, backbone, num_classes: int, protocol: str = "online", stream_order: str = "shuffled",
                 label_shift: float | None = None, reset_every: int | None = None, norm: str = "batch",
                 entropy_margin: float = 0.4, redundancy_margin: float = 0.05, average_momentum: float = 0.9,
                 fisher_alpha: float = 2000.0, fisher_size: int = 2000, fisher_batch: int = 64):
        super().__init__(backbone, num_classes, protocol, stream_order, label_shift, reset_every, norm)
        self.margin = reliable_entropy.entropy_margin("entropy_margin", entropy_margin, num_classes)
        self.redundancy_margin = check_number("method.redundancy_margin", redundancy_margin, minimum=0,
                                              hint=" (ε, the cosine similarity that makes a sample redundant)")
        self.average_momentum = check_number("method.average_momentum", average_momentum, minimum=0)
        if not self.average_momentum < 1:
            raise ConfigError(f"method.average_momentum={average_momentum} must lie in [0, 1) (0.9: EATA's).")
        self.fisher_alpha = check_number("method.fisher_alpha", fisher_alpha, minimum=0,
                                         hint=" (0: ETA, no Fisher penalty)")
        for key, value in (("fisher_size", fisher_size), ("fisher_batch", fisher_batch)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"method.{key}={value!r} must be an integer >= 1.")
        self.fisher_size, self.fisher_batch = fisher_size, fisher_batch
        # the moving average of the kept probability vectors (none yet: ``average_seen`` false); buffers, so that
        # checkpoints keep them and a reset puts them back
        self.register_buffer("average", torch.zeros(num_classes))
        self.register_buffer("average_seen", torch.zeros((), dtype=torch.bool))
        if self.fisher_alpha > 0:
            size = sum(p.numel() for p in batch_norm_affine(self))
            self.register_buffer("fisher", torch.zeros(size))
            self.register_buffer("anchor", torch.zeros(size))

    def adapted(self):
        affine = batch_norm_affine(self)
        if not affine:
            raise ConfigError(f"method {type(self).__name__} adapts the scale and shift of BatchNorm layers, and this "
                              "model has none: choose a backbone with BatchNorm (backbone=lenet_bn, resnet18, "
                              "resnet50).")
        return affine

    def stages(self) -> list[Stage]:
        adapt = super().stages()
        return [Stage(FISHER, draws=(SOURCE,), epochs=1), *adapt] if self.fisher_alpha > 0 else adapt

    def param_groups(self, stage: Stage) -> dict[str, list[dict]]:
        groups = super().param_groups(stage)
        return {MAIN: [{"params": []}]} if stage.name == FISHER else groups

    def begin_epoch(self, stage, epoch, inputs) -> None:
        if stage.name == FISHER:
            self.estimate_fisher(inputs(SOURCE))

    def estimate_fisher(self, batches) -> None:
        """F and θ0 from the first ``fisher_size`` inputs of ``batches`` (module docstring)."""
        params, total, count, left = self.adapted(), torch.zeros_like(self.fisher), 0, self.fisher_size
        with torch.enable_grad():
            for x in batches:
                for chunk in x[:left].split(self.fisher_batch):
                    logits = self.predict(chunk)
                    grads = torch.autograd.grad(F.cross_entropy(logits, logits.argmax(1)), params,
                                                allow_unused=True)
                    total += _flat([torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]) ** 2
                    count += 1
                left -= len(x[:left])
                if left <= 0:
                    break
        self.fisher.copy_(total / max(count, 1))
        self.anchor.copy_(_flat(params).detach())

    def training_step(self, batch, ctx) -> dict:
        return {} if ctx.stage == FISHER else super().training_step(batch, ctx)

    def adapt_step(self, x, ctx) -> dict:
        logits = self.predict(x)
        ctx.predicted(self.draw, logits)
        entropy = softmax_entropy(logits)
        probabilities = logits.detach().softmax(1)
        reliable = entropy.detach() < self.margin
        keep = reliable & self.non_redundant(probabilities)
        self.update_average(probabilities, keep)
        ctx.log("reliable_samples", reliable.sum())
        ctx.log("kept_samples", keep.sum())
        if not keep.any():
            return {}
        weights = torch.exp(self.margin - entropy.detach())  # 1 / exp(entropy - E0)
        terms = {"entropy": (entropy * weights)[keep].mean()}
        if self.fisher_alpha > 0:
            terms["fisher"] = self.fisher_alpha * (self.fisher * (_flat(self.adapted()) - self.anchor) ** 2).sum()
        return terms

    def non_redundant(self, probabilities: torch.Tensor) -> torch.Tensor:
        """Whether each row's |cosine similarity| to the moving average is below ε (all, before any average)."""
        similarity = F.cosine_similarity(self.average.unsqueeze(0), probabilities, dim=1)
        return (similarity.abs() < self.redundancy_margin) | ~self.average_seen

    @torch.no_grad()
    def update_average(self, probabilities: torch.Tensor, keep: torch.Tensor) -> None:
        """The moving average moved towards the mean of the kept rows (started at it; unchanged if none)."""
        kept = keep.sum()
        mean = (probabilities * keep.unsqueeze(1)).sum(0) / kept.clamp(min=1)
        moved = self.average_momentum * self.average + (1 - self.average_momentum) * mean
        self.average.copy_(torch.where(kept > 0, torch.where(self.average_seen, moved, mean), self.average))
        self.average_seen.logical_or_(kept > 0)


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])
