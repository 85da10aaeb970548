"""The Python side of ``scripts/gpu_check.sh`` (issue 22): timing rows, synthetic image folders, the table.

``timing``: ResNet-50 DANN on a synthetic Office-31-shaped batch (224×224 RGB, 32 images per domain),
dasuite's trainer against the plain-PyTorch loop, interleaved in one process by
:func:`speed.paired_seconds_per_step` (the benchmark's own timing), at each precision of the plan,
eager and compiled, channels-last; each row's peak GPU memory (both loops resident). ``folders``:
two ImageFolder trees (source, target) of noise images in Office-31's class count for the
``dasuite train`` runs of the script. ``table``: the Markdown table of everything the script ran.
``--dry-run`` shrinks the plan to seconds on the CPU (32-pixel images, one step per block).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

#: (trainer.precision, compiled) rows, in order; compiled rows are skipped once the time budget is spent
PLAN = [("32", False), ("bf16", False), ("16-mixed", False), ("bf16", True), ("32", True)]
OFFICE31_CLASSES = 31


def timing(out: Path, dry_run: bool, budget_s: float) -> None:
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    import speed

    device = "cpu" if dry_run else "cuda"
    size, batch, steps, repeats = (32, 2, 5, 1) if dry_run else (224, 32, 30, 3)  # >= 10 target images: class_ami
    speed.MODELS["resnet50"] = ((3, size, size), batch, batch)
    start, rows = time.perf_counter(), []
    for precision, compiled in PLAN:
        row = {"precision": precision, "compiled": compiled, "batch": batch, "size": size}
        if compiled and time.perf_counter() - start > budget_s:
            rows.append({**row, "skipped": f"time budget ({budget_s:.0f} s) spent before this row"})
            continue
        if device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        tick = time.perf_counter()
        plain, ours, compile_s = speed.paired_seconds_per_step("resnet50", "dann", device, precision, compiled, True,
                                                               batch, steps, repeats, None)
        images = 2 * batch
        row.update(plain_ips=images / statistics.median(plain), dasuite_ips=images / statistics.median(ours),
                   pairs=[p / d for p, d in zip(plain, ours)], compile_s=compile_s,
                   seconds=time.perf_counter() - tick,
                   peak_gib=torch.cuda.max_memory_allocated() / 2 ** 30 if device == "cuda" else None)
        rows.append(row)
        print(f"  {precision} {'compiled' if compiled else 'eager'}: dasuite {row['dasuite_ips']:.0f} images/s, "
              f"plain {row['plain_ips']:.0f}", file=sys.stderr, flush=True)
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU (dry run)"
    out.write_text(json.dumps({"device": name, "torch": torch.__version__, "steps": steps, "repeats": repeats,
                               "rows": rows}, indent=1))


def folders(root: Path, dry_run: bool) -> None:
    """``root``/{source,target}/<class>/<i>.png: noise images, Office-31's 31 classes (3 in a dry run)."""
    import numpy as np
    from PIL import Image

    classes, per_class, size = (3, 3, 40) if dry_run else (OFFICE31_CLASSES, 2, 256)
    rng = np.random.default_rng(0)
    for domain in ("source", "target"):
        for c in range(classes):
            folder = root / domain / f"class_{c:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")


def _run_cell(folder: Path) -> tuple[str, str]:
    """(status, images/s or the error) of a ``dasuite train`` run folder."""
    file = folder / "summary.json"
    if not file.is_file():
        return "no summary.json (see the script's output)", "–"
    summary = json.loads(file.read_text(encoding="utf-8"))
    if summary.get("status") != "completed":
        return f"{summary.get('status')}: {str(summary.get('error', ''))[:160]}", "–"
    where = f"world size {summary.get('world_size')}, {summary.get('device')}, precision {summary.get('precision')}"
    return f"completed ({where})", f"{summary.get('samples_per_second', float('nan')):.0f}"


def table(work: Path) -> str:
    timed = json.loads((work / "timing.json").read_text(encoding="utf-8"))
    rows = timed["rows"]
    first = rows[0]
    lines = [f"Device: {timed['device']}; torch {timed['torch']}. ResNet-50 DANN from scratch on synthetic "
             f"{first['size']}×{first['size']} RGB images, batch {first['batch']} per domain (images/s count both "
             f"domains), channels-last; dasuite's trainer and the plain-PyTorch loop (scripts/plain_loop.py) "
             f"interleaved in one process by scripts/speed.py, {timed['repeats']} timed blocks of {timed['steps']} "
             "steps each after a warm-up, medians. Peak memory: the row's, both loops resident.", "",
             "| check | precision | mode | dasuite images/s | plain images/s | dasuite / plain (pairs) | "
             "peak GPU memory | note |",
             "| --- | --- | --- | ---: | ---: | --- | ---: | --- |"]
    for row in rows:
        mode = "compile" if row["compiled"] else "eager"
        if "skipped" in row:
            lines.append(f"| DANN ResNet-50 | {row['precision']} | {mode} | – | – | – | – | skipped: {row['skipped']} |")
            continue
        pairs = row["pairs"]
        peak = "–" if row["peak_gib"] is None else f"{row['peak_gib']:.1f} GiB"
        note = f"compiling took {row['compile_s']:.0f} s" if row["compiled"] else ""
        lines.append(f"| DANN ResNet-50 | {row['precision']} | {mode} | {row['dasuite_ips']:.0f} | "
                     f"{row['plain_ips']:.0f} | **{row['dasuite_ips'] / row['plain_ips']:.2f}** "
                     f"({min(pairs):.2f}–{max(pairs):.2f}) | {peak} | {note} |")
    for name, folder in (("torchrun, 1 process (NCCL on CUDA)", "ddp"), ("trainer.deterministic=true", "det")):
        status, speed = _run_cell(work / folder)
        lines.append(f"| {name} | 32 | eager | {speed} | – | – | – | {status.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["timing", "folders", "table"])
    parser.add_argument("path", type=Path, help="timing: the JSON to write; folders: their root; table: the work dir")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--budget-s", type=float, default=300.0, help="timing: no compiled row starts after this")
    args = parser.parse_args(argv)
    if args.command == "timing":
        timing(args.path, args.dry_run, args.budget_s)
    elif args.command == "folders":
        folders(args.path, args.dry_run)
    else:
        print(table(args.path), end="")


if __name__ == "__main__":
    main(sys.argv[1:])
