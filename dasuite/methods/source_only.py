"""Source only: train on labeled source data and apply the model to the target unchanged."""

from __future__ import annotations

from dasuite.methods.base import Batch, Method, Stage, StepContext


class SourceOnly(Method):
    """Cross-entropy on the source; the baseline every adaptation method should beat."""

    def stages(self) -> list[Stage]:
        return [Stage("source", draws=("source",))]

    def training_step(self, batch: Batch, ctx: StepContext):
        return {"cls": self.classification_loss(self.predict(batch.xs), batch.ys)}
