"""``scripts/benchmark.py --speed``: training steps per second, dasuite against plain PyTorch.

For LeNet on 28×28 digits (synthetic uint8 images, or MNIST test and USPS train with --data-root)
and ResNet-50 on synthetic 224×224 RGB tensors, each of source-only, DANN and MMD is timed
through dasuite's own trainer (``Trainer.fit`` on the data held in memory: its samplers, autocast,
divergence guard, evaluation and optimizer steps, timed by the trainer's own ``train_seconds``)
and as the same loop in plain PyTorch (:mod:`plain_loop`) in the same process, in float32 (and
bfloat16 autocast for DANN, where the device's bfloat16 matrix multiply is not slower than its
float32 one), eager and (for DANN) compiled.

A shared CPU's speed drifts by ±10 % from one block of steps to the next, more than the overhead
being measured, so the two are interleaved: the trainer runs ``repeats + 1`` epochs of ``steps``
steps (the first is the warm-up, where ``torch.compile`` compiles), and after each epoch the plain
loop runs one block of ``steps`` steps (the first is its warm-up). Each side's figure is the
median over its ``repeats`` timed blocks; the table also gives the range of the per-pair ratios.
Compiled rows give the compile time (first epoch minus a steady one) and the steps after which
compiling has paid off against the plain eager loop. Both sides use the layout
``trainer.channels_last=auto`` picks (NHWC for these convolutional models); one LeNet DANN row
runs both in NCHW to show what the layout gains.

Each row gives its share of the machine's compute limit: the FLOPs of a training step (counted by
``torch.utils.flop_counter.FlopCounterMode``, forward and backward) per second, over the measured
matrix-multiply peak of the device (float32's where the precision's own is lower). A last row
runs LeNet DANN on 2 CPU processes with DistributedDataParallel (gloo, one thread each) against
one process.
"""

from __future__ import annotations

import os
import socket
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from plain_loop import METHODS, PlainLoop, time_plain

from dasuite.engine.run_folder import RunFolder

#: backbone -> (input shape, batch per domain on the CPU, on CUDA)
MODELS = {"lenet": ((1, 28, 28), 64, 64), "resnet50": ((3, 224, 224), 8, 32)}


@dataclass
class Row:
    model: str
    method: str
    device: str
    precision: str
    compiled: bool
    channels_last: bool
    batch: int
    images_per_step: int
    plain: list[float]  # seconds per step of each timed block (compiled rows: the compiled plain loop)
    dasuite: list[float]
    flops_per_image: float
    peak: float  # FLOP/s of the device's matrix multiply in this precision
    eager_s: float = float("nan")  # the plain eager loop's median seconds per step (for compiled rows)
    compile_s: float = float("nan")  # dasuite's compile time: first epoch minus a steady one

    @property
    def key(self) -> tuple:
        return self.model, self.method, self.device, self.precision, self.compiled, self.channels_last

    @property
    def plain_s(self) -> float:
        return statistics.median(self.plain)

    @property
    def dasuite_s(self) -> float:
        return statistics.median(self.dasuite)

    def cells(self) -> list[str]:
        ours = self.images_per_step / self.dasuite_s
        share = self.flops_per_image * ours / self.peak
        pairs = [p / d for p, d in zip(self.plain, self.dasuite)]
        compiled = "–"
        if self.compiled:
            gain = self.eager_s - self.dasuite_s
            paid = f"{self.compile_s / gain:.0f} steps" if gain > 0 else "never"
            compiled = (f"{self.eager_s / self.dasuite_s:.2f}× plain eager; compiles in {self.compile_s:.0f} s, "
                        f"pays off after {paid}")
        return [self.model, self.method, self.device, "bf16" if self.precision == "bf16" else "fp32",
                "compile" if self.compiled else "eager", "NHWC" if self.channels_last else "NCHW", str(self.batch),
                f"{1 / self.plain_s:.2f}", f"{1 / self.dasuite_s:.2f}", f"{ours:.0f}" if ours >= 100 else f"{ours:.1f}",
                f"**{self.plain_s / self.dasuite_s:.2f}**", f"{min(pairs):.2f}–{max(pairs):.2f}",
                f"{self.flops_per_image / 1e6:.1f}", f"{100 * share:.0f}%", compiled]


