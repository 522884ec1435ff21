"""Where the course runs and at what scale.

Three profiles pick every size in the suite (images, epochs, samples). The same code runs in all
three; only the numbers change:

* ``quick``  - CI on a 2-core CPU: seconds per notebook, checks that the code runs end to end.
* ``laptop`` - a student's CPU: minutes per notebook, results that still mean something.
* ``full``   - a GPU: the scale at which the papers' findings should show.

Choose with the environment variable ``LECTURE_PROFILE``; the default is ``full`` on a GPU with
compute capability 8.0 or more (A100, H100, RTX 30xx and newer), and ``laptop`` elsewhere: on a CPU,
on Apple MPS, and on older GPUs such as Colab's free T4 (sm 7.5), where the full profile would take
hours and the laptop profile takes minutes per notebook. ``LECTURE_DEVICE`` overrides the device
(``cpu``, ``cuda``, ``mps``).
``LECTURE_DATA`` is where datasets are looked for (never written to) and ``LECTURE_CACHE`` where
decoded data and trained checkpoints go.
"""
from __future__ import annotations

import ctypes
import os
import platform
import random
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

PROFILES = ("quick", "laptop", "full")
REPO_ROOT = Path(__file__).resolve().parent.parent


def _has_mps() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device() -> torch.device:
    """CUDA, then Apple MPS, then CPU; ``LECTURE_DEVICE`` overrides the choice."""
    name = os.environ.get("LECTURE_DEVICE", "").strip().lower()
    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"LECTURE_DEVICE={name!r} but PyTorch sees no CUDA GPU; "
                               "unset LECTURE_DEVICE or set it to 'cpu'.")
        if name == "mps" and not _has_mps():
            raise RuntimeError("LECTURE_DEVICE='mps' but Apple MPS is not available; use 'cpu'.")
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _has_mps():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass(frozen=True)
class Profile:
    """The scale the course runs at. Notebooks read their sizes from here (see ``choose``).

    ``train_subset``/``eval_subset`` are the numbers of CIFAR-10 images a notebook trains or
    evaluates on when it does so itself (``None`` = all); ``batch_size`` the usual batch.
    """

    name: str
    train_subset: int | None
    eval_subset: int | None
    n_show: int
    batch_size: int
    extra: dict = field(default_factory=dict)

    @property
    def rank(self) -> int:
        """quick < laptop < full: a checkpoint trained at a higher rank serves lower ones."""
        return PROFILES.index(self.name)

    def choose(self, quick, laptop, full):
        """Pick the value for this profile; writing all three keeps every scale visible.

        >>> get_profile("quick").choose(quick=64, laptop=1000, full=10000)
        64
        """
        return {"quick": quick, "laptop": laptop, "full": full}[self.name]

    def __str__(self) -> str:
        return f"{self.name} profile"


_PROFILES = {
    "quick": Profile("quick", train_subset=2_000, eval_subset=500, n_show=4, batch_size=128),
    "laptop": Profile("laptop", train_subset=10_000, eval_subset=2_000, n_show=8, batch_size=256),
    "full": Profile("full", train_subset=None, eval_subset=None, n_show=8, batch_size=512),
}


def default_profile_name(device: torch.device | None = None) -> str:
    """``full`` on a CUDA GPU of compute capability >= 8.0, ``laptop`` anywhere else."""
    device = device or get_device()
    if device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 8:
        return "full"
    return "laptop"


def get_profile(name: str | None = None) -> Profile:
    """The profile named, else ``LECTURE_PROFILE``, else ``default_profile_name()``."""
    name = name or os.environ.get("LECTURE_PROFILE", "").strip().lower()
    if not name:
        name = default_profile_name()
    if name not in _PROFILES:
        raise ValueError(f"Unknown profile {name!r}: LECTURE_PROFILE must be one of {PROFILES}.")
    return _PROFILES[name]


def data_dir() -> Path:
    """Where datasets are looked for (``LECTURE_DATA``, default ``data/``); read-only is fine."""
    return Path(os.environ.get("LECTURE_DATA", REPO_ROOT / "data")).expanduser()


def cache_dir() -> Path:
    """Where decoded data and trained checkpoints are written (``LECTURE_CACHE``)."""
    path = Path(os.environ.get("LECTURE_CACHE", REPO_ROOT / "data" / "cache")).expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"LECTURE_CACHE={str(path)!r} is a file, not a folder: point it "
                                 "at a folder (it is created if missing) or unset it.")
    path.mkdir(parents=True, exist_ok=True)
    return path


def env_flag(name: str, default: bool = False) -> bool:
    """A yes/no environment variable: ``1``/``true``/``yes`` or ``0``/``false``/``no`` (any case);
    ``default`` when it is unset or says neither."""
    value = os.environ.get(name, "").strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    return default


_MALLOC_KEPT: bool | None = None


def keep_freed_memory() -> bool:
    """Let the C allocator keep the memory that tensors free, for the next ones to reuse.

    On Linux, glibc's ``malloc`` serves each allocation above its mmap threshold (32 MiB at
    most) with a fresh ``mmap`` and unmaps it on free, so the next allocation is faulted in again,
    zeroed, one 4 KiB page at a time. A training step on the CPU allocates such tensors by the dozen
    (the laptop VGG at batch 512: about 320,000 page faults, 0.9 s of system time in a 2 s step).
    ``mallopt(M_MMAP_MAX, 0)`` and a high ``M_TRIM_THRESHOLD`` make ``malloc`` reuse freed blocks
    instead: the step is 1.4x faster, and the process keeps its peak memory until it exits
    (benchmarks/results/train_speed.md). ``train.fit`` and ``train.predict_logits`` call this on a
    CPU. Applied once per process, on Linux with glibc only, unless ``LECTURE_KEEP_FREED_MEMORY=0``;
    returns whether it is in effect.
    """
    global _MALLOC_KEPT
    if _MALLOC_KEPT is None:
        _MALLOC_KEPT = False
        glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
        if glibc and env_flag("LECTURE_KEEP_FREED_MEMORY", default=True):
            try:
                libc = ctypes.CDLL("libc.so.6")
                m_trim_threshold, m_mmap_max = -1, -4          # <malloc.h>
                _MALLOC_KEPT = bool(libc.mallopt(m_mmap_max, 0)
                                    and libc.mallopt(m_trim_threshold, 2**31 - 1))
            except (OSError, AttributeError):
                pass
    return _MALLOC_KEPT


@contextmanager
def seeded(seed: int):
    """Draw from torch's CPU generator seeded with ``seed`` inside the block, and give the global
    generator back as it was afterwards (a fixed random network, whatever was drawn before)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def seed_everything(seed: int = 0, deterministic: bool = False) -> int:
    """Seed Python, NumPy and PyTorch (all devices). Returns the seed for printing."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA and MPS
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    return seed


def device_name(device: torch.device | str | None = None, *, detail: bool = False) -> str:
    """The device in words: the GPU's name ("NVIDIA H200"), or ``cpu`` (with ``detail``: the
    processor and the number of threads torch uses, "cpu (x86_64, 2 threads)")."""
    dev = torch.device(device) if device is not None else get_device()
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    if detail and dev.type == "cpu":
        n = torch.get_num_threads()
        return f"cpu ({platform.processor() or platform.machine()}, {n} thread{'s' * (n != 1)})"
    return dev.type


def describe() -> str:
    """One line for the top of every notebook: device, profile and versions."""
    return (f"device: {device_name()} | profile: {get_profile().name} | "
            f"torch {torch.__version__} | threads: {torch.get_num_threads()}")
