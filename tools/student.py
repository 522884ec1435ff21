"""Student versions of the notebooks, without the exercises' solutions (``make student``).

    python tools/student.py                      # every notebooks/NN_*.ipynb
    python tools/student.py notebooks/05_*.ipynb --out build/student --solutions build/solutions

In a code cell tagged ``solution`` the lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION``
become one ``raise NotImplementedError("Exercise: your code here")`` at the marker's indentation;
the lines around them (the ``def`` line, the docstring, the ``checks.check_...(my_fn)`` call) stay.
A tagged code cell without markers is replaced whole; a tagged markdown cell (a written answer)
becomes "*Your answer here.*". Those cells lose their outputs. Cells tagged ``presenter`` are left
out. Every other cell, outputs included, is copied as it is.

The solutions go to ``build/solutions/NN_name.py``, one ``# %%`` cell per exercise (jupytext's
percent format, so it opens as a notebook too). The reference solutions themselves live in the
committed notebooks; ``build/`` is never committed.

Student notebooks carry no jupytext pairing (no ``jupytext`` metadata, and a ``jupytext.toml`` in
``build/student/`` that pairs nothing), so saving one does not write a ``.py`` beside it.
``make lab STUDENT=1`` builds them and opens JupyterLab on ``build/student/``.
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import course  # noqa: E402

PLACEHOLDER = 'raise NotImplementedError("Exercise: your code here")'
ANSWER = "*Your answer here.*"


class SolutionMarkupError(ValueError):
    """Markers that do not pair up, or markers in a cell that is not tagged ``solution``."""


def _marker(line: str) -> str | None:
    s = line.strip()
    if s.startswith(course.BEGIN):
        return "begin"
    if s.startswith(course.END):
        return "end"
    return None


def has_markers(source: str) -> bool:
    return any(_marker(line) for line in source.splitlines())


def strip_solution(source: str, where: str = "cell") -> tuple[str, list[str]]:
    """(source without its solution blocks, the solution blocks' code).

    >>> src = "def f(x):\\n    ### BEGIN SOLUTION\\n    return x\\n    ### END SOLUTION\\n"
    >>> strip_solution(src)[0]
    'def f(x):\\n    raise NotImplementedError("Exercise: your code here")\\n'
    """
    out, blocks, block = [], [], None
    for number, line in enumerate(source.splitlines(keepends=True), 1):
        kind = _marker(line)
        if kind == "begin":
            if block is not None:
                raise SolutionMarkupError(f"{where}, line {number}: {course.BEGIN} inside "
                                          "another solution block (close the first one)")
            indent = re.match(r"[ \t]*", line).group(0)
            out.append(f"{indent}{PLACEHOLDER}\n")
            block = []
        elif kind == "end":
            if block is None:
                raise SolutionMarkupError(f"{where}, line {number}: {course.END} without "
                                          f"{course.BEGIN}")
            blocks.append("".join(block))
            block = None
        elif block is not None:
            block.append(line)
        else:
            out.append(line)
    if block is not None:
        raise SolutionMarkupError(f"{where}: {course.BEGIN} without {course.END}")
    text = "".join(out)
    return (text if source.endswith("\n") else text.rstrip("\n")), blocks


def student_version(nb, name: str = "notebook"):
    """(student notebook, [(cell index, solution source)]): see the module's docstring."""
    student = copy.deepcopy(nb)
    solutions, cells = [], []
    for index, cell in enumerate(student.cells):
        where = f"{name}, cell {index}"
        tagged = course.SOLUTION in course.tags(cell)
        if course.PRESENTER in course.tags(cell):
            continue
        if cell.cell_type == "code" and has_markers(cell.source) and not tagged:
            raise SolutionMarkupError(f"{where} has {course.BEGIN} markers but no 'solution' "
                                      "tag: add tags=[\"solution\"] to the cell")
        if tagged:
            solutions.append((index, cell.source))
            if cell.cell_type == "code":
                if has_markers(cell.source):
                    cell.source, _ = strip_solution(cell.source, where)
                else:
                    cell.source = PLACEHOLDER
                cell.outputs, cell.execution_count = [], None
                cell.metadata.pop("execution", None)
            else:
                cell.source = ANSWER
                cell.pop("attachments", None)
        cells.append(cell)
    student.cells = cells
    # A student's copy is one notebook, not a jupytext pair: saving it must not write a .py
    # beside it (build_student also writes a jupytext.toml that pairs nothing).
    student.metadata.pop("jupytext", None)
    return student, solutions


def solutions_script(nb, solutions, name: str) -> str:
    """The reference solutions of one notebook as a percent script."""
    heading = next((c.source.splitlines()[0].lstrip("# ").strip() for c in nb.cells
                    if c.cell_type == "markdown" and c.source.strip()), name)
    parts = [f"# Reference solutions of {name}.ipynb: {heading}\n"
             "# Generated by tools/student.py from the cells tagged 'solution'; do not edit.\n"]
    for index, source in solutions:
        kind = "" if nb.cells[index].cell_type == "code" else " [markdown]"
        body = source if kind == "" else "\n".join(f"# {line}".rstrip() for line in
                                                  source.splitlines())
        parts.append(f"# %%{kind} (cell {index})\n{body.rstrip()}\n")
    return "\n\n".join(parts)


NO_PAIRING = """\
# The student notebooks are plain notebooks: no jupytext pairing (no .py written on save).
formats = "ipynb"
"""


def build(paths, out: Path, solutions_dir: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    solutions_dir.mkdir(parents=True, exist_ok=True)
    (out / "jupytext.toml").write_text(NO_PAIRING)
    written = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        student, solutions = student_version(nb, path.name)
        nbformat.validate(student)
        nbformat.write(student, out / path.name)
        (solutions_dir / f"{path.stem}.py").write_text(solutions_script(nb, solutions, path.stem))
        written.append(out / path.name)
        print(f"{path.name}: {len(solutions)} solution cell(s) removed")
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("notebooks", nargs="*", type=Path)
    p.add_argument("--out", type=Path, default=course.BUILD / "student")
    p.add_argument("--solutions", type=Path, default=course.BUILD / "solutions")
    args = p.parse_args(argv)
    status = course.run_build(build, args.notebooks, args.out, args.solutions,
                              errors=(SolutionMarkupError,),
                              nothing="no executed notebooks (notebooks/NN_*.ipynb) yet")
    if status == 0 and (args.notebooks or course.notebook_paths()):
        print(f"student notebooks in {args.out}, solutions in {args.solutions}")
    return status


if __name__ == "__main__":
    sys.exit(main())
