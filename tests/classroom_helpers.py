"""Shared by tests/test_book.py, test_slides.py and test_student.py: small synthetic notebooks
that use every convention of the classroom builds, and the headless-browser check."""
from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import course  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = course.BUILD / "screenshots"


def png(color=(200, 30, 30), size=(40, 30)) -> str:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def figure(color=(200, 30, 30)):
    return new_output("display_data", data={"image/png": png(color), "text/plain": "<Figure>"})


def stream(text: str):
    return new_output("stream", name="stdout", text=text)


def md(source: str, slide: str | None = None, tags=()):
    meta = {}
    if slide:
        meta["slideshow"] = {"slide_type": slide}
    if tags:
        meta["tags"] = list(tags)
    return new_markdown_cell(source, metadata=meta)


def code(source: str, outputs=(), slide: str | None = None, tags=(), seconds: float | None = None):
    meta = {}
    if slide:
        meta["slideshow"] = {"slide_type": slide}
    if tags:
        meta["tags"] = list(tags)
    if seconds is not None:
        meta["execution"] = {"iopub.execute_input": "2026-01-01T10:00:00.000000Z",
                             "shell.execute_reply": f"2026-01-01T10:00:{seconds:09.6f}Z"}
    return new_code_cell(source, outputs=list(outputs), execution_count=1, metadata=meta)


PROGRESS_STATE = {
    "state": {
        "box1": {"model_name": "HBoxModel", "model_module": "@jupyter-widgets/controls",
                 "model_module_version": "2.0.0",
                 "state": {"children": ["IPY_MODEL_h1", "IPY_MODEL_p1", "IPY_MODEL_h2"]}},
        "h1": {"model_name": "HTMLModel", "model_module": "@jupyter-widgets/controls",
               "model_module_version": "2.0.0", "state": {"value": "training: 100%"}},
        "p1": {"model_name": "FloatProgressModel", "model_module": "@jupyter-widgets/controls",
               "model_module_version": "2.0.0", "state": {"value": 5.0, "max": 5.0}},
        "h2": {"model_name": "HTMLModel", "model_module": "@jupyter-widgets/controls",
               "model_module_version": "2.0.0", "state": {"value": " 5/5 [00:01&lt;00:00]"}},
    },
    "version_major": 2, "version_minor": 0,
}

SOLUTION_LINES = ["    total = sum(v * v for v in values)  # SECRET-ALPHA",
                  "    return total ** 0.5  # SECRET-BETA"]


