"""Lecture decks (reveal.js) from the executed notebooks (``make slides``).

    python tools/slides.py                        # notebooks/NN_*.ipynb -> build/slides/
    python tools/slides.py --code hidden          # no code but in cells tagged show-input
    python tools/slides.py --cdn notebooks/05_*.ipynb

Each notebook becomes ``NN_name.slides.html`` through nbconvert's slides exporter: a cell with
``slide_type`` "slide" starts a slide, "subslide" a slide below it, "fragment" appears on the next
key press, "skip" is left out, "notes" goes to the speaker notes (press S), and a cell without
one continues the current slide. The outputs are the committed ones (nothing is re-run or
retyped); reveal.js and MathJax are copied into ``build/slides/_static`` so the decks work offline
(open the .html file, or serve the folder). ``--code tags`` (the default) shows code except in
cells tagged ``hide-input``/``remove-input``; ``--code hidden`` shows code only where tagged
``show-input``. Solutions, the Colab cell and ``remove-cell`` cells are left out.

``build/slides/index.html`` is the instructors' page: every deck with its presenter's note (the
markdown cell tagged ``presenter``) and the cells that took longest when the notebook was
executed (its committed laptop/full run), linked to the slide that shows them. The speaker notes
of each deck carry the same timings, read from the run's stamps (never typed in the note).

Slides that fit: every slide is 1280 x 800 and nothing may hang below it (the browser test
measures each one). Two steps, neither edits the notebook:

1. Here, at build time, ``fit_slides`` estimates each cell's height on the slide (``cell_height``:
   text, code, printed output, figures, tables) and starts a new subslide ("... continued") at the
   first cell that would not fit even with its figures shrunk and its long code or output in a
   scroll box. Cells are never cut: a figure stays with the code that makes it.
2. In the deck, ``slides.js`` (template ``courseslides``) fits what remains: figures shrink to the
   slide's free height (to at most ``MIN_FIGURE`` of their size), then the tallest code, printed
   output or table becomes a scroll box (at least ``MIN_BOX`` px). The arrow and space keys scroll
   a box before they move to the next slide, so the keyboard reaches everything.

``--code hidden`` also leaves out code cells that show nothing without their code (no output),
so no empty frames are left behind.
"""
from __future__ import annotations

import argparse
import base64
import copy
import html
import re
import shutil
import struct
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter
from nbconvert.filters import markdown2html

sys.path.insert(0, str(Path(__file__).resolve().parent))
import course  # noqa: E402

STATIC = "_static"
SLOW_SECONDS = 5.0


def slides_notebook(nb, code: str = "tags", fit: bool = True):
    """The notebook as the deck shows it (see the module's docstring); ``fit``: long slides are
    split into subslides (``fit_slides``)."""
    leave_out = {course.SOLUTION, course.COLAB, course.REMOVE_CELL}
    out = course.static_widgets(course.drop_cells(nb, lambda c: bool(course.tags(c) & leave_out)))
    for cell in out.cells:
        tags = course.tags(cell)
        if course.PRESENTER in tags:
            cell.metadata.setdefault("slideshow", {})["slide_type"] = "notes"
        if cell.cell_type != "code":
            continue
        hidden = tags & {course.HIDE_INPUT, course.REMOVE_INPUT}
        if hidden or (code == "hidden" and course.SHOW_INPUT not in tags):
            course.remove_source(cell)
        if course.REMOVE_OUTPUT in tags:
            cell.outputs = []
    out = drop_empty_cells(out)
    out = fit_slides(out) if fit else out
    return timing_notes(out)


def _source_shown(cell) -> bool:
    return not cell.get("metadata", {}).get("transient", {}).get("remove_source", False)


