# JupyterLab's settings for the course (`make lab` passes --config=tools/jupyter_lab_config.py).
#
# Every notebook is a jupytext pair (NN_name.ipynb + NN_name.py, tools/README.md): the .py stays in
# notebooks/ for readers of the repository and for review, and jupytext keeps it in step when a
# notebook is saved, but the file browser lists only the notebooks, not each one twice.
c = get_config()  # noqa: F821  (defined by Jupyter when it loads this file)

c.ContentsManager.hide_globs = [
    "__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~", "*.so", "*.dylib",   # Jupyter's defaults
    "[0-9][0-9]_*.py",                    # the percent-script side of each notebook pair
    "jupytext.toml",
]
