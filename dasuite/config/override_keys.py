"""Misspelled keys in ``dasuite train`` overrides, caught before Hydra runs (without importing torch).

``trainer.epoch=3`` would otherwise stop in Hydra's composition with "Key 'epoch' is not in struct".
The config is composed once for each combination of the group choices the overrides sweep over
(``method=dann,mmd``), and every plain ``key=value`` override must name a key of it. Keys added
with ``+key=value`` pass here; the structured configs (:mod:`dasuite.config.schema`) check them later.
"""

from __future__ import annotations

import itertools

from omegaconf import DictConfig

from dasuite.config.catalog import GROUPS, config_dir
from dasuite.config.suggestions import closest
from dasuite.errors import ConfigError

#: Beyond this many group combinations only the first ones are composed (each takes ~0.1 s).
MAX_COMBINATIONS = 16


def check_keys(overrides: list[str]) -> None:
    """Raise a ConfigError naming the first override whose key the composed config does not have."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # noqa: BLE001 - a malformed override: Hydra itself reports it
        return
    groups, keys = {}, []
    for override in parsed:
        key = override.key_or_group
        if override.package is not None or key.startswith("hydra") or override.type != OverrideType.CHANGE:
            continue
        if key in GROUPS:
            try:
                values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
            except Exception:  # noqa: BLE001 - glob()/range() sweeps: Hydra checks them
                return
            groups[key] = [str(v) for v in values]
        else:
            keys.append(key)
    if not keys:
        return
    combinations = list(itertools.islice(itertools.product(*groups.values()), MAX_COMBINATIONS))
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        for values in combinations:
            chosen = [f"{group}={value}" for group, value in zip(groups, values)]
            try:
                cfg = compose("config", overrides=chosen)
            except Exception:  # noqa: BLE001 - composition errors: Hydra reports them with the run
                return
            for key in keys:
                _check(cfg, key, chosen)


def _check(cfg: DictConfig, key: str, chosen: list[str]) -> None:
    node, parts = cfg, key.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, DictConfig) or part not in node:
            parent = ".".join(parts[:depth])
            valid = sorted(k for k in node.keys() if k != "_target_") if isinstance(node, DictConfig) else []
            prefix = f"{parent}." if parent else ""
            nested = _nested(cfg, part) if depth == 0 and len(parts) == 1 else []  # optimizer=adam
            close = closest(part, valid)
            meant = nested if nested and (close is None or close.lower() != part.lower()) else \
                [prefix + close] if close else []
            where = f"the {parent} settings" if parent else "the top-level config"
            with_choice = f" with {' '.join(chosen)}" if chosen else ""
            raise ConfigError(
                f"unknown key {key!r}: {where}{with_choice} {'have' if parent else 'has'} no {part!r}."
                + (f" Did you mean {' or '.join(meant)}?" if meant else "")
                + (f" Valid keys: {', '.join(prefix + str(k) for k in valid)}." if valid else "")
                + " (`dasuite train --cfg job` prints the whole config; +key=value adds a new key.)")
        node = node[part]


def _nested(cfg: DictConfig, name: str) -> list[str]:
    """``group.<name>`` for each group of ``cfg`` that has a key ``name`` (any case): where a top-level
    ``name=value`` most likely belongs."""
    return [f"{group}.{key}" for group, node in cfg.items() if isinstance(node, DictConfig)
            for key in node.keys() if str(key).lower() == name.lower()]
