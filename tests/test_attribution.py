"""The registry and the one call contract: every registered method, on a small model, for every
form of input the contract promises (shapes, dtypes, devices, target forms) and the inputs it
refuses with a clear error. A method added to ``attribution.METHODS`` is tested here for free."""
import numpy as np
import pytest
import torch
from torch import nn

from lecture_utils import attribution, localization
from lecture_utils.canvas import benchmark_canvases

N, SIDE = 2, 16
DETERMINISTIC = [n for n in attribution.METHOD_ORDER if n != "random"]


@pytest.fixture(scope="module")
def methods():
    return attribution.course_methods("layer3", "fc", n_segments=4, lime_samples=24,
                                      shap_samples=24, occlusion_window=4, occlusion_stride=4)


@pytest.fixture(scope="module")
def x():
    return torch.rand(N, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(1))


def _no_hooks(model):
    return all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks
               for m in model.modules())


def _tol(name):
    # LIME and Kernel SHAP fit float64 least squares on float32 model outputs: their weights carry
    # the outputs' rounding, amplified by the fit's conditioning.
    return dict(rtol=1e-3, atol=1e-4) if name in ("LIME", "Kernel SHAP") else dict(rtol=1e-4,
                                                                                    atol=1e-6)


def test_registry_names_and_metadata():
    assert attribution.METHOD_ORDER == ("gradient", "deconvnet", "guided backprop", "occlusion",
                                        "LIME", "CAM", "Grad-CAM", "guided Grad-CAM", "Kernel SHAP",
                                        "Deep SHAP", "edge detector", "random")
    assert attribution.MODEL_INDEPENDENT == ("edge detector", "random")
    assert set(attribution.PER_IMAGE) == {"occlusion", "LIME", "Kernel SHAP"}
    assert list(attribution.course_methods()) == list(attribution.METHOD_ORDER)
    assert "CAM" not in attribution.course_methods(fc=None)
    assert list(attribution.course_methods(include=["CAM", "gradient"])) == ["gradient", "CAM"]
    assert "Deep SHAP" not in attribution.course_methods(exclude=["Deep SHAP"])
    with pytest.raises(ValueError, match="unknown methods"):
        attribution.course_methods(include=["SmoothGrad"])
    with pytest.raises(ValueError, match="unknown methods"):
        attribution.course_methods(exclude=["saliency"])       # the old name of "gradient"


@pytest.mark.parametrize("name", attribution.METHOD_ORDER)
def test_contract_shape_dtype_device(name, net, methods, x):
    spec = attribution.METHODS[name]
    out = methods[name](net, x, 3)
    assert isinstance(out, torch.Tensor) and out.device == x.device
    assert out.dtype == torch.float32
    if spec.per_channel:
        assert out.shape == x.shape, name
    else:
        assert out.dim() == 3 and len(out) == N, (name, out.shape)
    assert torch.isfinite(out).all(), name
    assert _no_hooks(net), name
    heat = attribution.maps_for(net, x, 3, {name: methods[name]})[name]
    assert heat.shape == (N, SIDE, SIDE) and heat.device == x.device


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_contract_target_forms_agree(name, net, methods, x):
    m = methods[name]
    want = m(net, x, torch.tensor([3, 5]))
    for target in ([3, 5], (3, 5), np.array([3, 5]), torch.tensor([3, 5], dtype=torch.int32),
                   [np.int64(3), np.int64(5)]):
        torch.testing.assert_close(m(net, x, target), want, **_tol(name), msg=f"{name} {target!r}")
    same = m(net, x, 4)
    for target in (np.int64(4), torch.tensor(4), torch.tensor([4]), [4, 4]):
        torch.testing.assert_close(m(net, x, target), same, **_tol(name), msg=f"{name} {target!r}")


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_contract_uint8_and_float64_input(name, net, methods, x):
    m = methods[name]
    u8 = (x * 255).round().to(torch.uint8)
    want = m(net, u8.float() / 255, 1)
    torch.testing.assert_close(m(net, u8, 1), want, **_tol(name))
    out64 = m(net, (u8.float() / 255).double(), 1)
    assert out64.dtype == torch.float32                    # converted to the model's dtype
    torch.testing.assert_close(out64, want, **_tol(name))


