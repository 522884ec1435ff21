"""ruff (configured in pyproject.toml: line length 100, rules E, F, W) on the package, the tests,
the tools and the benchmarks, so that ``make test`` lints too. Skipped when ruff is not
installed (``pip install -e .[test]`` installs it)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PATHS = ("lecture_utils", "tests", "tools", "benchmarks")


def _ruff():
    exe = Path(sys.executable).with_name("ruff")
    if exe.exists():
        return [str(exe)]
    if shutil.which("ruff"):
        return [shutil.which("ruff")]
    try:
        import ruff  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-m", "ruff"]


def test_ruff_passes():
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed: pip install -e '.[test]' to lint in make test")
    run = subprocess.run([*ruff, "check", "--output-format", "concise", "--no-cache",
                          *[p for p in PATHS if (ROOT / p).exists()]],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"ruff check failed:\n{run.stdout}{run.stderr}"
