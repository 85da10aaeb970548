"""scripts/tta_benchmark.py's report, from fabricated run summaries (no training): errors as 100 − online accuracy %,
mean ± std over seeds, the mean over corruptions taken per seed, the ratio to the unadapted model's error, the
safety flag (†) past the margin, the continual stream's last corruption, and the section between its markers."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import tta_benchmark as tta  # noqa: E402


def _runs(accuracies, **shifts):
    """One summary per seed (0, 1, ...), as completed() returns them."""
    return [{"seed": seed, "online_accuracy": acc, "duration_s": 2.0,
             "shifts": {name: values[seed] for name, values in shifts.items()}}
            for seed, acc in enumerate(accuracies)]


@pytest.fixture
def report():
    _, args = tta.parse_args(["--methods", "no_adaptation", "bn_adapt", "tent", "--corruptions", "gaussian_noise",
                              "fog", "--seeds", "0", "1"])
    online = {
        "no_adaptation": {"gaussian_noise": _runs([0.60, 0.70]), "fog": _runs([0.90, 0.90])},
        "bn_adapt": {"gaussian_noise": _runs([0.66, 0.66]), "fog": _runs([0.85, 0.87])},
        "tent": {"gaussian_noise": _runs([0.80, 0.80]), "fog": _runs([0.95, 0.93])},
    }
    continual = {"no_adaptation": _runs([0.75, 0.75], fog_5=[0.9, 0.9]),
                 "bn_adapt": [],
                 "tent": _runs([0.85, 0.85], fog_5=[0.8, 0.8])}
    return tta.render(online, continual, args, "python scripts/tta_benchmark.py --quick", "2026-01-01 00:00",
                      "a CPU, torch 2")


def _row(text: str, first: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {first} |"))
    return [part.strip() for part in line.strip("|").split("|")][1:]


def test_each_corruption_gives_errors_over_seeds_and_ratios_to_the_unadapted_model(report):
    # the unadapted model: errors 40 and 30 -> 35 ± 7.1; TENT: 20 and 20 -> ratio 20 / 35
    assert _row(report, "gaussian noise") == ["35.0 ± 7.1", "34.0 ± 0.0 (0.97)", "20.0 ± 0.0 (0.57)"]
    assert _row(report, "fog") == ["10.0 ± 0.0", "14.0 ± 1.4 (1.40) †", "6.0 ± 1.4 (0.60)"]


def test_the_mean_over_corruptions_is_taken_per_seed_then_over_seeds(report):
    # per seed: unadapted (40+10)/2, (30+10)/2; BN (34+15)/2, (34+13)/2: 1.5 points worse, past the 1-point margin
    assert _row(report, "**mean over corruptions**") == ["22.5 ± 3.5", "24.0 ± 0.7 (1.07) †", "13.0 ± 0.7 (0.58)"]
    assert "TENT error / unadapted error = 0.58 (goal ≤ 0.8: met)" in report


def test_the_flag_follows_the_margin():
    _, args = tta.parse_args(["--methods", "bn_adapt", "--corruptions", "fog", "--seeds", "0", "--margin", "5"])
    online = {"no_adaptation": {"fog": _runs([0.90])}, "bn_adapt": {"fog": _runs([0.86])}}
    text = tta.render(online, {}, args, "cmd", "now", "machine")
    assert _row(text, "fog") == ["10.0 ± 0.0", "14.0 ± 0.0 (1.40)"]  # 4 points worse: within a margin of 5
    args.margin = 3.0
    assert _row(tta.render(online, {}, args, "cmd", "now", "machine"), "fog")[1].endswith("†")


def test_the_continual_stream_reports_its_whole_and_its_last_corruption(report):
    assert _row(report, "no adaptation") == ["25.0 ± 0.0", "10.0 ± 0.0"]
    assert _row(report, "tent") == ["15.0 ± 0.0 (0.60)", "20.0 ± 0.0 (2.00) †"]
    assert _row(report, "bn adapt") == ["pending", "pending"]
    assert "whole stream: below the unadapted model's error: tent." in report
    assert "last corruption: above the unadapted model's error: tent (goal: none)." in report
    assert "† online accuracy below the unadapted model's by more than 1 point, mean over seeds." in report


def test_a_method_compares_with_the_unadapted_model_on_the_seeds_both_have():
    _, args = tta.parse_args(["--methods", "tent", "--corruptions", "fog", "--seeds", "0", "1"])
    online = {"no_adaptation": {"fog": _runs([0.90, 0.80])}, "tent": {"fog": _runs([0.95])}}
    assert _row(tta.render(online, {}, args, "cmd", "now", "machine"), "fog") == ["15.0 ± 7.1", "5.0 ± 0.0 (0.50)"]


def test_the_section_sits_between_its_markers_with_the_command_and_the_machine(report, tmp_path):
    begin, end = tta.markers("tta_digits")
    assert report.startswith(begin) and report.endswith(end)
    assert "python scripts/tta_benchmark.py --quick" in report and "a CPU, torch 2" in report
    page = tmp_path / "BENCHMARKS.md"
    page.write_text(f"# Benchmarks\n\nKEPT BEFORE\n\n{begin}\nREPLACED\n{end}\n\nKEPT AFTER\n")
    tta.write_section(page, "tta_digits", report)
    text = page.read_text()
    assert "REPLACED" not in text and report in text
    assert text.index("KEPT BEFORE") < text.index(begin) < text.index(end) < text.index("KEPT AFTER")


def test_quick_keeps_one_seed_and_two_corruptions_and_the_reference_always_runs():
    _, args = tta.parse_args(["--quick", "--methods", "tent"])
    assert args.seeds == [0] and args.corruptions == ["gaussian_noise", "shot_noise"]
    assert args.methods == ["no_adaptation", "tent"]
    assert tta.stream_setting(args.corruptions) == "[gaussian_noise,shot_noise]"
    assert tta.stream_setting(list(tta.parse_args([])[1].corruptions)) == "all"


def test_only_test_time_methods_are_offered():
    assert {"no_adaptation", "bn_adapt", "tent"} <= set(tta.adaptation_methods())
    assert "dann" not in tta.adaptation_methods()
    with pytest.raises(SystemExit):
        tta.parse_args(["--methods", "dann"])


def test_a_reused_folder_of_other_settings_is_refused(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "summary.json").write_text('{"status": "completed", "overrides": ["method=tent", "seed=0", '
                                         '"data_root=/elsewhere"]}')
    (folder / "metrics.jsonl").write_text('{"online/accuracy": 0.9, "online/accuracy/fog_5": 0.9}\n')
    assert tta.run(["method=tent", "seed=0", "data_root=/here"], folder)["shifts"] == {"fog_5": 0.9}
    with pytest.raises(SystemExit, match="other settings"):
        tta.run(["method=tent", "seed=1", "data_root=/here"], folder)
