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

Every function is scale-free: CKA does not change when X is multiplied by a number, so each
matrix is divided by its largest magnitude before any product is formed (neither X * 1e-13 nor
X * 1e80 leaves the range of the dtype), and "constant across the examples" is judged relative to
the matrix's own magnitude.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .representations import iter_layer_activations, layer_names
from .validate import check_finite, check_index, check_int, check_number

__all__ = [
    "METHODS", "centering_matrix", "gram_linear", "gram_rbf", "center_gram", "hsic", "cka",
    "linear_cka", "rbf_cka", "unbiased_center", "hsic_unbiased", "MinibatchCKA", "minibatch_cka",
    "cka_matrix", "spatial_cka",
]

METHODS = ("auto", "gram", "features")
_CONSTANT_RTOL = 1e-12     # float64: a spread below 1e-12 of the magnitude is rounding, not signal


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
    if X.is_complex():
        raise TypeError(f"{name} is complex ({X.dtype}); CKA compares real activations.")
    X = X.detach().reshape(len(X), -1).to(dtype)
    if X.shape[1] == 0:
        raise ValueError(f"{name} has shape {tuple(X.shape)}: 0 neurons per example.")
    return check_finite(X, name, "the activations of a diverged model? CKA needs finite values.")


def _as_gram(K, name: str) -> torch.Tensor:
    """A Gram matrix [m, m]: square and symmetric (else: features passed where a Gram belongs)."""
    K = _as_matrix(K, name)
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"{name} has shape {tuple(K.shape)}; a Gram matrix is [m, m] (one row and "
                         f"one column per example). For activations [m, p] use "
                         f"gram_linear({name}) or linear_cka(X, Y).")
    if not torch.allclose(K, K.T, rtol=0, atol=1e-5 * float(K.abs().max())):
        raise ValueError(f"{name} is square but not symmetric, so it is not a Gram matrix "
                         f"(K_ij = k(x_i, x_j) = K_ji). For activations [m, p] with p = m use "
                         f"gram_linear({name}) or linear_cka(X, Y).")
    return K


def _scaled(A: torch.Tensor) -> tuple[torch.Tensor, float]:
    """``(A / s, s)`` with s = max |A| (s = 1 for a zero matrix): every later product is formed
    from entries of magnitude <= 1, whatever the scale of A."""
    s = float(A.abs().max()) if A.numel() else 0.0
    return (A / s, s) if s > 0 else (A, 1.0)


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
    m = check_int(m, "m", minimum=1)
    return torch.eye(m, dtype=dtype) - torch.full((m, m), 1.0 / m, dtype=dtype)


def gram_linear(X) -> torch.Tensor:
    """K = X X^T: [m, m], the similarity of each pair of examples under the representation X."""
    X = _as_matrix(X, "X")
    return X @ X.T


def gram_rbf(X, threshold: float = 1.0) -> torch.Tensor:
    """K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2)) with sigma = ``threshold`` x the median distance
    between examples (the bandwidth rule of Kornblith et al. 2019, median over all pairs i, j).
    Distances are taken after centring and scaling X, which changes neither the kernel (the
    bandwidth scales with the distances) nor any distance's share of the median."""
    threshold = check_number(threshold, "threshold", low=0, low_open=True)
    Xc = _centred_features(_as_matrix(X, "X"), "X")
    sq = torch.cdist(Xc, Xc).pow(2)
    median = float(np.median(sq.cpu().numpy()))       # NumPy's median, as the reference code
    if median <= 0:
        raise _constant_error("X")
    return torch.exp(-sq / (2 * threshold ** 2 * median))


def center_gram(K) -> torch.Tensor:
    """K' = H K H (the explicit product, as on the slide)."""
    K = _as_gram(K, "K")
    H = centering_matrix(len(K), K.dtype)
    return H @ K @ H


def hsic(K, L) -> float:
    """HSIC(K, L) = vec(HKH) . vec(HLH) / (m - 1)^2 for Gram matrices K, L [m, m]."""
    K, L = _as_gram(K, "K"), _as_gram(L, "L")
    m = _check_pair(K, L)
    (K, sk), (L, sl) = _scaled(K), _scaled(L)                 # HSIC(aK, bL) = ab HSIC(K, L)
    # --8<-- [start:hsic]
    value = (center_gram(K) * center_gram(L)).sum() / (m - 1) ** 2
    # --8<-- [end:hsic]
    return float(value) * sk * sl


