"""report_target_acc.png with many configurations: tick labels inside the image, the legend off the data."""

from __future__ import annotations

import struct
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dasuite.commands.report import plots  # noqa: E402
from dasuite.commands.report.groups import group_runs  # noqa: E402
from dasuite.commands.report.runs import Run  # noqa: E402
from dasuite.commands.report.select import Pick  # noqa: E402

CLOSE = plt.close

DISCRIMINATORS = ["two_layer_mlp_with_spectral_normalisation", "gradient_reversal_with_entropy_conditioning",
                  "conditional_multilinear_map_randomised"]


def _runs(lambdas: list[float | None]) -> list[Run]:
    """A sweep of long-named configurations (4 bottlenecks × 3 discriminators, × ``lambdas``), two seeds each;
    λ None: the method has no trade_off."""
    runs = []
    for bottleneck in (16, 64, 256, 1024):
        for discriminator in DISCRIMINATORS:
            for lam in lambdas:
                for seed in (0, 1):
                    config = {"method": "conditional_domain_adversarial_network", "seed": seed,
                              "method.feature_bottleneck_dimension": bottleneck,
                              "method.discriminator_architecture": discriminator}
                    config.update({} if lam is None else {"method.trade_off": lam})
                    path = Path(f"/runs/{bottleneck}-{discriminator}-{lam}-{seed}")
                    runs.append(Run(path, "completed", config, {"target_acc": 0.6 + bottleneck / 5000}))
    return runs


def _figure(monkeypatch, tmp_path, lambdas: list[float | None]):
    """The figure plot_target_acc saves (kept open), and the saved PNG's width and height in pixels."""
    keys = ["method", "method.discriminator_architecture", "method.feature_bottleneck_dimension"]
    keys += ["method.trade_off"] if len(lambdas) > 1 else []
    groups = group_runs(_runs(lambdas), keys)
    pick = Pick(groups[5], 0.9, [3, 4], [0.8, 0.82], 0)
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    path = tmp_path / "report_target_acc.png"
    plots.plot_target_acc(groups, keys, pick, "val/source_acc", path)
    (fig,) = figures
    width, height = struct.unpack(">II", path.read_bytes()[16:24])  # the PNG's IHDR
    return fig, (width, height), len(groups)


def _drawn_texts(ax) -> list:
    """The tick labels within the axes' limits (the ones drawn), the axis labels and the title."""
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    ticks = [t for t in ax.get_xticklabels() if x0 <= t.get_position()[0] <= x1]
    ticks += [t for t in ax.get_yticklabels() if y0 <= t.get_position()[1] <= y1]
    return [t for t in [*ticks, ax.xaxis.label, ax.yaxis.label, ax.title] if t.get_visible() and t.get_text()]


def _inside(box, image) -> bool:
    return image.x0 <= box.x0 and box.x1 <= image.x1 and image.y0 <= box.y0 and box.y1 <= image.y1


@pytest.mark.parametrize("lambdas", [[None], [1.0], [0.1, 0.3, 1.0, 3.0]],
                         ids=["12 configurations", "12 configurations of one λ", "12 lines over λ"])
def test_many_groups_keep_tick_labels_inside_and_the_legend_off_the_data(monkeypatch, tmp_path, lambdas):
    fig, png, groups = _figure(monkeypatch, tmp_path, lambdas)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        (ax,) = fig.axes
        image = fig.bbox
        assert png == pytest.approx((image.width * 120 / fig.dpi, image.height * 120 / fig.dpi), abs=1)
        if len(lambdas) == 1:  # one tick per configuration, naming every key
            assert [t.get_text().count("=") for t in ax.get_xticklabels()] == [3] * groups
        for text in _drawn_texts(ax):
            assert _inside(text.get_window_extent(renderer), image), text.get_text()
        legend = ax.get_legend()
        box, data = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert not box.overlaps(data), (box, data)
        assert _inside(box, image)
        # over λ: 12 lines and the starred pick; else the tick labels name the configurations: the pick alone
        assert len(legend.get_texts()) == (1 if len(lambdas) == 1 else 13)
    finally:
        CLOSE(fig)


def test_the_curves_legend_of_many_groups_stays_off_both_plots(monkeypatch, tmp_path):
    keys = ["method", "method.discriminator_architecture", "method.feature_bottleneck_dimension", "method.trade_off"]
    runs = _runs([0.1, 0.3, 1.0, 3.0])
    for run in runs:
        run.metrics = [{"epoch": e, "target/acc": 0.5 + e / 20, "source/acc": 0.9} for e in range(1, 6)]
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    plots.plot_curves(group_runs(runs, keys), keys, tmp_path / "report_curves.png")
    (fig,) = figures
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        legend = fig.axes[1].get_legend()
        box = legend.get_window_extent(renderer)
        assert len(legend.get_texts()) == 48
        assert _inside(box, fig.bbox)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer))
            for text in _drawn_texts(ax):
                assert _inside(text.get_window_extent(renderer), fig.bbox), text.get_text()
    finally:
        CLOSE(fig)
