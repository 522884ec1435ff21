"""LIME and SP-LIME (lecture_utils.lime) against closed forms, scikit-learn and the ``lime``
package."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from lecture_utils import checks
from lecture_utils import lime as L
from lecture_utils.checks import CheckFailed


class RegionNet(nn.Module):
    """Two-class "model" that scores the mean brightness inside a fixed pixel mask only."""

    def __init__(self, mask: torch.Tensor, scale: float = 8.0):
        super().__init__()
        self.register_buffer("mask", mask.float())
        self.scale = scale
        self.dummy = nn.Parameter(torch.zeros(()))       # gives the model a device

    def forward(self, x):
        s = (x * self.mask).sum((1, 2, 3)) / (3 * self.mask.sum()) * self.scale
        return torch.stack([-s, s], 1) + self.dummy


class TinyConv(nn.Module):
    """A small fixed random CNN whose class probabilities vary strongly with the input."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                 nn.Flatten(), nn.Linear(32, 4))
        with torch.no_grad():
            self.net[-1].weight.mul_(20)

    def forward(self, x):
        return self.net(x)


def grid_segments(h=32, w=32, n=4):
    rows = torch.arange(h) * n // h
    cols = torch.arange(w) * n // w
    return rows[:, None] * n + cols[None, :]                  # n x n blocks, labels 0..n^2-1


def test_superpixels_are_sequential_labels(cifar_image):
    for method, kw in (("slic", {"n_segments": 12}),
                       ("quickshift", {"kernel_size": 1, "max_dist": 6}),
                       ("felzenszwalb", {"scale": 20, "min_size": 10})):
        seg = L.superpixels(cifar_image, method, **kw)
        assert seg.shape == (32, 32) and seg.dtype == torch.int64
        assert torch.equal(torch.unique(seg), torch.arange(int(seg.max()) + 1))
    with pytest.raises(ValueError, match="quickshift"):
        L.superpixels(cifar_image, "watershed")


@pytest.fixture(scope="module")
def cifar_image():
    torch.manual_seed(0)
    x = torch.rand(3, 32, 32)
    x[:, 8:24, 8:24] *= 0.3                                   # some structure for the segmenters
    return x


