"""PNG plots of a finished run: learning curves, and decision regions for 2-D inputs."""

from __future__ import annotations

from pathlib import Path

import torch

from dasuite.data import DomainPair


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(metrics: list[dict], path: Path) -> None:
    """Accuracies (percent) and training loss terms against the epoch."""
    plt = _pyplot()
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [m["epoch"] for m in metrics]
    for key in ("source/acc", "target/acc"):
        values = [m.get(key) for m in metrics]
        if any(v is not None for v in values):
            acc_ax.plot(epochs, [100 * v if v is not None else float("nan") for v in values], label=key)
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    acc_ax.legend()
    loss_keys = sorted({k for m in metrics for k in m if k.startswith("train/")})
    for key in loss_keys:
        loss_ax.plot(epochs, [m.get(key, float("nan")) for m in metrics], label=key)
    loss_ax.set(xlabel="epoch", title="training loss terms")
    loss_ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


@torch.inference_mode()
def plot_decision_regions(method, pair: DomainPair, device: torch.device, path: Path) -> None:
    """Predicted class over the plane, with source train points and target test points."""
    plt = _pyplot()
    points = torch.cat([pair.source_train.x, pair.target_test.x])
    lo, hi = points.min(0).values - 0.5, points.max(0).values + 0.5
    xs, ys = torch.linspace(lo[0], hi[0], 200), torch.linspace(lo[1], hi[1], 200)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)
    was_training = method.training
    method.eval()
    labels = method.predict(grid.to(device)).argmax(1).cpu().reshape(200, 200)
    method.train(was_training)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.contourf(xs, ys, labels, alpha=0.25, cmap="coolwarm", levels=[c - 0.5 for c in range(pair.num_classes + 1)])
    ax.scatter(*pair.source_train.x.T, c=pair.source_train.y, cmap="coolwarm", marker="o", s=14,
               edgecolors="k", linewidths=0.3, label="source train")
    ax.scatter(*pair.target_test.x.T, c=pair.target_test.y, cmap="coolwarm", marker="x", s=8,
               alpha=0.5, label="target test")
    ax.set(title="decision regions", xlabel="x1", ylabel="x2")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
