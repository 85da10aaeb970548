"""Any timm model as a feature extractor (``pip install dasuite[timm]``)."""

from __future__ import annotations

from collections.abc import Sequence

from dasuite.errors import ConfigError
from dasuite.models.drop_path import check_drop_path
from dasuite.models.feature_extractor import FeatureExtractor


def timm_backbone(input_shape: Sequence[int], name: str | None = None, pretrained: bool = False,
                  download: bool = False, resize: int | None = None, freeze: bool = False,
                  bottleneck_dim: int | None = None, drop_path: float = 0.0) -> FeatureExtractor:
    """``timm.create_model(name, num_classes=0)``: the model's pooled features; ``drop_path``: timm's
    ``drop_path_rate`` (stochastic depth, for the models that take it), passed only when above 0."""
    try:
        import huggingface_hub.constants as hub
        import timm
    except ImportError as error:
        raise ConfigError("backbone=timm needs the timm package: pip install 'dasuite[timm]' (or pip install "
                          "timm).") from error
    if not name:
        raise ConfigError("backbone=timm needs backbone.name=<timm model>, e.g. backbone.name=resnet50 "
                          "(timm.list_models() lists them).")
    if not timm.is_model(name.split(".")[0]):  # "resnet50.a1_in1k": architecture "." pretrained tag
        raise ConfigError(f"backbone.name={name!r} is not a timm model; timm.list_models('*{name}*') lists close "
                          "names.")
    channels = input_shape[0] if len(input_shape) == 3 else 3
    extra = {"drop_path_rate": check_drop_path(drop_path)} if drop_path else {}
    offline = hub.HF_HUB_OFFLINE
    hub.HF_HUB_OFFLINE = offline or (pretrained and not download)  # cache only: fail fast offline, never hang
    try:
        model = timm.create_model(name, pretrained=pretrained, num_classes=0, in_chans=channels, **extra)
    except Exception as error:  # noqa: BLE001 - timm/hub raise many types; all mean "no weights here"
        raise ConfigError(f"timm could not build {name!r} (pretrained={pretrained}): {error}. Weights are read "
                          "from the Hugging Face cache; set download=true to fetch them.") from error
    finally:
        hub.HF_HUB_OFFLINE = offline
    return FeatureExtractor(f"timm:{name}", model, input_shape, resize=resize, freeze=freeze,
                            bottleneck_dim=bottleneck_dim)