def test_proximity_and_cosine_distance_closed_forms():
    d = torch.tensor([0.0, 0.5, 1.0])
    assert torch.allclose(L.proximity(d, 0.5), torch.exp(-torch.tensor([0.0, 1.0, 4.0])).double())
    Z = torch.tensor([[1.0, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]])
    assert torch.allclose(L.cosine_distance(Z), torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    from sklearn.metrics.pairwise import cosine_distances
    Z = (torch.rand(20, 7) < 0.5).float()
    Z[:, 0] = 1
    assert np.allclose(L.cosine_distance(Z).numpy(),
                       cosine_distances(Z.numpy(), np.ones((1, 7)))[:, 0])


def test_l2_distance_equals_the_pixel_distance(cifar_image):
    seg = grid_segments(n=3)
    base = torch.full_like(cifar_image, 0.2)
    energy = torch.zeros(9, dtype=torch.float64).index_add_(
        0, seg.reshape(-1), ((cifar_image - base) ** 2).sum(0).reshape(-1).double())
    Z = (torch.rand(6, 9) < 0.5).float()
    images = base + Z[:, seg][:, None] * (cifar_image - base)
    want = (images - cifar_image).flatten(1).norm(dim=1) / (base - cifar_image).norm()
    assert torch.allclose(L.l2_distance(Z, energy).float(), want, atol=1e-5)


@pytest.mark.parametrize("ridge", [0.0, 1.0])
def test_weighted_least_squares_equals_sklearn_ridge(ridge):
    from sklearn.linear_model import LinearRegression, Ridge
    g = torch.Generator().manual_seed(0)
    Z = (torch.rand(100, 6, generator=g) < 0.5).double()
    y = (Z @ torch.randn(6, generator=g, dtype=torch.float64)
         + 0.1 * torch.randn(100, generator=g, dtype=torch.float64))
    p = torch.rand(100, generator=g, dtype=torch.float64)
    w, b, score = L.weighted_least_squares(Z, y, p, ridge)
    reg = (Ridge(alpha=ridge) if ridge else LinearRegression()).fit(Z.numpy(), y.numpy(),
                                                                    sample_weight=p.numpy())
    assert np.allclose(w.numpy(), reg.coef_, atol=1e-8) and math.isclose(b, reg.intercept_,
                                                                         abs_tol=1e-8)
    assert math.isclose(score, reg.score(Z.numpy(), y.numpy(), sample_weight=p.numpy()),
                        abs_tol=1e-10)


def test_k_lasso_keeps_k_features():
    g = torch.Generator().manual_seed(1)
    Z = (torch.rand(300, 10, generator=g) < 0.5).double()
    true = torch.tensor([3.0, 0, 0, -2.0, 0, 0, 0, 1.0, 0, 0], dtype=torch.float64)
    y = Z @ true + 0.05 * torch.randn(300, generator=g, dtype=torch.float64)
    w, _, score = L.k_lasso(Z, y, torch.ones(300), num_features=3)
    assert set(torch.nonzero(w).flatten().tolist()) == {0, 3, 7}
    assert torch.allclose(w, true, atol=0.05) and score > 0.99
    with pytest.raises(ValueError, match="num_features"):
        L.k_lasso(Z, y, torch.ones(300), num_features=0)


def test_sample_coalitions_follow_the_lime_package():
    Z = L.sample_coalitions(50, 7, seed=3)
    assert torch.all(Z[0] == 1)
    rs = np.random.RandomState(3)
    want = rs.randint(0, 2, 50 * 7).reshape(50, 7)
    assert np.array_equal(Z[1:].numpy(), want[1:])
    U = L.sample_coalitions(50, 7, seed=3, scheme="uniform_size")
    assert torch.all(U[0] == 1) and torch.all(U[1:].sum(1) < 7)


def _lime_image(model, image, segments, target, num_samples, seed, num_features, hide_color=None,
                feature_selection="lasso_path"):
    from lime import lime_image

    def classifier(imgs):
        with torch.no_grad():
            return model(torch.from_numpy(imgs).permute(0, 3, 1, 2).float()).softmax(1).numpy()

    explainer = lime_image.LimeImageExplainer(random_state=seed,
                                              feature_selection=feature_selection)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = explainer.explain_instance(
            image.permute(1, 2, 0).double().numpy(), classifier, labels=(target,), top_labels=None,
            hide_color=hide_color, num_features=num_features, num_samples=num_samples,
            batch_size=100, segmentation_fn=lambda _: segments.numpy(), random_seed=0)
    weights = torch.zeros(int(segments.max()) + 1, dtype=torch.float64)
    for i, w in exp.local_exp[target]:
        weights[i] = w
    return weights, exp.intercept[target], exp.score


@pytest.mark.parametrize("num_features", [5, None])
def test_explain_image_matches_the_lime_package(cifar_image, num_features):
    """Same segments, same samples (same seed), the package's kernel and K-LASSO + Ridge(1)."""
    net = TinyConv().eval()
    seg = L.superpixels(cifar_image, "slic", n_segments=16)
    S = int(seg.max()) + 1
    theirs, intercept, score = _lime_image(net, cifar_image, seg, 2, 300, seed=4,
                                           num_features=num_features or 100_000,
                                           feature_selection=("lasso_path" if num_features
                                                              else "none"))
    ours = L.explain_image(net, cifar_image, 2, seg, n_samples=300, seed=4,
                           num_features=num_features,
                           distance="cosine", kernel_width=0.25 * math.sqrt(2), ridge=1.0,
                           precision="fp32")
    assert ours.weights.shape == (S,)
    assert torch.allclose(ours.weights, theirs, atol=1e-6 * theirs.abs().max().item() + 1e-9)
    assert math.isclose(ours.intercept, intercept, rel_tol=1e-5, abs_tol=1e-9)
    assert math.isclose(ours.score, score, rel_tol=1e-5, abs_tol=1e-9)
    assert ours.top(3) == torch.argsort(-theirs.abs())[:3].tolist()


def test_lime_ranks_the_only_superpixel_the_model_sees_first(cifar_image):
    seg = grid_segments(n=4)
    net = RegionNet(seg == 6).eval()
    for distance in ("l2", "cosine"):
        e = L.explain_image(net, cifar_image, 1, seg, n_samples=200, seed=0, baseline=0.0,
                            distance=distance)
        assert e.top(1) == [6]
        others = e.weights.clone()
        others[6] = 0
        assert others.abs().max() < 1e-6 * e.weights[6]
        assert e.score > 0.999
    # with K = 1 the K-LASSO keeps exactly that superpixel
    e = L.explain_image(net, cifar_image, 1, seg, n_samples=200, num_features=1, baseline=0.0)
    assert torch.nonzero(e.weights).flatten().tolist() == [6]
    theirs, _, _ = _lime_image(net, cifar_image, seg, 1, 200, seed=0, num_features=1,
                               hide_color=0.0)
    assert torch.nonzero(theirs).flatten().tolist() == [6]


def test_explanation_fields(cifar_image):
    net = TinyConv().eval()
    seg = grid_segments(n=3)
    e = L.explain_image(net, cifar_image, 0, seg, n_samples=64, keep_samples=True,
                        precision="fp32")
    with torch.no_grad():
        p = net(cifar_image[None]).softmax(1)[0, 0].item()
    assert math.isclose(e.prediction, p, rel_tol=1e-5)
    assert math.isclose(e.local_prediction, e.intercept + e.weights.sum().item(), rel_tol=1e-9)
    assert e.samples.shape == (64, 9) and e.values.shape == (64,)
    assert [i for i, _ in e.as_list(2)] == e.top(2)


def test_explain_image_bad_input(cifar_image):
    net = TinyConv().eval()
    with pytest.raises(ValueError,
                       match=r"segments has shape \(16, 16\) but the image is \(32, 32\)"):
        L.explain_image(net, cifar_image, 0, grid_segments(16, 16))
    with pytest.raises(TypeError, match="integer superpixel labels"):
        L.explain_image(net, cifar_image, 0, grid_segments().float())
    with pytest.raises(ValueError, match="relabel_sequential"):
        L.explain_image(net, cifar_image, 0, grid_segments() * 2)
    as_uint8 = (cifar_image * 255).round().byte()              # uint8 is converted, not refused
    assert torch.allclose(L.explain_image(net, as_uint8, 0, grid_segments(), n_samples=64).weights,
                          L.explain_image(net, as_uint8.float() / 255, 0, grid_segments(),
                                          n_samples=64).weights)
    with pytest.raises(ValueError, match="distance must be"):
        L.explain_image(net, cifar_image, 0, grid_segments(), distance="manhattan")


def _word_model():
    """predict_proba of a fixed bag-of-words logistic model (no data needed)."""
    import re
    vocab = {"God": 2.0, "Jesus": 1.5, "Posting": -3.0, "Host": -1.0, "edu": -0.5}

    def predict_proba(texts):
        s = np.array([sum(vocab.get(w, 0.0) for w in re.findall(r"\w+", t)) for t in texts])
        p = 1 / (1 + np.exp(-s))
        return np.stack([1 - p, p], 1)
    return predict_proba


DOC = ("From: someone@univ.edu\nSubject: Re: faith\nNNTP-Posting-Host: univ.edu\n\n"
       "I believe God loves us and Jesus taught this. Do you believe it?")


def test_explain_text_matches_the_lime_package():
    from lime.lime_text import LimeTextExplainer
    f = _word_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = LimeTextExplainer(random_state=7, feature_selection="lasso_path").explain_instance(
            DOC, f, labels=(1,), num_features=4, num_samples=500)
    ours = L.explain_text(f, DOC, 1, n_samples=500, seed=7, num_features=4, ridge=1.0)
    theirs = dict(exp.as_list(label=1))
    assert [w for w, _ in ours.as_list()] == list(theirs)
    assert np.allclose([v for _, v in ours.as_list()], list(theirs.values()), atol=1e-8)
    assert math.isclose(ours.score, exp.score, rel_tol=1e-6)
    # with the paper's plain least squares the same four words come first
    plain = L.explain_text(f, DOC, 1, n_samples=500, seed=7, num_features=4)
    assert set(w for w, _ in plain.as_list()) == set(theirs)
    assert {w for w, _ in plain.as_list()} == {"God", "Jesus", "Posting", "Host"}


def test_submodular_pick_lecture_picture():
    # Rows are explanations, columns features; feature 0 is the most important (column sum).
    W = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0],
                      [2.0, 1.0, 1.0, 0.0, 0.0],
                      [1.5, 1.0, 0.0, 0.0, 0.0],
                      [0.0, 0.0, 0.0, 0.5, 0.0],
                      [0.0, 0.0, 0.5, 1.0, 1.0]])
    picked = L.submodular_pick(W, 2)
    assert picked == [1, 4]                                   # rows 2 and 5 of the lecture
    I = L.global_importance(W)                                # noqa: E741 (the paper's I)
    assert torch.allclose(I, W.sum(0).double().sqrt())
    assert L.coverage(W, picked) == pytest.approx(float(I.sum()))   # everything is covered
    assert L.coverage(W, []) == 0.0
    assert L.submodular_pick(W, 5) == [1, 4, 0, 2, 3]


