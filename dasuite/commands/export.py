"""``dasuite export``: a trained run's model as one self-contained file (torch.export, TorchScript or ONNX).

``format=export`` (the default) writes a ``torch.export`` ExportedProgram (``.pt2``, read back with
``torch.export.load(path).module()``), the format torch now recommends over TorchScript. A model that
torch.export cannot capture (a prediction that branches on a tensor's value, as ADDA's choice of encoder
does) is written as TorchScript instead when no format was asked for, saying so; ``format=torchscript``
and ``format=onnx`` remain.

The exported model takes raw inputs in the pair's form (pixel values 0..255 as float32 (N, C, H, W),
or feature rows) and returns class logits: the pair's normalisation (image mean/std, or the source
statistics of an arrays pair) is part of the file. A JSON file beside it documents the input shape,
channels, the normalisation inside the model, how images are loaded, and the class names.

Both files are serialised in memory and written whole through a temporary file that is renamed
(:func:`dasuite.safe_files.write_atomic`): a full disk or a read-only folder is one paragraph and leaves
the previous files, or none, never a partial one; a link planted at either path (or an ``export/`` folder
that is a link) is refused before anything is written.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from dasuite.config.options import parse_flag, parse_options, parse_trusted_modules, run_command
from dasuite.errors import ConfigError
from dasuite.safe_files import check_writable, write_atomic

FORMATS = {"export": ".pt2", "torchscript": ".torchscript.pt", "onnx": ".onnx"}
#: ``format=`` left out: torch.export where it captures the model, else TorchScript.
DEFAULT_FORMAT = "export"

USAGE = """\
usage: dasuite export run_dir=DIR [format=export] [output=FILE] [checkpoint=last] [trust_checkpoint=false]
                      [trusted_modules=[]]

Write a trained run's model as one file that needs no dasuite, with a JSON description beside it.

  run_dir      a run folder of `dasuite train`
  format       export (default: a torch.export ExportedProgram, torch.export.load(path).module(); a model
               torch.export cannot capture is written as TorchScript, saying so), torchscript
               (torch.jit.load) or onnx (needs: pip install 'dasuite[onnx]')
  output       the model file, or a folder for it (default: <run_dir>/export/model.pt2,
               model.torchscript.pt or model.onnx); the description goes beside it, its last suffix
               replaced by .json
  checkpoint   last (default) or best
  trust_checkpoint
               true: read a checkpoint that holds Python objects beyond tensors and plain data
               (older dasuite versions) and build whatever its config names, which can run code:
               only for files from a trusted source
  trusted_modules
               [mypkg,other.mod]: modules of yours whose classes (a callback, backbone or method)
               the run's config may name; nothing else a run folder names is imported
