"""Network dissection: what each unit of a CNN detects, and what it does for a class.

Bau et al. (2020), PNAS, and Bau et al. (2017), CVPR, in the lecture's notation. A *unit* u is one
feature map (one filter's output channel) of a convolutional layer:

* a_u(x, p): its activation on image x at position p; maps of low resolution are brought to the
  image's resolution by **bilinear upsampling** (``upsample``);
* t_u = argmax_t P_{x,p}[a_u(x, p) > t] >= 0.01: the **top 1% quantile** of a_u over all images
  and positions (``unit_thresholds``, ``TopQuantile``), and {p : a_u(x, p) > t_u} the unit's
  **activation region** on x (``activation_regions``);
* IoU_{u,c} = sum_x |{a_u(x,p) > t_u} and {s_c(x,p)}| / sum_x |{a_u(x,p) > t_u} or {s_c(x,p)}|:
  the agreement of unit u with concept c, whose mask s_c(x, p) in {0, 1} comes from the concept
  dataset (``lecture_utils.concepts``); a unit is labelled with its best concept, and is called a
  **detector** when that IoU exceeds 0.04 (``dissect``, ``detector_counts``);
* **ablation**: setting a unit to zero (``ablate_units``, a context manager that always restores
  the model) and measuring the accuracy each class loses (``unit_ablation_effects``).
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
from .representations import (as_float_images, eval_mode, iter_layer_activations, layer_activations,
                              layer_names)
from .validate import check_layer, model_device

DETECTOR_IOU = 0.04     # Bau et al. (2017): a unit with IoU_{u,c} > 0.04 is a detector of c


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
        if not 0 < quantile < 1:
            raise ValueError(f"quantile must be in (0, 1), got {quantile}.")
        self.count, self.quantile = int(count), quantile
        self.k = min(self.count - 1, math.ceil(quantile * self.count - 1e-9))   # float-safe ceil
        self.top: torch.Tensor | None = None       # [U, <= k + 1], per unit, largest first
        self.seen = 0

    def update(self, acts: torch.Tensor) -> None:
        """Add a batch of activations [n, U, h, w] (or [n, U])."""
        flat = acts.detach().float().transpose(0, 1).reshape(acts.shape[1], -1)    # [U, n*h*w]
        self.seen += flat.shape[1]
        if self.seen > self.count:
            raise ValueError(f"TopQuantile was told to expect {self.count} values per unit and has "
                             f"now seen {self.seen}.")
        both = flat if self.top is None else torch.cat([self.top, flat], 1)
        self.top = both.topk(min(self.k + 1, both.shape[1]), dim=1).values

    def thresholds(self) -> torch.Tensor:
        """t_u for every unit: [U]."""
        if self.top is None or self.seen != self.count:
            raise ValueError(f"TopQuantile has seen {self.seen} of the {self.count} values per "
                             "unit.")
        return self.top[:, self.k].clone()


def unit_thresholds(acts: torch.Tensor, quantile: float = 0.01) -> torch.Tensor:
    """t_u of each unit of ``acts`` [N, U, h, w] (all images and positions): [U]. Exact."""
    if acts.dim() not in (2, 4):
        raise ValueError("acts must be [N, U, h, w] feature maps (or [N, U]), got "
                         f"{tuple(acts.shape)}.")
    count = acts.numel() // acts.shape[1]
    tq = TopQuantile(count, quantile)
    tq.update(acts)
    return tq.thresholds()


# --------------------------------------------------------------------------------------------
# Activation regions and IoU
# --------------------------------------------------------------------------------------------
def upsample(acts: torch.Tensor, size) -> torch.Tensor:
    """Bilinear upsampling of feature maps [N, U, h, w] to the image size [N, U, H, W]."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(acts.shape[-2:]) == size:
        return acts
    return F.interpolate(acts.float(), size=size, mode="bilinear", align_corners=False)


