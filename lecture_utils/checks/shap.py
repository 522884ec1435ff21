"""Checks for notebook 08 (SHAP, Lundberg & Lee 2017)."""
from __future__ import annotations

import math

import torch

from .. import shapley as ref
from .core import Mistake, check_close


def _games():
    g = torch.Generator().manual_seed(0)
    for M in (3, 4, 5):
        table = torch.randn(2 ** M, generator=g, dtype=torch.float64)
        yield M, (lambda Z, t=table, m=M: t[(Z.long() * (2 ** torch.arange(m))).sum(1)])


def _marginals(v, M: int, weight) -> torch.Tensor:
    """sum over coalitions S without i of weight(|S|) [v(S + i) - v(S)], for each i
    (float64 [M])."""
    phi = torch.zeros(M, dtype=torch.float64)
    for i in range(M):
        for mask in range(2 ** M):
            if mask >> i & 1:
                continue
            S = torch.tensor([[mask >> j & 1 for j in range(M)]], dtype=torch.float64)
            Si = S.clone()
            Si[0, i] = 1
            phi[i] += weight(int(S.sum())) * float(v(Si)[0] - v(S)[0])
    return phi


def _shapley_mistakes(v, M: int) -> list[Mistake]:
    fact = math.factorial
    return [
        Mistake("every coalition weighted the same, 1/2^(M-1) (the Banzhaf value)",
                _marginals(v, M, lambda s: 1 / 2 ** (M - 1)),
                "Weight the marginal contribution of a coalition S of size |S| by "
                "|S|! (M - |S| - 1)! / M!: small and large coalitions weigh more, because fewer "
                "orderings pass through each of them."),
        Mistake("the weights |S|! (M - |S| - 1)! / (M - 1)!, without the 1/M",
                _marginals(v, M, lambda s: fact(s) * fact(M - s - 1) / fact(M - 1)),
                "Divide by M!, not (M - 1)!: the weights of one feature's coalitions sum to 1."),
        Mistake("only the full coalition, f(all) - f(all without i) (leave one out)",
                _marginals(v, M, lambda s: 1.0 if s == M - 1 else 0.0),
                "Average over *every* coalition S without i, not only the largest one."),
        Mistake("only the empty coalition, f({i}) - f(empty set)",
                _marginals(v, M, lambda s: 1.0 if s == 0 else 0.0),
                "Average over *every* coalition S without i, not only the empty one."),
    ]


def check_shapley_values(fn) -> float:
    """``fn(value_fn, M) -> phi [M]``: exact Shapley values of a coalition game (the lecture's
    formula)."""
    __tracebackhide__ = True
    cases = [(f"random game, M={M}", torch.as_tensor(fn(v, M)), ref.exact_shapley(v, M),
              _shapley_mistakes(v, M))
             for M, v in _games()]
    return check_close("check_shapley_values", cases, tol=1e-6,
                       hint="Average the marginal contribution f(S + i) - f(S) over coalitions S "
                            "without i, with weight |S|! (M - |S| - 1)! / M! (not 1/2^(M-1), "
                            "not only the full coalition).")


def _kernel_mistakes(M: int, s: int) -> list[Mistake]:
    C = math.comb(M, s)
    fact = math.factorial
    return [
        Mistake("factorials |z'|! (M - |z'|)! in the denominator (the slide's typo)",
                torch.tensor((M - 1) / (C * fact(s) * fact(M - s)), dtype=torch.float64),
                "Theorem 2 has plain factors: (M - 1) / (C(M, |z'|) |z'| (M - |z'|))."),
        Mistake("no (M - 1) in the numerator",
                torch.tensor(1 / (C * s * (M - s)), dtype=torch.float64),
                "The numerator is M - 1: pi(z') = (M - 1) / (C(M, |z'|) |z'| (M - |z'|))."),
        Mistake("no binomial coefficient C(M, |z'|)",
                torch.tensor((M - 1) / (s * (M - s)), dtype=torch.float64),
                "Divide by C(M, |z'|) = math.comb(M, s) too: there are that many coalitions of "
                "size |z'|, and the kernel is per coalition."),
    ]


def check_shapley_kernel(fn) -> float:
    """``fn(M, s) -> float``: the Shapley kernel pi(z') = (M-1) / (C(M, s) s (M - s)) for
    0 < s < M."""
    __tracebackhide__ = True
    cases = [(f"M={M}, |z'|={s}", torch.tensor(float(fn(M, s))), ref.shapley_kernel(M, s),
              _kernel_mistakes(M, s))
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
    x = torch.randn(50, generator=g, dtype=torch.float64)
    r = torch.randn(50, generator=g, dtype=torch.float64)
    r[:5] = x[:5]
    apart = (x - r).abs() > 1e-10
    want = torch.where(apart, (x.relu() - r.relu()) / (x - r).where(apart, torch.ones_like(x)),
                       (x > 0).double())
    return check_close("check_rescale_multiplier",
                       [("random pairs", fn(x.clone(), r.clone()), want)],
                       tol=1e-8, hint="Divide the change of the output by the change of the input; "
                                      "where the two inputs are equal use the gradient 1(x > 0).")
