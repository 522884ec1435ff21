"""`tools/notebooks.py execute` saves widget outputs as a static rendering of their final state:
progress bars keep their last line, explorers their title, controls and last figure."""
from __future__ import annotations

import copy

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from classroom_helpers import PROGRESS_STATE, ROOT, course, png

import notebooks  # noqa: E402  (tools/ is on sys.path through classroom_helpers)


def _view(model_id, fallback):
    return new_output("display_data", data={
        course.WIDGET_VIEW: {"model_id": model_id, "version_major": 2, "version_minor": 0},
        "text/plain": fallback})


def _controls(model_name, **state):
    return {"model_name": model_name, "model_module": "@jupyter-widgets/controls",
            "model_module_version": "2.0.0", "state": state}


EXPLORER_STATE = {
    "ex": _controls("VBoxModel", children=["IPY_MODEL_title", "IPY_MODEL_row", "IPY_MODEL_out"]),
    "title": _controls("HTMLModel", value="<b>LIME: how many features, how local?</b>"),
    "row": _controls("HBoxModel", children=["IPY_MODEL_k", "IPY_MODEL_w", "IPY_MODEL_cls"]),
    "k": _controls("IntSliderModel", description="K", value=5, readout_format="d"),
    "w": _controls("FloatLogSliderModel", description="width", value=0.3548, readout_format=".3g"),
    "cls": _controls("DropdownModel", description="class", index=1,
                     _options_labels=["0: airplane", "1: automobile"]),
    "out": {"model_name": "OutputModel", "model_module": "@jupyter-widgets/output",
            "model_module_version": "1.0.0", "state": {"outputs": [
                {"output_type": "display_data", "metadata": {},
                 "data": {"image/png": png(), "text/plain": "<Figure>"}}]}},
}


def widget_notebook():
    state = copy.deepcopy(PROGRESS_STATE)
    state["state"].update(copy.deepcopy(EXPLORER_STATE))
    nb = new_notebook(cells=[
        new_code_cell("train()", outputs=[_view("box1", "training:   0%|          | 0/5")]),
        new_code_cell("lime_explorer(...)", outputs=[_view("ex", "VBox(children=(HTML(value=")]),
    ])
    nb.metadata["widgets"] = {course.WIDGET_STATE: state}
    return nb


def test_progress_bar_keeps_its_last_line():
    nb = notebooks.static_outputs(widget_notebook())
    data = nb.cells[0].outputs[0]["data"]
    assert course.WIDGET_VIEW not in data                      # a plain output now
    assert data["text/plain"] == "training: 100%|██████████| 5/5 [00:01<00:00]"
    assert '<progress value="5.0" max="5.0"' in data["text/html"]
    state = nb.metadata["widgets"][course.WIDGET_STATE]["state"]
    assert "box1" not in state and "p1" not in state           # the bar's models are dropped


def test_explorer_keeps_its_view_and_gains_a_static_copy():
    nb = notebooks.static_outputs(widget_notebook())
    data = nb.cells[1].outputs[0]["data"]
    assert data[course.WIDGET_VIEW]["model_id"] == "ex"        # JupyterLab still draws it
    assert data["text/plain"] == ("[LIME: how many features, how local? (K = 5, width = 0.355, "
                                  "class = 1: automobile): run the notebook to use it]")
    page = data["text/html"]
    assert "<b>LIME: how many features, how local?</b>" in page
    assert '<img src="data:image/png;base64,' in page and "<code>0.355</code>" in page
    assert "VBox(children" not in str(data)
    state = nb.metadata["widgets"][course.WIDGET_STATE]["state"]
    assert set(state) == set(EXPLORER_STATE)                   # only what the explorer uses


def test_book_and_slides_render_explorers_statically_too():
    nb = course.static_widgets(widget_notebook())
    assert "widgets" not in nb.metadata
    assert all(course.WIDGET_VIEW not in o["data"] for c in nb.cells for o in c.outputs)
    assert '<img src="data:image/png' in nb.cells[1].outputs[0]["data"]["text/html"]


def test_unknown_widgets_become_a_note():
    nb = new_notebook(cells=[new_code_cell("x", outputs=[_view("nope", "Foo()")])])
    nb.metadata["widgets"] = {course.WIDGET_STATE: {"state": {}}}
    data = notebooks.static_outputs(nb).cells[0].outputs[0]["data"]
    assert data["text/html"] == course.WIDGET_NOTE and data["text/plain"] == "Foo()"


SYNTHETIC = [
    "from tqdm.auto import tqdm\nimport time\nfor _ in tqdm(range(7), desc='steps'):\n"
    "    time.sleep(0.01)",
    "import ipywidgets as W\nfrom IPython.display import Image\n"
    "import base64\n"
    f"png = base64.b64decode('{png()}')\n"
    "out = W.Output()\nk = W.IntSlider(value=3, min=1, max=9, description='K')\n"
    "box = W.VBox([W.HTML('<b>A small explorer</b>'), W.HBox([k]), out])\n"
    "out.append_display_data(Image(png))\nbox",
]


def test_execute_saves_static_widget_outputs(tmp_path, monkeypatch):
    """A real run of a two-cell notebook through `tools/notebooks.py execute`."""
    pytest.importorskip("ipywidgets")
    monkeypatch.setenv("LECTURE_PROFILE", "laptop")           # execute() sets it for the kernel
    path = tmp_path / "01_widgets.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in SYNTHETIC]), path)
    notebooks.execute(path, "laptop", timeout=300)
    nb = nbformat.read(path, as_version=4)
    bar = [o for o in nb.cells[0].outputs if "text/html" in o.get("data", {})]
    assert len(bar) == 1 and course.WIDGET_VIEW not in bar[0]["data"]
    assert bar[0]["data"]["text/plain"].startswith("steps: 100%|██████████| 7/7 [")
    explorer = nb.cells[1].outputs[0]["data"]
    assert explorer["text/plain"] == "[A small explorer (K = 3): run the notebook to use it]"
    assert '<img src="data:image/png;base64,' in explorer["text/html"]
    assert course.WIDGET_VIEW in explorer
    assert (tmp_path / "01_widgets.py").exists()              # the pair is written as before
    assert notebooks.problems(path) == []


def test_committed_notebooks_can_be_made_static_without_changing_their_source():
    """The lead's re-execution writes these; here the transformation alone, on a copy."""
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        before = notebooks.source_hash(nb)
        out = notebooks.static_outputs(nb)
        assert notebooks.source_hash(out) == before
        for cell in out.cells:
            for o in cell.get("outputs", []):
                text = str(o.get("data", {}).get("text/plain", ""))
                assert not text.startswith("VBox(children=(HTML("), (path.name, text[:60])
                assert not (" 0%|" in text and course.WIDGET_VIEW not in o.get("data", {})), \
                    (path.name, text[:60])
