"""lecture_utils.similarity under careless input: CKA at any scale (issue 13, item 13: X * 1e-13
was called "constant", X * 1e80 gave 0.0), and clear errors for what is not a pair of
representations of the same examples."""
import numpy as np
import pytest
import torch

from lecture_utils import models, representations as R, similarity as S


def _pair(m=60, p1=12, p2=7, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(m, p1, generator=g, dtype=torch.float64) + 1.0
    Y = torch.tanh(X @ torch.randn(p1, p2, generator=g, dtype=torch.float64) / 3) \
        + 0.4 * torch.randn(m, p2, generator=g, dtype=torch.float64)
    return X.to(dtype), Y.to(dtype)


def _explicit_cka(X, Y):
    """The slide in NumPy float64 (nothing shared with the package)."""
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    m = len(X)
    H = np.eye(m) - np.ones((m, m)) / m
    Kc, Lc = H @ X @ X.T @ H, H @ Y @ Y.T @ H
    return (Kc * Lc).sum() / np.sqrt((Kc * Kc).sum() * (Lc * Lc).sum())


# ---------------------------------------------------------------------------- any scale
@pytest.mark.parametrize("scale", [1e-13, 1e-100, 1e80, 1e150, 1e300])
@pytest.mark.parametrize("method", S.METHODS)
def test_linear_cka_does_not_depend_on_the_scale(scale, method):
    X, Y = _pair()
    ref = _explicit_cka(X, Y)
    assert S.linear_cka(X * scale, Y, method) == pytest.approx(ref, rel=1e-10)
    assert S.linear_cka(X * scale, Y / scale, method) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("scale", [1e-13, 1e-100, 1e80, 1e150])
def test_gram_cka_hsic_and_rbf_cka_at_any_scale(scale):
    X, Y = _pair(m=30)
    K, L = S.gram_linear(X), S.gram_linear(Y)
    ref = S.cka(K, L)
    assert ref == pytest.approx(_explicit_cka(X, Y), rel=1e-10)
    assert S.cka(K * scale, L) == pytest.approx(ref, rel=1e-10)
    assert S.hsic(K * scale, L) == pytest.approx(S.hsic(K, L) * scale, rel=1e-10)
    assert S.hsic_unbiased(K * scale, L) == pytest.approx(S.hsic_unbiased(K, L) * scale, rel=1e-9)
    assert S.rbf_cka(X * scale, Y) == pytest.approx(S.rbf_cka(X, Y), rel=1e-9)


@pytest.mark.parametrize("scale", [1e-30, 1e-8, 1e8, 1e30])
def test_minibatch_cka_in_float32_at_any_scale(scale):
    """float32 squares of 1e30 overflow and of 1e-30 underflow: each layer is divided by its own
    magnitude (from the first batch) before the Gram matrices are formed."""
    X, Y = _pair(m=256, dtype=torch.float32)
    batches = lambda A, B: [(A[i:i + 64], B[i:i + 64]) for i in range(0, 256, 64)]  # noqa: E731
    ref = S.minibatch_cka(batches(X, Y))
    assert S.minibatch_cka(batches(X * scale, Y)) == pytest.approx(ref, rel=1e-5)
    assert S.minibatch_cka(batches(X * scale, Y * scale)) == pytest.approx(ref, rel=1e-5)


def test_a_large_offset_costs_no_accuracy_in_float32():
    """Features are centred per batch before the float32 Gram matrix: HSIC_1 does not change when
    a constant is added to every example, and the offset's square no longer swamps the signal."""
    X, Y = _pair(m=256)
    batches = lambda A, B: [(A[i:i + 64], B[i:i + 64]) for i in range(0, 256, 64)]  # noqa: E731
    ref = S.minibatch_cka(batches(X, Y))
    shifted = S.minibatch_cka(batches((X + 300).float(), Y.float()))
    # what float32 can still say about X after adding 300: a resolution of 300 * 6e-8
    assert shifted == pytest.approx(ref, rel=1e-4)


def test_tiny_but_varying_representations_are_not_called_constant():
    X, Y = _pair()
    for method in S.METHODS:
        assert 0 < S.linear_cka(X * 1e-13, Y, method) < 1
    assert 0 < S.rbf_cka(X * 1e-200, Y) < 1


# ---------------------------------------------------------------------------- constant
@pytest.mark.parametrize("scale", [1e-13, 1.0, 1e80])
def test_constant_representations_are_called_constant_at_any_scale(scale):
    _, Y = _pair()
    const = torch.full((60, 12), 3.0, dtype=torch.float64) * scale
    for method in S.METHODS:
        with pytest.raises(ValueError, match="constant"):
            S.linear_cka(const, Y, method)
        with pytest.raises(ValueError, match="constant"):
            S.linear_cka(Y, const, method)
    with pytest.raises(ValueError, match="constant"):
        S.rbf_cka(const, Y)
    with pytest.raises(ValueError, match="constant"):
        S.cka(S.gram_linear(const), S.gram_linear(Y))
    with pytest.raises(ValueError, match="constant"):
        S.linear_cka(torch.zeros(60, 12), Y)
    c32 = torch.full((60, 12), 3.0 * min(scale, 1e30))          # float32 ends at 3.4e38
    with pytest.raises(ValueError, match="constant.*layer 0 of X"):
        S.minibatch_cka([(c32[i:i + 20], Y[i:i + 20]) for i in range(0, 60, 20)])


# ---------------------------------------------------------------------------- not finite
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_activations_get_a_clear_error(value):
    X, Y = _pair()
    X[5, 3] = value
    for call in (lambda: S.linear_cka(X, Y), lambda: S.rbf_cka(X, Y),
                 lambda: S.gram_linear(X), lambda: S.linear_cka(Y, X, "gram"),
                 lambda: S.minibatch_cka([(X[:30], Y[:30]), (X[30:], Y[30:])])):
        with pytest.raises(ValueError, match="NaN or inf"):
            call()


def test_non_finite_activations_inside_the_minibatch_accumulator():
    X, Y = _pair(m=32, dtype=torch.float32)
    acc = S.MinibatchCKA()
    X[3, 0] = float("nan")
    acc.update([X[:16]], [Y[:16]])
    acc.update([X[16:]], [Y[16:]])
    with pytest.raises(ValueError, match="NaN or inf"):
        acc.result()


# ---------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("X, error, match", [
    (torch.ones(60), ValueError, "matrix"),
    (torch.ones(60, 0), ValueError, "0 neurons"),
    (torch.ones(60, 3, dtype=torch.complex64), TypeError, "complex"),
    ([[1.0, 2.0]] * 60, TypeError, "tensor or an array"),
    (torch.ones(59, 4), ValueError, "SAME examples"),
])
def test_what_is_not_a_representation_of_the_same_examples(X, error, match):
    _, Y = _pair()
    with pytest.raises(error, match=match):
        S.linear_cka(X, Y)


