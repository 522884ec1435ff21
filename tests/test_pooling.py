"""p-norm subsampling (Springenberg et al. 2015, Eq. 1) on non-negative inputs."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lecture_utils import models
from lecture_utils.pooling import PNormPool2d, pnorm_pool2d, replace_max_pooling


@pytest.fixture(params=[torch.float32, torch.float64])
def f(request):
    return torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0),
                      dtype=request.param) * 3


def _close(got, want, p=1.0, k=3):
    """Equal up to rounding: a window sum of k*k terms, raised to p and back, in got's dtype
    (relative error about (k*k + 2p) eps; a factor 8 of margin)."""
    eps = torch.finfo(got.dtype).eps
    torch.testing.assert_close(got, want, rtol=8 * (k * k + 2 * p) * eps, atol=0)


@pytest.mark.parametrize("k,r,pad", [(2, 2, 0), (3, 2, 1), (3, 1, 0)])
def test_p1_is_sum_pooling(f, k, r, pad):
    want = F.avg_pool2d(f, k, r, pad, count_include_pad=True) * k * k
    _close(pnorm_pool2d(f, 1, k, r, pad), want, 1, k)


@pytest.mark.parametrize("k,r", [(2, 2), (3, 2), (3, 1)])
def test_p2_matches_torch_lppool(f, k, r):
    _close(pnorm_pool2d(f, 2, k, r), nn.LPPool2d(2, k, r)(f), 2, k)
    _close(pnorm_pool2d(f, 3.5, k, r), nn.LPPool2d(3.5, k, r)(f), 3.5, k)


def test_large_p_approaches_max_pooling(f):
    mx = F.max_pool2d(f, 3, 2, 1)
    errors = [float((pnorm_pool2d(f, p, 3, 2, 1) - mx).abs().max()) for p in (1, 2, 4, 16, 64, 256)]
    assert all(a > b for a, b in zip(errors, errors[1:]))       # monotone in p
    # (sum_q x_q^p)^(1/p) <= k^(2/p) max, so the relative gap is at most 9^(1/p) - 1
    eps = torch.finfo(f.dtype).eps
    assert float(((pnorm_pool2d(f, 256, 3, 2, 1) - mx) / mx).max()) <= 9 ** (1 / 256) - 1 + 64 * eps
    assert errors[-1] < 0.03


def test_p_inf_is_max_pooling_exactly(f):
    assert torch.equal(pnorm_pool2d(f, math.inf, 2), F.max_pool2d(f, 2))
    assert torch.equal(pnorm_pool2d(f, float("inf"), 3, 2, 1), F.max_pool2d(f, 3, 2, 1))


def test_large_p_is_stable_and_handles_zeros():
    x = torch.tensor([[[[1e4, 2e4], [0.0, 3e4]]]])
    assert torch.isfinite(pnorm_pool2d(x, 200, 2)).all()
    assert torch.allclose(pnorm_pool2d(x, 200, 2), torch.tensor(3e4), rtol=1e-2)
    assert pnorm_pool2d(torch.zeros(1, 1, 4, 4), 8, 2).eq(0).all()
    assert torch.isfinite(pnorm_pool2d(torch.zeros(1, 1, 4, 4).requires_grad_(), 8, 2).sum())


def test_sum_pooling_is_a_feature_wise_strided_convolution(f):
    """Eq. 2 with theta_{h,w,u,o} = 1(u = o) and stride r is p = 1 pooling (sigma is the identity
    on non-negative sums)."""
    c, k, r = f.shape[1], 3, 2
    theta = torch.eye(c)[:, :, None, None].expand(c, c, k, k)
    _close(pnorm_pool2d(f, 1, k, r), torch.relu(F.conv2d(f, theta.to(f.dtype), stride=r)), 1, k)


def test_module_and_replacing_max_pooling():
    torch.manual_seed(0)
    net = models.model_c("model_c", width=0.1).eval()
    x = torch.rand(2, 3, 32, 32)
    same = replace_max_pooling(net, float("inf")).eval()
    assert sum(isinstance(m, PNormPool2d) for m in same.modules()) == 2
    assert not any(isinstance(m, nn.MaxPool2d) for m in same.modules())
    assert torch.allclose(same(x), net(x), atol=1e-6)
    assert any(isinstance(m, nn.MaxPool2d) for m in net.modules())          # original untouched
    assert not torch.allclose(replace_max_pooling(net, 1).eval()(x), net(x))
    assert "p=2" in repr(PNormPool2d(2, 3, 2, 1))


def test_errors():
    with pytest.raises(ValueError, match="p must be"):
        pnorm_pool2d(torch.rand(1, 1, 4, 4), 0.5)
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        pnorm_pool2d(torch.rand(4, 4), 2)
