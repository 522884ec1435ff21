"""A localization benchmark the course makes itself: CIFAR-10 has no boxes, so we paste CIFAR-10
images (rescaled) at known places on larger canvases, over backgrounds made from scikit-image's
textures or from other CIFAR images, and keep the ground truth: a box and a mask per canvas.

Everything is deterministic: the same ``seed`` gives the same canvases, boxes and masks.
``benchmark_canvases`` gives the course's benchmark (a fixed seed per split, the test split
cached); the metrics that score attribution maps on it live in ``lecture_utils.localization``.
"""
from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from .config import cache_dir
from .data import cifar10_source, load_cifar10, load_texture
from .io import atomic_write

__all__ = ["BACKGROUNDS", "CANVAS_SIZE", "N_TEST", "SEEDS", "CanvasSet", "benchmark_canvases",
           "benchmark_sources", "box_masks", "held_out", "make_canvases", "texture_background"]

BACKGROUNDS = ("texture", "cifar", "mixed")
CANVAS_SIZE = 64
SEEDS = {"train": 1, "test": 2}      # the benchmark's canvases; never change them
N_TEST = 2000                        # test canvases (from CIFAR-10 test images)


@dataclass
class CanvasSet:
    """``images`` uint8 [N,3,S,S]; ``labels`` int64 [N] (class of the pasted image); ``boxes`` int64
    [N,4] as (x0, y0, x1, y1) with x1, y1 exclusive; ``masks`` bool [N,S,S] (True on the pasted
    image); ``source`` int64 [N] (index of the pasted image in the CIFAR split); ``background``
    int64 [N] (0 = texture, 1 = another CIFAR image, 2 = drawn by a function)."""

    images: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor
    masks: torch.Tensor
    source: torch.Tensor
    background: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx) -> "CanvasSet":
        return CanvasSet(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


_TEXTURE_CACHE: dict = {}


def _textures() -> list[np.ndarray]:
    if not _TEXTURE_CACHE:
        for name in ("brick", "grass", "gravel"):
            _TEXTURE_CACHE[name] = load_texture(name).numpy()
    return list(_TEXTURE_CACHE.values())


def texture_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random size x size crop of a scikit-image texture, tinted with a random colour: [3,S,S]."""
    tex = _textures()[rng.integers(3)]
    y, x = rng.integers(0, tex.shape[0] - size), rng.integers(0, tex.shape[1] - size)
    patch = tex[y:y + size, x:x + size].astype(np.float32) / 255.0
    tint = rng.uniform(0.35, 1.0, size=3).astype(np.float32)
    return np.clip(patch[None] * tint[:, None, None] * 255.0, 0, 255).astype(np.uint8)


def _resize(image: torch.Tensor, size: int) -> torch.Tensor:
    if image.shape[-1] == size:
        return image
    x = F.interpolate(image[None].float(), size=(size, size), mode="bilinear",
                      align_corners=False, antialias=True)[0]
    return x.round().clamp(0, 255).to(torch.uint8)


def _draw_sources(rng: np.random.Generator, m: int, n: int) -> torch.Tensor:
    """The first draw of a canvas generator: which of the ``m`` images the ``n`` canvases paste."""
    return torch.as_tensor(rng.choice(m, size=n, replace=n > m))


def make_canvases(images: torch.Tensor, labels: torch.Tensor, n: int, size: int = 64,
                  scale=(1.0, 1.5), background: str = "mixed", seed: int = 0) -> CanvasSet:
    """``n`` canvases of ``size`` x ``size``, each with one image of ``images`` [M,3,32,32] pasted
    at a
    random place, rescaled by a random factor in ``scale``.

    ``background``: ``"texture"`` (scikit-image's brick, grass, gravel, tinted), ``"cifar"``
    (another CIFAR image of a different class, blown up to the canvas), ``"mixed"`` (half each), or
    a function ``f(rng, size) -> uint8 [3,S,S]`` that draws each background from the generator
    (recorded as background kind 2; the concept scenes of ``lecture_utils.concepts`` use this).
    """
    custom = callable(background)
    if not custom and background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS} or a function, not "
                         f"{background!r}")
    if images.dim() != 4 or images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 [M,3,H,W], got {images.dtype} "
                         f"{tuple(images.shape)}")
    side = images.shape[-1]
    if int(round(side * scale[1])) > size:
        raise ValueError(f"a {side}px image scaled by {scale[1]} does not fit a {size}px canvas")
    rng = np.random.default_rng(seed)
    out = torch.empty(n, 3, size, size, dtype=torch.uint8)
    boxes = torch.empty(n, 4, dtype=torch.int64)
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    source = _draw_sources(rng, len(images), n)
    kinds = np.full(n, 2) if custom else {"texture": np.zeros(n, int), "cifar": np.ones(n, int),
                                          "mixed": rng.integers(0, 2, size=n)}[background]
    for i in range(n):
        if custom:
            out[i] = torch.as_tensor(background(rng, size), dtype=torch.uint8)
        elif kinds[i] == 0:
            out[i] = torch.from_numpy(texture_background(rng, size))
        else:   # another image, of another class, as clutter
            while True:
                j = int(rng.integers(len(images)))
                if labels[j] != labels[source[i]]:
                    break
            out[i] = _resize(images[j], size)
        s = int(round(side * rng.uniform(*scale)))
        x0, y0 = int(rng.integers(0, size - s + 1)), int(rng.integers(0, size - s + 1))
        out[i, :, y0:y0 + s, x0:x0 + s] = _resize(images[source[i]], s)
        boxes[i] = torch.tensor([x0, y0, x0 + s, y0 + s])
        masks[i, y0:y0 + s, x0:x0 + s] = True
    return CanvasSet(out, labels[source].clone(), boxes, masks, source,
                     torch.as_tensor(kinds, dtype=torch.int64))


def box_masks(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """bool [N, S, S]: True inside each box (x0, y0, x1, y1; x1, y1 exclusive)."""
    r = torch.arange(size)
    inside_y = (r >= boxes[:, 1, None]) & (r < boxes[:, 3, None])       # [N, S]
    inside_x = (r >= boxes[:, 0, None]) & (r < boxes[:, 2, None])
    return inside_y[:, :, None] & inside_x[:, None, :]


def benchmark_sources(split: str, n: int | None = None) -> torch.Tensor:
    """The CIFAR-10 indices of the images that ``benchmark_canvases(split, n)`` pastes, [n], without
    building the canvases: e.g. the training images that a fine-tuning on
    ``benchmark_canvases("train", n)`` saw, to hold other canvases out of it (``held_out``)."""
    if split not in SEEDS:
        raise ValueError(f"split must be one of {tuple(SEEDS)}, not {split!r}.")
    m = len(load_cifar10(split)[1])
    n = n or (N_TEST if split == "test" else m)
    return _draw_sources(np.random.default_rng(SEEDS[split]), m, n)


def held_out(canvases: CanvasSet, used) -> CanvasSet:
    """The canvases whose pasted image is not among ``used`` (indices into the same CIFAR split,
    e.g. ``benchmark_sources("train", n)`` of a fine-tuning set): canvases the network never saw
    the object of, to tune on without touching the test canvases."""
    keep = ~torch.isin(canvases.source, torch.as_tensor(used, dtype=canvases.source.dtype))
    if not keep.any():
        raise ValueError("every canvas pastes an image of `used`: nothing is held out; draw more "
                         "canvases (benchmark_canvases('train', n) with a larger n).")
    return canvases[keep]


def benchmark_canvases(split: str = "test", n: int | None = None,
                       size: int = CANVAS_SIZE) -> CanvasSet:
    """The benchmark's canvases: CIFAR-10 images of ``split`` pasted (scaled 1x to 1.5x) on
    ``size`` x ``size`` texture or CIFAR backgrounds, with a fixed seed per split.

    ``n`` defaults to ``N_TEST`` for the test split and to 50,000 for the training split; a
    different ``n`` gives a different draw (not a prefix): slice the set instead (``cs[:100]``).
    """
    if split not in SEEDS:
        raise ValueError(f"split must be one of {tuple(SEEDS)}, not {split!r}.")
    images, labels = load_cifar10(split)
    n = n or (N_TEST if split == "test" else len(labels))
    if split != "test":
        return make_canvases(images, labels, n, size=size, background="mixed", seed=SEEDS[split])
    # The test canvases serve several notebooks: cache them, keyed by everything they depend on
    # (the generator's source included, so that a change to it is never masked by the cache).
    generator = "".join(inspect.getsource(f) for f in (make_canvases, texture_background, _resize))
    key = hashlib.sha256(f"{split}-{n}-{size}-{SEEDS[split]}-{cifar10_source()}".encode() +
                         generator.encode()).hexdigest()[:16]
    path = cache_dir() / "canvases" / f"{split}-{n}-{size}-{key}.pt"
    if path.exists():
        try:
            d = torch.load(path, weights_only=True)
            return CanvasSet(d["images"], d["labels"], d["boxes"], box_masks(d["boxes"], size),
                             d["source"], d["background"])
        except Exception:           # unreadable: build it again
            pass
    cs = make_canvases(images, labels, n, size=size, background="mixed", seed=SEEDS[split])
    atomic_write(path, lambda tmp: torch.save({k: getattr(cs, k) for k in (
        "images", "labels", "boxes", "source", "background")}, tmp))
    return cs
