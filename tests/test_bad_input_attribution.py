"""The gradient methods, the deconvnet, occlusion, layer activations and the evaluation functions
on bad and degenerate inputs (issue 13): a clear error that says what to do, or the right result.
The registered methods' contract is tried in ``test_attribution.py``; this covers the other
public functions and the kinds of input around the issue's list."""
import numpy as np
import pytest
import torch

from lecture_utils import (backprop, deconvnet, faithfulness, localization, models, occlusion,
                           representations)
from lecture_utils.canvas import CanvasSet


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return models.vgg(width=2).eval()


@pytest.fixture(scope="module")
def x():
    return torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))


def _frozen_state(model):
    return [p.requires_grad for p in model.parameters()]


# --------------------------------------------------------------------------------------------
# Class model visualization: every option checked before the model is touched
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, error, match", [
    (dict(lr=-1), ValueError, "lr"),
    (dict(lr=0), ValueError, "lr"),
    (dict(lr=float("nan")), ValueError, "lr"),
    (dict(image_size=-1), ValueError, "image_size"),
    (dict(image_size=(32, 0)), ValueError, "image_size"),
    (dict(image_size=(32, 32, 3)), ValueError, "image_size"),
    (dict(steps=-5), ValueError, "steps"),
    (dict(steps=2.5), TypeError, "steps"),
    (dict(weight_decay=-1), ValueError, "weight_decay"),
    (dict(weight_decay=float("nan")), ValueError, "weight_decay"),
    (dict(objective="score"), ValueError, "logit"),
    (dict(optimizer="lbfgs"), ValueError, "optimizer"),
    (dict(channels=0), ValueError, "channels"),
])
def test_class_model_visualization_checks_first_and_unfreezes(vgg, options, error, match):
    before = _frozen_state(vgg)
    with pytest.raises(error, match=match):
        backprop.class_model_visualization(vgg, 1, **options)
    assert _frozen_state(vgg) == before


def test_class_model_visualization_targets(vgg):
    before = _frozen_state(vgg)
    for target, err in ((10, IndexError), (-1, IndexError), (1.0, TypeError), (None, TypeError)):
        with pytest.raises(err):
            backprop.class_model_visualization(vgg, target, steps=1)
        assert _frozen_state(vgg) == before
    one = backprop.class_model_visualization(vgg, np.int64(3), steps=np.int64(2))
    assert one.shape == (3, 32, 32)
    two = backprop.class_model_visualization(vgg, [3, 4], steps=2, image_size=np.int64(32))
    assert two.shape == (2, 3, 32, 32)
    zero = backprop.class_model_visualization(vgg, 3, steps=0)
    torch.testing.assert_close(zero, vgg.normalize.mean[0].expand(3, 32, 32))


# --------------------------------------------------------------------------------------------
# The deconvnet: projections and top activations
# --------------------------------------------------------------------------------------------
def test_project_unit_indices(vgg, x):
    with pytest.raises(IndexError, match="negative"):
        deconvnet.project_unit(vgg, x, "conv2_1", 0, position=(-1, -1))
    with pytest.raises(IndexError, match="outside"):
        deconvnet.project_unit(vgg, x, "conv2_1", 0, position=(16, 0))
    with pytest.raises(IndexError, match="out of range"):
        deconvnet.project_unit(vgg, x, "conv2_1", -1)
    with pytest.raises(TypeError, match="position"):
        deconvnet.project_unit(vgg, x, "conv2_1", 0, position=(1.5, 2.0))
    with pytest.raises(ValueError, match="rows"):
        deconvnet.project_unit(vgg, x, "conv2_1", 0, position=torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="feature maps"):
        deconvnet.project_unit(vgg, x, "fc1", 0)
    with pytest.raises(ValueError, match="NaN"):
        deconvnet.project_unit(vgg, x * float("nan"), "conv2_1", 0)
    with pytest.raises(ValueError, match="empty"):
        deconvnet.project_unit(vgg, x[:0], "conv2_1", 0)
    r = deconvnet.project_unit(vgg, (x * 255).to(torch.uint8), "conv2_1", np.int64(1),
                               position=(np.int64(3), 4))
    assert r.shape == x.shape and r.dtype == torch.float32


def test_top_activations_degenerate(vgg, x):
    with pytest.raises(ValueError, match="empty"):
        deconvnet.top_activations(vgg, x[:0], "relu2_1", [0])
    with pytest.raises(ValueError, match="units is empty"):
        deconvnet.top_activations(vgg, x, "relu2_1", [])
    with pytest.raises(IndexError, match="negative"):
        deconvnet.top_activations(vgg, x, "relu2_1", [-1])
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        deconvnet.top_activations(vgg, x, "relu2_1", [0], batch_size=0)
    with pytest.raises(ValueError, match="k must be at least 1"):
        deconvnet.top_activations(vgg, x, "relu2_1", [0], k=0)
    top = deconvnet.top_activations(vgg, x, "relu2_1", np.array([0, 1]), k=np.int64(5))
    assert top.index.shape == (2, 2)                   # k larger than the images: all of them


