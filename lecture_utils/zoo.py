"""The trained models the notebooks use: ``load_model(name)``.

Where a model comes from, in order:

1. ``data/models/<name>.pt``: a committed checkpoint (half precision, a few MB) listed in
   ``data/models/manifest.json`` with its sha256, recipe, test accuracy, training time, device and
   learning curves. It serves the profile it was trained for and every smaller one
   (a laptop checkpoint serves ``quick`` and ``laptop``, not ``full``).
2. ``<LECTURE_CACHE>/models/<name>-<profile>.pt``: one trained earlier on this machine.
3. Otherwise the model is trained now with the profile's recipe (``RECIPES``) and cached.

Checkpoints are written atomically and loaded with ``weights_only=True``; a checksum mismatch is
reported and the model retrained, never silently used.

Command line: ``python -m lecture_utils.zoo list | train NAME [--profile P] [--commit] | verify``.
"""
from __future__ import annotations

import argparse
import json
import os
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path

import torch
from torch import nn

from . import data as data_mod
from . import models
from .config import PROFILES, REPO_ROOT, cache_dir, env_flag, get_device, get_profile
from .io import atomic_write, remove_stale_tmp, sha256_file
from .precision import precision_for
from .train import History, TrainingStateError, evaluate, fit, kept_state

MODELS_DIR = REPO_ROOT / "data" / "models"
MANIFEST = MODELS_DIR / "manifest.json"


@dataclass(frozen=True)
class Recipe:
    """How to train one zoo model at one profile: the architecture and the arguments of ``fit``."""

    arch: str
    arch_kwargs: dict
    epochs: int
    lr: float = 0.2
    optimizer: str = "sgd"
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    batch_size: int = 256
    warmup: float = 0.15
    schedule: str = "linear"
    augment: bool = True
    crop: int | None = None
    cutout: int = 0                   # side of the Cutout square (DeVries & Taylor), 0: none
    tta: bool = False
    train_subset: int | None = None
    dataset: str = "cifar10"
    init_from: str | None = None      # fine-tune from another zoo model
    snapshots: tuple = ()             # epochs whose weights are kept too (features over training)
    seed: int = 0

    def fit_kwargs(self) -> dict:
        keep = ("epochs", "lr", "optimizer", "weight_decay", "label_smoothing", "batch_size",
                "warmup", "schedule", "augment", "crop", "cutout", "tta", "seed")
        return {k: getattr(self, k) for k in keep}


def _three(quick: Recipe, laptop: Recipe, full: Recipe) -> dict:
    return {"quick": quick, "laptop": laptop, "full": full}


def _scaled(base: Recipe, quick: dict, laptop: dict, full: dict) -> dict:
    """The same recipe at three scales: only sizes (width, epochs, data) change."""
    def at(changes):
        kw = dict(base.arch_kwargs, **changes.pop("arch_kwargs", {}))
        return replace(base, arch_kwargs=kw, **changes)
    return _three(at(dict(quick)), at(dict(laptop)), at(dict(full)))


_Q = dict(epochs=1, train_subset=2000, batch_size=128)   # quick: only when no checkpoint exists

