"""The model-randomization sanity check of Adebayo et al. (2018), *Sanity Checks for Saliency Maps*.

An explanation of a model's decision should depend on the model. Adebayo et al. (Sec. 3.1)
re-initialise the weights of a trained network **layer by layer, from the top** (the logits first,
then each layer below; "cascading randomization") and compare each method's map on the
randomised network with its map on the trained one. A method whose maps stay the same while the
weights that produce the decision are replaced by noise is not explaining the decision; it acts
like an edge detector of the input. Their finding: the gradient and Grad-CAM change; guided
backpropagation (and guided Grad-CAM) barely change, and the same holds for the deconvnet, whose
backward pass does not depend on the ReLUs' forward state at all.

Similarity is the **Spearman rank correlation** between two maps (Adebayo et al. report it for the
absolute value of the map and for the signed map, besides SSIM and HOG similarity):

    rho(a, b) = Pearson correlation of rank(a) and rank(b)    (average ranks for ties).

Re-initialisation here: every ``nn.Conv2d`` and ``nn.Linear`` in the randomised blocks is reset by
its own ``reset_parameters`` (PyTorch's default Kaiming-uniform initialisation) from a fixed seed;
batch-norm layers keep their trained statistics, as in the paper's Inception v3 ("we
re-initialise the weights").
"""
from __future__ import annotations

import copy
from typing import Callable, Iterator

import numpy as np
import torch
from scipy import stats
from torch import nn

from .config import seeded
from .maps import heatmap
from .validate import check_layer

REINITIALISED = (nn.Conv2d, nn.Linear)


# --------------------------------------------------------------------------------------------
# Rank correlation
# --------------------------------------------------------------------------------------------
def spearman(a, b) -> np.ndarray:
    """Spearman's rank correlation of each pair of maps: a, b [N, ...] -> [N] (average ranks for
    ties, the same as ``scipy.stats.spearmanr``). A constant map has no ranking: NaN."""
    a = np.asarray(a.detach().cpu().double() if isinstance(a, torch.Tensor) else a, float)
    b = np.asarray(b.detach().cpu().double() if isinstance(b, torch.Tensor) else b, float)
    if a.shape != b.shape:
        raise ValueError(f"the maps differ in shape: {a.shape} and {b.shape}.")
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    ra, rb = stats.rankdata(a, axis=1), stats.rankdata(b, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(1) / np.where(den > 0, den, 1), np.nan)


# --------------------------------------------------------------------------------------------
# Cascading randomization
# --------------------------------------------------------------------------------------------
def top_down_blocks(model: nn.Module) -> list[str]:
    """The model's direct children that hold convolutions or linear layers, from the output down
    (ResNet-GAP: fc, layer3, layer2, layer1, stem; VGG: fc2, fc1, conv4_2, ..., conv1_1)."""
    names = [name for name, child in model.named_children()
             if any(isinstance(m, REINITIALISED) for m in child.modules())]
    if not names:
        raise ValueError("The model has no nn.Conv2d / nn.Linear children to re-initialise.")
    return names[::-1]


def reinitialise(module: nn.Module, seed: int = 0) -> int:
    """Reset every conv and linear layer inside ``module`` with PyTorch's default initialisation
    from a fixed seed (the global RNG is left untouched). Returns how many layers were reset."""
    n = 0
    with seeded(seed):
        for m in module.modules():
            if isinstance(m, REINITIALISED):
                m.reset_parameters()
                n += 1
    return n


def cascading_randomization(model: nn.Module, blocks=None, *, seed: int = 0
                            ) -> Iterator[tuple[str, nn.Module]]:
    """Yield ("original", a copy of the model), then (block, a copy whose ``blocks`` down to this
    one
    are re-initialised), cumulatively from the top (Adebayo et al.'s cascading randomization).
    ``blocks``: names of the model's modules, top first (default ``top_down_blocks``). The model
    itself is never changed; each block gets its own seed (``seed`` + its position)."""
    blocks = list(blocks) if blocks is not None else top_down_blocks(model)
    for b in blocks:
        check_layer(model, b)
    current = copy.deepcopy(model).eval()
    yield "original", current
    for i, b in enumerate(blocks):
        current = copy.deepcopy(current)
        if reinitialise(check_layer(current, b), seed + i) == 0:
            raise ValueError(f"{b!r} holds no conv or linear layer to re-initialise.")
        yield b, current.eval()


def randomization_test(model: nn.Module, x: torch.Tensor, target, methods: dict, *, blocks=None,
                       seed: int = 0, keep_maps: bool = True):
    """Run each ``method(model, x, target)`` on the trained model and on each step of the
    cascading randomization, and compare the maps with the trained model's.

    Returns ``(table, maps)``: a pandas DataFrame with one row per (method, step, image) and the
    Spearman correlations of the absolute and of the signed maps with the trained model's
    ("spearman |map|", "spearman map"); ``maps[method][step]`` the maps [N, H, W] (reduced by
    ``maps.heatmap``; signed maps keep their sign when they are [N, H, W]).
    """
    import pandas as pd
    size = x.shape[-2:]
    rows, maps = [], {name: {} for name in methods}
    reference = {}
    for step, net in cascading_randomization(model, blocks, seed=seed):
        for name, method in methods.items():
            m = _map(method, net, x, target, size)
            if step == "original":
                reference[name] = m
            if keep_maps:
                maps[name][step] = m
            rho_abs = spearman(m.abs(), reference[name].abs())
            rho = spearman(m, reference[name])
            rows += [{"method": name, "randomized down to": step, "image": i,
                      "spearman |map|": float(rho_abs[i]), "spearman map": float(rho[i])}
                     for i in range(len(x))]
    return pd.DataFrame(rows), maps


