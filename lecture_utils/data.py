"""Real data, offline by default.

* CIFAR-10 (``load_cifar10``): from the JPEG archive ``cifar10-jpeg.tar.gz`` (sha256 checked,
  decoded once into the cache), else torchvision's ``cifar-10-batches-py`` folder (each file's md5
  checked against torchvision's list *before* it is read, and read with an unpickler that builds
  only lists, dicts and NumPy arrays), else torchvision's download when the network is there, else
  a clear error saying which files to put where. Cache files carry a sha256 beside them: a file
  the loader did not write is rebuilt, never used.
* 20 Newsgroups (``load_newsgroups``): from ``20news-bydate.tar.gz`` (same discipline) or
  scikit-learn's download.
* Data that ships inside packages: scikit-learn's digits, scikit-image's photos and textures.
* ``DeviceLoader``: batches kept on the device, with the standard CIFAR augmentations done there.

Datasets are looked for in ``config.data_dir()`` (never written to) and cached in
``config.cache_dir()``. Set ``LECTURE_OFFLINE=1`` to forbid any download attempt.
"""
from __future__ import annotations

import io
import pickle
import tarfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .config import cache_dir, data_dir, env_flag
from .io import load_arrays, remove_stale_tmp, save_arrays, sha256_file

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_SIZES = {"train": 50_000, "test": 10_000}

CIFAR10_JPEG = "cifar10-jpeg.tar.gz"
CIFAR10_JPEG_SHA256 = "cb6c50520509605d4bd1856cb7eaba797dabcec3c19d93ce945b0ec1aee34a5f"
NEWSGROUPS = "20news-bydate.tar.gz"
NEWSGROUPS_SHA256 = "128e472dec96de3ef00d6216b3139c30a3f4d92e535184900efc2268e6bcdb05"
SHUFFLE_SEED = 0  # the JPEG archive is grouped by class: we store a fixed shuffle of each split


class DataNotFoundError(FileNotFoundError):
    """A dataset could not be found offline and could not be downloaded."""


class ChecksumError(ValueError):
    """An archive's sha256 does not match the published one."""


def offline() -> bool:
    return env_flag("LECTURE_OFFLINE")


def verify_sha256(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(f"{path} has sha256 {actual}, expected {expected}: the file is corrupt "
                            "or a different version. Delete it and copy it again "
                            "(see shared/data/SHA256SUMS).")


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------
def _cache_path(source: str, split: str) -> Path:
    return cache_dir() / f"cifar10-{source}-{split}.npz"


def _read_cache(source: str, split: str):
    path = _cache_path(source, split)
    if not path.exists():
        return None
    try:
        arrays = load_arrays(path)
        images, labels = arrays["images"], arrays["labels"]
        n = CIFAR10_SIZES[split]
        ok = (images.shape == (n, 3, 32, 32) and images.dtype == np.uint8
              and labels.shape == (n,) and labels.min() >= 0 and labels.max() <= 9)
        if not ok:
            raise ValueError(f"unexpected shapes {images.shape} {labels.shape}")
    except Exception as err:  # truncated, foreign or tampered with: rebuild it
        warnings.warn(f"Cached CIFAR-10 file {path} is corrupt or not the course's ({err}); "
                      "rebuilding it.")
        path.unlink(missing_ok=True)
        return None
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def _write_cache(source: str, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    order = np.random.default_rng(SHUFFLE_SEED).permutation(len(labels))
    save_arrays(_cache_path(source, split), images=np.ascontiguousarray(images[order]),
                labels=labels[order].astype(np.int64))


def _decode_jpeg_archive(path: Path) -> None:
    """Decode all 60,000 JPEGs of the archive (about 10 s) into one cache file per split."""
    from PIL import Image
    verify_sha256(path, CIFAR10_JPEG_SHA256)
    out = {s: ([], []) for s in CIFAR10_SIZES}
    with tarfile.open(path) as tar:
        for member in tar:
            parts = member.name.split("/")
            if not (member.isfile() and member.name.endswith(".jpg") and len(parts) >= 3):
                continue
            split, cls = parts[-3], parts[-2]
            image = Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB")
            out[split][0].append(np.asarray(image).transpose(2, 0, 1))
            out[split][1].append(CIFAR10_CLASSES.index(cls))
    for split, (images, labels) in out.items():
        if len(labels) != CIFAR10_SIZES[split]:
            raise ChecksumError(f"{path}: found {len(labels)} {split} images, expected "
                                f"{CIFAR10_SIZES[split]}; the archive is incomplete.")
        _write_cache("jpeg", split, np.stack(images), np.array(labels))


# torchvision's published md5 of each file of ``cifar-10-batches-py`` (torchvision.datasets.CIFAR10)
CIFAR10_BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
_BATCH_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Builds dicts, lists, bytes, numbers and NumPy arrays, nothing else: a pickle that names any
    other callable (``os.system``, ...) is refused before it runs."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"),
                ("_codecs", "encode")}     # how protocol 2 spells bytes; builds only bytes

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to build {module}.{name} from a CIFAR-10 "
                                         "batch file: it is not plain data.")
        return super().find_class(module, name)