def cka(K, L) -> float:
    """CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) from two Gram matrices [m, m]."""
    K, L = _as_gram(K, "K"), _as_gram(L, "L")
    m = _check_pair(K, L)
    (K, _), (L, _) = _scaled(K), _scaled(L)                  # CKA does not depend on the scale
    # --8<-- [start:cka]
    kk, ll = hsic(K, K), hsic(L, L)
    for name, value, G in (("K", kk, K), ("L", ll, L)):
        if value <= 1e-20 * float((G * G).sum()) / (m - 1) ** 2:   # 0 up to rounding
            raise _constant_error(name)
    return hsic(K, L) / math.sqrt(kk * ll)
    # --8<-- [end:cka]


# --------------------------------------------------------------------------------------------
# Linear and RBF CKA of two activation matrices
# --------------------------------------------------------------------------------------------
def _centred_features(X: torch.Tensor, name: str) -> torch.Tensor:
    """X_c = H X, scaled to max |X_c| = 1; a clear error when X is constant across examples."""
    X, _ = _scaled(X)
    Xc = X - X.mean(0, keepdim=True)
    spread = float(Xc.abs().max())
    if spread <= _CONSTANT_RTOL * float(X.abs().max()) or spread == 0:
        raise _constant_error(name)
    return Xc / spread


