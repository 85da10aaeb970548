"""``dasuite list``: each config group's choices with the first comment line of its file."""

from __future__ import annotations

from dasuite.config.catalog import GROUPS, choices, describe


def format_catalog() -> str:
    """The text ``dasuite list`` prints."""
    titles = {"dataset": "Dataset pairs", "backbone": "Backbones", "method": "Methods", "trainer": "Trainers",
              "logger": "Loggers", "experiment": "Experiments",
              "family": "Pair families (chosen by the pair: its published protocol)",
              "recipe": "Recipes (chosen by family and method: the method's published settings)",
              "debug": "Debug settings (a run of a few steps, e.g. to check a new method end to end)"}
    lines = []
    for group in GROUPS:
        lines.append(f"{titles[group]} ({group}=NAME):")
        names = choices(group)
        width = max(map(len, names), default=0)
        lines += [f"  {name:<{width}}  {describe(group, name)}" for name in names]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
