"""lecture_utils.generalization: the randomization datasets and the finite-sample network."""
import numpy as np
import pytest
import torch

from lecture_utils import checks
from lecture_utils import generalization as gen


def _images(n=64, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8),
            torch.randint(0, 10, (n,), generator=g))


def _position_coded(n=5, size=8):
    """Channel 0 holds each pixel's position, so a permuted image tells which one moved where."""
    pos = torch.arange(size * size).view(1, size, size).expand(n, size, size)
    return torch.stack([pos, pos, pos], 1).to(torch.uint8), torch.arange(n)


def _perms(images):
    return images[:, 0].reshape(len(images), -1).long()


# --------------------------------------------------------------------------------------------
# Finite-sample expressivity
# --------------------------------------------------------------------------------------------
def _roundoff(Z, a, b, w, dtype=np.float64):
    """What rounding alone may change in c(z_i) = sum_j w_j max(<a, z_i> - b_j, 0), per point:
    8 eps (|A| |w| + (|Z| |a|) (1(A > 0) |w|)), the error of the product A w plus that of the
    projections x = Z a that A is made of, each entry summed in magnitude. It follows the problem's
    scale: |w| grows like 1 / (the smallest gap between projections), about n^2 / sqrt(d) for
    Gaussian points, so 500 points in R^3072 cannot promise 1e-6 even in float64."""
    eps = np.finfo(dtype).eps
    A = gen.lemma_matrix(Z @ a, b)
    return 8 * eps * (np.abs(A) @ np.abs(w) + (np.abs(Z) @ np.abs(a)) * ((A > 0) @ np.abs(w)))


def _assert_interpolates(Z, a, b, w, y):
    c = gen.relu_net(Z, a, b, w)
    assert c.dtype == np.float64
    err, tol = np.abs(c - y), _roundoff(Z, a, b, w)
    assert (err <= tol).all(), f"error {err.max():.3g} above the rounding bound {tol.min():.3g}"
    return c


@pytest.mark.parametrize("n, d", [(1, 4), (10, 3), (200, 20), (500, 3 * 32 * 32)])
def test_interpolating_net_fits_random_labels_exactly(n, d):
    rng = np.random.default_rng(n)
    Z = rng.standard_normal((n, d))
    y = rng.integers(0, 10, n).astype(np.float64)
    a, b, w = gen.interpolating_relu_net(Z, y)
    assert a.shape == (d,) and b.shape == (n,) and w.shape == (n,)   # 2n + d weights
    c = _assert_interpolates(Z, a, b, w, y)
    assert np.array_equal(np.rint(c), y)                              # every label exactly


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_interpolating_net_takes_float32_points_and_computes_in_float64(dtype):
    rng = np.random.default_rng(4)
    Z = rng.standard_normal((300, 50)).astype(dtype)
    y = rng.integers(0, 10, 300).astype(dtype)
    a, b, w = gen.interpolating_relu_net(Z, y)
    assert a.dtype == b.dtype == w.dtype == np.float64
    c = _assert_interpolates(Z.astype(np.float64), a, b, w, y.astype(np.float64))
    assert np.array_equal(np.rint(c), y)


def test_interpolating_net_fits_real_valued_targets_and_cifar_images(cifar_test):
    images, labels = cifar_test
    Z = images[:300].reshape(300, -1).double().numpy() / 255
    y = np.random.default_rng(0).standard_normal(300)
    a, b, w = gen.interpolating_relu_net(Z, y)
    _assert_interpolates(Z, a, b, w, y)


def test_the_lemma_lower_triangular_with_smallest_eigenvalue_min_gap():
    rng = np.random.default_rng(2)
    for n in (1, 5, 50):
        x = np.cumsum(rng.uniform(0.5, 2.0, n))
        b = x - rng.uniform(0.01, 0.49, n)              # b_1 < x_1 < b_2 < ... < b_n < x_n
        assert np.all(b[1:] > x[:-1])
        A = gen.lemma_matrix(x, b)
        assert np.array_equal(A, np.tril(A))             # lower triangular
        eig = np.linalg.eigvals(A)
        assert np.allclose(np.sort(eig.real), np.sort(x - b)) and np.allclose(eig.imag, 0)
        assert eig.real.min() == pytest.approx((x - b).min())
        assert np.all(np.diag(A) > 0)                    # det A = prod(x_i - b_i) > 0: full rank


def test_interpolating_net_rejects_duplicates_and_bad_shapes():
    Z = np.ones((3, 2))
    with pytest.raises(ValueError, match="same"):
        gen.interpolating_relu_net(Z, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"\[n, d\]"):
        gen.interpolating_relu_net(np.ones((3, 2)), np.ones(4))


# --------------------------------------------------------------------------------------------
# Randomization tests
# --------------------------------------------------------------------------------------------
def test_shuffled_pixels_use_one_permutation_for_all_images():
    images, labels = _position_coded()
    out, out_labels = gen.shuffled_pixels(images, labels, seed=1)
    perms = _perms(out)
    assert (perms == perms[0]).all()                                   # the same for every image
    assert not torch.equal(perms[0], torch.arange(64))                 # and not the identity
    assert torch.equal(perms[0].sort().values, torch.arange(64))       # a permutation
    assert torch.equal(out_labels, labels)
    # same seed -> same permutation (so the test set gets the training set's permutation)
    assert torch.equal(gen.shuffled_pixels(images[:2], labels[:2], seed=1)[0], out[:2])
    assert not torch.equal(gen.shuffled_pixels(images, labels, seed=2)[0], out)


