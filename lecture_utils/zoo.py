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
import platform
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path

import torch
from torch import nn

from . import data as data_mod
from . import models
from .config import PROFILES, REPO_ROOT, cache_dir, get_device, get_profile
from .io import atomic_write, sha256_file
from .train import History, evaluate, fit

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
    tta: bool = False
    train_subset: int | None = None
    dataset: str = "cifar10"
    init_from: str | None = None      # fine-tune from another zoo model
    snapshots: tuple = ()             # epochs whose weights are kept too (features over training)
    seed: int = 0

    def fit_kwargs(self) -> dict:
        keep = ("epochs", "lr", "optimizer", "weight_decay", "label_smoothing", "batch_size",
                "warmup", "schedule", "augment", "crop", "tta", "seed")
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

RECIPES: dict[str, dict[str, Recipe]] = {
    # ResNet with a GAP + linear head: CAM, Grad-CAM, calibration ("a modern network": batch norm,
    # little weight decay, no label smoothing), CKA against the ViT.
    "resnet_gap": _scaled(Recipe("resnet_gap", {"width": 64}, epochs=10, weight_decay=5e-5),
                          dict(_Q, arch_kwargs={"width": 8, "blocks": (1, 1, 1)}),
                          dict(epochs=10, arch_kwargs={"width": 16}),
                          dict(epochs=30, batch_size=512)),
    # VGG-style net with max-pooling: deconvnet (switches), Grad-CAM without GAP, dissection.
    "vgg": _scaled(Recipe("vgg", {"width": 64}, epochs=10, lr=0.1, snapshots=(1, 2, 5)),
                   dict(_Q, arch_kwargs={"width": 8}, snapshots=()),
                   dict(epochs=10, arch_kwargs={"width": 16}),
                   dict(epochs=30, batch_size=512)),
    # The Model C family of Springenberg et al., with augmentation; All-CNN-C also without.
    **{v: _scaled(Recipe("model_c", {"variant": v, "width": 1.0}, epochs=10, lr=0.1),
                  dict(_Q, arch_kwargs={"width": 0.125}),
                  dict(epochs=5, arch_kwargs={"width": 0.25}),
                  dict(epochs=40, batch_size=512))
       for v in models.MODEL_C_VARIANTS},
    "all_cnn_c_noaug": _scaled(Recipe("model_c", {"variant": "all_cnn_c", "width": 1.0},
                                      epochs=10, lr=0.1, augment=False),
                               dict(_Q, arch_kwargs={"width": 0.125}),
                               dict(epochs=5, arch_kwargs={"width": 0.25}),
                               dict(epochs=40, batch_size=512)),
    # A small ViT (patch 4) for Raghu et al.
    "vit": _scaled(Recipe("vit", {"dim": 192, "depth": 6, "heads": 3}, epochs=10, lr=1e-3,
                          optimizer="adamw", weight_decay=0.05, label_smoothing=0.1,
                          schedule="cosine", warmup=0.1),
                   dict(_Q, arch_kwargs={"dim": 32, "depth": 2, "heads": 2}),
                   dict(epochs=6, arch_kwargs={"dim": 96}),
                   dict(epochs=60, batch_size=512)),
    # LeNet-5: the small network that Guo et al. find well calibrated.
    "lenet": _scaled(Recipe("lenet", {}, epochs=20, lr=0.05, weight_decay=5e-4),
                     dict(_Q), dict(epochs=20), dict(epochs=40)),
}

# ResNet-GAP fine-tuned on 64x64 canvases (the localization benchmark of notebooks 5 and 7): the
# CIFAR-10 resnet_gap learns to classify the pasted image and ignore the clutter around it. It
# keeps the architecture of the resnet_gap checkpoint it starts from (see train_model).
RECIPES["resnet_gap_canvas"] = _scaled(
    Recipe("resnet_gap", {"width": 64}, epochs=5, lr=0.05, weight_decay=5e-5, warmup=0.1,
           dataset="canvas64", init_from="resnet_gap"),
    dict(epochs=1, train_subset=1000, batch_size=128,
         arch_kwargs={"width": 8, "blocks": (1, 1, 1)}),
    dict(epochs=2, train_subset=8000, batch_size=128, arch_kwargs={"width": 16}),
    dict(epochs=8, batch_size=512))


# --------------------------------------------------------------------------------------------
# Datasets a recipe may name
# --------------------------------------------------------------------------------------------
def _cifar10(recipe: Recipe):
    train = data_mod.subset(*data_mod.load_cifar10("train"), recipe.train_subset, seed=recipe.seed)
    return train, data_mod.load_cifar10("test")


