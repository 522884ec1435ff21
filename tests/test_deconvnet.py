"""Zeiler & Fergus' deconvnet: flipped filters, projections of units, top activations, receptive
fields."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lecture_utils import deconvnet, display, models
from lecture_utils.representations import layer_activations
from test_backprop import _randomise_batch_norm


@pytest.mark.parametrize("stride,padding,size",
                         [(1, 0, 8), (1, 1, 8), (2, 1, 9), (2, 0, 8), (3, 1, 10)])
def test_transposed_convolution_is_the_flipped_kernel_convolution_and_the_backward_pass(
        stride, padding, size):
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(5, 3, 3, 3, generator=g)
    x = torch.randn(2, 3, size, size, generator=g, requires_grad=True)
    y = F.conv2d(x, weight, stride=stride, padding=padding)
    r = torch.randn(y.shape, generator=g)
    out_pad = (size + 2 * padding - 3) % stride          # the rows the forward pass dropped
    transposed = F.conv_transpose2d(r, weight, stride=stride, padding=padding,
                                    output_padding=out_pad)
    flipped = deconvnet.flipped_kernel_convolution(r, weight, stride, padding, out_pad)
    (backward,) = torch.autograd.grad(y, x, r)
    assert flipped.shape == x.shape
    assert torch.allclose(flipped, transposed, atol=1e-5)
    assert torch.allclose(flipped, backward, atol=1e-5)


def test_flip_kernel():
    w = torch.arange(2 * 3 * 2 * 2.).reshape(2, 3, 2, 2)
    k = deconvnet.flip_kernel(w)
    assert k.shape == (3, 2, 2, 2)
    assert torch.equal(k[1, 0], torch.tensor([[w[0, 1, 1, 1], w[0, 1, 1, 0]],
                                              [w[0, 1, 0, 1], w[0, 1, 0, 0]]]))
    with pytest.raises(ValueError, match="padding"):
        deconvnet.flipped_kernel_convolution(torch.rand(1, 2, 3, 3), torch.rand(2, 3, 3, 3),
                                             padding=3)


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return _randomise_batch_norm(models.vgg(width=4))


@pytest.fixture(scope="module")
def images():
    return (torch.rand(12, 3, 32, 32,
                       generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)


def test_layer_activations_and_forward_stops_early(vgg, images):
    x = images.float() / 255
    acts = layer_activations(vgg, images, "relu2_2", batch_size=5)
    assert acts.shape == (12, 8, 16, 16)
    full = {}
    handle = vgg.relu2_2.register_forward_hook(lambda m, a, o: full.setdefault("a", o.detach()))
    vgg(x)
    handle.remove()
    assert torch.allclose(acts, full["a"], atol=1e-6)
    assert torch.allclose(layer_activations(vgg, x, ["relu2_2"])["relu2_2"], full["a"], atol=1e-6)
    calls = []
    handle = vgg.fc2.register_forward_hook(lambda *a: calls.append(1))
    layer_activations(vgg, x, "relu2_2")
    handle.remove()
    assert not calls                                        # the head was not run


def test_top_activations_against_brute_force(vgg, images):
    top = deconvnet.top_activations(vgg, images, "relu3_2", [0, 3, 5], k=4, batch_size=5)
    acts = layer_activations(vgg, images, "relu3_2")
    for row, unit in enumerate([0, 3, 5]):
        maxes = acts[:, unit].flatten(1).amax(1)
        assert torch.allclose(top.value[row], maxes.topk(4).values)
        assert torch.equal(maxes[top.index[row]], top.value[row])        # (ties may reorder)
        assert len(set(top.index[row].tolist())) == 4
        for j, n in enumerate(top.index[row].tolist()):
            i, c = top.position[row, j].tolist()
            assert acts[n, unit, i, c] == top.value[row, j]
    assert top.map_size == (8, 8)
    with pytest.raises(IndexError, match="out of range"):
        deconvnet.top_activations(vgg, images, "relu3_2", [99])


def test_project_unit_gradient_rule_is_the_gradient_of_the_activation(vgg, images):
    x = images[:3].float() / 255
    proj = deconvnet.project_unit(vgg, x, "conv3_1", 2, position=(4, 5), rule="gradient",
                                  signal="one")
    xg = x.clone().requires_grad_(True)
    acts = {}
    handle = vgg.conv3_1.register_forward_hook(lambda m, a, o: acts.setdefault("a", o))
    vgg(xg)
    handle.remove()
    (want,) = torch.autograd.grad(acts["a"][:, 2, 4, 5].sum(), xg)
    assert torch.allclose(proj, want, atol=1e-6)
    # "max" picks the strongest activation; "activation" scales by its value
    best = acts["a"][:, 2].flatten(1).argmax(1)
    val = acts["a"][:, 2].flatten(1).amax(1).detach()
    proj_max = deconvnet.project_unit(vgg, x, "conv3_1", 2, rule="gradient")
    for n in range(3):
        i, j = divmod(int(best[n]), 8)
        one = deconvnet.project_unit(vgg, x[n:n + 1], "conv3_1", 2, position=(i, j),
                                     rule="gradient",
                                     signal="one")
        assert torch.allclose(proj_max[n], val[n] * one[0], atol=1e-6)


def test_receptive_field_projection_stays_inside(vgg, images):
    x = images[:2].float() / 255
    for layer in ("relu1_2", "pool2", "relu3_1"):
        rf = deconvnet.receptive_field(vgg, layer)
        proj = deconvnet.project_unit(vgg, x, layer, 1, position=(2, 3), rule="deconvnet",
                                      signal="one")
        x0, y0, x1, y1 = rf.box(2, 3)
        inside = torch.zeros(32, 32, dtype=torch.bool)
        inside[max(y0, 0):y1, max(x0, 0):x1] = True
        assert proj[:, :, ~inside].abs().max() == 0, layer


def test_receptive_field_equals_the_support_of_a_linearised_network():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.Conv2d(2, 2, 3, stride=2, padding=1),
                        nn.AvgPool2d(2), nn.Conv2d(2, 2, 5, padding=2), nn.Conv2d(2, 2, 3))
    assert deconvnet.receptive_field(net, "4", 32) == deconvnet.ReceptiveField(size=31, stride=4,
                                                                               start=-10)
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    out = net(x)
    (g,) = torch.autograd.grad(out[0, 0, 1, 1], x)
    rows = torch.nonzero(g.abs().sum((0, 1, 3)) > 0).flatten()
    rf = deconvnet.receptive_field(net, "4", 32)
    x0, y0, x1, y1 = rf.box(1, 1)
    assert rows.min() == max(y0, 0) and rows.max() == min(y1, 32) - 1


def test_models_c_receptive_fields_and_patches(images):
    net = models.model_c("all_cnn_c", width=0.1).eval()
    rf = deconvnet.receptive_field(net, "relu6")           # after two stride-2 convolutions
    assert rf.stride == 4
    top = deconvnet.top_activations(net, images, "relu6", [0, 1], k=3)
    proj = deconvnet.project_top_activations(net, images, top)
    patches, crops = deconvnet.top_patches(net, images, top, proj)
    assert proj.shape == (2, 3, 3, 32, 32)
    assert patches.shape == crops.shape == (2, 3, 3, rf.size, rf.size)
    shown = deconvnet.reconstruction_to_image(proj)
    assert shown.min() >= 0 and shown.max() <= 1 and shown.shape == proj.shape


def test_crop_patches_fills_outside():
    img = torch.ones(1, 3, 4, 4)
    patch = deconvnet.crop_patches(img, [(-1, -1, 2, 2)], fill=0.5)
    assert patch.shape == (1, 3, 3, 3)
    assert torch.all(patch[0, :, 0, :] == 0.5) and torch.all(patch[0, :, 1:, 1:] == 1)


def test_deconvnet_of_an_all_convolutional_net_needs_no_image(images):
    """Springenberg et al.: without max-pooling the deconvnet pass does not depend on the image
    (no switches); with max-pooling it does."""
    torch.manual_seed(0)
    allconv = _randomise_batch_norm(models.model_c("all_cnn_c", width=0.1))
    pooled = _randomise_batch_norm(models.model_c("model_c", width=0.1))
    x = images[:2].float() / 255
    a = deconvnet.project_unit(allconv, x, "conv6", 0, position=(3, 3), rule="deconvnet",
                               signal="one")
    assert torch.allclose(a[0], a[1], atol=1e-6)
    b = deconvnet.project_unit(pooled, x, "conv4", 0, position=(3, 3), rule="deconvnet",
                               signal="one")
    assert not torch.allclose(b[0], b[1], atol=1e-6)


def test_project_unit_errors(vgg, images):
    x = images[:2].float() / 255
    with pytest.raises(IndexError, match="out of range"):
        deconvnet.project_unit(vgg, x, "relu1_1", 99)
    with pytest.raises(ValueError, match="no layer named"):
        deconvnet.project_unit(vgg, x, "conv9", 0)
    with pytest.raises(ValueError, match="signal"):
        deconvnet.project_unit(vgg, x, "relu1_1", 0, signal="ones")
    with pytest.raises(ValueError, match="entries"):
        deconvnet.project_unit(vgg, x, "relu1_1", torch.tensor([0, 1, 2]))
    assert all(not m._forward_hooks and not m._backward_hooks for m in vgg.modules())


def test_show_top_activations_figure(vgg, images):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, top = display.show_top_activations(vgg, images, "relu2_2", [1, 2], k=4, rule="guided")
    assert top.index.shape == (2, 4)
    assert "relu2_2" in fig._suptitle.get_text()
    plt.close(fig)


def test_clip_box_keeps_patches_inside_the_image():
    assert deconvnet.clip_box((-3, 5, 11, 19), 32, 32) == (0, 5, 14, 19)
    assert deconvnet.clip_box((25, 25, 39, 39), 32, 32) == (18, 18, 32, 32)
    assert deconvnet.clip_box((-30, -30, 38, 38), 32, 32) == (0, 0, 32, 32)


def test_unit_correlation_closed_form():
    a = torch.tensor([[1.0, 0.0, 2.0], [2.0, 0.0, 2.0], [3.0, 0.0, 2.0]])
    b = torch.tensor([[2.0, 1.0, 5.0], [4.0, 2.0, 1.0], [6.0, 3.0, 0.0]])
    r = deconvnet.unit_correlation(a, b)
    assert r.tolist() == pytest.approx([1.0, 0.0, 0.0])             # constant units correlate 0
    assert deconvnet.unit_correlation(a, -a)[0] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="same shape"):
        deconvnet.unit_correlation(a, b[:2])


def test_settling_epochs_first_epoch_that_stays_above():
    corr = torch.tensor([[0.9, 0.5, 0.9, 0.2],
                         [0.95, 0.85, 0.7, 0.3],
                         [0.99, 0.9, 0.85, 0.4],
                         [1.0, 1.0, 1.0, 1.0]])
    got = deconvnet.settling_epochs(corr, [1, 2, 5, 30], threshold=0.8)
    assert got.tolist() == [1.0, 2.0, 5.0, 30.0]                    # unit 2 dips at epoch 2
    with pytest.raises(ValueError, match="ascending"):
        deconvnet.settling_epochs(corr, [1, 5, 2, 30])
    with pytest.raises(ValueError, match="one row per saved epoch"):
        deconvnet.settling_epochs(corr[:3], [1, 2, 5, 30])


def test_settling_order_closed_form():
    from scipy.stats import spearmanr
    depth = [0, 0, 1, 1, 2, 2]
    settle = [1, 2, 5, 5, 2, 30]
    out = deconvnet.settling_order(depth, settle)
    assert out["spearman"] == pytest.approx(spearmanr(depth, settle)[0])
    assert out["weakest_step"] == pytest.approx(min(5 - 1.5, 16 - 5))
    down = deconvnet.settling_order([0, 0, 1, 1, 2, 2], [1, 1, 30, 30, 5, 5])
    assert down["weakest_step"] == pytest.approx(-25.0)              # not monotone
    assert deconvnet.settling_order([0, 1], [5, 5])["spearman"] == 0.0   # constant: no ranking
    assert np.isnan(deconvnet.settling_order([0, 2], [1, 5], n_layers=3)["weakest_step"])
