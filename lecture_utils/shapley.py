"""Shapley values and SHAP (Lundberg & Lee, 2017): exact where possible, fast and batched where not.

A *coalition game* is a ``value_fn`` that maps a float tensor Z in {0,1}^[n, M] (each row a
coalition z' of the M simplified features, 1 = present) to the values f_x(z') = f(h_x(z')) [n].
The builders below turn a model and an input into a game: ``image_game`` (superpixels replaced by
a baseline), ``text_game`` (words removed) and ``tabular_game`` (features replaced by background
values). Every estimator takes a game and M:

* ``exact_shapley``      the lecture's formula, all 2^M coalitions in batches (M <= 20);
* ``kernel_shap``        Kernel SHAP: weighted least squares with the Shapley kernel (Theorem 2);
* ``permutation_shapley`` Shapley sampling values (Strumbelj & Kononenko), for comparison;
* ``linear_shap``        closed form for a linear model (Corollary 1);
* ``deep_shap``          DeepLIFT's rescale rule composed by the chain rule of multipliers, averaged
                         over a background set (Sec. 4.2).

``tabulate`` evaluates a small game on all 2^M coalitions once, so that estimators can be compared
at any number of "evaluations" for free.

Notation of the lecture: M simplified features, z' in {0,1}^M, |z'| the number of ones,
phi_0 = f(h_x(0)) the value with every feature missing.
"""
from __future__ import annotations

import itertools
import math
import re
from contextlib import ExitStack, contextmanager
from typing import Callable

import numpy as np
import torch
from torch import nn

from .batching import resolve
from .hooks import backward_rule, eval_mode
from .maps import check_output, input_mean, target_output
from .validate import (as_batch, as_image, attribution_method, check_count, check_finite,
                       check_target, checked_outputs, model_device, to_device_of)

MAX_EXACT_FEATURES = 20     # 2^20 = 1,048,576 model evaluations: minutes on a CPU, seconds on a GPU


# --------------------------------------------------------------------------------------------
# Coalitions and games
# --------------------------------------------------------------------------------------------
def _check_features(M) -> int:
    if isinstance(M, bool) or not isinstance(M, (int, np.integer)) or M < 1:
        raise ValueError(f"M (the number of simplified features) must be a positive int, got "
                         f"{M!r}.")
    return int(M)


def game_values(value_fn: Callable, Z: torch.Tensor) -> torch.Tensor:
    """Call ``value_fn`` on coalitions Z [n, M] and check that it returned n finite values
    (float64, CPU)."""
    v = value_fn(Z)
    v = torch.as_tensor(np.asarray(v) if not isinstance(v, torch.Tensor) else v)
    v = v.detach().to("cpu", torch.float64)
    if v.dim() == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.shape != (len(Z),):
        raise ValueError(f"value_fn must return one value per coalition, shape [{len(Z)}], got "
                         f"{tuple(v.shape)}. For a model with several outputs, build the game for "
                         "one target class (e.g. image_game(..., target=c)).")
    check_finite(v, "the game's values", "the model or value_fn returns NaN or inf for some "
                 "coalitions; fix it before fitting (a linear fit of NaN has no answer)")
    return v


