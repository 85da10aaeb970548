"""``trainer.compile=true``: :func:`torch.compile` of the method's networks.

A method's training step is Python that composes losses with per-step numbers (DANN's reversal
weight, the training progress), so the trainer compiles the networks the method lists
(:meth:`~dasuite.methods.base.Method.networks`: the ``backbone`` and the classifier ``head``, and e.g.
ADDA's target encoder), in place (:meth:`torch.nn.Module.compile`): the losses
around them run eagerly, and ``state_dict`` keys stay those of the eager model (no ``_orig_mod.``),
so a compiled run's checkpoint loads into an eager model and back. Compiling takes tens of seconds
on a CPU at the first step (and again at the first evaluation): it pays off only on long runs.

Where no compiler can work (no C++ compiler for the CPU backend, no Triton for CUDA, a Python that
TorchDynamo does not support) the run stays eager with one warning.
"""

from __future__ import annotations

import logging
import shutil

import torch
from torch import nn

log = logging.getLogger(__name__)


def compiler_missing(device: torch.device) -> str | None:
    """Why torch.compile cannot run on ``device`` here (None: it can)."""
    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        return "TorchDynamo does not support this Python or platform"
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        return None if has_triton() else "Triton is not installed (pip install triton)"
    from torch._inductor import config

    compiler = next((c for c in config.cpp.cxx if c), "g++")  # (None, "g++"): inductor's default
    return None if shutil.which(compiler) else f"no C++ compiler ({compiler}) on the PATH"


def compile_networks(method: nn.Module, device: torch.device) -> bool:
    """Compile ``method.networks()`` in place; False (and a warning) where it cannot."""
    reason = compiler_missing(device)
    if reason is not None:
        log.warning("trainer.compile=true but torch.compile cannot run here (%s); training runs eagerly.", reason)
        return False
    for module in {id(m): m for m in method.networks()}.values():
        module.compile()
    return True
