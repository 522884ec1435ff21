"""How fast is ``lecture_utils.cam.grad_cam`` beside pytorch-grad-cam's ``GradCAM``?

    python benchmarks/gradcam.py                       # the profile's ResNet-GAP, batch 256
    python benchmarks/gradcam.py --profile full        # width 64, on the GPU when there is one
    python benchmarks/gradcam.py --size 64             # 64x64 canvases (16x16 maps at layer3)

Grad-CAM for one batch at the last convolutional block (``layer3``) of the ResNet-GAP, one forward
and one backward pass, images per second (median of ``--repeats`` timed runs after a warm-up), on
the same model, device and batch for both libraries. Three rows:

* ``ours (h x w)``: ``cam.grad_cam``, the map at the layer's resolution (what the course uses);
* ``ours (H x W, normalised)``: the same upsampled to the input and min-max scaled per image, i.e.
  exactly what pytorch-grad-cam returns (checked: max abs difference printed);
* ``pytorch-grad-cam``: ``GradCAM(model, [model.layer3])(x, targets)``.

The weights are random (speed does not depend on them); the architecture is the zoo recipe's.
Why ours is faster: the backward pass stops at the layer (``torch.autograd.grad`` with respect to
its output, no parameter gradients, no gradient below the layer), and the maps stay on the device;
pytorch-grad-cam back-propagates into every parameter and moves the activations to NumPy.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from lecture_utils import cam, config, models, zoo
from lecture_utils.maps import upsample
from lecture_utils.viz import normalize_map


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, repeats: int, device) -> tuple[float, object]:
    out = fn()                                   # warm-up (and the result to compare)
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default=None, choices=config.PROFILES)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--size", type=int, default=32, help="input side: 32 (CIFAR) or 64 (canvases)")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()

    from pytorch_grad_cam import GradCAM           # the [test] extra; benchmarks only
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    profile = config.get_profile(args.profile).name
    device = config.get_device()
    recipe = zoo.RECIPES["resnet_gap"][profile]
    torch.manual_seed(0)
    model = models.build(recipe.arch, **recipe.arch_kwargs).to(device).eval()
    x = torch.rand(args.batch, 3, args.size, args.size, device=device)
    target = torch.arange(args.batch, device=device) % 10
    print(f"{config.describe()} | resnet_gap {recipe.arch_kwargs} ({profile} recipe), "
          f"batch {args.batch} of {args.size}x{args.size}")

    def ours():
        return cam.grad_cam(model, x, target, layer=model.layer3)

    def ours_like_theirs():
        return normalize_map(upsample(cam.grad_cam(model, x, target, layer=model.layer3),
                                      args.size))

    targets = [ClassifierOutputTarget(int(c)) for c in target]
    with GradCAM(model=model, target_layers=[model.layer3]) as ref:
        def theirs():
            return ref(input_tensor=x, targets=targets)

        t_ours, small = timed(ours, args.repeats, device)
        t_like, mine = timed(ours_like_theirs, args.repeats, device)
        t_ref, their_maps = timed(theirs, args.repeats, device)
    diff = float(np.abs(mine.cpu().numpy() - their_maps).max())
    h, w = small.shape[-2:]
    rows = [(f"ours ({h}x{w})", t_ours), (f"ours ({args.size}x{args.size}, normalised)", t_like),
            ("pytorch-grad-cam", t_ref)]
    print("\n| method | seconds per batch | images/s | vs pytorch-grad-cam |\n|---|---|---|---|")
    for name, t in rows:
        print(f"| {name} | {t:.4f} | {args.batch / t:,.0f} | {t_ref / t:.2f}x |")
    print(f"\nmax |ours (normalised) - pytorch-grad-cam| = {diff:.1e}")


if __name__ == "__main__":
    main()
