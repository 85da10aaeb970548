"""Endless streams of training batches, one per set a stage draws from.

Each stream walks a fresh random permutation of its set and reshuffles when fewer than a batch of
items remain (the remainder is dropped, so every batch has the same size). The stage's first set
defines the epoch; the others simply keep cycling, as DA loops usually do.

Under data-parallel training every rank walks the same permutation: a step's global batch holds
``world_size`` × the batch size, and rank r takes its r-th slice (a different shard each step and
each epoch; together the batch of one process with the global batch size).

Sets held in memory (tensors) are cut by tensor indexing on the training device; sets that stay on
disk (:class:`~dasuite.data.folder.LazyImages`) are decoded by DataLoader workers in the same order.

A stream's ``state_dict`` is its position after the last batch handed to the trainer (workers may
have prefetched further), so a resumed stream continues with exactly the next batch.

Each batch comes with its index, the items' positions in the whole set (global positions under
data-parallel training too), and :meth:`BatchStream.fetch` reads any other items by position, without
drawing from the sampler's generator: a method can complete a batch with items of its choice (CDTrans'
nearest neighbours over the whole sets) while the batches stay the ones a run without it draws.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import torch
from torch.utils.data import DataLoader, Dataset


class CyclicBatches:
    """Endless shuffled index batches over ``n`` items (a set smaller than a batch is one batch), the
    ``rank``-th slice of each global batch of ``world_size`` × ``batch_size`` items."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, rank: int = 0, world_size: int = 1):
        if n < world_size:
            raise ValueError(f"a set of {n} items cannot give each of {world_size} processes a sample")
        self.n = n
        self.batch_size = min(batch_size, n // world_size)  # per rank
        self.global_size = self.batch_size * world_size
        self.rank = rank
        self.generator = generator
        self.pending: deque[dict] = deque()  # states after the batches yielded by __iter__, oldest first
        self._shuffle()

    def _shuffle(self) -> None:
        self.order = torch.randperm(self.n, generator=self.generator)
        self.shuffled_state = self.generator.get_state()  # the generator right after drawing ``order``
        self.position = 0

    @property
    def batches_per_pass(self) -> int:
        return self.n // self.global_size

    def next(self) -> torch.Tensor:
        if self.position + self.global_size > self.n:
            self._shuffle()
        start = self.position + self.rank * self.batch_size
        index = self.order[start: start + self.batch_size]
        self.position += self.global_size
        return index

    def __iter__(self):  # as a DataLoader batch_sampler (runs ahead of the trainer by the prefetched batches)
        while True:
            index = self.next().tolist()
            self.pending.append(self.state_dict())
            yield index

    def state_dict(self) -> dict:
        """The position (``order`` and ``shuffled_state`` are replaced on a reshuffle, never changed in place)."""
        return {"order": self.order, "position": self.position, "generator": self.shuffled_state}

    def load_state_dict(self, state: dict) -> None:
        if len(state["order"]) != self.n:
            raise ValueError(f"a sampler state over {len(state['order'])} items cannot resume a set of {self.n}")
        self.order, self.position = state["order"].clone(), int(state["position"])
        self.generator.set_state(state["generator"])
        self.shuffled_state = state["generator"].clone()
        self.pending.clear()


class StreamBatches(CyclicBatches):
    """The items of ``order`` once, in that order, ``batch_size`` at a time, the last batch holding the rest; then
    the same order again (a stream stage reads it once). One process only."""

    def __init__(self, order: torch.Tensor, batch_size: int, generator: torch.Generator, rank: int = 0,
                 world_size: int = 1):
        if world_size > 1:
            raise ValueError("a stream is read by one process: run test-time adaptation without torchrun")
        self.fixed = order
        super().__init__(len(order), batch_size, generator, rank, world_size)

    def _shuffle(self) -> None:
        self.order, self.shuffled_state, self.position = self.fixed, self.generator.get_state(), 0

    @property
    def batches_per_pass(self) -> int:
        return -(-self.n // self.batch_size)

    def next(self) -> torch.Tensor:
        if self.position >= self.n:
            self._shuffle()
        index = self.order[self.position: self.position + self.batch_size]
        self.position += self.batch_size
        return index


class Zipped(Dataset):
    """Item i of each part, as a tuple (images decoded by the part's own ``__getitem__``); ``with_index``: and
    then ``i`` itself, so that a batch sampled by a DataLoader says which items it holds."""

    def __init__(self, parts, with_index: bool = False):
        self.parts, self.with_index = parts, with_index

    def __len__(self) -> int:
        return len(self.parts[0])

    def __getitem__(self, i):
        items = tuple(part[i] for part in self.parts)
        return (*items, int(i)) if self.with_index else items


class BatchStream:
    """Batches of ``parts`` (e.g. images and labels) on ``device``, in :class:`CyclicBatches` order (with ``order``:
    :class:`StreamBatches` over it)."""

    def __init__(self, parts, batch_size: int, generator: torch.Generator, device: torch.device, rank: int = 0,
                 world_size: int = 1, order: torch.Tensor | None = None):
        self.device = device
        self.batches = CyclicBatches(len(parts[0]), batch_size, generator, rank, world_size) if order is None else \
            StreamBatches(order, batch_size, generator, rank, world_size)
        self.in_memory = all(isinstance(p, torch.Tensor) for p in parts)
        self.parts = [p.to(device) for p in parts] if self.in_memory else parts
        self.loader = None  # started at the first batch, after a possible load_state_dict
        self.consumed = self.batches.state_dict()  # with a loader: the state after the last batch handed out

    @property
    def batches_per_pass(self) -> int:
        return self.batches.batches_per_pass

    def next(self) -> list[torch.Tensor]:
        """The next batch of every part, on the device."""
        return self.next_with_index()[0]

    def next_with_index(self) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The next batch of every part and its index (the items' positions in the set, int64), on the device."""
        if self.in_memory:
            index = self.batches.next().to(self.device)
            return [p[index] for p in self.parts], index
        if self.loader is None:
            workers = max((getattr(p, "workers", 0) for p in self.parts), default=0)
            # a generator of its own: without one, starting the loader draws its workers' base seed from
            # torch's global generator, at the first batch of a run but also at the first after a
            # resume, which would shift the dropout and augmentation of a resumed run
            seed = torch.Generator().manual_seed(self.batches.generator.initial_seed())
            self.loader = iter(DataLoader(Zipped(self.parts, with_index=True), batch_sampler=self.batches,
                                          num_workers=workers, pin_memory=self.device.type == "cuda",
                                          persistent_workers=workers > 0, generator=seed))
        *batch, index = next(self.loader)
        self.consumed = self.batches.pending.popleft()
        return [t.to(self.device, non_blocking=True) for t in batch], index.to(self.device, non_blocking=True)

    def fetch(self, index: torch.Tensor) -> list[torch.Tensor]:
        """Items ``index`` (positions in the set) of every part, on the device, as :meth:`next` gives them.

        It leaves the stream alone: the sampler's generator and position, and so every later batch, are
        those of a stream never fetched from. Images on disk are decoded here, by threads (as many as
        the part's DataLoader workers), not by the workers, which run ahead on the next batches."""
        if self.in_memory:
            index = index.to(self.device)
            return [p[index] for p in self.parts]
        index = index.cpu()
        return [gather(p, index).to(self.device) for p in self.parts]

    def state_dict(self) -> dict:
        """The position after the last batch returned by :meth:`next`."""
        return self.batches.state_dict() if self.in_memory else self.consumed

    def load_state_dict(self, state: dict) -> None:
        """Continue from a :meth:`state_dict` (before the first :meth:`next`)."""
        if self.loader is not None:
            raise RuntimeError("load_state_dict must come before the first batch")
        self.batches.load_state_dict(state)
        self.consumed = self.batches.state_dict()


def gather(data, index: torch.Tensor) -> torch.Tensor:
    """Items ``index`` of a set stacked as one tensor (each decoded by the set's ``__getitem__`` unless it is
    a tensor), in ``data.workers`` threads where it has workers."""
    if isinstance(data, torch.Tensor):
        return data[index.to(data.device)]
    positions = index.tolist()
    if not positions:  # an empty batch of the right shape and type
        return torch.stack([torch.as_tensor(data[0])])[:0]
    threads = min(getattr(data, "workers", 0), len(positions))
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            items = list(pool.map(data.__getitem__, positions))
    else:
        items = [data[i] for i in positions]
    return torch.stack([torch.as_tensor(item) for item in items])


def subset(data, index: torch.Tensor):
    """The items ``index`` of a set: a tensor slice, or a lazy view of images on disk (keeping its workers)."""
    if isinstance(data, torch.Tensor):
        return data[index]
    view = torch.utils.data.Subset(data, index.tolist())
    view.workers = getattr(data, "workers", 0)
    return view
