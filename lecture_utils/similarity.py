"""Representation similarity by centred kernel alignment (CKA), as on the lecture's slide.

X in R^{m x p1} and Y in R^{m x p2} are the activation matrices of two layers (of one network or
of two) on the same m examples. With the Gram matrices K = X X^T, L = Y Y^T and the centring
matrix H = I_m - (1/m) 1 1^T (Kornblith et al. 2019; Raghu et al. 2021, Sec. 3):

    K' = H K H,   L' = H L H,   HSIC(K, L) = vec(K') . vec(L') / (m - 1)^2,
    CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)).

``cka(K, L)`` is that formula, term by term (m x m matrices: for small m, the notebook and the
tests). ``linear_cka(X, Y)`` gives the same number without m x m matrices when m is large, from
vec(HKH) . vec(HLH) = ||Y_c^T X_c||_F^2 with X_c = H X the column-centred features.
``rbf_cka`` uses a Gaussian kernel instead of the linear one. ``minibatch_cka`` and ``cka_matrix``
average the unbiased HSIC of Song et al. (2012) over minibatches (Nguyen et al. 2021, Eq. 3), so a
whole network's layer-by-layer heat map on 10,000 images never holds a 10,000 x 10,000 matrix.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .representations import iter_layer_activations, layer_names

METHODS = ("auto", "gram", "features")


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------
def _as_matrix(X, name: str, dtype=torch.float64) -> torch.Tensor:
    """An activation matrix [m, p] (any [m, ...] is flattened per example), finite, as ``dtype``."""
    if isinstance(X, np.ndarray):
        X = torch.from_numpy(X)
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{name} must be a tensor or an array [m examples, p neurons], "
                        f"got {type(X).__name__}.")
    if X.dim() < 2:
        raise ValueError(f"{name} has shape {tuple(X.shape)}; CKA needs a matrix [m examples, "
                         f"p neurons] (one neuron: {name}[:, None]).")
    X = X.detach().reshape(len(X), -1).to(dtype)
    if not torch.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or inf.")
    return X


def _check_pair(X: torch.Tensor, Y: torch.Tensor, least: int = 2) -> int:
    if len(X) != len(Y):
        raise ValueError(f"X has {len(X)} examples (rows) and Y has {len(Y)}: CKA compares two "
                         "representations of the SAME examples, row i of X and row i of Y being "
                         "one example. Compute both on the same inputs, in the same order.")
    if len(X) < least:
        raise ValueError(f"CKA needs at least {least} examples here, got {len(X)}.")
    return len(X)


def _constant_error(name: str) -> ValueError:
    return ValueError(f"{name} is constant across the examples (every row the same, e.g. a dead "
                      "layer or the same input repeated), so its centred Gram matrix is zero, "
                      f"HSIC({name}, {name}) = 0 and CKA is undefined (0/0). Check the layer and "
                      "the inputs.")


# --------------------------------------------------------------------------------------------
# The slide, term by term (m x m matrices)
# --------------------------------------------------------------------------------------------
def centering_matrix(m: int, dtype=torch.float64) -> torch.Tensor:
    """H = I_m - (1/m) 1 1^T: [m, m]."""
    return torch.eye(m, dtype=dtype) - torch.full((m, m), 1.0 / m, dtype=dtype)


def gram_linear(X) -> torch.Tensor:
    """K = X X^T: [m, m], the similarity of each pair of examples under the representation X."""
    X = _as_matrix(X, "X")
    return X @ X.T


def gram_rbf(X, threshold: float = 1.0) -> torch.Tensor:
    """K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2)) with sigma = ``threshold`` x the median distance
    between examples (the bandwidth rule of Kornblith et al. 2019, median over all pairs i, j)."""
    X = _as_matrix(X, "X")
    sq = torch.cdist(X, X).pow(2)
    median = float(np.median(sq.cpu().numpy()))       # NumPy's median, as the reference code
    if median <= 0:
        raise _constant_error("X")
    return torch.exp(-sq / (2 * threshold ** 2 * median))


def center_gram(K) -> torch.Tensor:
    """K' = H K H (the explicit product, as on the slide)."""
    K = _as_matrix(K, "K")
    H = centering_matrix(len(K), K.dtype)
    return H @ K @ H


def hsic(K, L) -> float:
    """HSIC(K, L) = vec(HKH) . vec(HLH) / (m - 1)^2 for Gram matrices K, L [m, m]."""
    K, L = _as_matrix(K, "K"), _as_matrix(L, "L")
    m = _check_pair(K, L)
    return float((center_gram(K) * center_gram(L)).sum() / (m - 1) ** 2)


