"""Checks for notebook 08 (SHAP, Lundberg & Lee 2017)."""
from __future__ import annotations

import math

import torch

from .. import shapley as ref
from .core import check_close


def _games():
    g = torch.Generator().manual_seed(0)
    for M in (3, 4, 5):
        table = torch.randn(2 ** M, generator=g, dtype=torch.float64)
        yield M, (lambda Z, t=table, m=M: t[(Z.long() * (2 ** torch.arange(m))).sum(1)])


def check_shapley_values(fn) -> float:
    """``fn(value_fn, M) -> phi [M]``: exact Shapley values of a coalition game (the lecture's
    formula)."""
    cases = [(f"random game, M={M}", torch.as_tensor(fn(v, M)), ref.exact_shapley(v, M))
             for M, v in _games()]
    return check_close("check_shapley_values", cases, tol=1e-6,
                       hint="Average the marginal contribution f(S + i) - f(S) over coalitions S "
                            "without i, with weight |S|! (M - |S| - 1)! / M! (not 1/2^(M-1), not "
                            "only the full coalition).")


def check_shapley_kernel(fn) -> float:
    """``fn(M, s) -> float``: the Shapley kernel pi(z') = (M-1) / (C(M, s) s (M - s)) for 0 < s <
    M."""
    cases = [(f"M={M}, |z'|={s}", torch.tensor(float(fn(M, s))), ref.shapley_kernel(M, s))
             for M in (2, 5, 12) for s in range(1, M)]
    return check_close("check_shapley_kernel", cases, tol=1e-6,
                       hint="Theorem 2 of the paper: (M - 1) / (C(M, |z'|) |z'| (M - |z'|)), with "
                            "|z'| and M - |z'| plain factors, not factorials (the slide's typo); "
                            f"C(M, s) is math.comb(M, s), e.g. C(5, 2) = {math.comb(5, 2)}.")


def check_linear_shap(fn) -> float:
    """``fn(w [M], x [N, M], mean [M]) -> phi [N, M]``: Linear SHAP, phi_i = w_i (x_i - E[x_i])."""
    g = torch.Generator().manual_seed(1)
    cases = []
    for N, M in ((1, 3), (5, 10)):
        w, x, mean = (torch.randn(M, generator=g, dtype=torch.float64),
                      torch.randn(N, M, generator=g, dtype=torch.float64),
                      torch.randn(M, generator=g, dtype=torch.float64))
        cases.append((f"N={N}, M={M}", fn(w.clone(), x.clone(), mean.clone()),
                      ref.linear_shap(w, 0.0, x, mean)))
    return check_close("check_linear_shap", cases, tol=1e-8,
                       hint="Multiply each weight by how far the feature is from its mean: "
                            "w * (x - mean), broadcast over the rows of x.")


def check_rescale_multiplier(fn) -> float:
    """``fn(x, x_ref) -> m``: DeepLIFT's rescale multiplier of a ReLU, (relu(x) - relu(x_ref)) /
    (x - x_ref), elementwise, and the gradient 1(x > 0) where x = x_ref."""
    g = torch.Generator().manual_seed(2)
    x, r = torch.randn(50, generator=g, dtype=torch.float64), torch.randn(50, generator=g,
                                                                          dtype=torch.float64)
    r[:5] = x[:5]
    want = torch.where((x - r).abs() > 1e-10,
                       (x.relu() - r.relu()) / (x - r).where((x - r).abs() > 1e-10,
                       torch.ones_like(x)), (x > 0).double())
    return check_close("check_rescale_multiplier",
                       [("random pairs", fn(x.clone(), r.clone()), want)],
                       tol=1e-8, hint="Divide the change of the output by the change of the input; "
                                      "where the two inputs are equal use the gradient 1(x > 0).")
