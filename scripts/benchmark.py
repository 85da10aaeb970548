#!/usr/bin/env python
"""MNIST→USPS benchmark (the protocol of docs/architecture.md) -> a section of BENCHMARKS.md.

Each method runs ``dasuite train experiment=mnist_usps_benchmark method=...`` once per seed, in a fresh
process, with its recipe (configs/family/digits.yaml, configs/recipe/digits_<method>.yaml); ``--epochs``
and ``--steps-per-epoch`` cut the recipes of the Transfer-Learning-Library protocol to a CPU budget
(SHOT's own recipe always runs whole). The table reports, as mean ± std over seeds, the target accuracy
of the last iterate and of the label-free pick (``trainer.select``), with the oracle pick (the best
evaluated epoch by target test accuracy: it uses target labels) beside them, and training seconds,
samples/second and peak memory. Results are written after every run (rows not yet run are listed as
pending), so a long table can be built up across sessions with ``--reuse``. The same DANN and source-only
loops written in plain PyTorch (no dasuite code) can be timed in this process (``--plain``).

    python scripts/benchmark.py --data-root ../shared/data            # the core entries, seeds 0 1 2
    python scripts/benchmark.py --data-root ../shared/data --only dann --seeds 0 --epochs 2
    python scripts/benchmark.py --speed                                # steps/s against plain PyTorch (speed.py)

Run it alone on the machine: another torch process on the same cores distorts every timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from plain_loop import GradReverse, lenet

#: key -> (label, overrides on top of experiment=mnist_usps_benchmark)
ENTRIES = {
    "source_only": ("source only", ["method=source_only"]),
    "dann": ("DANN", ["method=dann"]),
    "mmd": ("MMD (DAN)", ["method=mmd"]),
    "finetune": ("fine-tune, 10 USPS labels per class", ["method=finetune", "dataset.target_labels_per_class=10"]),
    "oracle": ("oracle: trained on labeled USPS train", [
        "method=source_only", "dataset.source={name: usps, split: train}",
        "dataset.target={name: mnist, split: test}"]),
    # the method catalogue (docs/methods.md), each at its YAML defaults
    "cdan": ("CDAN", ["method=cdan"]),
    "cdan_e": ("CDAN+E", ["method=cdan", "method.entropy=true"]),
    "coral": ("Deep CORAL", ["method=coral"]),
    "adda": ("ADDA", ["method=adda"]),
    "jan": ("JAN", ["method=jan"]),
    "mcc": ("MCC", ["method=mcc"]),
    "self_training": ("self-training", ["method=self_training"]),
    "self_training_dann": ("self-training on DANN", ["method=self_training", "method.base=dann"]),
    "rotation": ("rotation SSL", ["method=rotation"]),
    "shot": ("SHOT (source-free)", ["method=shot"]),
}
#: The entries run when --only is not given: the recipes issue's table (source-only, five methods, the oracle).
CORE = ["source_only", "dann", "mmd", "cdan_e", "mcc", "shot", "oracle"]
#: Entries whose own recipe always runs whole (not cut by --epochs / --steps-per-epoch).
WHOLE = {"shot"}


def oracle_pick(run_dir: Path, stage: str) -> float:
    """The best target test accuracy over the evaluated epochs of the run's last stage (uses target labels)."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return max(r["target/acc"] for r in records if r.get("stage") == stage)


