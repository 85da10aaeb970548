"""dasuite: deep domain adaptation from the command line, and from Python (:mod:`dasuite.api`).

``import dasuite`` stays cheap: :func:`train`, :func:`load_run` and :func:`evaluate` import torch and
Hydra only when called.
"""

__version__ = "0.1.0"

from dasuite.api import Run, evaluate, load_run, train  # noqa: E402 - after __version__, which commands/train.py reads

__all__ = ["Run", "__version__", "evaluate", "load_run", "train"]