def _map(method: Callable, model, x, target, size) -> torch.Tensor:
    # pixel attributions [N, C, H, W] are reduced by Simonyan's max_c |.| (the course's convention);
    # maps [N, h, w] keep their sign and are upsampled to the input size
    return heatmap(method(model, x, target).detach(), size).float().cpu()


def _rho(table, column: str, absolute: bool):
    """``table[column]`` with constant maps (NaN) as 0 and, if ``absolute``, as |rho|."""
    values = table[column].fillna(0.0)
    return table.assign(**{column: values.abs() if absolute else values})


def summary(table, column: str = "spearman |map|", *, absolute: bool = False
            ) -> "pd.DataFrame":  # noqa: F821
    """Mean rank correlation with the trained model's maps, methods x randomization steps (in
    cascade order). A map that became constant (e.g. Grad-CAM's ReLU leaves nothing) has no ranking
    (NaN); it counts as 0 here: nothing of the trained model's ranking survives in it.

    ``absolute``: the mean of |rho| image by image, how much of the trained map's ranking survives
    in either direction. A map whose ranking the randomization reverses (rho near -1: the pixels the
    trained map ranks last now come first) is still fixed by the trained one, and signed values of
    opposite sign on different images cancel in a mean; |rho| counts both as surviving."""
    steps = list(dict.fromkeys(table["randomized down to"]))
    t = _rho(table, column, absolute)
    out = t.pivot_table(index="method", columns="randomized down to", values=column,
                        aggfunc="mean", sort=False)
    return out[steps]


def cascade_score(table, column: str = "spearman |map|", *, absolute: bool = False
                  ) -> "pd.Series":  # noqa: F821
    """One number per method: the mean correlation over the steps of the cascade (the trained
    model excluded), i.e. the area under Adebayo et al.'s Fig. 4 curve. A method that survives the
    randomization of the top layers scores high even if the very last steps destroy its map.
    ``absolute``: the mean of |rho| (``summary``)."""
    s = summary(table, column, absolute=absolute)
    return s.drop(columns="original").mean(axis=1).rename("mean rho over the cascade")


def cascade_scores(table, column: str = "spearman |map|", *, absolute: bool = False
                   ) -> "pd.DataFrame":  # noqa: F821
    """``cascade_score`` image by image: [images x methods], the mean correlation of each image's
    map over the steps of the cascade (the trained model excluded; a constant map counts as
    rho = 0; ``absolute``: the mean of |rho|). The items a bootstrap over images resamples:
    paired, since every method sees the same images and the same randomised networks."""
    t = _rho(table[table["randomized down to"] != "original"], column, absolute)
    out = t.pivot_table(index="image", columns="method", values=column, aggfunc="mean", sort=False)
    return out[list(dict.fromkeys(t["method"]))]


def plot_correlations(table, ax=None, column: str = "spearman |map|", title=None):
    """Adebayo et al.'s Fig. 4: the mean rank correlation with the trained model's maps after each
    step of the cascade, one line per method (shaded: +- one standard deviation over images)."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.2))
    steps = list(dict.fromkeys(table["randomized down to"]))
    table = table.assign(**{column: table[column].fillna(0.0)})     # constant maps: rho = 0
    colours = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors   # 18 distinct
    styles = [("-", "o"), ("--", "s"), (":", "^")]      # beyond ten methods: a new line style
    for j, (name, g) in enumerate(table.groupby("method", sort=False)):
        stat = g.groupby("randomized down to", sort=False)[column].agg(["mean", "std"]).loc[steps]
        xs = np.arange(len(steps))
        ls, marker = styles[(j // 10) % len(styles)]
        colour = colours[j % len(colours)]
        ax.plot(xs, stat["mean"], marker=marker, ls=ls, lw=2, color=colour, label=name)
        sd = stat["std"].fillna(0)
        ax.fill_between(xs, stat["mean"] - sd, stat["mean"] + sd, color=colour,
                        alpha=0.12)
    ax.set_xticks(np.arange(len(steps)), ["trained"] + [f"{s}" for s in steps[1:]], rotation=30,
                  ha="right")
    ax.axhline(0, color="gray", lw=0.8)
    ax.set(ylim=(-0.5, 1.05), xlabel="re-initialised from the top down to",
           ylabel=f"rank correlation ({column.split()[-1]})",
           title=title or "Cascading randomization: how much of the map survives?")
    ax.legend(fontsize="x-small", ncol=2, loc="lower left")
    return ax.figure


__all__ = ["spearman", "top_down_blocks", "reinitialise", "cascading_randomization",
           "randomization_test", "summary", "cascade_score", "cascade_scores",
           "plot_correlations"]
