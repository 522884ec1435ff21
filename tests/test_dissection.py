"""Network dissection (lecture_utils.dissection): thresholds, IoU, labels, ablation."""
import pytest
import torch

from lecture_utils import checks, concepts, dissection as D, models


# ---------------------------------------------------------------------------- t_u
def test_threshold_known_answer():
    # one unit whose 1,000 activations are 0, 1, ..., 999 over 10 images x 10 x 10 positions
    acts = torch.arange(1000.0)[torch.randperm(1000)].view(10, 1, 10, 10)
    t = D.unit_thresholds(acts, 0.01)
    assert t.tolist() == [989.0]                        # exactly 10 values (1%) lie above t_u
    assert (acts > t).float().mean() == pytest.approx(0.01)
    assert D.unit_thresholds(acts, 0.05).tolist() == [949.0]


def test_threshold_is_argmax_definition():
    g = torch.Generator().manual_seed(0)
    acts = torch.randn(13, 3, 7, 7, generator=g)
    t = D.unit_thresholds(acts, 0.01)
    for u in range(3):
        values = acts[:, u].flatten()
        frac_above = (values > t[u]).float().mean()
        assert frac_above >= 0.01                        # P[a > t_u] >= 1% ...
        larger = values[values > t[u]]
        # ... and no larger observed t has it
        assert (values > larger.min()).float().mean() < 0.01


def test_streaming_threshold_equals_in_memory():
    g = torch.Generator().manual_seed(1)
    acts = torch.randn(40, 5, 6, 6, generator=g).relu()
    tq = D.TopQuantile(count=40 * 36, quantile=0.01)
    for i in range(0, 40, 7):
        tq.update(acts[i:i + 7])
    assert torch.equal(tq.thresholds(), D.unit_thresholds(acts, 0.01))
    half = D.TopQuantile(count=40 * 36)
    half.update(acts[:20])
    with pytest.raises(ValueError, match="seen"):
        half.thresholds()
    with pytest.raises(ValueError, match="quantile"):
        D.TopQuantile(10, 1.5)


# ---------------------------------------------------------------------------- upsampling, IoU
def test_upsample_is_bilinear():
    a = torch.tensor([[0.0, 1.0], [2.0, 3.0]]).view(1, 1, 2, 2)
    up = D.upsample_units(a, 4)
    assert up.shape == (1, 1, 4, 4)
    assert up[0, 0, 0, 0] == 0 and up[0, 0, -1, -1] == 3
    # half-pixel centres: output pixel i samples the input at (i + 0.5) / 2 - 0.5, and a = x + 2y
    assert torch.allclose(up[0, 0, 1, 1:3], torch.tensor([0.75, 1.25]))
    assert D.upsample_units(a, (2, 2)) is a
    # one convention per function: cam.upsample resizes one map per image, [N, h, w]
    from lecture_utils import cam
    assert torch.equal(cam.upsample(a[:, 0], 4), up[:, 0])


def test_iou_known_answers():
    region = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    region[0, 0, :2, :2] = True                          # 4 pixels in image 0
    masks = torch.zeros(2, 3, 4, 4, dtype=torch.bool)
    masks[0, 0, :2, :] = True                            # concept 0: 8 pixels, contains the region
    masks[1, 1, :2, :2] = True                           # concept 1: only in image 1 (disjoint)
    masks[0, 2, :2, :2] = True                           # concept 2: exactly the region
    masks[1, 2, :, :] = True                             # ... and all of image 1 (16 more)
    out = D.iou(region, masks)
    assert out.shape == (1, 3)
    assert torch.allclose(out, torch.tensor([[4 / 8, 0.0, 4 / 20]]))   # summed over the dataset


def test_iou_matches_torchmetrics_jaccard():
    """IoU_{u,c} summed over the dataset is the binary Jaccard index of the flattened masks."""
    from torchmetrics.functional.classification import binary_jaccard_index
    g = torch.Generator().manual_seed(3)
    regions = torch.rand(6, 3, 7, 7, generator=g) > 0.6
    masks = torch.rand(6, 4, 7, 7, generator=g) > torch.linspace(0.2, 0.9, 4).view(1, 4, 1, 1)
    out = D.iou(regions, masks)
    for u in range(3):
        for c in range(4):
            ref = binary_jaccard_index(regions[:, u].flatten().long(), masks[:, c].flatten().long())
            assert float(out[u, c]) == pytest.approx(float(ref), abs=1e-6)


