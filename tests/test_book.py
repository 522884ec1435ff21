"""`make book`: the static HTML book builds from the executed notebooks, reads offline, and every
page has its figures, its math typeset and no broken link, checked in a real headless Chromium
(tools/book.py, tools/browser_check.mjs). Screenshots go to build/screenshots/book*/."""
from __future__ import annotations

import contextlib
import io
import re
import time

import jupytext
import nbformat
import pytest

from classroom_helpers import (ROOT, SCREENSHOTS, browser, committed_notebooks, course, has_math,
                               page_problems, require_assets, write_course)

import book  # noqa: E402

FIGURE = re.compile(r'<img[^>]*src="data:image/png;base64,')
import colab  # noqa: E402


# ---- title cells, links, widgets

def test_title_cell_with_paper_and_why_lines():
    src = ("# 05 · Class Activation Mapping\n\n**Paper:** B. Zhou et al. *Learning Deep Features "
           "for Discriminative Localization.* CVPR 2016.\n\n**Why it matters:** a map of where "
           "the class is. More text.\n\nAnother paragraph.")
    assert course.parse_title_cell(src) == (
        "05", "Class Activation Mapping",
        "B. Zhou et al. *Learning Deep Features for Discriminative Localization.* CVPR 2016.",
        "a map of where the class is. More text.")


def test_title_cell_in_the_format_of_notebook_00():
    src = ("# 00 · Set-up, data and a first model\n\n*Computer Vision* — the course's starting\n"
           "notebook.\n\nEvery later notebook explains a classifier. This one builds the rest.")
    number, title, citation, summary = course.parse_title_cell(src)
    assert (number, title) == ("00", "Set-up, data and a first model")
    assert citation == "*Computer Vision* — the course's starting notebook."
    assert summary == "Every later notebook explains a classifier. This one builds the rest."


def test_summary_is_one_sentence_or_a_short_lead_in_and_the_next():
    long = ("Network dissection gives every filter of every convolutional layer a name by "
            "matching where it fires.")
    assert course.first_sentence(f"{long} Then it ablates units. And more.") == long
    assert course.first_sentence("Short lead-in. The point of it. More.") == (
        "Short lead-in. The point of it.")


def test_title_cell_needs_a_heading():
    with pytest.raises(ValueError, match="# NN · Title"):
        course.parse_title_cell("Some text first\n\n# 01 · Title")


def test_links_between_notebooks_become_pages():
    html = ('<a href="05_zhou_cam.ipynb">05</a> <a href="./06_x.ipynb#The-math">m</a> '
            '<a href="downloads/05_zhou_cam.ipynb">dl</a> '
            '<a href="https://github.com/o/r/blob/main/notebooks/05_zhou_cam.ipynb">gh</a>')
    assert course.rewrite_ipynb_links(html) == (
        '<a href="05_zhou_cam.html">05</a> <a href="06_x.html#The-math">m</a> '
        '<a href="downloads/05_zhou_cam.ipynb">dl</a> '
        '<a href="https://github.com/o/r/blob/main/notebooks/05_zhou_cam.ipynb">gh</a>')


def test_progress_bars_become_static_html():
    from classroom_helpers import alpha_notebook
    nb = course.static_widgets(alpha_notebook())
    assert "widgets" not in nb.metadata
    outs = [o for c in nb.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert len(outs) == 1
    html = outs[0]["data"]["text/html"]
    assert '<progress value="5.0" max="5.0"' in html and "training: 100%" in html
    assert course.WIDGET_VIEW not in outs[0]["data"]
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("explore()", outputs=[
        nbformat.v4.new_output("display_data", data={
            course.WIDGET_VIEW: {"model_id": "nope", "version_major": 2, "version_minor": 0},
            "text/plain": "interactive(children=(IntSlider(value=3),))"})])])
    data = course.static_widgets(other).cells[0].outputs[0]["data"]
    assert data["text/html"] == course.WIDGET_NOTE


