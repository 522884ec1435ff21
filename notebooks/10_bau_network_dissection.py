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
# # 10 · Network dissection: what do single units detect, and what are they for?
#
# **Paper:** D. Bau, J.-Y. Zhu, H. Strobelt, A. Lapedriza, B. Zhou, A. Torralba. *Understanding
# the Role of Individual Units in a Deep Neural Network.* PNAS 117(48), 2020.
# [doi:10.1073/pnas.1907375117](https://doi.org/10.1073/pnas.1907375117)
#
# **Why it matters:** it asks what a network's *units* are, not which *pixels* a decision rests
# on, as the earlier notebooks did. Network dissection gives every filter of every convolutional
# layer a name ("snow", "mountain top", "house") by matching where it fires against labelled
# concepts, and then tests what a named unit is for by switching it off.

# %% [markdown] slideshow={"slide_type": "notes"} tags=["presenter"]
# **Presenter's note.**
# *Before class:* `python -m lecture_utils.zoo list` must show `vgg` (a missing one is trained on
# first use: `zoo list` prints how long the committed one took and on what; it was trained on a
# GPU, and retraining it on a laptop's CPU takes hours). The concept scenes are generated in
# seconds, nothing to download.
# *Run live:* the toy cells for $t_u$ (989 of 0 … 999) and the IoU (4/8 and 4/20): students can
# check them by hand. Then the concept-set figure: what "object", "part", "material" and "colour"
# mean here.
# *Takes long on a laptop:* the two dissections (trained and random weights; the trained one's
# two progress bars read under three minutes together on one CPU thread) and the single-unit
# ablations (all 256 `conv4_2` units, on 5,000 training and 10,000 test images: about three and a
# half minutes by their progress bars). Show the committed outputs: the detector bar chart (the paper's Fig. 2)
# and the ablation table for our "ski resort".
# *Show, don't run:* the adversarial-attack cell and the GAN paragraph (not reproduced here).
# *Exercises:* do 1 (`my_threshold`) together; 3 is a one-line "predict, then run"; leave 2, 4
# and 5 for home.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What you will learn
#
# 1. The lecture's definitions: a unit $u$ is one feature map, $a_u(x,p)$ its activation, $t_u$ its
#    top 1% quantile, $\{p : a_u(x,p) > t_u\}$ its activation region, and $\text{IoU}_{u,c}$ its
#    agreement with a concept $c$.
# 2. How to build a concept dataset with per-pixel masks $s_c(x,p)$ when Broden is not at hand.
# 3. How to label every unit of every convolutional layer of a CIFAR-10 VGG, and how the kinds of
#    concepts (colours, materials, parts, objects) spread over depth.
# 4. How to test a unit's role by **ablation**: which units a class cannot do without, and whether
#    removing them hurts more than removing random ones.

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
from torch import nn

from lecture_utils import (checks, concepts, config, data, dissection, explorers, findings,
                           models, train, viz, zoo)
from lecture_utils.representations import layer_activations
from lecture_utils.source import show_source

viz.use_style()
config.seed_everything(0)
P = config.get_profile()
device = config.get_device()
print(config.describe())
log = findings.Findings("10", "Bau et al. 2020")   # the claims tested here, with their controls

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The network we dissect
#
# Bau et al. dissect the 13 convolutional layers of a VGG-16 trained on Places365 (365 scene
# classes). Ours is the course's VGG-style network (`models.vgg`: eight 3 × 3 convolutional layers
# `conv1_1` … `conv4_2` with batch norm, max-pooling after each of the four blocks, the last one
# feeding a fully connected head) trained on CIFAR-10, from the zoo. A **unit** is the output of
# one filter after its rectifier, so we read the `relu*` modules: `relu4_2` is unit by unit the
# output of `conv4_2`.

# %%
vgg = zoo.load_model("vgg", device=device)
layers = [name for name, m in vgg.named_modules()
          if isinstance(m, nn.ReLU) and name.startswith("relu") and "fc" not in name]
n_units = {name: m.out_channels for name, m in vgg.named_modules() if isinstance(m, nn.Conv2d)}
print(f"vgg from the {vgg.zoo_info['source']}: test accuracy {vgg.zoo_info['test_accuracy']:.1%}; "
      f"{sum(n_units.values())} units in {len(layers)} layers: "
      + ", ".join(f"{k} {v}" for k, v in n_units.items()))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The math
#
# ### Unit ≡ feature map ≡ the activation of a single filter
#
# $a_u(x, p)$ is the activation of unit $u$ on test image $x$ at image position $p$. Deep layers
# have low-resolution maps (4 × 4 for `conv4_2` on a 32 × 32 image, 8 × 8 on our 64 × 64 concept
# scenes), so they are "visualized and analyzed at high-resolution positions $p$ using **bilinear
# upsampling**".

# %%
show_source(dissection.upsample_units, "upsample")

