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