def matmul_peak(device: str, dtype: torch.dtype) -> float:
    """FLOP/s of a large square matrix multiply (the compute limit a training step can approach)."""
    n = 2048 if device == "cpu" else 8192
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    a @ b
    _sync(device)
    repeats = 5 if device == "cpu" else 50
    tick = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * n ** 3 * repeats / (time.perf_counter() - tick)


def flops_per_image(model: str, method: str, device: str) -> float:
    """Forward and backward FLOPs of one training step of the plain loop, per image it consumes."""
    from torch.utils.flop_counter import FlopCounterMode

    shape, batch = MODELS[model][0], 4
    loop = PlainLoop(model, method, device)
    xs, ys, xt = _synthetic(shape, batch, device, seed=0)
    with FlopCounterMode(display=False) as counter:
        loop.loss(xs, ys, xt).backward()
    return counter.get_total_flops() / (batch if method == "source_only" else 2 * batch)


def _synthetic(shape, n: int, device: str, seed: int):
    g = torch.Generator().manual_seed(seed)
    xs = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    xt = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    ys = torch.arange(n) % 10
    return xs.to(device), ys.to(device), xt.to(device)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class _Timing(RunFolder):
    """A run folder that writes nothing, keeps the trainer's training seconds at each epoch's end and
    then calls ``between()`` (the plain loop's block, interleaved with the trainer's epochs)."""

    def __init__(self, between=None):
        self.path, self.logger, self.seconds, self.between = Path(tempfile.gettempdir()), None, [], between

    def append_metrics(self, record: dict) -> None:
        pass

    def save_checkpoint(self, state: dict, name: str = "last.pt"):
        self.seconds.append(state["train_seconds"])
        if self.between is not None:
            self.between()

    def copy_checkpoint(self, source: str, name: str):
        pass


def data_pair(model: str, steps: int, batch: int, data_root: Path | None, ranks: int = 1):
    """A pair whose source train set is exactly ``steps`` global batches (``ranks`` × ``batch``)."""
    from dasuite.data.images import Preprocess
    from dasuite.data.pair import DomainPair, Labeled

    shape, n = MODELS[model][0], steps * batch * ranks
    if model == "lenet" and data_root is not None:
        xs, ys, xt = _digits(data_root)
        xs, ys, xt = xs[:n], ys[:n], xt[torch.arange(n) % len(xt)]
    else:
        xs, ys, xt = _synthetic(shape, n, "cpu", seed=1)
    small = Labeled(xs[:8], ys[:8])
    preprocess = Preprocess((0.5,) * shape[0], (0.5,) * shape[0], channels=shape[0])
    return DomainPair(Labeled(xs, ys), small, xt, None, small, 10, shape, [str(c) for c in range(10)], preprocess)


def _digits(data_root: Path):
    """MNIST test images and labels, USPS train images (as benchmark.py's plain loop reads them)."""
    from benchmark import _plain_data

    return _plain_data(data_root)


