"""Zeiler & Fergus (2014), Visualizing and Understanding Convolutional Networks: project one unit of
one layer down to pixel space, find the images and patches that excite a unit most.

The deconvnet inverts each layer on the way down (the lecture's notation; R_n is the
reconstruction at the input of layer n):

* unpooling with the switches:  R_n(s) = R_{n+1}(p) 1(s = argmax_{q in Omega(p)} X_n(q)),
* rectification:                R_n = R_{n+1} 1(R_{n+1} > 0),
* filtering with the flipped filters:  R_n = R_{n+1} * K^_n   (``flipped_kernel_convolution``).

Unpooling and filtering are exactly the backward pass of max-pooling and of the convolution, so the
projection is ``torch.autograd.grad`` with the ReLU rule of ``hooks.relu_backward_rule``
(``rule="deconvnet"``; ``"gradient"`` and ``"guided"`` give the other two pictures of Simonyan et
al.
and Springenberg et al.). Batch norm in eval mode is a per-channel affine map and passes the
signal by its scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata
from torch import nn

from .batching import resolve
from .data import to_float
from .hooks import eval_mode, forward_to_layer, relu_backward_rule
from .validate import as_batch, check_count, check_layer, model_device, to_device_of

__all__ = ["flip_kernel", "flipped_kernel_convolution", "TopActivations", "top_activations",
           "project_unit", "project_top_activations", "ReceptiveField", "receptive_field",
           "crop_patches", "clip_box", "top_patches", "reconstruction_to_image",
           "unit_correlation", "settling_epochs", "settling_order"]


# --------------------------------------------------------------------------------------------
# Filtering: the transposed convolution is the convolution with the flipped kernel
# --------------------------------------------------------------------------------------------
def flip_kernel(weight: torch.Tensor) -> torch.Tensor:
    """K^: the kernel [C_out, C_in, k, k] flipped vertically and horizontally, with its input and
    output channels swapped -> [C_in, C_out, k, k], so that it maps C_out channels back to C_in."""
    return weight.flip(-2, -1).transpose(0, 1)


def flipped_kernel_convolution(r: torch.Tensor, weight: torch.Tensor, stride: int = 1,
                               padding: int = 0, output_padding: int = 0) -> torch.Tensor:
    """R_n = R_{n+1} * K^_n written as an ordinary convolution: for a layer X_{n+1} = X_n * K_n with
    the given stride and padding, insert (stride - 1) zeros between the entries of R_{n+1}
    [N,C_out,h,w], pad by k - 1 - padding and convolve with the flipped kernel.

    Equals ``F.conv_transpose2d(r, weight, stride=stride, padding=padding)`` (the transposed
    convolution) and the gradient of the convolution with respect to its input.
    """
    k = weight.shape[-1]
    if weight.shape[-2] != k:
        raise ValueError("flipped_kernel_convolution expects square kernels.")
    if k - 1 - padding < 0:
        raise ValueError(f"padding {padding} is larger than kernel_size - 1 = {k - 1}.")
    n, c, h, w = r.shape
    if stride > 1:                                     # zero insertion ("fractional striding")
        up = r.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
        up[..., ::stride, ::stride] = r
        r = up
    q = k - 1 - padding
    r = F.pad(r, (q, q + output_padding, q, q + output_padding))
    return F.conv2d(r, flip_kernel(weight))


# --------------------------------------------------------------------------------------------
# The images that excite a unit most
# --------------------------------------------------------------------------------------------
@dataclass
class TopActivations:
    """The k images that excite each unit most. ``index`` [U,k] image indices, ``position`` [U,k,2]
    the (row, column) of the strongest activation in the unit's feature map, ``value`` [U,k] that
    activation; ``units`` [U] the feature maps (channels) of ``layer``."""

    layer: str
    units: torch.Tensor
    index: torch.Tensor
    position: torch.Tensor
    value: torch.Tensor
    map_size: tuple


def _units(units, channels: int, layer) -> torch.Tensor:
    """Unit indices as a LongTensor [U], each in 0..channels-1 (negative indices refused)."""
    u = torch.as_tensor(units).reshape(-1)
    if len(u) == 0:
        raise ValueError("units is empty: name at least one feature map (channel) of the layer.")
    if u.is_floating_point() or u.dtype == torch.bool:
        raise TypeError(f"units must be integer channel indices, got dtype {u.dtype}.")
    u = u.long()
    if int(u.min()) < 0 or int(u.max()) >= channels:
        bad = int(u.min()) if int(u.min()) < 0 else int(u.max())
        where = f"layer {layer!r}" if isinstance(layer, str) else "the layer"
        raise IndexError(f"unit {bad} is out of range: {where} has {channels} feature maps "
                         f"(valid 0..{channels - 1}; negative indices are not taken from the end "
                         "here).")
    return u


def top_activations(model: nn.Module, x: torch.Tensor, layer: str, units, *, k: int = 9,
                    batch_size: int | None = None) -> TopActivations:
    """For each unit (channel) of ``layer``, the ``k`` images of ``x`` [N,3,H,W] (uint8 or
    float, on any device) whose feature map has the largest maximum, and where that maximum is
    (Zeiler & Fergus, Fig. 2: "the top 9 activations ... across the validation data"). The
    images go through the model batch by batch (``batching.batch_size_for``); the result is on
    the CPU (indices into x)."""
    layer_module = check_layer(model, layer)
    check_count(k, "k")
    as_batch(x[:1], model)                      # the kind of input, checked once up front
    batch_size = resolve(batch_size, model, x.shape)
    device = model_device(model)
    best_val = best_idx = best_pos = None
    size = u = None
    with eval_mode(model), torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = as_batch(x[i:i + batch_size], model)
            act = forward_to_layer(model, xb, layer_module)
            if u is None:
                u = _units(units, act.shape[1], layer).to(device)
            size = tuple(act.shape[-2:])
            flat = act[:, u].flatten(2)                                   # [B,U,h*w]
            val, where = flat.max(2)                                      # [B,U]
            idx = torch.arange(i, i + len(xb), device=device)[:, None].expand_as(val)
            cand_val = val.T if best_val is None else torch.cat([best_val, val.T], 1)
            cand_idx = idx.T if best_idx is None else torch.cat([best_idx, idx.T], 1)
            cand_pos = where.T if best_pos is None else torch.cat([best_pos, where.T], 1)
            top = cand_val.topk(min(k, cand_val.shape[1]), dim=1).indices
            best_val, best_idx = cand_val.gather(1, top), cand_idx.gather(1, top)
            best_pos = cand_pos.gather(1, top)
    pos = torch.stack([best_pos // size[1], best_pos % size[1]], -1)
    return TopActivations(layer, u.cpu(), best_idx.cpu(), pos.cpu(), best_val.cpu(), size)


# --------------------------------------------------------------------------------------------
# Projection of one unit to pixel space
# --------------------------------------------------------------------------------------------
def project_unit(model: nn.Module, x: torch.Tensor, layer, unit, *, position="max",
                 rule: str = "deconvnet", signal: str = "activation") -> torch.Tensor:
    """Project unit ``unit`` (a channel) of ``layer`` down to pixel space for each image of x
    [N,3,H,W]; returns R_0 shaped like x.

    As Zeiler & Fergus do, all other activations of the layer are set to zero and the kept ones are
    passed down: ``position="max"`` keeps the strongest activation of the feature map (per image),
    ``"all"`` the whole feature map, a (row, col) pair or a LongTensor [N,2] that position.
    ``unit``: an int or a LongTensor [N] (one unit per image). ``signal="activation"`` starts from
    the activation's value, ``"one"`` from 1 (the reconstruction then does not depend on the
    activation's size). ``rule``: ``"deconvnet"`` (Zeiler & Fergus), ``"guided"`` (Springenberg
    et al.) or ``"gradient"`` (Simonyan et al.) at every rectifier below the layer; the layer's own
    rectifier, if it is one, passes the seed where X > 0, which is where an activation seed is
    non-zero (so the three rules agree there). x (uint8 or float) is moved to the model's device;
    the projection comes back on x's device.
    """
    home = x
    x = as_batch(x, model)
    layer = check_layer(model, layer)
    if signal not in ("activation", "one"):
        raise ValueError(f"signal must be 'activation' or 'one', not {signal!r}.")
    x = x.detach().clone().requires_grad_(True)
    with eval_mode(model):
        with relu_backward_rule(model, rule), torch.enable_grad():
            act = forward_to_layer(model, x, layer, detach=False)
            seed = _seed(act, unit, position, signal)
            (grad,) = torch.autograd.grad(act, x, seed)
    return to_device_of(grad.detach(), home)


def _seed(act: torch.Tensor, unit, position, signal: str) -> torch.Tensor:
    n, c = act.shape[:2]
    if act.dim() != 4:
        raise ValueError(f"the layer outputs shape {tuple(act.shape)}; projecting a unit needs "
                         "feature maps [N, C, h, w] (pick a convolutional layer).")
    units = _units(unit, c, None).to(act.device)
    units = units.expand(n) if len(units) == 1 else units
    if len(units) != n:
        raise ValueError(f"unit has {len(units)} entries for a batch of {n} images.")
    rows = torch.arange(n, device=act.device)
    fmap = act.detach()[rows, units]                              # [N,h,w]
    keep = torch.zeros_like(fmap, dtype=torch.bool)
    if isinstance(position, str) and position == "all":
        keep[:] = True
    elif isinstance(position, str) and position == "max":
        where = fmap.flatten(1).argmax(1)
        keep.view(n, -1)[rows, where] = True
    else:
        pos = _positions(position, n, tuple(fmap.shape[-2:])).to(act.device)
        keep[rows, pos[:, 0], pos[:, 1]] = True
    value = fmap if signal == "activation" else torch.ones_like(fmap)
    seed = torch.zeros_like(act)
    seed[rows, units] = torch.where(keep, value, torch.zeros_like(value))
    return seed


def _positions(position, n: int, size: tuple) -> torch.Tensor:
    """A (row, col) pair or a LongTensor [N, 2] of positions in a feature map of ``size``."""
    pos = torch.as_tensor(position)
    if pos.is_floating_point() or pos.dtype == torch.bool:
        raise TypeError(f"position must be 'max', 'all', a (row, col) pair of ints or a LongTensor "
                        f"[N, 2]; got {position!r}.")
    pos = pos.long().reshape(-1, 2).cpu()
    if len(pos) not in (1, n):
        raise ValueError(f"position has {len(pos)} rows for a batch of {n} images.")
    h, w = size
    if int(pos.min()) < 0 or int(pos[:, 0].max()) >= h or int(pos[:, 1].max()) >= w:
        raise IndexError(f"position {pos.tolist()} is outside the {h}x{w} feature map (rows "
                         f"0..{h - 1}, columns 0..{w - 1}; negative positions are not taken from "
                         "the end here).")
    return pos.expand(n, 2)


def project_top_activations(model: nn.Module, x: torch.Tensor, top: TopActivations, *,
                            rule: str = "deconvnet", signal: str = "activation") -> torch.Tensor:
    """The projections of the top activations found by ``top_activations`` on the same images
    ``x``: [U,k,3,H,W] on x's device, each at the position of its strongest activation."""
    u, k = top.index.shape
    xs = x[top.index.reshape(-1).to(x.device)]
    out = project_unit(model, xs, top.layer, top.units.repeat_interleave(k),
                       position=top.position.reshape(-1, 2), rule=rule, signal=signal)
    return out.reshape(u, k, *xs.shape[1:])


