"""A finished run as Python sees it: its folder, summary, metrics and trained model (what :func:`dasuite.fit`,
:func:`dasuite.train` and :func:`dasuite.load_run` return). Importing it imports no torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Run:
    """A run folder of ``dasuite train``: its summary, metrics and model (in eval mode)."""

    folder: Path
    summary: dict
    model: object = field(repr=False)  # dasuite.models.trained.TrainedModel: method, input shape, classes, ...
    trust: bool = False  # what load_run was given: evaluate(run) reads the folder again with the same trust
    trusted_modules: tuple[str, ...] = ()

    @property
    def method(self):
        """The trained :class:`~dasuite.methods.base.Method` (an ``nn.Module``, in eval mode)."""
        return self.model.method

    @property
    def metrics(self) -> list[dict]:
        """metrics.jsonl's records, one per evaluated epoch."""
        from dasuite.engine.run_folder import read_metrics

        return read_metrics(self.folder / "metrics.jsonl")

    def predict(self, x):
        """Class probabilities (N, classes) of raw inputs ``x`` (a tensor shaped as the training inputs),
        preprocessed as in training."""
        import torch

        device = next(self.method.parameters()).device
        return self.model.probabilities(torch.as_tensor(x, dtype=torch.float32).to(device)).cpu()
