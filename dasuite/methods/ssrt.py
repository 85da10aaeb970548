"""SSRT: safe self-refinement for transformer-based domain adaptation (Sun, Lu, Li, Yang, "Safe
Self-Refinement for Transformer-based Domain Adaptation", CVPR 2022; official code github.com/tsun/SSRT).
Vision-transformer backbones only.

DANN on a ViT (the warm-start reversal of ``model/grl.py``: λ_i = trade_off · (2 / (1 + exp(-i / N)) - 1),
trade_off 0.1, N 1,000 steps) plus self-refinement of the target predictions under perturbation:

    L = CE(z_s, y_s) + domain_weight · L_d(λ_i) + r · refine_weight · L_sr
    L_sr = Σ_i 1[max p_i > ε] KL(p_i ‖ p̃_i) / Σ_i 1[max p_i > ε]

where p̃ predicts a perturbed copy of each target image: at a block drawn from ``refine_layers`` (-1: the
raw image; by default the blocks at 0, 1/3 and 2/3 of the depth, [0, 4, 8] on ViT-B as in the official code),
its tokens move towards those of another target image of the batch (the batch reversed),
x̃ = x + r · refine_alpha · (x_rev - x) with no gradient through the offset. Which of the two predictions
teaches (p above) is drawn per step (``refine_teacher_p`` for the unperturbed one); gradients reach both,
as in ``model/SSRT.py``.

Safe training (``safe_training``, :mod:`dasuite.methods.safe_training`): r ramps up as
sin(π/2 · (i - phase) / period) to 1, the period first ``safe_interval`` steps. Every ``safe_interval`` steps the
model's weights are saved, and the number of distinct classes predicted on each target batch is recorded; when at
the interval's end the mean of that diversity over any of its 2^l sub-intervals (l = 0 … ``safe_levels``, the
previous interval's last sub-interval included) drops by more than one class from the sub-interval before it,
while r > 0.1, the saved weights are restored at the next step, the ramp restarts from 0, and its period doubles
when the previous restore is at most a period ago. The optimizer's state is kept (the official default). The
saving and restoring is the method's callback (:meth:`callbacks`), between steps; under torchrun the ranks
average their diversities and restore together. The saved weights (a copy of every parameter and buffer) ride in
the checkpoints, not in the model's ``state_dict()``: with safe training, checkpoints are about twice as large,
and the copy takes as much device memory as the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from dasuite.errors import ConfigError, check_number
from dasuite.methods.base import Batch, StepContext, check_flag, check_steps
from dasuite.methods.dann import DANN
from dasuite.methods.safe_training import DiversityWatch, SafeTraining
from dasuite.models.tokens import transformer_parts


def refinement_loss(logits: torch.Tensor, perturbed_logits: torch.Tensor, threshold: float,
                    unperturbed_teaches: bool) -> torch.Tensor:
    """KL(teacher ‖ student) over the samples whose teacher confidence exceeds ``threshold`` (0 if none)."""
    teacher, student = (logits, perturbed_logits) if unperturbed_teaches else (perturbed_logits, logits)
    p = teacher.softmax(1)
    mask = (p.max(1).values > threshold).to(p.dtype)
    kl = (p * (teacher.log_softmax(1) - student.log_softmax(1))).sum(1)
    return (kl * mask).sum() / (mask.sum() + 1e-6)


class SSRT(DANN):
    """DANN on a ViT + self-refinement on perturbed target tokens, with safe training."""

    def __init__(self, backbone, num_classes: int, trade_off: float = 0.1, gamma: float | None = None,
                 warmup_steps: int | None = 1000, discriminator_hidden: Sequence[int] = (1024,),
                 discriminator_bn: bool = False, domain_weight: float = 2.0, refine_weight: float = 0.2,
                 refine_alpha: float = 0.3, refine_layers: Sequence[int] | None = None, refine_threshold: float = 0.4,
                 refine_teacher_p: float = 0.5, safe_training: bool = True, safe_interval: int = 1000,
                 safe_levels: int = 4, label_smoothing: float = 0.0):
        super().__init__(backbone, num_classes, trade_off, gamma, discriminator_hidden, label_smoothing, warmup_steps,
                         discriminator_bn)
        blocks = len(transformer_parts(backbone, "method=ssrt").blocks)
        if refine_layers is None:
            refine_layers = sorted({0, blocks // 3, 2 * blocks // 3})
        layers = None if isinstance(refine_layers, (str, int)) else list(refine_layers)
        if not layers or any(isinstance(v, bool) or not isinstance(v, int) or not -1 <= v < blocks for v in layers):
            raise ConfigError(f"method.refine_layers={refine_layers!r} must be a non-empty list of blocks to perturb "
                              f"at, each from 0 to {blocks - 1} (this backbone has {blocks}), or -1 for the raw image.")
        self.refine_layers = layers
        self.domain_weight = check_number("method.domain_weight", domain_weight, minimum=0)
        self.refine_weight = check_number("method.refine_weight", refine_weight, minimum=0)
        self.refine_alpha = check_number("method.refine_alpha", refine_alpha, minimum=0)
        for key, value in (("refine_threshold", refine_threshold), ("refine_teacher_p", refine_teacher_p)):
            if not 0 <= check_number(f"method.{key}", value) <= 1:
                raise ConfigError(f"method.{key}={value} must lie in [0, 1].")
        self.refine_threshold, self.refine_teacher_p = refine_threshold, refine_teacher_p
        self.safe_training = check_flag("safe_training", safe_training)
        if isinstance(safe_levels, bool) or not isinstance(safe_levels, int) or safe_levels < 0:
            raise ConfigError(f"method.safe_levels={safe_levels!r} must be an integer >= 0 (levels of sub-intervals).")
        if check_steps("safe_interval", safe_interval) is None:
            raise ConfigError("method.safe_interval=null: it must be an integer >= 1 (steps between two checks).")
        self.watch = DiversityWatch(safe_interval, safe_levels)

    @property
    def safe(self) -> bool:
        """Whether safe training runs (it watches the refinement, so not without it)."""
        return self.safe_training and self.refine_weight > 0

    def callbacks(self) -> list:
        """Safe training's saving and restoring of the weights between steps."""
        return [SafeTraining(self)] if self.safe else []

    def training_step(self, batch: Batch, ctx: StepContext):
        safe = self.safe
        r = self.watch.ramp(ctx.step) if safe else 1.0
        logits_s, f_s, f_t, logits_t, logits_p = self._forward(batch.xs, batch.xt, self.refine_alpha * r)
        terms = {"cls": self.classification_loss(logits_s, batch.ys),
                 "domain": self.domain_weight * self.domain_loss(f_s, f_t, self.reversal_coeff(ctx.progress, ctx.step))}
        if self.refine_weight > 0:
            unperturbed_teaches = bool(torch.rand(()) < self.refine_teacher_p)
            terms["refine"] = r * self.refine_weight * refinement_loss(logits_t, logits_p, self.refine_threshold,
                                                                        unperturbed_teaches)
        if safe:  # what SafeTraining's decision at the interval's end reads
            self.watch.diversity.append(float(logits_t.argmax(1).unique().numel()))
        return terms

    def _forward(self, xs: torch.Tensor, xt: torch.Tensor, alpha: float):
        """Source logits, source and target features, and the logits of the target and its perturbed copy."""
        parts = transformer_parts(self.backbone, "method=ssrt")
        layer = self.refine_layers[int(torch.randint(len(self.refine_layers), ()))] if self.refine_weight > 0 else None
        n_s, n_t = len(xs), len(xt)
        x = torch.cat([xs, xt])
        if layer == -1:
            x = torch.cat([x, _towards_reversed(xt, alpha)])
        h = parts.tokens(x)
        for i, block in enumerate(parts.blocks):
            if i == layer:
                h = torch.cat([h, _towards_reversed(h[n_s:n_s + n_t], alpha)])
            h = parts.run(block, h)
        features = parts.features(h)
        logits = self.head(features)
        f_s, f_t = features[:n_s], features[n_s:n_s + n_t]
        return logits[:n_s], f_s, f_t, logits[n_s:n_s + n_t], logits[n_s + n_t:]

    def get_extra_state(self) -> dict:
        """Safe training's schedule goes into checkpoints (the saved weights go with :class:`SafeTraining`)."""
        return {"watch": self.watch.state_dict()}

    def set_extra_state(self, state: dict) -> None:
        self.watch.load_state_dict(state["watch"])


def _towards_reversed(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """Each sample moved by ``alpha`` towards the sample at the mirrored position of the batch (offset detached)."""
    return x + (x.flip(0) - x).detach() * alpha
