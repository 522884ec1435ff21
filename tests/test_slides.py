"""`make slides`: reveal.js decks from the executed notebooks, offline, one slide per idea from the
cells' metadata, code hidden where tagged, solutions left out, the presenter's note in the
speaker notes; checked in a real headless Chromium (tools/slides.py). Screenshots go to
build/screenshots/slides*/."""
from __future__ import annotations

import re
import time

import nbformat
import pytest

from classroom_helpers import (SCREENSHOTS, alpha_notebook, beta_notebook, browser, code,
                               committed_notebooks, course, figure, fit_problems, md,
                               page_problems, png, require_assets, stream, write_course)

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
    # cell 4 is the timing note of the 12.5-s cell (notes stay on their slide)
    assert kinds[4] == "notes"
    assert slides.slide_positions(shown)[:7] == [(0, 0), (0, 0), (1, 0), (1, 1), (1, 1), (1, 2),
                                                 (1, 2)]


def test_slow_cells_come_from_the_execution_timing():
    rows = slides.slow_cells(alpha_notebook(), "01_alpha.slides.html")
    assert rows == [(12.5, "fig = plot_first()", "01_alpha.slides.html#/1/1")]


def tall_figure(height=900, width=700):
    return nbformat.v4.new_output("display_data", data={"image/png": png(size=(width, height)),
                                                         "text/plain": "<Figure>"})


def tall_notebook():
    """03: every way a slide overflows: long text, long code, a long printout, a tall figure,
    three figures from one cell, a table of 40 rows, and too many cells on one slide."""
    code_lines = "\n".join(f"x{i} = compute({i})  # a long line of code, {i}" for i in range(40))
    rows = "".join(f"<tr><td>{i}</td><td>{i * i}</td></tr>" for i in range(40))
    table = f"<table>{rows}</table>"
    words = " ".join(["The explanation goes on and on about the method."] * 60)
    cells = [
        md("# 03 · Tall slides\n\n**Paper:** A. Author. *Tall.* 2024.\n\n**Why it matters:** "
           "slides must fit.", slide="slide"),
        md("## Long code and a tall figure", slide="slide"),
        code(code_lines, [tall_figure()]),
        md("## A long printout", slide="slide"),
        code("print(report)", [stream("".join(f"line {i}\n" for i in range(80)))]),
        md("## Three figures from one cell", slide="slide"),
        code("for f in figs: show(f)", [tall_figure(600, 900) for _ in range(3)]),
        md("## A table", slide="slide"),
        code("table", [nbformat.v4.new_output("execute_result", data={
            "text/html": table, "text/plain": "table"}, execution_count=1)]),
        md("## Many cells", slide="slide"),
        *[code(f"step_{i}()", [figure(), stream(f"step {i} done\n")]) for i in range(6)],
        md("## Long text", slide="slide"),
        md(words),
        code("hidden_only()", tags=["hide-input"]),
    ]
    return nbformat.v4.new_notebook(cells=cells, metadata={"lecture_suite": {"seconds": 3.0}})


def test_long_slides_are_split_at_cells_with_a_continued_title():
    shown = slides.slides_notebook(tall_notebook())
    positions = slides.slide_positions(shown)
    many = [i for i, c in enumerate(shown.cells) if c.source.startswith("step_")]
    assert len({positions[i] for i in many}) >= 2                     # split into subslides
    titles = [c for c in shown.cells if slides.CONTINUED in c.source]
    assert titles and all("Many cells (continued)" in c.source or "(continued)" in c.source
                          for c in titles)
    assert any("Many cells (continued)" in c.source for c in titles)
    for i in many:                                                    # cells are never cut
        assert shown.cells[i].outputs and shown.cells[i].source.startswith("step_")


def test_three_figures_of_one_cell_go_on_three_slides():
    shown = slides.slides_notebook(tall_notebook())
    figs = [(i, c) for i, c in enumerate(shown.cells) if course.image_outputs(c)
            and (c.source.startswith("for f") or not c.source)]
    positions = slides.slide_positions(shown)
    assert sum(course.image_outputs(c) for _, c in figs) == 3
    assert len({positions[i] for i, _ in figs}) >= 2
    assert figs[0][1].source.startswith("for f")                     # the code stays with the first


def test_estimated_heights_follow_the_content():
    short, long_ = md("One line."), md(" ".join(["word"] * 400))
    assert slides.cell_height(short) < 80 < 600 < slides.cell_height(long_)
    big = code("f()", [tall_figure(900, 700)])
    assert slides.cell_height(big) > slides.MAX_FIGURE
    assert slides.cell_height(big, least=True) < slides.cell_height(big)
    assert slides.png_size(png(size=(123, 45))) == (123, 45)


def test_hidden_code_leaves_no_empty_cells_or_slides():
    nb = nbformat.v4.new_notebook(cells=[
        md("# 04 · T", slide="slide"),
        code("setup()", slide="slide"),                      # no output: nothing to show
        md("text after the setup"),
        code("plot()", [figure()], slide="subslide")])
    shown = slides.slides_notebook(nb, code="hidden")
    assert [c.source for c in shown.cells] == ["# 04 · T", "text after the setup", "plot()"]
    assert [course.slide_type(c) for c in shown.cells] == ["slide", "slide", "subslide"]
    assert slides.slides_notebook(nb, code="tags").cells[1].source == "setup()"


