"""The metrics (:mod:`dasuite.metrics`) and loss of a method's predictions on a labeled set, and the
summary.json fields a metrics record gives."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F

from dasuite.data import Labeled
from dasuite.metrics import METRICS

#: The accuracy of a stream's online predictions (:mod:`~dasuite.engine.callbacks.online_accuracy`).
ONLINE = "online/accuracy"
#: the metrics record's keys of every metric: ``target/acc``, ``source/acc``, ``target/mean_class_acc``, ..., and
#: the online accuracy of a stream stage
MEASURED = (*(f"{split}/{m.key}" for m in METRICS.values() for split in ("target", "source")), ONLINE)
#: the keys every record and summary has (None where a set is empty)
ALWAYS = ("target/acc", "source/acc")


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
             prepare: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
             metrics: Sequence[str] = ("accuracy",)) -> dict[str, float]:
    """Per metric named in ``metrics`` its key ("acc", ...) and value, and "loss", the mean cross-entropy;
    empty dict for an empty set.

    ``prepare`` turns a stored batch into the model's input (the pair's preprocessing).
    """
    if len(data) == 0:
        return {}
    was_training = method.training
    method.eval()
    loss = torch.zeros((), device=device)
    predicted, labels = [], []
    for x, y in batches(data, batch_size, device):
        logits = method.predict(prepare(x))
        predicted.append(logits.argmax(1))
        labels.append(y)
        loss += F.cross_entropy(logits.float(), y, reduction="sum")
    method.train(was_training)
    predicted, labels = torch.cat(predicted).cpu(), torch.cat(labels).cpu()
    return {**{METRICS[name].key: METRICS[name].compute(predicted, labels) for name in metrics},
            "loss": loss.item() / len(data)}


def summary_fields(record: dict, prefix: str = "") -> dict:
    """summary.json's figures of a metrics record: ``{prefix}target_acc`` and ``{prefix}source_acc``
    (None when absent), then ``{prefix}<split>_<key>`` of each further metric the record holds."""
    return {prefix + key.replace("/", "_"): record.get(key) for key in MEASURED if key in ALWAYS or key in record}


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