def drop_empty_cells(nb):
    """Leave out code cells that show nothing (code hidden and no output): they would leave an
    empty frame on the slide. A slide or subslide that started at such a cell starts at the next
    cell instead (unless that one starts a slide itself)."""
    order = {"-": 0, "fragment": 1, "subslide": 2, "slide": 3}
    cells, carry = [], None
    for cell in nb.cells:
        kind = course.slide_type(cell)
        if cell.cell_type == "code" and not _source_shown(cell) and not cell.get("outputs"):
            if order.get(kind, 0) >= 2 and order.get(carry or "-", 0) < order[kind]:
                carry = kind
            continue
        if carry and kind not in ("notes", "skip"):
            if order.get(kind, 0) < order[carry]:
                cell.metadata.setdefault("slideshow", {})["slide_type"] = carry
            carry = None
        cells.append(cell)
    nb.cells = cells
    return nb


# ---------------------------------------------------------------------------------------------
# Slides that fit (step 1: split at build time). Heights are px on the 1280 x 800 slide with
# slides.css, calibrated in Chromium on the course's decks (mean error about 20 px per cell).

SLIDE_W, SLIDE_H = 1280, 800
BUDGET = SLIDE_H - 40          # what the cells of one slide may take (reveal's margin aside)
MIN_FIGURE = 0.55              # a figure shrinks to no less than this share of its height ...
MIN_BOX = 170                  # ... and a scroll box to no less than this many px (slides.js)
MAX_FIGURE = 640               # slides.css: img max-height
FIGURE_FRAME = 55              # the output area around a figure (does not shrink)
_LINE = {"text": 37.7, "chars": 80, "paragraph": 20, "item": 15, "code": 24}


def _text_height(source: str) -> float:
    """Rendered markdown: wrapped lines of 26-px text, headings, display math, table rows."""
    h, in_math = 10.0, False
    for par in re.split(r"\n\s*\n", source.strip()):
        for line in par.splitlines():
            s = line.strip()
            if s.startswith("$$") and s.endswith("$$") and len(s) > 4:
                h += 75
            elif s.startswith("$$") or s.startswith("\\begin") or s.startswith("\\end"):
                in_math = not in_math if s.startswith("$$") else in_math
                h += 40
            elif in_math:
                h += 30
            elif re.match(r"#{1,6}\s", s):
                h += {1: 95, 2: 80, 3: 62}.get(len(s) - len(s.lstrip("#")), 50)
            elif s.startswith("|"):
                h += 38
            else:
                text = re.sub(r"[*`$\\]", "", re.sub(r"\]\([^)]*\)", "]", s))
                if re.match(r"([-*+]|\d+\.)\s", s):
                    h += _LINE["item"]
                h += max(1.0, len(text) / _LINE["chars"]) * _LINE["text"]
        h += _LINE["paragraph"]
    return h


def png_size(data: str) -> tuple[int, int]:
    """(width, height) of a base64 PNG, from its header."""
    head = base64.b64decode(data[:64])
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return 640, 480
    return struct.unpack(">II", head[16:24])


def _figure_height(out) -> float:
    data, meta = out.get("data", {}), out.get("metadata", {})
    if "image/png" in data:
        w, h = png_size(data["image/png"])
        size = meta.get("image/png", {}) if isinstance(meta.get("image/png"), dict) else {}
        if size.get("width"):
            w, h = float(size["width"]), float(size.get("height", h * float(size["width"]) / w))
    else:
        w, h = 640, 480
    return min(MAX_FIGURE, h * min(1.0, (SLIDE_W - 100) / max(w, 1)))


