"""The course as a static HTML book, readable offline (``make book``).

    python tools/book.py                          # notebooks/NN_*.ipynb -> build/book/
    python tools/book.py --out /tmp/book notebooks/00_*.ipynb
    python tools/book.py --cdn                    # MathJax from a CDN (no npm needed)

Every executed notebook becomes ``NN_name.html`` (nbconvert's lab template, figures embedded as
PNG, math typeset by a local copy of MathJax 3 in ``_static/``), and ``index.html`` lists them in
lecture order with the citation and the one-line summary read from each title cell
(``course.parse_title_cell``). A link to another notebook (``[notebook 05](05_zhou_cam.ipynb)``)
points to its page. Each page has the Colab and Binder links, the notebook and its student
version to download (``downloads/``), and the profile, device and time it was executed with.
Cells tagged ``presenter``, ``colab`` or ``remove-cell`` are left out, ``hide-input`` code and
``solution`` cells are folded. The build fails when a page has a broken relative link.
"""
from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import nbformat
from nbconvert import HTMLExporter
from nbconvert.filters import markdown2html

sys.path.insert(0, str(Path(__file__).resolve().parent))
import course  # noqa: E402
import scorecard  # noqa: E402
import student as student_tool  # noqa: E402

STATIC = "_static"
COURSE_TITLE = "Computer Vision; Image Classification; Visualizing & Understanding"


def inline_markdown(text: str) -> str:
    """Markdown of one paragraph as inline HTML (no surrounding <p>)."""
    out = markdown2html(text).strip()
    return re.sub(r"^<p>(.*)</p>$", r"\1", out, flags=re.S)


def book_notebook(nb):
    """The notebook as the book shows it (see the module's docstring for the tags)."""
    leave_out = {course.PRESENTER, course.COLAB, course.REMOVE_CELL}
    out = course.static_widgets(course.drop_cells(nb, lambda c: bool(course.tags(c) & leave_out)))
    for cell in out.cells:
        if course.REMOVE_INPUT in course.tags(cell):
            course.remove_source(cell)
        if course.REMOVE_OUTPUT in course.tags(cell) and cell.cell_type == "code":
            cell.outputs = []
    return out


def _link(href: str, label: str, cls: str = "", title: str = "") -> str:
    cls = f' class="{cls}"' if cls else ""
    title = f' title="{html.escape(title)}"' if title else ""
    return f'<a href="{html.escape(href)}"{cls}{title}>{label}</a>'


def stamp_text(stamp: dict) -> str:
    if not stamp:
        return "Not executed by tools/notebooks.py (no execution stamp)."
    parts = [f"Executed with the <code>{html.escape(str(stamp.get('profile', '?')))}</code> "
             f"profile on {html.escape(str(stamp.get('device', '?')))}"]
    if "seconds" in stamp:
        parts.append(f" in {float(stamp['seconds']):.0f} s")
    if "executed" in stamp:
        parts.append(f" ({html.escape(str(stamp['executed']))})")
    if stamp.get("zoo"):
        parts.append(", on the zoo's " + zoo_text(stamp["zoo"]))
    return "".join(parts) + "."


def zoo_text(uses: dict) -> str:
    """The committed checkpoints a notebook ran on (its stamp's ``{key: sha256}``), by model:
    "<code>vgg</code> (c2870913) with 3 snapshots", the digits the start of the model's sha256."""
    models: dict[str, dict] = {}
    for key, sha in uses.items():
        name, _, variant = key.partition("@")
        entry = models.setdefault(name, {"sha": "", "seed": 0, "epoch": 0})
        if variant:
            entry["seed" if variant.startswith("seed") else "epoch"] += 1
        else:
            entry["sha"] = sha[:8]
    out = []
    for name, e in models.items():
        more = [f"{n} {'other seed' if kind == 'seed' else 'snapshot'}{'s' * (n > 1)}"
                for kind, n in (("seed", e["seed"]), ("epoch", e["epoch"])) if n]
        out.append(f"<code>{html.escape(name)}</code>" + (f" ({e['sha']})" if e["sha"] else "")
                   + (" with " + " and ".join(more) if more else ""))
    return ", ".join(out)


