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
# `vit_noskip`. A missing `vit` is trained on first use (tens of CPU minutes with the laptop
# recipe); a missing `vit_noskip` is skipped with a message, not trained.
# *Run live:* the math cells (the two CKA routes agree to 1e-10; the invariance table is the
# slide's sentence in numbers), then the minibatch-CKA convergence plot.
# *Takes long on a laptop:* the layer-by-layer CKA heat maps, the skip-connection lesions and the
# linear probes (see the timing table); show their committed outputs and talk over the heat maps:
# the ViT's more uniform structure and the cross-model map are the paper's Figs. 1 and 2.
# *Show, don't run:* the effective receptive fields, the attention distances and the summary
# table "The slide's findings at our scale": it says which findings reproduce with a small ViT
# trained on CIFAR-10 only (no JFT-300M pre-training).
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
# 5. Which of the paper's findings hold for a small ViT trained briefly on CIFAR-10 alone.

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

from lecture_utils import (checks, config, data, models, representations, similarity, train, viz,
                           zoo)
from lecture_utils import representations as R
from lecture_utils import similarity as S
from lecture_utils.source import show_source

viz.use_style()
config.seed_everything(0)
P = config.get_profile()
device = config.get_device()
print(config.describe())

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
# report linear CKA; the two mostly agree.
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
# of small batches instead would be far off.

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
       title="Minibatch CKA converges; averaging biased CKA does not")
ax.legend(fontsize="small");

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
# JFT-300M or ImageNet-21k and ResNet-50/152: our networks are orders of magnitude smaller.

# %%
vit = zoo.load_model("vit", device=device)
nets = {"ResNet": resnet, "ViT": vit}
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
# ## Finding 1: ViTs have more uniform representations
#
# Layer-by-layer CKA heat maps on the same test images (flattened activations, minibatch CKA).

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
uniform.style.format("{:.2f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Finding 2: ViT and ResNet compute different features
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
       title="For each ResNet layer, the ViT layer with the highest CKA");

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Finding 3: local and global information — effective receptive fields
#
# "The effective receptive field of different layers: the absolute value of the gradient of the
# centre location of the feature map with respect to the input", averaged over images. The slide:
# ResNet ERFs are highly local and grow gradually; ViT ERFs shift from local to global.

# %%
show_source(representations.effective_receptive_field)

# %% slideshow={"slide_type": "subslide"}
n_erf = P.choose(quick=8, laptop=64, full=256)
x_erf = x_test[:n_erf]
erf_layers = {"ResNet": [l for l in layers["ResNet"] if not l.endswith("relu1")],
              "ViT": [l for l in layers["ViT"] if not l.endswith("norm2")]}
erf_labels = {name: R.layer_labels(ls) for name, ls in erf_layers.items()}
erfs = {name: {l: R.effective_receptive_field(nets[name], layer=l, x=x_erf)
               for l in erf_layers[name]} for name in nets}
cols = max(len(v) for v in erf_layers.values())
fig, axes = plt.subplots(2, cols, figsize=(2.3 * cols, 5.2), squeeze=False)
for r, name in enumerate(nets):
    for c in range(cols):
        ax = axes[r, c]
        if c >= len(erf_layers[name]):
            ax.axis("off")
            continue
        layer = erf_layers[name][c]
        e = erfs[name][layer]
        im = viz.show_heatmap(ax, e / e.max(), title=f"{name} {erf_labels[name][c]}", colorbar=False)
        im.set_clim(0, 1)                  # every panel on the scale of the shared colour bar
fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.015, pad=0.01, label="|gradient| / its max")
fig.suptitle("Effective receptive fields of the centre location, layer by layer");

# %% slideshow={"slide_type": "subslide"}
radius = {name: [R.erf_radius(erfs[name][l]) for l in erf_layers[name]] for name in nets}
fig, ax = plt.subplots(figsize=(8, 4.5))
for name in nets:
    depth = np.linspace(0, 1, len(radius[name]))
    ax.plot(depth, radius[name], "o-", label=name)
ax.set(xlabel="relative depth (first to last block)", ylabel="radius holding 50% of the ERF (pixels)",
       title="How far the centre location looks", ylim=(0, None))