def coalitions(M: int, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """The coalitions numbered start..stop-1 (bit i of the number = feature i), float [n, M]."""
    stop = 2 ** M if stop is None else stop
    ids = torch.arange(start, stop, dtype=torch.int64)
    return ((ids[:, None] >> torch.arange(M)) & 1).to(torch.float32)


class Game:
    """v(z') = f(h_x(z')): ``inputs`` is the mapping h_x (coalitions -> model inputs) and
    ``predict`` the model's value for each input. Calling the game evaluates coalitions in
    batches of ``batch_size`` and counts the model evaluations in ``evaluations``."""

    def __init__(self, M: int, inputs: Callable, predict: Callable, names=None,
                 batch_size: int = 256, cost: int = 1):
        self.M = _check_features(M)
        self.inputs, self.predict = inputs, predict
        self.names = list(names) if names is not None else None
        self.batch_size = max(1, check_count(batch_size, "batch_size") // cost)
        self.cost = cost                  # model evaluations per coalition (background size)
        self.evaluations = 0

    def __call__(self, Z) -> torch.Tensor:
        Z = torch.as_tensor(Z, dtype=torch.float32)
        if Z.dim() != 2 or Z.shape[1] != self.M:
            raise ValueError(f"coalitions must have shape [n, {self.M}], got {tuple(Z.shape)}.")
        out = [game_values(lambda z: self.predict(self.inputs(z)), chunk)
               for chunk in Z.split(self.batch_size)]
        self.evaluations += len(Z) * self.cost
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def check_segments(segments, image: torch.Tensor) -> torch.Tensor:
    """Superpixel labels: an int tensor [H, W] matching the image, labels 0..S-1 all present."""
    if isinstance(segments, np.ndarray):
        segments = torch.from_numpy(segments)
    if not isinstance(segments, torch.Tensor):
        raise TypeError(f"segments must be an int tensor [H, W] of superpixel labels, got "
                        f"{type(segments).__name__}.")
    if segments.is_floating_point() or segments.dtype == torch.bool:
        raise TypeError(f"segments must hold integer superpixel labels, got dtype "
                        f"{segments.dtype}.")
    if segments.shape != image.shape[-2:]:
        raise ValueError(f"segments has shape {tuple(segments.shape)} but the image is "
                         f"{tuple(image.shape[-2:])} (H, W): compute the superpixels on this very "
                         "image, e.g. lime.superpixels(image).")
    segments = segments.long()
    present = torch.unique(segments)
    if present[0] != 0 or present[-1] != len(present) - 1:
        raise ValueError(f"superpixel labels must be 0..S-1 with every label present; got "
                         f"{len(present)} labels between {present[0].item()} and "
                         f"{present[-1].item()}. Relabel them with "
                         "skimage.segmentation.relabel_sequential (lime.superpixels does).")
    return segments


def segment_mean_baseline(image: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """Every superpixel filled with its mean colour (LIME's default "hidden" superpixel),
    [C,H,W]."""
    S = int(segments.max()) + 1
    flat = segments.reshape(-1).to(image.device)
    sums = torch.zeros(image.shape[0], S, device=image.device).index_add_(
        1, flat, image.reshape(image.shape[0], -1))
    counts = torch.bincount(flat, minlength=S).clamp_min(1)
    return (sums / counts)[:, flat].reshape(image.shape)


def _baselines(baseline, image, segments) -> torch.Tensor:
    """The reference image(s) h_x(0) as [B, C, H, W]."""
    if isinstance(baseline, str):
        if baseline != "mean":
            raise ValueError(f"baseline must be 'mean', a number, an image [C,H,W] or a set of "
                             f"images [B,C,H,W]; got {baseline!r}.")
        return segment_mean_baseline(image, segments)[None]
    if isinstance(baseline, (int, float)):
        return torch.full_like(image, float(baseline))[None]
    if isinstance(baseline, torch.Tensor):
        b = baseline.to(image.device, image.dtype)
        check_finite(b, "baseline")
        if b.dim() == 3:
            b = b[None]
        if b.dim() != 4 or b.shape[1:] != image.shape:
            shape = ", ".join(map(str, image.shape))
            raise ValueError(f"baseline has shape {tuple(baseline.shape)}; it must be an image "
                             f"{tuple(image.shape)} or a set of them [B, {shape}].")
        return b
    raise TypeError(f"baseline must be 'mean', a number or a tensor, got "
                    f"{type(baseline).__name__}.")


PRECISIONS = ("auto", "fp32")


def _autocast(precision: str, device):
    """The forward passes' precision: ``"auto"`` follows the course's policy for batched
    inference (``precision.precision_for``: bf16 on CPUs with native bf16 and on sm >= 8 GPUs,
    fp16 below), ``"fp32"`` is float32 throughout."""
    from contextlib import nullcontext

    from .precision import autocast
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}.")
    return autocast(device) if precision == "auto" else nullcontext()


def image_game(model: nn.Module, image: torch.Tensor, target: int, segments, *,
               baseline="mean", output: str = "probability", batch_size: int | None = None,
               precision: str = "auto") -> Game:
    """The game of an image whose superpixels are present or replaced by a baseline.

    h_x(z') = z'[segments] * x + (1 - z'[segments]) * b: superpixel k of the image is kept when
    z'_k = 1 and replaced by the baseline b otherwise. ``baseline``: 'mean' (each superpixel's mean
    colour, LIME's default), a number (a constant colour), an image [C,H,W], or a background set
    [B,C,H,W] (then v(z') is the mean of f over the B baselines, SHAP's E[f(h_x(z'))]).
    ``output``: 'probability' (the softmax probability of ``target``, LIME's f) or 'logit'.
    ``image`` [C, H, W] (uint8 or float, any device) goes to the model's device; perturbed images
    are built and scored there in batches of ``batch_size`` (default
    ``batching.batch_size_for``). The target's range and the model's outputs are checked on the
    game's own forward passes. ``precision``: ``"auto"`` runs them in the course's precision for
    batched inference (bf16 where the device computes it natively: about 2x faster on such a
    CPU, values within bf16's 3 significant digits), ``"fp32"`` in float32 (to compare with a
    reference implementation to float32's precision).
    """
    image = as_image(image, model)
    check_output(output)
    _autocast(precision, image.device)
    device = image.device
    t = check_target(target, 1)
    if len(torch.as_tensor(target).reshape(-1)) != 1:
        raise ValueError("image_game explains one class of one image: pass one int target.")
    segments = check_segments(segments, image).to(device)
    base = _baselines(baseline, image, segments)                        # [B, C, H, W]
    S, B = int(segments.max()) + 1, len(base)
    batch_size = resolve(batch_size, model, image.shape, scale=B)
    target = int(t[0])

    img = image.permute(1, 2, 0).contiguous()                          # channels last: [H, W, C]
    ref = base.permute(0, 2, 3, 1).contiguous()                        # [B, H, W, C]

    # --8<-- [start:inputs]
    def inputs(Z):
        keep = Z.to(device)[:, segments][:, None, :, :, None]            # [n, 1, H, W, 1]
        x = ref + keep * (img - ref)                                     # [n, B, H, W, C]
        return x.reshape(-1, *img.shape).permute(0, 3, 1, 2)             # [n*B, C, H, W] (NHWC)
    # --8<-- [end:inputs]

    def predict(x):
        with torch.inference_mode(), eval_mode(model), checked_outputs(model, t), \
                _autocast(precision, device):
            return target_output(model(x), target, output).reshape(-1, B).mean(1)

    game = Game(S, inputs, predict, batch_size=batch_size, cost=B)
    game.image, game.segments, game.baselines = image, segments, base
    return game


_WORDS = re.compile(r"(\w+)", re.UNICODE)


def split_words(text: str) -> tuple[list[str], list[str], list[int]]:
    """``(pieces, words, index)``: the text cut into words and the separators between them (as
    LIME's ``\\W+`` split), its distinct words in order of appearance, and for each piece the
    index of its word (-1 for separators). Joining the pieces gives back the text."""
    pieces = [p for p in _WORDS.split(text) if p]
    words, where, index = [], {}, []
    for p in pieces:
        if _WORDS.fullmatch(p):
            if p not in where:
                where[p] = len(words)
                words.append(p)
            index.append(where[p])
        else:
            index.append(-1)
    return pieces, words, index


def text_game(predict_proba: Callable, text: str, target: int, *, batch_size: int = 1000) -> Game:
    """The game of a document whose distinct words are present or removed (every occurrence).

    ``predict_proba(list of str) -> [n, classes]`` (e.g. a scikit-learn pipeline's
    ``predict_proba``); the value is the probability of ``target``. ``game.names`` are the words.
    """
    pieces, words, index = split_words(text)
    if not words:
        raise ValueError("the text has no words to explain.")
    index = np.asarray(index)

    def inputs(Z):
        keep = np.concatenate([np.ones((len(Z), 1), bool), Z.numpy() > 0.5], axis=1)[:, index + 1]
        return ["".join(p for p, k in zip(pieces, row) if k) for row in keep]

    def predict(texts):
        proba = np.asarray(predict_proba(texts))
        if proba.ndim != 2 or not 0 <= target < proba.shape[1]:
            raise ValueError(f"predict_proba must return [n, classes] with class {target} in it; "
                             f"got shape {proba.shape}.")
        return torch.from_numpy(proba[:, target].astype(np.float64))

    game = Game(len(words), inputs, predict, names=words, batch_size=batch_size)
    game.text = text
    return game


def tabular_game(predict: Callable, x, background, target: int | None = None, *,
                 batch_size: int = 4096) -> Game:
    """The game of a row of features x [M] whose missing features take background values.

    v(z') = mean over the background rows b [B, M] of f(z' * x + (1 - z') * b), the
    "interventional" expectation that Kernel SHAP and shap's KernelExplainer use.
    ``predict(rows float [n, M]) -> [n]`` or ``[n, classes]`` (then ``target`` picks a column).
    """
    x = torch.as_tensor(x, dtype=torch.float32).reshape(-1)
    background = torch.as_tensor(background, dtype=torch.float32)
    if background.dim() == 1:
        background = background[None]
    if background.dim() != 2 or background.shape[1] != len(x) or len(background) == 0:
        raise ValueError(f"background must have shape [B, {len(x)}] with B >= 1, got "
                         f"{tuple(background.shape)}.")
    check_finite(x, "x")
    check_finite(background, "background")
    B = len(background)

    def inputs(Z):
        return (background + Z[:, None, :] * (x - background)).reshape(-1, len(x))

    def fn(rows):
        out = predict(rows)
        out = (out.detach().cpu() if isinstance(out, torch.Tensor)
               else torch.from_numpy(np.asarray(out))).double()
        if out.dim() == 2:
            if target is None:
                raise ValueError("predict returns several outputs: pass target=column.")
            out = out[:, target]
        return out.reshape(-1, B).mean(1)

    return Game(len(x), inputs, fn, batch_size=batch_size, cost=B)


# --------------------------------------------------------------------------------------------
# Exact Shapley values
# --------------------------------------------------------------------------------------------
def shapley_weights(M: int) -> torch.Tensor:
    """|z'|! (M - |z'| - 1)! / M! for |z'| = 0..M-1: the weight of a coalition of size |z'| that
    does not contain feature i, in the lecture's formula (float64 [M])."""
    s = torch.arange(M, dtype=torch.float64)
    return torch.exp(torch.lgamma(s + 1) + torch.lgamma(M - s) - math.lgamma(M + 1))


def exact_shapley(value_fn: Callable, M: int, *, batch_size: int = 4096,
                  max_features: int = MAX_EXACT_FEATURES) -> torch.Tensor:
    """phi_i = sum_{z' subset x'} |z'|!(M-|z'|-1)!/M! [f_x(z') - f_x(z' \\ i)], float64 [M].

    Every coalition is evaluated once (2^M evaluations, in batches) and enters phi_i with the weight
    +w(|z'|-1) if it contains i and -w(|z'|) if not, which is the lecture's sum regrouped.
    """
    M = _check_features(M)
    if M > max_features:
        raise ValueError(f"exact_shapley enumerates all 2^M coalitions: M = {M} would need "
                         f"{2 ** M:,} model evaluations (the limit is M <= {max_features}, "
                         f"{2 ** max_features:,}). Use kernel_shap(value_fn, M, n_samples) or "
                         "permutation_shapley, or fewer features (larger superpixels).")
    w = shapley_weights(M)
    phi = torch.zeros(M, dtype=torch.float64)
    for start in range(0, 2 ** M, batch_size):
        Z = coalitions(M, start, min(2 ** M, start + batch_size))
        v = game_values(value_fn, Z)
        Zd = Z.double()
        size = Zd.sum(1).long()
        coef = (Zd * w[(size - 1).clamp(0, M - 1)][:, None]
                - (1 - Zd) * w[size.clamp(max=M - 1)][:, None])
        phi += coef.T @ v
    return phi


def tabulate(value_fn: Callable, M: int, *, batch_size: int = 4096,
             max_features: int = MAX_EXACT_FEATURES) -> Callable:
    """Evaluate every coalition of a small game once and return a game that looks its values up:
    estimators can then be studied at any number of "evaluations" for free. The returned function
    has ``table`` (float64 [2^M], coalition k = the bits of k) and ``M``."""
    M = _check_features(M)
    if M > max_features:
        raise ValueError(f"tabulate evaluates all 2^M coalitions: M = {M} would need {2 ** M:,} "
                         f"evaluations (the limit is M <= {max_features}).")
    table = torch.cat([game_values(value_fn, coalitions(M, s, min(2 ** M, s + batch_size)))
                       for s in range(0, 2 ** M, batch_size)])
    powers = 2 ** torch.arange(M)

    def lookup(Z):
        return table[(torch.as_tensor(Z).round().long() * powers).sum(1)]

    lookup.table, lookup.M = table, M
    return lookup


# --------------------------------------------------------------------------------------------
# Kernel SHAP
# --------------------------------------------------------------------------------------------
def shapley_kernel(M: int, size) -> torch.Tensor:
    """pi_x'(z') = (M - 1) / (C(M, |z'|) |z'| (M - |z'|)), Theorem 2 of Lundberg & Lee; infinite
    for the empty and the full coalition (which Kernel SHAP therefore enforces exactly)."""
    s = torch.as_tensor(size, dtype=torch.float64)
    log_binom = math.lgamma(M + 1) - torch.lgamma(s + 1) - torch.lgamma(M - s + 1)
    return (M - 1) / (torch.exp(log_binom) * s * (M - s))


def _random_subsets(M: int, size: int, k: int, rng: np.random.Generator, fix_first=False):
    """k distinct subsets of ``size`` features (bool [k, M]); with ``fix_first`` each contains
    feature 0 (one representative of each {S, complement} pair of the middle size)."""
    count = math.comb(M - 1, size - 1) if fix_first else math.comb(M, size)
    if k >= count:
        k = count
    if count <= 4 * k and count <= 200_000:           # dense: choose among all of them
        pool = range(1, M) if fix_first else range(M)
        chosen = rng.choice(count, size=k, replace=False)
        combos = list(itertools.combinations(pool, size - 1 if fix_first else size))
        out = np.zeros((k, M), bool)
        for r, c in enumerate(chosen):
            out[r, list(combos[c])] = True
            if fix_first:
                out[r, 0] = True
        return out
    seen, rows = set(), []
    per = max(1, M // size)                          # disjoint blocks per random ordering
    while len(rows) < k:
        order = np.argsort(rng.random((-(-2 * (k - len(rows)) // per) + 1, M)), axis=1)
        for perm in order:                            # balanced: each feature once per ordering
            for j in range(per):
                row = np.zeros(M, bool)
                row[perm[j * size:(j + 1) * size]] = True
                if fix_first and not row[0]:
                    row = ~row
                key = row.tobytes()
                if key not in seen:
                    seen.add(key)
                    rows.append(row)
                    if len(rows) == k:
                        return np.stack(rows)
    return np.stack(rows)


def _largest_remainder(total: int, shares: np.ndarray) -> np.ndarray:
    """Split the integer ``total`` in proportion to ``shares`` (integers summing to total)."""
    if total <= 0:
        return np.zeros(len(shares), int)
    quota = total * shares / shares.sum()
    alloc = np.floor(quota).astype(int)
    for j in np.argsort(alloc - quota)[: total - alloc.sum()]:
        alloc[j] += 1
    return alloc


def kernel_shap_samples(M: int, budget: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``budget`` distinct coalitions (neither empty nor full) and their regression weights.

    Coalitions of size s and M - s share the kernel's weight, so they form one class whose total
    weight is sum_z' pi(z'). Classes are enumerated completely, from the smallest sizes (the
    heaviest weights) on, while the budget covers them; the rest of the budget is split among the
    remaining classes in proportion to their weight and drawn without replacement, in pairs (a
    coalition and its complement: their errors on the main effects cancel), with one unpaired
    coalition if the budget is odd. Each coalition of a sampled class carries an equal share of
    its class's weight. (Pairs give one constraint each on the main effects; below about 2M
    evaluations the least-squares problem is then underdetermined and ``constrained_wls`` returns
    its minimum-norm solution, which is more accurate there than unpaired samples that pin every
    value down by fitting the interactions' noise.)
    """
    rng = np.random.default_rng(seed)
    classes = list(range(1, M // 2 + 1))                 # s and M - s together
    count = {s: math.comb(M, s) * (1 if 2 * s == M else 2) for s in classes}
    mass = {s: float(shapley_kernel(M, s)) * count[s] for s in classes}
    rows, weights, left = [], [], budget
    remaining = list(classes)
    while remaining:                                      # enumerate whole classes
        s = remaining[0]
        share = left * mass[s] / sum(mass[r] for r in remaining)
        if share < count[s] - 1e-8:
            break
        for c in itertools.combinations(range(M), s):
            z = np.zeros(M, bool)
            z[list(c)] = True
            rows.append(z)
            if 2 * s != M:
                rows.append(~z)
        weights += [float(shapley_kernel(M, s))] * count[s]
        left -= count[s]
        remaining.pop(0)
    if remaining and left > 0:                            # sample the others
        shares = np.array([mass[r] for r in remaining])
        n_pairs = left // 2
        pairs = _largest_remainder(n_pairs, shares)
        singles = _largest_remainder(left - 2 * n_pairs, shares)
        for s, k, u in zip(remaining, pairs, singles):
            if k + u == 0:
                continue
            middle = 2 * s == M
            reps = _random_subsets(M, s, int(k + u), rng, fix_first=middle)   # distinct pairs
            flip = rng.random(len(reps)) < 0.5
            singles_block = np.where(flip[k:, None], ~reps[k:], reps[k:])
            block = np.concatenate([reps[:k], ~reps[:k], singles_block])
            rows.extend(block)
            weights += [mass[s] / len(block)] * len(block)
    Z = torch.from_numpy(np.stack(rows).astype(np.float32))
    return Z, torch.tensor(weights, dtype=torch.float64)


def constrained_wls(Z: torch.Tensor, y: torch.Tensor, weights: torch.Tensor,
                    total: float) -> torch.Tensor:
    """argmin_phi sum_k w_k (y_k - z_k . phi)^2 subject to sum_i phi_i = total (float64 [M]),
    solved with its KKT system [[Z^T W Z, 1], [1^T, 0]] [phi; lambda] = [Z^T W y; total]."""
    Zd = Z.double()
    M = Zd.shape[1]
    A = torch.zeros(M + 1, M + 1, dtype=torch.float64)
    A[:M, :M] = Zd.T @ (weights[:, None] * Zd)
    A[:M, M] = A[M, :M] = 1.0
    rhs = torch.cat([Zd.T @ (weights * y), torch.tensor([float(total)], dtype=torch.float64)])
    scale = A[:M, :M].diagonal().mean().clamp_min(1e-300)   # balance the blocks
    A[:M, :M] /= scale
    rhs[:M] /= scale
    sol = torch.linalg.lstsq(A, rhs[:, None], driver="gelsd").solution[:, 0]
    return sol[:M]


def kernel_shap(value_fn: Callable, M: int, n_samples: int, *, seed: int = 0) -> torch.Tensor:
    """Kernel SHAP (Lundberg & Lee, Theorem 2): Shapley values as LIME's weighted linear fit with
    Omega(g) = 0 and the Shapley kernel pi_x'(z') = (M-1) / (C(M,|z'|) |z'| (M-|z'|)).

    ``n_samples`` is the number of model evaluations (coalitions), the empty and the full ones
    included. Their kernel weight is infinite, so they are not regression rows but constraints:
    phi_0 = f_x(0) and sum_i phi_i = f_x(1) - f_x(0) hold exactly (local accuracy). With
    n_samples >= 2^M every coalition is used and the result equals ``exact_shapley``.
    Returns phi_1..phi_M as float64 [M] (phi_0 is ``value_fn(zeros(1, M))``).
    """
    M = _check_features(M)
    n_samples = check_count(n_samples, "n_samples")
    if n_samples < M + 1:
        raise ValueError(f"Kernel SHAP needs at least M + 1 = {M + 1} model evaluations (the empty "
                         f"and the full coalition, and M - 1 more to fix the M - 1 free values); "
                         f"got n_samples = {n_samples}. Raise n_samples or use fewer features.")
    ends = torch.stack([torch.zeros(M), torch.ones(M)])
    if M == 1:
        v = game_values(value_fn, ends)
        return (v[1] - v[0]).reshape(1)
    if M <= 60 and n_samples >= 2 ** M:
        Z = coalitions(M, 1, 2 ** M - 1)
        w = shapley_kernel(M, Z.sum(1))
    else:
        Z, w = kernel_shap_samples(M, int(n_samples) - 2, seed)
    v = game_values(value_fn, torch.cat([ends, Z]))
    v0, v1, vz = v[0], v[1], v[2:]
    return constrained_wls(Z, vz - v0, w, float(v1 - v0))


# --------------------------------------------------------------------------------------------
# Shapley sampling values (permutations)
# --------------------------------------------------------------------------------------------
def permutation_shapley(value_fn: Callable, M: int, n_samples: int, *, seed: int = 0,
                        antithetic: bool = True) -> torch.Tensor:
    """Shapley sampling values: phi_i is the mean of f_x(pre_i + i) - f_x(pre_i) over random
    orderings, pre_i being the features before i. ``n_samples`` model evaluations buy
    (n_samples - 2) // (M - 1) orderings (the empty and full coalitions are shared); with
    ``antithetic`` each ordering comes with its reverse. float64 [M]."""
    M = _check_features(M)
    n_samples = check_count(n_samples, "n_samples")
    if n_samples < M + 1:
        raise ValueError(f"permutation sampling needs at least M + 1 = {M + 1} evaluations (one "
                         f"ordering); got n_samples = {n_samples}.")
    if M == 1:
        v = game_values(value_fn, torch.stack([torch.zeros(1), torch.ones(1)]))
        return (v[1] - v[0]).reshape(1)
    P = (n_samples - 2) // (M - 1)
    g = torch.Generator().manual_seed(seed)
    perms = torch.argsort(torch.rand(P, M, generator=g), dim=1)
    if antithetic:
        perms[1::2] = perms[0::2].flip(1)[: len(perms[1::2])]
    rank = torch.argsort(perms, dim=1)                           # position of each feature
    steps = torch.arange(1, M)
    Z = (rank[:, None, :] < steps[None, :, None]).float()       # [P, M-1, M] prefixes
    ends = torch.stack([torch.zeros(M), torch.ones(M)])
    v = game_values(value_fn, torch.cat([ends, Z.reshape(-1, M)]))
    V = torch.cat([v[0].expand(P, 1), v[2:].reshape(P, M - 1), v[1].expand(P, 1)], dim=1)
    gains = V[:, 1:] - V[:,
                         :-1]                                 # gain of the feature added at step j
    phi = torch.zeros(P, M, dtype=torch.float64).scatter_(1, perms, gains)
    return phi.mean(0)


# --------------------------------------------------------------------------------------------
# Model-specific approximations
# --------------------------------------------------------------------------------------------
def linear_shap(weight, bias, x, mean, return_base: bool = False):
    """Linear SHAP (Corollary 1): for f(x) = sum_j w_j x_j + b with independent features,
    phi_i = w_i (x_i - E[x_i]).

    ``weight`` [M] (one output) or [K, M] (K outputs, as ``nn.Linear.weight``), ``bias`` a number or
    [K], ``x`` [M] or [N, M], ``mean`` [M]. Returns phi shaped [..., M] (or [..., K, M]); with
    ``return_base`` also phi_0 = E[f(x)] = w . E[x] + b (the slide's phi_0 = b assumes E[x] = 0).
    """
    w = torch.as_tensor(weight, dtype=torch.float64)
    x = torch.as_tensor(x, dtype=torch.float64)
    mean = torch.as_tensor(mean, dtype=torch.float64)
    b = torch.as_tensor(bias, dtype=torch.float64)
    M = w.shape[-1]
    if x.shape[-1] != M or mean.shape != (M,):
        raise ValueError(f"weight has {M} features, x has shape {tuple(x.shape)} and mean "
                         f"{tuple(mean.shape)}; they must agree ([M] / [N, M] / [M]).")
    if w.dim() == 1:
        phi = w * (x - mean)
        base = w @ mean + b.reshape(())
    elif w.dim() == 2:
        if b.numel() not in (1, w.shape[0]):
            raise ValueError(f"bias has {b.numel()} entries for {w.shape[0]} outputs.")
        phi = w * (x - mean)[..., None, :]
        base = w @ mean + b.reshape(-1)
    else:
        raise ValueError(f"weight must be [M] or [K, M], got {tuple(w.shape)}.")
    return (phi, base) if return_base else phi


class LogOdds(nn.Module):
    """f(x) = logit_a - logit_b = log(p_a / p_b): the log odds of class a against class b, one
    output (the paper's "8 versus 3"). Linear in the logits, so Deep SHAP passes it exactly."""

    def __init__(self, model: nn.Module, a: int, b: int):
        super().__init__()
        self.model, self.a, self.b = model, a, b

    def forward(self, x):
        logits = self.model(x)
        return (logits[:, self.a] - logits[:, self.b])[:, None]


RESCALED = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Softplus)
NOT_SUPPORTED = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d,
                 nn.AdaptiveMaxPool2d, nn.Softmax, nn.LayerNorm, nn.MultiheadAttention)
MAX_WINDOW = 9          # max_shapley enumerates 2^k coalitions per window: up to 3 x 3 windows


def max_shapley(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Exact Shapley values of a max over k inputs against a reference: the game
    v(S) = max_j (x_j if j in S else r_j), the lecture's analytic SHAP values of a max-pooling
    window. ``x``, ``r`` [..., k] (k <= MAX_WINDOW); returns phi [..., k] in x's dtype, with
    sum_j phi_j = max(x) - max(r) (local accuracy). All 2^k coalitions, weighted as in
    ``exact_shapley``: +w(|S| - 1) if j is in S, -w(|S|) if not."""
    if x.shape != r.shape or x.dim() == 0:
        raise ValueError(f"x and r must both be [..., k], got {tuple(x.shape)} and "
                         f"{tuple(r.shape)}.")
    k = x.shape[-1]
    if not 1 <= k <= MAX_WINDOW:
        raise ValueError(f"max_shapley enumerates 2^k coalitions of a window: k = {k} is outside "
                         f"1..{MAX_WINDOW} (windows up to 3 x 3).")
    Z = coalitions(k).to(x.device, torch.float64)                          # [2^k, k]
    xd, rd = x.double()[..., None, :], r.double()[..., None, :]            # [..., 1, k]
    v = torch.where(Z.bool(), xd, rd).amax(-1)                             # [..., 2^k]
    w = shapley_weights(k).to(x.device)
    size = Z.sum(1).long()
    coef = Z * w[(size - 1).clamp(0, k - 1)][:, None] - (1 - Z) * w[size.clamp(max=k - 1)][:, None]
    return (v @ coef).to(x.dtype)                                          # [..., k]


def _max_pool_rule(pool: nn.MaxPool2d, eps: float):
    """The multiplier rule of one non-overlapping max-pooling layer: m_j = phi_j / (x_j - r_j)
    with phi from ``max_shapley`` per window (0 where x_j = r_j, a null player)."""
    kh, kw = (pool.kernel_size,) * 2 if isinstance(pool.kernel_size, int) else pool.kernel_size

    def rule(x, y, grad_input, grad_output):
        n = len(x) // 2
        N, C, H, W = x.shape
        Ho, Wo = H // kh, W // kw
        win = (x[..., :Ho * kh, :Wo * kw].reshape(N, C, Ho, kh, Wo, kw)
               .permute(0, 1, 2, 4, 3, 5).reshape(N, C, Ho, Wo, kh * kw))
        dx = win[:n] - win[n:]
        phi = max_shapley(win[:n], win[n:])
        m = torch.where(dx.abs() < eps, torch.zeros_like(dx),
                        phi / torch.where(dx.abs() < eps, torch.ones_like(dx), dx))
        g = grad_output[..., None] * m.repeat(2, 1, 1, 1, 1)
        g = g.reshape(N, C, Ho, Wo, kh, kw).permute(0, 1, 2, 4, 3, 5).reshape(N, C, Ho * kh,
                                                                             Wo * kw)
        out = torch.zeros_like(grad_input)
        out[..., :Ho * kh, :Wo * kw] = g
        return out
    return rule


def _exact_max_pool(m: nn.Module) -> bool:
    """A 2-d max-pooling with non-overlapping windows (stride = kernel, no padding or dilation):
    the kind ``max_shapley`` composes exactly."""
    if type(m) is not nn.MaxPool2d or m.return_indices or m.ceil_mode:
        return False
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    k = pair(m.kernel_size)
    return (pair(m.stride or m.kernel_size) == k and pair(m.padding) == (0, 0)
            and pair(m.dilation) == (1, 1) and k[0] * k[1] <= MAX_WINDOW)


@contextmanager
def rescale_rule(model: nn.Module, eps: float = 1e-10):
    """Inside the block, every elementwise nonlinearity y = g(x) of ``model`` passes the DeepLIFT
    multiplier m = (g(x) - g(x_ref)) / (x - x_ref) backwards instead of g'(x) (the rescale rule;
    g'(x) where x = x_ref). The batch must hold the inputs in its first half and their references
    in its second half. Linear layers keep their gradients, which are their exact multipliers, so
    backpropagation composes the multipliers by the chain rule, m_{y f3} = sum_j m_{y f_j} m_{x_j
    f3}.
    A non-overlapping ``nn.MaxPool2d`` (stride = kernel, up to 3 x 3) passes the multipliers of its
    windows' exact Shapley values (``max_shapley``), the lecture's analytic rule for max pooling.
    Hooks are removed on every exit path (``hooks.backward_rule``)."""
    bad = [name for name, m in model.named_modules()
           if isinstance(m, NOT_SUPPORTED) and not _exact_max_pool(m)]
    if bad:
        raise TypeError(f"deep_shap has no rule for the layers {bad} (overlapping or padded "
                        "max-pooling, softmax, layer norm, attention): explain this model with "
                        "kernel_shap on a game instead.")

    # --8<-- [start:multiplier]
    def rescale(x, y, grad_input, grad_output):
        n = len(x) // 2
        ones = [1] * (x.dim() - 1)
        dx, dy = (x[:n] - x[n:]).repeat(2, *ones), (y[:n] - y[n:]).repeat(2, *ones)
        near = dx.abs() < eps
        ratio = dy / torch.where(near, torch.ones_like(dx), dx)
        return torch.where(near, grad_input, grad_output * ratio)
    # --8<-- [end:multiplier]

    nonlinear = [m for m in model.modules() if isinstance(m, RESCALED)]
    with ExitStack() as stack:
        stack.enter_context(backward_rule(model, nonlinear, rescale,
                                          kind="nonlinearity (nn.ReLU, nn.Tanh, ...)"))
        for pool in (m for m in model.modules() if _exact_max_pool(m)):
            stack.enter_context(backward_rule(model, [pool], _max_pool_rule(pool, eps),
                                              kind="max-pooling (nn.MaxPool2d)"))
        yield model


def _background(background, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(background, torch.Tensor):
        raise TypeError("background must be a tensor [B, ...] of reference inputs shaped like x's "
                        f"rows, got {type(background).__name__}.")
    if background.dim() == x.dim() - 1:
        background = background[None]
    if background.shape[1:] != x.shape[1:]:
        raise ValueError(f"background must be [B, {', '.join(map(str, x.shape[1:]))}] like the "
                         f"inputs x {tuple(x.shape)}; got {tuple(background.shape)}.")
    if len(background) == 0:
        raise ValueError("background is empty: Deep SHAP averages over at least one reference "
                         "input (e.g. the mean image, or a few training images).")
    if background.dtype == torch.uint8 and x.dtype != torch.uint8:
        from .data import to_float
        background = to_float(background)
    check_finite(background.float(), "background")
    return background


def deep_shap(model: nn.Module, x: torch.Tensor, target, *, background: torch.Tensor,
              batch_size: int | None = None, check: bool = True) -> torch.Tensor:
    """Deep SHAP (Lundberg & Lee, Sec. 4.2): DeepLIFT's rescale rule, composed through the network
    by the chain rule of multipliers, averaged over a background set.

    For each input x and each reference b: phi(x, b) = m_{x f}(x, b) * (x - b), where the
    multipliers m come from one backward pass under ``rescale_rule``; Deep SHAP is the mean over
    b. ``x`` [N, ...] (any model input: images, rows of features), ``background`` [B, ...] (E[x] in
    the lecture's formulas), ``target`` an int or LongTensor [N]. Returns phi shaped like x, on
    x's device. ``batch_size``: (input, reference) pairs per backward pass. With ``check``, local
    accuracy sum(phi) = f(x) - E_b[f(b)] is verified in float64 (it holds exactly for the layers
    the rule knows, up to the float32 rounding of the passes) and a clear error is raised where it
    fails (a functional nonlinearity the hooks cannot see). Every pass runs in the input's dtype,
    never under the bf16 autocast of batched inference: compare it with a game built with
    ``image_game(..., precision="fp32")``, whose f(x) - f(b) is then the same number.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor [N, ...], got {type(x).__name__}.")
    if x.dim() == 0 or len(x) == 0:
        raise ValueError(f"x is empty (shape {tuple(x.shape)}): pass at least one input.")
    home = x
    if x.dim() == 4:
        x = as_batch(x, model)
    elif not x.is_floating_point():
        raise TypeError(f"x has dtype {x.dtype}; pass float inputs (data.to_float for images).")
    check_finite(x, "x")
    background = _background(background, x)
    device = model_device(model)
    x, background = x.to(device), background.to(device, x.dtype)
    N, B = len(x), len(background)
    t = check_target(target, N).to(device)
    batch_size = resolve(batch_size, model, x.shape, backward=True, scale=4)
    with torch.no_grad(), eval_mode(model), checked_outputs(model, t):
        fx, fb = model(x), model(background)
    phi = torch.zeros_like(x)
    which = torch.arange(N, device=device).repeat_interleave(B)      # all (input, reference) pairs
    base = torch.arange(B, device=device).repeat(N)
    with eval_mode(model), rescale_rule(model), torch.enable_grad(), checked_outputs(model, t):
        # --8<-- [start:pairs]
        for start in range(0, N * B, batch_size):
            i, b = which[start:start + batch_size], base[start:start + batch_size]
            inp, ref = x[i], background[b]
            both = torch.cat([inp, ref]).detach().requires_grad_(True)    # inputs, then references
            out = target_output(model(both)[:len(i)], t[i], "logit").sum()
            grad, = torch.autograd.grad(out, both)                        # the multipliers m
            phi.index_add_(0, i, grad[:len(i)] * (inp - ref))            # m (x - b)
        phi /= B                                                          # the mean over b
        # --8<-- [end:pairs]
    if check:
        f_x = target_output(fx, t, "logit").double()                    # in float64: the
        f_b = fb.double()[:, t].mean(0)                                    # check's own sums add
        want = f_x - f_b                                                   # no rounding
        got = phi.reshape(N, -1).double().sum(1)
        scale = f_x.abs() + fb.double()[:, t].abs().mean(0) + 1e-3
        err = ((got - want).abs() / scale).max().item()
        if err > 1e-3:
            raise RuntimeError(
                f"deep_shap: the attributions do not add up to f(x) - E[f(b)] (relative error "
                f"{err:.1e}). The model has a nonlinearity the rescale rule does not see (a "
                "functional F.relu / torch.max / attention): write its nonlinearities as modules "
                f"({', '.join(c.__name__ for c in RESCALED[:3])}, ...) or use kernel_shap.")
    return to_device_of(phi.detach(), home)


# --------------------------------------------------------------------------------------------
# Helpers for superpixel attributions
# --------------------------------------------------------------------------------------------
def per_segment(attributions: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """Sum pixel attributions [C, H, W] (or [H, W]) over each superpixel of ``segments`` -> [S]."""
    a = attributions if attributions.dim() == 2 else attributions.sum(0)
    seg = segments.to(a.device).reshape(-1).long()
    return torch.zeros(int(seg.max()) + 1, dtype=a.dtype, device=a.device).index_add_(
        0, seg, a.reshape(-1))


def paint(values: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """Spread one value per superpixel [S] over the image: [H, W]."""
    return values.to(segments.device)[segments.long()]


# --------------------------------------------------------------------------------------------
# The attribution methods on images (the contract of ``validate.attribution_method``)
# --------------------------------------------------------------------------------------------
def _segments(image: torch.Tensor, n_segments: int) -> torch.Tensor:
    from .lime import superpixels
    return superpixels(image.detach().cpu(), "slic", n_segments=n_segments)


@attribution_method(backward=False, batched=False)
def kernel_shap_map(model: nn.Module, x: torch.Tensor, target, *, n_segments: int = 16,
                    n_samples: int = 200, seed: int = 0, precision: str = "auto") -> torch.Tensor:
    """Kernel SHAP (Lundberg & Lee) on SLIC superpixels hidden by their mean colour (the same game
    as LIME's, the logit as f): each superpixel painted with its Shapley value, [N, H, W].
    ``n_samples`` model evaluations per image (at least M + 1); ``precision`` as ``image_game``."""
    n_samples = check_count(n_samples, "n_samples")
    n_segments = check_count(n_segments, "n_segments")
    out = []
    for i in range(len(x)):
        seg = _segments(x[i], n_segments)
        game = image_game(model, x[i], int(target[i]), seg, baseline="mean", output="logit",
                          precision=precision)
        phi = kernel_shap(game, game.M, max(n_samples, game.M + 1), seed=seed)
        out.append(paint(phi.float(), seg))
    return torch.stack(out)


@attribution_method(backward=True)
def deep_shap_map(model: nn.Module, x: torch.Tensor, target, *,
                  background: torch.Tensor | None = None,
                  batch_size: int | None = None) -> torch.Tensor:
    """Deep SHAP of images (``deep_shap``) with ``background`` [B, C, H, W] (default: one image of
    the model's mean colour). Each pixel's value is the sum over its channels, [N, H, W]."""
    if background is None:
        background = input_mean(model, x.shape[1]).to(x.device, x.dtype).expand(1, *x.shape[1:])
    phi = deep_shap(model, x, target, background=background, batch_size=batch_size)
    return phi.sum(1)


__all__ = ["Game", "image_game", "text_game", "tabular_game", "exact_shapley", "kernel_shap",
           "permutation_shapley", "linear_shap", "deep_shap", "LogOdds", "shapley_kernel",
           "shapley_weights", "coalitions", "constrained_wls", "kernel_shap_samples",
           "rescale_rule", "split_words", "tabulate", "check_segments", "segment_mean_baseline",
           "per_segment", "paint", "game_values", "kernel_shap_map", "deep_shap_map",
           "MAX_EXACT_FEATURES"]
