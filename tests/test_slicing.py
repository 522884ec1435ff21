"""tools/slicing.py: the backward slice that the browser test runs instead of a whole notebook."""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import slicing  # noqa: E402


def sliced(*cells: str) -> list[str]:
    """The kept sources when the last cell is the target."""
    return [src for _, src in slicing.slice_cells(list(cells), [len(cells) - 1])]


def test_keeps_what_the_target_reads_and_drops_the_rest():
    kept = sliced("import numpy as np\nfrom lib import zoo\nzoo.setup()",
                  "x = np.ones(3)\nplot(x)\nheavy = expensive()",
                  "y = x * 2",
                  "show(y)")
    assert kept == ["import numpy as np\nfrom lib import zoo\nzoo.setup()", "x = np.ones(3)",
                    "y = x * 2", "show(y)"]


def test_nearest_binding_wins_and_its_own_reads_follow():
    kept = sliced("a = 1", "b = 2", "a = b + 1", "use(a)")
    assert kept == ["b = 2", "a = b + 1", "use(a)"]


def test_comprehension_and_function_locals_are_not_reads():
    kept = sliced("i = slow()", "k = 3",
                  "def f(i):\n    j = i + k\n    return j",
                  "z = [f(i) for i in range(2)]", "use(z)")
    assert "i = slow()" not in kept and "k = 3" in kept


def test_in_place_changes_are_bindings_but_module_calls_are_not():
    kept = sliced("import torch\nd = {}", "d['a'] = 1", "net = make()", "net.eval()",
                  "torch.manual_seed(0)", "use(d, net)")
    assert kept == ["d = {}", "d['a'] = 1", "net = make()", "net.eval()",
                    "use(d, net)"]


def test_loops_and_withs_are_kept_whole_with_the_changes_inside_them():
    kept = sliced("acc = []", "for t in range(3):\n    acc.append(t)\n    noise()", "use(acc)")
    assert kept == ["acc = []", "for t in range(3):\n    acc.append(t)\n    noise()", "use(acc)"]


def test_cells_that_do_not_parse_are_kept_and_magics_are_read_around():
    kept = sliced("%matplotlib inline\nx = 1", "this is not ) python", "use(x)")
    assert kept == ["x = 1", "this is not ) python", "use(x)"]


def test_explorer_slice_keeps_the_explorer_cells_whole():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# title"),
        nbformat.v4.new_code_cell("from lecture_utils import explorers\nnet = load()\nx = 1"),
        nbformat.v4.new_code_cell("figure()"),
        nbformat.v4.new_code_cell("# NBVAL_SKIP\nexplorers.lime_explorer(net, img=x)")])
    out = slicing.explorer_slice(nb)
    assert [c.cell_type for c in out.cells] == ["code", "code"]
    assert out.cells[-1].source == "# NBVAL_SKIP\nexplorers.lime_explorer(net, img=x)"
    assert "figure" not in out.cells[0].source