def navigation(infos, i: int, bottom: bool = False) -> str:
    info = infos[i]
    prev_ = _link(infos[i - 1].html, f"← {html.escape(infos[i - 1].heading)}") if i > 0 else ""
    next_ = (_link(infos[i + 1].html, f"{html.escape(infos[i + 1].heading)} →")
             if i + 1 < len(infos) else "")
    items = [_link("index.html", "Contents"), prev_, next_, '<span class="cb-spacer"></span>']
    if not bottom:
        colab, binder = course.colab_url(info.stem), course.binder_url(info.stem)
        items += [
            # without a known repository (course.REPO) these are left out, never broken
            _link(colab, "Open in Colab", "cb-badge cb-colab",
                  "Run this notebook on Google Colab") if colab else "",
            _link(binder, "Launch Binder", "cb-badge cb-binder",
                  "Run this notebook on mybinder.org") if binder else "",
            _link(f"downloads/{info.stem}.ipynb", "Notebook", "cb-badge",
                  "Download the notebook with its outputs"),
            _link(f"downloads/student/{info.stem}.ipynb", "Exercises", "cb-badge",
                  "Download the student version (no solutions)"),
        ]
    cls = "cb-nav cb-bottom" if bottom else "cb-nav"
    return f'<nav class="{cls}">' + "\n".join(x for x in items if x) + "</nav>"


def scorecard_section(paths) -> str:
    """The reproduction scorecard (``tools/scorecard.py``) of the notebooks in the book, as HTML;
    empty when no notebook has recorded findings yet."""
    recs = scorecard.records(files=paths)
    if not recs:
        return ""
    table = scorecard.table(recs).replace("](notebooks/", "](")
    return ('<h2 id="scorecard">Reproduction scorecard</h2>\n<p>Every claim a notebook tests, '
            "with its control, our estimate with a 95% interval and the verdict of the criterion "
            "stated in the notebook before the run (printed by each notebook's \"What we saw\"; "
            "collected by <code>python tools/scorecard.py</code>).</p>\n"
            + markdown2html(table))


def index_page(infos, mathjax: str, scorecard_html: str = "") -> str:
    items = []
    for info in infos:
        items.append(
            "<li>"
            f'<div class="cb-title">{_link(info.html, html.escape(info.heading))}</div>'
            f'<div class="cb-citation">{inline_markdown(info.citation)}</div>'
            f'<div class="cb-summary">{inline_markdown(info.summary)}</div>'
            f'<div class="cb-meta">{stamp_text(info.stamp)} '
            + (f'{_link(course.colab_url(info.stem), "Open in Colab")} · '
               if course.colab_url(info.stem) else "")
            + f'{_link(f"downloads/student/{info.stem}.ipynb", "exercises (.ipynb)")}</div>'
            "</li>")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{html.escape(COURSE_TITLE)}</title>
