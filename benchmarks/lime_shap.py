"""LIME and Kernel SHAP: lecture_utils against the reference packages (``lime``, ``shap``).

    python benchmarks/lime_shap.py                       # all parts, on config.get_device()
    python benchmarks/lime_shap.py --parts 2 --out benchmarks/results/lime_shap_speed.md
    python benchmarks/lime_shap.py --quick               # fewer seeds, images and repeats

1. Kernel SHAP accuracy at equal model evaluations: relative error against exact Shapley values of
   ``lecture_utils.shapley.kernel_shap`` and ``shap.KernelExplainer`` (l1_reg=False and its default
   "num_features(10)"), on random games and on a CIFAR-10 superpixel game (tabulated, so both read
   the same values), and the time each takes per explanation (estimator overhead only).
2. Speed against the packages as shipped, on the CPU with one thread (issue 14's question): one
   explanation of the zoo's ResNet-GAP on a CIFAR-10 image, 16 SLIC superpixels, 1000 samples.
   LIME: ``lime.explain_image`` against ``lime_image.LimeImageExplainer`` (its default batch of
   10) with the same segments, samples, kernel and fit; Kernel SHAP: ``shapley.kernel_shap`` on
   ``shapley.image_game`` against ``shap.KernelExplainer`` with the same number of model
   evaluations, the model called the way its documentation shows (one batch of perturbed images
   built with NumPy). Ours in the course's precision policy ("auto": bf16 on a CPU with native
   bf16) and in float32. Median of ``--repeats`` runs, interleaved; the 1-minute load average is
   printed with every row, and rows measured on a busy machine (load above half the cores) are
   marked: re-run those on an idle machine.
3. Throughput on the device: explanations per second for a batch of CIFAR-10 images (LIME with
   1000 samples, Kernel SHAP with 1000 evaluations on ~16 superpixels).

The reference packages are test dependencies (``pip install -e .[test]``). ``--out FILE`` also
writes everything printed to FILE (the tables under ``benchmarks/results/``).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lecture_utils import config, data, lime, shapley, zoo  # noqa: E402
from lecture_utils.precision import precision_for  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def smooth_game(M, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(M, generator=g, dtype=torch.float64)
    B = torch.randn(M, M, generator=g, dtype=torch.float64) / M
    return lambda Z: torch.tanh(Z.double() @ a / 3 + ((Z.double() @ B) * Z.double()).sum(1))


def shap_kernel(value_fn, M, evaluations, seed, l1_reg):
    import shap
    np.random.seed(seed)
    f = lambda X: value_fn(torch.tensor(X, dtype=torch.float32)).numpy()  # noqa: E731
    explainer = shap.KernelExplainer(f, np.zeros((1, M)))      # evaluates f(background) once
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phi = explainer.shap_values(np.ones((1, M)), nsamples=evaluations - 2, l1_reg=l1_reg,
                                    silent=True)
    return torch.tensor(np.asarray(phi), dtype=torch.float64).reshape(-1)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


PROFILE = "laptop"


def cifar_setup(device, n_segments=16, index=None):
    net = zoo.load_model("resnet_gap", profile=PROFILE, device=device)
    x, y = data.load_cifar10("test")
    if index is None:
        index = 0
    image = data.to_float(x[index])
    seg = lime.superpixels(image, "slic", n_segments=n_segments)
    return net, x, y, image, seg


def part_kernel_shap(args, device):
    print("\n## 1. Kernel SHAP vs shap.KernelExplainer at equal model evaluations\n")
    print("Relative error ||phi - phi_exact|| / ||phi_exact||, mean over seeds; time per "
          "explanation (ms) on the tabulated game (estimator overhead only).\n")
    net, x, y, image, seg = cifar_setup(device)
    M_img = int(seg.max()) + 1
    target = int(y[0])
    real = shapley.image_game(net, image, target, seg, baseline="mean", output="logit",
                              precision="fp32")
    table, t_table = timed(lambda: shapley.tabulate(real, M_img))
    games = [("smooth random game", 12, lambda s: smooth_game(12, s)),
             ("smooth random game", 16, lambda s: smooth_game(16, s)),
             ("CIFAR-10 superpixels (resnet_gap, image 0)", M_img, lambda s: table)]
    seeds = range(3 if args.quick else 10)
    print("| game | M | evaluations | ours: error | shap (l1_reg=False): error "
          "| shap (default): error | ours: ms | shap: ms |")
    print("|---|---|---|---|---|---|---|---|")
    for name, M, make in games:
        values = [make(s) for s in seeds]
        exacts = [shapley.exact_shapley(v, M) for v in values]
        for n in (2 * M, 100, 500, 2000):
            if n >= 2 ** M:
                continue
            err = {"ours": [], "plain": [], "default": []}
            t_ours = t_shap = 0.0
            for s, v, exact in zip(seeds, values, exacts):
                rel = lambda phi: float((phi - exact).norm() / exact.norm())  # noqa: E731
                phi, dt = timed(lambda: shapley.kernel_shap(v, M, n, seed=s))
                err["ours"].append(rel(phi))
                t_ours += dt
                phi, dt = timed(lambda: shap_kernel(v, M, n, s, False))
                err["plain"].append(rel(phi))
                t_shap += dt
                err["default"].append(rel(shap_kernel(v, M, n, s, "num_features(10)")))
            k = len(seeds)
            print(f"| {name} | {M} | {n} | {np.mean(err['ours']):.4f} | "
                  f"{np.mean(err['plain']):.4f} | {np.mean(err['default']):.4f} | "
                  f"{1000 * t_ours / k:.1f} | {1000 * t_shap / k:.1f} |")
    print(f"\nTabulating the CIFAR game ({2 ** M_img:,} coalitions, one resnet_gap pass each): "
          f"{t_table:.2f} s on {device}.")
    # with the model in the loop: the same game, not tabulated
    n = 1000
    real.evaluations = 0
    _, t_ours = timed(lambda: shapley.kernel_shap(real, M_img, n, seed=0))
    ours_evals = real.evaluations
    calls = []

    def counted(Z):
        calls.append(len(Z))
        return real(Z)
    _, t_shap = timed(lambda: shap_kernel(counted, M_img, n, 0, False))
    print(f"\nWith the model in the loop (CIFAR game, {n} evaluations): ours {t_ours:.2f} s "
          f"({ours_evals} evaluations), shap.KernelExplainer {t_shap:.2f} s ({sum(calls)} "
          f"evaluations in {len(calls)} calls).")


def load() -> float:
    return os.getloadavg()[0]


def busy(load_average: float) -> bool:
    return load_average > (os.cpu_count() or 1) / 2


def median_times(cases: dict, repeats: int) -> dict:
    """{name: (median seconds, load average during its runs)}; the cases run interleaved."""
    for fn in cases.values():
        fn()                                              # warm-up
    times = {k: [] for k in cases}
    loads = {k: [] for k in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
            loads[name].append(load())
    return {k: (statistics.median(times[k]), max(loads[k])) for k in cases}


def part_speed(args, device):
    print("\n## 2. Speed against `lime` and `shap` as shipped (CPU, one thread)\n")
    from lime import lime_image
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    net, x, y, image, seg = cifar_setup(cpu, n_segments=16)
    S, target, n = int(seg.max()) + 1, int(y[0]), 1000
    print(f"One explanation of resnet_gap ({PROFILE} recipe) for CIFAR-10 test image 0, {S} SLIC "
          f"superpixels, {n} samples (model evaluations); median of {args.repeats} interleaved "
          f"runs; policy 'auto' = {precision_for(cpu)}.\n")
    seg_np = seg.numpy()
    img_np = image.permute(1, 2, 0).double().numpy()

    def classifier(imgs):                                 # the lime package's documented call
        with torch.inference_mode():
            batch = torch.from_numpy(imgs).permute(0, 3, 1, 2).float()
            return net(batch).softmax(1).numpy()

    def lime_package():
        explainer = lime_image.LimeImageExplainer(random_state=0, feature_selection="lasso_path")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exp = explainer.explain_instance(img_np, classifier, labels=(target,), top_labels=None,
                                             num_features=10, num_samples=n,
                                             segmentation_fn=lambda _: seg_np, random_seed=0)
        w = torch.zeros(S, dtype=torch.float64)
        for i, v in exp.local_exp[target]:
            w[i] = v
        return w

    def lime_ours(precision):
        return lambda: lime.explain_image(net, image, target, seg, n, seed=0, num_features=10,
                                          distance="cosine", kernel_width=0.25 * math.sqrt(2),
                                          ridge=1.0, precision=precision).weights

    mean_img = shapley.segment_mean_baseline(image, seg).permute(1, 2, 0).numpy()
    masks = np.stack([seg_np == k for k in range(S)])                  # [S, H, W]

    def shap_model(Z):                                    # shap's documented call: one batch
        keep = (Z @ masks.reshape(S, -1)).reshape(len(Z), *seg_np.shape, 1)
        imgs = mean_img + keep * (img_np - mean_img)
        with torch.inference_mode():
            return net(torch.from_numpy(imgs).permute(0, 3, 1, 2).float())[:, target].numpy()

    def shap_package():
        import shap
        explainer = shap.KernelExplainer(shap_model, np.zeros((1, S)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            phi = explainer.shap_values(np.ones((1, S)), nsamples=n - 2, l1_reg=False, silent=True)
        return torch.tensor(np.asarray(phi), dtype=torch.float64).reshape(-1)

    def shap_ours(precision):
        def run():
            game = shapley.image_game(net, image, target, seg, output="logit", precision=precision)
            return shapley.kernel_shap(game, S, n, seed=0)
        return run

    rows = [("LIME", {"lime 0.2 (`explain_instance`, its batch of 10)": lime_package,
                      "ours, precision 'auto'": lime_ours("auto"),
                      "ours, precision 'fp32'": lime_ours("fp32")}),
            ("Kernel SHAP", {"shap (`KernelExplainer`, l1_reg=False)": shap_package,
                             "ours, precision 'auto'": shap_ours("auto"),
                             "ours, precision 'fp32'": shap_ours("fp32")})]
    print("| method | implementation | median time (s) | ours is faster by | max abs difference "
          "| load average |")
    print("|---|---|---|---|---|---|")
    for method, cases in rows:
        timed_cases = median_times(cases, args.repeats)
        ref_name = next(iter(cases))
        ref = cases[ref_name]()
        ref_t = timed_cases[ref_name][0]
        for name, fn in cases.items():
            t, la = timed_cases[name]
            diff = float((fn() - ref).abs().max())
            mark = " (busy: re-run)" if busy(la) else ""
            speed = "" if name == ref_name else f"**{ref_t / t:.1f}x**"
            print(f"| {method} | {name} | {t:.3f} | {speed} | {diff:.1e} | {la:.1f}{mark} |")
    print("\nThe differences are against one run of the package: LIME with identical samples "
          "(float32: rounding only; bf16: the model's outputs to 3 digits); Kernel SHAP draws "
          "its own coalitions, so its rows differ by sampling as well (shap's own row: its "
          "run-to-run variation, it draws from NumPy's global generator).")
    torch.set_num_threads(threads)


def part_throughput(args, device):
    print(f"\n## 3. Throughput on {device}: explanations per second\n")
    net, x, y, _, _ = cifar_setup(device)
    n_images = 4 if args.quick else 32
    images = [data.to_float(x[i]) for i in range(n_images)]
    segs = [lime.superpixels(im, "slic", n_segments=16) for im in images]
    cases = (("LIME, 1000 samples", lambda im, sg, t: lime.explain_image(net, im, t, sg, 1000)),
             ("Kernel SHAP, 1000 evaluations", lambda im, sg, t: shapley.kernel_shap(
                 shapley.image_game(net, im, t, sg, output="logit"), int(sg.max()) + 1, 1000)))
    for name, fn in cases:
        fn(images[0], segs[0], int(y[0]))                         # warm-up
        sync(device)
        start = time.perf_counter()
        for i in range(n_images):
            fn(images[i], segs[i], int(y[i]))
        sync(device)
        dt = time.perf_counter() - start
        print(f"- {name}: {n_images} images in {dt:.2f} s = {n_images / dt:.2f} explanations/s")


class Tee:
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for s in self.streams:
            s.write(text)

    def flush(self):
        for s in self.streams:
            s.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer seeds, images and repeats")
    parser.add_argument("--parts", default="1,2,3", help="which parts to run, e.g. 2,3")
    parser.add_argument("--profile", default="laptop", help="which zoo resnet_gap to explain")
    parser.add_argument("--repeats", type=int, default=None, help="runs per case (median)")
    parser.add_argument("--out", default=None, help="also write the output to this file")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (2 if args.quick else 7)
    global PROFILE
    PROFILE = args.profile
    out = open(args.out, "w") if args.out else None
    if out:
        sys.stdout = Tee(sys.__stdout__, out)
    device = config.get_device()
    config.seed_everything(0)
    import lime as lime_package
    import shap
    la = load()
    print(f"# LIME / SHAP benchmark\n\n{config.describe()} | resnet_gap: {args.profile} recipe | "
          f"torch {torch.__version__}, lime {getattr(lime_package, '__version__', '0.2')}, "
          f"shap {shap.__version__} | {os.cpu_count()} CPUs, load average {la:.1f} at the start"
          + (" (BUSY: the times below are not to be trusted)" if busy(la) else ""))
    parts = {"1": part_kernel_shap, "2": part_speed, "3": part_throughput}
    try:
        for p in args.parts.split(","):
            parts[p.strip()](args, device)
    finally:
        if out:
            sys.stdout = sys.__stdout__
            out.close()


if __name__ == "__main__":
    main()
