"""A trained run's model as ``dasuite predict``, ``export``, ``eval`` and :func:`dasuite.load_run` use it, and
where its checkpoints lie. :func:`dasuite.assembly.trained.load_trained` rebuilds it from a run folder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from dasuite.errors import ConfigError
from dasuite.safe_files import is_present, open_read

CHECKPOINTS = ("last", "best")


@dataclass
class TrainedModel:
    """A run's method in eval mode, and what its inputs must look like."""

    method: torch.nn.Module
    input_shape: tuple[int, ...]
    class_names: list[str]
    preprocess: Callable | None  # raw batch -> model input; None: inputs are used as they are
    preprocess_config: dict | None
    config: DictConfig
    checkpoint: Path
    epoch: int
    feature_names: list[str] | None = None  # a .csv-trained model's feature columns, in its order
    image_loading: dict | None = None  # image models: size, squash, crop (:meth:`DomainPair.image_loading`)

    @property
    def takes_images(self) -> bool:
        return len(self.input_shape) == 3

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.preprocess is None else self.preprocess(x, False)

    @torch.inference_mode()
    def probabilities(self, raw: torch.Tensor) -> torch.Tensor:
        return self.method.predict(self.prepare(raw)).float().softmax(1)


class RawInputModel(torch.nn.Module):
    """A trained model on raw inputs: the pair's normalisation, then ``method.predict`` (what export writes)."""

    def __init__(self, model: TrainedModel):
        super().__init__()
        self.method = model.method
        self.normalise = model.preprocess

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalise is not None:
            x = self.normalise(x, False)
        return self.method.predict(x)


def checkpoint_path(run_dir: Path, checkpoint: str) -> Path:
    """``run_dir/checkpoints/<checkpoint>.pt``, or a ConfigError that says what is wrong."""
    if checkpoint not in CHECKPOINTS:
        raise ConfigError(f"checkpoint={checkpoint!r} is not one of {', '.join(CHECKPOINTS)}.")
    if not run_dir.is_dir():
        raise ConfigError(f"run_dir={run_dir} is not a folder; give a run folder of `dasuite train` "
                          "(runs/<date>/<time>, or multirun/<date>/<time>/<job>).")
    path = run_dir / "checkpoints" / f"{checkpoint}.pt"
    if is_present(path):  # a pipe or device there is refused, naming it
        return path
    if checkpoint == "best":
        raise ConfigError(f"run_dir={run_dir} has no checkpoints/best.pt (the epoch trainer.select picks): the run "
                          "stopped before an epoch of its last stage ended, or an older dasuite trained it. Use "
                          "checkpoint=last, the last epoch's model.")
    jobs = sorted(p.parent.parent.name for p in run_dir.glob("*/checkpoints/last.pt"))
    hint = (f"it holds run folders; pass one of them: {', '.join(jobs[:10])}" if jobs else
            "the run failed or was stopped before its first epoch ended (see its summary.json)"
            if (run_dir / "summary.json").is_file() else
            "is it a run folder of `dasuite train`? Those hold .hydra/, summary.json and checkpoints/")
    raise ConfigError(f"run_dir={run_dir} has no checkpoint (checkpoints/last.pt): {hint}.")
