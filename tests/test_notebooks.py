"""Committed notebooks: paired with their .py, executed (laptop/full profile) after their last
edit."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import notebooks as nbtool  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_pair_is_in_sync_and_fresh(path):
    assert nbtool.problems(path) == []


def test_every_script_has_its_notebook():
    for py in (ROOT / "notebooks").glob("*.py"):
        assert py.with_suffix(".ipynb").exists(), f"{py.name} has no paired .ipynb"


def test_prose_takes_markdown_edits_and_refuses_code_edits(tmp_path):
    """`notebooks.py prose`: a markdown edit of the .py side reaches the executed notebook with a
    fresh stamp and its outputs kept; a code edit is refused (only `execute` may renew outputs)."""
    import shutil

    import nbformat
    src = NOTEBOOKS[0]
    ipynb = tmp_path / src.name
    shutil.copy2(src, ipynb)
    py = ipynb.with_suffix(".py")
    import jupytext
    text = jupytext.writes(nbformat.read(src, 4), fmt="py:percent")   # the pair, in sync
    first_md = text.index("\n# ")
    py.write_text(text[:first_md] + "\n# An edited sentence." + text[first_md:])
    outputs = [c.get("outputs") for c in nbformat.read(ipynb, 4).cells if c.cell_type == "code"]
    nbtool.take_prose(ipynb)
    assert nbtool.problems(ipynb) == []
    nb = nbformat.read(ipynb, 4)
    assert any("An edited sentence." in c.source for c in nb.cells)
    assert [c.get("outputs") for c in nb.cells if c.cell_type == "code"] == outputs
    py.write_text(py.read_text().replace("import ", "import  ", 1))
    with pytest.raises(SystemExit, match="code cells differ"):
        nbtool.take_prose(ipynb)


def test_a_notebook_run_on_a_retrained_checkpoint_is_stale(tmp_path):
    """The stamp keeps the committed checkpoints the run loaded (`"zoo": {name: sha256}`): a
    checkpoint retrained since, or a stamp without that record, asks for re-execution."""
    import shutil

    import nbformat
    src = next(p for p in NOTEBOOKS if nbformat.read(p, 4).metadata[nbtool.STAMP].get("zoo"))
    ipynb = tmp_path / src.name
    shutil.copy2(src, ipynb)
    shutil.copy2(src.with_suffix(".py"), ipynb.with_suffix(".py"))
    nb = nbformat.read(ipynb, 4)
    stamp = nb.metadata[nbtool.STAMP]
    key = sorted(stamp["zoo"])[0]
    stamp["zoo"][key] = "0" * 64
    nbformat.write(nb, ipynb)
    assert any(f"its outputs come from {key} 000000000000" in p for p in nbtool.problems(ipynb))
    del stamp["zoo"]
    nbformat.write(nb, ipynb)
    assert any("no record of the zoo checkpoints" in p for p in nbtool.problems(ipynb))
