# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: slideshow,tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python (lecture suite)
#     language: python
#     name: lecture-suite
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # 11 · Do vision transformers see like convolutional networks?
#
# **Paper:** M. Raghu, T. Unterthiner, S. Kornblith, C. Zhang, A. Dosovitskiy. *Do Vision
# Transformers See Like Convolutional Neural Networks?* NeurIPS 2021.
# [arXiv:2108.08810](https://arxiv.org/abs/2108.08810)
#
# **Why it matters:** a ResNet and a Vision Transformer (ViT) can reach the same accuracy, and this
# paper asks whether they compute the same thing on the way. Raghu et al. compare their hidden
# layers with one similarity index, **centred kernel alignment (CKA)**, and with receptive fields,
# attention distances, skip connections and linear probes. This notebook does the same with the
# course's small ResNet and ViT on CIFAR-10.

# %% [markdown] slideshow={"slide_type": "notes"} tags=["presenter"]
# **Presenter's note.**
# *Before class:* `python -m lecture_utils.zoo list` must show `resnet_gap`, `vit` and
# `vit_noskip`. A missing `vit` is trained on first use (its laptop recipe has as many epochs
# on the full training set as the full one: a GPU job, not a laptop one); a missing `vit_noskip`
# is skipped with a message, not trained.
# *Run live:* the math cells (the two CKA routes agree to 1e-10; the invariance table is the
# slide's sentence in numbers), then the minibatch-CKA convergence plot.
# *Takes long on a laptop:* the layer-by-layer CKA heat maps, the skip-connection lesions and the
# linear probes (the notebook's laptop time is in `benchmarks/results/budget.md`); show their
# committed outputs and talk over the heat maps:
# set them beside the paper's Figs. 1 and 2 and let the class say what differs.
# *Show, don't run:* the effective receptive fields, the attention distances and "What we saw":
# it prints, finding by finding, what this run can say with a small ViT trained on CIFAR-10 only
# (no JFT-300M pre-training), each against its control (a random-weights ViT, the ResNet with the
# same lesion).
# *Exercises:* do 1 (`my_hsic`) together, it is the slide's formula line by line; 3 is a quick
# "predict, then run"; leave 2, 4 and 5 for home.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What you will learn
#
# 1. CKA from the slide's formulas (Gram matrices, the centring matrix $H$, HSIC), what it is
#    invariant to and what not, and how the minibatch version scales it to whole networks.
# 2. How to read layer-by-layer CKA heat maps within a network and across two networks.
# 3. Effective receptive fields and mean attention distances: how local each layer is.
# 4. What skip connections do to a ViT's representations, and what linear probes say per layer.
# 5. Which of the paper's findings hold for a small ViT trained on CIFAR-10 alone.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Set-up

# %% tags=["colab", "remove-cell"]
# Google Colab only: fetch the course (code, trained models) and the packages Colab lacks.
# Elsewhere this cell does nothing. COURSE_REPO is the course's GitHub repository (owner/name).
COURSE_REPO = ""  # @param {type:"string"}
COURSE_BRANCH = "main"  # @param {type:"string"}
import sys

if "google.colab" in sys.modules:
    import importlib.util
    import os
    import subprocess

    CLONE = "/content/lecture-suite"
    NEEDED = {"torch": "torch>=2.4", "torchvision": "torchvision>=0.19", "numpy": "numpy>=1.26",
              "scipy": "scipy>=1.11", "pandas": "pandas>=2.1",
              "matplotlib": "matplotlib>=3.8", "seaborn": "seaborn>=0.13",
              "sklearn": "scikit-learn>=1.4", "skimage": "scikit-image>=0.22",
              "cv2": "opencv-python-headless>=4.8", "PIL": "pillow>=10",
              "tqdm": "tqdm>=4.66", "ipywidgets": "ipywidgets>=8.1"}
    if not os.path.isdir(CLONE):
        if "/" not in COURSE_REPO:
            print("Set COURSE_REPO at the top of this cell to the course's GitHub repository "
                  "(owner/name), then run the cell again.")
        else:
            url = f"https://github.com/{COURSE_REPO}"
            run = subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch",
                                  COURSE_BRANCH, url, CLONE], capture_output=True, text=True)
            if run.returncode != 0:
                print(f"Could not clone {url} (branch {COURSE_BRANCH}): "
                      f"{run.stderr.strip()[-300:]}\nCheck COURSE_REPO and COURSE_BRANCH at the "
                      "top of this cell, or upload the course's folder to " + CLONE + " "
                      "(Files panel), then run the cell again.")
    missing = [req for mod, req in NEEDED.items() if importlib.util.find_spec(mod) is None]
    if missing:
        print("installing", ", ".join(missing))
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing])
    if os.path.isdir(CLONE):
        sys.path.insert(0, CLONE)

# %% slideshow={"slide_type": "fragment"}
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown

from lecture_utils import (checks, config, data, findings, models, representations, similarity,
                           train, viz, zoo)
from lecture_utils import representations as R
from lecture_utils import similarity as S
from lecture_utils.source import show_source

viz.use_style()
config.seed_everything(0)
P = config.get_profile()
device = config.get_device()
print(config.describe())
log = findings.Findings("11", "Raghu et al. 2021")      # every finding below, with its control

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The math: representation similarity and CKA
#
# $X \in \mathbb{R}^{m \times p_1}$, $Y \in \mathbb{R}^{m \times p_2}$: the activation matrices of two
# layers (of one network or of two), evaluated at the **same** $m$ examples; $p_1, p_2$ are the
# numbers of neurons.
#
# $K = XX^\top$, $L = YY^\top$: Gram matrices; $K_{ij}$ is how similar examples $i$ and $j$ are
# according to the layer.
#
# $H = I_m - \frac{1}{m}\mathbf{1}\mathbf{1}^\top$: the centring matrix; $K' = HKH$, $L' = HLH$.
#
# $$\text{HSIC}(K, L) = \frac{\text{vec}(K') \cdot \text{vec}(L')}{(m-1)^2}, \qquad
#   \text{CKA}(K, L) = \frac{\text{HSIC}(K, L)}{\sqrt{\text{HSIC}(K, K)\,\text{HSIC}(L, L)}}$$

# %%
show_source(similarity.centering_matrix)
show_source(similarity.hsic, "hsic")
show_source(similarity.cka, "cka")

