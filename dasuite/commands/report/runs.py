"""Run folders found under some paths, read into :class:`Run` records.

A run folder is any folder holding ``.hydra/config.yaml``, ``summary.json`` or ``metrics.jsonl``
(single runs and the job folders of multirun sweeps alike). Reading uses json and yaml only, so a
hundred runs load in a fraction of a second. A file that cannot be read (damaged, not a mapping, a named
pipe or device: :mod:`dasuite.safe_files`) leaves its run out of the tables with a problem naming the file
and what is wrong.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dasuite.errors import ConfigError
from dasuite.safe_files import UnsafeFile, is_present, read_text

#: Sub-folders of a run that never hold another run.
_RUN_PARTS = {".hydra", "checkpoints", "plots", "eval", "export", "predictions"}
#: The config groups whose choice (the YAML file's name) is a config value of its own.
CHOICES = ("dataset", "backbone", "method")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Run:
    """One run folder: its status, flattened config (``{"method.trade_off": 0.1, "method": "dann", ...}``),
    summary and metrics records."""

    path: Path
    status: str  # completed | failed | interrupted | unfinished (no summary.json: running or killed)
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    metrics: list[dict] = field(default_factory=list)
    problem: str = ""  # why a file of the run could not be read

    @property
    def error(self) -> str:
        return self.problem or str(self.summary.get("error") or self.summary.get("signal") or "")

    @property
    def final_stage(self) -> list[dict]:
        """The records of the method's last stage (all of them for single-stage methods)."""
        if not self.metrics:
            return []
        stage = self.metrics[-1].get("stage")
        return [r for r in self.metrics if r.get("stage") == stage]


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` holds one of a run's files (of any kind: one that is not a regular file is reported)."""
    return any(os.path.lexists(path / name) for name in (".hydra/config.yaml", "summary.json", "metrics.jsonl"))


def find_run_folders(paths: list[Path]) -> list[Path]:
    """Every run folder at or under ``paths``, each once, in natural order (job 2 before job 10)."""
    found: dict[Path, None] = {}
    for root in paths:
        if is_run_folder(root):
            found[root.resolve()] = None
            continue
        for folder, subfolders, _ in os.walk(root):
            here = Path(folder)
            if here != root and is_run_folder(here):
                found[here.resolve()] = None
                subfolders[:] = []
            else:
                subfolders[:] = [d for d in subfolders if d not in _RUN_PARTS and not d.startswith(".")]
    return sorted(found, key=_natural)


def _natural(path: Path) -> list:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", str(path))]


def load_run(path: Path) -> Run:
    """Read one run folder; unreadable files leave the run out of the tables with ``problem`` set."""
    from dasuite.engine.run_folder import read_metrics  # torch-free; imported here so argument errors load no engine

    run = Run(path=path, status="unfinished")
    try:
        summary = _read(path / "summary.json", json.loads)
        if summary is not None:
            run.summary = summary
            run.status = str(run.summary.get("status") or "unfinished")
        run.metrics = read_metrics(path / "metrics.jsonl")
        run.config = _read_config(path, run.summary)
    except ConfigError as error:  # each names its file and what is wrong with it
        run.status, run.problem = "unreadable", str(error)
    except OSError as error:  # e.g. no permission: its message names the file
        run.status, run.problem = "unreadable", f"cannot read it ({error})"
    return run


def _read(file: Path, parse) -> dict | None:
    """``parse(file's text)``, a mapping (None: no such file); a ConfigError names the file and what is wrong."""
    if not is_present(file):
        return None
    try:
        tree = parse(read_text(file))
    except UnsafeFile:
        raise
    except (OSError, ValueError, yaml.YAMLError) as error:  # ValueError: JSON's errors, bytes that are not UTF-8
        detail = " ".join(str(error).split())[:200]
        raise ConfigError(f"cannot read {file} ({type(error).__name__}: {detail}): the file is damaged or was "
                          "edited.") from None
    if tree is None and parse is not json.loads:  # an empty YAML file: as if absent
        return None
    if not isinstance(tree, dict):
        raise ConfigError(f"{file} holds a {type(tree).__name__}, not the mapping dasuite writes there: the file is "
                          "damaged or was edited.")
    return tree


def _read_config(path: Path, summary: dict) -> dict:
    """The composed config flattened to dotted keys, plus the group choices (``method``: ``dann``)."""
    tree = _read(path / ".hydra" / "config.yaml", _yaml)
    config = flatten(tree or {})
    if tree is None:  # a run folder without .hydra/: what its summary says
        config.update({"seed": summary.get("seed"), "method.trade_off": summary.get("trade_off")})
    choices = {group: summary.get(group) for group in CHOICES}
    if any(value is None for value in choices.values()):
        choices = {group: choices[group] or _hydra_choice(path, group) for group in CHOICES}
    for group, value in choices.items():
        config[group] = value if value is not None else config.get(f"{group}._target_")
    return config


def _hydra_choice(path: Path, group: str):
    tree = _read(path / ".hydra" / "hydra.yaml", _yaml) or {}
    choice = tree
    for key in ("hydra", "runtime", "choices", group):
        choice = choice.get(key) if isinstance(choice, dict) else None
    return choice


def _yaml(text: str):
    return yaml.load(text, Loader=_Loader)


def flatten(tree, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists (and empty dicts) become tuples, so values hash."""
    if isinstance(tree, dict) and tree:
        flat = {}
        for key, value in tree.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: _frozen(tree)} if prefix else {}


def _frozen(value):
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    return value