# %% slideshow={"slide_type": "subslide"}
x_test, y_test = data.load_cifar10("test")
image = x_test[:1]
acts = layer_activations(vgg, x=image, layers=["relu3_2", "relu4_2"])
fig, axes = plt.subplots(2, 5, figsize=(10, 4.6))
axes[0, 0].imshow(viz.to_numpy_image(image[0]))
axes[0, 0].set_title(f"x: a {data.CIFAR10_CLASSES[y_test[0]]}", fontsize="small")
axes[0, 0].axis("off")
axes[1, 0].axis("off")
for j, u in enumerate(range(4), start=1):
    a = acts["relu4_2"][:, u:u + 1]
    viz.show_heatmap(axes[0, j], a[0, 0], title=f"unit {u}: 4×4")
    viz.show_heatmap(axes[1, j], dissection.upsample_units(a, 32)[0, 0], image[0],
                     title=f"unit {u}: 32×32")
fig.suptitle("conv4_2 units on one image: $a_u(x,p)$ (top) and bilinear upsampling (bottom)");

# %% [markdown] slideshow={"slide_type": "slide"}
# ### The threshold $t_u$ and the activation region
#
# $$t_u \equiv \max \left\{ t : \mathbb{P}_{x,p}\left[a_u(x,p) > t\right] \geq 0.01 \right\}$$
#
# the **top 1% quantile** of the unit's activations, the probability taken over all positions and
# all images. The **activation region** of $u$ on $x$ is $\{p : a_u(x,p) > t_u\}$.
#
# Over all real $t$ this set has no largest element (it stops just below an observed value), so
# among observed values we take the largest $t$ that still has at least 1% of the $(x, p)$ strictly
# above it: sorted in decreasing order, the value at rank $k+1$ with $k = \lceil 0.01 \cdot
# \text{count}\rceil$, which has the $k$ larger values above it when there are no ties (a tie at
# that rank, such as a unit that is zero on more than 99% of the positions, leaves fewer than 1%
# above it). Storing every activation of all eight layers on a thousand 64 × 64 scenes would take
# about 2 GB in float32 (half a gigabyte for `conv1_1` alone), so `TopQuantile` streams: it keeps
# only the $k+1$ largest values per unit, which gives the same $t_u$ as sorting everything, not an
# approximation.

# %%
show_source(dissection.TopQuantile.update, "update")
show_source(dissection.TopQuantile.thresholds, "thresholds")

# %% slideshow={"slide_type": "subslide"}
# A toy unit whose 1,000 activations (10 images x 10 x 10 positions) are 0, 1, ..., 999:
toy = torch.arange(1000.0)[torch.randperm(1000)].view(10, 1, 10, 10)
t_toy = dissection.unit_thresholds(toy)
print(f"t_u = {t_toy.item():.0f}; fraction of (x, p) above it: {(toy > t_toy).float().mean():.1%}")
assert t_toy.item() == 989 and (toy > t_toy).float().mean() == 0.01

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Concepts and their masks $s_c(x, p)$
#
# A visual concept $c$ comes with a mask $s_c(x, p) \in \{0, 1\}$: is $c$ present in image $x$ at
# position $p$? Bau et al. use **objects** (shelf, plant, airplane), **parts** (person-top,
# tree-bottom), **materials** (food, hair, skin, paper) and **colours** (orange, yellow, red), from
# the Broden dataset and a segmentation model.
#
# Broden is not shipped with the course, so we compose scenes whose masks we know
# (`lecture_utils.concepts`): a background of one to three of nine **materials** (scikit-image's
# textures brick, grass and gravel, and crops of its photos: fur, wood, sky, stars, tissue,
# fabric), one CIFAR-10 image pasted at a known place as the **object** (its top and bottom halves
# as **parts**), and every pixel named by the nearest of eleven basic **colour** terms in the
# perceptual CIELAB space.

# %%
n_scenes = P.choose(quick=64, laptop=1000, full=5000)
scenes = concepts.make_concept_set(x_test, y_test, n_scenes, size=64, seed=0)
kinds = pd.Series([c for c, _ in scenes.concepts]).value_counts()[list(concepts.CATEGORIES)]
print(f"{len(scenes)} scenes of 64 x 64, {len(scenes.concepts)} concepts: "
      + ", ".join(f"{v} {k}s" for k, v in kinds.items()))

# %% slideshow={"slide_type": "subslide"}
fig = viz.show_concept_set(scenes, n=6)

