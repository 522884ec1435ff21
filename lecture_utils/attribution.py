"""The course's attribution methods: one registry, one set of names, one call contract.

Every method is called the same way (captum's call shape, checked by
``validate.attribution_method``)::

    method(model, x, target, *, option=...) -> maps [N, H', W']   or   attributions like x

x is a batch [N, 3, H, W] (float in [0, 1] or uint8, on any device: it is moved to the model's
device), target an int, a sequence of ints or a LongTensor [N] (NumPy integers too); the result
comes back on x's device. ``METHODS`` registers each method once, under the one name every
notebook, explorer, benchmark and test uses, with what it needs (a conv ``layer``, a GAP head
``fc``) and what it returns; ``course_methods`` builds them for a model and ``maps_for`` runs them.

=================  ===========================  ========================  ==================
name               kernel                       returns                   notebook
=================  ===========================  ========================  ==================
gradient           ``backprop.saliency_map``    [N, H, W]                 02
deconvnet          same, ``rule="deconvnet"``   [N, H, W]                 01, 03
guided backprop    same, ``rule="guided"``      [N, H, W]                 03
occlusion          ``occlusion.occlusion_map``  [N, h', w']               01
LIME               ``lime.lime_map``            [N, H, W]                 04
CAM                ``cam.class_activation_map`` [N, h, w]                 05
Grad-CAM           ``cam.grad_cam``             [N, h, w]                 07
guided Grad-CAM    ``cam.guided_grad_cam``      like x [N, C, H, W]       07
Kernel SHAP        ``shapley.kernel_shap_map``  [N, H, W]                 08
Deep SHAP          ``shapley.deep_shap_map``    [N, H, W]                 08
edge detector      ``edge_map`` (a control)     [N, H, W]                 12
random             ``random_map`` (a control)   [N, H, W]                 12
=================  ===========================  ========================  ==================

What each map means, so that "most important first" is well defined for every one of them:
occlusion maps are the *drop* of the class probability when a square covers the position; LIME and
Kernel SHAP give each superpixel its weight (painted over the superpixel); Deep SHAP's pixel value
is the sum of its channels' SHAP values (signed). Attributions per channel [N, C, H, W] are
reduced by max_c |.| where a single map is needed (``maps.heatmap``).

Add a method in five steps (say SmoothGrad, or Integrated Gradients)
----------------------------------------------------------------------
1. **Kernel.** Write it in the module of its paper (a new ``lecture_utils/<method>.py`` in the
   methods layer: it may import the foundation, never ``localization``, ``faithfulness``,
   ``sanity`` or ``explorers``), as ``@attribution_method def my_map(model, x, target, *,
   option=...)``, with the paper's equation and the shapes in its docstring. The decorator gives
   you a checked x on the model's device and target as a LongTensor [N]; return a tensor (it
   comes back on x's device). Use ``maps.target_output`` for "the probability or logit of the
   target" and ``hooks`` for anything that hooks the model (as context managers).
2. **Registry.** Add one ``Method`` to ``METHODS`` below (its name, kernel, what it needs) and
   its name to ``METHOD_ORDER``; ``tests/test_attribution.py`` then checks the contract for it
   (shapes, devices, dtypes, target forms, bad input) with no new test code.
3. **Reference-library test.** In ``tests/test_<method>.py`` compare it with captum (or the
   paper's reference code) on a small model, with a tolerance that follows the dtype.
4. **Exercise check.** If the notebook asks students to implement a formula, add
   ``check_<formula>`` in ``lecture_utils/checks/`` comparing their function with yours.
5. **Notebook cell.** Show the kernel with ``show_source(module.my_map)`` (or a marked region,
   ``# --8<-- [start:name]`` ... ``# --8<-- [end:name]``), and it appears in notebook 12's
   comparison and the explorers by its registered name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F

from . import backprop, cam, lime, occlusion, shapley
from .maps import heatmap
from .validate import attribution_method, check_count

__all__ = ["Method", "METHODS", "METHOD_ORDER", "MODEL_INDEPENDENT", "PER_IMAGE", "course_methods",
           "maps_for", "edge_map", "random_map"]


# --------------------------------------------------------------------------------------------
# The two controls: they ignore the model's decision (Adebayo et al., 2018)
# --------------------------------------------------------------------------------------------
@attribution_method(backward=False, batched=False)
def edge_map(model, x: torch.Tensor, target) -> torch.Tensor:
    """Sobel gradient magnitude of the grey image: ignores the model and the class (Adebayo et
    al.'s edge-detector control), [N, H, W]."""
    grey = x.float().mean(1, keepdim=True)
    kx = torch.tensor([[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]], device=x.device)
    k = torch.stack([kx, kx.T])[:, None]
    g = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), k)
    return g.pow(2).sum(1).sqrt()


