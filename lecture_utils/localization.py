"""Scoring attribution maps on the course's localization benchmark (``lecture_utils.canvas``).

Every attribution method of the course fits one call contract (``lecture_utils.attribution``):

    method(model, x, target) -> maps [N, h, w]  or  attributions [N, C, H, W]

``maps.heatmap`` reduces the second kind over channels by max_c |.| (Simonyan et al., Sec. 3) and
upsamples either kind bilinearly to the canvas. ``evaluate_method`` (``heatmaps`` and
``correct_predictions``, then ``score``) scores the maps of the *true* class against the pasted
image's box and mask with three metrics; ``benchmark`` does so for a dict of methods (e.g.
``attribution.course_methods(...)``):

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

Public API (model first, then the canvases, then the method):

* ``benchmark(model, canvases, methods)`` -> ``(table, {name: LocalizationResult})``: the table;
* ``evaluate_method(model, canvases, method, name=..., correct=...)`` -> ``LocalizationResult``;
* ``heatmaps``, ``correct_predictions`` and ``score``: the same in three steps (score one set of
  maps at several thresholds without recomputing them);
* the metrics ``box_from_map``, ``box_iou``, ``pointing_game``, ``energy_in_box``;
* the baseline ``center_map`` (its box ``center_box``); constants ``THRESHOLD``, ``IOU_THRESHOLD``;
* a fair choice of each method's one free parameter, by one rule (the lowest GT-known
  localization error on *tuning* canvases, never the test canvases): ``select_threshold`` for a
  map's threshold, ``select_center_side`` for the centre box's side. The canvases
  themselves come from ``canvas.benchmark_canvases``.

A map with no positive value points nowhere: it gets an empty box, a miss and zero energy (the
``empty`` column counts such maps). Signed maps (CAM) are thresholded as they are; their negative
part never reaches 20% of a positive maximum.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from .batching import batches, resolve
from .canvas import CANVAS_SIZE, CanvasSet
from .hooks import eval_mode
from .maps import heatmap
from .validate import as_batch, attribution_method

__all__ = ["IOU_THRESHOLD", "THRESHOLD", "LocalizationResult", "benchmark", "box_from_map",
           "border_band", "box_iou", "center_box", "center_map", "correct_predictions",
           "energy_in_box", "evaluate_method", "heatmaps", "pointing_game", "score",
           "select_center_side", "select_threshold"]

THRESHOLD = 0.2                      # of the map's maximum (Zhou et al.)
IOU_THRESHOLD = 0.5
CHUNK = 256                          # canvases handed to a method at once (it batches inside)


# --------------------------------------------------------------------------------------------
# The metrics, one image or a batch at a time
# --------------------------------------------------------------------------------------------
def box_from_map(heat, threshold: float = THRESHOLD) -> np.ndarray:
    """The CAM paper's box (Zhou et al., Sec. 3.1): keep the pixels >= ``threshold`` x max, take the
    largest 8-connected component, return its bounding box (x0, y0, x1, y1), x1 and y1 exclusive.
    A map with no positive value gives the empty box (0, 0, 0, 0)."""
    m = (heat.detach().cpu().double().numpy() if isinstance(heat, torch.Tensor)
         else np.asarray(heat, float))
    if m.ndim != 2:
        raise ValueError(f"box_from_map takes one map [H, W], got shape {m.shape}.")
    peak = m.max()
    if not np.isfinite(peak) or peak <= 0:
        return np.zeros(4, dtype=np.int64)
    # --8<-- [start:box]
    labels, n = ndimage.label(m >= threshold * peak, structure=np.ones((3, 3), dtype=int))
    largest = 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    ys, xs = np.nonzero(labels == largest)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.int64)
    # --8<-- [end:box]


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
    masks bool [N, H, W] -> bool [N]. Ties point at their centroid; maps with no positive value
    miss."""
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


