"""What the layers of a network represent, measured the ways Raghu et al. (2021) do.

* ``layer_activations`` / ``iter_layer_activations``: the activation matrices X [m, p] of named
  layers on a set of images (the input of CKA, ``lecture_utils.similarity``), stopping the forward
  pass once every requested layer has been seen;
* ``effective_receptive_field``: |d (centre location of a feature map) / d input| (Sec. 4.1;
  Luo et al. 2016), and ``erf_radius``, the radius holding half of it;
* ``mean_attention_distance``: how far, in pixels, each head of a ViT looks (Sec. 4.2;
  Dosovitskiy et al. 2021, Fig. 7);
* ``residual_norm_ratios``: ||z_i|| / ||f(z_i)||, how much of each ViT block's output comes through
  its skip connection (Sec. 5, Fig. 8), and ``skip_removed``, a lesion of one block's skip;
* ``spatial_tokens`` / ``image_patches``: a layer and the input on one grid of positions (Sec. 6);
* ``linear_probe_accuracies``: a logistic regression per layer on pooled features (Sec. 7);
* ``block_layers`` / ``layer_labels``: which layers of the course's ResNet and ViT to compare.
"""
from __future__ import annotations

import math
from contextlib import ExitStack, contextmanager

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .batching import resolve
from .data import to_float
from .hooks import StopForward, capture, eval_mode, stop_after
from .validate import check_images, check_layer, model_device

__all__ = ["POOLS", "as_float_images", "pool_features", "iter_layer_activations",
           "layer_activations", "layer_names", "block_layers", "layer_labels", "centre_index",
           "effective_receptive_field", "erf_radius", "patch_distances",
           "mean_attention_distance", "skip_removed", "residual_path_removed",
           "residual_norm_ratios", "spatial_tokens",
           "image_patches", "linear_probe", "linear_probe_accuracies"]

POOLS = ("flatten", "mean", "cls")


def as_float_images(x: torch.Tensor, device=None) -> torch.Tensor:
    """uint8 [N,3,H,W] (0..255, by ``data.to_float``) or float [N,3,H,W] in [0,1] -> float on
    ``device`` (checked by ``validate.check_images``)."""
    check_images(x, allow_uint8=True)
    if x.dtype == torch.uint8:
        x = to_float(x)
    return x.to(device) if device is not None else x


def pool_features(a: torch.Tensor, how: str = "flatten") -> torch.Tensor:
    """One row per example: ``flatten`` (all of it: [N, C*H*W] or [N, T*D]), ``mean`` (average over
    positions: conv maps [N,C,H,W] -> [N,C]; tokens [N,T,D] -> mean of the patch tokens [N,D]) or
    ``cls`` (the class token of [N,T,D], the first)."""
    if how not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, not {how!r}")
    if how == "flatten" or a.dim() == 2:
        return a.reshape(len(a), -1)
    if how == "mean":
        return a.mean(dim=(2, 3)) if a.dim() == 4 else a[:, 1:].mean(1)
    if a.dim() != 3:
        raise ValueError(f"pool='cls' needs tokens [N, T, D]; this layer gives {tuple(a.shape)}.")
    return a[:, 0]


def iter_layer_activations(model: nn.Module, layers, x: torch.Tensor, batch_size: int = 256,
                           device=None, pool: str | None = None, stop_early: bool = True,
                           keep_on_device: bool = False):
    """Yield, for each batch of ``x``, a dict {layer name: activation} (float32, on the CPU unless
    ``keep_on_device``).

    ``layers``: names (``"layer3.1"``) or modules of ``model``. With ``pool`` each activation is
    reduced by ``pool_features``. With ``stop_early`` the forward pass ends as soon as every
    requested layer has produced its output (so a fully convolutional trunk can be read on images
    larger than the classifier head accepts). The model runs in eval mode; hooks and modes are
    restored when the iteration ends.
    """
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    check_images(x, allow_uint8=True)
    names = layer_names(model, layers)
    modules = [check_layer(model, layer) for layer in layers]
    device = torch.device(device) if device else model_device(model)
    # Grad mode is thread-global: it is switched off around each forward pass only, never across
    # a ``yield`` (the caller's code between batches runs with its own grad mode).
    with ExitStack() as stack:
        stack.enter_context(eval_mode(model))
        recs = [stack.enter_context(capture(m)) for m in modules]
        if stop_early:
            stack.enter_context(stop_after(*modules))
        for i in range(0, len(x), batch_size):
            try:
                with torch.no_grad():
                    model(as_float_images(x[i:i + batch_size], device))
            except StopForward:
                pass
            out = {}
            for name, rec in zip(names, recs):
                a = rec.activation.float()
                a = pool_features(a, pool) if pool else a
                out[name] = a if keep_on_device else a.cpu()
            yield out


