"""How many inputs go through a model at once: one rule per device, in one place (issue 14).

Larger is not faster on a CPU: the zoo's ResNet-GAP on one thread runs 1,000 images of 32x32 in
365 ms at batch 10 (channels-last) and in 560 ms at batch 512, whose activations overflow the
caches. On a GPU a large batch is what keeps it busy, as long as it fits in memory. So:

* CPU: ``CPU_BATCH`` inputs per forward pass (half of it when a backward pass follows), for images
  up to 64x64, fewer for larger ones (the same bytes of activations per batch);
* CUDA (and other accelerators): as many as fit in a share of the free memory, measured by one
  probe pass of two inputs (``torch.cuda.max_memory_allocated``), at most ``GPU_MAX_BATCH``,
  and never more than ``MAX_MEMORY`` bytes (12 GiB: a free Colab T4 has 15); where the memory
  cannot be measured, a fixed safe ``GPU_SAFE_BATCH``.

``LECTURE_BATCH_SIZE`` overrides the choice everywhere (e.g. to reproduce a measurement). Every
kernel that loops over batches (occlusion, LIME, Kernel SHAP, deletion / insertion, CAM and Grad-CAM
over many images, the localization benchmark) asks ``batch_size_for``.
"""
from __future__ import annotations

import os

import torch
from torch import nn

__all__ = ["CPU_BATCH", "GPU_MAX_BATCH", "GPU_SAFE_BATCH", "MAX_MEMORY", "batch_size_for",
           "resolve", "batches"]

CPU_BATCH = 16                   # inference, images up to 64 x 64 (see the module's docstring)
GPU_MAX_BATCH = 1024
GPU_SAFE_BATCH = 128             # when free memory cannot be measured (a 64x64 ResNet-GAP: ~2.5 GB)
MAX_MEMORY = 12 * 2 ** 30        # bytes a notebook may use on the GPU
_PROBED: dict = {}


def _override() -> int | None:
    value = os.environ.get("LECTURE_BATCH_SIZE", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"LECTURE_BATCH_SIZE={value!r}: set a positive integer, or unset it.")
    return int(value)


def batch_size_for(model: nn.Module, shape, *, backward: bool = False, device=None) -> int:
    """The batch size for passes of ``model`` on inputs of ``shape`` ([C, H, W] of one input, or
    a batch's shape [N, C, H, W]) on ``device`` (default: the model's), with a backward pass when
    ``backward``. See the module's docstring for the rule."""
    from .validate import model_device
    forced = _override()
    if forced:
        return forced
    device = torch.device(device) if device is not None else model_device(model)
    shape = tuple(shape)[-3:]
    pixels = shape[-1] * shape[-2] if len(shape) >= 2 else 1
    if device.type == "cpu" or device.type == "meta":
        base = CPU_BATCH // 2 if backward else CPU_BATCH
        return max(1, int(base * min(1.0, 64 * 64 / max(1, pixels))))
    return _gpu_batch(model, shape, backward, device)


def _gpu_batch(model, shape, backward, device) -> int:
    key = (id(model), shape, backward, str(device))
    if key in _PROBED:
        return _PROBED[key]
    if device.type != "cuda":
        return GPU_SAFE_BATCH
    try:
        size = _probe(model, shape, backward, device)
    except Exception:            # no memory statistics (a stand-in device, a driver without them)
        size = GPU_SAFE_BATCH
    _PROBED[key] = size
    return size


def _probe(model, shape, backward, device) -> int:
    from .hooks import eval_mode
    free, _ = torch.cuda.mem_get_info(device)
    budget = min(0.5 * free, MAX_MEMORY)
    x = torch.rand(2, *shape, device=device, requires_grad=backward)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    with eval_mode(model), torch.set_grad_enabled(backward):
        out = model(x)
        if backward:
            torch.autograd.grad(out.float().sum(), x)
    peak = torch.cuda.max_memory_allocated(device) - before
    del x, out
    per_input = max(1, peak // 2)
    return int(max(1, min(GPU_MAX_BATCH, budget // per_input)))


def resolve(batch_size, model: nn.Module, shape, *, backward: bool = False, scale: int = 1) -> int:
    """``batch_size`` as given (checked: an int >= 1), or ``scale`` x ``batch_size_for`` when it
    is ``None``."""
    if batch_size is None:
        return scale * batch_size_for(model, shape, backward=backward)
    from .validate import check_count
    return check_count(batch_size, "batch_size")


def batches(n: int, size: int):
    """The slices of 0..n-1 in order, ``size`` at a time."""
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))