# --------------------------------------------------------------------------------------------
# Occlusion
# --------------------------------------------------------------------------------------------
def test_occlusion_degenerate(vgg, x):
    with pytest.raises(ValueError, match="empty batch"):
        occlusion.occlusion_sensitivity(vgg, x[:0], 1)
    with pytest.raises(IndexError, match="out of range"):
        occlusion.occlusion_activation(vgg, x, layer="relu3_1", unit=-1)
    with pytest.raises(IndexError, match="out of range"):
        occlusion.occlusion_activation(vgg, x, layer="relu3_1", unit=10_000)
    with pytest.raises(ValueError, match="window must be at least 1"):
        occlusion.occlusion_sensitivity(vgg, x, 1, window=0)
    with pytest.raises(TypeError, match="stride must be an int"):
        occlusion.occlusion_sensitivity(vgg, x, 1, stride=2.0)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        occlusion.occlusion_sensitivity(vgg, x, 1, batch_size=0)
    with pytest.raises(ValueError, match="fill"):
        occlusion.occlusion_sensitivity(vgg, x, 1, fill=[0.5, 0.5])
    with pytest.raises(ValueError, match="NaN"):
        occlusion.occlusion_sensitivity(vgg, x, 1, fill=float("nan"))
    with pytest.raises(ValueError, match="output"):
        occlusion.occlusion_sensitivity(vgg, x, 1, output="prob")
    m = occlusion.occlusion_sensitivity(vgg, x[:1], np.int64(1), window=np.int64(16),
                                        stride=np.int64(16), fill=[0.1, 0.2, 0.3])
    assert m.shape == (1, 2, 2) and ((m >= 0) & (m <= 1)).all()


# --------------------------------------------------------------------------------------------
# Layer activations
# --------------------------------------------------------------------------------------------
def test_layer_activations_forms(vgg, x):
    one = representations.layer_activations(vgg, x, "relu2_1")
    both = representations.layer_activations(vgg, x, ["relu2_1", "relu3_1"])
    torch.testing.assert_close(both["relu2_1"], one)
    torch.testing.assert_close(representations.layer_activations(vgg, x, vgg.relu2_1), one)
    u8 = (x * 255).round().to(torch.uint8)
    torch.testing.assert_close(representations.layer_activations(vgg, u8, "relu2_1"),
                               representations.layer_activations(vgg, u8.float() / 255, "relu2_1"))
    with pytest.raises(ValueError, match="layers is empty"):
        representations.layer_activations(vgg, x, [])
    with pytest.raises(ValueError, match="no layer named"):
        representations.layer_activations(vgg, x, "relu9")
    with pytest.raises(ValueError, match="empty batch"):
        representations.layer_activations(vgg, x[:0], "relu2_1")
    with pytest.raises(ValueError, match="batch_size"):
        representations.layer_activations(vgg, x, "relu2_1", batch_size=0)
    with pytest.raises(ValueError, match="unsqueeze"):
        representations.layer_activations(vgg, x[0], "relu2_1")
    # a plain string is one layer, not a sequence of one-letter names
    out = dict(zip(["relu2_1"], representations.iter_layer_activations(vgg, "relu2_1", x)))
    assert out


# --------------------------------------------------------------------------------------------
# Deletion / insertion and the localization benchmark
# --------------------------------------------------------------------------------------------
def test_faithfulness_degenerate(vgg, x):
    sal = torch.rand(2, 32, 32)
    with pytest.raises(ValueError, match="empty batch"):
        faithfulness.perturbation_curves(vgg, x[:0], 1, sal[:0])
    with pytest.raises(ValueError, match="NaN"):
        faithfulness.perturbation_curves(vgg, x, 1, sal * float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        faithfulness.perturbation_curves(vgg, x * float("nan"), 1, sal)
    with pytest.raises(TypeError, match="saliency"):
        faithfulness.perturbation_curves(vgg, x, 1, sal.numpy())
    with pytest.raises(ValueError, match="batch_size"):
        faithfulness.perturbation_curves(vgg, x, 1, sal, batch_size=0)
    with pytest.raises(TypeError, match="steps"):
        faithfulness.perturbation_curves(vgg, x, 1, sal, steps=4.0)
    with pytest.raises(ValueError, match="output"):
        faithfulness.perturbation_curves(vgg, x, 1, sal, output="prob")
    with pytest.raises(ValueError, match="substrate"):
        faithfulness.perturbation_curves(vgg, x, 1, sal, substrate_kind=float("inf"))
    c = faithfulness.perturbation_curves(vgg, (x * 255).to(torch.uint8), np.int64(1), sal,
                                         steps=np.int64(2))
    assert c.shape == (2, 3)


def test_localization_degenerate(vgg):
    cs = CanvasSet(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.tensor([1, 2]),
                   torch.tensor([[0, 0, 8, 8], [4, 4, 12, 12]]),
                   torch.zeros(2, 32, 32, dtype=torch.bool), torch.zeros(2, dtype=torch.long),
                   torch.zeros(2, dtype=torch.long))
    flat = localization.evaluate_method(vgg, cs, lambda m, x, t: torch.zeros(len(x), 32, 32))
    assert flat.empty.all() and not flat.hit.any() and (flat.energy == 0).all()
    with pytest.raises(ValueError, match="batch_size"):
        localization.correct_predictions(vgg, cs, batch_size=0)
    with pytest.raises(ValueError, match=r"\[N, h, w\]"):
        localization.evaluate_method(vgg, cs, lambda m, x, t: torch.zeros(len(x)))
