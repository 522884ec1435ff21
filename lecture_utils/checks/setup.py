"""Checks for notebook 00 (set-up, data and a first model)."""
from __future__ import annotations

import torch

from ..data import CIFAR10_MEAN, CIFAR10_STD
from .core import CheckFailed, check_close


def _reference_accuracy(logits, labels):
    return (logits.argmax(1) == labels).float().mean()


def check_accuracy(fn) -> float:
    """``fn(logits [N,C], labels [N]) -> float``: the fraction of correct top-1 predictions."""
    g = torch.Generator().manual_seed(0)
    cases = []
    for n, c in ((5, 3), (100, 10), (1, 2)):
        logits, labels = torch.randn(n, c, generator=g), torch.randint(0, c, (n,), generator=g)
        cases.append((f"N={n}, C={c}", float(fn(logits, labels)),
                      float(_reference_accuracy(logits, labels))))
    return check_close("check_accuracy", cases, tol=1e-6,
                       hint="Take the argmax over classes (dim=1) and average the matches.")


def check_normalize(fn) -> float:
    """``fn(images float [N,3,H,W] in [0,1]) -> (x - mean) / std`` with CIFAR-10's channel
    statistics."""
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    out = fn(x)
    if tuple(out.shape) != tuple(x.shape):
        raise CheckFailed(f"check_normalize: shape {tuple(out.shape)}, expected "
                          f"{tuple(x.shape)}; broadcast the 3 channel values over [N, 3, H, W] "
                          "with .view(1, 3, 1, 1).")
    return check_close("check_normalize", [("random batch", out, (x - mean) / std)], tol=1e-5,
                       hint="Subtract the mean and divide by the std of each channel.")
