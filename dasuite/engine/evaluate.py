"""Accuracy and loss of a method's predictions on a labeled set."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dasuite.data import Labeled


@torch.inference_mode()
def evaluate(method, data: Labeled, device: torch.device, batch_size: int) -> dict[str, float]:
    """{"acc": fraction correct, "loss": mean cross-entropy}; empty dict for an empty set."""
    if len(data) == 0:
        return {}
    was_training = method.training
    method.eval()
    correct = torch.zeros((), device=device)
    loss = torch.zeros((), device=device)
    for start in range(0, len(data), batch_size):
        x = data.x[start: start + batch_size].to(device, non_blocking=True)
        y = data.y[start: start + batch_size].to(device, non_blocking=True)
        logits = method.predict(x)
        correct += (logits.argmax(1) == y).sum()
        loss += F.cross_entropy(logits.float(), y, reduction="sum")
    method.train(was_training)
    return {"acc": correct.item() / len(data), "loss": loss.item() / len(data)}