def test_numpy_float32_integer_and_any_shaped_activations_are_accepted():
    X, Y = _pair()
    ref = S.linear_cka(X, Y)
    assert S.linear_cka(X.numpy(), Y.numpy()) == pytest.approx(ref, rel=1e-12)
    assert S.linear_cka(X.float(), Y) == pytest.approx(_explicit_cka(X.float(), Y), rel=1e-10)
    assert S.linear_cka(X.reshape(60, 3, 2, 2), Y) == pytest.approx(ref, rel=1e-12)
    counts = torch.randint(0, 5, (60, 4), generator=torch.Generator().manual_seed(1))
    assert S.linear_cka(counts, Y) == pytest.approx(_explicit_cka(counts, Y), rel=1e-10)


def test_gram_functions_refuse_features():
    X, Y = _pair(m=30, p1=12)
    with pytest.raises(ValueError, match=r"Gram matrix is \[m, m\].*linear_cka"):
        S.cka(X, Y)
    square = torch.randn(30, 30, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with pytest.raises(ValueError, match="not symmetric"):
        S.hsic(square, S.gram_linear(Y))
    with pytest.raises(ValueError, match="Gram"):
        S.center_gram(X)
    with pytest.raises(ValueError, match="SAME examples"):
        S.cka(S.gram_linear(X), S.gram_linear(Y[:20]))
    with pytest.raises(ValueError, match="at least 2"):
        S.cka(torch.ones(1, 1), torch.ones(1, 1))
    with pytest.raises(ValueError, match="at least 4"):
        S.hsic_unbiased(S.gram_linear(X[:3]), S.gram_linear(Y[:3]))
    with pytest.raises(ValueError, match=r"\[\.\.\., n, n\]"):
        S.unbiased_center(torch.ones(4, 5))


@pytest.mark.parametrize("threshold, match", [(0, r"\(0, inf\)"), (-1, r"\(0, inf\)"),
                                              (float("nan"), "finite"), ("1", "number")])
def test_rbf_bandwidth_is_checked(threshold, match):
    X, Y = _pair()
    with pytest.raises((ValueError, TypeError), match=match):
        S.rbf_cka(X, Y, threshold)


def test_centering_matrix_takes_numpy_integers():
    assert torch.equal(S.centering_matrix(np.int64(4)), S.centering_matrix(4))
    with pytest.raises(ValueError, match="at least 1"):
        S.centering_matrix(0)
    with pytest.raises(TypeError, match="integer"):
        S.centering_matrix(4.0)


# ---------------------------------------------------------------------------- minibatches
def test_minibatch_cka_refuses_small_or_missing_batches():
    X, Y = _pair(m=12, dtype=torch.float32)
    with pytest.raises(ValueError, match="at least 4"):
        S.minibatch_cka([(X[:3], Y[:3])])
    with pytest.raises(ValueError, match="No batch"):
        S.minibatch_cka([])
    acc = S.MinibatchCKA()
    acc.update([X[:6], X[:6] ** 2], [Y[:6]])
    with pytest.raises(ValueError, match="same layers"):
        acc.update([X[6:]], [Y[6:]])
    with pytest.raises(ValueError, match="same examples"):
        acc.update([X[6:], X[7:]], [Y[6:]])
    with pytest.raises(ValueError, match="list of activation batches"):
        acc.update([])


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return (models.vit(dim=16, depth=2, heads=2).eval(),
            models.resnet_gap(width=4, blocks=(1, 1, 1)).eval())


def test_cka_matrix_takes_a_plain_layer_name_and_numpy_counts(nets):
    vit, res = nets
    x = torch.randint(0, 256, (24, 3, 32, 32), dtype=torch.uint8,
                      generator=torch.Generator().manual_seed(0))
    one = S.cka_matrix(vit, x, "blocks.0", batch_size=np.int64(12))
    assert one.shape == (1, 1) and one.item() == pytest.approx(1.0, abs=1e-5)
    listed = S.cka_matrix(vit, x, ["blocks.0"], model_b=res, layers_b="layer1", batch_size=12)
    assert listed.shape == (1, 1) and 0 < listed.item() < 1
    with pytest.raises(TypeError):
        S.cka_matrix(vit, x, ["blocks.0"], res, ["layer1"])          # the other model by name


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(batch_size=0), ValueError, "at least 4"),
    (dict(batch_size=3), ValueError, "at least 4"),
    (dict(batch_size=12.0), TypeError, "batch_size=12"),
    (dict(layers_a=[]), ValueError, "at least one layer"),
    (dict(layers_a=["blocks.7"]), ValueError, "no layer named"),
    (dict(images=torch.zeros(3, 3, 32, 32)), ValueError, "at least 4 images"),
    (dict(images=np.zeros((8, 3, 32, 32))), ValueError, r"\[N, 3, H, W\]"),
    (dict(images=torch.zeros(8, 32, 32)), ValueError, r"\[N, 3, H, W\]"),
])
def test_cka_matrix_refuses_bad_options(nets, kwargs, error, match):
    vit, _ = nets
    args = dict(layers_a=["blocks.0", "blocks.1"], images=torch.rand(8, 3, 32, 32), batch_size=4)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        S.cka_matrix(vit, args["images"], args["layers_a"], batch_size=args["batch_size"])


