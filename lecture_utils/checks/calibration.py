"""Checks for notebook 09 (Guo et al., calibration of modern networks)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import calibration as cal
from .core import CheckFailed, Mistake, check_close


def _binary_probs(conf) -> torch.Tensor:
    """Two-class probability rows whose maximum is exactly ``conf`` (float64)."""
    conf = torch.as_tensor(conf, dtype=torch.float64)
    return torch.stack([conf, 1 - conf], dim=1)


def _ece_cases():
    """Cases on which the usual mistakes give a different ECE than the lecture's definition."""
    g = torch.Generator().manual_seed(0)
    # 1. Confidences spread over (0.5, 1]: the low bins are under-confident, the high ones
    #    over-confident, so dropping the |.| lets the gaps cancel.
    conf = 0.5 + 0.5 * torch.rand(400, generator=g, dtype=torch.float64)
    correct = torch.rand(400, generator=g, dtype=torch.float64) < 1.4 - 0.7 * conf
    yield "mixed over/under-confidence, 15 bins", _binary_probs(conf), (~correct).long(), 15
    # 2. Ten classes, 10 bins: a different M catches a hard-coded 15 or bins of the wrong width.
    logits = 3 * torch.randn(300, 10, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 10, (300,), generator=g)
    labels[:150] = logits[:150].argmax(1)
    yield "10 classes, 10 bins", torch.softmax(logits, 1), labels, 10
    # 3. Confidences exactly on the bin edges m/M and at 1.0: I_m = ((m-1)/M, m/M] is closed on
    #    the right, so 0.6 belongs to (0.4, 0.6] (with 0.55), not to (0.6, 0.8] (with 0.65),
    #    and 1.0 to (0.8, 1] (with 0.9), not to a bin of its own.
    edges = torch.tensor([0.55, 0.6, 0.65, 0.9, 1.0, 0.3], dtype=torch.float64)
    yield "confidences on the edges, 5 bins", _binary_probs(edges), \
        torch.tensor([0, 0, 1, 0, 1, 1]), 5


def _ece_variant(probs, labels, n_bins, *, left_closed=False, weighted=True, absolute=True,
                 signed_total=False) -> float:
    """The ECE as the usual mistakes compute it (the reference:
    ``cal.expected_calibration_error``)."""
    conf, pred = probs.max(dim=1)
    inner = torch.arange(1, n_bins, dtype=conf.dtype) / n_bins
    bins = torch.bucketize(conf, inner, right=left_closed)
    total, gaps, weights = 0.0, [], []
    for m in range(n_bins):
        in_bin = bins == m
        if in_bin.any():
            gap = (pred[in_bin] == labels[in_bin]).double().mean() - conf[in_bin].double().mean()
            gaps.append(float(gap.abs() if absolute else gap))
            weights.append(float(in_bin.double().mean()))
    if not weighted:
        return sum(gaps) / len(gaps)
    total = sum(w * g for w, g in zip(weights, gaps))
    return abs(total) if signed_total else total


def _ece_mistakes(probs, labels, n_bins) -> list[Mistake]:
    return [
        Mistake("bins closed on the left, [(m-1)/M, m/M) (floor(conf * M), or "
                "torch.bucketize(..., right=True))",
                _ece_variant(probs, labels, n_bins, left_closed=True),
                "The lecture's bins are closed on the right: I_m = ((m-1)/M, m/M], so a confidence "
                "of exactly 0.6 belongs to (0.4, 0.6]; use torch.bucketize(conf, inner_edges, "
                "right=False)."),
        Mistake("an average over the non-empty bins (each bin weighing the same)",
                _ece_variant(probs, labels, n_bins, weighted=False),
                "Weight each bin by its share of the samples, |B_m| / n, and sum: a bin with two "
                "samples must not count as much as a bin with two hundred."),
        Mistake("the gaps acc - conf summed without the absolute value",
                _ece_variant(probs, labels, n_bins, absolute=False),
                "Take |acc(B_m) - conf(B_m)| in each bin before summing: over- and under-confident "
                "bins must not cancel."),
        Mistake("the absolute value taken of the total instead of each bin's gap",
                _ece_variant(probs, labels, n_bins, absolute=False, signed_total=True),
                "Take |acc(B_m) - conf(B_m)| in each bin before summing: over- and under-confident "
                "bins must not cancel."),
        Mistake("a softmax applied to the inputs (treating probabilities as logits)",
                _ece_variant(torch.softmax(probs, dim=1), labels, n_bins),
                "check_ece passes probabilities (rows sum to one): take the confidence as "
                "probs.max(dim=1) directly. Apply the softmax only to logits, once."),
    ]


def check_ece(fn) -> float:
    """``fn(probs [N,K], labels [N], n_bins) -> float``: the ECE with bins ((m-1)/M, m/M]."""
    __tracebackhide__ = True
    cases = [(name, float(fn(p, y, m)), cal.expected_calibration_error(p, y, m),
              _ece_mistakes(p, y, m))
             for name, p, y, m in _ece_cases()]
    return check_close("check_ece", cases, tol=1e-6, hint=(
        "ECE = sum_m |B_m|/n |acc(B_m) - conf(B_m)|: use M bins of width 1/M closed on the "
        "right (torch.bucketize(conf, edges, right=False) with the inner edges 1/M..(M-1)/M), "
        "weight each bin by its share of the samples, and keep the absolute value."))


def check_temperature_nll(fn) -> float:
    """``fn(logits [N,K], labels [N], T) -> float``: the NLL of softmax(z / T)."""
    g = torch.Generator().manual_seed(1)
    cases = []
    for n, k, T in ((50, 10, 1.0), (80, 5, 2.5), (30, 3, 0.4)):
        z, y = 2 * torch.randn(n, k, generator=g), torch.randint(0, k, (n,), generator=g)
        cases.append((f"N={n}, K={k}, T={T}", float(fn(z, y, T)),
                      F.cross_entropy(z.double() / T, y).item()))
    return check_close("check_temperature_nll", cases, tol=1e-5, hint=(
        "Divide the logits by T before the softmax, take -log of the true class's probability "
        "(F.cross_entropy does both) and average over the samples."))


def check_fit_temperature(fn) -> float:
    """``fn(logits [N,K], labels [N]) -> T``: the T > 0 minimising the NLL (1% tolerance, so a
    fine grid search passes)."""
    g = torch.Generator().manual_seed(2)
    cases = []
    for true_T in (0.5, 2.0):
        z = 3 * torch.randn(2000, 10, generator=g)
        y = torch.distributions.Categorical(logits=z / true_T).sample()
        T = fn(z, y)
        if not isinstance(T, (float, int)) and not (isinstance(T, torch.Tensor) and T.numel() == 1):
            raise CheckFailed("check_fit_temperature: return one number T, got "
                              f"{type(T).__name__}.")
        cases.append((f"labels drawn with T={true_T}", float(T), cal.fit_temperature(z, y)))
    return check_close("check_fit_temperature", cases, tol=5e-3, hint=(
        "Minimise NLL(T) over T > 0 on these logits (a grid over log T refined near its "
        "minimum, or gradient descent on log T); a T below 1 sharpens, above 1 softens."))
