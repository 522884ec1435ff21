"""Gradients of a class score with respect to the input, under the three backward rules.

Simonyan et al. (2014), Sec. 5, and Springenberg et al. (2015), Sec. 3.4: the gradient, the
deconvnet reconstruction and guided backpropagation differ only in how the signal passes a ReLU
(see ``lecture_utils.hooks``); convolutions pass it by the flipped kernel and max-pooling through
its switches in all three.
"""
from __future__ import annotations

import torch
from torch import nn

from .hooks import eval_mode, relu_backward_rule
from .validate import check_images, check_target


def class_scores(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """S_c(I) for each image: the pre-softmax score of its target class, shape [N]."""
    logits = model(x)
    t = check_target(target, len(x), logits.shape[1]).to(logits.device)
    return logits.gather(1, t[:, None]).squeeze(1)


def input_gradient(model: nn.Module, x: torch.Tensor, target, rule: str = "gradient") -> torch.Tensor:
    """dS_c/dI for each image of x [N,C,H,W] (``rule="gradient"``), or its deconvnet / guided
    counterpart, shaped like x. ``target``: an int or a LongTensor [N] of class indices.

    w_c = dS_c/dI |_{I = I_0}   (Simonyan et al., Eq. 2), computed for the whole batch in one
    backward pass (the images of a batch do not interact in eval mode). Max-pooling routes the
    signal through its switches (the argmax) under every rule: that is its gradient. Raises a clear
    error for a target out of range, an input that is not [N,C,H,W] float, or (deconvnet, guided)
    a model whose rectifiers are not separate, non-in-place ``nn.ReLU`` modules; the hooks are
    removed on every exit path and the parameters' ``.grad`` are left untouched.
    """
    check_images(x)
    x = x.detach().clone().requires_grad_(True)
    with eval_mode(model):
        with relu_backward_rule(model, rule), torch.enable_grad():
            # autograd.grad: only the input's gradient is computed; parameters' .grad untouched.
            (grad,) = torch.autograd.grad(class_scores(model, x, target).sum(), x)
    return grad.detach()


def saliency_map(model: nn.Module, x: torch.Tensor, target, rule: str = "gradient") -> torch.Tensor:
    """Image-specific class saliency, Simonyan et al. (2014), Sec. 3: M_ij = max_k |w^c_ijk|.

    x [N,K,H,W], target an int or LongTensor [N] -> M [N,H,W] (non-negative). ``rule`` takes
    w_c from ``input_gradient`` under another backward rule (``"guided"``, ``"deconvnet"``).
    """
    return input_gradient(model, x, target, rule).abs().amax(dim=1)


def input_mean(model: nn.Module, channels: int) -> torch.Tensor:
    """The per-channel mean the model subtracts (its ``normalize`` module), else 0: [1,K,1,1]."""
    norm = getattr(model, "normalize", None)
    mean = getattr(norm, "mean", None)
    if isinstance(mean, torch.Tensor) and mean.numel() == channels:
        return mean.detach().reshape(1, channels, 1, 1).float()
    return torch.zeros(1, channels, 1, 1)


def class_model_visualization(model: nn.Module, target, image_size=(32, 32), *, weight_decay=1e-3,
                              steps: int = 200, lr: float = 0.05, objective: str = "score",
                              clamp: bool = True, optimizer: str = "adam",
                              mean: torch.Tensor | None = None, channels: int = 3,
                              history: list | None = None) -> torch.Tensor:
    """Class model visualization, Simonyan et al. (2014), Eq. (1):

        I* = argmax_I  S_c(I) - lambda ||I||_2^2,      lambda = ``weight_decay``
                                                     (a float, or a tensor [B]: one per image),

    found by gradient ascent from the zero image: Adam steps of size ``lr`` (``optimizer="adam"``,
    robust to the scale of the gradient) or plain steps I += lr * gradient (``"sgd"``). As in the paper, I is
    the *mean-subtracted* image: the model sees ``mean + I``, so the start is the mean image and the
    penalty pulls towards it. ``mean`` defaults to the model's own ``normalize.mean`` ([1,K,1,1],
    pixel units in [0, 1]).

    ``objective``: ``"score"`` maximises S_c (the paper's choice); ``"probability"`` maximises
    log P_c = S_c - log sum_c' exp S_c' (same maximiser as P_c, without P_c's vanishing gradient
    near 1), which can also be raised by lowering the other classes' scores.
    ``clamp``: after every step, project mean + I back onto the valid range [0, 1] (projected
    gradient ascent); with ``clamp=False`` the image may leave it and is only clipped for display.

    ``target``: an int -> [K,H,W]; a LongTensor [B] -> B images [B,K,H,W], optimised together
    (the images do not interact in eval mode). ``history``, if a list, receives (step, S_c) pairs
    (S_c as a list over the batch). Returns mean + I* (clipped to [0, 1] when ``clamp``).
    """
    if objective not in ("score", "probability"):
        raise ValueError(f"objective must be 'score' or 'probability', not {objective!r}.")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', not {optimizer!r}.")
    lam = torch.as_tensor(weight_decay, dtype=torch.float32).reshape(-1)
    if (lam < 0).any():
        raise ValueError(f"weight_decay (lambda) must be >= 0, got {weight_decay}.")
    from .validate import model_device
    device = model_device(model)
    single = not isinstance(target, torch.Tensor)
    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    b = 1 if single else target.reshape(-1).numel()
    if len(lam) not in (1, b):
        raise ValueError(f"weight_decay has {len(lam)} values for {b} images.")
    lam = lam.to(device)
    mean = (input_mean(model, channels) if mean is None else mean.reshape(1, channels, 1, 1)).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:                      # only the image is optimised
        p.requires_grad_(False)
    image = torch.zeros(b, channels, h, w, device=device, requires_grad=True)
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)([image], lr=lr)
    try:
        with torch.enable_grad(), eval_mode(model):
            for step in range(steps + 1):
                logits = model(mean + image)
                t = check_target(target, b, logits.shape[1]).to(device)
                score = logits.gather(1, t[:, None]).squeeze(1)
                if history is not None:
                    history.append((step, score.detach().cpu().tolist()))
                if step == steps:
                    break
                gain = score if objective == "score" else \
                    logits.log_softmax(1).gather(1, t[:, None]).squeeze(1)
                loss = -(gain - lam * image.pow(2).flatten(1).sum(1)).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if clamp:
                    with torch.no_grad():
                        image.copy_((mean + image).clamp(0, 1) - mean)
    finally:
        for p in params:
            p.requires_grad_(True)
    out = (mean + image).detach()
    if clamp:
        out = out.clamp(0, 1)
    return out[0] if single else out