def output_heights(cell) -> list[tuple[str, float]]:
    """(kind, px) of each output of a code cell: kind is "figure", "text" or "html"."""
    out = []
    for o in cell.get("outputs", []):
        data = o.get("data", {})
        if o.get("output_type") == "stream":
            out.append(("text", 16 + _LINE["code"] * max(1, o.get("text", "").count("\n"))))
        elif o.get("output_type") == "error":
            out.append(("text", 16 + _LINE["code"] * len(o.get("traceback", []))))
        elif any(k in data for k in ("image/png", "image/jpeg", "image/svg+xml")):
            out.append(("figure", _figure_height(o) + FIGURE_FRAME))
        elif "text/html" in data:
            page = str(data["text/html"])
            rows = page.count("<tr")
            out.append(("html", 40 + 36 * rows if rows else 35 + 30 * (page.count("<br") + 1)))
        elif "text/markdown" in data:
            out.append(("html", _text_height(str(data["text/markdown"]))))
        elif "text/plain" in data:
            out.append(("text", 16 + _LINE["code"] * (str(data["text/plain"]).count("\n") + 1)))
    return out


def cell_height(cell, least: bool = False) -> float:
    """Estimated px the cell takes on the slide; ``least``: once slides.js has shrunk its
    figures (to MIN_FIGURE) and put long code and outputs in scroll boxes (MIN_BOX)."""
    if course.slide_type(cell) in ("notes", "skip"):
        return 0.0
    if cell.cell_type == "markdown":
        return _text_height(cell.source)
    if cell.cell_type != "code":
        return 0.0
    box = (lambda h: min(h, MIN_BOX)) if least else (lambda h: h)
    h = 10.0
    if _source_shown(cell) and cell.source.strip():
        h += box(23 + _LINE["code"] * len(cell.source.splitlines()))
    for kind, px in output_heights(cell):
        h += _least(kind, px) if least else px
    return h


def _least(kind: str, px: float) -> float:
    return (px - FIGURE_FRAME) * MIN_FIGURE + FIGURE_FRAME if kind == "figure" else min(px, MIN_BOX)


def _heading(cells) -> str | None:
    for cell in cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#{1,4}\s+(.+?)\s*#*$", cell.source, re.M)
            if m:
                return m.group(1)
    return None


CONTINUED = "cb-continued"


def continued_cell(heading: str | None, next_id: str = "cell"):
    """The small title of a subslide that continues a split slide (before cell ``next_id``)."""
    text = f"{heading} (continued)" if heading else "(continued)"
    cell = nbformat.v4.new_markdown_cell(f'<p class="{CONTINUED}">{html.escape(text)}</p>',
                                         metadata={"slideshow": {"slide_type": "subslide"}})
    cell["id"] = f"{next_id}-continued"
    return cell


def split_outputs(cell, budget: float = BUDGET) -> list:
    """A code cell too tall for one slide even when fitted, as itself with the outputs that fit
    and copies of it without code that carry the rest (one per slide), so that three figures
    printed by one cell are three readable figures, not three thumbnails."""
    if cell.cell_type != "code" or cell_height(cell, least=True) <= budget:
        return [cell]
    heights = [_least(kind, px) for kind, px in output_heights(cell)]
    chunks, cur, used = [], [], cell_height(nbformat.v4.new_code_cell(cell.source), least=True)
    for out, h in zip(cell.outputs, heights):
        if cur and used + h > budget:
            chunks.append(cur)
            cur, used = [], 60.0          # the "(continued)" title
        cur.append(out)
        used += h
    chunks.append(cur)
    if len(chunks) == 1:
        return [cell]
    first = copy.deepcopy(cell)
    first.outputs = chunks[0]
    rest = []
    for k, outs in enumerate(chunks[1:], 1):
        more = nbformat.v4.new_code_cell("", outputs=outs,
                                         metadata={"slideshow": {"slide_type": "-"}})
        more["id"] = f"{cell.get('id', 'cell')}-{k}"
        course.remove_source(more)
        rest.append(more)
    return [first, *rest]


