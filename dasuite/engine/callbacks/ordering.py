"""The order callbacks run in: their list order, changed only where a class declares that its hooks run
after another's (``Callback.after`` and ``Callback.requires``, :mod:`.base`). A stable topological sort:
of the callbacks free to run next, the one earliest in the list goes first. A cycle, a required class
the list lacks, or a declaration that names no callback class is a :class:`~dasuite.errors.ConfigError`
naming the callbacks."""

from __future__ import annotations

from dasuite.engine.callbacks.base import Callback
from dasuite.errors import ConfigError


def arrange(callbacks: list[Callback]) -> list[Callback]:
    """``callbacks`` in an order that satisfies every declaration, otherwise as given."""
    before = _predecessors(callbacks)
    ordered, placed = [], set()
    while len(ordered) < len(callbacks):
        ready = next((i for i in range(len(callbacks)) if i not in placed and before[i] <= placed), None)
        if ready is None:
            raise _cycle(callbacks, before, placed)
        ordered.append(callbacks[ready])
        placed.add(ready)
    return ordered


def _predecessors(callbacks: list[Callback]) -> list[set[int]]:
    """For each callback (by position), the positions of those that must run before it."""
    for callback in callbacks:
        for declared in (*type(callback).after, *type(callback).requires):
            if not (isinstance(declared, type) and issubclass(declared, Callback)):
                raise ConfigError(f"{_name(callback)} declares it runs after {declared!r}, which is no callback "
                                  "class: after and requires list subclasses of "
                                  "dasuite.engine.callbacks.base.Callback.")
    before = [set() for _ in callbacks]
    for i, callback in enumerate(callbacks):
        for required in type(callback).requires:
            if not any(isinstance(other, required) for other in callbacks):
                raise ConfigError(f"{_name(callback)} needs a {required.__name__} callback to run after, but the "
                                  f"callback list ({_names(callbacks)}) has none: add one, or leave "
                                  f"{_name(callback)} out.")
        for declared in (*type(callback).after, *type(callback).requires):
            if declared is not Callback:
                before[i] |= {j for j, other in enumerate(callbacks) if j != i and isinstance(other, declared)}
    declared = [set(earlier) for earlier in before]
    for i, callback in enumerate(callbacks):  # after every other one: all but those declared to run after it
        if Callback in type(callback).after:
            later = _descendants(i, declared)
            before[i] |= {j for j in range(len(callbacks)) if j != i and j not in later}
    return before


def _descendants(i: int, before: list[set[int]]) -> set[int]:
    """The positions of the callbacks declared to run after callback ``i``, directly or through others."""
    found, frontier = set(), {i}
    while frontier:
        frontier = {j for j, earlier in enumerate(before) if earlier & frontier and j not in found}
        found |= frontier
    return found


def _cycle(callbacks: list[Callback], before: list[set[int]], placed: set[int]) -> ConfigError:
    """The error naming a cycle among the callbacks no order can place (each waits for another)."""
    path = [min(set(range(len(callbacks))) - placed)]
    while path.count(path[-1]) < 2:  # follow what each waits for until one repeats
        path.append(min(before[path[-1]] - placed))
    cycle = path[path.index(path[-1]):]
    names = [_name(callbacks[i]) for i in cycle]
    return ConfigError(f"the callbacks {', '.join(dict.fromkeys(names))} declare a cycle: "
                       f"{', '.join(f'{a} runs after {b}' for a, b in zip(names, names[1:]))}, so no order satisfies "
                       "them. Drop one of these declarations (the after or requires of its class), or one of the "
                       "callbacks.")


def _name(callback: Callback) -> str:
    return type(callback).__name__


def _names(callbacks: list[Callback]) -> str:
    return ", ".join(_name(c) for c in callbacks) or "empty"
