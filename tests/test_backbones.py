"""Every backbone: forward shape on a small batch (pretrained=false), and its input checks."""

import sys

import pytest
import torch

from dasuite.errors import ConfigError
from dasuite.models.lenet import lenet
from dasuite.models.timm_net import timm_backbone
from dasuite.models.torchvision_nets import torchvision_backbone, vit_tiny

CASES = [
    ("lenet", lambda shape: lenet(shape), (1, 28, 28)),
    ("lenet rgb 32", lambda shape: lenet(shape), (3, 32, 32)),
    ("resnet18 grey", lambda shape: torchvision_backbone(shape, "resnet18"), (1, 28, 28)),
    ("resnet50", lambda shape: torchvision_backbone(shape, "resnet50"), (3, 32, 32)),
    ("vgg16", lambda shape: torchvision_backbone(shape, "vgg16"), (3, 32, 32)),
    ("vit_b_16", lambda shape: torchvision_backbone(shape, "vit_b_16", resize=224), (1, 28, 28)),
    ("vit_tiny", lambda shape: vit_tiny(shape), (1, 28, 28)),
]


@pytest.mark.parametrize(("name", "build", "shape"), CASES, ids=[c[0] for c in CASES])
def test_forward_gives_out_features_per_image(name, build, shape):
    torch.manual_seed(0)
    model = build(shape)
    features = model(torch.randn(2, *shape))
    assert features.shape == (2, model.out_features) and torch.isfinite(features).all()


def test_lenet_has_the_design_layers():
    model = lenet((1, 28, 28))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(20, (5, 5)), (50, (5, 5))]
    assert model.out_features == 500


def test_too_small_images_fail_with_the_fix():
    with pytest.raises(ConfigError, match="backbone vgg16 cannot take 3×28×28 images.*image_size=32.*resize=224"):
        torchvision_backbone((3, 28, 28), "vgg16")
    with pytest.raises(ConfigError, match="vit_tiny needs square images whose side is a multiple of.*patch_size=7"):
        vit_tiny((1, 30, 30))
    with pytest.raises(ConfigError, match="backbone lenet takes images"):
        lenet((2,))


def test_freeze_keeps_the_body_fixed_but_trains_the_bottleneck():
    model = torchvision_backbone((3, 32, 32), "resnet18", freeze=True, bottleneck_dim=16)
    assert model.out_features == 16
    assert not any(p.requires_grad for p in model.body.parameters())
    assert all(p.requires_grad for p in model.bottleneck.parameters())
    model.train()
    assert not model.body.training and model.bottleneck.training
    before = model.body.layer1[0].bn1.running_mean.clone()
    model(torch.randn(4, 3, 32, 32))
    assert torch.equal(model.body.layer1[0].bn1.running_mean, before)  # BatchNorm statistics frozen


def test_pretrained_weights_offline_give_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="resnet18 with pretrained=true .*expected at .*download=true.*weights_path"):
        torchvision_backbone((3, 32, 32), "resnet18", pretrained=True)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot load the resnet18 weights file .*broken.pth"):
        torchvision_backbone((3, 32, 32), "resnet18", pretrained=True, weights_path=broken)


def test_pretrained_weights_load_from_a_local_file(tmp_path):
    source = torchvision_backbone((3, 32, 32), "resnet18")
    full = {f"{k}": v for k, v in source.body.state_dict().items()}
    full["fc.weight"], full["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    torch.save(full, tmp_path / "r18.pth")
    loaded = torchvision_backbone((3, 32, 32), "resnet18", pretrained=True, weights_path=tmp_path / "r18.pth")
    assert torch.equal(loaded.body.conv1.weight, source.body.conv1.weight)


def test_timm_without_timm_installed_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # makes `import timm` fail, installed or not
    with pytest.raises(ConfigError, match=r"pip install 'dasuite\[timm\]'"):
        timm_backbone((3, 32, 32), name="resnet18")


def test_weights_path_without_pretrained_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="weights_path=.* is only read with backbone.pretrained=true"):
        torchvision_backbone((3, 32, 32), "resnet18", weights_path=tmp_path / "w.pth")


def test_vit_at_the_wrong_size_is_a_config_error():
    with pytest.raises(ConfigError, match="backbone vit_b_16 cannot take 3×32×32 images"):
        torchvision_backbone((3, 32, 32), "vit_b_16")
