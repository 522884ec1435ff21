"""Scoring attribution maps on the course's localization benchmark (``lecture_utils.canvas``).

Every attribution method of the course fits one interface, captum's call shape:

    method(model, x, target) -> maps [N, h, w]  or  attributions [N, C, H, W]

``heatmap`` reduces the second kind over channels by max_c |.| (Simonyan et al., Sec. 3) and
upsamples either kind bilinearly to the canvas. ``evaluate_method`` (``heatmaps`` and
``correct_predictions``, then ``score``) scores the maps of the *true* class against the pasted
image's box and mask with three metrics; ``benchmark`` does so for a dict of methods:

* **Localization error** (Zhou et al., Sec. 3.1): the map is thresholded at 20% of its maximum, the
  largest 8-connected component of what is left gives the predicted box, and it is correct when its
  IoU with the true box is >= 0.5. Two variants, as in the weakly supervised localization
  literature: *GT-known* (the box alone must be right) and *top-1* (the predicted class must be
  right as well; the map of the predicted class is then the map of the true class, so one map per
  image serves both).
* **Pointing game** (Zhang et al., 2016): a hit when the map's maximum falls inside the object's
  mask (ties: their centroid; no tolerance margin, since our masks are exact).
* **Energy in the box** (Wang et al., 2020, Score-CAM): the share of the map's positive mass that
  lies inside the box.

Public API (stable: notebooks 02, 03, 05, 07, the capstone and other modules of the course call
these names; extend them, never rename them):

* ``benchmark_canvases(split, n, size)`` -> ``CanvasSet`` (images, labels, boxes, masks): the data;
* ``benchmark(methods, model, canvases)`` -> ``(table, {name: LocalizationResult})``: the table;
* ``evaluate_method(method, model, canvases, name=..., correct=...)`` -> ``LocalizationResult``;
* ``heatmaps``, ``correct_predictions`` and ``score``: the same in three steps (score one set of
  maps at several thresholds without recomputing them);
* the metrics ``heatmap``, ``box_from_map``, ``box_iou``, ``pointing_game``, ``energy_in_box``;
* methods in the benchmark's call shape: ``course_methods``, and the baselines ``random_map``,
  ``center_map``; constants ``CANVAS_SIZE``, ``N_TEST``, ``THRESHOLD``, ``IOU_THRESHOLD``, ``SEEDS``.

A map with no positive value points nowhere: it gets an empty box, a miss and zero energy (the
``empty`` column counts such maps). Signed maps (CAM) are thresholded as they are; their negative
part never reaches 20% of a positive maximum.
"""
from __future__ import annotations

import hashlib
import inspect
import time
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from scipy import ndimage

from . import backprop, cam
from . import canvas as canvas_module
from .canvas import CanvasSet, make_canvases
from .config import cache_dir
from .data import cifar10_source, load_cifar10, to_float
from .hooks import eval_mode
from .io import atomic_write
from .validate import model_device

__all__ = ["CANVAS_SIZE", "IOU_THRESHOLD", "N_TEST", "SEEDS", "THRESHOLD", "LocalizationResult",
           "benchmark", "benchmark_canvases", "box_from_map", "box_iou", "center_map",
           "correct_predictions", "course_methods", "energy_in_box", "evaluate_method", "heatmap",
           "heatmaps", "pointing_game", "random_map", "score"]

CANVAS_SIZE = 64
SEEDS = {"train": 1, "test": 2}      # the benchmark's canvases; never change them
N_TEST = 2000                        # test canvases (from CIFAR-10 test images)
THRESHOLD = 0.2                      # of the map's maximum (Zhou et al.)
IOU_THRESHOLD = 0.5


