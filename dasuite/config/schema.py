"""Structured configs: the trainer, dataset, backbone and method settings checked before training.

Each component's settings are a dataclass made from the signature of its ``_target_`` (one source
of truth: the constructor's parameters, types and defaults), plus the keys dasuite itself reads
(the dataset split keys, ``method.target_label_weight`` and ``head_hidden``, and the trainer's
callback settings: the keyword parameters of :func:`~dasuite.engine.callbacks.defaults.default_callbacks`).
:func:`validate` merges the composed config into them with OmegaConf, so a misspelled key or a value of
the wrong type fails before any data is loaded, with one paragraph naming the key, the value and the
valid keys.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import logging
import types
import typing
from collections.abc import Collection
from typing import Any, Dict, List, Optional  # noqa: UP035 - OmegaConf reads these typing forms

from hydra.utils import get_method
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from dasuite.config.suggestions import closest
from dasuite.errors import ConfigError

log = logging.getLogger(__name__)

#: Constructor arguments dasuite passes itself, per group, never read from the config.
INJECTED = {"backbone": {"input_shape"}, "method": {"backbone", "num_classes"}}


@dataclasses.dataclass
class SplitSettings:
    """Keys of every dataset pair, read by :func:`dasuite.data.pair.split`."""

    val_fraction: float = 0.1
    target_labels_per_class: int = 0
    split_seed: int = 0


@dataclasses.dataclass
class MethodSettings:
    """Keys of every method, read by :func:`dasuite.assembly.method.build_method`."""

    target_label_weight: float = 1.0
    head_hidden: List[int] = dataclasses.field(default_factory=list)


#: group -> the dataclass of the keys it has besides its ``_target_``'s parameters.
COMMON = {"dataset": SplitSettings, "method": MethodSettings}
#: group -> a function whose keyword-only parameters are further keys of the group (its callbacks' settings,
#: which :func:`dasuite.assembly.trainer.build_trainer` hands to that function).
BESIDE = {"trainer": "dasuite.engine.callbacks.defaults.default_callbacks"}
GROUPS = ("trainer", "dataset", "backbone", "method")


def _omegaconf_type(hint) -> Any:
    """The nearest type OmegaConf can check (primitives, Optional, List, Dict), else Any."""
    if hint in (int, float, bool, str):
        return hint
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        checked = _omegaconf_type(inner[0]) if len(inner) == 1 else Any
        return Optional[checked] if type(None) in args and checked is not Any else checked
    if origin in (list, tuple, collections.abc.Sequence) or hint in (list, tuple):
        element = _omegaconf_type(args[0]) if args else Any
        return List[element if element in (int, float, bool, str) else Any]
    if origin in (dict, collections.abc.Mapping) or hint in (dict, collections.abc.Mapping):
        return Dict[str, Any]
    return Any


def _hints(target) -> dict[str, Any]:
    function = target.__init__ if inspect.isclass(target) else target
    try:
        return typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - an annotation that names a type only imported for type checking
        return {}


def settings_class(group: str, target_path: str) -> tuple[type, bool]:
    """The dataclass of a component's settings, and whether it takes further keys (``**kwargs``)."""
    target = get_method(target_path)
    fields, open_ended = [("_target_", str, dataclasses.field(default=target_path))], False
    hints = _hints(target)
    parameters = [(hints, p) for p in inspect.signature(target).parameters.values()]
    if group in BESIDE:
        beside = get_method(BESIDE[group])
        parameters += [(_hints(beside), p) for p in inspect.signature(beside).parameters.values()
                       if p.kind is p.KEYWORD_ONLY]
    for hints, parameter in parameters:
        name = parameter.name
        if parameter.kind is parameter.VAR_KEYWORD:
            open_ended = True
        if name in INJECTED.get(group, ()) or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        default = parameter.default
        kind = _omegaconf_type(hints.get(name, Any))
        if default is None and kind is not Any:
            kind = Optional[kind]
        if default is inspect.Parameter.empty:
            field = dataclasses.field(default=MISSING)
        elif isinstance(default, (list, tuple, dict)):
            field = dataclasses.field(default_factory=lambda value=default: value if isinstance(value, dict)
                                      else list(value))
        else:
            field = dataclasses.field(default=default)
        fields.append((name, kind, field))
    common = COMMON.get(group)
    bases = (common,) if common else ()
    if common:
        fields = [f for f in fields if f[0] not in {f.name for f in dataclasses.fields(common)}]
    cls = dataclasses.make_dataclass(f"{group.title()}Settings_{target.__name__}", fields, bases=bases)
    return cls, open_ended


