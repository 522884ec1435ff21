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

RULES = ("gradient", "deconvnet", "guided")


def _rule_hook(rule):
    def hook(module, grad_input, grad_output):
        if rule == "deconvnet":
            return (grad_output[0].clamp(min=0),)
        return (grad_input[0].clamp(min=0),)        # guided: the gradient, then 1(R > 0)
    return hook


def _count_calls(module, args, output):
    module._lecture_calls = getattr(module, "_lecture_calls", 0) + 1
    if module._lecture_calls > 1:
        raise RuntimeError(
            "One nn.ReLU module is called twice in a forward pass, so its backward rule would be "
            "applied to the wrong signal. Give each rectifier its own nn.ReLU() module.")


@contextmanager
def relu_backward_rule(model: nn.Module, rule: str = "gradient"):
    """Inside the block, every ``nn.ReLU`` of ``model`` passes gradients by ``rule``.

    Raises a clear error for models whose rectifiers cannot be hooked (none is an ``nn.ReLU``
    module, or one is in-place, or one is reused). The hooks are removed on every exit path.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, not {rule!r}.")
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if rule != "gradient":
        if not relus:
            raise TypeError(
                f"The '{rule}' rule is a hook on nn.ReLU modules, and this model has none (it "
                "may use torch.relu / F.relu or another activation). Rewrite its rectifiers as "
                "nn.ReLU() modules, one per use.")
        if any(m.inplace for m in relus):
            raise TypeError(f"The '{rule}' rule needs the ReLU's input X_n, which an in-place "
                            "ReLU overwrites: build the model with nn.ReLU(inplace=False).")
    handles = []

    def reset_counts(module, args):
        for m in relus:
            m._lecture_calls = 0

    try:
        if rule != "gradient":
            handles.append(model.register_forward_pre_hook(reset_counts))
            for m in relus:
                m._lecture_calls = 0
                handles.append(m.register_forward_hook(_count_calls))
                handles.append(m.register_full_backward_hook(_rule_hook(rule)))
        yield model
    finally:
        for h in handles:
            h.remove()
        for m in relus:
            m.__dict__.pop("_lecture_calls", None)


class Captured:
    """What ``capture`` recorded: ``activation`` (the layer's output) and ``gradient`` (d/d output)."""

    activation: torch.Tensor | None = None
    gradient: torch.Tensor | None = None


@contextmanager
def capture(layer: nn.Module, gradient: bool = False, detach: bool = True):
    """Record ``layer``'s output (and, with ``gradient=True``, the gradient reaching it).

    >>> with capture(model.layer3, gradient=True) as rec:
    ...     model(x)[:, c].sum().backward()
    >>> rec.activation.shape, rec.gradient.shape
    """
    rec = Captured()

    def forward_hook(module, args, output):
        out = output[0] if isinstance(output, tuple) else output
        rec.activation = out.detach() if detach else out
        if gradient and out.requires_grad:
            def save(g):
                rec.gradient = g.detach()
            out.register_hook(save)

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
