"""A concept dataset the course makes itself, for network dissection (Bau et al. 2020).

Broden, the dataset of Bau et al., labels every pixel of 63,000 images with objects, parts,
materials and colours. We cannot ship it, so we compose scenes whose per-pixel labels we know:

* **materials**: the background is split into one to three regions (a Voronoi partition of the
  canvas), each filled with a crop of a *material image*: scikit-image's textures (brick, grass,
  gravel, tinted with a random colour) and crops of scikit-image's photos chosen to hold one
  material (the cat's fur, the coffee table's wood, the sky over the rocket, the Hubble deep
  field's stars, the immunohistochemistry slide's tissue, the astronaut's suit fabric);
* **objects**: one CIFAR-10 image pasted at a known place (``lecture_utils.canvas``); its mask is
  the pasted square, so "object" means the CIFAR image with its own small background;
* **parts**: the top and the bottom half of the pasted object (a coarse stand-in for Broden's
  "person-top", "tree-bottom");
* **colours**: every pixel named by the nearest of the eleven basic colour terms of Berlin & Kay in
  the perceptually uniform CIELAB space (``skimage.color.rgb2lab``; Broden uses a learned
  colour-naming model for the same eleven names).

Each concept c gives a binary mask s_c(x, p) per image x and pixel p (``ConceptSet.masks``).
Everything is deterministic: the same ``seed`` gives the same scenes and masks.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import cv2
import numpy as np
import torch
from skimage.color import rgb2lab

from . import canvas
from .data import CIFAR10_CLASSES, load_photo, load_texture
from .validate import check_int, check_number

__all__ = ["CATEGORIES", "MATERIALS", "COLORS", "PARTS", "concept_names", "ConceptSet",
           "material_patch", "material_layout", "color_prototypes_lab", "color_names",
           "make_concept_set", "show_concept_set"]

CATEGORIES = ("object", "part", "material", "color")

# name -> (kind, source, regions as (y0, y1, x0, x1) in the source's pixels; None = all of it)
MATERIALS = {
    "brick": ("texture", "brick", None),
    "grass": ("texture", "grass", None),
    "gravel": ("texture", "gravel", None),
    "fur": ("photo", "chelsea", [(0, 90, 130, 340), (190, 300, 0, 130)]),
    "wood": ("photo", "coffee", [(0, 110, 0, 160), (0, 130, 480, 600)]),
    "sky": ("photo", "rocket", [(0, 180, 75, 215), (0, 200, 400, 520)]),
    "stars": ("photo", "hubble_deep_field", None),
    "tissue": ("photo", "immunohistochemistry", None),
    "fabric": ("photo", "astronaut", [(290, 500, 25, 135)]),
}

# Berlin & Kay's eleven basic colour terms, each as one sRGB prototype (named in CIELAB).
COLORS = {
    "black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128),
    "red": (200, 30, 30), "orange": (240, 130, 20), "yellow": (240, 220, 40),
    "green": (50, 150, 50), "blue": (40, 80, 200), "purple": (130, 50, 160),
    "pink": (240, 140, 190), "brown": (125, 75, 35),
}

PARTS = ("top", "bottom")


def concept_names(classes=CIFAR10_CLASSES) -> list[tuple[str, str]]:
    """Every concept as ``(category, name)``, in the order of ``ConceptSet.masks``'s dim 1."""
    return ([("object", c) for c in classes]
            + [("part", f"{c}-{p}") for c in classes for p in PARTS]
            + [("material", m) for m in MATERIALS]
            + [("color", c) for c in COLORS])