def border_band(height: int, width: int, band: int) -> torch.Tensor:
    """The pixels within ``band`` of the image's border, bool [height, width]. Its mean,
    1 - (H - 2b)(W - 2b) / (HW), is the share of a map's mass that a map ignoring the image
    (uniform) puts there: the control for ``energy_in_box(heat, band)`` ("does the map pile up at
    the border?"); ``pointing_game(heat, band)`` asks whether the map's maximum lies in it."""
    for name, v in (("height", height), ("width", width), ("band", band)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}.")
    if 2 * band >= min(height, width):
        raise ValueError(f"a band of {band} pixels covers the whole {height}x{width} image: "
                         f"pick band < {(min(height, width) + 1) // 2}.")
    mask = torch.ones(height, width, dtype=torch.bool)
    mask[band:height - band, band:width - band] = False
    return mask


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


def heatmaps(model, canvases: CanvasSet, method, *, batch_size: int = CHUNK) -> torch.Tensor:
    """Run ``method(model, x, target)`` on ``canvases`` for each canvas's true class, ``batch_size``
    canvases at a time (x float in [0, 1] on the model's device; the method batches them for its
    device): the maps reduced and upsampled by ``maps.heatmap``, [N, S, S] on the CPU."""
    size = canvases.images.shape[-2:]
    heat = []
    for b in batches(len(canvases), batch_size):
        x = as_batch(canvases.images[b], model)
        heat.append(heatmap(method(model, x, canvases.labels[b].to(x.device)), size).cpu())
    return torch.cat(heat)


@torch.no_grad()
def correct_predictions(model, canvases: CanvasSet, *, batch_size: int | None = None
                        ) -> np.ndarray:
    """bool [N]: is the model's top-1 class the canvas's true class? (for the top-1 error)"""
    batch_size = resolve(batch_size, model, canvases.images.shape)
    with eval_mode(model):
        preds = [model(as_batch(canvases.images[b], model)).argmax(1).cpu()
                 for b in batches(len(canvases), batch_size)]
    return (torch.cat(preds) == canvases.labels).numpy()


def score(heat: torch.Tensor, canvases: CanvasSet, correct, *, name: str = "",
          threshold: float = THRESHOLD, iou_threshold: float = IOU_THRESHOLD,
          seconds: float = float("nan")) -> LocalizationResult:
    """The three metrics of maps ``heat`` [N, S, S] against the canvases' boxes and masks."""
    heat = heat.detach().cpu()
    boxes = np.stack([box_from_map(h, threshold) for h in heat])
    return LocalizationResult(
        name=name, boxes=boxes, iou=box_iou(boxes, canvases.boxes.numpy()),
        hit=pointing_game(heat, canvases.masks).numpy(),
        energy=energy_in_box(heat, canvases.masks).numpy(),
        correct=np.asarray(correct, dtype=bool),
        empty=(heat.reshape(len(heat), -1).max(1).values <= 0).numpy(),
        seconds=seconds, iou_threshold=iou_threshold)


def evaluate_method(model, canvases: CanvasSet, method, *, name: str | None = None,
                    batch_size: int = CHUNK, threshold: float = THRESHOLD,
                    iou_threshold: float = IOU_THRESHOLD, correct=None) -> LocalizationResult:
    """Score ``method(model, x, target)`` on ``canvases``: the maps of the true class, reduced and
    upsampled to the canvas by ``maps.heatmap``, against the pasted image's box and mask.
    ``correct`` (from ``correct_predictions``) is computed when not given; ``seconds`` is the time
    the method took to make its maps."""
    if correct is None:
        correct = correct_predictions(model, canvases)
    start = time.perf_counter()
    heat = heatmaps(model, canvases, method, batch_size=batch_size)
    seconds = time.perf_counter() - start
    name = name or getattr(getattr(method, "func", method), "__name__", type(method).__name__)
    return score(heat, canvases, correct, name=name, threshold=threshold,
                 iou_threshold=iou_threshold, seconds=seconds)


def benchmark(model, canvases: CanvasSet, methods: dict, **options):
    """``{name: method}`` -> a pandas DataFrame, one row per method (see ``LocalizationResult``),
    and the results themselves: ``(table, {name: LocalizationResult})``. ``options`` go to
    ``evaluate_method``."""
    import pandas as pd
    correct = correct_predictions(model, canvases)
    results = {name: evaluate_method(model, canvases, m, name=name, correct=correct, **options)
               for name, m in methods.items()}
    table = pd.DataFrame([r.summary() for r in results.values()]).set_index("method")
    return table, results