"""

DEFAULTS = {"run_dir": None, "format": "", "output": "", "checkpoint": "last", "trust_checkpoint": "false",
            "trusted_modules": ""}


def main(args: list[str]) -> int:
    return run_command("export", USAGE, args, _export)


def _export(args: list[str]) -> str:
    options = parse_options("export", args, DEFAULTS)
    model_file, description = export(options["run_dir"], options["format"] or None, options["output"] or None,
                                     options["checkpoint"], parse_flag("trust_checkpoint", options["trust_checkpoint"]),
                                     parse_trusted_modules(options["trusted_modules"]))
    return f"Model: {model_file}\nDescription: {description}"


def export(run_dir, format: str | None = None, output=None, checkpoint: str = "last",
           trust_checkpoint: bool = False, trusted_modules: Sequence[str] = ()) -> tuple[Path, Path]:
    """Write the model file and its JSON description; returns both paths. ``format=None``: torch.export,
    or TorchScript for a model it cannot capture (a line on stderr says so). ``trusted_modules``: modules whose
    classes the run's config may name (:mod:`dasuite.engine.admission`)."""
    import json

    from dasuite.assembly.trained import load_trained
    from dasuite.models.trained import RawInputModel

    chosen = format or DEFAULT_FORMAT
    if chosen not in FORMATS:
        raise ConfigError(f"format={format!r} is not one of {', '.join(FORMATS)}.")
    if chosen == "onnx":
        _require_onnx()
    _model_path(run_dir, output, chosen)  # a bad output= answers before the model loads
    model = load_trained(run_dir, checkpoint, "cpu", trust=trust_checkpoint, trusted_modules=trusted_modules)
    module = RawInputModel(model).eval()
    program = None
    if chosen == "export":
        try:
            program = _torch_export(module, _example(model, 2))
        except ConfigError as error:
            if format is not None:
                raise
            chosen = "torchscript"
            print(f"dasuite export: {error} Writing TorchScript instead.", file=sys.stderr)
    path = _model_path(run_dir, output, chosen)
    description = path.with_suffix(".json")  # model.pt2 -> model.json, model.torchscript.pt -> model.torchscript.json
    within = None if output else Path(run_dir).expanduser()  # export/ must be a real folder of the run
    for file in (path, description):  # both refused before either is written
        check_writable(file, within)
    import torch

    if program is not None:
        data = _serialised(lambda f: torch.export.save(program, f))
    else:
        traced = _trace(module, _example(model, 2))
        data = _script(traced) if chosen == "torchscript" else _onnx(traced, _example(model, 2))
    write_atomic(path, data, within)
    write_atomic(description, json.dumps(describe(model, path, chosen), indent=2) + "\n", within)
    return path, description


def _serialised(save) -> bytes:
    """What ``save(file)`` writes, in memory: the file is then written whole, through a temporary file (torch's
    writers abort the process when the disk fills mid-file, leaving a partial file)."""
    import io

    buffer = io.BytesIO()
    save(buffer)
    return buffer.getvalue()


def _model_path(run_dir, output, format: str) -> Path:
    """``output`` (a file, or a folder for ``model<suffix>``), by default in ``<run_dir>/export/``."""
    path = Path(output).expanduser() if output else Path(run_dir).expanduser() / "export"
    if not output or path.is_dir():
        path = path / f"model{FORMATS[format]}"
    if path.suffix.lower() == ".json":
        raise ConfigError(f"output={output} ends in .json, the suffix of the description written beside the model; "
                          f"name the model file e.g. {path.with_suffix(FORMATS[format]).name}.")
    return path


def _torch_export(module, example):
    """The module captured by ``torch.export`` with a free batch size, checked against eager logits at other
    batch sizes; a ConfigError says why when it cannot be captured."""
    import contextlib
    import io
    import logging

    import torch

    logging.disable(logging.CRITICAL)  # torch logs and prints the graph of a failed capture: the error below says it
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            program = torch.export.export(module, (example,), strict=False,
                                          dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    except Exception as error:  # noqa: BLE001 - torch.export fails in many ways, all meaning "cannot capture"
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise ConfigError(f"torch.export cannot capture this model's prediction ({type(error).__name__}: {first}); "
                          "format=torchscript records the branch the trained model takes.") from None
    finally:
        logging.disable(logging.NOTSET)
    for n in (1, len(example) + 1):
        check = torch.cat([example, example.flip(0)])[:n]
        with torch.inference_mode():
            if not torch.allclose(program.module()(check), module(check), rtol=1e-4, atol=1e-5):
                raise ConfigError("the exported program does not reproduce the checkpoint's logits; "
                                  "format=torchscript records the trained model's behaviour.")
    return program


def _require_onnx() -> None:
    import importlib.util

    if importlib.util.find_spec("onnx") is None:
        raise ConfigError("format=onnx needs the onnx package, which is not installed: pip install 'dasuite[onnx]' "
                          "(or pip install onnx). format=torchscript needs nothing more.")


def _example(model, n: int):
    import torch

    generator = torch.Generator().manual_seed(0)
    if model.takes_images:
        return torch.randint(0, 256, (n, *model.input_shape), generator=generator).float()
    return torch.randn(n, *model.input_shape, generator=generator)


def _trace(module, example):
    """The module traced to TorchScript, checked against eager logits at another batch size.

    Tracing records the branch each Python ``if`` took (ADDA predicts with its target encoder once
    adapted): the trained model's behaviour, which is what is exported.
    """
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)  # torch >= 2.9 deprecates TorchScript; it still loads
        traced = torch.jit.trace(module, example)
    check = torch.cat([example, example.flip(0)[:1]])
    with torch.inference_mode():
        if not torch.allclose(traced(check), module(check), rtol=1e-4, atol=1e-5):
            raise ConfigError("the traced model does not reproduce the checkpoint's logits: the method's predict() "
                              "depends on its input in a way tracing cannot record.")
    return traced