@pytest.mark.parametrize("name", attribution.METHOD_ORDER)
def test_contract_refuses_bad_input_clearly(name, net, methods, x):
    m = methods[name]
    bad = x.clone()
    bad[0, 1, 2, 3] = float("nan")
    cases = [
        (ValueError, "NaN or infinite", (net, bad, 1)),
        (ValueError, "NaN or infinite", (net, x.clone().fill_(float("inf")), 1)),
        (ValueError, "channels", (net, x[:, :1], 1)),
        (ValueError, "alpha channel", (net, torch.cat([x, x[:, :1]], 1), 1)),
        (ValueError, "unsqueeze", (net, x[0], 1)),
        (ValueError, "empty batch", (net, x[:0], 1)),
        (ValueError, r"\[N, C, H, W\]", (net, x.flatten(1), 1)),
        (TypeError, "torch.Tensor", (net, x.numpy(), 1)),
        (TypeError, "dtype", (net, x.to(torch.int32), 1)),
        (IndexError, "out of range", (net, x, -1)),
        (TypeError, "integer class indices", (net, x, torch.tensor([1.0, 2.0]))),
        (TypeError, "target must be", (net, x, 1.5)),
        (TypeError, "target must be", (net, x, True)),
        (TypeError, "target is None", (net, x, None)),
        (ValueError, "entries for a batch", (net, x, [1, 2, 3])),
        (TypeError, "nn.Module", (lambda t: t, x, 1)),
    ]
    if name not in attribution.MODEL_INDEPENDENT:
        cases.append((IndexError, "out of range", (net, x, 10)))
    for error, match, args in cases:
        with pytest.raises(error, match=match):
            m(*args)
        assert _no_hooks(net), (name, match)
    with pytest.raises(TypeError, match="keyword-only"):
        m(net, x, 1, "layer3")


class _Broken(nn.Module):
    """A ResNet-GAP whose output is NaN (a diverged training)."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.normalize, self.layer3, self.fc = net.normalize, net.layer3, net.fc

    def forward(self, x):
        return self.net(x) * float("nan")


@pytest.mark.parametrize("name", [n for n in attribution.METHOD_ORDER
                                  if n not in attribution.MODEL_INDEPENDENT])
def test_contract_refuses_non_finite_model_outputs(name, net, x):
    broken = _Broken(net).eval()
    m = attribution.course_methods("net.layer3", "net.fc", n_segments=4, lime_samples=24,
                                   shap_samples=24, occlusion_window=4, occlusion_stride=4,
                                   include=[name])[name]
    with pytest.raises(ValueError, match="model's output holds NaN"):
        m(broken, x, 1)
    assert _no_hooks(broken)


def test_methods_batch_large_inputs_the_same(net, methods, x, monkeypatch):
    """The contract runs a large x in batches (batching.batch_size_for): the same maps."""
    whole = {n: methods[n](net, x, [1, 2]) for n in ("gradient", "Grad-CAM", "occlusion")}
    monkeypatch.setenv("LECTURE_BATCH_SIZE", "1")
    for n, want in whole.items():
        torch.testing.assert_close(methods[n](net, x, [1, 2]), want)


def test_course_methods_run_in_the_localization_benchmark(net, methods, cifar_test):
    canvases = benchmark_canvases("test", n=16)[:4]
    few = {k: methods[k] for k in ("CAM", "Grad-CAM", "guided backprop", "random")}
    table, results = localization.benchmark(net, canvases, few)
    assert list(table.index) == list(few)
    assert table["pointing game (%)"].between(0, 100).all()
    assert _no_hooks(net)


def test_random_map_is_reproducible(net):
    a, b = attribution.random_map(seed=3), attribution.random_map(seed=3)
    x = torch.zeros(2, 3, 64, 64)
    assert torch.equal(a(net, x, 0), b(net, x, 0))
    assert not torch.equal(a(net, x, 0), a(net, x, 0))            # fresh noise every batch
