"""``key=value`` subcommands that are not Hydra apps (``predict``, ``export``, ``eval``): their arguments, and
how they answer.

Standard library only: a bad argument answers before torch is imported.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable

from dasuite.errors import ConfigError

#: A dotted Python name: a module (``mypkg.callbacks``) or what it defines (``mypkg.callbacks.Notify``).
DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")


def run_command(command: str, usage: str, args: list[str], run: Callable[[list[str]], str]) -> int:
    """``dasuite COMMAND ARGS``: ``--help`` prints ``usage``; else ``run(args)`` does the work and returns what to
    print. Exit status 0, or 2 with the ConfigError as one line on stderr."""
    if args and args[0] in ("-h", "--help"):
        print(usage, end="")
        return 0
    try:
        message = run(args)
    except ConfigError as error:
        print(f"dasuite {command}: error: {error}", file=sys.stderr)
        return 2
    print(message)
    return 0


def parse_options(command: str, args: list[str], defaults: dict[str, str | None]) -> dict[str, str]:
    """``args`` as a dict over ``defaults``; a key whose default is None is required."""
    options = dict(defaults)
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or key not in defaults:
            raise ConfigError(f"cannot read {arg!r}: arguments are key=value with key one of {', '.join(defaults)}.")
        options[key] = value
    missing = [key for key, value in options.items() if value is None]
    if missing:
        raise ConfigError(f"missing {', '.join(f'{k}=...' for k in missing)} (`dasuite {command} --help` explains "
                          "the arguments).")
    return options


def parse_flag(key: str, value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise ConfigError(f"{key}={value!r} must be true or false.")
    return value.lower() == "true"


def parse_positive_int(key: str, value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{key}={value!r} must be an integer >= 1.")
    return int(value)


def parse_trusted_modules(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """The module names of a ``trusted_modules`` argument: a list, or the command line's ``[a,b]``, ``a,b``
    or ``a``; a ConfigError for anything that is not a dotted module name."""
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        text = text[1:-1] if text.startswith("[") and text.endswith("]") else text
        value = [name.strip().strip("'\"") for name in text.split(",") if name.strip()]
    names = list(value)
    bad = [name for name in names if not isinstance(name, str) or not DOTTED_NAME.match(name)]
    if bad:
        raise ConfigError(f"trusted_modules: {bad[0]!r} is not a module name; give the dotted names of your own "
                          "modules, e.g. trusted_modules=[mypkg,other.callbacks].")
    return tuple(names)
