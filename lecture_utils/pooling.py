"""p-norm subsampling, the pooling that Springenberg et al. (2015) start from (Eq. 1):

    s_{i,j,u}(f) = ( sum_{h,w = -floor(k/2)}^{floor(k/2)} |f_{g(h,w,i,j,u)}|^p )^{1/p},
    g(h, w, i, j, u) = (r i + h, r j + w, u),

with pooling size k and stride r. p = 1 is sum-pooling (a depth-wise convolution with all-ones
kernels and stride r, Eq. 2 with theta_{h,w,u,o} = 1(u = o)), p = 2 is L2 pooling, and p -> inf
gives max-pooling of |f|.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


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
    p = float(p)
    if not p >= 1:
        raise ValueError(f"p must be >= 1 (p < 1 is not a norm), got {p}.")
    stride = kernel_size if stride is None else stride
    a = x.abs()
    m = F.max_pool2d(a, kernel_size, stride, padding)
    if math.isinf(p):
        return m
    if p == 1:
        return F.avg_pool2d(a, kernel_size, stride, padding,
                            count_include_pad=True) * _area(kernel_size)
    # Broadcast each window's max back over the window, one value per input position: unfold.
    n, c, h, w = a.shape
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    cols = F.unfold(a.reshape(n * c, 1, h, w), k, padding=padding, stride=stride)   # [NC, k*k, L]
    scale = m.reshape(n * c, 1, -1)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    out = scale * ((cols / safe) ** p).sum(1, keepdim=True) ** (1.0 / p)
    return out.reshape(m.shape)


def _area(kernel_size) -> int:
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    return k[0] * k[1]


class PNormPool2d(nn.Module):
    """``pnorm_pool2d`` as a module, to put in place of an ``nn.MaxPool2d``."""

    def __init__(self, p: float, kernel_size: int = 2, stride: int | None = None, padding: int = 0):
        super().__init__()
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
