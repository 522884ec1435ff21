"""LIME, Kernel SHAP and Deep SHAP on bad and degenerate inputs (issue 13): a clear error that
says what to do, or the right result; never torch's "INTERNAL ASSERT FAILED" from a NaN fit, a
silent default for a width of 0, or zeros for an empty background."""
import numpy as np
import pytest
import torch
from torch import nn

from lecture_utils import lime, shapley


@pytest.fixture(scope="module")
def image():
    return torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(4))


def grid(n=4, side=16):
    s = side // n
    r = torch.arange(side) // s
    return (r[:, None] * n + r[None, :]).long()


class NaNForSome(nn.Module):
    """Returns NaN logits for inputs with little contrast (the coalitions that hide many
    superpixels under their mean colour)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        out = self.net(x)
        bad = x.flatten(1).std(1) < 0.25
        return torch.where(bad[:, None], torch.full_like(out, float("nan")), out)


# --------------------------------------------------------------------------------------------
# LIME
# --------------------------------------------------------------------------------------------
def test_nan_reaching_the_fit_is_a_clear_error(net, image):
    with pytest.raises(ValueError, match="NaN"):
        lime.explain_image(NaNForSome(net).eval(), image, 0, grid(), n_samples=64)
    with pytest.raises(ValueError, match="NaN"):
        lime.explain(lambda Z: torch.where(Z[:, 0] > 0, Z.sum(1), float("nan")), 4, 40)
    Z = torch.ones(10, 3)
    with pytest.raises(ValueError, match="y"):
        lime.k_lasso(Z, torch.full((10,), float("nan")), torch.ones(10))
    with pytest.raises(ValueError, match="weights"):
        lime.weighted_least_squares(Z, torch.ones(10), torch.full((10,), float("inf")))
    with pytest.raises(ValueError, match="kernel width"):
        lime.weighted_least_squares(Z, torch.ones(10), torch.zeros(10))
    with pytest.raises(ValueError, match="must be >= 0"):
        lime.weighted_least_squares(Z, torch.ones(10), -torch.ones(10))
    with pytest.raises(ValueError, match="y and weights"):
        lime.k_lasso(Z, torch.ones(9), torch.ones(10))


@pytest.mark.parametrize("width, error", [(0, ValueError), (0.0, ValueError), (-1.0, ValueError),
                                          (float("nan"), ValueError), (float("inf"), ValueError),
                                          ("wide", TypeError)])
def test_kernel_width_must_be_positive(net, image, width, error):
    with pytest.raises(error, match="kernel_width"):
        lime.explain_image(net, image, 0, grid(), n_samples=32, kernel_width=width)
    with pytest.raises(error, match="kernel_width"):
        lime.explain(lambda Z: Z.sum(1), 4, 32, kernel_width=width)
    with pytest.raises(error, match="kernel_width"):
        lime.proximity(torch.ones(3), width)


def test_a_tiny_width_says_so_instead_of_dividing_by_zero():
    with pytest.raises(ValueError, match="kernel width is too small"):
        lime.explain(lambda Z: Z.sum(1), 6, 64, kernel_width=1e-200)


def test_counts_and_targets(net, image):
    e = lime.explain_image(net, image, np.int64(2), grid(), n_samples=np.int64(32),
                           num_features=np.int64(3), seed=np.int64(1))
    assert e.n_samples == 32 and int((e.weights != 0).sum()) <= 3
    for bad, err in ((1, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(err, match="n_samples"):
            lime.explain_image(net, image, 0, grid(), n_samples=bad)
    with pytest.raises(ValueError, match="num_features"):
        lime.explain_image(net, image, 0, grid(), n_samples=32, num_features=0)
    with pytest.raises(IndexError, match="out of range"):
        lime.explain_image(net, image, 10, grid(), n_samples=32)
    with pytest.raises(IndexError, match="out of range"):
        lime.explain_image(net, image, -1, grid(), n_samples=32)
    with pytest.raises(ValueError, match="batch_size"):
        lime.explain_image(net, image, 0, grid(), n_samples=32, batch_size=0)
    with pytest.raises(ValueError, match="output"):
        lime.explain_image(net, image, 0, grid(), n_samples=32, output="prob")


def test_images_one_at_a_time(net, image):
    with pytest.raises(ValueError, match="one image"):
        lime.superpixels(image[None].expand(2, -1, -1, -1))
    with pytest.raises(ValueError, match="one image"):
        lime.explain_image(net, image[None].expand(2, -1, -1, -1), 0, grid())
    with pytest.raises(ValueError, match=r"image\[0\]"):
        lime.explain_image(net, image[None], 0, grid())
    with pytest.raises(ValueError, match="NaN"):
        lime.superpixels(image * float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        lime.explain_image(net, image * float("nan"), 0, grid(), n_samples=32)
    with pytest.raises(ValueError, match="channels"):
        lime.explain_image(net, image[:1], 0, grid(), n_samples=32)
    seg = lime.superpixels((image * 255).to(torch.uint8), "slic", n_segments=4)
    assert seg.shape == (16, 16) and seg.min() == 0
    with pytest.raises(ValueError, match="n_segments"):
        lime.lime_map(net, image[None], 0, n_segments=0)


# --------------------------------------------------------------------------------------------
# Kernel SHAP and the games
# --------------------------------------------------------------------------------------------
def test_kernel_shap_nan_and_counts(net, image):
    with pytest.raises(ValueError, match="NaN"):
        shapley.kernel_shap(lambda Z: torch.where(Z[:, 0] > 0, Z.sum(1), float("nan")), 4, 12)
    game = shapley.image_game(NaNForSome(net).eval(), image, 0, grid(), output="logit")
    with pytest.raises(ValueError, match="NaN"):
        shapley.kernel_shap(game, game.M, 40)
    phi = shapley.kernel_shap(lambda Z: Z.double() @ torch.arange(5.0).double(), np.int64(5),
                              np.int64(32))
    torch.testing.assert_close(phi, torch.arange(5.0).double())
    with pytest.raises(ValueError, match="M"):
        shapley.kernel_shap(lambda Z: Z.sum(1), 0, 10)
    with pytest.raises(ValueError, match="batch_size"):
        shapley.image_game(net, image, 0, grid(), batch_size=0)
    with pytest.raises(ValueError, match="baseline"):
        shapley.image_game(net, image, 0, grid(), baseline=torch.full((3, 16, 16), float("nan")))
    with pytest.raises(ValueError, match="background"):
        shapley.tabular_game(lambda r: r.sum(1), torch.ones(4), torch.ones(0, 4))
    with pytest.raises(ValueError, match="NaN"):
        shapley.tabular_game(lambda r: r.sum(1), torch.tensor([1.0, float("nan")]),
                             torch.ones(1, 2))


# --------------------------------------------------------------------------------------------
# Deep SHAP
# --------------------------------------------------------------------------------------------
def test_deep_shap_degenerate(net, image):
    x = image[None]
    bg = torch.full_like(x, 0.5)
    for bs in (0, -3):
        with pytest.raises(ValueError, match="batch_size"):
            shapley.deep_shap(net, x, 1, background=bg, batch_size=bs)
    with pytest.raises(ValueError, match="background is empty"):
        shapley.deep_shap(net, x, 1, background=bg[:0])
    with pytest.raises(ValueError, match="empty"):
        shapley.deep_shap(net, x[:0], 1, background=bg)
    with pytest.raises(ValueError, match="NaN"):
        shapley.deep_shap(net, x, 1, background=bg * float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        shapley.deep_shap(net, x * float("nan"), 1, background=bg)
    with pytest.raises(ValueError, match="like the inputs"):
        shapley.deep_shap(net, x, 1, background=bg[:, :, :8])
    with pytest.raises(IndexError, match="out of range"):
        shapley.deep_shap(net, x, 10, background=bg)
    with pytest.raises(TypeError, match="background"):
        shapley.deep_shap(net, x, 1, background=None)
    one = shapley.deep_shap(net, x, np.int64(1), background=bg[0])      # one reference [C, H, W]
    torch.testing.assert_close(one, shapley.deep_shap(net, x, 1, background=bg, batch_size=1))
    u8 = shapley.deep_shap(net, (x * 255).round().to(torch.uint8), 1,
                           background=(bg * 255).round().to(torch.uint8))
    assert u8.dtype == torch.float32 and u8.shape == x.shape
