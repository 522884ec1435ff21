"""The "Open in Colab" path: one cell, the same in every notebook, made from ``course.REPO``.

    python tools/colab.py                 # which notebooks lack the cell or carry an old one
    python tools/colab.py --print         # the cell, to paste
    python tools/colab.py --fix notebooks/05_zhou_cam.py   # insert/update it (then re-execute)

On Google Colab the cell clones the course (code and the zoo's committed checkpoints) and puts
it on ``sys.path``; Colab already has every package the notebooks import (torch, torchvision,
scikit-learn, scikit-image, OpenCV, seaborn, ipywidgets, tqdm), and the data loaders download
CIFAR-10 there. Anywhere else the cell does nothing. It is tagged ``colab`` and ``remove-cell``:
the book and the slides leave it out, the student version keeps it. It goes right before the
set-up cell (the first code cell). The book's "Open in Colab" link opens the committed notebook
on GitHub (``course.colab_url``).

``--fix`` edits the percent script (``.py``); re-execute the notebook afterwards
(``make execute NB=...``) so the pair is in sync and fresh.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import course  # noqa: E402

CLONE_TO = "/content/lecture-suite"
TAGS = [course.COLAB, course.REMOVE_CELL]


CELL = """\
# Google Colab only: fetch the course's code and trained models (nothing happens elsewhere).
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    if not os.path.isdir("{clone_to}"):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", "{branch}",
                        "https://github.com/{repo}", "{clone_to}"], check=True)
    sys.path.insert(0, "{clone_to}")"""


def cell_source(repo: str | None = None, branch: str | None = None) -> str:
    return CELL.format(repo=repo or course.REPO, branch=branch or course.BRANCH, clone_to=CLONE_TO)


def status(nb) -> str:
    """'ok', 'missing' or 'outdated'."""
    cells = [c for c in nb.cells if course.COLAB in course.tags(c)]
    if not cells:
        return "missing"
    return "ok" if cells[0].source.strip() == cell_source().strip() else "outdated"


def fix(nb):
    """The notebook with the current Colab cell before its first code cell."""
    nb.cells = [c for c in nb.cells if course.COLAB not in course.tags(c)]
    cell = nbformat.v4.new_code_cell(cell_source(), metadata={"tags": list(TAGS)})
    cell.pop("id", None)
    first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(first, cell)
    return nb


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
    bad = 0
    for path in paths:
        nb = jupytext.read(path)
        state = status(nb)
        if state != "ok" and args.fix:
            jupytext.write(fix(nb), path, fmt="py:percent")
            state = "fixed: re-execute it"
        bad += state in ("missing", "outdated")
        print(f"{path.name}: {state}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
