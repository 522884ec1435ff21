"""Timings for notebooks 06 (Zhang et al.) and 09 (Guo et al.).

    python benchmarks/generalization_calibration.py                  # the profile's sizes
    python benchmarks/generalization_calibration.py --profile full   # on a GPU: the paper's scale
    python benchmarks/generalization_calibration.py --skip-fit       # only the calibration parts

Three parts, each printed as a small table:

1. ``metrics``: ``expected_calibration_error`` and ``fit_temperature`` on 10,000 x 100 synthetic
   logits (labels drawn from softmax(z / 2), so T = 2 is the answer); median wall and CPU seconds
   of ``--repeats`` runs. These run on the CPU whatever the device (the calibration code is CPU).
2. ``calibration``: the whole experiment of notebook 09: load ``resnet_gap`` and ``lenet`` from
   the zoo, predict the CIFAR-10 test logits, fit the six calibrators on one half and measure them
   on the other; seconds per stage and the ECE before and after temperature scaling.
3. ``random labels``: the randomization test: notebook 06's network for its Figure 1a (the small
   Inception at the profile's width; an MLP 1x512 in the quick profile, to stay fast) trained on
   random labels of the profile's training subset, with notebook 06's optimizer and schedule
   (AdamW, linear decay over ``--max-epochs``, default the notebook's 2 / 30 / 60 epochs), stopped
   as soon as its training accuracy during an epoch reaches ``--threshold``; epochs and seconds to
   get there, and the final training accuracy measured in eval mode.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from lecture_utils import calibration as C
from lecture_utils import config, data, models, train, zoo
from lecture_utils import generalization as G


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, repeats: int):
    """Median wall and CPU seconds of ``repeats`` calls after one warm-up; and the last result."""
    out = fn()
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), out


def table(title, rows):
    print(f"\n{title}")
    keys = list(rows[0])
    widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]
    print("| " + " | ".join(k.ljust(w) for k, w in zip(keys, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(r[k]).ljust(w) for k, w in zip(keys, widths)) + " |")


def bench_metrics(repeats: int):
    g = torch.Generator().manual_seed(0)
    z = 3 * torch.randn(10_000, 100, generator=g)
    y = torch.multinomial(torch.softmax(z / 2.0, 1), 1, generator=g).squeeze(1)
    probs = torch.softmax(z, 1)
    rows = []
    for name, fn in (("expected_calibration_error (15 bins)",
                      lambda: C.expected_calibration_error(probs, y)),
                     ("fit_temperature", lambda: C.fit_temperature(z, y)),
                     ("softmax + ECE + fit_temperature",
                      lambda: (C.expected_calibration_error(torch.softmax(z, 1), y),
                               C.fit_temperature(z, y)))):
        wall, cpu, out = timed(fn, repeats)
        rows.append({"10,000 x 100 logits": name, "wall (s)": f"{wall:.3f}",
                     "CPU (s)": f"{cpu:.3f}",
                     "result": f"{out:.4f}" if isinstance(out, float) else f"T = {out[1]:.3f}"})
    table("metrics (CPU)", rows)


def bench_calibration(profile, device):
    rows, t0 = [], time.perf_counter()
    start = time.perf_counter()
    nets = {name: zoo.load_model(name, profile=profile.name, device=device, progress=False)
            for name in ("resnet_gap", "lenet")}
    load = time.perf_counter() - start
    x, y = data.load_cifar10("test")
    half = len(y) // 2
    for name, net in nets.items():
        _sync(device)
        start = time.perf_counter()
        z = train.predict_logits(net, x)
        _sync(device)
        predict = time.perf_counter() - start
        start = time.perf_counter()
        scores, fitted = C.compare_calibrators(z[:half], y[:half], z[half:], y[half:])
        calibrate = time.perf_counter() - start
        rows.append({"model": f"{name} ({net.zoo_info['source']})",
                     "predict 10k (s)": f"{predict:.2f}",
                     "6 calibrators (s)": f"{calibrate:.2f}",
                     "ECE before (%)": f"{100 * scores['Uncalibrated']['ECE']:.2f}",
                     "ECE after T (%)": f"{100 * scores['Temp. Scaling']['ECE']:.2f}",
                     "T": f"{fitted['Temp. Scaling'].temperature:.3f}"})
    table(f"calibration experiment (zoo load: {load:.1f} s; "
          f"total {time.perf_counter() - t0:.1f} s)",
          rows)


class _Reached(Exception):
    pass


def bench_random_labels(profile, device, threshold: float, max_epochs: int):
    P = profile
    net = P.choose(quick="MLP 1x512", laptop="Inception", full="Inception")
    make = {"MLP 1x512": lambda: models.mlp(hidden=(P.choose(64, 512, 512),)),
            "AlexNet": lambda: models.small_alexnet(width=P.choose(0.125, 0.5, 1.0)),
            "Inception": lambda: models.small_inception(width=P.choose(0.125, 0.25, 1.0))}[net]
    lr = 1e-3 if net.startswith("MLP") else 2e-3
    n_fit = P.choose(quick=128, laptop=500, full=50_000)
    batch = P.choose(quick=32, laptop=32, full=128)
    x, y = data.load_cifar10("train")
    (x_tr, y_tr), _ = G.randomized_split("random labels", data.subset(x, y, n_fit, seed=0),
                                         data.subset(x, y, 10, seed=1), seed=0)
    config.seed_everything(0)
    model = make()
    seen = {}

    def stop_when_fitted(epoch, net_, history):
        seen["history"] = history
        if history.train_acc[-1] >= threshold:
            raise _Reached

    start = time.perf_counter()
    try:
        train.fit(model, (x_tr, y_tr), epochs=max_epochs, lr=lr, optimizer="adamw",
                  weight_decay=0.0,
                  augment=False, crop=28, schedule="linear", warmup=0.05, batch_size=batch,
                  device=device, progress=False, callback=stop_when_fitted)
    except _Reached:
        pass
    wall = time.perf_counter() - start
    h = seen["history"]
    acc = train.evaluate(model, x_tr, y_tr, crop=28)["acc"]
    table("random labels: time to fit", [{
        "network": f"{net} ({models.count_parameters(model):,} params)", "images": f"{n_fit:,}",
        "batch": batch,
        f"epochs to {threshold:.1%}": G.epochs_to_fit(h, threshold) or f"> {max_epochs}",
        "training s": f"{h.seconds[-1]:.1f}", "wall s": f"{wall:.1f}",
        "final train acc (eval)": f"{acc:.4f}"}])


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default=None, choices=config.PROFILES)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threshold", type=float, default=1.0)
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--skip-fit", action="store_true", help="skip the random-labels training")
    args = p.parse_args()
    profile = config.get_profile(args.profile)
    device = config.get_device()
    print(f"{config.describe()} | benchmark profile: {profile.name} | cores: {os.cpu_count()}")
    bench_metrics(args.repeats)
    bench_calibration(profile, device)
    if not args.skip_fit:
        bench_random_labels(profile, device, args.threshold,
                            args.max_epochs or profile.choose(quick=2, laptop=30, full=60))


if __name__ == "__main__":
    main()
