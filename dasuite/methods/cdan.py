"""CDAN and CDAN+E: conditional adversarial domain adaptation (Long et al., NeurIPS 2018).

Like DANN, but the domain discriminator sees the multilinear map f ⊗ g of the features f and the
class probabilities g, so the features are aligned jointly with the predictions (class by class)
rather than only as a whole. When d·C exceeds ``multilinear_max_dim`` (the paper's rule: 4096; null:
never, the official code's default without ``--random`` / ``-r``) the map is replaced by its
randomized approximation (R_f f) ⊙ (R_g g) / sqrt(k), k = ``randomized_dim``, with fixed random
matrices. ``entropy=true`` (CDAN+E) weights each sample by 1 + exp(-H(g)), as the authors' code (thuml/CDAN)
by default: normalised within each domain (``entropy_normalisation=domain``) and passing a reversed gradient
through H(g) (``entropy_gradient=true``); Transfer-Learning-Library's variant is ``joint`` and ``false``
(:class:`dasuite.losses.ConditionalDomainAdversarialLoss`). The reversal weight
ramps up as in DANN: over progress p, λ_p = trade_off · (2 / (1 + exp(-γ p)) - 1), or over steps with
``warmup_steps``.
"""

from __future__ import annotations

from collections.abc import Sequence

from dasuite.errors import ConfigError, check_number
from dasuite.losses import ConditionalDomainAdversarialLoss, MultilinearMap, reversal_coeff
from dasuite.losses.cdan import NORMALISATIONS
from dasuite.methods.base import Batch, Method, StepContext, check_flag, check_sizes, check_steps, check_trade_off
from dasuite.models.heads import domain_discriminator


class CDAN(Method):
    """Source cross-entropy + conditional domain adversarial loss on features ⊗ predictions."""

    adaptation_weight = "trade_off"

    def __init__(self, backbone, num_classes: int, trade_off: float = 1.0, gamma: float | None = 10.0,
                 entropy: bool = False, discriminator_hidden: Sequence[int] = (256, 256),
                 multilinear_max_dim: int | None = None, randomized_dim: int = 1024, label_smoothing: float = 0.0,
                 warmup_steps: int | None = None, discriminator_bn: bool = False,
                 entropy_normalisation: str = "domain", entropy_gradient: bool = True):
        super().__init__(backbone, num_classes, label_smoothing)
        self.trade_off = check_trade_off(trade_off)
        self.gamma = None if gamma is None else check_number("method.gamma", gamma, minimum=0)
        self.warmup_steps = check_steps("warmup_steps", warmup_steps)
        limits = {"randomized_dim": (randomized_dim, 1)}
        if multilinear_max_dim is not None:  # null: the full map at any size
            limits["multilinear_max_dim"] = (multilinear_max_dim, 0)
        for key, (value, minimum) in limits.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f"method.{key}={value!r} must be an integer >= {minimum}.")
        if entropy_normalisation not in NORMALISATIONS:
            raise ConfigError(f"method.entropy_normalisation={entropy_normalisation!r} is not one of "
                              f"{', '.join(NORMALISATIONS)} (domain: thuml/CDAN's, within each domain; joint: TLL's, "
                              "over both domains together).")
        conditioning = MultilinearMap(backbone.out_features, num_classes, multilinear_max_dim, randomized_dim)
        self.domain_loss = ConditionalDomainAdversarialLoss(
            domain_discriminator(conditioning.out_features, check_sizes("discriminator_hidden", discriminator_hidden),
                                 check_flag("discriminator_bn", discriminator_bn)),
            conditioning, entropy_conditioning=check_flag("entropy", entropy),
            normalisation=entropy_normalisation, entropy_gradient=check_flag("entropy_gradient", entropy_gradient))

    def reversal_coeff(self, progress: float, step: int = 0) -> float:
        return reversal_coeff(self.trade_off, progress, step, self.gamma, self.warmup_steps)

    def training_step(self, batch: Batch, ctx: StepContext):
        f_s, f_t = self.features_of_both(batch)
        logits_s, logits_t = self.head(f_s), self.head(f_t)
        return {
            "cls": self.classification_loss(logits_s, batch.ys),
            "domain": self.domain_loss(f_s, logits_s, f_t, logits_t, self.reversal_coeff(ctx.progress, ctx.step)),
        }
