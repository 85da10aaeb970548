"""dasuite from Python (a notebook, a script): train a run, load a finished one, evaluate it.

``train(overrides)`` runs exactly what ``dasuite train OVERRIDES`` runs (the same key checks, Hydra
app and run folder), in this process, and returns the :class:`Run`; ``load_run(folder)`` opens a
finished run folder; ``evaluate(run)`` is ``dasuite eval``. Example (docs/api.md)::

    from dasuite import evaluate, train

    run = train(["dataset=moons", "method=dann", "trainer.epochs=5"], run_dir="runs/notebook")
    run.summary["target_acc"], run.metrics[-1]["val/im"]
    run.predict(x)                       # class probabilities of raw inputs
    evaluate(run)["accuracy"]

Importing this module imports neither torch nor Hydra; each function does, when called.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dasuite.errors import ConfigError
from dasuite.safe_files import is_present, read_text

__all__ = ["Run", "evaluate", "load_run", "train"]


@dataclass
class Run:
    """A run folder of ``dasuite train``: its summary, metrics and model (in eval mode)."""

    folder: Path
    summary: dict
    model: object = field(repr=False)  # dasuite.models.trained.TrainedModel: method, input shape, classes, ...
    trust: bool = False  # what load_run was given: evaluate(run) reads the folder again with the same trust
    trusted_modules: tuple[str, ...] = ()

    @property
    def method(self):
        """The trained :class:`~dasuite.methods.base.Method` (an ``nn.Module``, in eval mode)."""
        return self.model.method

    @property
    def metrics(self) -> list[dict]:
        """metrics.jsonl's records, one per evaluated epoch."""
        from dasuite.engine.run_folder import read_metrics

        return read_metrics(self.folder / "metrics.jsonl")

    def predict(self, x):
        """Class probabilities (N, classes) of raw inputs ``x`` (a tensor shaped as the training inputs),
        preprocessed as in training."""
        import torch

        device = next(self.method.parameters()).device
        return self.model.probabilities(torch.as_tensor(x, dtype=torch.float32).to(device)).cpu()


def train(overrides: list[str] | tuple[str, ...] = (), run_dir: str | Path | None = None,
          trusted_modules: Iterable[str] = ()) -> Run:
    """Train one run as ``dasuite train *overrides`` does, into ``run_dir`` (default: runs/<date>/<time>
    under the working directory); returns the finished :class:`Run`, loaded trusting the modules of the
    ``_target_``s ``overrides`` name and ``trusted_modules`` (:func:`load_run`). A config error raises
    :class:`~dasuite.errors.ConfigError`; a run that fails raises RuntimeError naming its folder."""
    import dasuite.commands.train as command
    from dasuite.config.options import parse_trusted_modules
    from dasuite.engine.admission import named_modules

    modules = parse_trusted_modules(trusted_modules)
    args = [str(a) for a in overrides]
    if any(a in ("-m", "--multirun") or a.startswith("resume=") for a in args):
        raise ConfigError("train() trains one new run: leave out -m/--multirun and resume= (use the dasuite train "
                          "command for sweeps and resumes).")
    if run_dir is not None:
        args.append(f"hydra.run.dir={Path(run_dir).expanduser().resolve()}")
    code, outcome = _run_command(command, args)
    if code == 2 or not outcome.jobs:
        raise ConfigError(outcome.error or f"dasuite train {' '.join(args)} did not start a run.")
    folder = Path(outcome.jobs[-1])
    summary = json.loads(read_text(folder / "summary.json"))
    if summary.get("status") != "completed":
        kind = ConfigError if summary.get("error_type") == "ConfigError" else RuntimeError
        raise kind(f"the run in {folder} {summary.get('status')}: {summary.get('error')}")
    return load_run(folder, trusted_modules=modules + named_modules(args))


def _run_command(command, args: list[str]):
    """``dasuite train ARGS`` in this process: its exit status and its :class:`~dasuite.commands.train.Command`.
    Hydra's own errors (a malformed override, a bad interpolation in its config) raise ConfigError with
    Hydra's message instead of printing it and exiting the process."""
    import os

    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    argv, full_error = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises its error instead of printing it and calling sys.exit
    try:
        code = command.run_train(args)
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(f"dasuite train {' '.join(args)}: {' '.join(str(error).split())}") from None
    except SystemExit as exit:  # Hydra's argument parser: its usage message is on stderr
        raise ConfigError(f"dasuite train {' '.join(args)}: Hydra rejected the command line (exit status "
                          f"{exit.code}; its message is above).") from None
    finally:
        sys.argv = argv
        if full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = full_error
    return code, command.CURRENT


def load_run(folder: str | Path, checkpoint: str = "last", device: str = "cpu", trust: bool = False,
             trusted_modules: Iterable[str] = ()) -> Run:
    """The run in ``folder`` with the model of ``checkpoints/<checkpoint>.pt`` (last, or best: the
    label-free pick); ``trust``: as ``trust_checkpoint=true`` (files from a trusted source only);
    ``trusted_modules``: modules of yours whose classes the run's config may name (a callback, backbone or
    method), e.g. ``["mypkg"]``; nothing else the folder names is imported."""
    from dasuite.config.options import parse_trusted_modules
    from dasuite.engine.trainer import resolve_device
    from dasuite.assembly.trained import load_trained

    folder, modules = Path(folder).expanduser(), parse_trusted_modules(trusted_modules)
    model = load_trained(folder, checkpoint, resolve_device(device, key="device"), trust=trust,
                         trusted_modules=modules)
    summary_file = folder / "summary.json"
    summary = json.loads(read_text(summary_file)) if is_present(summary_file) else {}
    return Run(folder, summary, model, trust, modules)


def evaluate(run: Run | str | Path, dataset: str | None = None, checkpoint: str = "last", device: str = "auto",
             trusted_modules: Iterable[str] = (), **settings) -> dict:
    """``dasuite eval``: accuracy, per-class accuracy and confusion matrix of the run's model on its own
    target test set, or on pair ``dataset``'s (``settings``: that pair's keys, e.g. ``channels=1``);
    also written to the run's ``eval/`` folder. ``trusted_modules``: as :func:`load_run`'s (a :class:`Run`
    is read again with the trust it was loaded with, and these modules besides)."""
    from dasuite.commands.eval import evaluate_run
    from dasuite.config.options import parse_trusted_modules

    modules, trust = parse_trusted_modules(trusted_modules), False
    if isinstance(run, Run):
        modules, trust = run.trusted_modules + modules, run.trust
    folder = run.folder if isinstance(run, Run) else Path(run)
    _, result = evaluate_run(folder, dataset=dataset, checkpoint=checkpoint, device=device,
                             settings=[f"dataset.{key}={value}" for key, value in settings.items()],
                             trust_checkpoint=trust, trusted_modules=modules)
    return result
