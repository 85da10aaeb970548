"""``dasuite report --table tasks`` on a hand-made methods × tasks × seeds sweep: exact Markdown and LaTeX."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dasuite.commands.report import main as report_main

# (method, λ, task, seed) -> per epoch (target/acc, val/source_acc); worked below for val/source_acc and the oracle
RUNS = {
    ("dann", 1.0, "A2W", 0): [(.70, .90), (.80, .95), (.60, .85)],  # source_acc: .80  oracle: .80
    ("dann", 1.0, "A2W", 1): [(.74, .96), (.78, .90), (.82, .91)],  # .74  .82
    ("dann", 1.0, "W2A", 0): [(.50, .80), (.55, .81), (.66, .70)],  # .55  .66
    ("dann", 1.0, "W2A", 1): [(.53, .82), (.70, .81), (.58, .80)],  # .53  .70
    ("mdd", 1.0, "A2W", 0): [(.85, .97), (.90, .96), (.88, .99)],  # .88  .90
    ("mdd", 1.0, "A2W", 1): [(.86, .95), (.92, .97), (.91, .96)],  # .92  .92
    ("mdd", 1.0, "W2A", 0): [(.60, .80), (.62, .85), (.61, .83)],  # .62  .62
    ("mdd", 1.0, "W2A", 1): [(.64, .86), (.66, .84), (.70, .85)],  # .64  .70
    ("dann", 0.3, "A2W", 0): [(.40, .99), (.45, .98), (.50, .97)],  # .40  .50 (one seed, one task)
}
# label-free: dann λ=1 A2W (80+74)/2 = 77.0, W2A (55+53)/2 = 54.0, Avg 65.5; mdd 90.0, 63.0, Avg 76.5
# oracle:     dann λ=1 A2W (80+82)/2 = 81.0, W2A (66+70)/2 = 68.0, Avg 74.5; mdd 91.0, 66.0, Avg 78.5
LABEL_FREE_MD = """\
# Target accuracy (%) per task: label-free pick of val/source_acc

Each cell: the mean over a configuration's seeds of the target accuracy at the epoch val/source_acc picks without \
target labels; Avg: the mean over the 2 task(s). 9 completed run(s) of 10 found; — : a seed without a pick.

| method | A→W | W→A | Avg |
| --- | ---: | ---: | ---: |
| dann, method.trade_off=0.3 | 40.0 | — | — |
| dann, method.trade_off=1 | 77.0 | 54.0 | 65.5 |
| mdd, method.trade_off=1 | **90.0** | **63.0** | **76.5** |
"""
ORACLE_TEX = """\
% Target accuracy (%) per task: oracle (uses target labels)
\\begin{tabular}{lrrr}
\\toprule
Method & A$\\to$W & W$\\to$A & Avg \\\\
\\midrule
dann, method.trade\\_off=0.3 & 50.0 & -- & -- \\\\
dann, method.trade\\_off=1 & 81.0 & \\textbf{68.0} & 74.5 \\\\
mdd, method.trade\\_off=1 & \\textbf{91.0} & 66.0 & \\textbf{78.5} \\\\
\\bottomrule
\\end{tabular}
"""


def _write_run(folder: Path, method: str, trade_off: float, task: str, seed: int, epochs, status="completed"):
    (folder / ".hydra").mkdir(parents=True)
    source, target = task.split("2")
    config = {"dataset": {"_target_": "dasuite.data.office31", "task": task, "source": source, "target": target,
                          "data_root": f"/data/{seed}"},
              "method": {"_target_": f"dasuite.methods.{method}.X", "trade_off": trade_off},
              "trainer": {"epochs": len(epochs)}, "seed": seed}
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    records = [{"epoch": e, "stage": "adapt", "target/acc": t, "source/acc": v, "val/source_acc": v}
               for e, (t, v) in enumerate(epochs, start=1)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "summary.json").write_text(json.dumps({"status": status, "dataset": "office31", "method": method,
                                                     "backbone": "resnet50", "seed": seed}))


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "multirun"
    for job, ((method, lam, task, seed), epochs) in enumerate(RUNS.items()):
        _write_run(root / str(job), method, lam, task, seed, epochs)
    _write_run(root / str(len(RUNS)), "mdd", 1.0, "W2A", 2, [(.99, .99)], status="failed")  # never averaged
    return root


def test_label_free_table_is_exact(sweep, capsys):
    assert report_main([str(sweep), "--table", "tasks", "--select", "source_acc"]) == 0
    assert (sweep / "report_tasks.md").read_text(encoding="utf-8") == LABEL_FREE_MD
    assert LABEL_FREE_MD in capsys.readouterr().out
    assert "Method & A$\\to$W & W$\\to$A & Avg" in (sweep / "report_tasks.tex").read_text(encoding="utf-8")


def test_oracle_is_labelled_and_exact_in_latex(sweep, tmp_path):
    out = tmp_path / "out"
    assert report_main([str(sweep), "--table", "tasks", "--oracle", "--out", str(out)]) == 0
    assert (out / "report_tasks.tex").read_text(encoding="utf-8") == ORACLE_TEX
    markdown = (out / "report_tasks.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Target accuracy (%) per task: oracle (uses target labels)\n")
    assert "| mdd, method.trade_off=1 | **91.0** | 66.0 | **78.5** |" in markdown


def test_the_default_pick_is_ensv_and_runs_without_predictions_have_no_cells(sweep):
    assert report_main([str(sweep), "--table", "tasks"]) == 0
    markdown = (sweep / "report_tasks.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Target accuracy (%) per task: label-free pick of ensv\n")
    assert "| dann, method.trade_off=1 | — | — | — |" in markdown


def test_options_that_do_not_go_together_and_a_bad_selector_are_clear_errors(sweep, capsys):
    assert report_main([str(sweep), "--oracle"]) == 2
    assert "--oracle shows the oracle in the task table: add --table tasks" in capsys.readouterr().err
    assert report_main([str(sweep), "--table", "tasks", "--by", "method", "--per", "seed"]) == 2
    assert "--by and --per do not apply to --table tasks" in capsys.readouterr().err
    assert report_main([str(sweep), "--table", "tasks", "--per", "seed"]) == 2
    assert "error: --per does not apply to --table tasks" in capsys.readouterr().err
    assert report_main([str(sweep), "--table", "tasks", "--select", "sourceacc"]) == 2
    assert "--select 'val/sourceacc' is neither a validator nor a selector" in capsys.readouterr().err
