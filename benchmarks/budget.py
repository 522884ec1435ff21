"""Each notebook's budget: FLOPs, peak GPU memory and wall time per profile, on a T4 and an H100.

An ESTIMATE FROM THE CODE, not a measurement: no GPU has run these notebooks yet. For each notebook
(``notebooks/NN_*.py``) and profile (quick, laptop, full):

1. The sizes come from the notebook itself: every ``name = P.choose(quick=, laptop=, full=)``
   (``notebook_sizes``; a choose nested in a call, a dict or a loop is named after its statement,
   e.g. ``net_width`` for ``net = models.vgg(width=P.choose(...))``), plus module-level literals
   (``LAYERS = [...]``) and the profile's attributes (``P_batch_size``).
2. ``NOTEBOOKS`` describes each notebook's heavy stages in a few declarative lines whose fields are
   expressions over those names (``Stage("CAM", zoo("resnet_gap"), images="n_eval")``). The test
   (``tests/test_budget.py``) checks that every name still exists in the notebook, so the estimate
   cannot drift silently from the code.
3. Each model is run once on the ``meta`` device (shapes only, no arithmetic) under a dispatch mode
   that records, per aten op, the FLOPs (``torch.utils.flop_counter``'s formulas), the bytes read
   and written, and whether it launches a kernel; ``saved_tensors_hooks`` sums the activations
   autograd keeps (``profile_model``). Modes: ``infer`` (no_grad forward), ``grad`` (forward and a
   backward to the input: saliency, Grad-CAM, class-model ascent), ``train`` (forward, backward to
   the weights, optimizer).
4. Time of a step = max(GPU time, launch time) + one host sync, where GPU time is the roofline
   sum over ops of max(FLOPs / achieved FLOP/s, bytes / achieved bandwidth) and launch time is
   kernels x per-kernel host overhead (small batches are launch-bound). Peak memory = the largest
   stage: weights (+ gradients and optimizer state when training) + data held on the device +
   batch x per-image activations.
5. Stages that run on the CPU whatever the device (GrabCut, SLIC, scikit-learn fits, text LIME) are
   added as CPU seconds from per-item costs measured on the course's 2-core machine
   (``python benchmarks/budget.py --measure-cpu`` re-measures them).

    python benchmarks/budget.py                # the table, also to benchmarks/results/budget.md
    python benchmarks/budget.py --stages 07    # the stages of one notebook, every profile
    python benchmarks/budget.py --measure-cpu  # re-measure the CPU constants below

The zoo's models are estimated at the profile's own recipe (``zoo.RECIPES[name][profile]``): at
``full`` that is the model trained on request (``LECTURE_TRAIN=1``) and an upper bound for the
committed (smaller) checkpoint that serves by default; the cost of training them is a separate
table (``zoo_training``).
"""
from __future__ import annotations

import argparse
import ast
import importlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils._pytree import tree_flatten  # noqa: E402
from torch.utils.flop_counter import flop_registry  # noqa: E402

NOTEBOOK_DIR = ROOT / "notebooks"
RESULTS = ROOT / "benchmarks" / "results" / "budget.md"
PROFILES = ("quick", "laptop", "full")

# ------------------------------------------------------------------------------------------------
# Assumptions. Every number the estimate rests on, with where it comes from.
# ------------------------------------------------------------------------------------------------
LIMIT_T4_MINUTES = 20.0        # issue 14: a notebook's full profile must fit in 20 T4-minutes ...
LIMIT_GPU_GB = 12.0            # ... and in 12 GB of GPU memory (a Colab T4 has 15 GB usable)


@dataclass(frozen=True)
class Device:
    """Peak rates from the vendors' data sheets; ``efficiency`` is the fraction of peak that small
    convnets on 32x32 and 64x64 images reach in eager PyTorch (see the comments)."""

    name: str
    memory_gb: float
    policy: str                 # the course's precision policy on it (lecture_utils.precision)
    peak: dict                  # FLOP/s: "half" (fp16/bf16 tensor cores), "conv32", "mm32"
    bandwidth: float            # bytes/s of device memory
    efficiency: dict            # achieved fraction of each peak
    bw_efficiency: float        # achieved fraction of the bandwidth (eager, unfused elementwise)
    launch_s: float             # host time per kernel (PyTorch eager dispatch + launch)
    sync_s: float               # one host-device synchronisation (.cpu(), .item())


T4 = Device(
    "T4", 16.0, "fp16",
    # NVIDIA T4 data sheet: 65 TFLOP/s fp16 tensor cores, 8.1 TFLOP/s fp32, 320 GB/s GDDR6. Turing
    # has no TF32, so float32 convolutions and matmuls run at the fp32 rate.
    peak={"half": 65e12, "conv32": 8.1e12, "mm32": 8.1e12}, bandwidth=320e9,
    # ~20% of the fp16 peak for cuDNN on narrow (16-256 channel) convolutions of 8x8-64x64 maps
    # (DAWNBench-era ResNet-9 runs on a T4 reach 10-15 TFLOP/s); SIMT fp32 kernels reach ~60%.
    efficiency={"half": 0.20, "conv32": 0.6, "mm32": 0.6}, bw_efficiency=0.7,
    # Colab's host is a 2-vCPU Xeon at 2.2 GHz: ~10 us of Python + dispatcher + launch per op.
    launch_s=10e-6, sync_s=30e-6)

H100 = Device(
    "H100", 80.0, "bf16",
    # NVIDIA H100 SXM data sheet: 989 TFLOP/s bf16 dense, 494 TFLOP/s TF32 dense (PyTorch uses TF32
    # for float32 convolutions by default, torch.backends.cudnn.allow_tf32), 67 TFLOP/s fp32 for
    # float32 matmuls (torch.backends.cuda.matmul.allow_tf32 is False by default), 3.35 TB/s HBM3.
    peak={"half": 989e12, "conv32": 494e12, "mm32": 67e12}, bandwidth=3.35e12,
    # a few % of peak: 32x32 images and narrow layers cannot fill 132 SMs (issue 14's figure).
    efficiency={"half": 0.05, "conv32": 0.05, "mm32": 0.5}, bw_efficiency=0.7,
    # a faster host than Colab's: ~6 us per op
    launch_s=6e-6, sync_s=20e-6)

DEVICES = (T4, H100)

OPTIMIZER_KERNELS = 20         # per training step: foreach SGD/AdamW (a few multi-tensor kernels
#                                per parameter group), GradScaler, the LR scheduler, zero_grad
LOADER_KERNELS = 10            # per training step: data.DeviceLoader's index, float, crop, flip
INFER_HELD_FACTOR = 1.0        # no_grad inference holds about the largest op's inputs + outputs:
#                                at a residual add, the block's input, the branch and the sum
ALLOCATOR_OVERHEAD = 1.15      # caching-allocator rounding and fragmentation, cuDNN workspaces
CUDA_CONTEXT_GB = 0.4          # CUDA context + cuDNN/cuBLAS handles, outside PyTorch's allocator

