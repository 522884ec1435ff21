import json
import os
import platform
import subprocess
import sys

import pytest
import torch

from lecture_utils import config


def test_profiles_and_choose(monkeypatch):
    for name in config.PROFILES:
        assert config.get_profile(name).name == name
    assert config.get_profile("quick").choose(quick=1, laptop=2, full=3) == 1
    assert config.get_profile("full").choose(quick=1, laptop=2, full=3) == 3
    monkeypatch.setenv("LECTURE_PROFILE", "laptop")
    assert config.get_profile().name == "laptop"
    assert (config.get_profile("quick").rank < config.get_profile("laptop").rank
            < config.get_profile("full").rank)


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("LECTURE_PROFILE", "huge")
    with pytest.raises(ValueError, match="LECTURE_PROFILE must be one of"):
        config.get_profile()


def test_default_profile_follows_the_device(monkeypatch):
    monkeypatch.delenv("LECTURE_PROFILE", raising=False)
    monkeypatch.setenv("LECTURE_DEVICE", "cpu")
    assert config.get_profile().name == "laptop"


def test_device_override(monkeypatch):
    monkeypatch.setenv("LECTURE_DEVICE", "cpu")
    assert config.get_device() == torch.device("cpu")
    if not torch.cuda.is_available():
        monkeypatch.setenv("LECTURE_DEVICE", "cuda")
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            config.get_device()


def test_seed_everything_repeats():
    config.seed_everything(3)
    a = torch.rand(3)
    config.seed_everything(3)
    assert torch.equal(a, torch.rand(3))


def test_paths_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LECTURE_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("LECTURE_CACHE", str(tmp_path / "c"))
    assert config.data_dir() == tmp_path / "d"
    assert config.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()
    assert "profile" in config.describe()


def test_env_flag(monkeypatch):
    for value, want in [("1", True), ("Yes", True), (" true ", True), ("0", False), ("no", False),
                        ("FALSE", False)]:
        monkeypatch.setenv("LECTURE_X", value)
        assert config.env_flag("LECTURE_X") is want and config.env_flag("LECTURE_X", True) is want
    for value in ("", "maybe"):
        monkeypatch.setenv("LECTURE_X", value)
        assert config.env_flag("LECTURE_X") is False and config.env_flag("LECTURE_X", True) is True
    monkeypatch.delenv("LECTURE_X")
    assert config.env_flag("LECTURE_X") is False


_FAULTS = """
import json, resource, torch
from lecture_utils import config
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(8):
        torch.empty(16 * 2**20).fill_(1.0)       # 64 MiB: above glibc's mmap threshold
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
plain = faults()
kept = config.keep_freed_memory()
faults()                                         # the heap grows to its working size once
print(json.dumps([plain, kept, faults(), config.keep_freed_memory()]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="the allocator setting is for Linux with glibc")
@pytest.mark.parametrize("setting", ["1", "0"])
def test_keep_freed_memory_reuses_large_blocks(setting):
    """Each 64 MiB tensor costs 16,384 page faults (4 KiB pages) with glibc's default malloc; once
    freed memory is kept, the heap grows to a working size once and then serves them without
    faults. ``LECTURE_KEEP_FREED_MEMORY=0`` leaves malloc as it was. (In a child process: the
    setting lasts for the process.)"""
    env = dict(os.environ, LECTURE_KEEP_FREED_MEMORY=setting)
    out = subprocess.run([sys.executable, "-c", _FAULTS], env=env, capture_output=True, text=True,
                         check=True).stdout
    plain, kept, after, again = json.loads(out.strip().splitlines()[-1])
    pages = 16 * 2**20 * 4 // 4096
    assert plain >= 8 * pages * 0.9                   # every tensor faulted in afresh
    assert kept is again is (setting == "1")           # applied once, reported each call
    if kept:
        assert after <= pages                         # reused: no tensor faulted in again
    else:
        assert after >= 8 * pages * 0.9
