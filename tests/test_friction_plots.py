"""Plot titles that tell the truth: the t-SNE of a run counts its epochs, not its metrics records."""

import torch

from dasuite.diagnostics import plots, run
from dasuite.diagnostics.run import Diagnostics
from dasuite.models.build import build_method, build_pair
from tests.conftest import GENERIC, compose_config


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
