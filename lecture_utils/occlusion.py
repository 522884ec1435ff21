"""Occlusion sensitivity, Zeiler & Fergus (2014), Sec. 4.2 and Fig. 7: slide a grey square over the
image and record, for each position of the square, the probability of the correct class (Fig. 7d),
the most probable class (Fig. 7e) or the total activation of one feature map (Fig. 7b).

If the model really locates the object, the probability drops when the square covers it. Every
occluded copy is an ordinary forward pass, so the copies go through the model in batches
(``batching.batch_size_for``). One function per question:

* ``occlusion_sensitivity``: P_c (or the logit S_c) with the square at each position, [N, h', w'];
* ``occlusion_map``: the attribution, P_c(x) - P_c(x occluded at each position), [N, h', w'];
* ``occluded_logits``: every class's logit at each position, [N, h', w', classes] (Fig. 7e is
  its argmax);
* ``occlusion_activation``: the total (or the strongest) activation of one feature map,
  [N, h', w'] (Fig. 7b).
"""
from __future__ import annotations

import torch
from torch import nn

from .batching import resolve
from .hooks import eval_mode, forward_to_layer
from .maps import check_output, input_mean, target_output
from .validate import (as_batch, attribution_method, check_count, check_finite, check_index,
                       check_layer, checked_outputs, to_device_of)

__all__ = ["occlusion_masks", "occlusion_sensitivity", "occlusion_map", "occluded_logits",
           "occlusion_activation"]


def occlusion_masks(height: int, width: int, window: int, stride: int) -> torch.Tensor:
    """bool [h', w', H, W]: the square of side ``window`` centred on pixel (stride i, stride j),
    clipped at the border, for h' = ceil(H / stride) rows and w' = ceil(W / stride) columns."""
    window, stride = check_count(window, "window"), check_count(stride, "stride")
    ys, xs = torch.arange(0, height, stride), torch.arange(0, width, stride)
    rows, cols = torch.arange(height), torch.arange(width)
    half = window // 2
    in_y = (rows[None] >= ys[:, None] - half) & (rows[None] < ys[:, None] - half + window)
    in_x = (cols[None] >= xs[:, None] - half) & (cols[None] < xs[:, None] - half + window)
    return in_y[:, None, :, None] & in_x[None, :, None, :]            # [h', w', H, W]


def _fill(model: nn.Module, x: torch.Tensor, fill) -> torch.Tensor:
    """The square's colour [1, C, 1, 1] on x's device: the model's mean colour by default."""
    c = x.shape[1]
    if fill is None:
        return input_mean(model, c).to(x.device, x.dtype)
    f = torch.as_tensor(fill, dtype=x.dtype, device=x.device).reshape(-1)
    if len(f) not in (1, c):
        raise ValueError(f"fill must be one number or one per channel ({c}), got {len(f)} values.")
    check_finite(f, "fill")
    return f.reshape(1, -1, 1, 1).expand(1, c, 1, 1)


def _occluded(model, x, window, stride, fill, batch_size, fn):
    """fn(occluded copies [B, C, H, W], image index) for every image of x and every position of
    the square, in batches: the results joined per image and shaped [N, h', w', ...]."""
    n, c, h, w = x.shape
    window = window if window is not None else max(2, w // 8)
    stride = stride if stride is not None else max(1, w // 16)
    masks = occlusion_masks(h, w, window, stride).to(x.device)
    hp, wp = masks.shape[:2]
    masks = masks.reshape(hp * wp, 1, h, w)
    fill_t = _fill(model, x, fill)
    batch_size = resolve(batch_size, model, x.shape)
    out = []
    with eval_mode(model), torch.no_grad():
        for i in range(n):
            img = x[i:i + 1]
            # --8<-- [start:occlude]
            vals = [fn(torch.where(masks[j:j + batch_size], fill_t, img), i)
                    for j in range(0, len(masks), batch_size)]
            # --8<-- [end:occlude]
            v = torch.cat(vals)
            out.append(v.reshape(hp, wp, *v.shape[1:]))
    return torch.stack(out)


@attribution_method(backward=False)
def occlusion_sensitivity(model: nn.Module, x: torch.Tensor, target, *, window: int | None = None,
                          stride: int | None = None, fill=None, output: str = "probability",
                          batch_size: int | None = None) -> torch.Tensor:
    """f_c with a grey square centred at each position (see ``occlusion_masks``): [N, h', w'].

    ``output="probability"``: P_c of the target class (Zeiler & Fergus, Fig. 7d); ``"logit"``:
    S_c. ``window`` defaults to 1/8 of the image side, ``stride`` to 1/16. ``fill``: the square's
    colour, a float or one per channel in [0, 1]; default the model's mean colour (a grey square,
    as in the paper). ``batch_size``: occluded copies per forward pass (default
    ``batching.batch_size_for``).
    """
    check_output(output)
    return _occluded(model, x, window, stride, fill, batch_size,
                     lambda xs, i: target_output(model(xs), target[i].expand(len(xs)), output))


@attribution_method(backward=False)
def occlusion_map(model: nn.Module, x: torch.Tensor, target, *, window: int | None = None,
                  stride: int | None = None, fill=None, batch_size: int | None = None
                  ) -> torch.Tensor:
    """Zeiler & Fergus' occlusion as an attribution: P_c(x) - P_c(x with a grey square centred at
    each position), [N, h', w'] (positive where covering the image lowers the class's
    probability). Options as ``occlusion_sensitivity``."""
    with eval_mode(model), torch.no_grad():
        p = target_output(model(x), target, "probability")
    occluded = occlusion_sensitivity(model, x, target, window=window, stride=stride, fill=fill,
                                     batch_size=batch_size)
    return p[:, None, None] - occluded


def occluded_logits(model: nn.Module, x: torch.Tensor, *, window: int | None = None,
                    stride: int | None = None, fill=None, batch_size: int | None = None
                    ) -> torch.Tensor:
    """Every class's logit with the square at each position: [N, h', w', classes] on x's device
    (its ``argmax(-1)`` is the most probable class at each position, Fig. 7e)."""
    xin = as_batch(x, model)
    with checked_outputs(model):
        out = _occluded(model, xin, window, stride, fill, batch_size, lambda xs, i: model(xs))
    return to_device_of(out, x)


def occlusion_activation(model: nn.Module, x: torch.Tensor, *, layer, unit: int,
                         window: int | None = None, stride: int | None = None, fill=None,
                         statistic: str = "total", batch_size: int | None = None) -> torch.Tensor:
    """One feature map's response with the square at each position (Zeiler & Fergus, Fig. 7b):
    [N, h', w'] on x's device. ``statistic="total"`` (the paper's "total activation") is
    sum_{i,j} A^u_{ij}, the feature map ``unit`` of ``layer`` [h, w] summed over positions;
    ``"max"`` is its strongest activation max_{i,j} A^u_{ij}. Only the layers up to ``layer``
    run."""
    if statistic not in ("total", "max"):
        raise ValueError(f"statistic must be 'total' (the paper's total activation) or 'max', "
                         f"not {statistic!r}.")
    xin = as_batch(x, model)
    module = check_layer(model, layer)

    def response(xs, i):
        act = forward_to_layer(model, xs, module)
        u = check_index(unit, act.shape[1], "unit", f"feature maps in layer {layer!r}")
        fmap = act[:, u].flatten(1)
        return fmap.sum(1) if statistic == "total" else fmap.amax(1)
    return to_device_of(_occluded(model, xin, window, stride, fill, batch_size, response), x)
