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


# --------------------------------------------------------------------------------------------
# Counts, indices, numbers and finiteness (the methods of papers 6, 9, 10 and 11 use these)
# --------------------------------------------------------------------------------------------
def check_int(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A Python or NumPy integer (or a one-element integer tensor) as an ``int``, within
    ``[minimum, maximum]``. Booleans and floats (even ``15.0``) are refused: say what you mean."""
    import numbers
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point() \
            and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})"
                        + (f"; use {name}={int(value)}." if isinstance(value, float)
                           and float(value).is_integer() else "."))
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}.")
    return value


def check_index(value, size: int, name: str, what: str = "entries") -> int:
    """An index into ``size`` things counted from 0: negative indices are refused (they would wrap
    around silently and pick the last ``what`` instead of an error)."""
    i = check_int(value, name)
    if not 0 <= i < size:
        hint = " (negative indices do not wrap around here)" if i < 0 else ""
        raise IndexError(f"{name}={i} is out of range: there are {size} {what}, valid indices "
                         f"0..{size - 1}{hint}.")
    return i


def check_number(value, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number (Python, NumPy or a one-element tensor) as a ``float``, in the interval
    given by ``low``/``high`` (closed unless ``low_open``/``high_open``)."""
    import math
    import numbers
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}.")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = ("(" if low_open or low is None else "[") + f"{lo}, {hi}" \
            + (")" if high_open or high is None else "]")
        raise ValueError(f"{name} must be in {interval}, got {value:g}.")
    return value


def check_finite(t: torch.Tensor, name: str, hint: str = "") -> torch.Tensor:
    """``t`` itself when every entry is finite; else a clear error naming the first bad entry."""
    if t.is_floating_point() or t.is_complex():
        bad = ~torch.isfinite(t)
        if bad.any():
            where = tuple(int(i) for i in bad.nonzero()[0])
            raise ValueError(f"{name} contains NaN or inf ({int(bad.sum())} of {t.numel()} "
                             f"entries; the first at index {where} is {t[where].item()})"
                             + (f": {hint}" if hint else "."))
    return t
