"""Zhang et al. (2017), *Understanding Deep Learning Requires Rethinking Generalization*.

Two parts, as in the lecture:

* **Randomization tests** (Sec. 2 of the paper): the same network trained on CIFAR-10 with its
  labels or its pixels replaced by noise. Each function below takes ``(images uint8 [N,3,H,W],
  labels int64 [N])`` and returns a new pair of the same types, ready for ``train.fit``;
  all are deterministic given ``seed``:

  ============================  ======================================================
  ``true_labels``               the data unchanged
  ``corrupt_labels(p)``         each label, independently with probability p, replaced by a
                                uniformly random class (Zhang et al.'s "partially corrupted")
  ``random_labels``             ``corrupt_labels`` with p = 1
  ``shuffled_pixels``           ONE random permutation of the pixel positions, the same for
                                every image (train and test: call with the same seed)
  ``random_pixels``             a different random permutation for every image
  ``gaussian_images``           every pixel drawn from a Gaussian with the data's per-channel
                                mean and variance
  ============================  ======================================================

* **Finite-sample expressivity** (Sec. 4): a two-layer ReLU network with 2n + d weights,

      c(z) = sum_j w_j max(<a, z> - b_j, 0),

  fits ANY labels y on n points z_1..z_n in R^d. Project the points on a direction a so that the
  x_i = <a, z_i> are distinct, sort them, and interleave b_1 < x_1 < b_2 < x_2 < ... < b_n < x_n.
  Then A = [max(x_i - b_j, 0)]_ij is lower triangular with positive diagonal (the Lemma), so
  A w = y has exactly one solution, found by forward substitution.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import solve_triangular

from .validate import check_int, check_number

__all__ = [
    "true_labels", "corrupt_labels", "random_labels", "pixel_permutation", "shuffled_pixels",
    "random_pixels", "gaussian_images", "RANDOMIZATIONS", "randomized_split", "epochs_to_fit",
    "lemma_matrix", "relu_net", "interpolating_relu_net",
]

# --------------------------------------------------------------------------------------------
# Randomization tests
# --------------------------------------------------------------------------------------------


def _check_uint8(images, name: str, what: str = "images") -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) \
            else type(images).__name__
        raise TypeError(f"{name} wants uint8 {what} [N, C, H, W] (as data.load_cifar10 returns), "
                        f"got {got}.")
    return images


def _check_dataset(images, labels, name: str, num_classes: int | None = None):
    images = _check_uint8(images, name)
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or len(labels) != len(images):
        raise ValueError(f"{name}: {len(images)} images but labels of shape {tuple(labels.shape)}; "
                         "pass one class index per image.")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"{name}: labels must be integer class indices, got {labels.dtype}.")
    if len(labels) and labels.min() < 0:
        raise IndexError(f"{name}: labels must be class indices 0, 1, ..., got "
                         f"{int(labels.min())}.")
    if num_classes is not None and len(labels) and labels.max() >= num_classes:
        raise IndexError(f"{name}: label {int(labels.max())} is out of range for num_classes="
                         f"{num_classes} (valid 0..{num_classes - 1}).")
    return images, labels.long()


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))


def true_labels(images, labels, seed: int = 0):
    """The data as they are (the first curve of Fig. 1a): copies of ``images`` and ``labels``."""
    images, labels = _check_dataset(images, labels, "true_labels")
    return images.clone(), labels.clone()


def corrupt_labels(images, labels, p: float, seed: int = 0, num_classes: int = 10):
    """Partially corrupted labels (Zhang et al., Sec. 2): independently with probability ``p``,
    each label is replaced by a class drawn uniformly from all ``num_classes`` (it may land on the
    true class again, so a fraction p (1 - 1/K) of the labels actually changes). Images unchanged.
    """
    num_classes = check_int(num_classes, "num_classes", minimum=2)
    images, labels = _check_dataset(images, labels, "corrupt_labels", num_classes)
    try:
        p = check_number(p, "p", low=0, high=1)
    except (TypeError, ValueError) as err:
        raise type(err)(f"p is a probability (0 = true labels, 1 = random labels): {err}") from None
    # --8<-- [start:corrupt]
    g = _generator(seed)
    hit = torch.rand(len(labels), generator=g) < p
    noise = torch.randint(0, num_classes, (len(labels),), generator=g)
    return images.clone(), torch.where(hit, noise, labels)
    # --8<-- [end:corrupt]


def random_labels(images, labels, seed: int = 0, num_classes: int = 10):
    """All labels replaced by uniformly random classes (``corrupt_labels`` with p = 1)."""
    return corrupt_labels(images, labels, 1.0, seed, num_classes)


def pixel_permutation(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """The permutation of the H*W pixel positions that ``shuffled_pixels`` uses for ``seed``."""
    height, width = check_int(height, "height", minimum=1), check_int(width, "width", minimum=1)
    return torch.randperm(height * width, generator=_generator(seed))


def shuffled_pixels(images, labels, seed: int = 0):
    """One random permutation of the pixel positions applied to every image (the three colour
    values of a pixel move together). Apply it to the training and the test set with the same
    ``seed``: the images keep their statistics and their labels, but lose all spatial structure
    that a convolution could use."""
    images, labels = _check_dataset(images, labels, "shuffled_pixels")
    # --8<-- [start:shuffle]
    n, c, h, w = images.shape
    perm = pixel_permutation(h, w, seed)
    return images.reshape(n, c, h * w)[:, :, perm].reshape(n, c, h, w), labels.clone()
    # --8<-- [end:shuffle]


def random_pixels(images, labels, seed: int = 0):
    """A different random permutation of the pixel positions for every image."""
    images, labels = _check_dataset(images, labels, "random_pixels")
    # --8<-- [start:permute]
    n, c, h, w = images.shape
    perms = torch.rand(n, h * w, generator=_generator(seed)).argsort(dim=1)   # [N, HW]
    flat = images.reshape(n, c, h * w)
    return torch.gather(flat, 2, perms[:, None, :].expand(n, c, h * w)).reshape(n, c, h, w), \
        labels.clone()
    # --8<-- [end:permute]


def gaussian_images(images, labels, seed: int = 0, *, stats_from=None):
    """Images of Gaussian noise with the data's per-channel mean and variance (rounded to uint8;
    clipping to 0..255 trims the standard deviation by a few percent); labels unchanged.
    ``stats_from`` (uint8 images) sets the mean and variance
    (default: ``images`` themselves; pass the training images when making the test set)."""
    images, labels = _check_dataset(images, labels, "gaussian_images")
    ref = images if stats_from is None else _check_uint8(stats_from, "gaussian_images",
                                                          "stats_from images")
    if len(ref) == 0 or ref[0].numel() < 2:
        raise ValueError("gaussian_images needs images to take a mean and a variance from "
                         "(stats_from, or the images themselves); got none.")
    if ref.shape[1] != images.shape[1]:
        raise ValueError(f"stats_from has {ref.shape[1]} channels, the images {images.shape[1]}.")
    ref = ref.double()
    mean = ref.mean(dim=(0, 2, 3)).view(1, -1, 1, 1)
    std = ref.std(dim=(0, 2, 3)).view(1, -1, 1, 1)
    noise = torch.randn(images.shape, generator=_generator(seed), dtype=torch.float64)
    return (mean + std * noise).round().clamp(0, 255).to(torch.uint8), labels.clone()


RANDOMIZATIONS = {
    "true labels": true_labels,
    "random labels": random_labels,
    "shuffled pixels": shuffled_pixels,
    "random pixels": random_pixels,
    "gaussian": gaussian_images,
}
"""The five curves of Fig. 1a, by the paper's names."""


