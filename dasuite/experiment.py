"""One experiment from plain Python objects: a :class:`~dasuite.methods.base.Method`, a
:class:`~dasuite.data.pair.DomainPair` and a :class:`~dasuite.engine.trainer.Trainer`, trained into a run folder.

:func:`fit` is the objects-first entry (``from dasuite import fit``): it takes a new or empty folder, trains, and
writes the same files as ``dasuite train`` (metrics.jsonl, summary.json, checkpoints/). :func:`train_run` is the
part both share: ``dasuite train`` builds the objects from its config (:mod:`dasuite.assembly`), then calls it.
Nothing here reads a config or touches process-global state beyond the RNG seeding a caller asks for.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from pathlib import Path

from dasuite import __version__
from dasuite.errors import ConfigError

log = logging.getLogger("dasuite")


def fit(method, data, trainer=None, *, run_dir=None, seed: int = 0, init_from=None, init_checkpoint: str = "last",
        logger=None):
    """Train ``method`` (a :class:`~dasuite.methods.base.Method`, e.g. one you wrote) on ``data`` (a
    :class:`~dasuite.data.pair.DomainPair`, e.g. from :func:`~dasuite.data.pair.pair_from_tensors`) with
    ``trainer`` (default: ``Trainer()``), into ``run_dir`` (default: runs/<date>/<time>; it must be new or empty).

    ``seed`` seeds the samplers (seed the model's initialisation yourself, before building it:
    :func:`seed_everything`). ``init_from``: a run folder whose ``init_checkpoint`` (last or best) gives the
    backbone and head their starting weights (:func:`dasuite.assembly.init_from.init_weights`). ``logger``: a
    :class:`~dasuite.loggers.base.Logger` (default: metrics.jsonl only). Returns the :class:`~dasuite.run.Run`;
    a failed run raises its error after writing its summary.json."""
    from dasuite.engine.run_folder import RunFolder, exclusive
    from dasuite.engine.trainer import Trainer
    from dasuite.loggers.base import Logger
    from dasuite.models.trained import TrainedModel
    from dasuite.run import Run

    trainer = Trainer() if trainer is None else trainer
    folder = new_folder(run_dir)
    meta = {"dataset": type(data).__name__, "method": type(method).__name__,
            "backbone": type(method.backbone).__name__, "overrides": [], "run_dir": str(folder),
            "dasuite_version": __version__, "seed": check_seed(seed)}
    if init_from is not None:  # before the folder is made: a run that does not fit leaves nothing behind
        from dasuite.assembly.init_from import init_weights

        meta["init_from"] = init_weights(method, init_from, init_checkpoint, data.class_names)
    with exclusive(folder):
        run = RunFolder(folder)
        run.logger = logger if logger is not None else Logger(folder, None)
        summary = guarded(run, meta, lambda: train_run(method, data, trainer, run, seed, meta))
    print_result(summary)
    method.eval()
    model = TrainedModel(method=method, input_shape=tuple(data.input_shape), class_names=list(data.class_names),
                         preprocess=data.preprocess, preprocess_config=data.model_input()["preprocess"], config=None,
                         checkpoint=run.checkpoints / "last.pt", epoch=summary["epochs"],
                         feature_names=data.feature_names)
    return Run(folder, summary, model)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (model initialisation, dropout), as ``dasuite
    train`` does before it builds the model."""
    import random

    import numpy as np
    import torch

    check_seed(seed)
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def check_seed(seed) -> int:
    """``seed``, or a ConfigError when it is not one Python, numpy and torch all take."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2 ** 32:
        raise ConfigError(f"seed={seed!r} is not a valid seed: give an integer from 0 to {2 ** 32 - 1} (it seeds "
                          "torch, numpy and Python's random, and numpy takes only those).")
    return seed


def new_folder(run_dir) -> Path:
    """The folder a new run from Python writes: ``run_dir`` (default runs/<date>/<time>), which must not exist,
    be empty or hold only a lock file; checked for planted links, pipes and devices."""
    from dasuite.folder_admission import refusal, snapshot
    from dasuite.engine.run_folder import check_folder

    now = dt.datetime.now()
    folder = Path(run_dir).expanduser() if run_dir is not None else \
        Path("runs") / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")
    folder = folder.resolve()
    problem = refusal("run_dir", folder, snapshot(folder))
    if problem is not None:
        raise ConfigError(problem)
    check_folder(folder)
    return folder


def guarded(run, meta: dict, train) -> dict:
    """``train()``'s summary written to the run folder; a failure's ("failed", or "interrupted" on Ctrl-C)
    written before its error is raised again."""
    started, wall = dt.datetime.now().astimezone(), time.perf_counter()
    try:
        summary = train()
    except BaseException as error:
        status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        run.write_summary({"status": status, **meta, "error_type": type(error).__name__, "error": str(error),
                           "started_at": started.isoformat(), "duration_s": time.perf_counter() - wall})
        raise
    summary.update(started_at=started.isoformat(), finished_at=dt.datetime.now().astimezone().isoformat(),
                   duration_s=time.perf_counter() - wall)
    run.write_summary(summary)
    return summary


def train_run(method, pair, trainer, run, seed: int, meta: dict, checkpoint: dict | None = None, ready=None,
              config: dict | None = None) -> dict:
    """Fit ``method`` on ``pair`` into ``run`` (from ``checkpoint`` when resuming; ``ready``: called once it has
    loaded) and return the run's summary fields. ``config``: the resolved config stored in checkpoints, from which
    ``dasuite predict``, ``export`` and :func:`~dasuite.api.load_run` rebuild the model (None for a model built in
    Python: its weights are there, its class is yours)."""
    from dasuite.engine.distributed import is_main
    from dasuite.engine.evaluate import summary_fields
    from dasuite.safe_files import is_present, write_atomic

    weight = method.adaptation_weight
    meta["trade_off"] = None if weight is None else getattr(method, weight)  # λ, as the method declares it
    labels_file = run.path / "target_labels.json"  # a resumed run's is there already, the same
    if pair.target_labeled_index is not None and is_main() and not is_present(labels_file):
        write_atomic(labels_file, json.dumps(pair.labeled_target_record(), indent=1) + "\n", within=run.path)
    log.info("%s on %s with %s: %d source train, %d source val, %d target train, %d target test, device %s",
             meta["method"], meta["dataset"], meta["backbone"], len(pair.source_train), len(pair.source_val),
             len(pair.target_train), len(pair.target_test), trainer.device)
    result = trainer.fit(method, pair, run, seed, resume=checkpoint, ready=ready,
                         checkpoint_extra={"config": config, "meta": meta, "model_input": pair.model_input()})
    return {
        "status": "completed", **meta,
        **summary_fields(result.final),
        "epochs": result.epochs, "steps": result.steps, "train_seconds": result.train_seconds,
        "samples_per_second": result.samples_per_second, "device": str(trainer.device), **trainer.in_effect,
        **result.selection,
        **result.fields,
        **_peak_memory(trainer.device),
    }


def result_lines(summary: dict) -> str:
    """The lines a finished run ends with: its folder, the last iterate's accuracies, and the label-free pick
    (checkpoints/best.pt: its epoch, selector and target accuracy), the two figures a user keeps."""
    lines = [f"Run folder: {summary['run_dir']}",
             f"last iterate (epoch {summary['epochs']}, checkpoints/last.pt): source accuracy "
             f"{_percent(summary.get('source_acc'))} | target accuracy {_percent(summary.get('target_acc'))} "
             f"({summary['train_seconds']:.1f} s training)"]
    if summary.get("best_epoch") is not None:
        lines.append(f"label-free pick (epoch {summary['best_epoch']} by {summary.get('select')}, "
                     f"checkpoints/best.pt): target accuracy {_percent(summary.get('best_target_acc'))}")
    elif summary.get("select"):
        lines.append(f"label-free pick: none ({summary.get('select')} picked no epoch)")
    return "\n".join(lines)


def print_result(summary: dict) -> None:
    """:func:`result_lines` on the console (rank 0 only)."""
    from dasuite.engine.callbacks.progress import write_line
    from dasuite.engine.distributed import is_main

    if is_main():
        write_line(result_lines(summary))


def _percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{100 * fraction:.2f}%"


def _peak_memory(device) -> dict[str, float]:
    """Peak resident memory of this process (and of the CUDA device), in MiB."""
    import torch

    peak = {}
    try:
        import resource
    except ImportError:  # Windows has no getrusage
        pass
    else:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        peak["peak_memory_mb"] = rss / (2 ** 20 if sys.platform == "darwin" else 1024)
    if device.type == "cuda":
        peak["peak_cuda_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    return peak
