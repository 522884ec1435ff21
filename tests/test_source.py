"""show_source: listings come from explicit markers; every marker a notebook uses exists."""
import re
from pathlib import Path

import pytest

from lecture_utils import source

ROOT = Path(__file__).resolve().parent.parent


def _example(x):
    """A docstring."""
    y = x + 1
    # --8<-- [start:double]
    z = 2 * y
    # --8<-- [end:double]
    return z


def test_whole_function_and_without_docstring():
    text = source.source_of(_example)
    assert text.startswith("def _example(x):") and "--8<--" not in text
    assert '"""A docstring."""' not in source.source_of(_example, docstring=False)


def test_marked_region():
    assert source.source_of(_example, "double") == "z = 2 * y\n"
    assert source.markers_in(_example) == ["double"]


def test_missing_marker_says_what_exists():
    with pytest.raises(source.MarkerError, match=r"\['double'\]"):
        source.source_of(_example, "triple")


def test_show_source_prints_outside_jupyter(capsys):
    source.show_source(_example, "double")
    assert capsys.readouterr().out == "z = 2 * y\n"


def test_every_marker_the_notebooks_use_exists():
    """A notebook listing ``show_source(module.name, "marker")`` finds its marker in the library."""
    import importlib
    pattern = re.compile(r"show_source\((\w+)\.([\w.]+),\s*(?:marker=)?[\"']([\w.-]+)[\"']")
    for py in sorted((ROOT / "notebooks").glob("*.py")):
        for module, attr, marker in pattern.findall(py.read_text()):
            obj = importlib.import_module(f"lecture_utils.{module}")
            for part in attr.split("."):
                obj = getattr(obj, part)
            source.source_of(obj, marker)  # raises MarkerError when it is missing
