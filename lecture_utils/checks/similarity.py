"""Checks for notebook 11 (Raghu et al.: CKA)."""
from __future__ import annotations

import torch

from .. import similarity
from .core import check_close


def _cases():
    g = torch.Generator().manual_seed(11)
    for m, p1, p2, offset in ((6, 3, 2, 2.0), (40, 10, 7, -1.5), (25, 4, 30, 5.0)):
        X = torch.randn(m, p1, generator=g, dtype=torch.float64) + offset      # not centred!
        Y = torch.cat([X[:, :1] ** 2, torch.randn(m, p2 - 1, generator=g, dtype=torch.float64)],
                      1) + offset
        yield f"m={m}, p1={p1}, p2={p2}", X, Y


def check_linear_cka(fn) -> float:
    """``fn(X [m,p1], Y [m,p2]) -> float``: linear CKA from the slide (K = XX^T, L = YY^T, the
    centring matrix H, HSIC = vec(HKH).vec(HLH)/(m-1)^2,
    CKA = HSIC(K,L)/sqrt(HSIC(K,K)HSIC(L,L)))."""
    cases = [(label, float(fn(X, Y)), similarity.linear_cka(X, Y)) for label, X, Y in _cases()]
    return check_close("check_linear_cka", cases, tol=1e-6,
                       hint="Centre the Gram matrices with H = I - 11^T/m (K' = H K H) before "
                            "taking vec(K').vec(L'), and divide by sqrt(HSIC(K,K) HSIC(L,L)).")


def check_hsic(fn) -> float:
    """``fn(K [m,m], L [m,m]) -> float``: HSIC(K, L) = vec(HKH) . vec(HLH) / (m - 1)^2."""
    cases = []
    for label, X, Y in _cases():
        K, L = X @ X.T, Y @ Y.T
        cases.append((label, float(fn(K, L)), similarity.hsic(K, L)))
    return check_close("check_hsic", cases, tol=1e-6,
                       hint="H = torch.eye(m) - torch.ones(m, m) / m; HSIC = (HKH * HLH).sum() / "
                            "(m-1)**2.")
