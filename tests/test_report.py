"""``dasuite report`` on a hand-made tree of run folders (exact numbers) and on a real moons sweep."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from dasuite.commands.report import main as report_main
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


# A dann λ × seed sweep whose runs store their predictions on 4 target samples (2 classes), for EnsV:
# λ × seed -> per epoch: (target/acc, val/source_acc, guard/collapsed, predicted class of each target sample)
ENSV_EPOCHS = {
    (0.1, 0): [(.70, .90, False, "0011"), (.72, .91, False, "0011"), (.60, .92, False, "0111")],
    (0.3, 0): [(.74, .90, False, "0001"), (.80, .90, False, "0011"), (.83, .90, False, "0011")],
    (1.0, 0): [(.50, .93, False, "0111"), (.30, .80, True, "1111"), (.30, .80, True, "1111")],
    (0.1, 1): [(.71, .90, False, "0011"), (.65, .92, False, "0111"), (.66, .91, False, "0111")],
    (0.3, 1): [(.82, .91, False, "0011"), (.81, .90, False, "0011"), (.79, .90, False, "0010")],
    (1.0, 1): [(.52, .94, False, "0011"), (.53, .81, False, "0011"), (.31, .80, False, "1111")],
}
#: each run's own EnsV pick (the epoch agreeing most with its epochs' ensemble; unflagged first; earlier on ties)
ENSV_PICK = {(0.1, 0): 1, (0.3, 0): 2, (1.0, 0): 1, (0.1, 1): 2, (0.3, 1): 1, (1.0, 1): 1}


def make_ensv_sweep(root: Path) -> Path:
    sweep = root / "sweep"
    for job, ((lam, seed), epochs) in enumerate(ENSV_EPOCHS.items()):
        folder = sweep / str(job)
        records = [{"epoch": e, "stage": "main", "target/acc": t, "source/acc": v, "val/source_acc": v,
                    "guard/collapsed": flagged} for e, (t, v, flagged, _) in enumerate(epochs, start=1)]
        best = records[ENSV_PICK[lam, seed] - 1]
        _write_run(folder, "dann", lam, seed, records, {
            "status": "completed", "target_acc": records[-1]["target/acc"], "source_acc": records[-1]["source/acc"],
            "select": "ensv", "best_epoch": best["epoch"], "best_target_acc": best["target/acc"]})
        for epoch, (*_, predicted) in enumerate(epochs, start=1):
            labels = np.array([int(c) for c in predicted])
            probabilities = np.where(np.arange(2) == labels[:, None], 0.9, 0.1).astype(np.float16)
            (folder / "predictions").mkdir(exist_ok=True)
            np.save(folder / "predictions" / f"epoch_{epoch:04d}.npy", probabilities, allow_pickle=False)
    return sweep


def test_report_select_ensv_on_a_fixture_sweep(tmp_path, capsys):
    sweep = make_ensv_sweep(tmp_path)
    assert report_main([str(sweep)]) == 0  # --select defaults to ensv
    md = (sweep / "report.md").read_text()
    # any epoch: the runs' own picks are λ=0.1: 0011 (seed 0), 0111 (seed 1); λ=0.3: 0011, 0011; λ=1: 0111, 0011.
    # Each seed's ensemble says 0011, so the agreements are λ=0.1: 1, 0.75; λ=0.3: 1, 1; λ=1: 0.75, 1: λ=0.3 wins.
    # last epoch: seed 0 (0111, 0011, 1111 flagged) and seed 1 (0111, 0010, 1111) both vote 0111: λ=0.1 agrees
    # fully in both seeds, λ=0.3 on 0.75 and 0.5, and λ=1 has a flagged last epoch (seed 0), so it loses.
    assert md.startswith(
        "# dasuite report\n\n**81.0 ± 1.4 % target accuracy: the label-free pick by `ensv`**, method=dann, "
        "method.trade_off=0.3, epochs 2, 1 (per seed, 2 seed(s)). Beside it, the oracle (uses target labels): "
        "82.5 ± 0.7 %, method=dann, method.trade_off=0.3, epochs 3, 1; regret 1.5 points.\n")
    table = md[md.index("| validator |"):].split("\n\n")[0].splitlines()
    na = "n/a | n/a | n/a | n/a | n/a | n/a | n/a |"
    assert table == [
        "| validator | any epoch: configuration | epochs (per seed) | target acc % | regret (points) | last epoch: "
        "configuration | target acc % | regret (points) |",
        "|" + " --- |" * 8,
        "| val/source_acc | method=dann, method.trade_off=1 | 1, 1 | 51.0 ± 1.4 | 31.5 | method=dann, "
        "method.trade_off=0.1 | 63.0 ± 4.2 | 18.0 |",
        *(f"| val/{name} | {na}" for name in ("iwcv", "dev", "entropy", "im", "bnm", "class_ami", "snd", "mixval")),
        "| **ensv** | method=dann, method.trade_off=0.3 | 2, 1 | 81.0 ± 1.4 | 1.5 | method=dann, method.trade_off=0.1 "
        "| 63.0 ± 4.2 | 18.0 |",
        "| oracle (uses target labels) | method=dann, method.trade_off=0.3 | 3, 1 | 82.5 ± 0.7 | n/a | method=dann, "
        "method.trade_off=0.3 | 81.0 ± 2.8 | n/a |",
    ]
    # the guard flags λ=1's last epoch in seed 0 only: the configurations table says the seeds disagree
    assert ("| dann | 1 | 2 | 0, 1 | 30.5 ± 0.7 | 80.0 ± 0.0 | 1 of 2 flagged: the seeds disagree | 51.0 ± 1.4 | 1, 1 "
            "| ensv |") in md
    picks = {(r["validator"], r["selection"]): r for r in _csv(sweep / "report_selection.csv")}
    assert (picks["ensv", "any_epoch"]["epochs"], picks["ensv", "last_epoch"]["flagged_seeds"]) == ("2;1", "0")


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_report_tables_on_hand_made_runs(tree, capsys):
    assert report_main([str(tree), "--select", "source_acc"]) == 0
    printed = capsys.readouterr().out
    md = (tree / "report.md").read_text()
    assert printed.startswith(md)
    # default grouping: method and λ (seed, data_root and keys that follow from the method are left out)
    assert "grouped by method, method.trade_off (" in md
    assert ("| adda | 0.1 | 2 | 0, 1 | 62.0 ± 0.0 | 81.0 ± 1.4 | none flagged | 62.5 ± 0.7 | 4, 3 | source_acc |"
            in md)
    assert "| dann | 1 | 2 | 0, 1 | 51.0 ± 1.4 | 70.0 ± 0.0 | all flagged | 81.0 ± 1.4 | 2, 2 | source_acc |" in md
    # the guard flags adda λ=1's last epoch for seed 0 only: the table says the seeds disagree
    assert "| adda | 1 | 2 | 0, 1 | 75.0 ± 1.4 | 90.0 ± 0.0 | 1 of 2 flagged: the seeds disagree |" in md
    rows = {(r["method"], r["method.trade_off"]): r for r in _csv(tree / "report.csv")}
    assert list(rows) == [("adda", "0.1"), ("adda", "1"), ("dann", "0.1"), ("dann", "1")]
    dann = rows["dann", "0.1"]  # the unfinished seed 2 (target 0.99) is not averaged in
    assert (dann["runs"], dann["seeds"]) == ("2", "0;1")
    assert float(dann["target_acc_mean"]) == pytest.approx(0.655)
    assert float(dann["target_acc_std"]) == pytest.approx(0.00707107, abs=1e-6)
    assert float(rows["adda", "1"]["best_target_acc_mean"]) == pytest.approx(0.765)
    assert [rows[k]["last_flagged"] for k in rows] == ["0", "1", "0", "2"]

    # the headline comes first: the label-free pick of val/source_acc, the oracle beside it, labelled as such
    assert md.startswith("# dasuite report\n\n**76.5 ± 2.1 % target accuracy: the label-free pick by "
                         "`val/source_acc`**, method=adda, method.trade_off=1, epochs 2, 3 (per seed, 2 seed(s)). "
                         "Beside it, the oracle (uses target labels): 81.0 ± 1.4 %, method=dann, method.trade_off=1, "
                         "epochs 2, 2; regret 4.5 points.\n")
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
    for name in ("val/iwcv", "val/dev", "val/bnm", "ensv"):  # not recorded (or null), no predictions: n/a
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
    assert "**69.0 ± 8.2 % target accuracy: the label-free pick by `val/snd`**, method=adda, epochs 2, 2, 3, 4" in md
    assert not (tree / "report.md").exists()


def test_report_without_validators_says_so(tree, capsys):
    for metrics in tree.rglob("metrics.jsonl"):  # runs from before the validators existed
        records = [json.loads(line) for line in metrics.read_text().splitlines()]
        metrics.write_text("".join(json.dumps({k: v for k, v in r.items() if not k.startswith(("val/", "guard/"))})
                                   + "\n" for r in records))
    assert report_main([str(tree)]) == 0  # the default: ensv, and no run stores predictions
    md = (tree / "report.md").read_text()
    assert "**No label-free pick:** no run records `ensv`" in md
    assert "| **ensv** | n/a | n/a | n/a | n/a | n/a | n/a | n/a |" in md
    assert "| oracle (uses target labels) | method=dann, method.trade_off=1 | 2, 2 | 81.0 ± 1.4 |" in md


@pytest.mark.parametrize(("args", "says"), [
    (["{tmp}", "--colour", "red"], "unrecognized arguments: --colour red"),
    ([], "the following arguments are required: PATH"),
    (["{tmp}/nope"], "PATH {tmp}/nope does not exist"),
    (["{tmp}/empty"], "no run folders under {tmp}/empty"),
    (["{tmp}", "--select", "val/accuracy"], "--select 'val/accuracy' is neither a validator nor a selector; valid "
                                            "choices: ensv, val/source_acc, val/iwcv, val/dev, val/entropy"),
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
    probe = ("import sys; from dasuite.commands.report import report; report([__import__('pathlib').Path(sys.argv[1])]); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    result = subprocess.run([sys.executable, "-c", probe, str(tree)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("[]")


def test_reading_a_hundred_runs_is_fast(tmp_path):
    from dasuite.commands.report.runs import find_run_folders, load_run

    for i in range(13):
        make_tree(tmp_path / f"copy{i}")  # 13 × 10 run folders
    start = time.perf_counter()
    runs = [load_run(p) for p in find_run_folders([tmp_path])]
    assert len(runs) == 130 and time.perf_counter() - start < 1.5


def test_validator_names_match_the_validators():
    from dasuite.commands.report.select import VALIDATORS
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


def test_report_per_seed_gives_each_selectors_mean_and_worst_regret(tmp_path):
    sweep = make_ensv_sweep(tmp_path)
    assert report_main([str(sweep), "--per", "seed"]) == 0
    md = (sweep / "report.md").read_text()
    # seed 0: the oracle keeps λ=0.3 epoch 3 (83 %); source_acc keeps λ=1 epoch 1 (score .93; 50 %); EnsV ensembles
    # the runs' own picks 0011, 0011, 0111 -> 0011: λ=0.1 and 0.3 agree fully, the earlier λ=0.1 (epoch 1, 70 %) wins.
    # seed 1: the oracle keeps λ=0.3 epoch 1 (82 %); source_acc λ=1 epoch 1 (.94; 52 %); EnsV: 0111, 0011, 0011 ->
    # 0011, λ=0.3 wins (82 %, no regret). Last epochs: both seeds vote 0111 and keep λ=0.1 (60 %, 66 %) against the
    # oracle's 83 % and 79 %, for source_acc and EnsV alike.
    assert md.startswith(
        "# dasuite report\n\n**`ensv` (the label-free pick), over 2 selection problems: mean regret 6.5 points, "
        "worst case 13.0 (seed=0)**, against the oracle (uses target labels) of each problem.\n")
    table = md[md.index("| validator | any epoch: mean regret"):].split("\n\n")[0].splitlines()
    assert table[2] == "| val/source_acc | 31.5 | 33.0 (seed=0) | 2 of 2 | 18.0 | 23.0 (seed=0) | 2 of 2 |"
    assert table[3] == "| val/iwcv | n/a | n/a | 0 of 2 | n/a | n/a | 0 of 2 |"
    assert table[-1] == "| **ensv** | 6.5 | 13.0 (seed=0) | 2 of 2 | 18.0 | 23.0 (seed=0) | 2 of 2 |"
    assert ("## seed=0\n\n**70.0 ± 0.0 % target accuracy: the label-free pick by `ensv`**, method=dann, "
            "method.trade_off=0.1, epochs 1 (per seed, 1 seed(s)). Beside it, the oracle (uses target labels): "
            "83.0 ± 0.0 %, method=dann, method.trade_off=0.3, epochs 3; regret 13.0 points.") in md
    picks = {(r["seed"], r["validator"], r["selection"]): r for r in _csv(sweep / "report_selection.csv")}
    assert picks["1", "ensv", "any_epoch"]["configuration"] == "method=dann, method.trade_off=0.3"
    assert picks["1", "ensv", "any_epoch"]["regret_points"] == "0"


def test_report_never_picks_across_pairs(tmp_path):
    sweep = make_ensv_sweep(tmp_path)
    for config in sweep.glob("[345]/.hydra/config.yaml"):  # the seed-1 runs were trained on another pair
        tree = yaml.safe_load(config.read_text())
        tree["dataset"]["rotation_deg"] = 50.0
        tree["logger"] = {"_target_": "dasuite.loggers.tensorboard.TensorBoardLogger"}  # logging is no setting
        config.write_text(yaml.safe_dump(tree))
        summary = config.parent.parent / "summary.json"
        summary.write_text(json.dumps({**json.loads(summary.read_text()), "dataset": "moons_50"}))
    assert report_main([str(sweep)]) == 0
    md = (sweep / "report.md").read_text()
    assert "in 2 selection problem(s) by dataset (each solved alone); grouped by method, method.trade_off" in md
    assert "## dataset=moons\n" in md and "## dataset=moons_50\n" in md
    assert "logger" not in md
