"""How fast are the three backward rules of ``lecture_utils.backprop.input_gradient`` beside
captum's
``Saliency`` / ``Deconvolution`` / ``GuidedBackprop``?

    python benchmarks/backprop.py                      # the profile's zoo nets, batch 256, this
    device
    python benchmarks/backprop.py --profile full       # full-width nets, on the GPU when there is
    one
    LECTURE_DEVICE=cpu python benchmarks/backprop.py   # force the CPU

For each network (the VGG net with max-pooling, Model C, All-CNN-C) and each rule: one forward and
one backward pass for a batch of ``--batch`` CIFAR-10 test images (each image's true class as the
target), in images per second: the median of ``--repeats`` timed runs after a warm-up, the two
libraries timed alternately on the same model, device and batch. The last column is the largest
difference between the two results relative to their largest value (they compute the same thing).

The trained checkpoints are used when the zoo has them for the profile (committed or cached);
otherwise the recipe's architecture with random weights (speed does not depend on the weights), and
the table says so. Both libraries do the same autograd work: one backward pass to the input, with
hooks on the ReLUs for deconvnet and guided; ours computes no parameter gradients
(``torch.autograd.grad`` with respect to the input only), and so does captum's ``Saliency``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import torch

from lecture_utils import backprop, config, data, models, zoo

RULES = ("gradient", "deconvnet", "guided")
NETS = ("vgg", "model_c", "all_cnn_c")


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_pair(fn_a, fn_b, repeats: int, device):
    """Median seconds of ``fn_a`` and ``fn_b``, timed alternately (a, b, a, b, ...) so that a change
    in the machine's load affects both alike; each is run once first (warm-up, and its result)."""
    out_a, out_b = fn_a(), fn_b()
    times = ([], [])
    for _ in range(repeats):
        for fn, t in zip((fn_a, fn_b), times):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            t.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1]), out_a, out_b


def load(name: str, profile: str, device):
    try:
        return zoo.load_model(name, profile=profile, device=device,
                              train_if_missing=False), "trained"
    except zoo.ZooError:
        recipe = zoo.RECIPES[name][profile]
        torch.manual_seed(0)
        return models.build(recipe.arch, **recipe.arch_kwargs).to(device).eval(), "random weights"


def captum_method(rule: str, model):
    # the [test] extra; benchmarks only
    from captum.attr import Deconvolution, GuidedBackprop, Saliency
    if rule == "gradient":
        sal = Saliency(model)
        return lambda x, t: sal.attribute(x, target=t, abs=False)
    method = (Deconvolution if rule == "deconvnet" else GuidedBackprop)(model)
    return lambda x, t: method.attribute(x, target=t)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default=None, choices=config.PROFILES)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS)
    args = p.parse_args()
    warnings.filterwarnings("ignore")            # captum warns about hooks on every call

    profile = config.get_profile(args.profile).name
    device = config.get_device()
    images, labels = data.load_cifar10("test")
    x = data.to_float(images[: args.batch]).to(device)
    target = labels[: args.batch].to(device)
    print(f"{config.describe()} | batch {args.batch} of 32x32 CIFAR-10 test images | "
          f"{args.repeats} timed runs each, alternating (median) | load average "
          f"{os.getloadavg()[0]:.1f}")
    print("\n| network | weights | rule | ours (images/s) | captum (images/s) | ours / captum | "
          "max rel. difference |\n|---|---|---|---|---|---|---|")
    for name in args.nets:
        model, weights = load(name, profile, device)
        for rule in RULES:
            ref = captum_method(rule, model)
            t_ours, t_ref, mine, theirs = timed_pair(
                lambda: backprop.input_gradient(model, x, target, rule=rule),
                lambda: ref(x.clone().requires_grad_(True), target), args.repeats, device)
            diff = float((mine - theirs).abs().max() / theirs.abs().max().clamp_min(1e-30))
            print(f"| {name} | {weights} | {rule} | {args.batch / t_ours:,.0f} | "
                  f"{args.batch / t_ref:,.0f} | "
                  f"{t_ref / t_ours:.2f}x | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
