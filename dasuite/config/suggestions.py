""""Did you mean ...?" for a mistyped name: the valid name that differs only in case, else the closest one.

Standard library only (used before torch or Hydra's composition).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, valid: Iterable[str]) -> str | None:
    """The valid name equal to ``word`` but for case (``DANN`` -> ``dann``), else the closest by spelling."""
    valid = [str(v) for v in valid]
    lowered = {v.lower(): v for v in valid}
    if word.lower() in lowered:
        return lowered[word.lower()]
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1)
    return lowered[match[0]] if match else None
