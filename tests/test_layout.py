"""Imports run one way: the data pairs and the methods never read a config (Hydra and OmegaConf stay in
dasuite.config, dasuite.assembly and the commands)."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["dasuite.data", "dasuite.methods"])
def test_data_and_methods_import_without_hydra_or_omegaconf(package):
    modules = f"import pkgutil, importlib, {package} as p; [importlib.import_module(m.name) for m in " \
              f"pkgutil.iter_modules(p.__path__, p.__name__ + '.')]"
    probe = f"import sys; {modules}; print(sorted(m for m in sys.modules if m.split('.')[0] in ('hydra', 'omegaconf')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]"]


def test_every_package_ships():
    """pyproject.toml lists its packages one by one: a new package left out of it is missing from a wheel."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    listed = set(re.findall(r'^\s*"(dasuite(?:\.\w+)*)",', (root / "pyproject.toml").read_text(), re.MULTILINE))
    packages = {".".join(p.parent.relative_to(root).parts) for p in (root / "dasuite").rglob("__init__.py")}
    assert packages - listed == set()