def _canvas64(recipe: Recipe):
    """64x64 canvases (``localization.benchmark_canvases``): training canvases from CIFAR-10
    training images, test canvases from test images, each split with its own fixed seed."""
    from .localization import benchmark_canvases
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
# al.'s "skip connections in ViT are even more influential than in ResNets" (notebook 11). The
# laptop recipe is short (about 10 CPU minutes): 4 epochs on 10,000 images.
RECIPES["vit_noskip"] = _scaled(
    Recipe("vit", {"dim": 192, "depth": 6, "heads": 3, "skip": False}, epochs=10, lr=1e-3,
           optimizer="adamw", weight_decay=0.05, label_smoothing=0.1, schedule="cosine",
           warmup=0.1),
    dict(_Q, arch_kwargs={"dim": 32, "depth": 2, "heads": 2}),
    dict(epochs=4, train_subset=10_000, arch_kwargs={"dim": 96}),
    dict(epochs=60, batch_size=512))


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


def read_manifest() -> dict:
    if not MANIFEST.exists():
        return {"models": {}}
    return json.loads(MANIFEST.read_text())


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


def _checked_load(info: dict, folder: Path, epoch: int | None, where: str):
    """Build the model of ``info`` and load its weights, or None after a reported mismatch."""
    entry = info if epoch is None else info.get("snapshots", {}).get(str(epoch))
    if entry is None:
        raise ZooError(f"{where} has no snapshot at epoch {epoch} of {info['name']!r}; "
                       f"available: {sorted(int(e) for e in info.get('snapshots', {}))}.")
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


def train_model(name: str, profile: str | None = None, device=None, progress: bool = True,
                out_dir: Path | None = None) -> tuple[nn.Module, dict]:
    """Train zoo model ``name`` with the profile's recipe; save it to ``out_dir`` (default: the
    cache) with an info record, and return ``(model, info)``."""
    if name not in RECIPES:
        raise ZooError(f"Unknown model {name!r}; the zoo has {sorted(RECIPES)}.")
    prof = get_profile(profile).name
    recipe = RECIPES[name][prof]
    device = torch.device(device) if device else get_device()
    out_dir = Path(out_dir) if out_dir else cache_dir() / "models"
    stem = name if out_dir == MODELS_DIR else f"{name}-{prof}"
    if recipe.init_from:    # fine-tuning keeps the architecture of the checkpoint it starts from
        init = load_model(recipe.init_from, profile=prof)
        base = _recipe_from(init.zoo_info)
        recipe = replace(recipe, arch=base.arch, arch_kwargs=base.arch_kwargs)
        model = _build(recipe)
        model.load_state_dict(init.state_dict())
    else:
        model = _build(recipe)
    train, test = dataset_for(recipe)
    snapshots = {}

    def keep_snapshot(epoch, net, history):
        if epoch in recipe.snapshots and epoch != recipe.epochs:
            path = out_dir / f"{stem}@epoch{epoch}.pt"
            snapshots[str(epoch)] = {"file": path.name, "sha256": _save_state(net, path),
                                     "test_accuracy": history.test_acc[-1]}

    history = fit(model, train, test, device=device, progress=progress, callback=keep_snapshot,
                  **recipe.fit_kwargs())
    path = out_dir / f"{stem}.pt"
    sha = _save_state(model, path)
    model = _load_state(_build(recipe), path).to(device)   # evaluate what was saved (fp16)
    res = evaluate(model, *test, crop=recipe.crop)
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{device.type} ({platform.processor() or platform.machine()}, " \
        f"{torch.get_num_threads()} threads)"
    info = {"name": name, "file": path.name, "sha256": sha, "profile": prof,
            "recipe": asdict(recipe), "parameters": models.count_parameters(model),
            "bytes": path.stat().st_size, "test_accuracy": round(res["acc"], 4),
            "test_nll": round(res["loss"], 4),
            "test_accuracy_tta": round(evaluate(model, *test, tta=True, crop=recipe.crop)["acc"],
                                       4),
            "train_seconds": round(history.seconds[-1], 1), "device": dev,
            "data": (f"{recipe.dataset} ({data_mod.cifar10_source()} CIFAR-10)"
                     if recipe.dataset in ("cifar10", "canvas64") else recipe.dataset),
            "trained": str(date.today()),
            "torch": torch.__version__, "history": history.to_dict(), "snapshots": snapshots}
    if out_dir == MODELS_DIR:
        with _manifest_lock():          # two trainings may finish at the same time
            manifest = read_manifest()
            manifest["models"][name] = info
            _write_json(MANIFEST, manifest)
    else:
        _write_json(out_dir / f"{stem}.json", info)
    model.eval()
    model.zoo_info = dict(info, source="trained now")
    return model, info