@pytest.fixture(scope="module")
def synthetic_decks(tmp_path_factory):
    require_assets()
    tmp = tmp_path_factory.mktemp("slides")
    paths = write_course(tmp / "notebooks")
    tall = tmp / "notebooks" / "03_tall.ipynb"
    nbformat.write(tall_notebook(), tall)
    paths.append(tall)
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


def test_timings_in_the_notes_come_from_the_stamps():
    nb = alpha_notebook()
    nb.cells[1].source += " The whole run takes {{run.time}} on {{ run.device }}; {{run.nope}}."
    shown = slides.slides_notebook(nb)
    note = next(c.source for c in shown.cells if course.PRESENTER in course.tags(c))
    assert "takes 42 s on cpu; {{run.nope}}." in note
    assert "the committed outputs took 42 s with the `laptop` profile on cpu" in note
    assert "the slowest cell took 12 s" in note
    timing = [c for c in shown.cells if c.source.startswith("*Timing:*")]
    assert len(timing) == 1 and "took 12 s in the committed `laptop` run" in timing[0].source
    assert course.slide_type(timing[0]) == "notes"
    assert slides.slide_positions(shown) == slides.slide_positions(
        slides.slides_notebook(alpha_notebook()))                      # notes add no slides
    assert slides.typed_timings(nb) == ["2 minutes"]
    assert slides.typed_timings(beta_notebook()) == []
    for text, found in (("takes one to two minutes", ["one to two minutes"]),
                        ("about 4-5 minutes", ["4-5 minutes"]), ("12 s the first time", ["12 s"]),
                        ("tens of CPU minutes", []), ("the 5 epochs", [])):
        nb.cells[1].source = text
        assert slides.typed_timings(nb) == found, text


def test_instructors_page(synthetic_decks):
    tmp, _ = synthetic_decks
    page = (tmp / "site" / "index.html").read_text()
    assert "Run cells 3 and 5 live" in page
    assert 'href="01_alpha.slides.html#/1/1"' in page and "<td>12 s</td>" in page
    assert "No presenter's note yet" in page                          # 02 has none


def test_synthetic_decks_in_chromium(synthetic_decks):
    tmp, paths = synthetic_decks
    report = browser(tmp / "site", ["01_alpha.slides.html", "02_beta.slides.html",
                                     "03_tall.slides.html", "index.html"],
                     SCREENSHOTS / "slides-synthetic", slides=True, fit=True)
    problems = []
    for name, images in (("01_alpha.slides.html", 3), ("02_beta.slides.html", 1)):
        problems += page_problems(name, report["pages"][name], images, expect_math=True)
    problems += page_problems("03_tall.slides.html", report["pages"]["03_tall.slides.html"], 10)
    problems += page_problems("index.html", report["pages"]["index.html"])
    for name in ("01_alpha.slides.html", "02_beta.slides.html", "03_tall.slides.html"):
        problems += fit_problems(name, report["pages"][name])
    assert problems == []
    alpha = report["pages"]["01_alpha.slides.html"]["reveal"]
    nb = nbformat.read(paths[0], as_version=4)
    # the presenter's note, and the timing note of the slide of the 12.5-s cell
    assert alpha["horizontal"] == n_slides(nb) == 4 and alpha["notes"] == 2
    tall = report["pages"]["03_tall.slides.html"]["fit"]
    # the long code, the printout and the table became scroll boxes that space scrolls through
    assert tall["boxes"] >= 3 and tall["keyboard"]["boxes_at_end_before_leaving"]
    assert tall["figures_shrunk"] >= 1 and tall["smallest_figure_scale"] >= slides.MIN_FIGURE - 0.05


def test_hidden_code_decks_fit_in_chromium(synthetic_decks):
    tmp, _ = synthetic_decks
    names = ["01_alpha.slides.html", "03_tall.slides.html"]
    report = browser(tmp / "hidden", names, slides=True, fit=True)
    assert [p for n in names for p in fit_problems(n, report["pages"][n])] == []


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
    """Every deck loads offline with its figures and math, and every slide of every deck fits
    the 1280 x 800 slide (measured in Chromium, one slide after the other)."""
    site, paths = course_decks
    decks = [f"{p.stem}.slides.html" for p in paths]
    report = browser(site, decks + ["index.html"], SCREENSHOTS / "slides", slides=True, fit=True)
    problems = [p for deck in decks for p in fit_problems(deck, report["pages"][deck])]
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


def test_course_hidden_code_decks_fit_in_chromium(tmp_path):
    """`make slides SLIDES_ARGS="--code hidden"`: the decks without code fit too, no slide empty."""
    paths = committed_notebooks()
    if not paths:
        pytest.skip("no executed notebooks (notebooks/NN_*.ipynb) yet")
    require_assets()
    slides.build(paths, tmp_path / "hidden", code="hidden")
    decks = [f"{p.stem}.slides.html" for p in paths]
    report = browser(tmp_path / "hidden", decks, slides=True, fit=True)
    assert [p for deck in decks for p in fit_problems(deck, report["pages"][deck])] == []