def randomized_split(kind: str, train, test, *, seed: int = 0, p: float | None = None):
    """``(train, test)`` pairs for one randomization test; ``kind`` is a key of ``RANDOMIZATIONS``
    or ``"corrupt labels"`` (with ``p``).

    The training set is randomized; the test set keeps its TRUE labels (so test accuracy measures
    generalization) and gets the same kind of input change: the training set's permutation for
    shuffled pixels, fresh permutations for random pixels, Gaussian noise with the training set's
    statistics for "gaussian"."""
    for name, pair in (("train", train), ("test", test)):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(f"{name} must be a pair (images, labels), got {type(pair).__name__}.")
    seed = check_int(seed, "seed", minimum=0)
    if kind == "corrupt labels":
        if p is None:
            raise ValueError("corrupt labels needs the corruption level p.")
        return corrupt_labels(*train, p, seed), true_labels(*test)
    if kind not in RANDOMIZATIONS:
        raise ValueError(f"Unknown randomization {kind!r}; choose 'corrupt labels' or one of "
                         f"{sorted(RANDOMIZATIONS)}.")
    if kind == "gaussian":
        return gaussian_images(*train, seed), gaussian_images(*test, seed + 1, stats_from=train[0])
    test_fn = {"random labels": true_labels,
               "random pixels": lambda x, y, s: random_pixels(x, y, s + 1)}
    return RANDOMIZATIONS[kind](*train, seed), test_fn.get(kind, RANDOMIZATIONS[kind])(*test, seed)


