"""The comparison every check uses."""
from __future__ import annotations

import numpy as np
import torch


class CheckFailed(AssertionError):
    """Your answer differs from the reference; the message says how and what to look at."""


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def rel_error(x, y, eps: float = 1e-8) -> float:
    """max |x - y| / max(|x| + |y|, eps), elementwise: the CS231n relative error."""
    x, y = _np(x), _np(y)
    return float(np.max(np.abs(x - y) / np.maximum(eps, np.abs(x) + np.abs(y))))


def check_close(name: str, cases, tol: float = 1e-6, hint: str = "") -> float:
    """``cases`` yields ``(label, yours, reference)``; all must agree within ``tol``.

    Shapes are compared first (a wrong shape is the most common mistake), then values.
    Returns the largest relative error and prints a one-line verdict.
    """
    worst, n = 0.0, 0
    for label, yours, ref in cases:
        n += 1
        y, r = _np(yours), _np(ref)
        if y.shape != r.shape:
            raise CheckFailed(f"{name} [{label}]: your result has shape {y.shape}, the reference "
                              f"{r.shape}. {hint}".strip())
        if not np.all(np.isfinite(y)):
            raise CheckFailed(f"{name} [{label}]: your result contains NaN or inf. {hint}".strip())
        err = rel_error(y, r)
        if err > tol:
            raise CheckFailed(f"{name} [{label}]: relative error {err:.2e} > {tol:.0e}. "
                              f"Yours: {np.array2string(y.ravel()[:4], precision=4)}..., "
                              "reference: "
                              f"{np.array2string(r.ravel()[:4], precision=4)}... {hint}".strip())
        worst = max(worst, err)
    print(f"{name}: passed (max relative error {worst:.1e} over {n} cases)")
    return worst
