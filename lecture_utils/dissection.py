"""Network dissection: what each unit of a CNN detects, and what it does for a class.

Bau et al. (2020), PNAS, and Bau et al. (2017), CVPR, in the lecture's notation. A *unit* u is one
feature map (one filter's output channel) of a convolutional layer:

* a_u(x, p): its activation on image x at position p; maps of low resolution are brought to the
  image's resolution by **bilinear upsampling** (``upsample_units``: [N, U, h, w] ->
  [N, U, H, W], every unit's map resized on its own; ``cam.upsample`` does the same for one map per
  image, [N, h, w]);
* t_u = argmax_t P_{x,p}[a_u(x, p) > t] >= 0.01: the **top 1% quantile** of a_u over all images
  and positions (``unit_thresholds``, ``TopQuantile``), and {p : a_u(x, p) > t_u} the unit's
  **activation region** on x (``activation_regions``);
* IoU_{u,c} = sum_x |{a_u(x,p) > t_u} and {s_c(x,p)}| / sum_x |{a_u(x,p) > t_u} or {s_c(x,p)}|:
  the agreement of unit u with concept c, whose mask s_c(x, p) in {0, 1} comes from the concept
  dataset (``lecture_utils.concepts``); a unit is labelled with its best concept, and is called a
  **detector** when that IoU exceeds 0.04 (``dissect``, ``detector_counts``);
* **ablation**: setting a unit to zero (``ablate_units``, a context manager that always restores
  the model) and measuring the accuracy each class loses (``unit_ablation_effects``).

Images go to the model's device; results come back on the device of the images (or of the
concept set) they were computed from.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .backprop import input_gradient
from .hooks import eval_mode
from .representations import as_float_images, iter_layer_activations, layer_names
from .validate import (check_finite, check_index, check_int, check_layer, check_number,
                       check_target, model_device)

__all__ = [
    "DETECTOR_IOU", "TopQuantile", "unit_thresholds", "upsample_units", "activation_regions",
    "IoUTally", "iou", "LayerDissection", "dissect", "threshold_pass", "iou_pass",
    "detector_counts", "detector_flags", "top_images", "highlight_region", "ablate_units",
    "per_class_accuracy", "unit_ablation_effects", "accuracy_with_units_removed",
    "predictions_with_units_removed", "random_units", "lower_class_score",
]

DETECTOR_IOU = 0.04     # Bau et al. (2017): a unit with IoU_{u,c} > 0.04 is a detector of c


def _as_acts(acts, name: str = "acts") -> torch.Tensor:
    """Feature maps [N, U, h, w] (or [N, U]) as a tensor, finite."""
    if isinstance(acts, np.ndarray):
        acts = torch.from_numpy(acts)
    if not isinstance(acts, torch.Tensor):
        raise TypeError(f"{name} must be a tensor [N, U, h, w], got {type(acts).__name__}.")
    if acts.dim() not in (2, 4):
        raise ValueError(f"{name} must be [N, U, h, w] feature maps (or [N, U]), got "
                         f"{tuple(acts.shape)}.")
    if acts.shape[1] == 0:
        raise ValueError(f"{name} has shape {tuple(acts.shape)}: no units (dim 1 is empty).")
    return check_finite(acts, name, "a diverged model? Thresholds need finite activations.")


# --------------------------------------------------------------------------------------------
# Thresholds t_u: the top 1% quantile over all images and positions
# --------------------------------------------------------------------------------------------
class TopQuantile:
    """Streaming, exact t_u for every unit: keep the k + 1 largest activations seen per unit, with
    k = ceil(q * count) and ``count`` = (number of images) x (positions per map) known in advance.

    t_u is the (k + 1)-th largest value, so exactly k = ceil(1% of) the (x, p) lie strictly above
    it (when values are distinct): the largest observed t with P_{x,p}[a_u(x, p) > t] >= q. Memory
    is (k + 1) values per unit, e.g. 1% of the data, and the answer is exact, not approximate.
    """

    def __init__(self, count: int, quantile: float = 0.01):
        self.quantile = check_number(quantile, "quantile", low=0, high=1, low_open=True,
                                     high_open=True)
        self.count = check_int(count, "count (values per unit: images x positions)", minimum=1)
        self.k = min(self.count - 1, math.ceil(self.quantile * self.count - 1e-9))  # safe ceil
        self.top: torch.Tensor | None = None       # [U, <= k + 1], per unit, largest first
        self.seen = 0

    def update(self, acts: torch.Tensor) -> None:
        """Add a batch of activations [n, U, h, w] (or [n, U])."""
        acts = _as_acts(acts)
        if self.top is not None and acts.shape[1] != self.top.shape[0]:
            raise ValueError(f"This batch has {acts.shape[1]} units, earlier ones had "
                             f"{self.top.shape[0]}: feed one layer's maps to one TopQuantile.")
        # --8<-- [start:update]
        flat = acts.detach().float().transpose(0, 1).reshape(acts.shape[1], -1)    # [U, n*h*w]
        self.seen += flat.shape[1]
        if self.seen > self.count:
            raise ValueError(f"TopQuantile was told to expect {self.count} values per unit and has "
                             f"now seen {self.seen}.")
        both = flat if self.top is None else torch.cat([self.top, flat], 1)
        self.top = both.topk(min(self.k + 1, both.shape[1]), dim=1).values
        # --8<-- [end:update]

    def thresholds(self) -> torch.Tensor:
        """t_u for every unit: [U]."""
        if self.top is None or self.seen != self.count:
            raise ValueError(f"TopQuantile has seen {self.seen} of the {self.count} values per "
                             "unit.")
        # --8<-- [start:thresholds]
        return self.top[:, self.k].clone()
        # --8<-- [end:thresholds]


def unit_thresholds(acts: torch.Tensor, quantile: float = 0.01) -> torch.Tensor:
    """t_u of each unit of ``acts`` [N, U, h, w] (all images and positions): [U]. Exact."""
    acts = _as_acts(acts)
    if len(acts) == 0 or acts[0].numel() == 0:
        raise ValueError(f"acts has shape {tuple(acts.shape)}: no activations to take a "
                         "quantile of (no images, or empty maps).")
    count = acts.numel() // acts.shape[1]
    tq = TopQuantile(count, quantile)
    tq.update(acts)
    return tq.thresholds()


# --------------------------------------------------------------------------------------------
# Activation regions and IoU
# --------------------------------------------------------------------------------------------
def _size(size) -> tuple[int, int]:
    pair = (size, size) if not isinstance(size, (tuple, list, torch.Size)) else tuple(size)
    if len(pair) != 2:
        raise ValueError(f"size must be an int or a pair (H, W), got {size!r}.")
    return tuple(check_int(s, "size", minimum=1) for s in pair)


def upsample_units(acts: torch.Tensor, size) -> torch.Tensor:
    """Bilinear upsampling of every unit's map: [N, U, h, w] -> [N, U, H, W] (``size`` = H or
    (H, W); half-pixel centres, ``align_corners=False``). ``cam.upsample`` is the same for one map
    per image, [N, h, w]."""
    size = _size(size)
    if not isinstance(acts, torch.Tensor) or acts.dim() != 4:
        raise ValueError("upsample_units takes feature maps [N, U, h, w]; for one map per image "
                         "[N, h, w] use cam.upsample (or maps[:, None]).")
    if tuple(acts.shape[-2:]) == size:
        return acts
    # --8<-- [start:upsample]
    return F.interpolate(acts.float(), size=size, mode="bilinear", align_corners=False)
    # --8<-- [end:upsample]


def activation_regions(acts: torch.Tensor, thresholds: torch.Tensor, size) -> torch.Tensor:
    """{p : a_u(x, p) > t_u} at image resolution: bool [N, U, H, W] from maps [N, U, h, w] and
    thresholds t_u [U]."""
    thresholds = torch.as_tensor(thresholds)
    if thresholds.dim() != 1 or (isinstance(acts, torch.Tensor) and acts.dim() == 4
                                 and len(thresholds) != acts.shape[1]):
        raise ValueError(f"thresholds must hold one t_u per unit, [U] = "
                         f"[{acts.shape[1] if isinstance(acts, torch.Tensor) else '?'}], got "
                         f"{tuple(thresholds.shape)}.")
    return upsample_units(acts, size) > thresholds.to(acts.device).view(1, -1, 1, 1)


class IoUTally:
    """Accumulates, over batches of images, the intersections |A_u and S_c| [U, C] and the areas
    |A_u| [U], |S_c| [C] of activation regions A_u and concept masks S_c, for the dataset-wide
    IoU_{u,c} = sum_x |A_u(x) and S_c(x)| / sum_x |A_u(x) or S_c(x)|."""

    def __init__(self):
        self.inter = self.area_u = self.area_c = None

    def update(self, regions: torch.Tensor, masks: torch.Tensor) -> None:
        """``regions`` bool [n, U, H, W], ``masks`` bool [n, C, H, W] (the same images)."""
        for name, t in (("regions", regions), ("masks", masks)):
            if not isinstance(t, torch.Tensor) or t.dim() != 4:
                raise ValueError(f"{name} must be a tensor [n, units or concepts, H, W].")
            if t.is_floating_point() and not bool(((t == 0) | (t == 1)).all()):
                raise ValueError(f"{name} must be binary (bool, or 0/1); threshold it first.")
        if regions.shape[0] != masks.shape[0] or regions.shape[2:] != masks.shape[2:]:
            raise ValueError(f"regions {tuple(regions.shape)} and masks {tuple(masks.shape)} must "
                             "cover the same images at the same resolution.")
        if self.inter is not None and (regions.shape[1], masks.shape[1]) != self.inter.shape:
            raise ValueError(f"This batch has {regions.shape[1]} units and {masks.shape[1]} "
                             f"concepts, earlier ones {tuple(self.inter.shape)}.")
        # --8<-- [start:update]
        a = regions.transpose(0, 1).reshape(regions.shape[1], -1).float()     # [U, n*H*W]
        s = masks.transpose(0, 1).reshape(masks.shape[1], -1).float()         # [C, n*H*W]
        inter, au, ac = a @ s.T, a.sum(1), s.sum(1)
        if self.inter is None:
            self.inter, self.area_u, self.area_c = inter.double(), au.double(), ac.double()
        else:
            self.inter += inter.double()
            self.area_u += au.double()
            self.area_c += ac.double()
        # --8<-- [end:update]

    def iou(self) -> torch.Tensor:
        """IoU_{u,c}: [U, C] (0 where both are empty)."""
        if self.inter is None:
            raise ValueError("IoUTally has no batch yet: call update(regions, masks) first.")
        union = self.area_u[:, None] + self.area_c[None, :] - self.inter
        return (self.inter / union.clamp_min(1)).float()


def iou(regions: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """IoU_{u,c} between activation regions bool [N, U, H, W] and concept masks bool [N, C, H, W],
    summed over the whole set of images: [U, C]."""
    tally = IoUTally()
    tally.update(regions, masks)
    return tally.iou()


# --------------------------------------------------------------------------------------------
# Dissecting layers on a concept set
# --------------------------------------------------------------------------------------------
@dataclass
class LayerDissection:
    """One layer's result: ``thresholds`` t_u [U], ``iou`` IoU_{u,c} [U, C], and ``concepts``, the
    (category, name) of each column."""

    layer: str
    thresholds: torch.Tensor
    iou: torch.Tensor
    concepts: list

    @property
    def best(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each unit's best IoU and the index of its best concept: ([U], [U])."""
        return self.iou.max(dim=1)

    def labels(self, iou_threshold: float = DETECTOR_IOU):
        """A table, one row per unit: its best concept, category, IoU and whether it is a detector
        (best IoU > ``iou_threshold``), sorted by IoU."""
        import pandas as pd
        iou_threshold = check_number(iou_threshold, "iou_threshold", low=0, high=1)
        value, idx = self.best
        rows = [{"layer": self.layer, "unit": u, "concept": self.concepts[i][1],
                 "category": self.concepts[i][0], "iou": float(v),
                 "detector": bool(v > iou_threshold)}
                for u, (v, i) in enumerate(zip(value.tolist(), idx.tolist()))]
        return pd.DataFrame(rows).sort_values("iou", ascending=False).reset_index(drop=True)