# --------------------------------------------------------------------------------------------
# The relation to deconvnets, layer by layer (Simonyan et al., Sec. 5)
# --------------------------------------------------------------------------------------------
def backward_signals(model: nn.Sequential, x: torch.Tensor, target, rule: str = "gradient"):
    """The forward activations X and backward signals R at every layer of a chain model.

    Returns a list of ``(name, module, X_in, X_out, R_in, R_out)``, one per top-level layer of the
    ``nn.Sequential`` ``model``: the layer maps X_in to X_out on the way up, and the rule's pass
    maps R_out = dS_c/dX_out (or its deconvnet / guided counterpart) to R_in on the way down.
    """
    from contextlib import ExitStack
    from .hooks import capture
    if not isinstance(model, nn.Sequential):
        raise TypeError("backward_signals walks the layers of an nn.Sequential chain model.")
    check_images(x)
    layers = list(model.named_children())
    x = x.detach().clone().requires_grad_(True)
    with eval_mode(model):
        with ExitStack() as stack, torch.enable_grad():
            stack.enter_context(relu_backward_rule(model, rule))
            recs = [stack.enter_context(capture(m, gradient=True)) for _, m in layers]
            (r0,) = torch.autograd.grad(class_scores(model, x, target).sum(), x)
    xs = [x.detach()] + [r.activation for r in recs]
    rs = [r0] + [r.gradient for r in recs]
    return [(name, m, xs[i], xs[i + 1], rs[i], rs[i + 1]) for i, (name, m) in enumerate(layers)]


def rule_residuals(model: nn.Sequential, x: torch.Tensor, target, rules=("gradient", "deconvnet", "guided")):
    """Where do the three backward rules part from backpropagation? For every layer and rule:

    * ``chain_rule``: max |R_in - J^T R_out|, J the layer's Jacobian at X_in (for a ReLU,
      J^T R_out = R_out 1(X_in > 0)). Zero wherever the rule *is* backpropagation;
    * ``own_rule``: for a ReLU, max |R_in - rule(R_out, X_in)| with the lecture's three formulas
      (``NaN`` elsewhere), which must be zero.

    Both are relative to max |R_in|. Returns a list of dicts, one per (layer, rule).
    """
    rows = []
    for rule in rules:
        for name, m, x_in, _, r_in, r_out in backward_signals(model, x, target, rule):
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