# %% [markdown] slideshow={"slide_type": "subslide"}
# For large $m$ the $m \times m$ Gram matrices are too big (10,000 images: 800 MB each). Since
# $\text{vec}(HKH)\cdot\text{vec}(HLH) = \text{tr}(KHLH) = \lVert Y_c^\top X_c \rVert_F^2$ with
# column-centred $X_c = HX$, `linear_cka` works in feature space when that is cheaper:
#
# $$\text{CKA} = \frac{\lVert Y_c^\top X_c \rVert_F^2}{\lVert X_c^\top X_c \rVert_F \, \lVert Y_c^\top Y_c \rVert_F}$$

# %%
g = torch.Generator().manual_seed(0)
f64 = dict(generator=g, dtype=torch.float64)
X = torch.randn(500, 20, **f64) + 2.0                           # 500 examples, 20 neurons
Y = torch.tanh(X @ torch.randn(20, 10, **f64)) + 0.3 * torch.randn(500, 10, **f64)
by_gram, by_features = S.linear_cka(X, Y, method="gram"), S.linear_cka(X, Y, method="features")
print(f"CKA from the m x m Gram matrices: {by_gram:.10f}; from the features: {by_features:.10f}")
assert abs(by_gram - by_features) < 1e-10 and abs(S.linear_cka(X, X) - 1) < 1e-12

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Invariances
#
# "CKA is invariant to orthogonal transformation of representations (including permutation of
# neurons), and the normalization term ensures invariance to isotropic scaling." It is **not**
# invariant to a general invertible linear map, nor to scaling each neuron differently: those
# change which examples look alike. (Canonical correlation analysis is invariant to every
# invertible linear map, which Kornblith et al. argue is too much: with more neurons than examples
# it calls any two representations identical.)

# %%
d = X.shape[1]
Q, _ = torch.linalg.qr(torch.randn(d, d, **f64))
A = torch.randn(d, d, **f64)
transforms = {
    "none": X,
    "orthogonal Q": X @ Q,
    "permutation of neurons": X[:, torch.randperm(d, generator=g)],
    "isotropic scaling (x 7.3)": 7.3 * X,
    "translation (+5)": X + 5.0,
    "invertible linear map A": X @ A,
    "anisotropic scaling (0.1 ... 10)": X * torch.linspace(0.1, 10, d, dtype=torch.float64),
}
inv = pd.DataFrame({"CKA(X', Y)": {k: S.linear_cka(v, Y) for k, v in transforms.items()}})
inv["invariant?"] = (inv["CKA(X', Y)"] - by_gram).abs() < 1e-9
assert inv["invariant?"].iloc[:5].all() and not inv["invariant?"].iloc[5:].any()
inv.style.format({"CKA(X', Y)": "{:.4f}"})

# %% [markdown] slideshow={"slide_type": "slide"}
# ### A kernel other than the linear one, and minibatches
#
# Replacing $XX^\top$ by a Gaussian kernel $K_{ij} = \exp(-\lVert x_i - x_j\rVert^2 / 2\sigma^2)$
# gives **RBF CKA** (Kornblith et al. use $\sigma$ = a fraction of the median distance). Raghu et al.
# report linear CKA; the line printed below the plot compares the two on our ResNet's `layer2` and
# `layer3`.
#
# To compare all layers of two networks on many images, Raghu et al. use **minibatch CKA**
# (Nguyen et al. 2021): the unbiased estimator $\text{HSIC}_1$ of Song et al. (2012) on each batch of
# $n$ examples, averaged over batches, then normalised:
#
# $$\text{CKA}_{\text{mb}} = \frac{\frac{1}{k}\sum_b \text{HSIC}_1(K_b, L_b)}
#   {\sqrt{\frac{1}{k}\sum_b \text{HSIC}_1(K_b, K_b)\;\frac{1}{k}\sum_b \text{HSIC}_1(L_b, L_b)}},
#   \quad \text{HSIC}_1(K, L) = \frac{\text{vec}(\tilde K)\cdot\text{vec}(\tilde L)}{n(n-3)}$$
#
# with $\tilde K$ the "U-centred" Gram matrix (zero diagonal). Averaging the ordinary (biased) CKA
# of small batches instead overestimates it, and comes close to the CKA of all images only with
# large batches; minibatch CKA stays close at every batch size (the plot, and the line printed
# with it).

# %%
show_source(similarity.unbiased_center, "ucentre")

