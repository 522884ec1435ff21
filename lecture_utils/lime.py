"""LIME and SP-LIME (Ribeiro, Singh & Guestrin, "Why Should I Trust You?", KDD 2016).

An explanation is a sparse linear model g(z') = w_g . z' on the interpretable representation
z' in {0,1}^{d'} (superpixels or words present), fitted to the model f around x:

    xi(x) = argmin_{g in G} L(f, g, pi_x) + Omega(g)                                      (Eq. 1)
    L(f, g, pi_x) = sum_{z, z'} pi_x(z) (f(z) - g(z'))^2,   pi_x(z) = exp(-D(x, z)^2 / sigma^2)
    (Eq. 2)
    Omega(g) = inf * 1[||w_g||_0 > K]   (at most K features), fitted by K-LASSO (Algorithm 1):
    the LASSO (LARS) path picks K features, then weighted least squares fits their weights.

The perturbed inputs are coalition games (``lecture_utils.shapley``): the same h_x(z') serves LIME
and Kernel SHAP, which differ only in the kernel and the regularisation. SP-LIME (Algorithm 2)
picks a few explanations that together cover the important features.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .shapley import game_values, image_game, paint, text_game
from .validate import (attribution_method, check_count, check_finite, check_images,
                       check_positive)

DEFAULT_KERNEL_WIDTH = {"cosine": 0.25 * math.sqrt(2), "l2": 0.75}


# --------------------------------------------------------------------------------------------
# The interpretable representation: superpixels and coalitions
# --------------------------------------------------------------------------------------------
def superpixels(image, method: str = "quickshift", **kwargs) -> torch.Tensor:
    """Superpixels of an image [3, H, W] (float in [0, 1] or uint8) from scikit-image, as labels
    0..S-1 in a LongTensor [H, W]. ``method``: 'quickshift' (LIME's choice; defaults
    kernel_size=4, max_dist=200, ratio=0.2 as in the ``lime`` package), 'slic' (n_segments,
    compactness) or 'felzenszwalb' (scale, sigma, min_size); ``kwargs`` go to scikit-image."""
    from skimage import segmentation

    from .data import to_float
    if isinstance(image, torch.Tensor) and image.dim() == 4:
        raise ValueError(f"image has shape {tuple(image.shape)}: superpixels are computed for one "
                         "image [C, H, W] at a time (image[i]).")
    if isinstance(image, torch.Tensor) and image.dim() != 3:
        raise ValueError(f"image must have shape [C, H, W], got {tuple(image.shape)}.")
    check_images(image[None] if isinstance(image, torch.Tensor) else image, "image",
                 allow_uint8=True)
    img = image.detach().cpu()
    img = (to_float(img) if img.dtype == torch.uint8 else img.float()).permute(1, 2, 0).numpy()
    img = img.astype(np.float64)
    if method == "quickshift":
        kw = dict(kernel_size=4, max_dist=200, ratio=0.2, rng=0)
        kw.update(kwargs)
        labels = segmentation.quickshift(img, **kw)
    elif method == "slic":
        kw = dict(n_segments=16, compactness=10.0, start_label=0)
        kw.update(kwargs)
        labels = segmentation.slic(img, **kw)
    elif method == "felzenszwalb":
        kw = dict(scale=100, sigma=0.5, min_size=20)
        kw.update(kwargs)
        labels = segmentation.felzenszwalb(img, **kw)
    else:
        raise ValueError(f"method must be 'quickshift', 'slic' or 'felzenszwalb', not {method!r}.")
    labels = segmentation.relabel_sequential(labels)[0]      # 0..S-1 (or 1..S: shifted below)
    labels = labels - labels.min()
    return torch.from_numpy(labels.astype(np.int64))


def sample_coalitions(n_samples: int, M: int, *, seed: int = 0,
                      scheme: str = "bernoulli") -> torch.Tensor:
    """z' for LIME, float [n_samples, M], the first row all ones (x' itself).

    'bernoulli': each feature present with probability 1/2 (the ``lime`` package for images);
    'uniform_size': remove a number of features drawn uniformly from 1..M, then which ones
    uniformly (the ``lime`` package for text). Both draw from ``numpy.random.RandomState(seed)``
    in the ``lime`` package's order, so the same seed gives the same samples as ``lime``.
    """
    n_samples = check_count(n_samples, "n_samples", minimum=2)
    M = check_count(M, "M (the number of features)")
    rs = np.random.RandomState(seed)
    if scheme == "bernoulli":
        Z = rs.randint(0, 2, n_samples * M).reshape(n_samples, M).astype(np.float32)
    elif scheme == "uniform_size":
        Z = np.ones((n_samples, M), np.float32)
        for i, size in enumerate(rs.randint(1, M + 1, n_samples - 1), start=1):
            Z[i, rs.choice(range(M), size, replace=False)] = 0
    else:
        raise ValueError(f"scheme must be 'bernoulli' or 'uniform_size', not {scheme!r}.")
    Z[0] = 1
    return torch.from_numpy(Z)


# --------------------------------------------------------------------------------------------
# Proximity and the K-LASSO fit
# --------------------------------------------------------------------------------------------
def proximity(distances: torch.Tensor, kernel_width: float) -> torch.Tensor:
    """pi_x(z) = exp(-D(x, z)^2 / sigma^2), the exponential kernel of Eq. (2). (The ``lime``
    package uses sqrt(exp(-D^2 / w^2)), i.e. sigma = sqrt(2) w.)"""
    kernel_width = check_positive(kernel_width, "kernel_width")
    d = torch.as_tensor(distances, dtype=torch.float64)
    return torch.exp(-d ** 2 / kernel_width ** 2)


def cosine_distance(Z: torch.Tensor) -> torch.Tensor:
    """D(x, z) = 1 - cos(x', z') between each row z' of Z [n, M] and x' = (1, ..., 1): the text
    distance of the paper (for binary rows, 1 - sqrt(|z'| / M))."""
    Z = torch.as_tensor(Z, dtype=torch.float64)
    norms = Z.norm(dim=1) * math.sqrt(Z.shape[1])
    return 1 - torch.where(norms > 0, Z.sum(1) / norms.clamp_min(1e-300), torch.zeros_like(norms))


def l2_distance(Z: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
    """D(x, z) = ||x - z||_2 / ||x - h_x(0)||_2 for images: z = h_x(z') differs from x exactly on
    the removed superpixels, so ||x - z||^2 = sum_k (1 - z'_k) e_k with e_k = ||x - b||^2 over
    superpixel k. Normalised to 1 for the fully removed image."""
    Z = torch.as_tensor(Z, dtype=torch.float64)
    e = torch.as_tensor(energy, dtype=torch.float64)
    return ((1 - Z) @ e / e.sum().clamp_min(1e-300)).clamp_min(0).sqrt()


def _fit_inputs(Z, y, weights):
    """Z [n, M], y [n], weights [n] as float64, checked: finite, matching, weights >= 0 and not
    all zero (a clear error instead of the LAPACK failure a NaN would give)."""
    Z = torch.as_tensor(Z, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    w = torch.as_tensor(weights, dtype=torch.float64)
    if Z.dim() != 2 or y.shape != (len(Z),) or w.shape != (len(Z),):
        raise ValueError(f"Z must be [n, M], y and weights [n]; got {tuple(Z.shape)}, "
                         f"{tuple(y.shape)} and {tuple(w.shape)}.")
    for t, name in ((Z, "Z"), (y, "y (the model's values)"), (w, "weights")):
        check_finite(t, name, "the fit needs finite numbers; find where they came from")
    if (w < 0).any():
        raise ValueError("weights must be >= 0.")
    if not w.sum() > 0:
        raise ValueError("every sample has weight 0 (the kernel width is too small for these "
                         "distances, or no sample was drawn): raise kernel_width.")
    return Z, y, w


def weighted_least_squares(Z, y, weights, ridge: float = 0.0):
    """min_{w, b} sum_k pi_k (y_k - b - w . z_k)^2 + ridge ||w||^2 -> (w [M], b, weighted R^2).

    Solved after centring by the weighted means (the intercept is not penalised), as
    scikit-learn's ``Ridge(alpha=ridge).fit(Z, y, sample_weight=pi)`` does."""
    Z, y, raw = _fit_inputs(Z, y, weights)
    p = raw / raw.sum()                                   # the penalty scales with sum(weights)
    zbar, ybar = p @ Z, p @ y
    Zc, yc = Z - zbar, y - ybar
    if Z.shape[1] == 0:
        w = torch.zeros(0, dtype=torch.float64)
    else:
        eye = torch.eye(Z.shape[1], dtype=torch.float64)
        A = Zc.T @ (p[:, None] * Zc) + ridge / float(raw.sum()) * eye
        w = torch.linalg.lstsq(A, (Zc.T @ (p * yc))[:, None], driver="gelsd").solution[:, 0]
    b = ybar - zbar @ w
    resid = y - b - Z @ w
    ss_res, ss_tot = p @ resid ** 2, p @ yc ** 2
    score = float(1 - ss_res / ss_tot) if ss_tot > 0 else 1.0
    return w, float(b), score


def k_lasso(Z, y, weights, num_features: int | None = None, ridge: float = 0.0):
    """K-LASSO (Algorithm 1 of Ribeiro et al.): the K features that enter first along the LASSO
    path of the weighted, centred problem (scikit-learn's ``lars_path``), then weighted least
    squares on them. Returns (w [M] with zeros off the K features, intercept, weighted R^2).
    ``num_features=None`` keeps every feature (no sparsity)."""
    Z, y, p = _fit_inputs(Z, y, weights)
    M = Z.shape[1]
    if num_features is None or num_features >= M:
        chosen = np.arange(M)
    else:
        num_features = check_count(num_features, "num_features (K; or None for all)")
        from sklearn.linear_model import lars_path
        sw = p.sqrt()[:, None]
        Zw = ((Z - (p / p.sum()) @ Z) * sw).numpy()
        yw = ((y - (p / p.sum()) @ y) * sw[:, 0]).numpy()
        _, _, coefs = lars_path(Zw, yw, method="lasso", verbose=False)
        # The least-penalised point of the path with at most K features (the path starts at
        # all-zero coefficients, so one always exists; a constant y gives no feature at all).
        for i in range(coefs.shape[1] - 1, -1, -1):
            chosen = np.flatnonzero(coefs[:, i])
            if len(chosen) <= num_features:
                break
    w_sel, b, score = weighted_least_squares(Z[:, chosen], y, p, ridge)
    w = torch.zeros(M, dtype=torch.float64)
    w[torch.as_tensor(chosen, dtype=torch.long)] = w_sel
    return w, b, score


# --------------------------------------------------------------------------------------------
# Explanations
# --------------------------------------------------------------------------------------------
@dataclass
class Explanation:
    """A LIME explanation: g(z') = intercept + weights . z'.

    ``weights`` [M] (one per superpixel / word; zero off the K chosen ones), ``intercept``,
    ``score`` (weighted R^2 of the fit on the samples), ``prediction`` f(x) and
    ``local_prediction`` g(x') = intercept + sum(weights); ``names`` for words."""

    weights: torch.Tensor
    intercept: float
    score: float
    prediction: float
    local_prediction: float
    names: list | None = None
    n_samples: int = 0
    kernel_width: float = 0.0
    samples: torch.Tensor | None = field(default=None, repr=False)
    values: torch.Tensor | None = field(default=None, repr=False)

    def top(self, k: int | None = None, sign: str = "both") -> list[int]:
        """Indices of the k largest weights by magnitude ('both'), or the largest positive ones."""
        w = self.weights.clone()
        if sign == "positive":
            order = [i for i in torch.argsort(-w).tolist() if w[i] > 0]
        elif sign == "both":
            order = [i for i in torch.argsort(-w.abs()).tolist() if w[i] != 0]
        else:
            raise ValueError(f"sign must be 'both' or 'positive', not {sign!r}.")
        return order[:k]

    def as_list(self, k: int | None = None) -> list[tuple]:
        """[(name or index, weight)] by decreasing |weight|."""
        return [((self.names[i] if self.names else i), float(self.weights[i])) for i in self.top(k)]


def _kernel_width(kernel_width, default: float) -> float:
    return default if kernel_width is None else check_positive(kernel_width, "kernel_width")


def explain(value_fn: Callable, M: int, n_samples: int = 1000, *, seed: int = 0,
            distances: str | Callable = "cosine", kernel_width: float | None = None,
            num_features: int | None = None, ridge: float = 0.0, scheme: str = "bernoulli",
            keep_samples: bool = False, names=None) -> Explanation:
    """LIME for any coalition game: sample z', evaluate f(h_x(z')) in batches, weight by pi_x and
    fit by K-LASSO. ``distances``: 'cosine' or a function Z -> D(x, z) [n]. ``kernel_width``
    (sigma > 0) defaults to the ``lime`` package's width for the distance."""
    if callable(distances):
        width = _kernel_width(kernel_width, DEFAULT_KERNEL_WIDTH["l2"])
    elif distances == "cosine":
        width = _kernel_width(kernel_width, DEFAULT_KERNEL_WIDTH["cosine"])
    else:
        raise ValueError(f"distances must be 'cosine' or a function of Z, not {distances!r}.")
    # --8<-- [start:lime]
    Z = sample_coalitions(n_samples, M, seed=seed, scheme=scheme)     # z', the first row x'
    y = game_values(value_fn, Z)                                      # f(h_x(z'))
    D = distances(Z) if callable(distances) else cosine_distance(Z)
    pi = proximity(D, width)                                          # pi_x(z)
    w, b, score = k_lasso(Z, y, pi, num_features, ridge)              # K-LASSO
    # --8<-- [end:lime]
    return Explanation(w, b, score, float(y[0]), float(b + w.sum()), names, n_samples, width,
                       Z if keep_samples else None, y if keep_samples else None)


def explain_image(model, image: torch.Tensor, target: int, segments, n_samples: int = 1000, *,
                  seed: int = 0, num_features: int | None = None, baseline="mean",
                  distance: str = "l2", kernel_width: float | None = None,
                  output: str = "probability", ridge: float = 0.0, batch_size: int | None = None,
                  precision: str = "auto", keep_samples: bool = False) -> Explanation:
    """LIME for an image classifier: ``weights`` [S] for the superpixels ``segments`` (int [H, W],
    labels 0..S-1) of ``image`` [3, H, W] explaining class ``target``.

    Each sample hides a random half of the superpixels (replaced by ``baseline``: 'mean' colour of
    each superpixel as in ``lime``, a number, or an image); the perturbed images are built and
    scored on the model's device in batches of ``batch_size`` (default
    ``batching.batch_size_for``). ``distance``: 'l2' (the paper's choice for images,
    ``l2_distance``) or 'cosine' (the ``lime`` package's default). ``num_features`` = K of K-LASSO
    (None: all superpixels). ``output``: 'probability' or 'logit'. ``precision``: 'auto' (the
    course's precision for batched inference) or 'fp32' (see ``shapley.image_game``).
    """
    if distance not in ("l2", "cosine"):
        raise ValueError(f"distance must be 'l2' or 'cosine', not {distance!r}.")
    game = image_game(model, image, target, segments, baseline=baseline, output=output,
                      batch_size=batch_size, precision=precision)
    if distance == "l2":
        diff = ((game.image - game.baselines) ** 2).sum(1).mean(0)            # [H, W]
        energy = torch.zeros(game.M, dtype=torch.float64, device=diff.device).index_add_(
            0, game.segments.reshape(-1), diff.reshape(-1).double()).cpu()
        distances = lambda Z: l2_distance(Z, energy)  # noqa: E731
    else:
        distances = "cosine"
    return explain(game, game.M, n_samples, seed=seed, distances=distances,
                   kernel_width=kernel_width, num_features=num_features, ridge=ridge,
                   scheme="bernoulli", keep_samples=keep_samples)


def explain_text(predict_proba: Callable, text: str, target: int, n_samples: int = 5000, *,
                 seed: int = 0, num_features: int | None = 10, kernel_width: float | None = None,
                 ridge: float = 0.0, batch_size: int = 1000,
                 keep_samples: bool = False) -> Explanation:
    """LIME for a text classifier ``predict_proba(list of str) -> [n, classes]``: one weight per
    distinct word of ``text`` (``names``), words removed everywhere they occur, cosine distance
    on the bag of words, K-LASSO with K = ``num_features``."""
    game = text_game(predict_proba, text, target, batch_size=batch_size)
    return explain(game, game.M, n_samples, seed=seed, distances="cosine",
                   kernel_width=kernel_width,
                   num_features=num_features, ridge=ridge, scheme="uniform_size",
                   keep_samples=keep_samples, names=game.names)


def highlight(image: torch.Tensor, segments: torch.Tensor, keep, *,
              fade: float = 0.25) -> torch.Tensor:
    """The image [3, H, W] with only the superpixels ``keep`` in colour and the others faded to
    grey, the way the paper shows an explanation (Fig. 4: "the top 10 superpixels")."""
    keep = torch.as_tensor(list(keep), dtype=torch.long, device=segments.device)
    mask = torch.isin(segments, keep).to(image.device)
    return torch.where(mask, image, image * fade + (1 - fade) * 0.5)


# --------------------------------------------------------------------------------------------
# SP-LIME
# --------------------------------------------------------------------------------------------
def explanation_matrix(explanations) -> tuple[torch.Tensor, list]:
    """W [n, d'] with W_ij = |(w_{g_i})_j| over the union of the explanations' features (words by
    name, else indices), and the feature names."""
    names: dict = {}
    for e in explanations:
        for i in e.top():
            names.setdefault(e.names[i] if e.names else i, len(names))
    W = torch.zeros(len(explanations), len(names), dtype=torch.float64)
    for r, e in enumerate(explanations):
        for i in e.top():
            W[r, names[e.names[i] if e.names else i]] = abs(float(e.weights[i]))
    return W, list(names)


def global_importance(W: torch.Tensor) -> torch.Tensor:
    """I_j = sqrt(sum_i W_ij), the global importance of feature j (Sec. 4 of Ribeiro et al.)."""
    return torch.as_tensor(W, dtype=torch.float64).abs().sum(0).sqrt()


def coverage(W: torch.Tensor, picked, importance: torch.Tensor | None = None) -> float:
    """c(V, W, I) = sum_j 1[exists i in V: W_ij > 0] I_j (Eq. 3)."""
    W = torch.as_tensor(W, dtype=torch.float64).abs()
    I = global_importance(W) if importance is None else torch.as_tensor(importance,  # noqa: E741
                                                                        dtype=torch.float64)
    if not len(picked):
        return 0.0
    return float(((W[list(picked)] > 0).any(0).double() * I).sum())


def submodular_pick(W, budget: int, importance: torch.Tensor | None = None) -> list[int]:
    """SP-LIME (Algorithm 2): greedily add the explanation (row of W [n, d']) with the largest gain
    in coverage c(V u {i}, W, I) - c(V, W, I) until ``budget`` rows are picked. Coverage is
    submodular, so greedy is within 1 - 1/e of the best set. Returns the picked row indices."""
    W = torch.as_tensor(W, dtype=torch.float64)
    if W.dim() != 2:
        raise ValueError(f"W must be a matrix [n explanations, d' features], got {tuple(W.shape)}.")
    if isinstance(budget, bool) or not isinstance(budget,
                                                  (int, np.integer)) or not 1 <= budget <= len(W):
        raise ValueError(f"budget must be an int between 1 and the number of explanations "
                         f"({len(W)}), got {budget!r}.")
    W = W.abs()
    I = global_importance(W) if importance is None else torch.as_tensor(importance,  # noqa: E741
                                                                        dtype=torch.float64)
    present = (W > 0).double()
    covered = torch.zeros(W.shape[1], dtype=torch.float64)
    picked: list[int] = []
    for _ in range(int(budget)):
        gain = present @ ((1 - covered) * I)
        if picked:
            gain[picked] = -math.inf
        i = int(torch.argmax(gain))
        picked.append(i)
        covered = torch.maximum(covered, present[i])
    return picked


# --------------------------------------------------------------------------------------------
# LIME as an attribution method (the contract of ``validate.attribution_method``)
# --------------------------------------------------------------------------------------------
@attribution_method(backward=False, batched=False)
def lime_map(model, x: torch.Tensor, target, *, n_segments: int = 16, n_samples: int = 200,
             num_features: int | None = None, kernel_width: float | None = None,
             seed: int = 0, precision: str = "auto") -> torch.Tensor:
    """LIME (Ribeiro et al.) on SLIC superpixels: each superpixel painted with its weight,
    [N, H, W]. ``precision`` as ``explain_image``."""
    n_segments = check_count(n_segments, "n_segments")
    out = []
    for i in range(len(x)):
        seg = superpixels(x[i], "slic", n_segments=n_segments)
        e = explain_image(model, x[i], int(target[i]), seg, n_samples, seed=seed,
                          num_features=num_features, kernel_width=kernel_width,
                          precision=precision)
        out.append(paint(e.weights.float(), seg))
    return torch.stack(out)


__all__ = ["superpixels", "sample_coalitions", "proximity", "cosine_distance", "l2_distance",
           "weighted_least_squares", "k_lasso", "Explanation", "explain", "explain_image",
           "explain_text", "highlight", "explanation_matrix", "global_importance", "coverage",
           "submodular_pick", "lime_map"]
