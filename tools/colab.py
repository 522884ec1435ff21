"""The "Open in Colab" path: one cell, the same in every notebook, made from ``course.REPO``.

    python tools/colab.py                 # which notebooks lack the cell, carry an old one, or
                                          # name no repository (a placeholder)
    python tools/colab.py --print         # the cell, to paste
    python tools/colab.py --fix notebooks/05_zhou_cam.py   # insert/update it (then re-execute)

On Google Colab the cell clones the course (code and the zoo's committed checkpoints), puts it on
``sys.path`` and pip-installs the packages of ``pyproject.toml`` that the notebooks' kernel needs
and Colab lacks (JupyterLab's own tools are left out: Colab has its front-end); the data loaders
download CIFAR-10 and 20 Newsgroups there. Anywhere else the cell does nothing.

The repository is ``course.REPO``: ``COURSE_REPO=owner/name``, else the checkout's GitHub remote.
Without one the cell is written with an empty ``COURSE_REPO`` form field (Colab shows it as a text
box): on Colab it then says to fill it in, and a clone that fails (a typo, a private fork) says
what to check; it never stops the notebook with a traceback. ``python tools/colab.py`` reports
such placeholders; ``--fix`` never replaces a repository already in a cell by an empty one.

The cell is tagged ``colab`` and ``remove-cell``: the book and the slides leave it out, the
student version keeps it. It goes right before the set-up cell (the first code cell). The book's
"Open in Colab" link opens the committed notebook on GitHub (``course.colab_url``).

``--fix`` edits the percent script (``.py``) and syncs the ``.ipynb`` (outputs kept); re-execute
the notebook afterwards (``make execute NB=...``) so its stamp is fresh.
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import jupytext
import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import course  # noqa: E402

CLONE_TO = "/content/lecture-suite"
TAGS = [course.COLAB, course.REMOVE_CELL]
# pyproject.toml's dependencies that are JupyterLab's tools, not the kernel's: Colab has its own.
NOT_FOR_THE_KERNEL = {"jupyterlab", "jupyterlab-rise", "jupytext", "nbconvert", "nbclient",
                      "ipykernel"}
# pip name -> the module to look for, where they differ
IMPORT_NAMES = {"opencv-python-headless": "cv2", "scikit-learn": "sklearn",
                "scikit-image": "skimage", "pillow": "PIL"}


def kernel_requirements(pyproject: Path = course.ROOT / "pyproject.toml") -> dict[str, str]:
    """{module: pip requirement} of what the notebooks' kernel imports, from pyproject.toml."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    out = {}
    for spec in deps:
        name = re.split(r"[<>=!\[ ;]", spec.strip(), maxsplit=1)[0].lower()
        if name not in NOT_FOR_THE_KERNEL:
            out[IMPORT_NAMES.get(name, name.replace("-", "_"))] = spec
    return out


CELL = '''\
# Google Colab only: fetch the course (code, trained models) and the packages Colab lacks.
# Elsewhere this cell does nothing. COURSE_REPO is the course's GitHub repository (owner/name).
COURSE_REPO = "{repo}"  # @param {{type:"string"}}
COURSE_BRANCH = "{branch}"  # @param {{type:"string"}}
import sys

if "google.colab" in sys.modules:
    import importlib.util
    import os
    import subprocess

    CLONE = "{clone_to}"
    NEEDED = {needed}
    if not os.path.isdir(CLONE):
        if "/" not in COURSE_REPO:
            print("Set COURSE_REPO at the top of this cell to the course's GitHub repository "
                  "(owner/name), then run the cell again.")
        else:
            url = f"https://github.com/{{COURSE_REPO}}"
            run = subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch",
                                  COURSE_BRANCH, url, CLONE], capture_output=True, text=True)
            if run.returncode != 0:
                print(f"Could not clone {{url}} (branch {{COURSE_BRANCH}}): "
                      f"{{run.stderr.strip()[-300:]}}\\nCheck COURSE_REPO and COURSE_BRANCH at the "
                      "top of this cell, or upload the course's folder to " + CLONE + " "
                      "(Files panel), then run the cell again.")
    missing = [req for mod, req in NEEDED.items() if importlib.util.find_spec(mod) is None]
    if missing:
        print("installing", ", ".join(missing))
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing])
    if os.path.isdir(CLONE):
        sys.path.insert(0, CLONE)'''


