"""Checks for notebook 12 (which explanation to trust: deletion / insertion, the sanity check)."""
from __future__ import annotations

import numpy as np
import torch

from .. import faithfulness, sanity
from .core import check_close


def _curves():
    g = torch.Generator().manual_seed(0)
    yield "a straight line, 10 steps", torch.linspace(1, 0, 11)[None]
    yield "three random curves, 7 steps", torch.rand(3, 8, generator=g)
    # uneven ends catch a plain mean (no half weights) and a sum without the 1/n
    yield "a step down, 4 steps", torch.tensor([[0.9, 0.2, 0.2, 0.2, 0.0],
                                                [1.0, 1.0, 0.5, 0.5, 0.5]])


def check_auc(fn) -> float:
    """``fn(curves [N, n+1]) -> [N]``: the trapezoidal area of curves sampled at t_k = k / n."""
    cases = [(name, np.asarray(fn(c.clone()), float).reshape(-1), faithfulness.auc(c))
             for name, c in _curves()]
    return check_close("check_auc", cases, tol=1e-6, hint=(
        "AUC = (1/n) (f_0/2 + f_1 + ... + f_{n-1} + f_n/2) with n = (points - 1) steps on [0, 1]: "
        "the two ends weigh half, and the x-axis is the *fraction* of pixels, not their number."))


def _map_pairs():
    g = torch.Generator().manual_seed(1)
    a = torch.rand(3, 6, 6, generator=g)
    b = a + 0.3 * torch.rand(3, 6, 6, generator=g)
    yield "noisy copies", a, b
    yield "a monotone but non-linear transform", a, a ** 4            # Pearson < 1, Spearman = 1
    t = torch.rand(2, 5, 5, generator=g)
    t[:, :2] = 0.0                                                       # ties: average ranks
    yield "maps with many ties", t, torch.rand(2, 5, 5, generator=g)


def check_spearman(fn) -> float:
    """``fn(a [N, H, W], b [N, H, W]) -> [N]``: Spearman's rank correlation of each pair of maps."""
    cases = [(name, np.asarray(fn(a.clone(), b.clone()), float).reshape(-1), sanity.spearman(a, b))
             for name, a, b in _map_pairs()]
    return check_close("check_spearman", cases, tol=1e-6, hint=(
        "Spearman = Pearson correlation of the *ranks* of the pixels of each map (flatten each "
        "map, rank with scipy.stats.rankdata, which gives tied values their average rank), one "
        "number per pair of maps."))