def test_submodular_pick_bad_input():
    with pytest.raises(ValueError, match="between 1 and the number of explanations"):
        L.submodular_pick(torch.ones(3, 4), 4)
    with pytest.raises(ValueError, match="matrix"):
        L.submodular_pick(torch.ones(3), 1)


def test_explanation_matrix_uses_word_names():
    f = _word_model()
    docs = ["God is good", "Posting Host God", "edu edu Jesus"]
    exps = [L.explain_text(f, d, 1, n_samples=200, num_features=2) for d in docs]
    W, names = L.explanation_matrix(exps)
    assert W.shape == (3, len(names)) and (W >= 0).all()
    assert "God" in names and W[0, names.index("God")] > 0


def test_checks_accept_the_reference_and_reject_mistakes():
    checks.check_proximity_kernel(L.proximity)
    checks.check_cosine_distance(L.cosine_distance)
    checks.check_weighted_least_squares(lambda Z, y, p: L.weighted_least_squares(Z, y, p)[:2])
    checks.check_submodular_pick(L.submodular_pick)
    with pytest.raises(CheckFailed):
        checks.check_proximity_kernel(lambda d, s: torch.exp(-d / s ** 2))
    with pytest.raises(CheckFailed):
        checks.check_proximity_kernel(lambda d,
                                      s: torch.sqrt(torch.exp(-d ** 2 / s ** 2)))   # lime's
    with pytest.raises(CheckFailed):
        checks.check_cosine_distance(lambda Z: 1 - Z.sum(1) / Z.shape[1])
    with pytest.raises(CheckFailed):
        checks.check_weighted_least_squares(
            lambda Z, y, p: L.weighted_least_squares(Z, y, torch.ones_like(p))[:2])
    with pytest.raises(CheckFailed):
        checks.check_weighted_least_squares(
            lambda Z, y, p: (torch.linalg.lstsq(Z * p.sqrt()[:, None],
                                                (y * p.sqrt())[:, None]).solution[:, 0], 0.0))
    with pytest.raises(CheckFailed):                       # the heaviest rows, not coverage
        checks.check_submodular_pick(lambda W, B: torch.argsort(-W.abs().sum(1))[:B].tolist())


