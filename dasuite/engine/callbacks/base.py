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
Python calls, run on every process under torchrun (``state.rank`` tells them apart; a class with
``rank_zero_only = True`` runs on rank 0 alone): a hook that reads a tensor value every step
synchronises the host with the device.

Within a hook, callbacks run in list order, except where a class declares what its hooks need to run
after (:mod:`.ordering` sorts the list by these declarations, keeping the given order otherwise):

* ``after``: classes whose instances in the list run first (``after = (Checkpointing,)``: this
  callback's ``after_epoch`` sees the epoch's checkpoint written). ``Callback`` itself means every
  other callback except those declared to run after this one (:class:`~.signal_stop.SignalStop`).
* ``requires``: classes of which the list must hold an instance, which then runs first (a list
  without one is an error naming both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dasuite.errors import ConfigError

HOOKS = ("on_load_checkpoint", "before_fit", "before_stage", "before_epoch", "before_step", "after_step",
         "on_evaluation", "after_evaluation", "after_epoch", "after_stage", "after_fit", "teardown",
         "on_save_checkpoint")


class Callback:
    """Override the hooks you need; see the module docstring for when each runs and in which order."""

    #: callback classes whose instances in the list run their hooks before this one's
    after: tuple[type[Callback], ...] = ()
    #: callback classes the list must hold an instance of, run before this one
    requires: tuple[type[Callback], ...] = ()
    #: True: under torchrun, rank 0 alone runs it (the console, the plots)
    rank_zero_only = False

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


def check_callbacks(callbacks, key: str) -> list[Callback]:
    """``callbacks`` as a list, each entry checked to be a :class:`Callback` (``key`` names the list in the
    error)."""
    for i, callback in enumerate(callbacks):
        if not isinstance(callback, Callback):
            raise ConfigError(f"{key}[{i}] is {callback!r}, not a callback: an instance of a subclass of "
                              "dasuite.engine.callbacks.base.Callback (in a config, an entry whose _target_ names one, "
                              "e.g. {_target_: dasuite.engine.callbacks.early_stopping.EarlyStopping, validator: im}).")
    return list(callbacks)


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
