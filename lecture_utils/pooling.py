"""p-norm subsampling, the pooling that Springenberg et al. (2015) start from (Eq. 1):

    s_{i,j,u}(f) = ( sum_{h,w = -floor(k/2)}^{floor(k/2)} |f_{g(h,w,i,j,u)}|^p )^{1/p},
    g(h, w, i, j, u) = (r i + h, r j + w, u),

with pooling size k and stride r. p = 1 is sum-pooling (a depth-wise convolution with all-ones
kernels and stride r, Eq. 2 with theta_{h,w,u,o} = 1(u = o)), p = 2 is L2 pooling, and p -> inf
gives max-pooling of |f|.
"""
from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from .validate import check_int

__all__ = ["pnorm_pool2d", "PNormPool2d", "replace_max_pooling"]


def _pair(v, name: str, minimum: int) -> tuple[int, int]:
    pair = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair (h, w), got {v!r}.")
    return tuple(check_int(k, name, minimum=minimum) for k in pair)


def _check_pooling(p, kernel_size, stride, padding):
    """(p, kernel, stride, padding) checked as torch would, with a sentence instead."""
    if isinstance(p, torch.Tensor) and p.numel() == 1:
        p = p.item()
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not p >= 1:   # NaN fails too
        raise ValueError(f"p must be >= 1 (p < 1 is not a norm; p = inf is max-pooling), "
                         f"got {p!r}.")
    p = float(p)
    k = _pair(kernel_size, "kernel_size", 1)
    r = k if stride is None else _pair(stride, "stride", 1)
    pad = _pair(padding, "padding", 0)
    if any(2 * q > kk for q, kk in zip(pad, k)):
        raise ValueError(f"padding {padding} is more than half the window {kernel_size}: a window "
                         "would see padding only (use padding <= kernel_size // 2).")
    return p, k, r, pad


def pnorm_pool2d(x: torch.Tensor, p: float, kernel_size: int = 2, stride: int | None = None,
                 padding: int = 0) -> torch.Tensor:
    """p-norm pooling of x [N,C,H,W] (Eq. 1 of Springenberg et al.) -> [N,C,H',W'].

    ``p`` in [1, inf]; ``p = float("inf")`` is max-pooling of |x| exactly. ``stride`` defaults to
    ``kernel_size`` (torch's convention); ``padding`` pads with zeros, which for non-negative x (the
    output of a ReLU) gives the same result as max-pooling's padding.

    Computed as m * (sum (|x| / m)^p)^{1/p} with m the window's max of |x|, so large p neither
    overflows nor underflows (m = 0 gives 0).
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a tensor [N, C, H, W], got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(f"x must be floating point (feature maps), got {x.dtype}.")
    p, kernel_size, stride, padding = _check_pooling(p, kernel_size, stride, padding)
    a = x.abs()
    m = F.max_pool2d(a, kernel_size, stride, padding)
    if math.isinf(p):
        return m
    if p == 1:
        area = kernel_size[0] * kernel_size[1]
        return F.avg_pool2d(a, kernel_size, stride, padding, count_include_pad=True) * area
    # Broadcast each window's max back over the window, one value per input position: unfold.
    n, c, h, w = a.shape
    cols = F.unfold(a.reshape(n * c, 1, h, w), kernel_size, padding=padding,
                    stride=stride)                                            # [NC, k*k, L]
    scale = m.reshape(n * c, 1, -1)
    finite = torch.isfinite(scale)          # a window holding inf has norm inf (NaN stays NaN)
    safe = torch.where((scale > 0) & finite, scale, torch.ones_like(scale))
    out = scale * ((cols / safe) ** p).sum(1, keepdim=True) ** (1.0 / p)
    out = torch.where(finite | scale.isnan(), out, scale)
    return out.reshape(m.shape)


class PNormPool2d(nn.Module):
    """``pnorm_pool2d`` as a module, to put in place of an ``nn.MaxPool2d``."""

    def __init__(self, p: float, kernel_size: int = 2, stride: int | None = None,
                 padding: int = 0):
        super().__init__()
        _check_pooling(p, kernel_size, stride, padding)          # fail when built, not when run
        self.p, self.kernel_size, self.stride, self.padding = p, kernel_size, stride, padding

    def forward(self, x):
        return pnorm_pool2d(x, self.p, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"p={self.p}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


def replace_max_pooling(model: nn.Module, p: float) -> nn.Module:
    """A copy of ``model`` with every ``nn.MaxPool2d`` replaced by p-norm pooling of the same size,
    stride and padding (no retraining: how far is p-norm pooling from max-pooling for this net?)."""
    import copy
    _check_pooling(p, 2, None, 0)                      # a bad p fails before the copy
    model = copy.deepcopy(model)
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.MaxPool2d):
                if child.dilation not in (1, (1, 1)) or child.ceil_mode:
                    raise ValueError("replace_max_pooling handles max-pooling without dilation "
                                     "or ceil_mode only.")
                setattr(parent, name,
                        PNormPool2d(p, child.kernel_size, child.stride, child.padding))
    return model
