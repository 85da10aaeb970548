"""``dasuite train``: the Hydra application. Each Hydra job is one run with its own run folder.

``dasuite train resume=DIR`` relaunches a run or sweep in its own folder (:mod:`dasuite.commands.resume`);
each job then continues from its checkpoint, or is skipped when its summary says "completed".
``trust_checkpoint=true`` (with ``resume=`` only) reads a checkpoint that holds arbitrary Python objects
and builds components its saved config names beyond dasuite's own; ``trusted_modules=[mypkg]`` (with
``resume=`` only) admits the classes of the modules it names (:mod:`dasuite.engine.admission`).

One process writes a run folder at a time (:func:`~dasuite.engine.run_folder.exclusive`): the folder
``hydra.run.dir`` (or, with ``-m``, ``hydra.sweep.dir``) names is checked (a new run takes only a new or empty
folder; no link, pipe or device where dasuite or Hydra writes) and locked before Hydra writes into it
(:mod:`dasuite.commands.train_folders`), and each job's folder while the job runs; a folder another live process
holds is left untouched.

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
from dasuite.commands.train_folders import Before, foreign_entries, release_folder, remove_created
from dasuite.config.catalog import check_choices, config_dir, preset_keys
from dasuite.config.sweeps import register_resolver
from dasuite.errors import ConfigError, Refused
from dasuite.safe_files import UnsafeFile, is_present, read_bytes, read_text, write_atomic

log = logging.getLogger("dasuite")
register_resolver()  # ${dasuite.study:...}: the Optuna study in the sweep folder

#: Hydra's own command-line options that compose no run: the key checks and the run-folder lock skip them.
NO_RUN = ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc")


@dataclass
class Command:
    """What one ``dasuite train`` command has done so far. Hydra calls the app once per job, so the command's
    state lives here (a multirun carries on past a failed job and reports them all at the end), and so does its
    outcome (``code``, ``jobs``, the first ``error``). :func:`dasuite.api.train` makes its own for its one job."""

    resuming: bool = False  # ``resume=DIR``: jobs continue from their checkpoints
    trusting: bool = False  # ``resume=DIR trust_checkpoint=true``
    trusted_modules: tuple[str, ...] = ()  # ``resume=DIR trusted_modules=[...]``
    prepared: tuple[str, ...] = ()  # entries written for the job before it runs, besides Hydra's (dasuite.train)
    jobs: list[str] = field(default_factory=list)  # run folders of the jobs run
    failed: list[str] = field(default_factory=list)  # ... of those that failed after starting
    config_errors: list[str] = field(default_factory=list)  # ... of those that never started for a config error
    unstarted: list[str] = field(default_factory=list)  # ... of those, on rank 0: what they created is removed
    before: dict[Path, Before] = field(default_factory=dict)  # the run or sweep folder as it was found
    sweep: Path | None = None  # the multirun's sweep folder (what it created is removed when no job started)
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
    from dasuite.engine.distributed import launch_arguments, shutdown

    sys.argv = [sys.argv[0] if is_completion(args) else "dasuite train",
                *launch_arguments(args if resumed is None else resumed)]
    now.resuming, now.trusting, now.trusted_modules = resumed is not None, trusted, named
    sweep = _saved_sweep(args) if resumed is not None else None
    refused = None
    try:
        _hydra_app()  # the folder is checked, admitted and locked first (train_folders.AdmitFolder)
    except Refused as refusal:
        refused = str(refusal)
    finally:
        release_folder()
        now.resuming = now.trusting = False
        now.trusted_modules = ()
        shutdown()
    if sweep is not None:
        _restore_unless_resumed(*sweep)
    # no job started (jobs this process ran; a refusal comes before any): what the sweep created goes
    if now.sweep is not None and (len(now.unstarted) == len(now.jobs) > 0 or (refused and not now.jobs)):
        remove_created(now.sweep, now.before[now.sweep])
    if refused is not None:
        now.fail(refused)
        return now.end(2)
    if len(now.jobs) > 1 and now.failed:
        print(f"dasuite train: {len(now.failed)} run(s) failed; see summary.json and train.log in: "
              + ", ".join(now.failed), file=sys.stderr)
    if len(now.jobs) > 1 and now.config_errors:
        print(f"dasuite train: {len(now.config_errors)} job(s) did not start for a config error (above); no run folder "
              "was kept for them", file=sys.stderr)
    return now.end(1 if now.failed else 2 if now.config_errors else 0)


def _saved_sweep(args: list[str]) -> tuple[Path, bytes, dict[Path, bytes]] | None:
    """The ``multirun.yaml`` of the sweep folder ``resume=`` names, its bytes and those of its jobs' saved
    overrides: Hydra rewrites multirun.yaml (with the resume's ``trainer.epochs``) before any job runs, so it is
    put back when no job went on (a job that goes on rewrites its overrides, in whichever process it ran)."""
    folder = Path(next(a for a in args if a.startswith("resume=")).split("=", 1)[1]).expanduser()
    try:
        jobs = {path: read_bytes(path) for path in folder.glob("*/.hydra/overrides.yaml")}
        return folder / "multirun.yaml", read_bytes(folder / "multirun.yaml"), jobs
    except (OSError, UnsafeFile):  # a link or pipe there: the folder's admission refuses it before Hydra writes
        return None


def _restore_unless_resumed(path: Path, content: bytes, jobs: dict[Path, bytes]) -> None:
    try:
        if any(read_bytes(job) != saved for job, saved in jobs.items()) or read_bytes(path) == content:
            return
        write_atomic(path, content, within=path.parent)
    except (OSError, UnsafeFile) as error:
        log.warning("could not restore %s (%s): it may hold the refused resume's settings", path, error)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def _hydra_app(cfg: DictConfig) -> float:
    """One job; returns the objective a sweeper (``hydra/sweeper=optuna``) maximises: the run's
    ``best_value``, the value of ``val/<trainer.select>`` at the epoch it picked (NaN for a run without
    one, e.g. a failed run: Optuna records that trial as failed and goes on)."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    summary = run_experiment(cfg, run_dir, hydra_cfg.runtime.choices, hydra_cfg.overrides.task,
                             resume=CURRENT.resuming, trust_checkpoint=CURRENT.trusting,
                             trusted_modules=CURRENT.trusted_modules, command=CURRENT)
    if str(run_dir) in CURRENT.unstarted:  # a sweep's job folder was made for the job (its sweep folder is recorded)
        remove_created(run_dir, CURRENT.before.get(run_dir) or Before(None, run_dir.parent))
    value = summary.get("best_value")
    return float("nan") if value is None else float(value)


