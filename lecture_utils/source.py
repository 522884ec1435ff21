"""Show the library's own code in a notebook: the code a notebook shows is the code that runs.

A listing is a whole function (``show_source(cam.grad_cam)``) or a marked region of it. Regions are
marked in the library with the snippet markers of pymdownx (so no listing depends on matching a line
of text, and renaming a variable cannot silently change what a notebook prints)::

    # --8<-- [start:weights]
    alpha = grads.mean(dim=(2, 3))
    # --8<-- [end:weights]

``show_source(cam.grad_cam, marker="weights")`` then shows those lines; a marker that does not exist
is an error (``tests/test_source.py`` checks every marker the notebooks use).
"""
from __future__ import annotations

import ast
import inspect
import re
import textwrap

__all__ = ["source_of", "show_source", "markers_in", "MarkerError"]

_MARK = re.compile(r"^\s*# --8<-- \[(start|end):([\w.-]+)\]\s*$")


class MarkerError(LookupError):
    """A listing asked for a marker the library does not have."""


def _without_docstring(src: str) -> str:
    """The source of a function or class without its docstring (the notebook explains it)."""
    tree = ast.parse(src)
    node = tree.body[0]
    body = getattr(node, "body", [])
    if not (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        return src
    lines = src.splitlines(keepends=True)
    first, last = body[0].lineno - 1, body[0].end_lineno
    return "".join(lines[:first] + lines[last:])


def markers_in(obj) -> list[str]:
    """The names of the marked regions in ``obj``'s source (a function, class or module)."""
    names = []
    for line in inspect.getsource(obj).splitlines():
        m = _MARK.match(line)
        if m and m.group(1) == "start":
            names.append(m.group(2))
    return names


def source_of(obj, marker: str | None = None, *, docstring: bool = True) -> str:
    """The source text of ``obj``, or of its region ``marker`` (marker lines removed, dedented)."""
    src = textwrap.dedent(inspect.getsource(obj))
    if marker is None:
        src = src if docstring else _without_docstring(src)
        return "\n".join(line for line in src.splitlines() if not _MARK.match(line)) + "\n"
    out, inside, found = [], False, False
    for line in src.splitlines():
        m = _MARK.match(line)
        if m and m.group(2) == marker:
            inside, found = m.group(1) == "start", True
            continue
        if inside and not m:
            out.append(line)
    if not found or not out:
        name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
        raise MarkerError(f"{name} has no region marked {marker!r}; its markers are "
                          f"{markers_in(obj)}. Mark one with '# --8<-- [start:{marker}]' and "
                          f"'# --8<-- [end:{marker}]'.")
    return textwrap.dedent("\n".join(out)) + "\n"


def show_source(obj, marker: str | None = None, *, docstring: bool = True) -> None:
    """Display ``source_of(obj, marker)`` with syntax highlighting (plain text outside Jupyter)."""
    text = source_of(obj, marker, docstring=docstring)
    try:
        from IPython import get_ipython
        from IPython.display import Code, display
    except ImportError:          # pragma: no cover - IPython ships with the course
        print(text, end="")
        return
    if get_ipython() is None:
        print(text, end="")
    else:
        display(Code(text, language="python"))