def epochs_to_fit(history, threshold: float = 0.99):
    """The first epoch whose training accuracy reached ``threshold`` (None if none did): the
    "time to overfit" of Fig. 1b, in epochs (``history.seconds`` gives it in seconds)."""
    threshold = check_number(threshold, "threshold", low=0, high=1)
    for epoch, acc in zip(history.epoch, history.train_acc):
        if acc >= threshold:
            return epoch
    return None


# --------------------------------------------------------------------------------------------
# Finite-sample expressivity
# --------------------------------------------------------------------------------------------
def lemma_matrix(x, b) -> np.ndarray:
    """A = [max(x_i - b_j, 0)]_ij (n x n) of the Lemma; lower triangular when the two sequences
    interleave as b_1 < x_1 < b_2 < ... < b_n < x_n. (x [k] and b [n] in general: [k, n].)"""
    x, b = _vector(x, "x"), _vector(b, "b")
    return np.maximum(x[:, None] - b[None, :], 0.0)


def _vector(v, name: str) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"{name} must be a vector [n], got shape {v.shape}.")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} contains NaN or inf.")
    return v


def relu_net(Z, a, b, w) -> np.ndarray:
    """c(z) = sum_j w_j max(<a, z> - b_j, 0) for every row z of Z [n, d] (float64) -> [n]."""
    Z = np.atleast_2d(np.asarray(Z, dtype=np.float64))
    a, b, w = _vector(a, "a"), _vector(b, "b"), _vector(w, "w")
    if Z.ndim != 2 or Z.shape[1] != len(a):
        raise ValueError(f"Z must be [n, d] with d = len(a) = {len(a)}, got shape {Z.shape}.")
    if len(b) != len(w):
        raise ValueError(f"b and w hold one value per hidden unit: got {len(b)} and {len(w)}.")
    x = Z @ a                                                     # x = <a, z>, [n]
    return lemma_matrix(x, b) @ w


def interpolating_relu_net(Z, y, seed: int = 0):
    """The network of the Theorem: ``(a [d], b [n], w [n])`` with c(z_i) = y_i for all i.

    a is a random direction (the x_i = <a, z_i> are then distinct with probability one), the b_j
    interleave the sorted x_i (b_1 one gap below x_1, then the midpoints), and w solves the lower
    triangular system A w = y of the Lemma by forward substitution. Everything is float64.
    Raises ValueError when two points coincide (no function can then take two values on them).
    """
    Z = np.asarray(Z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if Z.ndim != 2 or y.ndim != 1 or len(Z) != len(y) or len(y) == 0 or Z.shape[1] == 0:
        raise ValueError(f"Z must be [n, d] and y [n] with n > 0 and d > 0, got {Z.shape} and "
                         f"{y.shape}.")
    if not (np.isfinite(Z).all() and np.isfinite(y).all()):
        raise ValueError("Z and y must be finite (no NaN or inf): no network interpolates them.")
    # --8<-- [start:construction]
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    a = rng.standard_normal(Z.shape[1])
    a /= np.linalg.norm(a)
    x = Z @ a
    order = np.argsort(x)
    xs = x[order]
    gaps = np.diff(xs)
    if len(gaps) and gaps.min() <= 1e-12 * max(1.0, np.abs(xs).max()):
        raise ValueError("Two points project to the same x_i = <a, z_i> (duplicated points?); "
                         "remove duplicates or try another seed.")
    first_gap = gaps.min() if len(gaps) else 1.0
    b = np.concatenate([[xs[0] - first_gap], (xs[:-1] + xs[1:]) / 2])      # b_1 < x_1 < b_2 < ...
    A = lemma_matrix(xs, b)                                                 # lower triangular
    w = solve_triangular(A, y[order], lower=True)
    return a, b, w
    # --8<-- [end:construction]
