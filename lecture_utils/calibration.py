"""Guo et al. (2017), *On Calibration of Modern Neural Networks*, in the lecture's notation.

A network h gives a class prediction and a confidence, (Y_hat, P_hat) = h(X). It is *perfectly
calibrated* when P(Y_hat = Y | P_hat = p) = p for every p in [0, 1].

Measuring it (Sec. 2 of the paper). Split the confidences p_hat_i into M equal-width bins
I_m = ((m-1)/M, m/M] (closed on the right) and let B_m hold the indices that fall into I_m:

    acc(B_m)  = 1/|B_m| sum_{i in B_m} 1(y_hat_i = y_i)
    conf(B_m) = 1/|B_m| sum_{i in B_m} p_hat_i
    ECE = sum_m |B_m|/n |acc(B_m) - conf(B_m)|          MCE = max_m |acc(B_m) - conf(B_m)|

A reliability diagram plots acc(B_m) against the bins; NLL = -1/n sum_i log p_hat(y_i | x_i).

Fixing it (Sec. 4), every method fitted on a held-out validation set:

* ``HistogramBinning``, ``IsotonicCalibration`` and ``BBQ`` calibrate each class's softmax
  probability against 1(y = k) (one-versus-rest, as Guo et al. extend them to K classes) and
  renormalise the K calibrated values to sum to one;
* ``TemperatureScaling``: q_hat_i = max_k softmax(z_i / T)^(k), T > 0 minimising the NLL
  (``fit_temperature``); ``VectorScaling`` and ``MatrixScaling``: softmax(W z_i + b) with W
  diagonal or full.

Every calibrator has ``fit(logits, labels)`` and ``predict_proba(logits) -> [N, K]``.
Inputs may be torch tensors (on any device) or NumPy arrays; results are float64 tensors on the
input's device (metrics: floats). Computing is kept apart from drawing, as scikit-learn keeps
``calibration_curve`` apart from ``CalibrationDisplay``: ``reliability_bins`` computes what a
reliability diagram shows, ``viz.reliability_diagram`` draws it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import gammaln

from .validate import check_finite, check_int, check_number, check_target

__all__ = [
    "check_probs", "check_logits", "softmax", "bin_index", "ReliabilityBins", "reliability_bins",
    "expected_calibration_error", "maximum_calibration_error", "negative_log_likelihood",
    "per_image", "PER_IMAGE",
    "error_rate", "fit_temperature", "Calibrator", "Uncalibrated", "HistogramBinning",
    "IsotonicCalibration", "BBQ", "TemperatureScaling", "VectorScaling", "MatrixScaling",
    "CALIBRATORS", "compare_calibrators", "plot_reliability_diagram",
]

# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    try:
        return torch.as_tensor(np.asarray(x))
    except Exception as err:
        raise TypeError(f"{name} must be a tensor or an array, got {type(x).__name__}.") from err


def _device_of(x) -> torch.device:
    return x.device if isinstance(x, torch.Tensor) else torch.device("cpu")


def _check_scores(scores, labels, name: str, expected: int | None = None):
    """A float [N, K] tensor with N > 0 and, when given, integer labels [N] in 0..K-1.
    Half-precision scores are widened to float32 (bins and sums are not computed in 3 digits)."""
    s = _as_tensor(scores, name)
    if s.dim() != 2:
        raise ValueError(f"{name} must have shape [N, K] (one row per sample, one column per "
                         f"class), got {tuple(s.shape)}.")
    if not s.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {s.dtype} (class scores, not class "
                        "indices: pass the model's outputs).")
    if s.dtype in (torch.float16, torch.bfloat16):
        s = s.float()
    if len(s) == 0:
        raise ValueError(f"{name} is empty (0 samples): calibration needs a non-empty set; "
                         "is the validation split empty?")
    if s.shape[1] == 0:
        raise ValueError(f"{name} has 0 classes (shape {tuple(s.shape)}): one column per class.")
    if expected is not None and s.shape[1] != expected:
        raise ValueError(f"{name} has {s.shape[1]} classes but the calibrator was fitted on "
                         f"{expected}.")
    check_finite(s, name, "a diverged model, or a division by zero upstream? Calibration needs "
                 "finite scores.")
    if labels is None:
        return s, None
    y = _as_tensor(labels, "labels")
    if y.dim() != 1 or len(y) != len(s):
        raise ValueError(f"{name} has {len(s)} rows but labels has shape {tuple(y.shape)}: pass "
                         "one class index per row.")
    if y.dtype == torch.bool:
        raise TypeError("labels must hold integer class indices, got booleans; for two classes "
                        "use labels.long().")
    y = check_target(y, len(s), s.shape[1])     # integer dtype, each label in 0..K-1
    return s, y


def check_probs(probs, labels=None, atol: float = 1e-3):
    """``(probs float [N, K], labels long [N])`` after checking that each row of ``probs`` is a
    probability vector (non-negative, summing to one within ``atol``, or within the resolution of
    half precision) and each label is a class index."""
    in_dtype = probs.dtype if isinstance(probs, torch.Tensor) else None
    p, y = _check_scores(probs, labels, "probs")
    if in_dtype in (torch.float16, torch.bfloat16):
        atol = max(atol, torch.finfo(in_dtype).eps)
    sums = p.double().sum(1)
    bad = ((sums - 1).abs() > atol).nonzero()
    if len(bad) or (p < 0).any():
        i = int(bad[0]) if len(bad) else int((p < 0).any(1).nonzero()[0])
        raise ValueError(f"probs must hold probabilities (each row non-negative, summing to one): "
                         f"row {i} sums to {sums[i].item():.4g}. Did you pass logits? Use "
                         "calibration.softmax(logits) first.")
    return p, y


def check_logits(logits, labels=None, expected: int | None = None):
    """``(logits float [N, K], labels long [N])`` after checking shapes, finiteness and labels."""
    return _check_scores(logits, labels, "logits", expected)


# --------------------------------------------------------------------------------------------
# Confidence, bins and the calibration errors
# --------------------------------------------------------------------------------------------
def softmax(logits, T: float = 1.0) -> torch.Tensor:
    """softmax(z / T) row-wise: float64 [N, K] on the logits' device."""
    T = check_number(T, "the temperature T", low=0, low_open=True)
    z, _ = check_logits(logits)
    return torch.softmax(z.double() / T, dim=1).to(_device_of(logits))


