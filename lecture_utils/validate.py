"""Checks of user input that turn a deep traceback into a sentence saying what to do."""
from __future__ import annotations

import torch
from torch import nn


def check_images(x, name: str = "x") -> torch.Tensor:
    """x must be a float tensor [N, C, H, W]; a single image [C, H, W] gets a hint."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [N, C, H, W], got {type(x).__name__}.")
    if x.dim() == 3:
        raise ValueError(f"{name} has shape {tuple(x.shape)}: a single image. Add the batch "
                         f"dimension with {name}.unsqueeze(0) to get [1, C, H, W].")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape [N, C, H, W], got {tuple(x.shape)}.")
    if not x.is_floating_point():
        raise TypeError(f"{name} has dtype {x.dtype}; models take float images in [0, 1] "
                        "(use lecture_utils.data.to_float on uint8 images).")
    return x


def check_target(target, n: int, num_classes: int) -> torch.Tensor:
    """An int or a LongTensor [N] of class indices, checked against the model's output size."""
    if isinstance(target, torch.Tensor):
        if target.is_floating_point():
            raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}.")
        t = target.reshape(-1).long()
        if len(t) == 1:
            t = t.expand(n)
        if len(t) != n:
            raise ValueError(f"target has {len(t)} entries for a batch of {n} inputs.")
    elif isinstance(target, (int,)) and not isinstance(target, bool):
        t = torch.full((n,), target, dtype=torch.long)
    else:
        raise TypeError(f"target must be an int or a LongTensor [N], got {type(target).__name__}.")
    bad = t[(t < 0) | (t >= num_classes)]
    if len(bad):
        raise IndexError(f"target {bad[0].item()} is out of range: the model has {num_classes} "
                         f"classes (valid indices 0..{num_classes - 1}).")
    return t


def check_layer(model: nn.Module, layer) -> nn.Module:
    """A module of ``model``, given as the module itself or as its name (``"layer3"``)."""
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer)
        except AttributeError:
            names = [n for n, _ in model.named_children()]
            raise ValueError(f"The model has no layer named {layer!r}; its top-level layers are "
                             f"{names} (use dotted names for nested ones, e.g. 'layer3.1').") from None
    if not isinstance(layer, nn.Module) or not any(m is layer for m in model.modules()):
        raise ValueError("layer is not a module of this model: pass one of model.modules() "
                         "(e.g. model.layer3) or its name.")
    return layer


def model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")
