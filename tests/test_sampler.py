"""The engine's item positions and fetch: each draw of a batch says which items of its set it holds
(``batch["source"].index``), ``batch.fetch`` reads any other items as a batch is read, and fetching leaves
the samplers, so every other method's batches, exactly as they were."""

import json

import pytest
import torch

from dasuite.engine.sampler import BatchStream, gather
from dasuite.methods.dann import DANN
from tests import fake_data
from tests.conftest import train_in_process


class _OnDisk(torch.utils.data.Dataset):
    """A set the stream reads like images on disk (DataLoader workers, fetch threads); item i is i + 100."""

    def __init__(self, n, workers=1):
        self.n, self.workers = n, workers

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.tensor([int(i) + 100, -int(i)])


def _parts(kind, n=10):
    labels = torch.arange(n) % 3
    if kind == "memory":
        return (torch.stack([torch.arange(n) + 100, -torch.arange(n)], 1), labels)
    return (_OnDisk(n, workers=2), labels)


@pytest.mark.parametrize("kind", ["memory", "workers"])
def test_each_batch_comes_with_the_positions_of_its_items(kind):
    stream = BatchStream(_parts(kind), 3, torch.Generator().manual_seed(0), torch.device("cpu"))
    seen = []
    for _ in range(7):  # past two reshuffles (3 batches per pass)
        (x, y), index = stream.next_with_index()
        assert index.dtype == torch.long and len(index) == 3
        assert torch.equal(x[:, 0], index + 100) and torch.equal(y, index % 3)
        seen.append(index)
    assert sorted(torch.cat(seen[:3]).tolist()) == sorted(set(torch.cat(seen[:3]).tolist()))  # one pass: no repeat


@pytest.mark.parametrize("kind", ["memory", "workers"])
def test_fetch_reads_any_items_as_a_batch_and_leaves_the_stream_alone(kind):
    def stream():
        return BatchStream(_parts(kind), 3, torch.Generator().manual_seed(0), torch.device("cpu"))

    fetching, plain = stream(), stream()
    for step in range(7):
        parts, index = fetching.next_with_index()
        again = fetching.fetch(index)
        assert all(torch.equal(a, b) for a, b in zip(parts, again))  # the items a batch of them holds
        other = torch.tensor([9, 0, 9, step])  # any positions, repeats too
        x, y = fetching.fetch(other)
        assert torch.equal(x[:, 0], other + 100) and torch.equal(y, other % 3)
        assert [p.tolist() for p in plain.next()] == [p.tolist() for p in parts]  # the same batches as never fetched
    assert [len(p) for p in fetching.fetch(torch.zeros(0, dtype=torch.long))] == [0, 0]


def test_a_rank_s_batches_carry_positions_in_the_whole_set_and_fetch_reads_them():
    ranks = [BatchStream(_parts("memory", 12), 3, torch.Generator().manual_seed(0), torch.device("cpu"), rank=r,
                         world_size=2) for r in (0, 1)]
    for _ in range(5):
        halves = [stream.next_with_index() for stream in ranks]
        together = torch.cat([index for _, index in halves])
        assert len(set(together.tolist())) == 6  # the ranks' shares of one global batch: disjoint
        for stream, ((x, y), index) in zip(ranks, halves):
            assert torch.equal(x[:, 0], index + 100)
            assert all(torch.equal(a, b) for a, b in zip((x, y), ranks[0].fetch(index)))  # any rank reads any item


def test_gather_decodes_in_threads_in_order():
    data = _OnDisk(50, workers=4)
    index = torch.randperm(50)[:17]
    assert torch.equal(gather(data, index)[:, 0], index + 100)
    assert gather(data, index[:0]).shape == (0, 2)


def _checks_the_hook(checks: list, fetches: bool = True):
    """A DANN whose every step checks its batch against the whole sets (begin_epoch's ``inputs``) by the batch's
    positions, and (``fetches``) fetches those items again and a few others; ``checks`` counts the steps."""
    sets = {}
    begin_epoch, training_step = DANN.begin_epoch, DANN.training_step

    def begin(self, stage, epoch, inputs):
        with torch.random.fork_rng():  # reading a set on disk starts a DataLoader, which draws its workers' seed
            sets["source"] = torch.cat(list(inputs("source")))
            sets["labels"] = torch.cat(list(inputs("source", labels=True)))
            sets["target"] = torch.cat(list(inputs("target")))
        return begin_epoch(self, stage, epoch, inputs)

    def step(self, batch, ctx):
        source, target = batch["source"], batch["target"]
        assert torch.equal(source.x, sets["source"][source.index]) and torch.equal(batch.xs, source.x)
        assert torch.equal(source.y, sets["labels"][source.index]) and torch.equal(batch.ys, source.y)
        assert torch.equal(target.x, sets["target"][target.index]) and target.y is None
        if fetches:
            for name, draw in batch.items():  # the batch's own items again, as the batch has them
                again = batch.fetch(name, draw.index)
                assert torch.equal(again.x, draw.x) and torch.equal(again.index, draw.index)
                assert again.y is None if draw.y is None else torch.equal(again.y, draw.y)
            others = torch.tensor([0, len(sets["target"]) - 1])
            assert torch.equal(batch.fetch("target", others).x, sets["target"][others])
            with pytest.raises(ValueError, match=r"positions 0\.\.\d+ outside the target set's 0\.\."):
                batch.fetch("target", torch.tensor([0, len(sets["target"])]))
            with pytest.raises(ValueError, match=r"this run draws only from \['source', 'target'\], not 'target_test'"):
                batch.fetch("target_test", others)
        checks.append(ctx.step)
        return training_step(self, batch, ctx)

    return begin, step


def _metrics(run_dir):
    return [{k: v for k, v in json.loads(line).items() if k != "time_s"}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _folder(tmp_path):
    source = fake_data.write_image_folder(tmp_path / "amazon", per_class=6)
    target = fake_data.write_image_folder(tmp_path / "webcam", per_class=5, size=(30, 26))
    return ["dataset=folder", f"dataset.source_dir={source}", f"dataset.target_dir={target}", "dataset.image_size=16",
            "dataset.memory_limit_mb=0", "dataset.workers=2", "dataset.augment=none", "backbone=lenet",
            "trainer.batch_size=4"]


PAIRS = {"memory": lambda tmp_path: ["dataset=moons"], "on_disk": _folder}


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_a_run_hands_the_method_its_items_positions_and_fetching_changes_nothing(pair, tmp_path, monkeypatch):
    """Batches hold the items their positions name (in begin_epoch's order), fetch returns them as the batch
    has them (inputs and labels), and a run that fetches every step ends with the numbers of one that never does."""
    overrides = [*PAIRS[pair](tmp_path), "method=dann", "trainer.epochs=2", "trainer.deterministic=true", "seed=1"]
    plain = train_in_process(tmp_path / "plain", *overrides)
    checks = []
    begin, step = _checks_the_hook(checks)
    monkeypatch.setattr(DANN, "begin_epoch", begin)
    monkeypatch.setattr(DANN, "training_step", step)
    summary = train_in_process(tmp_path / "fetching", *overrides)
    assert summary["status"] == "completed" == plain["status"], summary.get("error")
    assert len(checks) == summary["steps"] > 2
    assert _metrics(tmp_path / "fetching") == _metrics(tmp_path / "plain")
