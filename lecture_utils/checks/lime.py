"""Checks for notebook 04 (LIME and SP-LIME, Ribeiro et al. 2016)."""
from __future__ import annotations

import torch

from .. import lime as ref
from .core import CheckFailed, Mistake, check_close


def _kernel_mistakes(d, width) -> list[Mistake]:
    return [
        Mistake("exp(-D^2 / (2 sigma^2)), or the lime package's sqrt(exp(-D^2 / sigma^2))",
                torch.exp(-d ** 2 / (2 * width ** 2)),
                "The lecture's kernel (Eq. 2 of Ribeiro et al.) is exp(-D^2 / sigma^2): no factor "
                "2 and no square root (the lime package takes one on top; its width differs)."),
        Mistake("the distance not squared, exp(-D / sigma^2)", torch.exp(-d / width ** 2),
                "Square the distance: exp(-D**2 / sigma**2)."),
        Mistake("the width not squared, exp(-D^2 / sigma)", torch.exp(-d ** 2 / width),
                "Square the width too: exp(-D**2 / sigma**2)."),
        Mistake("a plus sign in the exponent, exp(+D^2 / sigma^2)", torch.exp(d ** 2 / width ** 2),
                "The weight must fall with the distance: exp(-D**2 / sigma**2)."),
    ]


def check_proximity_kernel(fn) -> float:
    """``fn(distances [n], kernel_width) -> [n]``: pi_x(z) = exp(-D(x, z)^2 / sigma^2) (Eq. 2)."""
    __tracebackhide__ = True
    g = torch.Generator().manual_seed(0)
    cases = []
    for n, width in ((5, 0.25), (50, 0.75), (3, 2.0)):
        d = torch.rand(n, generator=g, dtype=torch.float64) * 1.5
        cases.append((f"n={n}, sigma={width}", fn(d.clone(), width), ref.proximity(d, width),
                      _kernel_mistakes(d, width)))
    return check_close("check_proximity_kernel", cases, tol=1e-6,
                       hint="Square the distance and divide by sigma squared: "
                            "exp(-D**2 / sigma**2).")


def check_cosine_distance(fn) -> float:
    """``fn(Z [n, M] in {0,1}) -> [n]``: the cosine distance 1 - cos(x', z') to x' = (1, ..., 1)."""
    g = torch.Generator().manual_seed(1)
    cases = []
    for n, M in ((6, 4), (40, 25)):
        Z = (torch.rand(n, M, generator=g) < 0.6).double()
        Z[0] = 1
        cases.append((f"n={n}, M={M}", fn(Z.clone()), ref.cosine_distance(Z)))
    return check_close("check_cosine_distance", cases, tol=1e-6,
                       hint="cos(a, b) = a.b / (|a| |b|) with a = z' and b = a vector of M ones; "
                            "the distance is 1 minus it (0 for z' = x').")


def check_weighted_least_squares(fn) -> float:
    """``fn(Z [n, M], y [n], weights [n]) -> (w [M], b)``: the weighted least-squares line
    minimising sum_k pi_k (y_k - b - w . z_k)^2 (the last step of K-LASSO)."""
    g = torch.Generator().manual_seed(2)
    cases = []
    for n, M in ((30, 3), (200, 8)):
        Z = (torch.rand(n, M, generator=g) < 0.5).double()
        noise = torch.randn(n, generator=g, dtype=torch.float64) ** 3
        y = Z @ torch.randn(M, generator=g, dtype=torch.float64) + 0.3 * noise
        p = torch.rand(n, generator=g, dtype=torch.float64) ** 3
        out = fn(Z.clone(), y.clone(), p.clone())
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise CheckFailed("check_weighted_least_squares: return a pair (w, b): the weights and "
                              "the intercept.")
        w, b, _ = ref.weighted_least_squares(Z, y, p)
        cases.append((f"weights n={n}, M={M}", torch.as_tensor(out[0]), w))
        cases.append((f"intercept n={n}, M={M}", torch.as_tensor(float(out[1])), torch.tensor(b)))
    return check_close("check_weighted_least_squares", cases, tol=1e-5,
                       hint="Weight every residual by pi_k (or scale rows by sqrt(pi_k)) and fit "
                            "an intercept: append a column of ones to Z before solving.")


def check_submodular_pick(fn) -> float:
    """``fn(W [n, d'], budget) -> list of row indices``: SP-LIME's greedy coverage (Algorithm 2)."""
    g = torch.Generator().manual_seed(3)
    cases = []
    W0 = torch.tensor([[3.0, 0, 0, 0, 0], [2.9, 0.1, 0, 0, 0], [0, 0, 0, 1.0, 1.0],
                       [0, 0.05, 2.5, 0, 0], [2.0, 0, 0, 0, 0]])
    W1 = torch.rand(30, 12, generator=g) * (torch.rand(30, 12, generator=g) < 0.25)
    for label, W, budget in (("toy", W0, 2), ("toy", W0, 3), ("random", W1, 5)):
        got = [int(i) for i in fn(W.clone(), budget)]
        want = ref.submodular_pick(W, budget)
        if len(got) != budget:
            raise CheckFailed(f"check_submodular_pick [{label}]: picked {len(got)} rows, the "
                              f"budget is {budget}.")
        cov_got, cov_want = ref.coverage(W, got), ref.coverage(W, want)
        cases.append((f"{label}, B={budget}: coverage", torch.tensor(cov_got),
                      torch.tensor(cov_want)))
    return check_close("check_submodular_pick", cases, tol=1e-9,
                       hint="At each step add the row with the largest *gain* in coverage: the "
                            "summed importance I_j = sqrt(sum_i W_ij) of the features it covers "
                            "that are not covered yet (not its own total weight).")
