"""``dasuite train``: the Hydra application. Each Hydra job is one run with its own run folder."""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from dasuite import __version__
from dasuite.catalog import check_choices, config_dir
from dasuite.errors import ConfigError

log = logging.getLogger("dasuite")

#: Run folders of the jobs run, and of those that failed, in this process (a multirun carries on
#: past a failed job and reports them all at the end).
JOBS: list[str] = []
FAILED: list[str] = []


def run_train(args: list[str]) -> int:
    """Entry point of ``dasuite train ARGS``: check group names, then hand over to Hydra."""
    custom_search_path = any(a.startswith(("hydra.searchpath", "--config-dir", "-cd")) for a in args)
    try:
        if not custom_search_path:
            check_choices([a for a in args if "=" in a and not a.startswith("-")])
    except ConfigError as error:
        print(f"dasuite train: error: {error}", file=sys.stderr)
        return 2
    JOBS.clear()
    FAILED.clear()
    sys.argv = ["dasuite train", *args]
    _hydra_app()
    if len(JOBS) > 1 and FAILED:
        print(f"dasuite train: {len(FAILED)} run(s) failed; see summary.json and train.log in: "
              + ", ".join(FAILED), file=sys.stderr)
    return 1 if FAILED else 0


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def _hydra_app(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    run_experiment(cfg, run_dir, hydra_cfg.runtime.choices, hydra_cfg.overrides.task)


def run_experiment(cfg: DictConfig, run_dir: Path, choices, overrides) -> dict:
    """Build the pair, model, method and trainer from ``cfg``, train, and write summary.json.

    Any error ends in a summary.json with status "failed" (or "interrupted" on Ctrl-C) and never
    removes files written before it.
    """
    from dasuite.engine.run_folder import RunFolder

    run = RunFolder(run_dir)
    JOBS.append(str(run_dir))
    started = dt.datetime.now().astimezone()
    wall = time.perf_counter()
    meta = {"dataset": choices.get("dataset"), "method": choices.get("method"),
            "backbone": choices.get("backbone"), "overrides": list(overrides), "run_dir": str(run_dir),
            "dasuite_version": __version__}
    try:
        meta.update(seed=cfg.get("seed"), trade_off=cfg.method.get("trade_off"),
                    target_labels_per_class=cfg.dataset.get("target_labels_per_class", 0))
        summary = _train(cfg, run, meta)
    except KeyboardInterrupt:
        run.write_summary({"status": "interrupted", **meta, "started_at": started.isoformat()})
        raise
    except Exception as error:  # noqa: BLE001 - every failure must leave a summary
        cause = _root_cause(error)
        summary = {"status": "failed", **meta, "error_type": type(cause).__name__, "error": str(cause),
                   "started_at": started.isoformat(), "duration_s": time.perf_counter() - wall}
        run.write_summary(summary)
        if isinstance(cause, ConfigError):
            log.error("error: %s", cause)
        else:
            log.info("traceback of the failure:", exc_info=error)
            log.error("run failed: %s: %s (full traceback in %s)", type(cause).__name__, cause,
                      run_dir / "train.log")
        FAILED.append(str(run_dir))
        return summary
    summary.update(started_at=started.isoformat(), finished_at=dt.datetime.now().astimezone().isoformat(),
                   duration_s=time.perf_counter() - wall)
    run.write_summary(summary)
    print(f"Run folder: {run_dir}\n"
          f"source accuracy {_percent(summary['source_acc'])} | target accuracy {_percent(summary['target_acc'])}"
          f" (last epoch of {summary['epochs']}, {summary['train_seconds']:.1f} s training)")
    return summary


def _train(cfg: DictConfig, run, meta: dict) -> dict:
    import torch
    from hydra.utils import instantiate

    from dasuite.data import build_pair
    from dasuite.engine.plots import plot_curves, plot_decision_regions

    seed = cfg.get("seed", 0)
    if not isinstance(seed, int):
        raise ConfigError(f"seed={seed!r} must be an integer.")
    trainer = instantiate(cfg.trainer)
    pair = build_pair(cfg.dataset)
    torch.manual_seed(seed)
    backbone = instantiate(cfg.backbone, input_shape=pair.input_shape)
    method = instantiate(cfg.method, backbone=backbone, num_classes=pair.num_classes)
    log.info("%s on %s with %s: %d source train, %d source val, %d target train, %d target test, device %s",
             meta["method"], meta["dataset"], meta["backbone"], len(pair.source_train), len(pair.source_val),
             len(pair.target_train), len(pair.target_test), trainer.device)
    config = OmegaConf.to_container(cfg, resolve=True)
    result = trainer.fit(method, pair, run, seed, checkpoint_extra={"config": config, "meta": meta})
    if trainer.plots:
        try:
            plot_curves(run.read_metrics(), run.plots / "curves.png")
            if pair.input_shape == (2,):
                plot_decision_regions(method, pair, trainer.device, run.plots / "decision_regions.png")
        except Exception as error:  # noqa: BLE001 - a plot must not fail a finished run
            log.warning("plotting failed (%s: %s); the run's results are unaffected", type(error).__name__, error)
    return {
        "status": "completed", **meta,
        "target_acc": result.final.get("target/acc"), "source_acc": result.final.get("source/acc"),
        "epochs": result.epochs, "steps": result.steps, "train_seconds": result.train_seconds,
        "samples_per_second": result.samples_per_second, "device": str(trainer.device),
        **_peak_memory(trainer.device),
    }


def _peak_memory(device) -> dict[str, float]:
    """Peak resident memory of this process (and of the CUDA device), in MiB."""
    import torch

    peak = {}
    try:
        import resource
    except ImportError:  # Windows has no getrusage
        pass
    else:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        peak["peak_memory_mb"] = rss / (2 ** 20 if sys.platform == "darwin" else 1024)
    if device.type == "cuda":
        peak["peak_cuda_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    return peak


def _root_cause(error: BaseException) -> BaseException:
    """The error a component raised, unwrapped from Hydra's InstantiationException."""
    from hydra.errors import InstantiationException

    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    return error


def _percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{100 * fraction:.2f}%"
