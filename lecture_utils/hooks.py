"""Hooks that read or change a model's passes, as context managers that always clean up.

``relu_backward_rule`` changes how gradients pass the rectifiers; this one mechanism gives the
three backward rules of the lecture (Simonyan et al., Sec. 5; Springenberg et al., Sec. 3.4).
For a ReLU X_{n+1} = max(X_n, 0) that receives the signal R_{n+1} from above:

* ``"gradient"``  (backpropagation):           R_n = R_{n+1} 1(X_n > 0)
* ``"deconvnet"`` (Zeiler & Fergus):           R_n = R_{n+1} 1(R_{n+1} > 0)
* ``"guided"``    (guided backpropagation):    R_n = R_{n+1} 1(X_n > 0) 1(R_{n+1} > 0)

Max-pooling needs no hook: its gradient already routes R through the switches (the argmax).
``capture`` records a layer's output (and its gradient) during a pass.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["RULES", "backward_rule", "relu_backward_rule", "Captured", "capture", "eval_mode",
           "frozen", "StopForward", "stop_after", "forward_to_layer"]

RULES = ("gradient", "deconvnet", "guided")


REUSED = ("One {kind} module is called twice in a forward pass, so its backward rule would be "
          "applied to the wrong signal. Give each use its own module (e.g. nn.ReLU() each time).")


@contextmanager
def backward_rule(model: nn.Module, modules, rule, kind: str = "nn.ReLU"):
    """Inside the block, each of ``modules`` (elementwise layers of ``model``) passes gradients by
    ``rule(x, y, grad_input, grad_output) -> new grad_input``, where x and y are the module's
    input and output on the forward pass and grad_input is what autograd would pass on.

    The one mechanism behind the ReLU rules below and Deep SHAP's rescale rule
    (``shapley.rescale_rule``). A module called twice in one forward pass is refused (its rule
    would see the wrong x). The hooks are removed on every exit path.
    """
    modules = list(modules)
    calls: dict = {}

    def reset(module, args):
        calls.clear()

    def forward_hook(module, args, output):
        if id(module) in calls:
            raise RuntimeError(REUSED.format(kind=kind))
        calls[id(module)] = (args[0].detach(), output.detach())

    def backward_hook(module, grad_input, grad_output):
        x, y = calls[id(module)]
        return (rule(x, y, grad_input[0], grad_output[0]),)

    handles = []
    try:
        handles.append(model.register_forward_pre_hook(reset))
        for m in modules:
            handles.append(m.register_forward_hook(forward_hook))
            handles.append(m.register_full_backward_hook(backward_hook))
        yield model
    finally:
        for h in handles:
            h.remove()
        calls.clear()


# --8<-- [start:rules]
def _deconvnet(x, y, grad_input, grad_output):
    return grad_output.clamp(min=0)              # R_n = R_{n+1} 1(R_{n+1} > 0)


def _guided(x, y, grad_input, grad_output):
    return grad_input.clamp(min=0)               # the gradient R_{n+1} 1(X_n > 0), then 1(R > 0)
# --8<-- [end:rules]


@contextmanager
def relu_backward_rule(model: nn.Module, rule: str = "gradient"):
    """Inside the block, every ``nn.ReLU`` of ``model`` passes gradients by ``rule``.

    Raises a clear error for models whose rectifiers cannot be hooked (none is an ``nn.ReLU``
    module, or one is in-place, or one is reused). The hooks are removed on every exit path.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, not {rule!r}.")
    if rule == "gradient":
        yield model
        return
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise TypeError(
            f"The '{rule}' rule is a hook on nn.ReLU modules, and this model has none (it "
            "may use torch.relu / F.relu or another activation). Rewrite its rectifiers as "
            "nn.ReLU() modules, one per use.")
    if any(m.inplace for m in relus):
        raise TypeError(f"The '{rule}' rule needs the ReLU's input X_n, which an in-place "
                        "ReLU overwrites: build the model with nn.ReLU(inplace=False) "
                        "(models.relus_not_inplace(model) switches them off).")
    with backward_rule(model, relus, _deconvnet if rule == "deconvnet" else _guided):
        yield model


class Captured:
    """What ``capture`` recorded: ``activation`` (the layer's output) and ``gradient`` (d/d
    output)."""

    activation: torch.Tensor | None = None
    gradient: torch.Tensor | None = None


@contextmanager
def capture(layer: nn.Module, gradient: bool = False, detach: bool = True):
    """Record ``layer``'s output (and, with ``gradient=True``, the gradient reaching it).

    The record is the layer's own output even when an in-place op follows the layer (the
    in-place ReLUs of torchvision's VGG): a detached record is a copy, and with ``detach=False``
    the layers above receive a copy instead.

    >>> with capture(model.layer3, gradient=True) as rec:
    ...     model(x)[:, c].sum().backward()
    >>> rec.activation.shape, rec.gradient.shape
    """
    rec = Captured()

    def forward_hook(module, args, output):
        out = output[0] if isinstance(output, tuple) else output
        if detach:
            rec.activation = out.detach().clone()
        else:
            rec.activation = out
        if gradient and out.requires_grad:
            def save(g):
                rec.gradient = g.detach()
            out.register_hook(save)
        if not detach and not isinstance(output, tuple):
            # The layers above get a copy: an in-place op there (nn.ReLU(inplace=True)) would
            # otherwise overwrite the activation recorded here (and its gradient's meaning).
            return out.clone()

    handle = layer.register_forward_hook(forward_hook)
    try:
        yield rec
    finally:
        handle.remove()


@contextmanager
def eval_mode(model: nn.Module):
    """Put every module of ``model`` in eval mode inside the block and give each back its own
    mode afterwards (``model.train(was_training)`` would set one mode for the whole tree)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


@contextmanager
def frozen(model: nn.Module):
    """Inside the block no parameter of ``model`` requires a gradient (only an input is optimised);
    each parameter gets its own ``requires_grad`` back on every exit path."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        for p in params:
            p.requires_grad_(False)
        yield model
    finally:
        for p in params:
            p.requires_grad_(True)


class StopForward(Exception):
    """Raised by ``stop_after`` once the layers it waits for have run (ends the forward pass)."""


@contextmanager
def stop_after(*layers: nn.Module):
    """Inside the block, a forward pass raises ``StopForward`` as soon as every one of ``layers``
    has produced its output, so nothing above them is computed (and a trunk can be read on inputs
    its classifier head would reject). Catch it around the call: ``try: model(x) except
    StopForward: pass``. The hooks are removed on every exit path."""
    waiting = {id(m) for m in layers}
    seen: set = set()

    def hook(module, args, output):
        seen.add(id(module))
        if seen >= waiting:
            seen.clear()
            raise StopForward

    handles = [m.register_forward_hook(hook) for m in {id(m): m for m in layers}.values()]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def forward_to_layer(model: nn.Module, x: torch.Tensor, layer: nn.Module, detach: bool = True):
    """The output of ``layer`` for input x; the rest of the network is not run."""
    with capture(layer, detach=detach) as rec, stop_after(layer):
        try:
            model(x)
        except StopForward:
            pass
    if rec.activation is None:
        raise ValueError("The layer was not called in the forward pass; pick a layer on the path "
                         "from the input to the output.")
    return rec.activation
