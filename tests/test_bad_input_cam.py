"""CAM and Grad-CAM on the inputs a careless student or a hostile folder would give (issue 13):
the right map, or a clear error that says what to do; never a plausible-looking wrong map."""
import pytest
import torch
from torch import nn

from lecture_utils import cam, hooks, models


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return models.resnet_gap(width=4, blocks=(1, 1, 1)).eval()


@pytest.fixture(scope="module")
def x():
    return torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))


def _reference_grad_cam(model, x, target, layer, inplace_after):
    """Grad-CAM at ``layer`` computed by hand on a copy of the model without in-place ops."""
    import copy
    net = copy.deepcopy(model)
    for m in net.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    store = {}
    h = net.get_submodule(layer).register_forward_hook(lambda m, a, o: store.setdefault("a", o))
    x = x.clone().requires_grad_(True)
    out = net(x)
    h.remove()
    a = store["a"]
    (g,) = torch.autograd.grad(out[torch.arange(len(x)), target].sum(), a)
    return torch.relu((g.mean((2, 3))[:, :, None, None] * a).sum(1)).detach()


def test_grad_cam_reads_the_layer_not_the_in_place_relu_after_it():
    """torchvision's VGG11: features.18 is a conv followed by ReLU(inplace=True). The activation
    recorded must be the conv's output, not its rectified overwrite (the map was 71% off)."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net = torchvision.models.vgg11(weights=None, num_classes=10).eval()
    assert isinstance(net.features[19], nn.ReLU) and net.features[19].inplace
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([1, 7])
    ours = cam.grad_cam(net, x, target, layer="features.18")
    want = _reference_grad_cam(net, x, target, "features.18", True)
    torch.testing.assert_close(ours, want, rtol=1e-4, atol=1e-6 * float(want.abs().max()) + 1e-9)
    alpha, a = cam.grad_cam_weights(net, x, target, layer="features.18")
    assert (a < 0).any(), "the conv's output has negative values; a ReLU'd copy would not"
    # The model's own output is unchanged by the capture.
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(x))


def test_cam_reads_the_layer_before_an_in_place_relu():
    """A GAP network whose last conv is followed by an in-place ReLU: CAM at the conv."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(inplace=True),
                        nn.Conv2d(6, 5, 3, padding=1), nn.ReLU(inplace=True),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 4)).eval()
    x = torch.rand(2, 3, 8, 8)
    with hooks.capture(net[2]) as rec, torch.no_grad():
        net(x)
    assert (rec.activation < 0).any(), "the recorded conv output must keep its negative values"
    m = cam.class_activation_map(net, x, 1, layer="3", fc="6")      # the ReLU'd maps: exact
    with torch.no_grad():
        f = torch.relu(net[2](torch.relu(net[0](x))))
    torch.testing.assert_close(m, torch.einsum("k,nkhw->nhw", net[6].weight[1], f))


@pytest.mark.parametrize("bad, error, match", [
    (lambda x: x[:0], ValueError, "empty batch"),
    (lambda x: x * float("nan"), ValueError, "NaN or infinite"),
    (lambda x: x[0], ValueError, "unsqueeze"),
    (lambda x: x[:, :2], ValueError, "channels"),
    (lambda x: (x * 255).to(torch.int64), TypeError, "dtype"),
])
def test_cam_and_grad_cam_refuse_bad_images(resnet, x, bad, error, match):
    for fn in (lambda v: cam.class_activation_map(resnet, v, 0, layer="layer3", fc="fc"),
               lambda v: cam.grad_cam(resnet, v, 0, layer="layer3"),
               lambda v: cam.guided_grad_cam(resnet, v, 0, layer="layer3")):
        with pytest.raises(error, match=match):
            fn(bad(x))


def test_cam_options_and_layers(resnet, x):
    with pytest.raises(TypeError, match="keyword-only"):
        cam.grad_cam(resnet, x, 0, "layer3")
    with pytest.raises(TypeError, match="layer"):
        cam.grad_cam(resnet, x, 0)                           # the layer is required
    with pytest.raises(ValueError, match="no layer named"):
        cam.grad_cam(resnet, x, 0, layer="layer3 ")
    with pytest.raises(ValueError, match="feature maps"):
        cam.grad_cam(resnet, x, 0, layer="fc")
    with pytest.raises(TypeError, match="nn.Linear"):
        cam.class_activation_map(resnet, x, 0, layer="layer3", fc="layer2")
    with pytest.raises(ValueError, match="no layer named"):
        cam.class_activation_map(resnet, x, 0, layer="layer3", fc=None or "head")


def test_uint8_float64_and_numpy_targets_give_the_same_map(resnet, x):
    import numpy as np
    u8 = (x * 255).round().to(torch.uint8)
    want = cam.grad_cam(resnet, u8.float() / 255, [1, 2], layer="layer3")
    torch.testing.assert_close(cam.grad_cam(resnet, u8, np.array([1, 2]), layer="layer3"), want)
    torch.testing.assert_close(cam.grad_cam(resnet, u8.double() / 255, (np.int64(1), 2),
                                            layer="layer3"), want)