def test_k_lasso_never_returns_more_than_k_features():
    """A model whose output does not change (a constant y) gives a LARS path with a single,
    all-zero point: K-LASSO must return no feature, not all of them."""
    from lecture_utils.lime import k_lasso
    g = torch.Generator().manual_seed(0)
    Z = (torch.rand(300, 10, generator=g) > 0.5).double()
    w, b, _ = k_lasso(Z, torch.full((300,), 3.0), torch.ones(300), num_features=4)
    assert torch.count_nonzero(w) == 0 and abs(b - 3.0) < 1e-9
    y = Z @ torch.arange(10.0).double()
    w, _, _ = k_lasso(Z, y, torch.ones(300), num_features=4)
    assert torch.count_nonzero(w) <= 4


def test_precision_policy_changes_values_within_bf16s_precision(cifar_image):
    """The default forward passes follow the course's precision for batched inference; "fp32"
    gives float32. Where the policy is bf16, the probabilities agree to bf16's precision."""
    net = TinyConv().eval()
    seg = grid_segments(n=3)
    auto = L.explain_image(net, cifar_image, 0, seg, n_samples=64, keep_samples=True)
    fp32 = L.explain_image(net, cifar_image, 0, seg, n_samples=64, keep_samples=True,
                           precision="fp32")
    torch.testing.assert_close(auto.values, fp32.values, rtol=2e-2, atol=1e-3)
    with pytest.raises(ValueError, match="precision"):
        L.explain_image(net, cifar_image, 0, seg, n_samples=64, precision="bf16")