def test_iou_tally_sums_batches():
    g = torch.Generator().manual_seed(2)
    regions = torch.rand(9, 4, 5, 5, generator=g) > 0.7
    masks = torch.rand(9, 6, 5, 5, generator=g) > 0.5
    tally = D.IoUTally()
    for i in range(0, 9, 4):
        tally.update(regions[i:i + 4], masks[i:i + 4])
    assert torch.allclose(tally.iou(), D.iou(regions, masks))
    with pytest.raises(ValueError, match="same images"):
        tally.update(regions[:2], masks[:3])


def test_activation_regions_threshold_after_upsampling():
    a = torch.zeros(1, 2, 2, 2)
    a[0, 0, 0, 0] = 10.0
    regions = D.activation_regions(a, torch.tensor([1.0, 1.0]), 8)
    assert regions.shape == (1, 2, 8, 8)
    assert regions[0, 0, 0, 0] and not regions[0, 0, -1, -1] and not regions[0, 1].any()


# ---------------------------------------------------------------------------- dissect
@pytest.fixture(scope="module")
def scene_set(cifar_test):
    x, y = cifar_test
    return concepts.make_concept_set(x, y, 24, seed=0)


class _PlantedUnits(torch.nn.Module):
    """A stand-in network whose unit 0 fires exactly on one object class and unit 1 on the pixels
    named 'white' (activation 1 + noise there, 0 elsewhere). It reads the masks of the images it is
    shown, in order, pass after pass."""

    def __init__(self, cs, cls):
        super().__init__()
        self.cs, self.cls, self.seen = cs, cls, 0
        self.units = torch.nn.Identity()

    def forward(self, x):
        idx = (self.seen + torch.arange(len(x))) % len(self.cs)
        self.seen += len(x)
        obj = self.cs.objects[idx] == self.cls
        white = self.cs.colors[idx] == list(concepts.COLORS).index("white")
        masks = torch.stack([obj, white], 1).float()
        return self.units(masks * (1 + 0.1 * torch.rand(masks.shape)))


def test_dissect_finds_planted_concepts(scene_set):
    cls = int(scene_set.labels[0])
    # with a quantile above both concepts' coverage, t_u = 0 and the region is the concept itself
    res = D.dissect(_PlantedUnits(scene_set, cls), scene_set, ["units"], quantile=0.5,
                    batch_size=8, progress=False)["units"]
    assert res.iou.shape == (2, len(scene_set.concepts))
    assert torch.equal(res.thresholds, torch.zeros(2))
    value, idx = res.best
    assert torch.allclose(value, torch.ones(2))
    assert scene_set.concepts[int(idx[0])] == ("object", concepts.CIFAR10_CLASSES[cls])
    assert scene_set.concepts[int(idx[1])] == ("color", "white")
    # the object's two halves each overlap half of it
    top = scene_set.concepts.index(("part", f"{concepts.CIFAR10_CLASSES[cls]}-top"))
    assert 0.4 < float(res.iou[0, top]) < 0.6
    table = res.labels()
    assert table.detector.all() and list(table.columns) == ["layer", "unit", "concept", "category",
                                                            "iou", "detector"]
    assert D.detector_counts({"units": res}).loc["units", ["object", "color"]].tolist() == [1, 1]


def test_dissect_a_vgg_and_bad_layer(scene_set):
    net = models.vgg(width=4).eval()
    res = D.dissect(net, scene_set, ["relu1_1", "relu4_2"], batch_size=12, progress=False)
    assert res["relu1_1"].iou.shape == (4, len(scene_set.concepts))
    assert res["relu4_2"].thresholds.shape == (32,)
    assert ((res["relu4_2"].iou >= 0) & (res["relu4_2"].iou <= 1)).all()
    counts = D.detector_counts(res)
    assert list(counts.columns[-4:]) == list(concepts.CATEGORIES)
    with pytest.raises(ValueError, match="no layer named 'conv9_9'"):
        D.dissect(net, scene_set, ["conv9_9"], progress=False)
    flat = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 64 * 64, 2))
    with pytest.raises(ValueError, match="feature maps"):
        D.dissect(flat, scene_set[:2], ["1"], progress=False)


