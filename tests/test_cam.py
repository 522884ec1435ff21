"""CAM, Grad-CAM and guided Grad-CAM: closed forms, the CAM = Grad-CAM identity, agreement with
captum and pytorch-grad-cam, and the errors on bad input."""
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from lecture_utils import backprop, cam, display, maps, models


def _no_hooks(model):
    return all(not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks)
               for m in model.modules())


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    net = models.resnet_gap(width=8, blocks=(1, 1, 1)).eval()
    with torch.no_grad():          # non-trivial batch-norm statistics, as after training
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return net


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(1)
    return models.vgg(width=4).eval()


@pytest.fixture(scope="module")
def x():
    return torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))


# --------------------------------------------------------------------------------------------
# A one-conv GAP network whose maps are known in closed form
# --------------------------------------------------------------------------------------------
@pytest.fixture
def tiny():
    """x -> 1x1 conv (2 units: f_1 = relu(2x), f_2 = relu(1 - x)) -> GAP -> fc (3 classes)."""
    net = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 2, 1), relu=nn.ReLU(),
                                    gap=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(),
                                    fc=nn.Linear(2, 3)))
    with torch.no_grad():
        net.conv.weight.copy_(torch.tensor([2.0, -1.0]).view(2, 1, 1, 1))
        net.conv.bias.copy_(torch.tensor([0.0, 1.0]))
        net.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -2.0]]))
        net.fc.bias.copy_(torch.tensor([0.5, -1.0, 0.0]))
    return net.eval(), torch.tensor([[[[1.0, -2.0], [3.0, 0.0]]]])


def test_cam_closed_form(tiny):
    net, x = tiny
    # f_1 = [[2, 0], [6, 0]], f_2 = [[0, 3], [0, 1]]; M_c = sum_k w_k^c f_k, by hand:
    expected = {0: [[2, 0], [6, 0]], 1: [[0, 3], [0, 1]], 2: [[2, -6], [6, -2]]}
    for c, m in expected.items():
        got = cam.class_activation_map(net, x, c, layer="relu", fc="fc")
        assert torch.equal(got, torch.tensor([m], dtype=torch.float32))
    # S_c = (1/Z) sum_xy M_c + b_c with Z = 4: 8/4 + 0.5, 4/4 - 1, 0/4 + 0
    assert torch.allclose(net(x), torch.tensor([[2.5, 0.0, 0.0]]))


def test_grad_cam_closed_form(tiny):
    net, x = tiny
    # alpha^2 = w^2 / Z = (1/4, -2/4): L = ReLU(M_2) / 4
    alpha, a = cam.grad_cam_weights(net, x, 2, layer="relu")
    assert torch.allclose(alpha, torch.tensor([[0.25, -0.5]]))
    assert torch.allclose(cam.grad_cam(net, x, 2, layer="relu"),
                          torch.tensor([[[0.5, 0.0], [1.5, 0.0]]]))
    # counterfactual (negative gradients): ReLU(-M_2) / 4
    assert torch.allclose(cam.grad_cam(net, x, 2, layer="relu", counterfactual=True),
                          torch.tensor([[[0.0, 1.5], [0.0, 0.5]]]))


# --------------------------------------------------------------------------------------------
# CAM on the ResNet-GAP: the slide's identity and Grad-CAM = ReLU(CAM) / Z
# --------------------------------------------------------------------------------------------
def test_cam_sums_to_the_score(resnet, x):
    scores = resnet(x).detach()
    for c in range(10):
        m = cam.class_activation_map(resnet, x, c, layer="layer3", fc="fc")
        assert m.shape == (4, 8, 8)
        z = m.shape[1] * m.shape[2]
        torch.testing.assert_close(m.sum((1, 2)) / z + resnet.fc.bias[c], scores[:, c],
                                   rtol=1e-5, atol=1e-5)


def test_grad_cam_is_relu_cam_over_z(resnet, x):
    t = torch.tensor([0, 3, 5, 9])
    m = cam.class_activation_map(resnet, x, t, layer=resnet.layer3, fc=resnet.fc)
    g = cam.grad_cam(resnet, x, t, layer=resnet.layer3)
    torch.testing.assert_close(g, m.clamp(min=0) / 64, rtol=1e-5, atol=1e-7)
    assert (m < 0).any() and (g == 0).any()          # the ReLU did something


def test_resolutions(resnet, vgg, x):
    assert cam.grad_cam(resnet, x, 0, layer="layer3").shape == (4, 8, 8)
    big = torch.rand(2, 3, 64, 64)
    assert cam.class_activation_map(resnet, big, 0, layer="layer3", fc="fc").shape == (2, 16, 16)
    assert cam.grad_cam(vgg, x, 0, layer="conv4_2").shape == (4, 4, 4)
    assert cam.guided_grad_cam(vgg, x, 0, layer="conv4_2").shape == x.shape


# --------------------------------------------------------------------------------------------
# Agreement with the field's libraries
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("net_name,layer", [("resnet", "layer3"), ("resnet", "layer2"),
                                            ("vgg", "conv4_2"), ("vgg", "relu3_2")])