def test_colab_cell_is_generated_from_the_repository(monkeypatch):
    monkeypatch.setattr(course, "REPO", "teacher/course")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 01 · T"),
                                         nbformat.v4.new_code_cell("from lecture_utils import x")])
    assert colab.status(nb) == "missing"
    nb = colab.fix(nb)
    assert colab.status(nb) == "ok" and nb.cells[1].metadata["tags"] == ["colab", "remove-cell"]
    assert 'COURSE_REPO = "teacher/course"  # @param' in nb.cells[1].source
    assert colab.cell_repo(nb) == "teacher/course"
    compile(nb.cells[1].source, "colab", "exec")
    ns = {}
    exec(nb.cells[1].source, ns)          # not on Colab: does nothing
    assert "subprocess" not in ns


def test_colab_cell_installs_what_the_kernel_needs():
    needed = colab.kernel_requirements()
    assert needed["cv2"] == "opencv-python-headless>=4.8" and needed["sklearn"].startswith(
        "scikit-learn")
    assert "jupyterlab" not in needed and "jupytext" not in needed and "ipykernel" not in needed
    source = colab.cell_source("teacher/course")
    for requirement in needed.values():
        assert f'"{requirement}"' in source


def test_colab_cell_without_a_repository_is_a_placeholder_that_says_what_to_do(monkeypatch):
    monkeypatch.setattr(course, "REPO", None)
    nb = colab.fix(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]))
    assert colab.status(nb) == "placeholder" and colab.cell_repo(nb) is None
    assert 'COURSE_REPO = ""  # @param' in nb.cells[0].source
    # on "Colab" (a fake module): no repository -> a message, no clone, no exception
    import subprocess
    import sys
    import types
    calls = []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a) or
                        types.SimpleNamespace(returncode=128, stderr="fatal: not found"))
    import os
    monkeypatch.setattr(os.path, "isdir", lambda p: False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(nb.cells[0].source, {})
    assert "Set COURSE_REPO at the top of this cell" in out.getvalue()
    assert not any("clone" in a[0] for a in calls)
    # a repository that cannot be cloned: the cell says what to check, and does not raise
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(colab.cell_source("teacher/typo"), {})
    assert "Could not clone https://github.com/teacher/typo (branch main): fatal: not found" in \
        out.getvalue() and "Check COURSE_REPO" in out.getvalue()


def test_a_repository_in_a_cell_is_kept_when_none_is_known(monkeypatch):
    monkeypatch.setattr(course, "REPO", "someone/course")
    nb = colab.fix(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]))
    monkeypatch.setattr(course, "REPO", None)
    assert colab.status(nb) == "ok"
    assert colab.cell_repo(colab.fix(nb)) == "someone/course"
    old = nbformat.v4.new_code_cell('subprocess.run(["git", "clone", "https://github.com/ORG/REPO"])',
                                    metadata={"tags": ["colab", "remove-cell"]})
    assert colab.cell_repo(nbformat.v4.new_notebook(cells=[old])) is None      # the old placeholder


@pytest.mark.parametrize("url, repo", [
    ("https://github.com/owner/name.git", "owner/name"),
    ("https://github.com/owner/name", "owner/name"),
    ("git@github.com:owner/my.course.git", "owner/my.course"),
    ("ssh://git@github.com/owner/name.git\n", "owner/name"),
    ("/srv/git/course.git", None),
    ("https://gitlab.com/owner/name.git", None),
])
def test_repository_from_the_git_remote(url, repo):
    assert course.github_repo(url) == repo


def test_repository_from_the_environment_or_the_checkout(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_REPO", "me/fork")
    assert course.course_repo() == "me/fork"
    monkeypatch.setenv("COURSE_REPO", "ORG/REPO")
    assert course.course_repo() is None
    import subprocess
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert course.git_remote_repo(tmp_path) is None
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "upstream",
                    "https://example.org/x.git"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin",
                    "git@github.com:teacher/vis-course.git"], check=True)
    assert course.git_remote_repo(tmp_path) == "teacher/vis-course"


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("[0-9]*.py")),
                         ids=lambda p: p.name)
