"""``dasuite predict``: class probabilities of new inputs from a trained run's model.

Inputs get the run's own preprocessing: images are decoded as the run's pair stored them (converted
to the model's channels; shorter side resized and centre-cut, or squashed to ``image_size`` for the
named benchmarks), then centre-cropped and normalised like the evaluation batches; arrays are taken as raw values of the pair's kind (features, standardised
with the source statistics stored in the checkpoint; or uint8 pixel values for image models).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from dasuite.config.options import (parse_flag, parse_options, parse_positive_int, parse_trusted_modules,
                                    run_command)
from dasuite.errors import ConfigError

USAGE = """\
usage: dasuite predict run_dir=DIR input=PATH [checkpoint=last] [output=FILE] [overwrite=false]
                       [batch_size=256] [device=auto] [progress=true] [header=auto] [trust_checkpoint=false]
                       [trusted_modules=[]]

Predict with a trained run's model; writes one CSV row per input: its id, the predicted class and
the probability of each class.

  run_dir      a run folder of `dasuite train` (runs/<date>/<time>, multirun/.../<job>)
  input        an image folder (every image below it, recursively), one image file, or an array
               file: .npy / .npz (x) / .pt / .csv (features; a label column is ignored) with one
               input per row, as raw values (uint8 pixels (N, C, H, W) for image models)
  checkpoint   last (default) or best; a run still training predicts with the checkpoint it saved last
  output       the CSV to write (default: predictions.csv in the input folder, or beside the file)
  overwrite    true: replace an existing output file (false: refuse, naming it)
  batch_size   inputs per forward pass (256)
  device       auto | cpu | cuda (auto)
  progress     true | false: the progress bar (true)
  header       a .csv input's first row: auto (default: column names, unless it holds only numbers,
               which is an error), true (column names), false (data: columns in the training order)
  trust_checkpoint
               true: read a checkpoint that holds Python objects beyond tensors and plain data
               (older dasuite versions) and build whatever its config names, which can run code:
               only for files from a trusted source
  trusted_modules
               [mypkg,other.mod]: modules of yours whose classes (a callback, backbone or method)
               the run's config may name; nothing else a run folder names is imported
"""

DEFAULTS = {"run_dir": None, "input": None, "checkpoint": "last", "output": "", "overwrite": "false",
            "batch_size": "256", "device": "auto", "progress": "true", "header": "auto", "trust_checkpoint": "false",
            "trusted_modules": ""}
HEADERS = ("auto", "true", "false")


def main(args: list[str]) -> int:
    return run_command("predict", USAGE, args, _predict)


def _predict(args: list[str]) -> str:
    options = parse_options("predict", args, DEFAULTS)
    if options["header"] not in HEADERS:
        raise ConfigError(f"header={options['header']!r} is not one of {', '.join(HEADERS)}.")
    path, count = predict(options["run_dir"], options["input"], checkpoint=options["checkpoint"],
                          output=options["output"] or None, overwrite=parse_flag("overwrite", options["overwrite"]),
                          batch_size=parse_positive_int("batch_size", options["batch_size"]),
                          device=options["device"], progress=parse_flag("progress", options["progress"]),
                          header=options["header"],
                          trust_checkpoint=parse_flag("trust_checkpoint", options["trust_checkpoint"]),
                          trusted_modules=parse_trusted_modules(options["trusted_modules"]))
    return f"Predictions for {count} input(s): {path}"


def predict(run_dir, input_path, checkpoint: str = "last", output=None, batch_size: int = 256, device: str = "auto",
            progress: bool = True, header: str = "auto", trust_checkpoint: bool = False,
            overwrite: bool = False, trusted_modules: Sequence[str] = ()) -> tuple[Path, int]:
    """Write the predictions CSV for ``input``; returns its path and the number of rows. ``header``: whether a
    .csv input's first row names the columns (auto: yes, unless it holds only numbers). An existing output
    file is replaced only with ``overwrite``. ``trusted_modules``: modules whose classes the run's config may
    name (:mod:`dasuite.engine.admission`)."""
    source = Path(input_path).expanduser()
    if not source.exists():  # before the heavy imports: a mistyped path answers at once
        raise ConfigError(f"input={input_path} does not exist.")
    target = _output_path(source, output)
    if target.exists() and not overwrite:
        raise ConfigError(f"{target} exists already (predictions of an earlier call?); add overwrite=true to replace "
                          "it, or name another file with output=FILE.")
    training = _still_training(Path(run_dir).expanduser(), checkpoint)

    import csv
    import io

    from tqdm import tqdm

    from dasuite.data.inputs import read_inputs
    from dasuite.engine.trainer import resolve_device
    from dasuite.assembly.trained import load_trained
    from dasuite.safe_files import write_atomic

    device = resolve_device(device, key="device")
    model = load_trained(run_dir, checkpoint, device, trust=trust_checkpoint, trusted_modules=trusted_modules)
    if training:
        print(f"dasuite predict: run_dir={run_dir} is still training ({training}); predicting with the "
              f"checkpoint it saved last, checkpoints/{checkpoint}.pt of epoch {model.epoch}.", file=sys.stderr)
    ids, batches = read_inputs(source, model, batch_size, header)

    def write(f) -> None:
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(["input", "predicted", *(f"prob_{name}" for name in model.class_names)])
        row = 0
        with tqdm(total=len(ids), unit="input", desc="predict", disable=not progress, dynamic_ncols=True) as bar:
            for raw in batches:
                probabilities = model.probabilities(raw.to(device)).cpu()
                for p in probabilities.tolist():
                    best = max(range(len(p)), key=p.__getitem__)
                    writer.writerow([ids[row], model.class_names[best], *(f"{v:.6g}" for v in p)])
                    row += 1
                bar.update(len(probabilities))
        text.flush()
        text.detach()

    write_atomic(target, write)  # an input that fails half-way leaves no partial CSV
    return target, len(ids)


def _still_training(run_dir: Path, checkpoint: str) -> str | None:
    """Who trains ``run_dir`` now (None: no one); a ConfigError when it has saved no such checkpoint yet."""
    from dasuite.engine.run_folder import writer

    holder = writer(run_dir)
    if holder is not None and not (run_dir / "checkpoints" / f"{checkpoint}.pt").is_file():
        raise ConfigError(f"run_dir={run_dir} is still training ({holder}) and has saved no "
                          f"checkpoints/{checkpoint}.pt yet (a run saves one at each evaluation, every "
                          "trainer.eval_every epochs"
                          f"{'; best.pt from its last stage' if checkpoint == 'best' else ''}). "
                          "Wait for its first checkpoint, or for the run to end.")
    return holder


def _output_path(source: Path, output) -> Path:
    if output is None:
        return (source if source.is_dir() else source.parent) / "predictions.csv"
    path = Path(output).expanduser()
    return path / "predictions.csv" if path.is_dir() else path