def cka(K, L) -> float:
    """CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) from two Gram matrices [m, m]."""
    K, L = _as_matrix(K, "K"), _as_matrix(L, "L")
    _check_pair(K, L)
    kk, ll = hsic(K, K), hsic(L, L)
    for name, value, G in (("K", kk, K), ("L", ll, L)):
        if value <= 1e-24 * max(1.0, float((G * G).sum())):
            raise _constant_error(name)
    return hsic(K, L) / math.sqrt(kk * ll)


# --------------------------------------------------------------------------------------------
# Linear and RBF CKA of two activation matrices
# --------------------------------------------------------------------------------------------
def linear_cka(X, Y, method: str = "auto") -> float:
    """CKA with the linear kernel between activations X [m, p1] and Y [m, p2] (any [m, ...] is
    flattened per example).

    ``method="gram"`` follows the slide with m x m Gram matrices (``cka(X X^T, Y Y^T)``);
    ``"features"`` never forms them: with column-centred X_c = H X and Y_c = H Y,
    vec(HKH) . vec(HLH) = ||Y_c^T X_c||_F^2, so CKA = ||Y_c^T X_c||_F^2 /
    (||X_c^T X_c||_F ||Y_c^T Y_c||_F) in p x p memory. ``"auto"`` picks the cheaper one
    (Gram matrices when m <= p1 + p2). Raises a clear error when the numbers of examples differ or
    a representation is constant across examples.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    X, Y = _as_matrix(X, "X"), _as_matrix(Y, "Y")
    m = _check_pair(X, Y)
    Xc, Yc = X - X.mean(0, keepdim=True), Y - Y.mean(0, keepdim=True)
    for name, A, A0 in (("X", Xc, X), ("Y", Yc, Y)):
        if A.abs().max() <= 1e-12 * max(1.0, float(A0.abs().max())):
            raise _constant_error(name)
    if method == "gram" or (method == "auto" and m <= X.shape[1] + Y.shape[1]):
        return cka(X @ X.T, Y @ Y.T)
    xy = (Yc.T @ Xc).pow(2).sum()
    xx = (Xc.T @ Xc).pow(2).sum().sqrt()
    yy = (Yc.T @ Yc).pow(2).sum().sqrt()
    return float(xy / (xx * yy))


def rbf_cka(X, Y, threshold: float = 1.0) -> float:
    """CKA with Gaussian kernels (``gram_rbf``, bandwidth ``threshold`` x the median distance)."""
    X, Y = _as_matrix(X, "X"), _as_matrix(Y, "Y")
    _check_pair(X, Y)
    return cka(gram_rbf(X, threshold), gram_rbf(Y, threshold))


# --------------------------------------------------------------------------------------------
# Minibatch CKA (Nguyen et al. 2021): unbiased HSIC averaged over batches
# --------------------------------------------------------------------------------------------
def unbiased_center(K: torch.Tensor) -> torch.Tensor:
    """The U-centred Gram matrix K~ of Szekely & Rizzo (zero diagonal): the unbiased HSIC of Song
    et al. (2012) is then HSIC_1(K, L) = vec(K~) . vec(L~) / (n (n - 3)). [n, n] -> [n, n]."""
    n = K.shape[-1]
    if n < 4:
        raise ValueError(f"The unbiased HSIC needs at least 4 examples per batch, got {n}.")
    K = K.clone()
    K.diagonal(dim1=-2, dim2=-1).zero_()
    means = K.sum(-2) / (n - 2)
    means = means - means.sum(-1, keepdim=True) / (2 * (n - 1))
    K = K - means[..., :, None] - means[..., None, :]
    K.diagonal(dim1=-2, dim2=-1).zero_()
    return K


def hsic_unbiased(K, L) -> float:
    """HSIC_1(K, L), Song et al. (2012), Eq. 5 (Nguyen et al. 2021, Eq. 2)."""
    K, L = _as_matrix(K, "K"), _as_matrix(L, "L")
    n = _check_pair(K, L, least=4)
    return float((unbiased_center(K) * unbiased_center(L)).sum() / (n * (n - 3)))


class MinibatchCKA:
    """Accumulates CKA between every layer of a list and every layer of another over minibatches:

        CKA_mb(i, j) = sum_b HSIC_1(K_i^b, L_j^b)
                       / sqrt(sum_b HSIC_1(K_i^b, K_i^b) sum_b HSIC_1(L_j^b, L_j^b))

    (Nguyen et al. 2021, Eq. 3). ``update(xs, ys)`` takes one batch of activations per layer
    ([n, p_i] each, the same n examples; ``ys=None`` compares ``xs`` with itself).
    """

    def __init__(self):
        self.xy = self.xx = self.yy = None
        self.batches = 0

    @staticmethod
    def _centred(acts) -> torch.Tensor:
        rows = []
        for a in acts:
            a = a.reshape(len(a), -1).float()
            rows.append(unbiased_center((a @ a.T).double()).flatten())
        return torch.stack(rows)                                   # [layers, n * n]

    def update(self, xs, ys=None) -> None:
        n = len(xs[0])
        if any(len(a) != n for a in list(xs) + list(ys or [])):
            raise ValueError("Every layer's activations in a batch must hold the same examples.")
        va = self._centred(xs)
        vb = va if ys is None else self._centred(ys)
        scale = n * (n - 3)
        xy, xx, yy = va @ vb.T / scale, (va * va).sum(1) / scale, (vb * vb).sum(1) / scale
        if self.xy is None:
            self.xy, self.xx, self.yy = xy, xx, yy
        else:
            self.xy, self.xx, self.yy = self.xy + xy, self.xx + xx, self.yy + yy
        self.batches += 1

    def result(self) -> torch.Tensor:
        """The CKA matrix [len(xs), len(ys)] (float32, CPU)."""
        if self.xy is None:
            raise ValueError("No batch was added (batches need at least 4 examples).")
        for name, v in (("a layer of X", self.xx), ("a layer of Y", self.yy)):
            if (v <= 1e-24 * v.abs().max().clamp_min(1.0)).any():
                raise _constant_error(name)
        return (self.xy / (self.xx[:, None] * self.yy[None, :]).sqrt()).float().cpu()


def minibatch_cka(batches) -> float:
    """Linear CKA of X and Y from minibatches: ``batches`` yields (X_b [n, p1], Y_b [n, p2]) pairs
    of the same examples; see ``MinibatchCKA``. Converges to CKA as the batches grow."""
    acc = MinibatchCKA()
    for X, Y in batches:
        X, Y = _as_matrix(X, "X", torch.float32), _as_matrix(Y, "Y", torch.float32)
        _check_pair(X, Y, least=4)
        acc.update([X], [Y])
    return float(acc.result()[0, 0])


def cka_matrix(model_a: nn.Module, layers_a, images: torch.Tensor, model_b: nn.Module | None = None,
               layers_b=None, batch_size: int = 256, device=None, pool: str = "flatten",
               progress: bool = False) -> torch.Tensor:
    """Layer-by-layer minibatch CKA heat map: [len(layers_a), len(layers_b)].

    Within one network (``model_b=None``; ``layers_b`` defaults to ``layers_a``) or across two
    (``model_b`` and ``layers_b``), on the same ``images`` (uint8 or float [N,3,H,W]), taken in
    batches of ``batch_size`` (a last batch of fewer than 4 images is left out). Activations are
    flattened per example (``pool="flatten"``, as Raghu et al.) or averaged over positions
    (``"mean"``); Gram matrices are computed on ``device``.
    """
    names_a = layer_names(model_a, layers_a)
    if model_b is None:          # one pass over one network, capturing every layer needed
        names_b = names_a if layers_b is None else layer_names(model_a, layers_b)
        runs = [(model_a, list(dict.fromkeys(names_a + names_b)))]
    else:
        if layers_b is None:
            raise ValueError("Give layers_b, the layers of model_b to compare with.")
        names_b = layer_names(model_b, layers_b)
        runs = [(model_a, names_a), (model_b, names_b)]
    iters = [iter_layer_activations(m, names, images, batch_size, device, pool, keep_on_device=True)
             for m, names in runs]
    acc = MinibatchCKA()
    total = math.ceil(len(images) / batch_size)
    for batches in tqdm(zip(*iters), total=total, desc="minibatch CKA", disable=not progress,
                        leave=False):
        xs = [batches[0][n] for n in names_a]
        if len(xs[0]) < 4:
            continue
        ys = None if names_b == names_a and len(runs) == 1 else [batches[-1][n] for n in names_b]
        acc.update(xs, ys)
    return acc.result()


def spatial_cka(features: torch.Tensor, patches: torch.Tensor, query: int) -> torch.Tensor:
    """How much of the input's spatial layout a layer keeps (Raghu et al., Sec. 6): linear CKA,
    over the examples, between the layer's feature vector at grid position ``query`` and the input
    patch at every grid position. ``features`` [m, P, d] and ``patches`` [m, P, k] on the same grid
    (``representations.spatial_tokens`` and ``representations.image_patches``): [P]."""
    if features.shape[:2] != patches.shape[:2]:
        raise ValueError(f"features {tuple(features.shape)} and patches {tuple(patches.shape)} "
                         "must share the examples and the grid positions (dims 0 and 1).")
    return torch.tensor([linear_cka(features[:, query], patches[:, k])
                         for k in range(patches.shape[1])])

