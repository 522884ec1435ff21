"""The plotting used everywhere, readable on a projector.

Conventions: perceptually uniform colour maps (``viridis``/``magma``) for magnitudes, a diverging
map centred on zero (``RdBu_r``) for signed attributions, a colour bar on every heat map, and every
grid of images names the true and the predicted class.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import TwoSlopeNorm

from .data import CIFAR10_CLASSES

__all__ = [
    "MAGNITUDE_CMAP", "SIGNED_CMAP", "use_style", "to_numpy_image", "image_caption", "show_images",
    "heatmap_norm", "show_heatmap", "show_attributions", "plot_history", "show_image_pairs",
    "normalize_map", "reliability_diagram", "show_concept_set",
]

MAGNITUDE_CMAP = "magma"
SIGNED_CMAP = "RdBu_r"


def use_style() -> None:
    """Large fonts and a clean seaborn style for slides and projectors."""
    import seaborn as sns
    sns.set_theme(context="talk", style="white", font_scale=0.8)
    plt.rcParams.update({"figure.dpi": 90, "savefig.dpi": 110, "axes.titlesize": "medium",
                         "image.cmap": "viridis", "figure.constrained_layout.use": True})


def to_numpy_image(image) -> np.ndarray:
    """[3,H,W] or [H,W] tensor (uint8 or float in [0,1]) -> [H,W,3]/[H,W] float array for imshow."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        image = image.float() / 255.0 if image.dtype == torch.uint8 else image.float()
        image = image.numpy()
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and image.shape[0] in (1, 3):
        image = image.transpose(1, 2, 0)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    return np.clip(image, 0, 1)


def _grid(n: int, ncols: int | None, size: float):
    ncols = ncols or min(n, 8)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes.flat


def image_caption(i, labels, preds, classes):
    """The title of image ``i`` in a grid: "true: cat / pred: dog" (either part may be missing)."""
    parts = []
    if labels is not None:
        parts.append(f"true: {classes[int(labels[i])]}")
    if preds is not None:
        parts.append(f"pred: {classes[int(preds[i])]}")
    return "\n".join(parts)


def show_images(images, labels=None, preds=None, *, classes=CIFAR10_CLASSES, ncols=None,
                size=2.0, title=None, titles=None):
    """A grid of images [N,3,H,W] captioned with the true and predicted class (in red if wrong)."""
    fig, axes = _grid(len(images), ncols, size)
    for i, ax in zip(range(len(images)), axes):
        ax.imshow(to_numpy_image(images[i]), interpolation="nearest")
        ax.set_title(titles[i] if titles is not None else image_caption(i, labels, preds, classes),
                     fontsize="small",
                     color="crimson" if (preds is not None and labels is not None
                                         and int(preds[i]) != int(labels[i])) else "black")
    if title:
        fig.suptitle(title)
    return fig


def heatmap_norm(heat: np.ndarray, signed: bool):
    if not signed:
        return None
    bound = float(np.abs(heat).max()) or 1.0
    return TwoSlopeNorm(vcenter=0.0, vmin=-bound, vmax=bound)