def test_cka_matrix_of_a_constant_input_says_which_layer(nets):
    vit, _ = nets
    same = torch.full((8, 3, 32, 32), 0.5)                   # one image repeated
    with pytest.raises(ValueError, match="constant.*layer 0"):
        S.cka_matrix(vit, same, ["blocks.0"], batch_size=4)


# ---------------------------------------------------------------------------- spatial CKA
def test_spatial_cka_query_is_an_index_that_does_not_wrap():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(20, 4, 6, generator=g, dtype=torch.float64)
    patches = feats[..., :3] + 0.1 * torch.randn(20, 4, 3, generator=g, dtype=torch.float64)
    ref = S.spatial_cka(feats, patches, 3)
    assert torch.equal(S.spatial_cka(feats, patches, np.int64(3)), ref)
    assert int(ref.argmax()) == 3
    with pytest.raises(IndexError, match="negative indices"):
        S.spatial_cka(feats, patches, -1)
    with pytest.raises(IndexError, match="0..3"):
        S.spatial_cka(feats, patches, 4)
    with pytest.raises(ValueError, match=r"\[m examples, P positions, d\]"):
        S.spatial_cka(feats[:, 0], patches, 0)
    with pytest.raises(ValueError, match="grid positions"):
        S.spatial_cka(feats, patches[:, :3], 0)


def test_representations_helpers_feed_spatial_cka():
    x = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    patches = R.image_patches(x, 2)
    assert S.spatial_cka(patches.double(), patches.double(), 1)[1] == pytest.approx(1.0)
