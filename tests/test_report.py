"""``dasuite report`` on a hand-made tree of run folders (exact numbers) and on a real moons sweep."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dasuite.report import main as report_main
from tests.conftest import run_cli
from tests.test_fast_cli import PROBE

# (method, λ, seed) -> per epoch: (stage, target/acc, val/source_acc, val/snd, guard/collapsed)
# adda's epoch 1 is its source stage: its high values must never be picked (only the last stage counts).
S, A = "source", "adapt"
EPOCHS = {
    ("dann", 0.1, 0): [(A, .60, .80, 1, False), (A, .70, .90, 2, False), (A, .65, .85, 3, False)],
    ("dann", 0.1, 1): [(A, .62, .80, 1, False), (A, .72, .88, 2, False), (A, .66, .86, 3, False)],
    ("dann", 1.0, 0): [(A, .70, .85, 2, False), (A, .80, .86, 3, False), (A, .50, .70, 9, True)],
    ("dann", 1.0, 1): [(A, .72, .84, 2, False), (A, .82, .87, 3, False), (A, .52, .70, 9, True)],
    ("adda", 0.1, 0): [(S, .90, .99, 50, False), (A, .60, .80, 1, False), (A, .61, .81, 1, False),
                       (A, .62, .82, 1, False)],
    ("adda", 0.1, 1): [(S, .90, .99, 50, False), (A, .64, .80, 1, False), (A, .63, .81, 1, False),
                       (A, .62, .80, 1, False)],
    ("adda", 1.0, 0): [(S, .90, .99, 50, False), (A, .75, .91, 4, False), (A, .76, .89, 5, False),
                       (A, .74, .90, 8, True)],
    ("adda", 1.0, 1): [(S, .90, .99, 50, False), (A, .77, .89, 4, False), (A, .78, .92, 5, False),
                       (A, .76, .90, 6, False)],
}
#: trainer.select=source_acc's pick as each run's summary.json states it (best.pt)
BEST_EPOCH = {("dann", 0.1, 0): 2, ("dann", 0.1, 1): 2, ("dann", 1.0, 0): 2, ("dann", 1.0, 1): 2,
              ("adda", 0.1, 0): 4, ("adda", 0.1, 1): 3, ("adda", 1.0, 0): 2, ("adda", 1.0, 1): 3}
ENTROPY = [0.1, 0.2, 0.9]  # val/entropy: recorded by the dann λ=1 runs only


def _write_run(folder: Path, method: str, trade_off: float, seed: int, records: list[dict], summary: dict | None,
               data_root: str = "~/.cache/dasuite") -> None:
    (folder / ".hydra").mkdir(parents=True)
    method_cfg = {"_target_": f"dasuite.methods.{method}.{method.upper()}", "trade_off": trade_off}
    if method == "adda":
        method_cfg["source_epochs"] = 1
    config = {"trainer": {"epochs": 3, "lr": 0.01, "device": "auto"}, "backbone": {"_target_": "mlp"},
              "dataset": {"_target_": "dasuite.data.toy.moons", "rotation_deg": 35.0}, "method": method_cfg,
              "seed": seed, "data_root": data_root}
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"method={method}", f"seed={seed}"]))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps({"dataset": "moons", "method": method, "backbone": "mlp",
                                                         "seed": seed, "trade_off": trade_off, **summary}))


def make_tree(root: Path) -> None:
    """A 2 methods × 2 λ × 2 seeds sweep, plus a failed run elsewhere and an unfinished job."""
    sweep = root / "multirun" / "2026-01-01" / "12-00-00"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    for job, ((method, lam, seed), epochs) in enumerate(EPOCHS.items()):
        records = []
        for epoch, (stage, target, source_acc, snd, collapsed) in enumerate(epochs, start=1):
            record = {"epoch": epoch, "step": 10 * epoch, "stage": stage, "target/acc": target,
                      "source/acc": source_acc, "val/source_acc": source_acc, "val/snd": snd,
                      "val/iwcv": None, "guard/collapsed": collapsed}
            if (method, lam) == ("dann", 1.0):
                record["val/entropy"] = ENTROPY[epoch - 1]
            records.append(record)
        best = records[BEST_EPOCH[method, lam, seed] - 1]
        summary = {"status": "completed", "target_acc": records[-1]["target/acc"],
                   "source_acc": records[-1]["source/acc"], "epochs": len(records), "select": "source_acc",
                   "best_epoch": best["epoch"], "best_target_acc": best["target/acc"],
                   "best_source_acc": best["source/acc"], "best_value": best["val/source_acc"]}
        # a different data_root is not a different configuration
        _write_run(sweep / str(job), method, lam, seed, records, summary, data_root=f"/data{job}")
    huge = {"epoch": 1, "stage": A, "target/acc": 0.99, "source/acc": 0.99, "val/source_acc": 1.0, "val/snd": 99}
    _write_run(sweep / str(len(EPOCHS)), "dann", 0.1, 2, [huge, {**huge, "epoch": 2}], None)
    _write_run(root / "runs" / "2026-01-02" / "09-30-00", "dann", 1.0, 2, [huge],
               {"status": "failed", "error": "RuntimeError: boom in epoch 2"})


@pytest.fixture
def tree(tmp_path):
    make_tree(tmp_path)
    return tmp_path


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_report_tables_on_hand_made_runs(tree, capsys):
    assert report_main([str(tree)]) == 0
    printed = capsys.readouterr().out
    md = (tree / "report.md").read_text()
    assert printed.startswith(md)
    # default grouping: method and λ (seed, data_root and keys that follow from the method are left out)
    assert "grouped by method, method.trade_off (" in md
    assert ("| adda | 0.1 | 2 | 0, 1 | 62.0 ± 0.0 | 81.0 ± 1.4 | 62.5 ± 0.7 | 4, 3 | source_acc |" in md)
    assert ("| dann | 1 | 2 | 0, 1 | 51.0 ± 1.4 | 70.0 ± 0.0 | 81.0 ± 1.4 | 2, 2 | source_acc |" in md)
    rows = {(r["method"], r["method.trade_off"]): r for r in _csv(tree / "report.csv")}
    assert list(rows) == [("adda", "0.1"), ("adda", "1"), ("dann", "0.1"), ("dann", "1")]
    dann = rows["dann", "0.1"]  # the unfinished seed 2 (target 0.99) is not averaged in
    assert (dann["runs"], dann["seeds"]) == ("2", "0;1")
    assert float(dann["target_acc_mean"]) == pytest.approx(0.655)
    assert float(dann["target_acc_std"]) == pytest.approx(0.00707107, abs=1e-6)
    assert float(rows["adda", "1"]["best_target_acc_mean"]) == pytest.approx(0.765)

    # the headline is the label-free pick of val/source_acc, the oracle beside it, labelled as such
    assert ("**Label-free pick by `val/source_acc`:** method=adda, method.trade_off=1, epochs 2, 3 (per seed): "
            "**76.5 ± 2.1 %**" in md)
    assert ("oracle (uses target labels): method=dann, method.trade_off=1, epochs 2, 2: 81.0 ± 1.4 %; "
            "regret 4.5 points" in md)
    picks = {(r["validator"], r["selection"]): r for r in _csv(tree / "report_selection.csv")}
    expected = {  # (validator, selection): configuration, epochs, target acc, regret (points), all flagged
        ("val/source_acc", "any_epoch"): ("method=adda, method.trade_off=1", "2;3", 0.765, 4.5, "false"),
        # adda λ=1 and dann λ=1 have a flagged last epoch: both lose to unflagged configurations
        ("val/source_acc", "last_epoch"): ("method=dann, method.trade_off=0.1", "3;3", 0.655, 9.5, "false"),
        # snd's collapsed epochs (dann λ=1 epoch 3, adda λ=1 seed 0 epoch 4) and adda's source stage are skipped
        ("val/snd", "any_epoch"): ("method=adda, method.trade_off=1", "3;4", 0.76, 5.0, "false"),
        ("val/snd", "last_epoch"): ("method=dann, method.trade_off=0.1", "3;3", 0.655, 9.5, "false"),
        ("val/entropy", "any_epoch"): ("method=dann, method.trade_off=1", "2;2", 0.81, 0.0, "false"),
        # the only configuration entropy scores has a flagged last epoch: picked, and said so
        ("val/entropy", "last_epoch"): ("method=dann, method.trade_off=1", "3;3", 0.51, 24.0, "true"),
        ("oracle (uses target labels)", "any_epoch"): ("method=dann, method.trade_off=1", "2;2", 0.81, None, "false"),
        ("oracle (uses target labels)", "last_epoch"): ("method=adda, method.trade_off=1", "4;4", 0.75, None,
                                                        "false"),
    }
    for key, (configuration, epochs, target, regret, flagged) in expected.items():
        row = picks[key]
        assert (row["configuration"], row["epochs"], row["all_flagged"]) == (configuration, epochs, flagged), key
        assert float(row["target_acc_mean"]) == pytest.approx(target), key
        assert (row["regret_points"] == "") if regret is None else float(row["regret_points"]) == pytest.approx(regret)
    for name in ("val/iwcv", "val/dev", "val/bnm"):  # not recorded (or null): n/a, never a guess
        assert picks[name, "any_epoch"]["configuration"] == ""
        assert f"| {name} | n/a | n/a | n/a | n/a | n/a | n/a | n/a |" in md
    assert "| val/entropy | method=dann, method.trade_off=1 | 2, 2 | 81.0 ± 1.4 | 0.0 | method=dann, " \
           "method.trade_off=1 (flagged) | 51.0 ± 1.4 | 24.0 |" in md

    # failed and unfinished runs are listed, with their error
    assert "## Runs left out of the tables (2)" in md
    assert "| multirun/2026-01-01/12-00-00/8 | unfinished | - |" in md
    assert "| runs/2026-01-02/09-30-00 | failed | RuntimeError: boom in epoch 2 |" in md
    for png in ("report_target_acc.png", "report_curves.png"):
        assert (tree / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_by_and_select(tree, capsys):
    out = tree / "out"
    assert report_main([str(tree / "multirun"), str(tree / "runs"), "--by", "method", "--select", "snd",
                        "--out", str(out)]) == 0
    rows = _csv(out / "report.csv")
    assert [(r["method"], r["runs"]) for r in rows] == [("adda", "4"), ("dann", "4")]
    md = (out / "report.md").read_text()
    assert "**Label-free pick by `val/snd`:** method=adda, epochs" in md
    assert not (tree / "report.md").exists()


def test_report_without_validators_says_so(tree, capsys):
    for metrics in tree.rglob("metrics.jsonl"):  # runs from before the validators existed
        records = [json.loads(line) for line in metrics.read_text().splitlines()]
        metrics.write_text("".join(json.dumps({k: v for k, v in r.items() if not k.startswith(("val/", "guard/"))})
                                   + "\n" for r in records))
    assert report_main([str(tree)]) == 0
    md = (tree / "report.md").read_text()
    assert "**No label-free pick:** no run records `val/source_acc`" in md
    assert "| **val/source_acc** | n/a | n/a | n/a | n/a | n/a | n/a | n/a |" in md
    assert "| oracle (uses target labels) | method=dann, method.trade_off=1 | 2, 2 | 81.0 ± 1.4 |" in md


@pytest.mark.parametrize(("args", "says"), [
    (["{tmp}", "--colour", "red"], "unrecognized arguments: --colour red"),
    ([], "the following arguments are required: PATH"),
    (["{tmp}/nope"], "PATH {tmp}/nope does not exist"),
    (["{tmp}/empty"], "no run folders under {tmp}/empty"),
    (["{tmp}", "--select", "val/accuracy"], "--select 'val/accuracy' is not a validator; valid choices: "
                                            "val/source_acc, val/iwcv, val/dev, val/entropy"),
    (["{tmp}", "--by", "method,trade_off"], "--by 'trade_off' is not a config key of these runs; did you mean "
                                            "method.trade_off"),
])
def test_bad_arguments_exit_2(tree, capsys, args, says):
    (tree / "empty").mkdir()
    assert report_main([a.replace("{tmp}", str(tree)) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dasuite report: error: ") and says.replace("{tmp}", str(tree)) in err
    assert not (tree / "report.md").exists()


@pytest.mark.parametrize(("argv", "code", "says"), [
    (["report", "--help"], 0, "usage: dasuite report"),
    (["report", "--select", "snd"], 2, "the following arguments are required: PATH"),
    (["report", "nope"], 2, "PATH nope does not exist"),
])
def test_help_and_argument_errors_import_no_torch(argv, code, says, tmp_path):
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["code"] == code and says in answer["out"] + answer["err"]
    assert answer["heavy"] == []


def test_report_reads_runs_without_torch(tree):
    probe = ("import sys; from dasuite.report import report; report([__import__('pathlib').Path(sys.argv[1])]); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    result = subprocess.run([sys.executable, "-c", probe, str(tree)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("[]")


def test_reading_a_hundred_runs_is_fast(tmp_path):
    from dasuite.report.runs import find_run_folders, load_run

    for i in range(13):
        make_tree(tmp_path / f"copy{i}")  # 13 × 10 run folders
    start = time.perf_counter()
    runs = [load_run(p) for p in find_run_folders([tmp_path])]
    assert len(runs) == 130 and time.perf_counter() - start < 1.5


def test_validator_names_match_the_validators():
    from dasuite.report.select import VALIDATORS
    from dasuite.validators import VALIDATORS as REGISTERED

    assert list(VALIDATORS) == list(REGISTERED)


def test_report_on_a_real_moons_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    trained = run_cli("train", "-m", "method.trade_off=0.1,1", "seed=0,1", "trainer.epochs=3", "trainer.progress=false",
                      "trainer.plots=false", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    result = run_cli("report", str(sweep), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = _csv(sweep / "report.csv")
    assert [(r["method"], r["method.trade_off"], r["runs"], r["seeds"]) for r in rows] == \
        [("dann", "0.1", "2", "0;1"), ("dann", "1", "2", "0;1")]
    summaries = {job: json.loads((sweep / job / "summary.json").read_text()) for job in "0123"}
    by_lambda = {lam: [s["target_acc"] for s in summaries.values() if s["trade_off"] == lam] for lam in (0.1, 1.0)}
    assert float(rows[0]["target_acc_mean"]) == pytest.approx(sum(by_lambda[0.1]) / 2, abs=1e-6)
    assert float(rows[1]["target_acc_mean"]) == pytest.approx(sum(by_lambda[1.0]) / 2, abs=1e-6)
    md = (sweep / "report.md").read_text()
    assert md in result.stdout and "| oracle (uses target labels) | method=dann" in md
    for name in ("report.md", "report.csv", "report_selection.csv", "report_target_acc.png", "report_curves.png"):
        assert (sweep / name).stat().st_size > 0, name
