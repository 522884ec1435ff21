"""The explorers' pure functions, their static figures, and the widgets built without a kernel
(tiny untrained models: fast). Also the course's methods in one call shape (attribution.py)."""
import matplotlib
import pytest
import torch

from lecture_utils import (attribution, calibration, dissection, explorers, models, occlusion,
                           shapley)

matplotlib.use("Agg")
pytest.importorskip("ipywidgets")


@pytest.fixture(scope="module")
def images():
    return torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def methods():
    return attribution.course_methods("layer3", "fc", n_segments=4, lime_samples=24,
                                      shap_samples=24, occlusion_window=4, occlusion_stride=4)


# --------------------------------------------------------------------------------------------
# attribution.py
# --------------------------------------------------------------------------------------------
def test_course_methods_names_and_errors():
    assert list(attribution.course_methods()) == list(attribution.METHOD_ORDER)
    assert "CAM" not in attribution.course_methods(fc=None)
    assert list(attribution.course_methods(include=["CAM", "gradient"])) == ["gradient", "CAM"]
    assert "Deep SHAP" not in attribution.course_methods(exclude=["Deep SHAP"])
    with pytest.raises(ValueError, match="unknown methods"):
        attribution.course_methods(include=["SmoothGrad"])


def test_every_method_gives_a_finite_map(net, images, methods):
    maps = attribution.maps_for(net, images[:1], 3, methods)
    assert list(maps) == list(methods)
    for name, m in maps.items():
        assert m.shape == (1, 16, 16), name
        assert torch.isfinite(m).all(), name


def test_deep_shap_map_adds_up(net, images):
    """Local accuracy: the pixel map sums to f_c(x) - f_c(baseline)."""
    b = images[2:3] * 0 + 0.5
    m = shapley.deep_shap_map(net, images[:2], 1, background=b)
    with torch.no_grad():
        want = net(images[:2])[:, 1] - net(b)[:, 1]
    torch.testing.assert_close(m.sum((1, 2)), want, rtol=1e-4, atol=1e-5)


def test_edge_map_ignores_model_and_class(net, images):
    a = attribution.edge_map(net, images, 0)
    torch.testing.assert_close(a, attribution.edge_map(models.vgg(width=2), images, 7))
    flat = attribution.edge_map(net, torch.full((1, 3, 8, 8), 0.4), 0)
    assert flat.abs().max() < 1e-6                                     # no edges, no map


def test_occlusion_map_is_a_probability_drop(net, images):
    m = occlusion.occlusion_map(net, images[:1], 2, window=4, stride=4)
    assert m.shape == (1, 4, 4)
    assert (m.abs() <= 1).all()


# --------------------------------------------------------------------------------------------
# (a) every method side by side
# --------------------------------------------------------------------------------------------
def test_attribution_maps_and_grid(net, images, methods):
    few = {k: methods[k] for k in ("gradient", "Grad-CAM", "edge detector")}
    maps = explorers.attribution_maps(net, images[0], 4, few)
    assert list(maps) == list(few) and all(m.shape == (16, 16) for m in maps.values())
    with pytest.raises(ValueError, match="one image"):
        explorers.attribution_maps(net, images, 4, few)
    fig = explorers.attribution_grid(net, images[:2], torch.tensor([1, 2]), few,
                                     labels=torch.tensor([1, 2]))
    assert len([a for a in fig.axes if a.get_images()]) >= 2 * 4


def test_attribution_explorer_without_kernel(net, images, methods):
    few = {k: methods[k] for k in ("gradient", "CAM")}
    ex = explorers.attribution_explorer(net, images, few, labels=torch.tensor([1, 2, 3]))
    assert ex.renders == 1 and ex.values == {"image": 0, "target": 1}
    ex.set(image=2)
    ex.set(target=5)
    assert ex.renders == 3 and ex.values == {"image": 2, "target": 5}
    assert "map of: dog" in ex.figure.axes[0].get_title()
    with pytest.raises(KeyError, match="no control"):
        ex.set(layer="layer3")


# --------------------------------------------------------------------------------------------
# (b) the layer of Grad-CAM
# --------------------------------------------------------------------------------------------
def test_grad_cam_layers(net, images):
    layers = ["layer1", "layer2", "layer3"]
    maps = explorers.grad_cam_layers(net, images, 0, layers)
    assert all(maps[layer].shape == (3, 16, 16) for layer in layers)
    assert [explorers.native_resolution(net, images[0], layer) for layer in layers] == [
        (16, 16), (8, 8), (4, 4)]
    fig = explorers.gradcam_layer_grid(net, images[:2], 0, layers)
    assert "layer3 (4x4)" in [a.get_title() for a in fig.axes]
    ex = explorers.gradcam_layer_explorer(net, images, layers)
    assert ex.values["layer"] == "layer3"
    ex.set(layer="layer1")
    assert "layer1: 16x16" in ex.figure.axes[1].get_title()


