"""Small helpers that every attribution kernel shares (foundation layer): the probability or logit
of the target class, the model's mean colour, one map per image, bilinear upsampling.

* ``target_output(logits, target, output)``: f_c(x), the softmax probability P_c or the logit S_c
  (pre-softmax score) of each input's target class, [N];
* ``input_mean(model, channels)``: the per-channel mean the model subtracts (a grey image);
* ``heatmap(attribution, size)``: a method's output as one map per image at ``size``: attributions
  [N, C, H, W] are reduced by max_c |.| (Simonyan et al., Sec. 3), maps [N, h, w] are upsampled;
* ``upsample(maps, size)``: bilinear upsampling of maps [N, h, w].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["OUTPUTS", "target_output", "input_mean", "heatmap", "upsample"]

OUTPUTS = ("probability", "logit")


def check_output(output: str) -> str:
    if output not in OUTPUTS:
        raise ValueError(f"output must be 'probability' (the softmax P_c) or 'logit' (the "
                         f"pre-softmax score S_c), not {output!r}.")
    return output


def target_output(logits: torch.Tensor, target: torch.Tensor, output: str = "probability"
                  ) -> torch.Tensor:
    """f_c for each row of ``logits`` [N, classes]: P_c = softmax(logits)_c (``"probability"``) or
    the logit S_c (``"logit"``), c = ``target`` [N] (or one int for all rows). Float32 or wider."""
    check_output(output)
    z = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    if isinstance(target, int):
        target = torch.full((len(z),), target, dtype=torch.long, device=z.device)
    t = target.to(z.device).reshape(-1, 1)
    if output == "logit":
        return z.gather(1, t)[:, 0]
    return z.softmax(1).gather(1, t)[:, 0]


def input_mean(model: nn.Module, channels: int) -> torch.Tensor:
    """The per-channel mean the model subtracts (its ``normalize`` module), else 0: [1,K,1,1]
    float32, on the model's device."""
    from .validate import model_device
    norm = getattr(model, "normalize", None)
    mean = getattr(norm, "mean", None)
    if isinstance(mean, torch.Tensor) and mean.numel() == channels:
        return mean.detach().reshape(1, channels, 1, 1).float()
    return torch.zeros(1, channels, 1, 1, device=model_device(model))


def upsample(maps: torch.Tensor, size) -> torch.Tensor:
    """Bilinear upsampling of maps [N, h, w] to ``size`` (int or (H, W)): float [N, H, W]."""
    if maps.dim() != 3:
        raise ValueError(f"maps must have shape [N, h, w], got {tuple(maps.shape)}.")
    size = (size, size) if isinstance(size, int) else tuple(size)
    return F.interpolate(maps[:, None].float(), size=size, mode="bilinear",
                         align_corners=False)[:, 0]


def heatmap(attribution: torch.Tensor, size) -> torch.Tensor:
    """A method's output as one map per image at ``size``, on its own device: [N, h, w] maps are
    upsampled; [N, C, H, W] attributions are first reduced by max_c |.| (Simonyan et al.'s
    saliency)."""
    a = attribution.detach().float()
    if a.dim() == 4:
        a = a.abs().amax(dim=1)
    if a.dim() != 3:
        raise ValueError(f"A method must return maps [N, h, w] or attributions [N, C, H, W]; got "
                         f"shape {tuple(attribution.shape)}.")
    size = (size, size) if isinstance(size, int) else tuple(size)
    return a if tuple(a.shape[-2:]) == size else upsample(a, size)
