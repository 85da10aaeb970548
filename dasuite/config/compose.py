"""A run's config composed from overrides without Hydra's application (``dasuite.train`` in Python): the same
configs and override syntax as ``dasuite train``, without reading ``sys.argv``, switching the process's logging or
changing directory. Hydra's errors become :class:`~dasuite.errors.ConfigError` with Hydra's message."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from dasuite.config.catalog import config_dir
from dasuite.errors import ConfigError
from dasuite.safe_files import write_atomic


@dataclass
class Composed:
    """A composed run: its config (without Hydra's node), Hydra's node, and the group choices."""

    config: DictConfig
    hydra: DictConfig
    choices: dict


def compose_run(overrides: list[str], run_dir: Path) -> Composed:
    """The config ``dasuite train OVERRIDES hydra.run.dir=RUN_DIR`` would run."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(str(config_dir()), version_base="1.3", job_name="train"):
            cfg = compose("config", [*overrides, f"hydra.run.dir={run_dir}"], return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(f"dasuite train {' '.join(overrides)}: {' '.join(str(error).split())}") from None
    hydra = OmegaConf.create({"hydra": OmegaConf.to_container(cfg.hydra, resolve=False)})
    choices = dict(hydra.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return Composed(cfg, hydra, choices)


def write_job_files(folder: Path, composed: Composed) -> None:
    """``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml``, as Hydra writes them for a job: what
    ``dasuite train resume=FOLDER`` reads."""
    for name, content in (("config.yaml", composed.config), ("hydra.yaml", composed.hydra),
                          ("overrides.yaml", composed.hydra.hydra.overrides.task)):
        write_atomic(folder / ".hydra" / name, OmegaConf.to_yaml(content), within=folder)
