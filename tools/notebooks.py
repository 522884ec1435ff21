"""Execute, stamp and check the paired notebooks.

    python tools/notebooks.py execute --profile laptop notebooks/05_*.ipynb
    python tools/notebooks.py check                   # what tests/test_notebooks.py asserts
    python tools/notebooks.py prose notebooks/05_*.ipynb  # markdown edits only: no re-run

Each notebook is a pair: ``X.ipynb`` (executed outputs, for readers) and ``X.py`` (jupytext percent
script, for review). ``execute`` reads whichever side was edited last, runs it top to bottom in a
kernel of this environment with ``LECTURE_PROFILE`` set, and writes both sides. It stamps the
notebook's metadata (``lecture_suite``) with the profile, the device, the time it took and a hash of
the cells' source, so a test can tell when outputs are older than the source, and with the zoo's
committed checkpoints the kernel loaded (``"zoo": {name: sha256}``), so a test can tell when a
model was retrained after the notebook ran (``zoo.stale_uses``).

Widget outputs are saved as a static rendering of their final state (``course.static_widgets``):
a progress bar keeps tqdm's last line ("100%|██████████| 195/195 [02:29<00:00]") as text and as
HTML instead of "0%| 0/195"; an explorer keeps its view for JupyterLab and gains an HTML copy of
its title, its controls' values and its last figure, with a one-line text/plain, so GitHub,
nbviewer and a JupyterLab without a kernel show the figure, not "VBox(children=(HTML(...".
``python tools/notebooks.py static NB...`` applies the same to executed notebooks in place.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import jupytext
import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import course  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STAMP = "lecture_suite"
READER_PROFILES = ("laptop", "full")


def cell_sources(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def source_hash(nb) -> str:
    return hashlib.sha256(json.dumps(cell_sources(nb)).encode()).hexdigest()


def pair_of(ipynb: Path) -> Path:
    return ipynb.with_suffix(".py")


def read_newest(ipynb: Path):
    """The notebook, from the .py when it was edited after the .ipynb (keeping .ipynb metadata)."""
    py = pair_of(ipynb)
    if ipynb.exists() and (not py.exists() or ipynb.stat().st_mtime >= py.stat().st_mtime):
        return jupytext.read(ipynb)
    nb = jupytext.read(py)
    if ipynb.exists():
        old = nbformat.read(ipynb, as_version=4)
        nb.metadata = {**old.metadata, **{k: v for k, v in nb.metadata.items() if k != STAMP}}
    return nb


def write_pair(nb, ipynb: Path) -> None:
    nb.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    nb.metadata["kernelspec"] = {"name": "lecture-suite", "display_name": "Python (lecture suite)",
                                 "language": "python"}
    jupytext.write(nb, ipynb)
    jupytext.write(nb, pair_of(ipynb), fmt="py:percent")


def execute(ipynb: Path, profile: str, timeout: int = 3600) -> float:
    from nbclient import NotebookClient
    if profile not in READER_PROFILES:
        raise SystemExit(f"Notebooks are committed with laptop or full outputs, not {profile!r}.")
    from lecture_utils import zoo
    from lecture_utils.config import device_name   # the device the kernel chose, in words
    nb = read_newest(ipynb)
    os.environ["LECTURE_PROFILE"] = profile
    with tempfile.TemporaryDirectory() as tmp:     # the kernel lists the checkpoints it loads
        uses = Path(tmp) / "zoo-uses.jsonl"
        os.environ[zoo.USES_ENV] = str(uses)
        try:
            start = time.perf_counter()
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(ipynb.parent)}}).execute()
            seconds = time.perf_counter() - start
        finally:
            os.environ.pop(zoo.USES_ENV, None)
        used = zoo.read_uses(uses)
    static_outputs(nb)
    nb.metadata[STAMP] = {"profile": profile, "device": device_name(), "seconds": round(seconds, 1),
                          "executed": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                          "source_sha256": source_hash(nb), "zoo": used}
    write_pair(nb, ipynb)
    return seconds


def take_prose(ipynb: Path) -> str:
    """Carry markdown edits of the ``.py`` side into the executed notebook without re-running it,
    when its code cells (source and order) are unchanged: the outputs still belong to the code,
    and the stamp's hash is renewed. Returns what was done; refuses (SystemExit) when code differs,
    because then only `execute` gives outputs that belong to the source."""
    nb = nbformat.read(ipynb, as_version=4)
    new = jupytext.read(pair_of(ipynb))
    code = [c.source.strip() for c in nb.cells if c.cell_type == "code"]
    new_code = [c.source.strip() for c in new.cells if c.cell_type == "code"]
    if code != new_code:
        raise SystemExit(f"{ipynb.name}: code cells differ between the pair: run "
                         f"`make execute NB={ipynb}` (prose takes markdown edits only).")
    outputs = iter([c for c in nb.cells if c.cell_type == "code"])
    cells = []
    for cell in new.cells:
        if cell.cell_type == "code":
            old = next(outputs)
            old.metadata = cell.metadata
            cells.append(old)
        else:
            cells.append(cell)
    changed = sum(a.source != b.source for a, b in zip(nb.cells, cells)) + abs(
        len(nb.cells) - len(cells))
    nb.cells = cells
    if STAMP in nb.metadata:
        nb.metadata[STAMP]["source_sha256"] = source_hash(nb)
    write_pair(nb, ipynb)
    return f"{ipynb.name}: {changed} markdown cell(s) taken from {pair_of(ipynb).name}"


def static_outputs(nb):
    """Progress bars and other widgets as a static rendering of their final state (see the
    module's docstring); the cells' source is untouched, so the stamp's hash still holds."""
    return course.static_widgets(nb, keep_live=True)


def problems(ipynb: Path) -> list[str]:
    """What is wrong with a committed notebook pair (empty when it is fine)."""
    out, py = [], pair_of(ipynb)
    nb = nbformat.read(ipynb, as_version=4)
    if not py.exists():
        return [f"{ipynb.name}: no paired {py.name}"]
    if cell_sources(jupytext.read(py)) != cell_sources(nb):
        out.append(f"{ipynb.name} and {py.name} are out of sync: run `jupytext --sync {ipynb}`")
    stamp = nb.metadata.get(STAMP)
    if not stamp:
        out.append(f"{ipynb.name} has no execution stamp: run `make execute NB={ipynb}`")
    else:
        if stamp.get("source_sha256") != source_hash(nb):
            out.append(f"{ipynb.name}: outputs are older than its source: "
                       f"run `make execute NB={ipynb}`")
        from lecture_utils.zoo import stale_uses
        if "zoo" not in stamp:
            out.append(f"{ipynb.name}: its stamp has no record of the zoo checkpoints it used: "
                       f"run `make execute NB={ipynb}`")
        for use in stale_uses(stamp.get("zoo", {})):
            out.append(f"{ipynb.name}: its outputs come from {use}: run `make execute NB={ipynb}`")
        if stamp.get("profile") not in READER_PROFILES:
            out.append(f"{ipynb.name} was executed with the {stamp.get('profile')!r} profile; "
                       "commit laptop or full outputs")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.source.strip() and cell.execution_count is None:
            out.append(f"{ipynb.name}: cell {i} was not executed")
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            out.append(f"{ipynb.name}: cell {i} has an error output")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("execute")
    e.add_argument("--profile", default="laptop")
    e.add_argument("notebooks", nargs="+", type=Path)
    c = sub.add_parser("check")
    c.add_argument("notebooks", nargs="*", type=Path)
    st = sub.add_parser("static", help="static widget outputs in executed notebooks, in place")
    st.add_argument("notebooks", nargs="+", type=Path)
    pr = sub.add_parser("prose", help="markdown edits of the .py into the executed notebook "
                                      "(code unchanged), without re-running it")
    pr.add_argument("notebooks", nargs="+", type=Path)
    args = p.parse_args(argv)
    if args.cmd == "prose":
        for path in args.notebooks:
            print(take_prose(path))
        return 0
    if args.cmd == "static":
        for path in args.notebooks:
            nb = static_outputs(nbformat.read(path, as_version=4))
            nbformat.write(nb, path)
            print(f"{path}: widget outputs made static")
        return 0
    if args.cmd == "execute":
        for path in args.notebooks:
            print(f"executing {path} ({args.profile}) ...", flush=True)
            print(f"  done in {execute(path, args.profile):.0f} s", flush=True)
        return 0
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    found = [msg for path in paths for msg in problems(path)]
    print("\n".join(found) or f"{len(paths)} notebooks: paired, fresh and executed")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
