"""How fast does the course's trainer train the zoo's models?

    python benchmarks/train_speed.py --profile full --seeds 3 resnet_gap all_cnn_c   # on a GPU
    python benchmarks/train_speed.py --profile laptop --seeds 1 lenet                # on a CPU

For each model: the profile's zoo recipe, trained from scratch with several seeds on the full
training set; prints training seconds (evaluation excluded), test accuracy (plain and with
test-time flip) and the achieved TFLOP/s (training FLOPs = 3 x forward FLOPs, counted by
torch.utils.flop_counter on one batch, times the images seen).

Reference point on one H100 and this same JPEG copy of CIFAR-10 (from the course's issue):
airbench94 reaches 90.7% in 2.5 s, airbench96 93.2% in 16.6 s. Targets for the full profile:
ResNet-GAP >= 91% in <= 30 s, All-CNN-C >= 88% in <= 60 s.
"""
from __future__ import annotations

import argparse
import statistics

import torch
from torch.utils.flop_counter import FlopCounterMode

from lecture_utils import config, models, train, zoo


def forward_flops_per_image(recipe: zoo.Recipe) -> float:
    model = models.build(recipe.arch, **recipe.arch_kwargs).eval()
    size = recipe.crop or 32
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.rand(8, 3, size, size))
    return counter.get_total_flops() / 8


def run(name: str, profile: str, seeds: int, device) -> dict:
    recipe = zoo.RECIPES[name][profile]
    (x, y), test = zoo.dataset_for(recipe)
    flops = 3 * forward_flops_per_image(recipe) * len(y) * recipe.epochs
    rows = []
    for seed in range(seeds):
        model = models.build(recipe.arch, **recipe.arch_kwargs)
        kw = dict(recipe.fit_kwargs(), seed=seed)
        hist = train.fit(model, (x, y), None, device=device, progress=False, **kw)
        acc = train.evaluate(model, *test, crop=recipe.crop)["acc"]
        acc_tta = train.evaluate(model, *test, tta=True, crop=recipe.crop)["acc"]
        rows.append((hist.seconds[-1], acc, acc_tta))
    secs, accs, ttas = zip(*rows)
    return {"model": name, "epochs": recipe.epochs, "seconds": statistics.mean(secs),
            "acc": statistics.mean(accs), "acc_min": min(accs), "acc_tta": statistics.mean(ttas),
            "tflops": flops / statistics.mean(secs) / 1e12, "seeds": seeds}


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="+", choices=sorted(zoo.RECIPES))
    p.add_argument("--profile", default=None, choices=config.PROFILES)
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    profile = config.get_profile(args.profile).name
    device = config.get_device()
    print(f"{config.describe()} | recipes: {profile}")
    print("| model | epochs | train s (mean) | test acc (mean / min) | with flip | TFLOP/s |")
    print("|---|---|---|---|---|---|")
    for name in args.names:
        r = run(name, profile, args.seeds, device)
        print(f"| {r['model']} | {r['epochs']} | {r['seconds']:.1f} | {r['acc']:.2%} / "
              f"{r['acc_min']:.2%} "
              f"| {r['acc_tta']:.2%} | {r['tflops']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
