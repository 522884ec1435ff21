"""lecture_utils.generalization, pooling and the models' first module under careless input: a clear
error that says what to do, or the right result (issue 13, items 7, 10 and 12 for these files)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lecture_utils import generalization as G, models
from lecture_utils.pooling import PNormPool2d, pnorm_pool2d, replace_max_pooling


def _images(n=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (n, 3, 6, 6), generator=g, dtype=torch.uint8),
            torch.randint(0, 10, (n,), generator=g))


# ---------------------------------------------------------------------------- randomizations
@pytest.mark.parametrize("bad, error, match", [
    (lambda x, y: (x.float(), y), TypeError, "uint8"),
    (lambda x, y: (x[0], y), TypeError, r"uint8 images \[N, C, H, W\]"),
    (lambda x, y: (x.numpy(), y), TypeError, "uint8"),
    (lambda x, y: (x, y[:5]), ValueError, "one class index per image"),
    (lambda x, y: (x, y.float()), TypeError, "integer"),
    (lambda x, y: (x, y.bool()), TypeError, "integer"),
    (lambda x, y: (x, y - 20), IndexError, "0, 1, ..."),
])
def test_every_randomization_refuses_bad_data(bad, error, match):
    for name, fn in G.RANDOMIZATIONS.items():
        with pytest.raises(error, match=match):
            fn(*bad(*_images()))


@pytest.mark.parametrize("p, error, match", [
    (1.5, ValueError, "probability"), (-0.1, ValueError, "probability"),
    (float("nan"), ValueError, "finite"), ("half", TypeError, "number"),
])
def test_corruption_level_is_a_probability(p, error, match):
    with pytest.raises(error, match=match):
        G.corrupt_labels(*_images(), p)


def test_corrupt_labels_checks_classes_and_seeds():
    x, y = _images()
    with pytest.raises(IndexError, match="num_classes=5"):
        G.corrupt_labels(x, y, 0.5, num_classes=5)          # labels 0..9 with 5 classes
    with pytest.raises(ValueError, match="at least 2"):
        G.corrupt_labels(x, y * 0, 0.5, num_classes=1)
    with pytest.raises(ValueError, match="seed"):
        G.corrupt_labels(x, y, 0.5, seed=-1)
    with pytest.raises(TypeError, match="seed"):
        G.corrupt_labels(x, y, 0.5, seed=0.5)
    ref = G.corrupt_labels(x, y, 0.5, seed=3, num_classes=10)
    alt = G.corrupt_labels(x, y.numpy(), np.float32(0.5), seed=np.int64(3),
                           num_classes=np.int64(10))
    assert all(torch.equal(a, b) for a, b in zip(ref, alt))


def test_empty_datasets_stay_empty():
    x, y = _images()
    for fn in (G.true_labels, G.random_labels, G.shuffled_pixels, G.random_pixels):
        ex, ey = fn(x[:0], y[:0])
        assert ex.shape == (0, 3, 6, 6) and ey.shape == (0,)
    ex, ey = G.gaussian_images(x[:0], y[:0], stats_from=x)    # statistics from elsewhere: fine
    assert ex.shape == (0, 3, 6, 6)


def test_gaussian_images_need_statistics():
    x, y = _images()
    with pytest.raises(ValueError, match="mean and a variance"):
        G.gaussian_images(x[:0], y[:0])
    with pytest.raises(ValueError, match="channels"):
        G.gaussian_images(x, y, stats_from=x[:, :1])
    with pytest.raises(TypeError, match="stats_from"):
        G.gaussian_images(x, y, stats_from=x.float())


def test_pixel_permutation_counts():
    assert torch.equal(G.pixel_permutation(np.int64(4), np.int64(4), seed=np.int64(1)),
                       G.pixel_permutation(4, 4, seed=1))
    with pytest.raises(ValueError, match="at least 1"):
        G.pixel_permutation(0, 4)
    with pytest.raises(TypeError, match="height=4"):
        G.pixel_permutation(4.0, 4)


def test_randomized_split_checks_its_arguments():
    train, test = _images(seed=0), _images(seed=1)
    with pytest.raises(TypeError, match=r"pair \(images, labels\)"):
        G.randomized_split("random labels", train[0], test)
    with pytest.raises(TypeError):
        G.randomized_split("random labels", train, test, 0)          # seed is keyword-only
    with pytest.raises(ValueError, match="probability"):
        G.randomized_split("corrupt labels", train, test, p=2)
    (_, y1), _ = G.randomized_split("random labels", train, test, seed=np.int64(2))
    (_, y2), _ = G.randomized_split("random labels", train, test, seed=2)
    assert torch.equal(y1, y2)


def test_epochs_to_fit_threshold():
    from lecture_utils.train import History
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        G.epochs_to_fit(History(epoch=[1], train_acc=[0.5]), threshold=99)


# ---------------------------------------------------------------------------- the lemma
@pytest.mark.parametrize("Z, y, match", [
    (np.array([[0.0, np.nan], [1.0, 2.0]]), np.array([0.0, 1.0]), "finite"),
    (np.array([[0.0, 1.0], [1.0, 2.0]]), np.array([0.0, np.inf]), "finite"),
    (np.zeros((3, 0)), np.zeros(3), "d > 0"),
    (np.zeros((0, 3)), np.zeros(0), "n > 0"),
    (np.zeros(3), np.zeros(3), r"\[n, d\]"),
])
def test_interpolating_net_refuses_what_it_cannot_interpolate(Z, y, match):
    with pytest.raises(ValueError, match=match):
        G.interpolating_relu_net(Z, y)


def test_relu_net_and_lemma_matrix_check_shapes():
    Z = np.random.default_rng(0).standard_normal((6, 3))
    y = np.arange(6.0)
    a, b, w = G.interpolating_relu_net(Z, y)
    with pytest.raises(ValueError, match="d = len"):
        G.relu_net(Z[:, :2], a, b, w)
    with pytest.raises(ValueError, match="one value per hidden unit"):
        G.relu_net(Z, a, b, w[:3])
    with pytest.raises(ValueError, match="NaN"):
        G.relu_net(Z, a, b, w * np.nan)
    with pytest.raises(ValueError, match=r"vector \[n\]"):
        G.lemma_matrix(np.ones((2, 2)), b)
    assert G.lemma_matrix([1.0, 2.0], [0.0]).shape == (2, 1)        # [k] and [n] -> [k, n]
    # a single point with float32 features: one ReLU unit fits it
    a1, b1, w1 = G.interpolating_relu_net(np.ones((1, 4), np.float32), np.array([3.0]))
    assert G.relu_net(np.ones((1, 4)), a1, b1, w1) == pytest.approx([3.0])


# ---------------------------------------------------------------------------- pooling
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(p=0.5), ValueError, "p must be >= 1"), (dict(p=float("nan")), ValueError, "p must"),
    (dict(p=-math.inf), ValueError, "p must"), (dict(kernel_size=0), ValueError, "at least 1"),
    (dict(stride=0), ValueError, "stride"), (dict(padding=-1), ValueError, "padding"),
    (dict(kernel_size=2, padding=2), ValueError, "half the window"),
    (dict(kernel_size=2.5), TypeError, "kernel_size"), (dict(kernel_size=(2, 2, 2)), ValueError,
                                                        "pair"),
])
def test_pooling_options_are_checked_before_torch(kwargs, error, match):
    args = dict(p=2, kernel_size=2, stride=None, padding=0)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        pnorm_pool2d(torch.rand(1, 1, 4, 4), args["p"], args["kernel_size"], args["stride"],
                     args["padding"])
    with pytest.raises(error, match=match):
        PNormPool2d(args["p"], args["kernel_size"], args["stride"], args["padding"])


def test_pooling_inputs():
    x = torch.rand(1, 2, 4, 4)
    with pytest.raises(TypeError, match="floating point"):
        pnorm_pool2d((x * 10).long(), 2)
    assert torch.equal(pnorm_pool2d(x, np.float64(2.0), np.int64(2)), pnorm_pool2d(x, 2, 2))
    assert torch.equal(pnorm_pool2d(x, 2, (2, 2)), pnorm_pool2d(x, 2, 2))
    with pytest.raises(ValueError, match="p must"):
        replace_max_pooling(models.model_c("model_c", width=0.1), 0.5)


def test_pooling_of_infinite_and_nan_values():
    """A window holding inf has every p-norm inf (torch's LPPool2d agrees); NaN stays NaN. Never a
    finite-looking value."""
    x = torch.ones(1, 1, 2, 4)
    x[0, 0, 0, 0] = float("inf")
    x[0, 0, 0, 3] = float("nan")
    for p in (1, 2, np.int64(3), 3.5, math.inf):
        out = pnorm_pool2d(x, p, 2)
        assert math.isinf(out[0, 0, 0, 0]) and out[0, 0, 0, 0] > 0, p
        assert math.isnan(out[0, 0, 0, 1]), p
    ref = torch.nn.LPPool2d(2, 2)(x)
    assert torch.isinf(ref[0, 0, 0, 0])


# ---------------------------------------------------------------------------- models' input
@pytest.mark.parametrize("x, error, match", [
    (torch.rand(2, 1, 32, 32), ValueError, r"\[N, 3, H, W\].*grey images"),
    (torch.rand(2, 4, 32, 32), ValueError, "RGBA"),
    (torch.rand(3, 32, 32), ValueError, "unsqueeze"),
    (torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8), TypeError, "to_float"),
])
def test_every_model_checks_channels_and_dtype(net, x, error, match):
    for model in (net, models.vgg(width=2), models.vit(dim=8, depth=1, heads=2),
                  models.mlp(hidden=(4,)), models.lenet()):
        with pytest.raises(error, match=match):
            model.eval()(x if model is not None else x)


def test_float64_and_half_images_are_converted(net):
    x = torch.rand(2, 3, 32, 32)
    ref = net(x)
    assert net(x.double()).dtype == torch.float32
    torch.testing.assert_close(net(x.double()), ref)
    torch.testing.assert_close(net(x.bfloat16()), net(x.bfloat16().float()))
    xg = x.double().requires_grad_()                          # gradients flow back in float64
    net(xg)[:, 0].sum().backward()
    assert xg.grad.dtype == torch.float64 and xg.grad.abs().sum() > 0
    assert F.softmax(net(x.double()), 1).sum(1).allclose(torch.ones(2))
