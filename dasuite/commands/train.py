"""``dasuite train``: the Hydra application. Each Hydra job is one run with its own run folder.

``dasuite train resume=DIR`` relaunches a run or sweep in its own folder (:mod:`dasuite.commands.resume`);
each job then continues from its checkpoint, or is skipped when its summary says "completed".
``trust_checkpoint=true`` (with ``resume=`` only) reads a checkpoint that holds arbitrary Python objects
and builds components its saved config names beyond dasuite's own; ``trusted_modules=[mypkg]`` (with
``resume=`` only) admits the classes of the modules it names (:mod:`dasuite.engine.admission`).

One process writes a run folder at a time (:func:`~dasuite.engine.run_folder.exclusive`): the folder
``hydra.run.dir`` (or, with ``-m``, ``hydra.sweep.dir``) names is locked before Hydra writes into it,
and each job's folder while the job runs; a folder another live process holds is left untouched.

A run that never started (a bad config value, an absent CUDA device, missing data files: a ConfigError
before the first metrics line or checkpoint) leaves no run folder and no summary.json; the command
exits with 2, as for a misspelled key. A run that failed after starting keeps its files and a
"failed" summary.json, and the command exits with 1.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf

from dasuite import __version__
from dasuite.config.catalog import check_choices, config_dir, preset_keys
from dasuite.config.sweeps import register_resolver
from dasuite.errors import ConfigError
from dasuite.safe_files import UnsafeFile, check_folder_writable, is_present, read_text, write_atomic

log = logging.getLogger("dasuite")
register_resolver()  # ${dasuite.study:...}: the Optuna study in the sweep folder

#: Hydra's own command-line options that compose no run: the key checks and the run-folder lock skip them.
NO_RUN = ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc")


@dataclass
class Command:
    """What one ``dasuite train`` command has done so far. Hydra calls the app once per job, so the command's
    state lives here (a multirun carries on past a failed job and reports them all at the end), and so does its
    outcome (``code``, ``jobs``, the first ``error``), which :func:`dasuite.api.train` reads."""

    resuming: bool = False  # ``resume=DIR``: jobs continue from their checkpoints
    trusting: bool = False  # ``resume=DIR trust_checkpoint=true``
    trusted_modules: tuple[str, ...] = ()  # ``resume=DIR trusted_modules=[...]``
    jobs: list[str] = field(default_factory=list)  # run folders of the jobs run
    failed: list[str] = field(default_factory=list)  # ... of those that failed after starting
    config_errors: list[str] = field(default_factory=list)  # ... of those that never started for a config error
    unstarted: list[str] = field(default_factory=list)  # ... of those, folders made for the job: removed after it
    existing: set[Path] = field(default_factory=set)  # folders that existed before (hydra.run.dir=...): kept
    sweeps: list[str] = field(default_factory=list)  # the multirun's sweep folder (removed when no job started)
    code: int | None = None  # the command's exit status, once it has ended
    error: str | None = None  # the first error it reported (a config error, a busy folder)

    def fail(self, message: str, printed: bool = True) -> None:
        """Report an error (on stderr unless ``printed`` elsewhere, e.g. by the log); the first is kept."""
        if printed:
            print(f"dasuite train: error: {message}", file=sys.stderr)
        self.error = self.error or message

    def end(self, code: int) -> int:
        self.code = code
        return code


#: The command this process runs (reset by :func:`run_train`).
CURRENT = Command()


def run_train(args: list[str]) -> int:
    """Entry point of ``dasuite train ARGS``: check group names, then hand over to Hydra."""
    from dasuite.commands.resume import resume_arguments
    from dasuite.config.options import parse_flag, parse_trusted_modules
    from dasuite.config.override_keys import check_keys
    from dasuite.config.plugins import check_plugins
    from dasuite.config.sweeps import check_search_space

    from dasuite.commands.completion import is_completion, prepare_hydra

    global CURRENT
    CURRENT = now = Command()
    if is_completion(args):  # Hydra answers: no key checks, no run folder
        code = prepare_hydra(args)
        if code is not None:
            return now.end(code)
    trust = [a for a in args if a.startswith("trust_checkpoint=")]
    modules = [a for a in args if a.startswith("trusted_modules=")]
    args = [a for a in args if a not in trust and a not in modules]
    custom_search_path = any(a.startswith(("hydra.searchpath", "--config-dir", "-cd")) for a in args)
    try:
        trusted = any(parse_flag("trust_checkpoint", a.split("=", 1)[1]) for a in trust)
        named = tuple(m for a in modules for m in parse_trusted_modules(a.split("=", 1)[1]))
        check_plugins(args)
        check_search_space(args)
        resumed = resume_arguments(args, named, trusted)
        if trusted and resumed is None:
            raise ConfigError("trust_checkpoint=true goes with resume=DIR only: a new run reads no checkpoint.")
        if modules and resumed is None:
            raise ConfigError("trusted_modules goes with resume=DIR only: a new run builds what its own command line "
                              "names, and reads no run folder's config.")
        if resumed is None and not custom_search_path and not any(a in NO_RUN for a in args):
            overrides = [a for a in args if "=" in a and not a.startswith("-")]
            check_choices(overrides)
            check_keys(overrides)
    except ConfigError as error:
        now.fail(str(error))
        return now.end(2)
    from dasuite.engine.distributed import is_main, launch_arguments, shutdown
    from dasuite.engine.run_folder import RunFolderBusy, exclusive

    sys.argv = [sys.argv[0] if is_completion(args) else "dasuite train",
                *launch_arguments(args if resumed is None else resumed)]
    folder = _output_folder(sys.argv[1:]) if is_main() else None
    now.resuming, now.trusting, now.trusted_modules = resumed is not None, trusted, named
    now.existing = {p.resolve() for p in (folder, Path.cwd()) if p is not None and p.exists()}
    try:
        sweep = any(a in ("-m", "--multirun") for a in sys.argv)
        if folder is not None:
            _check_output_folder(folder, sweep)
        elif is_main() and not any(a in NO_RUN or a.startswith(("hydra.run.dir=", "hydra.sweep.dir="))
                                   for a in sys.argv):  # the default runs/ or multirun/ here: writable?
            base = Path("multirun" if sweep else "runs")
            check_folder_writable(base if base.is_dir() else Path.cwd(),
                                  f" (hydra.{'sweep' if sweep else 'run'}.dir=DIR names the folder to write.)")
        with exclusive(folder) if folder is not None else contextlib.nullcontext():
            _hydra_app()
    except (RunFolderBusy, UnsafeFile) as busy:
        now.fail(str(busy))
        return now.end(2)
    finally:
        now.resuming = now.trusting = False
        now.trusted_modules = ()
        shutdown()
    if len(now.jobs) > 1 and now.failed:
        print(f"dasuite train: {len(now.failed)} run(s) failed; see summary.json and train.log in: "
              + ", ".join(now.failed), file=sys.stderr)
    if len(now.jobs) > 1 and now.config_errors:
        print(f"dasuite train: {len(now.config_errors)} job(s) did not start for a config error (above); no run folder "
              "was kept for them", file=sys.stderr)
    if now.sweeps and now.jobs and len(now.unstarted) == len(now.jobs) \
            and _holds_only_hydra_files(Path(now.sweeps[0]), "multirun.yaml"):
        _remove_unstarted(Path(now.sweeps[0]))
    return now.end(1 if now.failed else 2 if now.config_errors else 0)


def _output_folder(args: list[str]) -> Path | None:
    """The folder Hydra writes, when the arguments name it: ``hydra.sweep.dir`` with -m, else ``hydra.run.dir``
    (None for --help, --cfg, --info and --shell-completion, which write nothing)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    key = "hydra.sweep.dir" if any(a in ("-m", "--multirun") for a in args) else "hydra.run.dir"
    named = [a for a in args if a.startswith(f"{key}=")]
    if any(a in NO_RUN for a in args):
        return None
    try:
        value = OverridesParser.create().parse_override(named[-1]).value() if named else None
    except Exception:  # noqa: BLE001 - a malformed value: Hydra reports it
        return None
    return Path(value) if isinstance(value, str) and "${" not in value else None


