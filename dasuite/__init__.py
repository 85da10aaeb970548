"""dasuite: deep domain adaptation from the command line, and from Python (:mod:`dasuite.api`).

``fit(method, data, trainer)`` trains objects you built; ``train([...])`` what ``dasuite train`` would. ``import
dasuite`` stays cheap: :func:`fit`, :func:`train`, :func:`load_run` and :func:`evaluate` import torch and Hydra
only when called, and so do ``Method``, ``Stage``, ``Trainer``, ``default_callbacks`` and ``pair_from_tensors`` when
first imported from here.
"""

__version__ = "0.1.0"

from dasuite.api import Run, evaluate, fit, load_run, seed_everything, train  # noqa: E402 - after __version__

#: What ``from dasuite import X`` offers besides the API functions, imported (with torch) when first asked for.
_LAZY = {"Method": "dasuite.methods.base", "Stage": "dasuite.methods.base", "Trainer": "dasuite.engine.trainer",
         "default_callbacks": "dasuite.engine.callbacks.defaults", "pair_from_tensors": "dasuite.data.pair"}

__all__ = ["Method", "Run", "Stage", "Trainer", "__version__", "default_callbacks", "evaluate", "fit", "load_run",
           "pair_from_tensors", "seed_everything", "train"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'dasuite' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
