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
# # 01 · Visualizing and understanding convolutional networks (deconvnet)
#
# **Paper:** M. D. Zeiler, R. Fergus. *Visualizing and Understanding Convolutional Networks.*
# ECCV 2014. [arXiv:1311.2901](https://arxiv.org/abs/1311.2901)
#
# **Why it matters:** it was the first systematic look at what the units inside a trained
# convolutional network respond to. Its answer is a **deconvolutional network** ("deconvnet") that
# maps one unit's activation back to pixel space, plus two experiments that are still used: the
# images that excite a unit most, and **occlusion**, which tests whether the classifier really
# looks at the object.

# %% [markdown] slideshow={"slide_type": "notes"} tags=["presenter"]
# **Presenter's note.**
# *Before class:* `python -m lecture_utils.zoo list` must show `vgg` (with its epoch 1, 2 and 5
# snapshots); a missing checkpoint is trained on first use. The committed one was trained for 200
# epochs on the course's 2-core CPU, over several sittings (the zoo's manifest records device and
# time: hours on a CPU, minutes on a GPU), so train a missing one well before class.
# *Run live:* the three small math cells (flipped kernel, switches, the three ReLU rules): they
# print small arrays students can check by eye. Then one top-9 figure, and the occlusion figure.
# *Takes long on a laptop:* the top-9 figures and the canvas occlusion table (see the timing
# table); show their committed outputs instead.
# *Show, don't run:* the optional ImageNet part (it needs the VGG16/AlexNet weights in the torch
# cache and minutes of CPU).
# *Exercises:* do 2 (unpooling) together, it makes the switches concrete; leave 1, 3, 4 for home.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What you will learn
#
# 1. The deconvnet's three steps, **unpooling with switches**, **rectification** and **filtering
#    with flipped filters**, and why two of them are exactly the backward pass of the network.
# 2. How to project one unit of one layer to pixel space and read a "top-9" figure: what a unit of
#    a low, middle or high layer detects.
# 3. How features **evolve over training**: which layers settle first.
# 4. How an **occlusion** map tests whether the prediction depends on the object or on its context.

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
import torch.nn.functional as F

from lecture_utils import (checks, config, data, deconvnet, display, findings, hooks, occlusion, pretrained,
                           viz, zoo)
from lecture_utils.representations import layer_activations
from lecture_utils.source import show_source
from lecture_utils.canvas import make_canvases

viz.use_style()
config.seed_everything(0)
P = config.get_profile()
device = config.get_device()
print(config.describe())
log = findings.Findings("01", "Zeiler & Fergus 2014")   # every claim tested below, printed in "What we saw"


# %% [markdown] slideshow={"slide_type": "slide"}
# ## The math: a deconvnet runs the network backwards
#
# Notation of the lecture: $X_n$ is the input of layer $n$, $f$ the neuron activity to be
# visualized, $R_n$ the deconvnet's reconstruction at layer $n$. A convolutional network stacks
# three kinds of layers, and the deconvnet inverts each one on the way down:
#
# | layer (forward) | backpropagation $\partial f / \partial X_n$ | deconvnet $R_n$ |
# |---|---|---|
# | convolution $X_{n+1} = X_n * K_n$ | $\frac{\partial f}{\partial X_{n+1}} * \hat K_n$ | $R_{n+1} * \hat K_n$ (same) |
# | ReLU $X_{n+1} = \max(X_n, 0)$ | $\frac{\partial f}{\partial X_{n+1}}\, \mathbf 1(X_n > 0)$ | $R_{n+1}\, \mathbf 1(R_{n+1} > 0)$ (different) |
# | max-pooling $X_{n+1}(p) = \max_{q \in \Omega(p)} X_n(q)$ | $\frac{\partial f}{\partial X_{n+1}(p)}\, \mathbf 1(s = \arg\max_{q \in \Omega(p)} X_n(q))$ | the same, with the **switches** |
#
# $\hat K_n$ is the kernel *flipped vertically and horizontally*. Only the rectification differs
# from backpropagation (Simonyan et al., [notebook 02](02_simonyan_saliency_class_models.ipynb), make this precise).

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Filtering: the transposed convolution is the convolution with the flipped kernel
#
# A convolution $X_{n+1} = X_n * K_n$ (stride 1, padding $p$, kernel $k \times k$) is undone, in
# the deconvnet's sense, by convolving $R_{n+1}$ with $\hat K_n$: the kernel flipped in both
# spatial directions, with its input and output channels swapped, and padding $k - 1 - p$.
# A stride $r > 1$ first spreads $R_{n+1}$ out with $r - 1$ zeros between its entries.