@dataclass
class ConceptSet:
    """Scenes and their per-pixel concept labels.

    ``images`` uint8 [N,3,S,S]; ``objects`` int8 [N,S,S] (the CIFAR class pasted at p, -1 where
    none); ``parts`` int8 [N,S,S] (2 * class + 0 for the object's top half, + 1 for its bottom
    half, -1 elsewhere); ``materials`` int8 [N,S,S] (index into ``MATERIALS``, -1 where the object
    covers the background); ``colors`` int8 [N,S,S] (index into ``COLORS``, every pixel);
    ``labels`` int64 [N] (class of the pasted image), ``boxes`` int64 [N,4] (x0, y0, x1, y1, x1
    and y1 exclusive), ``source`` int64 [N] (index of the pasted image in its CIFAR split).
    """

    images: torch.Tensor
    objects: torch.Tensor
    parts: torch.Tensor
    materials: torch.Tensor
    colors: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor
    source: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx) -> "ConceptSet":
        """A subset of the scenes (a slice, indices or a mask); an int gives a set of one."""
        if isinstance(idx, (int, np.integer)):
            i = check_int(idx, "index")
            if not -len(self) <= i < len(self):
                raise IndexError(f"scene {i} does not exist: the set has {len(self)} scenes.")
            idx = slice(i % len(self), i % len(self) + 1)
        return ConceptSet(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @property
    def concepts(self) -> list[tuple[str, str]]:
        """``(category, name)`` of each concept c, in the order of ``masks``."""
        return concept_names()

    @property
    def material_names(self) -> list[str]:
        """The names of the values of ``materials`` (0, 1, ...)."""
        return list(MATERIALS)

    @property
    def color_table(self) -> dict[str, tuple[int, int, int]]:
        """Colour name -> its sRGB prototype, in the order of the values of ``colors``."""
        return dict(COLORS)

    def label_maps(self) -> list[tuple[torch.Tensor, int]]:
        """Per category, its label map [N,S,S] and its number of concepts (mask order)."""
        k = len(CIFAR10_CLASSES)
        return [(self.objects, k), (self.parts, k * len(PARTS)),
                (self.materials, len(MATERIALS)), (self.colors, len(COLORS))]

    def masks(self) -> torch.Tensor:
        """s_c(x, p) for every concept c: bool [N, C, S, S] (one-hot within each category)."""
        out = []
        for labels, k in self.label_maps():
            out.append(labels.long()[:, None] == torch.arange(k).view(1, k, 1, 1))
        return torch.cat(out, dim=1)


# --------------------------------------------------------------------------------------------
# Materials
# --------------------------------------------------------------------------------------------
_SOURCES: dict = {}


def _material_source(name: str) -> tuple[np.ndarray, bool]:
    """The material's source image as float32 [H,W,3] in [0,1], and whether it is grey (tinted)."""
    if name not in _SOURCES:
        kind, src, _ = MATERIALS[name]
        if kind == "texture":
            img = np.repeat(load_texture(src).numpy()[..., None], 3, axis=2)
        else:
            img = load_photo(src).numpy().transpose(1, 2, 0)
        _SOURCES[name] = (np.ascontiguousarray(img, dtype=np.float32) / 255.0, kind == "texture")
    return _SOURCES[name]


def material_patch(rng: np.random.Generator, name: str, size: int) -> np.ndarray:
    """A random ``size`` x ``size`` crop of material ``name``: uint8 [3,S,S].

    The crop is taken inside one of the material's regions at a random scale (1 to 2.5 times the
    patch, shrunk with OpenCV's area interpolation), flipped at random; grey textures get a random
    colour tint.
    """
    if name not in MATERIALS:
        raise ValueError(f"Unknown material {name!r}; the concept set has {list(MATERIALS)}.")
    size = check_int(size, "size", minimum=1)
    img, grey = _material_source(name)
    regions = MATERIALS[name][2] or [(0, img.shape[0], 0, img.shape[1])]
    y0, y1, x0, x1 = regions[rng.integers(len(regions))]
    side = int(min(y1 - y0, x1 - x0, round(size * rng.uniform(1.0, 2.5))))
    y = int(rng.integers(y0, y1 - side + 1))
    x = int(rng.integers(x0, x1 - side + 1))
    crop = img[y:y + side, x:x + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=cv2.INTER_AREA)
    if grey:
        crop = crop * rng.uniform(0.35, 1.0, size=3).astype(np.float32)
    return np.clip(np.rint(crop * 255.0), 0, 255).astype(np.uint8).transpose(2, 0, 1)


def material_layout(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A background of one to three materials in the cells of a random Voronoi partition.

    Returns the image uint8 [3,S,S] and the material index of each pixel int8 [S,S].
    """
    k = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
    names = list(MATERIALS)
    chosen = rng.choice(len(names), size=k, replace=False)
    seeds = rng.uniform(0, size, size=(k, 2))
    yy, xx = np.mgrid[0:size, 0:size]
    dist = (yy[None] - seeds[:, 0, None, None]) ** 2 + (xx[None] - seeds[:, 1, None, None]) ** 2
    cell = dist.argmin(0)
    image = np.empty((3, size, size), np.uint8)
    label = np.empty((size, size), np.int8)
    for j, m in enumerate(chosen):
        where = cell == j
        image[:, where] = material_patch(rng, names[m], size)[:, where]
        label[where] = m
    return image, label


# --------------------------------------------------------------------------------------------
# Colours
# --------------------------------------------------------------------------------------------
def color_prototypes_lab() -> np.ndarray:
    """The eleven colour prototypes of ``COLORS`` in CIELAB: [11, 3]."""
    rgb = np.array(list(COLORS.values()), np.float64)[None] / 255.0
    return rgb2lab(rgb)[0]


def color_names(images: torch.Tensor) -> torch.Tensor:
    """Name the colour of every pixel: uint8 images [N,3,H,W] -> int8 [N,H,W] (index into
    ``COLORS``): the prototype nearest in CIELAB (Euclidean distance, i.e. Delta E 1976)."""
    if images.dim() != 4 or images.shape[1] != 3 or images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 [N,3,H,W], got {images.dtype} "
                         f"{tuple(images.shape)}")
    protos = color_prototypes_lab().astype(np.float32)                                # [11, 3]
    out = np.empty((images.shape[0],) + tuple(images.shape[2:]), np.int8)
    for i in range(0, len(images), 256):                       # in chunks: bounded memory
        rgb = images[i:i + 256].permute(0, 2, 3, 1).numpy().astype(np.float32) / 255.0
        lab = rgb2lab(rgb).astype(np.float32)                                          # [n,H,W,3]
        dist = (lab ** 2).sum(-1, keepdims=True) - 2 * lab @ protos.T + (protos ** 2).sum(-1)
        out[i:i + 256] = dist.argmin(-1)                                               # [n,H,W]
    return torch.from_numpy(out)


# --------------------------------------------------------------------------------------------
# The scenes
# --------------------------------------------------------------------------------------------
def make_concept_set(images: torch.Tensor, labels: torch.Tensor, n: int, *, size: int = 64,
                     scale=(0.75, 1.25), seed: int = 0) -> ConceptSet:
    """``n`` scenes of ``size`` x ``size``: a material layout (``material_layout``) with one image
    of ``images`` uint8 [M,3,32,32] pasted at a random place and scale (``canvas.make_canvases``),
    and the per-pixel labels of every concept (see ``ConceptSet``). Takes a second for 1,000."""
    n = check_int(n, "n (the number of scenes)", minimum=1)
    size = check_int(size, "size", minimum=2)
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4 \
            or images.shape[1] != 3 or len(images) == 0:
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) \
            else type(images).__name__
        raise ValueError(f"images must be uint8 [M, 3, H, W] with M >= 1 (as data.load_cifar10 "
                         f"returns), got {got}.")
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or len(labels) != len(images) or labels.is_floating_point():
        raise ValueError(f"labels must be integer class indices [M] = [{len(images)}], got "
                         f"{labels.dtype} {tuple(labels.shape)}.")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CIFAR10_CLASSES)):
        raise IndexError(f"labels must be CIFAR-10 classes 0..{len(CIFAR10_CLASSES) - 1}, got "
                         f"{int(labels.min())}..{int(labels.max())}.")
    try:
        lo, hi = (check_number(s, "scale", low=0, low_open=True) for s in scale)
    except (TypeError, ValueError) as err:
        raise type(err)(f"scale must be a pair (smallest, largest) of positive factors: {err}") \
            from None
    if lo > hi:
        raise ValueError(f"scale {tuple(scale)} is reversed: pass (smallest, largest).")
    layouts: list[np.ndarray] = []

    def background(rng, side):
        image, label = material_layout(rng, side)
        layouts.append(label)
        return image

    scenes = canvas.make_canvases(images, labels, n, size=size, scale=scale,
                                  background=background, seed=seed)
    objects = torch.full((n, size, size), -1, dtype=torch.int8)
    parts = torch.full((n, size, size), -1, dtype=torch.int8)
    materials = torch.from_numpy(np.stack(layouts))
    for i in range(n):
        x0, y0, x1, y1 = scenes.boxes[i].tolist()
        c = int(scenes.labels[i])
        objects[i, y0:y1, x0:x1] = c
        mid = (y0 + y1) // 2
        parts[i, y0:mid, x0:x1] = 2 * c
        parts[i, mid:y1, x0:x1] = 2 * c + 1
    materials[scenes.masks] = -1
    return ConceptSet(scenes.images, objects, parts, materials, color_names(scenes.images),
                      scenes.labels, scenes.boxes, scenes.source)


# --------------------------------------------------------------------------------------------
# Drawing lives in ``viz.show_concept_set``; this name stays for one release
# --------------------------------------------------------------------------------------------
def show_concept_set(cs: ConceptSet, n: int = 6, size: float = 2.2):
    """Deprecated: ``viz.show_concept_set(cs, n=n, size=size)``."""
    import warnings

    from . import viz
    warnings.warn("concepts.show_concept_set is deprecated: use viz.show_concept_set.",
                  DeprecationWarning, stacklevel=2)
    return viz.show_concept_set(cs, n=n, size=size)
