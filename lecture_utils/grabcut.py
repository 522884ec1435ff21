"""Weakly supervised object localization from a saliency map, Simonyan et al. (2014), Sec. 3.1.

The saliency map M [H,W] seeds GrabCut (Rother et al., 2004; OpenCV's ``cv2.grabCut``): pixels
with saliency above the ``fg_quantile`` (the paper: 95%) of the image's saliency give the
foreground colour model, those below the ``bg_quantile`` (the paper: 30%) the background colour
model. GrabCut then labels every pixel, and the object's box is the bounding box of the largest
connected component of the foreground.

One difference from the paper: OpenCV's GrabCut has no "not used for the colour models" label, so
the pixels between the two quantiles start as *probable background* (``cv2.GC_PR_BGD``): they
take part in the first background colour model and may become foreground after the graph cut.
The seeds themselves are fixed (``cv2.GC_FGD`` / ``cv2.GC_BGD``).
"""
from __future__ import annotations

import numpy as np
import torch


def _as_hwc_uint8(image) -> np.ndarray:
    """[3,H,W] uint8 or float in [0,1] (tensor or array) -> contiguous [H,W,3] uint8 (BGR order)."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        image = image.numpy() if image.dtype == torch.uint8 else \
            (image.float().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be [3, H, W], got shape {image.shape}.")
    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    return np.ascontiguousarray(image.transpose(1, 2, 0)[..., ::-1])


__all__ = ["saliency_seeds", "saliency_grabcut", "largest_component_box"]


def saliency_seeds(saliency, *, fg_quantile: float = 0.95,
                   bg_quantile: float = 0.30) -> np.ndarray:
    """The GrabCut mask [H,W] uint8 from a saliency map: ``cv2.GC_FGD`` above the ``fg_quantile``,
    ``cv2.GC_BGD`` below the ``bg_quantile``, ``cv2.GC_PR_BGD`` in between."""
    import cv2
    if not 0 <= bg_quantile < fg_quantile <= 1:
        raise ValueError(f"need 0 <= bg_quantile < fg_quantile <= 1, got {bg_quantile}, "
                         f"{fg_quantile}.")
    m = saliency.detach().cpu().float().numpy() if isinstance(saliency, torch.Tensor) else \
        np.asarray(saliency, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f"saliency must be one map [H, W], got shape {m.shape}.")
    if not np.isfinite(m).all():
        raise ValueError("saliency holds NaN or inf: fix the method that made it.")
    hi, lo = np.quantile(m, fg_quantile), np.quantile(m, bg_quantile)
    seeds = np.full(m.shape, cv2.GC_PR_BGD, np.uint8)
    seeds[m >= hi] = cv2.GC_FGD
    seeds[m <= lo] = cv2.GC_BGD
    return seeds


def saliency_grabcut(image, saliency, *, fg_quantile: float = 0.95, bg_quantile: float = 0.30,
                     iterations: int = 5) -> torch.Tensor:
    """Foreground mask bool [H,W] of ``image`` ([3,H,W], uint8 or float in [0,1]) by GrabCut seeded
    with ``saliency`` [H,W] (Simonyan et al., Sec. 3.1; see the module's note on the middle band).
    The saliency map must have the image's size (upsample it first if needed)."""
    import cv2
    img = _as_hwc_uint8(image)
    seeds = saliency_seeds(saliency, fg_quantile=fg_quantile, bg_quantile=bg_quantile)
    if seeds.shape != img.shape[:2]:
        raise ValueError(f"saliency {seeds.shape} and image {img.shape[:2]} differ in size; "
                         "upsample the saliency map to the image first.")
    if not (seeds == cv2.GC_FGD).any() or not (seeds == cv2.GC_BGD).any():
        raise ValueError("The saliency map is constant, so it seeds no foreground or no "
                         "background; GrabCut needs both.")
    mask = seeds.copy()
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)   # GrabCut's k-means initialisation is random
    cv2.grabCut(img, mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    return torch.from_numpy((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD))


def largest_component_box(mask) -> torch.Tensor:
    """(x0, y0, x1, y1), exclusive ends, of the largest 8-connected component of a bool mask [H,W];
    the whole image when the mask is empty."""
    import cv2
    m = mask.cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    if n <= 1:
        return torch.tensor([0, 0, m.shape[1], m.shape[0]])
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(stats[k, s]) for s in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP,
                                              cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    return torch.tensor([x, y, x + w, y + h])