def alpha_notebook():
    """01: the paper-notebook format with every tag the builds know."""
    widget = new_output("display_data", data={
        course.WIDGET_VIEW: {"model_id": "box1", "version_major": 2, "version_minor": 0},
        "text/plain": "training:   0%|          | 0/5"})
    cells = [
        md("# 01 · The alpha method\n\n"
           "**Paper:** A. Author, B. Author. *Alpha: Looking Inside Networks.* CVPR 2020. "
           "[arXiv:2001.00001](https://arxiv.org/abs/2001.00001)\n\n"
           "**Why it matters:** alpha tells which pixels a classifier looks at.\n\n"
           "A second paragraph that the index leaves out.", slide="slide"),
        md("Run cells 3 and 5 live; the training cell takes 2 minutes on a laptop.",
           slide="notes", tags=["presenter"]),
        code("import sys  # the Colab cell", tags=["colab", "remove-cell"]),
        md("## The math\n\nThe norm $\\|x\\|_2 = \\sqrt{\\sum_i x_i^2}$ and\n\n"
           "$$\\mathrm{score}(x) = \\frac{1}{n} \\sum_{i=1}^{n} x_i \\label{eq:score}$$\n\n"
           "See [notebook 02](02_beta.ipynb), its [math](02_beta.ipynb#The-beta-math) and "
           "[the paper](https://arxiv.org/abs/2001.00001).", slide="slide"),
        code("fig = plot_first()", [figure()], slide="subslide", seconds=12.5),
        code("print('hidden-code-marker')", [stream("shown output\n"), figure((30, 30, 200))],
             tags=["hide-input"], slide="subslide"),
        code("secret_plot_call()  # remove-input-marker", [figure((30, 200, 30))],
             tags=["remove-input"]),
        code("train()", [widget], slide="subslide", seconds=3.0),
        code("internal_helper()  # remove-cell-marker", [stream("internal\n")],
             tags=["remove-cell"]),
        md("## Exercises\n\n1. Write `my_norm`.", slide="slide"),
        code("def my_norm(values):\n    \"\"\"The Euclidean norm.\"\"\"\n    ### BEGIN SOLUTION\n"
             + "\n".join(SOLUTION_LINES) + "\n    ### END SOLUTION\n\n\ncheck_norm(my_norm);",
             [stream("all checks passed\n")], tags=["solution"]),
        md("## References\n\n* A. Author. *Alpha.* 2020.", slide="slide"),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["widgets"] = {course.WIDGET_STATE: PROGRESS_STATE}
    nb.metadata["lecture_suite"] = {"profile": "laptop", "device": "cpu", "seconds": 42.0,
                                    "executed": "2026-01-01 10:00 UTC"}
    return nb


def beta_notebook():
    """02: the format of notebook 00 (citation and summary are plain paragraphs)."""
    cells = [
        md("# 02 · Beta maps\n\n*Beta Maps for Everyone.* C. Author. ICCV 2021.\n\n"
           "Beta maps show in one backward pass which parts of an image raise the score of a "
           "class the most. They are cheap.", slide="slide"),
        md("## The beta math\n\n$$\\beta = \\max_k \\, y^k$$", slide="slide"),
        code("fig = plot_beta()", [figure((120, 120, 0))], slide="fragment"),
        md("Back to [notebook 01](01_alpha.ipynb#The-math).", slide="slide"),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["lecture_suite"] = {"profile": "laptop", "device": "cpu", "seconds": 7.0}
    return nb


def write_course(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, nb in (("01_alpha", alpha_notebook()), ("02_beta", beta_notebook())):
        nbformat.validate(nb)
        path = folder / f"{name}.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    return paths


def committed_notebooks() -> list[Path]:
    return course.notebook_paths()


def require_assets():
    try:
        return course.web_modules()
    except course.AssetsUnavailable as err:
        pytest.skip(f"offline web assets unavailable: {err}")


def browser(site: Path, pages, screenshots: Path | None = None, slides: bool = False,
            shot: str | None = None, fit: bool = False) -> dict:
    """Run tools/browser_check.mjs in Debian's Chromium; skip when Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (/usr/bin/chromium): `apt-get install chromium` "
                    "(.ci/run installs it before `make test`); the browser checks are skipped")
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the browser checks use playwright-core")
    modules = require_assets()
    cmd = [node, str(ROOT / "tools" / "browser_check.mjs"), "--modules", str(modules),
           "--site", str(site), "--pages", ",".join(pages)]
    if screenshots is not None:
        shutil.rmtree(screenshots, ignore_errors=True)      # only this run's pictures
        cmd += ["--screenshots", str(screenshots)]
    if shot:
        cmd += ["--shot", shot]
    if slides:
        cmd.append("--slides")
    if fit:
        cmd.append("--fit")
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"browser check failed:\n{run.stderr[-3000:]}"
    return json.loads(run.stdout)


def fit_problems(name: str, r: dict) -> list:
    """Slides of one deck that do not fit (browser_check.mjs --fit), as 'deck, slide N: height'."""
    fit = r.get("fit")
    if fit is None:
        return [f"{name}: not measured (no reveal.js deck)"]
    out = [f"{name}, slide {o['slide']} ({o['route']}): {o['height']} x {o['width']} px, the deck "
           f"is {fit['width']} x {fit['height']}" for o in fit["overflow"]]
    out += [f"{name}, slide {e['slide']} ({e['route']}): empty" for e in fit["empty"]]
    keys = fit.get("keyboard")
    if keys and not (keys["boxes_at_end_before_leaving"] and keys["left_slide"]):
        out.append(f"{name}: the space key does not scroll the scroll boxes to their end before "
                   f"leaving the slide ({keys})")
    return out


def page_problems(name: str, r: dict, expect_images: int = 0, expect_math: bool = False) -> list:
    """What is wrong with one page as the browser saw it."""
    out = []
    for key in ("errors", "failed", "external", "broken_images", "broken_links",
                "placeholder_links", "raw_math", "math_errors"):
        if r.get(key):
            out.append(f"{name}: {key}: {r[key][:5]}")
    if r.get("output_images", 0) < expect_images:
        out.append(f"{name}: {r.get('output_images')} figures shown, {expect_images} expected")
    if expect_math and not r.get("math"):
        out.append(f"{name}: the page has math but MathJax rendered none ({r.get('mathjax')})")
    return out


def has_math(nb) -> bool:
    return any(c.cell_type == "markdown" and re.search(r"\$[^$\s][^$]*\$", c.source)
               for c in nb.cells)