def _md5(path: Path) -> str:
    import hashlib
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _decode_batches(folder: Path) -> None:
    """torchvision's/Krizhevsky's python batches -> cache, after checking every file's md5."""
    for name, md5 in CIFAR10_BATCH_MD5.items():
        actual = _md5(folder / name)
        if actual != md5:
            raise ChecksumError(f"{folder / name} has md5 {actual}, not torchvision's {md5}: it is "
                                "not the CIFAR-10 file and will not be read. Delete the folder, "
                                f"or use the archive {CIFAR10_JPEG} instead.")
    for split, names in _BATCH_FILES.items():
        images, labels = [], []
        for name in names:
            with open(folder / name, "rb") as fh:
                batch = _ArraysOnlyUnpickler(fh, encoding="bytes").load()
            images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(batch[b"labels"])
        _write_cache("original", split, np.concatenate(images), np.array(labels))


def _download_cifar10() -> Path:
    import torchvision  # the canonical download; needs the network; torchvision checks its md5
    root = cache_dir()
    torchvision.datasets.CIFAR10(root=str(root), train=True, download=True)
    torchvision.datasets.CIFAR10(root=str(root), train=False, download=True)
    return root / "cifar-10-batches-py"


def _batch_folders() -> list[Path]:
    return [f for f in (data_dir() / "cifar-10-batches-py", cache_dir() / "cifar-10-batches-py")
            if (f / "test_batch").exists()]