# The laptop recipes are what the committed checkpoints were trained with (the manifest records
# the device and the time of each): networks small enough for the notebooks to run on a laptop's
# CPU, trained long enough for the papers' effects to show. Most were trained on a GPU; on the
# course's 2-core CPU in bf16 the same recipe takes hours (benchmarks/results/train_speed.md).
# A recipe whose next checkpoint is still being trained (over several sittings; `zoo list` shows
# the unfinished runs of data/models/training/) differs from its manifest record until it lands.
RECIPES: dict[str, dict[str, Recipe]] = {
    # ResNet with a GAP + linear head: CAM, Grad-CAM, calibration ("a modern network": batch norm,
    # little weight decay, no label smoothing, as Guo et al.'s ResNets), CKA against the ViT.
    "resnet_gap": _scaled(Recipe("resnet_gap", {"width": 64}, epochs=160, lr=0.4,
                                 weight_decay=2.5e-4, batch_size=512, cutout=16),
                          dict(_Q, arch_kwargs={"width": 8, "blocks": (1, 1, 1)}),
                          dict(arch_kwargs={"width": 32}),
                          dict()),
    # VGG-style net with max-pooling: deconvnet (switches), Grad-CAM without GAP, dissection.
    "vgg": _scaled(Recipe("vgg", {"width": 64}, epochs=200, lr=0.2, batch_size=512,
                          label_smoothing=0.1, cutout=16, snapshots=(1, 2, 5)),
                   dict(_Q, arch_kwargs={"width": 8}, snapshots=()),
                   dict(arch_kwargs={"width": 32}),
                   dict()),
    # The Model C family of Springenberg et al., with augmentation; All-CNN-C also without.
    **{v: _scaled(Recipe("model_c", {"variant": v, "width": 1.0}, epochs=50, lr=0.2,
                         batch_size=512, label_smoothing=0.1),
                  dict(_Q, arch_kwargs={"width": 0.125}),
                  dict(arch_kwargs={"width": 0.5}),
                  dict())
       for v in models.MODEL_C_VARIANTS},
    "all_cnn_c_noaug": _scaled(Recipe("model_c", {"variant": "all_cnn_c", "width": 1.0},
                                      epochs=50, lr=0.2, batch_size=512, label_smoothing=0.1,
                                      augment=False),
                               dict(_Q, arch_kwargs={"width": 0.125}),
                               dict(arch_kwargs={"width": 0.5}),
                               dict()),
    # A small ViT (patch 4: 64 tokens) for Raghu et al.
    "vit": _scaled(Recipe("vit", {"dim": 192, "depth": 6, "heads": 3}, epochs=100, lr=1e-3,
                          optimizer="adamw", weight_decay=0.05, label_smoothing=0.1,
                          schedule="cosine", warmup=0.1),
                   dict(_Q, arch_kwargs={"dim": 32, "depth": 2, "heads": 2}),
                   dict(arch_kwargs={"dim": 128, "heads": 4}),
                   dict(batch_size=512)),
    # LeNet-5: the small network that Guo et al. find well calibrated.
    "lenet": _scaled(Recipe("lenet", {}, epochs=40, lr=0.05, weight_decay=5e-4),
                     dict(_Q), dict(), dict()),
}

# ResNet-GAP fine-tuned on 64x64 canvases (the localization benchmark of notebooks 5 and 7): the
# CIFAR-10 resnet_gap learns to classify the pasted image and ignore the clutter around it. It
# keeps the architecture of the resnet_gap checkpoint it starts from (see train_model).
RECIPES["resnet_gap_canvas"] = _scaled(
    Recipe("resnet_gap", {"width": 64}, epochs=8, lr=0.05, weight_decay=2.5e-4, warmup=0.1,
           batch_size=512, dataset="canvas64", init_from="resnet_gap"),
    dict(epochs=1, train_subset=1000, batch_size=128,
         arch_kwargs={"width": 8, "blocks": (1, 1, 1)}),
    dict(epochs=4, train_subset=8000, batch_size=128, arch_kwargs={"width": 32}),
    dict())


# --------------------------------------------------------------------------------------------
# Datasets a recipe may name
# --------------------------------------------------------------------------------------------
def _cifar10(recipe: Recipe):
    train = data_mod.subset(*data_mod.load_cifar10("train"), recipe.train_subset, seed=recipe.seed)
    return train, data_mod.load_cifar10("test")


def _canvas64(recipe: Recipe):
    """64x64 canvases (``canvas.benchmark_canvases``): training canvases from CIFAR-10
    training images, test canvases from test images, each split with its own fixed seed."""
    from .canvas import benchmark_canvases
    train, test = benchmark_canvases("train", recipe.train_subset), benchmark_canvases("test")
    return (train.images, train.labels), (test.images, test.labels)


DATASETS = {"cifar10": _cifar10}
DATASETS["canvas64"] = _canvas64


# scikit-learn's 8x8 digits, for Deep SHAP's "8 versus 3" (Lundberg & Lee, Fig. 5; notebook 08).
def _digits(recipe: Recipe | None = None):
    """A fixed 80/20 split of ``data.load_digits()`` as uint8 [N, 1, 8, 8] (1437 / 360 images)."""
    x, y = data_mod.load_digits()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = (x[order] * 255).round().to(torch.uint8), y[order]
    n = int(0.8 * len(y))
    return (x[:n], y[:n]), (x[n:], y[n:])


DATASETS["digits"] = _digits
# An MLP on the 64 grey pixels (no CIFAR normalisation, no max-pooling: Deep SHAP's rescale rule is
# exact on it); seconds to train on a CPU, so the same recipe serves every profile.
RECIPES["digits_mlp"] = _scaled(
    Recipe("mlp", {"in_features": 64, "hidden": (128, 64), "normalize": False}, epochs=40,
           lr=0.05, batch_size=64, warmup=0.1, augment=False, dataset="digits"),
    dict(epochs=10), dict(), dict())


# A ViT trained without any skip connection (every block drops both residual paths), for Raghu et
# al.'s "skip connections in ViT are even more influential than in ResNets" (notebook 11). It has
# exactly the ViT's recipe (same data, epochs and optimiser): the matched control.
RECIPES["vit_noskip"] = {prof: replace(r, arch_kwargs=dict(r.arch_kwargs, skip=False))
                         for prof, r in RECIPES["vit"].items()}


