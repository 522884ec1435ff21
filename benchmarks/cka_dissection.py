"""Benchmark: the cross-model CKA heat map and the dissection of every unit of the VGG.

    python benchmarks/cka_dissection.py                      # laptop-sized models, 10,000 images
    python benchmarks/cka_dissection.py --scale full         # the full recipes' widths (a GPU)
    python benchmarks/cka_dissection.py --images 2000 --scenes 200   # a smaller run

1. Minibatch CKA (``similarity.cka_matrix``) of every block-level layer of the ViT against every
   layer of the ResNet (``representations.block_layers``: 13 x 13 at the laptop recipes) on the
   first N CIFAR-10 test images, activations flattened (Raghu et al.), in batches.
2. ``dissection.dissect`` of all units of all eight convolutional layers of the VGG on the concept
   set (``concepts.make_concept_set``, 64 x 64 scenes); the scene generation is timed apart.

Weights come from the zoo when a checkpoint of the chosen scale exists and are random otherwise
(the timings are the same: the computation does not depend on the weights). Prints a Markdown
table: wall-clock seconds, the process's CPU seconds (on a shared machine the wall clock also
counts the time other jobs held the cores), and peak memory (CUDA:
``torch.cuda.max_memory_allocated``; CPU: the peak resident set size of the process above its
size before the step, sampled every 10 ms).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lecture_utils import concepts, config, data, dissection, models, zoo  # noqa: E402
from lecture_utils import representations as R  # noqa: E402
from lecture_utils import similarity as S  # noqa: E402


@contextmanager
def measure(device: torch.device, out: dict):
    """Wall-clock seconds and peak memory (MiB) of the block, into ``out``."""
    try:                     # psutil ships with Jupyter; without it, the process's peak RSS so far
        import psutil
        rss = psutil.Process(os.getpid()).memory_info
        read = lambda: rss().rss  # noqa: E731
    except ImportError:
        import resource
        read = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # noqa: E731
    base = read()
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], read())
            time.sleep(0.01)

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base_cuda = torch.cuda.memory_allocated(device)
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        yield out
    finally:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        out["seconds"] = time.perf_counter() - start
        out["cpu_seconds"] = time.process_time() - cpu_start
        stop.set()
        thread.join()
        out["cpu_peak_mib"] = (peak[0] - base) / 2 ** 20
        if device.type == "cuda":
            out["gpu_peak_mib"] = (torch.cuda.max_memory_allocated(device) - base_cuda) / 2 ** 20


def model(name: str, scale: str, device: torch.device):
    """The zoo's model at ``scale`` when one is trained, else the same architecture, random."""
    try:
        net = zoo.load_model(name, profile=scale, device=device, train_if_missing=False)
        source = f"zoo ({net.zoo_info['source']})"
    except zoo.ZooError:
        recipe = zoo.RECIPES[name][scale]
        net = models.build(recipe.arch, **recipe.arch_kwargs).to(device).eval()
        source = "random weights"
    return net, source


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", default="laptop", choices=("laptop", "full"))
    p.add_argument("--images", type=int, default=10_000, help="CIFAR-10 test images for CKA")
    p.add_argument("--batch", type=int, default=500, help="minibatch size for CKA")
    p.add_argument("--scenes", type=int, default=1_000, help="concept scenes for dissection")
    args = p.parse_args(argv)
    device = config.get_device()
    torch.manual_seed(0)
    x, y = data.load_cifar10("test")
    rows = []

    vit, vit_src = model("vit", args.scale, device)
    resnet, res_src = model("resnet_gap", args.scale, device)
    lv, lr = R.block_layers(vit), R.block_layers(resnet)
    S.cka_matrix(vit, x[:2 * 8], lv, model_b=resnet, layers_b=lr, batch_size=8)      # warm-up
    with measure(device, {}) as m:
        heat = S.cka_matrix(vit, x[:args.images], lv, model_b=resnet, layers_b=lr,
                            batch_size=args.batch)
    rows.append((f"cross-model minibatch CKA, ViT ({len(lv)} layers, {vit_src}) x ResNet "
                 f"({len(lr)} layers, {res_src}), {args.images:,} images, "
                 f"batches of {args.batch}", m))
    assert heat.shape == (len(lv), len(lr)) and torch.isfinite(heat).all()

    with measure(device, {}) as m:
        scenes = concepts.make_concept_set(x, y, args.scenes, seed=0)
    rows.append((f"concept set: {args.scenes:,} scenes of 64 x 64, "
                 f"{len(scenes.concepts)} concepts", m))

    vgg, vgg_src = model("vgg", args.scale, device)
    layers = [n for n, mod in vgg.named_modules()
              if isinstance(mod, torch.nn.ReLU) and n.startswith("relu") and "fc" not in n]
    units = sum(mod.out_channels for mod in vgg.modules() if isinstance(mod, torch.nn.Conv2d))
    with measure(device, {}) as m:
        res = dissection.dissect(vgg, scenes, layers, progress=False)
    rows.append((f"dissection of all {units} units of the VGG ({len(layers)} layers, {vgg_src}) "
                 f"on {args.scenes:,} scenes", m))
    assert all(torch.isfinite(r.iou).all() for r in res.values())

    print(f"device: {config.device_name(device, detail=True)} | torch {torch.__version__} | "
          f"scale: {args.scale}\n")
    gpu = device.type == "cuda"
    print("| step | seconds (wall) | CPU seconds of the process | peak memory (MiB) |")
    print("|---|---:|---:|---:|")
    for label, m in rows:
        mem = f"{m['cpu_peak_mib']:.0f}"
        if gpu:
            mem = f"{m['gpu_peak_mib']:.0f} GPU, {mem} CPU"
        print(f"| {label} | {m['seconds']:.1f} | {m['cpu_seconds']:.1f} | {mem} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
