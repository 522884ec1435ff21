"""lecture_utils.dissection under careless input (issue 13, items 8, 10 and 12 for dissection):
unit_thresholds with N = 0, dissect with an empty concept set, an fc layer, or layers given as a
plain string, labels out of range in unit_ablation_effects, batch_size=0, negative units, and the
kinds of input around them. Each gets a clear error that says what to do, or the right result."""
import numpy as np
import pytest
import torch

from lecture_utils import concepts, dissection as D, models

ERRORS = (ValueError, TypeError, IndexError)


@pytest.fixture(scope="module")
def scenes(cifar_test):
    x, y = cifar_test
    return concepts.make_concept_set(x, y, 8, seed=0)


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return models.vgg(width=4).eval()


@pytest.fixture(scope="module")
def data(cifar_test):
    return cifar_test[0][:60], cifar_test[1][:60]


def _acts(n=6, u=3, h=4, seed=0):
    return torch.rand(n, u, h, h, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------- thresholds
@pytest.mark.parametrize("acts, error, match", [
    (torch.zeros(0, 3, 4, 4), ValueError, "no activations"),
    (torch.zeros(5, 3, 0, 4), ValueError, "no activations"),
    (torch.zeros(5, 0, 4, 4), ValueError, "no units"),
    (torch.zeros(5, 3, 4), ValueError, r"\[N, U, h, w\]"),
    (torch.full((5, 3, 4, 4), float("nan")), ValueError, "NaN or inf"),
    ([[1.0, 2.0]], TypeError, "tensor"),
])
def test_unit_thresholds_refuse_what_has_no_quantile(acts, error, match):
    with pytest.raises(error, match=match):
        D.unit_thresholds(acts)


@pytest.mark.parametrize("q, error, match", [
    (0, ValueError, r"\(0, 1\)"), (1, ValueError, r"\(0, 1\)"), (1.5, ValueError, r"\(0, 1\)"),
    (float("nan"), ValueError, "finite"), ("1%", TypeError, "number"),
])
def test_quantile_must_be_a_fraction(q, error, match):
    with pytest.raises(error, match=match):
        D.unit_thresholds(_acts(), q)


def test_thresholds_take_numpy_and_the_smallest_sets():
    a = _acts()
    assert torch.equal(D.unit_thresholds(a.numpy(), np.float32(0.01)), D.unit_thresholds(a, 0.01))
    one = torch.tensor([[[[5.0]]]])                       # one image, one unit, one position
    assert D.unit_thresholds(one).tolist() == [5.0]
    assert D.unit_thresholds(torch.arange(10.0).view(10, 1)).tolist() == [8.0]   # [N, U] works


def test_top_quantile_is_told_a_positive_count_and_one_layer():
    with pytest.raises(ValueError, match="at least 1"):
        D.TopQuantile(0)
    tq = D.TopQuantile(np.int64(6 * 16))
    tq.update(_acts(3))
    with pytest.raises(ValueError, match="units"):
        tq.update(_acts(3, u=5))
    with pytest.raises(ValueError, match="seen 48 of the 96"):
        tq.thresholds()


# ---------------------------------------------------------------------------- upsampling, IoU
def test_upsample_units_has_one_shape_convention():
    a = _acts()
    assert D.upsample_units(a, np.int64(8)).shape == (6, 3, 8, 8)
    assert D.upsample_units(a, torch.Size([8, 6])).shape == (6, 3, 8, 6)
    with pytest.raises(ValueError, match="cam.upsample"):
        D.upsample_units(a[:, 0], 8)                      # [N, h, w]: one map per image
    for size, error in ((0, ValueError), ((8,), ValueError), (8.0, TypeError)):
        with pytest.raises(error):
            D.upsample_units(a, size)


def test_activation_regions_need_one_threshold_per_unit():
    a = _acts()
    with pytest.raises(ValueError, match="one t_u per unit"):
        D.activation_regions(a, torch.zeros(2), 8)
    assert D.activation_regions(a, np.zeros(3, np.float32), 8).all()


def test_iou_tally_refuses_what_it_cannot_count():
    with pytest.raises(ValueError, match="no batch"):
        D.IoUTally().iou()
    regions = torch.rand(2, 3, 4, 4) > 0.5
    with pytest.raises(ValueError, match="binary"):
        D.iou(torch.rand(2, 3, 4, 4), regions)
    tally = D.IoUTally()
    tally.update(regions, regions[:, :2])
    with pytest.raises(ValueError, match="earlier ones"):
        tally.update(regions[:, :1], regions[:, :2])
    zeros = torch.zeros(0, 3, 4, 4, dtype=torch.bool)
    assert torch.equal(D.iou(zeros, zeros[:, :2]), torch.zeros(3, 2))   # nothing seen: IoU 0


# ---------------------------------------------------------------------------- dissect
def test_dissect_takes_a_plain_layer_name(vgg, scenes):
    one = D.dissect(vgg, scenes, "relu2_1", batch_size=np.int64(4), progress=False)
    listed = D.dissect(vgg, scenes, ["relu2_1"], batch_size=4, progress=False)
    assert list(one) == ["relu2_1"]
    assert torch.equal(one["relu2_1"].iou, listed["relu2_1"].iou)
    # and a module, as everywhere else
    assert list(D.dissect(vgg, scenes, vgg.relu2_1, batch_size=4, progress=False)) == ["relu2_1"]


@pytest.mark.parametrize("layers, error, match", [
    (["fc1"], ValueError, "Linear: it has no spatial feature maps.*conv4_2"),
    (["relu_fc1"], ValueError, "before the classifier.*conv4_2"),
    (["flatten"], ValueError, "Flatten"),
    ([], ValueError, "at least one layer"),
    (["relu9_9"], ValueError, "no layer named"),
])
def test_dissect_refuses_layers_without_feature_maps(vgg, scenes, layers, error, match):
    with pytest.raises(error, match=match):
        D.dissect(vgg, scenes, layers, progress=False)


def test_dissect_refuses_an_empty_or_misplaced_concept_set(vgg, scenes):
    with pytest.raises(ValueError, match="empty.*make_concept_set"):
        D.dissect(vgg, scenes[:0], ["relu1_1"], progress=False)
    with pytest.raises(TypeError, match=r"dissect\(model, concept_set, layers\)"):
        D.dissect(vgg, ["relu1_1"], scenes, progress=False)          # the old argument order
    with pytest.raises(TypeError, match="ConceptSet"):
        D.dissect(vgg, scenes.images, ["relu1_1"], progress=False)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(batch_size=0), ValueError, "at least 1"),
    (dict(batch_size=-4), ValueError, "at least 1"),
    (dict(batch_size=4.0), TypeError, "batch_size=4"),
    (dict(quantile=0.0), ValueError, r"\(0, 1\)"),
])
def test_dissect_checks_its_options(vgg, scenes, kwargs, error, match):
    with pytest.raises(error, match=match):
        D.dissect(vgg, scenes, ["relu1_1"], progress=False, **kwargs)


