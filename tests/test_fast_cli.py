"""Help, ``list`` and argument errors answer without importing torch, torchvision or any method."""

import json
import subprocess
import sys

import pytest

#: Runs ``dasuite.cli.main(argv)`` in a fresh interpreter, then reports the heavy modules it imported.
PROBE = """
import contextlib, io, json, sys
from dasuite.cli import main
out, err = io.StringIO(), io.StringIO()
try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        main(json.loads(sys.argv[1]))
    code = 0
except SystemExit as stop:
    code = stop.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "numpy")
               or m.startswith(("dasuite.methods", "dasuite.models", "dasuite.data", "dasuite.engine")))
print(json.dumps({"code": code, "heavy": heavy, "out": out.getvalue(), "err": err.getvalue()}))
"""


@pytest.mark.parametrize(("argv", "code", "says"), [
    (["--help"], 0, "usage: dasuite <command>"),
    (["list"], 0, "Methods (method=NAME)"),
    (["train", "method=nope"], 2, "unknown method 'nope'"),
    (["train", "-m", "dataset=moons,nope"], 2, "unknown dataset 'nope'"),
    (["predict", "--help"], 0, "usage: dasuite predict"),
    (["predict", "run_dir=x", "colour=red"], 2, "cannot read 'colour=red'"),
    (["export", "--help"], 0, "usage: dasuite export"),
    (["export", "format=onnx"], 2, "missing run_dir=..."),
])
def test_answers_without_heavy_imports(argv, code, says, tmp_path):
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["code"] == code and says in report["out"] + report["err"]
    assert report["heavy"] == []
