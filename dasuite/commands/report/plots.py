"""The report's figures: target accuracy against λ (``report_target_acc.png``) and learning curves
(``report_curves.png``). matplotlib (Agg) is imported only here."""

from __future__ import annotations

from pathlib import Path

from dasuite.commands.report.groups import Group, common_value, format_value
from dasuite.commands.report.select import Pick, mean_std

LAMBDA = "method.trade_off"


def plot_target_acc(groups: list[Group], keys: list[str], pick: Pick | None, select: str, path: Path) -> None:
    """Last-epoch target accuracy (mean ± std over seeds) against λ, one line per setting of the other
    keys (one per method in a λ × method sweep); the label-free pick of ``select`` is starred."""
    plt = _pyplot()
    lambdas = [common_value(g, LAMBDA) for g in groups]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in lambdas)
    others = [k for k in keys if k != LAMBDA]
    series: dict[str, list] = {}
    for i, group in enumerate(groups):
        name = ", ".join(f"{k}={format_value(v)}" for k, v in zip(keys, group.values) if k != LAMBDA)
        series.setdefault(name or "runs", []).append((lambdas[i] if numeric else i, group))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, points in series.items():
        points.sort(key=lambda p: p[0])
        stats = [mean_std(run.summary.get("target_acc") for run in g.runs) for _, g in points]
        kept = [(x, m, s) for (x, _), (m, s) in zip(points, stats) if m is not None]
        if kept:
            ax.errorbar([x for x, _, _ in kept], [100 * m for _, m, _ in kept], yerr=[100 * s for _, _, s in kept],
                        marker="o", capsize=3, label=name)
    if pick is not None:
        x = lambdas[groups.index(pick.group)] if numeric else groups.index(pick.group)
        ax.plot([x], [100 * pick.target[0]], marker="*", markersize=16, color="black", linestyle="none",
                label=f"label-free pick by {select}: {100 * pick.target[0]:.1f} % (epoch "
                      f"{', '.join(map(str, pick.epochs))})")
    if numeric:
        ax.set_xlabel("λ (method.trade_off)")
        positive = [v for v in lambdas if v > 0]
        if positive and max(positive) / min(positive) > 10:
            if min(lambdas) > 0:
                ax.set_xscale("log")
            else:
                ax.set_xscale("symlog", linthresh=min(positive))
    else:
        ax.set_xticks(range(len(groups)), [g.label(others) for g in groups], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("target test accuracy % (last epoch)")
    ax.set_title("Target accuracy, mean ± std over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_curves(groups: list[Group], keys: list[str], path: Path) -> None:
    """target/acc and source/acc per epoch, the mean over each configuration's seeds."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for group in groups:
        for ax, key in zip(axes, ("target/acc", "source/acc")):
            per_epoch: dict[int, list[float]] = {}
            for run in group.runs:
                for record in run.metrics:
                    if isinstance(record.get(key), (int, float)) and "epoch" in record:
                        per_epoch.setdefault(record["epoch"], []).append(record[key])
            epochs = sorted(e for e, v in per_epoch.items() if len(v) == len(group.runs))
            if epochs:
                ax.plot(epochs, [100 * mean_std(per_epoch[e])[0] for e in epochs], label=group.label(keys),
                        marker="o" if len(epochs) <= 30 else None, markersize=3)
    for ax, title in zip(axes, ("target test accuracy", "source validation accuracy")):
        ax.set_title(f"{title} (mean over seeds)")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy %")
    handles, labels = axes[0].get_legend_handles_labels()
    if labels:
        axes[1].legend(handles, labels, fontsize=7)
    _save(fig, path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