def test_random_pixels_use_a_different_permutation_per_image():
    images, labels = _position_coded(n=20)
    out, _ = gen.random_pixels(images, labels, seed=1)
    perms = _perms(out)
    assert len(torch.unique(perms, dim=0)) == 20
    assert all(torch.equal(p.sort().values, torch.arange(64)) for p in perms)
    assert torch.equal(gen.random_pixels(images, labels, seed=1)[0], out)   # deterministic


def test_pixel_permutations_move_whole_pixels():
    images, labels = _images()
    for fn in (gen.shuffled_pixels, gen.random_pixels):
        out, _ = fn(images, labels, seed=0)
        # every image keeps its multiset of RGB triplets
        for i in (0, 7):
            a = images[i].reshape(3, -1).T.tolist()
            b = out[i].reshape(3, -1).T.tolist()
            assert sorted(map(tuple, a)) == sorted(map(tuple, b))


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_label_corruption_changes_about_p_of_the_labels(p):
    n = 20_000
    images = torch.zeros(n, 3, 2, 2, dtype=torch.uint8)
    labels = torch.arange(n) % 10
    out_images, out = gen.corrupt_labels(images, labels, p, seed=0)
    changed = (out != labels).double().mean().item()
    # a replaced label is uniform over the 10 classes, so 1/10 of the replaced ones stay
    assert changed == pytest.approx(0.9 * p, abs=0.015)
    assert out.dtype == torch.int64 and out.min() >= 0 and out.max() <= 9
    assert torch.equal(out_images, images)
    assert torch.equal(gen.corrupt_labels(images, labels, p, seed=0)[1], out)


def test_random_labels_are_uniform_and_independent_of_the_truth():
    labels = torch.arange(50_000) % 10
    _, y = gen.random_labels(torch.zeros(50_000, 3, 1, 1, dtype=torch.uint8), labels, seed=3)
    counts = torch.bincount(y[labels == 4], minlength=10).double()
    assert (counts / counts.sum() - 0.1).abs().max() < 0.02


def test_gaussian_images_match_the_data_mean_and_variance(cifar_test):
    images, labels = cifar_test
    images, labels = images[:2000], labels[:2000]
    out, out_labels = gen.gaussian_images(images, labels, seed=0)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    assert torch.equal(out_labels, labels)
    mean = lambda t: t.double().mean(dim=(0, 2, 3))    # noqa: E731
    std = lambda t: t.double().std(dim=(0, 2, 3))      # noqa: E731
    np.testing.assert_allclose(mean(out), mean(images), rtol=0.01)
    np.testing.assert_allclose(std(out), std(images), rtol=0.07)     # clipping to 0..255 trims it
    # pixels are independent: neighbours do not correlate, unlike in real images
    a, b = out[:, 0, :, :-1].double().flatten(), out[:, 0, :, 1:].double().flatten()
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02


def test_every_randomization_returns_trainer_ready_data():
    images, labels = _images()
    for name, fn in gen.RANDOMIZATIONS.items():
        x, y = fn(images, labels, seed=0)
        assert x.dtype == torch.uint8 and x.shape == images.shape, name
        assert y.dtype == torch.int64 and y.shape == labels.shape, name
        x2, y2 = fn(images, labels, seed=0)
        assert torch.equal(x, x2) and torch.equal(y, y2), name


def test_randomizations_reject_bad_input():
    images, labels = _images()
    with pytest.raises(TypeError, match="uint8"):
        gen.shuffled_pixels(images.float(), labels)
    with pytest.raises(ValueError, match="labels"):
        gen.random_pixels(images, labels[:3])
    with pytest.raises(ValueError, match="probability"):
        gen.corrupt_labels(images, labels, 1.5)


# --------------------------------------------------------------------------------------------
# The exercise checks accept the reference and reject the usual mistakes
# --------------------------------------------------------------------------------------------
def test_check_lemma_matrix():
    checks.check_lemma_matrix(gen.lemma_matrix)
    with pytest.raises(checks.CheckFailed):
        checks.check_lemma_matrix(lambda x, b: np.maximum(b[:, None] - x[None, :], 0))
    with pytest.raises(checks.CheckFailed):
        checks.check_lemma_matrix(lambda x, b: x[:, None] - b[None, :])        # no max(., 0)


def test_check_interpolating_net():
    checks.check_interpolating_net(gen.interpolating_relu_net)

    def unsorted(Z, y):            # forgets to sort the projections
        a = np.random.default_rng(0).standard_normal(Z.shape[1])
        x = Z @ a
        b = x - 0.5 * np.abs(x).min()
        from scipy.linalg import solve_triangular
        return a, b, solve_triangular(gen.lemma_matrix(x, b), y, lower=True)

    def least_squares_on_a_few(Z, y):     # right shapes, not interpolating
        a = np.ones(Z.shape[1])
        return a, np.zeros(len(y)), np.full(len(y), y.mean() / max(1, len(y)))

    for wrong in (unsorted, least_squares_on_a_few):
        with pytest.raises(checks.CheckFailed):
            checks.check_interpolating_net(wrong)


