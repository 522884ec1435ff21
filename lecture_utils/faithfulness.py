"""Faithfulness of an attribution map: the deletion and insertion games of Petsiuk et al. (2018).

RISE (Petsiuk, Das, Saenko, *RISE: Randomized Input Sampling for Explanation of Black-box Models*,
BMVC 2018, Sec. 4.1) measures a saliency map S of image I for class c by what the *model* does when
the pixels are removed or inserted in the order the map gives, most important first:

* **deletion**: start from I and replace the k most salient pixels by a substrate (black, in the
  paper); record f_c(I_k) for k = 0 .. HW. A faithful map makes the probability drop fast: a
  **low** area under the curve is good.
* **insertion**: start from a substrate (a blurred copy of I, in the paper) and put back the k most
  salient pixels of I; a faithful map makes the probability rise fast: a **high** area is good.

With n steps of HW / n pixels each, the curve is sampled at the fractions t_k = k / n and its area
is the trapezoidal rule on [0, 1]:

    AUC = (1/n) * ( f(t_0)/2 + f(t_1) + ... + f(t_{n-1}) + f(t_n)/2 ).

A map is reduced to one value per pixel as everywhere in the course (``maps.heatmap``:
max_c |.| for [N, C, H, W] attributions, bilinear upsampling for coarse maps). Ties (a sparse map
is zero on most pixels) are broken in a random order with a fixed seed, never in raster order,
which would give the top rows of the image an advantage.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .batching import resolve
from .hooks import eval_mode
from .maps import check_output, heatmap, input_mean, target_output
from .validate import as_batch, check_count, check_target, checked_outputs, to_device_of

__all__ = ["pixel_order", "gaussian_blur", "substrate", "auc", "perturbation_curves",
           "Faithfulness", "deletion_insertion", "table", "plot_curves", "MODES",
           "DEFAULT_SUBSTRATE"]

MODES = ("deletion", "insertion")
DEFAULT_SUBSTRATE = {"deletion": "black", "insertion": "blur"}     # Petsiuk et al.'s choices


# --------------------------------------------------------------------------------------------
# The order of the pixels, the substrate, the area
# --------------------------------------------------------------------------------------------
def pixel_order(saliency: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """The pixels of each map, most salient first: saliency [N, H, W] -> LongTensor [N, H*W] of
    flat indices. Ties are broken in a random order (fixed by ``seed``), not in raster order."""
    if saliency.dim() != 3:
        raise ValueError(f"saliency must be maps [N, H, W], got shape {tuple(saliency.shape)}.")
    s = saliency.detach().float().cpu().reshape(len(saliency), -1)
    if not torch.isfinite(s).all():
        raise ValueError("saliency contains NaN or inf; fix the method that made it.")
    g = torch.Generator().manual_seed(seed)
    perm = torch.stack([torch.randperm(s.shape[1], generator=g) for _ in range(len(s))])
    ranked = torch.argsort(-s.gather(1, perm), dim=1,
                           stable=True)   # stable: ties keep perm's order
    return perm.gather(1, ranked)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A separable Gaussian blur of images [N, C, H, W] (reflect padding, kernel radius 3 sigma)."""
    if sigma <= 0:
        return x.clone()
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    pad_h, pad_w = min(r, x.shape[2] - 1), min(r, x.shape[3] - 1)
    y = F.pad(x, (pad_w, pad_w, 0, 0), mode="reflect" if pad_w else "replicate")
    y = F.conv2d(y, k[r - pad_w:r + pad_w + 1].view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    y = F.pad(y, (0, 0, pad_h, pad_h), mode="reflect" if pad_h else "replicate")
    return F.conv2d(y, k[r - pad_h:r + pad_h + 1].view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def substrate(x: torch.Tensor, kind="black", *, model: nn.Module | None = None) -> torch.Tensor:
    """What removed pixels become, shaped like x [N, C, H, W]: ``"black"`` (zeros, RISE's
    deletion), ``"blur"`` (a Gaussian blur with sigma = W / 16, RISE's insertion uses a blurred
    copy), ``"mean"`` (the model's mean colour, ``maps.input_mean``), a number, or a tensor
    broadcastable to x."""
    if isinstance(kind, str):
        if kind == "black":
            return torch.zeros_like(x)
        if kind == "blur":
            return gaussian_blur(x, x.shape[-1] / 16)
        if kind == "mean":
            if model is None:
                raise ValueError("substrate 'mean' needs the model (its normalisation's mean).")
            return input_mean(model, x.shape[1]).to(x.device, x.dtype).expand_as(x).clone()
        raise ValueError(f"substrate must be 'black', 'blur', 'mean', a number or a tensor; "
                         f"got {kind!r}.")
    if isinstance(kind, (int, float)) and not isinstance(kind, bool):
        if not math.isfinite(kind):
            raise ValueError(f"substrate must be a finite number, got {kind}.")
        return torch.full_like(x, float(kind))
    if isinstance(kind, torch.Tensor):
        if not bool(torch.isfinite(kind).all()):
            raise ValueError("the substrate tensor holds NaN or inf.")
        return kind.to(x.device, x.dtype).expand_as(x).clone()
    raise TypeError(f"substrate must be a string, a number or a tensor, not {type(kind).__name__}.")


def auc(curves) -> np.ndarray:
    """Area under curves sampled at t_k = k/n, k = 0..n (the trapezoidal rule on [0, 1]):
    [N, n+1] -> [N] (or [n+1] -> a scalar array)."""
    c = np.asarray(curves.detach().cpu() if isinstance(curves, torch.Tensor) else curves, float)
    if c.shape[-1] < 2:
        raise ValueError("a curve needs at least two points (n >= 1 steps).")
    n = c.shape[-1] - 1
    return (c.sum(-1) - 0.5 * (c[..., 0] + c[..., -1])) / n


# --------------------------------------------------------------------------------------------
# The curves
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def perturbation_curves(model: nn.Module, x: torch.Tensor, target, saliency: torch.Tensor, *,
                        mode: str = "deletion", steps: int = 16, substrate_kind=None,
                        output: str = "probability", batch_size: int | None = None,
                        seed: int = 0) -> torch.Tensor:
    """The deletion or insertion curve of each image: f_c after k of ``steps`` steps, [N, steps+1]
    on x's device.

    x [N, C, H, W] (float in [0, 1] or uint8, any device); ``target`` an int or LongTensor [N];
    ``saliency``: the method's output for x, maps [N, h, w] or attributions [N, C, H, W] (reduced
    and upsampled by ``maps.heatmap``). Step k replaces (deletion) or restores (insertion) the
    round(k HW / steps) most salient pixels. ``substrate_kind`` defaults to RISE's: black for
    deletion, a blurred copy for insertion. ``output``: the softmax probability ('probability', as
    in RISE) or the logit. The (image, step) pairs go through the model in batches of
    ``batch_size`` (default ``batching.batch_size_for``).
    """
    home = x
    x = as_batch(x, model)
    if mode not in MODES:
        raise ValueError(f"mode must be 'deletion' or 'insertion', not {mode!r}.")
    steps = check_count(steps, "steps")
    check_output(output)
    n, c, h, w = x.shape
    if not isinstance(saliency, torch.Tensor):
        raise TypeError(f"saliency must be a tensor of maps [N, h, w], got "
                        f"{type(saliency).__name__}.")
    if len(saliency) != n:
        raise ValueError(f"saliency holds {len(saliency)} maps for {n} images: pass the method's "
                         "output for these very images.")
    device = x.device
    t = check_target(target, n).to(device)
    heat = heatmap(saliency, (h, w))
    order = pixel_order(heat, seed=seed).to(device)                               # [N, HW]
    counts = torch.tensor([round(k * h * w / steps) for k in range(steps + 1)], device=device)
    base = substrate(x, substrate_kind or DEFAULT_SUBSTRATE[mode], model=model)
    start, end = (x, base) if mode == "deletion" else (base, x)
    # rank[i, p]: the position of pixel p in image i's order; pixel p is switched at step k iff
    # rank < counts[k]. All (image, step) pairs are built and scored in batches.
    rank = torch.empty_like(order).scatter_(1, order,
                                            torch.arange(h * w, device=device).expand(n, -1))
    image = torch.arange(n, device=device).repeat_interleave(steps + 1)      # pair -> image
    step = torch.arange(steps + 1, device=device).repeat(n)                  # pair -> step
    batch_size = resolve(batch_size, model, x.shape)
    values = torch.empty(n * (steps + 1), device=device)
    with eval_mode(model), checked_outputs(model, t):
        for b in range(0, len(image), batch_size):
            idx, k = image[b:b + batch_size], step[b:b + batch_size]
            switched = (rank[idx] < counts[k][:, None]).reshape(-1, 1, h, w)
            xs = torch.where(switched, end[idx], start[idx])
            values[b:b + batch_size] = target_output(model(xs), t[idx], output).float()
    return to_device_of(values.reshape(n, steps + 1), home)


@dataclass
class Faithfulness:
    """Deletion and insertion curves [N, steps+1] of one method, and their areas."""

    name: str
    deletion: torch.Tensor
    insertion: torch.Tensor

    @property
    def deletion_auc(self) -> float:
        """Mean area under the deletion curves (lower is better)."""
        return float(auc(self.deletion).mean())

    @property
    def insertion_auc(self) -> float:
        """Mean area under the insertion curves (higher is better)."""
        return float(auc(self.insertion).mean())

    def summary(self) -> dict:
        return {"method": self.name, "deletion AUC": self.deletion_auc,
                "insertion AUC": self.insertion_auc,
                "insertion - deletion": self.insertion_auc - self.deletion_auc}


def deletion_insertion(model: nn.Module, x: torch.Tensor, target, saliency: torch.Tensor, *,
                       name: str = "", steps: int = 16, output: str = "probability",
                       batch_size: int | None = None, seed: int = 0) -> Faithfulness:
    """Both games for one method's maps (RISE's substrates); the curves on the CPU."""
    kw = dict(steps=steps, output=output, batch_size=batch_size, seed=seed)
    return Faithfulness(
        name, perturbation_curves(model, x, target, saliency, mode="deletion", **kw).cpu(),
        perturbation_curves(model, x, target, saliency, mode="insertion", **kw).cpu())


def table(results) -> "pd.DataFrame":  # noqa: F821
    """One row per ``Faithfulness`` result: deletion AUC (lower is better), insertion AUC (higher
    is better) and their difference."""
    import pandas as pd
    return pd.DataFrame([r.summary() for r in results]).set_index("method")


def plot_curves(results, ax=None, title=None):
    """Mean deletion and insertion curves of several methods on two axes. Returns the figure."""
    import matplotlib.pyplot as plt
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = np.atleast_1d(ax)
    colours = plt.get_cmap("tab20").colors
    for j, r in enumerate(results):
        for a, curves, kind in ((ax[0], r.deletion, "deletion"), (ax[1], r.insertion, "insertion")):
            t = np.linspace(0, 1, curves.shape[1])
            area = auc(curves).mean()
            a.plot(t, curves.mean(0).numpy(), color=colours[j % 20], lw=2,
                   label=f"{r.name} ({area:.2f})")
    for a, kind, better in ((ax[0], "deletion", "lower"), (ax[1], "insertion", "higher")):
        a.set(xlabel=f"fraction of pixels {'removed' if kind == 'deletion' else 'inserted'}",
              ylabel="probability of the class", xlim=(0, 1), ylim=(0, 1),
              title=f"{kind} (AUC in brackets, {better} is better)")
        a.legend(fontsize="xx-small", loc="upper right" if kind == "deletion" else "lower right")
    fig = ax[0].figure
    if title:
        fig.suptitle(title)
    return fig
