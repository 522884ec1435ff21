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
executed (its committed laptop/full run), linked to the slide that shows them.
"""
from __future__ import annotations

import argparse
import html
import shutil
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


def slides_notebook(nb, code: str = "tags"):
    """The notebook as the deck shows it (see the module's docstring)."""
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
    return out


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


def slow_cells(nb, deck: str, limit: int = 5) -> list[tuple[float, str, str]]:
    """(seconds, first line of code, link to its slide) of the slowest cells over SLOW_SECONDS."""
    shown = slides_notebook(nb)
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
    return "\n\n".join(cells) if cells else None


def deck_name(info: course.Info) -> str:
    return f"{info.stem}.slides.html"


def instructors_page(entries, mathjax: str) -> str:
    parts = []
    for info, nb in entries:
        deck = deck_name(info)
        note = presenter_note(nb)
        note_html = (markdown2html(note) if note else
                     '<p class="cb-missing">No presenter\'s note yet: add a markdown cell tagged '
                     '<code>presenter</code> (see tools/README.md).</p>')
        slow = slow_cells(nb, deck)
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
                          reveal_width="1280", reveal_height="800",
                          exclude_input_prompt=True, exclude_output_prompt=True)


def build(paths, out: Path, code: str = "tags", cdn: bool = False) -> list[Path]:
    start = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    static = out / STATIC
    static.mkdir(parents=True)
    shutil.copy2(course.TEMPLATES / "courseslides" / "slides.css", static / "slides.css")
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
                     "course": {"mathjax": mathjax, "static": STATIC}}
        body, _ = exp.from_notebook_node(deck_nb, resources=resources)
        (out / deck_name(info)).write_text(course.rewrite_ipynb_links(body, ".slides.html"),
                                           encoding="utf-8")
        written.append(out / deck_name(info))
        entries.append((info, nb))
    # presenter's notes may link to other notebooks: to their decks here
    (out / "index.html").write_text(course.rewrite_ipynb_links(instructors_page(entries, mathjax),
                                                               ".slides.html"), encoding="utf-8")
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
