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
# # 00 · Set-up, data and a first model
#
# **Paper:** A. Krizhevsky. *Learning Multiple Layers of Features from Tiny Images.* Tech. report,
# University of Toronto, 2009 (CIFAR-10). [PDF](https://www.cs.toronto.edu/~kriz/learning-features-2009-TR.pdf)
#
# **Why it matters:** every later notebook explains a trained image classifier, and this one builds
# what they all stand on: the data, the scale the course runs at (the *profile*), and a first
# convolutional network trained before your eyes.
#
# *Computer Vision; Image Classification; Visualizing & Understanding* — the course's starting
# notebook. Later notebooks ask which pixels a network looks at, what its units detect and how far
# its confidence can be trusted.

# %% [markdown] slideshow={"slide_type": "notes"} tags=["presenter"]
# **Presenter's note.** Run the set-up cell and the data cells live (CIFAR-10 is decoded into a
# cache the first time, in seconds; later loads read the cache). The training cell (5 epochs on
# 10,000 images in the `laptop` profile) took a minute or two on one CPU thread in the saved run
# (its progress bar prints the time); a slower laptop takes longer: start it, then talk over the
# trainer's code while it runs. Show the zoo table last: it is where every later notebook gets its
# trained models. Skip the newsgroups cell if time is short.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ## What you will learn
#
# 1. How the course picks its **device** and its **profile** (`quick`, `laptop`, `full`), and why
#    every size in every notebook comes from the profile.
# 2. What **CIFAR-10** looks like (and why our JPEG copy costs a few points of accuracy), plus the
#    other real data of the course: digits, photos, textures and newsgroup posts.
# 3. How to **train** a network with the course's trainer and read its learning curves.
# 4. How the notebooks get **trained models** from the *zoo* instead of training them again.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Set-up
#
# One cell, the same in every notebook: imports from `lecture_utils`, a fixed seed, and one line
# saying where and at what scale this notebook ran.

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
import seaborn as sns
import torch

from lecture_utils import checks, config, data, models, train, viz, zoo

viz.use_style()
config.seed_everything(0)
P = config.get_profile()
device = config.get_device()
print(config.describe())

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Profiles: one switch for the scale
#
# The environment variable `LECTURE_PROFILE` picks the scale; nothing else changes between them.
#
# | profile | meant for | a notebook takes |
# |---|---|---|
# | `quick` | CI on a 2-core CPU | seconds (the code runs end to end; numbers mean little) |
# | `laptop` | a student's CPU (the default without a GPU) | minutes, with results that still mean something |
# | `full` | a GPU (the default with one) | the scale at which the papers' findings should show |
#
# A notebook writes every size it uses with all three values in sight, so you can see what the
# other scales would do:

