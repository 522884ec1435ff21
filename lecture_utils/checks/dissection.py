"""Checks for notebook 10 (Bau et al.: network dissection)."""
from __future__ import annotations

import torch

from .. import dissection
from .core import check_close


def check_unit_threshold(fn) -> float:
    """``fn(acts [N,U,h,w], quantile) -> [U]``: t_u, the largest observed t with
    P_{x,p}[a_u(x,p) > t] >= quantile over all images x and positions p."""
    g = torch.Generator().manual_seed(10)
    cases = []
    for shape, q in (((20, 3, 5, 5), 0.01), ((7, 4, 6, 6), 0.05), ((50, 2, 4, 4), 0.01)):
        acts = torch.randn(*shape, generator=g).relu()
        acts[:, 0] += torch.linspace(0, 1, shape[0]).view(-1, 1, 1)     # units differ
        cases.append((f"acts {shape}, q={q}", fn(acts, q), dissection.unit_thresholds(acts, q)))
    return check_close("check_unit_threshold", cases, tol=1e-6,
                       hint="Per unit, pool ALL images and positions (flatten dims 0, 2, 3), and "
                            "take the value with ceil(q * count) values strictly above it.")


def check_iou(fn) -> float:
    """``fn(regions bool [N,U,H,W], masks bool [N,C,H,W]) -> [U, C]``: IoU_{u,c} summed over
    the whole set (sum_x |A and S| / sum_x |A or S|), not averaged per image."""
    g = torch.Generator().manual_seed(10)
    cases = []
    for n, u, c, s in ((3, 2, 4, 6), (10, 5, 3, 8)):
        regions = torch.rand(n, u, s, s, generator=g) > 0.8
        masks = torch.rand(n, c, s, s, generator=g) > torch.linspace(0.3, 0.95, n).view(n, 1, 1, 1)
        cases.append((f"N={n}, U={u}, C={c}", fn(regions, masks), dissection.iou(regions, masks)))
    return check_close("check_iou", cases, tol=1e-5,
                       hint="Sum intersections and unions over all images and pixels before "
                            "dividing (a dataset-wide IoU), one value per (unit, concept).")
