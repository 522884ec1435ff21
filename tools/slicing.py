"""The statements a notebook needs to reach some of its cells: a backward slice by names.

    python tools/slicing.py notebooks/04_ribeiro_lime.ipynb     # how much an explorer needs

The browser test (tests/test_lab.py) moves every explorer of every notebook. Running each whole
notebook in JupyterLab costs its full run; an explorer needs only the statements that build its
arguments. ``explorer_slice`` keeps the explorer cells whole and, walking backwards through the
earlier cells' top-level statements, every statement that binds a name a kept statement reads:
assignment, import, ``def``/``class``, ``for``/``with`` targets (a compound statement is kept
whole), and in-place changes (``x[k] = v``, ``x.a = v``, ``x.method(...)`` on a name that is not a
module). The set-up calls of the import cells (``config.seed_everything(0)``, ...) are kept too.
A cell that does not parse is kept whole. Markdown and drawing-only statements are dropped, so a
slice runs in a fraction of the notebook's time. It is a test harness: a slice is checked by
running it, not trusted.
"""
from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

EXPLORER_CALL = re.compile(r"explorers\.\w+_explorer\(")


@dataclass
class Statement:
    cell: int
    source: str
    binds: set
    reads: set
    setup: bool = False          # a module-level call in an import cell


def _python(source: str) -> str:
    """The cell's source with IPython's line magics and shell escapes commented out."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _stores(nodes) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node)
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}


def _reads(node, local: frozenset = frozenset()) -> set[str]:
    """The free names read under ``node``: function bodies included (they run when called), the
    names a function, lambda or comprehension binds for itself left out."""
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, ast.Load) and node.id not in local else set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = node.args
        params = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        body = node.body if isinstance(node.body, list) else [node.body]
        local = local | params | _stores(body)
    elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        local = local | _stores(g.target for g in node.generators)
    out = set()
    for child in ast.iter_child_nodes(node):
        out |= _reads(child, local)
    return out


def _statements_within(stmt):
    """``stmt`` and the statements nested in it (loop and ``with`` bodies, branches), not those
    of functions or classes it defines."""
    yield stmt
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return
    for field in ("body", "orelse", "finalbody", "handlers"):
        for child in getattr(stmt, field, []) or []:
            yield from _statements_within(child)


def _binds(stmt, modules: set[str]) -> set[str]:
    """The names a top-level statement binds in the notebook's namespace, or changes in place."""
    out = set()

    def visit(node):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                out.add(name)
                modules.add(name)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
            return
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                             ast.GeneratorExp)):
            return
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            out.add(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(stmt)
    for node in _statements_within(stmt):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
                and isinstance(node.value.func, ast.Attribute):
            targets = [node.value.func.value]
        for target in targets:
            while isinstance(target, (ast.Attribute, ast.Subscript)):
                target = target.value
            if isinstance(target, ast.Name) and target.id not in modules:
                out.add(target.id)
    return out


def statements(sources: list[str]) -> list[Statement]:
    """The top-level statements of the cells, in order (a cell that does not parse: one
    statement that binds nothing and is always kept)."""
    out, modules = [], set()
    for i, source in enumerate(sources):
        text = _python(source)
        try:
            tree = ast.parse(text)
        except SyntaxError:
            out.append(Statement(i, source, set(), set(), setup=True))
            continue
        lines = text.splitlines()
        imports = any(isinstance(s, (ast.Import, ast.ImportFrom)) for s in tree.body)
        for stmt in tree.body:
            first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
            src = "\n".join(lines[first - 1:stmt.end_lineno])
            binds = _binds(stmt, modules)
            setup = imports and isinstance(stmt, ast.Expr) and not binds
            out.append(Statement(i, src, binds, _reads(stmt), setup))
    return out


def slice_cells(sources: list[str], targets: list[int]) -> list[tuple[int, str]]:
    """``(cell index, source)`` of what the cells ``targets`` need: the target cells whole, and
    from earlier cells the statements they need, transitively, in the notebook's order."""
    stmts = statements(sources)
    last = max(targets, default=-1)
    keep = {k for k, s in enumerate(stmts) if s.cell in targets or (s.setup and s.cell < last)}
    wanted = [(k, name) for k in keep for name in stmts[k].reads]
    while wanted:
        at, name = wanted.pop()
        for k in range(at - 1, -1, -1):
            if name in stmts[k].binds:
                if k not in keep:
                    keep.add(k)
                    wanted.extend((k, n) for n in stmts[k].reads)
                break
    cells: dict[int, list[str]] = {}
    for k in sorted(keep):
        cells.setdefault(stmts[k].cell, []).append(stmts[k].source)
    return [(i, sources[i] if i in targets else "\n".join(parts)) for i, parts in cells.items()]


def explorer_slice(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with its explorer cells and the statements they need, one code cell per
    original cell (outputs cleared, metadata kept)."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    targets = [i for i, c in enumerate(code) if EXPLORER_CALL.search(c.source)]
    cells = [nbformat.v4.new_code_cell(src, metadata=dict(code[i].metadata))
             for i, src in slice_cells([c.source for c in code], targets)]
    return nbformat.v4.new_notebook(cells=cells, metadata=dict(nb.metadata))


def main(argv: list[str]) -> int:
    for path in argv:
        nb = nbformat.read(path, as_version=4)
        sliced = explorer_slice(nb)
        lines = sum(len(c.source.splitlines()) for c in sliced.cells)
        total = sum(len(c.source.splitlines()) for c in nb.cells if c.cell_type == "code")
        print(f"{Path(path).name}: {len(sliced.cells)} cells, {lines} of {total} lines of code")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