def load_cifar10(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 as ``(images uint8 [N,3,32,32], labels int64 [N])``, in a fixed shuffled order.

    The first call decodes the dataset into the cache (seconds); later calls read the cache
    (well under a second). Sources, in order: the checksummed JPEG archive, torchvision's folder
    (md5-checked), torchvision's download.
    """
    if split not in CIFAR10_SIZES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    remove_stale_tmp(cache_dir())
    archive = data_dir() / CIFAR10_JPEG
    for source in ("jpeg", "original"):
        if source == "original" and archive.exists():
            break                     # the archive is there: never mix the two copies
        cached = _read_cache(source, split)
        if cached is not None:
            return cached
    if archive.exists():
        _decode_jpeg_archive(archive)
        return _read_cache("jpeg", split)
    for folder in _batch_folders():
        _decode_batches(folder)
        return _read_cache("original", split)
    if not offline():
        try:
            _decode_batches(_download_cifar10())
            return _read_cache("original", split)
        except Exception as err:  # no network, or the download failed part-way
            reason = f" (download failed: {type(err).__name__}: {err})"
    else:
        reason = " (LECTURE_OFFLINE is set, so no download was tried)"
    raise DataNotFoundError(
        f"CIFAR-10 not found{reason}. Put the archive '{CIFAR10_JPEG}' (or torchvision's folder "
        f"'cifar-10-batches-py') into {data_dir()}, or point LECTURE_DATA at the folder holding "
        "it (e.g. LECTURE_DATA=../shared/data); with a network, unset LECTURE_OFFLINE to download.")


def cifar10_source() -> str:
    """'jpeg' or 'original': which copy of CIFAR-10 the loaders use (load it first)."""
    if (data_dir() / CIFAR10_JPEG).exists() or _cache_path("jpeg", "test").exists():
        return "jpeg"
    return "original"


def subset(images: torch.Tensor, labels: torch.Tensor, n: int | None, seed: int = 0):
    """A class-balanced random subset of ``n`` examples (all of them when ``n`` is None)."""
    if n is None or n >= len(labels):
        return images, labels
    g = torch.Generator().manual_seed(seed)
    classes = labels.unique()
    per_class = [torch.nonzero(labels == c).flatten() for c in classes]
    per_class = [idx[torch.randperm(len(idx), generator=g)] for idx in per_class]
    k = n // len(classes)
    chosen = torch.cat([idx[:k] for idx in per_class] +
                       [torch.cat([idx[k:] for idx in per_class])[:n - k * len(classes)]])
    chosen = chosen[torch.randperm(len(chosen), generator=g)]
    return images[chosen], labels[chosen]


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [.., 3, H, W] in 0..255 -> float32 in [0, 1] (what every model of the course takes)."""
    return images.float().div(255.0)


# --------------------------------------------------------------------------------------------
# Data that ships with packages
# --------------------------------------------------------------------------------------------
def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits: ``(images float32 [1797, 1, 8, 8] in [0, 1], labels int64)``."""
    from sklearn.datasets import load_digits as sk_digits
    d = sk_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return x, torch.tensor(d.target, dtype=torch.int64)


PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")
TEXTURES = ("brick", "grass", "gravel")


def _skimage(name: str, allowed) -> np.ndarray:
    import skimage.data
    if name not in allowed:
        raise ValueError(f"Unknown image {name!r}; choose one of {allowed}.")
    return getattr(skimage.data, name)()


def load_photo(name: str) -> torch.Tensor:
    """A colour photo shipped with scikit-image as uint8 [3, H, W] (e.g. 'chelsea', a cat)."""
    image = _skimage(name, PHOTOS)[..., :3].transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(image))


def load_texture(name: str) -> torch.Tensor:
    """A grey-level texture shipped with scikit-image (brick, grass, gravel) as uint8 [H, W]."""
    return torch.from_numpy(np.ascontiguousarray(_skimage(name, TEXTURES)))


# --------------------------------------------------------------------------------------------
# 20 Newsgroups
# --------------------------------------------------------------------------------------------
def _read_newsgroups_archive(path: Path, split: str, categories) -> tuple[list[str], list[str]]:
    verify_sha256(path, NEWSGROUPS_SHA256)
    texts, groups = [], []
    prefix = f"20news-bydate-{split}/"
    with tarfile.open(path) as tar:
        for member in tar:
            if not (member.isfile() and member.name.startswith(prefix)):
                continue
            group = member.name.split("/")[1]
            if categories is None or group in categories:
                texts.append(tar.extractfile(member).read().decode("latin-1"))
                groups.append(group)
    return texts, groups


def load_newsgroups(split: str = "train", categories=None, remove=()):
    """20 Newsgroups "bydate": ``(texts list[str], labels int64 [N], names tuple[str])``.

    ``categories`` picks newsgroups (names are sorted, labels index into them); ``remove`` may hold
    'headers', 'footers', 'quotes', stripped with scikit-learn's own functions.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    archive = data_dir() / NEWSGROUPS
    if archive.exists():
        texts, groups = _read_newsgroups_archive(archive, split, categories)
        names = tuple(sorted(set(groups)))
        labels = [names.index(g) for g in groups]
    elif not offline():
        from sklearn.datasets import fetch_20newsgroups
        try:
            bunch = fetch_20newsgroups(data_home=str(cache_dir()), subset=split,
                                       categories=categories, shuffle=False)
        except Exception as err:
            raise DataNotFoundError(f"20 Newsgroups not found in {data_dir()} and the download "
                                    f"failed ({err}); put '{NEWSGROUPS}' there.") from err
        texts, labels, names = list(bunch.data), list(bunch.target), tuple(bunch.target_names)
    else:
        raise DataNotFoundError(f"20 Newsgroups not found: put '{NEWSGROUPS}' into {data_dir()} "
                                "(or point LECTURE_DATA at the folder holding it).")
    if categories is not None and set(categories) - set(names):
        raise ValueError(f"Unknown newsgroups {sorted(set(categories) - set(names))}.")
    from sklearn.datasets._twenty_newsgroups import (strip_newsgroup_footer,
                                                     strip_newsgroup_header,
                                                     strip_newsgroup_quoting)
    strip = {"headers": strip_newsgroup_header, "footers": strip_newsgroup_footer,
             "quotes": strip_newsgroup_quoting}
    for part in remove:
        texts = [strip[part](t) for t in texts]
    return texts, torch.tensor(labels, dtype=torch.int64), names


# --------------------------------------------------------------------------------------------
# Batches on the device
# --------------------------------------------------------------------------------------------
def crop_at(x: torch.Tensor, size: int, dy: torch.Tensor, dx: torch.Tensor,
            pad: int = 0) -> torch.Tensor:
    """The ``size`` x ``size`` crop of every image of x [N,C,H,W] (zero-padded by ``pad``) whose
    top-left corner is (dy[n], dx[n]) (int64 [N], on x's device)."""
    if pad:
        x = F.pad(x, (pad, pad, pad, pad))
    n = len(x)
    steps = torch.arange(size, device=x.device)
    rows, cols = dy[:, None] + steps, dx[:, None] + steps                  # [N, size]
    batch = torch.arange(n, device=x.device)[:, None, None]
    return x.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def random_crop(x: torch.Tensor, size: int, pad: int = 0, generator=None) -> torch.Tensor:
    """A different random ``size`` x ``size`` crop of every image of x [N,C,H,W] (zero padding).
    The offsets are drawn on the CPU (``generator``: a CPU generator) and sent to x's device."""
    n, _, h, w = x.shape
    dy = torch.randint(0, h + 2 * pad - size + 1, (n,), generator=generator)
    dx = torch.randint(0, w + 2 * pad - size + 1, (n,), generator=generator)
    return crop_at(x, size, dy.to(x.device), dx.to(x.device), pad)


def cutout_at(x: torch.Tensor, size: int, cy: torch.Tensor, cx: torch.Tensor,
              fill=CIFAR10_MEAN) -> torch.Tensor:
    """Cutout (DeVries & Taylor, 2017): every image of x [N,C,H,W] with the ``size`` x ``size``
    square centred at (cy[n], cx[n]) (int64 [N]; the square may reach past the border, as in the
    paper) set to ``fill``: the dataset mean, which is the paper's zero after normalisation."""
    h, w = x.shape[-2:]
    lo = size // 2
    ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    in_y = (ys[None] >= (cy - lo)[:, None]) & (ys[None] < (cy - lo + size)[:, None])   # [N, H]
    in_x = (xs[None] >= (cx - lo)[:, None]) & (xs[None] < (cx - lo + size)[:, None])   # [N, W]
    hole = (in_y[:, :, None] & in_x[:, None, :])[:, None]                              # [N,1,H,W]
    value = torch.as_tensor(fill, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return torch.where(hole, value, x)


def flip_where(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Images of x [N,C,H,W] flipped left-right where ``flip`` (bool [N], on x's device)."""
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_flip(x: torch.Tensor, generator=None) -> torch.Tensor:
    """Flip each image of x [N,C,H,W] left-right with probability 1/2 (drawn on the CPU)."""
    return flip_where(x, (torch.rand(len(x), generator=generator) < 0.5).to(x.device))


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
    return x[..., top:top + size, left:left + size]


class DeviceLoader:
    """Minibatches of a uint8 image tensor held on the device, augmented on the device.

    Yields ``(x float [B,3,S,S] in [0,1], y int64 [B])``. With ``augment=True``: random crop of
    size ``crop`` (default: the image size) from the image padded by ``pad`` pixels, a random
    left-right flip and, with ``cutout > 0``, a ``cutout`` x ``cutout`` square at a random place
    set to the mean (``cutout_at``); with ``augment=False`` and a ``crop``, the centre crop.
    """

    def __init__(self, images, labels, batch_size=512, shuffle=True, augment=False, pad=4,
                 crop=None, drop_last=False, device=None, seed=0, cutout=0):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"DeviceLoader wants uint8 images [N,C,H,W], got {images.dtype} "
                             f"{tuple(images.shape)}; use data.load_cifar10().")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels.")
        self.images = images.to(device)
        self.labels = labels.to(device)
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.pad, self.crop, self.drop_last = pad, crop or images.shape[-1], drop_last
        if cutout < 0 or cutout > self.crop:
            raise ValueError(f"cutout must be a square side between 0 (off) and the crop "
                             f"({self.crop}), not {cutout}.")
        self.cutout = int(cutout)
        # The epoch's randomness (order, crop offsets, flips) is drawn at once on the CPU and sent
        # with one copy per epoch: no host-device synchronisation per step, and the same batches
        # on every device for a seed.
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _draw_epoch(self) -> dict:
        n, g = len(self.labels), self.generator
        draws = {"order": torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)}
        if self.augment:
            h, w = self.images.shape[-2:]
            span_h, span_w = h + 2 * self.pad - self.crop + 1, w + 2 * self.pad - self.crop + 1
            draws["dy"] = torch.randint(0, span_h, (n,), generator=g)
            draws["dx"] = torch.randint(0, span_w, (n,), generator=g)
            draws["flip"] = torch.rand(n, generator=g) < 0.5
            if self.cutout:     # drawn only when used: other recipes' batches stay as they were
                draws["cy"] = torch.randint(0, self.crop, (n,), generator=g)
                draws["cx"] = torch.randint(0, self.crop, (n,), generator=g)
        device = self.images.device
        return {k: v.to(device, non_blocking=True) for k, v in draws.items()}

    def __iter__(self):
        draws = self._draw_epoch()
        for i in range(len(self)):
            part = slice(i * self.batch_size, (i + 1) * self.batch_size)
            idx = draws["order"][part]
            x = self.images[idx].float().div_(255.0)
            if self.augment:
                x = crop_at(x, self.crop, draws["dy"][part], draws["dx"][part], self.pad)
                x = flip_where(x, draws["flip"][part])
                if self.cutout:
                    x = cutout_at(x, self.cutout, draws["cy"][part], draws["cx"][part])
            elif self.crop != x.shape[-1]:
                x = center_crop(x, self.crop)
            yield x, self.labels[idx]