# CPU seconds per item, measured on the course's 2-core machine (``--measure-cpu``, 2026-11-30,
# one thread, CPU time of the process, so the load average of 11 from other jobs stretched the wall
# time but not these). Colab's 2-vCPU host is of the same class.
CPU = {
    "GRABCUT_64": 0.0167,          # grabcut.saliency_grabcut on a 64x64 canvas
    "GRABCUT_PHOTO": 1.62,         # ... on a 512x512 photo (notebook 02 at full resolution)
    "GRABCUT_96": 0.0454,          # ... on a photo scaled to 96 px (quick profile)
    "SLIC_32": 0.00161,            # lime.superpixels(image 32x32, "slic")
    "SLIC_64": 0.0034,             # ... 64x64
    "LIME_FIT": 6.61e-07,          # lime.explain's sampling and weighted fit, per sample
    "LIME_TEXT": 3.47e-04,         # lime.explain_text on a newsgroup test post, per sample
    "LOGREG": 1.64e-07,            # sklearn LogisticRegression, lbfgs run to 300 iterations, per
    #                                sample x feature x class
    "NUMPY_FLOP": 2.82e-11,        # np.linalg.solve, per FLOP (one core, AVX-512)
}


# ------------------------------------------------------------------------------------------------
# 1. Sizes from the notebooks
# ------------------------------------------------------------------------------------------------
@dataclass
class Size:
    """One named size of a notebook: its value at each profile (None where the notebook's expression
    is not a literal; ``source`` keeps its text)."""

    name: str
    values: dict
    line: int
    source: dict = field(default_factory=dict)


def _is_choose(node) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "choose" and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("P", "profile"))


def _ident(text) -> str:
    return "".join(c if c.isalnum() else "_" for c in str(text)).strip("_")


def _first_name(target) -> str | None:
    for node in ast.walk(target):
        if isinstance(node, ast.Name):
            return node.id
    return None


def _size_name(call, parents) -> str:
    """``name`` for ``name = P.choose(...)``; a nested choose takes its statement's first target
    plus the keyword or dict key that holds it: ``net_width``, ``BASE_width``, ``for_p``."""
    quals, node = [], call
    while not isinstance(node, ast.stmt):
        parent = parents[node]
        if isinstance(parent, ast.keyword):
            quals.append(parent.arg)
        elif isinstance(parent, ast.Dict) and node in parent.values:
            key = parent.keys[parent.values.index(node)]
            if isinstance(key, ast.Constant):
                quals.append(key.value)
        node = parent
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        base = _first_name(target)
    elif isinstance(node, (ast.For, ast.AsyncFor)):
        base = "for_" + (_first_name(node.target) or "")
    else:
        base = "expr"
    return "_".join(_ident(q) for q in [base] + quals[::-1])


def _literal(node, constants: dict):
    """The value of a choose argument: a literal, a module-level literal of the notebook, or a
    constant of ``lecture_utils`` (``canvas.N_TEST``); otherwise None."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.attr.isupper()):
        try:
            return getattr(importlib.import_module(f"lecture_utils.{node.value.id}"), node.attr)
        except (ImportError, AttributeError):
            return None
    return None


def notebook_source(notebook: str) -> tuple[Path, str]:
    """The ``.py`` side of notebook ``"07"`` (or of a full stem) and its text."""
    paths = sorted(NOTEBOOK_DIR.glob(f"{notebook}*.py"))
    if len(paths) != 1:
        raise FileNotFoundError(f"no single notebooks/{notebook}*.py (found {paths})")
    return paths[0], paths[0].read_text()


@lru_cache(maxsize=None)
def notebook_sizes(notebook: str) -> dict[str, Size]:
    """``sizes_from_source`` of ``notebooks/<notebook>*.py``."""
    path, text = notebook_source(notebook)
    return sizes_from_source(text, path.name)


def sizes_from_source(text: str, where: str = "<source>") -> dict[str, Size]:
    """Every ``P.choose`` of a notebook's source by name, and its module-level literal assignments
    (the same value at every profile). A name chosen twice gets ``_2``, ``_3``."""
    tree = ast.parse(text)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    sizes = {name: Size(name, {p: v for p in PROFILES}, 0) for name, v in constants.items()}
    calls = sorted((n for n in ast.walk(tree) if _is_choose(n)),
                   key=lambda n: (n.lineno, n.col_offset))
    for call in calls:
        kw = {k.arg: k.value for k in call.keywords}
        if set(kw) != set(PROFILES):
            raise ValueError(f"{where}: line {call.lineno}: P.choose without "
                             "quick=, laptop=, full= keywords")
        name = base = _size_name(call, parents)
        k = 1
        while name in sizes and sizes[name].line:
            k += 1
            name = f"{base}_{k}"
        sizes[name] = Size(name, {p: _literal(kw[p], constants) for p in PROFILES}, call.lineno,
                           {p: ast.unparse(kw[p]) for p in PROFILES})
    return sizes


def profile_attributes() -> dict:
    """``P_batch_size`` etc.: the attributes of each profile (``config.PROFILES``)."""
    from lecture_utils.config import get_profile
    out = {}
    for p in PROFILES:
        prof = get_profile(p)
        for attr in ("train_subset", "eval_subset", "n_show", "batch_size"):
            out.setdefault(f"P_{attr}", {})[p] = getattr(prof, attr)
    return out


def laptop_stamp(notebook: str) -> dict:
    """The ``lecture_suite`` stamp of the executed ``.ipynb`` (profile, device, seconds)."""
    path = notebook_source(notebook)[0].with_suffix(".ipynb")
    try:
        return json.loads(path.read_text())["metadata"].get("lecture_suite", {})
    except (OSError, ValueError, KeyError):
        return {}


# ------------------------------------------------------------------------------------------------
# 2. Models, measured on the meta device
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """An architecture of ``lecture_utils.models`` (or torchvision's ``tv:``) and its input."""

    arch: str
    kwargs: tuple = ()
    input: tuple = (3, 32, 32)
    until: str | None = None      # an nn.Sequential cut after this child (dissection's layers)

    def build(self) -> torch.nn.Module:
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in self.kwargs}
        if self.arch.startswith("tv:"):
            import torchvision
            model = getattr(torchvision.models, self.arch[3:])(weights=None, **kw)
        else:
            from lecture_utils import models
            model = models.build(self.arch, **kw)
        if self.until:
            names = [n for n, _ in model.named_children()]
            model = torch.nn.Sequential(*list(model.children())[:names.index(self.until) + 1])
        return model

    def upto(self, layer: str) -> "ModelSpec":
        return replace(self, until=layer)

    def at(self, size: int) -> "ModelSpec":
        return replace(self, input=(self.input[0], size, size))

    def __str__(self) -> str:
        kw = ", ".join(f"{k}={v}" for k, v in self.kwargs)
        return f"{self.arch}({kw})" + (f" up to {self.until}" if self.until else "")


_NO_KERNEL = {"detach", "empty", "empty_like", "empty_strided", "lift_fresh", "alias", "t",
              "_unsafe_view", "_reshape_alias", "set_", "resize_"}
_CONV = {"convolution", "convolution_backward", "_convolution", "cudnn_convolution"}
_MM = {"mm", "addmm", "bmm", "baddbmm", "matmul", "_scaled_dot_product_efficient_attention",
       "_scaled_dot_product_flash_attention", "_scaled_dot_product_attention_math"}