def completed_run(run_dir: Path) -> tuple[dict, list[dict]] | None:
    """The summary and metrics records of a completed run in ``run_dir``, else None."""
    summary_file = run_dir / "summary.json"
    if not summary_file.is_file():
        return None
    summary = json.loads(summary_file.read_text())
    if summary.get("status") != "completed":
        return None
    return summary, [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def completed(run_dir: Path) -> dict | None:
    """The summary of a completed run in ``run_dir`` (with its oracle pick and wall time), else None."""
    found = completed_run(run_dir)
    if found is None:
        return None
    summary, records = found
    summary["oracle_pick_acc"] = oracle_pick(run_dir, records[-1]["stage"])
    summary["wall_seconds"] = records[-1]["time_s"]
    return summary


def run_dasuite(overrides: list[str], run_dir: Path) -> dict:
    """One training run in a fresh process (or, if ``run_dir`` holds a completed one, that one's summary)."""
    summary = completed(run_dir)
    if summary is not None:
        print(f"  reusing the completed run in {run_dir}", flush=True)
        return summary
    command = [sys.executable, "-m", "dasuite", "train", "experiment=mnist_usps_benchmark", *overrides,
               f"hydra.run.dir={run_dir}", "trainer.progress=false"]
    print("  $", " ".join(command[1:]), flush=True)
    subprocess.run(command, check=False)
    if not (run_dir / "summary.json").is_file():
        raise SystemExit(f"the run wrote no summary.json (see {run_dir})")
    summary = completed(run_dir)
    if summary is None:
        error = json.loads((run_dir / "summary.json").read_text()).get("error")
        raise SystemExit(f"run failed: {error} (see {run_dir / 'train.log'})")
    return summary


# ---- the same loop in plain PyTorch, for the overhead ratio (no dasuite imports below) ----

def _idx(path: Path) -> np.ndarray:
    data = gzip.open(path).read()
    dims = np.frombuffer(data, ">i4", count=data[3], offset=4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * data[3]).reshape(dims)


def _plain_data(data_root: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    from torchvision.datasets import USPS

    xs = torch.from_numpy(_idx(data_root / "mnist" / "t10k-images-idx3-ubyte.gz").copy()).unsqueeze(1)
    ys = torch.from_numpy(_idx(data_root / "mnist" / "t10k-labels-idx1-ubyte.gz").astype(np.int64))
    usps = torch.from_numpy(USPS(str(data_root / "usps"), train=True).data).unsqueeze(1).float()
    xt = F.interpolate(usps, size=(28, 28), mode="bilinear", antialias=True).round().clamp(0, 255).to(torch.uint8)
    return xs[:9000], ys[:9000], xt


def plain_samples_per_second(data_root: Path, adversarial: bool, epochs: int, device: str, batch: int = 64) -> float:
    """Source-only or DANN training steps in plain PyTorch; images per second of step time."""
    torch.manual_seed(0)
    xs, ys, xt = (t.to(device) for t in _plain_data(data_root))
    features, head = lenet().to(device), nn.Linear(500, 10).to(device)
    disc = nn.Sequential(nn.Linear(500, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1)).to(device)
    params = [*features.parameters(), *head.parameters(), *(disc.parameters() if adversarial else [])]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4, nesterov=True)
    steps_per_epoch = len(xs) // batch
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (1 + 10 * s / total) ** -0.75)
    seen, seconds, step = 0, 0.0, 0
    for _ in range(epochs):
        order_s, order_t = torch.randperm(len(xs), device=device), torch.randperm(len(xt), device=device)
        tick = time.perf_counter()
        for i in range(steps_per_epoch):
            index = order_s[i * batch:(i + 1) * batch]
            x, y = (xs[index].float() / 255 - 0.5) / 0.5, ys[index]
            if adversarial:
                j = (i * batch) % (len(xt) - batch)
                x = torch.cat([x, (xt[order_t[j:j + batch]].float() / 255 - 0.5) / 0.5])
            f = features(x)
            loss = F.cross_entropy(head(f[:batch]), y)
            if adversarial:
                coeff = 2 / (1 + math.exp(-10 * step / total)) - 1
                logits = disc(GradReverse.apply(f, coeff)).squeeze(1)
                domain = torch.cat([torch.ones(batch, device=device), torch.zeros(batch, device=device)])
                loss = loss + F.binary_cross_entropy_with_logits(logits, domain)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(x)
            step += 1
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds += time.perf_counter() - tick
    return seen / seconds


# ---- report ----

def _pm(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    mean = statistics.mean(values) * scale
    std = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        names = re.findall(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} CPU cores ({torch.get_num_threads()} torch threads), "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}, torch {torch.__version__}")