def bin_index(confidences, n_bins: int = 15) -> torch.Tensor:
    """The bin m - 1 of each confidence, for I_m = ((m-1)/M, m/M] (a confidence of exactly m/M
    belongs to I_m; 0 is put into the first bin). Edges are computed in the confidences' dtype,
    so a confidence written as m/M in that dtype lands on its edge exactly. [N] -> long [N]."""
    n_bins = check_int(n_bins, "n_bins", minimum=1)
    conf = _as_tensor(confidences, "confidences").contiguous()
    if not conf.is_floating_point():
        raise TypeError(f"confidences must be floating point in [0, 1], got {conf.dtype}.")
    check_finite(conf, "confidences")
    if len(conf.reshape(-1)) and not (conf.min() >= -1e-6 and conf.max() <= 1 + 1e-6):
        raise ValueError(f"confidences must lie in [0, 1], got values from {conf.min().item():.4g} "
                         f"to {conf.max().item():.4g}: pass probabilities (calibration.softmax "
                         "of the logits), not logits.")
    # --8<-- [start:edges]
    inner = torch.arange(1, n_bins, dtype=conf.dtype) / n_bins        # 1/M, ..., (M-1)/M
    return torch.bucketize(conf, inner, right=False)                   # e_{m-1} < p <= e_m
    # --8<-- [end:edges]


