"""dasuite: deep domain adaptation from the command line, and from Python (:mod:`dasuite.api`).

``fit(method, data, trainer)`` trains objects you built; ``train([...])`` what ``dasuite train`` would. ``import
dasuite`` stays cheap: :func:`fit`, :func:`train`, :func:`load_run` and :func:`evaluate` import torch and Hydra
only when called.
"""

__version__ = "0.1.0"

from dasuite.api import Run, evaluate, fit, load_run, seed_everything, train  # noqa: E402 - after __version__

__all__ = ["Run", "__version__", "evaluate", "fit", "load_run", "seed_everything", "train"]