def test_colab_cell_of_each_notebook_is_current(path):
    state = colab.status(jupytext.read(path))
    if state == "missing":
        pytest.skip(f"{path.name} has no Colab cell yet (python tools/colab.py --fix {path})")
    assert state in ("ok", "placeholder"), \
        f"outdated Colab cell: python tools/colab.py --fix {path}"


# ---- the synthetic course: every convention, checked in the HTML

@pytest.fixture(scope="module")
def synthetic_book(tmp_path_factory):
    require_assets()
    tmp = tmp_path_factory.mktemp("book")
    paths = write_course(tmp / "notebooks")
    book.build(paths, tmp / "site")
    return tmp / "site", paths


def test_book_pages_and_index(synthetic_book):
    site, paths = synthetic_book
    assert sorted(p.name for p in site.glob("*.html")) == ["01_alpha.html", "02_beta.html",
                                                           "index.html"]
    index = (site / "index.html").read_text()
    assert index.index("01 · The alpha method") < index.index("02 · Beta maps")
    assert "<em>Alpha: Looking Inside Networks.</em> CVPR 2020." in index
    assert "alpha tells which pixels a classifier looks at." in index
    assert "A second paragraph" not in index
    assert "<em>Beta Maps for Everyone.</em> C. Author. ICCV 2021." in index
    assert "raise the score of a class the most." in index and "They are cheap" not in index
    for name in ("01_alpha.ipynb", "02_beta.ipynb"):
        assert (site / "downloads" / name).exists()
        assert (site / "downloads" / "student" / name).exists()
    assert "SECRET" not in (site / "downloads" / "student" / "01_alpha.ipynb").read_text()


def test_book_page_content(synthetic_book):
    site, _ = synthetic_book
    page = (site / "01_alpha.html").read_text()
    assert 'href="02_beta.html"' in page and 'href="02_beta.html#The-beta-math"' in page
    local = [h for h in re.findall(r'href="([^"]+)"', page) if not re.match(r"https?:", h)]
    assert [h for h in local if ".ipynb" in h] == ["downloads/01_alpha.ipynb",
                                                    "downloads/student/01_alpha.ipynb"]
    assert "Run cells 3 and 5 live" not in page                 # presenter note: slides only
    assert "the Colab cell" not in page and "remove-cell-marker" not in page
    assert "remove-input-marker" not in page                    # output kept, code gone
    assert re.search(r'<details class="cb-code"><summary>Show code</summary>.*?hidden-code-marker',
                     page, re.S)
    assert re.search(r'<details class="cb-solution"><summary>Solution</summary>.*?SECRET-ALPHA',
                     page, re.S)
    assert len(FIGURE.findall(page)) == 3
    assert "<progress" in page and "widget-state" not in page
    assert "Executed with the <code>laptop</code> profile on cpu in 42 s" in page
    if course.REPO:
        assert course.colab_url("01_alpha") in page and course.binder_url("01_alpha") in page
    else:                                       # no repository known: no link, never a broken one
        assert "Open in Colab" not in page and "Launch Binder" not in page
        assert "ORG/REPO" not in page and "/None/" not in page
    assert "_static/mathjax/tex-chtml-full.js" in page
    # offline: no script, stylesheet or font from the network
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', page)


def test_colab_and_binder_links_when_the_repository_is_known(tmp_path, monkeypatch):
    require_assets()
    monkeypatch.setattr(course, "REPO", "teacher/vis-course")
    paths = write_course(tmp_path / "nb")
    book.build(paths, tmp_path / "site")
    page = (tmp_path / "site" / "01_alpha.html").read_text()
    assert ('href="https://colab.research.google.com/github/teacher/vis-course/blob/main/'
            'notebooks/01_alpha.ipynb"') in page
    assert ('href="https://mybinder.org/v2/gh/teacher/vis-course/main?labpath=notebooks%2F'
            '01_alpha.ipynb"') in page
    assert "Open in Colab" in (tmp_path / "site" / "index.html").read_text()


