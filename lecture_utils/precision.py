"""One precision policy for the whole course: which dtype the forward passes run in, per device.

=====================  ===========================================================
device                 policy (``LECTURE_PRECISION=auto``, the default)
=====================  ===========================================================
CUDA, sm >= 8.0        bf16 autocast (Ampere and newer have bf16 tensor cores)
CUDA, sm <  8.0        fp16 autocast with a gradient scaler (a T4 *emulates* bf16:
                       cuDNN refuses bf16 convolutions there and PyTorch falls back
                       to slow kernels, so ``torch.cuda.is_bf16_supported()`` is
                       not the question to ask)
CPU with native bf16   bf16 autocast (oneDNN on AVX512-BF16 / AMX cores: 1.7-2.9x
                       faster training than float32 on the course's CPU)
anything else          float32
=====================  ===========================================================

``LECTURE_PRECISION`` forces a choice: ``fp32`` (float32 everywhere, e.g. to rule precision out
when debugging), ``bf16`` or ``fp16``.

Training (``train.fit``) and batched inference (``train.predict_logits`` and the passes built on
it) use this policy. Attribution methods do not: their gradients are taken in float32, because a
saliency map is a derivative of one logit and the tests compare it with captum to tight tolerances.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

__all__ = ["Precision", "precision_for", "autocast", "grad_scaler", "CHOICES"]

CHOICES = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Precision:
    """``dtype`` of autocast (None = float32, no autocast) and whether gradients need a scaler."""

    name: str                      # "bf16", "fp16" or "fp32"
    dtype: torch.dtype | None
    scaler: bool = False
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})" if self.reason else self.name


_FP32 = Precision("fp32", None)


def _cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def precision_for(device) -> Precision:
    """The policy for ``device`` (a ``torch.device`` or its name); see the module's table."""
    device = torch.device(device)
    choice = os.environ.get("LECTURE_PRECISION", "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        raise ValueError(f"LECTURE_PRECISION={choice!r}: choose one of {CHOICES}.")
    if choice == "fp32":
        return Precision("fp32", None, reason="LECTURE_PRECISION=fp32")
    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        if choice == "bf16" or (choice == "auto" and major >= 8):
            return Precision("bf16", torch.bfloat16, reason=f"CUDA sm {major}.x")
        return Precision("fp16", torch.float16, scaler=True,
                         reason=f"CUDA sm {major}.x: no native bf16, fp16 with a gradient scaler")
    if device.type == "cpu":
        if choice == "fp16":
            raise ValueError("LECTURE_PRECISION=fp16 is for CUDA devices; "
                             "on a CPU use bf16 or fp32.")
        if _cpu_has_native_bf16():
            return Precision("bf16", torch.bfloat16, reason="CPU with native bf16 (oneDNN)")
        if choice == "bf16":
            return Precision("bf16", torch.bfloat16,
                             reason="LECTURE_PRECISION=bf16 on a CPU without native bf16 (slow)")
        return Precision("fp32", None, reason="this CPU has no native bf16")
    return Precision("fp32", None, reason=f"{device.type}: float32")


def autocast(device, precision: Precision | None = None):
    """``torch.autocast`` for the device's policy, or a no-op context under float32."""
    device = torch.device(device)
    precision = precision or precision_for(device)
    if precision.dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=precision.dtype)


def grad_scaler(device, precision: Precision | None = None) -> torch.amp.GradScaler:
    """A ``GradScaler`` that is enabled only where the policy needs one (fp16)."""
    device = torch.device(device)
    precision = precision or precision_for(device)
    return torch.amp.GradScaler(device.type, enabled=precision.scaler)