def layer_activations(model: nn.Module, x: torch.Tensor, layers, *,
                      batch_size: int | None = None, device=None, pool: str | None = None):
    """The activations of ``layers`` for every image of ``x`` [N,3,H,W] (uint8 or float, any
    device), float32 on x's device: one layer (a name or a module) -> a tensor [N, ...]; a
    sequence of layers -> {layer name: tensor}.

    The images go through the model on its device (or ``device``) in batches of ``batch_size``
    (default ``batching.batch_size_for``); each pass stops once every layer has been seen. With
    ``pool`` each activation is reduced by ``pool_features`` (``"mean"``, ``"flatten"``,
    ``"cls"``). See ``iter_layer_activations``.
    """
    single = isinstance(layers, (str, nn.Module))
    wanted = [layers] if single else list(layers)
    if not wanted:
        raise ValueError("layers is empty: name at least one layer (e.g. 'layer3').")
    check_images(x, allow_uint8=True)
    batch_size = resolve(batch_size, model, x.shape)
    parts: dict[str, list] = {}
    for batch in iter_layer_activations(model, wanted, x, batch_size, device, pool,
                                        keep_on_device=True):
        for k, v in batch.items():
            parts.setdefault(k, []).append(v.to(x.device))
    out = {k: torch.cat(v) for k, v in parts.items()}
    return next(iter(out.values())) if single else out


def layer_names(model: nn.Module, layers) -> list[str]:
    """The dotted names of ``layers`` (names or modules of ``model``), checked to exist."""
    names = []
    for layer in layers:
        module = check_layer(model, layer)         # a clear error for a name that does not exist
        names.append(layer if isinstance(layer, str) else
                     next(n for n, m in model.named_modules() if m is module))
    return names


# --------------------------------------------------------------------------------------------
# Which layers to compare: the residual stream in the middle and at the end of every block
# --------------------------------------------------------------------------------------------
def block_layers(model: nn.Module) -> list[str]:
    """Layers for layer-by-layer comparisons, two per residual block (the paper's sub-layers).

    ViT: the residual stream as each sub-layer reads it, layer-normalised: ``blocks.0.norm1`` (the
    embedded patches), then per block ``blocks.i.norm2`` (after its attention sub-layer) and
    ``blocks.{i+1}.norm1`` (after its MLP; ``norm`` after the last block). ResNet: ``stem``, then
    ``layerK.j.relu1`` (half-way through a block) and ``layerK.j`` (its output). Other models:
    every ``nn.ReLU``.
    """
    if hasattr(model, "blocks") and hasattr(model, "cls_token"):
        depth = len(model.blocks)
        names = ["blocks.0.norm1"]
        for i in range(depth):
            names += [f"blocks.{i}.norm2", f"blocks.{i + 1}.norm1" if i + 1 < depth else "norm"]
        return names
    if all(hasattr(model, f"layer{k}") for k in (1, 2, 3)):
        names = ["stem"]
        for k in (1, 2, 3):
            for j in range(len(getattr(model, f"layer{k}"))):
                names += [f"layer{k}.{j}.relu1", f"layer{k}.{j}"]
        return names
    return [n for n, m in model.named_modules() if isinstance(m, nn.ReLU)]


def layer_labels(layers) -> list[str]:
    """Short axis labels for ``block_layers``: ``embed``, ``b0 attn``, ``b0 mlp``, ... for a ViT
    (block i's MLP output is what block i+1's ``norm1`` reads), ``stem``, ``l1.0 mid``, ``l1.0``,
    ... for a ResNet."""
    labels = []
    for layer in layers:
        parts = layer.split(".")
        if layer == "norm":
            last = max(int(p.split(".")[1]) for p in layers if p.startswith("blocks."))
            labels.append(f"b{last} mlp")
        elif parts[0] == "blocks" and len(parts) == 3:
            i = int(parts[1])
            labels.append(f"b{i} attn" if parts[2] == "norm2"
                          else ("embed" if i == 0 else f"b{i - 1} mlp"))
        elif parts[0].startswith("layer") and len(parts) >= 2:
            labels.append(f"l{parts[0][5:]}.{parts[1]}" + (" mid" if len(parts) > 2 else ""))
        else:
            labels.append(layer)
    return labels