def test_grad_cam_matches_captum(net_name, layer, request, x):
    from captum.attr import LayerGradCam
    net = request.getfixturevalue(net_name)
    t = torch.tensor([1, 2, 7, 4])
    ref = LayerGradCam(net, net.get_submodule(layer)).attribute(x, target=t, relu_attributions=True)
    ours = cam.grad_cam(net, x, t, layer=layer)
    torch.testing.assert_close(ours, ref[:, 0].detach(), rtol=1e-4, atol=1e-6)
    assert _no_hooks(net)


@pytest.mark.parametrize("net_name,layer", [("resnet", "layer3"), ("vgg", "conv4_2")])
def test_guided_grad_cam_matches_captum(net_name, layer, request, x):
    from captum.attr import GuidedGradCam
    net = request.getfixturevalue(net_name)
    t = torch.tensor([3, 0, 2, 6])
    ref = GuidedGradCam(net, net.get_submodule(layer)).attribute(x, target=t,
                                                                  interpolate_mode="bilinear")
    ours = cam.guided_grad_cam(net, x, t, layer=layer)
    torch.testing.assert_close(ours, ref.detach(), rtol=1e-4, atol=1e-6)
    assert _no_hooks(net)


@pytest.mark.parametrize("net_name,layer", [("resnet", "layer3"), ("vgg", "conv4_2")])
def test_grad_cam_matches_pytorch_grad_cam(net_name, layer, request, x):
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from lecture_utils.viz import normalize_map
    net = request.getfixturevalue(net_name)
    t = [5, 1, 8, 3]
    with GradCAM(model=net, target_layers=[net.get_submodule(layer)]) as ref_cam:
        ref = ref_cam(input_tensor=x, targets=[ClassifierOutputTarget(c) for c in t])
    # pytorch-grad-cam resizes each map with OpenCV and scales it to [0, 1] by its min and max
    ours = normalize_map(maps.upsample(cam.grad_cam(net, x, torch.tensor(t), layer=layer), 32))
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-4)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def test_upsample_and_overlay(resnet, x):
    g = cam.grad_cam(resnet, x, 0, layer="layer3")
    up = maps.upsample(g, 32)
    assert up.shape == (4, 32, 32)
    assert torch.allclose(maps.upsample(torch.ones(2, 4, 4), (8, 16)), torch.ones(2, 8, 16))
    pic = display.overlay(x, g)
    assert pic.shape == x.shape and pic.min() >= 0 and pic.max() <= 1
    pic8 = display.overlay((x * 255).to(torch.uint8), g, alpha=0.0)
    assert torch.allclose(pic8, (x * 255).to(torch.uint8).float() / 255)
    with pytest.raises(ValueError, match=r"\[N, h, w\]"):
        maps.upsample(torch.ones(4, 4), 8)


def test_guided_grad_cam_is_the_product(resnet, x):
    t = 4
    expected = backprop.input_gradient(resnet, x, t, rule="guided") * \
        maps.upsample(cam.grad_cam(resnet, x, t, layer="layer3"), 32)[:, None]
    torch.testing.assert_close(cam.guided_grad_cam(resnet, x, t, layer="layer3"), expected)


def test_training_mode_restored_and_no_grads_left(resnet, x):
    resnet.zero_grad(set_to_none=True)       # other tests' reference libraries leave grads
    resnet.train()
    try:
        cam.grad_cam(resnet, x, 0, layer="layer3")
        cam.class_activation_map(resnet, x, 0, layer="layer3", fc="fc")
        assert resnet.training
        assert all(p.grad is None for p in resnet.parameters())
    finally:
        resnet.eval()


# --------------------------------------------------------------------------------------------
# Bad input: clear errors, and no hook left behind on any exit path
# --------------------------------------------------------------------------------------------
def test_layer_not_in_model(resnet, vgg, x):
    with pytest.raises(ValueError, match="no layer named 'layer9'"):
        cam.grad_cam(resnet, x, 0, layer="layer9")
    with pytest.raises(ValueError, match="not a module of this model"):
        cam.grad_cam(resnet, x, 0, layer=vgg.conv4_2)
    with pytest.raises(ValueError, match="not a module of this model"):
        cam.class_activation_map(resnet, x, 0, layer=resnet.layer3, fc=vgg.fc2)
    assert _no_hooks(resnet) and _no_hooks(vgg)


def test_cam_needs_a_gap_linear_head(resnet, vgg, x):
    with pytest.raises(ValueError, match="GAP \\+ linear head"):      # VGG: flatten + 2 fc layers
        cam.class_activation_map(vgg, x, 0, layer="conv4_2", fc="fc2")
    with pytest.raises(ValueError, match="GAP \\+ linear head"):      # not the last conv block
        cam.class_activation_map(resnet, x, 0, layer="layer2", fc="fc")
    allc = models.model_c("all_cnn_c", width=0.1).eval()
    with pytest.raises(TypeError, match="nn.Linear"):                # GAP, but no linear layer
        cam.class_activation_map(allc, x, 0, layer="conv8", fc="conv9")
    for net in (resnet, vgg, allc):
        assert _no_hooks(net)