def test_dissect_refuses_tokens(scenes):
    vit = models.vit(dim=8, depth=1, heads=2, image_size=64).eval()
    with pytest.raises(ValueError, match="feature maps"):
        D.dissect(vit, scenes, ["blocks.0"], progress=False)


def test_dissect_of_a_single_scene_and_options_are_keyword_only(vgg, scenes):
    res = D.dissect(vgg, scenes[:1], ["relu1_1"], progress=False)["relu1_1"]
    assert res.iou.shape == (4, len(scenes.concepts)) and torch.isfinite(res.iou).all()
    with pytest.raises(TypeError):
        D.dissect(vgg, scenes, ["relu1_1"], 0.01)


def test_detector_counts_and_labels_check_their_input(vgg, scenes):
    with pytest.raises(ValueError, match="empty"):
        D.detector_counts({})
    res = D.dissect(vgg, scenes, ["relu1_1"], progress=False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        D.detector_counts(res, iou_threshold=4)
    assert D.detector_counts(res, iou_threshold=np.float64(0.04)).loc["relu1_1", "units"] == 4


# ---------------------------------------------------------------------------- top images
def test_top_images_indices_do_not_wrap():
    a = _acts()
    assert D.top_images(a, np.int64(2), k=np.int64(3)).tolist() == D.top_images(a, 2, 3).tolist()
    assert len(D.top_images(a, 0, k=100)) == 6
    with pytest.raises(IndexError, match="negative indices"):
        D.top_images(a, -1)
    with pytest.raises(IndexError, match="0..2"):
        D.top_images(a, 3)
    with pytest.raises(ValueError, match="at least 1"):
        D.top_images(a, 0, k=0)
    with pytest.raises(ValueError, match="no images"):
        D.top_images(a[:0], 0)


def test_highlight_region_takes_float_images_and_checks_shapes():
    img = torch.full((1, 3, 2, 2), 200, dtype=torch.uint8)
    region = torch.tensor([[[True, False], [False, False]]])
    ref = D.highlight_region(img, region, dim=0.5)
    assert torch.equal(D.highlight_region(img.float() / 255, region, dim=0.5), ref)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        D.highlight_region(img.float(), region)                  # 0..255 floats: not [0, 1]
    with pytest.raises(TypeError, match="uint8"):
        D.highlight_region(img.to(torch.int16), region)
    with pytest.raises(ValueError, match="one region per image"):
        D.highlight_region(img, region[0])
    with pytest.raises(ValueError, match="dim"):
        D.highlight_region(img, region, dim=1.5)


# ---------------------------------------------------------------------------- ablation
def test_ablate_units_does_not_wrap_negative_units(vgg, data):
    x = data[0][:4].float() / 255
    before = vgg(x)
    with pytest.raises(IndexError, match="negative indices"):
        with D.ablate_units(vgg, "relu4_2", [-1]):
            vgg(x)
    with pytest.raises(TypeError, match="integer"):
        with D.ablate_units(vgg, "relu4_2", [1.5]):
            pass
    with pytest.raises(TypeError, match="integer"):
        with D.ablate_units(vgg, "relu4_2", True):
            pass
    assert torch.equal(vgg(x), before)
    assert not any(m._forward_hooks for m in vgg.modules())
    from lecture_utils.hooks import capture
    with capture(vgg.relu4_2) as rec:
        vgg(x)
    alive = int(rec.activation.sum((0, 2, 3)).argmax())          # a unit that fires on x
    with D.ablate_units(vgg, "relu4_2", np.int64(alive)):
        a = vgg(x)
    with D.ablate_units(vgg, "relu4_2", np.array([alive])):
        b = vgg(x)
    with D.ablate_units(vgg, "relu4_2", torch.tensor([alive])):
        c = vgg(x)
    assert torch.equal(a, b) and torch.equal(a, c) and not torch.equal(a, before)


def test_ablate_units_refuses_tokens():
    vit = models.vit(dim=8, depth=1, heads=2).eval()
    with pytest.raises(ValueError, match=r"\[N, U, h, w\]"):
        with D.ablate_units(vit, "blocks.0", [0]):
            vit(torch.rand(1, 3, 32, 32))
    assert not any(m._forward_hooks for m in vit.modules())


@pytest.mark.parametrize("labels, error, match", [
    (lambda y: y + 10, IndexError, "out of range.*0..9"),
    (lambda y: y - 10, IndexError, "out of range"),
    (lambda y: y[:10], ValueError, "one class index per image"),
    (lambda y: y.float(), TypeError, "integer"),
    (lambda y: y[:, None], ValueError, "one class index per image"),
])
def test_unit_ablation_effects_refuses_bad_labels(vgg, data, labels, error, match):
    x, y = data
    with pytest.raises(error, match=match):
        D.unit_ablation_effects(vgg, x, labels(y), "relu4_2", progress=False)
    with pytest.raises(error, match=match):
        D.accuracy_with_units_removed(vgg, x, labels(y), "relu4_2", [[0]])


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(units=[-1]), IndexError, "negative"),
    (dict(units=[32]), IndexError, "0..31"),
    (dict(units=[]), ValueError, "at least one unit"),
    (dict(batch_size=0), ValueError, "at least 1"),
    (dict(num_classes=0), ValueError, "at least 1"),
    (dict(num_classes=5), IndexError, "out of range"),   # CIFAR labels 0..9 with 5 classes
])
def test_unit_ablation_effects_checks_its_options(vgg, data, kwargs, error, match):
    x, y = data
    with pytest.raises(error, match=match):
        D.unit_ablation_effects(vgg, x, y, "relu4_2", progress=False, **kwargs)