@dataclass
class ReliabilityBins:
    """What a reliability diagram draws: per bin acc(B_m), conf(B_m) (NaN when empty), |B_m|.

    The summaries (``ece``, ``mce``, ``accuracy``, ``mean_confidence``) follow from the bins, so a
    display (``viz.reliability_diagram``) needs nothing else."""

    edges: torch.Tensor    # [M + 1]: 0, 1/M, ..., 1
    acc: torch.Tensor      # [M]
    conf: torch.Tensor     # [M]
    count: torch.Tensor    # [M] (long)

    @property
    def gap(self) -> torch.Tensor:
        """acc(B_m) - conf(B_m): negative where the network is overconfident."""
        return self.acc - self.conf

    @property
    def n(self) -> int:
        """The number of samples, sum_m |B_m|."""
        return int(self.count.sum())

    @property
    def ece(self) -> float:
        """ECE = sum_m |B_m| / n |acc(B_m) - conf(B_m)| (Guo et al., Eq. (3))."""
        filled = self.count > 0
        # --8<-- [start:ece]
        weight = self.count[filled].double() / self.count.sum()              # |B_m| / n
        return float((weight * (self.acc[filled] - self.conf[filled]).abs()).sum())
        # --8<-- [end:ece]

    @property
    def mce(self) -> float:
        """MCE = max_m |acc(B_m) - conf(B_m)| over the non-empty bins (Guo et al., Eq. (5))."""
        filled = self.count > 0
        return float((self.acc[filled] - self.conf[filled]).abs().max())

    @property
    def accuracy(self) -> float:
        """The fraction of correct top-1 predictions, sum_m |B_m| acc(B_m) / n."""
        filled = self.count > 0
        return float((self.count[filled] * self.acc[filled]).sum() / self.count.sum())

    @property
    def mean_confidence(self) -> float:
        """The average confidence, sum_m |B_m| conf(B_m) / n."""
        filled = self.count > 0
        return float((self.count[filled] * self.conf[filled]).sum() / self.count.sum())


def reliability_bins(probs, labels, n_bins: int = 15) -> ReliabilityBins:
    """acc(B_m), conf(B_m) and |B_m| over the bins I_m = ((m-1)/M, m/M] of the confidence
    p_hat = max_k probs[:, k] (Guo et al., Eq. (2) and (3)). ``probs`` [N, K], ``labels`` [N]."""
    n_bins = check_int(n_bins, "n_bins", minimum=1)
    p, y = check_probs(probs, labels)
    # --8<-- [start:bins]
    conf, pred = p.max(dim=1)
    m = bin_index(conf, n_bins)
    count = torch.bincount(m, minlength=n_bins)
    correct = torch.bincount(m, weights=(pred == y).double(), minlength=n_bins)
    conf_sum = torch.bincount(m, weights=conf.double(), minlength=n_bins)
    return ReliabilityBins(edges=torch.arange(n_bins + 1, dtype=torch.float64) / n_bins,
                           acc=correct / count, conf=conf_sum / count, count=count)
    # --8<-- [end:bins]


def expected_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """ECE = sum_m |B_m| / n |acc(B_m) - conf(B_m)| (Guo et al., Eq. (3)), M = ``n_bins``
    equal-width bins closed on the right. ``probs`` [N, K] (rows sum to one), ``labels`` [N]."""
    return reliability_bins(probs, labels, n_bins).ece


def maximum_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """MCE = max_m |acc(B_m) - conf(B_m)| over the non-empty bins (Guo et al., Eq. (5))."""
    return reliability_bins(probs, labels, n_bins).mce


PER_IMAGE = ("overconfidence", "nll")