def validate(cfg: DictConfig, presets: Collection[str] = ()) -> DictConfig:
    """``cfg`` with each group's settings checked against (and completed from) its dataclass.

    ``presets`` (:func:`dasuite.config.catalog.preset_keys`) are keys a pair family or a recipe sets for its usual
    component: where the chosen one has no such parameter (``backbone=mlp`` on a family that sets
    ``backbone.pretrained``) the key is dropped, with a line in the log, instead of failing the run. A method built
    on another is expanded first (:func:`dasuite.assembly.nested_methods.expand_config`).
    """
    for group in GROUPS:
        node = cfg.get(group)
        if not isinstance(node, DictConfig) or "_target_" not in node:
            continue
        try:
            cls, open_ended = settings_class(group, node._target_)
        except Exception as error:  # noqa: BLE001 - the target cannot be imported
            raise ConfigError(f"{group}._target_={node._target_!r} cannot be imported ({error}).") from error
        values = OmegaConf.create(OmegaConf.to_container(node, resolve=True))  # ${data_root} needs the root
        known = {f.name for f in dataclasses.fields(cls)}
        for key in [k for k in values if k not in known and f"{group}.{k}" in presets and not open_ended]:
            log.info("%s.%s=%s (a recipe setting for another %s) does not apply to %s; ignored", group, key,
                     values[key], group, node._target_)
            del values[key]
        unknown = [key for key in values if key not in known]
        if unknown and not open_ended:
            raise _explain(group, values, cls, str(unknown[0]))
        hints = typing.get_type_hints(cls)
        for key, value in values.items():  # OmegaConf itself would read 1, "yes" or "on" as true
            if hints.get(key) in (bool, Optional[bool]) and value is not None and not isinstance(value, bool):
                raise _explain(group, values, cls, str(key))
        schema = OmegaConf.structured(cls)
        OmegaConf.set_struct(schema, False)  # free-form dict values (e.g. dataset.source) take any key
        try:
            merged = OmegaConf.merge(schema, values)
        except OmegaConfBaseException as error:
            key = str(error.full_key or error.key or "?").split(".")[0].split("[")[0]
            raise _explain(group, values, cls, key) from None
        missing = sorted(OmegaConf.missing_keys(merged))
        if missing:
            raise ConfigError(f"{group} needs a value for {', '.join(f'{group}.{k}' for k in missing)} "
                              f"({node._target_} has no default for it).")
        with open_dict(cfg):
            cfg[group] = OmegaConf.create(OmegaConf.to_container(merged))
    return cfg


def _explain(group: str, values: DictConfig, cls: type, key: str) -> ConfigError:
    """One paragraph: the key, its value, what it should be, and the valid keys."""
    valid = sorted(f.name for f in dataclasses.fields(cls) if f.name != "_target_")
    listing = f"Valid {group} keys ({values._target_}): {', '.join(valid)}."
    if key not in valid:
        close = closest(key, valid)
        suggestion = f" Did you mean {group}.{close}?" if close else ""
        return ConfigError(f"{group}.{key} is not a {group} setting.{suggestion} {listing}")
    value = OmegaConf.to_container(values)[key]
    return ConfigError(f"{group}.{key}={value!r} is not a valid {_type_name(typing.get_type_hints(cls)[key])}. "
                       f"{listing}")


def _type_name(kind) -> str:
    if kind in (int, float, bool, str):
        return {int: "integer", float: "number", bool: "true/false value", str: "string"}[kind]
    if typing.get_origin(kind) is typing.Union:
        inner = [a for a in typing.get_args(kind) if a is not type(None)]
        return f"{_type_name(inner[0])} (or null)"
    if typing.get_origin(kind) in (list, List):
        (element,) = typing.get_args(kind) or (Any,)
        return "list" + (f" of {_type_name(element)}s" if element is not Any else "")
    return "value of this kind"
