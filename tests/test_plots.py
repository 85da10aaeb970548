"""Run plots (curves, t-SNE before/after, decision regions, titles that count epochs) and the proxy A-distance in
summary.json."""

import json
import logging

import numpy as np
import pytest
import torch

from dasuite.diagnostics import plots, run
from dasuite.diagnostics.domain_distance import proxy_a_distance
from dasuite.diagnostics.embedding import Embedding, embed
from dasuite.diagnostics.plots import _scaled, plot_curves
from dasuite.diagnostics.run import Diagnostics
from dasuite.assembly.method import build_method
from dasuite.assembly.pair import build_pair
from tests.conftest import GENERIC, compose_config, read_summary, train_in_process

pytest.importorskip("sklearn", reason="scikit-learn (a core dependency) computes t-SNE and the proxy A-distance")

PLOTS = ["trainer.plots=true", "trainer.epochs=2"]


def _gaussians(n_source: int, n_target: int, shift: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    features = np.concatenate([rng.normal(size=(n_source, 8)), rng.normal(size=(n_target, 8)) + shift])
    return features, np.repeat([0, 1], [n_source, n_target])


def test_proxy_a_distance_is_2_for_separable_and_near_0_for_identical_domains():
    assert proxy_a_distance(*_gaussians(200, 200, shift=10.0)) == 2.0
    assert abs(proxy_a_distance(*_gaussians(200, 200, shift=0.0))) < 0.3


def test_proxy_a_distance_balances_the_domains():
    # 20 source vs 1000 target points from one distribution: always answering "target" would score
    # ε ≈ 0.02 (d_A ≈ 1.9) without balancing
    assert abs(proxy_a_distance(*_gaussians(20, 1000, shift=0.0))) < 0.9


def test_proxy_a_distance_is_seeded_and_needs_samples_of_both_domains():
    features, domain = _gaussians(50, 50, shift=0.5)
    assert proxy_a_distance(features, domain, seed=3) == proxy_a_distance(features, domain, seed=3)
    with pytest.raises(ValueError, match="at least 4 samples per domain, there are 2"):
        proxy_a_distance(*_gaussians(2, 50, shift=0.0))


def test_embed_subsamples_both_held_out_sets_without_touching_the_run_random_state():
    cfg = compose_config()
    pair = build_pair(cfg.dataset)
    method = build_method(cfg, pair.input_shape, pair.num_classes)
    method.train()
    state = torch.random.get_rng_state()
    first = embed(method, pair, torch.device("cpu"), batch_size=64, seed=0, limit=100)
    assert torch.equal(torch.random.get_rng_state(), state) and method.training
    assert len(pair.source_val) > 100 and first.features.shape == (200, method.backbone.out_features)
    assert (first.domain == 0).sum() == 100 and (first.domain == 1).sum() == 100
    assert set(np.unique(first.labels)) <= set(range(pair.num_classes))
    again = embed(method, pair, torch.device("cpu"), batch_size=7, seed=0, limit=100)
    np.testing.assert_allclose(again.features, first.features, rtol=1e-5, atol=1e-6)
    other = embed(method, pair, torch.device("cpu"), batch_size=64, seed=1, limit=100)
    assert not np.array_equal(other.labels[other.domain == 1], first.labels[first.domain == 1])


def _width(path) -> int:
    from PIL import Image

    with Image.open(path) as image:
        return image.size[0]


def test_a_tsne_sample_keeps_at_most_n_points_of_each_domain_seeded_and_in_order():
    domain = np.array([0] * 30 + [1] * 5)
    embedding = Embedding(np.arange(35, dtype=np.float32)[:, None], domain, np.arange(35) % 3)
    shown = embedding.sample(10, seed=0)
    assert (shown.domain == 0).sum() == 10 and (shown.domain == 1).sum() == 5
    assert np.all(np.diff(shown.features[:, 0]) > 0)  # in the embedding's order
    assert np.array_equal(shown.labels, shown.features[:, 0].astype(int) % 3)  # rows kept whole
    assert np.array_equal(embedding.sample(10, seed=0).features, shown.features)
    assert not np.array_equal(embedding.sample(10, seed=1).features, shown.features)


def test_curves_get_a_validator_panel_when_records_have_val_keys(tmp_path):
    records = [{"epoch": e, "source/acc": 0.5, "target/acc": 0.4, "train/loss": 1.0 / e} for e in (1, 2, 3)]
    plot_curves(records, tmp_path / "plain.png")
    plot_curves([{**r, "val/snd": 0.1 * r["epoch"], "val/source_acc": None} for r in records], tmp_path / "val.png")
    assert _width(tmp_path / "val.png") > _width(tmp_path / "plain.png")  # a third panel


def test_validator_scores_are_scaled_each_to_its_own_range():
    np.testing.assert_allclose(_scaled([None, -4000.0, 0.0, 1.0]), [np.nan, 0.0, 4000 / 4001, 1.0])
    np.testing.assert_allclose(_scaled([0.3, 0.3, None]), [0.5, 0.5, np.nan])


def test_the_tsne_title_counts_epochs_when_records_come_every_few_epochs(tmp_path, monkeypatch):
    cfg = compose_config(*GENERIC)
    pair = build_pair(cfg.dataset)
    method = build_method(cfg, pair.input_shape, pair.num_classes)
    titles = []
    monkeypatch.setattr(Diagnostics, "_plot_tsne", lambda self, embedding, path, title: titles.append(title))
    monkeypatch.setattr(run, "proxy_a_distance", lambda *args: 0.0)
    for plot in ("plot_curves", "plot_decision_regions"):  # only the titles matter here
        monkeypatch.setattr(plots, plot, lambda *args: None)
    records = [{"epoch": e, "source/acc": 0.5, "target/acc": 0.5} for e in range(6, 301, 6)]  # eval_every=6
    Diagnostics(pair, torch.device("cpu"), 256, 0, tmp_path).final(method, records)
    assert len(records) == 50 and titles == ["t-SNE of backbone features, after training (300 epochs)"]


def test_a_run_writes_plots_and_the_proxy_a_distance_without_changing_its_results(tmp_path):
    summary = train_in_process(tmp_path / "on", *PLOTS)
    names = sorted(p.name for p in (tmp_path / "on" / "plots").glob("*.png"))
    assert names == ["curves.png", "decision_regions.png", "tsne.png", "tsne_initial.png"]
    for key in ("proxy_a_distance", "proxy_a_distance_initial"):
        assert -2.0 <= summary[key] <= 2.0
    assert read_summary(tmp_path / "on")["proxy_a_distance"] == summary["proxy_a_distance"]
    off = train_in_process(tmp_path / "off", "trainer.epochs=2")  # trainer.plots=false
    assert "proxy_a_distance" not in off and not (tmp_path / "off" / "plots").exists()

    def metrics(run):
        return [{k: v for k, v in json.loads(line).items() if k != "time_s"}
                for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]

    assert metrics("on") == metrics("off")


def test_a_resumed_run_has_no_initial_model_plot(tmp_path):
    train_in_process(tmp_path, "trainer.epochs=1")
    summary = train_in_process(tmp_path, "trainer.plots=true", "trainer.epochs=2", resume=True)
    assert summary["status"] == "completed" and summary["epochs"] == 2
    assert "proxy_a_distance" in summary and "proxy_a_distance_initial" not in summary
    assert (tmp_path / "plots" / "tsne.png").is_file() and not (tmp_path / "plots" / "tsne_initial.png").exists()


def test_a_failing_plot_is_a_warning_and_the_run_completes(tmp_path, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("no display")

    monkeypatch.setattr("dasuite.diagnostics.run.Diagnostics._plot_tsne", broken)
    with caplog.at_level(logging.WARNING):
        summary = train_in_process(tmp_path, *PLOTS)
    assert summary["status"] == "completed" and "proxy_a_distance" in summary
    assert not list((tmp_path / "plots").glob("tsne*.png")) and (tmp_path / "plots" / "curves.png").is_file()
    assert "t-SNE failed (RuntimeError: no display); the run's results are unaffected" in caplog.text