def dataset_for(recipe: Recipe):
    """``(train, test)`` pairs of (uint8 images, labels) for the recipe's dataset."""
    if recipe.dataset not in DATASETS:
        raise ValueError(f"Unknown dataset {recipe.dataset!r}; known: {sorted(DATASETS)}.")
    return DATASETS[recipe.dataset](recipe)


# --------------------------------------------------------------------------------------------
# Saving and loading
# --------------------------------------------------------------------------------------------
class ZooError(RuntimeError):
    pass


def _half_state(model: nn.Module) -> dict:
    return {k: (v.half() if v.is_floating_point() else v).cpu().contiguous()
            for k, v in model.state_dict().items()}


def _save_state(model: nn.Module, path: Path) -> str:
    atomic_write(path, lambda tmp: torch.save(_half_state(model), tmp))
    return sha256_file(path)


def _load_state(model: nn.Module, path: Path) -> nn.Module:
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model


def _build(recipe: Recipe) -> nn.Module:
    return models.build(recipe.arch, **recipe.arch_kwargs)


def read_manifest(strict: bool = False) -> dict:
    """``data/models/manifest.json``. An unreadable manifest is reported and treated as empty (the
    committed checkpoints are then not used, never used unchecked); ``strict`` raises instead."""
    if not MANIFEST.exists():
        return {"models": {}}
    try:
        manifest = json.loads(MANIFEST.read_text())
        if not isinstance(manifest.get("models"), dict):
            raise ValueError("no 'models' table")
        for name, info in manifest["models"].items():
            info["file"], info["sha256"], info["recipe"], info["profile"], info["test_accuracy"]
        return manifest
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        msg = (f"{MANIFEST} is unreadable ({type(err).__name__}: {err}); restore it with "
               "`git checkout data/models/manifest.json`.")
        if strict:
            raise ZooError(msg) from err
        warnings.warn(msg + " Committed checkpoints are not used until then.")
        return {"models": {}}


def _write_json(path: Path, obj: dict) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n"))


@contextmanager
def _manifest_lock():
    try:
        import fcntl
    except ImportError:     # Windows: no file locks; trainings there run one at a time anyway
        yield
        return
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    with open(MODELS_DIR / ".manifest.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _recipe_from(info: dict) -> Recipe:
    d = dict(info["recipe"])
    d["snapshots"] = tuple(d.get("snapshots", ()))
    d["arch_kwargs"] = {k: tuple(v) if isinstance(v, list) else v
                        for k, v in d["arch_kwargs"].items()}
    return Recipe(**d)


def _variant_entry(info: dict, epoch: int | None, seed: int | None, where: str) -> dict:
    """The record of the weights asked for: the model itself, a snapshot, or another seed."""
    if epoch is not None and seed not in (None, info["recipe"].get("seed", 0)):
        raise ZooError("Pick a snapshot (epoch=...) or a seed (seed=...), not both.")
    if epoch is not None:
        entry = info.get("snapshots", {}).get(str(epoch))
        if entry is None:
            raise ZooError(f"{where} has no snapshot at epoch {epoch} of {info['name']!r}; "
                           f"available: {sorted(int(e) for e in info.get('snapshots', {}))}.")
        return entry
    if seed is not None and seed != info["recipe"].get("seed", 0):
        entry = info.get("seeds", {}).get(str(seed))
        if entry is None:
            raise ZooError(f"{where} has no seed {seed} of {info['name']!r}; available: "
                           f"{seeds_of(info)}.")
        return entry
    return info


USES_ENV = "LECTURE_ZOO_USES"


def _variant_key(info: dict, epoch: int | None, seed: int | None) -> str:
    """``name``, ``name@epochE`` (a snapshot) or ``name@seedS`` (another seed)."""
    if epoch is not None:
        return f"{info['name']}@epoch{epoch}"
    if seed is not None and seed != info["recipe"].get("seed", 0):
        return f"{info['name']}@seed{seed}"
    return info["name"]


def _note_use(info: dict, epoch: int | None, seed: int | None) -> None:
    """When ``LECTURE_ZOO_USES`` names a file, append the committed checkpoint just loaded to it
    (one JSON line: key and sha256). ``tools/notebooks.py execute`` sets it, to stamp a notebook
    with the checkpoints its outputs came from (``stale_uses`` checks them later)."""
    path = os.environ.get(USES_ENV)
    if path:
        entry = _variant_entry(info, epoch, seed, "data/models")
        with open(path, "a") as fh:
            fh.write(json.dumps({"model": _variant_key(info, epoch, seed),
                                 "sha256": entry["sha256"]}) + "\n")


def read_uses(path: Path) -> dict:
    """The ``{key: sha256}`` of the committed checkpoints listed in a ``LECTURE_ZOO_USES`` file."""
    path = Path(path)
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["model"]: r["sha256"] for r in sorted(rows, key=lambda r: r["model"])}


