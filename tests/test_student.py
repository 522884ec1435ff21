"""`make student`: the student versions keep every cell but the solutions (tools/student.py)."""
from __future__ import annotations

import ast
import re

import jupytext
import nbformat
import pytest

from classroom_helpers import ROOT, SOLUTION_LINES, alpha_notebook, course, write_course

import student  # noqa: E402  (tools/ is on sys.path through classroom_helpers)

PLACE = student.PLACEHOLDER


def test_strip_keeps_signature_docstring_and_indentation():
    src = ('def f(x, y):\n    """Doc."""\n    ### BEGIN SOLUTION\n    z = x + y\n    return z\n'
           '    ### END SOLUTION\n\n\ncheck(f);')
    out, blocks = student.strip_solution(src)
    assert out == f'def f(x, y):\n    """Doc."""\n    {PLACE}\n\n\ncheck(f);'
    assert blocks == ["    z = x + y\n    return z\n"]


def test_strip_several_blocks_and_top_level():
    src = ("### BEGIN SOLUTION\na = 1\n### END SOLUTION\nprint(a)\n"
           "class K:\n    def m(self):\n        ### BEGIN SOLUTION\n        return 2\n"
           "        ### END SOLUTION\n")
    out, blocks = student.strip_solution(src)
    assert out == f"{PLACE}\nprint(a)\nclass K:\n    def m(self):\n        {PLACE}\n"
    assert len(blocks) == 2
    ast.parse(out)


@pytest.mark.parametrize("src, message", [
    ("### BEGIN SOLUTION\na = 1\n", "without"),
    ("a = 1\n### END SOLUTION\n", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside"),
])
def test_unpaired_markers_are_errors(src, message):
    with pytest.raises(student.SolutionMarkupError, match=message):
        student.strip_solution(src)


def test_markers_without_the_tag_are_an_error():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n")])
    with pytest.raises(student.SolutionMarkupError, match="no 'solution' tag"):
        student.student_version(nb)


def test_tagged_cells_without_markers_are_replaced_whole():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution"]}),
        nbformat.v4.new_markdown_cell("The gap grows: no augmentation overfits.",
                                      metadata={"tags": ["solution"]})])
    out, solutions = student.student_version(nb)
    assert out.cells[0].source == PLACE
    assert out.cells[1].source == student.ANSWER
    assert [i for i, _ in solutions] == [0, 1]


def test_synthetic_notebook():
    nb = alpha_notebook()
    out, solutions = student.student_version(nb, "01_alpha")
    nbformat.validate(out)
    text = nbformat.writes(out)
    for line in SOLUTION_LINES:
        assert line.strip() not in text
    assert "SECRET" not in text and course.BEGIN not in text
    assert "presenter" not in {t for c in out.cells for t in course.tags(c)}
    cell = next(c for c in out.cells if course.SOLUTION in course.tags(c))
    assert cell.outputs == [] and cell.execution_count is None
    assert cell.source.startswith("def my_norm(values):\n    \"\"\"The Euclidean norm.\"\"\"\n")
    assert "check_norm(my_norm);" in cell.source and PLACE in cell.source
    # everything else is untouched, outputs included (the Colab cell stays for Colab users)
    kept = [c for c in nb.cells if not course.tags(c) & {"solution", "presenter"}]
    assert [c for c in out.cells if course.SOLUTION not in course.tags(c)] == kept
    assert len(solutions) == 1 and "SECRET-ALPHA" in solutions[0][1]


def test_student_notebooks_are_not_jupytext_pairs(tmp_path):
    nb = alpha_notebook()
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    out, _ = student.student_version(nb)
    assert "jupytext" not in out.metadata and nb.metadata["jupytext"]   # the original is kept
    paths = write_course(tmp_path / "nb")
    student.build(paths, tmp_path / "student", tmp_path / "solutions")
    assert 'formats = "ipynb"' in (tmp_path / "student" / "jupytext.toml").read_text()


def test_cli_writes_students_and_solutions(tmp_path):
    paths = write_course(tmp_path / "nb")
    assert student.main([*map(str, paths), "--out", str(tmp_path / "student"),
                         "--solutions", str(tmp_path / "solutions")]) == 0
    assert sorted(p.name for p in (tmp_path / "student").glob("*.ipynb")) == [p.name for p in paths]
    script = (tmp_path / "solutions" / "01_alpha.py").read_text()
    assert "SECRET-ALPHA" in script and script.startswith("# Reference solutions of 01_alpha")
    compile(script, "01_alpha.py", "exec")
    assert "SECRET" not in (tmp_path / "student" / "01_alpha.ipynb").read_text()


# ---- every notebook of the course (the executed .ipynb, else its .py while it is being written)

def course_sources():
    found = {p.stem: p for p in sorted((ROOT / "notebooks").glob("[0-9]*.py"))}
    found.update({p.stem: p for p in course.notebook_paths()})
    return [found[k] for k in sorted(found)]


def code_of(source: str) -> str:
    """Python of a cell, with IPython magics and shell escapes blanked."""
    return "\n".join("" if re.match(r"\s*[%!]", line) else line for line in source.splitlines())


@pytest.mark.parametrize("path", course_sources(), ids=lambda p: p.name)
def test_course_notebook_student_version(path):
    nb = jupytext.read(path) if path.suffix == ".py" else nbformat.read(path, as_version=4)
    out, solutions = student.student_version(nb, path.name)
    nbformat.validate(out)
    text = "\n".join(c.source for c in out.cells if c.cell_type == "code")
    assert course.BEGIN not in text and course.END not in text
    tagged = [(i, c) for i, c in enumerate(nb.cells) if course.SOLUTION in course.tags(c)]
    assert len(solutions) == len(tagged)
    student_cells = [c for c in out.cells if course.SOLUTION in course.tags(c)]
    for (i, cell), after in zip(tagged, student_cells):
        if cell.cell_type != "code" or not student.has_markers(cell.source):
            assert after.source in (student.PLACEHOLDER, student.ANSWER)
            continue
        kept, blocks = student.strip_solution(cell.source)
        assert after.source == kept and after.outputs == []
        around = {ln.strip() for ln in kept.splitlines()}
        for line in "".join(blocks).splitlines():
            if line.strip() and line.strip() not in around:
                assert line.strip() not in after.source, f"cell {i}: solution line left in"
    shown = [c for c in out.cells if course.SOLUTION not in course.tags(c)]
    assert shown == [c for c in nb.cells if not course.tags(c) & {"solution", "presenter"}]
    for cell in out.cells:
        if cell.cell_type == "code":
            ast.parse(code_of(cell.source))