<link rel="stylesheet" href="{STATIC}/book.css">
{mathjax}
</head>
<body class="jp-Notebook cb-index">
<main>
<h1>{html.escape(COURSE_TITLE)}</h1>
<p>One notebook per paper, in the order of the lecture: the paper's math in the lecture's
notation, then the method run on real data and models. Every number and figure on these pages
comes from running the notebook (the line under each entry says with which profile and where).
Run a notebook yourself {"with the Colab link, or " if course.REPO else ""}locally with
<code>make lab</code>.</p>
<ol>
{chr(10).join(items)}
</ol>
{scorecard_html}
</main>
</body>
</html>
"""


# --------------------------------------------------------------------------------------------
# Link check (the browser test repeats it in Chromium)

_ATTR = re.compile(r'\b(href|src)="([^"]*)"')
_ID = re.compile(r'\bid="([^"]+)"')


def broken_links(site: Path) -> list[str]:
    """Relative links and sources of every page that point to no file or to no anchor."""
    pages = sorted(site.glob("*.html"))
    ids = {}
    problems = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for attr, url in _ATTR.findall(text):
            url = html.unescape(url)
            if not url or re.match(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:|^//", url):
                continue   # external (http:, https:, data:, mailto:) or empty
            target, _, anchor = url.partition("#")
            target = target.split("?")[0]
            file = (page.parent / target).resolve() if target else page
            if not file.exists():
                problems.append(f"{page.name}: {attr}={url!r} points to a missing file")
                continue
            if anchor and file.suffix == ".html":
                if file not in ids:
                    ids[file] = set(_ID.findall(file.read_text(encoding="utf-8")))
                if anchor not in ids[file] and unquote(anchor) not in ids[file]:
                    problems.append(f"{page.name}: {attr}={url!r}: no id {anchor!r} in {file.name}")
    return problems


# --------------------------------------------------------------------------------------------


def exporter() -> HTMLExporter:
    return HTMLExporter(template_name="coursebook", extra_template_basedirs=[str(course.TEMPLATES)],
                        embed_images=True, exclude_input_prompt=True, exclude_output_prompt=True)


def build(paths, out: Path, cdn: bool = False, strict: bool = True) -> list[Path]:
    start = time.perf_counter()
    paths = list(paths)
    if out.exists():
        shutil.rmtree(out)
    static = out / STATIC
    static.mkdir(parents=True)
    shutil.copy2(course.TEMPLATES / "coursebook" / "book.css", static / "book.css")
    script = course.MATHJAX_CDN if cdn else course.copy_mathjax(static)
    mathjax = course.mathjax_config(script)
    notebooks = [nbformat.read(p, as_version=4) for p in paths]
    infos = [course.read_info(p, nb) for p, nb in zip(paths, notebooks)]
    downloads = out / "downloads"
    (downloads / "student").mkdir(parents=True)
    exp = exporter()
    written = [out / "index.html"]
    for i, (path, nb, info) in enumerate(zip(paths, notebooks, infos)):
        shutil.copy2(path, downloads / path.name)
        nbformat.write(student_tool.student_version(nb, path.name)[0],
                       downloads / "student" / path.name)
        page_nb = book_notebook(nb)
        page_nb.metadata["title"] = info.heading
        resources = {"metadata": {"name": info.heading, "path": str(path.parent)},
                     "course": {"mathjax": mathjax, "static": STATIC,
                                "header": navigation(infos, i),
                                "footer": navigation(infos, i, bottom=True)
                                + f'<p class="cb-stamp">{stamp_text(info.stamp)}</p>'}}
        body, _ = exp.from_notebook_node(page_nb, resources=resources)
        (out / info.html).write_text(course.rewrite_ipynb_links(body), encoding="utf-8")
        written.append(out / info.html)
    # a summary may link to another notebook too ("as in [notebook 01](01_...ipynb)")
    (out / "index.html").write_text(course.rewrite_ipynb_links(
        index_page(infos, mathjax, scorecard_section(paths))),
                                    encoding="utf-8")
    if not course.REPO:
        print(f"note: no Colab or Binder links: {course.HOW_TO_SET_REPO}", file=sys.stderr)
    problems = broken_links(out)
    for problem in problems:
        print(f"broken link: {problem}", file=sys.stderr)
    print(f"book: {len(paths)} notebooks -> {out} in {time.perf_counter() - start:.1f} s")
    if problems and strict:
        raise SystemExit(f"{len(problems)} broken link(s) in the book (listed above)")
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("notebooks", nargs="*", type=Path)
    p.add_argument("--out", type=Path, default=course.BUILD / "book")
    p.add_argument("--cdn", action="store_true", help="load MathJax from a CDN (no npm needed)")
    p.add_argument("--no-strict", dest="strict", action="store_false",
                   help="report broken links without failing")
    args = p.parse_args(argv)
    return course.run_build(build, args.notebooks, args.out, cdn=args.cdn, strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