def committed_sha256(key: str, manifest: dict | None = None) -> str | None:
    """The sha256 that ``data/models/manifest.json`` (or ``manifest``, read from it) lists now for
    ``name``, ``name@epochE`` or ``name@seedS``; None when it has no such checkpoint."""
    name, _, variant = key.partition("@")
    info = (manifest or read_manifest())["models"].get(name)
    if info is None:
        return None
    epoch = int(variant[5:]) if variant.startswith("epoch") else None
    seed = int(variant[4:]) if variant.startswith("seed") else None
    try:
        return _variant_entry(info, epoch, seed, "data/models")["sha256"]
    except ZooError:
        return None


def stale_uses(uses: dict) -> list[str]:
    """The checkpoints of ``uses`` (``{key: sha256}``, as a notebook's stamp keeps them) that
    ``data/models`` no longer holds: retrained since, or gone. Empty when all are current."""
    out, manifest = [], read_manifest()          # read once, not once per checkpoint
    for key, sha in sorted(uses.items()):
        now = committed_sha256(key, manifest)
        if now != sha:
            out.append(f"{key} {sha[:12]} (data/models now holds "
                       f"{now[:12] if now else 'none'})")
    return out


def _checked_load(info: dict, folder: Path, epoch: int | None, where: str,
                  seed: int | None = None):
    """Build the model of ``info`` and load its weights, or None after a reported mismatch."""
    entry = _variant_entry(info, epoch, seed, where)
    path = folder / entry["file"]
    if not path.exists():
        return None
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        warnings.warn(f"{where}: checksum mismatch for {path} (expected {entry['sha256'][:12]}..., "
                      f"got {actual[:12]}...); not using it, the model will be retrained.")
        return None
    try:
        return _load_state(_build(_recipe_from(info)), path)
    except Exception as err:  # unreadable or for another architecture
        warnings.warn(f"{where}: cannot load {path} ({type(err).__name__}: {err}); retraining.")
        return None


def seeds_of(info: dict) -> list[int]:
    """The seeds trained for a zoo record: its own and those under ``info["seeds"]``."""
    return sorted({int(info["recipe"].get("seed", 0))} | {int(k) for k in info.get("seeds", {})})


def seed_summary(info: dict) -> dict:
    """Test accuracy over the seeds trained: ``{"n", "mean", "std", "min", "max"}`` (std with
    n - 1 in the denominator; 0 for one seed)."""
    accs = [info["test_accuracy"]] + [s["test_accuracy"] for s in info.get("seeds", {}).values()]
    t = torch.tensor(accs, dtype=torch.float64)
    return {"n": len(accs), "mean": round(t.mean().item(), 4),
            "std": round(t.std().item(), 4) if len(accs) > 1 else 0.0,
            "min": round(t.min().item(), 4), "max": round(t.max().item(), 4)}


# --------------------------------------------------------------------------------------------
# Training: set up, fit, save, record
# --------------------------------------------------------------------------------------------
def _stem(name: str, prof: str, out_dir: Path, seed: int, recipe_seed: int) -> str:
    stem = name if out_dir == MODELS_DIR else f"{name}-{prof}"
    return stem if seed == recipe_seed else f"{stem}@seed{seed}"


def _state_dir(out_dir: Path) -> Path:
    """Where a training keeps its state between epochs: beside the committed checkpoints when it
    trains one (to be committed while unfinished, so a fresh clone resumes it), else the cache."""
    return MODELS_DIR / "training" if out_dir == MODELS_DIR else cache_dir() / "models"


def unfinished_trainings() -> list[dict]:
    """The committed trainings stopped before their last epoch (``data/models/training/``): name,
    profile, seed, the epoch reached and the recipe's epochs, from each state's record."""
    runs = []
    for record in sorted((MODELS_DIR / "training").glob("*-seed*.state.json")):
        stem = record.name.removesuffix(".state.json")
        rest, seed = stem.rsplit("-seed", 1)
        name, prof = rest.rsplit("-", 1)
        try:
            info = kept_state(record.with_name(f"{stem}.state.pt"))
            runs.append({"name": name, "profile": prof, "seed": int(seed),
                         "epoch": info["epoch"], "epochs": info["run"]["epochs"]})
        except (TrainingStateError, OSError, ValueError, KeyError, TypeError) as err:
            warnings.warn(f"{record} is unreadable ({err}); that training cannot be resumed.")
    return runs