def _check_concept_set(concept_set):
    if not (hasattr(concept_set, "images") and hasattr(concept_set, "masks")
            and hasattr(concept_set, "concepts")):
        raise TypeError(f"concept_set must be a concepts.ConceptSet (images and per-pixel masks), "
                        f"got {type(concept_set).__name__}; the call is "
                        "dissect(model, concept_set, layers).")
    if len(concept_set) == 0:
        raise ValueError("The concept set is empty (0 scenes): make one with "
                         "concepts.make_concept_set(images, labels, n) with n >= 1.")
    if not concept_set.concepts:
        raise ValueError("The concept set names no concepts: nothing to compare the units with.")


def _dissection_layers(model: nn.Module, layers) -> list[str]:
    """Layer names, a plain string being one layer; only layers that give feature maps."""
    layers = [layers] if isinstance(layers, (str, nn.Module)) else list(layers)
    if not layers:
        raise ValueError("Give at least one layer to dissect, e.g. ['relu4_2'].")
    names = layer_names(model, layers)
    for name in names:
        module = model.get_submodule(name)
        if isinstance(module, (nn.Linear, nn.Flatten, nn.AdaptiveAvgPool1d)):
            raise ValueError(f"Layer {name!r} is a {type(module).__name__}: it has no spatial "
                             "feature maps to dissect. Choose a convolutional layer (or the ReLU "
                             "after one) before the classifier, e.g. "
                             f"{_conv_layers(model)[-3:]}.")
    return names


