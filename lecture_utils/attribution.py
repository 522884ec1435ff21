"""Every attribution method of the course in one call shape, for side-by-side comparisons.

The benchmark's interface (``lecture_utils.localization``, captum's call shape):

    method(model, x, target) -> maps [N, h, w]  or  attributions [N, C, H, W]

``course_methods`` returns them all, built from the kernels of the paper notebooks (nothing is
re-implemented here): the gradient, the deconvnet and guided backpropagation
(``backprop.saliency_map`` under the three ReLU rules, notebooks 01-03), occlusion
(``occlusion``, notebook 01), LIME (``lime``, notebook 04), CAM, Grad-CAM and guided Grad-CAM
(``cam``, notebooks 05 and 07), Kernel SHAP and Deep SHAP (``shapley``, notebook 08), plus two
controls that do not look at the model's decision: a random map and an edge detector (the
control of Adebayo et al., 2018).

What each map means, so that "most important first" is well defined for every one of them:
occlusion maps are the *drop* of the class probability when a square covers the position; LIME and
Kernel SHAP give each superpixel its weight (painted over the superpixel); Deep SHAP's pixel value
is the sum of its channels' SHAP values (signed). Gradient-type attributions [N, C, H, W] are
reduced by max_c |.| where a single map is needed (``localization.heatmap``).
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F

from . import backprop, cam, lime, occlusion, shapley
from .backprop import input_mean
from .hooks import eval_mode
from .localization import random_map
from .validate import check_target, model_device

# The order of the course (notebooks 01-08), then the controls.
METHOD_ORDER = ("gradient", "deconvnet", "guided backprop", "occlusion", "LIME", "CAM", "Grad-CAM",
                "guided Grad-CAM", "Kernel SHAP", "Deep SHAP", "edge detector", "random")
MODEL_INDEPENDENT = ("edge detector", "random")
PER_IMAGE = ("occlusion", "LIME", "Kernel SHAP")        # cost: many forward passes per image


def occlusion_map(model, x, target, window: int | None = None, stride: int | None = None,
                  batch_size: int = 256) -> torch.Tensor:
    """Zeiler & Fergus' occlusion as an attribution: P_c(x) - P_c(x with a grey square centred at
    each position), [N, h', w']. ``window`` defaults to 1/8 of the image side, ``stride`` to 1/16."""
    side = x.shape[-1]
    window = window or max(2, side // 8)
    stride = stride or max(1, side // 16)
    device = model_device(model)
    with torch.no_grad(), eval_mode(model):
        probs = model(x.to(device)).softmax(1)
    t = check_target(target, len(x), probs.shape[1]).to(device)
    p = probs.gather(1, t[:, None])[:, 0].cpu()
    occluded = occlusion.occlusion_sensitivity(model, x, t, window=window, stride=stride,
                                               batch_size=batch_size)
    return p[:, None, None] - occluded


def _targets(model, x, target) -> torch.Tensor:
    """The target of each image as a LongTensor [N], checked against the model's classes."""
    with torch.no_grad(), eval_mode(model):
        num_classes = model(x[:1].to(model_device(model))).shape[1]
    return check_target(target, len(x), num_classes).cpu()


def _segments(image: torch.Tensor, n_segments: int) -> torch.Tensor:
    return lime.superpixels(image.detach().cpu(), "slic", n_segments=n_segments)


def lime_map(model, x, target, n_segments: int = 16, num_samples: int = 200,
             num_features: int | None = None, kernel_width: float | None = None,
             seed: int = 0) -> torch.Tensor:
    """LIME (Ribeiro et al.) on SLIC superpixels: each superpixel painted with its weight, [N, H, W]."""
    t = _targets(model, x, target)
    out = []
    for i in range(len(x)):
        seg = _segments(x[i], n_segments)
        e = lime.explain_image(model, x[i], int(t[i]), seg, num_samples, seed,
                               num_features=num_features, kernel_width=kernel_width)
        out.append(shapley.paint(e.weights.float(), seg))
    return torch.stack(out)


