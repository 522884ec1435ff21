"""Kernels of the "Visualizing & Understanding" lecture suite, one module per idea, in three layers.

Nothing imports a higher layer (``tests/test_layers.py`` parses every module's imports):

* **foundation**: ``config`` (device, profile, seeds), ``data`` (CIFAR-10, 20 Newsgroups, digits,
  scikit-image photos, the on-device loader), ``io``, ``precision``, ``models``, ``pretrained``,
  ``train``, ``zoo`` (trained checkpoints), ``hooks`` (backward rules, activation capture, as
  context managers), ``validate`` (clear errors, and the call contract of the attribution
  methods), ``maps`` (the probability or logit of the target, heat maps), ``batching`` (batch
  sizes per device), ``canvas`` (the localization benchmark's images), ``viz`` (figures),
  ``source`` (the library's code in the notebooks);
* **methods**, one module per paper's method, each with the contract ``method(model, x, target,
  **options)``: ``deconvnet`` and ``occlusion`` (01), ``backprop`` and ``grabcut`` (02),
  ``pooling`` (03), ``lime`` (04), ``cam`` (05, 07), ``generalization`` (06), ``shapley`` (08),
  ``calibration`` (09), ``dissection`` and ``concepts`` (10), ``representations`` and
  ``similarity`` (11), and ``attribution``, the registry of the attribution methods;
* **evaluation and teaching**: ``localization``, ``faithfulness``, ``sanity``, ``explorers``,
  ``display`` (pictures of what the kernels compute), ``checks`` (exercise checks) and
  ``findings`` (each claim a notebook tests, with its control, interval and verdict).
"""
__version__ = "0.1.0"

LAYERS = {
    "foundation": ("config", "data", "io", "precision", "models", "pretrained", "train", "zoo",
                   "hooks", "validate", "maps", "batching", "canvas", "viz", "source"),
    "methods": ("deconvnet", "occlusion", "backprop", "grabcut", "pooling", "lime", "cam",
                "generalization", "shapley", "calibration", "dissection", "concepts",
                "representations", "similarity", "attribution"),
    "teaching": ("localization", "faithfulness", "sanity", "explorers", "display", "checks",
                 "findings"),
}
