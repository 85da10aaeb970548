"""``iwcv``: the negated importance-weighted cross-entropy on source validation.

Sugiyama, Krauledat & Müller, "Covariate Shift Adaptation by Importance Weighted Cross Validation",
JMLR 2007: weighting each source validation loss by p_target(x) / p_source(x)
(:mod:`~dasuite.validators.density_ratio`) estimates the target risk without target labels.
"""

from dasuite.validators.outputs import Outputs


def iwcv(outputs: Outputs) -> float:
    return -(outputs.importance_weights * outputs.source_losses).mean().item()
