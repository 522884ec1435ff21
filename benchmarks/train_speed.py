"""How fast does the course's trainer train the zoo's models, and what does bf16 buy?

    python benchmarks/train_speed.py throughput      # bf16 vs float32 on this device
    python benchmarks/train_speed.py curves          # accuracy per minute, from the zoo's manifest
    python benchmarks/train_speed.py allocator       # a CPU: glibc's malloc vs keeping freed memory
    python benchmarks/train_speed.py recipes --profile full --seeds 3 resnet_gap all_cnn_c  # a GPU

``throughput``: training images per second of one optimizer step (batch 256, channels-last) of each
zoo architecture at its laptop width, under the course's precision policy (bf16 autocast where the
hardware has it) and in float32, interleaved in one run so that both see the same machine.
``curves``: for each committed checkpoint, the test accuracy reached after each epoch against the
minutes of training it took (from the manifest's learning curves): accuracy per minute of training.
``allocator``: a CPU training step with glibc's default malloc, which returns every large freed
tensor to the kernel, against ``config.keep_freed_memory`` (what ``train.fit`` does): images per
second and page faults per step, each measured in its own process.
``recipes``: trains a profile's recipe from scratch with several seeds and prints seconds, accuracy
and achieved TFLOP/s (training FLOPs = 3 x forward FLOPs counted by torch.utils.flop_counter).

Reference point on one H100 and this same JPEG copy of CIFAR-10 (from the course's issues):
airbench94 reaches 90.7% in 2.5 s. On the course's 2-core CPU, airbench94 ported with bf16 autocast
reaches 90.9% (with test-time augmentation) in 583 s.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from lecture_utils import config, models, precision, train, zoo

sys.path.insert(0, str(Path(__file__).parent))
from common import busy_note, cpu_snapshot, machine_line  # noqa: E402


def forward_flops_per_image(recipe: zoo.Recipe) -> float:
    model = models.build(recipe.arch, **recipe.arch_kwargs).eval()
    size = 64 if recipe.dataset == "canvas64" else (recipe.crop or 32)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.rand(8, 3, size, size))
    return counter.get_total_flops() / 8


def step_images_per_second(recipe: zoo.Recipe, policies, device, batch: int = 256,
                           rounds: int = 7) -> list[float]:
    """Images per second of one training step (forward, backward, SGD) under each policy of
    ``policies``; the policies take turns, step by step, so that a change in the machine's load
    touches every arm alike. Each arm: the median over ``rounds`` steps after two untimed ones."""
    if device.type == "cpu":
        config.keep_freed_memory()                                # as ``train.fit`` does
    y = torch.randint(0, 10, (batch,), device=device)
    arms = []
    for policy in policies:
        torch.manual_seed(0)
        model = models.build(recipe.arch, **recipe.arch_kwargs).to(device)
        layout = train.training_memory_format(model, device)     # as ``train.fit`` does
        model = model.to(memory_format=layout).train()
        x = torch.rand(batch, 3, 32, 32, device=device).contiguous(memory_format=layout)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        arms.append((policy, model, opt, x))

    def step(policy, model, opt, x):
        with precision.autocast(device, policy):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times = [[] for _ in arms]
    for r in range(rounds + 2):
        for i, arm in enumerate(arms):
            start = time.perf_counter()
            step(*arm)
            if r >= 2:
                times[i].append(time.perf_counter() - start)
    return [batch / statistics.median(t) for t in times]


def throughput(device) -> None:
    policy = precision.precision_for(device)
    fp32 = precision.Precision("fp32", None)
    if policy.dtype is None:
        # No native bf16 (or forced float32): measure what bf16 autocast would cost, to check
        # that the policy is right to keep float32 here.
        policy = precision.Precision("bf16", torch.bfloat16, reason="not native here")
    names = ["resnet_gap", "vgg", "all_cnn_c", "vit", "lenet"]
    print(f"| model (laptop recipe) | {policy} (images/s) | float32 (images/s) | speed-up |")
    print("|---|---|---|---|")
    for name in names:
        recipe = zoo.RECIPES[name]["laptop"]
        since = cpu_snapshot()
        fast, slow = step_images_per_second(recipe, [policy, fp32], device)
        arch = ", ".join(f"{k}={v}" for k, v in recipe.arch_kwargs.items())
        print(f"| {name} ({arch}) | {fast:,.0f} | {slow:,.0f} | {fast / slow:.2f}x"
              f"{busy_note(since)} |", flush=True)


def _steps_in_child(name: str, keep: bool) -> tuple[float, float]:
    """Images per second and page faults per training step of ``name``'s laptop recipe (its own
    batch size, the precision policy), measured in a fresh process with the allocator setting
    ``keep`` (``config.keep_freed_memory``), which a process cannot undo once made."""
    code = ("import json, resource, torch; from lecture_utils import config, precision, zoo; "
            "import train_speed as ts; r = zoo.RECIPES[%r]['laptop']; d = torch.device('cpu'); "
            "f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt; "
            "ips = ts.step_images_per_second(r, [precision.precision_for(d)], d, r.batch_size)[0]; "
            "f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt; "
            "print(json.dumps([ips, (f1 - f0) / 9, config.keep_freed_memory()]))" % name)
    env = dict(os.environ, LECTURE_KEEP_FREED_MEMORY="1" if keep else "0",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parent),
                                           os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    ips, faults, kept = json.loads(out.strip().splitlines()[-1])
    if kept != keep:
        raise SystemExit(f"the allocator setting could not be {'made' if keep else 'left off'} "
                         "here (it needs Linux with glibc)")
    return ips, faults


def allocator() -> None:
    """A CPU training step with glibc's default allocator against ``config.keep_freed_memory``."""
    print("| model (laptop recipe, its batch) | default malloc (images/s, page faults/step) | "
          "freed memory kept (images/s, page faults/step) | speed-up |")
    print("|---|---|---|---|")
    for name in ["resnet_gap", "vgg", "all_cnn_c", "vit", "lenet"]:
        since = cpu_snapshot()
        (slow, f_slow), (fast, f_fast) = (_steps_in_child(name, keep) for keep in (False, True))
        print(f"| {name} (batch {zoo.RECIPES[name]['laptop'].batch_size}) | {slow:,.0f}, "
              f"{f_slow:,.0f} | {fast:,.0f}, {f_fast:,.0f} | {fast / slow:.2f}x"
              f"{busy_note(since)} |", flush=True)