def retraining_due() -> list[dict]:
    """The committed models to train again that have not started (``unfinished_trainings`` lists
    those that have), as ``{name, profile, seed, epoch: 0, epochs, why}``: a model whose recipe in
    ``RECIPES`` differs from its record, and a fine-tuned one (``init_from``) whose parent's
    checkpoint is no longer the one it was tuned from (``init_sha256``). A fine-tuned model waits
    until its parent is done, so it is listed only when its parent is not listed itself."""
    manifest = read_manifest()["models"]
    busy = {run["name"] for run in unfinished_trainings()}
    due = []
    for name in RECIPES:                      # RECIPES' order: a parent before the models it tunes
        info = manifest.get(name)
        if not info or name in busy:
            continue
        recipe = asdict(RECIPES[name][info["profile"]])
        why = ", ".join(f"{k} {a} -> {b}"
                        for k, (a, b) in recipe_differences(info["recipe"], recipe).items())
        parent = recipe["init_from"]
        if not why and parent and parent in manifest and info.get("init_sha256") not in (
                None, manifest[parent]["sha256"]):
            why = f"{parent} was retrained since"
        if why and not (parent and parent in busy | {d["name"] for d in due}):
            due.append({"name": name, "profile": info["profile"], "seed": recipe["seed"],
                        "epoch": 0, "epochs": recipe["epochs"], "why": why})
    return due


def resume_command(run: dict) -> str:
    """The command that continues an unfinished committed training (``unfinished_trainings``)."""
    seeds = ("" if run["seed"] == RECIPES[run["name"]][run["profile"]].seed
             else f" --seeds {run['seed']}")
    return (f"python -m lecture_utils.zoo train {run['name']} --profile {run['profile']}"
            f"{seeds} --commit --resume")


def _initial_model(recipe: Recipe, prof: str) -> tuple[Recipe, nn.Module, str | None]:
    """A fresh network for ``recipe``, or the checkpoint it fine-tunes (``init_from``), whose
    architecture it then keeps; with the sha256 of that checkpoint (None for a fresh one)."""
    if not recipe.init_from:
        return recipe, _build(recipe), None
    init = load_model(recipe.init_from, profile=prof)
    base = _recipe_from(init.zoo_info)
    recipe = replace(recipe, arch=base.arch, arch_kwargs=base.arch_kwargs)
    model = _build(recipe)
    model.load_state_dict(init.state_dict())
    return recipe, model, init.zoo_info["sha256"]


def _record(name, prof, recipe, model, path, sha, history, test, device, snapshots) -> dict:
    """The manifest/cache record of a trained model, measured on what was saved (fp16)."""
    res = evaluate(model, *test, crop=recipe.crop)
    res_tta = evaluate(model, *test, tta=True, crop=recipe.crop)
    return {"name": name, "file": path.name, "sha256": sha, "profile": prof,
            "recipe": asdict(recipe), "parameters": models.count_parameters(model),
            "bytes": path.stat().st_size, "test_accuracy": round(res["acc"], 4),
            "test_nll": round(res["loss"], 4),
            "test_accuracy_tta": round(res_tta["acc"], 4),
            "train_seconds": round(history.seconds[-1], 1), "device": history.device_summary(),
            "precision": (history.precision_summary() if history.precision
                          else precision_for(device).name),
            "data": (f"{recipe.dataset} ({data_mod.cifar10_source()} CIFAR-10)"
                     if recipe.dataset in ("cifar10", "canvas64") else recipe.dataset),
            "trained": str(date.today()), "torch": torch.__version__,
            "history": history.to_dict(), "snapshots": snapshots}


def _seed_entry(info: dict) -> dict:
    keep = ("file", "sha256", "test_accuracy", "test_nll", "test_accuracy_tta", "train_seconds",
            "device", "precision", "trained")
    return {k: info[k] for k in keep if k in info} | {"seed": info["recipe"]["seed"]}


def recipe_differences(a: dict, b: dict, ignore=()) -> dict:
    """``{field: (a's, b's)}`` for each setting in which two recipes (``zoo_info["recipe"]``)
    differ, the architecture's keyword arguments (``width``, ``variant``, ...) as fields of their
    own; the seed and the fields named in ``ignore`` are not compared. Empty: the same training
    budget. A field a record predates counts as its default; tuples compare equal to lists."""
    def flat(d):
        d = asdict(_recipe_from({"recipe": d}))
        d.update(d.pop("arch_kwargs"))
        return json.loads(json.dumps(d))
    fa, fb = flat(a), flat(b)
    skip = {"seed", *ignore}
    return {k: (fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb))
            if k not in skip and fa.get(k) != fb.get(k)}


def _same_recipe(a: dict, b: dict) -> bool:
    """Equal but for the seed."""
    return not recipe_differences(a, b)