def test_check_pixel_permutations():
    checks.check_shuffled_pixels(gen.shuffled_pixels)
    checks.check_random_pixels(gen.random_pixels)
    with pytest.raises(checks.CheckFailed, match="SAME"):
        checks.check_shuffled_pixels(gen.random_pixels)
    with pytest.raises(checks.CheckFailed, match="same permutation"):
        checks.check_random_pixels(gen.shuffled_pixels)

    def channels_apart(images, labels, seed=0):      # permutes every channel separately
        n, c, h, w = images.shape
        flat = images.reshape(n, c, h * w).clone()
        for k in range(c):
            flat[:, k] = flat[:, k][:, torch.randperm(h * w)]
        return flat.reshape(images.shape), labels

    def forgot_to_permute(images, labels, seed=0):
        return images.clone(), labels

    for wrong in (channels_apart, forgot_to_permute):
        with pytest.raises(checks.CheckFailed):
            checks.check_shuffled_pixels(wrong)


def test_check_corrupt_labels():
    checks.check_corrupt_labels(gen.corrupt_labels)

    def always_different(images, labels, p, seed=0):    # "corrupted" = always a wrong class
        g = torch.Generator().manual_seed(seed)
        hit = torch.rand(len(labels), generator=g) < p
        shift = torch.randint(1, 10, (len(labels),), generator=g)
        return images, torch.where(hit, (labels + shift) % 10, labels)

    def first_fraction(images, labels, p, seed=0):     # corrupts a prefix, all to class 0
        y = labels.clone()
        y[:int(p * len(y))] = 0
        return images, y

    for wrong in (always_different, first_fraction):
        with pytest.raises(checks.CheckFailed):
            checks.check_corrupt_labels(wrong)


def test_randomized_split_keeps_true_test_labels_and_matching_inputs():
    train_pair, test_pair = _images(n=40, seed=0), _images(n=20, seed=1)
    (xr, yr), (xt, yt) = gen.randomized_split("random labels", train_pair, test_pair, seed=0)
    assert torch.equal(xr, train_pair[0]) and torch.equal(yt, test_pair[1])
    (xs, _), (xst, yst) = gen.randomized_split("shuffled pixels", train_pair, test_pair, seed=4)
    perm = gen.pixel_permutation(8, 8, seed=4)
    assert torch.equal(xst.flatten(2), test_pair[0].flatten(2)[:, :, perm])   # the same permutation
    assert torch.equal(yst, test_pair[1])
    (_, yc), (_, yct) = gen.randomized_split("corrupt labels", train_pair, test_pair, p=0.5)
    assert torch.equal(yct, test_pair[1]) and not torch.equal(yc, train_pair[1])
    (xg, _), (xgt, _) = gen.randomized_split("gaussian", train_pair, test_pair)
    assert not torch.equal(xg[:20], xgt)
    with pytest.raises(ValueError, match="p"):
        gen.randomized_split("corrupt labels", train_pair, test_pair)
    with pytest.raises(ValueError, match="Unknown"):
        gen.randomized_split("blurred", train_pair, test_pair)


def test_epochs_to_fit():
    from lecture_utils.train import History
    h = History(epoch=[1, 2, 3], train_acc=[0.5, 0.995, 1.0])
    assert gen.epochs_to_fit(h) == 2 and gen.epochs_to_fit(h, 1.0) == 3
    assert gen.epochs_to_fit(History(epoch=[1], train_acc=[0.2])) is None


def test_small_inception_without_batch_norm_has_the_papers_parameter_count():
    """Zhang et al.'s Table 1 lists 1,649,402 parameters for "Inception w/o BatchNorm"."""
    from lecture_utils import models
    net = models.small_inception(batch_norm=False)
    assert models.count_parameters(net) == 1_649_402
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in models.small_inception(0.125).modules())
    assert net.eval()(torch.rand(2, 3, 28, 28)).shape == (2, 10)


# --------------------------------------------------------------------------------------------
# Notebooks 06 and 09 fit a free Colab T4 at their full profile (issue 14)
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_full_profiles_of_notebooks_06_and_09_fit_20_minutes_on_a_t4():
    """The estimate of ``benchmarks/generalization_calibration.py --budget``: FLOPs counted from
    the networks, optimizer steps from the notebooks' sizes. Before issue 14: about 119 and 63
    estimated minutes (1.8 million optimizer steps together)."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "generalization_calibration.py"
    spec = importlib.util.spec_from_file_location("generalization_calibration", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    full = bench.budget("full")
    assert full["06"][0] == 34 and full["09"][0] == 13          # every run of the notebooks
    for notebook, (runs, steps, tflop, minutes) in full.items():
        assert minutes < 20, (notebook, minutes)
        assert steps < 200_000, (notebook, steps)
