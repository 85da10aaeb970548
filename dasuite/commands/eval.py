"""``dasuite eval``: a trained run's model on its own target test set, or on another pair's.

The model comes from the run's checkpoint (:func:`dasuite.models.trained.load_trained`); the test images
go through the model's own preprocessing (the normalisation it was trained with). Without
``dataset=`` the run's own pair is rebuilt from its stored settings, so the result reproduces the
run's ``target/acc`` of that epoch exactly; ``dataset=PAIR`` composes that pair from the packaged
configs (``dataset.KEY=VALUE`` adjusts it, e.g. ``dataset.channels=1``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from dasuite.config.options import parse_flag, parse_options, parse_trusted_modules, run_command
from dasuite.errors import ConfigError
from dasuite.safe_files import UnsafeFile, check_writable, is_present, read_text, write_atomic

USAGE = """\
usage: dasuite eval run_dir=DIR [dataset=PAIR] [checkpoint=last] [dataset.KEY=VALUE ...]
                    [data_root=DIR] [output=FILE] [device=auto] [trust_checkpoint=false]
                    [trusted_modules=[]]

Evaluate a trained run's model on the target test set of its own dataset pair (default) or of
another pair: accuracy, mean per-class accuracy, per-class accuracy and the confusion matrix (rows: true
class, columns: predicted class), written as JSON (default DIR/eval/<pair>_<checkpoint>.json).

  run_dir      a run folder of `dasuite train` (runs/<date>/<time>, multirun/.../<job>)
  dataset      a dataset pair (`dasuite list`): its target test set, with the pair's default
               settings; default: the run's own pair with the run's settings
  dataset.KEY  a setting of that pair, e.g. dataset.rotation_deg=70 or dataset.channels=1
  checkpoint   last (default) or best (the label-free pick of trainer.select)
  data_root    where real datasets are read from (default: the run's own setting)
  output       the JSON file to write
  device       auto | cpu | cuda (auto)
  trust_checkpoint
               true: read a checkpoint that holds Python objects beyond tensors and plain data
               (older dasuite versions) and build whatever its config names, which can run code:
               only for files from a trusted source
  trusted_modules
               [mypkg,other.mod]: modules of yours whose classes (a callback, backbone or method)
               the run's config may name; nothing else a run folder names is imported
"""

_MISSING = object()
DEFAULTS = {"run_dir": None, "dataset": "", "checkpoint": "last", "data_root": "", "output": "", "device": "auto",
            "trust_checkpoint": "false", "trusted_modules": ""}


def main(args: list[str]) -> int:
    return run_command("eval", USAGE, args, _evaluate)


def _evaluate(args: list[str]) -> str:
    settings = [a for a in args if a.startswith("dataset.")]
    options = parse_options("eval", [a for a in args if a not in settings], DEFAULTS)
    path, result = evaluate_run(options["run_dir"], dataset=options["dataset"] or None,
                                checkpoint=options["checkpoint"], settings=settings,
                                data_root=options["data_root"] or None, output=options["output"] or None,
                                device=options["device"],
                                trust_checkpoint=parse_flag("trust_checkpoint", options["trust_checkpoint"]),
                                trusted_modules=parse_trusted_modules(options["trusted_modules"]))
    return describe(result) + f"\nWrote {path}"


def evaluate_run(run_dir, dataset: str | None = None, checkpoint: str = "last", settings=(),
                 data_root: str | None = None, output=None, device: str = "auto",
                 trust_checkpoint: bool = False, trusted_modules: Sequence[str] = ()) -> tuple[Path, dict]:
    """Evaluate ``run_dir``'s checkpoint on a target test set; write and return the result. ``trusted_modules``:
    modules whose classes the run's config may name (:mod:`dasuite.engine.admission`)."""
    from dasuite.config.catalog import choices

    run_dir = Path(run_dir).expanduser()
    if dataset is not None and dataset not in choices("dataset"):  # before the heavy imports
        raise ConfigError(f"dataset={dataset!r} is not a dataset pair; valid choices: "
                          f"{', '.join(choices('dataset'))}.")
    for setting in settings:
        if "=" not in setting:
            raise ConfigError(f"cannot read {setting!r}: a pair's setting is dataset.KEY=VALUE.")

    from dasuite.engine.trainer import resolve_device
    from dasuite.assembly.pair import build_pair
    from dasuite.assembly.trained import load_trained

    device = resolve_device(device, key="device")
    model = load_trained(run_dir, checkpoint, device, trust=trust_checkpoint, trusted_modules=trusted_modules)
    name, dataset_cfg = _pair_config(run_dir, model.config, dataset, settings, data_root)
    pair = build_pair(dataset_cfg)
    _check_fits(model, pair, name)
    y, predicted = _predictions(model, pair.target_test, device,
                                int(model.config.get("trainer", {}).get("eval_batch_size", 1024)))
    result = {"run_dir": str(run_dir), "checkpoint": checkpoint, "checkpoint_file": str(model.checkpoint),
              "epoch": model.epoch, "dataset": name, "split": "target_test",
              **_scores(y, predicted, model.class_names),
              "dataset_config": _plain(dataset_cfg)}
    path = Path(output).expanduser() if output else run_dir / "eval" / _file_name(name, settings, checkpoint)
    if not output:
        _check_replaces(path, result, run_dir)
    write_atomic(path, json.dumps(result, indent=1) + "\n", within=None if output else run_dir)
    return path, result


def _pair_config(run_dir: Path, config, dataset: str | None, settings, data_root: str | None):
    """The pair's name and resolved settings: the run's own (as stored with the model), or ``dataset=<pair>``
    composed from the packaged configs (Hydra's compose API); then ``settings`` and ``data_root`` applied."""
    from omegaconf import OmegaConf

    if dataset is None:
        base, name = config.dataset, None
    else:
        from hydra import compose, initialize_config_dir

        from dasuite.config.catalog import config_dir

        with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name="eval"):
            base, name = compose("config", overrides=[f"dataset={dataset}"]).dataset, dataset
    dataset_cfg = OmegaConf.create(OmegaConf.to_container(base, resolve=True))
    for setting in settings:
        key = setting.partition("=")[0]
        if OmegaConf.select(dataset_cfg, key[len("dataset."):], default=_MISSING) is _MISSING:
            raise ConfigError(f"{key} is not a setting of the dataset pair {name or 'of the run'}; its settings: "
                              f"{', '.join('dataset.' + k for k in dataset_cfg if k != '_target_')}.")
        try:
            dataset_cfg = OmegaConf.merge(dataset_cfg, OmegaConf.from_dotlist([setting]).dataset)
        except Exception as error:  # noqa: BLE001 - a value that is not YAML, or of the wrong type
            raise ConfigError(f"cannot read {setting!r}: {' '.join(str(error).split())}") from error
    if data_root and "data_root" in dataset_cfg:
        dataset_cfg.data_root = data_root
    return name or _run_pair_name(run_dir, dataset_cfg), dataset_cfg


