"""docs/architecture.md's import rules hold: each package imports only the packages its row names, and only the
assembly layer builds components from configs (Hydra's ``instantiate``)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "dasuite"
#: What every package may import besides itself: the errors, the safe file access, and dasuite's version.
EVERYWHERE = {"errors", "safe_files", "__version__"}
#: package -> the dasuite packages it may import (the table "The packages" of docs/architecture.md).
MAY_IMPORT = {
    "errors": set(),
    "safe_files": set(),
    "losses": set(),
    "metrics": set(),
    "models": set(),
    "data": set(),
    "validators": set(),
    "loggers": set(),
    "config": set(),
    "methods": {"losses", "models", "engine.callbacks.base"},
    "engine": {"methods", "models", "data", "validators", "metrics", "diagnostics", "config"},
    "diagnostics": {"data", "engine"},
    "folder_admission": {"engine"},
    "run": {"engine", "models"},
    "assembly": {"config", "data", "engine", "loggers", "methods", "models"},
    "experiment": {"assembly", "engine", "folder_admission", "loggers", "models", "run"},
    "api": {"assembly", "commands", "config", "engine", "experiment", "folder_admission", "run"},
    "commands": {"assembly", "config", "data", "diagnostics", "engine", "experiment", "folder_admission", "metrics",
                 "models", "validators"},
    "cli": {"commands", "config"},
    "__main__": {"cli"},
    "__init__": {"api"},
}
#: Where Hydra's instantiate may be called: the assembly layer, and Hydra's own sweeper plugin building its sampler.
INSTANTIATES = ("assembly/", "config/optuna_resume.py")


def _package(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return parts[0] if len(parts) > 1 else parts[0]


def _imports(tree: ast.AST) -> set[str]:
    """The dasuite packages a module imports, at its top or inside functions, except under ``if TYPE_CHECKING``."""
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", None) == "TYPE_CHECKING" for n in node.body}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "dasuite" else [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n.removeprefix("dasuite.") for n in names if n.startswith("dasuite.")}
    return found


def _outside(imported: set[str], allowed: set[str]) -> set[str]:
    """The imported modules (``engine.callbacks.base``) that are neither in nor under an allowed package or module."""
    return {m for m in imported
            if not any(m == a or m.startswith(a + ".") for a in allowed)}


MODULES = sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_module_imports_only_what_its_package_may(path):
    package = _package(path)
    assert package in MAY_IMPORT, f"{package} has no row in docs/architecture.md's table (and MAY_IMPORT)"
    wrong = _outside(_imports(ast.parse(path.read_text())), MAY_IMPORT[package] | EVERYWHERE | {package})
    assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}, which {package} may not"


def test_only_the_assembly_layer_instantiates_from_config():
    calling = [str(p.relative_to(ROOT)) for p in MODULES if "instantiate" in {
        a.name for node in ast.walk(ast.parse(p.read_text())) if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("hydra") for a in node.names}]
    assert calling and all(p.startswith(INSTANTIATES) for p in calling), calling


def test_the_rules_are_the_documented_ones():
    table = (ROOT.parent / "docs" / "architecture.md").read_text()
    for package in MAY_IMPORT:
        if package.startswith("__"):
            continue
        name = f"`dasuite/{package}/`" if (ROOT / package).is_dir() else f"`dasuite/{package}.py`"
        row = next((line for line in table.splitlines() if line.startswith(f"| {name} ")), None)
        assert row is not None, f"docs/architecture.md has no row for {name}"
        allowed = row.rsplit("|", 2)[1]
        for other in MAY_IMPORT[package]:
            assert f"`{other}`" in allowed, f"{name}'s row does not say it may import {other}"
