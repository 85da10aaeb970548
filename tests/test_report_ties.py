"""``dasuite report`` says when a selector's scores tie across configurations: its pick among them is arbitrary."""

from __future__ import annotations

from pathlib import Path

from dasuite.commands.report import main as report_main
from tests.test_report import _write_run

LAMBDAS = (0.1, 0.3, 1.0)


def make_tied_sweep(root: Path, source_acc) -> Path:
    """A dann λ × seed sweep (3 × 3) whose per-epoch val/source_acc is ``source_acc(λ, seed, epoch)``."""
    sweep = root / "sweep"
    for job, (lam, seed) in enumerate((lam, seed) for lam in LAMBDAS for seed in range(3)):
        records = [{"epoch": e, "stage": "main", "target/acc": 0.5 + 0.1 * e * lam, "source/acc": 1.0,
                    "val/source_acc": source_acc(lam, seed, e)} for e in (1, 2, 3)]
        _write_run(sweep / str(job), "dann", lam, seed, records,
                   {"status": "completed", "target_acc": records[-1]["target/acc"], "source_acc": 1.0})
    return sweep


def test_a_selector_tied_across_every_run_is_called_arbitrary(tmp_path, capsys):
    sweep = make_tied_sweep(tmp_path, lambda lam, seed, epoch: 1.0)  # 15 source points: all right, every time
    assert report_main([str(sweep), "--select", "source_acc"]) == 0
    md = (sweep / "report.md").read_text()
    assert md in capsys.readouterr().out
    # the pick is the first configuration (λ=0.1), as before, but the headline says it means nothing
    headline = md.splitlines()[2]
    assert headline.startswith("**51.0 ± 0.0 % target accuracy: the label-free pick by `val/source_acc`**, "
                               "method=dann, method.trade_off=0.1, epochs 1, 1, 1")
    assert headline.endswith(" `val/source_acc` ties across 9 of 9 runs (3 configurations): its pick is arbitrary.")
    ties = [line for line in md.splitlines() if line.startswith("- ")]
    assert ties == [f"- `val/source_acc` ({selection}) ties across 9 of 9 runs (3 configurations): its pick is "
                    "arbitrary." for selection in ("any epoch", "last epoch")]


def test_a_tie_among_some_configurations_and_none_at_all(tmp_path):
    # λ=0.1 and λ=0.3 tie at the best score, λ=1 scores lower: the pick is arbitrary between the two
    sweep = make_tied_sweep(tmp_path / "some", lambda lam, seed, epoch: 0.9 if lam == 1.0 else 1.0)
    assert report_main([str(sweep), "--select", "source_acc"]) == 0
    ties = [line for line in (sweep / "report.md").read_text().splitlines() if line.startswith("- ")]
    assert ties[0] == ("- `val/source_acc` (any epoch) ties across 6 of 9 runs (2 configurations): its pick among "
                       "them is arbitrary.")
    # λ=1 (lower, 0.9) is never part of the tie; distinct scores: no line at all
    sweep = make_tied_sweep(tmp_path / "none", lambda lam, seed, epoch: 0.8 + 0.01 * epoch + 0.1 * lam)
    assert report_main([str(sweep), "--select", "source_acc"]) == 0
    assert "ties across" not in (sweep / "report.md").read_text()
