"""Test-only methods, reached through ``method._target_=tests.helpers.<Name>``."""

from dasuite.methods.source_only import SourceOnly


class FailsInSecondEpoch(SourceOnly):
    """Trains normally for one epoch, then raises."""

    def training_step(self, batch, ctx):
        if ctx.epoch >= 1:
            raise RuntimeError("boom in epoch 2")
        return super().training_step(batch, ctx)
