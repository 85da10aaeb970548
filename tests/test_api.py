"""The Python API: docs/api.md's example runs as written, and ``import dasuite`` stays light."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dasuite.errors import ConfigError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_the_docs_examples_run(tmp_cwd):
    examples = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert "from dasuite import Method, Trainer, default_callbacks, fit, pair_from_tensors" in examples[0]
    assert len([line for line in examples[0].splitlines() if line.strip()]) <= 21  # a 20-line script (and a print)
    assert "from dasuite import evaluate, load_run, train" in examples[1]
    for example in examples:  # fit on your objects, the API tour, a callback list, the metrics, the losses
        exec(compile(example, str(DOCS), "exec"), {})  # noqa: S102 - the repository's own documentation
    assert json.loads((tmp_cwd / "runs" / "mine" / "summary.json").read_text())["status"] == "completed"
    assert (tmp_cwd / "runs" / "notebook" / "summary.json").is_file()
    assert (tmp_cwd / "runs" / "notebook" / "eval").is_dir()


def test_a_bad_key_raises_the_commands_message(tmp_cwd):
    from dasuite import train

    with pytest.raises(ConfigError, match="Did you mean trainer.epochs"):
        train(["trainer.epoch=3"])
    assert not (tmp_cwd / "runs").exists()


def test_hydras_own_errors_raise_config_error_and_leave_no_run_folder(tmp_cwd):
    from dasuite import train

    with pytest.raises(ConfigError, match=r"trainer\.epochs=\[1: .*no viable alternative"):
        train(["trainer.epochs=[1"])
    with pytest.raises(ConfigError, match="trainer.lr: Interpolation key 'nope' not found"):
        train(["trainer.lr=${nope}", "trainer.epochs=1"])
    assert not (tmp_cwd / "runs").exists()


def test_the_command_records_its_outcome(tmp_cwd, capsys):
    import dasuite.commands.train as command

    assert command.run_train(["trainer.epoch=3"]) == 2
    assert command.CURRENT.code == 2 and command.CURRENT.jobs == []
    assert command.CURRENT.error.startswith("unknown key 'trainer.epoch'")
    assert "dasuite train: error: " + command.CURRENT.error in capsys.readouterr().err


def test_import_dasuite_loads_neither_torch_nor_hydra():
    probe = "import sys, dasuite; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'hydra')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["[]"], result.stderr