class _Meter(TorchDispatchMode):
    """Per op: kind (conv / mm / other), FLOPs, bytes read + written, and the largest op."""

    def __init__(self):
        super().__init__()
        self.ops = []
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func._overloadpacket.__name__
        if func.is_view or name in _NO_KERNEL:
            return out
        flops = 0
        if func._overloadpacket in flop_registry:
            flops = flop_registry[func._overloadpacket](*args, **kwargs, out_val=out)
        read = sum(t.nbytes for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor))
        written = sum(t.nbytes for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor))
        kind = "conv" if name in _CONV else "mm" if name in _MM else "other"
        self.ops.append((kind, flops, read + written))
        self.largest = max(self.largest, read + written)
        return out


@dataclass(frozen=True)
class ModelCost:
    """Per image unless said otherwise; ``seconds[device][precision]`` is GPU time per image."""

    spec: ModelSpec
    mode: str
    flops: float
    kernels: int
    activation_bytes: float       # kept for the backward (grad, train) or in flight (infer)
    weight_bytes: float
    seconds: dict


BATCH_PROBE = 16                  # images per meta pass (weights amortised as in a real batch)


@lru_cache(maxsize=None)
def profile_model(spec: ModelSpec, mode: str) -> ModelCost:
    """Run ``spec`` on the meta device in ``mode`` (infer, grad, train) and cost it."""
    if mode not in ("infer", "grad", "train"):
        raise ValueError(f"mode must be infer, grad or train, not {mode!r}")
    with torch.device("meta"):
        model = spec.build()
        x = torch.empty(BATCH_PROBE, *spec.input)
    params = {p.untyped_storage()._cdata for p in model.parameters()}
    params |= {b.untyped_storage()._cdata for b in model.buffers()}
    saved = {}

    def pack(t):
        s = t.untyped_storage()
        if s._cdata not in params:
            saved[s._cdata] = (t, s.nbytes())      # the reference keeps _cdata unique
        return t

    meter = _Meter()
    model.train(mode == "train")
    with meter, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if mode == "infer":
            with torch.no_grad():
                model(x)
        elif mode == "grad":
            x.requires_grad_(True)
            out = model(x)
            torch.autograd.grad(out[:, 0].sum(), x)
        else:
            out = model(x)
            F.cross_entropy(out, torch.zeros(len(x), dtype=torch.long, device="meta")).backward()
    weight_bytes = (sum(p.nbytes for p in model.parameters())
                    + sum(b.nbytes for b in model.buffers()))
    if mode == "infer":
        act = INFER_HELD_FACTOR * meter.largest
    else:
        act = sum(b for _, b in saved.values()) + 2 * meter.largest   # + the backward's in-flight
    seconds = {}
    for dev in DEVICES:
        seconds[dev.name] = {}
        for precision in ("policy", "fp32"):
            total = 0.0
            for kind, flops, nbytes in meter.ops:
                if precision == "policy":
                    rate_key, nbytes = ("half" if kind in ("conv", "mm") else None), nbytes / 2
                else:
                    rate_key = {"conv": "conv32", "mm": "mm32"}.get(kind)
                compute = flops / (dev.peak[rate_key] * dev.efficiency[rate_key]) if rate_key else 0
                total += max(compute, nbytes / (dev.bandwidth * dev.bw_efficiency))
            seconds[dev.name][precision] = total / BATCH_PROBE
    return ModelCost(spec, mode, sum(f for _, f, _ in meter.ops) / BATCH_PROBE, len(meter.ops),
                     act / BATCH_PROBE, weight_bytes, seconds)


@lru_cache(maxsize=None)
def module_outputs(spec: ModelSpec) -> dict:
    """{module name: output shape for one image}, from one meta forward with hooks."""
    with torch.device("meta"):
        model = spec.build().eval()
        x = torch.empty(1, *spec.input)
    sizes = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: sizes.__setitem__(n, tuple(o.shape)))
             for n, m in model.named_modules() if n]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return sizes


# ------------------------------------------------------------------------------------------------
# 3. Stages
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """A pass of a model over images. Every field but ``what`` and ``mode`` is a Python expression
    over the notebook's sizes (``"n_eval"``, ``"2 * n_loc"``); ``model`` builds a ``ModelSpec``
    with ``zoo(name)``, ``arch(name, **kwargs)`` or ``imagenet(name)``. ``runs`` repeats the pass
    (classes, units, methods); ``over`` is a list whose items ``v`` each get the stage once (a
    sweep of architectures). ``policy``: under autocast (``train.fit``, ``train.predict_logits``)
    rather than float32 (attribution kernels). ``resident``: float32 images held on the device
    beside the batches."""

    what: str
    model: str
    images: str
    mode: str = "infer"
    size: int = 32
    batch: str = "256"
    epochs: str = "1"
    runs: str = "1"
    over: str | None = None
    policy: bool = False
    resident: str = "0"
    optimizer: str = "sgd"        # train: "sgd" (one momentum buffer) or "adamw" (two moments)


@dataclass(frozen=True)
class Work:
    """GPU work that is not a model pass (Gram matrices, IoU tallies): ``flops`` (float32),
    ``steps`` x ``kernels`` launches, ``memory`` bytes at its peak."""

    what: str
    flops: str
    steps: str = "1"
    kernels: int = 10
    memory: str = "0"
    syncs: str = "0"


@dataclass(frozen=True)
class Cpu:
    """CPU seconds whatever the device (``CPU`` constants times the notebook's sizes)."""

    what: str
    seconds: str


@dataclass
class StageCost:
    what: str
    flops: float = 0.0
    memory: float = 0.0           # bytes at the stage's peak
    gpu: dict = field(default_factory=dict)     # device -> seconds
    cpu: float = 0.0


def _zoo(profile: str):
    from lecture_utils import zoo as zoo_mod

    def zoo(name: str, size: int = 32) -> ModelSpec:
        recipe = zoo_mod.RECIPES[name][profile]
        if recipe.dataset == "digits":
            return ModelSpec(recipe.arch, tuple(sorted(recipe.arch_kwargs.items())), (1, 8, 8))
        side = recipe.crop or size
        return ModelSpec(recipe.arch, tuple(sorted(recipe.arch_kwargs.items())), (3, side, side))
    return zoo


def arch(name: str, size: int = 32, **kwargs) -> ModelSpec:
    return ModelSpec(name, tuple(sorted(kwargs.items())), (3, size, size))


def imagenet(name: str) -> ModelSpec:
    return ModelSpec(f"tv:{name}", (), (3, 224, 224))


def positions(side: int, window: int, stride: int) -> int:
    """How many occlusion positions ``occlusion.occlusion_masks`` makes on a side x side image."""
    from lecture_utils.occlusion import occlusion_masks
    m = occlusion_masks(side, side, window, stride)
    return m.shape[0] * m.shape[1]


MODULES = ("localization", "generalization", "representations", "concepts", "occlusion")
HELPERS = {"len", "sum", "min", "max", "range", "math", "int", "float", "round", "sorted", "v",
           "zoo", "arch", "imagenet", "positions", "block_features", "block_layers", "kw",
           "True", "False", "None", "abs", "any", "all"} | set(CPU) | set(MODULES)