def _check_seed_can_be_added(name: str, recipe: Recipe) -> None:
    """A further seed is recorded beside the committed main model of the same recipe: check that
    it is there before training (not after an hour of it)."""
    old = read_manifest(strict=True)["models"].get(name)
    if not old or not _same_recipe(old["recipe"], asdict(recipe)):
        raise ZooError(f"Train and commit the main seed of {name!r} with the current recipe "
                       "first: further seeds are recorded beside it.")


def _store(name: str, info: dict, out_dir: Path, stem: str, main_seed: bool) -> dict:
    """Write the record: into the manifest (committed models) or beside the cached weights. A
    further seed becomes ``info["seeds"][seed]`` of the main record; the main record keeps the
    seeds trained earlier with the same recipe."""
    if out_dir != MODELS_DIR:
        _write_json(out_dir / f"{stem}.json", info)
        return info
    with _manifest_lock():          # two trainings may finish at the same time
        manifest = read_manifest(strict=True)
        old = manifest["models"].get(name)
        if main_seed:
            if old and _same_recipe(old["recipe"], info["recipe"]):
                info["seeds"] = old.get("seeds", {})
            manifest["models"][name] = info
        else:
            _check_seed_can_be_added(name, _recipe_from(info))
            old.setdefault("seeds", {})[str(info["recipe"]["seed"])] = _seed_entry(info)
        manifest["models"][name]["test_accuracy_seeds"] = seed_summary(manifest["models"][name])
        _write_json(MANIFEST, manifest)
    return info


def train_model(name: str, profile: str | None = None, device=None, progress: bool = True,
                out_dir: Path | None = None, *, seed: int | None = None,
                resume: bool = False) -> tuple[nn.Module, dict]:
    """Train zoo model ``name`` with the profile's recipe; save it to ``out_dir`` (default: the
    cache) with an info record, and return ``(model, info)``.

    ``seed`` trains another seed of the same recipe (recorded under the main record's ``seeds``).
    The training state is kept after every epoch; ``resume=True`` continues an interrupted run
    from there (``python -m lecture_utils.zoo train NAME --resume``). A training for the
    committed zoo (``out_dir`` = ``data/models``) keeps it in ``data/models/training/``, so that
    it can be committed and resumed from a fresh clone (a training longer than one sitting);
    any other in the cache.
    """
    if name not in RECIPES:
        raise ZooError(f"Unknown model {name!r}; the zoo has {sorted(RECIPES)}.")
    prof = get_profile(profile).name
    recipe = RECIPES[name][prof]
    seed = recipe.seed if seed is None else int(seed)
    main_seed = seed == recipe.seed
    recipe = replace(recipe, seed=seed)
    device = torch.device(device) if device else get_device()
    out_dir = Path(out_dir) if out_dir else cache_dir() / "models"
    stem = _stem(name, prof, out_dir, seed, RECIPES[name][prof].seed)
    recipe, model, init_sha = _initial_model(recipe, prof)
    if out_dir == MODELS_DIR and not main_seed:
        _check_seed_can_be_added(name, recipe)
    train, test = dataset_for(recipe)
    state = _state_dir(out_dir) / f"{name}-{prof}-seed{seed}.state.pt"
    # The snapshots saved so far wait beside the training state, listed there, so that a resumed
    # run still records the ones it saved before the interruption, and an unfinished training
    # never overwrites the snapshots of the checkpoint it will replace.
    saved = state.with_name(state.name.replace(".state.pt", ".snapshots.json"))
    snapshots = (json.loads(saved.read_text())
                 if resume and state.exists() and saved.exists() else {})

    def keep_snapshot(epoch, net, history):
        if main_seed and epoch in recipe.snapshots and epoch != recipe.epochs:
            path = state.parent / f"{stem}@epoch{epoch}.pt"
            snapshots[str(epoch)] = {"file": path.name, "sha256": _save_state(net, path),
                                     "test_accuracy": history.test_acc[-1]}
            _write_json(saved, snapshots)

    history = fit(model, train, test, device=device, progress=progress, callback=keep_snapshot,
                  state_path=state, resume=resume, **recipe.fit_kwargs())
    for snap in snapshots.values():                # finished: they join the checkpoint
        waiting = state.parent / snap["file"]
        if waiting.parent != out_dir:
            if sha256_file(waiting) != snap["sha256"]:
                raise ZooError(f"The snapshot {waiting} does not match the checksum recorded "
                               f"when it was saved; retrain {name!r} without --resume.")
            os.replace(waiting, out_dir / snap["file"])
    saved.unlink(missing_ok=True)
    path = out_dir / f"{stem}.pt"
    sha = _save_state(model, path)
    model = _load_state(_build(recipe), path).to(device)   # evaluate what was saved (fp16)
    info = _record(name, prof, recipe, model, path, sha, history, test, device, snapshots)
    if init_sha:                   # which checkpoint it was tuned from (`retraining_due`)
        info["init_sha256"] = init_sha
    info = _store(name, info, out_dir, stem, main_seed)
    model.eval()
    model.zoo_info = dict(info, source="trained now")
    return model, info