def _script(traced) -> bytes:
    """The traced module's TorchScript file."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch >= 2.9 deprecates TorchScript; it still loads
        return _serialised(lambda f: torch.jit.save(traced, f))


def _onnx(traced, example) -> bytes:
    """ONNX from the traced model (torch's TorchScript-based exporter), batch size left free."""
    import warnings

    import onnx
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the exporter of traced models, still shipped
        warnings.filterwarnings("ignore", message="no signature found")  # a traced module has none: harmless
        data = _serialised(lambda f: torch.onnx.export(
            traced, (example,), f, input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False))
    onnx.checker.check_model(onnx.load_model_from_string(data))
    return data


def _loading(loading: dict, channels: int) -> str:
    """How an image file becomes the exported model's input, as the run's pair stored and cropped its images."""
    size, crop = loading["size"], loading["crop"]
    steps = [f"decode as {'RGB' if channels == 3 else 'grayscale'}",
             f"resize to {size}x{size} (bilinear, aspect ratio not kept)" if loading["squash"] else
             f"resize the shorter side to {size} (bilinear), centre-crop {size}x{size}"]
    if crop and crop < size:
        steps.append(f"centre-crop {crop}x{crop}")
    return ", ".join(steps)


def describe(model, path: Path, format: str) -> dict:
    """What the exported file takes and returns, for someone without dasuite."""
    shape = list(model.input_shape)
    spec = dict(model.preprocess_config or {})
    spec.pop("_target_", None)
    spec.pop("augment", None)
    if model.takes_images:
        channels = shape[0]
        inputs = {"shape": ["N", *shape], "dtype": "float32", "layout": "NCHW", "channels": channels,
                  "values": "raw pixel values 0..255 (not scaled: the model normalises them)",
                  "loading": _loading(model.image_loading, channels)}
    else:
        inputs = {"shape": ["N", *shape], "dtype": "float32",
                  "values": "raw feature values, columns in the order of the training files",
                  **({"columns": model.feature_names} if model.feature_names else {})}
    load = {"export": "torch.export.load(path).module()(x)", "torchscript": "torch.jit.load(path)(x)",
            "onnx": "onnxruntime.InferenceSession(path).run(None, {'input': x})[0]"}[format]
    return {
        "model": path.name, "format": format, "usage": f"logits = {load}; probabilities = softmax(logits, axis=1)",
        "input": {"name": "input", **inputs},
        "normalisation_inside_model": None if model.preprocess is None else
        {"what": model.preprocess.describe(), **spec},
        "output": {"name": "logits", "shape": ["N", len(model.class_names)],
                   "meaning": "class logits; argmax indexes class_names"},
        "class_names": model.class_names,
        "trained": {"run_dir": str(model.checkpoint.parent.parent), "checkpoint": model.checkpoint.name,
                    "epoch": model.epoch, "dataset": model.config.dataset.get("_target_"),
                    "backbone": model.config.backbone.get("_target_"), "method": model.config.method.get("_target_")},
    }

