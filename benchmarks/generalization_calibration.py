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
   (AdamW, linear decay over ``--max-epochs``, default the notebook's 2 / 30 / 50 epochs), stopped
   as soon as its training accuracy during an epoch reaches ``--threshold``; epochs and seconds to
   get there, and the final training accuracy measured in eval mode.
4. ``budget`` (``--budget``, CPU only, seconds): every training run of notebooks 06 and 09 at each
   profile, with its optimizer steps and FLOPs (``FlopCounterMode``, forward and backward), and the
   time it would take on a Colab T4 by a simple model: FLOPs at an effective ``T4["tflops"]``
   (fp16 with cuDNN, a fraction of the 65 TFLOPS peak) plus a fixed cost per optimizer step that
   grows with the number of modules (kernel launches of small batches). An estimate, not a
   measurement: ``tests/test_generalization.py`` checks that both notebooks' full profiles stay
   under 20 estimated minutes, and a run of this file on a GPU (part 3) checks the estimate.
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
    total = time.perf_counter() - t0
    table(f"calibration experiment (zoo load: {load:.1f} s; total {total:.1f} s)",
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
    n_fit, _, _, batch, _ = SIZES_06[P.name]
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
                  weight_decay=0.0, augment=False, crop=28, schedule="linear", warmup=0.05,
                  batch_size=batch, device=device, progress=False, callback=stop_when_fitted)
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


# --------------------------------------------------------------------------------------------
# The budget of notebooks 06 and 09 (keep these sizes in step with the notebooks' P.choose calls)
# --------------------------------------------------------------------------------------------
# notebook 06: images trained on, test images, epochs, batch, test images per epoch (curves)
SIZES_06 = {"quick": (128, 256, 2, 32, 64), "laptop": (500, 2_000, 30, 32, 500),
            "full": (5_000, 10_000, 50, 128, 2_000)}
# notebook 09, factor sweep: images, epochs, batch; the "plain" LeNet: images, epochs, batch;
# test images (the evaluation split)
SIZES_09 = {"quick": ((256, 2, 32), (256, 3, 64), 2_000),
            "laptop": ((1_000, 25, 32), (2_000, 25, 64), 10_000),
            "full": ((10_000, 30, 32), (10_000, 40, 64), 10_000)}
T4 = {"tflops": 10.0, "step_ms": 1.5, "module_us": 25.0}   # effective fp16 rate; per-step costs


def _cost(make, size: int):
    """(FLOPs of one image forward + backward, FLOPs of one forward, leaf modules) of a network."""
    from torch.utils.flop_counter import FlopCounterMode
    with torch.device("meta"):             # shapes only: counting FLOPs computes nothing
        net = make()
        x = torch.rand(2, 3, size, size)
    with FlopCounterMode(display=False) as fc:
        net.train()(x).sum().backward()
    train_flops = fc.get_total_flops() / 2
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        net.eval()(x)
    leaves = sum(1 for m in net.modules() if not list(m.children()))
    return train_flops, fc.get_total_flops() / 2, leaves


def _runs_06(profile: str):
    """Every distinct training run of notebook 06: (network, images, epochs, batch, test images)."""
    P = config.get_profile(profile)
    n_fit, n_eval, epochs, batch, n_curve = SIZES_06[profile]
    width = {"Inception": P.choose(0.125, 0.25, 1.0), "AlexNet": P.choose(0.125, 0.5, 1.0)}
    hidden = P.choose(64, 512, 512)
    nets = {"Inception": lambda: models.small_inception(width=width["Inception"]),
            "Inception w/o BatchNorm": lambda: models.small_inception(width=width["Inception"],
                                                                      batch_norm=False),
            "AlexNet": lambda: models.small_alexnet(width=width["AlexNet"]),
            "MLP 3x512": lambda: models.mlp(hidden=(hidden,) * 3),
            "MLP 1x512": lambda: models.mlp(hidden=(hidden,))}
    levels = P.choose(quick=[0.0, 1.0], laptop=[0.0, 0.2, 0.5, 0.8, 1.0],
                      full=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    nets_bc = P.choose(quick=["MLP 1x512"], laptop=["Inception", "AlexNet", "MLP 1x512"],
                       full=["Inception", "AlexNet", "MLP 1x512"])
    keys = {("Inception", kind, None, False, False) for kind in G.RANDOMIZATIONS}       # (a)
    for net in nets_bc:                                                                 # (b, c)
        for p in levels:
            kind = "true labels" if p == 0 else "random labels" if p == 1 else "corrupt labels"
            keys.add((net, kind, None if p in (0, 1) else p, False, False))
    for net in nets:                                                                    # table
        crops = (True, False) if net in ("Inception", "AlexNet") else (False,)
        for crop in crops:
            for wd in (True, False):
                if not crop or net in ("Inception", "AlexNet"):
                    keys.add((net, "true labels", None, crop, wd))
        keys.add((net, "random labels", None, False, False))
    keys -= {("Inception w/o BatchNorm", "true labels", None, True, wd) for wd in (True, False)}
    runs = []
    for net, kind, p, crop, wd in sorted(keys, key=str):
        curve = net.startswith("Inception") and kind == "true labels"
        runs.append((net, nets[net], 28, n_fit, epochs, batch,
                     n_fit + n_eval + (n_curve * epochs if curve else 0)))
    return runs


def _runs_09(profile: str):
    """Every training run of notebook 09: the factor sweep and the plain LeNet."""
    P = config.get_profile(profile)
    (n_factor, epochs, batch), (n_plain, epochs_plain, batch_plain), n_eval = SIZES_09[profile]
    base = {"width": P.choose(4, 8, 16), "blocks": 1, "weight_decay": 1e-4}
    depths = P.choose(quick=[1, 2], laptop=[1, 2, 3], full=[1, 3, 5, 9])
    widths = P.choose(quick=[4, 8], laptop=[4, 8, 16], full=[8, 16, 32, 64])
    decays = P.choose(quick=[1e-2, 1e-4], laptop=[1e-2, 1e-3, 1e-4, 1e-5],
                      full=[1e-2, 1e-3, 1e-4, 1e-5])
    cfgs = {(base["width"], d, base["weight_decay"]) for d in depths}
    cfgs |= {(w, 1, base["weight_decay"]) for w in widths}
    cfgs |= {(base["width"], 1, wd) for wd in decays}
    runs = [(f"resnet_gap w{w} b{b}", lambda w=w, b=b: models.resnet_gap(width=w, blocks=(b,) * 3),
             32, n_factor, epochs, batch, n_eval // 2) for w, b, _ in sorted(cfgs)]
    runs += [(f"vgg w{base['width']} bn={bn}",
              lambda bn=bn: models.vgg(width=base["width"], batch_norm=bn), 32, n_factor, epochs,
              batch, n_eval // 2) for bn in (False, True)]
    runs.append(("lenet (plain)", models.lenet, 32, n_plain, epochs_plain, batch_plain,
                 epochs_plain * n_eval // 2))
    return runs


def budget(profile: str) -> dict:
    """{notebook: (runs, optimizer steps, TFLOP, estimated T4 minutes)} at ``profile``."""
    out, cache = {}, {}
    for notebook, runs in (("06", _runs_06(profile)), ("09", _runs_09(profile))):
        steps = flops = seconds = 0.0
        for name, make, size, images, epochs, batch, evaluated in runs:
            key = (name, size)
            if key not in cache:
                cache[key] = _cost(make, size)
            f_train, f_eval, leaves = cache[key]
            n_steps = epochs * max(1, images // batch)
            work = epochs * images * f_train + evaluated * f_eval
            steps, flops = steps + n_steps, flops + work
            seconds += n_steps * (T4["step_ms"] + T4["module_us"] * leaves / 1e3) / 1e3 \
                + work / (T4["tflops"] * 1e12)
        out[notebook] = (len(runs), int(steps), flops / 1e12, seconds / 60)
    return out


def bench_budget():
    rows = []
    for profile in config.PROFILES:
        for notebook, (runs, steps, tflop, minutes) in budget(profile).items():
            rows.append({"notebook": notebook, "profile": profile, "training runs": runs,
                         "optimizer steps": f"{steps:,}", "TFLOP": f"{tflop:,.0f}",
                         "T4 minutes (estimate)": f"{minutes:.1f}"})
    table(f"budget on a Colab T4 (estimate: {T4['tflops']:g} effective TFLOPS, "
          f"{T4['step_ms']:g} ms + {T4['module_us']:g} us per module and step)", rows)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default=None, choices=config.PROFILES)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threshold", type=float, default=1.0)
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--skip-fit", action="store_true", help="skip the random-labels training")
    p.add_argument("--budget", action="store_true", help="only the T4 budget of notebooks 06, 09")
    args = p.parse_args()
    if args.budget:
        bench_budget()
        return
    profile = config.get_profile(args.profile)
    device = config.get_device()
    print(f"{config.describe()} | benchmark profile: {profile.name} | cores: {os.cpu_count()}")
    bench_metrics(args.repeats)
    bench_calibration(profile, device)
    if not args.skip_fit:
        bench_random_labels(profile, device, args.threshold,
                            args.max_epochs or SIZES_06[profile.name][2])


if __name__ == "__main__":
    main()