ax.legend();

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Mean attention distance per head and layer
#
# For each head: the attention-weighted distance, in pixels, between a query patch and the patches
# it attends to, averaged over patches and images (Dosovitskiy et al. 2021, Fig. 7). In the paper,
# ViTs pre-trained on JFT-300M have lower layers with both **local** heads (small distance) and
# global ones; trained on ImageNet alone, the lowest layers do not learn to attend locally: "large-scale
# pre-training data helps early attention layers learn to do this". We read the weights with a
# forward hook on `blocks[i].attention.attn`.

# %%
n_att = P.choose(quick=32, laptop=500, full=2000)
mad = R.mean_attention_distance(vit, x_test[:n_att])
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
rand_vit = models.build("vit", **vit.zoo_info["recipe"]["arch_kwargs"]).to(device).eval()
mad_rand = R.mean_attention_distance(rand_vit, x_test[:n_att])
pd.DataFrame({"trained: min over heads": mad.min(1).values, "trained: max over heads": mad.max(1).values,
              "random weights: mean": mad_rand.mean(1)},
             index=[f"block {i + 1}" for i in range(len(mad))]).style.format("{:.1f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Finding 4: skip connections matter even more in ViTs
#
# Raghu et al. measure $\lVert z_i \rVert / \lVert f(z_i) \rVert$: the norm of the stream entering
# a residual branch over the norm of what the branch adds. A large ratio means the token passes
# mostly through the skip connection. In their ViTs the class token is carried by the skip
# connections in the lower layers and the spatial tokens in the upper ones.

# %%
ratios = R.residual_norm_ratios(vit, x_test[:n_att // 2])
fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True)
for ax, (j, branch) in zip(axes, enumerate(("attention", "MLP"))):
    ax.plot(np.arange(len(ratios)) + 1, ratios[:, j, 0], "o-", label="class token")
    ax.plot(np.arange(len(ratios)) + 1, ratios[:, j, 1], "s-", label="patch tokens (mean)")
    ax.set(xlabel="block", ylabel="||z|| / ||f(z)||", title=f"{branch} branch")
    ax.set_xticks(np.arange(len(ratios)) + 1)
    ax.set_yscale("log")
    ax.legend(fontsize="small")
fig.suptitle("How much of each block's input passes through its skip connection");

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Removing a skip connection.** The paper trains ViTs with the skip connection of one block
# removed and finds large drops in accuracy and a broken CKA structure. Retraining is beyond a
# laptop run, so we first *lesion* the trained networks: the skip connection of one block is cut at
# test time (`R.skip_removed`, a context manager that puts it back), for each block in turn, in the
# ViT and in the ResNet.

# %%
n_acc = P.choose(quick=500, laptop=2_000, full=10_000)
x_acc, y_acc = data.subset(x_test, y_test, n_acc, seed=2)
blocks = {"ViT": [f"blocks.{i}" for i in range(len(vit.blocks))],
          "ResNet": [f"layer{k}.{j}" for k in (1, 2, 3)
                     for j in range(len(getattr(resnet, f"layer{k}")))]}
lesion = {}
for name, net in nets.items():
    base = train.evaluate(net, x_acc, y_acc)["acc"]
    for b in blocks[name]:
        with R.skip_removed(net, b):
            cut = train.evaluate(net, x_acc, y_acc)["acc"]
        lesion[(name, b)] = {"intact": base, "skip removed": cut}
lesion = pd.DataFrame(lesion).T
lesion["accuracy lost"] = lesion["intact"] - lesion["skip removed"]
lesion.groupby(level=0)["accuracy lost"].agg(["mean", "max"]).style.format("{:.1%}")

# %% slideshow={"slide_type": "subslide"}
mid = blocks["ViT"][len(blocks["ViT"]) // 2 - 1]
with R.skip_removed(vit, mid):
    cka_lesion = S.cka_matrix(vit, x_cka, layers["ViT"], batch_size=bs)
fig, axes = plt.subplots(1, 2, figsize=(15, 6.5))
show_cka(axes[0], cka["ViT"], labels["ViT"], labels["ViT"], "ViT, intact", "ViT layer", "ViT layer")
show_cka(axes[1], cka_lesion, labels["ViT"], labels["ViT"], f"ViT, skip of {mid} removed",
         "ViT layer", "ViT layer")

# %% [markdown] slideshow={"slide_type": "subslide"}
# A ViT *trained* without skip connections (zoo recipe `vit_noskip`: every block without its
# residual paths, trained briefly), when it is available:

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
fig, axes = plt.subplots(2, len(queries), figsize=(4.2 * len(queries), 7.5), squeeze=False)
peak = {}
for r, name in enumerate(finals):
    for c, (qname, q) in enumerate(queries.items()):
        smap = S.spatial_cka(finals[name], patches, q).view(8, 8)
        peak[(name, qname)] = bool(smap.argmax() == q)
        viz.show_heatmap(axes[r, c], smap, title=f"{name}: token at {qname}",
                         label="CKA with input patch")
        axes[r, c].scatter([q % 8], [q // 8], marker="x", color="cyan", s=80)
fig.suptitle("CKA between the last layer at one position (×) and the input patch at every position");

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
ax.legend(fontsize="small");

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The slide's findings at our scale
#
# Each row is measured above; "ours" is computed by this run. The paper's ViTs (ViT-B/L/H, with
# JFT-300M or ImageNet-21k pre-training) and ResNets (50 to 152 layers) are orders of magnitude
# larger than ours and trained far longer.

# %%
off = uniform.loc["mean off-diagonal CKA"]
lost = lesion.groupby(level=0)["accuracy lost"].mean()
peaks = {name: sum(v for (n, _), v in peak.items() if n == name) for name in nets}
final_probe = {f"{n} {p}": list(a.values())[-1] for (n, p), a in probes.items()}
r_res, r_vit = radius["ResNet"], radius["ViT"]
half = max(1, len(ratios) // 2)
ratio_cls = [float(ratios[:half, :, 0].mean()), float(ratios[half:, :, 0].mean())]
ratio_patch = [float(ratios[:half, :, 1].mean()), float(ratios[half:, :, 1].mean())]
rows = [
    ("ViT representations more uniform across depth",
     f"mean off-diagonal CKA: ViT {off['ViT']:.2f}, ResNet {off['ResNet']:.2f}",
     off["ViT"] > off["ResNet"]),
    ("ResNet ERF local and growing; ViT ERF reaches far early",
     f"50% radius, first/last block: ResNet {r_res[1]:.1f}/{r_res[-1]:.1f} px, "
     f"ViT {r_vit[1]:.1f}/{r_vit[-1]:.1f} px",
     r_vit[1] > r_res[1] and r_res[-1] > r_res[1]),
    ("lower attention layers mix local and global heads (with large-scale data)",
     f"block 1 heads: {mad[0].min():.1f} to {mad[0].max():.1f} px (uniform: {uniform_distance:.1f} px)",
     bool(mad[0].min() < 0.6 * uniform_distance)),
    ("skip connections more influential in ViT than in ResNet",
     "accuracy lost when one skip is cut (mean over blocks): "
     + ", ".join(f"{k} {v:.1%}" for k, v in lost.items()),
     lost["ViT"] > lost["ResNet"]),
    ("ViT: class token carried by the skips in lower blocks, patch tokens in higher ones",
     f"||z||/||f(z)|| (both branches), lower/upper half of the blocks: class token "
     f"{ratio_cls[0]:.1f}/{ratio_cls[1]:.1f}, patch tokens {ratio_patch[0]:.1f}/{ratio_patch[1]:.1f}",
     bool(ratio_cls[0] > ratio_patch[0] and ratio_cls[1] < ratio_patch[1])),
    ("ViT trained without skip connections: worse, and a different CKA structure",
     "not available (vit_noskip not trained)" if vit_noskip is None else
     f"test accuracy {acc_noskip['ViT trained without skips']:.1%} vs {acc_noskip['ViT']:.1%}; "
     f"mean off-diagonal CKA {uniformity(cka_noskip)['mean off-diagonal CKA']:.2f} vs {off['ViT']:.2f}",
     "not tested" if vit_noskip is None else
     acc_noskip["ViT trained without skips"] < acc_noskip["ViT"]),
    ("ViT keeps input spatial information to the last layer",
     "CKA peaks at the query position: "
     + ", ".join(f"{k} {v}/{len(queries)}" for k, v in peaks.items()),
     peaks["ViT"] >= peaks["ResNet"]),
    ("linear probes: intermediate representations improve with data scale",
     "last-layer probes: " + ", ".join(f"{k} {v:.1%}" for k, v in final_probe.items()),
     "not tested (no pre-training data)"),
]
summary = pd.DataFrame(rows, columns=["finding (slide)", "ours", "reproduces here"])
summary["reproduces here"] = summary["reproduces here"].map(
    lambda v: v if isinstance(v, str) else ("yes" if v else "no"))
summary.style.hide(axis="index")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What we saw
#
# The numbers below are this run's (the cell writes them from the results above).

# %% tags=["remove-input"]
walk = {n: np.array(list(a.values())) for n, a in probes.items()}
cka_of = inv.iloc[:, 0]
saw = [
    f"CKA is the slide's formula: the Gram-matrix and the feature-space routes agree "
    f"({by_gram:.6f} vs {by_features:.6f}); it stayed the same under orthogonal maps, permutations, "
    f"isotropic scaling and translation, and changed under a general invertible map "
    f"({cka_of['invertible linear map A']:.3f} instead of {by_gram:.3f}) and "
    f"anisotropic scaling ({cka_of['anisotropic scaling (0.1 ... 10)']:.3f}).",
    f"Minibatch CKA with batches of {sizes[-1]} gave {mb[-1]:.3f} against {full_cka:.3f} on all "
    f"{m_demo} images; the mean of the biased per-batch CKA gave {naive[0]:.3f} at batch size "
    f"{sizes[0]} and {naive[-1]:.3f} at {sizes[-1]}.",
    f"Uniformity: mean off-diagonal CKA {off['ViT']:.2f} in the ViT and {off['ResNet']:.2f} in the "
    f"ResNet; CKA(first, last layer) {uniform.loc['CKA(first, last)', 'ViT']:.2f} and "
    f"{uniform.loc['CKA(first, last)', 'ResNet']:.2f}. "
    + ("The ViT is the more uniform one, as in the paper." if off["ViT"] > off["ResNet"] else
       "Here the ViT is NOT the more uniform one: this finding does not reproduce at our scale."),
    f"Across the two networks the highest CKA is {float(cross.max()):.2f}; the lowest ResNet layers "
    f"match ViT layer '{labels['ViT'][int(best[0])]}' best and the last ResNet layer matches "
    f"'{labels['ViT'][int(best[-1])]}'.",
    f"Effective receptive fields (radius holding 50%): ResNet {r_res[1]:.1f} px after its first block "
    f"and {r_res[-1]:.1f} px after its last; ViT {r_vit[1]:.1f} px after its first block and "
    f"{r_vit[-1]:.1f} px after its last.",
    f"Mean attention distance in block 1: {mad[0].min():.1f} to {mad[0].max():.1f} px over heads "
    f"(uniform attention: {uniform_distance:.1f} px; random weights: {mad_rand[0].mean():.1f} px); "
    f"in the last block {mad[-1].min():.1f} to {mad[-1].max():.1f} px.",
    f"Cutting one skip connection at test time costs the ViT {lost['ViT']:.1%} accuracy on average "
    f"over blocks (at most {lesion.loc['ViT', 'accuracy lost'].max():.1%}) and the ResNet "
    f"{lost['ResNet']:.1%} (at most {lesion.loc['ResNet', 'accuracy lost'].max():.1%}).",
    f"Norm ratios ||z||/||f(z)||: class token {ratio_cls[0]:.1f} in the lower half of the blocks and "
    f"{ratio_cls[1]:.1f} in the upper half, patch tokens {ratio_patch[0]:.1f} and {ratio_patch[1]:.1f} "
    "(the paper: the class token rides the skips early, the patch tokens late).",
    "No ViT trained without skips was available." if vit_noskip is None else
    f"The ViT trained without skip connections reaches {acc_noskip['ViT trained without skips']:.1%} "
    f"against {acc_noskip['ViT']:.1%} for the ViT"
    + (" (its recipe is shorter, so only part of the gap is the missing skips)."
       if acc_noskip["ViT trained without skips"] < acc_noskip["ViT"] else
       ": the paper's drop does not show here."),
    f"Spatial information: the last layer's CKA map peaks at the query position for "
    + ", ".join(f"{k} {v} of {len(queries)}" for k, v in peaks.items()) + " queries.",
    "Linear probes, first to last layer: "
    + "; ".join(f"{k[0]} ({k[1]}) {v[0]:.0%} → {v.max():.0%} (best) → {v[-1]:.0%}"
                for k, v in walk.items()) + ".",
]
Markdown("\n".join(f"* {line}" for line in saw))

# %% [markdown]
# Our ViT has had no large-scale pre-training, which the paper finds is what teaches early
# attention heads to look locally, and it is far smaller than ViT-B: the table above says which
# findings still show. Not done here: pre-training on JFT-300M / ImageNet-21k, hence the
# data-scale and transfer experiments of the paper.

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
