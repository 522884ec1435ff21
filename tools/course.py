"""What the classroom builds share: the notebooks in lecture order, their title cells, the cell
tags, the repository links (Colab, Binder) and the offline web assets (reveal.js, MathJax).

Used by ``tools/book.py`` (``make book``), ``tools/slides.py`` (``make slides``) and
``tools/student.py`` (``make student``); ``tools/README.md`` gives the conventions a notebook
follows.

Cell tags (``# %% tags=["..."]`` in the percent script):

==================  =====================================================================
``solution``        an exercise's reference solution: the code between ``### BEGIN SOLUTION``
                    and ``### END SOLUTION`` becomes ``raise NotImplementedError(...)`` in the
                    student version; the book folds the cell under "Solution"; slides drop it
``presenter``       the presenter's note (a markdown cell, ``slide_type`` "notes"): speaker notes
                    in the deck and the instructors' page ``build/slides/index.html``; dropped
                    from the book and the student version
``hide-input``      book: the code is folded under "Show code"; slides: the code is not shown
``remove-input``    book and slides show the output only
``remove-output``   book and slides show the code only
``remove-cell``     book and slides leave the cell out (the student version keeps it)
``show-input``      slides built with ``--code hidden`` still show this cell's code
``colab``           the Colab install cell (``tools/colab.py``); left out of book and slides
==================  =====================================================================
"""
from __future__ import annotations

import copy
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
# COURSE_NOTEBOOKS=folder builds from other executed notebooks (previews, tests).
NOTEBOOKS = Path(os.environ.get("COURSE_NOTEBOOKS", ROOT / "notebooks"))
BUILD = ROOT / "build"
TEMPLATES = Path(__file__).resolve().parent / "templates"
WEB = Path(__file__).resolve().parent / "web"          # package.json + lock of the web assets

# The public repository (owner/name on GitHub) that the Colab and Binder links of the book and the
# Colab cell (tools/colab.py) point at: COURSE_REPO=owner/name, else the checkout's git remote
# ("origin", else the first one) when it is on GitHub, else None, and then the builds leave the
# links out instead of shipping broken ones. COURSE_BRANCH (default main) is the branch they open.
PLACEHOLDERS = ("ORG/REPO", "OWNER/NAME", "")
_GITHUB = re.compile(r"github\.com[:/]+([A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+?)(?:\.git)?/?$")


def github_repo(url: str) -> str | None:
    """``owner/name`` of a GitHub remote URL (https, ssh or git@), else None."""
    m = _GITHUB.search(url.strip())
    return m.group(1) if m else None


def git_remote_repo(root: Path = ROOT) -> str | None:
    """The GitHub repository of the checkout's remote ("origin" first), if it has one."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        names = subprocess.run([git, "-C", str(root), "remote"], capture_output=True, text=True,
                               timeout=10).stdout.split()
        for name in sorted(names, key=lambda n: n != "origin"):
            url = subprocess.run([git, "-C", str(root), "remote", "get-url", name],
                                 capture_output=True, text=True, timeout=10).stdout
            repo = github_repo(url)
            if repo:
                return repo
    except (OSError, subprocess.SubprocessError):
        return None
    return None


def course_repo() -> str | None:
    """COURSE_REPO, else the git remote's GitHub repository, else None (see above)."""
    env = os.environ.get("COURSE_REPO")
    if env is not None:
        env = env.strip()
        return None if env.upper() in PLACEHOLDERS or "/" not in env else env
    return git_remote_repo()


REPO = course_repo()
BRANCH = os.environ.get("COURSE_BRANCH", "main")
HOW_TO_SET_REPO = ("no GitHub repository known: the checkout has no GitHub remote and "
                   "COURSE_REPO is not set; set it (COURSE_REPO=owner/name make book) or add the "
                   "remote (git remote add origin https://github.com/owner/name)")

SOLUTION, PRESENTER, COLAB = "solution", "presenter", "colab"
HIDE_INPUT, REMOVE_INPUT, REMOVE_OUTPUT, REMOVE_CELL, SHOW_INPUT = (
    "hide-input", "remove-input", "remove-output", "remove-cell", "show-input")
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


# ---------------------------------------------------------------------------------------------
# Notebooks and their title cells


def notebook_paths(folder: Path | None = None) -> list[Path]:
    """The executed notebooks (``NN_name.ipynb``) in lecture order (the order of their names)."""
    return sorted(Path(folder or NOTEBOOKS).glob("[0-9]*.ipynb"))


def tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []) or [])


