"""Gradients of a class score with respect to the input, under the three backward rules.

Simonyan et al. (2014), Sec. 5, and Springenberg et al. (2015), Sec. 3.4: the gradient, the
deconvnet reconstruction and guided backpropagation differ only in how the signal passes a ReLU
(see ``lecture_utils.hooks``); convolutions pass it by the flipped kernel and max-pooling through
its switches in all three.
"""
from __future__ import annotations

import math
from contextlib import ExitStack

import torch
from torch import nn

from .hooks import capture, eval_mode, frozen, relu_backward_rule
from .maps import input_mean, target_output
from .validate import (as_batch, attribution_method, check_count, check_positive, check_target,
                       checked_outputs, model_device)

__all__ = ["input_gradient", "saliency_map", "class_model_visualization", "score_margin",
           "class_model_scores", "lead_from_others", "backward_signals", "rule_residuals",
           "OBJECTIVES"]

OBJECTIVES = ("logit", "probability")


@attribution_method
def input_gradient(model: nn.Module, x: torch.Tensor, target, *,
                   rule: str = "gradient") -> torch.Tensor:
    """dS_c/dI for each image of x [N,C,H,W] (``rule="gradient"``), or its deconvnet / guided
    counterpart: per channel, shaped like x. ``target``: an int or a LongTensor [N].

    w_c = dS_c/dI |_{I = I_0}   (Simonyan et al., Eq. 2), computed for the whole batch in one
    backward pass (the images of a batch do not interact in eval mode). Max-pooling routes the
    signal through its switches (the argmax) under every rule: that is its gradient. Raises a clear
    error for a target out of range, a bad input (``validate``), or (deconvnet, guided) a model
    whose rectifiers are not separate, non-in-place ``nn.ReLU`` modules; the hooks are removed on
    every exit path and the parameters' ``.grad`` are left untouched.
    """
    x = x.detach().clone().requires_grad_(True)
    with eval_mode(model), relu_backward_rule(model, rule), torch.enable_grad():
        # --8<-- [start:gradient]
        scores = target_output(model(x), target, "logit")            # S_c(I) of each image, [N]
        # autograd.grad: only the input's gradient is computed; parameters' .grad untouched
        (grad,) = torch.autograd.grad(scores.sum(), x)
        # --8<-- [end:gradient]
    return grad.detach()


@attribution_method
def saliency_map(model: nn.Module, x: torch.Tensor, target, *,
                 rule: str = "gradient") -> torch.Tensor:
    """Image-specific class saliency, Simonyan et al. (2014), Sec. 3: M_ij = max_k |w^c_ijk|.

    x [N,K,H,W], target an int or LongTensor [N] -> M [N,H,W] (non-negative). ``rule`` takes
    w_c from ``input_gradient`` under another backward rule (``"guided"``, ``"deconvnet"``).
    """
    return input_gradient(model, x, target, rule=rule).abs().amax(dim=1)


def score_margin(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """How far class c leads: S_c - max_{c' != c} S_c' for each row of logits [B, C], target [B]
    -> [B] (positive when c wins). P_c >= 1 / (1 + (C - 1) exp(-margin)), so a margin fixes a
    floor on the posterior whatever the other scores."""
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"score_margin needs logits [B, C] with C >= 2 classes, got "
                         f"{tuple(logits.shape)}.")
    t = check_target(target, len(logits), logits.shape[1]).to(logits.device)
    own = logits.gather(1, t[:, None])[:, 0]
    others = logits.scatter(1, t[:, None], float("-inf"))
    return own - others.amax(1)


def class_model_scores(model: nn.Module, images: torch.Tensor, target) -> dict:
    """What the network says about class models ``images`` [B,K,H,W] of classes ``target`` [B]:
    a dict of tensors [B] on the CPU: ``S_c`` (the target's score), ``others`` (the mean score
    of the C - 1 other classes), ``margin`` (S_c - max_{c' != c} S_c', ``score_margin``) and
    ``P_c`` (the softmax probability). One forward pass in eval mode, no gradient."""
    t = check_target(target, len(images))
    with eval_mode(model), torch.no_grad():
        logits = model(images.to(model_device(model))).float().cpu()
    own = logits.gather(1, t[:, None])[:, 0]
    return {"S_c": own, "others": (logits.sum(1) - own) / (logits.shape[1] - 1),
            "margin": score_margin(logits, t), "P_c": logits.softmax(1).gather(1, t[:, None])[:, 0]}


def lead_from_others(before: dict, after: dict) -> torch.Tensor:
    """How much of the lead an ascent won by pushing the other classes down: for ``before`` and
    ``after``, two ``class_model_scores`` of the same classes (e.g. the start image and the class
    model), the drop of the other classes' mean score over the gain in margin,

        (mean S_c'(before) - mean S_c'(after)) / (margin(after) - margin(before))   -> [B],

    0 when the lead was won by raising S_c alone. Undefined (an error) where the margin did not
    grow."""
    gain = after["margin"] - before["margin"]
    if not bool((gain > 0).all()):
        raise ValueError(f"the margin did not grow for {int((gain <= 0).sum())} of {len(gain)} "
                         "images: no lead to share out; run the ascent longer.")
    return (before["others"] - after["others"]) / gain