# --------------------------------------------------------------------------------------------
# Receptive fields and patches
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReceptiveField:
    """Unit (i, j) of the layer sees the input rows start + stride * i + [0, size) (same for
    columns); ``start`` may be negative (the field reaches into the padding)."""

    size: int
    stride: int
    start: int

    def box(self, i: int, j: int) -> tuple:
        """(x0, y0, x1, y1), exclusive ends, in input pixels (may extend past the image)."""
        y0, x0 = self.start + self.stride * int(i), self.start + self.stride * int(j)
        return (x0, y0, x0 + self.size, y0 + self.size)


def _pair(v):
    return v if isinstance(v, int) else v[0]


def receptive_field(model: nn.Module, layer, input_size: int = 32,
                    channels: int = 3) -> ReceptiveField:
    """The receptive field of the units of ``layer``: size, stride (jump) and start, from the chain
    of
    convolutions and poolings run before it (r <- r + (k - 1) j, start <- start - p j, j <- j s).

    Exact for chain networks (the VGG net, Model C, torchvision's VGG16 and AlexNet); for networks
    with branches it follows the order in which the modules run.
    """
    layer = check_layer(model, layer)
    ops, handles = [], []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            handles.append(m.register_forward_hook(lambda mod, a, o: ops.append(mod)))
    try:
        x = torch.zeros(1, channels, input_size, input_size, device=model_device(model))
        with torch.no_grad():
            forward_to_layer(model, x, layer)
    finally:
        for h in handles:
            h.remove()
    size, jump, start = 1, 1, 0
    for m in ops:
        k, s = _pair(m.kernel_size), _pair(m.stride)
        p, d = _pair(m.padding), _pair(getattr(m, "dilation", 1))
        size += (k - 1) * d * jump
        start -= p * jump
        jump *= s
    return ReceptiveField(size, jump, start)