def _check_output_folder(folder: Path, sweep: bool) -> None:
    """Refuse a link, pipe or device where this command or Hydra will write (the run folder's files; a sweep's
    multirun.yaml and its job folders), before anything is written (:func:`dasuite.engine.run_folder.check_folder`)."""
    import os

    from dasuite.engine.run_folder import check_folder
    from dasuite.safe_files import refuse_write, what_is

    check_folder(folder)
    if not sweep or not folder.is_dir():
        return
    what = what_is(folder / "multirun.yaml")
    if what is not None:
        raise refuse_write(folder / "multirun.yaml", what)
    for job in folder.iterdir():
        if job.is_symlink() and job.is_dir():  # a job folder elsewhere: Hydra would write there
            raise refuse_write(job, what_is(job))
        if os.path.lexists(job / ".hydra"):
            check_folder(job)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def _hydra_app(cfg: DictConfig) -> float:
    """One job; returns the objective a sweeper (``hydra/sweeper=optuna``) maximises: the run's
    ``best_value``, the value of ``val/<trainer.select>`` at the epoch it picked (NaN for a run without
    one, e.g. a failed run: Optuna records that trial as failed and goes on)."""
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    if hydra_cfg.mode == RunMode.MULTIRUN and not CURRENT.sweeps:
        CURRENT.sweeps.append(str(Path(hydra_cfg.sweep.dir).resolve()))
    summary = run_experiment(cfg, run_dir, hydra_cfg.runtime.choices, hydra_cfg.overrides.task,
                             resume=CURRENT.resuming, trust_checkpoint=CURRENT.trusting,
                             trusted_modules=CURRENT.trusted_modules)
    if str(run_dir) in CURRENT.unstarted:
        _remove_unstarted(run_dir)
    value = summary.get("best_value")
    return float("nan") if value is None else float(value)


