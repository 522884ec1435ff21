"""The course in a real JupyterLab, driven in Debian's Chromium (tools/lab_check.mjs): the file
browser lists each notebook once, a notebook opens as a live RISE deck and runs a cell from it,
every explorer of every notebook renders and responds to a control (the browser runs each
notebook's explorer slice, ``tools/slicing.py``, or with ``LAB_EXPLORERS=whole`` the whole
notebook), and a student's notebook saves without a .py pair. Notebooks are copied to
a temporary folder first (JupyterLab saves what it runs). Skips where Chromium, Node.js or
JupyterLab is missing."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jupytext
import nbformat
import pytest

from classroom_helpers import CHROMIUM, ROOT, SCREENSHOTS, code, md, require_assets

import slicing  # noqa: E402  (tools/ is on sys.path through classroom_helpers)
import student  # noqa: E402

EXPLORER_CALL = slicing.EXPLORER_CALL       # a cell that builds an explorer
# One JupyterLab server for the module: keep its tests on one xdist worker (make unit).
pytestmark = pytest.mark.xdist_group("lab")


def explorer_notebooks() -> list[Path]:
    """The notebooks that build an explorer (found by scanning, so new ones are picked up)."""
    found = []
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if any(c.cell_type == "code" and EXPLORER_CALL.search(c.source) for c in nb.cells):
            found.append(path)
    return found


def whole_notebooks() -> bool:
    """``LAB_EXPLORERS=whole`` runs each explorer notebook whole in the browser (minutes each);
    by default the browser runs each one's explorer slice (``tools/slicing.py``): the explorer
    cells and the statements that build their arguments, seconds each at the quick profile."""
    return os.environ.get("LAB_EXPLORERS", "").strip().lower() in ("whole", "all")


def run_copy(path: Path, dst: Path) -> None:
    """What the browser runs for one explorer notebook: its slice, or the whole notebook."""
    nb = nbformat.read(path, as_version=4)
    if not whole_notebooks():
        nb = slicing.explorer_slice(nb)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, dst)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _requirements():
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (/usr/bin/chromium): `apt-get install chromium` "
                    "(.ci/run installs it before `make test`); the JupyterLab checks are skipped")
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: the JupyterLab checks use playwright-core")
    jupyter = Path(sys.executable).with_name("jupyter")
    if not jupyter.exists():
        pytest.skip(f"no jupyter next to {sys.executable}: install the course (make install)")
    return require_assets(), jupyter


def _rise_installed() -> bool:
    """Is jupyterlab-rise (its server extension) importable by this environment's server?"""
    import importlib.util
    return importlib.util.find_spec("jupyterlab_rise") is not None


def _as_plain_notebook(src: Path, dst: Path) -> None:
    """A copy that opens without a kernel dialog (python3: this environment's kernel)."""
    nb = nbformat.read(src, as_version=4)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, dst)


