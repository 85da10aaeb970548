"""Methods built on another method: self-training's ``base``, as a nested ``_target_`` config.

A method parameter annotated :data:`~dasuite.methods.base.MethodFactory` receives the other method
as a callable of ``(backbone, num_classes)``: Hydra instantiates the nested node (``_partial_``) and
the outer method calls it on its own backbone. On the command line the node is named by its
``configs/method/`` file, ``method.base=dann``, with that method's keys in ``method.base_args``
(``+method.base_args.trade_off=0.3``); :func:`expand` puts the file's config, with those keys merged,
in the key's place. A node that is already a ``_target_`` config is kept as it is.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing

from omegaconf import DictConfig, OmegaConf, open_dict

from dasuite.errors import ConfigError

#: Keys every method has through the base class, never constructor arguments of a nested method.
COMMON = ("_target_", "target_label_weight", "head_hidden")


def expand_config(cfg: DictConfig) -> DictConfig:
    """``cfg`` (a run's config) with its method's method-valued keys as ``_target_`` nodes (``method.base=NAME`` ->
    that method's config), before the config's types are checked."""
    if isinstance(cfg.get("method"), DictConfig):
        with open_dict(cfg):
            cfg.method = expand(OmegaConf.to_container(cfg.method, resolve=True))
    return cfg


def expand(settings: dict, key: str = "method") -> dict:
    """``settings`` (a method's config, a plain dict) with each method-valued key as a ``_target_`` node."""
    from dasuite.methods.base import MethodFactory

    target = settings.get("_target_")
    if not isinstance(target, str):
        return settings
    try:
        signature = _signature(target)
    except Exception:  # noqa: BLE001 - an unimportable target: the schema check reports it
        return settings
    settings = dict(settings)
    for name, hint in signature.items():
        if hint not in (MethodFactory, typing.Optional[MethodFactory]):
            continue
        value, args = settings.get(name), settings.pop(f"{name}_args", None) or {}
        if not isinstance(args, dict):
            raise ConfigError(f"{key}.{name}_args={args!r} must be a mapping of the {name} method's keys.")
        if isinstance(value, str):
            value = _named(value, args, f"{key}.{name}")
        elif isinstance(value, dict):
            value = expand({**value, **args}, f"{key}.{name}")
        elif args:
            raise ConfigError(f"{key}.{name}_args sets {', '.join(args)} but {key}.{name} names no method; "
                              f"set {key}.{name} as well (a method of configs/method/).")
        if value is not None:
            settings[name] = {**value, "_partial_": True}
    return settings


def _named(name: str, args: dict, key: str) -> dict:
    """The config of ``configs/method/<name>.yaml`` with ``args`` merged over its keys."""
    from dasuite.config.catalog import choices, config_dir
    from dasuite.config.schema import settings_class

    valid = choices("method")
    if name not in valid:
        raise ConfigError(f"{key}={name!r} is not a method; choose one of {', '.join(valid)}.")
    content = OmegaConf.to_container(OmegaConf.load(config_dir() / "method" / f"{name}.yaml"))  # Hydra's reading
    if "_target_" not in content and isinstance(content.get("method"), dict):  # a `# @package _global_` file
        content = content["method"]
    content.pop("defaults", None)
    settings, open_ended = settings_class("method", content["_target_"])
    keys = [f.name for f in dataclasses.fields(settings) if f.name not in COMMON]
    unknown = [k for k in args if k not in keys]
    if unknown and not open_ended:
        raise ConfigError(f"{key}_args.{unknown[0]} is not a setting of method {name}; its keys are "
                          f"{', '.join(keys)}.")
    return expand({**content, **args}, key)


def _signature(target: str) -> dict:
    """Parameter name -> type hint of the constructor of ``target`` (a dotted class path)."""
    from hydra.utils import get_method

    cls = get_method(target)
    function = cls.__init__ if inspect.isclass(cls) else cls
    hints = typing.get_type_hints(function)
    return {name: hints.get(name) for name in inspect.signature(cls).parameters}
