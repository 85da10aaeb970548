"""What configs/ offers: the choices of each config group, read from the YAML files themselves.

A new file in ``configs/method/`` (or any group) shows up here and in ``dasuite list``
(:mod:`dasuite.commands.list`) without a code change. Imports nothing heavy, so ``dasuite list`` answers at once.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

GROUPS = ("dataset", "backbone", "method", "trainer", "logger", "experiment", "family", "recipe", "debug")


def config_dir() -> Path:
    """The configs/ folder: the repository's in a source checkout, the packaged copy otherwise."""
    spec = importlib.util.find_spec("dasuite.configs")
    if spec is None:  # a source checkout that is not installed
        return Path(__file__).resolve().parents[2] / "configs"
    return Path(next(iter(spec.submodule_search_locations)))


def choices(group: str) -> list[str]:
    """Names accepted by ``group=<name>``."""
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def describe(group: str, name: str) -> str:
    """The first comment line of a config file (Hydra's ``# @package`` lines skipped)."""
    with open(config_dir() / group / f"{name}.yaml", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") and not line.startswith("# @"):
                return line.lstrip("#").strip()
    return ""


def check_choices(overrides: list[str]) -> None:
    """Reject ``group=name`` overrides (plain or swept) that name no file in configs/<group>/."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from dasuite.config.suggestions import closest
    from dasuite.errors import ConfigError

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # noqa: BLE001 - a malformed override: Hydra itself reports it
        return
    for override in parsed:
        group = override.key_or_group
        if group not in GROUPS or override.package is not None:
            continue
        try:
            values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        except Exception:  # noqa: BLE001 - glob()/range() sweeps need Hydra's loader: Hydra checks them
            continue
        valid = choices(group)
        for value in values:
            if isinstance(value, str) and value not in valid:
                close = closest(value, valid)
                raise ConfigError(f"unknown {group} {value!r} in '{override.input_line}'."
                                  + (f" Did you mean {group}={close}?" if close else "")
                                  + f" Valid {group} choices: {', '.join(valid)}. "
                                  f"(`dasuite list` describes them; a new configs/{group}/<name>.yaml adds one.)")


def preset_keys(choices) -> set[str]:
    """Dotted keys (``backbone.bottleneck_dim``) that the chosen ``family`` and ``recipe`` files set, with the
    files they include: settings written for the family's usual backbone, which another backbone may lack."""
    import yaml

    keys: set[str] = set()
    pending = [f"{group}/{choices[group]}" for group in ("family", "recipe") if choices.get(group)]
    while pending:
        file = config_dir() / f"{pending.pop()}.yaml"
        if not file.is_file():
            continue
        content = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        pending += [f"{file.parent.name}/{name}" for name in content.pop("defaults", []) if isinstance(name, str)]
        keys |= {f"{group}.{key}" for group, node in content.items() if isinstance(node, dict) for key in node}
    return keys
