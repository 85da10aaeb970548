"""Which ``_target_`` a config read from a file may name, decided by its name alone.

Hydra calls whatever a ``_target_`` names with the arguments the file puts beside it, and merely
importing a module runs it: with the working directory on ``sys.path`` (``python -m dasuite``, the
Python API, notebooks) a ``payload.py`` beside or inside a shared run folder would run if dasuite
imported the module a file names to find out what it is. So a run folder's config (a checkpoint's,
``.hydra/config.yaml``, the overrides a resume replays) is admitted by qualified name only:

- dasuite's own components: the ``_target_``s of its packaged configs, a pair's preprocessing, and
  the classes defined in its source (listed by reading the package's files, not by importing them);
- ``torch.nn`` classes, looked up in the modules torch has already loaded;
- components of the modules the invoking user names (``trusted_modules=[mypkg]`` on the command
  line, ``trusted_modules=`` in :mod:`dasuite.api`) and their submodules;
- anything, with ``trust_checkpoint=true``.

A file's config is checked as it was read, before OmegaConf resolves its ``${...}``, and a resolver can
build a config node out of text (``${oc.decode:"{_target_: payload.Net}"}``, ``oc.create``, the default of
``oc.select``): so a value read from a file may hold only references to other keys (``${data_root}``) and the
resolvers that return text (:data:`TEXT_RESOLVERS`).

Only then is the module imported, and a class of dasuite's or of a trusted module must be a
``torch.nn.Module`` or :class:`~dasuite.engine.callbacks.base.Callback` defined there. The trust
comes from the caller's arguments, never from a file. Imports no torch until a ``torch.nn`` or class
target is checked.
"""

from __future__ import annotations

import functools
import importlib
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from dasuite.config.options import DOTTED_NAME
from dasuite.errors import ConfigError

#: ``_target_``s of the components dasuite builds that are not in configs/ (a pair's preprocessing).
PREPROCESSING = ("dasuite.data.images.Preprocess", "dasuite.data.arrays.Standardize")
#: The resolvers a value read from a file may call: each returns text, never a config node.
TEXT_RESOLVERS = ("now", "oc.env", "dasuite.study")
#: What may follow each ``${`` of such a value: a key's name (``${data_root}``, ``${.x}``) or a text resolver.
_ADMITTED_INTERPOLATION = re.compile(r"\$\{\s*(?:[\w.\-\[\]]+\s*\}|(?:%s)\s*:)"
                                     % "|".join(re.escape(r) for r in TEXT_RESOLVERS))


def check_targets(tree, source: str, modules: Iterable[str] = (), everything: bool = False, key: str = "") -> None:
    """Refuse the first ``_target_`` in ``tree`` (a config read from ``source``, a file) that is not admitted
    (the module docstring); ``modules``: the caller's trusted modules; ``everything``: trust_checkpoint=true."""
    if everything:
        return
    for path, value in _strings(tree, key):
        start = value.find("${")
        while start >= 0:
            if not _ADMITTED_INTERPOLATION.match(value, start):
                raise ConfigError(
                    f"{source} sets {path}={value!r}, an interpolation dasuite does not resolve from a file: "
                    "a resolver can build a config node, a _target_ among them, out of text after the "
                    "_target_s were checked, so a value read from a file may hold only references to other keys "
                    f"(${{data_root}}) and the resolvers {', '.join(TEXT_RESOLVERS)}. If you trust where this run "
                    "folder comes from, add trust_checkpoint=true.")
            start = value.find("${", start + 2)
    modules = tuple(modules)
    for path, target in _targets(tree, key):
        reason = _refusal(target, modules)
        if reason is not None:
            module = target.rpartition(".")[0] if isinstance(target, str) and "." in target else "mypkg"
            raise ConfigError(
                f"{source} sets {path}={target!r}, which dasuite does not build from a file: {reason}. Whatever a "
                "_target_ names is called with arguments the file chose, and importing its module runs it, so a "
                "file may name only dasuite's own components and torch.nn.Module classes unless you say "
                f"otherwise. If it is your own component, name its module: trusted_modules=[{module}] (with eval, "
                "predict, export and train resume=; in Python, trusted_modules= of load_run, evaluate and train). "
                "If you trust where this run folder comes from, add trust_checkpoint=true to build whatever it "
                "names (and unpickle its checkpoint).")


def check_override_targets(overrides: list[str], source: str, modules: Iterable[str] = (),
                           everything: bool = False) -> None:
    """:func:`check_targets` over the ``_target_``s that Hydra overrides read from ``source`` set
    (``method._target_=X``, ``+trainer.callbacks=[{_target_: X}]``, each value of a sweep)."""
    if not everything:
        for tree in _override_trees(overrides):
            check_targets(tree, source, modules)