def _remove_unstarted(folder: Path) -> None:
    """Remove the folder of a run that never started (everything in it was written for it), and its parents left
    empty, below the working directory; a folder that existed before the command is emptied, not removed."""
    import shutil

    folder = folder.resolve()
    cwd = Path.cwd().resolve()
    if folder == cwd or folder in cwd.parents or not folder.is_dir():
        return
    try:
        if folder in CURRENT.existing:
            for entry in folder.iterdir():
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            return
        shutil.rmtree(folder)
    except OSError:  # a file still open elsewhere (Windows): the error above said what went wrong
        return
    folder = folder.parent
    while folder not in CURRENT.existing and cwd in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty: another run's folder, or the user's files
            return
        folder = folder.parent


def run_experiment(cfg: DictConfig, run_dir: Path, choices, overrides, resume: bool = False,
                   trust_checkpoint: bool = False, trusted_modules: tuple[str, ...] = ()) -> dict:
    """Build the pair, model, method and trainer from ``cfg``, train, and write summary.json.

    Any error once training started ends in a summary.json with status "failed" (or "interrupted" on
    Ctrl-C/SIGTERM) and never removes files written before it; a ConfigError before it started writes no
    summary (the Hydra app then removes the job's folder, when it was made for the job). With ``resume``,
    training continues from ``checkpoints/last.pt`` when there is one, and a completed run is left as it is; the
    ``_target_``s of its config and checkpoint are admitted first (``trust_checkpoint``, ``trusted_modules``:
    :mod:`dasuite.engine.admission`).
    A run folder that another live process writes is not touched: the returned summary says "busy" and is
    not written.
    """
    from dasuite.engine.distributed import is_main
    from dasuite.engine.run_folder import RunFolderBusy, check_folder, exclusive

    try:
        if is_main():
            check_folder(run_dir)  # a link, pipe or device planted where the run writes or reads
        with exclusive(run_dir) if is_main() else contextlib.nullcontext():
            return _run_experiment(cfg, run_dir, choices, overrides, resume, trust_checkpoint, trusted_modules)
    except RunFolderBusy as busy:
        CURRENT.fail(str(busy))
        CURRENT.failed.append(str(run_dir))
        return {"status": "busy", "error": str(busy)}
    except UnsafeFile as unsafe:  # nothing was written: a config error of the folder, not a failed run
        CURRENT.fail(str(unsafe))
        CURRENT.config_errors.append(str(run_dir))
        return {"status": "refused", "error_type": "ConfigError", "error": str(unsafe)}