def benchmark_canvases(split: str = "test", n: int | None = None, size: int = CANVAS_SIZE) -> CanvasSet:
    """The benchmark's canvases: CIFAR-10 images of ``split`` pasted (scaled 1x to 1.5x) on
    ``size`` x ``size`` texture or CIFAR backgrounds, with a fixed seed per split.

    ``n`` defaults to ``N_TEST`` for the test split and to 50,000 for the training split; a
    different ``n`` gives a different draw (not a prefix): slice the set instead (``cs[:100]``).
    """
    if split not in SEEDS:
        raise ValueError(f"split must be one of {tuple(SEEDS)}, not {split!r}.")
    images, labels = load_cifar10(split)
    n = n or (N_TEST if split == "test" else len(labels))
    if split != "test":
        return make_canvases(images, labels, n, size=size, background="mixed", seed=SEEDS[split])
    # The test canvases serve several notebooks: cache them, keyed by everything they depend on
    # (the generator's source included, so that a change to it is never masked by the cache).
    key = hashlib.sha256(f"{split}-{n}-{size}-{SEEDS[split]}-{cifar10_source()}".encode() +
                         inspect.getsource(canvas_module).encode()).hexdigest()[:16]
    path = cache_dir() / "canvases" / f"{split}-{n}-{size}-{key}.pt"
    if path.exists():
        try:
            d = torch.load(path, weights_only=True)
            return CanvasSet(d["images"], d["labels"], d["boxes"], _masks(d["boxes"], size),
                             d["source"], d["background"])
        except Exception:           # unreadable: build it again
            pass
    cs = make_canvases(images, labels, n, size=size, background="mixed", seed=SEEDS[split])
    atomic_write(path, lambda tmp: torch.save({k: getattr(cs, k) for k in (
        "images", "labels", "boxes", "source", "background")}, tmp))
    return cs


def _masks(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """bool [N, S, S]: True inside each box (x0, y0, x1, y1; x1, y1 exclusive)."""
    r = torch.arange(size)
    inside_y = (r >= boxes[:, 1, None]) & (r < boxes[:, 3, None])       # [N, S]
    inside_x = (r >= boxes[:, 0, None]) & (r < boxes[:, 2, None])
    return inside_y[:, :, None] & inside_x[:, None, :]


# --------------------------------------------------------------------------------------------
# The metrics, one image or a batch at a time
# --------------------------------------------------------------------------------------------
def heatmap(attribution: torch.Tensor, size) -> torch.Tensor:
    """A method's output as one map per image at the canvas size: [N, h, w] maps are upsampled;
    [N, C, H, W] attributions are first reduced by max_c |.| (Simonyan et al.'s saliency)."""
    a = attribution.detach().float()
    if a.dim() == 4:
        a = a.abs().amax(dim=1)
    if a.dim() != 3:
        raise ValueError(f"A method must return maps [N, h, w] or attributions [N, C, H, W]; got "
                         f"shape {tuple(attribution.shape)}.")
    size = (size, size) if isinstance(size, int) else tuple(size)
    return a if tuple(a.shape[-2:]) == size else cam.upsample(a, size)


def box_from_map(heat, threshold: float = THRESHOLD) -> np.ndarray:
    """The CAM paper's box (Zhou et al., Sec. 3.1): keep the pixels >= ``threshold`` x max, take the
    largest 8-connected component, return its bounding box (x0, y0, x1, y1), x1 and y1 exclusive.
    A map with no positive value gives the empty box (0, 0, 0, 0)."""
    m = heat.detach().cpu().double().numpy() if isinstance(heat, torch.Tensor) else np.asarray(heat, float)
    if m.ndim != 2:
        raise ValueError(f"box_from_map takes one map [H, W], got shape {m.shape}.")
    peak = m.max()
    if not np.isfinite(peak) or peak <= 0:
        return np.zeros(4, dtype=np.int64)
    labels, n = ndimage.label(m >= threshold * peak, structure=np.ones((3, 3), dtype=int))
    largest = 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    ys, xs = np.nonzero(labels == largest)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.int64)


