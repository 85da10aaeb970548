"""Accuracy and loss of a method's predictions on a labeled set."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from dasuite.data import Labeled


def batches(data: Labeled, batch_size: int, device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(x, y) batches in order: tensor slices, or DataLoader batches for images kept on disk."""
    if isinstance(data.x, torch.Tensor):
        for start in range(0, len(data), batch_size):
            yield (data.x[start: start + batch_size].to(device, non_blocking=True),
                   data.y[start: start + batch_size].to(device, non_blocking=True))
        return
    from torch.utils.data import DataLoader

    from dasuite.engine.sampler import Zipped

    loader = DataLoader(Zipped([data.x, data.y]), batch_size=batch_size, num_workers=getattr(data.x, "workers", 0),
                        pin_memory=device.type == "cuda")
    for x, y in loader:
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


@torch.inference_mode()
def evaluate(method, data: Labeled, device: torch.device, batch_size: int,
             prepare: Callable[[torch.Tensor], torch.Tensor] = lambda x: x) -> dict[str, float]:
    """{"acc": fraction correct, "loss": mean cross-entropy}; empty dict for an empty set.

    ``prepare`` turns a stored batch into the model's input (the pair's preprocessing).
    """
    if len(data) == 0:
        return {}
    was_training = method.training
    method.eval()
    correct = torch.zeros((), device=device)
    loss = torch.zeros((), device=device)
    for x, y in batches(data, batch_size, device):
        logits = method.predict(prepare(x))
        correct += (logits.argmax(1) == y).sum()
        loss += F.cross_entropy(logits.float(), y, reduction="sum")
    method.train(was_training)
    return {"acc": correct.item() / len(data), "loss": loss.item() / len(data)}
