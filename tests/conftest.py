"""Shared fixtures. Tests run in the quick profile on the CPU (``make test`` sets
LECTURE_PROFILE)."""
from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("LECTURE_PROFILE", "quick")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_collection_modifyitems(config, items):
    # Notebooks (nbval) run after the unit tests, in lecture order.
    items.sort(key=lambda it: (str(it.fspath).endswith(".ipynb"), str(it.fspath)))


@pytest.fixture
def isolated_paths(tmp_path, monkeypatch):
    """Empty data and cache folders, and no downloads: for tests of the loaders' error paths."""
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    monkeypatch.setenv("LECTURE_DATA", str(data))
    monkeypatch.setenv("LECTURE_CACHE", str(cache))
    monkeypatch.setenv("LECTURE_OFFLINE", "1")
    return data, cache


@pytest.fixture(scope="session")
def cifar_test():
    """The real CIFAR-10 test split (the course's data; CI points LECTURE_DATA at it)."""
    from lecture_utils.data import load_cifar10
    return load_cifar10("test")


@pytest.fixture(scope="module")
def net():
    """A tiny ResNet-GAP with fixed random weights (one per test module: tests may change it)."""
    torch.manual_seed(0)
    from lecture_utils import models
    return models.resnet_gap(width=4, blocks=(1, 1, 1)).eval()