def box_iou(a, b) -> np.ndarray:
    """Intersection over union of boxes [N, 4] (x0, y0, x1, y1; x1, y1 exclusive): [N]."""
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    w = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = w * h
    area = lambda r: (r[:, 2] - r[:, 0]).clip(0) * (r[:, 3] - r[:, 1]).clip(0)  # noqa: E731
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def pointing_game(heat: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Zhang et al.'s pointing game: does each map's maximum fall inside its mask? heat [N, H, W],
    masks bool [N, H, W] -> bool [N]. Ties point at their centroid; maps with no positive value miss."""
    n, h, w = heat.shape
    flat = heat.reshape(n, -1).float()
    peak = flat.max(dim=1, keepdim=True).values
    at_max = (flat == peak).float()
    idx = torch.arange(h * w, device=heat.device)
    y = ((at_max * (idx // w)).sum(1) / at_max.sum(1)).round().long()
    x = ((at_max * (idx % w)).sum(1) / at_max.sum(1)).round().long()
    hit = masks.to(heat.device)[torch.arange(n, device=heat.device), y, x]
    return hit & (peak[:, 0] > 0)


def energy_in_box(heat: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """sum_{inside} max(m, 0) / sum max(m, 0) per map (Score-CAM's energy-based pointing game):
    heat [N, H, W], masks bool [N, H, W] -> [N] in [0, 1] (0 for maps with no positive value)."""
    pos = heat.float().clamp(min=0).reshape(len(heat), -1)
    inside = (pos * masks.to(pos.device).reshape(len(heat), -1)).sum(1)
    total = pos.sum(1)
    return torch.where(total > 0, inside / total.clamp_min(1e-30), torch.zeros_like(total))


# --------------------------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------------------------
@dataclass
class LocalizationResult:
    """Per-canvas results of one method; the properties are the benchmark's numbers."""

    name: str
    boxes: np.ndarray          # [N, 4] predicted boxes
    iou: np.ndarray            # [N] IoU with the true box
    hit: np.ndarray            # [N] pointing game
    energy: np.ndarray         # [N] energy in the box
    correct: np.ndarray        # [N] predicted class == true class
    empty: np.ndarray          # [N] the map had no positive value
    seconds: float
    iou_threshold: float = IOU_THRESHOLD

    @property
    def top1_loc_error(self) -> float:
        """Zhou et al.'s top-1 localization error: wrong class or IoU < 0.5."""
        return 1.0 - float(np.mean(self.correct & (self.iou >= self.iou_threshold)))

    @property
    def gt_known_loc_error(self) -> float:
        """Localization error given the true class: IoU < 0.5."""
        return 1.0 - float(np.mean(self.iou >= self.iou_threshold))

    @property
    def pointing_accuracy(self) -> float:
        return float(np.mean(self.hit))

    @property
    def mean_energy(self) -> float:
        return float(np.mean(self.energy))

    def summary(self) -> dict:
        """The row of the benchmark table, in percent."""
        return {"method": self.name,
                "top-1 loc. error (%)": 100 * self.top1_loc_error,
                "GT-known loc. error (%)": 100 * self.gt_known_loc_error,
                "pointing game (%)": 100 * self.pointing_accuracy,
                "energy in box (%)": 100 * self.mean_energy,
                "mean IoU": float(np.mean(self.iou)),
                "empty maps (%)": 100 * float(np.mean(self.empty)),
                "seconds": self.seconds}


def heatmaps(method, model, canvases: CanvasSet, batch_size: int = 250, device=None) -> torch.Tensor:
    """Run ``method(model, x, target)`` on ``canvases`` for each canvas's true class, batch by batch:
    the maps reduced and upsampled by ``heatmap``, [N, S, S] on the CPU."""
    device = torch.device(device) if device else model_device(model)
    size = canvases.images.shape[-2:]
    heat = []
    with eval_mode(model):
        for i in range(0, len(canvases), batch_size):
            x = to_float(canvases.images[i:i + batch_size]).to(device)
            y = canvases.labels[i:i + batch_size].to(device)
            heat.append(heatmap(method(model, x, y), size).cpu())
    return torch.cat(heat)


@torch.no_grad()
def correct_predictions(model, canvases: CanvasSet, batch_size: int = 250, device=None) -> np.ndarray:
    """bool [N]: is the model's top-1 class the canvas's true class? (for the top-1 error)"""
    device = torch.device(device) if device else model_device(model)
    with eval_mode(model):
        preds = [model(to_float(canvases.images[i:i + batch_size]).to(device)).argmax(1).cpu()
                 for i in range(0, len(canvases), batch_size)]
    return (torch.cat(preds) == canvases.labels).numpy()


def score(heat: torch.Tensor, canvases: CanvasSet, correct, name: str = "",
          threshold: float = THRESHOLD, iou_threshold: float = IOU_THRESHOLD,
          seconds: float = float("nan")) -> LocalizationResult:
    """The three metrics of maps ``heat`` [N, S, S] against the canvases' boxes and masks."""
    boxes = np.stack([box_from_map(h, threshold) for h in heat])
    return LocalizationResult(
        name=name, boxes=boxes, iou=box_iou(boxes, canvases.boxes.numpy()),
        hit=pointing_game(heat, canvases.masks).numpy(),
        energy=energy_in_box(heat, canvases.masks).numpy(),
        correct=np.asarray(correct, dtype=bool),
        empty=(heat.reshape(len(heat), -1).max(1).values <= 0).numpy(),
        seconds=seconds, iou_threshold=iou_threshold)


def evaluate_method(method, model, canvases: CanvasSet, name: str | None = None,
                    batch_size: int = 250, threshold: float = THRESHOLD,
                    iou_threshold: float = IOU_THRESHOLD, device=None,
                    correct=None) -> LocalizationResult:
    """Score ``method(model, x, target)`` on ``canvases``: the maps of the true class, reduced and
    upsampled to the canvas by ``heatmap``, against the pasted image's box and mask.
    ``correct`` (from ``correct_predictions``) is computed when not given; ``seconds`` is the time
    the method took to make its maps."""
    if correct is None:
        correct = correct_predictions(model, canvases, batch_size, device)
    start = time.perf_counter()
    heat = heatmaps(method, model, canvases, batch_size, device)
    seconds = time.perf_counter() - start
    return score(heat, canvases, correct,
                 name or getattr(getattr(method, "func", method), "__name__", type(method).__name__),
                 threshold, iou_threshold, seconds)


def benchmark(methods: dict, model, canvases: CanvasSet, **kwargs):
    """``{name: method}`` -> a pandas DataFrame, one row per method (see ``LocalizationResult``),
    and the results themselves: ``(table, {name: LocalizationResult})``."""
    import pandas as pd
    correct = correct_predictions(model, canvases, kwargs.get("batch_size", 250),
                                  kwargs.get("device"))
    results = {name: evaluate_method(m, model, canvases, name=name, correct=correct, **kwargs)
               for name, m in methods.items()}
    table = pd.DataFrame([r.summary() for r in results.values()]).set_index("method")
    return table, results


# --------------------------------------------------------------------------------------------
# Methods: baselines, and the course's methods in the benchmark's call shape
# --------------------------------------------------------------------------------------------
def random_map(resolution: int | None = None, seed: int = 0):
    """A baseline method: uniform noise [N, r, r] from its own generator, at the input's resolution
    by default. (A coarser map, once upsampled bilinearly, peaks on the border more often than
    inside, since only border cells keep their value exactly: a biased pointing game.)"""
    g = torch.Generator().manual_seed(seed)

    def random_map(model, x, target):
        r = resolution or x.shape[-1]
        return torch.rand(len(x), r, r, generator=g)
    return random_map


def center_map(side: int, size: int = CANVAS_SIZE):
    """A baseline method that ignores the image: 1 on the centred ``side`` x ``side`` square, else 0
    (its box is that square, its pointing-game point the canvas centre)."""
    def center_map(model, x, target):
        m = torch.zeros(len(x), size, size)
        lo = (size - side) // 2
        m[:, lo:lo + side, lo:lo + side] = 1.0
        return m
    return center_map


def course_methods(layer="layer3", fc="fc", guided=True) -> dict:
    """The methods of notebook 7's table for a GAP network (``layer``, ``fc`` name its last conv
    block and its linear head): CAM, Grad-CAM, guided Grad-CAM, saliency, guided backprop, random."""
    methods = {"CAM": partial(cam.class_activation_map, layer=layer, fc=fc),
               "Grad-CAM": partial(cam.grad_cam, layer=layer),
               "guided Grad-CAM": partial(cam.guided_grad_cam, layer=layer),
               "saliency": backprop.saliency_map,
               "guided backprop": partial(backprop.input_gradient, rule="guided"),
               "random map": random_map()}
    if not guided:
        methods = {k: v for k, v in methods.items() if "guided" not in k}
    if fc is None:
        methods.pop("CAM")
    return methods
