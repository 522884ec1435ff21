"""Checks for notebook 11 (Raghu et al.: CKA)."""
from __future__ import annotations

import torch

from .. import similarity
from .core import Mistake, check_close


def _cases():
    g = torch.Generator().manual_seed(11)
    for m, p1, p2, offset in ((6, 3, 2, 2.0), (40, 10, 7, -1.5), (25, 4, 30, 5.0)):
        X = torch.randn(m, p1, generator=g, dtype=torch.float64) + offset      # not centred!
        noise = torch.randn(m, p2 - 1, generator=g, dtype=torch.float64)
        Y = torch.cat([X[:, :1] ** 2, noise], 1) + offset
        yield f"m={m}, p1={p1}, p2={p2}", X, Y


def _cka_from(K, L) -> float:
    return float((K * L).sum() / ((K * K).sum() * (L * L).sum()).sqrt())


def _cka_mistakes(X, Y) -> list[Mistake]:
    m = X.shape[0]
    H = torch.eye(m, dtype=X.dtype) - torch.ones(m, m, dtype=X.dtype) / m
    K, L = X @ X.T, Y @ Y.T
    return [
        Mistake("the Gram matrices not centred (K = XX^T used as it is)", _cka_from(K, L),
                "Centre the Gram matrices first, K' = H K H with H = I - 11^T/m (or centre the "
                "columns of X and Y): CKA compares the representations around their means."),
        Mistake("the Gram matrices centred on one side only (H K, not H K H)",
                _cka_from(H @ K, H @ L),
                "Centre on both sides: K' = H K H."),
    ]


def check_linear_cka(fn) -> float:
    """``fn(X [m,p1], Y [m,p2]) -> float``: linear CKA from the slide (K = XX^T, L = YY^T, the
    centring matrix H, HSIC = vec(HKH).vec(HLH)/(m-1)^2,
    CKA = HSIC(K,L)/sqrt(HSIC(K,K)HSIC(L,L)))."""
    __tracebackhide__ = True
    cases = [(label, float(fn(X, Y)), similarity.linear_cka(X, Y), _cka_mistakes(X, Y))
             for label, X, Y in _cases()]
    return check_close("check_linear_cka", cases, tol=1e-6,
                       hint="Centre the Gram matrices with H = I - 11^T/m (K' = H K H) before "
                            "taking vec(K').vec(L'), and divide by sqrt(HSIC(K,K) HSIC(L,L)).")


def _hsic_mistakes(K, L) -> list[Mistake]:
    m = K.shape[0]
    H = torch.eye(m, dtype=K.dtype) - torch.ones(m, m, dtype=K.dtype) / m
    Kc, Lc = H @ K @ H, H @ L @ H
    return [
        Mistake("K and L not centred", float((K * L).sum() / (m - 1) ** 2),
                "Centre both: HSIC = vec(HKH) . vec(HLH) / (m - 1)^2 with H = I - 11^T/m."),
        Mistake("a division by m^2 instead of (m - 1)^2", float((Kc * Lc).sum() / m ** 2),
                "The lecture's estimator divides by (m - 1)^2."),
        Mistake("the matrix product HKH @ HLH summed instead of the elementwise product",
                float((Kc @ Lc).sum() / (m - 1) ** 2),
                "vec(A) . vec(B) is (A * B).sum() (elementwise), which equals trace(A B^T)."),
    ]


def check_hsic(fn) -> float:
    """``fn(K [m,m], L [m,m]) -> float``: HSIC(K, L) = vec(HKH) . vec(HLH) / (m - 1)^2."""
    __tracebackhide__ = True
    cases = []
    for label, X, Y in _cases():
        K, L = X @ X.T, Y @ Y.T
        cases.append((label, float(fn(K, L)), similarity.hsic(K, L), _hsic_mistakes(K, L)))
    return check_close("check_hsic", cases, tol=1e-6,
                       hint="H = torch.eye(m) - torch.ones(m, m) / m; "
                            "HSIC = (HKH * HLH).sum() / (m-1)**2.")
