"""The concept dataset (lecture_utils.concepts): deterministic scenes with per-pixel masks."""
import numpy as np
import pytest
import torch

from lecture_utils import canvas, concepts


@pytest.fixture(scope="module")
def scenes(cifar_test):
    x, y = cifar_test
    return x, y, concepts.make_concept_set(x, y, 32, seed=5)


def test_deterministic(scenes, cifar_test):
    x, y, cs = scenes
    again = concepts.make_concept_set(x, y, 32, seed=5)
    for name in ("images", "objects", "parts", "materials", "colors", "labels", "boxes", "source"):
        assert torch.equal(getattr(cs, name), getattr(again, name)), name
    other = concepts.make_concept_set(x, y, 32, seed=6)
    assert not torch.equal(cs.images, other.images)


def test_object_masks_cover_what_was_pasted(scenes):
    x, y, cs = scenes
    for i in range(len(cs)):
        x0, y0, x1, y1 = cs.boxes[i].tolist()
        pasted = canvas._resize(x[cs.source[i]], x1 - x0)
        assert torch.equal(cs.images[i, :, y0:y1, x0:x1], pasted)        # the object is there
        obj = cs.objects[i] >= 0
        assert obj[y0:y1, x0:x1].all() and obj.sum() == (x1 - x0) * (y1 - y0)
        assert (cs.objects[i][obj] == y[cs.source[i]]).all() and cs.labels[i] == y[cs.source[i]]
        # parts split the object in two; materials are everywhere else
        assert ((cs.parts[i] >= 0) == obj).all()
        assert set(cs.parts[i][obj].tolist()) == {2 * int(cs.labels[i]), 2 * int(cs.labels[i]) + 1}
        assert ((cs.materials[i] >= 0) == ~obj).all()


def test_material_masks_cover_what_was_drawn():
    rng = np.random.default_rng(0)
    image, label = concepts.material_layout(rng, 48)
    assert image.shape == (3, 48, 48) and label.shape == (48, 48)
    # redraw with the same generator state, each material on its own: the pixels agree
    rng = np.random.default_rng(0)
    k = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
    chosen = rng.choice(len(concepts.MATERIALS), size=k, replace=False)
    assert set(np.unique(label).tolist()) <= set(chosen.tolist())
    rng.uniform(0, 48, size=(k, 2))          # the Voronoi seeds, drawn to keep rng in step
    for j, m in enumerate(chosen):
        patch = concepts.material_patch(rng, list(concepts.MATERIALS)[m], 48)
        where = label == m
        assert np.array_equal(image[:, where], patch[:, where])
    with pytest.raises(ValueError, match="Unknown material"):
        concepts.material_patch(rng, "lava", 16)


def test_masks_are_one_hot_per_category(scenes):
    _, _, cs = scenes
    m = cs.masks()
    names = cs.concepts
    assert m.shape == (len(cs), len(names), 64, 64) and m.dtype == torch.bool
    cats = np.array([c for c, _ in names])
    for cat in concepts.CATEGORIES:
        per_pixel = m[:, torch.from_numpy(cats == cat)].sum(1)
        assert per_pixel.max() <= 1
    assert (m[:, torch.from_numpy(cats == "color")].sum(1) == 1).all()   # every pixel: one colour
    assert len(set(names)) == len(names) == 10 + 20 + len(concepts.MATERIALS) + len(concepts.COLORS)
    assert len(cs[:5]) == 5 and torch.equal(cs[:5].masks(), m[:5])


def test_colour_names():
    protos = torch.tensor(list(concepts.COLORS.values()), dtype=torch.uint8).view(1, 11, 1, 3)
    names = concepts.color_names(protos.permute(0, 3, 1, 2))
    assert names.flatten().tolist() == list(range(11))       # every prototype names itself
    sky = torch.tensor([30, 60, 180], dtype=torch.uint8).view(1, 3, 1, 1)
    assert list(concepts.COLORS)[int(concepts.color_names(sky))] == "blue"
    with pytest.raises(ValueError, match="uint8"):
        concepts.color_names(torch.rand(1, 3, 2, 2))


def test_generated_in_seconds(cifar_test):
    import time
    x, y = cifar_test
    start = time.perf_counter()
    concepts.make_concept_set(x, y, 200, seed=0)
    assert time.perf_counter() - start < 30


def test_the_concept_set_is_drawn_by_viz(scenes):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lecture_utils import viz
    _, _, cs = scenes
    fig = viz.show_concept_set(cs, n=3)
    assert len(fig.axes) == 12
    with pytest.warns(DeprecationWarning, match="viz.show_concept_set"):
        concepts.show_concept_set(cs, n=2)
    with pytest.raises(ValueError, match="empty"):
        viz.show_concept_set(cs[:0])
    assert cs.material_names == list(concepts.MATERIALS) and cs.color_table == concepts.COLORS
    plt.close("all")
