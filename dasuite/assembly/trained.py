"""Checkpoint -> objects: a trained run's model, rebuilt from its run folder (for ``dasuite predict``,
``export``, ``eval`` and :func:`dasuite.load_run`).

The method is built from the config stored in the checkpoint (``.hydra/config.yaml`` when a
checkpoint has none) and loaded with the checkpoint's weights. What the model takes (input shape,
class names, the pair's preprocessing with its statistics) comes from the checkpoint too, so the
training data need not be present; checkpoints written before it was stored rebuild the pair.

Nothing in the run folder runs code: the checkpoint is read with ``weights_only=True`` and the
components its config names must be dasuite's own (:mod:`dasuite.engine.admission`), unless the
caller trusts the folder (``trust_checkpoint=true``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from dasuite.errors import ConfigError
from dasuite.models.trained import TrainedModel, checkpoint_path
from dasuite.safe_files import is_present, open_read


def load_trained(run_dir, checkpoint: str = "last", device: torch.device | str = "cpu",
                 trust: bool = False, trusted_modules: Sequence[str] = ()) -> TrainedModel:
    """The method of ``run_dir`` with the weights of ``checkpoints/<checkpoint>.pt``, in eval mode. ``trust``:
    the checkpoint may hold any Python object and its config may name any component (trust_checkpoint=true);
    ``trusted_modules``: its config may name components of these modules (:mod:`dasuite.engine.admission`)."""
    from hydra.utils import instantiate

    from dasuite.engine.admission import check_targets
    from dasuite.engine.checkpoint import load_model, read_checkpoint
    from dasuite.assembly.method import build_method, without_weights

    run_dir = Path(run_dir).expanduser()
    path = checkpoint_path(run_dir, checkpoint)
    state = read_checkpoint(path, "load", trust=trust)
    cfg = _config(run_dir, state, path)
    check_targets(OmegaConf.to_container(cfg), f"the config stored with {path}" if state.get("config") is not None
                  else str(run_dir / ".hydra" / "config.yaml"), trusted_modules, trust)
    model_input = state.get("model_input") or _model_input_from_pair(cfg)
    _check_model_input(model_input, path)
    check_targets(model_input["preprocess"], f"the preprocessing stored in {path}", trusted_modules, trust,
                  "model_input.preprocess")
    cfg.backbone = without_weights(cfg.backbone)  # the weights come from the checkpoint, never from files
    method = build_method(cfg, model_input["input_shape"], model_input["num_classes"])
    load_model(method, state, path, "load")
    method.to(device).eval()
    spec = model_input["preprocess"]
    return TrainedModel(method=method, input_shape=tuple(model_input["input_shape"]),
                        class_names=list(model_input["class_names"]),
                        preprocess=None if spec is None else instantiate(spec), preprocess_config=spec,
                        config=cfg, checkpoint=path, epoch=int(state.get("epoch", 0)),
                        feature_names=model_input.get("feature_names"), image_loading=_image_loading(model_input))


def _config(run_dir: Path, state: dict, path: Path) -> DictConfig:
    """The run's config: the checkpoint's, or (older checkpoints) .hydra/config.yaml's."""
    stored, saved = state.get("config"), run_dir / ".hydra" / "config.yaml"
    if stored is None and not is_present(saved):
        if isinstance(state.get("meta"), dict) and not state["meta"].get("overrides") and "model" in state:
            raise ConfigError(f"run_dir={run_dir} was trained by dasuite.fit on a model built in Python, so it has no "
                              "config to rebuild the model from: build the same method again and load the weights, "
                              f"method.load_state_dict(torch.load('{path}', weights_only=True)['model']).")
        raise ConfigError(f"run_dir={run_dir}: the checkpoint stores no config and .hydra/config.yaml is missing; "
                          "the model cannot be rebuilt.")
    source = saved if stored is None else path
    try:
        if stored is None:
            with open_read(saved, text=True) as f:
                cfg = OmegaConf.load(f)
        else:
            cfg = OmegaConf.create(stored)
        OmegaConf.resolve(cfg)
    except Exception as error:  # noqa: BLE001 - YAML and OmegaConf errors of many kinds
        raise ConfigError(f"cannot read the run's config from {source} ({type(error).__name__}: "
                          f"{' '.join(str(error).split())[:300]}): the file is damaged.") from None
    if not all(isinstance(cfg.get(group), DictConfig) for group in ("dataset", "backbone", "method")):
        raise ConfigError(f"the run's config in {source} lacks its dataset, backbone or method settings: the file is "
                          "damaged or not from `dasuite train`.")
    return cfg


def _image_loading(model_input: dict) -> dict | None:
    """How image files become the model's input; checkpoints that predate it: the shorter side resized to the
    input's side, centre-cut, no further crop."""
    shape = model_input["input_shape"]
    if len(shape) != 3:
        return None
    return model_input.get("image_loading") or {"size": shape[1], "squash": False, "crop": None}


def _check_model_input(model_input, path: Path) -> None:
    """What a checkpoint says the model takes: shape, classes and preprocessing of the right kinds."""
    ok = (isinstance(model_input, dict) and isinstance(model_input.get("input_shape"), list)
          and all(type(n) is int and n > 0 for n in model_input["input_shape"])
          and type(model_input.get("num_classes")) is int
          and isinstance(model_input.get("class_names"), list)
          and len(model_input["class_names"]) == model_input["num_classes"]
          and isinstance(model_input.get("preprocess"), (dict, type(None)))
          and _loading_ok(model_input.get("image_loading")))
    if not ok:
        raise ConfigError(f"cannot load {path}: its model_input entry (input shape, classes, preprocessing) is "
                          "malformed; the file is damaged or not a dasuite checkpoint.")


def _loading_ok(loading) -> bool:
    """An absent image_loading (older checkpoints), or a positive int size, a bool squash and an int or no crop."""
    return loading is None or (isinstance(loading, dict) and type(loading.get("size")) is int and loading["size"] > 0
                               and type(loading.get("squash")) is bool
                               and (loading.get("crop") is None or type(loading["crop"]) is int))


def _model_input_from_pair(cfg: DictConfig) -> dict:
    """For checkpoints that predate the stored model input: rebuild the pair (its data must be present)."""
    from dasuite.assembly.pair import build_pair

    return build_pair(cfg.dataset).model_input()
