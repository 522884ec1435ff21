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
