"""Optional ImageNet networks: found only in the torch cache, wrapped in the course's
conventions."""
import torch
import torchvision
from torch import nn

from lecture_utils import backprop, pretrained


def test_missing_weights_are_skipped_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert not pretrained.available("vgg16")
    assert pretrained.imagenet_model("alexnet") is None
    msg = pretrained.skip_message("vgg16")
    assert "Skipped" in msg and "IMAGENET1K_V1" in msg and str(tmp_path) in msg


def test_wrapped_network_takes_pixels_and_has_hookable_relus():
    torch.manual_seed(0)
    net = torchvision.models.alexnet(weights=None).eval()
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        want = net((x - torch.tensor(pretrained.IMAGENET_MEAN).view(1, 3, 1, 1))
                   / torch.tensor(pretrained.IMAGENET_STD).view(1, 3, 1, 1))
    model = pretrained.wrap(net).eval()
    with torch.no_grad():
        assert torch.allclose(model(x), want, atol=1e-5)
    assert not any(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))
    assert backprop.input_gradient(model, x, 99, rule="guided").shape == x.shape
    assert len(pretrained.imagenet_classes()) == 1000
    assert pretrained.imagenet_classes()[99] == "goose"