def run_experiment(cfg: DictConfig, run_dir: Path, choices, overrides, resume: bool = False,
                   trust_checkpoint: bool = False, trusted_modules: tuple[str, ...] = (),
                   command: Command | None = None) -> dict:
    """Build the pair, model, method and trainer from ``cfg``, train, and write summary.json.

    Any error once training started ends in a summary.json with status "failed" (or "interrupted" on
    Ctrl-C/SIGTERM) and never removes files written before it; a ConfigError before it started writes no
    summary (the Hydra app then removes what the command created for the job). A new run refuses a folder that
    holds anything but the files Hydra just wrote for it (another run's, a user's): the returned summary says
    "refused" and nothing is written. With ``resume``, training continues from ``checkpoints/last.pt`` when there
    is one, and a completed run is left as it is; the ``_target_``s of its config and checkpoint are admitted first
    (``trust_checkpoint``, ``trusted_modules``: :mod:`dasuite.engine.admission`), and it changes nothing in the
    folder until its checkpoint has loaded and fits the run (a ConfigError before that is reported as a config
    error, without a summary). A run folder that another live process writes is not touched: the returned summary
    says "busy" and is not written; one with a link, pipe or device where the run writes says "refused".
    ``command`` collects what happened (jobs, failures, the first error) for the caller.
    """
    from dasuite.engine.distributed import is_main
    from dasuite.engine.run_folder import RunFolderBusy, check_folder, exclusive, writer

    command = Command() if command is None else command
    # a folder another process writes: exclusive() below names it
    new = is_main() and not resume and writer(run_dir) is None
    foreign = foreign_entries(run_dir, command.prepared) if new else []
    if foreign:
        problem = (f"{run_dir} already holds {', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}: a new run "
                   "writes only into a folder of its own, so that nothing there is overwritten or mixed into its "
                   f"records. Continue a run there with `dasuite train resume={run_dir}`, or give another folder. "
                   "Nothing was changed in it.")
        command.fail(problem)
        command.config_errors.append(str(run_dir))
        return {"status": "refused", "error": problem}
    try:
        if is_main():
            check_folder(run_dir)  # a link, pipe or device planted where the run writes or reads
        with exclusive(run_dir) if is_main() else contextlib.nullcontext():
            return _run_experiment(cfg, run_dir, choices, overrides, command, resume, trust_checkpoint,
                                   trusted_modules)
    except RunFolderBusy as busy:
        command.fail(str(busy))
        command.failed.append(str(run_dir))
        return {"status": "busy", "error": str(busy)}
    except UnsafeFile as unsafe:  # nothing was written: a config error of the folder, not a failed run
        command.fail(str(unsafe))
        command.config_errors.append(str(run_dir))
        return {"status": "refused", "error_type": "ConfigError", "error": str(unsafe)}