def activation_regions(acts: torch.Tensor, thresholds: torch.Tensor, size) -> torch.Tensor:
    """{p : a_u(x, p) > t_u} at image resolution: bool [N, U, H, W]."""
    return upsample(acts, size) > thresholds.to(acts.device).view(1, -1, 1, 1)


class IoUTally:
    """Accumulates, over batches of images, the intersections |A_u and S_c| [U, C] and the areas
    |A_u| [U], |S_c| [C] of activation regions A_u and concept masks S_c, for the dataset-wide
    IoU_{u,c} = sum_x |A_u(x) and S_c(x)| / sum_x |A_u(x) or S_c(x)|."""

    def __init__(self):
        self.inter = self.area_u = self.area_c = None

    def update(self, regions: torch.Tensor, masks: torch.Tensor) -> None:
        """``regions`` bool [n, U, H, W], ``masks`` bool [n, C, H, W] (the same images)."""
        if regions.shape[0] != masks.shape[0] or regions.shape[2:] != masks.shape[2:]:
            raise ValueError(f"regions {tuple(regions.shape)} and masks {tuple(masks.shape)} must "
                             "cover the same images at the same resolution.")
        a = regions.transpose(0, 1).reshape(regions.shape[1], -1).float()     # [U, n*H*W]
        s = masks.transpose(0, 1).reshape(masks.shape[1], -1).float()         # [C, n*H*W]
        inter, au, ac = a @ s.T, a.sum(1), s.sum(1)
        if self.inter is None:
            self.inter, self.area_u, self.area_c = inter.double(), au.double(), ac.double()
        else:
            self.inter += inter.double()
            self.area_u += au.double()
            self.area_c += ac.double()

    def iou(self) -> torch.Tensor:
        """IoU_{u,c}: [U, C] (0 where both are empty)."""
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
        value, idx = self.best
        rows = [{"layer": self.layer, "unit": u, "concept": self.concepts[i][1],
                 "category": self.concepts[i][0], "iou": float(v),
                 "detector": bool(v > iou_threshold)}
                for u, (v, i) in enumerate(zip(value.tolist(), idx.tolist()))]
        return pd.DataFrame(rows).sort_values("iou", ascending=False).reset_index(drop=True)


def dissect(model: nn.Module, layers, concept_set, quantile: float = 0.01, batch_size: int = 32,
            device=None, progress: bool = True) -> dict[str, LayerDissection]:
    """Label every unit of every layer in ``layers`` with its best concept on ``concept_set``
    (a ``concepts.ConceptSet``).

    Two passes over the images: the first finds t_u (exactly, ``TopQuantile``) on the maps at their
    own resolution, the second upsamples each map bilinearly to the image size, thresholds it and
    tallies its IoU with every concept mask. Only the layers' outputs are computed (the forward pass
    stops after the last requested layer), so images may be larger than the classifier accepts.
    """
    names = layer_names(model, layers)
    images, size = concept_set.images, concept_set.images.shape[-1]
    tallies: dict = {}
    quantiles: dict = {}
    passes = (("thresholds t_u", None), ("IoU with concepts", True))
    for desc, second in passes:
        bar = tqdm(total=len(images), desc=f"dissection: {desc}", disable=not progress, leave=False)
        start = 0
        for acts in iter_layer_activations(model, names, images, batch_size, device,
                                           keep_on_device=True):
            n = len(next(iter(acts.values())))
            if second:
                masks = concept_set[start:start + n].masks().to(next(iter(acts.values())).device)
            for name, a in acts.items():
                if a.dim() != 4:
                    raise ValueError(f"Layer {name!r} gives {tuple(a.shape)}; dissection needs "
                                     "convolutional feature maps [N, U, h, w].")
                if not second:
                    if name not in quantiles:
                        quantiles[name] = TopQuantile(len(images) * a.shape[2] * a.shape[3],
                                                      quantile)
                    quantiles[name].update(a)
                else:
                    t = thresholds[name].to(a.device)
                    tallies.setdefault(name, IoUTally()).update(activation_regions(a, t, size),
                                                                masks)
            start += n
            bar.update(n)
        bar.close()
        if not second:
            thresholds = {name: q.thresholds() for name, q in quantiles.items()}
    concepts = concept_set.concepts
    return {name: LayerDissection(name, thresholds[name].cpu(), tallies[name].iou().cpu(), concepts)
            for name in names}