def show_heatmap(ax, heat, image=None, *, signed=False, alpha=0.55, cmap=None, colorbar=True,
                 title=None, label=None, vmax=None):
    """Draw a heat map [H,W] on ``ax`` (over ``image`` when given), with a colour bar.

    Signed maps use a diverging colour map centred on zero; magnitudes a uniform one. ``vmax``
    fixes the top of the colour scale (a magnitude map's scale then runs from 0 to it), so that
    maps drawn side by side compare; by default each map spans its own range.
    """
    if isinstance(heat, torch.Tensor):
        heat = heat.detach().cpu().float().numpy()
    heat = np.asarray(heat)
    cmap = cmap or (SIGNED_CMAP if signed else MAGNITUDE_CMAP)
    extent = None
    if image is not None:
        img = to_numpy_image(image)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
        extent = (-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5)
    if vmax is not None and not signed:
        scale = {"vmin": 0.0, "vmax": float(vmax)}
    else:
        scale = {"norm": heatmap_norm(heat if vmax is None else np.array([vmax]), signed)}
    im = ax.imshow(heat, cmap=cmap, **scale,
                   alpha=alpha if image is not None else 1.0, extent=extent,
                   interpolation="bilinear" if image is not None else "nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize="small")
    if colorbar:
        cb = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        cb.ax.tick_params(labelsize="x-small")
        if label:
            cb.set_label(label, fontsize="x-small")
    return im


def show_attributions(images, maps, *, titles=None, signed=False, overlay=True, size=2.6,
                      row_titles=None, suptitle=None, label=None):
    """Rows of images, each followed by its maps: ``maps`` is a list of [N,H,W] tensors (one per
    method/column) and ``titles`` names the columns."""
    maps = [m if isinstance(m, (list, tuple)) or hasattr(m, "__len__") else [m] for m in maps]
    n, k = len(images), len(maps)
    fig, axes = plt.subplots(n, k + 1, figsize=(size * (k + 1.3), size * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(to_numpy_image(images[i]), interpolation="nearest")
        axes[i, 0].axis("off")
        if row_titles is not None:
            axes[i, 0].set_title(row_titles[i], fontsize="small")
        for j in range(k):
            show_heatmap(axes[i, j + 1], maps[j][i], images[i] if overlay else None, signed=signed,
                         title=titles[j] if (titles is not None and i == 0) else None, label=label)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_history(history, *, title=None, axes=None):
    """Learning curves (loss and accuracy per epoch) from a ``train.History`` or its dict."""
    h = history if isinstance(history, dict) else history.to_dict()
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    else:
        fig = axes[0].figure
    axes[0].plot(h["epoch"], h["train_loss"], "o-", label="train (training loss)")
    if h.get("test_loss"):
        axes[0].plot(h["epoch"], h["test_loss"], "s-", label="test NLL")
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
    axes[1].plot(h["epoch"], [100 * a for a in h["train_acc"]], "o-", label="train")
    if h.get("test_acc"):
        axes[1].plot(h["epoch"], [100 * a for a in h["test_acc"]], "s-", label="test")
    axes[1].set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in axes:
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def show_image_pairs(left, right, left_title, right_title, *, size=2.0, captions=None):
    """Two rows: images and, under each, its counterpart (e.g. patches and their
    reconstructions)."""
    n = len(left)
    fig, axes = plt.subplots(2, n, figsize=(size * n, 2 * size + 0.6), squeeze=False)
    for i in range(n):
        for row, imgs in enumerate((left, right)):
            axes[row, i].imshow(to_numpy_image(imgs[i]), interpolation="nearest")
            axes[row, i].axis("off")
        if captions is not None:
            axes[0, i].set_title(captions[i], fontsize="x-small")
    axes[0, 0].text(-0.15, 0.5, left_title, transform=axes[0, 0].transAxes, rotation=90,
                    va="center", ha="right", fontsize="small")
    axes[1, 0].text(-0.15, 0.5, right_title, transform=axes[1, 0].transAxes, rotation=90,
                    va="center", ha="right", fontsize="small")
    return fig


def normalize_map(m: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each map of [N,H,W] (or one [H,W]) to [0, 1] by its own min and max, for display."""
    flat = m.reshape(m.shape[0], -1) if m.dim() == 3 else m.reshape(1, -1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(eps)).reshape(m.shape)


# --------------------------------------------------------------------------------------------
# Reliability diagrams (Guo et al. 2017): the display of ``calibration.reliability_bins``
# --------------------------------------------------------------------------------------------
def reliability_diagram(bins, *, axes=None, title=None, show_histogram: bool = True):
    """Guo et al.'s Fig. 1 for one model, drawn from ``bins``, a ``calibration.ReliabilityBins``
    (computed apart, as scikit-learn's ``CalibrationDisplay`` draws ``calibration_curve``).

    Above, the share of samples per confidence bin with the accuracy and the average confidence
    marked; below, acc(B_m) per bin ("outputs") against the diagonal of perfect calibration, with
    the gap to conf(B_m) shaded and the ECE printed. ``axes``: two axes (or one when
    ``show_histogram=False``). Returns the figure.
    """
    n_axes = 2 if show_histogram else 1
    if axes is None:
        if show_histogram:
            fig, axes = plt.subplots(2, 1, figsize=(4.6, 6.4), height_ratios=(1, 2), sharex=True)
        else:
            fig, ax = plt.subplots(figsize=(4.6, 4.4))
            axes = [ax]
    axes = list(np.atleast_1d(axes))
    if len(axes) < n_axes:
        raise ValueError(f"reliability_diagram draws on {n_axes} axes (show_histogram="
                         f"{show_histogram}); got {len(axes)}.")
    fig = axes[0].figure
    n_bins = len(bins.count)
    left, width = bins.edges[:-1].numpy(), 1.0 / n_bins
    count = bins.count.numpy()
    filled = count > 0
    if show_histogram:
        ax = axes.pop(0)
        ax.bar(left, count / count.sum(), width=width, align="edge",
               color="tab:blue", edgecolor="black", linewidth=0.6)
        accuracy, avg_conf = bins.accuracy, bins.mean_confidence
        ax.axvline(accuracy, color="black", ls="--", label=f"accuracy {accuracy:.2f}")
        ax.axvline(avg_conf, color="crimson", ls=":", label=f"avg. confidence {avg_conf:.2f}")
        ax.set(ylabel="share of samples", xlim=(0, 1))
        ax.legend(fontsize="x-small", loc="upper left")
        if title:
            ax.set_title(title)
    ax = axes[0]
    acc = np.where(filled, bins.acc.numpy(), 0.0)
    conf = np.where(filled, bins.conf.numpy(), 0.0)
    ax.bar(left, acc, width=width, align="edge", color="tab:blue", edgecolor="black",
           linewidth=0.6, label="outputs: acc($B_m$)")
    # the gap to conf(B_m): overconfident bins (conf > acc) in red above the bar, underconfident
    # ones (conf < acc) in orange over the top of the bar; each in the legend only when present
    over = filled & (conf > acc)
    under = filled & (conf < acc)
    for mask, colour, what in ((over, "crimson", "overconfident"),
                               (under, "darkorange", "underconfident")):
        if mask.any():
            ax.bar(left[mask], (conf - acc)[mask], bottom=acc[mask], width=width, align="edge",
                   color=colour, alpha=0.3, edgecolor=colour, hatch="//", linewidth=0.6,
                   label=f"gap to conf($B_m$): {what}")
    ax.plot([0, 1], [0, 1], ls="--", color="gray", label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence $\\hat p$", ylabel="accuracy")
    ax.text(0.97, 0.05, f"ECE = {100 * bins.ece:.2f}%", ha="right", va="bottom",
            transform=ax.transAxes, fontsize="small",
            bbox=dict(facecolor="white", alpha=0.8, edgecolor="none"))
    ax.legend(fontsize="xx-small", loc="upper left", framealpha=0.85)
    if title and not show_histogram:
        ax.set_title(title)
    return fig


# --------------------------------------------------------------------------------------------
# The concept set of network dissection (``concepts.ConceptSet``) and its masks
# --------------------------------------------------------------------------------------------
def show_concept_set(cs, *, n: int = 6, size: float = 2.2):
    """Columns: scenes of a ``concepts.ConceptSet``; rows: the image, its object (and part)
    mask, its materials and its colour names (drawn in the prototype colours). Returns the
    figure."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    n = min(int(n), len(cs))
    if n < 1:
        raise ValueError("The concept set is empty: nothing to show.")
    fig, axes = plt.subplots(4, n, figsize=(size * n + 2.6, size * 4), squeeze=False)
    mats = cs.material_names
    mat_cmap = ListedColormap(plt.get_cmap("tab10").colors[:len(mats)])
    colors = cs.color_table
    col_rgb = np.array(list(colors.values()), np.uint8)
    for i in range(n):
        img = to_numpy_image(cs.images[i])
        axes[0, i].imshow(img)
        axes[0, i].set_title(f"object: {CIFAR10_CLASSES[int(cs.labels[i])]}", fontsize="small")
        part = cs.parts[i].numpy()
        obj = np.where(part < 0, 0.0, np.where(part % 2 == 0, 1.0, 0.6))
        axes[1, i].imshow(img)
        axes[1, i].imshow(obj, cmap="magma", alpha=0.6, vmin=0, vmax=1)
        mat = np.ma.masked_less(cs.materials[i].numpy(), 0)
        axes[2, i].imshow(mat, cmap=mat_cmap, vmin=-0.5, vmax=len(mats) - 0.5,
                          interpolation="nearest")
        axes[2, i].set_title(", ".join(mats[m] for m in np.unique(mat.compressed())),
                             fontsize="x-small")
        axes[3, i].imshow(col_rgb[cs.colors[i].long().numpy()], interpolation="nearest")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for r, label in enumerate(("scene x", "object, parts\n(top bright,\nbottom dim)",
                               "materials", "colour names")):
        axes[r, 0].set_ylabel(label, fontsize="small")
    axes[2, -1].legend(handles=[Patch(color=mat_cmap(j), label=m) for j, m in enumerate(mats)],
                       loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="x-small",
                       frameon=False)
    axes[3, -1].legend(handles=[Patch(facecolor=col_rgb[j] / 255, edgecolor="k", label=c)
                                for j, c in enumerate(colors)],
                       loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="x-small",
                       frameon=False, ncol=2)
    fig.suptitle("The concept set: each scene with its per-pixel masks s_c(x, p)")
    return fig