def _run_experiment(cfg: DictConfig, run_dir: Path, choices, overrides, resume: bool, trust_checkpoint: bool,
                    trusted_modules: tuple[str, ...]) -> dict:
    from dasuite.engine.callbacks.progress import write_line
    from dasuite.engine.distributed import is_main, run_folder

    run = run_folder(run_dir)  # rank 0's under torchrun; the other ranks only read it
    CURRENT.jobs.append(str(run_dir))
    previous = _read_summary(run) if resume else None
    fresh, written = _holds_only_hydra_files(run.path), _written(run)
    started = dt.datetime.now().astimezone()
    wall = time.perf_counter()
    meta = {"dataset": choices.get("dataset"), "method": choices.get("method"),
            "backbone": choices.get("backbone"), "overrides": [], "run_dir": str(run_dir),
            "dasuite_version": __version__}
    try:
        meta["overrides"] = _as_typed(overrides)
        typed = {o.split("=", 1)[0].lstrip("+~") for o in meta["overrides"]}
        presets = preset_keys(choices) - typed  # a key the user typed is checked, never dropped
        _check_interpolations(cfg)
        meta.update(seed=cfg.get("seed"), trade_off=cfg.method.get("trade_off"),
                    target_labels_per_class=cfg.dataset.get("target_labels_per_class", 0))
        if resume:
            from dasuite.engine.admission import check_targets

            check_targets(OmegaConf.to_container(cfg), f"the saved config of {run_dir} (.hydra/overrides.yaml)",
                          trusted_modules, trust_checkpoint)
        checkpoint = _load_checkpoint(run, meta, trust_checkpoint) if resume else None
        if checkpoint is not None:  # its config is compared with the run's (and its method's signature read)
            check_targets(checkpoint.get("config"), f"the config stored with {run.checkpoints / 'last.pt'}",
                          trusted_modules, trust_checkpoint)
        # completed, and last.pt is that completed run's (an extension killed or failed later leaves the
        # summary "completed" but last.pt further on, with the extension's trainer.epochs)
        if checkpoint is not None and previous and previous.get("status") == "completed" \
                and checkpoint["epoch"] == previous.get("epochs") \
                and (checkpoint.get("config") or {}).get("trainer", {}).get("epochs") == cfg.trainer.epochs:
            write_line(f"Run folder: {run_dir}\nalready completed ({previous.get('epochs')} epochs); skipped")
            return previous
        if resume and checkpoint is None and previous and previous.get("status") == "completed":
            # without last.pt there is nothing to continue from: starting over would empty metrics.jsonl
            write_line(f"Run folder: {run_dir}\nalready completed ({previous.get('epochs')} epochs); skipped (it has "
                       "no checkpoints/last.pt, so it cannot be extended: start a new run for more epochs)")
            return previous
        if resume:
            _prepare_resume(cfg, run, checkpoint, presets)
        summary = _train(cfg, run, meta, presets, checkpoint)
        summary.update(started_at=started.isoformat(), finished_at=dt.datetime.now().astimezone().isoformat(),
                       duration_s=time.perf_counter() - wall)
        run.write_summary(summary)
    except KeyboardInterrupt as error:
        # a completed run keeps its summary unless training itself stopped (TrainingInterrupted: a newer last.pt)
        if not (previous and previous.get("status") == "completed" and not hasattr(error, "signal_name")):
            _write_failure(run, {"status": "interrupted", **meta, **_stop_fields(error, run),
                                 "started_at": started.isoformat()})
        raise
    except Exception as error:  # noqa: BLE001 - every failure of a started run must leave a summary
        cause = _root_cause(error)
        kind = "ConfigError" if isinstance(cause, ConfigError) else type(cause).__name__  # its kinds too
        summary = {"status": "failed", **meta, "error_type": kind, "error": str(cause),
                   **getattr(cause, "fields", {}),
                   "started_at": started.isoformat(), "duration_s": time.perf_counter() - wall}
        if isinstance(cause, ConfigError) and not resume and _written(run) == written:  # never started
            log.error("error: %s", cause)
            CURRENT.fail(str(cause), printed=False)
            _close_logger(run)
            CURRENT.config_errors.append(str(run_dir))
            if fresh and is_main():
                CURRENT.unstarted.append(str(run_dir))
            return summary
        if not (previous and previous.get("status") == "completed"):  # a finished run keeps its summary
            _write_failure(run, summary)
        if isinstance(cause, ConfigError):
            log.error("error: %s", cause)
            CURRENT.fail(str(cause), printed=False)
        else:
            log.info("traceback of the failure:", exc_info=error)
            log.error("run failed: %s: %s (full traceback in %s)", type(cause).__name__, cause,
                      run_dir / "train.log")
        CURRENT.failed.append(str(run_dir))
        return summary
    if is_main():
        write_line(f"Run folder: {run_dir}\n"
                   f"source accuracy {_percent(summary['source_acc'])} | "
                   f"target accuracy {_percent(summary['target_acc'])}"
                   f" (last epoch of {summary['epochs']}, {summary['train_seconds']:.1f} s training)")
    return summary


