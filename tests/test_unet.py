import pytest
import torch

from landseg.errors import ConfigError
from landseg.models.unet import PRESETS, UNet, UNetConfig, build_unet, count_parameters


@pytest.mark.parametrize("bands,classes", [(3, 6), (4, 6), (3, 5)])
def test_forward_backward(bands, classes):
    m = UNet(UNetConfig(in_channels=bands, num_classes=classes, width=4, depth=3))
    x = torch.randn(2, bands, 32, 48, requires_grad=True)
    y = m(x)
    assert y.shape == (2, classes, 32, 48)
    y.mean().backward()
    assert x.grad is not None


def test_full_preset_is_the_papers_size():
    n = count_parameters(build_unet({"name": "unet", "in_channels": 3, "num_classes": 6, **PRESETS["full"]}))
    assert 30e6 < n < 32e6


def test_wrong_input_says_what_is_needed():
    m = UNet(UNetConfig(in_channels=4, num_classes=6, width=4, depth=3))
    with pytest.raises(ConfigError, match="needs 4 input bands, got 3"):
        m(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ConfigError, match="divisible by 8, got 30x32"):
        m(torch.zeros(1, 4, 30, 32))


def test_unknown_arch():
    with pytest.raises(ConfigError, match="unknown architecture"):
        build_unet({"name": "segformer"})


@pytest.mark.parametrize("width, depth, bands, classes", [(4, 3, 3, 6), (16, 4, 4, 5), (8, 1, 1, 2), (64, 4, 3, 6)])
def test_parameter_count_without_building(width, depth, bands, classes):
    from landseg.models.unet import UNet, UNetConfig, count_parameters, unet_parameter_count

    cfg = UNetConfig(in_channels=bands, num_classes=classes, width=width, depth=depth)
    assert unet_parameter_count(cfg) == count_parameters(UNet(cfg))


def test_absurd_architecture_is_refused_before_allocation():
    with pytest.raises(ConfigError, match="more than the 2,000,000,000"):
        build_unet({"name": "unet", "in_channels": 3, "num_classes": 6, "width": 512, "depth": 8})
