"""The step plan of a run: how many optimisation steps each stage takes, checked for sanity.

A stage runs ``epochs`` epochs of ``steps_per_epoch`` steps (``trainer.steps_per_epoch``, or one pass
over the stage's first drawn set). Progress p, λ_p and the LR schedule follow the steps.
"""

from __future__ import annotations

from dasuite.errors import ConfigError

#: Above this many optimisation steps in all, a run is refused as a typo (years of training on a CPU).
MAX_STEPS = 10**8


def check_plan(plan: list, batch_size: int) -> int:
    """The total number of steps of ``plan`` ([(stage, epochs, steps_per_epoch), ...]), refused past
    :data:`MAX_STEPS` with the planned count per stage."""
    total = sum(epochs * steps for _, epochs, steps in plan)
    if total > MAX_STEPS:
        stages = ", ".join(f"{stage.name}: {epochs:,} epochs × {steps:,} steps" for stage, epochs, steps in plan)
        raise ConfigError(f"this run plans {total:,} optimisation steps of batch {batch_size} ({stages}), more "
                          f"than dasuite accepts ({MAX_STEPS:,}: months on one GPU). Check trainer.epochs and "
                          "trainer.steps_per_epoch (and a method's own *_epochs).")
    return total
