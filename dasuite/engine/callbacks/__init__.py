"""Everything around the training loop, one concern per file, each a :class:`~.base.Callback`
(the hooks, and how a class declares what it runs after: :mod:`.base`). The built-ins, as
:func:`.defaults.default_callbacks` lists them with their settings:

* :mod:`.checkpointing`: ``checkpoints/last.pt`` after each evaluation; resume.
* :mod:`.divergence_check`: stop at the first NaN/inf loss.
* :mod:`.evaluation`: accuracies, validators, collapse guard into each metrics record.
* :mod:`.model_selection`: ``trainer.select``'s pick as ``checkpoints/best.pt``.
* :mod:`.metrics_log`: metrics.jsonl, the ``logger=`` logger, train.log lines.
* :mod:`.progress`: the progress bar (plain lines when the console is no terminal).
* :mod:`.signal_stop`: Ctrl-C/SIGTERM stop after the step with a resumable checkpoint (after all others).
* :mod:`.diagnostic_plots`: ``plots/`` and the proxy A-distance (after the signal handlers are restored).

Beside them, the callbacks ``trainer.callbacks`` lists (your own, a subclass of :class:`~.base.Callback`, or
dasuite's :mod:`.early_stopping`; one of a built-in's class replaces it) and those the method brings
(:meth:`~dasuite.methods.base.Method.callbacks`). :mod:`.ordering` puts them in the order their classes
declare.
"""
