"""Deletion and insertion (Petsiuk et al., 2018): closed-form curves and areas, the pixel order,
the substrates, the call shape of the course's methods, and the errors on bad input."""
import numpy as np
import pytest
import torch
from torch import nn

from lecture_utils import faithfulness as fa
from lecture_utils import models


class Inside(nn.Module):
    """Two 'logits': the mean of channel 0 over a region R (fraction a of the image) and 0."""

    def __init__(self, mask):
        super().__init__()
        self.register_buffer("mask", mask.float())

    def forward(self, x):
        inside = (x[:, 0] * self.mask).sum((1, 2)) / self.mask.sum()
        return torch.stack([inside, torch.zeros_like(inside)], 1)


@pytest.fixture
def region():
    mask = torch.zeros(8, 8)
    mask[:4, :4] = 1                                 # a = 16 / 64 = 1/4
    return mask


def test_auc_closed_forms():
    assert fa.auc(np.linspace(1, 0, 11)) == pytest.approx(0.5)        # a straight line
    assert fa.auc(np.ones(5)) == pytest.approx(1.0)
    np.testing.assert_allclose(fa.auc(torch.tensor([[0.0, 1.0], [1.0, 1.0]])), [0.5, 1.0])
    t = np.linspace(0, 1, 101)
    assert fa.auc(t ** 2) == pytest.approx(1 / 3, abs=1e-4)          # trapezoid error O(1/n^2)
    with pytest.raises(ValueError, match="two points"):
        fa.auc([1.0])


def test_auc_agrees_with_sklearn():
    from sklearn.metrics import auc as sk_auc
    curves = np.random.default_rng(0).random((4, 13))
    want = [sk_auc(np.linspace(0, 1, 13), c) for c in curves]
    np.testing.assert_allclose(fa.auc(curves), want, rtol=1e-12)


def test_deletion_and_insertion_closed_form(region):
    """The ideal map (the region itself) deletes R in the first a of the steps: the logit falls
    linearly from 1 to 0 on [0, a] and stays 0, AUC = a/2; insertion rises to 1 at a, AUC = 1 - a/2.
    The inverted map (R last) gives AUC 1 - a/2 for deletion and a/2 for insertion."""
    model, x = Inside(region).eval(), torch.ones(1, 3, 8, 8)
    kw = dict(steps=16, output="logit")
    good, bad = region[None], 1 - region[None]
    d = fa.perturbation_curves(model, x, 0, good, mode="deletion", **kw)
    np.testing.assert_allclose(d[0, :5].numpy(), [1, 0.75, 0.5, 0.25, 0], atol=1e-6)
    assert d[0, 4:].abs().max() < 1e-6
    assert fa.auc(d)[0] == pytest.approx(0.125)
    ins = fa.perturbation_curves(model, x, 0, good, mode="insertion", substrate_kind="black", **kw)
    assert fa.auc(ins)[0] == pytest.approx(1 - 0.125)
    assert fa.auc(fa.perturbation_curves(model, x, 0, bad, mode="deletion",
                                         **kw))[0] == pytest.approx(0.875)
    assert fa.auc(fa.perturbation_curves(model, x, 0, bad, mode="insertion", substrate_kind="black",
                                         **kw))[0] == pytest.approx(0.125)


def test_curve_ends_and_probability(region):
    """Deletion starts at f(x) and ends at f(substrate); insertion the other way round; 'prob'
    is the softmax of the logits."""
    model, x = Inside(region).eval(), torch.rand(3, 3, 8, 8,
                                                 generator=torch.Generator().manual_seed(0))
    sal = torch.rand(3, 8, 8)
    d = fa.perturbation_curves(model, x, 0, sal, mode="deletion", steps=4)
    i = fa.perturbation_curves(model, x, 0, sal, mode="insertion", steps=4)
    p_x = model(x).softmax(1)[:, 0]
    np.testing.assert_allclose(d[:, 0], p_x, rtol=1e-5)
    np.testing.assert_allclose(i[:, -1], p_x, rtol=1e-5)
    np.testing.assert_allclose(d[:, -1], model(torch.zeros_like(x)).softmax(1)[:, 0], rtol=1e-5)
    np.testing.assert_allclose(i[:, 0], model(fa.substrate(x, "blur")).softmax(1)[:, 0], rtol=1e-5)
    # batch size does not change anything
    d2 = fa.perturbation_curves(model, x, 0, sal, mode="deletion", steps=4, batch_size=2)
    torch.testing.assert_close(d, d2)


