"""Kernels of the "Visualizing & Understanding" lecture suite, one module per idea.

Foundation: ``config`` (device, profile, seeds), ``data`` (CIFAR-10, 20 Newsgroups, digits,
scikit-image photos, the on-device loader), ``models``, ``train``, ``zoo`` (trained checkpoints),
``viz`` (figures), ``hooks`` (backward rules, activation capture), ``canvas`` (the localization
benchmark's images), ``checks`` (exercise checks).
"""
__version__ = "0.1.0"