def _check_interpolations(cfg: DictConfig) -> None:
    """A ConfigError naming the key whose ``${...}`` does not resolve (before anything is built)."""
    from omegaconf.errors import InterpolationResolutionError

    try:
        OmegaConf.to_container(cfg, resolve=True)
    except InterpolationResolutionError as error:
        raise ConfigError(f"{error.full_key or 'a config value'}: {str(error).splitlines()[0]}. An interpolation "
                          "${...} must name a key of the config (e.g. ${trainer.epochs}) or a registered "
                          "resolver.") from None


def _as_typed(overrides) -> list[str]:
    """The overrides as typed: Hydra's list (a ListConfig) read without resolving the ``${...}`` in them."""
    if isinstance(overrides, ListConfig):
        return [str(o) for o in OmegaConf.to_container(overrides, resolve=False)]
    return [str(o) for o in overrides]


def _holds_only_hydra_files(folder: Path, *more: str) -> bool:
    """Whether ``folder`` holds nothing but what Hydra writes before a job (``.hydra/``, the job's log, and
    ``more``) and the lock."""
    from dasuite.engine.run_folder import LOCK_FILE

    return all(p.name in (".hydra", LOCK_FILE, *more) or p.suffix == ".log" for p in folder.iterdir())


def _written(run) -> tuple[int, int]:
    """What training has written so far: metrics.jsonl's size and last.pt's modification time (-1: none)."""
    def stat(path: Path, field: str) -> int:
        try:
            return getattr(path.stat(), field)
        except OSError:
            return -1

    return stat(run.metrics_file, "st_size"), stat(run.checkpoints / "last.pt", "st_mtime_ns")


def _close_logger(run) -> None:
    """End the logger of a run that never started, without a summary (it has none)."""
    logger, run.logger = run.logger, None
    if logger is not None:
        with contextlib.suppress(Exception):
            logger.close()


def _write_failure(run, summary: dict) -> None:
    """summary.json of a failed or stopped run; a write that fails too (a full disk) is logged instead."""
    try:
        run.write_summary(summary)
    except ConfigError as error:
        log.error("error: %s", error)


def _read_summary(run) -> dict | None:
    """The run's summary.json (None: none, or unreadable); a pipe or device there is refused, not waited on."""
    try:
        summary = json.loads(read_text(run.summary_file))
    except UnsafeFile:
        raise
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def _stop_fields(error: BaseException, run) -> dict:
    """What an interrupted summary records: the signal and where the checkpoint stands."""
    fields = {"signal": getattr(error, "signal_name", "SIGINT")}
    if (run.checkpoints / "last.pt").is_file():
        fields["resume"] = f"dasuite train resume={run.path}"
    return fields


