"""``dasuite train resume=DIR``: continue a run, or a multirun sweep, in its own folder.

A run folder is relaunched with the overrides it was started with (``.hydra/overrides.yaml``) and
``hydra.run.dir`` set to it; a sweep folder (``multirun.yaml``) is relaunched as the same sweep
with ``hydra.sweep.dir`` set to it, so every job lands in its own folder again. Each job then
continues from its ``checkpoints/last.pt`` (:func:`dasuite.commands.train.run_experiment` with
``resume=True``); a job whose summary says "completed" is skipped; one that never started starts.

Hydra is told to write no ``.hydra/`` (``hydra.output_subdir=null``): the job writes it itself
(:func:`save_job_config`) once its checkpoint has loaded and fits, so a refused resume (a damaged checkpoint, a
changed config) leaves the saved overrides, and with them the next resume, as they were.

Only keys that cannot change the numbers already computed may be given with ``resume=``:
``trainer.epochs`` (to extend a run), ``trainer.progress`` and ``trainer.plots``. Anything else
is a new experiment and fails with a clear error. The saved overrides are a file like any other: one
that does not parse, names an unknown key or choice, sets Hydra's own settings (whose callbacks
could run code), or names a ``_target_`` that is not admitted (:mod:`dasuite.engine.admission`) fails
with a paragraph naming the file, before Hydra writes anything. Imports no torch unless a saved
``_target_`` names a class.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from dasuite.errors import ConfigError
from dasuite.safe_files import UnsafeFile, is_present, open_read

#: Overrides accepted together with ``resume=`` (and config keys that may differ from the checkpoint's:
#: ``trainer.metrics`` changes only what is measured, and runs from before it existed have none).
ALLOWED = ("trainer.epochs", "trainer.progress", "trainer.plots", "trainer.metrics")
#: Hydra writes no ``.hydra/`` for a resumed job (:func:`save_job_config` does, later).
NO_HYDRA_FILES = "hydra.output_subdir=null"


def resume_arguments(args: list[str], trusted_modules: tuple[str, ...] = (),
                     trust_checkpoint: bool = False) -> list[str] | None:
    """The Hydra arguments that resume the folder named by ``resume=`` in ``args`` (None: no resume); the
    caller's ``trusted_modules`` and ``trust_checkpoint`` admit the ``_target_``s the saved overrides name."""
    requested = [a for a in args if a.startswith("resume=")]
    if not requested:
        return None
    if len(requested) > 1:
        raise ConfigError("give resume=DIR once.")
    folder = Path(requested[0].split("=", 1)[1]).expanduser()
    extra = [a for a in args if a not in requested]
    for arg in extra:
        if _key(arg) not in ALLOWED:
            shown = "-m (a sweep folder is resumed as a sweep by itself)" if arg in ("-m", "--multirun") else arg
            raise ConfigError(f"resume={folder} continues the run with its saved config, so {shown!r} cannot be "
                              f"given with it; only {', '.join(ALLOWED)} may be (trainer.epochs=N extends the run). "
                              "Start a new run to change anything else.")
    if is_present(folder / "multirun.yaml"):
        saved = _saved(folder / "multirun.yaml", lambda loaded: loaded["hydra"]["overrides"]["task"],
                       trusted_modules, trust_checkpoint)
        clash = [a for a in extra if _key(a) in _swept_keys(saved)]
        if clash:
            raise ConfigError(f"{clash[0]!r} changes a key this sweep sweeps over; resume the sweep as it was.")
        return ["-m", *_merge(saved, extra), f"hydra.sweep.dir={_quote(folder)}", NO_HYDRA_FILES]
    if is_present(folder / ".hydra" / "overrides.yaml"):
        saved = _saved(folder / ".hydra" / "overrides.yaml", lambda loaded: loaded, trusted_modules, trust_checkpoint)
        return [*_merge(saved, extra), f"hydra.run.dir={_quote(folder)}", NO_HYDRA_FILES]
    jobs = sorted(p.parent.parent.name for p in folder.glob("*/.hydra/overrides.yaml"))
    hint = (f"; it holds job folders ({', '.join(jobs[:5])}) but no multirun.yaml: resume them one by one"
            if jobs else "")
    raise ConfigError(f"resume={folder} is not a run folder of `dasuite train` (no .hydra/overrides.yaml) nor a "
                      f"sweep folder (no multirun.yaml){hint}.")