def test_unit_ablation_effects_takes_numpy_and_gives_the_same(vgg, data):
    x, y = data
    ref = D.unit_ablation_effects(vgg, x, y, "relu4_2", units=[0, 3], progress=False)
    alt = D.unit_ablation_effects(vgg, x, y.numpy(), "relu4_2", units=np.array([0, 3]),
                                  num_classes=np.int64(10), batch_size=np.int64(7),
                                  progress=False)
    assert torch.equal(ref, alt)
    assert torch.equal(D.unit_ablation_effects(vgg, x.float() / 255, y, "relu4_2", units=[0, 3],
                                               progress=False), ref)
    fc = D.unit_ablation_effects(vgg, x, y, "fc1", units=[1], progress=False)   # [N, U] features
    assert fc.shape == (1, 10)


def test_unit_ablation_effects_refuses_empty_or_non_finite_images(vgg, data):
    x, y = data
    bad = x.float() / 255
    bad[3, 1, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        D.unit_ablation_effects(vgg, bad, y, "relu4_2", units=[0], progress=False)
    with pytest.raises(ValueError, match="empty"):
        D.unit_ablation_effects(vgg, x[:0], y[:0], "relu4_2", progress=False)
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        D.unit_ablation_effects(vgg, x[0], y[:1], "relu4_2", progress=False)


def test_unit_sets_and_random_units(vgg, data):
    x, y = data
    with pytest.raises(ValueError, match="non-empty list"):
        D.accuracy_with_units_removed(vgg, x, y, "relu4_2", [])
    with pytest.raises(ValueError, match="non-empty list"):
        D.accuracy_with_units_removed(vgg, x, y, "relu4_2", 5)
    with pytest.raises(ValueError, match="at most 4"):
        D.random_units(4, 5, 1)
    with pytest.raises(ValueError, match="at least 0"):
        D.random_units(4, 2, -1)
    assert D.random_units(np.int64(8), np.int64(3), np.int64(2), seed=np.int64(1)) == \
        D.random_units(8, 3, 2, seed=1)


def test_per_class_accuracy_checks_labels():
    preds = torch.tensor([0, 1, 1])
    with pytest.raises(IndexError, match="out of range"):
        D.per_class_accuracy(preds, torch.tensor([0, 1, 3]), num_classes=3)
    with pytest.raises(ValueError, match=r"both be \[N\]"):
        D.per_class_accuracy(preds, torch.tensor([0]), num_classes=3)
    assert D.per_class_accuracy(preds, torch.tensor([0, 1, 2]), 3).tolist() == [1.0, 1.0, 0.0]


# ---------------------------------------------------------------------------- adversarial
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(steps=0), ValueError, "at least 1"), (dict(steps=-5), ValueError, "at least 1"),
    (dict(steps=2.5), TypeError, "integer"), (dict(eps=float("nan")), ValueError, "finite"),
    (dict(eps=-0.1), ValueError, r"\[0, 1\]"),
])
def test_lower_class_score_checks_its_options(vgg, data, kwargs, error, match):
    x, y = data
    with pytest.raises(error, match=match):
        D.lower_class_score(vgg, x[:2].float() / 255, y[:2], **kwargs)


