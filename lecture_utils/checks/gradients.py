"""Checks for notebooks 01-03: deconvnet, saliency and class models, the all-convolutional net."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..deconvnet import flipped_kernel_convolution
from ..hooks import relu_backward_rule
from ..pooling import pnorm_pool2d
from .core import check_close, fail


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- notebook 01 (Zeiler & Fergus)
def check_flipped_convolution(fn) -> float:
    """``fn(r [N,C_out,h,w], weight [C_out,C_in,k,k], padding) -> R_n [N,C_in,H,W]``: the
    deconvnet's filtering R_n = R_{n+1} * K^_n for a stride-1 convolution with that padding."""
    cases = []
    shapes = [(4, 3, 3, 1, 6), (2, 5, 3, 0, 5), (3, 3, 5, 2, 7)]
    for i, (c_out, c_in, k, pad, size) in enumerate(shapes):
        g = _gen(i)
        w = torch.randn(c_out, c_in, k, k, generator=g)
        r = torch.randn(2, c_out, size + 2 * pad - k + 1, size + 2 * pad - k + 1, generator=g)
        cases.append((f"k={k}, padding={pad}, {c_in}->{c_out} channels", fn(r, w, pad),
                      flipped_kernel_convolution(r, w, 1, pad)))
    return check_close("check_flipped_convolution", cases, tol=1e-5,
                       hint="Flip the kernel in both spatial dimensions (.flip(-2, -1)), swap "
                            "its input and output channels (.transpose(0, 1)) and pad by "
                            "k - 1 - padding.")


def check_unpooling(fn) -> float:
    """``fn(r [N,C,h,w], x [N,C,H,W], kernel_size) -> [N,C,H,W]``: unpooling with the switches of
    a k x k max-pooling with stride k; each R_{n+1}(p) goes to the argmax of its window in X_n."""
    cases = []
    for i, (k, size) in enumerate([(2, 8), (3, 9), (2, 6)]):
        x = torch.randn(2, 3, size, size, generator=_gen(10 + i), requires_grad=True)
        y = F.max_pool2d(x, k)
        r = torch.randn(y.shape, generator=_gen(20 + i))
        (ref,) = torch.autograd.grad(y, x, r)
        cases.append((f"{k}x{k} pooling of {size}x{size}", fn(r, x.detach(), k), ref))
    return check_close("check_unpooling", cases, tol=1e-6,
                       hint="Each window's signal goes to the one position where X_n is largest "
                            "(the switch) and zero elsewhere; e.g. compare X_n with the upsampled "
                            "max, or use F.max_pool2d(..., return_indices=True) and "
                            "F.max_unpool2d.")


# ---------------------------------------------------------------- notebook 02 (Simonyan et al.)
def check_saliency(fn) -> float:
    """``fn(w [N,K,H,W]) -> M [N,H,W]``: M_ij = max_k |w_ijk| (Simonyan et al., Sec. 3)."""
    cases = []
    for i, shape in enumerate([(2, 3, 5, 4), (1, 3, 8, 8), (3, 1, 4, 4)]):
        w = torch.randn(shape, generator=_gen(30 + i))
        cases.append((f"w of shape {shape}", fn(w), w.abs().amax(1)))
    return check_close("check_saliency", cases, tol=1e-7,
                       hint="Take the absolute value first, then the maximum over the channel "
                            "dimension (dim=1).")


def check_relu_rules(fn) -> float:
    """``fn(r, x, rule) -> R_n``: the signal a ReLU X_{n+1} = max(X_n, 0) passes down from
    R_{n+1} = ``r``, given its input X_n = ``x``, under ``rule`` in gradient / deconvnet / guided.
    The reference is the course's hook on a real ``nn.ReLU`` module."""
    cases = []
    for i, rule in enumerate(("gradient", "deconvnet", "guided")):
        x = torch.randn(4, 6, generator=_gen(40 + i), requires_grad=True)
        r = torch.randn(4, 6, generator=_gen(50 + i))
        relu = nn.Sequential(nn.ReLU())
        with relu_backward_rule(relu, rule):
            (ref,) = torch.autograd.grad(relu(x), x, r)
        cases.append((rule, fn(r, x.detach(), rule), ref))
    return check_close("check_relu_rules", cases, tol=1e-7,
                       hint="gradient: R 1(X > 0); deconvnet: R 1(R > 0) (the forward input is not "
                            "used); guided: R 1(X > 0) 1(R > 0).")


def check_ascent_step(fn) -> float:
    """``fn(image, grad_score, lam, lr) -> image``: one step of gradient ascent on
    S_c(I) - lambda ||I||_2^2, given grad_score = dS_c/dI."""
    cases = []
    for i, (lam, lr) in enumerate([(0.1, 0.5), (0.0, 1.0), (2.0, 0.01)]):
        img = torch.randn(3, 4, 4, generator=_gen(60 + i))
        grad = torch.randn(3, 4, 4, generator=_gen(70 + i))
        cases.append((f"lambda={lam}, lr={lr}", fn(img, grad, lam, lr),
                      img + lr * (grad - 2 * lam * img)))
    return check_close("check_ascent_step", cases, tol=1e-6,
                       hint="The gradient of lambda ||I||^2 is 2 lambda I; ascent *adds* lr "
                            "times the gradient of the objective.")


