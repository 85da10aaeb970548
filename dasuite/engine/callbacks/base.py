"""The one seam around the training loop: a :class:`Callback`'s hooks, called by
:meth:`~dasuite.engine.trainer.Trainer.fit` (in the spirit of Dassl's ``TrainerBase`` hooks and
Lightning's callbacks, without the framework).

Every hook receives the :class:`~dasuite.engine.state.FitState` (the method, the run folder, where
training stands, this step's losses, this epoch's metrics record) and does nothing by default. The
loop calls them in this order::

    on_load_checkpoint(state, checkpoint)         # resuming only: restore what the callback saved
    before_fit(state)                             # once, before the model is placed on its device
      before_stage(state)                         # after the stage's optimizers are built
        before_epoch(state)
          before_step(state) / after_step(state)  # state.losses: each optimizer's loss terms
        on_evaluation(state, record)              # evaluated epochs: add metrics to ``record``
        after_evaluation(state, record)           # read the complete record
        after_epoch(state)
      after_stage(state)
    after_fit(state)                              # training ended normally
    teardown(state)                               # always, also after an error
    on_save_checkpoint(state, checkpoint)         # whenever a checkpoint is written: add your state

A callback stops training after the current epoch with :meth:`FitState.request_stop`. Hooks are plain
Python calls, run on every process under torchrun (``state.rank`` tells them apart): a hook that
reads a tensor value every step synchronises the host with the device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

HOOKS = ("on_load_checkpoint", "before_fit", "before_stage", "before_epoch", "before_step", "after_step",
         "on_evaluation", "after_evaluation", "after_epoch", "after_stage", "after_fit", "teardown",
         "on_save_checkpoint")


class Callback:
    """Override the hooks you need; see the module docstring for when each runs."""

    def on_load_checkpoint(self, state, checkpoint: dict) -> None: ...

    def before_fit(self, state) -> None: ...

    def before_stage(self, state) -> None: ...

    def before_epoch(self, state) -> None: ...

    def before_step(self, state) -> None: ...

    def after_step(self, state) -> None: ...

    def on_evaluation(self, state, record: dict) -> None: ...

    def after_evaluation(self, state, record: dict) -> None: ...

    def after_epoch(self, state) -> None: ...

    def after_stage(self, state) -> None: ...

    def after_fit(self, state) -> None: ...

    def teardown(self, state) -> None: ...

    def on_save_checkpoint(self, state, checkpoint: dict) -> None: ...


class Callbacks:
    """Callbacks called in list order; each hook calls only the callbacks that override it."""

    def __init__(self, callbacks: Iterable[Callback]):
        self.callbacks = list(callbacks)
        for hook in HOOKS:
            setattr(self, hook, _chain([getattr(c, hook) for c in self.callbacks
                                        if getattr(type(c), hook) is not getattr(Callback, hook)]))


def _chain(calls: list[Callable]) -> Callable:
    def call(*args) -> None:
        for function in calls:
            function(*args)
    return call
