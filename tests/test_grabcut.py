"""Saliency-seeded GrabCut (Simonyan et al. 2014, Sec. 3.1) on images whose answer is known."""
import cv2
import numpy as np
import pytest
import torch

from lecture_utils.grabcut import largest_component_box, saliency_grabcut, saliency_seeds


def _disk_scene(seed=0):
    """A red disk on a textured green background, and a noisy saliency map peaked on the disk."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :80]
    disk = (yy - 30) ** 2 + (xx - 45) ** 2 < 15 ** 2
    img = np.zeros((3, 64, 80), np.float32)
    img[1] = 0.5 + 0.1 * rng.standard_normal((64, 80))
    img[0][disk], img[1][disk] = 0.9, 0.1
    sal = np.exp(-((yy - 30) ** 2 + (xx - 45) ** 2) / (2 * 12.0 ** 2)) + 0.05 * rng.random((64, 80))
    return torch.from_numpy(img.clip(0, 1)), torch.from_numpy(sal), torch.from_numpy(disk)


def test_seeds_follow_the_quantiles():
    sal = torch.arange(100.).reshape(10, 10)
    seeds = saliency_seeds(sal, fg_quantile=0.95, bg_quantile=0.30)
    assert (seeds == cv2.GC_FGD).sum() == 5 and (seeds == cv2.GC_BGD).sum() == 30
    assert (seeds == cv2.GC_PR_BGD).sum() == 65
    assert (seeds[sal >= 95] == cv2.GC_FGD).all()


def test_grabcut_recovers_the_object():
    img, sal, disk = _disk_scene()
    mask = saliency_grabcut(img, sal)
    assert mask.shape == disk.shape and mask.dtype == torch.bool
    iou = (mask & disk).sum() / (mask | disk).sum()
    assert iou > 0.9
    x0, y0, x1, y1 = largest_component_box(mask).tolist()
    assert abs(x0 - 31) <= 2 and abs(y0 - 16) <= 2 and abs(x1 - 60) <= 2 and abs(y1 - 45) <= 2
    uint8 = saliency_grabcut((img * 255).round().to(torch.uint8), sal)
    assert (uint8 ^ mask).float().mean() < 0.02


def test_largest_component_box():
    m = torch.zeros(10, 12, dtype=torch.bool)
    m[1:3, 1:3] = True                  # 4 pixels
    m[5:9, 6:11] = True                 # 20 pixels
    assert largest_component_box(m).tolist() == [6, 5, 11, 9]
    assert largest_component_box(torch.zeros(4, 5, dtype=torch.bool)).tolist() == [0, 0, 5, 4]


def test_errors():
    img, sal, _ = _disk_scene()
    with pytest.raises(ValueError, match="differ in size"):
        saliency_grabcut(img, sal[:10])
    with pytest.raises(ValueError, match="constant"):
        saliency_grabcut(img, torch.ones(64, 80))
    with pytest.raises(ValueError, match="quantile"):
        saliency_seeds(sal, fg_quantile=0.3, bg_quantile=0.5)
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        saliency_grabcut(img[0], sal)