def random_map(seed: int = 0, resolution: int | None = None):
    """A control method: uniform noise [N, r, r] from its own generator (``seed``; each call
    draws new maps), at the input's resolution by default. (A coarser map, once upsampled
    bilinearly, peaks on the border more often than inside, since only border cells keep their
    value exactly: a biased pointing game.)"""
    check_count(seed, "seed", minimum=0)
    g = torch.Generator().manual_seed(seed)

    @attribution_method(backward=False, batched=False)
    def random_map(model, x, target):
        r = resolution or x.shape[-1]
        return torch.rand(len(x), r, r, generator=g).to(x.device)
    return random_map


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Method:
    """One registered method: ``build(**options)`` returns the callable ``method(model, x,
    target)``; ``needs`` names the model's modules it takes (``"layer"``: a conv layer, ``"fc"``:
    the linear layer after GAP); ``per_channel``: it returns attributions shaped like x (else maps
    [N, h, w]); ``control``: it ignores the model (edge detector, random); ``per_image``: it runs
    many forward passes per image (occlusion, LIME, Kernel SHAP)."""

    name: str
    build: Callable
    notebook: str
    needs: tuple = ()
    per_channel: bool = False
    control: bool = False
    per_image: bool = False
    defaults: dict = field(default_factory=dict)


def _rule(rule):
    return partial(backprop.saliency_map, rule=rule)


METHODS = {m.name: m for m in [
    Method("gradient", lambda: backprop.saliency_map, "02"),
    Method("deconvnet", lambda: _rule("deconvnet"), "01, 03"),
    Method("guided backprop", lambda: _rule("guided"), "03"),
    Method("occlusion", lambda window=None, stride=None: partial(
        occlusion.occlusion_map, window=window, stride=stride), "01", per_image=True),
    Method("LIME", lambda n_segments=16, n_samples=200: partial(
        lime.lime_map, n_segments=n_segments, n_samples=n_samples), "04", per_image=True),
    Method("CAM", lambda layer, fc: partial(cam.class_activation_map, layer=layer, fc=fc), "05",
           needs=("layer", "fc")),
    Method("Grad-CAM", lambda layer: partial(cam.grad_cam, layer=layer), "07", needs=("layer",)),
    Method("guided Grad-CAM", lambda layer: partial(cam.guided_grad_cam, layer=layer), "07",
           needs=("layer",), per_channel=True),
    Method("Kernel SHAP", lambda n_segments=16, n_samples=200: partial(
        shapley.kernel_shap_map, n_segments=n_segments, n_samples=n_samples), "08",
        per_image=True),
    Method("Deep SHAP", lambda background=None: partial(shapley.deep_shap_map,
                                                        background=background), "08"),
    Method("edge detector", lambda: edge_map, "12", control=True),
    Method("random", lambda seed=0: random_map(seed), "12", control=True),
]}

# The order of the course (notebooks 01-08), then the controls.
METHOD_ORDER = tuple(METHODS)
MODEL_INDEPENDENT = tuple(n for n, m in METHODS.items() if m.control)
PER_IMAGE = tuple(n for n, m in METHODS.items() if m.per_image)


def _check_names(names, what: str) -> None:
    unknown = set(names) - set(METHOD_ORDER)
    if unknown:
        raise ValueError(f"unknown methods in {what}: {sorted(unknown)}; the course has "
                         f"{METHOD_ORDER}.")


def course_methods(layer="layer3", fc: str | None = "fc", *, n_segments: int = 16,
                   lime_samples: int = 200, shap_samples: int = 200, background=None,
                   occlusion_window: int | None = None, occlusion_stride: int | None = None,
                   seed: int = 0, include=None, exclude=()) -> dict:
    """{name: method} for every registered method, in ``METHOD_ORDER``, built for a model.

    ``layer``: the conv layer of CAM / Grad-CAM; ``fc``: the linear layer after GAP (``None`` for a
    network without a GAP head: no CAM). Deep SHAP is left out for networks it has no rule for (max
    pooling: the VGG) by passing ``exclude=("Deep SHAP",)``. ``include`` keeps only the names
    given. ``background``: Deep SHAP's references; ``seed``: the random control's.
    """
    options = {"layer": layer, "fc": fc}
    per_method = {"occlusion": dict(window=occlusion_window, stride=occlusion_stride),
                  "LIME": dict(n_segments=n_segments, n_samples=lime_samples),
                  "Kernel SHAP": dict(n_segments=n_segments, n_samples=shap_samples),
                  "Deep SHAP": dict(background=background), "random": dict(seed=seed)}
    if include is not None:
        _check_names(include, "include")
    _check_names(exclude, "exclude")
    out = {}
    for name, m in METHODS.items():
        if (include is not None and name not in include) or name in exclude:
            continue
        if any(options[k] is None for k in m.needs):
            continue                                    # e.g. no fc: no CAM
        out[name] = m.build(**{k: options[k] for k in m.needs}, **per_method.get(name, {}))
    return out


def maps_for(model, x: torch.Tensor, target, methods: dict) -> dict:
    """{name: map [N, H, W]} of every method of ``methods`` ({name: method}) for images x and
    ``target``, at the input size (``maps.heatmap``: max_c |.| for per-channel attributions,
    bilinear upsampling), on x's device."""
    size = x.shape[-2:]
    return {name: heatmap(m(model, x, target).detach(), size) for name, m in methods.items()}
