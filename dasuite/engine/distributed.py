"""Data-parallel training across processes: ``torchrun --nproc_per_node=N -m dasuite train ...``.

torchrun starts N copies of ``dasuite train`` and sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` and the
rendezvous address; ``trainer.distributed=auto`` (the default) then trains with
:class:`~torch.nn.parallel.DistributedDataParallel` (gloo between CPU processes, NCCL between GPUs,
one GPU per process: ``cuda:LOCAL_RANK``). What each rank does:

* **Data.** Every rank builds the same pair and draws the same seeded permutation of each training
  set; a step's global batch is ``N × trainer.batch_size`` samples of it and rank r takes the r-th
  slice (:class:`~dasuite.engine.sampler.CyclicBatches`), so the ranks' shards differ, change every
  epoch, and together are the batch one process with ``trainer.batch_size=N·b`` would draw. An epoch
  is one pass over the source train set by all ranks together.
* **Losses.** Each rank computes its method's losses on its local batch (b source + b target
  samples); DDP averages the gradients. For batch-mean losses (cross-entropy, DANN's and CDAN's
  discriminators, entropy terms) that is the gradient of the global batch's loss. Losses built on
  batch statistics (MMD, JAN, CORAL, MCC) are computed per rank on the local batch, as DDP does
  for any loss: each rank's MMD² is an unbiased estimate from b + b samples, and the gradient is the
  mean of N such estimates (the same expectation as one process with batch b, less variance than one
  rank alone, more than one process with batch N·b). BatchNorm normalises with the local batch's
  statistics; ``trainer.sync_batchnorm=true`` uses the statistics of the global batch
  (:class:`torch.nn.SyncBatchNorm`).
* **Optimizers.** Every stage wraps the method in a fresh DDP module (``find_unused_parameters``:
  an optimizer's step, e.g. ADDA's discriminator step, uses only some parameters), so multi-stage
  and multi-optimizer methods run unchanged.
* **Random numbers.** All ranks are seeded alike (as Lightning's ``seed_everything`` does), so the
  model starts identical and checkpoints' random states hold for every rank.
* **Evaluation and files.** Rank 0 evaluates on the whole sets (the numbers of a single process)
  while the others wait for its result; the epoch's ``train/*`` means (loss terms and logged values) are
  averaged over ranks.
  Only rank 0 writes the run folder (:class:`FollowerRunFolder` for the others), into the one folder
  that rank 0 names for all of them before Hydra starts (:func:`launch_arguments`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from dasuite.engine.run_folder import RunFolder
from dasuite.errors import ConfigError

log = logging.getLogger(__name__)

#: ``trainer.distributed`` values.
MODES = ("auto", True, False)


def launched() -> bool:
    """True in a process started by torchrun (or as one of several Slurm tasks of Hydra's submitit
    launcher) with more than one process in all."""
    _from_submitit()
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _from_submitit() -> None:
    """In one of several tasks of a Slurm job started by submitit (``hydra/launcher=submitit_slurm`` with
    ``tasks_per_node`` or ``nodes`` > 1): torchrun's variables, from Slurm's, unless torchrun set them."""
    if "WORLD_SIZE" in os.environ or os.environ.get("SUBMITIT_EXECUTOR") != "slurm":
        return
    import submitit

    job = submitit.JobEnvironment()
    if job.num_tasks > 1:
        os.environ.update(WORLD_SIZE=str(job.num_tasks), RANK=str(job.global_rank), LOCAL_RANK=str(job.local_rank),
                          MASTER_ADDR=job.hostnames[0], MASTER_PORT=str(20000 + int(job.job_id.split("_")[0]) % 20000))


def init_from_env() -> None:
    """Join torchrun's process group (once): gloo for CPU tensors, and NCCL for CUDA ones where present."""
    if dist.is_initialized():
        return
    nccl = torch.cuda.is_available() and dist.is_nccl_available()
    dist.init_process_group(backend="cpu:gloo,cuda:nccl" if nccl else "gloo")


