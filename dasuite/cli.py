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
    args = sys.argv[1:] if argv is None else list(argv)
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
        if "torch" not in sys.modules:  # answered before training (an error, --help): no process group
            sys.exit(code)
        from dasuite.engine.distributed import exit_process

        exit_process(code)
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
