"""Checks of user input that turn a deep traceback into a sentence saying what to do, and the one
call contract of the course's attribution methods.

The contract (captum's call shape), enforced by the decorator ``attribution_method``:

    method(model, x, target, *, option=...) -> maps [N, H', W']  (or attributions shaped like x)

* ``x``: a batch [N, C, H, W] with the model's C (3 for every image model of the course), uint8
  (0..255) or float (float16/32/64, values in [0, 1]), on any device. It is converted to the
  model's dtype (uint8 by ``data.to_float``) and moved to the model's device; NaN or inf, an empty
  batch, a single image [C, H, W] or the wrong channel count get a clear error first.
* ``target``: an int (NumPy integers too), a sequence of ints, or an integer tensor [N] (or [1]):
  the class explained for each image. Checked against the model's number of classes on the
  method's own first forward pass (no extra pass only to count classes).
* the model's outputs are checked to be finite on every forward pass inside the method.
* the result comes back on ``x``'s device; options are keyword-only.

Every check raises before torch would (``ValueError``, ``TypeError`` or ``IndexError``), with a
message that says what to do.
"""
from __future__ import annotations

import functools
import numbers
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

__all__ = ["check_images", "check_target", "check_layer", "model_device", "model_dtype",
           "model_channels", "check_count", "check_positive", "check_index", "check_finite",
           "check_int", "check_number",
           "as_batch", "as_image", "checked_outputs", "attribution_method", "to_device_of"]

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------
def check_images(x, name: str = "x", *, allow_uint8: bool = False, channels: int | None = None,
                 finite: bool = True) -> torch.Tensor:
    """x must be a tensor [N, C, H, W] (N >= 1) of float (or, with ``allow_uint8``, uint8) values;
    a single image [C, H, W] gets a hint. ``channels``: the C the model takes. With ``finite``,
    NaN and inf are rejected."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [N, C, H, W], got {type(x).__name__} "
                        "(convert NumPy arrays with torch.from_numpy, HWC images with "
                        ".permute(2, 0, 1)).")
    if x.dim() == 3:
        raise ValueError(f"{name} has shape {tuple(x.shape)}: a single image. Add the batch "
                         f"dimension with {name}.unsqueeze(0) to get [1, C, H, W].")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape [N, C, H, W], got {tuple(x.shape)}.")
    if len(x) == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)}): pass at least one "
                         "image.")
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ValueError(f"{name} has shape {tuple(x.shape)}: its images have no pixels.")
    if x.dtype == torch.uint8 and not allow_uint8:
        raise TypeError(f"{name} has dtype uint8; this function takes float images in [0, 1] "
                        "(use lecture_utils.data.to_float).")
    if x.dtype != torch.uint8 and x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} has dtype {x.dtype}; pass float images in [0, 1] or uint8 images "
                        "in 0..255 (lecture_utils.data.to_float converts uint8).")
    if channels is not None and x.shape[1] != channels:
        hint = (" (a grey image: repeat it, x.expand(-1, 3, -1, -1))" if x.shape[1] == 1 else
                " (drop the alpha channel: x[:, :3])" if x.shape[1] == 4 and channels == 3 else
                " (images are [N, C, H, W]: channels second; permute HWC images)")
        raise ValueError(f"{name} has {x.shape[1]} channels but the model takes {channels}"
                         f"{hint}.")
    if finite and x.is_floating_point():
        check_finite(x, name, "replace or drop those images (torch.nan_to_num, or "
                     "x[torch.isfinite(x).flatten(1).all(1)])")
    return x


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU for a parameter-free model."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of the model's first floating parameter (float32 for none)."""
    for t in model.parameters():
        if t.is_floating_point():
            return t.dtype
    return torch.float32


def model_channels(model: nn.Module) -> int | None:
    """The number of input channels the model takes: its ``Normalize``'s mean, else its first
    convolution's ``in_channels``; ``None`` when neither exists (no check)."""
    for m in model.modules():
        mean = getattr(m, "mean", None)
        if type(m).__name__ == "Normalize" and isinstance(mean, torch.Tensor):
            return mean.numel()
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    return None