def test_cam_rejects_a_head_that_is_not_gap(x):
    class MaxHead(nn.Module):         # same shapes as GAP + fc, but global *max* pooling
        def __init__(self):
            super().__init__()
            self.body = models.resnet_gap(width=4, blocks=(1, 1, 1))
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            b = self.body
            f = b.layer3(b.layer2(b.layer1(b.stem(b.normalize(x)))))
            return self.fc(f.amax(dim=(2, 3)))

    net = MaxHead().eval()
    with pytest.raises(ValueError, match="does not reproduce the model's scores"):
        cam.class_activation_map(net, x, 0, layer="body.layer3", fc="fc")
    assert _no_hooks(net)


def test_bad_targets_and_layers(resnet, x):
    with pytest.raises(IndexError, match="out of range"):
        cam.grad_cam(resnet, x, 10, layer="layer3")
    with pytest.raises(IndexError, match="out of range"):
        cam.class_activation_map(resnet, x, torch.tensor([0, 1, 2, -1]), layer="layer3", fc="fc")
    with pytest.raises(IndexError, match="out of range"):
        cam.guided_grad_cam(resnet, x, 12, layer="layer3")
    with pytest.raises(ValueError, match=r"\[N, K, h, w\]"):            # not a conv layer
        cam.grad_cam(resnet, x, 0, layer="flatten")
    with pytest.raises(ValueError, match="single image"):
        cam.grad_cam(resnet, x[0], 0, layer="layer3")
    assert _no_hooks(resnet)
    assert resnet(x).shape == (4, 10)       # still a working model


# --------------------------------------------------------------------------------------------
# The exercise checks accept the reference and reject the typical mistakes
# --------------------------------------------------------------------------------------------
def test_check_class_activation_map():
    from lecture_utils.checks import CheckFailed, check_class_activation_map
    right = lambda f, w, t: torch.einsum("nk,nkhw->nhw", w[t], f)              # noqa: E731
    check_class_activation_map(right)
    wrong = {"ReLU": lambda f, w, t: right(f, w, t).relu(),
             "mean over xy": lambda f, w, t: right(f, w, t) / (f.shape[2] * f.shape[3]),
             "class 0 for all": lambda f, w, t: right(f, w, torch.zeros_like(t)),
             "normalised": lambda f, w, t: right(f, w, t) / right(f, w, t).abs().amax(),
             "summed over xy": lambda f, w, t: right(f, w, t).sum((1, 2))}
    for name, fn in wrong.items():
        with pytest.raises(CheckFailed):
            check_class_activation_map(fn)


def test_check_grad_cam():
    from lecture_utils.checks import CheckFailed, check_grad_cam
    right = lambda a, g: torch.relu(torch.einsum("nk,nkhw->nhw", g.mean((2, 3)), a))  # noqa: E731
    check_grad_cam(right)
    wrong = {"no ReLU": lambda a, g: torch.einsum("nk,nkhw->nhw", g.mean((2, 3)), a),
             "sum, not mean": lambda a, g: torch.relu(torch.einsum("nk,nkhw->nhw", g.sum((2, 3)),
                                                                   a)),
             "gradient x activation": lambda a, g: torch.relu((g * a).sum(1)),
             "abs": lambda a, g: torch.einsum("nk,nkhw->nhw", g.mean((2, 3)), a).abs()}
    for name, fn in wrong.items():
        with pytest.raises(CheckFailed):
            check_grad_cam(fn)


def test_check_box_from_map():
    from scipy import ndimage
    from lecture_utils.checks import CheckFailed, check_box_from_map
    from lecture_utils.localization import box_from_map

    def four_connected(m, threshold):
        lab, _ = ndimage.label(m >= threshold * m.max())
        ys, xs = np.nonzero(lab == 1 + np.argmax(np.bincount(lab.ravel())[1:]))
        return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1

    def inclusive(m, threshold):
        b = box_from_map(m, threshold)
        return b[0], b[1], b[2] - 1, b[3] - 1

    def all_pixels(m, threshold):
        ys, xs = np.nonzero(m >= threshold * m.max())
        return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1

    check_box_from_map(box_from_map)
    for fn in (four_connected, inclusive, all_pixels):
        with pytest.raises(CheckFailed):
            check_box_from_map(fn)


def test_check_pointing_game():
    from lecture_utils.checks import CheckFailed, check_pointing_game
    from lecture_utils.localization import pointing_game

    def transposed(heat, masks):
        idx = heat.reshape(len(heat), -1).argmax(1)
        return masks[torch.arange(len(heat)), idx % heat.shape[2], idx // heat.shape[2]]

    def minimum(heat, masks):
        return pointing_game(-heat, masks)

    check_pointing_game(pointing_game)
    for fn in (transposed, minimum):
        with pytest.raises(CheckFailed):
            check_pointing_game(fn)
