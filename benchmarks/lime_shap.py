"""LIME and Kernel SHAP: lecture_utils against the reference packages (``lime``, ``shap``).

    python benchmarks/lime_shap.py            # all parts, on config.get_device()
    python benchmarks/lime_shap.py --quick    # fewer seeds and images (a smoke test)

1. Kernel SHAP accuracy at equal model evaluations: relative error against exact Shapley values of
   ``lecture_utils.shapley.kernel_shap`` and ``shap.KernelExplainer`` (l1_reg=False and its default
   "num_features(10)"), on random games and on a CIFAR-10 superpixel game (tabulated, so both read
   the same values), and the time each takes per explanation (estimator overhead, and with the model).
2. LIME on one CIFAR-10 image with 1000 samples: ``lecture_utils.lime.explain_image`` against
   ``lime.lime_image.LimeImageExplainer`` with the same segments, samples, kernel and fit
   (K-LASSO + Ridge(1)); time and agreement.
3. Throughput on the device: explanations per second for a batch of CIFAR-10 images (LIME with
   1000 samples, Kernel SHAP with 1000 evaluations on ~16 superpixels).

The reference packages are test dependencies (``pip install -e .[test]``).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lecture_utils import config, data, lime, shapley, zoo  # noqa: E402


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
        phi = explainer.shap_values(np.ones((1, M)), nsamples=evaluations - 2, l1_reg=l1_reg, silent=True)
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
    print("Relative error ||phi - phi_exact|| / ||phi_exact||, mean over seeds; time per explanation "
          "(ms) on the tabulated game (estimator overhead only).\n")
    net, x, y, image, seg = cifar_setup(device)
    M_img = int(seg.max()) + 1
    target = int(y[0])
    real = shapley.image_game(net, image, target, seg, baseline="mean", output="logit")
    table, t_table = timed(lambda: shapley.tabulate(real, M_img))
    games = [("smooth random game", 12, lambda s: smooth_game(12, s)),
             ("smooth random game", 16, lambda s: smooth_game(16, s)),
             (f"CIFAR-10 superpixels (resnet_gap, image 0)", M_img, lambda s: table)]
    seeds = range(3 if args.quick else 10)
    print("| game | M | evaluations | ours: error | shap (l1_reg=False): error | shap (default): error "
          "| ours: ms | shap: ms |")
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
            print(f"| {name} | {M} | {n} | {np.mean(err['ours']):.4f} | {np.mean(err['plain']):.4f} | "
                  f"{np.mean(err['default']):.4f} | {1000 * t_ours / k:.1f} | {1000 * t_shap / k:.1f} |")
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
          f"({ours_evals} evaluations), shap.KernelExplainer {t_shap:.2f} s ({sum(calls)} evaluations "
          f"in {len(calls)} calls).")


def part_lime(args, device):
    print("\n## 2. LIME, 1000 samples: lecture_utils vs the lime package\n")
    from lime import lime_image
    from torch import nn
    from torchvision.transforms import Resize
    import torch.nn.functional as F
    net, x, y, image, seg = cifar_setup(device, n_segments=25)
    raw = data.load_photo("chelsea")
    side = min(raw.shape[1:])
    photo = F.interpolate(data.to_float(raw[:, :side, :side])[None], size=(224, 224), mode="bilinear",
                          antialias=True)[0].clamp(0, 1)
    photo_net = nn.Sequential(Resize((32, 32), antialias=True), net).eval()
    cases = [("CIFAR-10 test image 0 (32 x 32), SLIC", net, image, seg, int(y[0])),
             ("photo 'chelsea' (224 x 224), quickshift with lime's defaults", photo_net, photo,
              lime.superpixels(photo, "quickshift"), 3)]
    n, repeats = 1000, (1 if args.quick else 3)
    print(f"The same segments and samples (seed 0), the lime package's kernel, K-LASSO (K = 10) and "
          f"Ridge(1); time best of {repeats}.\n")
    print("| image | superpixels | implementation | time (s) | ours is faster by | max abs weight difference |")
    print("|---|---|---|---|---|---|")
    for label, model, img, sg, target in cases:
        S = int(sg.max()) + 1

        def classifier(imgs, model=model):
            with torch.inference_mode():
                batch = torch.from_numpy(imgs).permute(0, 3, 1, 2).float().to(device)
                return model(batch).softmax(1).cpu().numpy()

        def theirs(batch_size, img=img, sg=sg, target=target, S=S, classifier=classifier):
            explainer = lime_image.LimeImageExplainer(random_state=0, feature_selection="lasso_path")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exp = explainer.explain_instance(
                    img.permute(1, 2, 0).double().numpy(), classifier, labels=(target,), top_labels=None,
                    num_features=10, num_samples=n, batch_size=batch_size,
                    segmentation_fn=lambda _: sg.numpy(), random_seed=0)
            w = torch.zeros(S, dtype=torch.float64)
            for i, v in exp.local_exp[target]:
                w[i] = v
            return w

        def ours(model=model, img=img, sg=sg, target=target):
            e = lime.explain_image(model, img, target, sg, num_samples=n, seed=0, num_features=10,
                                   distance="cosine", kernel_width=0.25 * math.sqrt(2), ridge=1.0)
            sync(device)
            return e.weights

        ours()                                               # warm-up
        rows = []
        for name, fn in (("lecture_utils.lime.explain_image", ours),
                         ("lime, batch_size=10 (its default)", lambda: theirs(10)),
                         ("lime, batch_size=512", lambda: theirs(512))):
            times = []
            for _ in range(repeats):
                w, dt = timed(fn)
                times.append(dt)
            rows.append((name, min(times), w))
        for name, t, w in rows:
            print(f"| {label} | {S} | {name} | {t:.2f} | {t / rows[0][1]:.1f}x | "
                  f"{float((w - rows[0][2]).abs().max()):.1e} |")


def part_throughput(args, device):
    print(f"\n## 3. Throughput on {device}: explanations per second\n")
    net, x, y, _, _ = cifar_setup(device)
    n_images = 4 if args.quick else 32
    images = [data.to_float(x[i]) for i in range(n_images)]
    segs = [lime.superpixels(im, "slic", n_segments=16) for im in images]
    for name, fn in (("LIME, 1000 samples", lambda im, sg, t: lime.explain_image(net, im, t, sg, num_samples=1000)),
                     ("Kernel SHAP, 1000 evaluations", lambda im, sg, t: shapley.kernel_shap(
                         shapley.image_game(net, im, t, sg, output="logit"), int(sg.max()) + 1, 1000))):
        fn(images[0], segs[0], int(y[0]))                         # warm-up
        sync(device)
        start = time.perf_counter()
        for i in range(n_images):
            fn(images[i], segs[i], int(y[i]))
        sync(device)
        dt = time.perf_counter() - start
        print(f"- {name}: {n_images} images in {dt:.2f} s = {n_images / dt:.2f} explanations/s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer seeds and images")
    parser.add_argument("--parts", default="1,2,3", help="which parts to run, e.g. 2,3")
    parser.add_argument("--profile", default="laptop", help="which zoo resnet_gap to explain")
    args = parser.parse_args(argv)
    global PROFILE
    PROFILE = args.profile
    device = config.get_device()
    config.seed_everything(0)
    print(f"# LIME / SHAP benchmark\n\n{config.describe()} | resnet_gap: {args.profile} recipe")
    parts = {"1": part_kernel_shap, "2": part_lime, "3": part_throughput}
    for p in args.parts.split(","):
        parts[p.strip()](args, device)


if __name__ == "__main__":
    main()