def _ascent_options(target, image_size, weight_decay, steps, lr, objective, optimizer,
                    channels, stop_margin=None) -> tuple:
    """Every option of ``class_model_visualization`` checked before anything is changed."""
    if stop_margin is not None and not (isinstance(stop_margin, (int, float))
                                        and math.isfinite(stop_margin)):
        raise ValueError(f"stop_margin must be a finite number (the score margin S_c - max "
                         f"S_c' at which an image stops), or None, not {stop_margin!r}.")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES} (maximise the logit S_c, as the "
                         f"paper does, or log P_c), not {objective!r}.")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', not {optimizer!r}.")
    check_count(steps, "steps", minimum=0)
    check_positive(lr, "lr")
    check_count(channels, "channels")
    size = (image_size, image_size) if not isinstance(image_size, (tuple, list)) else image_size
    if len(size) != 2:
        raise ValueError(f"image_size must be an int or (H, W), got {image_size!r}.")
    h, w = (check_count(v, "image_size") for v in size)
    single = not isinstance(target, torch.Tensor) and not isinstance(target, (list, tuple))
    b = 1 if single else len(torch.as_tensor(target).reshape(-1))
    t = check_target(target, b)
    lam = torch.as_tensor(weight_decay, dtype=torch.float32).reshape(-1)
    if not torch.isfinite(lam).all() or (lam < 0).any():
        raise ValueError(f"weight_decay (lambda) must be finite and >= 0, got {weight_decay}.")
    if len(lam) not in (1, b):
        raise ValueError(f"weight_decay has {len(lam)} values for {b} images.")
    return single, t, lam, (h, w)