def fit_slides(nb, budget: float = BUDGET):
    """Split each (sub)slide whose cells would not fit even after slides.js's shrinking
    (``cell_height(least=True)``) into subslides, at cell boundaries (and between the outputs of
    one cell: ``split_outputs``); each continuation starts with a small "(continued)" title."""
    groups, cur = [], []
    for cell in nb.cells:
        if course.slide_type(cell) in ("slide", "subslide") and cur:
            groups.append(cur)
            cur = []
        cur.append(cell)
    if cur:
        groups.append(cur)
    cells = []
    for group in groups:
        heading = _heading(group)
        used = 0.0
        for cell in [part for c in group for part in split_outputs(c, budget)]:
            h = cell_height(cell, least=True)
            if used > 0 and used + h > budget and h > 0:
                title = continued_cell(heading, cell.get("id", "cell"))
                cells.append(title)
                used = cell_height(title)
                if course.slide_type(cell) in ("fragment", "subslide", "slide"):
                    cell.metadata["slideshow"]["slide_type"] = "-"
            cells.append(cell)
            used += h
    nb.cells = cells
    return nb


def slide_positions(nb) -> list[tuple[int, int]]:
    """reveal.js's (horizontal, vertical) index of the slide each cell is on."""
    h, v, out = 0, 0, []
    for i, cell in enumerate(nb.cells):
        kind = course.slide_type(cell)
        if kind == "slide" and i > 0:
            h, v = h + 1, 0
        elif kind == "subslide" and i > 0:
            v += 1
        out.append((h, v))
    return out


def cell_seconds(cell) -> float | None:
    """How long a cell ran, from the timing nbclient records in the cell's metadata."""
    t = cell.get("metadata", {}).get("execution", {})
    start, end = t.get("iopub.execute_input"), t.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def slow_cells(nb, deck: str, limit: int = 5, code: str = "tags") -> list[tuple[float, str, str]]:
    """(seconds, first line of code, link to its slide) of the slowest cells over SLOW_SECONDS."""
    shown = slides_notebook(nb, code)
    positions = slide_positions(shown)
    rows = []
    for cell, (h, v) in zip(shown.cells, positions):
        seconds = cell_seconds(cell) if cell.cell_type == "code" else None
        if seconds is not None and seconds >= SLOW_SECONDS:
            first = next((ln for ln in cell.source.splitlines() if ln.strip()
                          and not ln.lstrip().startswith("#")), "")
            rows.append((seconds, first.strip(), f"{deck}#/{h}/{v}" if v else f"{deck}#/{h}"))
    return sorted(rows, reverse=True)[:limit]


def presenter_note(nb) -> str | None:
    cells = [c.source for c in nb.cells if course.PRESENTER in course.tags(c)]
    return "\n\n".join(fill_timings(c, nb) for c in cells) if cells else None


# ---------------------------------------------------------------------------------------------
# Timings in the presenter's notes come from the run's stamps (tools/notebooks.py writes them),
# never typed: a typed "one to two minutes" goes stale when the profile or the model changes.


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def run_facts(nb) -> dict:
    """What the notes may quote, from the stamp (``lecture_suite``) and nbclient's cell timings:
    ``{{run.time}}``, ``{{run.profile}}``, ``{{run.device}}``, ``{{run.slowest}}`` (the slowest
    cell's time)."""
    stamp = nb.metadata.get("lecture_suite", {}) or {}
    times = [t for t in (cell_seconds(c) for c in nb.cells if c.cell_type == "code") if t]
    facts = {"run.profile": str(stamp.get("profile", "?")),
             "run.device": str(stamp.get("device", "?"))}
    if stamp.get("seconds") is not None:
        facts["run.time"] = _duration(float(stamp["seconds"]))
    if times:
        facts["run.slowest"] = _duration(max(times))
    return facts


_FIELD = re.compile(r"\{\{\s*(run\.[a-z]+)\s*\}\}")


def fill_timings(text: str, nb) -> str:
    """``{{run.time}}`` etc. (``run_facts``) replaced by the run's values; unknown fields stay."""
    facts = run_facts(nb)
    return _FIELD.sub(lambda m: facts.get(m.group(1), m.group(0)), text)


