"""The training loops of the benchmarks written in plain PyTorch, without any dasuite code.

They are what dasuite's overhead is measured against: the same networks (LeNet as docs/architecture.md
describes it, torchvision's ResNet-50 without its last layer), the same losses (cross-entropy,
DANN's discriminator behind gradient reversal, DAN's multi-kernel MMD² with the median
heuristic), SGD with Nesterov momentum and the DANN learning-rate schedule, batches cut from
tensors on the device and normalised there, as dasuite does.
"""

from __future__ import annotations

import contextlib
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

METHODS = ("source_only", "dann", "mmd")


class GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coeff):
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.coeff * grad, None


def lenet(channels: int = 1) -> nn.Module:
    """conv 20 5×5 – pool – conv 50 5×5 – pool – fc 500 (28×28 inputs), with dropout."""
    return nn.Sequential(nn.Conv2d(channels, 20, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(20, 50, 5),
                         nn.Dropout2d(0.5), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(800, 500), nn.ReLU(),
                         nn.Dropout(0.5))


def resnet50() -> nn.Module:
    """torchvision's ResNet-50, 2048 features (its classifier removed), from scratch."""
    from torchvision.models import resnet50 as build

    model = build(weights=None)
    model.fc = nn.Identity()
    return model


#: backbone name -> (constructor, feature width)
BACKBONES = {"lenet": (lenet, 500), "resnet50": (resnet50, 2048)}


def mmd2(x: torch.Tensor, y: torch.Tensor, multipliers=(0.25, 0.5, 1.0, 2.0, 4.0)) -> torch.Tensor:
    """Unbiased multi-kernel Gaussian MMD², bandwidths around the median squared distance."""
    z = torch.cat([x, y])
    sq = z.pow(2).sum(1)
    d = (sq[:, None] + sq[None, :] - 2 * z @ z.T).clamp_min(0)
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    median = d.detach().masked_fill(eye, float("nan")).nanmedian().clamp_min(1e-12)
    widths = torch.tensor(multipliers, device=z.device, dtype=d.dtype) * median
    k = torch.exp(-d.unsqueeze(0) / widths.view(-1, 1, 1)).mean(0)
    m, n = len(x), len(y)
    kxx, kyy, kxy = k[:m, :m], k[m:, m:], k[:m, m:]
    return ((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1)) + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
            - 2 * kxy.mean())


class PlainLoop:
    """One method's training step on one backbone, in plain PyTorch."""

    def __init__(self, backbone: str, method: str, device: str, num_classes: int = 10, precision: str = "32",
                 compiled: bool = False, channels_last: bool = False, mean: float = 0.5, std: float = 0.5):
        build, width = BACKBONES[backbone]
        self.method, self.device, self.mean, self.std = method, torch.device(device), mean, std
        self.features, self.head = build().to(device), nn.Linear(width, num_classes).to(device)
        self.layout = torch.channels_last if channels_last else torch.contiguous_format
        self.features.to(memory_format=self.layout)
        self.disc = nn.Sequential(nn.Linear(width, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                  nn.Linear(256, 1)).to(device)
        if compiled:
            self.features.compile()
            self.head.compile()
        params = [*self.features.parameters(), *self.head.parameters(),
                  *(self.disc.parameters() if method == "dann" else [])]
        self.opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4, nesterov=True)
        fp16 = precision == "16-mixed" and self.device.type == "cuda"  # as dasuite: float32 on the CPU
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float16 if fp16 else None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=fp16)  # a pass-through unless float16
        self.total, self.step_count = 1000, 0

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.float() / 255 - self.mean) / self.std).contiguous(memory_format=self.layout)

    def loss(self, xs: torch.Tensor, ys: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
        """The step's summed loss (forward only)."""
        x = self._prepare(xs) if self.method == "source_only" else torch.cat([self._prepare(xs), self._prepare(xt)])
        f = self.features(x)
        loss = F.cross_entropy(self.head(f[: len(xs)]), ys)
        if self.method == "dann":
            coeff = 2 / (1 + math.exp(-10 * self.step_count / self.total)) - 1
            d = self.disc(GradReverse.apply(f, coeff)).squeeze(1)
            d_s, d_t = d[: len(xs)], d[len(xs):]
            loss = loss + 0.5 * (F.binary_cross_entropy_with_logits(d_s, torch.ones_like(d_s))
                                 + F.binary_cross_entropy_with_logits(d_t, torch.zeros_like(d_t)))
        elif self.method == "mmd":
            loss = loss + mmd2(f[: len(xs)], f[len(xs):])
        return loss

    def step(self, xs: torch.Tensor, ys: torch.Tensor, xt: torch.Tensor) -> None:
        autocast = (torch.autocast(self.device.type, dtype=self.dtype) if self.dtype is not None
                    else contextlib.nullcontext())
        with autocast:
            loss = self.loss(xs, ys, xt)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        for group in self.opt.param_groups:  # the DANN schedule
            group["lr"] = 0.01 / (1 + 10 * self.step_count / self.total) ** 0.75
        self.step_count += 1


def time_plain(loop: PlainLoop, xs: torch.Tensor, ys: torch.Tensor, xt: torch.Tensor, batch: int, steps: int,
               warmup: int) -> float:
    """Seconds per step over ``steps`` steps after ``warmup`` untimed ones (random batches, on the device)."""
    generator = torch.Generator(device=xs.device).manual_seed(0)

    def run(n: int) -> None:
        for _ in range(n):
            i = torch.randint(len(xs), (batch,), device=xs.device, generator=generator)
            j = torch.randint(len(xt), (batch,), device=xt.device, generator=generator)
            loop.step(xs[i], ys[i], xt[j])

    run(warmup)
    synchronize(loop.device)
    tick = time.perf_counter()
    run(steps)
    synchronize(loop.device)
    return (time.perf_counter() - tick) / steps


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
