"""Test-time BatchNorm: each batch of the stream normalised by its own statistics, nothing else changed (the "BN"
baseline of TENT, Wang et al., ICLR 2021, table 2, DequanWang/tent ``norm.py``; Schneider et al., "Improving
robustness against common corruptions by covariate shift adaptation", NeurIPS 2020; Nado et al., "Evaluating
prediction-time batch normalization for robustness under covariate shift", 2020). With ``method.norm=source`` the
same method is the unadapted model (``method=no_adaptation``): the trained running statistics, the baseline every
test-time method is measured against.
"""

from __future__ import annotations

from dasuite.methods.test_time import TestTimeMethod


class BatchNormAdapt(TestTimeMethod):
    """Predict each batch, adapting nothing but (with ``norm=batch``) the normalisation statistics."""

    def adapt_step(self, x, ctx) -> dict:
        ctx.predicted(self.draw, self.predict(x))
        return {}