def _conv_layers(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def _feature_maps(name: str, a: torch.Tensor) -> torch.Tensor:
    if a.dim() != 4:
        raise ValueError(f"Layer {name!r} gives {tuple(a.shape)}; dissection needs "
                         "convolutional feature maps [N, U, h, w].")
    return a


def threshold_pass(model: nn.Module, concept_set, names, *, quantile: float = 0.01,
                   batch_size: int = 32, progress: bool = True) -> dict[str, torch.Tensor]:
    """The first pass of ``dissect``: t_u of every unit of every layer in ``names`` over all
    scenes and positions, exactly (``TopQuantile``), at the maps' own resolution: {name: [U]}."""
    images = concept_set.images
    quantiles: dict[str, TopQuantile] = {}
    bar = tqdm(total=len(images), desc="dissection: thresholds t_u", disable=not progress,
               leave=False)
    batches = iter_layer_activations(model, names, images, batch_size, keep_on_device=True)
    while True:
        try:
            acts = next(batches)
        except StopIteration:
            break
        except RuntimeError as err:       # e.g. a classifier layer that needs 32 x 32 inputs
            raise ValueError(f"The forward pass up to {names} failed on the concept set's "
                             f"{tuple(images.shape[-2:])} scenes ({str(err).splitlines()[0]}). "
                             "Dissect convolutional layers before the classifier, e.g. "
                             f"{_conv_layers(model)[-3:]}.") from err
        for name, a in acts.items():
            a = _feature_maps(name, a)
            if name not in quantiles:
                quantiles[name] = TopQuantile(len(images) * a.shape[2] * a.shape[3], quantile)
            quantiles[name].update(a)
        bar.update(len(next(iter(acts.values()))))
    bar.close()
    return {name: q.thresholds() for name, q in quantiles.items()}


def iou_pass(model: nn.Module, concept_set, thresholds: dict, *, batch_size: int = 32,
             progress: bool = True) -> dict[str, torch.Tensor]:
    """The second pass of ``dissect``: each map upsampled to the scenes' size, thresholded at t_u
    and tallied against every concept mask: {name: IoU [U, C]}."""
    images, size = concept_set.images, tuple(concept_set.images.shape[-2:])
    tallies = {name: IoUTally() for name in thresholds}
    bar = tqdm(total=len(images), desc="dissection: IoU with concepts", disable=not progress,
               leave=False)
    start = 0
    for acts in iter_layer_activations(model, list(thresholds), images, batch_size,
                                       keep_on_device=True):
        n = len(next(iter(acts.values())))
        device = next(iter(acts.values())).device
        masks = concept_set[start:start + n].masks().to(device)
        for name, a in acts.items():
            t = thresholds[name].to(device)
            tallies[name].update(activation_regions(_feature_maps(name, a), t, size), masks)
        start += n
        bar.update(n)
    bar.close()
    return {name: tally.iou() for name, tally in tallies.items()}


def dissect(model: nn.Module, concept_set, layers, *, quantile: float = 0.01,
            batch_size: int = 32, progress: bool = True) -> dict[str, LayerDissection]:
    """Label every unit of every layer in ``layers`` (names, or one name) with its best concept on
    ``concept_set`` (a ``concepts.ConceptSet``).

    Two passes over the scenes, in batches of ``batch_size`` on the model's device:
    ``threshold_pass`` finds t_u (exactly, ``TopQuantile``) on the maps at their own resolution,
    ``iou_pass`` upsamples each map bilinearly to the image size, thresholds it and tallies its IoU
    with every concept mask. Only the layers' outputs are computed (the forward pass stops after
    the last requested layer), so images may be larger than the classifier accepts. Results are
    on the concept set's device (the CPU).
    """
    _check_concept_set(concept_set)
    names = _dissection_layers(model, layers)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    thresholds = threshold_pass(model, concept_set, names, quantile=quantile,
                                batch_size=batch_size, progress=progress)
    ious = iou_pass(model, concept_set, thresholds, batch_size=batch_size, progress=progress)
    home = concept_set.images.device
    return {name: LayerDissection(name, thresholds[name].to(home), ious[name].to(home),
                                  concept_set.concepts) for name in names}


def detector_counts(results: dict, *, iou_threshold: float = DETECTOR_IOU, categories=None):
    """Number of detector units (best IoU > ``iou_threshold``) per layer and concept category: a
    DataFrame, one row per layer (Bau et al. 2020, Fig. 2)."""
    import pandas as pd
    if not results:
        raise ValueError("results is empty: pass what dissect(model, concept_set, layers) "
                         "returned.")
    rows = []
    for name, res in results.items():
        table = res.labels(iou_threshold)
        det = table[table.detector]
        row = {"layer": name, "units": len(table), "detectors": len(det),
               "unique concepts": det.concept.nunique()}
        order = [c for c, _ in res.concepts]
        cats = categories or sorted(set(order), key=order.index)
        row.update({c: int((det.category == c).sum()) for c in cats})
        rows.append(row)
    return pd.DataFrame(rows).set_index("layer")


def detector_flags(results: dict, layers=None, *, categories=None, within: bool = False,
                   iou_threshold: float = DETECTOR_IOU) -> np.ndarray:
    """1.0 for each unit of ``layers`` (default: all of ``results``) that is a detector, its best
    IoU above ``iou_threshold``, of a concept whose category is in ``categories`` (default: any),
    else 0.0: [units of those layers, in order]. Their mean is ``detector_counts``'s share of
    detectors; the flags are the items a bootstrap over units resamples.

    By default a unit has one label, its best concept over all categories (Bau et al.), so a unit
    whose best concept is a colour is never a material detector. ``within=True`` takes each
    unit's best concept among the ``categories``' concepts only: "does it detect any of these?",
    the fairer count when another category (colour, on our scenes) is passed by chance."""
    if not results:
        raise ValueError("results is empty: pass what dissect(model, concept_set, layers) "
                         "returned.")
    iou_threshold = check_number(iou_threshold, "iou_threshold", low=0, high=1)
    layers = list(results) if layers is None else list(layers)
    unknown = [name for name in layers if name not in results]
    if unknown:
        raise KeyError(f"no dissection of {unknown}: results has {list(results)}.")
    if categories is not None:
        categories = (categories,) if isinstance(categories, str) else tuple(categories)
        known = {c for name in layers for c, _ in results[name].concepts}
        if not set(categories) <= known:
            raise ValueError(f"unknown concept categories {sorted(set(categories) - known)}: the "
                             f"concept set has {sorted(known)}.")
    if within and categories is None:
        raise ValueError("within=True takes the best concept among `categories`: name them.")
    flags = []
    for name in layers:
        res = results[name]
        if within:
            columns = [j for j, (c, _) in enumerate(res.concepts) if c in categories]
            hit = res.iou[:, columns].amax(dim=1).cpu().numpy() > iou_threshold
        else:
            best_iou, best_c = res.best
            cats = np.array([res.concepts[int(c)][0] for c in best_c])
            hit = best_iou.cpu().numpy() > iou_threshold
            if categories is not None:
                hit &= np.isin(cats, categories)
        flags.append(hit.astype(np.float64))
    return np.concatenate(flags)


def top_images(acts: torch.Tensor, unit: int, k: int = 8) -> torch.Tensor:
    """Indices of the ``k`` images on which ``unit`` reaches its highest activation: [min(k, N)]
    (long, on the activations' device)."""
    acts = _as_acts(acts)
    if len(acts) == 0:
        raise ValueError("acts holds no images (N = 0): nothing to rank.")
    unit = check_index(unit, acts.shape[1], "unit", "units")
    k = check_int(k, "k", minimum=1)
    return acts[:, unit].reshape(len(acts), -1).amax(1).topk(min(k, len(acts))).indices


def highlight_region(images: torch.Tensor, regions: torch.Tensor,
                     dim: float = 0.25) -> torch.Tensor:
    """uint8 images [N,3,H,W] with everything outside ``regions`` bool [N,H,W] darkened to ``dim``
    of its brightness: the unit's activation region stands out (Bau et al.'s figures). Float
    images in [0, 1] are accepted (and returned as uint8 too)."""
    dim = check_number(dim, "dim", low=0, high=1)
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError("images must be a batch [N, 3, H, W].")
    if images.is_floating_point():
        check_finite(images, "images")
        if images.min() < 0 or images.max() > 1:
            raise ValueError("float images must lie in [0, 1] (uint8 images in 0..255).")
        images = images * 255
    elif images.dtype != torch.uint8:
        raise TypeError(f"images must be uint8 (0..255) or float in [0, 1], got {images.dtype}.")
    want = (images.shape[0],) + tuple(images.shape[2:])
    if not isinstance(regions, torch.Tensor) or tuple(regions.shape) != want:
        got = tuple(regions.shape) if isinstance(regions, torch.Tensor) else type(regions).__name__
        raise ValueError(f"regions must be bool [N, H, W] = {list(want)}, one region per image, "
                         f"got {got}.")
    keep = regions[:, None].to(images.device).float()
    out = images.float() * (keep + dim * (1 - keep))
    return out.round().clamp(0, 255).to(torch.uint8)


# --------------------------------------------------------------------------------------------
# Ablation: remove units, measure what each class loses
# --------------------------------------------------------------------------------------------
def _unit_list(units, name: str = "units") -> list[int]:
    """An int, a NumPy integer or a sequence of them, as a list of non-negative ints."""
    if isinstance(units, torch.Tensor):
        units = units.reshape(-1).tolist()
    elif isinstance(units, np.ndarray):
        units = units.reshape(-1).tolist()
    if isinstance(units, (str, bytes)) or not hasattr(units, "__iter__"):
        units = [units]
    out = [check_int(u, name) for u in units]
    negative = [u for u in out if u < 0]
    if negative:
        raise IndexError(f"{name} {negative} are negative: units are channels counted from 0, "
                         "and negative indices do not wrap around here.")
    return out


@contextmanager
def ablate_units(model: nn.Module, layer, units):
    """Inside the block, the output channels ``units`` (an int or a list) of ``layer`` are zero.

    The forward hook is removed on every exit path, so the model is exactly as before afterwards.

    >>> with ablate_units(vgg, "relu4_2", [17, 3]):
    ...     logits = vgg(x)
    """
    module = check_layer(model, layer)
    units = _unit_list(units)

    # --8<-- [start:hook]
    def hook(mod, args, output):
        if output.dim() not in (2, 4):
            raise ValueError(f"ablate_units zeroes channels of [N, U, h, w] maps or [N, U] "
                             f"features; this layer gives {tuple(output.shape)}.")
        if not units:
            return output
        if max(units) >= output.shape[1]:
            raise IndexError(f"unit {max(units)} does not exist: the layer has {output.shape[1]} "
                             f"units (channels 0..{output.shape[1] - 1}).")
        output = output.clone()
        output[:, units] = 0
        return output
    # --8<-- [end:hook]

    handle = module.register_forward_hook(hook)
    try:
        yield model
    finally:
        handle.remove()


def _tail(model: nn.Module, name: str):
    """The modules after top-level child ``name`` of an ``nn.Sequential`` (else None)."""
    if not isinstance(model, nn.Sequential):
        return None
    names = [n for n, _ in model.named_children()]
    if name not in names:
        return None
    return nn.Sequential(*list(model.children())[names.index(name) + 1:])


def _check_images(images) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError("images must be a batch [N, 3, H, W] (uint8, or float in [0, 1]).")
    if len(images) == 0:
        raise ValueError("images is empty (N = 0): no accuracy to measure.")
    if images.is_floating_point():
        check_finite(images, "images", "a NaN pixel gives NaN logits and an arbitrary argmax")
    return images


class _Ablator:
    """Predictions of ``model`` on ``images`` with chosen units of ``layer`` set to zero.

    For a layer of an ``nn.Sequential`` (the course's VGG) the layer's output is computed once and
    only the modules after it re-run for each set of units; otherwise the whole model runs under
    ``ablate_units``. Both give the same predictions. Everything stays on the model's device.
    """

    def __init__(self, model, layer, images, batch_size=500):
        self.model, self.name = model, layer_names(model, [layer])[0]
        self.images = _check_images(images)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.device = model_device(model)
        self.tail = _tail(model, self.name)
        self.acts = None
        batches = iter_layer_activations(model, [self.name],
                                         images if self.tail is not None else images[:1],
                                         self.batch_size, keep_on_device=True)
        try:
            first = torch.cat([acts[self.name] for acts in batches])
        finally:
            batches.close()
        if first.dim() not in (2, 4):
            raise ValueError(f"Layer {self.name!r} gives {tuple(first.shape[1:])} per image; "
                             "ablation removes channels of [U, h, w] maps or [U] features.")
        self.n_units = first.shape[1]
        if self.tail is not None:
            self.acts = first

    @torch.no_grad()
    def predict(self, units) -> torch.Tensor:
        """Predicted classes [N] (on the model's device) with ``units`` set to zero."""
        units = [check_index(u, self.n_units, "unit", f"units in {self.name}") for u in units]
        out = []
        with eval_mode(self.model):
            for i in range(0, len(self.images), self.batch_size):
                if self.tail is not None:
                    a = self.acts[i:i + self.batch_size]
                    if units:
                        a = a.clone()
                        a[:, units] = 0
                    out.append(self.tail(a).argmax(1))
                else:
                    x = as_float_images(self.images[i:i + self.batch_size], self.device)
                    with ablate_units(self.model, self.name, units):
                        out.append(self.model(x).argmax(1))
        return torch.cat(out)


def per_class_accuracy(preds: torch.Tensor, labels: torch.Tensor,
                       num_classes: int = 10) -> torch.Tensor:
    """Accuracy on the images of each class: [classes] (0 for a class with no image), on the
    predictions' device."""
    num_classes = check_int(num_classes, "num_classes", minimum=1)
    preds, labels = torch.as_tensor(preds), torch.as_tensor(labels)
    if preds.dim() != 1 or labels.shape != preds.shape:
        raise ValueError(f"preds {tuple(preds.shape)} and labels {tuple(labels.shape)} must both "
                         "be [N], one predicted and one true class per image.")
    labels = check_target(labels, len(preds), num_classes).to(preds.device)
    # --8<-- [start:accuracy]
    correct = torch.zeros(num_classes, dtype=torch.float64, device=preds.device)
    correct.index_add_(0, labels, (preds == labels).double())
    return (correct / torch.bincount(labels, minlength=num_classes).clamp_min(1)).float()
    # --8<-- [end:accuracy]


def _labels(labels, images, num_classes) -> torch.Tensor:
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or len(labels) != len(images):
        raise ValueError(f"{len(images)} images but labels of shape {tuple(labels.shape)}: pass "
                         "one class index per image.")
    return check_target(labels, len(images), num_classes)


def unit_ablation_effects(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, layer, *,
                          units=None, num_classes: int = 10, batch_size: int = 500,
                          progress: bool = True) -> torch.Tensor:
    """Accuracy each class loses when each unit of ``layer`` is removed on its own: [U, classes],
    on the images' device.

    Entry (u, c) = acc_c(model) - acc_c(model with unit u set to zero), where acc_c is the
    accuracy on the images of class c in (``images``, ``labels``) (Bau et al. 2020, Fig. 3: the
    units whose removal costs "ski resort" most). ``units`` defaults to all of the layer's units.
    """
    num_classes = check_int(num_classes, "num_classes", minimum=1)
    labels = _labels(labels, _check_images(images), num_classes)
    ab = _Ablator(model, layer, images, batch_size)
    units = range(ab.n_units) if units is None else _unit_list(units)
    labels = labels.to(ab.device)
    base = per_class_accuracy(ab.predict([]), labels, num_classes)
    effects = [base - per_class_accuracy(ab.predict([u]), labels, num_classes)
               for u in tqdm(list(units), desc=f"ablating {ab.name}", disable=not progress,
                             leave=False)]
    if not effects:
        raise ValueError("units is empty: name at least one unit to remove.")
    return torch.stack(effects).to(images.device)


def accuracy_with_units_removed(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                                layer, unit_sets, *, num_classes: int = 10,
                                batch_size: int = 500) -> torch.Tensor:
    """Per-class accuracy with each set of units of ``layer`` removed at once: [len(unit_sets),
    classes] on the images' device (e.g. the top k units for a class against k random ones;
    ``[]`` is the intact model)."""
    num_classes = check_int(num_classes, "num_classes", minimum=1)
    labels = _labels(labels, _check_images(images), num_classes)
    if isinstance(unit_sets, (int, np.integer)) or not list(unit_sets):
        raise ValueError("unit_sets must be a non-empty list of unit lists, e.g. "
                         "[[], [3], [3, 7]].")
    ab = _Ablator(model, layer, images, batch_size)
    labels = labels.to(ab.device)
    return torch.stack([per_class_accuracy(ab.predict(_unit_list(s)), labels, num_classes)
                        for s in unit_sets]).to(images.device)


def predictions_with_units_removed(model: nn.Module, images: torch.Tensor, layer, unit_sets, *,
                                   batch_size: int = 500) -> torch.Tensor:
    """Predicted classes with each set of units of ``layer`` removed at once: [len(unit_sets), N]
    on the images' device (``[]`` is the intact model). The per-image form of
    ``accuracy_with_units_removed``, for intervals over images (a bootstrap of top-k against
    random-k removal on the same images)."""
    if isinstance(unit_sets, (int, np.integer)) or not list(unit_sets):
        raise ValueError("unit_sets must be a non-empty list of unit lists, e.g. "
                         "[[], [3], [3, 7]].")
    ab = _Ablator(model, layer, _check_images(images), batch_size)
    return torch.stack([ab.predict(_unit_list(s)) for s in unit_sets]).to(images.device)


def random_units(n_units: int, k: int, draws: int, seed: int = 0) -> list[list[int]]:
    """``draws`` random sets of ``k`` distinct units (the baseline for removing the top-k units)."""
    n_units = check_int(n_units, "n_units", minimum=1)
    k = check_int(k, "k", minimum=0, maximum=n_units)
    draws = check_int(draws, "draws", minimum=0)
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    return [sorted(rng.choice(n_units, size=k, replace=False).tolist()) for _ in range(draws)]


def lower_class_score(model: nn.Module, x: torch.Tensor, target, *, eps: float = 2 / 255,
                      steps: int = 5, batch_size: int = 256) -> torch.Tensor:
    """An adversarial copy of ``x`` (float [N,3,H,W] in [0,1], or uint8): ``steps`` signed-gradient
    steps of eps / steps that lower the score of class ``target``, kept within |x_adv - x| <= eps
    per pixel (the iterated fast gradient sign method of Goodfellow et al. 2015 and Kurakin et al.
    2017). Bau et al. (2020, Fig. 5) find that such attacks work by silencing the units that
    matter for the class. Computed on the model's device in batches of ``batch_size`` images;
    returned on x's device."""
    eps = check_number(eps, "eps", low=0, high=1)
    steps = check_int(steps, "steps", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    home = x.device if isinstance(x, torch.Tensor) else torch.device("cpu")
    if isinstance(target, np.integer):
        target = int(target)
    elif isinstance(target, (np.ndarray, list, tuple)):
        target = torch.as_tensor(np.asarray(target))
    if isinstance(target, torch.Tensor) and target.numel() > 1 and len(target) != len(x):
        raise ValueError(f"target has {len(target)} entries for {len(x)} images: pass one class "
                         "or one class per image.")
    out = []
    for i in range(0, len(x), batch_size):
        x0 = as_float_images(x[i:i + batch_size], model_device(model)).detach()
        check_finite(x0, "x")
        t = target[i:i + batch_size] if isinstance(target, torch.Tensor) and target.numel() > 1 \
            else target
        adv = x0.clone()
        # --8<-- [start:attack]
        for _ in range(steps):
            grad = input_gradient(model, adv, t)
            adv = (adv - eps / steps * grad.sign()).clamp(x0 - eps, x0 + eps).clamp(0, 1)
        # --8<-- [end:attack]
        out.append(adv.to(home))
    if not out:
        raise ValueError("x is empty (N = 0): no image to attack.")
    return torch.cat(out)