# %% slideshow={"slide_type": "subslide"}
x_test, y_test = data.load_cifar10("test")
resnet = zoo.load_model("resnet_gap", device=device)
m_demo = P.choose(quick=512, laptop=4096, full=8192)
demo = R.layer_activations(resnet, x=x_test[:m_demo], layers=["layer2", "layer3"], pool="mean")
Xr, Yr = demo["layer2"], demo["layer3"]
full_cka = S.linear_cka(Xr, Yr)
sizes = [s for s in (8, 16, 32, 64, 128, 256, 512, 1024) if s <= m_demo // 4]
batches = {s: [(Xr[i:i + s], Yr[i:i + s]) for i in range(0, m_demo - s + 1, s)] for s in sizes}
mb = [S.minibatch_cka(batches[s]) for s in sizes]
naive = [np.mean([S.linear_cka(a, b) for a, b in batches[s]]) for s in sizes]
fig, ax = plt.subplots(figsize=(8, 4.8))
ax.axhline(full_cka, color="k", ls="--", label=f"CKA on all {m_demo} images")
ax.plot(sizes, mb, "o-", label="minibatch CKA (unbiased HSIC)")
ax.plot(sizes, naive, "s-", label="mean of per-batch CKA (biased)")
ax.set_xscale("log", base=2)
ax.set_xticks(sizes, [str(s) for s in sizes])
ax.set(xlabel="batch size n", ylabel="CKA(layer2, layer3) of the ResNet",
       title="Minibatch CKA is close to full CKA at every batch size;\n"
             "the mean of per-batch (biased) CKA overestimates it at small batches")
ax.legend(fontsize="small")
print(f"CKA on all {m_demo} images {full_cka:.2f}; batches of {sizes[0]}: minibatch CKA "
      f"{mb[0]:.2f}, mean of per-batch CKA {naive[0]:.2f}; batches of {sizes[-1]}: "
      f"{mb[-1]:.2f} and {naive[-1]:.2f}")

# %% slideshow={"slide_type": "subslide"}
m_rbf = min(m_demo, 1_000)
print(f"on {m_rbf} images: linear CKA {S.linear_cka(Xr[:m_rbf], Yr[:m_rbf]):.3f}, RBF CKA "
      + ", ".join(f"(sigma = {t} x median distance) {S.rbf_cka(Xr[:m_rbf], Yr[:m_rbf], t):.3f}"
                  for t in (0.5, 1.0, 4.0)))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The two networks
#
# The course's ResNet (`resnet_gap`: a stem, three stages of basic blocks, global average pooling)
# and ViT (`vit`: 4 × 4 patches → 64 tokens + a class token, transformer blocks, pre-norm), both
# trained on CIFAR-10 from scratch by the zoo. Raghu et al. use ViT-B/L/H pre-trained on
# JFT-300M or ImageNet-21k and ResNet-50/152 (25 M to 632 M parameters): ours have under a
# million (the table below). Nor do ours reach the same accuracy, the paper's starting point: the
# table shows the ViT less accurate than the ResNet although trained for at least as many epochs
# (a ViT without large-scale pre-training lacks the convolution's built-in locality, which a data
# set of CIFAR-10's size rewards). Where its layers differ from the ResNet's below, a ViT that has
# learned less is as likely a cause as the architecture.
#
# **The control for every ViT finding** is a ViT with the same architecture and *random weights*
# (`rand_vit`). A small ViT trained on CIFAR-10 alone may have learned little of the
# structure the paper describes; a property the random-weights ViT shows just as much is a property
# of the architecture, not of training. The rule, fixed before any measurement: where the trained
# ViT is not distinguishable from the random-weights ViT (the 95% interval of their difference
# includes 0), the finding is **inconclusive**, with that reason.

# %%
vit = zoo.load_model("vit", device=device)
nets = {"ResNet": resnet, "ViT": vit}
rand_vit = models.build("vit", **vit.zoo_info["recipe"]["arch_kwargs"]).to(device).eval()
pd.DataFrame({name: {"parameters": f"{models.count_parameters(m):,}",
                     "test accuracy": f"{m.zoo_info['test_accuracy']:.1%}",
                     "epochs": m.zoo_info["recipe"]["epochs"],
                     "recipe": m.zoo_info["profile"], "source": m.zoo_info["source"]}
              for name, m in nets.items()})

# %% [markdown] slideshow={"slide_type": "subslide"}
# We compare two layers per residual block, as the paper does with its sub-layers. ViT: the
# residual stream after the patch embedding, after each attention sub-layer and after each MLP,
# layer-normalised as the next sub-layer reads it (the outputs of `norm1`/`norm2`, and of the final
# `norm`). ResNet: the stem, then half-way through each block (`relu1`) and its output.

# %%
layers = {name: R.block_layers(m) for name, m in nets.items()}
labels = {name: R.layer_labels(ls) for name, ls in layers.items()}
for name, ls in labels.items():
    print(f"{name}: {len(ls)} layers: " + ", ".join(ls))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The paper's finding 1: ViTs have more uniform representations
#
# Layer-by-layer CKA heat maps on the same test images (flattened activations, minibatch CKA).
# *How we decide:* the paper's claim is a difference in the *pattern* of the heat maps; at our cost
# each map is computed once (one network per family, one set of images), so there is no interval
# and no verdict: the finding is recorded as inconclusive with this run's numbers, for you to read
# against the heat maps.

# %%
m_cka = P.choose(quick=256, laptop=2_000, full=10_000)
bs = P.choose(quick=64, laptop=250, full=500)
x_cka = x_test[:m_cka]
cka = {name: S.cka_matrix(m, x_cka, layers[name], batch_size=bs) for name, m in nets.items()}
cross = S.cka_matrix(vit, x_cka, layers["ViT"], model_b=resnet, layers_b=layers["ResNet"],
                     batch_size=bs)


def show_cka(ax, matrix, rows, cols, title, ylabel, xlabel):
    """A CKA heat map with layer labels (``rows``, ``cols``), lowest layers at the origin."""
    im = viz.show_heatmap(ax, matrix, cmap="magma", title=title, label="CKA")
    im.set_clim(0, 1)                      # one scale for every heat map
    ax.axis("on")
    ax.invert_yaxis()
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize="x-small")
    ax.set_yticks(range(len(rows)), rows, fontsize="x-small")
    ax.set(xlabel=xlabel, ylabel=ylabel)


fig, axes = plt.subplots(1, 2, figsize=(15, 6.5))
for ax, name in zip(axes, nets):
    show_cka(ax, cka[name], labels[name], labels[name], f"{name}: CKA between its layers",
             f"{name} layer", f"{name} layer")

