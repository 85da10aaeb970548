"""The ``dasuite`` command: dispatches to ``train`` (a Hydra app) and the other subcommands.

Only the standard library is imported here, so help and ``list`` answer without loading torch.
"""

from __future__ import annotations

import sys

USAGE = """\
usage: dasuite <command> [args]

Deep domain adaptation from the command line.

commands:
  train [-m] [key=value ...]   run one experiment (or, with -m, a Hydra multirun sweep)
                               e.g. dasuite train method=mmd dataset=blobs trainer.epochs=50
                                    dasuite train -m method=dann method.trade_off=0.1,0.3,1.0 seed=0,1
                               `dasuite train --help` lists every config group and key
  predict run_dir=DIR input=PATH
                               class probabilities of images or arrays from a trained run's model
                               (predictions.csv); `dasuite predict --help` for the options
  export run_dir=DIR [format=export|torchscript|onnx]
                               the trained model as one file that runs without dasuite
                               (default: a torch.export program, model.pt2)
  eval run_dir=DIR [dataset=PAIR] [checkpoint=last|best]
                               accuracy, per-class accuracy and confusion matrix of a run's model on
                               its target test set or another pair's (JSON in DIR/eval/)
  report PATH... [--by KEYS] [--select ensv|VALIDATOR]
                               one table and plots over run folders and sweeps: accuracy per
                               configuration, each validator's label-free pick beside the oracle
  list                         the available dataset pairs, backbones, methods and trainers

exit codes: 0 done; 1 a run failed (its folder keeps summary.json and train.log); 2 a bad argument or
config (nothing was run, no run folder is left)

options:
  -h, --help                   show this help
  --version                    print the version

shell completion (config groups, choices and keys of train; Hydra's):
  eval "$(dasuite train --shell-completion install=bash)"    (or zsh, fish; in ~/.bashrc to keep it)
"""


def main(argv: list[str] | None = None) -> None:
    """Run a command (``argv`` None: the process's arguments); it ends with SystemExit unless it only printed."""
    _command(sys.argv[1:] if argv is None else list(argv))


def entry() -> None:
    """The installed ``dasuite`` program (and ``python -m dasuite``): :func:`main`, then the end of the process
    without the interpreter's teardown where torch was loaded and no process it started still runs."""
    try:
        main()
    except SystemExit as done:
        if "torch" in sys.modules and not _has_live_children():
            _exit_without_teardown(done.code)
        raise


def _has_live_children() -> bool:
    """Whether processes this one started still run (joblib's workers, DataLoader workers): the interpreter's
    teardown stops them, where an exit without it would leave them holding the console for minutes."""
    import multiprocessing

    return bool(multiprocessing.active_children())


def _exit_without_teardown(code) -> None:
    """End the process with ``code`` once its work is written, skipping the interpreter's teardown of its
    modules: with torch, matplotlib and scikit-learn loaded that takes about a second, and every file is
    closed by then (run folders, loggers). The exit handlers still run (atexit: a logger's service, say),
    and the console and the log handlers are flushed. Under torchrun it also spares the ranks a teardown
    that, with torch 2.14 and gloo, aborted about one in four of them ("terminate called without an active
    exception") after their work was done."""
    import atexit
    import logging
    import os

    if isinstance(code, str):  # sys.exit("message")
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`dasuite ... | head`) or stream
            pass
    os._exit(code or 0)


def _command(args: list[str]) -> None:
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        sys.exit(0 if args else 2)
    command, rest = args[0], args[1:]
    if command == "--version":
        from dasuite import __version__

        print(f"dasuite {__version__}")
    elif command == "train":
        from dasuite.commands.train import run_train

        try:
            code = run_train(rest)
        except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM after the checkpoint was saved
            detail = f": {stop}" if str(stop) else ""
            print(f"dasuite train: interrupted (summary.json says \"interrupted\"){detail}", file=sys.stderr)
            sys.exit(getattr(stop, "exit_code", 130))
        sys.exit(code)
    elif command in ("-sc", "--shell-completion"):  # run by the installed completion script
        from dasuite.commands.completion import main as completion_main

        sys.exit(completion_main(args))
    elif command == "list":
        from dasuite.commands.list import format_catalog

        print(format_catalog(), end="")
    elif command == "predict":
        from dasuite.commands.predict import main as predict_main

        sys.exit(predict_main(rest))
    elif command == "export":
        from dasuite.commands.export import main as export_main

        sys.exit(export_main(rest))
    elif command == "eval":
        from dasuite.commands.eval import main as eval_main

        sys.exit(eval_main(rest))
    elif command == "report":
        from dasuite.commands.report import main as report_main

        sys.exit(report_main(rest))
    else:
        print(f"dasuite: error: unknown command {command!r}; valid commands: train, eval, report, predict, export, "
              "list.\n", file=sys.stderr)
        print(USAGE, end="", file=sys.stderr)
        sys.exit(2)