def per_image(probs, labels, measure: str, *, eps: float = 1e-12) -> torch.Tensor:
    """The per-image terms whose mean is a calibration summary, float64 [N]:

    * ``"overconfidence"``: conf_i - 1[yhat_i = y_i], with conf_i = max_k probs[i, k]; its mean
      is avg. confidence - accuracy (the sign of the reliability diagram's gap);
    * ``"nll"``: -log probs[i, y_i] (floored at ``eps``); its mean is the NLL, Eq. (6).

    Terms of two models (or two calibrators) on the same images are paired by image, which is
    what a paired bootstrap of their difference needs (``findings.bootstrap_difference``).
    ``probs`` [N, K] (rows sum to one), ``labels`` [N]."""
    if measure not in PER_IMAGE:
        raise ValueError(f"measure must be one of {PER_IMAGE}, not {measure!r}.")
    p, y = check_probs(probs, labels)
    p = p.double()
    if measure == "nll":
        eps = check_number(eps, "eps", low=0, low_open=True)
        return -p.gather(1, y[:, None]).clamp_min(eps).log()[:, 0]
    conf, pred = p.max(1)
    return conf - (pred == y).double()


def negative_log_likelihood(probs, labels, eps: float = 1e-12) -> float:
    """NLL = -1/n sum_i log probs[i, y_i] (Guo et al., Eq. (6)); probabilities are floored at
    ``eps`` so that a binning method that gives a true class probability 0 stays finite."""
    return float(per_image(probs, labels, "nll", eps=eps).mean())


def error_rate(probs, labels) -> float:
    """The 0/1 loss: the fraction of wrong top-1 predictions."""
    p, y = check_probs(probs, labels)
    return float((p.argmax(1) != y).double().mean())


# --------------------------------------------------------------------------------------------
# Temperature scaling
# --------------------------------------------------------------------------------------------
def _check_bounds(bounds) -> tuple[float, float]:
    try:
        lo, hi = bounds
    except (TypeError, ValueError):
        raise TypeError(f"bounds must be a pair (T_min, T_max), got {bounds!r}.") from None
    lo = check_number(lo, "bounds[0] (the smallest temperature)", low=0, low_open=True)
    hi = check_number(hi, "bounds[1] (the largest temperature)", low=0, low_open=True)
    if lo > hi:
        raise ValueError(f"bounds {tuple(bounds)} are reversed: pass (T_min, T_max) with "
                         f"T_min <= T_max, e.g. ({hi:g}, {lo:g}).")
    return lo, hi


def fit_temperature(logits, labels, *, bounds=(0.01, 100.0)) -> float:
    """The T > 0 minimising NLL(T) = -1/n sum_i log softmax(z_i / T)^(y_i) on held-out logits.

    With beta = 1/T the NLL is convex (its second derivative is the mean variance of z under
    softmax(beta z)), so Newton's method on beta, kept inside a bracket, finds the minimum in a
    few steps:  dNLL/dbeta = mean_i (E_p[z_i] - z_{i,y_i}),  d2NLL/dbeta2 = mean_i Var_p[z_i].
    T is searched in ``bounds`` = (T_min, T_max), 0 < T_min <= T_max; the nearest bound is
    returned when the minimum lies beyond it (with separable data the NLL falls forever as
    T -> 0: the search then stops where the NLL no longer changes in the logits' precision).
    float32 logits are processed in float32 (T to about 1e-6), float64 ones in float64. The logits
    are first divided by their largest magnitude s (NLL(T; z) = NLL(T / s; z / s)), so neither
    1e-30 nor 1e30 overflows.
    """
    lo_T, hi_T = _check_bounds(bounds)
    z, y = check_logits(logits, labels)
    z = z if z.dtype == torch.float64 else z.float()
    if lo_T == hi_T:
        return lo_T
    if bool((z.amax(1) == z.amin(1)).all()):        # every row constant: NLL(T) = log K for all T
        return min(max(1.0, lo_T), hi_T)
    scale = float(z.abs().max())
    z = z / scale                                                     # T' = T / s on z' = z / s
    tol = 1e-9 if z.dtype == torch.float64 else 1e-6
    z_y = z.gather(1, y[:, None]).squeeze(1)

    # --8<-- [start:newton]
    def slope_curvature(beta):
        pz = torch.softmax(beta * z, dim=1) * z
        mean = pz.sum(1)                                           # E_p[z_i]
        return (float((mean - z_y).double().mean()),
                float(((pz * z).sum(1) - mean ** 2).double().mean()))

    lo, hi = scale / hi_T, scale / lo_T                 # bracket of beta' = s / T
    beta = min(max(scale, lo), hi)                      # T = 1
    for _ in range(100):
        g, h = slope_curvature(beta)
        lo, hi = (beta, hi) if g < 0 else (lo, beta)
        step = g / h if h > 0 else math.inf
        if abs(step) <= tol * beta:
            break
        beta = beta - step if lo < beta - step < hi else math.sqrt(lo * hi)   # Newton, or bisect
    # --8<-- [end:newton]
    return float(min(max(scale / beta, lo_T), hi_T))