def as_batch(x, model: nn.Module, name: str = "x") -> torch.Tensor:
    """The contract's input: ``x`` checked (``check_images``, the model's channel count, uint8
    allowed) and returned in the model's dtype on the model's device (uint8 by
    ``data.to_float``)."""
    from .data import to_float
    check_images(x, name, allow_uint8=True, channels=model_channels(model))
    if x.dtype == torch.uint8:
        x = to_float(x)
    return x.to(model_device(model), model_dtype(model))


def as_image(image, model: nn.Module, name: str = "image") -> torch.Tensor:
    """One image [C, H, W] (uint8 or float), checked like a batch of one and returned on the
    model's device in its dtype; a batch [1, C, H, W] or [N, C, H, W] gets a clear error."""
    if isinstance(image, torch.Tensor) and image.dim() == 4:
        hint = f"{name}[0]" if len(image) == 1 else "one image at a time (or the batch method)"
        raise ValueError(f"{name} has shape {tuple(image.shape)}: pass one image [C, H, W] "
                         f"({hint}).")
    if isinstance(image, torch.Tensor) and image.dim() != 3:
        raise ValueError(f"{name} must have shape [C, H, W], got {tuple(image.shape)}.")
    return as_batch(image[None] if isinstance(image, torch.Tensor) else image, model, name)[0]


# --------------------------------------------------------------------------------------------
# Targets, counts, indices
# --------------------------------------------------------------------------------------------
def _is_int(v) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def check_target(target, n: int, num_classes: int | None = None) -> torch.Tensor:
    """The target of each of ``n`` inputs as a LongTensor [n] (on the CPU, or on the device of a
    tensor target): an int (NumPy integers too), a sequence of ints, or an integer tensor [n] or
    [1]. With ``num_classes`` the indices are checked to lie in 0..num_classes-1."""
    if isinstance(target, np.ndarray):
        target = torch.from_numpy(np.ascontiguousarray(target))
    if isinstance(target, (list, tuple)):
        if not all(_is_int(v) for v in target):
            raise TypeError(f"target must hold integer class indices, got {target!r}.")
        target = torch.tensor([int(v) for v in target], dtype=torch.long)
    if isinstance(target, torch.Tensor):
        if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
            raise TypeError(f"target must hold integer class indices, got dtype {target.dtype} "
                            "(use .long() on class indices; a one-hot or probability vector is "
                            "not a target: take its argmax).")
        t = target.reshape(-1).long()
        if len(t) == 1:
            t = t.expand(n)
        if len(t) != n:
            raise ValueError(f"target has {len(t)} entries for a batch of {n} inputs: give one "
                             "class per input, or one int for all.")
    elif _is_int(target):
        t = torch.full((n,), int(target), dtype=torch.long)
    elif target is None:
        raise TypeError("target is None: pass the class to explain (an int, or one per image; "
                        "e.g. the predicted class model(x).argmax(1)).")
    else:
        raise TypeError(f"target must be an int, a sequence of ints or a LongTensor [N], got "
                        f"{type(target).__name__}.")
    if len(t) and int(t.min()) < 0:
        raise IndexError(f"target {int(t.min())} is out of range: class indices start at 0 "
                         "(negative indices are not taken from the end here).")
    if num_classes is not None and len(t):
        _check_range(int(t.min()), int(t.max()), num_classes)
    return t


def _check_range(lo: int, hi: int, num_classes: int) -> None:
    if lo < 0 or hi >= num_classes:
        bad = lo if lo < 0 else hi
        raise IndexError(f"target {bad} is out of range: the model has {num_classes} classes "
                         f"(valid indices 0..{num_classes - 1}).")


def check_count(value, name: str, minimum: int = 1) -> int:
    """An int (NumPy integers too; not a bool or a float) of at least ``minimum``."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return int(value)


def check_positive(value, name: str) -> float:
    """A finite real number > 0 (e.g. a kernel width or a step size)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a positive number, got {value!r}.")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}.")
    return float(value)


def check_layer(model: nn.Module, layer) -> nn.Module:
    """A module of ``model``, given as the module itself or as its name (``"layer3"``)."""
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer)
        except AttributeError:
            names = [n for n, _ in model.named_children()]
            raise ValueError(f"The model has no layer named {layer!r}; its top-level layers are "
                             f"{names} (use dotted names for nested ones, e.g. 'layer3.1')."
                             ) from None
    if not isinstance(layer, nn.Module) or not any(m is layer for m in model.modules()):
        raise ValueError("layer is not a module of this model: pass one of model.modules() "
                         "(e.g. model.layer3) or its name.")
    return layer