def load_model(name: str, profile: str | None = None, device=None, epoch: int | None = None,
               train_if_missing: bool = True, progress: bool = True) -> nn.Module:
    """The trained model ``name`` in eval mode on ``device``; ``model.zoo_info`` says where it came
    from, its recipe, test accuracy and learning curves (``History.from_dict(info["history"])``).

    ``epoch`` picks a snapshot saved during training (see ``RECIPES[name][p].snapshots``).
    """
    if name not in RECIPES:
        raise ZooError(f"Unknown model {name!r}; the zoo has {sorted(RECIPES)}.")
    prof = get_profile(profile)
    device = torch.device(device) if device else get_device()
    committed = read_manifest()["models"].get(name)
    if committed and PROFILES.index(committed["profile"]) >= prof.rank:
        model = _checked_load(committed, MODELS_DIR, epoch, "data/models")
        if model is not None:
            model.zoo_info = dict(committed, source="committed checkpoint")
            return model.to(device).eval()
    info_path = cache_dir() / "models" / f"{name}-{prof.name}.json"
    if info_path.exists():
        info = json.loads(info_path.read_text())
        model = _checked_load(info, info_path.parent, epoch, "the cache")
        if model is not None:
            model.zoo_info = dict(info, source="cache")
            return model.to(device).eval()
    if not train_if_missing:
        raise ZooError(f"No trained {name!r} for the {prof.name} profile; call "
                       f"load_model({name!r}) to train it or run `python -m lecture_utils.zoo "
                       f"train {name}`.")
    print(f"Training {name!r} with the {prof.name} recipe (no checkpoint found); "
          "it will be cached for next time.")
    model, _ = train_model(name, prof.name, device, progress)
    if epoch is not None:
        return load_model(name, prof.name, device, epoch, train_if_missing=False)
    return model


def history_of(model: nn.Module) -> History:
    """The learning curves of a zoo model (per epoch: loss, accuracy, test NLL, seconds)."""
    return History.from_dict(model.zoo_info["history"])


def verify(names=None, device=None) -> list[dict]:
    """Re-measure the test accuracy of committed checkpoints against the manifest."""
    rows = []
    for name, info in read_manifest()["models"].items():
        if names and name not in names:
            continue
        model = _checked_load(info, MODELS_DIR, None, "data/models")
        if model is None:
            rows.append({"name": name, "ok": False, "reason": "missing or checksum mismatch"})
            continue
        recipe = _recipe_from(info)
        _, test = dataset_for(replace(recipe, train_subset=1))   # only the test split is used
        acc = evaluate(model.to(device or get_device()), *test, crop=recipe.crop)["acc"]
        rows.append({"name": name, "ok": abs(acc - info["test_accuracy"]) <= 0.005,
                     "measured": round(acc, 4), "manifest": info["test_accuracy"]})
    return rows


def markdown_table() -> str:
    """The committed checkpoints (manifest.json) as a Markdown table: one row per model."""
    lines = ["| model | architecture | data | epochs | parameters | test acc. | training | "
             "trained on |",
             "|---|---|---|---|---|---|---|---|"]
    for name, m in read_manifest()["models"].items():
        r = m["recipe"]
        arch = r["arch"] + "".join(f", {k}={v}" for k, v in r.get("arch_kwargs", {}).items())
        n = r.get("train_subset") or "all"
        lines.append(f"| `{name}` | {arch} | {m['data']}, {n} train | {r['epochs']} | "
                     f"{m['parameters']:,} | {100 * m['test_accuracy']:.1f}% | "
                     f"{m['train_seconds'] / 60:.0f} min | {m['device']} ({m['profile']} recipe) |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lecture_utils.zoo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the zoo's models and what is committed")
    t = sub.add_parser("train", help="train models with a profile's recipe")
    t.add_argument("names", nargs="+")
    t.add_argument("--profile", default=None, choices=PROFILES)
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
                                   f"{m['test_accuracy']:.4f}, "
                                   f"{m['train_seconds']:.0f} s on {m['device']}" if m else " -"))
    elif args.cmd == "train":
        for name in args.names:
            _, info = train_model(name, args.profile, out_dir=MODELS_DIR if args.commit else None)
            print(f"{name}: test accuracy {info['test_accuracy']:.4f} "
                  f"in {info['train_seconds']:.0f} s on {info['device']}")
    elif args.cmd == "table":
        print(markdown_table())
    else:
        rows = verify()
        for r in rows:
            print(r)
        raise SystemExit(0 if all(r["ok"] for r in rows) else 1)


if __name__ == "__main__":
    main()