def test_detector_flags_closed_form_and_counts(scene_set):
    # two layers, concepts (object a), (color b): IoUs chosen so the flags are known by hand
    cs = [("object", "a"), ("color", "b")]
    one = D.LayerDissection("l1", torch.zeros(3), torch.tensor([[0.50, 0.10], [0.01, 0.03],
                                                                [0.02, 0.20]]), cs)
    two = D.LayerDissection("l2", torch.zeros(2), torch.tensor([[0.05, 0.00], [0.00, 0.04]]), cs)
    res = {"l1": one, "l2": two}
    assert D.detector_flags(res).tolist() == [1, 0, 1, 1, 0]          # 0.04 is not above 0.04
    assert D.detector_flags(res, categories="object").tolist() == [1, 0, 0, 1, 0]
    assert D.detector_flags(res, ["l2"], categories=("color",)).tolist() == [0, 0]
    assert D.detector_flags(res, iou_threshold=0.3).tolist() == [1, 0, 0, 0, 0]
    # the flags' sums are detector_counts' columns
    net = models.vgg(width=4).eval()
    real = D.dissect(net, scene_set, ["relu1_1", "relu4_2"], batch_size=12, progress=False)
    counts = D.detector_counts(real)
    for cat in concepts.CATEGORIES:
        assert D.detector_flags(real, categories=[cat]).sum() == counts[cat].sum()
    assert D.detector_flags(real).sum() == counts["detectors"].sum()
    with pytest.raises(KeyError, match="no dissection"):
        D.detector_flags(res, ["l3"])
    with pytest.raises(ValueError, match="unknown concept categories"):
        D.detector_flags(res, categories=["material"])
    with pytest.raises(ValueError, match="results is empty"):
        D.detector_flags({})


def test_detector_flags_within_categories():
    # a unit whose best concept is a colour still detects an object when counted within objects
    cs = [("object", "a"), ("color", "b")]
    res = {"l": D.LayerDissection("l", torch.zeros(3), torch.tensor([[0.06, 0.20], [0.03, 0.50],
                                                                     [0.30, 0.10]]), cs)}
    assert D.detector_flags(res, categories="object").tolist() == [0, 0, 1]       # Bau's labels
    assert D.detector_flags(res, categories="object", within=True).tolist() == [1, 0, 1]
    assert D.detector_flags(res, categories="color", within=True).tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="name them"):
        D.detector_flags(res, within=True)


def test_top_images_and_highlight():
    acts = torch.zeros(5, 2, 3, 3)
    acts[3, 1, 0, 0], acts[1, 1, 2, 2] = 5.0, 4.0
    assert D.top_images(acts, 1, k=2).tolist() == [3, 1]
    img = torch.full((1, 3, 2, 2), 200, dtype=torch.uint8)
    region = torch.tensor([[[True, False], [False, False]]])
    out = D.highlight_region(img, region, dim=0.5)
    assert out[0, :, 0, 0].tolist() == [200] * 3 and out[0, :, 1, 1].tolist() == [100] * 3


# ---------------------------------------------------------------------------- ablation
def test_ablation_restores_the_model(cifar_test):
    torch.manual_seed(0)
    net = models.vgg(width=4).eval()
    x = cifar_test[0][:16].float() / 255
    before = net(x)
    with D.ablate_units(net, "relu4_2", [0, 3]) as m:
        inside = m(x)
    after = net(x)
    assert torch.equal(before, after) and not torch.equal(before, inside)
    assert all(len(mod._forward_hooks) == 0 for mod in net.modules())
    with pytest.raises(RuntimeError, match="boom"):          # restored on an error, too
        with D.ablate_units(net, "relu4_2", 1):
            raise RuntimeError("boom")
    assert torch.equal(net(x), before)
    with pytest.raises(IndexError, match="does not exist"):
        with D.ablate_units(net, "relu4_2", [99]):
            net(x)
    assert torch.equal(net(x), before)
    with pytest.raises(ValueError, match="no layer named"):
        with D.ablate_units(net, "relu9", [0]):
            pass