def _read_cached_info(path: Path) -> dict | None:
    try:
        info = json.loads(path.read_text())
        _recipe_from(info)
        info["file"], info["sha256"]
        return info
    except (ValueError, KeyError, TypeError) as err:
        warnings.warn(f"the cache: {path} is unreadable ({type(err).__name__}: {err}); not using "
                      "it, the model will be retrained.")
        return None


def _train_requested(train: bool | None) -> bool:
    if train is not None:
        return bool(train)
    return env_flag("LECTURE_TRAIN")


def load_model(name: str, profile: str | None = None, device=None, epoch: int | None = None,
               train_if_missing: bool = True, progress: bool = True, *,
               seed: int | None = None, train: bool | None = None) -> nn.Module:
    """The trained model ``name`` in eval mode on ``device``; ``model.zoo_info`` says where it came
    from, its recipe, test accuracy and learning curves (``History.from_dict(info["history"])``).

    ``epoch`` picks a snapshot saved during training (see ``RECIPES[name][p].snapshots``);
    ``seed`` another seed of the same recipe (``seeds_of(model.zoo_info)`` lists them).

    A committed checkpoint serves its own profile and every smaller one. At a larger profile (the
    full profile on a GPU) the profile's own model is used when it was trained and cached here;
    otherwise the committed checkpoint is used, with a note, and the full recipe is trained only
    on request: ``train=True`` or ``LECTURE_TRAIN=1`` (it then trains once and is cached).
    """
    if name not in RECIPES:
        raise ZooError(f"Unknown model {name!r}; the zoo has {sorted(RECIPES)}.")
    prof = get_profile(profile)
    device = torch.device(device) if device else get_device()
    committed = read_manifest()["models"].get(name)
    if committed and PROFILES.index(committed["profile"]) >= prof.rank:
        model = _checked_load(committed, MODELS_DIR, epoch, "data/models", seed)
        if model is not None:
            _note_use(committed, epoch, seed)
            model.zoo_info = dict(committed, source="committed checkpoint")
            return model.to(device).eval()
        committed = None                   # reported above; not a fallback either
    remove_stale_tmp(cache_dir() / "models")
    main = RECIPES[name][prof.name].seed
    stem = f"{name}-{prof.name}" + ("" if seed in (None, main) else f"@seed{seed}")
    info_path = cache_dir() / "models" / f"{stem}.json"
    info = _read_cached_info(info_path) if info_path.exists() else None
    if info is not None:
        model = _checked_load(info, info_path.parent, epoch, "the cache")
        if model is not None:
            model.zoo_info = dict(info, source="cache")
            return model.to(device).eval()
    if committed and not _train_requested(train):
        model = _checked_load(committed, MODELS_DIR, epoch, "data/models", seed)
        if model is not None:
            _note_use(committed, epoch, seed)
            print(f"Note: {name!r} has no {prof.name}-profile checkpoint here; using the committed "
                  f"{committed['profile']} checkpoint ({committed['test_accuracy']:.1%} test "
                  f"accuracy). To train the {prof.name} recipe once (cached afterwards): "
                  f"load_model({name!r}, train=True) or LECTURE_TRAIN=1.")
            model.zoo_info = dict(committed, source="committed checkpoint (a smaller profile)")
            return model.to(device).eval()
    if not train_if_missing:
        raise ZooError(f"No trained {name!r} for the {prof.name} profile; call "
                       f"load_model({name!r}, train=True) to train it or run "
                       f"`python -m lecture_utils.zoo train {name}`.")
    print(f"Training {name!r} with the {prof.name} recipe (no checkpoint found); "
          "it will be cached for next time.")
    model, _ = train_model(name, prof.name, device, progress, seed=seed, resume=True)
    if epoch is not None:
        return load_model(name, prof.name, device, epoch, train_if_missing=False)
    return model


def history_of(model: nn.Module) -> History:
    """The learning curves of a zoo model (per epoch: loss, accuracy, test NLL, seconds)."""
    return History.from_dict(model.zoo_info["history"])


