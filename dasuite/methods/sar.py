"""SAR: sharpness-aware and reliable entropy minimisation (Niu, Wu, Zhang, Wen, Chen, Zhao & Tan, "Towards Stable
Test-Time Adaptation in Dynamic Wild World", ICLR 2023, section 4; mr-eggplant/SAR ``sar.py``, ``sam.py``).

Per batch (``forward_and_adapt_sar``):

1. predict; keep the reliable samples, whose entropy is below E0 = ``entropy_margin`` · ln C (Eqn. 2; ``main.py``
   ``--sar_margin_e0`` = 0.4 · ln 1000), and take the gradient g of their mean entropy;
2. SAM's ascent (Eqn. 3-4; ``sam.py`` ``first_step``): e = ``rho`` · g / (‖g‖ + 1e-12), ρ = 0.05 (``SAM``'s
   default), ‖g‖ over all adapted parameters together;
3. predict again at w + e; of the step-1 samples keep those still below E0 (the second filter); the gradient of
   their mean entropy, taken at w + e, updates w (``second_step``: back to w, then the base optimizer's step).

Step 3 here changes no weight in place: ``w + e`` (e held constant) goes through
``torch.func.functional_call``, so the one backward the engine runs yields ∂L(w + e)/∂w = ∇L evaluated at w + e
(the derivative of w + e with respect to w is the identity), which lands in ``w.grad`` while w itself never moved;
the engine's single optimizer step then applies that gradient to w. That is exactly ``second_step``: it restores
w and steps the base optimizer (SGD with momentum 0.9 in the recipe, or any optimizer that reads only w and
w.grad) with the gradient left by the perturbed pass; the momentum buffer sees the same gradient too. A batch
whose filters keep nothing gives a zero gradient, and the step still runs, as the official code's (SGD's
momentum then carries on).

Model recovery (section 4, "model recovery scheme"): e_m, the moving average (0.9, ``update_ema``) of step 3's
mean entropy (updated only when a sample was kept), is kept in buffers; after a step where e_m <
``recovery_threshold`` (0.2, ``reset_constant_em``), :class:`~dasuite.methods.resets.RecoveryReset` puts the
model, the optimizer and e_m back to the deployed state. (The official ``SAR.forward`` clears e_m in ``reset()``
and then assigns the step's e_m back, so its e_m survives a reset; we clear it, as ``reset()`` intends and as
mariodoebler/test-time-adaptation ``methods/sar.py`` does.)

Adapted: the scale and shift of every normalisation layer (BatchNorm, LayerNorm, GroupNorm). The official
``collect_params`` leaves out the top blocks (ResNet's ``layer4``, ViT-Base's blocks 9-11 and final norm); for
dasuite's small backbones every norm layer is adapted. The recipe (configs/method/sar.yaml) is the official
ResNet-50 one: SGD lr 0.00025 × batch/64 (batch 64), momentum 0.9.
"""

from __future__ import annotations

import torch

from dasuite.errors import ConfigError, check_number
from dasuite.methods import reliable_entropy
from dasuite.methods.reliable_entropy import masked_mean, softmax_entropy
from dasuite.methods.resets import RecoveryReset
from dasuite.methods.test_time import ADAPT, TestTimeMethod, norm_affine


class SAR(TestTimeMethod):
    """Reliable entropy minimisation with a sharpness-aware step and model recovery (module docstring)."""

    def __init__(self, backbone, num_classes: int, protocol: str = "online", stream_order: str = "shuffled",
                 label_shift: float | None = None, reset_every: int | None = None, norm: str = "batch",
                 entropy_margin: float = 0.4, rho: float = 0.05, recovery_threshold: float | None = 0.2,
                 recovery_momentum: float = 0.9):
        super().__init__(backbone, num_classes, protocol, stream_order, label_shift, reset_every, norm)
        self.margin = reliable_entropy.entropy_margin("entropy_margin", entropy_margin, num_classes)
        self.rho = check_number("method.rho", rho, minimum=0, hint=" (SAM's neighbourhood radius; 0: no ascent)")
        self.recovery_threshold = None if recovery_threshold is None else check_number(
            "method.recovery_threshold", recovery_threshold, minimum=0, hint=" (null: no model recovery)")
        self.recovery_momentum = check_number("method.recovery_momentum", recovery_momentum, minimum=0)
        if not self.recovery_momentum < 1:
            raise ConfigError(f"method.recovery_momentum={recovery_momentum} must lie in [0, 1) (0.9: SAR's).")
        self.register_buffer("entropy_ema", torch.zeros(()))
        self.register_buffer("entropy_ema_seen", torch.zeros((), dtype=torch.bool))

    def adapted(self):
        affine = norm_affine(self)
        if not affine:
            raise ConfigError("method=sar adapts the scale and shift of normalisation layers (BatchNorm, LayerNorm, "
                              "GroupNorm), and this model has none: choose a backbone with them (backbone=lenet_bn, "
                              "resnet18, resnet50, a ViT).")
        return affine

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The prediction, as a module call (what ``torch.func.functional_call`` evaluates at w + e)."""
        return self.predict(x)

    def adapt_step(self, x, ctx) -> dict:
        logits = self.predict(x)
        ctx.predicted(self.draw, logits)
        entropy = softmax_entropy(logits)
        reliable = entropy.detach() < self.margin
        second = softmax_entropy(torch.func.functional_call(self, self.ascended(masked_mean(entropy, reliable)),
                                                            (x,)))
        keep = reliable & (second.detach() < self.margin)
        loss = masked_mean(second, keep)
        self.track(loss.detach(), keep.any())
        ctx.log("reliable_samples", reliable.sum())
        ctx.log("kept_samples", keep.sum())
        ctx.log("entropy_ema", self.entropy_ema)
        return {"entropy": loss}

    def ascended(self, loss: torch.Tensor) -> dict[str, torch.Tensor]:
        """The adapted parameters moved by SAM's ascent e = ρ g / (‖g‖ + 1e-12), g the gradient of ``loss`` (e held
        constant: gradients through them reach the parameters unchanged), by name."""
        chosen = {id(p) for p in self.adapted()}
        named = {name: p for name, p in self.named_parameters() if id(p) in chosen}
        grads = [torch.zeros_like(p) if g is None else g
                 for g, p in zip(torch.autograd.grad(loss, list(named.values()), allow_unused=True), named.values())]
        scale = self.rho / (torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])) + 1e-12)
        return {name: p + (g * scale).detach() for (name, p), g in zip(named.items(), grads)}

    @torch.no_grad()
    def track(self, loss: torch.Tensor, kept: torch.Tensor) -> None:
        """e_m moved towards ``loss`` (started at it) when a sample was kept."""
        moved = self.recovery_momentum * self.entropy_ema + (1 - self.recovery_momentum) * loss
        self.entropy_ema.copy_(torch.where(kept, torch.where(self.entropy_ema_seen, moved, loss), self.entropy_ema))
        self.entropy_ema_seen.logical_or_(kept)

    def collapsed(self) -> bool:
        """Whether e_m has fallen below the recovery threshold (SAR's reset criterion)."""
        return (self.recovery_threshold is not None and bool(self.entropy_ema_seen)
                and float(self.entropy_ema) < self.recovery_threshold)

    def callbacks(self) -> list:
        recovery = [RecoveryReset(self.collapsed, ADAPT)] if self.recovery_threshold is not None else []
        return [*super().callbacks(), *recovery]