def curves() -> None:
    print("| model | device, precision | test accuracy after 1/4, 1/2, 3/4, all of training "
          "(minutes) | accuracy per minute at the end |")
    print("|---|---|---|---|")
    for name, info in sorted(zoo.read_manifest()["models"].items()):
        h = info["history"]
        if not h.get("test_acc"):
            continue
        n = len(h["test_acc"])
        marks = sorted({max(0, round(n * f) - 1) for f in (0.25, 0.5, 0.75, 1.0)})
        cells = ", ".join(f"{100 * h['test_acc'][i]:.1f}% ({h['seconds'][i] / 60:.0f})"
                          for i in marks)
        per_min = 100 * h["test_acc"][-1] / max(h["seconds"][-1] / 60, 1e-9)
        print(f"| `{name}` | {info['device']}, {info.get('precision', 'fp32')} | {cells} | "
              f"{per_min:.1f} points/min |")


def recipes(names, profile: str, seeds: int, device) -> None:
    print("| model | epochs | train s (mean) | test acc (mean / min) | with flip | TFLOP/s |")
    print("|---|---|---|---|---|---|")
    for name in names:
        recipe = zoo.RECIPES[name][profile]
        (x, y), test = zoo.dataset_for(recipe)
        flops = 3 * forward_flops_per_image(recipe) * len(y) * recipe.epochs
        rows, since = [], cpu_snapshot()
        for seed in range(seeds):
            model = models.build(recipe.arch, **recipe.arch_kwargs)
            hist = train.fit(model, (x, y), None, device=device, progress=False,
                             **dict(recipe.fit_kwargs(), seed=seed))
            acc = train.evaluate(model, *test, crop=recipe.crop)["acc"]
            acc_tta = train.evaluate(model, *test, tta=True, crop=recipe.crop)["acc"]
            rows.append((hist.seconds[-1], acc, acc_tta))
        secs, accs, ttas = zip(*rows)
        print(f"| {name} | {recipe.epochs} | {statistics.mean(secs):.1f} | "
              f"{statistics.mean(accs):.2%} / {min(accs):.2%} | {statistics.mean(ttas):.2%} | "
              f"{flops / statistics.mean(secs) / 1e12:.3f}{busy_note(since)} |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("throughput")
    sub.add_parser("curves")
    sub.add_parser("allocator", help="CPU: glibc's default malloc vs config.keep_freed_memory")
    r = sub.add_parser("recipes")
    r.add_argument("names", nargs="+", choices=sorted(zoo.RECIPES))
    r.add_argument("--profile", default=None, choices=config.PROFILES)
    r.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    device = config.get_device()
    print(f"{config.describe()} | precision: {precision.precision_for(device)}")
    print(machine_line() + "\n")
    if args.cmd == "throughput":
        throughput(device)
    elif args.cmd == "curves":
        curves()
    elif args.cmd == "allocator":
        allocator()
    else:
        recipes(args.names, config.get_profile(args.profile).name, args.seeds, device)


if __name__ == "__main__":
    main()