def slide_type(cell) -> str:
    return (cell.get("metadata", {}).get("slideshow", {}) or {}).get("slide_type", "-") or "-"


@dataclass
class Info:
    """What the index shows of a notebook, read from its title cell (see ``parse_title_cell``)."""
    path: Path
    number: str        # "05"
    title: str         # "Class Activation Mapping"
    citation: str      # markdown
    summary: str       # markdown, one sentence
    stamp: dict        # the execution stamp of tools/notebooks.py (profile, device, seconds, ...)

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def html(self) -> str:
        return f"{self.stem}.html"

    @property
    def heading(self) -> str:
        return f"{self.number} · {self.title}" if self.number else self.title


_HEADING = re.compile(r"^#\s+(?:(\d+)\s*[·.:\-–—]\s*)?(.+?)\s*$")
_CITATION_KEYS = ("**paper:**", "**paper**:", "**citation:**", "**reference:**")
_SUMMARY_KEYS = ("**why it matters:**", "**why it matters**:", "**in one line:**", "**summary:**")


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _strip_key(par: str, keys) -> str | None:
    low = par.lower()
    for key in keys:
        if low.startswith(key):
            return par[len(key):].strip()
    return None


def first_sentence(text: str, at_least: int = 90) -> str:
    """The first sentence of a paragraph, or the first two when the first is shorter than
    ``at_least`` characters (a short lead-in such as "The earlier notebooks asked X.")."""
    text = " ".join(text.split())
    ends = [m.start() for m in re.finditer(r"(?<=[.!?])\s+(?=[A-Z*_(\[`])", text)]
    if not ends or ends[0] >= at_least:
        return text[:ends[0]] if ends else text
    return text[:ends[1]] if len(ends) > 1 else text


def parse_title_cell(source: str, fallback_number: str = "") -> tuple[str, str, str, str]:
    """(number, title, citation, summary) of a notebook's first markdown cell.

    The cell starts with ``# NN · Title``. The citation is the paragraph that starts with
    ``**Paper:**`` (else the first paragraph after the heading); the one-line summary is the
    paragraph that starts with ``**Why it matters:**`` (else ``first_sentence`` of the paragraph
    after the citation).
    """
    lines = source.strip().splitlines()
    if not lines or not _HEADING.match(lines[0]):
        raise ValueError("the first markdown cell must start with a heading '# NN · Title', "
                         f"found {lines[0][:60] if lines else 'an empty cell'!r}")
    number, title = _HEADING.match(lines[0]).groups()
    pars = _paragraphs("\n".join(lines[1:]))
    citation = next((c for c in (_strip_key(p, _CITATION_KEYS) for p in pars) if c), None)
    summary = next((s for s in (_strip_key(p, _SUMMARY_KEYS) for p in pars) if s), None)
    rest = [p for p in pars if _strip_key(p, _CITATION_KEYS + _SUMMARY_KEYS) is None]
    if citation is None:
        citation = rest.pop(0) if rest else ""
    if summary is None:
        summary = first_sentence(rest[0]) if rest else ""
    return number or fallback_number, title.strip(), " ".join(citation.split()), " ".join(
        summary.split())


def read_info(path: Path, nb=None) -> Info:
    nb = nb if nb is not None else nbformat.read(path, as_version=4)
    first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first is None:
        raise ValueError(f"{path.name}: no markdown cell, so no title")
    m = re.match(r"(\d+)", path.stem)
    try:
        number, title, citation, summary = parse_title_cell(first.source, m.group(1) if m else "")
    except ValueError as err:
        raise ValueError(f"{path.name}: {err}") from None
    return Info(path, number, title, citation, summary, dict(nb.metadata.get("lecture_suite", {})))


# ---------------------------------------------------------------------------------------------
# Links


def colab_url(stem: str, repo: str | None = None) -> str | None:
    """The notebook on Colab (from GitHub), or None when no repository is known."""
    repo = repo or REPO
    if not repo:
        return None
    return f"https://colab.research.google.com/github/{repo}/blob/{BRANCH}/notebooks/{stem}.ipynb"


def binder_url(stem: str, repo: str | None = None) -> str | None:
    """The notebook on mybinder.org, or None when no repository is known."""
    repo = repo or REPO
    if not repo:
        return None
    return f"https://mybinder.org/v2/gh/{repo}/{BRANCH}?labpath=notebooks%2F{stem}.ipynb"


_IPYNB_HREF = re.compile(r'href="(?:\./)?([^"#?/:]+)\.ipynb((?:#[^"]*)?)"')