def markers(section: str) -> tuple[str, str]:
    return f"<!-- {section}:begin -->", f"<!-- {section}:end -->"


def render(results: dict, plain: dict, args, command: str, started: str) -> str:
    begin, end = markers(args.section)
    done = [runs for runs in results.values() if runs]
    device = done[0][0]["device"] if done else "cpu"
    budget = (f"the Transfer-Learning-Library protocol cut to {args.epochs or 20} epochs × "
              f"{args.steps_per_epoch or 2500} iterations of batch 128 per domain"
              if args.epochs or args.steps_per_epoch else "each recipe whole")
    lines = [begin, f"### {args.title}", "",
             f"Measured {started} on: {machine()}; device `{device}`.", "",
             *([args.note, ""] if args.note else []),
             "```", command, "```", "",
             "Source: the 10,000-image MNIST **test** split (the 60k train split is not on these machines), "
             "9,000 for training and a seeded 1,000 held out as source validation. Target train: USPS train "
             "(7,291, labels unused). Evaluation: USPS test (2,007). 28×28 grayscale, LeNet from scratch. "
             f"Each method trains with its recipe (docs/methods.md, \"Recipes\"): {budget}; SHOT runs its own "
             "recipe whole (30 source + 30 target epochs of batch 64). "
             + ("The oracle row trains the source-only recipe on labeled USPS train instead (minus its 10% "
                "validation split). " if "oracle" in results else "")
             + "**Last iterate** and **label-free pick** (`trainer.select`, its value in the column) use no "
             "target label; the **oracle pick** (the best evaluated epoch by USPS test accuracy) does and is "
             f"shown only as a reference. Seeds: {', '.join(map(str, args.seeds))}.", "",
             "| method | last iterate % | label-free pick % | oracle pick % (uses target labels) | source val % "
             "| seeds | steps | train s | samples/s | wall min per run | peak RSS MiB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, runs in results.items():
        if not runs:
            lines.append(f"| {ENTRIES[key][0]} | pending | | | | 0/{len(args.seeds)} | | | | | |")
            continue
        selects = [str(r.get("select", "?")) for r in runs]  # runs kept from before a default changed may differ
        select = ", ".join(f"{name} ×{selects.count(name)}" if len(set(selects)) > 1 else name
                           for name in dict.fromkeys(selects))
        lines.append(f"| {ENTRIES[key][0]} | {_pm([r['target_acc'] for r in runs])} | "
                     f"{_pm([r['best_target_acc'] for r in runs])} ({select}) | "
                     f"{_pm([r['oracle_pick_acc'] for r in runs])} | {_pm([r['source_acc'] for r in runs])} | "
                     f"{len(runs)}/{len(args.seeds)} | {runs[0]['steps']} | "
                     f"{statistics.mean(r['train_seconds'] for r in runs):.0f} | "
                     f"{statistics.mean(r['samples_per_second'] for r in runs):.0f} | "
                     f"{statistics.mean(r['wall_seconds'] for r in runs) / 60:.1f} | "
                     f"{max(r.get('peak_memory_mb', float('nan')) for r in runs):.0f} |")
    if plain:
        lines += ["", "Overhead against the same loop in plain PyTorch (timed in this script, same machine, "
                  "step time only):", "", "| loop | plain PyTorch samples/s | dasuite samples/s | ratio |",
                  "| --- | --- | --- | --- |"]
        for key, value in plain.items():
            ours = statistics.mean(r["samples_per_second"] for r in results[key])
            lines.append(f"| {ENTRIES[key][0]} | {value:.0f} | {ours:.0f} | {ours / value:.2f} |")
    lines += ["", end]
    return "\n".join(lines)


def results_epochs(results: dict) -> str:
    epochs = {r["epochs"] for runs in results.values() for r in runs if "epochs" in r}
    return "/".join(map(str, sorted(epochs)))


def write_section(path: Path, name: str, section: str) -> None:
    """Replace the section between ``name``'s markers in ``path`` (append it if absent)."""
    begin, end = markers(name)
    text = path.read_text() if path.exists() else "# Benchmarks\n\nEvery figure here names the command and machine that produced it.\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


def speed_main(args, command: str, started: str) -> None:
    """``--speed``: the steps/s table of speed.py, as the section ``speed`` unless --section names another."""
    import speed

    if args.section == "mnist_usps_recipes":
        args.section, args.title = "speed", "Training speed: dasuite against plain PyTorch"
    rows, scaling = speed.measure(args)
    section = speed.render(rows, scaling, args, command, started, machine())
    write_section(args.output, args.section, section)
    print(section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder with mnist/ and usps/ (required, except with --speed: synthetic digits then)")
    parser.add_argument("--speed", action="store_true",
                        help="time training steps against plain PyTorch instead (speed.py; section 'speed')")
    parser.add_argument("--steps", type=int, default=50, help="--speed: steps per timed block")
    parser.add_argument("--resnet-steps", type=int, default=3, help="--speed: steps per block of a ResNet-50 CPU row")
    parser.add_argument("--repeats", type=int, default=5,
                        help="--speed: timed blocks per row, dasuite's and plain PyTorch's alternating")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", choices=list(ENTRIES), default=CORE)
    parser.add_argument("--epochs", type=int, default=None, help="override the recipes' trainer.epochs (not SHOT's)")
    parser.add_argument("--steps-per-epoch", type=int, default=None,
                        help="override the recipes' trainer.steps_per_epoch (not SHOT's)")
    parser.add_argument("--runs-dir", type=Path, default=Path("benchmark_runs"))
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--plain", action="store_true", help="also time the same loops in plain PyTorch")
    parser.add_argument("--section", default="mnist_usps_recipes", help="which BENCHMARKS.md section to (re)write")
    parser.add_argument("--title", default="MNIST→USPS with the published recipes",
                        help="that section's heading")
    parser.add_argument("--note", default="", help="a paragraph printed under the heading")
    parser.add_argument("--reuse", type=Path, default=None,
                        help="an earlier invocation's folder (<runs-dir>/<stamp>): its completed runs are read "
                             "instead of retrained, the others are run into it")
    args = parser.parse_args()
    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    argv = sys.argv[1:]
    if "--note" in argv:  # the note is printed above the command; repeating it there helps nobody
        at = argv.index("--note")
        argv = [*argv[:at], "--note", "'...'", *argv[at + 2:]]
    command = "python scripts/benchmark.py " + " ".join(argv)
    if args.speed:
        speed_main(args, command, started)
        return
    if args.data_root is None:
        parser.error("--data-root is required (except with --speed)")
    data_root = args.data_root.resolve()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    results: dict[str, list[dict]] = {key: [] for key in args.only}
    budget = [*([f"trainer.epochs={args.epochs}"] if args.epochs else []),
              *([f"trainer.steps_per_epoch={args.steps_per_epoch}"] if args.steps_per_epoch else [])]
    for seed in args.seeds:  # seed by seed: a partial table has every method
        for key in args.only:
            print(f"{ENTRIES[key][0]}, seed {seed}:", flush=True)
            extra = [] if key in WHOLE else budget
            run = run_dasuite([*ENTRIES[key][1], *extra, f"seed={seed}", f"data_root={data_root}"],
                              (args.reuse or args.runs_dir / stamp) / key / f"seed{seed}")
            results[key].append(run)
            print(f"  target accuracy {100 * run['target_acc']:.1f} % (label-free pick "
                  f"{100 * run['best_target_acc']:.1f} %)", flush=True)
            write_section(args.output, args.section, render(results, {}, args, command, started))
    plain = {}
    if args.plain:
        for key, adversarial in (("source_only", False), ("dann", True)):
            if key in results:  # same device and number of epochs as the dasuite runs
                run = results[key][0]
                plain[key] = plain_samples_per_second(data_root, adversarial, run["epochs"], run["device"])
                print(f"plain PyTorch {key}: {plain[key]:.0f} samples/s", flush=True)
    section = render(results, plain, args, command, started)
    write_section(args.output, args.section, section)
    print(section)


if __name__ == "__main__":
    main()