def crop_patches(images: torch.Tensor, boxes, fill: float = 0.5) -> torch.Tensor:
    """Crop boxes (x0, y0, x1, y1), all of one size, from images [M,C,H,W] (uint8 or float);
    parts outside the image are filled with grey ``fill`` (float) -> [M,C,h,w] float."""
    boxes = torch.as_tensor(boxes, dtype=torch.long).reshape(-1, 4)
    x = to_float(images) if images.dtype == torch.uint8 else images.float()
    w, h = int(boxes[0, 2] - boxes[0, 0]), int(boxes[0, 3] - boxes[0, 1])
    pad = max(0, int(-boxes[:, :2].min()), int((boxes[:, 2] - x.shape[-1]).max()),
              int((boxes[:, 3] - x.shape[-2]).max()))
    padded = F.pad(x, (pad, pad, pad, pad), value=fill)
    return torch.stack([padded[i, :, y0 + pad:y0 + pad + h, x0 + pad:x0 + pad + w]
                        for i, (x0, y0, x1, y1) in enumerate(boxes.tolist())])


def clip_box(box, height: int, width: int) -> tuple:
    """Move a box inside an image of the given size, shrinking it to the image where it is larger
    (a deep unit's receptive field can exceed the whole image)."""
    x0, y0, x1, y1 = box
    w, h = min(x1 - x0, width), min(y1 - y0, height)
    x0, y0 = min(max(x0, 0), width - w), min(max(y0, 0), height - h)
    return (x0, y0, x0 + w, y0 + h)