# --------------------------------------------------------------------------------------------
# Effective receptive fields
# --------------------------------------------------------------------------------------------
def centre_index(a: torch.Tensor) -> tuple:
    """Index of the centre location of a feature map [N,C,H,W] (row H//2, column W//2) or of the
    centre patch token of ViT tokens [N, 1 + g*g, D] (class token first)."""
    if a.dim() == 4:
        return (slice(None), slice(None), a.shape[2] // 2, a.shape[3] // 2)
    if a.dim() == 3:
        g = math.isqrt(a.shape[1] - 1)
        if g * g + 1 != a.shape[1]:
            raise ValueError(f"tokens [N, {a.shape[1]}, D] are not a class token + a square grid.")
        return (slice(None), 1 + (g // 2) * g + g // 2, slice(None))
    raise ValueError(f"the layer gives {tuple(a.shape)}; expected [N,C,H,W] maps or [N,T,D] "
                     "tokens.")


def effective_receptive_field(model: nn.Module, layer, x: torch.Tensor,
                              device=None, *, per_image: bool = False) -> torch.Tensor:
    """|d a(centre) / d x| averaged over the images of ``x`` and summed over colour channels: [H,
    W] (``per_image``: one map per image, [N, H, W], whose mean over images is the default).

    a(centre) is the layer's output at its centre location summed over channels (Raghu et al.,
    Sec. 4.1: "the absolute value of the gradient of the center location of the feature map with
    respect to the input"). Each image's gradient is its own (eval mode: no batch interaction).
    """
    module = check_layer(model, layer)
    device = torch.device(device) if device else model_device(model)
    xin = as_float_images(x, device).detach().clone().requires_grad_(True)
    with eval_mode(model), capture(module, detach=False) as rec, torch.enable_grad():
        model(xin)
        a = rec.activation
        (grad,) = torch.autograd.grad(a[centre_index(a)].sum(), xin)
    maps = grad.abs().sum(1)                                               # [N, H, W]
    return maps.cpu() if per_image else maps.mean(0).cpu()


def erf_radius(erf: torch.Tensor, mass: float = 0.5) -> float:
    """The radius (pixels) of the smallest disc around the image centre holding ``mass`` of the
    ERF."""
    h, w = erf.shape
    yy, xx = torch.meshgrid(torch.arange(h) - (h // 2), torch.arange(w) - (w // 2), indexing="ij")
    r = (yy.float() ** 2 + xx.float() ** 2).sqrt().flatten()
    order = torch.argsort(r)
    cum = torch.cumsum(erf.flatten()[order].double(), 0)
    k = int(torch.searchsorted(cum, mass * cum[-1]))
    return float(r[order][min(k, len(r) - 1)])


# --------------------------------------------------------------------------------------------
# The ViT: attention distances, skip connections
# --------------------------------------------------------------------------------------------
def _check_vit(model: nn.Module) -> None:
    if not (hasattr(model, "blocks") and hasattr(model, "grid") and hasattr(model, "tokens")):
        raise TypeError("This needs the course's ViT (models.vit): blocks[i].attention.attn "
                        "exposes the attention weights, model.tokens(x) the embedded tokens.")


def patch_distances(grid: int, patch: float) -> torch.Tensor:
    """Euclidean distance in pixels between the centres of the grid x grid patches: [P, P]."""
    yy, xx = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    centres = torch.stack([yy.flatten(), xx.flatten()], 1).float() * patch
    return torch.cdist(centres, centres)


def mean_attention_distance(model: nn.Module, x: torch.Tensor, batch_size: int = 256,
                            device=None, *, per_image: bool = False) -> torch.Tensor:
    """Per block and head, the attention-weighted distance in pixels between a patch and the
    patches it attends to, averaged over query patches and images: [depth, heads]
    (``per_image``: averaged over query patches only, [N, depth, heads], for intervals over images).

    sum_j w_ij d(i, j) for each query patch i, with w the head's attention over the patch tokens
    (the class token left out as query and key, and w renormalised to sum to 1 over the patches).
    """
    _check_vit(model)
    attns = [blk.attention.attn for blk in model.blocks]
    chunks = []                                                   # [batch, depth, heads] each
    for batch in iter_layer_activations(model, attns, x, batch_size, device, stop_early=False):
        per_block = []
        for w in batch.values():                                  # [batch, heads, T, T]
            p = w[:, :, 1:, 1:]
            p = p / p.sum(-1, keepdim=True).clamp_min(1e-12)
            dist = patch_distances(model.grid, x.shape[-1] / model.grid).to(p)
            per_block.append((p * dist).sum(-1).mean(-1).double().cpu())      # [batch, heads]
        chunks.append(torch.stack(per_block, 1))
    per = torch.cat(chunks)                                       # [N, depth, heads]
    return per.float() if per_image else per.mean(0).float()


@contextmanager
def skip_removed(model: nn.Module, blocks):
    """Inside the block, the residual blocks named in ``blocks`` (e.g. ``"blocks.2"``,
    ``"layer2.0"``) run without their skip connection (``skip = False``: the ViT block drops both
    residual paths, the ResNet block its shortcut). A lesion of the trained model, not a retrained
    one; every block gets its own setting back on exit."""
    mods = [check_layer(model, b) for b in ([blocks] if isinstance(blocks, str) else blocks)]
    for m in mods:
        if not hasattr(m, "skip"):
            raise TypeError(f"{type(m).__name__} has no skip connection to remove (use a ViT block "
                            "'blocks.i' or a ResNet block 'layerK.j').")
    saved = [m.skip for m in mods]
    try:
        for m in mods:
            m.skip = False
        yield model
    finally:
        for m, s in zip(mods, saved):
            m.skip = s


@contextmanager
def residual_path_removed(model: nn.Module, paths):
    """Inside the block, each residual path named in ``paths`` is cut at test time: its sub-layer's
    output f(z) replaces z + f(z). One residual path is the same lesion in both networks:

    * ViT: ``"blocks.i.attention"`` (z + attn(norm1(z)) becomes attn(norm1(z))) or
      ``"blocks.i.mlp"`` (z' + mlp(norm2(z')) becomes mlp(norm2(z'))); the block's other path stays;
    * ResNet: ``"layerK.j"``, the block's shortcut (its only residual path).

    Cutting both paths of a ViT block is ``skip_removed(model, "blocks.i")``. Hooks come off and
    every block gets its setting back on every exit path."""
    names = [paths] if isinstance(paths, str) else list(paths)
    if not names:
        raise ValueError("name at least one residual path, e.g. 'blocks.0.attention' or "
                         "'layer1.0'.")
    vit_paths, blocks = [], []
    for name in names:
        parent, _, leaf = name.rpartition(".")
        if leaf in ("attention", "mlp") and parent:
            block = check_layer(model, parent)
            if not (hasattr(block, "skip") and hasattr(block, "norm1")):
                raise TypeError(f"{name!r} is not a residual path of a ViT block: use "
                                "'blocks.i.attention' or 'blocks.i.mlp'.")
            if not block.skip:
                raise ValueError(f"{parent!r} has no skip connections left to cut (skip=False).")
            vit_paths.append((block, leaf))
        else:
            block = check_layer(model, name)
            if not hasattr(block, "skip") or hasattr(block, "norm1"):
                raise TypeError(f"{name!r} is not a residual path: name a ResNet block "
                                "('layerK.j') or a ViT sub-layer ('blocks.i.attention', "
                                "'blocks.i.mlp').")
            blocks.append(block)
    handles, saved = [], [b.skip for b in blocks]
    try:
        for block, leaf in vit_paths:
            stream = {}
            # the stream z entering the branch: the block's input (attention) or norm2's (MLP)
            source = block if leaf == "attention" else block.norm2
            handles.append(source.register_forward_pre_hook(
                lambda mod, args, stream=stream: stream.__setitem__("z", args[0])))
            handles.append(getattr(block, leaf).register_forward_hook(
                lambda mod, args, out, stream=stream: out - stream["z"]))   # z + (f - z) = f
        for b in blocks:
            b.skip = False
        yield model
    finally:
        for h in handles:
            h.remove()
        for b, s in zip(blocks, saved):
            b.skip = s


def residual_norm_ratios(model: nn.Module, x: torch.Tensor, device=None) -> torch.Tensor:
    """||z|| / ||f(z)|| for each block's two residual branches: [depth, 2 (attention, MLP),
    2 (class token, patch tokens)], averaged over tokens and images.

    z is the stream entering the branch and f(z) what the branch adds (Raghu et al., Fig. 8): a
    large ratio means the token is carried mostly by the skip connection.
    """
    _check_vit(model)
    if not all(getattr(b, "skip", True) for b in model.blocks):
        raise ValueError("residual_norm_ratios needs blocks with skip connections (skip=True).")
    device = torch.device(device) if device else model_device(model)
    xin = as_float_images(x, device)
    with torch.no_grad(), ExitStack() as stack:
        attn = [stack.enter_context(capture(b.attention)) for b in model.blocks]
        mlp = [stack.enter_context(capture(b.mlp)) for b in model.blocks]
        model(xin)
        z = model.tokens(xin)
        out = torch.zeros(len(model.blocks), 2, 2)
        for i in range(len(model.blocks)):
            for j, (stream, branch) in enumerate(((z, attn[i].activation),
                                                  (z + attn[i].activation, mlp[i].activation))):
                r = stream.norm(dim=-1) / branch.norm(dim=-1).clamp_min(1e-12)      # [N, T]
                out[i, j, 0], out[i, j, 1] = r[:, 0].mean(), r[:, 1:].mean()
            z = z + attn[i].activation + mlp[i].activation
    return out


# --------------------------------------------------------------------------------------------
# Spatial positions: tokens and input patches on one grid
# --------------------------------------------------------------------------------------------
def spatial_tokens(a: torch.Tensor) -> torch.Tensor:
    """A layer's output as one feature vector per spatial position: conv maps [N,C,H,W] ->
    [N, H*W, C]; ViT tokens [N, 1+P, D] -> the patch tokens [N, P, D] (row-major grid)."""
    if a.dim() == 4:
        return a.flatten(2).transpose(1, 2)
    if a.dim() == 3:
        return a[:, 1:]
    raise ValueError(f"expected [N,C,H,W] maps or [N,T,D] tokens, got {tuple(a.shape)}.")


def image_patches(x: torch.Tensor, grid: int) -> torch.Tensor:
    """The pixels of a grid x grid tiling of each image: [N,3,H,W] -> [N, grid*grid, 3*(H/grid)^2]
    (row-major, the ViT's patch order)."""
    x = as_float_images(x)
    p = x.shape[-1] // grid
    tiles = x.unfold(2, p, p).unfold(3, p, p)                    # [N, 3, g, g, p, p]
    return tiles.permute(0, 2, 3, 1, 4, 5).reshape(len(x), grid * grid, -1)


# --------------------------------------------------------------------------------------------
# Linear probes
# --------------------------------------------------------------------------------------------
def linear_probe(train_features, train_labels, test_features, test_labels, C: float = 1.0,
                 max_iter: int = 300) -> float:
    """Test accuracy of a multinomial logistic regression on standardised features.

    The solver stops after ``max_iter`` iterations; a probe that has not fully converged by then
    is used as it is (its test accuracy barely moves any more), without sklearn's warning.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(np.asarray(train_features), np.asarray(train_labels))
    return float(probe.score(np.asarray(test_features), np.asarray(test_labels)))


def linear_probe_accuracies(model: nn.Module, layers, train, test, pool: str = "mean",
                            batch_size: int = 256, device=None, progress: bool = False) -> dict:
    """{layer: test accuracy of a linear probe on that layer's ``pool``-ed features}.

    ``train`` and ``test`` are (images, labels) pairs; the features are computed once per set.
    """
    ftr = layer_activations(model, train[0], list(layers), batch_size=batch_size, device=device,
                            pool=pool)
    fte = layer_activations(model, test[0], list(layers), batch_size=batch_size, device=device,
                            pool=pool)
    return {name: linear_probe(ftr[name], train[1], fte[name], test[1])
            for name in tqdm(ftr, desc="linear probes", disable=not progress, leave=False)}