# --------------------------------------------------------------------------------------------
# A baseline that ignores the image
# --------------------------------------------------------------------------------------------
def _check_side(side, size: int) -> int:
    if isinstance(side, bool) or int(side) != side or not 1 <= side <= size:
        raise ValueError(f"the centre box's side must be a whole number of pixels from 1 to the "
                         f"canvas size {size}, not {side!r}.")
    return int(side)


def center_box(side: int, size: int = CANVAS_SIZE) -> np.ndarray:
    """The centred ``side`` x ``side`` square of a ``size`` canvas as a box (x0, y0, x1, y1), x1 and
    y1 exclusive: the box of ``center_map(side)``."""
    side = _check_side(side, size)
    lo = (size - side) // 2
    return np.array([lo, lo, lo + side, lo + side], dtype=np.int64)


def center_map(side: int, size: int = CANVAS_SIZE):
    """A baseline method that ignores the image: 1 on the centred ``side`` x ``side`` square, else 0
    (its box is that square, ``center_box(side)``, its pointing-game point the canvas centre)."""
    x0, y0, x1, y1 = center_box(side, size).tolist()

    @attribution_method(backward=False, batched=False)
    def center_map(model, x, target):
        m = torch.zeros(len(x), size, size, device=x.device)
        m[:, y0:y1, x0:x1] = 1.0
        return m
    return center_map


# --------------------------------------------------------------------------------------------
# A fair choice of the one free parameter: on tuning canvases, by one rule for every method
# --------------------------------------------------------------------------------------------
def _lowest_error(grid, errors: np.ndarray):
    """The grid value with the lowest error (ties: the first in the grid), and the errors."""
    return grid[int(np.argmin(errors))], errors


def _grid(values, what: str) -> list:
    values = list(values)
    if not values:
        raise ValueError(f"give at least one {what} to choose from.")
    return values


def select_threshold(heat: torch.Tensor, canvases: CanvasSet, thresholds, *,
                     iou_threshold: float = IOU_THRESHOLD) -> tuple[float, np.ndarray]:
    """The threshold (a fraction of each map's maximum) of ``thresholds`` whose boxes have the
    lowest GT-known localization error, mean_i [IoU(box_i(t), true box_i) < 0.5], on ``canvases``:
    pass *tuning* canvases (e.g. training canvases the network was not fitted on), never the test
    canvases, so that the test error at the chosen threshold is not tuned on the test set.
    ``heat`` [N, S, S] are the maps of the true class on those canvases. Returns the threshold and
    the errors [len(thresholds)]; ties go to the first threshold of the grid."""
    thresholds = _grid(thresholds, "threshold")
    heat = heat.detach().cpu()
    if heat.dim() != 3 or len(heat) != len(canvases):
        raise ValueError(f"heat must be [N, S, S] with one map per canvas ({len(canvases)}), got "
                         f"{tuple(heat.shape)}: pass localization.heatmaps(model, canvases, "
                         "method).")
    truth = canvases.boxes.numpy()
    errors = np.array([np.mean(box_iou(np.stack([box_from_map(h, t) for h in heat]), truth)
                               < iou_threshold) for t in thresholds])
    return _lowest_error(thresholds, errors)


def select_center_side(canvases: CanvasSet, sides, *, size: int = CANVAS_SIZE,
                       iou_threshold: float = IOU_THRESHOLD) -> tuple[int, np.ndarray]:
    """The side of ``sides`` whose centre box (``center_box``) has the lowest GT-known
    localization error on ``canvases`` (the rule of ``select_threshold``, for the baseline's one
    parameter; pass tuning canvases, never the test canvases). Returns the side and the errors
    [len(sides)]; ties go to the first side of the grid."""
    sides = [_check_side(s, size) for s in _grid(sides, "side")]
    truth = canvases.boxes.numpy()
    errors = np.array([np.mean(box_iou(np.broadcast_to(center_box(s, size), truth.shape), truth)
                               < iou_threshold) for s in sides])
    return _lowest_error(sides, errors)