# --------------------------------------------------------------------------------------------
# Calibrators: fit(logits, labels) on validation data, predict_proba(logits) on test data
# --------------------------------------------------------------------------------------------
class Calibrator:
    """Base class: ``fit(logits [N,K], labels [N]) -> self``; ``predict_proba(logits) -> [N,K]``."""

    name = "Uncalibrated"
    num_classes: int | None = None

    def fit(self, logits, labels):
        z, y = check_logits(logits, labels)
        self.num_classes = z.shape[1]
        self._fit(z.double(), y)
        return self

    def predict_proba(self, logits) -> torch.Tensor:
        """Calibrated probabilities [N, K], float64, on the logits' device."""
        if self.num_classes is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call "
                               "fit(validation_logits, validation_labels) first.")
        z, _ = check_logits(logits, expected=self.num_classes)
        return self._predict(z.double()).to(_device_of(logits))

    def _fit(self, z, y):
        pass

    def _predict(self, z):
        return torch.softmax(z, dim=1)

    def __repr__(self):
        return f"{type(self).__name__}()"


class Uncalibrated(Calibrator):
    """softmax(z): the network's own probabilities (the "Uncalibrated" column)."""


def _normalise(q: torch.Tensor) -> torch.Tensor:
    """Rows divided by their sums; a row of zeros becomes uniform (as scikit-learn does)."""
    s = q.sum(1, keepdim=True)
    return torch.where(s > 0, q / s.clamp_min(1e-300), torch.full_like(q, 1.0 / q.shape[1]))


class _OneVsRest(Calibrator):
    """Calibrate softmax(z)^(k) against 1(y = k) for each class k, then renormalise."""

    def _fit(self, z, y):
        p = torch.softmax(z, dim=1).numpy()
        self.models_ = [self._fit_binary(p[:, k], (y == k).numpy().astype(np.float64))
                        for k in range(p.shape[1])]

    def _predict(self, z):
        p = torch.softmax(z, dim=1).numpy()
        q = np.stack([self._predict_binary(m, p[:, k]) for k, m in enumerate(self.models_)], 1)
        return _normalise(torch.from_numpy(q))


class HistogramBinning(_OneVsRest):
    """Histogram binning (Zadrozny & Elkan, 2001): M equal-width bins of the class probability,
    each predicting theta_m = the fraction of positives among its validation samples (the
    minimiser of the bin-wise squared loss). An empty bin predicts its midpoint."""

    name = "Hist. Binning"

    def __init__(self, n_bins: int = 15):
        self.n_bins = check_int(n_bins, "n_bins", minimum=1)

    def _fit_binary(self, p, is_k):
        m = bin_index(torch.from_numpy(p), self.n_bins).numpy()
        count = np.bincount(m, minlength=self.n_bins)
        pos = np.bincount(m, weights=is_k, minlength=self.n_bins)
        mid = (np.arange(self.n_bins) + 0.5) / self.n_bins
        return np.where(count > 0, pos / np.maximum(count, 1), mid)

    def _predict_binary(self, theta, p):
        return theta[bin_index(torch.from_numpy(p), self.n_bins).numpy()]


class IsotonicCalibration(_OneVsRest):
    """Isotonic regression (Zadrozny & Elkan, 2002): the non-decreasing step function of the
    class probability closest to 1(y = k) in squared loss (scikit-learn's IsotonicRegression)."""

    name = "Isotonic"

    def _fit_binary(self, p, is_k):
        from sklearn.isotonic import IsotonicRegression
        return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, is_k)

    def _predict_binary(self, iso, p):
        return iso.predict(p)