def test_ablated_unit_is_zero(cifar_test):
    net = models.vgg(width=4).eval()
    x = cifar_test[0][:4].float() / 255
    from lecture_utils.hooks import capture
    with D.ablate_units(net, "relu3_2", [2]), capture(net.pool3) as rec:
        net(x)
    assert rec.activation[:, 2].abs().max() == 0 and rec.activation[:, 0].abs().max() > 0


def test_ablation_effects_fast_and_generic_paths_agree(cifar_test):
    torch.manual_seed(0)
    net = models.vgg(width=4).eval()
    x, y = cifar_test[0][:200], cifar_test[1][:200]
    fast = D.unit_ablation_effects(net, x, y, "relu4_2", progress=False)
    assert fast.shape == (32, 10)

    class Wrapped(torch.nn.Module):          # not an nn.Sequential: the generic path
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, inp):
            return self.net(inp)

    wrapped = Wrapped()                      # in training mode, around a net in eval mode
    slow = D.unit_ablation_effects(wrapped, x, y, "net.relu4_2", units=[0, 5, 31], progress=False)
    assert torch.allclose(fast[[0, 5, 31]], slow)
    assert wrapped.training and not any(m.training for m in net.modules())   # modes given back
    # removing a set of units at once agrees with the per-unit drop for a single unit
    base, acc, both = D.accuracy_with_units_removed(net, x, y, "relu4_2", [[], [5], [0, 5]])
    assert torch.allclose(base - acc, fast[5], atol=1e-6)
    assert torch.equal(D.accuracy_with_units_removed(wrapped, x, y, "net.relu4_2", [[0, 5]])[0],
                       both)
    # the per-image form gives the same per-class accuracies
    preds = D.predictions_with_units_removed(net, x, "relu4_2", [[], [5], [0, 5]])
    assert preds.shape == (3, len(x))
    for p, a in zip(preds, (base, acc, both)):
        assert torch.allclose(D.per_class_accuracy(p, y), a)
    with pytest.raises(ValueError, match="unit_sets"):
        D.predictions_with_units_removed(net, x, "relu4_2", [])
    sets = D.random_units(32, 4, 3, seed=0)
    assert len(sets) == 3 and all(len(set(s)) == 4 for s in sets)


# ---------------------------------------------------------------------------- exercise checks
def test_checks_accept_reference_and_reject_wrong():
    assert checks.check_unit_threshold(D.unit_thresholds) < 1e-6
    assert checks.check_iou(D.iou) < 1e-6

    def per_image_quantile(acts, q):            # quantile per image, then averaged: wrong
        return torch.stack([D.unit_thresholds(acts[i:i + 1], q) for i in range(len(acts))]).mean(0)

    def torch_quantile(acts, q):                 # interpolating quantile: close but not t_u
        return torch.quantile(acts.transpose(0, 1).flatten(1), 1 - q, dim=1)

    for wrong in (per_image_quantile, torch_quantile):
        with pytest.raises(checks.CheckFailed):
            checks.check_unit_threshold(wrong)

    def mean_of_per_image_iou(regions, masks):
        a, s = regions[:, :, None].float(), masks[:, None].float()
        inter, union = (a * s).sum((3, 4)), ((a + s) > 0).float().sum((3, 4))
        return (inter / union.clamp_min(1)).mean(0)

    with pytest.raises(checks.CheckFailed):
        checks.check_iou(mean_of_per_image_iou)


def test_lower_class_score(cifar_test):
    torch.manual_seed(0)
    net = models.vgg(width=4).eval()
    x, y = cifar_test[0][:8].float() / 255, cifar_test[1][:8]
    adv = D.lower_class_score(net, x, y, eps=4 / 255, steps=2)
    assert (adv - x).abs().max() <= 4 / 255 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    before = net(x).gather(1, y[:, None])
    after = net(adv).gather(1, y[:, None])
    assert (after < before).all()

