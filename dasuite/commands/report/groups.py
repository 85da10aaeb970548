"""Configurations: completed runs grouped by config values, the seeds of one setting together.

By default the grouping keys are the config keys whose values differ between the runs, less the
seed and settings that do not change the experiment (paths, progress bars, devices, loggers, the metrics
recorded), and keys that
only some runs have, all with one value (a setting added to dasuite between the runs). A key under
a group (``method.discriminator_hidden``) that follows from that group's choice (``method=dann``)
is left out: the choice already says it. ``method`` is always a key, so every row names its method.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from dasuite.commands.report.runs import CHOICES, Run
from dasuite.errors import ConfigError

#: Keys that never make two runs different configurations.
IGNORED = frozenset({"seed", "resume", "data_root", "download", "dataset.data_root", "dataset.download",
                     "cache_dir", "dataset.cache_dir",
                     "trainer.progress", "trainer.plots", "trainer.device", "trainer.eval_batch_size",
                     "trainer.deterministic", "trainer.metrics"})
#: Config groups whose keys never make two runs different configurations (where a run logs to).
IGNORED_GROUPS = ("logger.", "hydra.")
_MISSING = object()


@dataclass
class Group:
    """The runs (seeds) of one configuration; ``values`` aligns with the grouping keys."""

    values: tuple
    runs: list[Run]

    def label(self, keys: list[str]) -> str:
        return ", ".join(f"{k}={format_value(v)}" for k, v in zip(keys, self.values)) or "all runs"


def default_keys(runs: list[Run]) -> list[str]:
    """``method``, then the other choices and config keys that differ between ``runs``."""
    keys = sorted(k for k in {k for run in runs for k in run.config} - IGNORED if not k.startswith(IGNORED_GROUPS))
    differing = [k for k in keys if len({run.config[k] for run in runs if k in run.config}) > 1]
    kept = [k for k in differing if not _follows_from_choice(k, runs)]
    ordered = [c for c in CHOICES if c in kept or c == "method"]
    return ordered + [k for k in kept if k not in CHOICES]


def _follows_from_choice(key: str, runs: list[Run]) -> bool:
    group = key.split(".", 1)[0]
    if group not in CHOICES or key == group:
        return False
    seen: dict = {}
    for run in runs:
        value = run.config.get(key, _MISSING)
        if seen.setdefault(run.config.get(group), value) != value:
            return False
    return True


def check_keys(keys: list[str], runs: list[Run], option: str = "--by") -> None:
    """A ConfigError for a key of ``option`` (``--by``, ``--per``) that no run's config has, with the keys
    that would work."""
    known = {k for run in runs for k in run.config} | set(CHOICES)
    bad = [k for k in keys if k not in known]
    if not bad:
        return
    close = difflib.get_close_matches(bad[0], sorted(known), n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else "."
    raise ConfigError(
        f"{option} {bad[0]!r} is not a config key of these runs{hint} Keys that differ between the runs: "
        f"{', '.join(default_keys(runs))}. Any dotted key of the runs' .hydra/config.yaml works too (e.g. "
        f"trainer.lr, dataset.rotation_deg), and {', '.join(CHOICES)} name the config group choices.")


def group_runs(runs: list[Run], keys: list[str]) -> list[Group]:
    """One group per distinct value tuple of ``keys``, in sorted order (numbers by value)."""
    groups: dict[tuple, Group] = {}
    for run in runs:
        values = tuple(run.config.get(k) for k in keys)
        groups.setdefault(values, Group(values, [])).runs.append(run)
    return sorted(groups.values(), key=lambda g: [_order(v) for v in g.values])


def common_value(group: Group, key: str):
    """The value of ``key`` shared by the group's runs (None if it differs or is missing)."""
    values = {run.config.get(key) for run in group.runs}
    return next(iter(values)) if len(values) == 1 else None


def _order(value) -> tuple:
    if value is None:
        return (0, 0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, value, "")
    return (2, 0, str(value))


def format_value(value) -> str:
    """A config value as typed on the command line: 0.1, 1, true, [1, 2], null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)
