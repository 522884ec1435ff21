"""What the benchmarks share (``benchmarks/common.py``): a row measured while other processes used
the machine is marked busy; the benchmark's own threads do not count."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("common", ROOT / "benchmarks" / "common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_others_load_subtracts_the_benchmarks_own_cpu(common):
    cores = os.cpu_count() or 1
    # one second of wall time: the machine was busy 1.5 CPU-seconds, 0.9 of them ours
    others = common.others_load_per_core((0.0, 100.0, 5.0), (1.0, 101.5, 5.9))
    assert others == pytest.approx(0.6 / cores)
    # only our own threads ran: idle for the note
    assert common.others_load_per_core((0.0, 100.0, 5.0), (1.0, 101.8, 6.8)) == 0.0
    assert common.busy_note.__doc__ and common.others_load_per_core((0.0, None, 0.0)) is None


def test_busy_note_marks_only_others(common, monkeypatch):
    monkeypatch.setattr(common, "cpu_snapshot", lambda: (1.0, 101.0, 6.0))   # all ours
    assert common.busy_note((0.0, 100.0, 5.0)) == ""
    busy_machine = (1.0, 100.0 + 2 * (os.cpu_count() or 1), 6.0)
    monkeypatch.setattr(common, "cpu_snapshot", lambda: busy_machine)
    assert "busy: others used" in common.busy_note((0.0, 100.0, 5.0))
