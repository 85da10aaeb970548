"""The ``dasuite`` subcommands, one module each: train, resume (``train resume=DIR``), eval, predict,
export, report, list and shell completion. :mod:`dasuite.cli` dispatches to them; each imports torch
only when it runs."""