def _needed_literal(needed: dict[str, str]) -> str:
    items = [f'"{k}": "{v}"' for k, v in needed.items()]
    lines, line = [], "{"
    for item in items:
        if len(line) + len(item) + 2 > 90:
            lines.append(line.rstrip())
            line = "              "
        line += item + ", "
    lines.append(line.rstrip().rstrip(",") + "}")
    return "\n".join(lines)


def cell_source(repo: str | None = None, branch: str | None = None) -> str:
    return CELL.format(repo=repo or course.REPO or "", branch=branch or course.BRANCH,
                       clone_to=CLONE_TO, needed=_needed_literal(kernel_requirements()))


_REPO_IN_CELL = re.compile(r'^COURSE_REPO = "([^"]*)"', re.M)
_OLD_CLONE = re.compile(r'"https://github\.com/([^"]+)"')


def cell_repo(nb) -> str | None:
    """The repository a notebook's Colab cell names (None: no cell, or a placeholder)."""
    cell = next((c for c in nb.cells if course.COLAB in course.tags(c)), None)
    if cell is None:
        return None
    m = _REPO_IN_CELL.search(cell.source) or _OLD_CLONE.search(cell.source)
    repo = m.group(1).strip() if m else ""
    return None if repo.upper() in course.PLACEHOLDERS or "/" not in repo else repo


def status(nb) -> str:
    """'ok', 'missing', 'outdated' or 'placeholder' (current, but it names no repository)."""
    cells = [c for c in nb.cells if course.COLAB in course.tags(c)]
    if not cells:
        return "missing"
    repo = course.REPO or cell_repo(nb)
    if cells[0].source.strip() != cell_source(repo).strip():
        return "outdated"
    return "ok" if repo else "placeholder"


def fix(nb):
    """The notebook with the current Colab cell before its first code cell (a repository already
    in the cell is kept when none is known here)."""
    repo = course.REPO or cell_repo(nb)
    nb.cells = [c for c in nb.cells if course.COLAB not in course.tags(c)]
    cell = nbformat.v4.new_code_cell(cell_source(repo), metadata={"tags": list(TAGS)})
    cell.pop("id", None)
    first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(first, cell)
    return nb


def sync_pair(script: Path) -> None:
    """Write the edited percent script's cells into its .ipynb, keeping the outputs."""
    ipynb = script.with_suffix(".ipynb")
    if not ipynb.exists():
        return
    import subprocess
    jt = Path(sys.executable).with_name("jupytext")
    cmd = [str(jt)] if jt.exists() else [sys.executable, "-m", "jupytext"]
    subprocess.run([*cmd, "--sync", str(script)], check=True, capture_output=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scripts", nargs="*", type=Path, help="percent scripts (notebooks/NN_*.py)")
    p.add_argument("--fix", action="store_true")
    p.add_argument("--print", dest="show", action="store_true")
    args = p.parse_args(argv)
    if args.show:
        print(f'# %% tags={TAGS!r}'.replace("'", '"'))
        print(cell_source())
        return 0
    paths = args.scripts or sorted(course.NOTEBOOKS.glob("[0-9]*.py"))
    bad = placeholders = 0
    for path in paths:
        nb = jupytext.read(path)
        state = status(nb)
        if state in ("missing", "outdated") and args.fix:
            jupytext.write(fix(nb), path, fmt="py:percent")
            sync_pair(path)
            state = "fixed: re-execute it" + (" (no repository: a placeholder)"
                                              if status(jupytext.read(path)) == "placeholder"
                                              else "")
        bad += state in ("missing", "outdated")
        placeholders += state == "placeholder" or "placeholder" in state
        print(f"{path.name}: {state}")
    if placeholders:
        print(f"{placeholders} Colab cell(s) name no repository: {course.HOW_TO_SET_REPO}; then "
              "run `python tools/colab.py --fix` (on Colab the cell asks for it meanwhile)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
