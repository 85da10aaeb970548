"""The report's figures: target accuracy against λ (``report_target_acc.png``) and learning curves
(``report_curves.png``). matplotlib (Agg) is imported only here."""

from __future__ import annotations

from pathlib import Path

from dasuite.commands.report.groups import Group, common_value, format_value
from dasuite.commands.report.select import Pick, mean_std

LAMBDA = "method.trade_off"


def plot_target_acc(groups: list[Group], keys: list[str], pick: Pick | None, select: str, path: Path) -> None:
    """Last-epoch target accuracy (mean ± std over seeds): against λ, one line per setting of the other keys,
    when λ is a grouping key; else one point per configuration, named by its tick label. The label-free
    pick of ``select`` is starred. The legend sits right of the axes and the figure grows to hold it and
    the tick labels, however many configurations there are."""
    plt = _pyplot()
    lambdas = [common_value(g, LAMBDA) for g in groups]
    numeric = LAMBDA in keys and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in lambdas)
    fig, ax = plt.subplots(layout="constrained")
    if numeric:
        _lines_over_lambda(ax, groups, keys, lambdas)
    else:
        _points_per_configuration(ax, groups, keys)
    if pick is not None:
        x = lambdas[groups.index(pick.group)] if numeric else groups.index(pick.group)
        ax.plot([x], [100 * pick.target[0]], marker="*", markersize=16, color="black", linestyle="none",
                label=f"label-free pick by {select}:\n{100 * pick.target[0]:.1f} % (epoch "
                      f"{', '.join(map(str, pick.epochs))})")
    ax.set_ylabel("target test accuracy % (last epoch)")
    ax.set_title("Target accuracy, mean ± std over seeds")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    width = 6.0 if numeric else max(6.0, len(groups) * (0.1 + 0.2 * len(keys)))  # room for each tick label
    _size_around(fig, ax, width, 3.2)
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
    if labels:  # right of the axes, never over the curves; the figure grows to hold it
        legend = axes[1].legend(handles, [_wrap(label) for label in labels], fontsize=7, loc="upper left",
                                bbox_to_anchor=(1.02, 1), borderaxespad=0)
        box = legend.get_window_extent(fig.canvas.get_renderer())
        fig.set_size_inches(11 + box.width / fig.dpi, max(4.2, box.height / fig.dpi + 1.0))
        fig.set_layout_engine("constrained")
    _save(fig, path)


def _lines_over_lambda(ax, groups: list[Group], keys: list[str], lambdas: list) -> None:
    """One line over λ per setting of the other keys, named (wrapped) in the legend."""
    series: dict[str, list] = {}
    for lam, group in zip(lambdas, groups):
        name = ", ".join(f"{k}={format_value(v)}" for k, v in zip(keys, group.values) if k != LAMBDA)
        series.setdefault(name or "runs", []).append((lam, group))
    for name, points in series.items():
        points.sort(key=lambda p: p[0])
        kept = [(x, *acc) for x, g in points if (acc := _target_acc(g))[0] is not None]
        if kept:
            ax.errorbar([x for x, _, _ in kept], [m for _, m, _ in kept], yerr=[s for _, _, s in kept],
                        marker="o", capsize=3, label=_wrap(name))
    ax.set_xlabel("λ (method.trade_off)")
    positive = [v for v in lambdas if v > 0]
    if positive and max(positive) / min(positive) > 10:
        if min(lambdas) > 0:
            ax.set_xscale("log")
        else:
            ax.set_xscale("symlog", linthresh=min(positive))


def _points_per_configuration(ax, groups: list[Group], keys: list[str]) -> None:
    """One point per configuration, its tick label naming it one key per line."""
    kept = [(i, *acc) for i, g in enumerate(groups) if (acc := _target_acc(g))[0] is not None]
    ax.errorbar([i for i, _, _ in kept], [m for _, m, _ in kept], yerr=[s for _, _, s in kept], marker="o",
                capsize=3, linestyle="none")
    labels = ["\n".join(f"{k}={format_value(v)}" for k, v in zip(keys, g.values)) for g in groups]
    ax.set_xticks(range(len(groups)), labels, rotation=45, ha="right", rotation_mode="anchor", fontsize=7)
    ax.set_xlim(-0.5, len(groups) - 0.5)


def _target_acc(group: Group) -> tuple[float | None, float | None]:
    """Mean and std over the group's seeds of the last-epoch target accuracy, in percent."""
    mean, std = mean_std(run.summary.get("target_acc") for run in group.runs)
    return (None, None) if mean is None else (100 * mean, 100 * std)


def _wrap(text: str, width: int = 40) -> str:
    """``text`` broken after its ", " separators into lines of at most ``width`` characters where it can."""
    lines: list[str] = []
    for part in text.split(", "):
        if lines and len(lines[-1]) + 2 + len(part) <= width:
            lines[-1] += ", " + part
        else:
            lines.append(part)
    return ",\n".join(lines)


def _size_around(fig, ax, width: float, height: float) -> None:
    """Size ``fig`` so that the data area of ``ax`` is about ``width`` × ``height`` inches (taller if its legend
    is), with room for its tick labels, axis labels, title and the legend on its right; constrained layout
    then places them."""
    renderer = fig.canvas.get_renderer()
    inch = fig.dpi
    data, decorated = ax.get_window_extent(renderer), ax.get_tightbbox(renderer, bbox_extra_artists=[])
    legend = ax.get_legend()
    box = legend.get_window_extent(renderer) if legend is not None else None
    fig.set_size_inches(width + (decorated.width - data.width + (box.width if box else 0)) / inch + 0.4,
                        max(height, box.height / inch if box else 0) + (decorated.height - data.height) / inch + 0.3)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    from dasuite.safe_files import write_atomic

    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=120))  # never through a link planted there
    import matplotlib.pyplot as plt

    plt.close(fig)
