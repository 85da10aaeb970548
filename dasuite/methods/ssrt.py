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

Safe training (``safe_training``): r ramps up as sin(π/2 · (i - phase) / period) to 1, the period first
``safe_interval`` steps. Every ``safe_interval`` steps the model's weights are saved, and the number of distinct
classes predicted on each target batch is recorded; when at the interval's end the mean of that diversity over
any of its 2^l sub-intervals (l = 0 … ``safe_levels``, the previous interval's last sub-interval included) drops
by more than one class from the sub-interval before it, while r > 0.1, the saved weights are restored at the next
step, the ramp restarts from 0, and its period doubles when the previous restore is at most a period ago.
The optimizer's state is kept (the official default). The decision is taken per process: under torchrun each
rank would decide alone, so run safe training single-process. The saved weights (a copy of every parameter and
buffer) are part of the model's state (``get_extra_state``): with safe training, checkpoints and ``state_dict()``
are about twice as large, and the copy takes as much device memory as the model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from itertools import chain

import torch
import torch.nn.functional as F

from dasuite.errors import ConfigError, check_number
from dasuite.methods.base import Batch, StepContext, check_flag, check_steps
from dasuite.methods.dann import DANN
from dasuite.models.tokens import transformer_parts

log = logging.getLogger(__name__)


def refinement_loss(logits: torch.Tensor, perturbed_logits: torch.Tensor, threshold: float,
                    unperturbed_teaches: bool) -> torch.Tensor:
    """KL(teacher ‖ student) over the samples whose teacher confidence exceeds ``threshold`` (0 if none)."""
    teacher, student = (logits, perturbed_logits) if unperturbed_teaches else (perturbed_logits, logits)
    p = teacher.softmax(1)
    mask = (p.max(1).values > threshold).to(p.dtype)
    kl = (p * (teacher.log_softmax(1) - student.log_softmax(1))).sum(1)
    return (kl * mask).sum() / (mask.sum() + 1e-6)


class DiversityWatch:
    """Safe training's schedule: the ramp r and the diversity-drop rule that asks for a restore. ``interval``
    steps between two checks (and saves); the ramp lasts ``period`` steps, first ``interval``."""

    def __init__(self, interval: int, levels: int):
        self.interval, self.period, self.levels = interval, interval, levels
        self.phase, self.last_restore = 0, 0
        self.diversity: list[float] = []
        self.last_period: list[float] | None = None

    def ramp(self, step: int) -> float:
        """r at ``step``: a quarter sine from 0 to 1 over ``period`` steps after the last restart."""
        if step >= self.phase + self.period:
            return 1.0
        return math.sin((step - self.phase) / self.period * math.pi / 2)

    def drops(self) -> bool:
        """Whether the mean diversity of some sub-interval is more than one class below the one before it."""
        for level in range(self.levels + 1):
            means = [_mean(c) for c in _split(self.diversity, 2 ** level)]
            if self.last_period is not None:
                means.insert(0, _mean(_split(self.last_period, 2 ** level)[-1]))
            if any(later < earlier - 1.0 for earlier, later in zip(means, means[1:])):
                return True
        return False

    def end_interval(self, step: int, r: float) -> bool:
        """At an interval's last step: True when the weights must be restored (the ramp then restarts)."""
        if r > 0.1 and self.drops():
            if step - self.last_restore <= self.period:
                self.period *= 2
            self.phase = step
            return True
        self.last_period = self.diversity
        return False

    def state_dict(self) -> dict:
        return {"interval": self.interval, "period": self.period, "phase": self.phase,
                "last_restore": self.last_restore, "diversity": list(self.diversity), "last_period": self.last_period}

    def load_state_dict(self, state: dict) -> None:
        self.interval, self.period = state["interval"], state["period"]
        self.phase, self.last_restore = state["phase"], state["last_restore"]
        self.diversity, self.last_period = list(state["diversity"]), state["last_period"]


def _split(values: list[float], chunks: int) -> list[list[float]]:
    """``values`` in ``chunks`` consecutive parts as even as possible (as numpy.array_split)."""
    size, extra = divmod(len(values), chunks)
    parts, start = [], 0
    for i in range(chunks):
        end = start + size + (i < extra)
        parts.append(values[start:end])
        start = end
    return parts


def _mean(values: list[float]) -> float:
    """The mean; NaN for no values (so it compares as no drop)."""
    return sum(values) / len(values) if values else math.nan


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
        self.snapshot: dict[str, torch.Tensor] | None = None
        self.restore = False

    def training_step(self, batch: Batch, ctx: StepContext):
        safe = self.safe_training and self.refine_weight > 0
        if safe:
            self._safe_step_start(ctx.step)
        r = self.watch.ramp(ctx.step) if safe else 1.0
        logits_s, f_s, f_t, logits_t, logits_p = self._forward(batch.xs, batch.xt, self.refine_alpha * r)
        terms = {"cls": self.classification_loss(logits_s, batch.ys),
                 "domain": self.domain_weight * self.domain_loss(f_s, f_t, self.reversal_coeff(ctx.progress, ctx.step))}
        if self.refine_weight > 0:
            unperturbed_teaches = bool(torch.rand(()) < self.refine_teacher_p)
            terms["refine"] = r * self.refine_weight * refinement_loss(logits_t, logits_p, self.refine_threshold,
                                                                        unperturbed_teaches)
        if safe:
            self.watch.diversity.append(float(logits_t.argmax(1).unique().numel()))
            if (ctx.step + 1) % self.watch.interval == 0 and ctx.step > 0:
                self.restore = self.watch.end_interval(ctx.step, r)
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

    def _safe_step_start(self, step: int) -> None:
        """Restore the saved weights when the last interval asked for it; save them at each interval's start."""
        if self.restore and step > 0 and self.snapshot is not None:
            with torch.no_grad():
                for name, tensor in self._weights():
                    tensor.copy_(self.snapshot[name])
            self.watch.last_restore = step
            log.info("SSRT safe training: target prediction diversity dropped; step %d restarts from the weights "
                     "saved at step %d (ramp period now %d steps).", step, step - self.watch.interval,
                     self.watch.period)
        self.restore = False
        if step % self.watch.interval == 0:
            self.snapshot = {name: tensor.detach().clone() for name, tensor in self._weights()}
            self.watch.diversity = []

    def _weights(self):
        return chain(self.named_parameters(), self.named_buffers())

    def get_extra_state(self) -> dict:
        """Safe training's schedule, restore flag and saved weights go into checkpoints."""
        return {"watch": self.watch.state_dict(), "restore": self.restore, "snapshot": self.snapshot}

    def set_extra_state(self, state: dict) -> None:
        self.watch.load_state_dict(state["watch"])
        self.restore, self.snapshot = state["restore"], state["snapshot"]


def _towards_reversed(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """Each sample moved by ``alpha`` towards the sample at the mirrored position of the batch (offset detached)."""
    return x + (x.flip(0) - x).detach() * alpha