def _file_name(pair: str, settings, checkpoint: str) -> str:
    """``moons_last.json``; with settings ``moons_rotation_deg=70_last.json``."""
    parts = [pair, *(s[len("dataset."):] for s in settings), checkpoint]
    return re.sub(r"[^\w.=-]", "-", "_".join(parts)) + ".json"


def _run_pair_name(run_dir: Path, dataset_cfg) -> str:
    """The name of the run's own pair as the run recorded it: the ``dataset`` choice in its stored Hydra config
    (``.hydra/hydra.yaml``), else in its summary.json; never a guess from the pair's settings. A pipe or device
    at either is refused (:class:`~dasuite.safe_files.UnsafeFile`), not guessed around."""
    import yaml

    def choice() -> object:
        tree = yaml.safe_load(read_text(run_dir / ".hydra" / "hydra.yaml"))
        return tree["hydra"]["runtime"]["choices"]["dataset"]

    def summary() -> object:
        return json.loads(read_text(run_dir / "summary.json"))["dataset"]

    for read in (choice, summary):
        try:
            name = read()
        except UnsafeFile:
            raise
        except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError):
            continue
        if isinstance(name, str) and re.fullmatch(r"[\w.=-]+", name):
            return name
    raise ConfigError(f"run_dir={run_dir} does not record which dataset pair it was trained on (neither "
                      ".hydra/hydra.yaml nor summary.json can be read), so its result has no name to be filed "
                      "under: give output=FILE, or dataset=PAIR to evaluate on a named pair.")


