"""Accuracy and loss of a method's predictions on a labeled set."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from dasuite.data import Labeled


def _slices(parts: tuple, batch_size: int, device: torch.device) -> Iterator[tuple[torch.Tensor, ...]]:
    """Batches of ``parts`` (aligned sets) in order: tensor slices, or DataLoader batches for images on disk."""
    if all(isinstance(p, torch.Tensor) for p in parts):
        for start in range(0, len(parts[0]), batch_size):
            yield tuple(p[start: start + batch_size].to(device, non_blocking=True) for p in parts)
        return
    from torch.utils.data import DataLoader

    from dasuite.engine.sampler import Zipped

    workers = max((getattr(p, "workers", 0) for p in parts), default=0)
    loader = DataLoader(Zipped(parts), batch_size=batch_size, num_workers=workers, pin_memory=device.type == "cuda")
    for batch in loader:
        yield tuple(t.to(device, non_blocking=True) for t in batch)


def batches(data: Labeled, batch_size: int, device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(x, y) batches of a labeled set, in order."""
    yield from _slices((data.x, data.y), batch_size, device)


def inputs(x, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    """Batches of a set's inputs alone (e.g. unlabeled target images), in order."""
    for (batch,) in _slices((x,), batch_size, device):
        yield batch


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


@torch.inference_mode()
def embed(method, x, device: torch.device, batch_size: int,
          prepare: Callable[[torch.Tensor], torch.Tensor] = lambda x: x) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and logits (float64, on the CPU) of a set's inputs, in order, in eval mode."""
    was_training = method.training
    method.eval()
    features, logits = [], []
    for batch in inputs(x, batch_size, device):
        f, out = method.embed(prepare(batch))
        features.append(f.flatten(1).double().cpu())
        logits.append(out.double().cpu())
    method.train(was_training)
    return torch.cat(features), torch.cat(logits)