def rewrite_ipynb_links(html: str, suffix: str = ".html") -> str:
    """``href="05_zhou_cam.ipynb#sec"`` -> ``href="05_zhou_cam.html#sec"``: links between the
    notebooks (a file name in the same folder); links with a folder or a scheme stay."""
    return _IPYNB_HREF.sub(lambda m: f'href="{m.group(1)}{suffix}{m.group(2)}"', html)


# ---------------------------------------------------------------------------------------------
# Notebook transformations shared by the builds


def image_outputs(cell) -> int:
    """How many figures a code cell shows (PNG, JPEG or SVG outputs)."""
    if cell.cell_type != "code":
        return 0
    kinds = ("image/png", "image/jpeg", "image/svg+xml")
    return sum(1 for o in cell.get("outputs", [])
               if o.get("output_type") in ("display_data", "execute_result")
               and any(k in o.get("data", {}) for k in kinds))


def drop_cells(nb, drop):
    """A copy of ``nb`` without the cells for which ``drop(cell)`` is true."""
    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if not drop(c)]
    return out


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


WIDGET_NOTE = ('<p class="cb-widget-note"><em>An interactive widget: run the notebook (Colab, '
               'Binder or <code>make lab</code>) to use it.</em></p>')
PROGRESS = ("FloatProgressModel", "IntProgressModel")
BOXES = ("HBoxModel", "VBoxModel", "BoxModel", "GridBoxModel")
_MAX_DEPTH = 8


def _model(model_id: str, state: dict) -> dict | None:
    return state.get(str(model_id).removeprefix("IPY_MODEL_"))


def _children(model: dict) -> list[str]:
    return list(model.get("state", {}).get("children", []) or [])


def _readout(s: dict) -> str:
    value, fmt = s.get("value"), s.get("readout_format")
    if "_options_labels" in s and s.get("index") is not None:     # Dropdown, SelectionSlider, ...
        labels, index = s["_options_labels"], s["index"]
        if isinstance(index, (list, tuple)):
            return ", ".join(str(labels[i]) for i in index)
        return str(labels[index]) if 0 <= index < len(labels) else ""
    if isinstance(value, (list, tuple)):                            # range sliders
        return " – ".join(_fmt(v, fmt) for v in value)
    return _fmt(value, fmt)


def _fmt(value, fmt) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    try:
        return format(value, fmt) if fmt else (f"{value:.3g}" if isinstance(value, float)
                                               else str(value))
    except (TypeError, ValueError):
        return str(value)


def is_progress_bar(model_id: str, state: dict) -> bool:
    """tqdm.notebook's bar: an HBox of HTML, a FloatProgress and HTML."""
    model = _model(model_id, state)
    if not model or model.get("model_name") != "HBoxModel":
        return False
    names = [(_model(c, state) or {}).get("model_name") for c in _children(model)]
    return len(names) == 3 and names[1] in PROGRESS and names[0] == names[2] == "HTMLModel"


def progress_text(model_id: str, state: dict) -> str:
    """A progress bar's last state as tqdm prints it in a terminal:
    ``training: 100%|██████████| 195/195 [02:29<00:00, 2.05step/s]``."""
    left, bar, right = (_model(c, state)["state"] for c in _children(_model(model_id, state)))
    total = float(bar.get("max") or 1) or 1.0
    filled = max(0, min(10, round(10 * float(bar.get("value") or 0) / total)))
    text = (f"{html.unescape(str(left.get('value', '')))}|{'█' * filled}{' ' * (10 - filled)}|"
            f"{html.unescape(str(right.get('value', '')))}")
    return text.replace("\u2007", " ")


def _output_html(out: dict) -> str:
    data = out.get("data", {})
    if out.get("output_type") == "stream":
        return f"<pre>{html.escape(out.get('text', ''))}</pre>"
    for kind in ("image/png", "image/jpeg"):
        if kind in data:
            return (f'<img src="data:{kind};base64,{str(data[kind]).strip()}" '
                    'style="max-width:100%">')
    if "image/svg+xml" in data:
        return str(data["image/svg+xml"])
    if "text/html" in data:
        return str(data["text/html"])
    if "text/plain" in data:
        return f"<pre>{html.escape(str(data['text/plain']))}</pre>"
    return ""