def _run_experiment(cfg: DictConfig, run_dir: Path, choices, overrides, command: Command, resume: bool,
                    trust_checkpoint: bool, trusted_modules: tuple[str, ...]) -> dict:
    from dasuite.engine.callbacks.progress import write_line
    from dasuite.engine.distributed import is_main, run_folder
    from dasuite.experiment import print_result

    run = run_folder(run_dir)  # rank 0's under torchrun; the other ranks only read it
    command.jobs.append(str(run_dir))
    previous = _read_summary(run) if resume else None
    written, committed = _written(run), []
    saved = copy.deepcopy(cfg) if resume else None  # as Hydra composed it: what .hydra/config.yaml holds

    def commit() -> None:
        _commit_resume(run, checkpoint, saved)
        committed.append(True)
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
        meta.update(seed=cfg.get("seed"), target_labels_per_class=cfg.dataset.get("target_labels_per_class", 0))
        if resume:
            from dasuite.engine.admission import check_targets

            check_targets(OmegaConf.to_container(cfg, resolve=True),  # what a resolver makes is checked too
                          f"the saved config of {run_dir} (.hydra/overrides.yaml)",
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
        summary = _train(cfg, run, meta, presets, checkpoint, ready=commit if resume else None)
        summary.update(started_at=started.isoformat(), finished_at=dt.datetime.now().astimezone().isoformat(),
                       duration_s=time.perf_counter() - wall)
        run.write_summary(summary)
    except KeyboardInterrupt as error:
        # a completed run keeps its summary unless training itself stopped (TrainingInterrupted: a newer last.pt);
        # a resume stopped before its checkpoint loaded leaves the folder as it was
        if not (previous and previous.get("status") == "completed" and not hasattr(error, "signal_name")) \
                and not (resume and not committed):
            _write_failure(run, {"status": "interrupted", **meta, **_stop_fields(error, run),
                                 "started_at": started.isoformat()})
        raise
    except Exception as error:  # noqa: BLE001 - every failure of a started run must leave a summary
        cause = _root_cause(error)
        kind = "ConfigError" if isinstance(cause, ConfigError) else type(cause).__name__  # its kinds too
        summary = {"status": "failed", **meta, "error_type": kind, "error": str(cause),
                   **getattr(cause, "fields", {}),
                   "started_at": started.isoformat(), "duration_s": time.perf_counter() - wall}
        if isinstance(cause, ConfigError) and (not committed if resume else _written(run) == written):  # not started
            log.error("error: %s", cause)
            command.fail(str(cause), printed=False)
            _close_logger(run)
            command.config_errors.append(str(run_dir))
            if not resume and is_main():
                command.unstarted.append(str(run_dir))
            return summary
        if not (previous and previous.get("status") == "completed"):  # a finished run keeps its summary
            _write_failure(run, summary)
        if isinstance(cause, ConfigError):
            log.error("error: %s", cause)
            command.fail(str(cause), printed=False)
        else:
            log.info("traceback of the failure:", exc_info=error)
            log.error("run failed: %s: %s (full traceback in %s)", type(cause).__name__, cause,
                      run_dir / "train.log")
        command.failed.append(str(run_dir))
        return summary
    print_result(summary)
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
    """Check the checkpoint's config against the run's (a ConfigError naming the keys that differ)."""
    from dasuite.commands.resume import ALLOWED
    from dasuite.assembly.nested_methods import expand, expand_config
    from dasuite.config.schema import validate

    path = run.checkpoints / "last.pt"
    if checkpoint is not None and checkpoint.get("config") is not None:
        now = _flatten(OmegaConf.to_container(validate(expand_config(copy.deepcopy(cfg)), presets), resolve=True))
        then = dict(checkpoint["config"])
        if isinstance(then.get("method"), dict):  # saved before a named base method (method.base=dann) was nested
            then["method"] = expand(then["method"])
        then = _flatten(then)
        changed = sorted(k for k in set(now) | set(then) if k not in ALLOWED and now.get(k) != then.get(k))
        if changed:
            raise ConfigError(f"cannot resume from {path}: the run's config differs from the one it was trained "
                              f"with in {', '.join(changed[:5])} (configs/ or dasuite changed since it started). "
                              "Start a new run, or restore the configs it was started with.")


def _commit_resume(run, checkpoint: dict | None, saved: DictConfig) -> None:
    """What a resume changes in its folder, once the checkpoint has loaded and fits the run: the saved config
    (``.hydra/``, whose overrides the next resume reads), the temporary files of writes a crash cut short, and
    metrics.jsonl: the records past the checkpoint dropped, and the checkpoint's own record written again where a
    crash cut its line short (with a warning)."""
    from dasuite.commands.resume import save_job_config
    from dasuite.engine.distributed import is_main

    epoch = checkpoint["epoch"] if checkpoint is not None else 0
    record = checkpoint.get("record") if checkpoint is not None else None
    if is_main():
        save_job_config(run.path, saved)
    run.remove_temporary_files()
    if run.truncate_metrics(epoch, record):
        log.warning("metrics.jsonl had no complete record of epoch %d, the epoch %s holds (a crash cut its line "
                    "short): it was written again from the checkpoint", epoch, run.checkpoints / "last.pt")
    elif checkpoint is not None and record is None and epoch and is_main() \
            and epoch not in {r.get("epoch") for r in run.read_metrics()}:
        log.warning("metrics.jsonl has no record of epoch %d, the epoch %s holds: an epoch without evaluation, or "
                    "a record a crash cut short, which this checkpoint (from an older dasuite) cannot restore",
                    epoch, run.checkpoints / "last.pt")


def _flatten(tree, prefix: str = "") -> dict:
    """{"a.b": value} for a nested dict."""
    if not isinstance(tree, dict) or not tree:
        return {prefix.rstrip("."): tree}
    flat = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}{key}."))
    return flat


