"""The comparison every check uses, the known mistakes it recognises, and how a failure is shown.

A check runs the student's function on small cases and compares with the reference. When an
answer is wrong, the check tries the *predictable* mistakes of that exercise (each a ``Mistake``:
the answer that mistake gives on the case, and what to change) and names the one the answer
matches; otherwise it prints both answers and the general hint.

In Jupyter (IPython) a ``CheckFailed`` is shown as its message and the line of the student's cell
that called the check, not as a traceback through the checker's code (``show_check_failures``,
installed when ``lecture_utils.checks`` is imported in IPython). Elsewhere (pytest, a script) the
checker's frames carry ``__tracebackhide__``.
"""
from __future__ import annotations

import os
import traceback
from dataclasses import dataclass

import numpy as np
import torch


class CheckFailed(AssertionError):
    """Your answer differs from the reference; the message says how and what to look at."""


@dataclass
class Mistake:
    """A predictable wrong answer: ``what`` the student did ("bins closed on the left"), the
    ``answer`` that mistake gives on the case (or a test ``answer(yours) -> bool`` when the
    mistake is a family of answers, e.g. the map plus any constant), and the ``fix``."""
    what: str
    answer: object
    fix: str


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def rel_error(x, y, eps: float = 1e-8) -> float:
    """max |x - y| / max(|x| + |y|, eps), elementwise: the CS231n relative error."""
    x, y = _np(x), _np(y)
    return float(np.max(np.abs(x - y) / np.maximum(eps, np.abs(x) + np.abs(y))))


def show_values(x, limit: int = 8) -> str:
    """The numbers themselves: a scalar as one number, up to ``limit`` values in full, else the
    first ones and how many there are (never a bare "...")."""
    a = _np(x)
    if a.size == 1:
        return f"{a.item():.6g}"
    flat = a.ravel()
    text = ", ".join(f"{v:.4g}" for v in flat[:limit])
    if a.size <= limit:
        return f"[{text}]" + (f" (shape {tuple(a.shape)})" if a.ndim > 1 else "")
    return f"[{text}, ... ({a.size} values, shape {tuple(a.shape)})]"


def _largest_difference(y: np.ndarray, r: np.ndarray) -> str:
    if y.size <= 8:
        return ""
    i = np.unravel_index(int(np.argmax(np.abs(y - r))), y.shape)
    where = i[0] if len(i) == 1 else tuple(int(k) for k in i)
    return (f" The largest difference is at index {where}: yours {y[i]:.6g}, the reference "
            f"{r[i]:.6g}.")


def diagnose(yours, mistakes, tol: float) -> Mistake | None:
    """The first of ``mistakes`` whose answer ``yours`` matches (same shape, within ``tol``)."""
    y = _np(yours)
    for m in mistakes or ():
        if callable(m.answer):
            if m.answer(y):
                return m
            continue
        w = _np(m.answer)
        if w.shape == y.shape and np.all(np.isfinite(w)) and rel_error(y, w) <= max(tol, 1e-9):
            return m
    return None


def fail(message: str):
    """Raise ``CheckFailed(message)`` without the checker's frames in a pytest traceback."""
    __tracebackhide__ = True
    raise CheckFailed(message)


def check_close(name: str, cases, tol: float = 1e-6, hint: str = "") -> float:
    """``cases`` yields ``(label, yours, reference)`` or ``(label, yours, reference, mistakes)``
    (a list of ``Mistake``); all answers must agree with the references within ``tol``.

    Shapes are compared first (a wrong shape is the most common mistake), then values. A wrong
    answer that matches one of the case's mistakes is named ("it looks like you ..."); any other
    shows both answers in full and ``hint``. Returns the largest relative error and prints a
    one-line verdict.
    """
    __tracebackhide__ = True
    worst, n = 0.0, 0
    for case in cases:
        label, yours, ref = case[:3]
        mistakes = case[3] if len(case) > 3 else ()
        n += 1
        y, r = _np(yours), _np(ref)
        if y.shape != r.shape:
            fail(f"{name} [{label}]: your result has shape {y.shape}, the reference {r.shape}. "
                 f"{hint}".strip())
        if not np.all(np.isfinite(y)):
            fail(f"{name} [{label}]: your result contains NaN or inf. {hint}".strip())
        err = rel_error(y, r)
        if err > tol:
            numbers = f"Yours: {show_values(y)}, the reference: {show_values(r)}."
            found = diagnose(y, mistakes, tol)
            if found is not None:
                fail(f"{name} [{label}]: your answer is what you get with {found.what}. "
                     f"{found.fix} ({numbers})")
            fail(f"{name} [{label}]: relative error {err:.2e} > {tol:.0e}. {numbers}"
                 f"{_largest_difference(y, r)} {hint}".strip())
        worst = max(worst, err)
    print(f"{name}: passed (max relative error {worst:.1e} over {n} cases)")
    return worst


# --------------------------------------------------------------------------------------------
# How a failure is shown in Jupyter: the message and the student's line, no checker traceback

_HERE = os.path.dirname(os.path.abspath(__file__))


def _student_frame(tb):
    """The innermost frame of the traceback outside lecture_utils/checks (the student's cell or
    function), as (filename, line number, function, source line)."""
    frames = [f for f in traceback.extract_tb(tb)
              if not os.path.abspath(f.filename).startswith(_HERE)]
    return frames[-1] if frames else None


def failure_lines(value, tb) -> list[str]:
    """What a failed check shows: the message in red and the line that called the check."""
    red, bold, reset = "\x1b[31m", "\x1b[1m", "\x1b[0m"
    lines = [f"{red}{bold}{type(value).__name__}{reset}{red}: {value}{reset}"]
    frame = _student_frame(tb)
    if frame is not None and frame.line:
        where = "your cell" if frame.filename.startswith("<") or "ipykernel" in frame.filename \
            else os.path.basename(frame.filename)
        lines.append(f"  in {where}, line {frame.lineno}: {frame.line.strip()}")
    return lines


def _ipython_handler(shell, etype, value, tb, tb_offset=None):
    stb = failure_lines(value, tb)
    # IPython leaves the showing to the handler; the kernel sends it as the cell's error output
    # (so the cell still fails: nbval and "run all" stop there).
    shell._showtraceback(etype, value, stb)
    return stb


def show_check_failures(shell=None) -> bool:
    """Show a ``CheckFailed`` in IPython as its message and the student's line (see the module's
    docstring). Installed on import in IPython; returns whether it was installed. IPython allows
    one such handler: one already set for other exceptions is kept (and this one not installed)."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:                                   # pragma: no cover
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    current = tuple(getattr(shell, "custom_exceptions", ()) or ())
    if current and CheckFailed not in current:
        return False
    shell.set_custom_exc((CheckFailed,), _ipython_handler)
    return True