def render_widget(model_id: str, state: dict, depth: int = 0) -> str | None:
    """Static HTML of a widget in the state the kernel saved: boxes as flex rows or columns,
    HTML and labels as they are, progress bars as <progress>, controls (sliders, dropdowns,
    checkboxes, ...) as "description: value", Output widgets (an explorer's figure) with their
    outputs. None when a part is unknown or the state is missing."""
    model = _model(model_id, state)
    if model is None or depth > _MAX_DEPTH:
        return None
    name, s = model.get("model_name", ""), model.get("state", {})
    if name in BOXES:
        parts = [render_widget(c, state, depth + 1) for c in _children(model)]
        if any(p is None for p in parts):
            return None
        direction = "row" if name == "HBoxModel" else "column"
        align = "center" if name == "HBoxModel" else "flex-start"
        return (f'<div class="cb-widget" style="display:flex;flex-direction:{direction};'
                f'gap:.5em;align-items:{align};flex-wrap:wrap">{"".join(parts)}</div>')
    if name in ("HTMLModel", "HTMLMathModel"):
        return f"<span>{s.get('value', '')}</span>"
    if name == "LabelModel":
        return f"<span>{html.escape(str(s.get('value', '')))}</span>"
    if name in PROGRESS:
        return (f'<progress value="{s.get("value", 0)}" max="{s.get("max", 100)}" '
                'style="flex: 0 0 12em; width: 12em"></progress>')
    if name == "OutputModel":
        return "<div>" + "".join(_output_html(o) for o in s.get("outputs", []) or []) + "</div>"
    if name == "ButtonModel":
        return f"<button disabled>{html.escape(str(s.get('description', '')))}</button>"
    if "value" in s or "index" in s:                                  # a control
        label = html.escape(str(s.get("description", "") or ""))
        value = html.escape(_readout(s))
        return (f'<span class="cb-widget-control"><b>{label}</b>{": " if label else ""}'
                f"<code>{value}</code></span>")
    return None


def widget_text(model_id: str, state: dict) -> str | None:
    """text/plain for a widget's output: the progress bar's last line, or one line naming the
    explorer and its controls' values (instead of ``VBox(children=(HTML(...``)."""
    if is_progress_bar(model_id, state):
        return progress_text(model_id, state)
    titles, controls, stack = [], [], [(model_id, 0)]
    while stack:
        mid, depth = stack.pop(0)
        model = _model(mid, state)
        if model is None or depth > _MAX_DEPTH:
            return None
        name, s = model.get("model_name", ""), model.get("state", {})
        if name in BOXES:
            stack += [(c, depth + 1) for c in _children(model)]
        elif name in ("HTMLModel", "HTMLMathModel", "LabelModel"):
            text = re.sub(r"<[^>]+>", "", html.unescape(str(s.get("value", "")))).strip()
            if text:
                titles.append(text)
        elif name not in ("OutputModel", "ButtonModel") and name not in PROGRESS and (
                "value" in s or "index" in s):
            controls.append(f"{s.get('description') or name.removesuffix('Model')} = {_readout(s)}")
    head = titles[0] if titles else "An interactive widget"
    tail = f" ({', '.join(controls)})" if controls else ""
    return f"[{head}{tail}: run the notebook to use it]"


def static_widgets(nb, keep_live: bool = False):
    """Widget outputs as static HTML of their last state (``render_widget``): progress bars as
    a bar with tqdm's text, an explorer as its title, its controls' values and its last figure;
    a widget that cannot be rendered as a note to run the notebook.

    ``keep_live=False`` (the book, the slides): the widget views and the saved state are dropped,
    so pages need no widget manager. ``keep_live=True`` (``tools/notebooks.py execute``): progress
    bars become plain text and HTML (their widgets and state are dropped), any other widget keeps
    its view and state (JupyterLab redraws it) next to the static HTML and a readable text/plain
    that GitHub, nbviewer and a kernel-less JupyterLab show."""
    state = (nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}) or {}).get("state", {})
    live = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW not in data:
                continue
            mid = data[WIDGET_VIEW].get("model_id", "")
            rendered = render_widget(mid, state)
            text = widget_text(mid, state) if rendered is not None else None
            if text is not None:
                data["text/plain"] = text
            data["text/html"] = rendered or WIDGET_NOTE
            if keep_live and not is_progress_bar(mid, state) and _model(mid, state):
                live.append(mid)
            else:
                del data[WIDGET_VIEW]
    if keep_live and live:
        keep = _reachable(live, state)
        nb.metadata["widgets"][WIDGET_STATE]["state"] = {k: v for k, v in state.items()
                                                         if k in keep}
    else:
        nb.metadata.pop("widgets", None)
    return nb


