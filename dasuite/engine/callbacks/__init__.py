"""Everything around the training loop, one concern per file, each a :class:`~.base.Callback`
(the hooks and their order: :mod:`.base`). In the order :class:`~dasuite.engine.trainer.Trainer` runs them:

* :mod:`.checkpointing`: ``checkpoints/last.pt`` after each evaluation; resume.
* :mod:`.divergence_check`: stop at the first NaN/inf loss.
* :mod:`.evaluation`: accuracies, validators, collapse guard into each metrics record.
* :mod:`.model_selection`: ``trainer.select``'s pick as ``checkpoints/best.pt``.
* :mod:`.metrics_log`: metrics.jsonl, the ``logger=`` logger, train.log lines.
* :mod:`.progress`: the progress bar (plain lines when the console is no terminal).
* the callbacks ``trainer.callbacks`` lists (your own: a subclass of :class:`~.base.Callback`;
  dasuite's: :mod:`.early_stopping`).
* :mod:`.signal_stop`: Ctrl-C/SIGTERM stop after the step with a resumable checkpoint.
* :mod:`.diagnostic_plots`: ``plots/`` and the proxy A-distance.
"""
