"""Hydra plugins behind ``hydra/sweeper=`` and ``hydra/launcher=`` choices, and the dasuite extra that
installs each: a missing one fails before Hydra starts, naming the extra (Hydra itself would say only
that it cannot find the config). Checked without importing the plugin."""

from __future__ import annotations

import importlib.util

from dasuite.errors import ConfigError

_OPTUNA = ("hydra_plugins.hydra_optuna_sweeper", "hydra-optuna-sweeper", "optuna")
_JOBLIB = ("hydra_plugins.hydra_joblib_launcher", "hydra-joblib-launcher", "joblib")
_SUBMITIT = ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher", "slurm")

#: (group, choice) -> (the plugin's module, its package, the dasuite extra)
PLUGINS = {
    ("hydra/sweeper", "optuna"): _OPTUNA,
    ("hydra/sweeper", "dasuite_optuna"): _OPTUNA,
    ("hydra/launcher", "joblib"): _JOBLIB,
    ("hydra/launcher", "submitit_slurm"): _SUBMITIT,
    ("hydra/launcher", "submitit_local"): _SUBMITIT,
    ("hydra/launcher", "dasuite_slurm"): _SUBMITIT,
}


def check_plugins(args: list[str]) -> None:
    """Raise a ConfigError for a ``hydra/<group>=<choice>`` argument whose plugin is not installed."""
    for arg in args:
        group, _, choice = arg.lstrip("+~").partition("=")
        needed = PLUGINS.get((group, choice))
        if needed is None:
            continue
        module, package, extra = needed
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # hydra_plugins itself is absent
            found = False
        if not found:
            raise ConfigError(f"{arg} needs the {package} package, which is not installed: "
                              f'pip install "dasuite[{extra}]".')