def test_pixel_order_and_ties():
    s = torch.tensor([[[0.1, 0.9], [0.5, 0.3]]])
    assert fa.pixel_order(s).tolist() == [[1, 2, 3, 0]]
    flat = torch.zeros(1, 16, 16)                          # all tied: a random, seeded order
    o1, o2 = fa.pixel_order(flat, seed=0), fa.pixel_order(flat, seed=1)
    assert sorted(o1[0].tolist()) == list(range(256))
    assert o1[0].tolist() != list(range(256)) and not torch.equal(o1, o2)
    assert torch.equal(o1, fa.pixel_order(flat, seed=0))
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        fa.pixel_order(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="NaN"):
        fa.pixel_order(torch.full((1, 2, 2), float("nan")))


def test_substrates():
    x = torch.rand(2, 3, 16, 16)
    assert fa.substrate(x, "black").abs().sum() == 0
    assert torch.allclose(fa.substrate(x, 0.5), torch.full_like(x, 0.5))
    blur = fa.substrate(x, "blur")
    assert blur.shape == x.shape and blur.std() < x.std()
    const = torch.full((1, 3, 16, 16), 0.3)
    torch.testing.assert_close(fa.gaussian_blur(const, 2.0), const)      # blur keeps constants
    net = models.resnet_gap(width=4, blocks=(1, 1, 1))
    mean = fa.substrate(x, "mean", model=net)
    torch.testing.assert_close(mean[0, :, 0, 0], net.normalize.mean.view(-1))
    with pytest.raises(ValueError, match="needs the model"):
        fa.substrate(x, "mean")
    with pytest.raises(ValueError, match="substrate must be"):
        fa.substrate(x, "grey")


def test_errors(region):
    model, x = Inside(region), torch.ones(2, 3, 8, 8)
    with pytest.raises(ValueError, match="mode"):
        fa.perturbation_curves(model, x, 0, torch.rand(2, 8, 8), mode="removal")
    with pytest.raises(ValueError, match="2 images"):
        fa.perturbation_curves(model, x, 0, torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="steps"):
        fa.perturbation_curves(model, x, 0, torch.rand(2, 8, 8), steps=0)
    with pytest.raises(IndexError, match="out of range"):
        fa.perturbation_curves(model, x, 5, torch.rand(2, 8, 8))          # no class 5


def test_evaluate_table_and_coarse_maps():
    """A coarse map [N, h, w] and an attribution [N, C, H, W] both work; the table has one row per
    method, and the model's training mode is restored."""
    torch.manual_seed(0)
    net = models.resnet_gap(width=4, blocks=(1, 1, 1)).train()
    x = torch.rand(2, 3, 16, 16)
    r1 = fa.deletion_insertion(net, x, 1, torch.rand(2, 4, 4), name="coarse", steps=4)
    r2 = fa.deletion_insertion(net, x, 1, torch.randn(2, 3, 16, 16), name="pixels", steps=4)
    assert net.training
    t = fa.table([r1, r2])
    assert list(t.index) == ["coarse", "pixels"]
    assert set(t.columns) == {"deletion AUC", "insertion AUC", "insertion - deletion"}
    assert ((t["deletion AUC"] >= 0) & (t["deletion AUC"] <= 1)).all()
    import matplotlib
    matplotlib.use("Agg")
    fig = fa.plot_curves([r1, r2])
    assert len(fig.axes) == 2
