"""Shell completion of ``dasuite``: Hydra's own, for ``dasuite train``'s config groups, choices and keys.

``eval "$(dasuite train --shell-completion install=bash)"`` (or zsh, fish) installs Hydra's completion
script for the ``dasuite`` command. The shell then runs ``dasuite -sc query=bash`` with the line typed
so far in ``COMP_LINE``: past ``dasuite train`` Hydra completes it, once the subcommand is taken out of
the line (Hydra reads the line as ``<app> overrides...``); the first word completes to the subcommands.

Standard library only: the top-level part answers without loading Hydra.
"""

from __future__ import annotations

import os
import sys

FLAGS = ("-sc", "--shell-completion")
COMMANDS = ("train", "eval", "report", "predict", "export", "list")


def is_completion(args: list[str]) -> bool:
    return any(a in FLAGS for a in args)


def _is_query(args: list[str]) -> bool:
    return any(a.startswith("query=") for a in args)


def main(args: list[str]) -> int:
    """``dasuite -sc ARG`` (what an installed completion script runs): a line past ``dasuite train`` goes to
    Hydra; otherwise the subcommands are the candidates (the shell filters them by the word typed)."""
    if _is_query(args):
        line = os.environ.get("COMP_LINE")
        if line is None:
            return _no_line()
        words = line.split()
        if len(words) < 2 or (len(words) == 2 and not line.endswith(" ")):  # the subcommand itself
            print(" ".join(COMMANDS))
            return 0
        if words[1] != "train":  # past another subcommand the shell completes file names
            return 0
    from dasuite.commands.train import run_train

    return run_train(args)


def prepare_hydra(args: list[str]) -> int | None:
    """Before Hydra answers ``-sc``: the installed script must name ``dasuite`` (not ``dasuite train``), and a
    query's line must read as Hydra's ``<app> overrides...``. Returns an exit code when there is nothing to ask."""
    sys.argv[0] = "dasuite"
    if not _is_query(args):
        return None
    line = os.environ.get("COMP_LINE")
    if line is None:
        return _no_line()
    words = line.split(maxsplit=2)
    if len(words) >= 2 and words[1] == "train":  # "dasuite train method=d" -> "dasuite method=d"
        os.environ["COMP_LINE"] = line.replace(" train", "", 1)
    return None


def _no_line() -> int:
    print("dasuite: error: --shell-completion query=SHELL is what the installed completion script runs, with the "
          "line typed so far in COMP_LINE (the shell sets it). Install completion with: "
          'eval "$(dasuite train --shell-completion install=bash)" (or zsh, fish).', file=sys.stderr)
    return 2
