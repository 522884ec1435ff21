"""Class activation maps: CAM (Zhou et al., 2016) and Grad-CAM (Selvaraju et al., 2017).

Lecture notation. ``f_k(x, y)`` is the activation of unit k of the last convolutional layer at
(x, y); a network with a global-average-pooling (GAP) + linear head scores class c with

    S_c = sum_k w_k^c F_k + b_c,          F_k = (1/Z) sum_{x,y} f_k(x, y),   Z = h w.

(The lecture writes F_k as a *sum*; GAP, as every network implements it, takes the *mean*, so the
identity below carries the factor 1/Z, and the linear layer's bias b_c is added on top.)
Exchanging the two sums gives the class activation map (Zhou et al., Eq. 2):

    M_c(x, y) = sum_k w_k^c f_k(x, y),    S_c = (1/Z) sum_{x,y} M_c(x, y) + b_c.

Grad-CAM (Selvaraju et al., Eqs. 1-2) weights the feature maps A^k of any layer by the
global-average-pooled gradients of the pre-softmax score y^c:

    alpha_k^c = (1/Z) sum_{i,j} dy^c / dA^k_{ij},      L^c = ReLU(sum_k alpha_k^c A^k).

On a GAP + linear head dy^c/dA^k_{ij} = w_k^c / Z, so alpha_k^c = w_k^c / Z and
L^c = ReLU(M_c) / Z: Grad-CAM generalises CAM (Selvaraju et al., "Grad-CAM as a generalization
to CAM").

Every map is returned at the layer's resolution, unnormalised, on the input's device;
``maps.upsample`` brings it to the input size and ``display.overlay`` makes the picture.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .backprop import input_gradient
from .hooks import capture, eval_mode
from .maps import target_output, upsample
from .validate import attribution_method, check_layer

__all__ = ["class_activation_map", "grad_cam_weights", "grad_cam", "guided_grad_cam"]


def _feature_maps(rec, layer_name: str) -> torch.Tensor:
    """The activation ``capture`` recorded, checked to be conv feature maps [N, K, h, w]."""
    a = rec.activation
    if a is None:
        raise ValueError(f"The layer {layer_name} was not called in the model's forward pass, so "
                         "it has no feature maps: pick a layer the input flows through.")
    if a.dim() != 4:
        raise ValueError(f"The layer {layer_name} outputs shape {tuple(a.shape)}; CAM and "
                         "Grad-CAM need convolutional feature maps [N, K, h, w] (pick a conv layer "
                         "or block, e.g. 'layer3' of the ResNet or 'conv4_2' of the VGG).")
    return a


def _name(layer) -> str:
    return repr(layer) if isinstance(layer, str) else type(layer).__name__


@attribution_method(backward=False)
@torch.no_grad()
def class_activation_map(model: nn.Module, x: torch.Tensor, target, *, layer, fc,
                         check_head: bool = True) -> torch.Tensor:
    """The CAM M_c(x, y) = sum_k w_k^c f_k(x, y) (Zhou et al., Eq. 2) of each image's target class.

    x: images [N, C, H, W]; target: int or LongTensor [N]; ``layer``: the last convolutional module
    (its output is f, [N, K, h, w]); ``fc``: the linear layer after GAP (weights w [classes, K]).
    Modules or their names. Returns [N, h, w], with no ReLU and no normalisation.

    With ``check_head`` the model is verified to *be* GAP + ``fc`` on top of ``layer``, i.e.
    fc(mean_{x,y} f) reproduces its scores; otherwise a CAM would not explain them (use Grad-CAM).
    """
    layer_mod, fc_mod = check_layer(model, layer), check_layer(model, fc)
    if not isinstance(fc_mod, nn.Linear):
        raise TypeError(f"fc must be the nn.Linear layer after global average pooling (it holds "
                        f"w_k^c); got {type(fc_mod).__name__}. A network without a GAP + linear "
                        "head has no CAM: use grad_cam, which works with any head.")
    with eval_mode(model), capture(layer_mod) as rec:
        scores = model(x)
    f = _feature_maps(rec, _name(layer))
    if f.shape[1] != fc_mod.in_features:
        raise ValueError(f"CAM needs a GAP + linear head: {_name(layer)} has {f.shape[1]} channels "
                         f"but fc takes {fc_mod.in_features} inputs, so fc does not act on the "
                         "global average of these feature maps. Use grad_cam for this model.")
    if check_head:
        gap_scores = fc_mod(f.mean(dim=(2, 3)))
        if gap_scores.shape != scores.shape or not torch.allclose(
                gap_scores, scores, rtol=1e-3, atol=1e-3 * float(scores.abs().max()) + 1e-5):
            raise ValueError(f"CAM needs a GAP + linear head: fc(global average of "
                             f"{_name(layer)}) does not reproduce the model's scores, so something "
                             "else sits between this layer and fc (or after fc). Pick the last "
                             "convolutional layer, or use grad_cam, which works with any head.")
    # --8<-- [start:cam]
    w = fc_mod.weight[target]                                    # [N, K]: w_k^c for each image
    return torch.einsum("nk,nkhw->nhw", w, f)                    # M_c = sum_k w_k^c f_k
    # --8<-- [end:cam]


@attribution_method(backward=True)
def grad_cam_weights(model: nn.Module, x: torch.Tensor, target, *, layer):
    """alpha_k^c = (1/Z) sum_ij dy^c/dA^k_ij (Selvaraju et al., Eq. 1) and the maps A^k.

    Returns ``(alpha [N, K], A [N, K, h, w])``, both detached. One forward pass and one backward
    pass that stops at ``layer`` (the layers below it need no gradient). The maps are the layer's
    own output even when an in-place op follows it (``hooks.capture``).
    """
    layer_mod = check_layer(model, layer)
    x = x.detach().requires_grad_(True)     # so that A carries a graph even for a frozen model
    with eval_mode(model), torch.enable_grad(), capture(layer_mod, detach=False) as rec:
        scores = model(x)
        if scores.dim() != 2:
            raise ValueError(f"The model outputs shape {tuple(scores.shape)}; Grad-CAM needs class "
                             "scores [N, classes].")
        a = _feature_maps(rec, _name(layer))
        # --8<-- [start:weights]
        y_c = target_output(scores, target, "logit").sum()    # images do not interact in eval
        (grad,) = torch.autograd.grad(y_c, a)                  # dy^c / dA^k_ij
        alpha = grad.mean(dim=(2, 3))                          # (1/Z) sum_ij
        # --8<-- [end:weights]
    return alpha, a.detach()


@attribution_method(backward=True)
def grad_cam(model: nn.Module, x: torch.Tensor, target, *, layer,
             counterfactual: bool = False) -> torch.Tensor:
    """L^c = ReLU(sum_k alpha_k^c A^k) (Selvaraju et al., Eq. 2) at ``layer``'s resolution
    [N, h, w].

    ``counterfactual=True`` negates the gradients (Selvaraju et al., "Counterfactual
    explanations"): the map then shows the regions whose removal would make the network *more*
    confident in class c.
    """
    alpha, a = grad_cam_weights(model, x, target, layer=layer)
    if counterfactual:
        alpha = -alpha
    # --8<-- [start:map]
    return F.relu(torch.einsum("nk,nkhw->nhw", alpha, a))
    # --8<-- [end:map]


@attribution_method(backward=True)
def guided_grad_cam(model: nn.Module, x: torch.Tensor, target, *, layer) -> torch.Tensor:
    """Guided Grad-CAM (Selvaraju et al., "Guided Grad-CAM"): guided backpropagation times the
    Grad-CAM map upsampled (bilinearly) to the input size. Per channel: shaped like x
    [N, C, H, W]."""
    cam = upsample(grad_cam(model, x, target, layer=layer), x.shape[-2:])
    guided = input_gradient(model, x, target, rule="guided")
    return guided * cam[:, None].to(guided.dtype)
