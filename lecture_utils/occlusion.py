"""Occlusion sensitivity, Zeiler & Fergus (2014), Sec. 4.2 and Fig. 7: slide a grey square over the
image and record, for each position of the square, the probability of the correct class (Fig. 7d),
the most probable class (Fig. 7e) or the strongest activation of one feature map (Fig. 7b).

If the model really locates the object, the probability drops when the square covers it. Every
occluded copy is an ordinary forward pass, so the maps are computed in large batches.
"""
from __future__ import annotations

import torch
from torch import nn

from .backprop import input_mean
from .deconvnet import forward_to_layer
from .hooks import eval_mode
from .validate import check_images, check_layer, check_target, model_device


def occlusion_masks(height: int, width: int, window: int, stride: int) -> torch.Tensor:
    """bool [h', w', H, W]: the square of side ``window`` centred on pixel (stride i, stride j),
    clipped at the border, for h' = ceil(H / stride) rows and w' = ceil(W / stride) columns."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window} and {stride}.")
    ys, xs = torch.arange(0, height, stride), torch.arange(0, width, stride)
    rows, cols = torch.arange(height), torch.arange(width)
    half = window // 2
    in_y = (rows[None] >= ys[:, None] - half) & (rows[None] < ys[:, None] - half + window)  # [h',H]
    in_x = (cols[None] >= xs[:, None] - half) & (cols[None] < xs[:, None] - half + window)  # [w',W]
    return in_y[:, None, :, None] & in_x[None, :, None, :]


@torch.no_grad()
def occlusion_sensitivity(model: nn.Module, x: torch.Tensor, target, window: int = 8,
                          stride: int = 2, fill=None, batch_size: int = 512,
                          output: str = "probability", layer=None, unit: int | None = None,
                          return_top_class: bool = False):
    """Maps [N, h', w'] over the positions of an occluding square (see ``occlusion_masks``).

    ``output="probability"``: P_c of the target class with the square centred at each position;
    ``"score"``: S_c. With ``layer`` and ``unit``: the strongest activation of that feature map
    (``target`` is then ignored). ``fill``: the square's colour, a float or [3] in [0, 1]; default
    the model's mean image colour (a grey square, as in the paper). ``return_top_class=True`` also
    returns the most probable class at each position, int64 [N, h', w'].
    """
    check_images(x)
    if output not in ("probability", "score"):
        raise ValueError(f"output must be 'probability' or 'score', not {output!r}.")
    if (layer is None) != (unit is None):
        raise ValueError("give both layer and unit (a feature map), or neither.")
    device = model_device(model)
    n, c, h, w = x.shape
    masks = occlusion_masks(h, w, window, stride).to(device)
    hp, wp = masks.shape[:2]
    masks = masks.reshape(hp * wp, 1, h, w)
    if fill is None:
        fill_t = input_mean(model, c).to(device)
    else:
        fill_t = torch.as_tensor(fill, dtype=x.dtype, device=device).reshape(1, -1, 1, 1)
    layer_module = check_layer(model, layer) if layer is not None else None
    maps, tops = [], []
    with eval_mode(model):
        t = None
        for i in range(n):
            img = x[i:i + 1].to(device)
            vals, top = [], []
            for j in range(0, len(masks), batch_size):
                occluded = torch.where(masks[j:j + batch_size], fill_t, img)
                if layer_module is not None:
                    act = forward_to_layer(model, occluded, layer_module)
                    vals.append(act[:, unit].flatten(1).amax(1))
                    continue
                logits = model(occluded)
                if t is None:
                    t = check_target(target, n, logits.shape[1]).to(device)
                pick = logits.softmax(1) if output == "probability" else logits
                vals.append(pick[:, t[i]])
                top.append(logits.argmax(1))
            maps.append(torch.cat(vals).reshape(hp, wp))
            if top:
                tops.append(torch.cat(top).reshape(hp, wp))
    out = torch.stack(maps).cpu()
    if return_top_class:
        if not tops:
            raise ValueError("return_top_class needs the class output, not a layer's activation.")
        return out, torch.stack(tops).cpu()
    return out