# --------------------------------------------------------------------------------------------
# The model's outputs, and the contract as a decorator
# --------------------------------------------------------------------------------------------
@contextmanager
def checked_outputs(model: nn.Module, target: torch.Tensor | None = None):
    """Inside the block, every forward pass of ``model`` checks its output: finite, and (with
    ``target``, class indices) of at least ``target.max() + 1`` classes. This is where the
    methods check the target's range: on their own first forward pass, not on an extra one.
    The hook is removed on every exit path."""
    hi = lo = None
    if target is not None and len(target):
        lo, hi = int(target.min()), int(target.max())

    def hook(module, args, output):
        out = output[0] if isinstance(output, tuple) else output
        if not isinstance(out, torch.Tensor):
            return
        if hi is not None and out.dim() == 2:
            _check_range(lo, hi, out.shape[1])
        if out.is_floating_point() and not bool(torch.isfinite(out).all()):
            raise ValueError("The model's output holds NaN or inf on this input, so nothing can "
                             "be attributed: check the model's weights (a diverged training?) "
                             "and the input's scale (images in [0, 1]).")

    handle = model.register_forward_hook(hook)
    try:
        yield model
    finally:
        handle.remove()


def to_device_of(result, reference: torch.Tensor):
    """``result`` (a tensor, or a tuple / list / dict of them) on ``reference``'s device."""
    device = reference.device
    if isinstance(result, torch.Tensor):
        return result.to(device)
    if isinstance(result, tuple) and hasattr(result, "_fields"):
        return type(result)(*(to_device_of(r, reference) for r in result))
    if isinstance(result, (tuple, list)):
        return type(result)(to_device_of(r, reference) for r in result)
    if isinstance(result, dict):
        return {k: to_device_of(v, reference) for k, v in result.items()}
    return result


def _concat(parts: list):
    first = parts[0]
    if len(parts) == 1:
        return first
    if isinstance(first, torch.Tensor):
        return torch.cat(parts)
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(_concat(list(p)) for p in zip(*parts)))
    if isinstance(first, (tuple, list)):
        return type(first)(_concat(list(p)) for p in zip(*parts))
    if isinstance(first, dict):
        return {k: _concat([p[k] for p in parts]) for k in first}
    raise TypeError(f"cannot join results of type {type(first).__name__} over batches.")


def attribution_method(kernel=None, *, backward: bool = True, batched: bool = True):
    """The contract as a decorator: ``kernel(model, x, target, **options)`` is called with x
    checked and moved by ``as_batch``, target a LongTensor [N] on the model's device, and every
    forward pass checked by ``checked_outputs``; its result comes back on the input's device.
    Options must be keyword-only in the kernel's signature (``def kernel(model, x, target, *,
    ...)``). With ``batched`` a large x goes through the kernel in batches of
    ``batching.batch_size_for`` (``backward``: the kernel takes a gradient), the results joined
    (the images of a batch do not interact in eval mode)."""
    if kernel is None:
        return functools.partial(attribution_method, backward=backward, batched=batched)

    @functools.wraps(kernel)
    def method(model, x, target, *extra, **options):
        if extra:
            raise TypeError(f"{kernel.__name__} takes (model, x, target) and keyword-only options "
                            f"(e.g. {kernel.__name__}(model, x, target, layer='layer3')); got "
                            f"{len(extra)} more positional argument(s).")
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__} (the "
                            "call is method(model, x, target)).")
        xin = as_batch(x, model)
        t = check_target(target, len(xin)).to(xin.device)
        size = len(xin)
        if batched:
            from .batching import batch_size_for
            size = batch_size_for(model, xin.shape, backward=backward)
        parts = []
        with checked_outputs(model, t):
            for start in range(0, len(xin), size):
                out = kernel(model, xin[start:start + size], t[start:start + size], **options)
                parts.append(to_device_of(out, x))
        return _concat(parts)
    method.is_attribution_method = True
    return method


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
            raise ValueError(f"{name} holds NaN or infinite values ({int(bad.sum())} of "
                             f"{t.numel()} entries; the first at index {where} is "
                             f"{t[where].item()})"
                             + (f": {hint.rstrip('.')}." if hint else "."))
    return t