# %%
show_source(deconvnet.flip_kernel)
show_source(deconvnet.flipped_kernel_convolution)

# %% [markdown] slideshow={"slide_type": "subslide"}
# Three ways to compute $R_n$, on a random layer: our flipped-kernel convolution, PyTorch's
# transposed convolution, and autograd's backward pass of the convolution. They agree to
# floating-point precision, for stride 1 and stride 2:

# %%
g = torch.Generator().manual_seed(0)
rows = []
for stride, padding in [(1, 1), (1, 0), (2, 1)]:
    K = torch.randn(8, 3, 3, 3, generator=g)                       # K_n: 3 -> 8 channels
    X = torch.randn(2, 3, 9, 9, generator=g, requires_grad=True)   # X_n
    Y = F.conv2d(X, K, stride=stride, padding=padding)             # X_{n+1}
    R = torch.randn(Y.shape, generator=g)                          # R_{n+1}
    extra = (9 + 2 * padding - 3) % stride                         # rows the stride skipped
    flipped = deconvnet.flipped_kernel_convolution(R, K, stride, padding, extra)
    transposed = F.conv_transpose2d(R, K, stride=stride, padding=padding, output_padding=extra)
    (backward,) = torch.autograd.grad(Y, X, R)
    rows.append({"stride": stride, "padding": padding,
                 "max |flipped - transposed|": (flipped - transposed).abs().max().item(),
                 "max |flipped - backward|": (flipped - backward).abs().max().item()})
    assert torch.allclose(flipped, transposed, atol=1e-5) and torch.allclose(flipped, backward, atol=1e-5)
pd.DataFrame(rows).style.format({c: "{:.1e}" for c in rows[0] if c.startswith("max")})

# %% [markdown] slideshow={"slide_type": "subslide"}
# On one channel, the flip is easy to see: the kernel is rotated by 180°.

# %%
k = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
print("K_n =\n", k[0, 0].int().numpy(), "\n\nK^_n =\n", deconvnet.flip_kernel(k)[0, 0].int().numpy())

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Unpooling with switches
#
# Max-pooling is not invertible. The deconvnet records, in the forward pass, *where* each maximum
# came from (the **switches**) and puts the signal back there, zero elsewhere. That is exactly the
# gradient of max-pooling, $\mathbf 1(s = \arg\max_{q \in \Omega(p)} X_n(q))$:

# %%
X = torch.tensor([[[[1., 5., 0., 2.], [3., 2., 7., 1.], [0., 0., 1., 4.], [8., 1., 2., 3.]]]],
                 requires_grad=True)
pooled, switches = F.max_pool2d(X, 2, return_indices=True)
R = torch.tensor([[[[10., 20.], [30., 40.]]]])
unpooled = F.max_unpool2d(R, switches, 2)          # the deconvnet's unpooling
(grad,) = torch.autograd.grad(pooled, X, R)         # the backward pass of max-pooling
print("X_n =\n", X[0, 0].detach().int().numpy(), "\nR_{n+1} =\n", R[0, 0].int().numpy(),
      "\nunpooled R_n =\n", unpooled[0, 0].int().numpy())
assert torch.equal(unpooled, grad)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Rectification
#
# The deconvnet passes its signal through a ReLU by rectifying the *signal*:
# $R_n = R_{n+1}\,\mathbf 1(R_{n+1} > 0)$, where backpropagation masks by the *forward input*,
# $\mathbf 1(X_n > 0)$. The course implements each rule as a backward hook on every `nn.ReLU`
# module (`hooks.relu_backward_rule`), removed on every exit path:

# %%
show_source(hooks, "rules")

# %%
relu = torch.nn.Sequential(torch.nn.ReLU())
X = torch.tensor([[-1.0, 2.0, -3.0, 4.0]], requires_grad=True)
R = torch.tensor([[5.0, -6.0, -7.0, 8.0]])
for rule in hooks.RULES:
    with hooks.relu_backward_rule(relu, rule):
        (r_n,) = torch.autograd.grad(relu(X), X, R)
    print(f"{rule:>9}: R_n = {r_n[0].tolist()}")
assert torch.equal(r_n, torch.tensor([[0.0, 0.0, 0.0, 8.0]]))      # guided: both masks

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Projecting one unit
#
# "To examine a given convnet activation, we set all other activations in the layer to zero and
# pass the feature maps as input to the attached deconvnet layer." With the three steps above, the
# deconvnet is autograd's backward pass from that one activation, with the deconvnet rule at every
# ReLU:

