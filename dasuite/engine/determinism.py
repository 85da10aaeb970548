"""``trainer.deterministic=true``: deterministic kernels only, for bit-identical reruns and resumes.

On the CPU, dasuite's runs are already reproducible for a fixed seed and thread count; the flag
makes PyTorch raise for any operation without a deterministic implementation, and on CUDA it also
turns off cuDNN's benchmark autotuning and sets the cuBLAS workspace that determinism requires
(``CUBLAS_WORKSPACE_CONFIG``, unless already set). The previous settings come back afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def deterministic_algorithms(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    previous = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.backends.cudnn.benchmark = previous[1]