def save_job_config(folder: Path, task_cfg) -> None:
    """Write the resumed job's ``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml`` as Hydra writes a new
    job's (``task_cfg``: the job's config as Hydra composed it), without the ``hydra.output_subdir=null`` that
    kept Hydra from writing them first; each through :func:`~dasuite.safe_files.write_atomic`. Nothing outside a
    Hydra job."""
    import copy

    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict, read_write

    from dasuite.safe_files import write_atomic

    if not HydraConfig.initialized():
        return
    hydra_cfg = copy.deepcopy(HydraConfig.instance().cfg)
    with read_write(hydra_cfg.hydra), open_dict(hydra_cfg.hydra):  # Hydra marks its node read-only
        hydra_cfg.hydra.output_subdir = ".hydra"
        hydra_cfg.hydra.overrides.hydra = [o for o in hydra_cfg.hydra.overrides.hydra if o != NO_HYDRA_FILES]
    for name, content in (("config.yaml", task_cfg), ("hydra.yaml", hydra_cfg),
                          ("overrides.yaml", hydra_cfg.hydra.overrides.task)):  # overrides last: the next resume's
        write_atomic(folder / ".hydra" / name, OmegaConf.to_yaml(content), within=folder)


def _saved(path: Path, overrides, trusted_modules: tuple[str, ...], trust_checkpoint: bool) -> list[str]:
    """The run's saved overrides, ``overrides(YAML content of path)``, checked as a new run's would be, and their
    ``_target_``s admitted."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from dasuite.config.catalog import check_choices
    from dasuite.config.override_keys import check_keys
    from dasuite.engine.admission import check_override_targets

    damaged = "the file was damaged or edited; restore it, or start a new run"
    try:
        with open_read(path, text=True) as f:
            saved = overrides(yaml.safe_load(f) or [])
    except UnsafeFile:
        raise
    except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError) as error:
        detail = " ".join(str(error).split())[:300]
        raise ConfigError(f"cannot read the run's saved overrides from {path} ({type(error).__name__}: {detail}): "
                          f"{damaged}.") from None
    if not isinstance(saved, list) or not all(isinstance(o, str) for o in saved):
        raise ConfigError(f"{path} does not hold a list of overrides (key=value strings): {damaged}.")
    hydra = [o for o in saved if _key(o) == "hydra" or _key(o).startswith(("hydra.", "hydra/")) or "@hydra" in o]
    if hydra:
        raise ConfigError(f"{path} sets {hydra[0]!r}, a setting of Hydra itself, which `dasuite train` never saves "
                          f"there (Hydra callbacks and launchers set this way could run any code): {damaged}.")
    try:
        OverridesParser.create().parse_overrides(saved)
        check_choices(saved)
        check_keys(saved)
    except ConfigError as error:
        raise ConfigError(f"{path}, the run's saved overrides: {error} The file was damaged or edited.") from None
    except Exception as error:  # noqa: BLE001 - Hydra's parse errors
        raise ConfigError(f"cannot read {path}, the run's saved overrides ({' '.join(str(error).split())[:300]}): "
                          f"{damaged}.") from None
    check_override_targets(saved, str(path), trusted_modules, trust_checkpoint)
    return saved


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _swept_keys(overrides: list[str]) -> set[str]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return {o.key_or_group for o in OverridesParser.create().parse_overrides(overrides) if o.is_sweep_override()}


def _merge(saved: list[str], extra: list[str]) -> list[str]:
    """The saved overrides with those of ``extra``'s keys replaced by ``extra``."""
    keys = {_key(a) for a in extra}
    return [o for o in saved if _key(o) not in keys] + extra


def _quote(path: Path) -> str:
    """A path as one quoted Hydra override value (spaces, commas and '=' included)."""
    text = str(path.resolve()).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"