def test_lower_class_score_takes_uint8_and_refuses_nan(vgg, data):
    x, y = data
    adv = D.lower_class_score(vgg, x[:2], y[:2], eps=4 / 255, steps=2)
    ref = D.lower_class_score(vgg, x[:2].float() / 255, y[:2], eps=4 / 255, steps=2)
    assert adv.dtype == torch.float32 and torch.equal(adv, ref) and adv.device == x.device
    bad = x[:2].float() / 255
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        D.lower_class_score(vgg, bad, y[:2])
    assert D.lower_class_score(vgg, x[:2], np.int64(3), steps=1).shape == (2, 3, 32, 32)


# ---------------------------------------------------------------------------- the concept set
@pytest.mark.parametrize("call, error, match", [
    (lambda x, y: concepts.make_concept_set(x, y, 0), ValueError, "at least 1"),
    (lambda x, y: concepts.make_concept_set(x, y, 2.0), TypeError, "integer"),
    (lambda x, y: concepts.make_concept_set(x.float(), y, 2), ValueError, "uint8"),
    (lambda x, y: concepts.make_concept_set(x[:0], y[:0], 2), ValueError, "M >= 1"),
    (lambda x, y: concepts.make_concept_set(x, y[:5], 2), ValueError, "labels"),
    (lambda x, y: concepts.make_concept_set(x, y + 10, 2), IndexError, "0..9"),
    (lambda x, y: concepts.make_concept_set(x, y, 2, scale=(1.25, 0.75)), ValueError, "reversed"),
    (lambda x, y: concepts.make_concept_set(x, y, 2, scale=(0, 1)), ValueError, "positive"),
])
def test_make_concept_set_refuses_bad_input(cifar_test, call, error, match):
    x, y = cifar_test[0][:20], cifar_test[1][:20]
    with pytest.raises(error, match=match):
        call(x, y)


def test_concept_set_indexing_and_numpy_counts(scenes, cifar_test):
    assert len(scenes[np.int64(2)]) == 1 and len(scenes[-1]) == 1
    assert torch.equal(scenes[3].images, scenes.images[3:4])
    with pytest.raises(IndexError, match="8 scenes"):
        scenes[8]
    x, y = cifar_test[0][:20], cifar_test[1][:20]
    assert len(concepts.make_concept_set(x, y, np.int64(2), size=np.int64(48), seed=1)) == 2


def test_lower_class_score_in_batches_is_the_same(vgg, data):
    x, y = data
    whole = D.lower_class_score(vgg, x[:6], y[:6], eps=4 / 255, steps=2)
    parts = D.lower_class_score(vgg, x[:6], y[:6].numpy(), eps=4 / 255, steps=2, batch_size=4)
    # per image the same attack; a gradient within rounding of 0 may flip its sign in one batch
    # composition and not in the other, so a few pixels may differ by one step
    assert ((parts - whole).abs() > 1e-6).float().mean() < 0.01
    assert (parts - whole).abs().max() <= 2 * 4 / 255 / 2 + 1e-6
    with pytest.raises(ValueError, match="one class per image"):
        D.lower_class_score(vgg, x[:6], y[:4])
    with pytest.raises(ValueError, match="empty"):
        D.lower_class_score(vgg, x[:0], 3)