def named_modules(overrides: list[str]) -> tuple[str, ...]:
    """The modules of the ``_target_``s that Hydra overrides the caller typed name (the caller vouches for them)."""
    targets = (target for tree in _override_trees(overrides) for _, target in _targets(tree, ""))
    return tuple(dict.fromkeys(t.rpartition(".")[0] for t in targets if isinstance(t, str) and DOTTED_NAME.match(t)
                               and "." in t))


def _override_trees(overrides: list[str]) -> Iterator[dict]:
    """Each override as a nested dict (``a.b=v``: ``{"a": {"b": v}}``), once per value of a sweep."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep

    for override in OverridesParser.create().parse_overrides(overrides):
        value = override.value()
        for choice in value.list if isinstance(value, ChoiceSweep) else [value]:
            tree = choice
            for part in reversed(override.key_or_group.split(".")):
                tree = {part: tree}
            yield tree


def _targets(tree, key: str) -> Iterator[tuple[str, object]]:
    """(dotted path, value) of each ``_target_`` in a nested dict/list."""
    if isinstance(tree, dict):
        for name, value in tree.items():
            path = f"{key}.{name}" if key else str(name)
            if name == "_target_":
                yield path, value
            else:
                yield from _targets(value, path)
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            yield from _targets(value, f"{key}[{i}]")


def _strings(tree, key: str) -> Iterator[tuple[str, str]]:
    """(dotted path, value) of each string value in a nested dict/list."""
    if isinstance(tree, str):
        yield key, tree
    elif isinstance(tree, dict):
        for name, value in tree.items():
            yield from _strings(value, f"{key}.{name}" if key else str(name))
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            yield from _strings(value, f"{key}[{i}]")


def _refusal(target, modules: tuple[str, ...]) -> str | None:
    """Why ``target`` is not admitted (None: it is). Imports a module only once its name is admitted."""
    if not isinstance(target, str) or not DOTTED_NAME.match(target) or "." not in target:
        return "it is not the dotted name of a class or function"
    if target in _packaged_targets():
        return None
    module, _, name = target.rpartition(".")
    if target in _own_classes():
        return _not_a_component(module, name)
    if module == "torch.nn" or module.startswith("torch.nn."):
        return _not_a_torch_module(module, name)
    trusted = [m for m in modules if module == m or module.startswith(m + ".")]
    if trusted:
        return _not_a_component(module, name)
    if module == "dasuite" or module.startswith("dasuite."):
        return "it is not one of dasuite's components (the _target_s of its configs, its classes)"
    return (f"its module {module} is neither dasuite's nor torch.nn's, and not among the modules you trusted "
            f"({', '.join(modules) if modules else 'none given'})")


def _not_a_torch_module(module: str, name: str) -> str | None:
    """Whether ``module.name`` is a ``torch.nn.Module`` class in a module torch has loaded (nothing new imported)."""
    import torch.nn

    found = vars(sys.modules[module]).get(name) if module in sys.modules else None
    if isinstance(found, type) and issubclass(found, torch.nn.Module) and found.__module__.startswith("torch.nn"):
        return None
    return "it is not a torch.nn.Module class of torch.nn"


def _not_a_component(module: str, name: str) -> str | None:
    """Import the admitted ``module``: ``name`` must be a ``torch.nn.Module`` or Callback class defined there."""
    import torch

    from dasuite.engine.callbacks.base import Callback

    try:
        found = vars(importlib.import_module(module)).get(name)
    except Exception as error:  # noqa: BLE001 - whatever the module raises while it is imported
        return f"importing {module} failed ({type(error).__name__}: {' '.join(str(error).split())[:200]})"
    if isinstance(found, type) and issubclass(found, (torch.nn.Module, Callback)) \
            and f"{found.__module__}.{found.__qualname__}" == f"{module}.{name}":  # defined there, not imported into it
        return None
    return f"it is not a torch.nn.Module or Callback class defined in {module}"


@functools.cache
def _packaged_targets() -> frozenset[str]:
    from dasuite.config.catalog import config_dir

    found = {m.group(1) for file in config_dir().rglob("*.yaml")
             for m in re.finditer(r"^\s*_target_:\s*([\w.]+)\s*$", file.read_text(encoding="utf-8"), re.MULTILINE)}
    return frozenset(found | set(PREPROCESSING))


@functools.cache
def _own_classes() -> frozenset[str]:
    """``dasuite.<module>.<Class>`` of each class defined at the top of a module of the package, read from the files."""
    package = Path(__file__).resolve().parents[1]
    found = set()
    for file in package.rglob("*.py"):
        parts = file.relative_to(package.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.update(f"{module}.{m.group(1)}"
                     for m in re.finditer(r"^class\s+(\w+)", file.read_text(encoding="utf-8"), re.MULTILINE))
    return frozenset(found)
