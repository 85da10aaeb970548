"""Where a run's metrics go besides its run folder: ``logger=csv`` (the default: metrics.jsonl only),
``logger=tensorboard``, ``logger=mlflow``, ``logger=wandb``. One module per logger, each a
:class:`~dasuite.loggers.base.Logger`, built by :func:`dasuite.assembly.logger.build_logger`; the optional packages are
imported only by the logger that needs them."""