def detector_counts(results: dict, iou_threshold: float = DETECTOR_IOU, categories=None):
    """Number of detector units (best IoU > ``iou_threshold``) per layer and concept category: a
    DataFrame, one row per layer (Bau et al. 2020, Fig. 2)."""
    import pandas as pd
    rows = []
    for name, res in results.items():
        table = res.labels(iou_threshold)
        det = table[table.detector]
        row = {"layer": name, "units": len(table), "detectors": len(det),
               "unique concepts": det.concept.nunique()}
        cats = categories or sorted({c for c, _ in res.concepts},
                                    key=[c for c, _ in res.concepts].index)
        row.update({c: int((det.category == c).sum()) for c in cats})
        rows.append(row)
    return pd.DataFrame(rows).set_index("layer")


def top_images(acts: torch.Tensor, unit: int, k: int = 8) -> torch.Tensor:
    """Indices of the ``k`` images on which ``unit`` reaches its highest activation: [k]."""
    return acts[:, unit].flatten(1).amax(1).topk(min(k, len(acts))).indices


def highlight_region(images: torch.Tensor, regions: torch.Tensor,
                     dim: float = 0.25) -> torch.Tensor:
    """uint8 images [N,3,H,W] with everything outside ``regions`` bool [N,H,W] darkened to ``dim``
    of its brightness: the unit's activation region stands out (Bau et al.'s figures)."""
    keep = regions[:, None].float()
    out = images.float() * (keep + dim * (1 - keep))
    return out.round().clamp(0, 255).to(torch.uint8)


# --------------------------------------------------------------------------------------------
# Ablation: remove units, measure what each class loses
# --------------------------------------------------------------------------------------------
@contextmanager
def ablate_units(model: nn.Module, layer, units):
    """Inside the block, the output channels ``units`` (an int or a list) of ``layer`` are zero.

    The forward hook is removed on every exit path, so the model is exactly as before afterwards.

    >>> with ablate_units(vgg, "relu4_2", [17, 3]):
    ...     logits = vgg(x)
    """
    module = check_layer(model, layer)
    units = [units] if isinstance(units, int) else [int(u) for u in units]

    def hook(mod, args, output):
        if units and max(units) >= output.shape[1]:
            raise IndexError(f"unit {max(units)} does not exist: the layer has {output.shape[1]} "
                             f"units (channels 0..{output.shape[1] - 1}).")
        output = output.clone()
        output[:, units] = 0
        return output

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


class _Ablator:
    """Predictions of ``model`` on ``images`` with chosen units of ``layer`` set to zero.

    For a layer of an ``nn.Sequential`` (the course's VGG) the layer's output is computed once and
    only the modules after it re-run for each set of units; otherwise the whole model runs under
    ``ablate_units``. Both give the same predictions.
    """

    def __init__(self, model, layer, images, batch_size=500, device=None):
        self.model, self.name = model, layer_names(model, [layer])[0]
        self.images, self.batch_size = images, batch_size
        self.device = torch.device(device) if device else model_device(model)
        self.tail = _tail(model, self.name)
        self.acts = None
        if self.tail is not None:
            self.acts = layer_activations(model, [self.name], images, batch_size,
                                          self.device)[self.name].to(self.device)
            self.n_units = self.acts.shape[1]
        else:
            self.n_units = layer_activations(model, [self.name], images[:1], 1,
                                             self.device)[self.name].shape[1]

    @torch.no_grad()
    def predict(self, units) -> torch.Tensor:
        units = [int(u) for u in units]
        out = []
        with eval_mode(self.model):
            for i in range(0, len(self.images), self.batch_size):
                if self.tail is not None:
                    a = self.acts[i:i + self.batch_size]
                    if units:
                        a = a.clone()
                        a[:, units] = 0
                    out.append(self.tail(a).argmax(1).cpu())
                else:
                    x = as_float_images(self.images[i:i + self.batch_size], self.device)
                    with ablate_units(self.model, self.name, units):
                        out.append(self.model(x).argmax(1).cpu())
        return torch.cat(out)