def verify(names=None, device=None) -> list[dict]:
    """Re-measure the test accuracy of committed checkpoints (every seed) against the manifest."""
    rows = []
    for name, info in read_manifest()["models"].items():
        if names and name not in names:
            continue
        recipe = _recipe_from(info)
        _, test = dataset_for(replace(recipe, train_subset=1))   # only the test split is used
        for seed in seeds_of(info):
            entry = _variant_entry(info, None, seed, "data/models")
            label = name if entry is info else f"{name}@seed{seed}"
            model = _checked_load(info, MODELS_DIR, None, "data/models", seed)
            if model is None:
                rows.append({"name": label, "ok": False, "reason": "missing or checksum mismatch"})
                continue
            acc = evaluate(model.to(device or get_device()), *test, crop=recipe.crop)["acc"]
            rows.append({"name": label, "ok": abs(acc - entry["test_accuracy"]) <= 0.005,
                         "measured": round(acc, 4), "manifest": entry["test_accuracy"]})
    return rows


def markdown_table() -> str:
    """The committed checkpoints (manifest.json) as a Markdown table: one row per model, the test
    accuracy as the mean over the seeds trained with its range."""
    lines = ["| model | architecture | data | epochs | parameters | test acc. (seeds) | training "
             "| trained on |", "|---|---|---|---|---|---|---|---|"]
    for name, m in sorted(read_manifest()["models"].items()):
        r = m["recipe"]
        arch = r["arch"] + "".join(f", {k}={v}" for k, v in r.get("arch_kwargs", {}).items())
        n = r.get("train_subset") or "all"
        s = seed_summary(m)
        acc = (f"{100 * s['mean']:.1f}% ({s['n']} seeds: {100 * s['min']:.1f}-{100 * s['max']:.1f})"
               if s["n"] > 1 else f"{100 * s['mean']:.1f}%")
        lines.append(f"| `{name}` | {arch} | {m['data']}, {n} train | {r['epochs']} | "
                     f"{m['parameters']:,} | {acc} | {m['train_seconds'] / 60:.0f} min | "
                     f"{m['device']}, {m.get('precision', 'fp32')} ({m['profile']} recipe) |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lecture_utils.zoo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the zoo's models, what is committed and what is being trained")
    t = sub.add_parser("train", help="train models with a profile's recipe")
    t.add_argument("names", nargs="+")
    t.add_argument("--profile", default=None, choices=PROFILES)
    t.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="seeds to train (default: the recipe's); the first is the main record")
    t.add_argument("--resume", action="store_true",
                   help="continue an interrupted training from its last epoch's state")
    t.add_argument("--commit", action="store_true",
                   help="write to data/models/ and the manifest (to be committed)")
    sub.add_parser("verify", help="re-measure committed checkpoints' test accuracy")
    sub.add_parser("table", help="the committed checkpoints as a Markdown table (for the README)")
    args = parser.parse_args(argv)
    if args.cmd == "list":
        manifest = read_manifest()["models"]
        for name in RECIPES:
            m = manifest.get(name)
            print(f"{name:18s}" + (f" committed ({m['profile']}): test acc "
                                   f"{m['test_accuracy']:.4f}, {m['train_seconds']:.0f} s on "
                                   f"{m['device']}" if m else " -"))
            changed = m and recipe_differences(m["recipe"], asdict(RECIPES[name][m["profile"]]))
            if changed:               # the next checkpoint's recipe (see unfinished below)
                print(f"{'':18s} its recipe in RECIPES differs now: " + ", ".join(
                    f"{k} {a} -> {b}" for k, (a, b) in changed.items()))
        for run in unfinished_trainings():
            print(f"unfinished: {run['name']}, epoch {run['epoch']} of {run['epochs']} (seed "
                  f"{run['seed']}); continue with `{resume_command(run)}`")
        for run in retraining_due():
            print(f"to train again: {run['name']} ({run['why']}); not started; start with "
                  f"`{resume_command(run)}`")
    elif args.cmd == "train":
        for name in args.names:
            for seed in args.seeds or [None]:
                try:
                    _, info = train_model(name, args.profile, seed=seed, resume=args.resume,
                                          out_dir=MODELS_DIR if args.commit else None)
                except KeyboardInterrupt:          # Ctrl-C, or a time limit's SIGINT
                    print(f"\nStopped: {name} keeps the state of its last finished epoch; "
                          "run the same command with --resume to continue it.", flush=True)
                    raise SystemExit(130) from None
                print(f"{name} (seed {seed if seed is not None else 'default'}): test accuracy "
                      f"{info['test_accuracy']:.4f} in {info['train_seconds']:.0f} s on "
                      f"{info['device']}", flush=True)
    elif args.cmd == "table":
        print(markdown_table())
    else:
        rows = verify()
        for r in rows:
            print(r)
        raise SystemExit(0 if all(r["ok"] for r in rows) else 1)


if __name__ == "__main__":
    main()