def live_notebook():
    run = code("6 * 7", slide="slide")
    run.execution_count = None
    cells = [md("# 01 · Live\n\nA deck that runs.", slide="slide"), run,
             md("## The end", slide="slide")]
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a temporary folder: course/ (the notebooks and their .py pairs, as
    in notebooks/), run/ (the notebooks with explorers), student/ (the student version), live/."""
    modules, jupyter = _requirements()
    root = tmp_path_factory.mktemp("lab")
    course = root / "course"
    course.mkdir()
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))[:3]:
        _as_plain_notebook(path, course / path.name)
        # the .py side written last (jupytext refuses a pair whose .ipynb is newer)
        jupytext.write(nbformat.read(course / path.name, as_version=4),
                       course / path.with_suffix(".py").name, fmt="py:percent")
    shutil.copy2(ROOT / "notebooks" / "jupytext.toml", course / "jupytext.toml")
    run = root / "run"
    run.mkdir()
    only = [p for p in os.environ.get("LAB_NOTEBOOKS", "").split(",") if p.strip()]
    for path in explorer_notebooks():            # LAB_NOTEBOOKS=07,09: only those (debugging)
        if not only or any(path.name.startswith(p.strip()) for p in only):
            run_copy(path, run / path.name)
    studs = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))[:1]
    student.build(studs, root / "student", root / "solutions")
    for path in (root / "student").glob("*.ipynb"):
        _as_plain_notebook(path, path)
    (root / "live").mkdir()
    nbformat.write(live_notebook(), root / "live" / "01_live.ipynb")

    # no "official Jupyter news?" toast over the notebook (and no request for it)
    news = root / ".settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [str(jupyter), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           f"--config={ROOT / 'tools' / 'jupyter_lab_config.py'}",
           "--LabApp.expose_app_in_browser=True",
           f"--LabApp.user_settings_dir={root / '.settings'}",
           f"--LabApp.workspaces_dir={root / '.workspaces'}"]
    if _rise_installed():                          # enabled even where its config file is not read
        cmd.append("--ServerApp.jpserver_extensions={'jupyterlab_rise': True}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    env = dict(os.environ, LECTURE_PROFILE="quick", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                          if p))
    log = open(root / "server.log", "w")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited: {(root / 'server.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not start: {(root / 'server.log').read_text()[-2000:]}")
        yield {"url": url, "token": token, "root": root, "modules": modules,
               "rise": _rise_installed()}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def lab_check(lab, *options, timeout: int = 1500) -> dict:
    cmd = [shutil.which("node"), str(ROOT / "tools" / "lab_check.mjs"), "--modules",
           str(lab["modules"]), "--url", lab["url"], "--token", lab["token"], *options]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"lab check failed:\n{run.stderr[-3000:]}"
    return json.loads(run.stdout)


def test_file_browser_lists_each_notebook_once(lab):
    report = lab_check(lab, "--files", "course", "--screenshots", str(SCREENSHOTS / "lab"))
    listed = report["files"]["listed"]
    notebooks = sorted(p.name for p in (lab["root"] / "course").glob("*.ipynb"))
    assert sorted(n for n in listed if n.endswith(".ipynb")) == notebooks
    assert not [n for n in listed if n.endswith(".py")], listed          # the pairs are hidden
    assert sorted((lab["root"] / "course").glob("*.py"))                  # ... but still there


def test_a_notebook_opens_as_a_live_rise_deck(lab):
    if not lab["rise"]:
        pytest.skip("jupyterlab-rise is not installed in this environment (make install "
                    "installs it with the course)")
    first_course = sorted((lab["root"] / "course").glob("*.ipynb"))[0]
    report = lab_check(lab, "--rise", f"live/01_live.ipynb,course/{first_course.name}",
                       "--screenshots", str(SCREENSHOTS / "lab"))
    live = report["rise"]["live/01_live.ipynb"]
    assert "error" not in live, live["error"]
    assert live["horizontal"] == 3 and live["code_cells"] == 1, live
    assert live["output"] == "42", live                                  # run from the deck
    deck = report["rise"][f"course/{first_course.name}"]
    assert "error" not in deck, deck["error"]
    nb = nbformat.read(first_course, as_version=4)
    slides = sum(1 for c in nb.cells if (c.metadata.get("slideshow") or {}).get("slide_type")
                 == "slide")
    assert deck["horizontal"] >= slides - 1 and deck["code_cells"] > 0, deck
    assert not live["errors"] and not deck["errors"], (live["errors"], deck["errors"])


def test_every_explorer_is_run():
    """The notebooks that use explorers are the ones the issue names (04, 07, 09, 10, 12), and the
    copy the browser runs of each keeps every explorer cell of it, unchanged."""
    found = explorer_notebooks()
    assert [p.name[:2] for p in found] == ["04", "07", "09", "10", "12"]
    for path in found:
        cells = [c.source for c in nbformat.read(path, as_version=4).cells
                 if c.cell_type == "code" and EXPLORER_CALL.search(c.source)]
        sliced = [c.source for c in slicing.explorer_slice(nbformat.read(path, as_version=4)).cells
                  if EXPLORER_CALL.search(c.source)]
        assert sliced == cells, path.name


def test_explorers_render_and_respond(lab):
    names = sorted(p.name for p in (lab["root"] / "run").glob("*.ipynb"))
    if not names:
        pytest.skip("no notebook uses lecture_utils.explorers yet")
    report = lab_check(lab, "--explorers", ",".join(f"run/{n}" for n in names),
                       "--screenshots", str(SCREENSHOTS / "lab"))
    problems, timings = [], []
    for name in names:
        r = report["explorers"][f"run/{name}"]
        if r["run"]["done"] != "done" or r["run"]["errors"] or r["run"]["unrun"]:
            problems.append(f"{name}: running all cells: {r['run']}")
        expected = sum(1 for c in nbformat.read(lab["root"] / "run" / name, as_version=4).cells
                       if c.cell_type == "code" and EXPLORER_CALL.search(c.source))
        if len(r["explorers"]) != expected:
            problems.append(f"{name}: {len(r['explorers'])} explorers checked, {expected} in it")
        for e in r["explorers"]:
            if not (e.get("rendered") and e.get("responded")):
                problems.append(f"{name}, cell {e['cell']} ({e.get('title')}): {e}")
            else:
                timings.append(e["seconds_to_respond"])
        print(f"{name}: ran in {r['seconds_to_run']:.0f} s; explorers responded in "
              f"{[round(e.get('seconds_to_respond', -1), 1) for e in r['explorers']]} s")
    assert problems == []


def test_a_student_notebook_saves_without_a_py_pair(lab):
    name = next((lab["root"] / "student").glob("*.ipynb")).name
    report = lab_check(lab, "--save", f"student/{name}")
    assert report["save"]["saved"], report["save"]
    assert not list((lab["root"] / "student").glob("*.py")), "saving wrote a .py pair"