def namespace(notebook: str, profile: str) -> dict:
    """The names a stage expression may use: the notebook's sizes at ``profile``, the profile's
    attributes, the helpers and the CPU constants."""
    ns = {name: s.values[profile] for name, s in notebook_sizes(notebook).items()}
    ns.update({k: v[profile] for k, v in profile_attributes().items()})
    ns.update(ASSUMED.get(notebook, {}).get(profile, {}))
    zoo = _zoo(profile)

    def block_layers(name):
        from lecture_utils import representations
        with torch.device("meta"):
            return representations.block_layers(zoo(name).build())

    def block_features(name, pool="flatten"):
        """Features per image summed over the block layers: flattened, or pooled (channels of a
        conv map, the width of a token)."""
        outs = module_outputs(zoo(name))
        shapes = [outs[n] for n in block_layers(name)]
        if pool == "flatten":
            return sum(math.prod(s[1:]) for s in shapes)
        return sum(s[1] if len(s) == 4 else s[-1] for s in shapes)

    def kw(name, key):
        return dict(zoo(name).kwargs)[key]

    ns.update(zoo=zoo, arch=arch, imagenet=imagenet, positions=positions, math=math,
              block_layers=block_layers, block_features=block_features, kw=kw, **CPU)
    for mod in MODULES:
        ns[mod] = importlib.import_module(f"lecture_utils.{mod}")
    return ns