def top_patches(model: nn.Module, images: torch.Tensor, top: TopActivations,
                projections: torch.Tensor | None = None, input_size: int | None = None,
                clip: bool = True):
    """Image patches under the receptive field of each top activation: [U,k,3,r,r]; with
    ``projections`` [U,k,3,H,W] also their crops, from the same boxes. ``clip=True`` moves each box
    inside the image (and shrinks it to the image when the field is larger), so patches hold only
    pixels; ``clip=False`` keeps the exact field, grey where it reaches past the border."""
    input_size = input_size or images.shape[-1]
    rf = receptive_field(model, top.layer, input_size)
    u, k = top.index.shape
    boxes = [rf.box(i, j) for i, j in top.position.reshape(-1, 2).tolist()]
    if clip:
        boxes = [clip_box(b, images.shape[-2], images.shape[-1]) for b in boxes]
    patches = crop_patches(images[top.index.reshape(-1)], boxes)
    patches = patches.reshape(u, k, *patches.shape[1:])
    if projections is None:
        return patches
    proj = crop_patches(projections.reshape(u * k, *projections.shape[2:]), boxes, fill=0.0)
    return patches, proj.reshape(u, k, *proj.shape[1:])


def reconstruction_to_image(r: torch.Tensor) -> torch.Tensor:
    """A signed reconstruction [...,3,H,W] shown as an image: 0.5 + 0.5 r / max|r| per image, so
    zero is mid-grey and each image uses the full range."""
    flat = r.reshape(-1, *r.shape[-3:])
    scale = flat.abs().flatten(1).amax(1).clamp_min(1e-12).reshape(-1, 1, 1, 1)
    return (0.5 + 0.5 * flat / scale).reshape(r.shape)


