"""A model far larger than its backbone usually is, named before training starts.

A backbone whose layers grow with the input (an MLP on flattened images, a fully connected layer after
convolutions) silently becomes huge on large inputs: a LeNet on 224 px images has ~70M parameters, and
each step takes seconds where the same digits at 28 px take milliseconds. Such a backbone holds most of
its parameters in one linear layer; only then is it rebuilt (small, without pretrained weights) for the
same images at 32×32 pixels, the size of the digit and CIFAR images it is made for, and a model
:data:`FACTOR` times that size or more gets a warning naming its parameter count and that layer.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

#: Parameters beyond this multiple of the backbone's at :data:`REFERENCE_SIDE` px are "far off its usual".
FACTOR = 10
REFERENCE_SIDE = 32
#: Below this many parameters a model is small whatever its ratio.
MINIMUM = 1_000_000


def parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def size_warning(rebuild: Callable[[tuple[int, ...]], nn.Module], backbone: nn.Module,
                 input_shape: tuple[int, ...]) -> str | None:
    """One line when ``backbone`` (built for ``input_shape``) has :data:`FACTOR` times the parameters that
    ``rebuild(shape)`` (the same backbone, without pretrained weights) has on 32×32 images of the same channels,
    else None (vector inputs: no reference size)."""
    count = parameters(backbone)
    if len(input_shape) != 3 or count < MINIMUM or max(input_shape[1:]) <= REFERENCE_SIDE:
        return None
    name, layer = max(((n, m) for n, m in backbone.named_modules() if isinstance(m, nn.Linear)),
                      key=lambda item: item[1].weight.numel(), default=("", None))
    if layer is None or 2 * layer.weight.numel() < count:  # no layer that grows with the image dominates
        return None
    try:
        usual = parameters(rebuild((input_shape[0], REFERENCE_SIDE, REFERENCE_SIDE)))
    except Exception:  # noqa: BLE001 - a backbone that cannot take 32 px: no reference
        return None
    if count < FACTOR * usual:
        return None
    side = "×".join(map(str, input_shape[1:]))
    return (f"the model's backbone has {count / 1e6:.1f}M parameters on {side} images, {count / usual:.0f}× its "
            f"{usual / 1e6:.2f}M at {REFERENCE_SIDE}×{REFERENCE_SIDE}: its layer {name} takes {layer.in_features:,} "
            "inputs, a number that grows with the image. Training will be slow and memory-hungry; use smaller "
            "images (dataset.image_size=) or a backbone made for this size (e.g. backbone=resnet18).")
