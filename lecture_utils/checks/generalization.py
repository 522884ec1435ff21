"""Checks for notebook 06 (Zhang et al., rethinking generalization)."""
from __future__ import annotations

import numpy as np
import torch

from .. import generalization as gen
from .core import CheckFailed, check_close


def check_lemma_matrix(fn) -> float:
    """``fn(x [n], b [n]) -> A [n, n]`` with A_ij = max(x_i - b_j, 0)."""
    rng = np.random.default_rng(0)
    cases = []
    for n in (1, 4, 9):
        x = np.sort(rng.standard_normal(n)) * 3
        b = x - rng.uniform(0.1, 1.0, n)
        cases.append((f"n={n}, interleaved", fn(x, b), gen.lemma_matrix(x, b)))
    x, b = rng.standard_normal(5), rng.standard_normal(5)      # not interleaved: A is full
    cases.append(("n=5, not interleaved", fn(x, b), gen.lemma_matrix(x, b)))
    return check_close("check_lemma_matrix", cases, tol=1e-9, hint=(
        "Row i belongs to x_i, column j to b_j: A = np.maximum(x[:, None] - b[None, :], 0)."))


def check_interpolating_net(fn) -> float:
    """``fn(Z [n, d], y [n]) -> (a [d], b [n], w [n])`` such that
    c(z_i) = sum_j w_j max(<a, z_i> - b_j, 0) = y_i for every i (any valid construction)."""
    rng = np.random.default_rng(1)
    cases = []
    for n, d in ((3, 2), (20, 5), (50, 100), (200, 3)):
        Z = rng.standard_normal((n, d))
        y = rng.integers(1, 11, n).astype(np.float64)     # class indices 1..10 (no 0: relative
        out = fn(Z, y)                                     # errors are meaningless at 0)
        if not (isinstance(out, tuple) and len(out) == 3):
            raise CheckFailed("check_interpolating_net: return the tuple (a, b, w).")
        a, b, w = (np.asarray(v, dtype=np.float64) for v in out)
        if a.shape != (d,) or b.shape != (n,) or w.shape != (n,):
            raise CheckFailed(f"check_interpolating_net [n={n}, d={d}]: a, b, w have shapes "
                              f"{a.shape}, {b.shape}, {w.shape}; expected ({d},), ({n},), ({n},): "
                              "2n + d weights in all.")
        cases.append((f"n={n}, d={d}, random labels", gen.relu_net(Z, a, b, w), y))
    return check_close("check_interpolating_net", cases, tol=1e-6, hint=(
        "Sort the projections x_i = <a, z_i>, put b_1 below x_1 and each b_j between x_{j-1} "
        "and x_j, then solve the lower-triangular system A w = y in the SORTED order."))


def _position_images(n: int, size: int = 8) -> torch.Tensor:
    """uint8 images whose pixels name themselves: channel 0 = position p, channel 1 =
    p + 64 * image, channel 2 = 255 - p (so mixed-up channels or images are detected)."""
    pos = torch.arange(size * size).view(1, size, size).expand(n, size, size)
    img = torch.arange(n).view(n, 1, 1)
    return torch.stack([pos, pos + size * size * img, 255 - pos], dim=1).to(torch.uint8)


def _permutations(fn, name: str, n: int = 4, size: int = 8) -> torch.Tensor:
    """Call ``fn`` on position-coded images and return the permutation it applied per image."""
    images, labels = _position_images(n, size), torch.arange(n) % 10
    out = fn(images, labels, seed=3)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise CheckFailed(f"{name}: return the pair (images, labels).")
    x, y = out
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.shape != images.shape:
        raise CheckFailed(f"{name}: images must stay uint8 of shape {tuple(images.shape)}, got "
                          f"{getattr(x, 'dtype', type(x))} {tuple(getattr(x, 'shape', ()))}.")
    if not torch.equal(torch.as_tensor(y), labels):
        raise CheckFailed(f"{name}: the labels must not change.")
    src = x[:, 0].long()
    if not (torch.equal(x[:, 1].long(), src + size * size * torch.arange(n).view(n, 1, 1))
            and torch.equal(x[:, 2].long(), 255 - src)):
        raise CheckFailed(f"{name}: the colour values of a pixel must move together and stay in "
                          "their image: permute the H*W positions, not channels or images.")
    perms = x[:, 0].reshape(n, -1).long()
    if not all(torch.equal(p.sort().values, torch.arange(size * size)) for p in perms):
        raise CheckFailed(f"{name}: each output image must hold every pixel of its input exactly "
                          "once (a permutation of the positions).")
    if all(torch.equal(p, torch.arange(size * size)) for p in perms):
        raise CheckFailed(f"{name}: the pixels did not move.")
    return perms


def check_shuffled_pixels(fn) -> None:
    """``fn(images uint8 [N,3,H,W], labels, seed) -> (images, labels)``: ONE permutation of the
    pixel positions, the same for every image."""
    perms = _permutations(fn, "check_shuffled_pixels")
    if not (perms == perms[0]).all():
        raise CheckFailed("check_shuffled_pixels: every image must get the SAME permutation "
                          "(draw it once, outside any loop over images).")
    print("check_shuffled_pixels: passed (one permutation of the positions, shared by all images)")


def check_random_pixels(fn) -> None:
    """``fn(images uint8 [N,3,H,W], labels, seed) -> (images, labels)``: a different random
    permutation of the pixel positions for every image."""
    perms = _permutations(fn, "check_random_pixels")
    if len(torch.unique(perms, dim=0)) < len(perms):
        raise CheckFailed("check_random_pixels: two images got the same permutation; draw a new "
                          "one for every image (e.g. torch.rand(N, H*W).argsort(dim=1)).")
    print("check_random_pixels: passed (a different permutation for every image)")


def check_corrupt_labels(fn, num_classes: int = 10) -> None:
    """``fn(images, labels, p, seed) -> (images, labels)``: each label, with probability p, is
    replaced by a uniformly random class."""
    n = 20_000
    labels = torch.arange(n) % num_classes
    images = torch.zeros(n, 3, 2, 2, dtype=torch.uint8)
    for p in (0.0, 0.3, 1.0):
        x, y = fn(images, labels, p, seed=0)
        y = torch.as_tensor(y)
        if y.shape != labels.shape or y.is_floating_point():
            raise CheckFailed(f"check_corrupt_labels: labels must stay integers of shape [{n}].")
        if (y < 0).any() or (y >= num_classes).any():
            raise CheckFailed(f"check_corrupt_labels: a label left 0..{num_classes - 1}.")
        changed = (y != labels).double().mean().item()
        expected = p * (1 - 1 / num_classes)       # a random class may hit the true one
        if abs(changed - expected) > 0.02:
            raise CheckFailed(f"check_corrupt_labels [p={p}]: {changed:.1%} of the labels changed, "
                              f"expected about p(1 - 1/K) = {expected:.1%}. Pick each label with "
                              "probability p and give it a class drawn uniformly from all K.")
        if p == 1.0:
            share = torch.bincount(y[labels == 0], minlength=num_classes).double()
            if share.min() / share.max() < 0.8:
                raise CheckFailed("check_corrupt_labels [p=1]: the new labels are not uniform over "
                                  "the classes.")
    print("check_corrupt_labels: passed (p = 0, 0.3, 1)")
