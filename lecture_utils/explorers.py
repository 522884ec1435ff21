"""Explorers: move a knob instead of reading a table (ipywidgets).

Each explorer is a thin layer over pure functions that compute what it shows and draw it; the
tests call those functions directly, and each explorer has a *static* counterpart, a figure of a
small grid of settings, for readers without a kernel (the book, the slides, nbval):

==============================  ===============================  ==================================
explorer                        what it computes                 static figure
==============================  ===============================  ==================================
``attribution_explorer``        ``attribution_maps``             ``attribution_grid``
(an image, a class: every method side by side)
``gradcam_layer_explorer``      ``grad_cam_layers``              ``gradcam_layer_grid``
``lime_explorer`` (K, width)    ``lime_fits``                    ``lime_grid``
``temperature_explorer`` (T)    ``calibration_at``, ``ece_curve``  ``temperature_grid``
``dissection_explorer`` (unit)  ``unit_view``                    ``unit_grid``
==============================  ===============================  ==================================

An explorer is built without a kernel too (``Explorer.render`` draws the figure for the current
values and keeps it in ``.figure``); in JupyterLab it displays its controls and the figure.
"""
from __future__ import annotations

from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch

from . import calibration, cam, dissection, lime, shapley
from .attribution import maps_for
from .data import CIFAR10_CLASSES
from .hooks import eval_mode
from .maps import upsample
from .representations import layer_activations
from .validate import as_batch, check_layer
from .viz import image_caption, reliability_diagram, show_heatmap, to_numpy_image


# --------------------------------------------------------------------------------------------
# The widget layer (kept thin)
# --------------------------------------------------------------------------------------------
def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:                                   # pragma: no cover
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


class Explorer:
    """Controls (ipywidgets, by name) and ``render(**values) -> matplotlib figure``.

    Every change of a control re-renders; ``figure`` is the last figure and ``renders`` counts
    them (the tests read both). ``widget`` is the box to display (a notebook displays the explorer
    itself). Without a kernel nothing is displayed, the figure is still made.
    """

    def __init__(self, render: Callable, controls: dict, title: str | None = None):
        import ipywidgets as widgets
        self.render_fn, self.controls = render, dict(controls)
        self.output = widgets.Output()
        self.figure, self.renders = None, 0
        for c in self.controls.values():
            c.observe(self._changed, names="value")
        head = [widgets.HTML(f"<b>{title}</b>")] if title else []
        self.widget = widgets.VBox(head + [widgets.HBox(list(self.controls.values())), self.output])
        self.render()

    @property
    def values(self) -> dict:
        return {name: c.value for name, c in self.controls.items()}

    def _changed(self, change=None):
        self.render()

    def render(self):
        """Draw the figure for the controls' current values (and show it in the output area)."""
        fig = self.render_fn(**self.values)
        if _in_kernel():
            # Set the output area's content directly (no ``with self.output:`` capture, whose
            # message routing can stall a headless executor such as nbclient).
            self.output.outputs = ()
            self.output.append_display_data(fig)
        plt.close(fig)
        self.figure, self.renders = fig, self.renders + 1
        return fig

    def set(self, **values):
        """Set controls by name (as a person moving them would); each change re-renders."""
        for name, v in values.items():
            if name not in self.controls:
                raise KeyError(f"no control {name!r}; the explorer has {list(self.controls)}.")
            self.controls[name].value = v
        return self

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)


def _options(classes, n):
    return [(f"{i}: {c}", i) for i, c in enumerate(classes[:n])]


@torch.no_grad()
def _predict(model, x):
    with eval_mode(model):
        return model(as_batch(x, model)).argmax(1).cpu()


def _compact(value, _pos=None) -> str:
    """Tick labels that carry their own exponent ("-4e-06"), so no offset label ("1e-6") sits
    above a colour bar or at the end of an axis, over a title or a neighbour."""
    return "0" if value == 0 else f"{value:.2g}"