def linear_cka(X, Y, method: str = "auto") -> float:
    """CKA with the linear kernel between activations X [m, p1] and Y [m, p2] (any [m, ...] is
    flattened per example).

    ``method="gram"`` follows the slide with m x m Gram matrices (``cka(K, L)``, K from the
    centred features: H (X_c X_c^T) H = X_c X_c^T = H X X^T H); ``"features"`` never forms them:
    with column-centred X_c = H X and Y_c = H Y, vec(HKH) . vec(HLH) = ||Y_c^T X_c||_F^2, so
    CKA = ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F) in p x p memory. ``"auto"`` picks
    the cheaper one (Gram matrices when m <= p1 + p2). Raises a clear error when the numbers of
    examples differ or a representation is constant across examples.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    X, Y = _as_matrix(X, "X"), _as_matrix(Y, "Y")
    m = _check_pair(X, Y)
    Xc, Yc = _centred_features(X, "X"), _centred_features(Y, "Y")
    if method == "gram" or (method == "auto" and m <= X.shape[1] + Y.shape[1]):
        return cka(Xc @ Xc.T, Yc @ Yc.T)
    # --8<-- [start:features]
    xy = (Yc.T @ Xc).pow(2).sum()
    xx = (Xc.T @ Xc).pow(2).sum().sqrt()
    yy = (Yc.T @ Yc).pow(2).sum().sqrt()
    return float(xy / (xx * yy))
    # --8<-- [end:features]


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
    if not isinstance(K, torch.Tensor) or K.dim() < 2 or K.shape[-1] != K.shape[-2]:
        raise ValueError("unbiased_center takes Gram matrices [..., n, n], got "
                         f"{tuple(K.shape) if isinstance(K, torch.Tensor) else type(K).__name__}.")
    n = K.shape[-1]
    if n < 4:
        raise ValueError(f"The unbiased HSIC needs at least 4 examples per batch, got {n}.")
    # --8<-- [start:ucentre]
    K = K.clone()
    K.diagonal(dim1=-2, dim2=-1).zero_()
    means = K.sum(-2) / (n - 2)
    means = means - means.sum(-1, keepdim=True) / (2 * (n - 1))
    K = K - means[..., :, None] - means[..., None, :]
    K.diagonal(dim1=-2, dim2=-1).zero_()
    return K
    # --8<-- [end:ucentre]


def hsic_unbiased(K, L) -> float:
    """HSIC_1(K, L), Song et al. (2012), Eq. 5 (Nguyen et al. 2021, Eq. 2)."""
    K, L = _as_gram(K, "K"), _as_gram(L, "L")
    n = _check_pair(K, L, least=4)
    (K, sk), (L, sl) = _scaled(K), _scaled(L)
    return float((unbiased_center(K) * unbiased_center(L)).sum() / (n * (n - 3))) * sk * sl


class MinibatchCKA:
    """Accumulates CKA between every layer of a list and every layer of another over minibatches:

        CKA_mb(i, j) = sum_b HSIC_1(K_i^b, L_j^b)
                       / sqrt(sum_b HSIC_1(K_i^b, K_i^b) sum_b HSIC_1(L_j^b, L_j^b))

    (Nguyen et al. 2021, Eq. 3). ``update(xs, ys)`` takes one batch of activations per layer
    ([n, p_i] each, the same n examples; ``ys=None`` compares ``xs`` with itself). Gram matrices
    are formed in float32 on the activations' device from features centred per batch (HSIC_1 does
    not change when a constant is added to every example's features) and divided by each layer's
    largest magnitude in the first batch (one scale per layer for all batches, so CKA is exact and
    no layer overflows or underflows). Sums are kept in float64.
    """

    def __init__(self):
        self.xy = self.xx = self.yy = None
        self.batches = 0
        self._scales: list = [None, None]     # per side: one scale per layer, from batch 1
        self._spread: list = [None, None]     # per side: max |a - batch mean| over batches
        self._level: list = [None, None]      # per side: max |a| over batches

    def _centred(self, acts, side: int) -> torch.Tensor:
        rows, spread, level = [], [], []
        scales = self._scales[side]
        if scales is None:
            top = [a.detach().abs().amax().float() for a in acts]
            scales = self._scales[side] = [torch.where(t > 0, 1 / t, torch.ones_like(t))
                                           for t in top]
        for a, s in zip(acts, scales):
            a = a.detach().reshape(len(a), -1).float() * s
            c = a - a.mean(0, keepdim=True)
            spread.append(c.abs().amax())
            level.append(a.abs().amax())
            rows.append(unbiased_center((c @ c.T).double()).flatten())
        for store, new in ((self._spread, spread), (self._level, level)):
            new = torch.stack(new)
            store[side] = new if store[side] is None else torch.maximum(store[side], new)
        return torch.stack(rows)                                   # [layers, n * n]

    def update(self, xs, ys=None) -> None:
        xs = list(xs)
        if not xs or not all(isinstance(a, torch.Tensor) and a.dim() >= 2 for a in xs):
            raise ValueError("update takes a list of activation batches [n, ...], one per layer.")
        n = len(xs[0])
        if any(len(a) != n for a in xs + list(ys or [])):
            raise ValueError("Every layer's activations in a batch must hold the same examples.")
        if n < 4:
            raise ValueError(f"The unbiased HSIC needs at least 4 examples per batch, got {n}.")
        if self.xy is not None and (len(xs) != self.xy.shape[0] or
                                    (ys is not None and len(ys) != self.xy.shape[1])):
            raise ValueError("Every batch must bring the same layers as the first one.")
        va = self._centred(xs, 0)
        vb = va if ys is None else self._centred(list(ys), 1)
        scale = n * (n - 3)
        xy, xx, yy = va @ vb.T / scale, (va * va).sum(1) / scale, (vb * vb).sum(1) / scale
        if self.xy is None:
            self.xy, self.xx, self.yy = xy, xx, yy
        else:
            self.xy, self.xx, self.yy = self.xy + xy, self.xx + xx, self.yy + yy
        self.batches += 1

    def result(self) -> torch.Tensor:
        """The CKA matrix [len(xs), len(ys)] (float32, on the activations' device)."""
        if self.xy is None:
            raise ValueError("No batch was added (batches need at least 4 examples).")
        if not torch.isfinite(self.xy).all():
            raise ValueError("The activations of some layer contained NaN or inf (a diverged "
                             "model?); CKA needs finite activations.")
        sides = (0, 0) if self._spread[1] is None else (0, 1)
        eps = torch.finfo(torch.float32).eps
        for label, side in zip(("X", "Y"), sides):
            flat = self._spread[side] <= 64 * eps * self._level[side]
            if flat.any():
                raise _constant_error(f"layer {int(flat.nonzero()[0])} of {label}")
        return (self.xy / (self.xx[:, None] * self.yy[None, :]).sqrt()).float()


def minibatch_cka(batches) -> float:
    """Linear CKA of X and Y from minibatches: ``batches`` yields (X_b [n, p1], Y_b [n, p2]) pairs
    of the same examples; see ``MinibatchCKA``. Converges to CKA as the batches grow."""
    acc = MinibatchCKA()
    for X, Y in batches:
        X, Y = _as_matrix(X, "X", torch.float32), _as_matrix(Y, "Y", torch.float32)
        _check_pair(X, Y, least=4)
        acc.update([X], [Y])
    return float(acc.result()[0, 0])


def cka_matrix(model: nn.Module, images: torch.Tensor, layers, *, model_b: nn.Module | None = None,
               layers_b=None, batch_size: int = 256, pool: str = "flatten",
               progress: bool = False) -> torch.Tensor:
    """Layer-by-layer minibatch CKA heat map: [len(layers), len(layers_b)], on the images' device.

    Within one network (``model_b=None``; ``layers_b`` defaults to ``layers``) or across two
    (``model_b`` and ``layers_b``), on the same ``images`` (uint8 or float [N,3,H,W]), taken in
    batches of ``batch_size`` (a last batch of fewer than 4 images is left out) on each model's
    device; ``layers`` may be names or one name. Activations are flattened per example
    (``pool="flatten"``, as Raghu et al.) or averaged over positions (``"mean"``); Gram matrices
    are formed on the first model's device.
    """
    layers_a = [layers] if isinstance(layers, (str, nn.Module)) else list(layers)
    layers_b = [layers_b] if isinstance(layers_b, (str, nn.Module)) else layers_b
    batch_size = check_int(batch_size, "batch_size", minimum=4)
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError("images must be a batch [N, 3, H, W] (uint8 or float in [0, 1]).")
    if len(images) < 4:
        raise ValueError(f"Minibatch CKA needs at least 4 images, got {len(images)}.")
    if not layers_a or (layers_b is not None and not list(layers_b)):
        raise ValueError("Give at least one layer on each axis.")
    names_a = layer_names(model, layers_a)
    if model_b is None:          # one pass over one network, capturing every layer needed
        names_b = names_a if layers_b is None else layer_names(model, list(layers_b))
        runs = [(model, list(dict.fromkeys(names_a + names_b)))]
    else:
        if layers_b is None:
            raise ValueError("Give layers_b, the layers of model_b to compare with.")
        names_b = layer_names(model_b, list(layers_b))
        runs = [(model, names_a), (model_b, names_b)]
    iters = [iter_layer_activations(m, names, images, batch_size, pool=pool, keep_on_device=True)
             for m, names in runs]
    acc = MinibatchCKA()
    total = math.ceil(len(images) / batch_size)
    for batches in tqdm(zip(*iters), total=total, desc="minibatch CKA", disable=not progress,
                        leave=False):
        xs = [batches[0][n] for n in names_a]
        if len(xs[0]) < 4:
            continue
        ys = None if names_b == names_a and len(runs) == 1 else \
            [batches[-1][n].to(xs[0].device) for n in names_b]
        acc.update(xs, ys)
    return acc.result().to(images.device)


def spatial_cka(features: torch.Tensor, patches: torch.Tensor, query: int) -> torch.Tensor:
    """How much of the input's spatial layout a layer keeps (Raghu et al., Sec. 6): linear CKA,
    over the examples, between the layer's feature vector at grid position ``query`` and the input
    patch at every grid position. ``features`` [m, P, d] and ``patches`` [m, P, k] on the same grid
    (``representations.spatial_tokens`` and ``representations.image_patches``): [P]."""
    for name, t in (("features", features), ("patches", patches)):
        if not isinstance(t, torch.Tensor) or t.dim() != 3:
            raise ValueError(f"{name} must be [m examples, P positions, d], got "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t)}.")
    if features.shape[:2] != patches.shape[:2]:
        raise ValueError(f"features {tuple(features.shape)} and patches {tuple(patches.shape)} "
                         "must share the examples and the grid positions (dims 0 and 1).")
    query = check_index(query, features.shape[1], "query", "grid positions")
    return torch.tensor([linear_cka(features[:, query], patches[:, k])
                         for k in range(patches.shape[1])])