def _train(cfg: DictConfig, run, meta: dict, presets: set[str], checkpoint: dict | None = None,
           ready=None) -> dict:
    """Build the run's objects from ``cfg`` (:mod:`dasuite.assembly`) and fit them
    (:func:`dasuite.experiment.train_run`); ``ready`` (a resume's commit) is called once the checkpoint has loaded
    and fits."""
    from dasuite.assembly.init_from import init_weights
    from dasuite.assembly.logger import build_logger
    from dasuite.assembly.method import backbone_builder, build_method
    from dasuite.assembly.nested_methods import expand_config
    from dasuite.assembly.pair import build_pair
    from dasuite.assembly.trainer import build_trainer
    from dasuite.config.schema import validate
    from dasuite.engine.checkpoint import load_model
    from dasuite.engine.distributed import is_main
    from dasuite.engine.model_size import size_warning
    from dasuite.experiment import check_seed, seed_everything, train_run

    seed = check_seed(cfg.get("seed", 0))
    cfg = validate(expand_config(cfg), presets)
    trainer = build_trainer(cfg.trainer)
    pair = build_pair(cfg.dataset)
    seed_everything(seed)
    method = build_method(cfg, pair.input_shape, pair.num_classes)
    oversized = size_warning(backbone_builder(cfg.backbone), method.backbone, tuple(pair.input_shape))
    if oversized is not None:
        log.warning(oversized)
    if checkpoint is not None:  # before anything is written: weights that do not fit leave the folder as it was
        load_model(method, checkpoint, run.checkpoints / "last.pt")
        meta["resumed_from_epoch"] = checkpoint["epoch"]
        started = (checkpoint.get("meta") or {}).get("init_from")
        if started is not None:  # what the run started from, as its first process recorded it
            meta["init_from"] = started
        log.info("resuming from %s: epoch %d, step %d", run.checkpoints / "last.pt", checkpoint["epoch"],
                 checkpoint["step"])
    elif cfg.get("init_from") is not None:
        meta["init_from"] = init_weights(method, cfg.init_from, cfg.get("init_checkpoint", "last"), pair.class_names)
    run.logger = build_logger(cfg, run.path) if is_main() else None  # last: a bad config starts no logger run
    return train_run(method, pair, trainer, run, seed, meta, checkpoint, ready,
                     config=OmegaConf.to_container(cfg, resolve=True))


def _root_cause(error: BaseException) -> BaseException:
    """The error a component raised, unwrapped from Hydra's InstantiationException."""
    from hydra.errors import InstantiationException

    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    return error
