"""RDumb: ETA with a full reset (Press, Schneider, Kümmerer & Bethge, "RDumb: A simple approach that questions our
progress in continual test-time adaptation", NeurIPS 2023, section 4).

ETA's loss (:mod:`~dasuite.methods.eata` with no Fisher penalty: reliable, non-redundant, weighted entropy on the
BatchNorm scales and shifts), and every T = 1000 steps (``reset_every``) the model, its optimizer and the moving
average of probabilities put back to the deployed, pretrained state (oripress/CCC ``models/rdumb.py``: the reset
at ``total_steps % 1000 == 0`` reloads the model and optimizer and sets ``current_model_probs`` to None). Its
E0 is ``log(1000) / 2 - 1``, the old default of EATA's ``eata.py``, i.e. 0.355 · ln 1000: ``entropy_margin``
0.355 (a fraction of ln C here). Recipe (configs/method/rdumb.yaml): ``models/rdumb.py`` SGD, lr 0.00025,
momentum 0.9; ``eval.py`` batch 64.
"""

from __future__ import annotations

from dasuite.methods.eata import EATA


class RDumb(EATA):
    """ETA, reset to the deployed model every ``reset_every`` steps."""

    def __init__(self, backbone, num_classes: int, protocol: str = "online", stream_order: str = "shuffled",
                 label_shift: float | None = None, reset_every: int | None = 1000, norm: str = "batch",
                 entropy_margin: float = 0.355, redundancy_margin: float = 0.05, average_momentum: float = 0.9,
                 fisher_alpha: float = 0.0, fisher_size: int = 2000, fisher_batch: int = 64):
        super().__init__(backbone, num_classes, protocol, stream_order, label_shift, reset_every, norm,
                         entropy_margin, redundancy_margin, average_momentum, fisher_alpha, fisher_size,
                         fisher_batch)