def paired_seconds_per_step(model: str, method: str, device: str, precision: str, compiled: bool, layout: bool,
                            batch: int, steps: int, repeats: int, data_root: Path | None) -> tuple[list, list, float]:
    """Seconds per step of ``repeats`` interleaved blocks of ``steps`` steps: the plain loop's, dasuite's
    (one trainer epoch each, after a warm-up epoch), and dasuite's compile time (0 when eager)."""
    from hydra import compose, initialize_config_dir

    from dasuite.config.catalog import config_dir
    from dasuite.engine.callbacks.defaults import default_callbacks
    from dasuite.engine.trainer import Trainer
    from dasuite.assembly.method import build_method

    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = compose("config", overrides=[f"backbone={model}", f"method={method}", "family=none", "recipe=none"])
    pair = data_pair(model, steps, batch, data_root)
    torch.manual_seed(0)
    loop = PlainLoop(model, method, device, precision=precision, compiled=compiled, channels_last=layout)
    xs, ys, xt = (t.to(device) for t in (pair.source_train.x, pair.source_train.y, pair.target_train))
    plain: list[float] = []

    def plain_block() -> None:  # after the trainer's warm-up epoch, the plain loop's own (compiling after dasuite)
        plain.append(time_plain(loop, xs, ys, xt, batch, steps, warmup=0 if plain else max(1, steps // 5)))

    run = _Timing(plain_block)
    torch.manual_seed(0)
    trainer = Trainer(epochs=repeats + 1, batch_size=batch, device=device, precision=precision, compile=compiled,
                      channels_last=layout, eval_batch_size=64,
                      callbacks=default_callbacks(progress=False, plots=False, validation_samples=8))
    trainer.fit(build_method(cfg, pair.input_shape, 10), pair, run, seed=0)
    ours = [(b - a) / steps for a, b in zip(run.seconds, run.seconds[1:])]
    compile_s = max(0.0, run.seconds[0] - steps * statistics.median(ours)) if compiled else 0.0
    return plain[1:], ours, compile_s


def _ddp_worker(rank: int, port: int, steps: int, batch: int, data_root, results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from hydra import compose, initialize_config_dir

    from dasuite.config.catalog import config_dir
    from dasuite.engine.distributed import shutdown
    from dasuite.engine.callbacks.defaults import default_callbacks
    from dasuite.engine.trainer import Trainer
    from dasuite.assembly.method import build_method

    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = compose("config", overrides=["backbone=lenet", "method=dann", "family=none", "recipe=none"])
    torch.manual_seed(0)
    pair = data_pair("lenet", steps, batch, data_root, ranks=2)
    trainer = Trainer(epochs=2, batch_size=batch, device="cpu",
                      callbacks=default_callbacks(progress=False, plots=False, validation_samples=8))
    run = _Timing()
    trainer.fit(build_method(cfg, pair.input_shape, 10), pair, run, seed=0)
    if rank == 0:
        results.put((run.seconds[1] - run.seconds[0]) / steps)
    shutdown()


def ddp_seconds_per_step(steps: int, batch: int, data_root: Path | None) -> float:
    """LeNet DANN on 2 CPU processes (gloo, one thread each), ``batch`` per rank: seconds per global step."""
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = mp.get_context("spawn")
    results = context.SimpleQueue()
    mp.start_processes(_ddp_worker, args=(port, steps, batch, data_root, results), nprocs=2, start_method="spawn")
    return results.get()


def measure(args) -> tuple[list[Row], dict]:
    """Every row of the table, and the DDP scaling figures."""
    devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    rows, peaks, flops = [], {}, {}
    for device in devices:
        for dtype in (torch.float32, torch.bfloat16):
            peaks[device, dtype] = matmul_peak(device, dtype)
        for model, (_, cpu_batch, cuda_batch) in MODELS.items():
            batch = cpu_batch if device == "cpu" else cuda_batch
            steps = args.steps if model == "lenet" or device == "cuda" else args.resnet_steps
            for method in METHODS:
                flops.setdefault((model, method), flops_per_image(model, method, "cpu"))
                variants = [("32", False, True)]  # (precision, compiled, channels-last: trainer.channels_last=auto)
                if method == "dann" and model == "lenet":
                    variants.append(("32", False, False))  # what the default layout gains
                bf16_not_slower = peaks[device, torch.bfloat16] >= peaks[device, torch.float32]
                if method == "dann" and (model == "lenet" or bf16_not_slower):
                    variants.append(("bf16", False, True))  # ResNet-50 in emulated bfloat16 would take hours on a CPU
                if method == "dann" and (model == "lenet" or device == "cuda"):
                    variants.append(("32", True, True))  # compiling ResNet-50 on a CPU takes minutes
                for precision, compiled, layout in variants:
                    print(f"  {model} {method} {device} {precision} {'compile' if compiled else 'eager'} "
                          f"{'NHWC' if layout else 'NCHW'}", flush=True)
                    plain, ours, compile_s = paired_seconds_per_step(model, method, device, precision, compiled, layout,
                                                                     batch, steps, args.repeats, args.data_root)
                    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
                    rows.append(Row(model, method, device, precision, compiled, layout, batch,
                                    batch * (1 if method == "source_only" else 2), plain, ours,
                                    flops[model, method], max(peaks[device, dtype], peaks[device, torch.float32]),
                                    compile_s=compile_s))
                    if compiled:
                        rows[-1].eager_s = next(r.plain_s for r in rows
                                                if r.key == (model, method, device, "32", False, True))
    single = next(r for r in rows if r.key == ("lenet", "dann", "cpu", "32", False, True))
    print("  lenet dann cpu: 2 DDP processes", flush=True)
    ddp = ddp_seconds_per_step(args.steps, single.batch, args.data_root)
    scaling = {"single_samples_per_second": single.images_per_step / single.dasuite_s,
               "ddp_samples_per_second": 2 * single.images_per_step / ddp, "batch": single.batch}
    return rows, {**scaling, "peaks": peaks}


def render(rows: list[Row], scaling: dict, args, command: str, started: str, machine: str) -> str:
    from benchmark import markers

    begin, end = markers(args.section)
    peaks = scaling["peaks"]
    peak_text = "; ".join(f"{device} {'bf16' if dtype == torch.bfloat16 else 'fp32'} {value / 1e9:.3g} GFLOP/s"
                          for (device, dtype), value in peaks.items())
    gpu = f" GPU: {torch.cuda.get_device_name()}." if torch.cuda.is_available() else " No GPU on this machine."
    lines = [begin, f"### {args.title}", "", f"Measured {started} on: {machine}.{gpu}", "",
             *([args.note, ""] if args.note else []), "```", command, "```", "",
             f"Steps per second of training (data in memory on the device, after warm-up; dasuite's from its "
             f"trainer's own training-step clock), the same loop in plain PyTorch in the same process, "
             f"interleaved: {args.repeats} blocks of each, alternating; each figure is the median over its "
             f"blocks, 'pairs' the range of the {args.repeats} per-pair ratios. Compiled rows: plain = the "
             f"compiled plain loop; the last column compares with the plain eager loop (the fp32 eager row). "
             f"Images per step: the batch (per domain) × 2 for DANN and MMD (source and target), × 1 for "
             f"source-only. {'LeNet on MNIST test / USPS train' if args.data_root else 'LeNet on synthetic 28×28 images'}"
             f", ResNet-50 on synthetic 224×224 RGB tensors, from scratch. "
             f"Compute share: training FLOPs (forward + backward, FlopCounterMode) per second over the "
             f"measured matrix-multiply peak of the device in that precision, or in float32 where that is "
             f"faster ({peak_text}). Layout: NHWC is trainer.channels_last=auto, the default for convolutional "
             f"models; the plain loop uses the same layout as dasuite in each row. Steps timed: "
             f"{args.steps} per block (ResNet-50 on the CPU: {args.resnet_steps}).", "",
             "| model | method | device | precision | mode | layout | batch | plain steps/s | dasuite steps/s | "
             "dasuite images/s | dasuite / plain | pairs | MFLOP/image | compute share | compiling |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    ratio = scaling["ddp_samples_per_second"] / scaling["single_samples_per_second"]
    lines += ["", f"DistributedDataParallel, LeNet DANN, fp32 eager, batch {scaling['batch']} per domain per "
              f"process: one process (all cores) {scaling['single_samples_per_second']:.0f} images/s; 2 CPU "
              f"processes (gloo, one thread each, global batch 2 × {scaling['batch']}) "
              f"{scaling['ddp_samples_per_second']:.0f} images/s: **{ratio:.2f}×**.", "", end]
    return "\n".join(lines)
