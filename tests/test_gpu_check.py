"""scripts/gpu_check.sh --dry-run: the GPU check's whole plan runs on the CPU with tiny sizes and prints its table."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dry_run_exits_0_and_prints_the_table():
    result = subprocess.run(["bash", "scripts/gpu_check.sh", "--dry-run"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert "| check | precision | mode | dasuite images/s | plain images/s | dasuite / plain (pairs) | " \
           "peak GPU memory | note |" in lines
    rows = [line for line in lines if line.startswith("| DANN ResNet-50 |")]
    assert [row.split(" | ")[1:3] for row in rows] == [["32", "eager"], ["bf16", "eager"], ["16-mixed", "eager"],
                                                       ["bf16", "compile"], ["32", "compile"]]
    assert any(line.startswith("| torchrun, 1 process") and "completed (world size 1" in line for line in lines), \
        result.stdout + result.stderr[-2000:]
    assert any(line.startswith("| trainer.deterministic=true") and "completed" in line for line in lines)


def test_an_unknown_argument_is_refused():
    result = subprocess.run(["bash", "scripts/gpu_check.sh", "--fast"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "unknown argument '--fast'; the only option is --dry-run" in result.stderr