# %% [markdown] slideshow={"slide_type": "slide"}
# ### $\text{IoU}_{u,c}$: agreement between unit $u$ and concept $c$
#
# $$\text{IoU}_{u,c} = \frac{\sum_x \left|\{p : a_u(x,p) > t_u\} \cap \{p : s_c(x,p) = 1\}\right|}
#                          {\sum_x \left|\{p : a_u(x,p) > t_u\} \cup \{p : s_c(x,p) = 1\}\right|}$$
#
# summed over the whole dataset (an image where neither the unit nor the concept appears adds
# nothing). Each unit is labelled with its best concept, $c^*(u) = \arg\max_c \text{IoU}_{u,c}$, and
# called a **detector** of $c^*$ when $\text{IoU}_{u,c^*} > 0.04$ (the threshold of Bau et al.
# 2017). Intersections for all units and concepts at once are one matrix product:

# %%
show_source(dissection.IoUTally.update, "update")

# %% slideshow={"slide_type": "subslide"}
region = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
region[0, 0, :2, :2] = True                      # the unit fires on 4 pixels of image 0
masks = torch.zeros(2, 2, 4, 4, dtype=torch.bool)
masks[0, 0, :2, :] = True                        # concept 0: the top half of image 0 (8 pixels)
masks[0, 1, :2, :2] = True                       # concept 1: exactly the region ...
masks[1, 1] = True                               # ... and all of image 1 (16 more pixels)
toy_iou = dissection.iou(region, masks)
print(f"IoU = {toy_iou.tolist()[0]}  (4/8 and 4/20)")
assert torch.allclose(toy_iou, torch.tensor([[4 / 8, 4 / 20]]))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Experiment 1: label every unit of every layer
#
# Two passes over the scenes: the first finds $t_u$ for every unit of every layer, the second
# upsamples each map to 64 × 64, thresholds it and counts its overlap with every concept mask.
# The network was trained on 32 × 32 CIFAR images; its convolutional trunk reads the 64 × 64
# scenes as they are (objects appear at 0.75 to 1.25 times their training size).

# %%
results = dissection.dissect(vgg, scenes, layers)
labels = pd.concat([r.labels() for r in results.values()], ignore_index=True)
# the two best-matching units of every layer (each table is sorted by IoU)
labels.groupby("layer").head(2).style.format({"iou": "{:.3f}"}).hide(axis="index")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The units of the last layer, `conv4_2`, with the highest IoU:

# %%
results["relu4_2"].labels().head(10).style.format({"iou": "{:.3f}"}).hide(axis="index")

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Explore the units.** A label is only a best match: pick a unit of `relu4_2` (sorted by IoU)
# and look at where it fires on its top scenes before believing its name. The figure below the
# explorer is its static version: the three `conv4_2` units with the highest IoU, each on the
# scenes where it fires most, everything outside its activation region
# $\{p : a_u(x,p) > t_u\}$ darkened.

# %% tags=["remove-output"]
# NBVAL_SKIP
explorers.dissection_explorer(vgg, "relu4_2", scenes.images, result=results["relu4_2"])

