"""Shapley values, Kernel SHAP, Linear SHAP and Deep SHAP (lecture_utils.shapley) against brute
force, closed forms and the field's libraries (shap, captum)."""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from lecture_utils import checks, models
from lecture_utils import shapley as S
from lecture_utils.checks import CheckFailed


def table_game(M, seed=0):
    """A game with arbitrary values on every coalition (all orders of interaction)."""
    table = torch.randn(2 ** M, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return lambda Z: table[(Z.long() * (2 ** torch.arange(M))).sum(1)]


def smooth_game(M, seed=0):
    """A game like a model's: main effects, pairwise interactions and a saturating output."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(M, generator=g, dtype=torch.float64)
    B = torch.randn(M, M, generator=g, dtype=torch.float64) / M
    return lambda Z: torch.tanh(Z.double() @ a / 3 + ((Z.double() @ B) * Z.double()).sum(1))


def brute_force(value_fn, M):
    """phi_i = mean over all M! orderings of the gain when i joins the features before it."""
    phi = torch.zeros(M, dtype=torch.float64)
    for order in itertools.permutations(range(M)):
        z = torch.zeros(1, M)
        prev = value_fn(z)[0]
        for i in order:
            z = z.clone()
            z[0, i] = 1
            cur = value_fn(z)[0]
            phi[i] += cur - prev
            prev = cur
    return phi / math.factorial(M)


def shap_kernel_explainer(value_fn, M, n_evaluations, seed, l1_reg=False):
    """shap.KernelExplainer on the same game: x = ones, one background row = zeros. It evaluates
    nsamples coalitions plus f(x) and f(background): n_evaluations in all."""
    import shap
    np.random.seed(seed)
    f = lambda X: value_fn(torch.tensor(X, dtype=torch.float32)).numpy()  # noqa: E731
    explainer = shap.KernelExplainer(f, np.zeros((1, M)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phi = explainer.shap_values(np.ones((1, M)), nsamples=n_evaluations - 2, l1_reg=l1_reg,
                                    silent=True)
    return torch.tensor(np.asarray(phi), dtype=torch.float64).reshape(-1)


# --------------------------------------------------------------------------------------------
# Exact Shapley values and the three properties
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("M", [1, 2, 4, 6])
def test_exact_shapley_equals_brute_force_over_permutations(M):
    v = table_game(M, seed=M)
    assert torch.allclose(S.exact_shapley(v, M, batch_size=7), brute_force(v, M), atol=1e-12)


def test_exact_shapley_closed_form_games():
    # Glove game: players 0, 1 hold left gloves, 2 a right glove; a pair is worth 1.
    glove = lambda Z: torch.minimum(Z[:, 0] + Z[:, 1], Z[:, 2]).double()  # noqa: E731
    assert torch.allclose(S.exact_shapley(glove, 3),
                          torch.tensor([1 / 6, 1 / 6, 2 / 3], dtype=torch.float64))
    # An additive game: phi_i is the feature's own term.
    a = torch.tensor([0.5, -2.0, 3.0, 0.0], dtype=torch.float64)
    assert torch.allclose(S.exact_shapley(lambda Z: Z.double() @ a, 4), a)
    # Symmetric players share equally.
    maj = lambda Z: (Z.sum(1) >= 2).double()  # noqa: E731
    assert torch.allclose(S.exact_shapley(maj, 3), torch.full((3,), 1 / 3, dtype=torch.float64))


@pytest.mark.parametrize("seed", range(5))
def test_local_accuracy_and_missingness_on_random_games(seed):
    M = 7
    table = table_game(M, seed)
    dummy = 3                                             # a feature the game ignores

    def v(Z):
        Z = Z.clone()
        Z[:, dummy] = 0
        return table(Z)

    phi = S.exact_shapley(v, M)
    full, empty = v(torch.ones(1, M))[0], v(torch.zeros(1, M))[0]
    assert torch.isclose(phi.sum(), full - empty, atol=1e-12)          # Property 1
    assert abs(phi[dummy]) < 1e-12                                      # Property 2
    for estimate in (S.kernel_shap(v, M, 40, seed=seed),
                     S.permutation_shapley(v, M, 60, seed=seed)):
        assert torch.isclose(estimate.sum(), full - empty, atol=1e-10)  # exact for both estimators


@pytest.mark.parametrize("seed", range(5))
def test_consistency_on_random_pairs_of_games(seed):
    """f2 adds to f1 a term that can only raise feature i's marginal contributions."""
    M, i = 6, seed % 6
    f1 = table_game(M, seed)
    h = table_game(M, seed + 100)

    def f2(Z):
        rest = Z.clone()
        rest[:, i] = 0
        return f1(Z) + Z[:, i].double() * h(rest).abs()

    Z = S.coalitions(M)
    without = Z.clone()
    without[:, i] = 0
    assert torch.all(f2(Z) - f2(without) >= f1(Z) - f1(without) - 1e-12)     # the premise
    assert S.exact_shapley(f2, M)[i] >= S.exact_shapley(f1, M)[i]            # Property 3


def test_consistency_on_a_constructed_pair_of_models():
    # f1 = x1 + x2; f2 = x1 + x2 + x1 x2: feature 1 contributes more in f2 for every coalition.
    f1 = lambda Z: (Z[:, 0] + Z[:, 1]).double()  # noqa: E731
    f2 = lambda Z: (Z[:, 0] + Z[:, 1] + Z[:, 0] * Z[:, 1]).double()  # noqa: E731
    assert torch.allclose(S.exact_shapley(f1, 2), torch.tensor([1.0, 1.0], dtype=torch.float64))
    assert torch.allclose(S.exact_shapley(f2, 2), torch.tensor([1.5, 1.5], dtype=torch.float64))


def test_exact_shapley_refuses_too_many_features():
    with pytest.raises(ValueError,
                       match=r"M = 21 would need 2,097,152 model evaluations.*kernel_shap"):
        S.exact_shapley(lambda Z: Z.sum(1), 21)
    with pytest.raises(ValueError, match="positive int"):
        S.exact_shapley(lambda Z: Z.sum(1), 0)


def test_value_fn_must_return_one_value_per_coalition():
    with pytest.raises(ValueError, match=r"one value per coalition, shape \[8\]"):
        S.exact_shapley(lambda Z: Z, 3)


# --------------------------------------------------------------------------------------------
# Kernel SHAP
# --------------------------------------------------------------------------------------------
def test_shapley_kernel_closed_form():
    M = 5
    for s in range(1, M):
        assert math.isclose(float(S.shapley_kernel(M, s)),
                            (M - 1) / (math.comb(M, s) * s * (M - s)))
    assert torch.isinf(S.shapley_kernel(M, torch.tensor([0, M]))).all()


@pytest.mark.parametrize("M", [2, 5, 8])
def test_kernel_shap_is_exact_when_the_budget_covers_all_coalitions(M):
    v = table_game(M, seed=M)
    exact = S.exact_shapley(v, M)
    assert torch.allclose(S.kernel_shap(v, M, 2 ** M), exact, atol=1e-9)
    assert torch.allclose(S.kernel_shap(v, M, 10 ** 6), exact, atol=1e-9)


def test_kernel_shap_is_exact_for_additive_games_with_few_samples():
    a = torch.linspace(-1, 1, 30, dtype=torch.float64)
    for seed in range(3):
        assert torch.allclose(S.kernel_shap(lambda Z: Z.double() @ a + 2.0, 30, 91, seed=seed), a,
                              atol=1e-8)


def test_kernel_shap_samples_are_distinct_paired_and_within_budget():
    M = 12
    for budget in (11, 50, 301, 1000):
        Z, w = S.kernel_shap_samples(M, budget, seed=1)
        assert len(Z) == budget == len(w)
        assert len(torch.unique(Z, dim=0)) == budget                  # no coalition twice
        size = Z.sum(1)
        assert ((size > 0) & (size < M)).all() and (w > 0).all()
        rows = {tuple(z.int().tolist()) for z in Z}
        paired = sum(tuple((1 - z).int().tolist()) in rows for z in Z)
        assert paired >= budget - 1                                   # complements come along


def test_kernel_shap_budget_below_m_plus_one_is_refused():
    with pytest.raises(ValueError,
                       match=r"at least M \+ 1 = 11 model evaluations.*got n_samples = 10"):
        S.kernel_shap(lambda Z: Z.sum(1), 10, 10)
    with pytest.raises(TypeError, match="n_samples must be an int"):
        S.kernel_shap(lambda Z: Z.sum(1), 4, 10.0)


def test_kernel_shap_matches_shap_kernel_explainer_on_full_enumeration():
    M = 7
    v = smooth_game(M, seed=3)
    ours = S.kernel_shap(v, M, 2 ** M)
    theirs = shap_kernel_explainer(v, M, 2 ** M, seed=0)
    assert torch.allclose(ours, theirs, atol=1e-8)
    assert torch.allclose(ours, S.exact_shapley(v, M), atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("M,budget", [(12, 48), (12, 200), (16, 300)])
def test_kernel_shap_at_least_as_accurate_as_shap_at_equal_evaluations(M, budget):
    """Mean relative error against exact Shapley values over 12 games, same number of model
    evaluations (shap: nsamples + f(x) + f(background))."""
    ours, plain, default = [], [], []
    for seed in range(12):
        v = smooth_game(M, seed)
        exact = S.exact_shapley(v, M)
        err = lambda phi: float((phi - exact).norm() / exact.norm())  # noqa: E731
        ours.append(err(S.kernel_shap(v, M, budget, seed=seed)))
        plain.append(err(shap_kernel_explainer(v, M, budget, seed)))
        default.append(err(shap_kernel_explainer(v, M, budget, seed, l1_reg="num_features(10)")))
    assert np.mean(ours) <= np.mean(plain), (np.mean(ours), np.mean(plain))
    assert np.mean(ours) <= np.mean(default), (np.mean(ours), np.mean(default))


def test_permutation_sampling_converges_and_counts_evaluations():
    M = 6
    v = smooth_game(M, seed=2)
    calls = []
    counted = lambda Z: (calls.append(len(Z)), v(Z))[1]  # noqa: E731
    phi = S.permutation_shapley(counted, M, 2 + 5 * 400, seed=0)
    assert sum(calls) == 2 + 5 * 400
    assert torch.allclose(phi, S.exact_shapley(v, M), atol=0.02)


# --------------------------------------------------------------------------------------------
# Games
# --------------------------------------------------------------------------------------------
def test_image_game_maps_coalitions_to_images():
    torch.manual_seed(0)
    net = models.resnet_gap(width=4, blocks=(1, 1, 1)).eval()
    image = torch.rand(3, 16, 16)
    segments = torch.arange(4).repeat_interleave(4).repeat(16, 1)     # four vertical stripes
    game = S.image_game(net, image, 2, segments, baseline=0.5, output="logit", precision="fp32")
    assert game.M == 4
    v = game(torch.stack([torch.ones(4), torch.zeros(4), torch.tensor([1.0, 0, 0, 0])]))
    with torch.no_grad():
        partial = torch.full_like(image, 0.5)
        partial[:, :, :4] = image[:, :, :4]
        want = net(torch.stack([image, torch.full_like(image, 0.5), partial]))[:, 2]
    assert torch.allclose(v.float(), want, atol=1e-5)
    assert game.evaluations == 3
    # a background set: the value is the mean over the baselines
    bg = torch.rand(3, 3, 16, 16)
    game = S.image_game(net, image, 2, segments, baseline=bg, output="probability",
                        precision="fp32")
    with torch.no_grad():
        want = net(bg).softmax(1)[:, 2].mean()
    assert torch.isclose(game(torch.zeros(1, 4))[0].float(), want, atol=1e-6)
    assert game.evaluations == 3


def test_image_game_bad_input():
    net = models.resnet_gap(width=4, blocks=(1, 1, 1)).eval()
    image = torch.rand(3, 16, 16)
    with pytest.raises(ValueError,
                       match=r"segments has shape \(8, 8\) but the image is \(16, 16\)"):
        S.image_game(net, image, 0, torch.zeros(8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="pass one image"):
        S.image_game(net, image[None], 0, torch.zeros(16, 16, dtype=torch.long))
    with pytest.raises(IndexError, match="out of range"):      # on the game's first pass
        S.image_game(net, image, 12, torch.zeros(16, 16, dtype=torch.long))(torch.ones(1, 1))
    with pytest.raises(ValueError, match="relabel_sequential"):
        S.image_game(net, image, 0, torch.full((16, 16), 3))


def test_split_words_and_text_game():
    text = "Re: God is, God was.\nPosting-Host: x"
    pieces, words, index = S.split_words(text)
    assert "".join(pieces) == text
    assert words == ["Re", "God", "is", "was", "Posting", "Host", "x"]
    seen = []
    game = S.text_game(lambda texts: (seen.extend(texts), np.full((len(texts), 2), 0.5))[1], text,
                       1)
    Z = torch.ones(1, game.M)
    Z[0, 1] = 0                                                        # remove "God" everywhere
    game(Z)
    assert seen == ["Re:  is,  was.\nPosting-Host: x"]


def test_tabular_game_is_the_interventional_expectation():
    w = torch.tensor([1.0, -2.0, 0.5])
    x = torch.tensor([1.0, 2.0, 3.0])
    bg = torch.randn(10, 3)
    game = S.tabular_game(lambda rows: rows @ w, x, bg)
    z = torch.tensor([[1.0, 0.0, 1.0]])
    want = ((z * x + (1 - z) * bg) @ w).mean()
    assert torch.isclose(game(z)[0].float(), want, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Linear SHAP and Deep SHAP against shap and captum
# --------------------------------------------------------------------------------------------
def test_linear_shap_closed_form_kernel_shap_and_shap_linear_explainer():
    import shap
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(5, generator=g), 0.7
    background = torch.randn(50, 5, generator=g)
    x = torch.randn(3, 5, generator=g)
    phi, base = S.linear_shap(w, b, x, background.mean(0), return_base=True)
    assert torch.allclose(phi.sum(1) + base, (x @ w + b).double(), atol=1e-5)    # local accuracy
    game = S.tabular_game(lambda rows: rows @ w + b, x[0], background)
    assert torch.allclose(S.kernel_shap(game, 5, 16), phi[0], atol=1e-5)       # exact: additive
    explainer = shap.LinearExplainer((w.numpy(), b), background.numpy())
    assert np.allclose(explainer.shap_values(x.numpy()), phi.numpy(), atol=1e-5)
    # several outputs, as nn.Linear stores them
    W = torch.randn(4, 5, generator=g)
    assert S.linear_shap(W, torch.zeros(4), x, background.mean(0)).shape == (3, 4, 5)


def _small_nets():
    torch.manual_seed(0)
    mlp = models.mlp(48, (16, 8), normalize=False).eval()
    res = models.resnet_gap(width=4, blocks=(1, 1, 1)).eval()
    for m in res.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return [("mlp", mlp, (3, 4, 4)), ("resnet_gap", res, (3, 12, 12))]


@pytest.mark.parametrize("name,net,shape", _small_nets())
def test_deep_shap_matches_captum_and_shap(name, net, shape):
    from captum.attr import DeepLift, DeepLiftShap
    import shap
    g = torch.Generator().manual_seed(1)
    x, bg = torch.rand(3, *shape, generator=g), torch.rand(6, *shape, generator=g)
    target = torch.tensor([1, 4, 7])
    one = S.deep_shap(net, x, target, background=bg[:1])
    assert torch.allclose(one, DeepLift(net).attribute(x, baselines=bg[:1], target=target),
                          atol=1e-6)
    ours = S.deep_shap(net, x, target, background=bg, batch_size=5)
    assert torch.allclose(ours, DeepLiftShap(net).attribute(x, baselines=bg, target=target),
                          atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.asarray(shap.DeepExplainer(net, bg).shap_values(x, check_additivity=False))
    theirs = torch.stack([torch.from_numpy(theirs[i, ..., t]) for i,
                          t in enumerate(target.tolist())])
    assert torch.allclose(ours, theirs.float(), atol=1e-6)
    with torch.no_grad():                                              # local accuracy
        delta = net(x).gather(1, target[:, None])[:, 0] - net(bg)[:, target].mean(0)
    assert torch.allclose(ours.reshape(3, -1).sum(1), delta, atol=1e-4)


def test_deep_shap_local_accuracy_in_float64_matches_the_fp32_game(net):
    """sum(phi) = f(x) - f(b): Deep SHAP's sum, the exact values of the fp32 superpixel game and
    f(x) - f(b) of the model in float64 agree to float32's rounding (a bf16 game would not)."""
    g = torch.Generator().manual_seed(3)
    img, ref = torch.rand(3, 16, 16, generator=g), torch.rand(3, 16, 16, generator=g)
    seg = (torch.arange(16)[:, None] // 8) * 2 + torch.arange(16)[None] // 8
    phi = S.deep_shap(net, img[None], 3, background=ref[None])[0].double()
    game = S.image_game(net, img, 3, seg, baseline=ref, output="logit", precision="fp32")
    exact = S.exact_shapley(game, 4)
    with torch.no_grad():
        f = net.double()(torch.stack([img, ref]).double())[:, 3]
    net.float()
    want = float(f[0] - f[1])
    tol = 1e-5 * (abs(float(f[0])) + abs(float(f[1])) + 1)             # float32's rounding
    assert abs(float(phi.sum()) - want) < tol
    assert abs(float(exact.sum()) - want) < tol
    assert torch.allclose(S.per_segment(phi, seg).sum(), exact.sum(), atol=tol)


def test_deep_shap_of_a_linear_model_is_linear_shap():
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(6, 3)).eval()
    x, bg = torch.randn(4, 6), torch.randn(20, 6)
    ours = S.deep_shap(lin, x, 2, background=bg)
    want = S.linear_shap(lin[1].weight[2].detach(), lin[1].bias[2].item(), x, bg.mean(0))
    assert torch.allclose(ours.double(), want, atol=1e-5)


def test_deep_shap_chain_rule_of_multipliers_by_hand():
    """y -> x = relu(W1 y) -> f3 = w2 . x: m_{y f3} = sum_j m_{y x_j} m_{x_j f3}."""
    W1 = torch.tensor([[1.0, -2.0], [0.5, 1.0]])
    w2 = torch.tensor([[2.0, -1.0]])
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    net[0].weight.data, net[2].weight.data = W1, w2
    y, r = torch.tensor([[1.0, 0.2]]), torch.tensor([[-0.5, 0.5]])
    h, hr = y @ W1.T, r @ W1.T
    m_x = (h.relu() - hr.relu()) / (h - hr)                            # rescale multipliers
    m_y = (m_x * w2) @ W1                                              # chain rule
    assert torch.allclose(S.deep_shap(net, y, 0, background=r), m_y * (y - r), atol=1e-6)


def test_max_shapley_is_the_exact_shapley_value_of_a_max_window():
    """The lecture's analytic SHAP values of max pooling: one window's game, enumerated."""
    g = torch.Generator().manual_seed(0)
    for k in (1, 2, 4, 9):
        x = torch.rand(5, k, generator=g, dtype=torch.float64)
        r = torch.rand(5, k, generator=g, dtype=torch.float64)
        phi = S.max_shapley(x, r)
        for row in range(5):
            game = lambda Z, row=row: torch.where(Z.bool(), x[row], r[row]).amax(1)  # noqa: E731
            assert torch.allclose(phi[row], S.exact_shapley(game, k), atol=1e-12)
        assert torch.allclose(phi.sum(1), x.amax(1) - r.amax(1), atol=1e-12)   # local accuracy
    with pytest.raises(ValueError, match="2\\^k coalitions"):
        S.max_shapley(torch.rand(2, 16), torch.rand(2, 16))
    with pytest.raises(ValueError, match="must both be"):
        S.max_shapley(torch.rand(2, 4), torch.rand(2, 3))


def test_deep_shap_through_max_pooling_adds_up_and_is_exact_for_one_window():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(8, 3)).double()
    x, bg = torch.randn(2, 1, 6, 6, dtype=torch.float64), torch.randn(3, 1, 6, 6,
                                                                      dtype=torch.float64)
    phi = S.deep_shap(net, x, 1, background=bg)            # check=True: sums to f(x) - E[f(b)]
    with torch.no_grad():
        want = net(x)[:, 1] - net(bg)[:, 1].mean()
    assert torch.allclose(phi.sum((1, 2, 3)), want, atol=1e-10)
    # one max-pooling window alone: Deep SHAP is the window's exact Shapley values
    pool = nn.Sequential(nn.MaxPool2d(2), nn.Flatten())
    xw, rw = torch.rand(1, 1, 2, 2, dtype=torch.float64), torch.rand(1, 1, 2, 2,
                                                                     dtype=torch.float64)
    got = S.deep_shap(pool, xw, 0, background=rw).reshape(4)
    want = S.max_shapley(xw.reshape(1, 4), rw.reshape(1, 4))[0]
    assert torch.allclose(got.double(), want, atol=1e-6 if got.dtype == torch.float32 else 1e-12)


def test_deep_shap_refuses_what_it_cannot_explain():
    pooled = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(3, stride=2), nn.Flatten(),
                           nn.Linear(2, 2))
    with pytest.raises(TypeError,
                       match=r"no rule for the layers \['2'\].*overlapping.*kernel_shap"):
        S.deep_shap(pooled, torch.rand(1, 1, 5, 5), 0, background=torch.rand(2, 1, 5, 5))

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 2)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)))

    torch.manual_seed(0)
    with pytest.raises(RuntimeError, match="do not add up"):
        S.deep_shap(Functional(), torch.randn(3, 4) * 3, 0, background=torch.randn(2, 4) * 3)

    class Reused(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.relu = nn.Linear(4, 4), nn.Linear(4, 2), nn.ReLU()

        def forward(self, x):
            return self.b(self.relu(self.a(self.relu(x))))

    net = Reused()
    with pytest.raises(RuntimeError, match="called twice"):
        S.deep_shap(net, torch.randn(2, 4), 0, background=torch.randn(2, 4))
    assert not any(m._forward_hooks or m._backward_hooks for m in net.modules())   # cleaned up


def test_log_odds_wrapper():
    torch.manual_seed(0)
    net = models.mlp(64, (8,), normalize=False).eval()
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        logits = net(x)
        assert torch.allclose(S.LogOdds(net, 8, 3)(x)[:, 0], logits[:, 8] - logits[:, 3])


def test_per_segment_and_paint():
    seg = torch.tensor([[0, 0, 1], [2, 2, 1]])
    a = torch.arange(12.0).reshape(2, 2, 3)
    assert S.per_segment(a, seg).tolist() == [0 + 1 + 6 + 7, 2 + 5 + 8 + 11, 3 + 4 + 9 + 10]
    assert S.paint(torch.tensor([1.0, 2.0, 3.0]), seg).tolist() == [[1, 1, 2], [3, 3, 2]]


# --------------------------------------------------------------------------------------------
# Exercise checks accept the reference and reject typical mistakes
# --------------------------------------------------------------------------------------------
def test_checks_accept_the_reference():
    checks.check_shapley_values(S.exact_shapley)
    checks.check_shapley_kernel(lambda M, s: float(S.shapley_kernel(M, s)))
    checks.check_linear_shap(lambda w, x, mean: w * (x - mean))
    checks.check_rescale_multiplier(
        lambda x, r: torch.where(x != r, (x.relu() - r.relu()) / (x - r + (x == r)),
                                 (x > 0).double()))


def test_checks_reject_typical_mistakes():
    def leave_one_out(v, M):
        full = v(torch.ones(1, M))[0]
        return torch.stack([full - v((1 - torch.eye(M))[i:i + 1])[0] for i in range(M)])

    def banzhaf(v, M):
        Z = S.coalitions(M)
        vals = v(Z)
        return torch.stack([(vals[Z[:, i] == 1] - vals[Z[:, i] == 0]).mean() for i in range(M)])

    for wrong in (leave_one_out, banzhaf):
        with pytest.raises(CheckFailed):
            checks.check_shapley_values(wrong)
    def slide_typo(M, s):
        return (M - 1) / (math.comb(M, s) * math.factorial(s) * math.factorial(M - s))
    with pytest.raises(CheckFailed, match="factorials"):
        checks.check_shapley_kernel(slide_typo)
    with pytest.raises(CheckFailed):
        checks.check_linear_shap(lambda w, x, mean: w * x)
    with pytest.raises(CheckFailed):
        checks.check_rescale_multiplier(lambda x, r: (x > 0).double())


def test_tabulate_reads_the_same_values():
    v = smooth_game(6, seed=4)
    table = S.tabulate(v, 6, batch_size=10)
    Z = (torch.rand(30, 6) < 0.5).float()
    assert torch.allclose(table(Z), v(Z)) and table.table.shape == (64,)
    assert torch.allclose(S.exact_shapley(table, 6), S.exact_shapley(v, 6))
    with pytest.raises(ValueError, match="M = 21"):
        S.tabulate(v, 21)


def test_digits_dataset_and_recipe_in_the_zoo():
    from lecture_utils import zoo
    (x_train, y_train), (x_test, y_test) = zoo.DATASETS["digits"]()
    assert x_train.dtype == torch.uint8 and x_train.shape == (1437, 1, 8,
                                                              8) and x_test.shape == (360, 1, 8, 8)
    assert set(y_test.tolist()) == set(range(10))
    recipe = zoo.RECIPES["digits_mlp"]["laptop"]
    assert recipe.dataset == "digits" and not recipe.augment
    net = zoo._build(recipe)
    assert net(torch.rand(2, 1, 8, 8)).shape == (2, 10)