def timing_line(nb) -> str | None:
    """One sentence on how long the committed run took, for the speaker notes."""
    facts = run_facts(nb)
    if "run.time" not in facts:
        return None
    slowest = (f"; the slowest cell took {facts['run.slowest']} (its slide's notes say which)"
               if "run.slowest" in facts else "")
    return (f"*From the run's stamp:* the committed outputs took {facts['run.time']} with the "
            f"`{facts['run.profile']}` profile on {facts['run.device']}{slowest}.")


_TYPED = re.compile(r"\b(?:(?:\d+(?:[.,]\d+)?|one|two|three|a few|few|several|tens of)"
                    r"(?:\s*(?:-|–|to)\s*(?:\d+|one|two|three|four|five))?\s*"
                    r"(?:s|sec|secs|seconds?|min|mins|minutes?|hours?|h)\b)", re.I)


def typed_timings(nb) -> list[str]:
    """Durations typed into the presenter's note ("one to two minutes", "12 s"): they go stale;
    write ``{{run.time}}`` / ``{{run.slowest}}`` or leave them to the generated timings."""
    note = "\n".join(c.source for c in nb.cells if course.PRESENTER in course.tags(c))
    return [" ".join(m.group(0).split()) for m in _TYPED.finditer(_FIELD.sub("", note))]


def timing_notes(nb):
    """The speaker notes' timings: the presenter's note with its ``{{run.*}}`` fields filled and
    the run's total time appended, and for each cell that took SLOW_SECONDS or more a note on
    its own slide ("this cell took 2.5 min in the committed laptop run")."""
    line, facts = timing_line(nb), run_facts(nb)
    cells = []
    for cell in nb.cells:
        if course.PRESENTER in course.tags(cell):
            cell.source = fill_timings(cell.source, nb) + (f"\n\n{line}" if line else "")
        cells.append(cell)
        seconds = cell_seconds(cell) if cell.cell_type == "code" else None
        if seconds is not None and seconds >= SLOW_SECONDS:
            note = nbformat.v4.new_markdown_cell(
                f"*Timing:* this slide's cell took {_duration(seconds)} in the committed "
                f"`{facts['run.profile']}` run on {facts['run.device']}.",
                metadata={"slideshow": {"slide_type": "notes"}})
            note["id"] = f"{cell.get('id', 'cell')}-timing"
            cells.append(note)
    nb.cells = cells
    return nb


def deck_name(info: course.Info) -> str:
    return f"{info.stem}.slides.html"


def instructors_page(entries, mathjax: str, code: str = "tags") -> str:
    parts = []
    for info, nb in entries:
        deck = deck_name(info)
        note = presenter_note(nb)
        note_html = (markdown2html(note) if note else
                     '<p class="cb-missing">No presenter\'s note yet: add a markdown cell tagged '
                     '<code>presenter</code> (see tools/README.md).</p>')
        typed = typed_timings(nb)
        if typed:
            note_html += ('<p class="cb-missing">This note types durations ('
                          + html.escape(", ".join(f"“{t}”" for t in typed[:4]))
                          + '): they may be out of date; the table below is this run\'s.</p>')
        slow = slow_cells(nb, deck, code=code)
        stamp = info.stamp
        timing = (f"The committed outputs took {float(stamp['seconds']):.0f} s with the "
                  f"<code>{html.escape(str(stamp.get('profile')))}</code> profile on "
                  f"{html.escape(str(stamp.get('device')))}." if stamp.get("seconds") is not None
                  else "No execution stamp.")
        rows = "".join(f"<tr><td>{s:.0f} s</td><td><code>{html.escape(first[:70])}</code></td>"
                       f'<td><a href="{html.escape(link)}">slide</a></td></tr>'
                       for s, first, link in slow)
        table = (f"<table><tr><th>time</th><th>cell</th><th></th></tr>{rows}</table>" if rows
                 else f"<p>No cell took more than {SLOW_SECONDS:.0f} s.</p>")
        parts.append(f"""<section>
<h2><a href="{html.escape(deck)}">{html.escape(info.heading)}</a></h2>
<div class="cb-note">{note_html}</div>
<p class="cb-timing">{timing} Slowest cells:</p>
{table}
</section>""")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Lecture decks and presenter's notes</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       max-width: 960px; margin: 0 auto; padding: 1rem 1.2rem 3rem; line-height: 1.5;
       color: #1f2328; }}