def kernel_shap_map(model, x, target, n_segments: int = 16, n_samples: int = 200,
                    seed: int = 0) -> torch.Tensor:
    """Kernel SHAP (Lundberg & Lee) on SLIC superpixels hidden by their mean colour (the same game
    as LIME's): each superpixel painted with its Shapley value, [N, H, W]."""
    t = _targets(model, x, target)
    out = []
    for i in range(len(x)):
        seg = _segments(x[i], n_segments)
        game = shapley.image_game(model, x[i], int(t[i]), seg, baseline="mean")
        phi = shapley.kernel_shap(game, game.M, max(n_samples, game.M + 1), seed)
        out.append(shapley.paint(phi.float(), seg.to(phi.device)).cpu())
    return torch.stack(out)


def deep_shap_map(model, x, target, background: torch.Tensor | None = None,
                  batch_size: int = 64) -> torch.Tensor:
    """Deep SHAP (DeepLIFT's rescale rule averaged over ``background`` [B, C, H, W]; default: one
    image of the model's mean colour). Each pixel's value is the sum over its channels, [N, H, W]."""
    if background is None:
        background = input_mean(model, x.shape[1]).to(x.dtype).expand(1, *x.shape[1:])
    phi = shapley.deep_shap(model, x, background, target, batch_size=batch_size)
    return phi.sum(1).cpu()


def edge_map(model, x, target) -> torch.Tensor:
    """Sobel gradient magnitude of the grey image: ignores the model and the class (Adebayo et
    al.'s edge-detector control), [N, H, W]."""
    grey = x.float().mean(1, keepdim=True).cpu()
    kx = torch.tensor([[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]])
    k = torch.stack([kx, kx.T])[:, None]
    g = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), k)
    return g.pow(2).sum(1).sqrt()


def course_methods(layer="layer3", fc: str | None = "fc", *, n_segments: int = 16,
                   lime_samples: int = 200, shap_samples: int = 200, background=None,
                   occlusion_window: int | None = None, occlusion_stride: int | None = None,
                   include=None, exclude=()) -> dict:
    """{name: method} for every method of the course, in ``METHOD_ORDER``.

    ``layer``: the conv layer of CAM / Grad-CAM; ``fc``: the linear layer after GAP (``None`` for a
    network without a GAP head: no CAM). Deep SHAP is left out for networks it has no rule for (max
    pooling: the VGG) by passing ``exclude=("Deep SHAP",)``. ``include`` keeps only the names given.
    """
    methods = {
        "gradient": backprop.saliency_map,
        "deconvnet": partial(backprop.saliency_map, rule="deconvnet"),
        "guided backprop": partial(backprop.saliency_map, rule="guided"),
        "occlusion": partial(occlusion_map, window=occlusion_window, stride=occlusion_stride),
        "LIME": partial(lime_map, n_segments=n_segments, num_samples=lime_samples),
        "CAM": partial(cam.class_activation_map, layer=layer, fc=fc),
        "Grad-CAM": partial(cam.grad_cam, layer=layer),
        "guided Grad-CAM": partial(cam.guided_grad_cam, layer=layer),
        "Kernel SHAP": partial(kernel_shap_map, n_segments=n_segments, n_samples=shap_samples),
        "Deep SHAP": partial(deep_shap_map, background=background),
        "edge detector": edge_map,
        "random": random_map(),
    }
    if fc is None:
        methods.pop("CAM")
    if include is not None:
        unknown = set(include) - set(METHOD_ORDER)
        if unknown:
            raise ValueError(f"unknown methods {sorted(unknown)}; the course has {METHOD_ORDER}.")
        methods = {k: v for k, v in methods.items() if k in include}
    unknown = set(exclude) - set(METHOD_ORDER)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; the course has {METHOD_ORDER}.")
    return {k: v for k, v in methods.items() if k not in exclude}


def maps_for(methods: dict, model, x: torch.Tensor, target) -> dict:
    """{name: map [N, H, W]} of every method for images x and ``target``, at the input size
    (``localization.heatmap``: max_c |.| for pixel attributions, bilinear upsampling)."""
    from .localization import heatmap
    size = x.shape[-2:]
    return {name: heatmap(m(model, x, target).detach().float().cpu(), size)
            for name, m in methods.items()}


__all__ = ["course_methods", "maps_for", "occlusion_map", "lime_map", "kernel_shap_map",
           "deep_shap_map", "edge_map", "METHOD_ORDER", "MODEL_INDEPENDENT", "PER_IMAGE"]