def _heat(ax, heat, image, title, overlay=True):
    from matplotlib.ticker import FuncFormatter
    heat = heat.detach().cpu().float()
    signed = bool(heat.min() < 0)
    im = show_heatmap(ax, heat, image if overlay else None, signed=signed, title=title)
    if getattr(im, "colorbar", None) is not None:
        im.colorbar.formatter = FuncFormatter(_compact)
        im.colorbar.update_ticks()


# --------------------------------------------------------------------------------------------
# (a) Every attribution method side by side
# --------------------------------------------------------------------------------------------
def attribution_maps(model, image: torch.Tensor, target: int, methods: dict) -> dict:
    """{method name: map [H, W]} for one image [C, H, W] (uint8 or float, any device) and class
    ``target``, each on the image's device."""
    if not isinstance(image, torch.Tensor) or image.dim() != 3:
        raise ValueError(f"image must be one image [C, H, W], got shape "
                         f"{tuple(getattr(image, 'shape', ()))}.")
    maps = maps_for(model, image[None], int(target), methods)
    return {k: v[0] for k, v in maps.items()}


MAX_COLUMNS = 6          # at most about six panels in a row (NOTEBOOKS.md): a grid beyond that


def panel_grid(n: int, max_columns: int = MAX_COLUMNS) -> tuple[int, int]:
    """(rows, columns) for ``n`` panels: as few rows as ``max_columns`` allows, filled evenly
    (13 panels: 3 rows of 5, not 13 in one row)."""
    rows = max(1, -(-n // max_columns))
    return rows, -(-n // rows)


def plot_attribution_row(image, maps: dict, axes=None, title=None, overlay=True):
    """The image, then every map of ``maps`` over it (signed maps on a diverging colour map), in
    rows of at most ``MAX_COLUMNS`` panels."""
    if axes is None:
        rows, cols = panel_grid(len(maps) + 1)
        fig, grid = plt.subplots(rows, cols, figsize=(2.6 * cols + 0.6, 2.8 * rows + 0.1),
                                 squeeze=False)
        axes = list(grid.ravel())
    axes = list(axes)
    for ax in axes[len(maps) + 1:]:
        ax.set_visible(False)
    axes[0].imshow(to_numpy_image(image), interpolation="nearest")
    axes[0].axis("off")
    if title:
        axes[0].set_title(title, fontsize="small")
    for ax, (name, m) in zip(axes[1:], maps.items()):
        _heat(ax, m, image, name, overlay)
    return axes[0].figure


def attribution_grid(model, images, targets, methods: dict, labels=None, classes=CIFAR10_CLASSES,
                     overlay=True, suptitle=None):
    """Static figure: for each image (its true and predicted class) the image and one panel per
    method, each map computed for the image's ``targets`` class; at most ``MAX_COLUMNS`` panels
    in a row, so many methods wrap into a block of rows per image."""
    images = images if images.dim() == 4 else images[None]
    targets = torch.as_tensor(targets).reshape(-1).expand(len(images))
    preds = _predict(model, images)
    n, k = len(images), len(methods)
    rows, cols = panel_grid(k + 1)
    fig, axes = plt.subplots(n * rows, cols, figsize=(2.5 * cols + 0.6, 2.6 * rows * n + 0.4),
                             squeeze=False)
    for i in range(n):
        maps = attribution_maps(model, images[i], int(targets[i]), methods)
        cap = image_caption(i, labels, preds, classes)
        block = list(axes[i * rows:(i + 1) * rows].ravel())
        plot_attribution_row(images[i], maps, block, f"{cap}\nmap of: {classes[int(targets[i])]}",
                             overlay)
        if i > 0 and rows == 1:                  # one row per image: the columns are named once
            for ax in block[1:]:
                ax.set_title("")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def attribution_explorer(model, images, methods: dict, labels=None, classes=CIFAR10_CLASSES):
    """Pick an image and a class; see every method's map for that class side by side."""
    import ipywidgets as widgets
    preds = _predict(model, images)
    cache: dict = {}

    def render(image: int, target: int):
        key = (image, target)
        if key not in cache:
            cache[key] = attribution_maps(model, images[image], target, methods)
        cap = image_caption(image, labels, preds, classes)
        fig = plot_attribution_row(images[image], cache[key],
                                   title=f"{cap}\nmap of: {classes[target]}")
        return fig

    start = int(labels[0]) if labels is not None else int(preds[0])
    controls = {"image": widgets.Dropdown(options=[(f"image {i}", i) for i in range(len(images))],
                                          value=0, description="image"),
                "target": widgets.Dropdown(options=_options(classes, len(classes)), value=start,
                                           description="class")}
    return Explorer(render, controls, "Every attribution method, one image, one class")


# --------------------------------------------------------------------------------------------
# (b) The layer of Grad-CAM
# --------------------------------------------------------------------------------------------
def grad_cam_layers(model, images: torch.Tensor, target, layers) -> dict:
    """{layer: Grad-CAM map [N, H, W] upsampled to the images} for each of ``layers`` (the map's own
    resolution: ``native_resolution``). images [N, C, H, W] or one image [C, H, W] (uint8 or
    float, any device); the maps on the CPU."""
    x = images if images.dim() == 4 else images[None]
    out = {}
    for layer in layers:
        check_layer(model, layer)
        g = cam.grad_cam(model, x, target, layer=layer).cpu()
        out[layer] = upsample(g, x.shape[-2:])
    return out


def native_resolution(model, image: torch.Tensor, layer) -> tuple:
    """(h, w) of ``layer``'s Grad-CAM map for an image of this size."""
    x = image if image.dim() == 4 else image[None]
    return tuple(cam.grad_cam(model, x[:1], 0, layer=layer).shape[-2:])


def gradcam_layer_grid(model, images, targets, layers, labels=None, classes=CIFAR10_CLASSES,
                       suptitle=None):
    """Static figure: one row per image, one column per layer (Grad-CAM of the row's class)."""
    images = images if images.dim() == 4 else images[None]
    targets = torch.as_tensor(targets).reshape(-1).expand(len(images))
    preds = _predict(model, images)
    maps = grad_cam_layers(model, images, targets, layers)
    res = {layer: native_resolution(model, images[:1], layer) for layer in layers}
    n = len(images)
    fig, axes = plt.subplots(n, len(layers) + 1, figsize=(2.6 * (len(layers) + 1.3), 2.6 * n + 0.4),
                             squeeze=False)
    for i in range(n):
        cap = image_caption(i, labels, preds, classes)
        axes[i, 0].imshow(to_numpy_image(images[i]), interpolation="nearest")
        axes[i, 0].axis("off")
        axes[i, 0].set_title(f"{cap}\nmap of: {classes[int(targets[i])]}", fontsize="small")
        for j, layer in enumerate(layers):
            _heat(axes[i, j + 1], maps[layer][i], images[i],
                  f"{layer} ({res[layer][0]}x{res[layer][1]})" if i == 0 else None)
    fig.suptitle(suptitle or "Grad-CAM at each layer: deeper is coarser and more class-specific")
    return fig


def gradcam_layer_explorer(model, images, layers, labels=None, classes=CIFAR10_CLASSES):
    """Pick an image, a class and a layer; see Grad-CAM at that layer (and its resolution)."""
    import ipywidgets as widgets
    preds = _predict(model, images)

    def render(image: int, target: int, layer: str):
        m = grad_cam_layers(model, images[image], target, [layer])[layer][0]
        h, w = native_resolution(model, images[image], layer)
        fig, ax = plt.subplots(1, 2, figsize=(6.4, 3.1))
        cap = image_caption(image, labels, preds, classes)
        ax[0].imshow(to_numpy_image(images[image]), interpolation="nearest")
        ax[0].axis("off")
        ax[0].set_title(cap, fontsize="small")
        _heat(ax[1], m, images[image], f"Grad-CAM of {classes[target]}\n{layer}: {h}x{w} map")
        return fig

    start = int(labels[0]) if labels is not None else int(preds[0])
    controls = {"image": widgets.Dropdown(options=[(f"image {i}", i) for i in range(len(images))],
                                          value=0, description="image"),
                "target": widgets.Dropdown(options=_options(classes, len(classes)), value=start,
                                           description="class"),
                "layer": widgets.Dropdown(options=list(layers), value=list(layers)[-1],
                                          description="layer")}
    return Explorer(render, controls, "Grad-CAM: which layer?")


# --------------------------------------------------------------------------------------------
# (c) K and the kernel width of LIME
# --------------------------------------------------------------------------------------------
class _Memo:
    """A game that remembers its values: LIME refitted at another K or kernel width draws the same
    coalitions (same seed), so the model is evaluated once."""

    def __init__(self, game):
        self.game, self.cache = game, {}
        self.M = game.M

    def __call__(self, Z):
        key = Z.numpy().tobytes()
        if key not in self.cache:
            self.cache[key] = self.game(Z)
        return self.cache[key]


def lime_game(model, image, target: int, segments):
    """The image game LIME explains (superpixels hidden by their mean colour), memoised."""
    return _Memo(shapley.image_game(model, image, int(target), segments, baseline="mean"))


def lime_fits(game, Ks, widths, n_samples: int = 300, *, seed: int = 0) -> dict:
    """{(K, width): lime.Explanation} on one set of samples: LIME (``lime.explain``, cosine
    distance on z' as in the ``lime`` package) with K-LASSO's K and the kernel width sigma of
    pi_x(z) = exp(-D^2 / sigma^2). ``game``: from ``lime_game`` (so the model runs once)."""
    out = {}
    for K in Ks:
        for w in widths:
            if not w > 0:
                raise ValueError(f"the kernel width must be positive, got {w}.")
            out[(K, w)] = lime.explain(game, game.M, n_samples, seed=seed, distances="cosine",
                                       kernel_width=float(w), num_features=K)
    return out


def _lime_panel(ax, image, segments, e, title):
    m = shapley.paint(e.weights.float(), segments.cpu())
    _heat(ax, m, image, title)


def lime_grid(model, image, target: int, segments, Ks=(1, 3, 8), widths=(0.1, 0.35, 2.0),
              n_samples: int = 300, classes=CIFAR10_CLASSES, seed: int = 0):
    """Static figure: LIME's map for each K (columns) and kernel width (rows), with the weighted R^2
    of the fit. Small widths look only at samples close to x'; a large width is a global fit."""
    game = lime_game(model, image, target, segments)
    fits = lime_fits(game, Ks, widths, n_samples, seed=seed)
    fig, axes = plt.subplots(len(widths), len(Ks), figsize=(3.0 * len(Ks) + 0.6, 2.8 * len(widths)),
                             squeeze=False)
    for i, w in enumerate(widths):
        for j, K in enumerate(Ks):
            e = fits[(K, w)]
            _lime_panel(axes[i, j], image, segments, e, f"K={K}, width={w:g}\nR²={e.score:.2f}")
    fig.suptitle(f"LIME for '{classes[int(target)]}': K features (columns), kernel width (rows), "
                 f"{n_samples} samples")
    return fig


def lime_explorer(model, image, target: int, segments, n_samples: int = 300,
                  classes=CIFAR10_CLASSES, seed: int = 0):
    """Sliders for K and the kernel width; the model runs once (the samples are reused)."""
    import ipywidgets as widgets
    game = lime_game(model, image, target, segments)
    M = game.M

    def render(K: int, width: float):
        from matplotlib.ticker import FuncFormatter
        e = lime_fits(game, [K], [width], n_samples, seed=seed)[(K, width)]
        fig, ax = plt.subplots(1, 3, figsize=(11.5, 3.6), layout="constrained",
                               gridspec_kw={"width_ratios": [1, 1.15, 1.25]})
        ax[0].imshow(to_numpy_image(image), interpolation="nearest")
        ax[0].axis("off")
        ax[0].set_title(f"{M} superpixels", fontsize="small")
        # the width as the slider shows it (FloatLogSlider's readout format, .3g)
        _lime_panel(ax[1], image, segments, e, f"weights, K={K}, width={width:.3g}")
        w = e.weights.numpy()
        order = np.argsort(-np.abs(w))[:max(K, 1)][::-1]
        ax[2].barh(range(len(order)), w[order],
                   color=["tab:red" if v < 0 else "tab:blue" for v in w[order]])
        ax[2].set_yticks(range(len(order)), [f"superpixel {k}" for k in order],
                         fontsize="x-small")
        ax[2].xaxis.set_major_formatter(FuncFormatter(_compact))
        ax[2].tick_params(axis="x", labelsize="x-small")
        ax[2].set(xlabel="weight", title=f"weighted R² = {e.score:.2f}")
        fig.suptitle(f"LIME for '{classes[int(target)]}'")
        return fig

    controls = {"K": widgets.IntSlider(value=min(5, M), min=1, max=M, description="K"),
                # a value on the slider's grid (10^-0.45 = 0.355), so that the slider and the
                # title show the same number with or without a browser snapping it
                "width": widgets.FloatLogSlider(value=10 ** -0.45, base=10, min=-1.5, max=1,
                                                step=0.05, description="width")}
    return Explorer(render, controls, "LIME: how many features, how local?")


# --------------------------------------------------------------------------------------------
# (d) The temperature of calibration
# --------------------------------------------------------------------------------------------
def calibration_at(logits, labels, T: float, n_bins: int = 15) -> dict:
    """ECE, MCE, NLL, error and mean confidence of softmax(z / T)."""
    p = calibration.softmax(logits, T)
    return {"T": float(T),
            "ECE": calibration.expected_calibration_error(p, labels, n_bins),
            "MCE": calibration.maximum_calibration_error(p, labels, n_bins),
            "NLL": calibration.negative_log_likelihood(p, labels),
            "error": calibration.error_rate(p, labels),
            "confidence": float(p.max(1).values.mean())}


def ece_curve(logits, labels, temperatures, n_bins: int = 15):
    """One row of ``calibration_at`` per temperature: a pandas DataFrame indexed by T."""
    import pandas as pd
    return pd.DataFrame([calibration_at(logits, labels, T, n_bins)
                         for T in temperatures]).set_index("T")


def _ts(lo=0.25, hi=8.0, n=41):
    return np.geomspace(lo, hi, n)


def _temperature_axis(ax, temperatures):
    """A log axis for T labelled at powers of two (0.25, 0.5, 1, 2, 4, 8) and nothing else:
    matplotlib's default minor labels overprint on a range of a few octaves ("3x10^-1 4x10^-1")."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator
    lo, hi = float(np.min(temperatures)), float(np.max(temperatures))
    ticks = [2.0 ** k for k in range(int(np.floor(np.log2(lo))), int(np.ceil(np.log2(hi))) + 1)
             if lo * 0.999 <= 2.0 ** k <= hi * 1.001]
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda t, _: f"{t:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_temperature(logits, labels, T: float, n_bins: int = 15, curve=None, T_star=None,
                     axes=None):
    """The reliability diagram of softmax(z / T) beside ECE and NLL as functions of T (log axis),
    with T and the fitted T* (``calibration.fit_temperature``) marked."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    curve = curve if curve is not None else ece_curve(logits, labels, _ts(), n_bins)
    reliability_diagram(_bins(logits, labels, T, n_bins), axes=[axes[0]], show_histogram=False,
                        title=f"T = {T:.2f}")
    ax = axes[1]
    ax.plot(curve.index, 100 * curve["ECE"], color="tab:blue", lw=2, label="ECE (%)")
    ax.set(xlabel="temperature T", ylabel="ECE (%)", title="ECE and NLL against T")
    _temperature_axis(ax, curve.index)
    ax2 = ax.twinx()
    ax2.plot(curve.index, curve["NLL"], color="tab:orange", lw=2, ls="--", label="NLL")
    ax2.set_ylabel("NLL")
    ax.axvline(T, color="black", lw=1, label=f"T = {T:.2f}")
    if T_star is not None:
        ax.axvline(T_star, color="crimson", lw=1, ls=":", label=f"T* = {T_star:.2f} (min. NLL)")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize="x-small", loc="upper center")
    return axes[0].figure


def _bins(logits, labels, T: float, n_bins: int):
    return calibration.reliability_bins(calibration.softmax(logits, T), labels, n_bins)


def temperature_grid(logits, labels, temperatures=(0.5, 1.0, None, 4.0), n_bins: int = 15,
                     T_star=None):
    """Static figure: reliability diagrams at a few temperatures (``None``: the fitted T*) and the
    ECE-against-T curve."""
    T_star = T_star if T_star is not None else calibration.fit_temperature(logits, labels)
    Ts = [T_star if T is None else T for T in temperatures]
    curve = ece_curve(logits, labels, _ts(), n_bins)
    # at most three panels per row (about 10 inches wide: a slide's width)
    n = len(Ts) + 1
    cols = min(3, n)
    rows = -(-n // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(10, 3.4 * rows), squeeze=False,
                             layout="constrained")
    axes = grid.ravel()
    for ax in axes[n:]:
        ax.axis("off")
    for i, (ax, T) in enumerate(zip(axes, Ts)):
        reliability_diagram(_bins(logits, labels, T, n_bins), axes=[ax], show_histogram=False,
                            title=f"T = {T:.2f}" + (" (T*)" if T == T_star else ""))
        if i % cols:
            ax.set_ylabel("")
        if i:
            legend = ax.get_legend()
            if legend is not None:
                legend.remove()
        else:
            ax.legend(fontsize="xx-small", loc="upper left")
    ax = axes[n - 1]
    ax.plot(curve.index, 100 * curve["ECE"], lw=2)
    ax.axvline(T_star, color="crimson", ls=":", label=f"T* = {T_star:.2f}")
    ax.set(xlabel="temperature T", ylabel="ECE (%)", title="ECE against T")
    _temperature_axis(ax, curve.index)
    ax.legend(fontsize="x-small")
    return fig


def temperature_explorer(logits, labels, n_bins: int = 15):
    """A slider for T: the reliability diagram of softmax(z / T) and where T sits on the ECE
    curve."""
    import ipywidgets as widgets
    T_star = calibration.fit_temperature(logits, labels)
    curve = ece_curve(logits, labels, _ts(), n_bins)

    def render(T: float):
        return plot_temperature(logits, labels, T, n_bins, curve, T_star)

    controls = {"T": widgets.FloatLogSlider(value=1.0, base=2, min=-2, max=3, step=0.05,
                                            description="T")}
    return Explorer(render, controls, "Temperature scaling: move T")


# --------------------------------------------------------------------------------------------
# (e) The unit for dissection
# --------------------------------------------------------------------------------------------
def _uint8(images):
    if images.dtype == torch.uint8:
        return images
    return (images.float().clamp(0, 1) * 255).round().to(torch.uint8)


def unit_view(acts: torch.Tensor, thresholds: torch.Tensor, images: torch.Tensor, unit: int,
              k: int = 6):
    """The ``k`` images on which ``unit`` fires most, with everything outside its activation region
    {a_u > t_u} darkened (Bau et al.'s figures): ``(indices [k], images uint8 [k, 3, H, W],
    regions bool [k, H, W])``. acts [N, U, h, w] of one layer on ``images`` [N, 3, H, W]."""
    if acts.dim() != 4:
        raise ValueError(f"acts must be feature maps [N, U, h, w], got {tuple(acts.shape)}.")
    if not 0 <= unit < acts.shape[1]:
        raise ValueError(f"unit must be in 0..{acts.shape[1] - 1}, got {unit}.")
    idx = dissection.top_images(acts, unit, k)
    a = acts[idx, unit:unit + 1]
    regions = dissection.activation_regions(a, thresholds[unit:unit + 1], images.shape[-2:])[:, 0]
    return idx, dissection.highlight_region(_uint8(images[idx]), regions), regions


def _unit_title(unit, result):
    if result is None:
        return f"unit {unit}"
    value, best = result.best
    cat, name = result.concepts[int(best[unit])]
    return f"unit {unit}: {name} ({cat}), IoU {float(value[unit]):.3f}"


def plot_unit(acts, thresholds, images, unit: int, k: int = 6, result=None, axes=None):
    """One row: the unit's top-k images with their activation regions; its best concept and IoU
    in the title when a ``dissection.LayerDissection`` is given."""
    idx, shown, _ = unit_view(acts, thresholds, images, unit, k)
    if axes is None:
        fig, axes = plt.subplots(1, len(idx), figsize=(2.1 * len(idx), 2.6), squeeze=False)
        axes = axes[0]
    for ax, i, img in zip(axes, idx.tolist(), shown):
        ax.imshow(to_numpy_image(img), interpolation="nearest")
        ax.set_title(f"#{i}: max {float(acts[i, unit].max()):.2f}", fontsize="x-small")
        ax.axis("off")
    axes[0].figure.suptitle(_unit_title(unit, result), fontsize="medium")
    return axes[0].figure


def unit_grid(acts, thresholds, images, units, k: int = 6, result=None):
    """Static figure: one row per unit of ``units``."""
    fig = plt.figure(figsize=(min(10.0, 1.7 * k), 2.0 * len(units)), layout="constrained")
    for sub, u in zip(fig.subfigures(len(units), 1, squeeze=False)[:, 0], units):
        row = sub.subplots(1, k, squeeze=False)[0]
        plot_unit(acts, thresholds, images, u, k, None, row)
        sub.suptitle(_unit_title(u, result), fontsize="small")   # one title per row, centred
    fig.suptitle("Top images of each unit, outside its activation region darkened")
    return fig


def layer_units(model, layer, images, quantile: float = 0.01, result=None, batch_size: int = 256):
    """(acts [N, U, h, w], thresholds [U]) of ``layer`` on ``images``: the thresholds t_u of
    ``result`` (a ``LayerDissection``) when given, else the top-``quantile`` of these images."""
    acts = layer_activations(model, images, layer, batch_size=batch_size)
    t = result.thresholds if result is not None else dissection.unit_thresholds(acts, quantile)
    return acts, t


def dissection_explorer(model, layer, images, result=None, k: int = 6, acts=None, thresholds=None):
    """A slider for the unit of ``layer``: its top images, its activation regions and (with a
    ``LayerDissection`` ``result``) its concept label and IoU."""
    import ipywidgets as widgets
    if acts is None or thresholds is None:
        acts, thresholds = layer_units(model, layer, images, result=result)
    order = None
    if result is not None:
        order = torch.argsort(-result.best[0]).tolist()

    def render(unit: int):
        return plot_unit(acts, thresholds, images, unit, k, result)

    controls = {"unit": (widgets.Dropdown(options=[(_unit_title(u, result), u) for u in order],
                                          value=order[0], description="unit",
                                          layout=widgets.Layout(width="28em"))
                         if order else
                         widgets.IntSlider(value=0, min=0, max=acts.shape[1] - 1,
                                           description="unit"))}
    return Explorer(render, controls, f"Dissection of {layer}: pick a unit")


__all__ = ["Explorer", "MAX_COLUMNS", "panel_grid", "attribution_maps", "plot_attribution_row",
           "attribution_grid",
           "attribution_explorer", "grad_cam_layers", "native_resolution", "gradcam_layer_grid",
           "gradcam_layer_explorer", "lime_game", "lime_fits", "lime_grid", "lime_explorer",
           "calibration_at", "ece_curve", "plot_temperature", "temperature_grid",
           "temperature_explorer", "unit_view", "plot_unit", "unit_grid", "layer_units",
           "dissection_explorer"]
