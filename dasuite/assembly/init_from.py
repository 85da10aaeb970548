"""Start from any run: ``init_from=<run_dir>`` (with ``init_checkpoint=last|best``) gives a new run's backbone
(with its bottleneck) and classifier head the weights another run trained, before the method's first stage: the
modules the method declares on its predicting path (:attr:`~dasuite.methods.base.Method.predicting`).

A source-only run trained once can then start a SHOT target stage, a fine-tune or CDTrans. The other modules of
the method (a domain discriminator, a second head) start fresh, and so do the optimizers: this is an
initialisation, not a resume. The checkpoint is read as every checkpoint is (``weights_only``: nothing in it runs
code); a checkpoint of other classes, another architecture or another input is refused with one paragraph.
"""

from __future__ import annotations

from pathlib import Path

import torch

from dasuite.errors import ConfigError

def init_weights(method: torch.nn.Module, run_dir, checkpoint: str, class_names: list[str]) -> dict:
    """Load ``run_dir``'s ``checkpoints/<checkpoint>.pt`` backbone and head weights into ``method``, whose pair has
    ``class_names``; returns what the run records of it (``init_from`` in summary.json)."""
    from dasuite.engine.checkpoint import read_checkpoint
    from dasuite.models.trained import checkpoint_path

    if checkpoint not in ("last", "best"):
        raise ConfigError(f"init_checkpoint={checkpoint!r} is not one of last, best (the label-free pick).")
    folder = Path(str(run_dir)).expanduser()
    path = checkpoint_path(folder, checkpoint)
    state = read_checkpoint(path, "initialise from")
    saved = state.get("model")
    if not isinstance(saved, dict):
        raise ConfigError(f"init_from={folder}: {path} holds no model weights; it is not a dasuite checkpoint.")
    classes = (state.get("model_input") or {}).get("class_names")
    if classes is not None and list(classes) != list(class_names):
        raise ConfigError(f"init_from={folder}: that run classifies {_shown(classes)}, this one {_shown(class_names)}; "
                          "a head trained on other classes cannot start this run. Give a run trained on the same "
                          "classes, in the same order.")
    wanted = {k: v for k, v in method.state_dict().items() if k.split(".", 1)[0] in method.predicting}
    missing = [k for k in wanted if k not in saved]
    wrong = [f"{k} {tuple(saved[k].shape)} (here: {tuple(v.shape)})" for k, v in wanted.items()
             if k in saved and isinstance(saved[k], torch.Tensor) and saved[k].shape != v.shape]
    if missing or wrong:
        parts = [f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
                 for label, keys in (("missing there", missing), ("other shapes", wrong)) if keys]
        backbone = ((state.get("config") or {}).get("backbone") or {})
        theirs = ", ".join(f"backbone.{k}={v}" for k, v in backbone.items() if k != "_target_") or "not stored"
        raise ConfigError(f"init_from={folder}: the backbone and head of {path} do not fit this run's model "
                          f"({'; '.join(parts)}). Start from a run with the same backbone (and bottleneck) and input "
                          f"size, or build this one as that run's was ({theirs}).")
    method.load_state_dict({k: saved[k] for k in wanted}, strict=False)
    return {"run_dir": str(folder.resolve()), "checkpoint": checkpoint, "epoch": state.get("epoch")}


def _shown(names) -> str:
    names = list(names)
    return f"{len(names)} classes ({', '.join(map(str, names[:5]))}{' ...' if len(names) > 5 else ''})"
