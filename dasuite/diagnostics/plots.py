"""PNG plots of a finished run: learning curves, t-SNE of features, and decision regions for 2-D inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dasuite.data import DomainPair
from dasuite.diagnostics.embedding import DOMAINS, Embedding
from dasuite.safe_files import write_atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(metrics: list[dict], path: Path) -> None:
    """Accuracies (percent) and training loss terms against the epoch, and, when the records have
    ``val/<name>`` keys, the validators' scores (each scaled to 0 at its worst epoch, 1 at its best)."""
    plt = _pyplot()
    validator_keys = sorted({k for m in metrics for k in m if k.startswith("val/")})
    fig, axes = plt.subplots(1, 3 if validator_keys else 2, figsize=(15 if validator_keys else 10, 4))
    acc_ax, loss_ax = axes[:2]
    epochs = [m["epoch"] for m in metrics]
    for key in ("source/acc", "target/acc"):
        values = [m.get(key) for m in metrics]
        if any(v is not None for v in values):
            acc_ax.plot(epochs, [100 * v if v is not None else float("nan") for v in values], label=key)
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    acc_ax.legend()
    for key in sorted({k for m in metrics for k in m if k.startswith("train/")}):
        loss_ax.plot(epochs, [float("nan") if m.get(key) is None else m[key] for m in metrics], label=key)
    loss_ax.set(xlabel="epoch", title="training loss terms and logged values")
    loss_ax.legend()
    if validator_keys:  # scales differ by orders of magnitude (iwcv vs. accuracies): each is min-max scaled
        for key in validator_keys:
            axes[2].plot(epochs, _scaled([m.get(key) for m in metrics]), label=key)
        axes[2].set(xlabel="epoch", ylabel="score, scaled per validator", title="validators (1: best epoch)")
        axes[2].legend()
    fig.tight_layout()
    _save(fig, path)


def _scaled(values: list) -> np.ndarray:
    """0 at the lowest value, 1 at the highest (missing values stay NaN)."""
    values = np.array([np.nan if v is None else v for v in values], dtype=float)
    finite = values[np.isfinite(values)]
    if len(finite) == 0 or finite.max() == finite.min():
        return np.where(np.isfinite(values), 0.5, np.nan)
    return (values - finite.min()) / (finite.max() - finite.min())


def plot_tsne(coords: np.ndarray, embedding: Embedding, class_names: list[str], path: Path, title: str) -> None:
    """2-D t-SNE coordinates coloured by domain (left) and by class (right; source o, target x)."""
    plt = _pyplot()
    fig, (domain_ax, class_ax) = plt.subplots(1, 2, figsize=(11, 5))
    few = len(class_names) <= 10
    colours = plt.get_cmap("tab10").colors if few else plt.get_cmap("turbo")(np.linspace(0, 1, len(class_names)))
    for d, (name, marker) in enumerate(zip(DOMAINS, ("o", "x"))):
        at = embedding.domain == d
        domain_ax.scatter(*coords[at].T, s=10, marker=marker, alpha=0.6, color=f"C{d}", label=name)
        class_ax.scatter(*coords[at].T, s=10, marker=marker, alpha=0.6,
                         color=[colours[c] for c in embedding.labels[at]])
    domain_ax.set(title="by domain", xticks=[], yticks=[])
    domain_ax.legend()
    class_ax.set(title="by class (source o, target x)", xticks=[], yticks=[])
    if few:
        class_ax.legend(handles=[plt.Line2D([], [], marker="o", linestyle="", color=colours[c], label=name)
                                 for c, name in enumerate(class_names)], fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path: Path) -> None:
    # <run folder>/plots/<name>.png: plots/ must be a real folder of the run, and the file no link
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100), within=path.parent.parent)
    _pyplot().close(fig)


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
    _save(fig, path)