def _check_replaces(path: Path, result: dict, run_dir: Path) -> None:
    """A ConfigError when ``path`` (in ``run_dir``) holds anything but an earlier result of this same evaluation
    (the pair, its settings and the checkpoint), which it would overwrite; an :class:`UnsafeFile` for a link, pipe
    or device there, which is neither read nor replaced."""
    check_writable(path, within=run_dir)
    if not is_present(path):
        return
    try:
        earlier = json.loads(read_text(path))
        same = all(earlier.get(k) == result[k] for k in ("dataset", "checkpoint", "dataset_config"))
    except UnsafeFile:
        raise
    except (OSError, ValueError, AttributeError):
        earlier, same = None, False
    if not same:
        what = ("the result of another evaluation (dataset " f"{earlier.get('dataset')!r}, checkpoint "
                f"{earlier.get('checkpoint')!r}, other settings)" if isinstance(earlier, dict) else
                "a file that is not a result of dasuite eval")
        raise ConfigError(f"{path} holds {what}; it is kept. Give output=FILE for this result, or move that file "
                          "away.")


def _check_fits(model, pair, name: str) -> None:
    """A ConfigError naming both shapes (or class lists) when the pair's test set does not fit the model."""
    have, want = tuple(pair.input_shape), tuple(model.input_shape)
    if have != want:
        fixes = []
        if len(have) == len(want) == 3:
            fixes += [f"dataset.channels={want[0]}"] if have[0] != want[0] else []
            fixes += [f"dataset.image_size={want[1]}"] if have[1:] != want[1:] else []
        hint = f" If the pair can convert its images, add {' and '.join(fixes)}." if fixes else ""
        raise ConfigError(f"dataset={name} gives inputs of shape {'×'.join(map(str, have))}, but the run's model "
                          f"takes {'×'.join(map(str, want))} (it was trained on other data).{hint}")
    if list(pair.class_names) != list(model.class_names):
        raise ConfigError(f"dataset={name} has {pair.num_classes} classes ({', '.join(pair.class_names[:12])}), "
                          f"but the run's model predicts {len(model.class_names)} "
                          f"({', '.join(model.class_names[:12])}): its predictions would not name the pair's "
                          "classes. Evaluate on a pair with the same classes in the same order.")


def _predictions(model, test, device, batch_size: int):
    """True and predicted labels of the test set, in its order, as the trainer's evaluation batches it."""
    import torch

    from dasuite.engine.evaluate import batches

    ys, predicted = [], []
    with torch.inference_mode():
        for x, y in batches(test, batch_size, device):
            predicted.append(model.method.predict(model.prepare(x)).argmax(1).cpu())
            ys.append(y.cpu())
    return torch.cat(ys), torch.cat(predicted)


def _scores(y, predicted, class_names: list[str]) -> dict:
    """Accuracy, mean per-class accuracy, per-class accuracy (None for a class absent from the set) and the
    confusion matrix (:mod:`dasuite.metrics`)."""
    import torch

    from dasuite.metrics import accuracy, mean_class_accuracy, per_class_accuracy

    k = len(class_names)
    confusion = torch.bincount(y * k + predicted, minlength=k * k).view(k, k)
    return {"n": len(y), "accuracy": accuracy(predicted, y), "mean_class_accuracy": mean_class_accuracy(predicted, y),
            "per_class_accuracy": dict(zip(class_names, per_class_accuracy(predicted, y, k))),
            "per_class_n": dict(zip(class_names, confusion.sum(1).tolist())),
            "class_names": list(class_names), "confusion_matrix": confusion.tolist()}


def _plain(cfg) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


def describe(result: dict) -> str:
    """A few lines for people: the set, the checkpoint, the accuracy and the first classes' accuracies."""
    per_class = [f"{c} {'n/a' if a is None else f'{100 * a:.1f}%'}"
                 for c, a in list(result["per_class_accuracy"].items())[:10]]
    more = len(result["per_class_accuracy"]) - len(per_class)
    return (f"{result['dataset']} target test set ({result['n']} samples), checkpoint {result['checkpoint']} "
            f"(epoch {result['epoch']}) of {result['run_dir']}:\n"
            f"accuracy {100 * result['accuracy']:.2f}%, mean per-class accuracy "
            f"{100 * result['mean_class_accuracy']:.2f}%\n"
            f"per class: {', '.join(per_class)}{f' (+{more} more in the JSON)' if more > 0 else ''}")