def _reachable(roots, state) -> set[str]:
    """The models the widgets ``roots`` use (children, layouts, styles, ...)."""
    seen, todo = set(), [str(r).removeprefix("IPY_MODEL_") for r in roots]
    while todo:
        mid = todo.pop()
        if mid in seen or mid not in state:
            continue
        seen.add(mid)
        todo += [m.removeprefix("IPY_MODEL_") for m in re.findall(
            r"IPY_MODEL_[0-9A-Za-z_-]+", json.dumps(state[mid].get("state", {})))]
    return seen


def remove_source(cell) -> None:
    """Hide a cell's input in nbconvert's templates (the output stays)."""
    cell.metadata.setdefault("transient", {})["remove_source"] = True


# ---------------------------------------------------------------------------------------------
# Offline web assets (reveal.js, MathJax, playwright-core) from the npm registry, pinned by
# tools/web/package-lock.json and installed once into build/web/node_modules.


class AssetsUnavailable(RuntimeError):
    pass


def run_build(build, paths, *args, errors=(),
              nothing="no executed notebooks (notebooks/NN_*.ipynb) yet: nothing to build",
              **kwargs) -> int:
    """The command-line end of every build (book, slides, student): ``build(paths, *args,
    **kwargs)`` on the given notebooks, else on all executed ones; an error the user can fix
    (``AssetsUnavailable`` or one of ``errors``) is printed in one line and gives exit status 1."""
    import sys
    paths = paths or notebook_paths()
    if not paths:
        print(nothing)
        return 0
    try:
        build(paths, *args, **kwargs)
    except (AssetsUnavailable, *errors) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def web_modules(build: Path = BUILD) -> Path:
    """``build/web-<hash of the lock>/node_modules`` with the pinned packages; the first call runs
    ``npm ci`` (about 10 s) in a temporary folder and renames it, so parallel builds don't race."""
    lock = (WEB / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock + (WEB / "package.json").read_bytes()).hexdigest()[:12]
    web = build / f"web-{digest}"
    if (web / "node_modules").is_dir():
        return web / "node_modules"
    npm = shutil.which("npm")
    if npm is None:
        raise AssetsUnavailable("npm (Node.js) is needed once to fetch reveal.js and MathJax for "
                                "offline use: install Node.js, or build with --cdn")
    build.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".web-", dir=build))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(WEB / name, tmp / name)
        run = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=tmp,
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise AssetsUnavailable(f"`npm ci` failed (is the npm registry reachable?); build with "
                                    f"--cdn to use a CDN instead:\n{run.stderr[-2000:]}")
        try:
            tmp.rename(web)
        except OSError:          # another process finished first
            if not (web / "node_modules").is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return web / "node_modules"


def copy_mathjax(static: Path, build: Path = BUILD) -> str:
    """Copy MathJax 3 (the TeX-to-HTML component and its fonts, ~2 MB) under ``static``; returns
    the script's path relative to the site's root."""
    src = web_modules(build) / "mathjax" / "es5"
    dst = static / "mathjax"
    (dst / "output" / "chtml").mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "tex-chtml-full.js", dst / "tex-chtml-full.js")
    shutil.copytree(src / "output" / "chtml" / "fonts", dst / "output" / "chtml" / "fonts",
                    dirs_exist_ok=True)
    return f"{static.name}/mathjax/tex-chtml-full.js"


def copy_reveal(static: Path, build: Path = BUILD) -> str:
    """Copy reveal.js (dist without source maps, and the speaker-notes plugin) under ``static``;
    returns the folder relative to the site's root (nbconvert's ``reveal_url_prefix``)."""
    src = web_modules(build) / "reveal.js"
    dst = static / "reveal.js"
    shutil.copytree(src / "dist", dst / "dist", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.map", "*.esm.js"))
    shutil.copytree(src / "plugin" / "notes", dst / "plugin" / "notes", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.map", "*.esm.js"))
    return f"{static.name}/reveal.js"


MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3.2.2/es5/tex-chtml-full.js"
REVEAL_CDN = "https://cdn.jsdelivr.net/npm/reveal.js@5.2.1"


def mathjax_config(script: str) -> str:
    """The ``<script>`` tags that load MathJax 3 with the notebooks' delimiters."""
    return """<script>
window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']],
        displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']],
        processEscapes: true, processEnvironments: true, tags: 'ams'},
  options: {ignoreHtmlClass: 'tex2jax_ignore', processHtmlClass: 'tex2jax_process'},
  startup: {typeset: true}
};
</script>
<script defer src="%s"></script>""" % script