# %%
show_source(deconvnet.project_unit)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The network: a VGG-style net trained on CIFAR-10
#
# Zeiler & Fergus looked inside an AlexNet-like ImageNet model. We use the course's VGG-style network
# (four blocks of two 3×3 convolutions with batch norm and ReLU, each block followed by max-pooling,
# then a fully connected head),
# trained on CIFAR-10 by the zoo. Max-pooling matters here: the deconvnet needs its switches.

# %%
vgg = zoo.load_model("vgg", device=device)
info = vgg.zoo_info
print(f"vgg from the {info['source']}: {info['parameters']:,} parameters, "
      f"{info['recipe']['epochs']} epochs, test accuracy {info['test_accuracy']:.1%}")

x_test, y_test = data.load_cifar10("test")
n_search = P.choose(quick=500, laptop=5_000, full=10_000)
x_search, y_search = x_test[:n_search], y_test[:n_search]

# %% [markdown] slideshow={"slide_type": "subslide"}
# Each layer's units see a larger part of the image, their **receptive field**. Deep units of this
# net see more than the whole 32 × 32 image:

# %%
LAYERS = ["relu1_2", "relu2_2", "relu3_2", "relu4_2"]
rf_rows = []
for name in LAYERS:
    a = layer_activations(vgg, x_search[:2], name)
    rf = deconvnet.receptive_field(vgg, name)
    rf_rows.append({"layer": name, "feature maps": a.shape[1], "map size": f"{a.shape[2]}×{a.shape[3]}",
                    "receptive field (px)": rf.size, "stride (px)": rf.stride})
pd.DataFrame(rf_rows).set_index("layer")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Experiment 1: the top-9 activations of units in four layers
#
# For a few feature maps of each layer, the nine test images whose strongest activation in that map
# is largest (Zeiler & Fergus, Fig. 2). For each we show the deconvnet projection of that single
# activation (top) and the image patch under its receptive field (bottom), both cropped to the
# receptive field. Projections are shown with zero as mid-grey, each scaled to its own range.
#
# **The claim we test** (Zeiler & Fergus, Fig. 2): units of the higher layers are class-specific, so
# the top 9 images of a unit share a class more often than chance. **Measure:** for each shown unit
# of `relu3_2` and `relu4_2`, the share of its top 9 that belong to their most common class.
# **Control:** the same share for sets of 9 random test images. **Criterion, fixed before the run:**
# reproduced if the 95% bootstrap interval of (unit share − random share) lies above 0; not
# reproduced if it lies below 0; else inconclusive (few units per layer at small profiles).

# %%
n_units = P.choose(quick=2, laptop=4, full=6)
k_top = 9
g = torch.Generator().manual_seed(1)
tops, units_shown = {}, {}
for layer in LAYERS[:2]:
    channels = layer_activations(vgg, x_search[:1], layer).shape[1]
    units_shown[layer] = torch.randperm(channels, generator=g)[:n_units]
    fig, tops[layer] = display.show_top_activations(vgg, x_search, layer, units_shown[layer])

# %% [markdown] slideshow={"slide_type": "subslide"}
# In the first block, the nine projections of each unit are nearly the same pattern, and its nine
# patches share one simple local pattern: for some units a light/dark edge at one orientation, for
# others a colour. `relu1_2` is the output of the block's
# *second* 3×3 convolution (a 5-pixel receptive field), two convolutions and two ReLUs from the
# pixels: close to, but not exactly, a linear filter, which is why its projections barely change
# from image to image. Compare each projection with its patch.

# %%
for layer in LAYERS[2:]:
    channels = layer_activations(vgg, x_search[:1], layer).shape[1]
    units_shown[layer] = torch.randperm(channels, generator=g)[:n_units]
    fig, tops[layer] = display.show_top_activations(vgg, x_search, layer, units_shown[layer])

# %% [markdown] slideshow={"slide_type": "subslide"}
# Higher up, the patches grow to the whole image. The projection shows *which* pixels of each
# image produced the activation. Do the images that excite one unit share a class? Which classes do
# the top-9 images of each unit come from?

# %%
purity, shares = [], {}
for layer, top in tops.items():
    labels = y_search[top.index]                           # [units, 9]
    shares[layer] = labels.mode(dim=1).values.eq(labels.T).T.float().mean(1)
    purity.append({"layer": layer, "mean share of the most common class in a unit's top 9":
                   shares[layer].mean().item()})
random9 = y_search[torch.randint(len(y_search), (2_000, k_top), generator=torch.Generator().manual_seed(0))]
chance_shares = random9.mode(dim=1).values.eq(random9.T).T.float().mean(1)
purity.append({"layer": "9 random test images", "mean share of the most common class in a unit's top 9":
               chance_shares.mean().item()})