section {{ border-bottom: 1px solid #ddd; padding-bottom: 1rem; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 2px 10px; text-align: left; }}
.cb-missing {{ color: #b35900; }} .cb-timing {{ color: #555; }}
</style>
{mathjax}
</head><body>
<h1>Lecture decks and presenter's notes</h1>
<p>Open a deck and press <kbd>F</kbd> for full screen, <kbd>S</kbd> for the speaker view (it shows
the presenter's note), <kbd>Esc</kbd> for the overview. Each deck shows the committed outputs of its
notebook; run the notebook live in Jupyter (<code>make lab</code>) for the cells named below.</p>
{"".join(parts)}
</body></html>
"""


def exporter(static: str, cdn: bool) -> SlidesExporter:
    return SlidesExporter(template_name="courseslides",
                          extra_template_basedirs=[str(course.TEMPLATES)],
                          reveal_url_prefix=course.REVEAL_CDN if cdn else f"{static}/reveal.js",
                          reveal_theme="white", reveal_transition="none", reveal_number="c/t",
                          reveal_width=str(SLIDE_W), reveal_height=str(SLIDE_H),
                          exclude_input_prompt=True, exclude_output_prompt=True)


def build(paths, out: Path, code: str = "tags", cdn: bool = False) -> list[Path]:
    start = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    static = out / STATIC
    static.mkdir(parents=True)
    for name in ("slides.css", "slides.js"):
        shutil.copy2(course.TEMPLATES / "courseslides" / name, static / name)
    if not cdn:
        course.copy_reveal(static)
    mathjax = course.mathjax_config(course.MATHJAX_CDN if cdn else course.copy_mathjax(static))
    exp = exporter(STATIC, cdn)
    entries, written = [], []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        info = course.read_info(path, nb)
        deck_nb = slides_notebook(nb, code)
        deck_nb.metadata["title"] = info.heading
        resources = {"metadata": {"name": info.heading, "path": str(path.parent)},
                     "course": {"mathjax": mathjax, "static": STATIC,
                                "fit": {"minFigure": MIN_FIGURE, "minBox": MIN_BOX,
                                        "height": SLIDE_H}}}
        body, _ = exp.from_notebook_node(deck_nb, resources=resources)
        (out / deck_name(info)).write_text(course.rewrite_ipynb_links(body, ".slides.html"),
                                           encoding="utf-8")
        written.append(out / deck_name(info))
        entries.append((info, nb))
        typed = typed_timings(nb)
        if typed:
            print(f"note: {path.name}: the presenter's note types durations "
                  f"({', '.join(typed[:4])}); write {{{{run.time}}}} or {{{{run.slowest}}}} "
                  "(filled from the run's stamp) or leave them out: the speaker notes show the "
                  "run's timings", file=sys.stderr)
    # presenter's notes may link to other notebooks: to their decks here
    page = instructors_page(entries, mathjax, code)
    (out / "index.html").write_text(course.rewrite_ipynb_links(page, ".slides.html"),
                                    encoding="utf-8")
    print(f"slides: {len(written)} decks -> {out} in {time.perf_counter() - start:.1f} s")
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("notebooks", nargs="*", type=Path)
    p.add_argument("--out", type=Path, default=course.BUILD / "slides")
    p.add_argument("--code", choices=("tags", "hidden"), default="tags")
    p.add_argument("--cdn", action="store_true", help="reveal.js and MathJax from a CDN")
    args = p.parse_args(argv)
    return course.run_build(build, args.notebooks, args.out, code=args.code, cdn=args.cdn)


if __name__ == "__main__":
    sys.exit(main())