# --------------------------------------------------------------------------------------------
# (c) LIME's K and kernel width
# --------------------------------------------------------------------------------------------
class _LinearGame:
    """v(z') = 3 z'_0 - 2 z'_1 + z'_2: K-LASSO must pick these features, the largest first."""
    M = 6

    def __call__(self, Z):
        return Z.double() @ torch.tensor([3.0, -2.0, 1.0, 0.0, 0.0, 0.0], dtype=torch.float64)


def test_lime_fits_respect_k():
    fits = explorers.lime_fits(_LinearGame(), [1, 2, 3], [0.3, 5.0], n_samples=200)
    for w in (0.3, 5.0):
        assert torch.nonzero(fits[(1, w)].weights).flatten().tolist() == [0]
        assert torch.nonzero(fits[(2, w)].weights).flatten().tolist() == [0, 1]
        torch.testing.assert_close(fits[(3, w)].weights[:3].float(), torch.tensor([3.0, -2.0, 1.0]))
    with pytest.raises(ValueError, match="positive"):
        explorers.lime_fits(_LinearGame(), [1], [0.0], n_samples=40)


def test_lime_game_runs_the_model_once(net, images):
    seg = torch.zeros(16, 16, dtype=torch.long)
    seg[:8, 8:], seg[8:, :8], seg[8:, 8:] = 1, 2, 3
    game = explorers.lime_game(net, images[0], 3, seg)
    explorers.lime_fits(game, [1, 4], [0.2, 5.0], n_samples=40)
    assert game.game.evaluations == 40                         # one pass for all four fits
    explorers.lime_fits(game, [3], [1.0], n_samples=40)
    assert game.game.evaluations == 40
    fig = explorers.lime_grid(net, images[0], 3, seg, Ks=(1, 4), widths=(0.3,), n_samples=40)
    assert any("R²" in a.get_title() for a in fig.axes)
    ex = explorers.lime_explorer(net, images[0], 3, seg, n_samples=40)
    ex.set(K=2, width=1.0)
    assert ex.renders == 3 and "K=2" in ex.figure.axes[1].get_title()


# --------------------------------------------------------------------------------------------
# (d) the temperature
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def overconfident():
    """Labels drawn from softmax(z), logits shown as 3 z: calibrated at T = 3 exactly."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4000, 5, generator=g) * 1.5
    y = torch.multinomial(z.softmax(1), 1, generator=g)[:, 0]
    return 3 * z, y


def test_calibration_at_and_curve(overconfident):
    logits, y = overconfident
    r = explorers.calibration_at(logits, y, 1.0)
    assert r["ECE"] == pytest.approx(calibration.expected_calibration_error(logits.softmax(1), y))
    curve = explorers.ece_curve(logits, y, [1.0, 2.0, 3.0, 4.5])
    assert curve["NLL"].idxmin() == 3.0 and curve["ECE"].idxmin() == 3.0
    assert explorers.calibration_at(logits, y, 3.0)["ECE"] < 0.03 < r["ECE"]
    fig = explorers.temperature_grid(logits, y)
    assert len(fig.axes) >= 5
    ex = explorers.temperature_explorer(logits, y)
    ex.set(T=3.0)
    assert "T = 3.00" in ex.figure.axes[0].get_title()


# --------------------------------------------------------------------------------------------
# (e) the unit for dissection
# --------------------------------------------------------------------------------------------
def test_unit_view_closed_form():
    acts = torch.zeros(4, 2, 2, 2)
    acts[2, 0, 0, 0], acts[0, 0, 1, 1], acts[3, 0, 0, 1] = 3.0, 2.0, 1.0
    imgs = torch.full((4, 3, 8, 8), 200, dtype=torch.uint8)
    idx, shown, regions = explorers.unit_view(acts, torch.tensor([1.5, 0.0]), imgs, 0, k=2)
    assert idx.tolist() == [2, 0]
    assert regions[0, 0, 0] and not regions[0, 7, 7] and regions[1, 7, 7]
    assert shown[0, 0, 0, 0] == 200 and shown[0, 0, 7, 7] == 50        # darkened to 1/4
    with pytest.raises(ValueError, match="unit must be"):
        explorers.unit_view(acts, torch.zeros(2), imgs, 2)


def test_dissection_explorer(net, images):
    acts, t = explorers.layer_units(net, "layer2", images)
    assert acts.shape == (3, 8, 8, 8) and t.shape == (8,)
    fig = explorers.unit_grid(acts, t, images, [0, 3], k=2)
    assert len(fig.axes) == 4
    ex = explorers.dissection_explorer(net, "layer2", images, k=2)
    ex.set(unit=5)
    assert ex.figure._suptitle.get_text() == "unit 5"
    iou = torch.zeros(8, 2)
    iou[5, 1] = 0.3
    res = dissection.LayerDissection("layer2", t, iou, [("color", "red"), ("object", "cat")])
    ex = explorers.dissection_explorer(net, "layer2", images, result=res, k=2)
    assert ex.values["unit"] == 5                                     # best unit first
    assert "cat (object), IoU 0.300" in ex.figure._suptitle.get_text()