def per_class_accuracy(preds: torch.Tensor, labels: torch.Tensor,
                       num_classes: int = 10) -> torch.Tensor:
    """Accuracy on the images of each class: [classes] (0 for a class with no image)."""
    labels = labels.cpu()
    correct = torch.zeros(num_classes, dtype=torch.float64)
    correct.index_add_(0, labels, (preds.cpu() == labels).double())
    return (correct / torch.bincount(labels, minlength=num_classes).clamp_min(1)).float()


def unit_ablation_effects(model: nn.Module, layer, images: torch.Tensor, labels: torch.Tensor,
                          units=None, num_classes: int = 10, batch_size: int = 500, device=None,
                          progress: bool = True) -> torch.Tensor:
    """Accuracy each class loses when each unit of ``layer`` is removed on its own: [U, classes].

    Entry (u, c) = acc_c(model) - acc_c(model with unit u set to zero), where acc_c is the
    accuracy on the images of class c in (``images``, ``labels``) (Bau et al. 2020, Fig. 3: the
    units whose removal costs "ski resort" most). ``units`` defaults to all of the layer's units.
    """
    ab = _Ablator(model, layer, images, batch_size, device)
    units = range(ab.n_units) if units is None else units
    base = per_class_accuracy(ab.predict([]), labels, num_classes)
    return torch.stack([base - per_class_accuracy(ab.predict([u]), labels, num_classes)
                        for u in tqdm(list(units), desc=f"ablating {ab.name}", disable=not progress,
                                  leave=False)])


def accuracy_with_units_removed(model: nn.Module, layer, images: torch.Tensor, labels: torch.Tensor,
                                unit_sets, num_classes: int = 10, batch_size: int = 500,
                                device=None) -> torch.Tensor:
    """Per-class accuracy with each set of units of ``layer`` removed at once: [len(unit_sets),
    classes] (e.g. the top k units for a class against k random ones)."""
    ab = _Ablator(model, layer, images, batch_size, device)
    return torch.stack([per_class_accuracy(ab.predict(s), labels, num_classes) for s in unit_sets])


def random_units(n_units: int, k: int, draws: int, seed: int = 0) -> list[list[int]]:
    """``draws`` random sets of ``k`` distinct units (the baseline for removing the top-k units)."""
    rng = np.random.default_rng(seed)
    return [sorted(rng.choice(n_units, size=k, replace=False).tolist()) for _ in range(draws)]


def lower_class_score(model: nn.Module, x: torch.Tensor, target, eps: float = 2 / 255,
                      steps: int = 5) -> torch.Tensor:
    """An adversarial copy of ``x`` (float [N,3,H,W] in [0,1]): ``steps`` signed-gradient steps of
    eps / steps that lower the score of class ``target``, kept within |x_adv - x| <= eps per pixel
    (the iterated fast gradient sign method of Goodfellow et al. 2015 and Kurakin et al. 2017).
    Bau et al. (2020, Fig. 5) find that such attacks work by silencing the units that matter for
    the class."""
    x0 = as_float_images(x).detach()
    adv = x0.clone()
    for _ in range(steps):
        grad = input_gradient(model, adv, target)
        adv = (adv - eps / steps * grad.sign()).clamp(x0 - eps, x0 + eps).clamp(0, 1)
    return adv