# %%
n_train = P.choose(quick=2_000, laptop=10_000, full=50_000)
print(f"{P.name}: train on {n_train:,} images, evaluate on {P.eval_subset or 10_000:,}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# To run a notebook at another scale, start Jupyter with the variable set, e.g.
# `LECTURE_PROFILE=quick make lab`. `LECTURE_DEVICE=cpu` forces the CPU; on a machine with a GPU
# (CUDA, or Apple's MPS) the course uses it without being asked.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## CIFAR-10
#
# 60,000 colour images of 32 × 32 pixels in 10 classes (Krizhevsky, 2009): 50,000 for training and
# 10,000 for testing. `data.load_cifar10` reads it offline from the folder `LECTURE_DATA` points at;
# the first call decodes it into a cache, later calls take a fraction of a second.

# %%
x_train, y_train = data.load_cifar10("train")
x_test, y_test = data.load_cifar10("test")
print(f"train {tuple(x_train.shape)} {x_train.dtype}, test {tuple(x_test.shape)}, "
      f"copy: {data.cifar10_source()}")
assert x_train.shape == (50_000, 3, 32, 32) and x_test.shape == (10_000, 3, 32, 32)
assert torch.bincount(y_test).tolist() == [1_000] * 10   # balanced: 1,000 test images per class

# %% slideshow={"slide_type": "subslide"}
first = torch.stack([torch.nonzero(y_train == c)[0, 0] for c in range(10)])
fig = viz.show_images(x_train[first], y_train[first], ncols=10, size=1.5,
                      title="One training image per CIFAR-10 class")

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Our copy is JPEG.** The offline archive re-encodes every image as a JPEG (quality 75, colour at
# half resolution). That costs accuracy: the public CIFAR-10 speed-run code (airbench94) reaches
# about 90.7% on this copy against 94.0% on the original. Every notebook that compares its numbers
# with a paper's says so. Without the archive, `load_cifar10` reads torchvision's original
# `cifar-10-batches-py` (or downloads it, when it may); with the archive present it always uses the
# JPEG copy, so the two are never mixed. This run used the JPEG copy (`copy: jpeg` above).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The other real data of the course
#
# Real data that ship inside packages: scikit-learn's 8 × 8 **digits** (SHAP's "8 versus 3"),
# scikit-image's **photos** (LIME and saliency on large images) and **textures** (backgrounds of our
# localization benchmark), and **20 Newsgroups** posts (LIME's "Christianity or Atheism" text
# example).

# %%
digits, digit_labels = data.load_digits()
fig, axes = plt.subplots(1, 6, figsize=(13, 2.6))
for ax, img in zip(axes[:3], digits[:3]):
    ax.imshow(img[0], cmap="gray_r")
for ax, name in zip(axes[3:5], ("chelsea", "coffee")):
    ax.imshow(viz.to_numpy_image(data.load_photo(name)))
axes[5].imshow(data.load_texture("brick"), cmap="gray")
for ax, title in zip(axes, ["digit 0", "digit 1", "digit 2", "photo: chelsea", "photo: coffee",
                            "texture: brick"]):
    ax.set_title(title, fontsize="small")
    ax.axis("off")

# %%
texts, news_labels, groups = data.load_newsgroups(
    "train", categories=["alt.atheism", "soc.religion.christian"])
print(f"{len(texts)} posts in {groups}; the first begins:\n")
print(texts[0][:300])

# %% [markdown] slideshow={"slide_type": "slide"}
# ## A first model, trained here
#
# The course's models take images in $[0, 1]$ and normalise them in their first module, so every
# attribution in the later notebooks lives in pixel space. The trainer keeps the data on the device
# as bytes and does the standard augmentations there (random crop with 4 pixels of padding, a
# random left-right flip), uses SGD with Nesterov momentum, a short warm-up and a linear decay of the
# learning rate.
#
# We train a small VGG-style network: stacks of 3 × 3 convolutions, batch norm and ReLU, with
# max-pooling between them, the kind of network Zeiler & Fergus looked inside.
#
# **A claim, tested like an experiment:** *a small VGG-style network trained for a few epochs on
# part of CIFAR-10 learns far more than chance.* The control is chance, 10% (the test set is
# balanced: 1,000 images per class, checked above). The criterion, decided before the run: the
# 95% bootstrap interval (over the test images) of accuracy minus chance lies above 0 points.
# "What we saw" prints the verdict.

# %%
x_sub, y_sub = data.subset(x_train, y_train, n_train)
x_eval, y_eval = data.subset(x_test, y_test, P.eval_subset)
net = models.vgg(width=P.choose(quick=8, laptop=16, full=32))
epochs = P.choose(quick=1, laptop=5, full=15)
print(f"{models.count_parameters(net):,} parameters, {epochs} epochs on {len(y_sub):,} images")

# %% slideshow={"slide_type": "subslide"}
history = train.fit(net, (x_sub, y_sub), (x_eval, y_eval), epochs=epochs, lr=0.1,
                    batch_size=P.batch_size, device=device)

# %% slideshow={"slide_type": "subslide"}
fig = viz.plot_history(history, title="Learning curves of the first model")

# %% [markdown]
# **Reading the two accuracy curves.** They are not measured the same way. The *training* accuracy
# of an epoch is a running mean over that epoch's batches: augmented images (random crops and
# flips, harder than the clean ones), scored by weights that are still changing, usually for the
# better. The *test* accuracy is measured once, after the epoch, on clean images, by the weights
# of that moment. So the two curves can cross either way without anything being wrong, and in this
# run they do (the cell below prints it, epoch by epoch). The widest gap is after epoch 1 (26.3%
# against 19.9%): the weights at the end of epoch 1, taken just as the warm-up reaches the peak
# learning rate, score worse on the test images than the epoch's running mean. From epoch 2 on
# the two accuracies stay within 3.5 points: a gap that grows with every epoch, the sign of a
# network fitting its training images better than new ones, does not appear in five epochs. A network this size, trained this briefly on part of the data,
# is far from what CIFAR-10 allows (compare the zoo's `resnet_gap` below, whose accuracy is printed
# where it is loaded); that is
# what the zoo is for.

# %%
h = history if isinstance(history, dict) else history.to_dict()
for e, tr, te in zip(h["epoch"], h["train_acc"], h["test_acc"]):
    print(f"epoch {e}: train (running mean, augmented) {tr:.1%}, test (end of epoch, clean) "
          f"{te:.1%} -> {'test' if te >= tr else 'train'} is higher")

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Where is it right, where is it wrong?

# %%
logits = train.predict_logits(net, x_eval)
preds = logits.argmax(1)
accuracy = (preds == y_eval).float().mean().item()
print(f"test accuracy on {len(y_eval):,} images: {accuracy:.1%}")
assert accuracy > 0.1 or P.name == "quick", "the model should beat chance (10%)"

# %% slideshow={"slide_type": "subslide"}
confusion = torch.zeros(10, 10, dtype=torch.long)
confusion.index_put_((y_eval, preds), torch.ones_like(y_eval), accumulate=True)
fig, ax = plt.subplots(figsize=(8, 6.5))
sns.heatmap((confusion / confusion.sum(1, keepdim=True)).numpy(), annot=True, fmt=".2f",
            cmap="viridis", xticklabels=data.CIFAR10_CLASSES, yticklabels=data.CIFAR10_CLASSES,
            cbar_kws={"label": "fraction of the true class"}, ax=ax, annot_kws={"size": 9})
ax.set(xlabel="predicted class", ylabel="true class", title="Confusion matrix (test images)");

# %% slideshow={"slide_type": "subslide"}
show = slice(0, 2 * P.n_show)
fig = viz.show_images(x_eval[show], y_eval[show], preds[show], ncols=P.n_show, size=1.7,
                      title="Test images: true and predicted class (red = wrong)")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The zoo: trained models for the other notebooks
#
# Training a good network takes long on a CPU: the table below lists, for each model, its recipe,
# its test accuracy, how long its training took and on what machine (the strongest were trained
# on a GPU). So the notebooks load trained
# models with `zoo.load_model(name)`. A model comes from a checkpoint committed with the
# course (small, half precision, listed with its checksum, recipe and accuracy in
# `data/models/manifest.json`), else from your cache, else it is trained with the profile's recipe
# and cached. A committed checkpoint serves its own profile and every smaller one.

# %%
from IPython.display import Markdown  # noqa: E402

Markdown(zoo.markdown_table())

# %% slideshow={"slide_type": "subslide"}
resnet = zoo.load_model("resnet_gap", device=device)
print(f"resnet_gap from the {resnet.zoo_info['source']}: "
      f"{resnet.zoo_info['test_accuracy']:.1%} test accuracy")
fig = viz.plot_history(zoo.history_of(resnet), title="resnet_gap: learning curves from the zoo")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Using a GPU
#
# Nothing to change in the notebooks: `config.get_device()` picks CUDA, then Apple's MPS, then the
# CPU, and the profile follows (`full` on a GPU). On every device the trainer uses channels-last
# memory and bf16 autocast where the hardware computes bf16 natively, CPUs included (the training
# cell above printed the precision it used; older GPUs get fp16 with a gradient scaler): the habits
# of the CIFAR-10 speed runs. To train the zoo's models at full scale on a GPU machine:
#
# ```bash
# LECTURE_PROFILE=full .venv/bin/python -m lecture_utils.zoo train resnet_gap vgg
# ```

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What we saw
#
# * The course runs at three scales chosen by one variable; this notebook printed which one it ran.
# * CIFAR-10 loaded offline from our JPEG-compressed copy (the data cell printed `copy: jpeg`),
#   which by the airbench figures quoted above costs about three points of accuracy against
#   published figures.
# * The first model (5 epochs on 10,000 images) reached 57.2% on 2,000 test images; its training
#   and test accuracies stayed within a few points of each other after epoch 1. The zoo's
#   `resnet_gap`, trained on all 50,000 images for the epochs its table row lists, reaches the
#   accuracy printed where it is loaded; its learning curves show the gap the first model did not
#   have: its training accuracy climbs towards 100% while its test accuracy levels off below.
# * The zoo's table above is printed from the manifest of committed checkpoints, so it always lists
#   what the other notebooks actually load.
#
# The claim tested before training (criterion stated there) is printed from the run:

# %%
from lecture_utils import findings  # noqa: E402

log = findings.Findings("00", "Krizhevsky 2009")
correct = (preds == y_eval).double()
log.effect("a small VGG-style network trained briefly learns CIFAR-10 above chance",
           measure="test accuracy minus chance",
           effect=findings.bootstrap(correct - 0.1, what="test images"),
           control="chance: 10% (a balanced test set)", unit="points")
log.summary()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# The code cells below hold reference solutions between `### BEGIN SOLUTION` and
# `### END SOLUTION`; `make student` writes a copy of every notebook without them.
#
# 1. **Accuracy by hand.** Write `my_accuracy(logits, labels)` returning the fraction of correct
#    top-1 predictions, and check it with `checks.check_accuracy(my_accuracy)`.
# 2. **Normalisation.** Every model starts with `(x - mean) / std` per channel. Write
#    `my_normalize(x)` using `data.CIFAR10_MEAN` and `data.CIFAR10_STD`; check it with
#    `checks.check_normalize(my_normalize)`.
# 3. **Predict, then run.** Train the first model again without augmentation
#    (`augment=False`). Before you run it, predict what happens to the gap between training and test
#    accuracy.
# 4. **Which classes are confused?** Read the confusion matrix: which pair of classes is confused
#    most? Show four test images of that pair that the model got wrong.

# %% tags=["solution"]
def my_accuracy(logits, labels):
    ### BEGIN SOLUTION
    return (logits.argmax(dim=1) == labels).float().mean().item()
    ### END SOLUTION


checks.check_accuracy(my_accuracy);

# %% tags=["solution"]
def my_normalize(x):
    ### BEGIN SOLUTION
    mean = torch.tensor(data.CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(data.CIFAR10_STD).view(1, 3, 1, 1)
    return (x - mean) / std
    ### END SOLUTION


checks.check_normalize(my_normalize);

# %% [markdown] slideshow={"slide_type": "slide"}
# ## References
#
# * A. Krizhevsky. *Learning Multiple Layers of Features from Tiny Images.* Tech. report, 2009.
# * K. Jordan. *94% on CIFAR-10 in 3.29 seconds on a single GPU* (airbench), 2024.
#   <https://github.com/KellerJordan/cifar10-airbench>
# * K. Simonyan, A. Zisserman. *Very Deep Convolutional Networks for Large-Scale Image
#   Recognition.* ICLR 2015 (the VGG architecture).
