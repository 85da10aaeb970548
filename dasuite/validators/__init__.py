"""Label-free validators: scores of a model computed without any target label (higher is better).

Each validator is a function of :class:`~dasuite.validators.outputs.Outputs` (the model's logits
and features on labeled source validation and on unlabeled target train samples, and the model on
mixtures of those target samples) returning one float, written to metrics.jsonl as ``val/<name>``
after every evaluation. ``trainer.select=<name>`` keeps the best epoch's weights as
``checkpoints/best.pt`` (:mod:`dasuite.engine.selection`, which also offers EnsV, a selector across
epochs), skipping epochs the collapse guard (:mod:`~dasuite.validators.collapse`) flags.
docs/selection.md explains each one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from threadpoolctl import threadpool_limits

from dasuite.validators.bnm import bnm
from dasuite.validators.class_ami import class_ami
from dasuite.validators.dev import dev
from dasuite.validators.entropy import entropy
from dasuite.validators.im import im
from dasuite.validators.iwcv import iwcv
from dasuite.validators.mixval import mixval
from dasuite.validators.outputs import Outputs
from dasuite.validators.snd import snd
from dasuite.validators.source_acc import source_acc

#: name -> validator; ``val/<name>`` in metrics.jsonl, ``trainer.select=<name>``.
VALIDATORS: dict[str, Callable[[Outputs], float]] = {
    "source_acc": source_acc,
    "iwcv": iwcv,
    "dev": dev,
    "entropy": entropy,
    "im": im,
    "bnm": bnm,
    "class_ami": class_ami,
    "snd": snd,
    "mixval": mixval,
}


#: validators that run the model (``Outputs.probe``) rather than read its outputs
PROBING = frozenset({"mixval"})


def score(outputs: Outputs) -> dict[str, float]:
    """Every validator's score (NaN where a set is too small to compute it).

    BLAS and OpenMP run single-threaded for the validators that read the outputs: on a few thousand
    samples their threads cost more than they save (the first eight took about 0.17 s instead of
    0.45 s on 2,000 × 500 target features on the 2-core development CPU). Those that run the model
    keep the process's threads."""
    if not outputs.usable:
        return dict.fromkeys(VALIDATORS, math.nan)
    with threadpool_limits(1):
        scores = {name: validator(outputs) for name, validator in VALIDATORS.items() if name not in PROBING}
    return {name: scores[name] if name in scores else VALIDATORS[name](outputs) for name in VALIDATORS}


__all__ = ["VALIDATORS", "Outputs", "score"]
