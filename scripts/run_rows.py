#!/usr/bin/env python
"""One table row per folder of seed runs: target accuracy % at the last iterate (each seed, then mean ± std),
at the label-free pick (best.pt) and at the oracle pick (the best evaluated epoch of the last stage by target
test accuracy: it reads target labels, a reference only).

    python scripts/run_rows.py /tmp/moons_bench/dann /tmp/moons_bench/source_only     # each holds <seed>/ run folders
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def row(folder: Path) -> str:
    last, pick, oracle = [], [], []
    for run in sorted(p for p in folder.iterdir() if (p / "summary.json").is_file()):
        summary = json.loads((run / "summary.json").read_text())
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        stage = records[-1].get("stage")
        last.append(100 * summary["target_acc"])
        pick.append(100 * summary["best_target_acc"])
        oracle.append(100 * max(r["target/acc"] for r in records if r.get("stage") == stage))
    if not last:
        return f"{folder}: no finished run"

    def spread(values: list[float]) -> str:
        return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"

    return (f"{folder.name} | {' / '.join(f'{v:.1f}' for v in last)} | **{spread(last)}** | {spread(pick)} | "
            f"{spread(oracle)}")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(row(Path(name)))