# %% tags=["hide-input"]
acts42, t42 = explorers.layer_units(vgg, "relu4_2", scenes.images, result=results["relu4_2"])
best_units = torch.argsort(-results["relu4_2"].best[0])[:3].tolist()
fig = explorers.unit_grid(acts42, t42, scenes.images, best_units, k=6, result=results["relu4_2"])

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Detector units per layer and concept category (the paper's Fig. 2)
#
# As a control we dissect the same architecture with random weights: how many "detectors" does
# chance alone give on our concept set? Two claims are tested, with criteria fixed before the run
# (95% bootstrap intervals over units, since we have one trained network and one random one):
#
# * **detectors are learned** (Bau et al. 2017 find far fewer with random weights), counted per
#   concept category: our colour masks name single pixels, so a filter with random weights that
#   happens to respond to, say, green pixels can pass the threshold for a colour without any
#   training. The finding therefore rests on the **non-colour categories** (object, part,
#   material): the share of all units whose best concept *among those categories* passes the
#   threshold, trained minus random weights, on the same scenes with the same threshold. (Counting
#   only units whose best concept overall is non-colour would favour the trained network: a random
#   unit whose best concept is a colour would never be tested as a material or part detector.)
#   Reproduced if the interval lies above 10 points (our reading of "far fewer"); not reproduced
#   if it lies below 0 or within ±10 points. Colour is reported beside it, in the table of
#   categories, with the same interval, and gives no verdict.
# * **object and part detectors are learned in the last layers**: the share of the last two
#   layers' units whose best object or part concept passes the threshold, trained minus random. Reproduced if the
#   interval lies above 0.
#
# The 0.04 threshold is Bau et al.'s for Broden; exercise 3 shows how the counts depend on it.

# %%
counts = dissection.detector_counts(results)
config.seed_everything(0)
random_vgg = models.build("vgg", seed=0, width=vgg.conv1_1.out_channels).to(device).eval()
random_results = dissection.dissect(random_vgg, scenes, layers, progress=False)
random_counts = dissection.detector_counts(random_results)
counts.index = random_counts.index = [n.replace("relu", "conv") for n in counts.index]
pd.concat({"trained": counts, "random weights": random_counts}, axis=1)

# %% slideshow={"slide_type": "subslide"}
cats = list(concepts.CATEGORIES)
colors = dict(zip(cats, ["#d62728", "#ff7f0e", "#2ca02c", "#1f77b4"]))
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
panels = (("trained VGG", counts), ("same VGG, random weights", random_counts))
for ax, (title, table) in zip(axes, panels):
    frac = table[cats].div(table["units"], axis=0) * 100
    bottom = np.zeros(len(frac))
    for c in cats:
        ax.bar(frac.index, frac[c], bottom=bottom, color=colors[c], label=c)
        bottom += frac[c].to_numpy()
    ax.set(title=title, xlabel="layer")
    ax.tick_params(axis="x", rotation=45)
axes[0].set_ylabel("detector units (% of the layer)")
fig.legend(*axes[0].get_legend_handles_labels(), title="best concept is a ...", ncol=4,
           loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize="small")
fig.suptitle(f"Units with IoU > {dissection.DETECTOR_IOU} per layer and concept category");


# %% slideshow={"slide_type": "subslide"}
def trained_minus_random(layer_names, categories=None, within=False):
    """Share of the units of ``layer_names`` that are detectors (of ``categories``; with
    ``within``, each unit's best concept taken among those categories only), trained minus random
    weights: a bootstrap over units (two networks, not paired unit by unit)."""
    return findings.bootstrap_difference(
        dissection.detector_flags(results, layer_names, categories=categories, within=within),
        dissection.detector_flags(random_results, layer_names, categories=categories,
                                  within=within),
        paired=False, what="units")


per_category = {c: trained_minus_random(layers, [c]) for c in cats}
pd.DataFrame({"trained (% of units)": [100 * counts[c].sum() / counts["units"].sum() for c in cats],
              "random weights (% of units)": [100 * random_counts[c].sum()
                                              / random_counts["units"].sum() for c in cats],
              "trained minus random [95% interval]": [per_category[c].format("points")
                                                      for c in cats]},
             index=pd.Index(cats, name="best concept is a ...")).round(1)

# %%
late = layers[-2:]
non_colour = [c for c in cats if c != "color"]
print(log.effect(
    "Detector units are learned: far fewer with random weights (object, part, material)",
    measure=f"share of all units that detect a concept among {', '.join(non_colour)} (best "
            "concept among those), trained minus random weights",
    effect=trained_minus_random(layers, non_colour, within=True),
    control="the same VGG with random weights, on the same scenes and IoU threshold",
    margin=0.10, unit="points",
    paper_value="far fewer with random weights (Bau et al. 2017)").line())
print(f"colour, reported apart (random filters pass it on our scenes): trained minus random "
      f"{per_category['color'].format('points')}")
print(log.effect(
    "Object and part detectors are learned in the last layers",
    measure=f"share of {' and '.join(late)} units that are object or part detectors, trained "
            "minus random weights",
    effect=trained_minus_random(late, ["object", "part"], within=True),
    control="the same VGG with random weights, on the same scenes", unit="points",
    paper_value="many object and part detectors in conv5_3").line())

# %% [markdown]
# **Reading the verdicts.** Compare the colour row of the category table with the others: the
# colour difference is the one to read apart, since a unit needs no training to pass a colour
# concept on our scenes (counting all detectors together would mix those units with the learned
# ones). A non-colour category whose difference is also negative (texture-like materials can be
# matched by untrained filters too) weakens the first finding, which pools object, part and
# material as stated before the run; the table shows each (it labels each unit with its single
# best concept, as Bau et al. do, while the findings count a unit for the categories they name
# when its best concept among them passes the threshold). The "unique concepts" columns of the
# first table say how many distinct concepts each layer names, trained and with random weights.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Experiment 2: what is a unit for? Ablation
#
# Bau et al. remove units of `conv5_3` one at a time (set the feature map to zero) and measure
# the accuracy lost on a single class. For "ski resort" the most damaging units are
#
# | unit | concept | accuracy lost (train) | accuracy lost (val) |
# |---|---|---|---|
# | 261 | snow | 8.9% | 10.9% |
# | 149 | mountain top | 1.2% | 3.5% |
# | 242 | house | 1.5% | 2.5% |
# | 105 | tree top (part) | 0.8% | 2.0% |
#
# We do the same for every unit of our last layer, `conv4_2`, on CIFAR-10's training and test
# images. `ablate_units` is a context manager: the model is exactly as before after the block.

# %%
show_source(dissection.ablate_units)

# %% slideshow={"slide_type": "subslide"}
x_train, y_train = data.load_cifar10("train")
n_abl = P.choose(quick=1_000, laptop=5_000, full=50_000)
x_tr, y_tr = data.subset(x_train, y_train, n_abl, seed=1)
x_va, y_va = data.subset(x_test, y_test, P.choose(quick=1_000, laptop=10_000, full=10_000), seed=1)
probe = x_va[:8].float() / 255
before = vgg(probe.to(device))
with dissection.ablate_units(vgg, "relu4_2", [0, 1, 2]):
    inside = vgg(probe.to(device))
assert torch.equal(vgg(probe.to(device)), before) and not torch.equal(inside, before)
effect_tr = dissection.unit_ablation_effects(vgg, x_tr, y_tr, "relu4_2")
effect_va = dissection.unit_ablation_effects(vgg, x_va, y_va, "relu4_2")
print(f"{effect_tr.shape[0]} units x {effect_tr.shape[1]} classes; largest single-unit loss: "
      f"{effect_tr.max():.1%} (train), {effect_va.max():.1%} (test)")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Our "ski resort": the class whose most important unit costs it the most on the training images.
# Compare the table's two accuracy columns (and the scatter plot after it): the units are ranked
# on the training images, which the network fits closely, so a unit's loss there and on the test
# images need not agree. On the class's few hundred training images a loss of a fraction of a percent is
# a handful of images, so where the train column shows equal losses the ranking is a tie.

# %%
last = results["relu4_2"]
target = int(effect_tr.max(0).values.argmax())
ranking = torch.argsort(effect_tr[:, target], descending=True)
rows = []
for u in ranking[:6].tolist():
    value, idx = last.iou[u].max(0)
    category, name = last.concepts[int(idx)]
    rows.append({"unit": u, "concept": name, "category": category, "IoU": float(value),
                 "acc lost (train)": float(effect_tr[u, target]),
                 "acc lost (test)": float(effect_va[u, target])})
top_table = pd.DataFrame(rows)
print(f"class: {data.CIFAR10_CLASSES[target]}")
top_table.style.format({"IoU": "{:.3f}", "acc lost (train)": "{:.1%}",
                        "acc lost (test)": "{:.1%}"}).hide(axis="index")

# %% slideshow={"slide_type": "subslide"}
fig, ax = plt.subplots(figsize=(6, 4.5))
ax.scatter(effect_tr[:, target] * 100, effect_va[:, target] * 100, s=25, alpha=0.7)
for u in ranking[:4].tolist():
    ax.annotate(f"unit {u}", (effect_tr[u, target] * 100, effect_va[u, target] * 100), fontsize="small")
lim = float(max(effect_tr[:, target].max(), effect_va[:, target].max()) * 100 + 1)
ax.plot([-1, lim], [-1, lim], "k--", lw=1, label="train = test")
ax.set(xlabel="accuracy lost on training images (%)", ylabel="accuracy lost on test images (%)",
       title=f"Removing one conv4_2 unit: class '{data.CIFAR10_CLASSES[target]}'")
ax.legend(fontsize="small");

# %% [markdown] slideshow={"slide_type": "subslide"}
# The most important units for the class, on the test images of that class where they fire most.
# The bright region is where the unit exceeds its top 1% quantile over these images (the
# thresholds of the concept scenes belong to 64 × 64 inputs, these images are 32 × 32).
#
# Read the figure before the label: the name in each title is the unit's best concept on *our
# scenes*, not a fact about these photographs. If the bright regions sit on background, sky or
# the object's edges rather than on the object, the unit is important for the class without being
# a detector of the class's object here, and its name says more about our concept set (where an
# object's half is about the size of a unit's top-1% region) than about the unit.

# %%
k_show = P.choose(quick=4, laptop=6, full=6)
cls_idx = torch.nonzero(y_va == target).flatten()
cls_acts = layer_activations(vgg, x=x_va[cls_idx], layers=["relu4_2"])["relu4_2"]
cls_t = dissection.unit_thresholds(cls_acts)
tiles, titles, regions = [], [], {}
for u in ranking[:3].tolist():
    top = dissection.top_images(cls_acts, u, k_show)
    region = dissection.activation_regions(cls_acts[top][:, u:u + 1], cls_t[u:u + 1], 32)[:, 0]
    regions[u] = region
    tiles.append(dissection.highlight_region(x_va[cls_idx][top], region))
    titles += [f"unit {u} ({top_table.set_index('unit').concept[u]})"] + [""] * (len(top) - 1)
fig = viz.show_images(torch.cat(tiles), titles=titles, ncols=k_show, size=1.8,
                      title=f"Top test images of class '{data.CIFAR10_CLASSES[target]}' per unit")

# %% tags=["hide-input"]
ring = torch.ones(32, 32, dtype=torch.bool)
ring[4:-4, 4:-4] = False                       # the outer 4 pixels: mostly background in CIFAR-10
for u, region in regions.items():
    r = region.float()
    area = r.sum((1, 2)).clamp_min(1)
    print(f"unit {u} ({top_table.set_index('unit').concept[u]}): the region covers "
          f"{r.mean():.0%} of an image; of it, {(r[:, :16].sum((1, 2)) / area).mean():.0%} lies in "
          f"the upper half and {((r * ring).sum((1, 2)) / area).mean():.0%} on the outer 4-pixel ring")
print(f"(a region spread evenly over the image: 50% in the upper half, {ring.float().mean():.0%} on "
      "the ring)")

# %% [markdown]
# Read each row against the unit's name: at 32 × 32 pixels, a unit whose bright region sits on the
# part of the object its name says (the upper or lower half) in most of its top images fits its
# label on these photographs too; one whose region sits on the background or the image's edge is
# important for the class without detecting its object here. The lines above measure the two
# positions a reader checks first, against an evenly spread region: the share of each unit's
# region in the upper half (high for a "-top" part, low for a "-bottom" one) and on the outer
# ring, where CIFAR-10's centred photographs show mostly background. Whether a region in the
# middle lies on the object or on the background beside it, only the eye can tell: look at the
# rows with these numbers in hand.

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Removing the top units against removing random units
#
# Units ranked on the training images; accuracies measured on the test images, for the class and
# for the nine others. Random sets are averaged over several draws.
#
# **Criterion, fixed before the run.** Bau et al.: removing the units a class relies on hurts that
# class more than removing as many random units. Effect: the class's test accuracy with the
# largest $k$ random units removed (averaged over the draws, image by image) minus its accuracy
# with the top $k$ removed, a paired bootstrap over the class's test images. Reproduced if the
# 95% interval lies above 0.

# %%
U = effect_tr.shape[0]
ks = [k for k in (1, 2, 4, 8, 16, 32) if k <= U // 2]
draws = P.choose(quick=3, laptop=10, full=20)
top_sets = [ranking[:k].tolist() for k in ks]
rand_sets = [s for k in ks for s in dissection.random_units(U, k, draws, seed=k)]
preds = dissection.predictions_with_units_removed(vgg, x_va, "relu4_2",
                                                  [[]] + top_sets + rand_sets)      # [sets, N]
acc = torch.stack([dissection.per_class_accuracy(p, y_va.to(p.device)) for p in preds]).cpu()
acc_top, acc_rand = acc[:len(ks) + 1], acc[len(ks) + 1:].view(len(ks), draws, -1)
others = [c for c in range(10) if c != target]
in_class = (y_va == target).to(preds.device)
hit_top = (preds[len(ks), in_class] == target).double()                    # top k_big removed
hit_rand = (preds[-draws:, in_class] == target).double().mean(0)           # k_big random, averaged
print(log.effect(
    "Removing a class's most important units hurts it more than removing random units",
    measure=f"test accuracy of '{data.CIFAR10_CLASSES[target]}', {ks[-1]} random units removed "
            f"minus {ks[-1]} top-ranked units removed",
    effect=findings.bootstrap_difference(hit_rand.cpu(), hit_top.cpu(), paired=True,
                                         what=f"'{data.CIFAR10_CLASSES[target]}' test images"),
    control=f"{ks[-1]} random conv4_2 units ({draws} draws), same images", unit="points",
    paper_value="'ski resort' loses most to its top units").line())

# %% slideshow={"slide_type": "subslide"}
fig, ax = plt.subplots(figsize=(8, 4.5))
ax.plot([0] + ks, acc_top[:, target] * 100, "o-", color="crimson", label="class, top units removed")
ax.plot([0] + ks, torch.cat([acc_top[:1, target], acc_rand[:, :, target].mean(1)]) * 100, "s--",
        color="crimson", alpha=0.6, label="class, random units removed")
ax.plot([0] + ks, acc_top[:, others].mean(1) * 100, "o-", color="gray",
        label="other classes, top units removed")
ax.plot([0] + ks, torch.cat([acc_top[:1, others].mean(1), acc_rand[:, :, others].mean((1, 2))]) * 100,
        "s--", color="gray", alpha=0.6, label="other classes, random units removed")
ax.set_xscale("symlog", linthresh=1)
ax.set_xticks([0] + ks, [str(k) for k in [0] + ks])
ax.set(xlabel="number of conv4_2 units removed", ylabel="test accuracy (%)",
       title=f"Class '{data.CIFAR10_CLASSES[target]}': top-ranked vs random units")
ax.legend(fontsize="small");
assert acc_top[-1, target] <= acc_rand[-1, :, target].mean() + 1e-6 or P.name == "quick"

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Adversarial examples attack the important units
#
# The slide's last claim: Bau et al. find that an adversarial perturbation that flips a class
# works by turning down the very units that class relies on. We lower the class score of its
# correctly classified test images with a small signed-gradient attack ($\epsilon = 2/255$ per
# pixel) and look at how much each unit's mean activation falls.
#
# **Criterion, fixed before the run.** For each attacked image, the relative fall of the summed
# mean activation of the class's top-4 units (ranked by ablation above) minus that of all other
# `conv4_2` units (the control: the same images, the same attack). Reproduced if the 95% paired
# bootstrap interval over images lies above 0.

# %%
n_adv = P.choose(quick=16, laptop=200, full=500)
correct = cls_idx[train.predict_logits(vgg, x_va[cls_idx]).argmax(1) == target][:n_adv]
clean = x_va[correct].float() / 255
adv = dissection.lower_class_score(vgg, clean, target, eps=2 / 255, steps=5)
still = (train.predict_logits(vgg, adv).argmax(1) == target).float().mean().item()
a_clean = layer_activations(vgg, x=clean, layers=["relu4_2"], pool="mean")["relu4_2"].cpu()
a_adv = layer_activations(vgg, x=adv, layers=["relu4_2"], pool="mean")["relu4_2"].cpu()
top4, rest = ranking[:4].cpu(), ranking[4:].cpu()


def relative_fall(units):
    """Per image [N]: the relative fall of the units' summed mean activation under the attack."""
    before, after = a_clean[:, units].sum(1), a_adv[:, units].sum(1)
    return ((before - after) / before.clamp_min(1e-6)).double()


fall_top, fall_rest = relative_fall(top4), relative_fall(rest)
print(f"{len(correct)} images; after the attack {still:.0%} are still '{data.CIFAR10_CLASSES[target]}'")
print(f"mean relative fall of the summed activation: top-4 units {fall_top.mean():+.0%}, "
      f"other units {fall_rest.mean():+.0%} (negative: the activation rose)")
print(log.effect(
    "An adversarial attack on a class turns down the units that class relies on",
    measure="relative fall of the top-4 units' activation minus that of the other conv4_2 units",
    effect=findings.bootstrap_difference(fall_top, fall_rest, paired=True, what="attacked images"),
    control="the other conv4_2 units, same images and attack", unit="points",
    paper_value="the attack lowers the class's important units").line())

# %% [markdown] slideshow={"slide_type": "slide"}
# ### What we cannot do here: the GAN experiments
#
# The second half of the paper dissects a **generator** (a progressive GAN trained on LSUN
# church scenes): it finds units that draw trees, doors or domes, and shows that switching "tree"
# units off removes trees from the generated scene while the rest adapts, and that switching door
# units on adds doors only where a door makes sense. That needs a scene GAN and a segmentation
# model, neither of which fits this course's offline, laptop-sized set-up, so this notebook stops
# at the classifier. The same `ablate_units` context manager is what one would use on a
# generator's layer.

# %%
log.inconclusive("Units of a scene GAN draw objects; removing them removes the objects",
                 reason="not run here: it needs a scene GAN and a segmentation model, which do "
                        "not fit the course's offline, laptop-sized set-up",
                 paper_value="tree units removed: trees disappear (Fig. 4)");

# %% [markdown] slideshow={"slide_type": "slide"}
# ### The paper beside ours
#
# The right-hand column is computed from this run's results above.

# %% tags=["hide-input"]
k_big = ks[-1]
top_row = top_table.iloc[0]
cls = data.CIFAR10_CLASSES[target]
last_counts = counts.loc["conv4_2", cats]
peak_layer = {c: counts[c].idxmax() for c in cats if counts[c].sum() > 0}
learned = int(random_counts[["object", "part"]].to_numpy().sum())
paper = pd.DataFrame([
    ("network", "13 conv layers, 4,224 units, 365 classes",
     f"{len(layers)} conv layers, {sum(n_units.values())} units, 10 classes "
     f"(test accuracy {vgg.zoo_info['test_accuracy']:.1%})"),
    ("concepts", "1,197 in 63k images, segmented",
     f"{len(scenes.concepts)} in {len(scenes)} scenes, known by construction"),
    ("where detectors are", "colours, materials early; objects, parts late",
     "most detectors per category in: " + ", ".join(f"{c} {l}" for c, l in peak_layer.items())),
    ("last layer", "many object and part detectors in conv5_3",
     f"{int(counts.loc['conv4_2', 'detectors'])} of {n_units['conv4_2']} conv4_2 units: "
     + ", ".join(f"{int(v)} {c}" for c, v in last_counts.items())),
    ("random weights", "far fewer detectors (Bau et al. 2017)",
     f"{int(random_counts['detectors'].sum())} detectors in all (trained: "
     f"{int(counts['detectors'].sum())}), {learned} of them object or part units"),
    ("most damaging unit for a class", "'snow' for ski resort: 8.9% (train), 10.9% (val)",
     f"unit {int(top_row.unit)} '{top_row.concept}' for {cls}: {top_row['acc lost (train)']:.1%} "
     f"(train), {top_row['acc lost (test)']:.1%} (test)"),
    ("top vs random units", "removing a class's top units hurts it most",
     f"{k_big} top units: {cls} {acc_top[0, target]:.0%} → {acc_top[-1, target]:.0%}, others "
     f"{acc_top[0, others].mean():.0%} → {acc_top[-1, others].mean():.0%}; {k_big} random: {cls} "
     f"{acc_rand[-1, :, target].mean():.0%}"),
    ("adversarial attack", "lowers the class's important units",
     f"relative fall of the summed activation: top-4 units {fall_top.mean():+.0%}, other units "
     f"{fall_rest.mean():+.0%}"),
], columns=["", "Bau et al. (VGG-16, Places365, Broden)", "ours (VGG, CIFAR-10, our concept set)"])
paper.style.hide(axis="index")

# %% [markdown]
# What differs: tiny images, ten classes whose "objects" are whole CIFAR pictures (their halves
# are our "parts"), nine materials, a smaller network (its units and test accuracy in the first
# row) trained on our JPEG copy of CIFAR-10, colour concepts that units with random weights pass
# without training (the category table after the detector counts), and a concept set whose part
# masks (half an object) are about the size of a unit's top-1% region, so parts can win IoU
# contests that objects would win in Broden (the last layer's row).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What we saw
#
# Each line is one claim of the paper tested above: our estimate with its 95% interval, the
# control it was compared with, and the verdict the criterion (stated before each experiment)
# gives. Printed from this run's records, so the words cannot drift from the numbers.

# %% tags=["remove-input"]
log.summary()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# 1. **The threshold, yourself.** Write `my_threshold(acts, q)` returning $t_u$ for every unit of
#    `acts` [N, U, h, w]: the largest observed value with at least a fraction `q` of all (image,
#    position) pairs strictly above it. Check it with `checks.check_unit_threshold`.
# 2. **IoU, yourself.** Write `my_iou(regions, masks)` for boolean regions [N, U, H, W] and masks
#    [N, C, H, W], summing intersections and unions over the whole set. Check it with
#    `checks.check_iou`.
# 3. **Predict, then run.** Raise the detector threshold from 0.04 to 0.08
#    (`dissection.detector_counts(results, iou_threshold=0.08)`). Which category loses the most
#    detectors? What about our scenes (the size of an object's mask against a unit's top-1%
#    region, colours that cover large areas) could explain it?
# 4. **Earlier in training.** The zoo keeps snapshots of the VGG after epochs 1, 2 and 5
#    (`zoo.load_model("vgg", epoch=1)`). Dissect `relu4_2` of a snapshot: do detectors emerge
#    during training?
# 5. **Another class.** Repeat the ablation for the class you find hardest (lowest test accuracy).
#    Are its most important units detectors of a concept that makes sense for it?

# %% tags=["solution"]
def my_threshold(acts, q=0.01):
    ### BEGIN SOLUTION
    flat = acts.transpose(0, 1).reshape(acts.shape[1], -1)          # [U, N*h*w]
    k = int(np.ceil(q * flat.shape[1]))
    return flat.sort(dim=1, descending=True).values[:, k]
    ### END SOLUTION


checks.check_unit_threshold(my_threshold);


# %% tags=["solution"]
def my_iou(regions, masks):
    ### BEGIN SOLUTION
    a = regions.transpose(0, 1).flatten(1).float()                   # [U, N*H*W]
    s = masks.transpose(0, 1).flatten(1).float()                     # [C, N*H*W]
    inter = a @ s.T
    union = a.sum(1)[:, None] + s.sum(1)[None, :] - inter
    return inter / union.clamp_min(1)
    ### END SOLUTION


checks.check_iou(my_iou);

# %% tags=["solution"]
### BEGIN SOLUTION
stricter = dissection.detector_counts(results, iou_threshold=0.08)
pd.concat({"IoU > 0.04": counts[cats].sum(), "IoU > 0.08": stricter[cats].sum()}, axis=1)
### END SOLUTION

# %% [markdown] slideshow={"slide_type": "slide"}
# ## References
#
# * D. Bau, J.-Y. Zhu, H. Strobelt, A. Lapedriza, B. Zhou, A. Torralba. *Understanding the role of
#   individual units in a deep neural network.* PNAS 117(48):30071–30078, 2020.
# * D. Bau, B. Zhou, A. Khosla, A. Oliva, A. Torralba. *Network Dissection: Quantifying
#   Interpretability of Deep Visual Representations.* CVPR 2017 (Broden, the 0.04 IoU threshold).
# * B. Zhou, Y. Sun, D. Bau, A. Torralba. *Revisiting the Importance of Individual Units in CNNs
#   via Ablation.* arXiv:1806.02891, 2018.
# * B. Berlin, P. Kay. *Basic Color Terms.* University of California Press, 1969 (the eleven names).
# * I. Goodfellow, J. Shlens, C. Szegedy. *Explaining and Harnessing Adversarial Examples.* ICLR
#   2015; A. Kurakin, I. Goodfellow, S. Bengio. *Adversarial Examples in the Physical World.* 2017.