def class_model_visualization(model: nn.Module, target, image_size=(32, 32), *,
                              weight_decay=1e-3, steps: int = 200, lr: float = 0.05,
                              objective: str = "logit", clamp: bool = True,
                              optimizer: str = "adam", mean: torch.Tensor | None = None,
                              channels: int = 3, history: list | None = None,
                              stop_margin: float | None = None,
                              stopped: list | None = None) -> torch.Tensor:
    """Class model visualization, Simonyan et al. (2014), Eq. (1):

        I* = argmax_I  S_c(I) - lambda ||I||_2^2,      lambda = ``weight_decay``
                                                     (a float, or a tensor [B]: one per image),

    found by gradient ascent from the zero image: Adam steps of size ``lr`` (``optimizer="adam"``,
    robust to the scale of the gradient) or plain steps I += lr * gradient (``"sgd"``). As in the
    paper, I is the *mean-subtracted* image: the model sees ``mean + I``, so the start is the mean
    image and the penalty pulls towards it. ``mean`` defaults to the model's own
    ``normalize.mean`` ([1,K,1,1], pixel units in [0, 1]).

    ``objective``: ``"logit"`` maximises the score S_c (the paper's choice); ``"probability"``
    maximises log P_c = S_c - log sum_c' exp S_c' (same maximiser as P_c). Its derivatives,
    d log P_c / d S_c = 1 - P_c and d log P_c / d S_c' = -P_c', remove the factor P_c of
    dP_c / dS_c = P_c (1 - P_c) (P_c's vanishing gradient near 0) but still vanish as P_c -> 1;
    and log P_c can also be raised by lowering the other classes' scores.
    ``clamp``: after every step, project mean + I back onto the valid range [0, 1] (projected
    gradient ascent); with ``clamp=False`` the image may leave it and is only clipped for display.

    ``target``: an int -> [K,H,W]; a LongTensor [B] -> B images [B,K,H,W], optimised together
    (the images do not interact in eval mode). ``history``, if a list, receives (step, S_c) pairs
    (S_c as a list over the batch). ``stop_margin``: each image stops (is held fixed) at the first
    step where its score margin S_c - max_{c' != c} S_c' (``score_margin``) reaches this value,
    so that two objectives can be compared at the same margin rather than after the same number
    of steps; ``stopped``, if a list, receives for each image that step, or None if it never got
    there within ``steps``. Returns mean + I* (clipped to [0, 1] when ``clamp``), on the
    model's device. Every option is checked before the model is touched; its parameters are
    frozen only inside the guarded block and get their ``requires_grad`` back on every path.
    """
    single, t, lam, (h, w) = _ascent_options(target, image_size, weight_decay, steps, lr,
                                             objective, optimizer, channels, stop_margin)
    device = model_device(model)
    t, lam = t.to(device), lam.to(device)
    mean = (input_mean(model, channels) if mean is None else
            torch.as_tensor(mean, dtype=torch.float32).reshape(1, channels, 1, 1)).to(device)
    # --8<-- [start:ascent]
    image = torch.zeros(len(t), channels, h, w, device=device, requires_grad=True)
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)([image], lr=lr)
    scores, reached = [], torch.full((len(t),), -1, device=device)   # step each image stopped
    held = image.detach().clone()                       # the images that reached stop_margin
    with frozen(model), eval_mode(model), checked_outputs(model, t), torch.enable_grad():
        for step in range(steps + 1):
            logits = model(mean + image)
            score = target_output(logits, t, "logit")
            if history is not None:
                scores.append(score.detach())
            if stop_margin is not None:
                now = (score_margin(logits.detach(), t) >= stop_margin) & (reached < 0)
                reached[now] = step
                held = torch.where(now[:, None, None, None], image.detach(), held)
                if bool((reached >= 0).all()):
                    break
            if step == steps:
                break
            gain = score if objective == "logit" else target_output(
                logits.log_softmax(1), t, "logit")                     # log P_c
            loss = -(gain - lam * image.pow(2).flatten(1).sum(1)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                if clamp:
                    image.copy_((mean + image).clamp(0, 1) - mean)
                if stop_margin is not None:                  # images that got there stay put
                    image.copy_(torch.where((reached >= 0)[:, None, None, None], held, image))
    # --8<-- [end:ascent]
    if stopped is not None:
        stopped.extend(int(s) if s >= 0 else None for s in reached.tolist())
    if history is not None:        # one copy to the host at the end, not one per step
        history.extend((i, s) for i, s in enumerate(torch.stack(scores).cpu().tolist()))
    out = (mean + image).detach()
    if clamp:
        out = out.clamp(0, 1)
    return out[0] if single else out


# --------------------------------------------------------------------------------------------
# The relation to deconvnets, layer by layer (Simonyan et al., Sec. 5)
# --------------------------------------------------------------------------------------------
def backward_signals(model: nn.Sequential, x: torch.Tensor, target, *, rule: str = "gradient"):
    """The forward activations X and backward signals R at every layer of a chain model.

    Returns a list of ``(name, module, X_in, X_out, R_in, R_out)``, one per top-level layer of the
    ``nn.Sequential`` ``model``: the layer maps X_in to X_out on the way up, and the rule's pass
    maps R_out = dS_c/dX_out (or its deconvnet / guided counterpart) to R_in on the way down.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError("backward_signals walks the layers of an nn.Sequential chain model.")
    x = as_batch(x, model).detach().clone().requires_grad_(True)
    t = check_target(target, len(x)).to(x.device)
    layers = list(model.named_children())
    with eval_mode(model), checked_outputs(model, t):
        with ExitStack() as stack, torch.enable_grad():
            stack.enter_context(relu_backward_rule(model, rule))
            recs = [stack.enter_context(capture(m, gradient=True)) for _, m in layers]
            (r0,) = torch.autograd.grad(target_output(model(x), t, "logit").sum(), x)
    xs = [x.detach()] + [r.activation for r in recs]
    rs = [r0] + [r.gradient for r in recs]
    return [(name, m, xs[i], xs[i + 1], rs[i], rs[i + 1]) for i, (name, m) in enumerate(layers)]


def rule_residuals(model: nn.Sequential, x: torch.Tensor, target, *,
                   rules=("gradient", "deconvnet", "guided")):
    """Where do the three backward rules part from backpropagation? For every layer and rule:

    * ``chain_rule``: max |R_in - J^T R_out|, J the layer's Jacobian at X_in (for a ReLU,
      J^T R_out = R_out 1(X_in > 0)). Zero wherever the rule *is* backpropagation;
    * ``own_rule``: for a ReLU, max |R_in - rule(R_out, X_in)| with the lecture's three formulas
      (``NaN`` elsewhere), which must be zero.

    Both are relative to max |R_in|. Returns a list of dicts, one per (layer, rule).
    """
    rows = []
    for rule in rules:
        for name, m, x_in, _, r_in, r_out in backward_signals(model, x, target, rule=rule):
            if r_out is None or r_in is None:
                continue
            scale = float(r_in.abs().max()) or 1.0
            if isinstance(m, nn.ReLU):
                plain = r_out * (x_in > 0)
                own = {"gradient": plain, "deconvnet": r_out * (r_out > 0),
                       "guided": r_out * (x_in > 0) * (r_out > 0)}[rule]
                own_err = float((r_in - own).abs().max()) / scale
            else:
                xi = x_in.detach().requires_grad_(True)
                with torch.enable_grad():
                    (plain,) = torch.autograd.grad(m(xi), xi, r_out)
                own_err = float("nan")
            rows.append({"layer": name, "kind": type(m).__name__, "rule": rule,
                         "chain_rule": float((r_in - plain).abs().max()) / scale,
                         "own_rule": own_err})
    return rows