high_shares = torch.cat([shares["relu3_2"], shares["relu4_2"]])
log.effect("Units of higher layers are class-specific: their top 9 images share a class more than "
           "chance", measure="share of the most common class in a unit's top 9, relu3_2 and relu4_2, "
           "minus the same for 9 random images",
           effect=findings.bootstrap_difference(high_shares, chance_shares, paired=False,
                                                what="units / random sets"),
           control="9 random test images", unit="points", paper_value="qualitative (Fig. 2)")
pd.DataFrame(purity).set_index("layer").style.format("{:.0%}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Experiment 2: how features evolve over training
#
# The zoo kept the VGG net's weights after epochs 1, 2 and 5 of its training. For a few units, the
# projection of the strongest activation over the test images, epoch by epoch (Zeiler & Fergus,
# Fig. 4). The paper saw the lower layers converge within a few epochs and the upper layers only
# after many.
#
# **The claim we test:** lower layers settle before higher ones, for every layer the notebook
# shows. **Measure:** each unit's *settling epoch*, the first saved epoch (1, 2, 5 or the end of
# training) from which the correlation, over the same test images, between its strongest
# activation then and at the end of training stays at or above 0.8 (`deconvnet.settling_epochs`).
# Two findings, with criteria fixed before the run:
#
# * **the trend:** Spearman's $\rho$ between the layer's depth and the settling epoch, over all
#   units of the four layers; **control:** no order, $\rho = 0$; reproduced if the 95% bootstrap
#   interval (over units) lies above 0, not reproduced if below 0, else inconclusive;
# * **the strict order:** every layer settles later, on average, than the one below it; the
#   smallest step between adjacent layers' mean settling epochs; **control:** equal means, a step
#   of 0; reproduced if its interval lies above 0, not reproduced if below 0, else inconclusive.
#
# One training run: the intervals cover the units, not training seeds.

# %%
final_epoch = info["recipe"]["epochs"]
snapshots = {}
for epoch in (1, 2, 5):
    try:
        snapshots[epoch] = zoo.load_model("vgg", device=device, epoch=epoch)
    except zoo.ZooError as err:
        print(f"epoch {epoch}: {err}")
snapshots[final_epoch] = vgg
epochs = sorted(snapshots)
acc = {e: info.get("snapshots", {}).get(str(e), {}).get("test_accuracy") for e in epochs}
acc[final_epoch] = info["test_accuracy"]
print("test accuracy by epoch:", {e: (f"{a:.1%}" if a is not None else "n/a") for e, a in acc.items()})

# %%
evo_search = x_search[: P.choose(quick=300, laptop=2_000, full=10_000)]
evo_layers = ["relu1_2", "relu2_2", "relu4_2"]
tiles = {}
for layer in evo_layers:     # the two units with the largest mean activation in the final net
    units = layer_activations(vgg, evo_search[:500], layer).flatten(2).amax(2).mean(0).topk(2).indices
    for e in epochs:
        top = deconvnet.top_activations(snapshots[e], evo_search, layer, units, k=1)
        proj = deconvnet.project_top_activations(snapshots[e], evo_search, top)
        _, crops = deconvnet.top_patches(snapshots[e], evo_search, top, proj)   # the receptive field
        for u, unit in enumerate(units.tolist()):
            tiles[(layer, unit, e)] = F.interpolate(deconvnet.reconstruction_to_image(crops[u]), size=(32, 32))[0]
keys = sorted(tiles, key=lambda t: (evo_layers.index(t[0]), t[1], t[2]))        # rows: units; columns: epochs
fig = viz.show_images(torch.stack([tiles[t] for t in keys]), ncols=len(epochs), size=1.9,
                      titles=[f"{layer}:u{unit} ep. {e}" for layer, unit, e in keys],
                      title="Strongest activation of each unit, projected (receptive field), by epoch")

# %% [markdown] slideshow={"slide_type": "subslide"}
# A number for "has this layer settled?": for each unit, the correlation, over the same test
# images, between its strongest activation at epoch $e$ and at the end of training, averaged over
# the layer's units.

# %%
probe = x_search[: P.choose(quick=200, laptop=1_000, full=2_000)]
final_acts = {layer: layer_activations(vgg, probe, layer).flatten(2).amax(2) for layer in LAYERS}
settle, unit_corr = [], {}
for e in epochs:
    for layer in LAYERS:
        a = layer_activations(snapshots[e], probe, layer).flatten(2).amax(2)
        corr = unit_corr[(e, layer)] = deconvnet.unit_correlation(a, final_acts[layer])
        settle.append({"epoch": e, "layer": layer, "correlation with the final unit": corr.mean().item()})
settled = {layer: deconvnet.settling_epochs(torch.stack([unit_corr[(e, layer)] for e in epochs]), epochs,
                                            threshold=0.8).numpy() for layer in LAYERS}
depth = np.concatenate([np.full(len(settled[layer]), d) for d, layer in enumerate(LAYERS)])
settle_epoch = np.concatenate([settled[layer] for layer in LAYERS])


def order_statistic(key):
    """The settling_order statistic ``key`` of a resample of the units (given by their indices)."""
    return lambda i: deconvnet.settling_order(depth[i.astype(int)], settle_epoch[i.astype(int)],
                                              n_layers=len(LAYERS))[key]


print("mean settling epoch: " + ", ".join(f"{layer} {settled[layer].mean():.1f}" for layer in LAYERS)
      + f" (threshold 0.8; saved epochs {epochs})")
print("units settled before the end of training: "
      + ", ".join(f"{layer} {(settled[layer] < final_epoch).mean():.0%}" for layer in LAYERS))
claims = ("Lower layers settle first: the deeper the layer, the later its units settle",
          "Each layer settles after the one below it (a strict bottom-up order)")
if epochs[0] < final_epoch:
    units_idx = np.arange(len(depth))
    log.effect(claims[0], measure=f"Spearman ρ between depth ({', '.join(LAYERS)}) and settling epoch",
               effect=findings.bootstrap(units_idx, statistic=order_statistic("spearman"), what="units"),
               control="no order (ρ = 0)", paper_value="qualitative (Fig. 4)")
    log.effect(claims[1], measure="smallest step between adjacent layers' mean settling epochs",
               effect=findings.bootstrap(units_idx, statistic=order_statistic("weakest_step"), what="units"),
               control="equal mean settling epochs (a step of 0)", unit="epochs",
               paper_value="qualitative (Fig. 4)")
else:
    for claim in claims:
        log.inconclusive(claim, reason="no snapshot before the end of training in the zoo")
settle = pd.DataFrame(settle)
fig, ax = plt.subplots(figsize=(7, 4))
for layer, grp in settle.groupby("layer", sort=False):
    ax.plot(grp["epoch"], grp["correlation with the final unit"], "o-", label=layer)
ax.set(xlabel="training epoch", ylabel="mean correlation with the final net",
       title="Which layers settle first?", ylim=(0, 1.05))
ax.legend(fontsize="small")
ax.grid(alpha=0.3)

# %%
settle_table = settle.pivot(index="layer", columns="epoch", values="correlation with the final unit").loc[LAYERS]
settle_table["mean settling epoch"] = [settled[layer].mean() for layer in LAYERS]
settle_table.style.format("{:.2f}").set_caption("Mean correlation of each layer's units with their final "
                                                "selves, and their mean settling epoch")

# %% [markdown]
# The two findings (printed in "What we saw") separate the trend from the strict order: a positive
# $\rho$ says that deeper layers tend to settle later; the strict order asks more, that no layer
# settles before the one below it. The last column of the table shows which adjacent pair, if
# any, breaks the order.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Experiment 3: occlusion sensitivity
#
# Is the network classifying the object, or its surroundings? Zeiler & Fergus slide a grey square
# over the image and record, for each position of the square, the probability of the correct class
# (their Fig. 7d) and the most probable class (7e); and, for the feature map of the top layer that
# responds most strongly to the image, its total activation (7b: the sum of the feature map over its
# positions). Every position is one forward
# pass; the course batches them. We take test images that the net classifies correctly but with
# less than 80% confidence, where a square can change the decision.

# %%
show_source(occlusion.occlusion_masks)

# %%
window = 8
stride = P.choose(quick=4, laptop=2, full=1)
with torch.no_grad():
    probs = torch.cat([vgg(data.to_float(x_search[i:i + 500]).to(device)).softmax(1).cpu()
                       for i in range(0, len(x_search), 500)])
# correctly classified, but not with certainty: the square can change the decision
unsure = torch.nonzero((probs.argmax(1) == y_search) & (probs.max(1).values < 0.8)).flatten()
pick = unsure[: P.n_show // 2] if len(unsure) >= P.n_show // 2 else torch.arange(P.n_show // 2)
x_occ = data.to_float(x_search[pick])
p_map = occlusion.occlusion_sensitivity(vgg, x_occ, y_search[pick], window=window, stride=stride)
top_class = occlusion.occluded_logits(vgg, x_occ, window=window, stride=stride).argmax(-1)
print(f"{len(pick)} images x {p_map.shape[1] * p_map.shape[2]} square positions; "
      f"square {window}x{window} px, stride {stride} px")

# %%
unit_layer = "relu4_2"
strongest = layer_activations(vgg, x_occ, unit_layer).flatten(2).amax(2).argmax(1)
fig, axes = plt.subplots(len(pick), 4, figsize=(11, 3.2 * len(pick)), squeeze=False)
for r, n in enumerate(pick.tolist()):
    c = int(y_search[n])
    act_map = occlusion.occlusion_activation(vgg, x_occ[r:r + 1], window=window, stride=stride,
                                             layer=unit_layer, unit=int(strongest[r]), statistic="total")
    axes[r, 0].imshow(viz.to_numpy_image(x_occ[r]))
    axes[r, 0].set_title(f"true: {data.CIFAR10_CLASSES[c]}", fontsize="small")
    axes[r, 0].axis("off")
    viz.show_heatmap(axes[r, 1], act_map[0], x_occ[r], title=f"(b) total activation, {unit_layer} u{int(strongest[r])}",
                     label="total activation")
    viz.show_heatmap(axes[r, 2], p_map[r], x_occ[r], title=f"(d) P({data.CIFAR10_CLASSES[c]})",
                     label="probability", cmap="viridis")
    im = axes[r, 3].imshow(top_class[r], cmap="tab10", vmin=-0.5, vmax=9.5, interpolation="nearest")
    axes[r, 3].set_title("(e) most probable class", fontsize="small")
    axes[r, 3].axis("off")
    cb = fig.colorbar(im, ax=axes[r, 3], ticks=range(10), fraction=0.046)
    cb.ax.set_yticklabels(data.CIFAR10_CLASSES, fontsize="xx-small")
fig.suptitle("Occlusion: value at each position of the grey square's centre");

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Does covering the object hurt more than covering the background?
#
# CIFAR-10 has no boxes, so we make images whose object we know: a CIFAR-10 test image shrunk to
# 16-24 pixels and pasted on a textured 32 × 32 background (`canvas.make_canvases`). For each
# image we compare the drop of $P_c$ when the square's centre is on the object with the drop when
# it is on the background.
#
# **The claim we test** (Sec. 4.2): the classifier depends on the object, not on its context.
# The claim is about how the network recognises the object, so we test it on the pasted images
# the network classifies **correctly** (on a misclassified one, $P_c$ of the true class is small
# already and covering anything can hardly lower it); the table shows all images too.
# **Measure:** per correctly classified image, the mean drop of $P_c$ with the square on the
# object. **Control:** the same square, on the background of the same image. **Criterion, fixed
# before the run:** with at least 5 correctly classified images (else inconclusive), reproduced if
# the 95% paired bootstrap interval (over those images) of (on − off) lies above 0; not reproduced
# if below 0; else inconclusive.

# %%
n_canvas = P.choose(quick=8, laptop=64, full=256)
cs = make_canvases(x_test[5_000:], y_test[5_000:], n_canvas, size=32, scale=(0.5, 0.75),
                   background="texture", seed=3)
xc = data.to_float(cs.images).to(device)
with torch.no_grad():
    p0 = vgg(xc).softmax(1).gather(1, cs.labels.to(device)[:, None])[:, 0].cpu()
stride_c = P.choose(quick=4, laptop=4, full=2)
pc = occlusion.occlusion_sensitivity(vgg, xc, cs.labels, window=window, stride=stride_c).cpu()
centres = torch.arange(0, 32, stride_c)
on_object = cs.masks[:, centres][:, :, centres]                       # [N, h', w']
drop = p0[:, None, None] - pc
on, off = [(drop * m).sum((1, 2)) / m.sum((1, 2)) for m in (on_object, ~on_object)]
with torch.no_grad():
    right_c = vgg(xc).argmax(1).cpu() == cs.labels                     # correctly classified
n_right = int(right_c.sum())
summary = pd.DataFrame({f"mean drop of P_c, {name}": [on[keep].mean().item(), off[keep].mean().item()]
                        for name, keep in ((f"{n_right} correctly classified", right_c),
                                           (f"all {n_canvas}", torch.ones_like(right_c)))},
                       index=["square on the object", "square on the background"])
print(f"{n_canvas} pasted images; the net classifies {n_right} of them ({n_right / n_canvas:.0%}) "
      f"correctly (test set: {info['test_accuracy']:.0%}); the finding uses those {n_right}")
claim3 = "Covering the object lowers P(true class) more than covering the background"
if n_right >= 5:
    log.effect(claim3, measure=f"mean drop of P_c on the {n_right} of {n_canvas} correctly classified "
               "pasted images, square on the object minus square on the background",
               effect=findings.bootstrap_difference(on[right_c], off[right_c], paired=True,
                                                    what="correctly classified pasted images"),
               control="the same square on the same image's background", paper_value="qualitative (Fig. 7)")
else:
    log.inconclusive(claim3, reason=f"only {n_right} of {n_canvas} pasted images are classified "
                     "correctly at this profile")
summary.style.format("{:.3f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Optional: the same on ImageNet's VGG16 and AlexNet
#
# With torchvision's ImageNet weights in the torch cache, we project units of the pretrained VGG16
# and AlexNet for scikit-image's photos and occlude the cat. Nothing is downloaded.

# %%
photos = {name: data.to_float(data.load_photo(name)) for name in ("chelsea", "astronaut", "coffee", "rocket")}
ran_imagenet = False
for name in ("vgg16", "alexnet"):
    net = pretrained.imagenet_model(name, device=device)
    if net is None:
        print(pretrained.skip_message(name))
        continue
    ran_imagenet = True
    x224 = torch.stack([F.interpolate(p[None], size=(224, 224), mode="bilinear", antialias=True)[0]
                        for p in photos.values()]).to(device)
    layer = "features.28" if name == "vgg16" else "features.10"
    fmap = layer_activations(net, x224, layer).flatten(2).amax(2)
    units = fmap.mean(0).topk(3).indices
    proj = [deconvnet.project_unit(net, x224, layer, int(u)) for u in units]
    tiles = torch.cat([x224.cpu()] + [deconvnet.reconstruction_to_image(p.cpu()) for p in proj])
    viz.show_images(tiles, ncols=len(photos), size=2.4, title=f"{name}: photos, then units of {layer}",
                    titles=list(photos) + [f"unit {int(u)}" for u in units for _ in photos])
    with torch.no_grad():
        pred = net(x224[:1]).argmax(1)
    pm = occlusion.occlusion_sensitivity(net, x224[:1], pred, window=64, stride=32, batch_size=25)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    viz.show_heatmap(ax, pm[0], x224[0], label="probability",
                     title=f"{name}: P({pretrained.imagenet_classes()[int(pred)]}) under occlusion")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What we saw
#
# The deconvnet's filtering is the transposed convolution, i.e. the convolution with the flipped
# kernel, i.e. the backward pass of the convolution, and unpooling with switches is the backward
# pass of max-pooling: the asserts above check the first on random layers (three settings of
# stride and padding) and the second on a small worked example. Only the rectification of the
# *signal* is new. The experiments' findings, each with its control, interval and verdict, printed
# from this run:

# %% tags=["hide-input"]
worst = max(max(r["max |flipped - transposed|"], r["max |flipped - backward|"]) for r in rows)
print(f"flipped-kernel convolution vs transposed convolution vs backward pass: largest difference {worst:.1e}")
means = [settled[layer].mean() for layer in LAYERS]
print("settling: units settled before the end "
      + ", ".join(f"{layer} {(settled[layer] < final_epoch).mean():.0%}" for layer in LAYERS)
      + "; steps between adjacent layers' mean settling epochs "
      + ", ".join(f"{a} → {b} {m_b - m_a:+.1f}" for a, b, m_a, m_b in zip(LAYERS, LAYERS[1:], means, means[1:])))
log.summary()

# %% [markdown]
# Read each verdict with the scale in mind: a 32-pixel CIFAR-10 network, a few units per layer in
# Experiment 1 and four saved epochs in Experiment 2, where the paper had an ImageNet network and
# 70 epochs. What each verdict covers:
#
# * Experiment 2 tests two things on every unit of the four layers of Experiment 1: the trend
#   with depth and the strict bottom-up order; the paper showed both by eye, on a few units of an
#   ImageNet network. The settling epoch can only take the saved values (1, 2, 5 or the end of
#   training): a unit still below the threshold at epoch 5 counts as settling at the end, however
#   soon after epoch 5 it got there. With the end of training far beyond epoch 5 (the saved
#   epochs printed in Experiment 2), that one gap decides the means: a layer with few units
#   settled before the end has its mean at or next to the end. The "settling" line above gives
#   each layer's share of settled units and the steps between adjacent layers' means; the strict
#   order's verdict rests on the smallest of those steps. Where several layers have (almost) no
#   unit settled before the end, their means differ by a fraction of an epoch, and such a step,
#   or its interval, cannot show an order. Snapshots between epoch 5 and the end would be needed
#   to say more.
# * Experiment 3's pasted images are much harder for the net than the test set (the accuracies
#   printed there); its finding uses only the images the net classifies correctly, and the table
#   beside it shows the drop over all of them too.
#
# An "inconclusive" verdict, where there is one, means the interval is too wide at this profile to
# decide, not that the paper is wrong.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# 1. **Flip the filters yourself.** Write `my_deconv_filter(r, weight, padding)` computing
#    $R_n = R_{n+1} * \hat K_n$ for a stride-1 convolution with `F.conv2d`, and check it with
#    `checks.check_flipped_convolution`.
# 2. **Unpool with switches.** Write `my_unpool(r, x, k)` for a $k \times k$ max-pooling with stride
#    $k$: each entry of $R_{n+1}$ goes to the argmax of its window in $X_n$. Check it with
#    `checks.check_unpooling`.
# 3. **Predict, then run.** What happens to the occlusion maps with a 4-pixel square? With a
#    16-pixel one? Re-run Experiment 3 with `window=4` and `window=16`.
# 4. **Guided instead of deconvnet.** Re-draw the top-9 figure of `relu3_2` with `rule="guided"`
#    (`display.show_top_activations(..., rule="guided")`). Which projections change most, and
#    why ([notebook 03](03_springenberg_all_convolutional_net.ipynb))?

# %% tags=["solution"]
def my_deconv_filter(r, weight, padding):
    ### BEGIN SOLUTION
    k = weight.shape[-1]
    flipped = weight.flip(-2, -1).transpose(0, 1)
    return F.conv2d(F.pad(r, (k - 1 - padding,) * 4), flipped)
    ### END SOLUTION


checks.check_flipped_convolution(my_deconv_filter);

# %% tags=["solution"]
def my_unpool(r, x, k):
    ### BEGIN SOLUTION
    window_max = F.max_pool2d(x, k)
    is_switch = x == F.interpolate(window_max, scale_factor=k, mode="nearest")
    return F.interpolate(r, scale_factor=k, mode="nearest") * is_switch
    ### END SOLUTION


checks.check_unpooling(my_unpool);

# %% tags=["solution"]
### BEGIN SOLUTION
sizes = {}
for w in (4, window, 16):
    sizes[w] = occlusion.occlusion_sensitivity(vgg, x_occ, y_search[pick], window=w, stride=4)
fig, axes = plt.subplots(1, 3, figsize=(10, 3.5))
for ax, (w, m) in zip(axes, sizes.items()):
    viz.show_heatmap(ax, m[0], x_occ[0], title=f"window {w} px", label="P(true class)", cmap="viridis")
for w, m in sizes.items():
    print(f"window {w:>2} px: P(true class) over the positions, first image: {m[0].min():.2f} to {m[0].max():.2f}")
### END SOLUTION

# %% [markdown] tags=["solution"]
# Read the answer off the printed ranges and the three maps, not off a prediction. On a 32-pixel
# image even a 4-pixel square (1/8 of the side) can hide a part the net relies on, so its map is not
# flat: it is finer, and it falls far at a few positions. A 16-pixel square hides up to a quarter of
# the image (less near the border, where it is clipped), so its map is coarser and its low region
# wider, around the object. Covering can also *raise* $P$(true class): the image was picked with
# $P < 0.8$, and all three printed maxima are above that, the highest for the 16-pixel square.
# Zeiler & Fergus' square was about a fifth of the image side, close to our 8 pixels.

# %% tags=["solution"]
### BEGIN SOLUTION
display.show_top_activations(vgg, x_search, "relu3_2", units_shown["relu3_2"],   # Experiment 1's units
                             rule="guided", title="relu3_2, guided backpropagation");
### END SOLUTION

# %% [markdown] slideshow={"slide_type": "slide"}
# ## References
#
# * M. D. Zeiler, R. Fergus. *Visualizing and Understanding Convolutional Networks.* ECCV 2014.
#   <https://arxiv.org/abs/1311.2901>
# * M. D. Zeiler, G. W. Taylor, R. Fergus. *Adaptive Deconvolutional Networks for Mid and High Level
#   Feature Learning.* ICCV 2011 (the deconvnet).
# * K. Simonyan, A. Vedaldi, A. Zisserman. *Deep Inside Convolutional Networks.* ICLR Workshop 2014
#   (notebook 02: the deconvnet as a gradient).
# * J. T. Springenberg, A. Dosovitskiy, T. Brox, M. Riedmiller. *Striving for Simplicity: The All
#   Convolutional Net.* ICLR Workshop 2015 (notebook 03: guided backpropagation).
# * V. Dumoulin, F. Visin. *A guide to convolution arithmetic for deep learning.* 2016 (transposed
#   convolutions). <https://arxiv.org/abs/1603.07285>
