"""CDAN and CDAN+E: conditional adversarial domain adaptation (Long et al., NeurIPS 2018).

Like DANN, but the domain discriminator sees the multilinear map f ⊗ g of the features f and the
class probabilities g, so the features are aligned jointly with the predictions (class by class)
rather than only as a whole. When d·C exceeds ``multilinear_max_dim`` the map is replaced by its
randomized approximation (R_f f) ⊙ (R_g g) / sqrt(k), k = ``randomized_dim``, with fixed random
matrices. ``entropy=true`` (CDAN+E) weights each sample by 1 + exp(-H(g)). The reversal weight
ramps up with progress p as in DANN: λ_p = trade_off · (2 / (1 + exp(-γ p)) - 1).
"""

from __future__ import annotations

from collections.abc import Sequence

from dasuite.errors import ConfigError, check_number
from dasuite.losses import ConditionalDomainAdversarialLoss, MultilinearMap, progressive_coeff
from dasuite.methods.base import Batch, Method, StepContext, check_flag, check_sizes, check_trade_off
from dasuite.models.heads import domain_discriminator


class CDAN(Method):
    """Source cross-entropy + conditional domain adversarial loss on features ⊗ predictions."""

    def __init__(self, backbone, num_classes: int, trade_off: float = 1.0, gamma: float = 10.0,
                 entropy: bool = False, discriminator_hidden: Sequence[int] = (256, 256),
                 multilinear_max_dim: int = 4096, randomized_dim: int = 1024, label_smoothing: float = 0.0):
        super().__init__(backbone, num_classes, label_smoothing)
        self.trade_off = check_trade_off(trade_off)
        self.gamma = check_number("method.gamma", gamma, minimum=0)
        for key, value, minimum in (("multilinear_max_dim", multilinear_max_dim, 0), ("randomized_dim", randomized_dim, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f"method.{key}={value!r} must be an integer >= {minimum}.")
        conditioning = MultilinearMap(backbone.out_features, num_classes, multilinear_max_dim, randomized_dim)
        self.domain_loss = ConditionalDomainAdversarialLoss(
            domain_discriminator(conditioning.out_features, check_sizes("discriminator_hidden", discriminator_hidden)),
            conditioning, entropy_conditioning=check_flag("entropy", entropy))

    def reversal_coeff(self, progress: float) -> float:
        return self.trade_off * progressive_coeff(progress, self.gamma)

    def training_step(self, batch: Batch, ctx: StepContext):
        f_s, f_t = self.features_of_both(batch)
        logits_s, logits_t = self.head(f_s), self.head(f_t)
        return {
            "cls": self.classification_loss(logits_s, batch.ys),
            "domain": self.domain_loss(f_s, logits_s, f_t, logits_t, self.reversal_coeff(ctx.progress)),
        }