# --------------------------------------------------------------------------------------------
# How features evolve over training (Zeiler & Fergus, Sec. 4.1, Fig. 4)
# --------------------------------------------------------------------------------------------
def unit_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation, over the same N images, of each unit's activation in two nets:
    a, b [N, U] -> [U] (e.g. a unit after epoch e and at the end of training). A unit constant
    over the images correlates 0."""
    if a.shape != b.shape or a.ndim != 2 or len(a) < 2:
        raise ValueError(f"unit_correlation needs two [N, U] activations with N >= 2 images of "
                         f"the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")
    a, b = a.double() - a.double().mean(0), b.double() - b.double().mean(0)
    den = a.norm(dim=0) * b.norm(dim=0)
    return torch.where(den > 0, (a * b).sum(0) / den.clamp_min(1e-300), torch.zeros_like(den))


def settling_epochs(corr: torch.Tensor, epochs, *, threshold: float = 0.8) -> torch.Tensor:
    """When did each unit settle? corr [E, U], each unit's ``unit_correlation`` with its final
    self after each of the ascending ``epochs`` (the last one the final net) -> [U]: the first
    saved epoch from which the correlation stays >= ``threshold`` at every later saved epoch
    (the final epoch, where the correlation is 1, if none earlier)."""
    corr = torch.as_tensor(corr, dtype=torch.float64)
    epochs = torch.as_tensor(list(epochs), dtype=torch.float64)
    if corr.ndim != 2 or len(corr) != len(epochs) or len(epochs) < 2:
        raise ValueError(f"corr must be [E, U] with one row per saved epoch ({len(epochs)} epochs, "
                         f"at least 2), got {tuple(corr.shape)}.")
    if not bool((epochs[1:] > epochs[:-1]).all()):
        raise ValueError(f"epochs must be strictly ascending, got {epochs.tolist()}.")
    above = corr >= threshold
    above[-1] = True                                   # the final net is its own final self
    stays = above.flip(0).cumprod(0).flip(0).bool()    # above at this epoch and every later one
    first = stays.double().argmax(0)                   # the first such epoch
    return epochs[first]


def settling_order(depth, settle, *, n_layers: int | None = None) -> dict:
    """Is settling ordered by depth? ``depth`` [U], each unit's layer index (0 = lowest);
    ``settle`` [U], its ``settling_epochs``. Returns ``spearman``, Spearman's rank correlation
    of depth and settling epoch (average ranks for ties; 0 when either is constant), and
    ``weakest_step``, min over adjacent layers d, d + 1 of mean settle(d + 1) - mean settle(d)
    (> 0: every layer settles later on average than the one below; NaN if one of the
    ``n_layers`` layers, default max(depth) + 1, has no unit)."""
    d = np.asarray(depth, dtype=np.float64).reshape(-1)
    e = np.asarray(settle, dtype=np.float64).reshape(-1)
    if d.shape != e.shape or d.size < 2:
        raise ValueError(f"depth and settle need one value per unit, got {d.shape} and {e.shape}.")
    rd, re = rankdata(d) - (d.size + 1) / 2, rankdata(e) - (e.size + 1) / 2
    den = math.sqrt(float((rd ** 2).sum() * (re ** 2).sum()))
    rho = float((rd * re).sum() / den) if den > 0 else 0.0
    levels = d.astype(np.int64)
    k = int(levels.max()) + 1 if n_layers is None else n_layers
    count = np.bincount(levels, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.bincount(levels, weights=e, minlength=k) / count   # NaN: a layer without units
    steps = np.diff(means)
    return {"spearman": rho, "weakest_step": float(steps.min()) if steps.size else float("nan")}
