"""Pictures of what the kernels compute (teaching layer): the kernels compute, this draws.

* ``overlay``: the CAM / Grad-CAM picture of the papers, each map coloured over its image;
* ``show_top_activations``: Zeiler & Fergus' Fig. 2, projections of a unit's top activations
  beside the image patches under their receptive fields (``deconvnet``'s kernels).
"""
from __future__ import annotations

import math

import matplotlib
import torch

from . import deconvnet
from .data import to_float
from .maps import upsample
from .viz import MAGNITUDE_CMAP, normalize_map, show_image_pairs

__all__ = ["overlay", "show_top_activations"]


def overlay(images: torch.Tensor, maps: torch.Tensor, *, alpha: float = 0.5,
            cmap: str = MAGNITUDE_CMAP) -> torch.Tensor:
    """The picture of the papers: each map upsampled to its image, scaled to [0, 1] by its own
    min and max, coloured with ``cmap`` and blended over the image. images [N, 3, H, W] (uint8 or
    float in [0, 1]), maps [N, h, w] -> float [N, 3, H, W] in [0, 1] on the CPU (for
    ``viz.show_images``)."""
    imgs = images.detach().cpu()
    imgs = to_float(imgs) if imgs.dtype == torch.uint8 else imgs.float()
    heat = normalize_map(upsample(maps.detach().cpu().float(), imgs.shape[-2:]))
    colours = torch.from_numpy(matplotlib.colormaps[cmap](heat.numpy())[..., :3]).float()
    return ((1 - alpha) * imgs + alpha * colours.permute(0, 3, 1, 2)).clamp(0, 1)


def show_top_activations(model, x: torch.Tensor, layer: str, units, *, k: int = 9,
                         rule: str = "deconvnet", title: str | None = None, size: float = 2.6):
    """Zeiler & Fergus' Fig. 2 for some ``units`` of ``layer``: for each unit, the projections of
    its top-``k`` activations over the images ``x`` (a mosaic, zero shown as mid-grey, each scaled
    to its own range) above the image patches under their receptive fields. Returns
    ``(figure, top)``."""
    from torchvision.utils import make_grid
    units = torch.as_tensor(units, dtype=torch.long).reshape(-1)
    top = deconvnet.top_activations(model, x, layer, units, k=k)
    proj = deconvnet.project_top_activations(model, x, top, rule=rule).cpu()
    patches, crops = deconvnet.top_patches(model, x.cpu(), top, proj)
    nrow = math.ceil(math.sqrt(k))

    def mosaic(tiles):
        return make_grid(tiles, nrow=nrow, padding=1, pad_value=1.0)
    left = [mosaic(deconvnet.reconstruction_to_image(crops[u])) for u in range(len(units))]
    right = [mosaic(patches[u]) for u in range(len(units))]
    fig = show_image_pairs(left, right, f"projections ({rule})", "image patches", size=size,
                           captions=[f"unit {int(u)}" for u in units])
    fig.suptitle(title or f"{layer}: top-{k} activations")
    return fig, top