def expression_names(expr) -> set[str]:
    """The free names of a stage expression (comprehension variables and keywords excluded)."""
    if expr is None or not isinstance(expr, str):
        return set()
    tree = ast.parse(expr, mode="eval")
    bound = {n.id for c in ast.walk(tree) if isinstance(c, ast.comprehension)
             for n in ast.walk(c.target) if isinstance(n, ast.Name)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - bound


def stage_names(stage) -> set[str]:
    """The notebook names a stage relies on (what ``tests/test_budget.py`` checks)."""
    exprs = [getattr(stage, f) for f in ("model", "images", "batch", "epochs", "runs", "over",
                                         "resident", "flops", "steps", "memory", "syncs", "seconds")
             if hasattr(stage, f)]
    return set().union(*(expression_names(e) for e in exprs)) - HELPERS


def _eval(expr, ns):
    if not isinstance(expr, str):
        return expr
    try:
        return eval(compile(expr, "<budget>", "eval"), {"__builtins__": __builtins__, **ns})
    except Exception as err:
        raise RuntimeError(f"budget expression {expr!r}: {type(err).__name__}: {err}") from err


def cost_stage(stage, ns: dict) -> StageCost:
    """FLOPs, peak memory and time of one stage at the sizes in ``ns``."""
    if isinstance(stage, Cpu):
        return StageCost(stage.what, cpu=float(_eval(stage.seconds, ns)))
    if isinstance(stage, Work):
        flops, steps = float(_eval(stage.flops, ns)), float(_eval(stage.steps, ns))
        syncs = float(_eval(stage.syncs, ns))
        gpu = {}
        for dev in DEVICES:
            compute = flops / (dev.peak["mm32"] * dev.efficiency["mm32"])
            gpu[dev.name] = max(compute, steps * stage.kernels * dev.launch_s) + syncs * dev.sync_s
        return StageCost(stage.what, flops, float(_eval(stage.memory, ns)), gpu)
    total = StageCost(stage.what)
    items = _eval(stage.over, ns) if stage.over else [None]
    for v in items:
        local = dict(ns, v=v)
        spec = _eval(stage.model, local)
        if spec.input[0] == 3 and spec.input[1] != stage.size:
            spec = spec.at(stage.size)
        images = int(_eval(stage.images, local) or 0)
        if images <= 0:
            continue
        batch = max(1, min(int(_eval(stage.batch, local)), images))
        epochs, runs = int(_eval(stage.epochs, local)), int(_eval(stage.runs, local))
        resident = float(_eval(stage.resident, local)) * 4 * math.prod(spec.input)
        cost = profile_model(spec, stage.mode)
        precision = "policy" if stage.policy else "fp32"
        half = 0.5 if stage.policy else 1.0
        if stage.mode == "train":
            steps = runs * epochs * max(1, images // batch)
            processed = steps * batch
            kernels = cost.kernels + OPTIMIZER_KERNELS + LOADER_KERNELS
            state = 2 if stage.optimizer == "adamw" else 1
            fixed = cost.weight_bytes * (2 + state + half)          # weights, grads, state, copy
            resident += images * math.prod(spec.input)              # uint8 training set
        else:
            steps = runs * epochs * math.ceil(images / batch)
            processed = runs * epochs * images
            kernels = cost.kernels
            fixed = cost.weight_bytes
        memory = fixed + resident + batch * cost.activation_bytes * half
        total.flops += processed * cost.flops
        total.memory = max(total.memory, memory)
        for dev in DEVICES:
            per_step_gpu = batch * cost.seconds[dev.name][precision]
            step = max(per_step_gpu, kernels * dev.launch_s) + dev.sync_s
            total.gpu[dev.name] = total.gpu.get(dev.name, 0.0) + steps * step
    return total


# ------------------------------------------------------------------------------------------------
# 4. The notebooks' heavy stages (read from each notebook; line numbers as of this writing)
# ------------------------------------------------------------------------------------------------
LIME_CALLS_12 = "(n_canvas + 6 * n_sanity)"     # canvases explained by LIME and by Kernel SHAP

# Notebook 06 trains each network of NETS on 28x28 crops (AdamW); run() caches by (net, kind, p,
# crop, weight decay), so the distinct runs per network are: (a) Inception on the five
# randomizations; (b, c) each net of nets_bc at each corruption level (p = 0 and 1 are (a)'s true
# and random labels); the regularization TABLE (5 rows for Inception, AlexNet, the MLPs, 3 for
# Inception w/o BatchNorm, shared with (a)-(c) where the key matches); the exercise's MLP 1x512 at
# p = 0.5. Inception w/o BatchNorm and MLP 3x512 appear only in the TABLE (3 new runs each).
NETS_06 = {
    "Inception": "arch('small_inception', 28, width=width_Inception)",
    "Inception w/o BatchNorm": "arch('small_inception', 28, width=width_Inception, "
                               "batch_norm=False)",
    "AlexNet": "arch('small_alexnet', 28, width=width_AlexNet)",
    "MLP 3x512": "arch('mlp', 28, hidden=(hidden,) * 3)",
    "MLP 1x512": "arch('mlp', 28, hidden=(hidden,))",
}
RUNS_06 = {
    "Inception": "len(generalization.RANDOMIZATIONS) + ('Inception' in nets_bc) * (len(levels) - 2)"
                 " + 3",
    "Inception w/o BatchNorm": "3",
    "AlexNet": "(len(levels) + 3) if 'AlexNet' in nets_bc else 5",
    "MLP 3x512": "3",
    "MLP 1x512": "((len(levels) + 1) if 'MLP 1x512' in nets_bc else 3) + (0.5 not in levels)",
}

NOTEBOOKS: dict[str, list] = {
    "00": [
        Stage("train the first VGG (train.fit)", "arch('vgg', width=net_width)", "n_train",
              mode="train", batch="P_batch_size", epochs="epochs", policy=True),
        Stage("evaluate every epoch", "arch('vgg', width=net_width)",
              "P_eval_subset or 10_000", batch="1024", runs="epochs", policy=True),
    ],
    "01": [
        Stage("top-9 images of 4 layers (show_top_activations)", "zoo('vgg')", "n_search",
              runs="len(LAYERS)"),
        Stage("project the top 9 of each unit", "zoo('vgg')", "n_units * k_top", mode="grad",
              batch="k_top", runs="len(LAYERS) * n_units"),
        Stage("unit evolution over 4 snapshots (epochs 1, 2, 5, final)", "zoo('vgg')",
              "evo_search", runs="len(evo_layers) * 4"),
        Stage("which layers settle first", "zoo('vgg')", "probe", runs="5 * len(LAYERS)"),
        Stage("occlusion, probabilities and a unit", "zoo('vgg')",
              "positions(32, window, stride)", batch="512", runs="2 * (P_n_show // 2)"),
        Stage("exercise: occlusion windows 4 and 16", "zoo('vgg')", "positions(32, 4, 4)",
              batch="512", runs="2 * (P_n_show // 2)"),
        Stage("occlusion on canvases", "zoo('vgg')", "n_canvas * positions(32, window, stride_c)",
              batch="512"),
        Stage("ImageNet VGG16 + AlexNet: units and occlusion", "imagenet('vgg16')",
              "4 * 5 + positions(224, 64, 32)", mode="grad", batch="25", size=224),
    ],
    "02": [
        Stage("class models, 10 classes (gradient ascent)", "zoo('vgg')", "10", mode="grad",
              batch="10", runs="steps"),
        Stage("class models, four lambdas x three classes", "zoo('vgg')",
              "len(lams) * len(show_classes)", mode="grad", batch="12", runs="steps"),
        Stage("class models, log-probability objective", "zoo('vgg')", "10", mode="grad",
              batch="10", runs="steps"),
        Stage("exercise: two more ascents", "zoo('vgg')", "some", mode="grad", batch="some",
              runs="2 * ex_steps"),
        Stage("saliency on canvases (All-CNN-C)", "zoo('all_cnn_c')", "n_loc", mode="grad",
              size=64, batch="200"),
        Stage("VGG16 class models (ImageNet)", "imagenet('vgg16')", "len(wanted)", mode="grad",
              size=224, batch="len(wanted)", runs="imgs_steps"),
        Cpu("GrabCut on canvases (twice)", "GRABCUT_64 * 2 * n_loc"),
        Cpu("GrabCut on 4 photos", "4 * (GRABCUT_96 if work_side else GRABCUT_PHOTO)"),
    ],
    "03": [
        Stage("accuracy for each p of p-norm pooling", "zoo('model_c')", "n_acc",
              batch="1024", runs="len(for_p) + 2", policy=True),
        Stage("top images, All-CNN-C and Model C", "zoo('all_cnn_c')", "search", runs="2"),
        Stage("three backward rules on the top images", "zoo('all_cnn_c')", "k_show * 2",
              mode="grad", batch="k_show", runs="2 * 3"),
        Stage("localization: 3 rules x 2 nets", "zoo('all_cnn_c')", "n_loc", mode="grad",
              size=64, batch="250", runs="6"),
        Stage("p-norm features", "zoo('model_c')", "feats"),
    ],
    "04": [
        Cpu("text LIME (scikit-learn pipeline on perturbed posts)",
            "LIME_TEXT * (20 * 500 + 4 * text_samples + 2 * n_docs * text_budget)"),
        Stage("LIME on CIFAR images, top-3 classes", "zoo('resnet_gap')",
              "n_images * 3 * image_samples", batch="512"),
        Stage("LIME on photos, top-2 classes", "zoo('resnet_gap')",
              "len(photo_names) * 2 * image_samples", batch="512"),
        Stage("LIME stability over sample sizes and seeds", "zoo('resnet_gap')",
              "sum(sizes) * seeds", batch="512"),
        Cpu("LIME fits and superpixels",
            "LIME_FIT * (image_samples * (3 * n_images + 2 * len(photo_names) + 2)"
            " + sum(sizes) * seeds) + SLIC_32 * (n_images + 2)"),
    ],
    "05": [
        Stage("one forward pass over n_eval (layer3 captured)", "zoo('resnet_gap')", "n_eval",
              batch="n_eval", resident="n_eval"),
        Stage("CAM of 10 classes on n_id images", "zoo('resnet_gap')", "n_id", batch="n_id",
              runs="10", resident="n_eval"),
        Stage("accuracy on canvases, 2 nets", "zoo('resnet_gap_canvas')", "n_bench", size=64,
              batch="1024", runs="2", policy=True),
        Stage("CAM benchmark (heatmaps, correct predictions)", "zoo('resnet_gap_canvas')",
              "n_bench", size=64, batch="250", runs="5"),
        Stage("GAP features for the concept classifier", "zoo('resnet_gap_canvas')",
              "n_train + n_bench", size=64, batch="500"),
        Stage("threshold and centre-box tuning: CAM of 2 nets", "zoo('resnet_gap_canvas')",
              "n_tune", size=64, batch="250", runs="2"),
        Cpu("logistic regression on GAP features (lbfgs)",
            "LOGREG * n_train * 4 * kw('resnet_gap', 'width') * 2 * 2000 / 300"),
    ],
    "06": [
        *[Stage(f"train {net} (AdamW)", model, "n_fit", mode="train", size=28, batch="batch",
                epochs="epochs", runs=RUNS_06[net], policy=True, optimizer="adamw")
          for net, model in NETS_06.items()],
        Stage("train/test accuracy after each run (as Inception, the largest)",
              NETS_06["Inception"], "n_fit + n_eval", size=28, batch="1024",
              runs=" + ".join(f"({r})" for r in RUNS_06.values()), policy=True),
        Stage("per-epoch test curves (the 6 Inception runs on true labels)", NETS_06["Inception"],
              "n_curve", size=28, batch="1024", runs="6 * epochs", policy=True),
        Cpu("interpolating ReLU net: dense solve, twice (numpy)", "NUMPY_FLOP * 2 * n_points ** 3"),
    ],
    "07": [
        # the images stay on the CPU; the methods send batches of batching.batch_size_for
        Stage("Grad-CAM = ReLU(CAM)/Z, 10 classes, CIFAR (batched)", "zoo('resnet_gap')",
              "x_eval", mode="grad", batch="256", runs="10"),
        Stage("Grad-CAM = ReLU(CAM)/Z, 10 classes, canvases (batched)",
              "zoo('resnet_gap_canvas')", "for_name", mode="grad", size=64, batch="256",
              runs="10"),
        Stage("... and CAM, both sets", "zoo('resnet_gap_canvas')", "for_name", size=64,
              batch="256", runs="10 * 2"),
        Stage("benchmark: 6 methods, by layer, exercise (gradients)", "zoo('resnet_gap_canvas')",
              "n_bench", mode="grad", size=64, batch="250", runs="8"),
        Stage("benchmark: CAM and correct predictions", "zoo('resnet_gap_canvas')", "n_bench",
              size=64, batch="250", runs="2"),
    ],
    "08": [
        Stage("exact Shapley tables, 2**M coalitions (x2)", "zoo('resnet_gap')",
              "2 ** n_segments", batch="512", runs="2"),
        Stage("exact Shapley on CIFAR images", "zoo('resnet_gap')", "2 ** n_segments",
              batch="512", runs="n_cifar"),
        Stage("Kernel SHAP / LIME on digits (blank and 100 backgrounds)", "zoo('digits_mlp')",
              "2 * n_eights * budget + 3 * budget * 100", batch="4096"),
        Stage("Deep SHAP on CIFAR images", "zoo('resnet_gap')", "2", mode="grad", batch="2",
              runs="n_cifar"),
        Cpu("estimator convergence (Kernel SHAP, permutations, LIME) and digit fits",
            "LIME_FIT * (3 * n_seeds * 16368 + (2 * n_eights + 3) * budget)"
            " + SLIC_32 * (n_cifar + 1)"),
    ],
    "09": [
        Stage("logits of the two zoo nets", "zoo('resnet_gap')", "n_eval", batch="1024",
              runs="2", policy=True),
        Stage("factor sweep: depth (ResNet-GAP)", "arch('resnet_gap', width=BASE_width,"
              " blocks=(v,) * 3)", "train_factor", mode="train", batch="32",
              epochs="epochs_factor", over="FACTORS_depth", policy=True),
        Stage("factor sweep: width (ResNet-GAP)", "arch('resnet_gap', width=v, blocks=(1, 1, 1))",
              "train_factor", mode="train", batch="32", epochs="epochs_factor",
              over="[w for w in FACTORS_width if w != BASE_width]", policy=True),
        Stage("factor sweep: batch norm (VGG)", "arch('vgg', width=BASE_width, batch_norm=v)",
              "train_factor", mode="train", batch="32", epochs="epochs_factor",
              over="[False, True]", policy=True),
        Stage("factor sweep: weight decay (ResNet-GAP)", "arch('resnet_gap', width=BASE_width,"
              " blocks=(1, 1, 1))", "train_factor", mode="train", batch="32",
              epochs="epochs_factor", runs="len(FACTORS_weight_decay) - 1", policy=True),
        Stage("test logits after each factor run", "arch('resnet_gap', width=max(FACTORS_width),"
              " blocks=(1, 1, 1))", "n_eval // 2", batch="1024",
              runs="len(FACTORS_depth) + len(FACTORS_width) + len(FACTORS_weight_decay)",
              policy=True),
        Stage("train a plain LeNet (+ per-epoch test)", "arch('lenet')", "n_plain",
              mode="train", batch="64", epochs="epochs_plain", policy=True),
    ],
    "10": [
        Stage("dissection: 2 passes x (trained, random) VGG on 64x64 scenes",
              "zoo('vgg').upto('relu4_2')",
              "n_scenes", size=64, batch="32", runs="4"),
        Work("dissection: IoU tallies (upsampled maps x 50 concept masks)",
             "2 * n_scenes * 64 * 64 * 50 * 2 * 30 * kw('vgg', 'width')",
             steps="2 * 8 * math.ceil(n_scenes / 32)", kernels=12,
             memory="3 * 32 * 8 * kw('vgg', 'width') * 64 * 64 * 4"),
        Stage("relu4_2 over the scenes", "zoo('vgg').upto('relu4_2')", "n_scenes", size=64,
              batch="256"),
        Stage("relu4_2 over training and validation images (ablation)", "zoo('vgg')",
              "n_abl + x_va", batch="500"),
        Work("unit ablation: the head re-run per unit and per unit set",
             "2 * (8 * kw('vgg', 'width')) ** 2 * 4 * (8 * kw('vgg', 'width') * (n_abl + x_va)"
             " + (1 + 6 + 6 * draws) * x_va)",
             steps="8 * kw('vgg', 'width') * (math.ceil(n_abl / 500) + math.ceil(x_va / 500))"
                   " + (1 + 6 + 6 * draws) * math.ceil(x_va / 500)",
             kernels=12, syncs="8 * kw('vgg', 'width') * (math.ceil(n_abl / 500)"
                               " + math.ceil(x_va / 500))"
                               " + (7 + 6 * draws) * math.ceil(x_va / 500)",
             memory="(n_abl + x_va) * 8 * kw('vgg', 'width') * 16 * 4"),
        Stage("adversarial: 5 gradient steps", "zoo('vgg')", "n_adv", mode="grad",
              batch="n_adv", runs="5"),
    ],
    "11": [
        Stage("CKA demo activations", "zoo('resnet_gap')", "m_demo", batch="256"),
        Stage("CKA: ResNet passes (own matrix, cross)", "zoo('resnet_gap')", "m_cka", batch="bs",
              runs="2"),
        Stage("CKA: ViT passes (own, cross, lesion, no-skip, pooled)", "zoo('vit')", "m_cka",
              batch="bs", runs="5"),
        Work("CKA: Gram matrices of every block layer",
             "2 * bs * m_cka * (2 * block_features('resnet_gap') + 5 * block_features('vit'))",
             steps="(m_cka / bs) * (len(block_layers('resnet_gap')) + len(block_layers('vit')))"
                   " * 7", kernels=8,
             memory="bs * 4 * (block_features('resnet_gap') + block_features('vit'))"),
        Stage("effective receptive fields, ResNet block layers", "zoo('resnet_gap')", "n_erf",
              mode="grad", batch="n_erf", runs="len(block_layers('resnet_gap'))"),
        Stage("effective receptive fields, ViT block layers", "zoo('vit')", "n_erf",
              mode="grad", batch="n_erf", runs="len(block_layers('vit'))"),
        Stage("attention distances, residual ratios", "zoo('vit')", "n_att", batch="256",
              runs="3"),
        Stage("skip lesions: accuracy per block", "zoo('vit')", "n_acc", batch="1024",
              runs="2 * (len(block_layers('vit')) // 2 + 1) + 2", policy=True),
        Stage("spatial CKA and linear-probe features", "zoo('vit')",
              "n_sp + 2 * (probe_train + probe_test)", batch="256"),
        Stage("linear-probe features (ResNet)", "zoo('resnet_gap')",
              "n_sp + probe_train + probe_test", batch="256"),
        Cpu("linear probes: 3 x block layers of logistic regression (scikit-learn)",
            "LOGREG * probe_train * 10 * (block_features('resnet_gap', 'mean')"
            " + 2 * block_features('vit', 'mean'))"),
    ],
    "12": [
        Stage("forward-only maps per canvas: occlusion, LIME, Kernel SHAP, CAM",
              "zoo('resnet_gap_canvas')",
              f"{LIME_CALLS_12} * (positions(64, 16, 8) + 1 + 2 * samples + 2)", size=64,
              batch="256"),
        Stage("gradient maps per canvas (3 rules, Grad-CAMs, Deep SHAP)",
              "zoo('resnet_gap_canvas')", LIME_CALLS_12, mode="grad", size=64, batch="64",
              runs="8"),
        Stage("deletion and insertion games: 12 methods", "zoo('resnet_gap_canvas')",
              "n_canvas * 2 * (steps + 1)", size=64, batch="256", runs="12",
              resident="n_canvas"),
        Stage("CIFAR sanity checks, ResNet (6 cascade steps)", "zoo('resnet_gap')", "n_cifar",
              mode="grad", batch="n_cifar", runs="6 * 8"),
        Stage("CIFAR sanity checks, VGG (11 cascade steps)", "zoo('vgg')", "n_cifar",
              mode="grad", batch="n_cifar", runs="11 * 7"),
        Stage("calibration logits, unit explorer", "zoo('vgg')", "n_cal + unit_images",
              batch="500"),
        Cpu("superpixels and LIME / Kernel SHAP fits",
            f"{LIME_CALLS_12} * 2 * (SLIC_64 + LIME_FIT * samples)"),
    ],
}

# Values a notebook computes at run time (its P.choose holds an expression, not a number).
ASSUMED: dict[str, dict] = {
    # nb08: full=len(eights), the test 8s the digits MLP gets right: 36 of the 360 test digits
    "08": {"full": {"n_eights": 36}},
}


# ------------------------------------------------------------------------------------------------
# 5. Putting it together
# ------------------------------------------------------------------------------------------------
@dataclass
class Estimate:
    notebook: str
    profile: str
    stages: list
    flops: float
    memory_gb: float
    gpu_s: dict
    cpu_s: float
    stamp: dict

    def minutes(self, device: str) -> float:
        return (self.gpu_s[device] + self.cpu_s) / 60

    def heaviest(self, device: str = "T4") -> str:
        s = max(self.stages, key=lambda c: c.gpu.get(device, 0.0) + c.cpu)
        return s.what

    def biggest(self) -> str:
        return max(self.stages, key=lambda c: c.memory).what


@lru_cache(maxsize=None)
def estimate(notebook: str, profile: str) -> Estimate:
    ns = namespace(notebook, profile)
    stages = [cost_stage(s, ns) for s in NOTEBOOKS[notebook]]
    peak = max((s.memory for s in stages), default=0.0)
    memory_gb = peak * ALLOCATOR_OVERHEAD / 2**30 + CUDA_CONTEXT_GB
    gpu = {d.name: sum(s.gpu.get(d.name, 0.0) for s in stages) for d in DEVICES}
    return Estimate(notebook, profile, stages, sum(s.flops for s in stages), memory_gb, gpu,
                    sum(s.cpu for s in stages), laptop_stamp(notebook))


def zoo_training(profile: str) -> list[tuple]:
    """(model, epochs x images, T4 minutes, H100 minutes, GB) of training each zoo model with the
    profile's recipe (on request at a profile larger than the committed checkpoint's)."""
    from lecture_utils import canvas
    from lecture_utils import zoo as zoo_mod
    rows = []
    for name, recipes in zoo_mod.RECIPES.items():
        r = recipes[profile]
        n = r.train_subset or {"canvas64": 50_000, "digits": 1437}.get(r.dataset, 50_000)
        n_test = {"canvas64": canvas.N_TEST, "digits": 360}.get(r.dataset, 10_000)
        size = 64 if r.dataset == "canvas64" else 32
        adam = "adamw" if r.optimizer == "adamw" else "sgd"
        ns = {"zoo": _zoo(profile), "n": n, "t": n_test}
        train = cost_stage(Stage(f"train ({adam})", f"zoo({name!r}, {size})", "n", mode="train",
                                 size=size, batch=str(r.batch_size), epochs=str(r.epochs),
                                 policy=True), ns)
        test = cost_stage(Stage("test", f"zoo({name!r}, {size})", "t", size=size, batch="1024",
                                runs=str(r.epochs + 2), policy=True), ns)
        rows.append((name, r.epochs, n, (train.gpu["T4"] + test.gpu["T4"]) / 60,
                     (train.gpu["H100"] + test.gpu["H100"]) / 60,
                     max(train.memory, test.memory) * ALLOCATOR_OVERHEAD / 2**30 + CUDA_CONTEXT_GB))
    return rows


def notebooks() -> list[str]:
    return sorted(p.name[:2] for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))


def _fmt_min(m: float) -> str:
    return f"{m:.1f}" if m < 10 else f"{m:.0f}"


def table(estimates: list[Estimate]) -> str:
    lines = ["| notebook | profile | TFLOP | peak GPU memory (GB) | T4 (min) | H100 (min) | "
             "of which CPU (min) | heaviest stage on a T4 | laptop run on the CPU (stamp) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for e in estimates:
        flag = lambda ok: "" if ok else " **over**"  # noqa: E731
        over_t = e.profile == "full" and e.minutes("T4") > LIMIT_T4_MINUTES
        over_m = e.profile == "full" and e.memory_gb > LIMIT_GPU_GB
        stamp = (f"{e.stamp['seconds'] / 60:.1f} min ({e.stamp.get('profile')})"
                 if e.profile == "laptop" and e.stamp.get("seconds") else "")
        lines.append(f"| {e.notebook} | {e.profile} | {e.flops / 1e12:.2f} | "
                     f"{e.memory_gb:.1f}{flag(not over_m)} | {_fmt_min(e.minutes('T4'))}"
                     f"{flag(not over_t)} | {_fmt_min(e.minutes('H100'))} | "
                     f"{_fmt_min(e.cpu_s / 60)} | {e.heaviest('T4')} | {stamp} |")
    return "\n".join(lines)


def stage_table(e: Estimate) -> str:
    lines = [f"Notebook {e.notebook}, {e.profile} profile:", "",
             "| stage | TFLOP | GB | T4 (s) | H100 (s) | CPU (s) |", "|---|---|---|---|---|---|"]
    for s in e.stages:
        lines.append(f"| {s.what} | {s.flops / 1e12:.2f} | {s.memory / 2**30:.2f} | "
                     f"{s.gpu.get('T4', 0):.1f} | {s.gpu.get('H100', 0):.1f} | {s.cpu:.1f} |")
    return "\n".join(lines)


def zoo_table(profile: str) -> str:
    lines = [f"| zoo model ({profile} recipe) | epochs | training images | T4 (min) | H100 (min) | "
             "peak GB |", "|---|---|---|---|---|---|"]
    for name, epochs, n, t4, h100, gb in zoo_training(profile):
        lines.append(f"| `{name}` | {epochs} | {n:,} | {_fmt_min(t4)} | {_fmt_min(h100)} | "
                     f"{gb:.1f} |")
    return "\n".join(lines)


def assumptions() -> str:
    rows = []
    for d in DEVICES:
        rows.append(f"- {d.name}: {d.memory_gb:.0f} GB, precision policy {d.policy}; peaks "
                    f"{d.peak['half'] / 1e12:.0f} TFLOP/s half, {d.peak['conv32'] / 1e12:.1f} "
                    f"float32 convolutions, {d.peak['mm32'] / 1e12:.1f} float32 matmuls, "
                    f"{d.bandwidth / 1e9:.0f} GB/s; achieved {d.efficiency['half']:.0%} / "
                    f"{d.efficiency['conv32']:.0%} / {d.efficiency['mm32']:.0%} of them and "
                    f"{d.bw_efficiency:.0%} of the bandwidth; "
                    f"{d.launch_s * 1e6:.0f} us per kernel, "
                    f"{d.sync_s * 1e6:.0f} us per host sync.")
    return "\n".join(rows)


def markdown(estimates, command: str) -> str:
    full = [e for e in estimates if e.profile == "full"]
    over = [e for e in full if e.minutes("T4") > LIMIT_T4_MINUTES or e.memory_gb > LIMIT_GPU_GB]
    parts = [
        "# Budgets: time and memory per notebook",
        "",
        "**An estimate from the code, not a measurement**: no GPU has run these notebooks. "
        "`benchmarks/budget.py` reads each notebook's sizes (`P.choose`), describes its heavy "
        "stages, runs each model on PyTorch's `meta` device to count FLOPs (aten formulas of "
        "`torch.utils.flop_counter`), bytes moved, kernels launched and the activations autograd "
        "saves, and turns them into time with a roofline per op plus a host overhead per kernel "
        "(small batches are launch-bound). CPU-only stages (GrabCut, SLIC, scikit-learn, text "
        "LIME) are added from per-item costs measured on the course's CPU. The zoo's models are "
        "costed at each profile's own recipe (at `full`: the model trained on request, larger "
        "than the committed checkpoint that serves by default). `tests/test_budget.py` fails when "
        f"a notebook's full profile is estimated above {LIMIT_T4_MINUTES:.0f} T4-minutes or "
        f"{LIMIT_GPU_GB:.0f} GB, and when a size the budget relies on disappears from a notebook.",
        "",
        f"    {command}",
        "",
        f"Generated {time.strftime('%Y-%m-%d')} with torch {torch.__version__}. "
        "Peak memory includes the CUDA context "
        f"({CUDA_CONTEXT_GB} GB) and {ALLOCATOR_OVERHEAD - 1:.0%} for the allocator. The last "
        "column is the notebook's last executed run (its `lecture_suite` stamp: laptop profile, "
        "on the course's 2-core CPU), a sanity check of the ranking, not of the GPU figures.",
        "",
        table(estimates),
        "",
        "## Over the limits at the full profile",
        "",
    ]
    if not over:
        parts.append("None.")
    for e in over:
        parts += [stage_table(e), ""]
    parts += ["## Training the zoo on request (`LECTURE_TRAIN=1`, full recipes)", "",
              "Not part of any notebook's run by default (the committed checkpoints serve), but "
              "the first use of a model at a profile above its checkpoint's costs this:", "",
              zoo_table("full"), "", "## Assumptions", "", assumptions(),
              f"- per training step {OPTIMIZER_KERNELS} optimizer and {LOADER_KERNELS} data-loader "
              "kernels; attribution kernels run in float32 (lecture_utils.precision), training "
              "and `predict_logits` under the device's autocast policy (activations halved).",
              "- inference holds the largest op's inputs and outputs; backward passes hold "
              "the saved activations plus twice the largest op.",
              "- CPU constants (seconds per item): " + ", ".join(f"{k} {v:.3g}"
                                                               for k, v in CPU.items()), ""]
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------------
# CPU constants
# ------------------------------------------------------------------------------------------------
def measure_cpu() -> dict:
    """Re-measure the ``CPU`` constants on this machine: the median CPU time of a few runs."""
    import warnings

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from lecture_utils import canvas, data, grabcut, lime
    torch.set_num_threads(1)

    sys.path.insert(0, str(Path(__file__).parent))
    from common import median_seconds

    def timed(fn, repeats=5):
        # CPU time of this process, not wall time: on a shared machine it stays close to what an
        # idle one would take (other jobs stretch the wall time, not the CPU time)
        return median_seconds(fn, repeats, clock=time.process_time)

    cs = canvas.benchmark_canvases("test", n=8)
    sal = torch.rand(64, 64, generator=torch.Generator().manual_seed(0))
    photo = torch.nn.functional.interpolate(data.to_float(data.load_photo("astronaut"))[None],
                                            size=(512, 512))[0]
    photo96 = torch.nn.functional.interpolate(photo[None], size=(96, 96))[0]
    img32 = data.to_float(data.load_cifar10("test")[0][:1])[0]
    img64 = data.to_float(cs.images[0])
    out = {
        "GRABCUT_64": timed(lambda: grabcut.saliency_grabcut(cs.images[0], sal)),
        "GRABCUT_PHOTO": timed(lambda: grabcut.saliency_grabcut(photo, torch.rand(512, 512)), 3),
        "GRABCUT_96": timed(lambda: grabcut.saliency_grabcut(photo96, torch.rand(96, 96))),
        "SLIC_32": timed(lambda: lime.superpixels(img32, "slic", n_segments=25)),
        "SLIC_64": timed(lambda: lime.superpixels(img64, "slic", n_segments=16)),
    }
    table_fn = lambda Z: Z.double().sum(1)  # noqa: E731
    out["LIME_FIT"] = timed(lambda: lime.explain(table_fn, 16, 5000)) / 5000
    cats = ["alt.atheism", "soc.religion.christian"]
    texts, labels, _ = data.load_newsgroups("train", categories=cats)
    posts = data.load_newsgroups("test", categories=cats)[0][:20]     # typical posts: ~200 words
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    pipe = make_pipeline(TfidfVectorizer(lowercase=False),
                         LogisticRegression(C=10, solver="liblinear")).fit(texts, labels.numpy())
    out["LIME_TEXT"] = timed(lambda: [lime.explain_text(pipe.predict_proba, t, 0, n_samples=300)
                                      for t in posts], 1) / (300 * len(posts))
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 5000)
    X = rng.standard_normal((10, 128))[y] + 3 * rng.standard_normal((5000, 128))  # overlapping
    warnings.simplefilter("ignore")
    out["LOGREG"] = timed(lambda: LogisticRegression(max_iter=300, tol=0).fit(X, y),  # all 300
                          3) / (5000 * 128 * 10)
    a = rng.standard_normal((1500, 1500))
    out["NUMPY_FLOP"] = timed(lambda: np.linalg.solve(a, a[:, 0]), 3) / (2 / 3 * 1500 ** 3)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", nargs="*", help="print the stages of these notebooks")
    parser.add_argument("--measure-cpu", action="store_true", help="re-measure the CPU constants")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.measure_cpu:
        sys.path.insert(0, str(Path(__file__).parent))
        from common import machine_line
        print(machine_line())
        for k, v in measure_cpu().items():
            print(f'    "{k}": {v:.3g},')
        return
    if args.stages:
        for nb in args.stages:
            for p in PROFILES:
                print(stage_table(estimate(nb, p)), "\n")
        return
    estimates = [estimate(nb, p) for nb in notebooks() for p in PROFILES]
    print(table(estimates))
    if not args.no_write:
        command = "python benchmarks/budget.py"
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(markdown(estimates, command))
        print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    os.environ.setdefault("LECTURE_OFFLINE", "1")
    main()