def rank() -> int:
    """This process's rank (before the process group exists: the one its launcher gave it)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0")) if launched() else 0


def is_main() -> bool:
    """True in the process that writes the run folder (rank 0, or the only process)."""
    return rank() == 0


def launch_arguments(args: list[str]) -> list[str]:
    """``dasuite train``'s Hydra arguments for this process: unchanged in a single process; under torchrun
    with rank 0's run folder (the ranks' clocks may disagree on ``${now:...}``) and, on the other ranks,
    without Hydra's own files (``.hydra/``, ``train.log``)."""
    if not launched():
        return args
    init_from_env()
    stamp = [dt.datetime.now().strftime("%Y-%m-%d/%H-%M-%S")]
    dist.broadcast_object_list(stamp, src=0)
    given = {a.split("=", 1)[0].lstrip("+") for a in args if "=" in a}
    fixed = [f"{key}={folder}/{stamp[0]}" for key, folder in (("hydra.run.dir", "runs"), ("hydra.sweep.dir", "multirun"))
             if key not in given]
    quiet = [] if is_main() else ["hydra.output_subdir=null", "hydra.job_logging.root.handlers=[console]",
                                  "+hydra.job_logging.handlers.file.delay=true"]  # train.log is rank 0's
    return [*args, *fixed, *quiet]


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class FollowerRunFolder(RunFolder):
    """The run folder as a rank other than 0 sees it: it reads (a checkpoint to resume from), never writes."""

    def __init__(self, path):  # rank 0 creates the folder
        self.path = Path(path)
        self.logger = None

    def append_metrics(self, record: dict) -> None:
        pass

    def truncate_metrics(self, epochs: int, last: dict | None = None) -> bool:
        return False

    def remove_temporary_files(self) -> None:
        pass

    def write_summary(self, summary: dict) -> None:
        pass

    def save_checkpoint(self, state: dict, name: str = "last.pt"):
        return self.checkpoints / name

    def copy_checkpoint(self, source: str, name: str):
        return self.checkpoints / name


def run_folder(path) -> RunFolder:
    """The run folder this process writes to (rank 0) or only reads (the other ranks)."""
    return RunFolder(path) if is_main() else FollowerRunFolder(path)


class _StepLosses(nn.Module):
    """``method.step_losses`` as a forward pass, for DDP to wrap."""

    def __init__(self, method: nn.Module):
        super().__init__()
        self.method = method

    def forward(self, batch, ctx):
        return self.method.step_losses(batch, ctx)


class Distributed:
    """The trainer's view of the process group (a single process when ``mode`` and the launch say so)."""

    def __init__(self, mode, sync_batchnorm: bool):
        if mode not in MODES or not isinstance(mode, (str, bool)):
            raise ConfigError(f"trainer.distributed={mode!r} is not one of auto, true, false (auto: data-parallel "
                              "when started by torchrun with more than one process).")
        if mode is True and not launched():
            raise ConfigError("trainer.distributed=true but this process was not started by torchrun with several "
                              "processes (WORLD_SIZE is unset or 1). Launch it with: torchrun --nproc_per_node=N "
                              "-m dasuite train ..., or use trainer.distributed=auto.")
        if mode is False and launched():
            raise ConfigError("trainer.distributed=false but torchrun started several processes "
                              f"(WORLD_SIZE={os.environ['WORLD_SIZE']}): each would train the same run alone. Use "
                              "trainer.distributed=auto, or start one process.")
        self.active = launched()
        if self.active:
            init_from_env()
        self.rank = dist.get_rank() if self.active else 0
        self.world_size = dist.get_world_size() if self.active else 1
        self.sync_batchnorm = sync_batchnorm

    def device(self, device: torch.device) -> torch.device:
        """This rank's device: ``cuda:LOCAL_RANK`` for a CUDA run, else ``device``."""
        if not self.active or device.type != "cuda":
            return device
        local = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(local)
        return local

    def prepare(self, method: nn.Module, device: torch.device) -> None:
        """Before training: BatchNorm layers synchronised across ranks when asked (on GPUs: PyTorch's
        SyncBatchNorm does not run on CPUs)."""
        if not (self.active and self.sync_batchnorm):
            return
        if device.type == "cpu":
            log.warning("trainer.sync_batchnorm=true: SyncBatchNorm runs on GPUs only; on the CPU each rank's "
                        "BatchNorm uses its local batch.")
            return
        nn.SyncBatchNorm.convert_sync_batchnorm(method)

    def step_losses(self, method: nn.Module):
        """What computes one step's loss terms: ``method.step_losses``, through DDP across ranks (one
        wrapper per stage, built after the stage's optimizers)."""
        if not self.active:
            return method.step_losses
        return nn.parallel.DistributedDataParallel(_StepLosses(method), find_unused_parameters=True)

    def average(self, sums: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each value's mean over the ranks (one collective for all of them, after one for their names). A name
        that some rank lacks (a term or logged value its steps never produced this epoch) counts 0 there; every
        rank has some (the loss)."""
        if not self.active:
            return sums
        names = [None] * self.world_size
        dist.all_gather_object(names, sorted(sums))
        keys = sorted(set().union(*names))
        zero = torch.zeros_like(next(iter(sums.values())), dtype=torch.float)
        stacked = torch.stack([sums[k].float() if k in sums else zero for k in keys])
        dist.all_reduce(stacked)
        return dict(zip(keys, stacked / self.world_size))

    def on_main(self, compute, *args):
        """``compute(*args)`` run by rank 0 alone, its result handed to every rank (the others wait)."""
        if not self.active:
            return compute(*args)
        result = [compute(*args) if self.rank == 0 else None]
        dist.broadcast_object_list(result, src=0)
        return result[0]
