"""Config -> the trainer: a ``trainer`` node holds the Trainer's own settings (the loop, the optimisation,
the process) and the built-in callbacks' settings (``select``, ``validation_samples``, ``collapse_min_*``,
``metrics``, ``progress``, ``plots``: the keyword parameters of
:func:`~dasuite.engine.callbacks.defaults.default_callbacks`) side by side, as one group of keys. This splits
them: the callbacks are built from theirs, with those ``trainer.callbacks`` lists (replacing a built-in of
their class, or added), and the Trainer from the rest."""

from __future__ import annotations

import inspect

from omegaconf import DictConfig, OmegaConf


def callback_settings() -> set[str]:
    """The ``trainer`` keys that configure the built-in callbacks (not the Trainer)."""
    from dasuite.engine.callbacks.defaults import default_callbacks

    return {name for name, parameter in inspect.signature(default_callbacks).parameters.items()
            if parameter.kind is parameter.KEYWORD_ONLY}


def build_trainer(trainer_cfg: DictConfig):
    """The Trainer of a (validated) ``trainer`` node, its callback list built from the node's callback keys."""
    from hydra.utils import instantiate

    from dasuite.engine.callbacks.defaults import default_callbacks

    settings = OmegaConf.to_container(trainer_cfg, resolve=True)
    of_callbacks = {key: settings.pop(key) for key in callback_settings() if key in settings}
    extra = instantiate(settings.pop("callbacks", None) or [])
    return instantiate(settings, callbacks=default_callbacks(*extra, **of_callbacks))