def _load_checkpoint(run, meta: dict, trust: bool) -> dict | None:
    """The run's ``checkpoints/last.pt`` to resume from (None: there is none, the run starts over)."""
    from dasuite.engine.checkpoint import load_for_resume

    path = run.checkpoints / "last.pt"
    return load_for_resume(path, meta, trust) if is_present(path) else None


def _prepare_resume(cfg: DictConfig, run, checkpoint: dict | None, presets: set[str]) -> None:
    """Check the checkpoint's config against the run's; drop metrics past the checkpoint and the
    temporary files of writes a crash cut short."""
    from dasuite.commands.resume import ALLOWED
    from dasuite.config.nested_methods import expand
    from dasuite.config.schema import validate

    path = run.checkpoints / "last.pt"
    if checkpoint is not None and checkpoint.get("config") is not None:
        now = _flatten(OmegaConf.to_container(validate(copy.deepcopy(cfg), presets), resolve=True))
        then = dict(checkpoint["config"])
        if isinstance(then.get("method"), dict):  # saved before a named base method (method.base=dann) was nested
            then["method"] = expand(then["method"])
        then = _flatten(then)
        changed = sorted(k for k in set(now) | set(then) if k not in ALLOWED and now.get(k) != then.get(k))
        if changed:
            raise ConfigError(f"cannot resume from {path}: the run's config differs from the one it was trained "
                              f"with in {', '.join(changed[:5])} (configs/ or dasuite changed since it started). "
                              "Start a new run, or restore the configs it was started with.")
    run.remove_temporary_files()
    run.truncate_metrics(checkpoint["epoch"] if checkpoint is not None else 0)


def _flatten(tree, prefix: str = "") -> dict:
    """{"a.b": value} for a nested dict."""
    if not isinstance(tree, dict) or not tree:
        return {prefix.rstrip("."): tree}
    flat = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}{key}."))
    return flat


def _train(cfg: DictConfig, run, meta: dict, presets: set[str], checkpoint: dict | None = None) -> dict:
    import random

    import numpy as np
    import torch
    from hydra.utils import instantiate

    from dasuite.config.schema import validate
    from dasuite.engine.checkpoint import load_model
    from dasuite.engine.distributed import is_main
    from dasuite.engine.evaluate import summary_fields
    from dasuite.engine.model_size import size_warning
    from dasuite.loggers import build_logger
    from dasuite.models.build import build_method, build_pair

    seed = cfg.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"seed={seed!r} must be an integer.")
    cfg = validate(cfg, presets)
    trainer = instantiate(cfg.trainer)
    pair = build_pair(cfg.dataset)
    if pair.target_labeled_index is not None and is_main():
        write_atomic(run.path / "target_labels.json", json.dumps(pair.labeled_target_record(), indent=1) + "\n",
                     within=run.path)
    torch.manual_seed(seed)
    np.random.seed(seed % 2 ** 32)
    random.seed(seed)
    method = build_method(cfg, pair.input_shape, pair.num_classes)
    oversized = size_warning(cfg.backbone, method.backbone, tuple(pair.input_shape))
    if oversized is not None:
        log.warning(oversized)
    run.logger = build_logger(cfg, run.path) if is_main() else None  # last: a bad config starts no logger run
    if checkpoint is not None:
        load_model(method, checkpoint, run.checkpoints / "last.pt")
        meta["resumed_from_epoch"] = checkpoint["epoch"]
        log.info("resuming from %s: epoch %d, step %d", run.checkpoints / "last.pt", checkpoint["epoch"],
                 checkpoint["step"])
    log.info("%s on %s with %s: %d source train, %d source val, %d target train, %d target test, device %s",
             meta["method"], meta["dataset"], meta["backbone"], len(pair.source_train), len(pair.source_val),
             len(pair.target_train), len(pair.target_test), trainer.device)
    config = OmegaConf.to_container(cfg, resolve=True)
    result = trainer.fit(method, pair, run, seed, resume=checkpoint,
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


def _root_cause(error: BaseException) -> BaseException:
    """The error a component raised, unwrapped from Hydra's InstantiationException."""
    from hydra.errors import InstantiationException

    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    return error


def _percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{100 * fraction:.2f}%"