def check_penalty_and_projection(strong, free, mean, *, weak=None) -> dict:
    """Exercise 4 of notebook 02: ``strong`` [B,K,H,W], class models made with
    ``weight_decay=10``; ``free``, made with ``clamp=False``; ``mean`` [K,1,1] or [1,K,1,1], the
    model's mean image; ``weak`` (optional), the same classes with the default lambda and the
    projection, to compare ``strong`` with. Diagnoses the likely mistakes (no step taken, the
    projection left on, the two runs swapped) and prints what the runs show, in words that
    follow the numbers. Returns the numbers: ``deviation`` (max |strong - mean|), ``low`` and
    ``high`` (free's pixel range) and ``outside`` (free's share of pixels outside [0, 1])."""
    __tracebackhide__ = True
    strong, free = torch.as_tensor(strong).float().cpu(), torch.as_tensor(free).float().cpu()
    mean = torch.as_tensor(mean).float().cpu().reshape(1, -1, 1, 1)
    strong, free = strong.reshape(-1, *strong.shape[-3:]), free.reshape(-1, *free.shape[-3:])
    deviation = float((strong - mean).abs().max())
    low, high = float(free.min()), float(free.max())
    n_outside = int(((free < 0) | (free > 1)).sum())
    outside = n_outside / free.numel()
    on_bounds = float(((free == 0) | (free == 1)).float().mean())
    if deviation < 1e-6 and float((free - mean).abs().max()) < 1e-6:
        fail("check_penalty_and_projection: both runs are the mean image itself: no ascent step "
             "was taken. Pass steps > 0.")
    if outside == 0 and on_bounds > 0.01:
        fail(f"check_penalty_and_projection: {on_bounds:.0%} of free's pixels sit exactly on 0 or "
             "1, the mark of the projection onto [0, 1]: pass clamp=False for `free` (the "
             "default clamp=True projects after every step).")
    free_dev = float((free - mean).abs().max())
    if deviation > free_dev:
        fail(f"check_penalty_and_projection: `strong` moves further from the mean image "
             f"(max {deviation:.3f}) than `free` (max {free_dev:.3f}): the two runs look swapped, "
             "or `strong` was not made with weight_decay=10.")
    if weak is not None:
        weak = torch.as_tensor(weak).float().cpu().reshape(-1, *strong.shape[-3:])
        weak_dev = float((weak - mean).abs().max())
        if deviation >= weak_dev:
            fail(f"check_penalty_and_projection: `strong` (max |I - mean| = {deviation:.3f}) is "
                 f"not closer to the mean than the weakly penalised run ({weak_dev:.3f}): pass "
                 "weight_decay=10 for `strong`.")
    print(f"lambda = 10: max |I - mean| = {deviation:.3f}"
          + (f" (the default lambda: {weak_dev:.3f})" if weak is not None else ""))
    if outside > 0:
        print(f"clamp=False: pixel range [{low:.2f}, {high:.2f}], {n_outside:,} of "
              f"{free.numel():,} pixel values outside [0, 1]: the "
              "projection is what keeps the class model a valid image")
    else:
        print(f"clamp=False: pixel range [{low:.2f}, {high:.2f}], inside [0, 1]: at this step "
              "count and lambda the penalty alone kept the image valid; the projection changed "
              "nothing here (more steps or a smaller lambda would leave the range)")
    return {"deviation": deviation, "low": low, "high": high, "outside": outside}


# ---------------------------------------------------------------- notebook 03 (Springenberg et al.)
def check_pnorm_pool(fn) -> float:
    """``fn(f [N,C,H,W], p, k, r) -> s``: p-norm subsampling (Eq. 1 of Springenberg et al.) with
    pooling size k and stride r, for finite p >= 1 on non-negative f."""
    cases = []
    for i, (p, k, r) in enumerate([(1, 2, 2), (2, 3, 2), (3.0, 2, 1), (8, 3, 3)]):
        f = torch.rand(2, 3, 9, 9, generator=_gen(80 + i))
        cases.append((f"p={p}, k={k}, r={r}", fn(f, p, k, r), pnorm_pool2d(f, p, k, r)))
    return check_close("check_pnorm_pool", cases, tol=1e-5,
                       hint="Sum |f|^p over each k x k window (a sum, not a mean: multiply "
                            "avg_pool2d by k*k), then take the 1/p-th power.")


def check_pool_as_conv(fn) -> float:
    """``fn(channels, k) -> theta [C,C,k,k]``: the kernel that makes
    ``F.conv2d(f, theta, stride=r)`` equal to sum-pooling (p = 1) of f, i.e.
    theta_{h,w,u,o} = 1 if u = o else 0 (Eq. 2)."""
    cases = []
    for i, (c, k, r) in enumerate([(3, 2, 2), (4, 3, 2), (1, 3, 1)]):
        f = torch.rand(2, c, 8, 8, generator=_gen(90 + i))
        theta = fn(c, k)
        if tuple(theta.shape) != (c, c, k, k):
            cases.append((f"C={c}, k={k}", theta, torch.zeros(c, c, k, k)))
            continue
        cases.append((f"C={c}, k={k}, r={r}", F.conv2d(f, theta.float(), stride=r),
                      pnorm_pool2d(f, 1, k, r)))
    return check_close("check_pool_as_conv", cases, tol=1e-5,
                       hint="Each output channel o must read only input channel u = o: an identity "
                            "over channels (torch.eye) broadcast over the k x k window.")