class BBQ(_OneVsRest):
    """Bayesian Binning into Quantiles (Naeini, Cooper & Hauskrecht, AAAI 2015), compactly.

    Candidate models: equal-frequency binnings of the class probability with B bins, for every B
    from max(2, N^(1/3) / C) to C N^(1/3) (C = 10, N validation samples). Each model is scored by
    its marginal likelihood under a Beta prior per bin, centred on the bin's midpoint p_b with
    equivalent sample size N' = 2 (alpha_b = N'/B p_b, beta_b = N'/B (1 - p_b)):

        P(D | M) = prod_b  G(N'/B) / G(n_b + N'/B)  G(m_b + alpha_b) / G(alpha_b)
                           G(n_b - m_b + beta_b) / G(beta_b)          (G = Gamma function)

    with n_b samples and m_b positives in bin b; a bin predicts its posterior mean
    (m_b + alpha_b) / (n_b + N'/B), and BBQ averages the models' predictions weighted by
    P(D | M). Simplifications: a uniform prior over models, all models of the range averaged
    (no pruning), binnings whose edges coincide after ties are merged, and K classes handled
    one-versus-rest with renormalisation, as Guo et al. do.
    """

    name = "BBQ"

    def __init__(self, C: float = 10.0, prior_strength: float = 2.0):
        self.C = check_number(C, "C", low=0, low_open=True)
        self.prior_strength = check_number(prior_strength, "prior_strength", low=0, low_open=True)

    def _fit_binary(self, p, is_k):
        n, ps = len(p), np.sort(p)
        root = n ** (1.0 / 3.0)
        models, scores, seen = [], [], set()
        for B in range(max(2, int(root / self.C)), max(3, math.ceil(self.C * root)) + 1):
            inner = np.unique(ps[(np.arange(1, B) * n) // B - 1])   # equal-frequency edges
            if inner.tobytes() in seen:
                continue
            seen.add(inner.tobytes())
            edges = np.concatenate([[0.0], inner, [1.0]])
            b = np.searchsorted(inner, p, side="left")          # bins closed on the right
            nb = np.bincount(b, minlength=len(edges) - 1).astype(np.float64)
            mb = np.bincount(b, weights=is_k, minlength=len(edges) - 1)
            strength = self.prior_strength / (len(edges) - 1)   # N' / B
            mid = np.clip((edges[:-1] + edges[1:]) / 2, 1e-6, 1 - 1e-6)
            alpha, beta = strength * mid, strength * (1 - mid)
            log_ml = (gammaln(strength) - gammaln(nb + strength) + gammaln(mb + alpha)
                      - gammaln(alpha) + gammaln(nb - mb + beta) - gammaln(beta)).sum()
            models.append((inner, (mb + alpha) / (nb + strength)))
            scores.append(log_ml)
        weights = np.exp(np.asarray(scores) - max(scores))
        return models, weights / weights.sum()

    def _predict_binary(self, fitted, p):
        models, weights = fitted
        return sum(w * theta[np.searchsorted(inner, p, side="left")]
                   for (inner, theta), w in zip(models, weights))


class TemperatureScaling(Calibrator):
    """softmax(z / T) with one T > 0 fitted by ``fit_temperature`` (Guo et al., Sec. 4.2)."""

    name = "Temp. Scaling"
    temperature: float | None = None

    def _fit(self, z, y):
        self.temperature = fit_temperature(z, y)

    def _predict(self, z):
        return torch.softmax(z / self.temperature, dim=1)

    def __repr__(self):
        return f"TemperatureScaling(T={self.temperature})"


class _LinearScaling(Calibrator):
    """softmax(W z + b) with W and b minimising the validation NLL (L-BFGS, float64)."""

    diagonal = False

    def __init__(self, max_iter: int = 100):
        self.max_iter = check_int(max_iter, "max_iter", minimum=1)

    def _fit(self, z, y):
        k = z.shape[1]
        W = torch.ones(k, dtype=torch.float64) if self.diagonal else \
            torch.eye(k, dtype=torch.float64)
        W.requires_grad_(True)
        b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([W, b], lr=1.0, max_iter=self.max_iter, tolerance_grad=1e-9,
                                tolerance_change=1e-12, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(self._affine(z, W, b), y)
            loss.backward()
            return loss
        opt.step(closure)
        self.W, self.b = W.detach(), b.detach()

    def _affine(self, z, W, b):
        return z * W + b if self.diagonal else z @ W.T + b

    def _predict(self, z):
        return torch.softmax(self._affine(z, self.W, self.b), dim=1)


class VectorScaling(_LinearScaling):
    """softmax(W z + b) with W diagonal: 2K parameters (Guo et al., Sec. 4.2)."""

    name = "Vector Scaling"
    diagonal = True


class MatrixScaling(_LinearScaling):
    """softmax(W z + b) with W a full K x K matrix: K^2 + K parameters (Guo et al., Sec. 4.2)."""

    name = "Matrix Scaling"


CALIBRATORS = {c.name: c for c in (Uncalibrated, HistogramBinning, IsotonicCalibration, BBQ,
                                   TemperatureScaling, VectorScaling, MatrixScaling)}
"""The columns of the lecture's table, in its order: name -> calibrator class."""


def compare_calibrators(val_logits, val_labels, test_logits, test_labels, *, n_bins: int = 15,
                        methods=None):
    """Fit every calibrator on the validation logits and measure it on the test logits, as in
    Guo et al.'s Tables 1 to 3. Returns ``(scores, fitted)``: ``scores[name]`` holds ECE, MCE,
    NLL and error on the test set (fractions), ``fitted[name]`` the fitted calibrator.
    ``methods`` is a list of names of ``CALIBRATORS`` (default: all, in the table's order)."""
    n_bins = check_int(n_bins, "n_bins", minimum=1)
    names = list(CALIBRATORS) if methods is None else \
        ([methods] if isinstance(methods, str) else list(methods))
    unknown = [m for m in names if m not in CALIBRATORS]
    if unknown or not names:
        raise ValueError(f"Unknown calibration method(s) {unknown or names}; choose among "
                         f"{list(CALIBRATORS)}.")
    zv, yv = check_logits(val_logits, val_labels)
    z, y = check_logits(test_logits, test_labels)
    if zv.shape[1] != z.shape[1]:
        raise ValueError(f"The validation logits have {zv.shape[1]} classes and the test logits "
                         f"{z.shape[1]}: both must come from the same model.")
    scores, fitted = {}, {}
    for name in names:
        model = CALIBRATORS[name]().fit(zv, yv)
        q = model.predict_proba(z)
        b = reliability_bins(q, y, n_bins)
        scores[name] = {"ECE": b.ece, "MCE": b.mce, "NLL": negative_log_likelihood(q, y),
                        "error": error_rate(q, y)}
        fitted[name] = model
    return scores, fitted


# --------------------------------------------------------------------------------------------
# Drawing lives in ``viz.reliability_diagram``; this name stays for one release
# --------------------------------------------------------------------------------------------
def plot_reliability_diagram(probs, labels, n_bins: int = 15, axes=None, title=None,
                             show_histogram: bool = True):
    """Deprecated: ``viz.reliability_diagram(calibration.reliability_bins(probs, labels, n_bins),
    axes=..., title=..., show_histogram=...)``. Computes the bins here and draws them there."""
    import warnings

    from . import viz
    warnings.warn("calibration.plot_reliability_diagram is deprecated: draw with "
                  "viz.reliability_diagram(calibration.reliability_bins(probs, labels, n_bins)).",
                  DeprecationWarning, stacklevel=2)
    return viz.reliability_diagram(reliability_bins(probs, labels, n_bins), axes=axes,
                                   title=title, show_histogram=show_histogram)