def test_broken_links_fail_the_build(tmp_path):
    require_assets()
    paths = write_course(tmp_path / "nb")
    nb = nbformat.read(paths[1], as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("See [notebook 09](09_missing.ipynb) and "
                                                  "[this](01_alpha.ipynb#No-such-heading)."))
    nbformat.write(nb, paths[1])
    with pytest.raises(SystemExit, match="2 broken link"):
        book.build(paths, tmp_path / "site")


def test_synthetic_book_in_chromium(synthetic_book):
    site, paths = synthetic_book
    pages = ["index.html", "01_alpha.html", "02_beta.html"]
    report = browser(site, pages, SCREENSHOTS / "book-synthetic", shot="01_alpha.html")
    problems = []
    for name, expect_images in (("index.html", 0), ("01_alpha.html", 3), ("02_beta.html", 1)):
        problems += page_problems(name, report["pages"][name], expect_images,
                                  expect_math=name != "index.html")
    assert problems == []
    alpha = report["pages"]["01_alpha.html"]
    assert alpha["math"] >= 2 and alpha["mathjax"] == "typeset"
    assert (SCREENSHOTS / "book-synthetic" / "01_alpha.html.png").exists()


# ---- the committed notebooks

@pytest.fixture(scope="module")
def course_book(tmp_path_factory):
    paths = committed_notebooks()
    if not paths:
        pytest.skip("no executed notebooks (notebooks/NN_*.ipynb) yet")
    require_assets()
    site = tmp_path_factory.mktemp("course") / "book"
    start = time.perf_counter()
    book.build(paths, site)
    print(f"book of {len(paths)} notebooks built in {time.perf_counter() - start:.1f} s")
    return site, paths


def expected_figures(path) -> int:
    nb = book.book_notebook(nbformat.read(path, as_version=4))
    return sum(course.image_outputs(c) for c in nb.cells)


def test_course_book_builds_with_every_figure(course_book):
    site, paths = course_book
    index = (site / "index.html").read_text()
    for path in paths:
        info = course.read_info(path)
        assert info.title and info.citation, f"{path.name}: title cell without a citation"
        assert f'href="{info.html}"' in index
        page = (site / info.html).read_text()
        assert len(FIGURE.findall(page)) >= expected_figures(path), path.name
    assert book.broken_links(site) == []


def test_course_book_in_chromium(course_book):
    site, paths = course_book
    pages = ["index.html"] + [f"{p.stem}.html" for p in paths]
    report = browser(site, pages, SCREENSHOTS / "book", shot=pages[1])
    problems = page_problems("index.html", report["pages"]["index.html"])
    for path in paths:
        nb = book.book_notebook(nbformat.read(path, as_version=4))
        problems += page_problems(f"{path.stem}.html", report["pages"][f"{path.stem}.html"],
                                  expected_figures(path), has_math(nb))
    assert problems == []


def test_links_in_a_summary_become_pages_on_the_index(tmp_path):
    """A summary ("as in [notebook 01](01_alpha.ipynb)") links to the page, not the .ipynb."""
    require_assets()
    paths = write_course(tmp_path / "nb")
    nb = nbformat.read(paths[1], as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace(
        "Beta maps show", "Like [notebook 01](01_alpha.ipynb), beta maps show", 1)
    nbformat.write(nb, paths[1])
    book.build(paths, tmp_path / "site")
    index = (tmp_path / "site" / "index.html").read_text()
    assert 'href="01_alpha.html">notebook 01</a>' in index


def test_the_stamp_names_the_zoo_checkpoints_by_model():
    """A reader sees which trained models (and which version of each) produced the outputs."""
    uses = {"vgg": "c2870913" + "0" * 56, "vgg@epoch1": "1" * 64, "vgg@epoch2": "2" * 64,
            "model_c": "63b52382" + "0" * 56, "model_c@seed1": "3" * 64}
    text = book.stamp_text({"profile": "laptop", "device": "cpu", "zoo": uses})
    assert text.endswith("on the zoo's <code>vgg</code> (c2870913) with 2 snapshots, "
                         "<code>model_c</code> (63b52382) with 1 other seed.")
