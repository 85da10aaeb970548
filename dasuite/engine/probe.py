"""A model on mixtures of a set's inputs: the ``probe`` of :class:`~dasuite.validators.outputs.Outputs`
that MixVal (:mod:`dasuite.validators.mixval`) classifies its mixed target samples with."""

from __future__ import annotations

from collections.abc import Callable

import torch

from dasuite.engine.evaluate import inputs
from dasuite.engine.sampler import subset


def mixture_probe(method, x, device: torch.device, batch_size: int,
                  prepare: Callable[[torch.Tensor], torch.Tensor]) -> Callable:
    """``probe(i, j, λ)``: logits (float64, on the CPU) of ``method`` in eval mode on
    λ·prepare(x[i]) + (1 − λ)·prepare(x[j]), for index tensors ``i`` and ``j`` of equal length."""

    @torch.inference_mode()
    def probe(first: torch.Tensor, second: torch.Tensor, ratio: float) -> torch.Tensor:
        was_training = method.training
        method.eval()
        logits = [method.predict(ratio * prepare(a) + (1 - ratio) * prepare(b)).double().cpu()
                  for a, b in zip(inputs(subset(x, first), batch_size, device),
                                  inputs(subset(x, second), batch_size, device))]
        method.train(was_training)
        return torch.cat(logits)

    return probe
