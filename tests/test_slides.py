"""`make slides`: reveal.js decks from the executed notebooks, offline, one slide per idea from the
cells' metadata, code hidden where tagged, solutions left out, the presenter's note in the
speaker notes; checked in a real headless Chromium (tools/slides.py). Screenshots go to
build/screenshots/slides*/."""
from __future__ import annotations

import re
import time

import nbformat
import pytest

from classroom_helpers import (SCREENSHOTS, alpha_notebook, browser, committed_notebooks, course,
                               page_problems, require_assets, write_course)

import slides  # noqa: E402


def n_slides(nb) -> int:
    """Horizontal slides the deck should have: one per 'slide' cell (the first cell opens one)."""
    shown = slides.slides_notebook(nb)
    return max(h for h, _ in slides.slide_positions(shown)) + 1


def test_slide_positions_follow_the_metadata():
    nb = alpha_notebook()
    shown = slides.slides_notebook(nb)
    kinds = [course.slide_type(c) for c in shown.cells]
    assert kinds[:3] == ["slide", "notes", "slide"]
    assert slides.slide_positions(shown)[:6] == [(0, 0), (0, 0), (1, 0), (1, 1), (1, 2), (1, 2)]


def test_slow_cells_come_from_the_execution_timing():
    rows = slides.slow_cells(alpha_notebook(), "01_alpha.slides.html")
    assert rows == [(12.5, "fig = plot_first()", "01_alpha.slides.html#/1/1")]


@pytest.fixture(scope="module")
def synthetic_decks(tmp_path_factory):
    require_assets()
    tmp = tmp_path_factory.mktemp("slides")
    paths = write_course(tmp / "notebooks")
    slides.build(paths, tmp / "site")
    slides.build(paths, tmp / "hidden", code="hidden")
    return tmp, paths


def test_deck_content(synthetic_decks):
    tmp, _ = synthetic_decks
    deck = (tmp / "site" / "01_alpha.slides.html").read_text()
    assert "SECRET" not in deck and "BEGIN SOLUTION" not in deck      # solutions left out
    assert re.search(r'<aside class="notes">.*?Run cells 3 and 5 live.*?</aside>', deck, re.S)
    assert "hidden-code-marker" not in deck and "shown output" in deck
    assert "remove-input-marker" not in deck and "remove-cell-marker" not in deck
    assert "the Colab cell" not in deck
    assert "plot_first" in deck                                       # untagged code is shown
    assert 'href="02_beta.slides.html"' in deck
    assert 'src="_static/reveal.js/dist/reveal.js"' in deck
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', deck)
    hidden = (tmp / "hidden" / "01_alpha.slides.html").read_text()
    assert "plot_first" not in hidden and "train()" not in hidden
    assert hidden.count("<img") == deck.count("<img") == 3


def test_instructors_page(synthetic_decks):
    tmp, _ = synthetic_decks
    page = (tmp / "site" / "index.html").read_text()
    assert "Run cells 3 and 5 live" in page
    assert 'href="01_alpha.slides.html#/1/1"' in page and "<td>12 s</td>" in page
    assert "No presenter's note yet" in page                          # 02 has none


def test_synthetic_decks_in_chromium(synthetic_decks):
    tmp, paths = synthetic_decks
    report = browser(tmp / "site", ["01_alpha.slides.html", "02_beta.slides.html", "index.html"],
                     SCREENSHOTS / "slides-synthetic", slides=True)
    problems = []
    for name, images in (("01_alpha.slides.html", 3), ("02_beta.slides.html", 1)):
        problems += page_problems(name, report["pages"][name], images, expect_math=True)
    problems += page_problems("index.html", report["pages"]["index.html"])
    assert problems == []
    alpha = report["pages"]["01_alpha.slides.html"]["reveal"]
    nb = nbformat.read(paths[0], as_version=4)
    assert alpha["horizontal"] == n_slides(nb) == 4 and alpha["notes"] == 1


@pytest.fixture(scope="module")
def course_decks(tmp_path_factory):
    paths = committed_notebooks()
    if not paths:
        pytest.skip("no executed notebooks (notebooks/NN_*.ipynb) yet")
    require_assets()
    site = tmp_path_factory.mktemp("course") / "slides"
    start = time.perf_counter()
    slides.build(paths, site)
    print(f"{len(paths)} decks built in {time.perf_counter() - start:.1f} s")
    return site, paths


def test_course_decks_in_chromium(course_decks):
    site, paths = course_decks
    decks = [f"{p.stem}.slides.html" for p in paths]
    report = browser(site, decks + ["index.html"], SCREENSHOTS / "slides", slides=True)
    problems = []
    for path, deck in zip(paths, decks):
        nb = nbformat.read(path, as_version=4)
        shown = slides.slides_notebook(nb)
        figures = sum(course.image_outputs(c) for c in shown.cells)
        r = report["pages"][deck]
        problems += page_problems(deck, r, figures)
        if not r.get("reveal") or r["reveal"]["horizontal"] != n_slides(nb):
            problems.append(f"{deck}: reveal.js shows {r.get('reveal')}, "
                            f"{n_slides(nb)} slides expected")
    assert problems == []