# %% slideshow={"slide_type": "subslide"}
def uniformity(matrix):
    off = matrix[~torch.eye(len(matrix), dtype=torch.bool)]
    return {"mean off-diagonal CKA": float(off.mean()), "CKA(first, last)": float(matrix[0, -1]),
            "CKA(lower half, upper half)": float(matrix[: len(matrix) // 2, len(matrix) // 2:].mean())}


uniform = pd.DataFrame({name: uniformity(cka[name]) for name in nets})
off = uniform.loc["mean off-diagonal CKA"]
log.inconclusive("ViT representations are more uniform across depth than the ResNet's",
                 measure="mean off-diagonal CKA", control="the ResNet's heat map",
                 reason=f"one CKA matrix per network, no interval over images or seeds at our "
                        f"cost (this run: ViT {off['ViT']:.2f}, ResNet {off['ResNet']:.2f})")
uniform.style.format("{:.2f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The paper's finding 2: ViT and ResNet compute different features
#
# The ViT's layers against the ResNet's. In the paper a large block of lower ResNet layers is most
# similar to a few of the lowest ViT layers, and the upper layers of the two are dissimilar.

# %%
fig, ax = plt.subplots(figsize=(9, 6.5))
show_cka(ax, cross, labels["ViT"], labels["ResNet"], "CKA: ViT layers against ResNet layers",
         "ViT layer", "ResNet layer")

# %% slideshow={"slide_type": "subslide"}
best = cross.argmax(0)
fig, ax = plt.subplots(figsize=(9, 4))
ax.plot(range(len(best)), best, "o-")
ax.set_xticks(range(len(best)), labels["ResNet"], rotation=90, fontsize="x-small")
ax.set_yticks(range(len(labels["ViT"])), labels["ViT"], fontsize="x-small")
ax.set(xlabel="ResNet layer", ylabel="most similar ViT layer",
       title="For each ResNet layer, the ViT layer with the highest CKA")
log.inconclusive("lower ResNet layers match the lowest ViT layers; upper layers are dissimilar",
                 measure="argmax CKA per ResNet layer", control="-",
                 reason=f"one cross-model CKA matrix, no interval (highest CKA "
                        f"{float(cross.max()):.2f}; the first ResNet layer matches ViT layer "
                        f"'{labels['ViT'][int(best[0])]}', the last "
                        f"'{labels['ViT'][int(best[-1])]}')");

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The paper's finding 3: local and global information — effective receptive fields
#
# "The effective receptive field of different layers: the absolute value of the gradient of the
# centre location of the feature map with respect to the input", averaged over images. The slide:
# ResNet ERFs are highly local and grow gradually; ViT ERFs shift from local to global.
#
# *How we decide.* For each image, the radius of the disc around the centre that holds 50% of its
# ERF, after the first block. (1) "ViT reaches farther early": ViT radius minus ResNet radius
# (the same images, paired bootstrap), reproduced if the interval lies above 0 px, *and* only if the
# trained ViT's radius differs from the random-weights ViT's (else inconclusive). (2) "ResNet grows
# gradually": the ResNet's radius after its last block minus after its first, above 0 px. The
# radius counts gradient *mass*: a faint halo spread over the whole image can hold as much of it
# as a bright centre patch, so read the number beside the maps (drawn on a log scale, each over
# its own maximum, so that such a halo shows) and beside the random-weights ViT's radius.

# %%
show_source(representations.effective_receptive_field)

# %% slideshow={"slide_type": "subslide"}
n_erf = P.choose(quick=8, laptop=64, full=256)
x_erf = x_test[:n_erf]
erf_layers = {"ResNet": [l for l in layers["ResNet"] if not l.endswith("relu1")],
              "ViT": [l for l in layers["ViT"] if not l.endswith("norm2")]}
erf_labels = {name: R.layer_labels(ls) for name, ls in erf_layers.items()}
erf_per_image = {name: {l: R.effective_receptive_field(nets[name], layer=l, x=x_erf,
                                                      per_image=True)
                        for l in erf_layers[name]} for name in nets}     # [N, 32, 32] each
erfs = {name: {l: e.mean(0) for l, e in maps.items()} for name, maps in erf_per_image.items()}
cols = 6                                   # at most six panels a row: evenly spaced layers
fig, axes = plt.subplots(2, cols, figsize=(11, 4.6), squeeze=False)
for r, name in enumerate(nets):
    shown = np.unique(np.linspace(0, len(erf_layers[name]) - 1, cols).round().astype(int))
    for c, ax in enumerate(axes[r]):
        if c >= len(shown):
            ax.axis("off")
            continue
        layer = erf_layers[name][shown[c]]
        e = erfs[name][layer]
        im = viz.show_heatmap(ax, torch.log10(e / e.max() + 1e-3),
                              title=f"{name} {erf_labels[name][shown[c]]}", colorbar=False)
        im.set_clim(-3, 0)                 # every panel on the scale of the shared colour bar
fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.015, pad=0.01,
             label="log10(|gradient| / its max)")
fig.suptitle("Effective receptive fields of the centre location (log scale: a faint halo shows)");

# %% slideshow={"slide_type": "subslide"}
radius = {name: [R.erf_radius(erfs[name][l]) for l in erf_layers[name]] for name in nets}
fig, ax = plt.subplots(figsize=(8, 4.5))
for name in nets:
    depth = np.linspace(0, 1, len(radius[name]))
    ax.plot(depth, radius[name], "o-", label=name)
ax.set(xlabel="relative depth (0: stem / patch embedding; 1: the last block's output)",
       ylabel="radius holding 50% of the mean ERF (pixels)",
       title="How far the centre location looks", ylim=(0, None))
ax.legend();

# %%
def radii(maps):
    """The 50% radius of each image's ERF: [N] pixels."""
    return np.array([R.erf_radius(e) for e in maps])


first = {name: radii(erf_per_image[name][erf_layers[name][1]]) for name in nets}
first["random ViT"] = radii(R.effective_receptive_field(rand_vit, layer=erf_layers["ViT"][1],
                                                        x=x_erf, per_image=True))
last_res = radii(erf_per_image["ResNet"][erf_layers["ResNet"][-1]])
vs_random = findings.bootstrap_difference(first["ViT"], first["random ViT"], paired=True)


def vit_finding(claim, *, measure, effect, control, against_random, unit, paper_value=""):
    """A ViT finding: its verdict only where the trained ViT differs from the random-weights ViT
    (the rule stated with the networks); otherwise inconclusive, with that reason."""
    if against_random.excludes(0):
        return log.effect(claim, measure=measure, effect=effect, unit=unit, paper_value=paper_value,
                          control=f"{control}; trained minus random-weights ViT: "
                                  f"{against_random.format(unit)}")
    return log.inconclusive(claim, measure=measure, control=control, ours=effect, unit=unit,
                            paper_value=paper_value,
                            reason=f"the trained ViT is not distinguishable from a random-weights "
                                   f"ViT (trained minus random: {against_random.format(unit)})")


vit_finding("the ViT's ERF reaches farther than the ResNet's after the first block",
            measure="50% ERF radius after block 1, ViT minus ResNet",
            effect=findings.bootstrap_difference(first["ViT"], first["ResNet"], paired=True),
            control="the ResNet's first block, same images", against_random=vs_random, unit="px")
log.effect("the ResNet's ERF is local and grows with depth",
           measure="50% ERF radius, last minus first block",
           effect=findings.bootstrap_difference(last_res, first["ResNet"], paired=True),
           control="the ResNet's first block, same images", unit="px")
pd.DataFrame({k: {"mean 50% radius after block 1 (px)": v.mean()}
              for k, v in first.items()}).T.round(1)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Mean attention distance per head and layer
#
# For each head: the attention-weighted distance, in pixels, between a query patch and the patches
# it attends to, averaged over patches and images (Dosovitskiy et al. 2021, Fig. 7). In the paper,
# ViTs pre-trained on JFT-300M have lower layers with both **local** heads (small distance) and
# global ones; trained on ImageNet alone, the lowest layers do not learn to attend locally: "large-scale
# pre-training data helps early attention layers learn to do this". We read the weights with a
# forward hook on `blocks[i].attention.attn`.
#
# *How we decide:* our ViT is trained on CIFAR-10 alone, the paper's "no large-scale
# pre-training" condition, so the claim we test is the paper's for that condition: **no head of
# block 1 is clearly more local than random weights make it**. The measure: the distance of block
# 1's most local head (the head with the smallest mean distance, chosen the same way in both
# networks), per image, in the random-weights ViT minus the trained ViT, on **the same images**
# for both (paired bootstrap over them). The margin, fixed before the run: **one patch width**
# (the spacing of the token grid, 32 px over the grid's size, read from the model): a head less
# than one patch closer than chance weights make it is not a local head. A claim of *no* effect:
# reproduced if the interval lies within ± one patch width, not reproduced if it lies wholly
# outside (a head clearly more local: what the paper finds only with JFT-300M), else
# inconclusive.

# %%
n_att = P.choose(quick=32, laptop=500, full=2000)
x_att = x_test[:n_att]                   # the same images for the trained and the random ViT
mad_per_image = R.mean_attention_distance(vit, x_att, per_image=True)   # [N, depth, heads]
mad = mad_per_image.mean(0)
uniform_distance = float(R.patch_distances(vit.grid, 32 / vit.grid).mean())
fig, ax = plt.subplots(figsize=(8, 5))
for h in range(mad.shape[1]):
    ax.scatter(np.arange(len(mad)) + 1, mad[:, h], s=60, label=f"head {h}")
ax.axhline(uniform_distance, color="k", ls="--", lw=1, label="uniform attention")
ax.set_xticks(np.arange(len(mad)) + 1)
ax.set(xlabel="block", ylabel="mean attention distance (pixels)", ylim=(0, None),
       title="ViT: how far each head looks")
ax.legend(fontsize="small", ncol=2);

# %% slideshow={"slide_type": "subslide"}
mad_rand_per_image = R.mean_attention_distance(rand_vit, x_att, per_image=True)
mad_rand = mad_rand_per_image.mean(0)
local_head = {"trained": int(mad[0].argmin()), "random": int(mad_rand[0].argmin())}
patch_width = 32 / vit.grid                   # the minimum effect: one patch closer
log.no_effect("without large-scale pre-training, block 1 learns no head clearly more local than "
              "random weights give",
              measure="block 1's most local head, random-weights minus trained distance",
              effect=findings.bootstrap_difference(
                  mad_rand_per_image[:, 0, local_head["random"]],
                  mad_per_image[:, 0, local_head["trained"]], paired=True,
                  what="images (the same for both)"),
              control=f"a random-weights ViT on the same images (uniform attention: "
                      f"{uniform_distance:.1f} px)",
              margin=patch_width, unit="px",
              paper_value="local heads in block 1 with JFT-300M pre-training, none with "
                          "ImageNet alone")
pd.DataFrame({"trained: min over heads": mad.min(1).values, "trained: max over heads": mad.max(1).values,
              "random weights: min over heads": mad_rand.min(1).values,
              "random weights: max over heads": mad_rand.max(1).values},
             index=[f"block {i + 1}" for i in range(len(mad))]).style.format("{:.1f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The paper's finding 4: skip connections matter even more in ViTs
#
# Raghu et al. measure $\lVert z_i \rVert / \lVert f(z_i) \rVert$: the norm of the stream entering
# a residual branch over the norm of what the branch adds. A large ratio means the token passes
# mostly through the skip connection. In their ViTs the class token is carried by the skip
# connections in the lower layers and the spatial tokens in the upper ones.
# *How we decide:* these ratios are means over images, computed once for the trained ViT and once
# for the random-weights ViT; without an interval they give no verdict (inconclusive, with this
# run's numbers).

# %%
ratios = R.residual_norm_ratios(vit, x_att[:n_att // 2])
fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True)
for ax, (j, branch) in zip(axes, enumerate(("attention", "MLP"))):
    ax.plot(np.arange(len(ratios)) + 1, ratios[:, j, 0], "o-", label="class token")
    ax.plot(np.arange(len(ratios)) + 1, ratios[:, j, 1], "s-", label="patch tokens (mean)")
    ax.set(xlabel="block", ylabel="||z|| / ||f(z)||", title=f"{branch} branch")
    ax.set_xticks(np.arange(len(ratios)) + 1)
    ax.set_yscale("log")
    ax.legend(fontsize="small")
fig.suptitle("How much of each block's input passes through its skip connection")
half = max(1, len(ratios) // 2)
ratios_rand = R.residual_norm_ratios(rand_vit, x_att[:n_att // 2])
split = {f"{arm}, {token}": [float(r[:half, :, t].mean()), float(r[half:, :, t].mean())]
         for arm, r in (("trained", ratios), ("random weights", ratios_rand))
         for token, t in (("class token", 0), ("patch tokens", 1))}
log.inconclusive("ViT: the class token rides the skips in lower blocks, patch tokens in higher "
                 "ones",
                 measure="||z||/||f(z)||, lower/upper half of the blocks",
                 control="a random-weights ViT",
                 reason="a mean over images with no interval at our cost; this run: "
                        + "; ".join(f"{k} {v[0]:.1f}/{v[1]:.1f}" for k, v in split.items()));

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Removing a skip connection.** The paper trains ViTs with the skip connection of one block
# removed and finds large drops in accuracy and a broken CKA structure. Retraining one ViT per
# removed skip is beyond a laptop run, so we first *lesion* the trained networks at test time
# (one ViT trained without any skip comes after), with the closest lesion the two architectures
# allow: **one residual path cut** (`R.residual_path_removed`, a context manager that takes its
# hooks off and puts every setting back). A ViT block has two residual paths: around its attention
# sub-layer (z + attn(norm1(z)) becomes attn(norm1(z))) and around its MLP (z' + mlp(norm2(z'))
# becomes mlp(norm2(z'))); each is cut on its own, the other kept. A ResNet basic block has one,
# its shortcut (relu(F(x) + shortcut(x)) becomes relu(F(x)); the shortcut is the identity, or a
# 1 × 1 convolution where the block changes the resolution). Every residual path of each network
# is cut in turn.
#
# **The lesions are not matched**, and we say so before the run: a cut ViT path removes the stream
# around one sub-layer of a block that keeps its other path, a cut ResNet shortcut removes a
# whole block's only path (and, where the shortcut is a 1 × 1 convolution, a learned projection,
# not an identity), and the two networks start from different accuracies, so each has a
# different distance to fall to chance (10%). The per-path accuracy lost, ViT minus ResNet,
# paired bootstrap over the same images, is computed and shown, but the finding is recorded as
# **inconclusive** with these mismatches, read from the two models, as the reason. A matched test
# trains with and without skips on the same budget, as the paper does: after the lesions, a ViT
# trained without skips does this for the ViT (all skips removed, not one block's), not for the
# ResNet.

# %%
n_acc = P.choose(quick=500, laptop=2_000, full=10_000)
x_acc, y_acc = data.subset(x_test, y_test, n_acc, seed=2)
blocks = {"ViT": [f"blocks.{i}" for i in range(len(vit.blocks))],
          "ResNet": [f"layer{k}.{j}" for k in (1, 2, 3)
                     for j in range(len(getattr(resnet, f"layer{k}")))]}
paths = {"ViT": [f"{b}.{p}" for b in blocks["ViT"] for p in ("attention", "mlp")],
         "ResNet": blocks["ResNet"]}                      # one residual path each


def correct(net):
    return (train.predict_logits(net, x_acc).argmax(1) == y_acc.cpu()).double()


lesion, lost_per_image = {}, {}
for name, net in nets.items():
    base = correct(net)
    lost = []
    for path in paths[name]:
        with R.residual_path_removed(net, path):
            cut = correct(net)
        lesion[(name, path)] = {"intact": base.mean().item(), "path cut": cut.mean().item()}
        lost.append(base - cut)
    lost_per_image[name] = torch.stack(lost).mean(0)          # [images]: mean over its paths
lesion = pd.DataFrame(lesion).T
lesion["accuracy lost"] = lesion["intact"] - lesion["path cut"]
intact = {name: lesion.xs(name, level=0)["intact"].iloc[0] for name in nets}
projections = sum(not isinstance(resnet.get_submodule(b).shortcut, torch.nn.Identity)
                  for b in blocks["ResNet"])
log.inconclusive("skip connections are more influential in the ViT than in the ResNet",
                 measure="accuracy lost per residual path cut, ViT minus ResNet",
                 ours=findings.bootstrap_difference(lost_per_image["ViT"],
                                                    lost_per_image["ResNet"], paired=True),
                 unit="points",
                 control="the ResNet, one residual path cut at test time, same images",
                 paper_value="large drops when a ViT is trained without a skip",
                 criterion="a matched lesion: not available at test time (stated before the run)",
                 reason=f"the lesions are not matched: the ViT's {len(blocks['ViT'])} blocks have "
                        f"{len(paths['ViT']) // len(blocks['ViT'])} residual paths each and a cut "
                        f"leaves the other, the ResNet's {len(blocks['ResNet'])} blocks one each, "
                        f"{projections} of them a learned 1 x 1 projection; and the two start at "
                        f"{findings.fmt(intact['ViT'], '%')} (ViT) and "
                        f"{findings.fmt(intact['ResNet'], '%')} (ResNet) on these images, so their "
                        "room to fall to chance differs")
lesion.groupby(level=0)["accuracy lost"].agg(["mean", "max"]).style.format("{:.1%}")

# %% slideshow={"slide_type": "subslide"}
mid = f"{blocks['ViT'][len(blocks['ViT']) // 2 - 1]}.attention"
with R.residual_path_removed(vit, mid):
    cka_lesion = S.cka_matrix(vit, x_cka, layers["ViT"], batch_size=bs)
fig, axes = plt.subplots(1, 2, figsize=(15, 6.5))
show_cka(axes[0], cka["ViT"], labels["ViT"], labels["ViT"], "ViT, intact", "ViT layer", "ViT layer")
show_cka(axes[1], cka_lesion, labels["ViT"], labels["ViT"], f"ViT, residual path of {mid} cut",
         "ViT layer", "ViT layer")

# %% [markdown] slideshow={"slide_type": "subslide"}
# A ViT *trained* without skip connections (zoo recipe `vit_noskip`: every block without both of
# its residual paths), when it is available. *How we decide:* a verdict needs the same training
# budget for both arms, so it is given only if `vit_noskip`'s recipe equals the ViT's in everything
# but the skips (the cell compares them); then the per-image accuracy of the ViT minus the ViT
# without skips, paired bootstrap over the same test images, reproduced if above 0 points.
# Otherwise the finding is inconclusive, with the recipes' difference as the reason.

# %%
try:
    vit_noskip = zoo.load_model("vit_noskip", device=device, train_if_missing=False)
except zoo.ZooError as err:
    vit_noskip = None
    print(f"Skipped: {err}\nTrain it with: python -m lecture_utils.zoo train vit_noskip")
if vit_noskip is not None:
    noskip_layers = R.block_layers(vit_noskip)
    cka_noskip = S.cka_matrix(vit_noskip, x_cka, noskip_layers, batch_size=bs)
    acc_noskip = {n: train.evaluate(m, x_acc, y_acc)["acc"] for n, m in
                  (("ViT", vit), ("ViT trained without skips", vit_noskip))}
    fig, axes = plt.subplots(1, 2, figsize=(15, 6.5))
    show_cka(axes[0], cka["ViT"], labels["ViT"], labels["ViT"],
             f"ViT ({acc_noskip['ViT']:.1%} accuracy)", "ViT layer", "ViT layer")
    show_cka(axes[1], cka_noskip, R.layer_labels(noskip_layers), R.layer_labels(noskip_layers),
             f"ViT trained without skips ({acc_noskip['ViT trained without skips']:.1%})",
             "layer", "layer")
    print("test accuracy on the same images: " + ", ".join(f"{k} {v:.1%}" for k, v in acc_noskip.items())
          + f"; its recipe: {vit_noskip.zoo_info['recipe']['epochs']} epochs on "
          f"{vit_noskip.zoo_info['recipe'].get('train_subset') or 50_000:,} images "
          f"(ViT: {vit.zoo_info['recipe']['epochs']} on "
          f"{vit.zoo_info['recipe'].get('train_subset') or 50_000:,})")


claim_noskip = "a ViT trained without skip connections is less accurate"
if vit_noskip is None:
    log.inconclusive(claim_noskip, reason="vit_noskip is not trained (python -m lecture_utils.zoo "
                     "train vit_noskip)", control="-")
else:
    # every setting of the two recipes (epochs, data, optimiser, ...) but the skips (and the seed)
    differ = zoo.recipe_differences(vit.zoo_info["recipe"], vit_noskip.zoo_info["recipe"],
                                    ignore=("skip",))
    gap = findings.bootstrap_difference(correct(vit), correct(vit_noskip), paired=True)
    control = "the same ViT architecture with both residual paths cut in every block, trained"
    if differ:
        log.inconclusive(claim_noskip, measure="test acc, ViT minus ViT without skips", ours=gap,
                         unit="points", control=control,
                         reason="the two arms had different training budgets (ViT vs no-skip: "
                                + ", ".join(f"{k} {a} vs {b}" for k, (a, b) in differ.items())
                                + "); retrain vit_noskip with the ViT's recipe")
    else:
        log.effect(claim_noskip, measure="test acc, ViT minus ViT without skips", effect=gap,
                   control=control + " with the ViT's recipe", unit="points",
                   paper_value="large drops in accuracy")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Spatial information
#
# Motivated by object detection, the paper asks how well the *position* of the input survives to
# the last layer: the CKA, over images, between the final representation at one grid position and
# the input patch at every position. A sharp peak at the query position means the layer still
# knows where things are. Both of our networks end on an 8 × 8 grid (ViT: its 64 patch tokens;
# ResNet: `layer3`).

# %%
n_sp = P.choose(quick=64, laptop=1_000, full=5_000)
x_sp = x_test[:n_sp]
patches = R.image_patches(x_sp, 8)
last = {"ViT": layers["ViT"][-1], "ResNet": "layer3"}
finals = {name: R.spatial_tokens(R.layer_activations(nets[name], x=x_sp, layers=[l])[l])
          for name, l in last.items()}
queries = {"corner (1, 1)": 9, "centre (4, 4)": 36, "edge (2, 6)": 22}
smaps = {(name, qname): S.spatial_cka(finals[name], patches, q).view(8, 8)
         for name in finals for qname, q in queries.items()}
peak = {key: bool(m.argmax() == queries[key[1]]) for key, m in smaps.items()}
fig, axes = plt.subplots(2, len(queries), figsize=(10, 7), squeeze=False)
for r, name in enumerate(finals):
    top = max(float(smaps[name, qname].max()) for qname in queries)   # one scale per row
    for c, (qname, q) in enumerate(queries.items()):
        im = viz.show_heatmap(axes[r, c], smaps[name, qname], title=f"{name}: token at {qname}",
                              colorbar=False)
        im.set_clim(0, top)
        axes[r, c].scatter([q % 8], [q // 8], marker="x", color="cyan", s=80)
    fig.colorbar(im, ax=axes[r].tolist(), fraction=0.03, pad=0.02, label="CKA with input patch")
fig.suptitle("CKA between the last layer at one position (×) and the input patch at each position")
peaks = {name: sum(v for (n, _), v in peak.items() if n == name) for name in nets}
log.inconclusive("the ViT keeps input spatial information to the last layer",
                 measure="queries whose CKA map peaks at the query position", control="the ResNet",
                 reason=f"{len(queries)} query positions on one set of images, no interval; this "
                        "run: " + ", ".join(f"{k} {v} of {len(queries)}"
                                            for k, v in peaks.items()));

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Linear probes per layer
#
# A logistic regression trained on each layer's features shows how much class information a layer
# holds, linearly. For the ViT we probe both the class token and the average of the patch tokens
# (global average pooling, GAP); for the ResNet the spatial average. The paper uses such probes to
# study **dataset scale**: with more pre-training data the intermediate representations get better.
# We cannot vary pre-training data here (no JFT-300M), so we only probe our two networks. (At
# the embedding the class token is the same learned vector for every image, so its probe sits at
# chance, 10%.)

# %%
x_train, y_train = data.load_cifar10("train")
probe_train = data.subset(x_train, y_train, P.choose(quick=500, laptop=5_000, full=20_000), seed=3)
probe_test = data.subset(x_test, y_test, P.choose(quick=300, laptop=2_000, full=10_000), seed=4)
probes = {(name, label): R.linear_probe_accuracies(nets[name], layers=layers[name],
                                                   train=probe_train, test=probe_test, pool=pool)
          for name, label, pool in (("ResNet", "GAP", "mean"), ("ViT", "class token", "cls"),
                                    ("ViT", "GAP", "mean"))}
fig, ax = plt.subplots(figsize=(9, 5))
for (name, pool), accs in probes.items():
    ax.plot(np.linspace(0, 1, len(accs)), np.array(list(accs.values())) * 100, "o-",
            label=f"{name}, {pool}")
ax.set(xlabel="relative depth", ylabel="linear probe test accuracy (%)", title="Linear probes per layer")
ax.legend(fontsize="small")
log.inconclusive("intermediate representations improve with the scale of pre-training data",
                 measure="linear probe accuracy per layer", control="-",
                 reason="we have no pre-training data to vary (no JFT-300M / ImageNet-21k); the "
                        "probes above only describe our two networks");

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What we saw
#
# One line per finding of the slide, printed from the records made beside each experiment above:
# the measure, ours with its 95% interval where there is one, the control and the verdict its
# criterion (stated before each experiment) gives. The paper's ViTs (ViT-B/L/H, with JFT-300M or
# ImageNet-21k pre-training) and ResNets (50 to 152 layers) have from tens to hundreds of times
# the parameters of ours and were trained far longer;
# several of its findings are about what large-scale pre-training teaches, which a small ViT
# trained on CIFAR-10 alone cannot show, so "inconclusive" is an expected answer here. Every ViT
# line is about the ViT of the first line below: trained on CIFAR-10 alone and less accurate than
# the ResNet. A "reproduced" says what this ViT does; a "not reproduced" may be something that
# only large-scale pre-training teaches.

# %%
print(f"ViT: {vit.zoo_info['test_accuracy']:.1%} test accuracy "
      f"({vit.zoo_info['recipe']['epochs']} epochs); ResNet: "
      f"{resnet.zoo_info['test_accuracy']:.1%}")
log.summary()

# %% [markdown]
# Reading the lines above against the outputs beside each experiment:
#
# * Uniformity and the cross-network match have one CKA matrix each and no interval: read their
#   numbers against the heat maps, not as verdicts.
# * ERF: the maps are drawn on a log scale (each over its own maximum), so a faint halo shows; the
#   50% radius counts gradient mass, so compare the table of radii (with the random-weights
#   ViT's) before the maps.
#   Where the ViT's radius after block 1 exceeds the ResNet's and the random-weights ViT's while
#   its maps peak at the centre location's own patch, the mass lies in a faint halo spread over
#   the image, which training put there: that is the sense in which such a ViT "reaches
#   farther", not the global maps of the paper's figure.
# * Attention: the finding is the paper's claim for a ViT without large-scale pre-training (no
#   local head in block 1), tested against random weights with a margin of one patch width;
#   compare the table of distances with the uniform-attention line of the scatter plot before
#   reading it.
# * Skip ratios: compare the trained ViT's lower/upper-half ratios with the random-weights ViT's
#   before reading them as learned. In the printed pairs the class token's ratio is larger in the
#   upper half than in the lower, for the trained and the random-weights ViT alike: the reverse of
#   the paper's pattern for the class token.
# * Lesions: the ViT loses more accuracy per residual path cut than the ResNet (the interval is
#   above 0), but with unmatched lesions and different starting accuracies this is not a verdict;
#   the mismatches, read from the two models, are printed with it.
# * Trained without skips: the matched comparison. Both arms had the same recipe (the line printed
#   with the heat maps), so it has a verdict: the ViT trained without skips is less accurate,
#   by the interval in its line; compare that size with the paper's "large drops".
#
# Not done here: pre-training on JFT-300M / ImageNet-21k, hence the data-scale and transfer
# experiments of the paper.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# 1. **HSIC, yourself.** Write `my_hsic(K, L)` from the slide (build $H$, centre both Gram
#    matrices, take the inner product, divide by $(m-1)^2$). Check with `checks.check_hsic`.
# 2. **Linear CKA, yourself.** Write `my_linear_cka(X, Y)` from the slide. Check with
#    `checks.check_linear_cka`, which also tries data that are not centred.
# 3. **Predict, then run.** Scale the first half of the neurons of `X` by 100 and leave the rest.
#    Does `CKA(X, Y)` change? Why does an invertible map change it while a rotation does not?
# 4. **Pooled or flattened?** Recompute the ViT heat map with `pool="mean"` in `S.cka_matrix`
#    (average over positions before comparing). Which structure survives?
# 5. **Before training.** Compute the mean attention distances of `rand_vit` (random weights) per
#    block and compare them with the trained ViT. What did training change?

# %% tags=["solution"]
def my_hsic(K, L):
    ### BEGIN SOLUTION
    m = K.shape[0]
    H = torch.eye(m, dtype=K.dtype) - torch.ones(m, m, dtype=K.dtype) / m
    return float((H @ K @ H * (H @ L @ H)).sum() / (m - 1) ** 2)
    ### END SOLUTION


checks.check_hsic(my_hsic);


# %% tags=["solution"]
def my_linear_cka(X, Y):
    ### BEGIN SOLUTION
    K, L = X @ X.T, Y @ Y.T
    return my_hsic(K, L) / (my_hsic(K, K) * my_hsic(L, L)) ** 0.5
    ### END SOLUTION


checks.check_linear_cka(my_linear_cka);

# %% tags=["solution"]
### BEGIN SOLUTION
Xs = X.clone()
Xs[:, : d // 2] *= 100
print(f"CKA(X, Y) = {S.linear_cka(X, Y):.3f}; with half the neurons x100: {S.linear_cka(Xs, Y):.3f}")
### END SOLUTION

# %% tags=["solution"]
### BEGIN SOLUTION
cka_pooled = S.cka_matrix(vit, x_cka, layers["ViT"], batch_size=bs, pool="mean")
fig, axes = plt.subplots(1, 2, figsize=(15, 6.5))
show_cka(axes[0], cka["ViT"], labels["ViT"], labels["ViT"], "ViT, flattened tokens", "ViT layer", "ViT layer")
show_cka(axes[1], cka_pooled, labels["ViT"], labels["ViT"], "ViT, tokens averaged", "ViT layer", "ViT layer")
print(f"mean off-diagonal CKA: flattened {uniformity(cka['ViT'])['mean off-diagonal CKA']:.2f}, "
      f"averaged {uniformity(cka_pooled)['mean off-diagonal CKA']:.2f}")
### END SOLUTION

# %% tags=["solution"]
### BEGIN SOLUTION
pd.DataFrame({"trained (mean over heads)": mad.mean(1), "random weights (mean over heads)": mad_rand.mean(1)},
             index=[f"block {i + 1}" for i in range(len(mad))]).style.format("{:.1f}")
### END SOLUTION

# %% [markdown] slideshow={"slide_type": "slide"}
# ## References
#
# * M. Raghu, T. Unterthiner, S. Kornblith, C. Zhang, A. Dosovitskiy. *Do Vision Transformers See
#   Like Convolutional Neural Networks?* NeurIPS 2021.
# * S. Kornblith, M. Norouzi, H. Lee, G. Hinton. *Similarity of Neural Network Representations
#   Revisited.* ICML 2019 (CKA, its invariances, RBF CKA).
# * T. Nguyen, M. Raghu, S. Kornblith. *Do Wide and Deep Networks Learn the Same Things?* ICLR
#   2021 (minibatch CKA).
# * L. Song, A. Smola, A. Gretton, J. Bedo, K. Borgwardt. *Feature Selection via Dependence
#   Maximization.* JMLR 2012 (the unbiased HSIC).
# * A. Dosovitskiy et al. *An Image is Worth 16x16 Words.* ICLR 2021 (ViT, mean attention distance).
# * W. Luo, Y. Li, R. Urtasun, R. Zemel. *Understanding the Effective Receptive Field in Deep
#   Convolutional Neural Networks.* NeurIPS 2016.
