"""CKA (lecture_utils.similarity) and the representation measures
(lecture_utils.representations)."""
import numpy as np
import pytest
import torch

from lecture_utils import checks, models, representations as R, similarity as S


def _pair(m=120, p1=30, p2=20, seed=0, offset=3.0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(m, p1, generator=g, dtype=torch.float64) + offset
    Y = torch.tanh(X @ torch.randn(p1, p2, generator=g, dtype=torch.float64) / 4) \
        + 0.5 * torch.randn(m, p2, generator=g, dtype=torch.float64)
    return X, Y


def _explicit_cka(X, Y):
    """The slide with NumPy, nothing shared with the package: H, K', L', HSIC, CKA."""
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    m = len(X)
    H = np.eye(m) - np.ones((m, m)) / m
    Kc, Lc = H @ X @ X.T @ H, H @ Y @ Y.T @ H
    hsic = lambda A, B: A.ravel() @ B.ravel() / (m - 1) ** 2  # noqa: E731
    return hsic(Kc, Lc) / np.sqrt(hsic(Kc, Kc) * hsic(Lc, Lc))


# ---------------------------------------------------------------------------- linear CKA
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("m,p1,p2", [(50, 30, 20), (300, 10, 8), (7, 40, 3)])
def test_linear_cka_matches_the_explicit_centring_formula(m, p1, p2, dtype):
    """float32 activations are widened to float64 exactly: the same 1e-10 as for float64."""
    X, Y = (A.to(dtype) for A in _pair(m, p1, p2))
    ref = _explicit_cka(X, Y)
    for method in S.METHODS:
        assert S.linear_cka(X, Y, method) == pytest.approx(ref, rel=1e-10)
    assert S.cka(S.gram_linear(X), S.gram_linear(Y)) == pytest.approx(ref, rel=1e-10)


def test_hsic_and_centering_matrix():
    X, Y = _pair(40, 5, 4)
    H = S.centering_matrix(40)
    assert torch.allclose(H @ H, H)
    assert torch.allclose(H.sum(0), torch.zeros(40, dtype=H.dtype), atol=1e-12)
    K, L = S.gram_linear(X), S.gram_linear(Y)
    # vec(HKH).vec(HLH) = tr(KHLH) = ||Y^T H X||_F^2
    ref = float(torch.trace(K @ H @ L @ H)) / 39 ** 2
    assert S.hsic(K, L) == pytest.approx(ref, rel=1e-10)
    Xc, Yc = H @ X, H @ Y
    assert S.hsic(K, L) == pytest.approx(float((Yc.T @ Xc).pow(2).sum()) / 39 ** 2, rel=1e-10)


def test_cka_invariances():
    X, Y = _pair()
    base = S.linear_cka(X, Y)
    g = torch.Generator().manual_seed(1)
    Q, _ = torch.linalg.qr(torch.randn(X.shape[1], X.shape[1], generator=g, dtype=torch.float64))
    perm = torch.randperm(X.shape[1], generator=g)
    assert S.linear_cka(X @ Q, Y) == pytest.approx(base, rel=1e-10)             # orthogonal
    assert S.linear_cka(X[:, perm], Y) == pytest.approx(base, rel=1e-10)        # permutation
    assert S.linear_cka(7.3 * X, 0.01 * Y) == pytest.approx(base, rel=1e-10)    # isotropic scaling
    assert S.linear_cka(X + 5.0, Y) == pytest.approx(base, rel=1e-10)           # translation
    assert S.linear_cka(X, X) == pytest.approx(1.0, abs=1e-12)
    assert S.linear_cka(X, Y) == pytest.approx(S.linear_cka(Y, X), rel=1e-12)
    # not invariant to a general invertible linear map, nor to anisotropic scaling
    A = torch.randn(X.shape[1], X.shape[1], generator=g, dtype=torch.float64)
    assert abs(S.linear_cka(X @ A, Y) - base) > 1e-3
    D = torch.linspace(0.1, 10, X.shape[1], dtype=torch.float64)
    assert abs(S.linear_cka(X * D, Y) - base) > 1e-3


def test_rbf_cka_matches_a_direct_computation():
    X, Y = _pair(60, 6, 5)

    def direct_gram(A, threshold):
        A = np.asarray(A)
        sq = np.array([[np.sum((a - b) ** 2) for b in A] for a in A])
        return np.exp(-sq / (2 * threshold ** 2 * np.median(sq)))

    def direct(A, B, threshold):
        m = len(A)
        H = np.eye(m) - 1.0 / m
        K, L = H @ direct_gram(A, threshold) @ H, H @ direct_gram(B, threshold) @ H
        return (K * L).sum() / np.sqrt((K * K).sum() * (L * L).sum())

    for threshold in (0.5, 1.0, 2.0):
        assert S.rbf_cka(X, Y, threshold) == pytest.approx(direct(X, Y, threshold), rel=1e-9)
    assert S.rbf_cka(X, X) == pytest.approx(1.0)
    # for a wide kernel RBF CKA tends to linear CKA (Kornblith et al. 2019)
    assert S.rbf_cka(X, Y, 50.0) == pytest.approx(S.linear_cka(X, Y), abs=2e-3)


def test_numpy_and_any_shape_accepted():
    X, Y = _pair(30, 12, 6)
    assert S.linear_cka(X.numpy(), Y.numpy()) == pytest.approx(S.linear_cka(X, Y))
    assert S.linear_cka(X.reshape(30, 3, 2, 2), Y) == pytest.approx(S.linear_cka(X, Y))


def test_clear_errors():
    X, Y = _pair(30, 5, 4)
    with pytest.raises(ValueError, match="same examples|SAME examples"):
        S.linear_cka(X, Y[:20])
    with pytest.raises(ValueError, match="constant"):
        S.linear_cka(torch.ones(30, 5), Y)
    with pytest.raises(ValueError, match="constant"):
        S.linear_cka(X, torch.full((30, 4), 2.5), method="features")
    with pytest.raises(ValueError, match="constant"):
        S.rbf_cka(torch.ones(30, 5), Y)
    with pytest.raises(ValueError, match="matrix"):
        S.linear_cka(X[:, 0], Y)
    with pytest.raises(ValueError, match="NaN"):
        S.linear_cka(X * float("nan"), Y)
    with pytest.raises(ValueError, match="method"):
        S.linear_cka(X, Y, method="fast")
    # a single dead unit is fine: CKA uses the representation as a whole
    Xd = X.clone()
    Xd[:, 0] = 0
    assert 0 < S.linear_cka(Xd, Y) < 1


# ---------------------------------------------------------------------------- minibatch CKA
def test_unbiased_hsic_is_song_et_al():
    X, Y = _pair(25, 4, 3)
    K, L = S.gram_linear(X).numpy(), S.gram_linear(Y).numpy()
    n = len(K)
    Kt, Lt = K.copy(), L.copy()
    np.fill_diagonal(Kt, 0)
    np.fill_diagonal(Lt, 0)
    one = np.ones(n)
    ref = (np.trace(Kt @ Lt) + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
           - 2 / (n - 2) * one @ Kt @ Lt @ one) / (n * (n - 3))
    assert S.hsic_unbiased(K, L) == pytest.approx(ref, rel=1e-9)
    with pytest.raises(ValueError, match="at least 4"):
        S.hsic_unbiased(K[:3, :3], L[:3, :3])


def test_minibatch_cka_converges_to_full_cka():
    g = torch.Generator().manual_seed(0)
    m = 4096
    X = torch.randn(m, 4, generator=g)
    Y = torch.tanh(X @ torch.randn(4, 3, generator=g)) + 0.7 * torch.randn(m, 3, generator=g)
    full = S.linear_cka(X, Y)
    errors = []
    for bs in (16, 128, 1024):
        mb = S.minibatch_cka((X[i:i + bs], Y[i:i + bs]) for i in range(0, m, bs))
        errors.append(abs(mb - full))
    assert errors[-1] < 2e-3 and max(errors) < 0.02
    # averaging the biased CKA of each small batch instead is far off: why the unbiased HSIC
    naive = abs(np.mean([S.linear_cka(X[i:i + 16], Y[i:i + 16]) for i in range(0, m, 16)]) - full)
    assert naive > 0.05 and naive > 5 * errors[0]


def test_minibatch_accumulator_matches_pairwise_calls():
    X, Y = _pair(64, 6, 5)
    Z = X[:, :3] ** 2
    acc = S.MinibatchCKA()
    for i in range(0, 64, 16):
        acc.update([X[i:i + 16], Y[i:i + 16]], [Z[i:i + 16]])
    M = acc.result()
    assert M.shape == (2, 1)
    for r, A in enumerate((X, Y)):
        ref = S.minibatch_cka((A[i:i + 16], Z[i:i + 16]) for i in range(0, 64, 16))
        assert float(M[r, 0]) == pytest.approx(ref, rel=1e-5)


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return (models.vit(dim=16, depth=2, heads=2).eval(),
            models.resnet_gap(width=4, blocks=(1, 1, 1)).eval())


def test_cka_matrix_within_and_across(nets, cifar_test):
    vit, res = nets
    x = cifar_test[0][:64]
    lv, lr = R.block_layers(vit), R.block_layers(res)
    within = S.cka_matrix(vit, x, lv, batch_size=32)
    assert within.shape == (len(lv), len(lv))
    assert torch.allclose(within.diagonal(), torch.ones(len(lv)), atol=1e-5)
    assert torch.allclose(within, within.T, atol=1e-5)
    across = S.cka_matrix(vit, x, lv, model_b=res, layers_b=lr, batch_size=32)
    assert across.shape == (len(lv), len(lr))
    # the same numbers as minibatch_cka on the collected activations
    acts_v = R.layer_activations(vit, x=x, layers=lv)
    acts_r = R.layer_activations(res, x=x, layers=lr)
    ref = S.minibatch_cka((acts_v[lv[1]][i:i + 32], acts_r[lr[2]][i:i + 32]) for i in (0, 32))
    assert float(across[1, 2]) == pytest.approx(ref, rel=1e-4)
    # a subset of layers of the same network, on the other axis
    part = S.cka_matrix(vit, x, lv, layers_b=lv[:2], batch_size=32)
    assert torch.allclose(part, within[:, :2], atol=1e-5)
    with pytest.raises(ValueError, match="no layer named"):
        S.cka_matrix(vit, x, ["blocks.9"])


# ---------------------------------------------------------------------------- representations
def test_layer_activations_stop_early_and_pool(nets, cifar_test):
    vit, res = nets
    x = cifar_test[0][:10]
    acts = R.layer_activations(res, x=x, layers=["layer1"], batch_size=4)
    assert acts["layer1"].shape == (10, 4, 32, 32)
    vgg = models.vgg(width=4).eval()       # its fc1 takes 32x32 images only; the trunk reads 64x64
    a = R.layer_activations(vgg, x=torch.rand(2, 3, 64, 64), layers=["relu4_2"])["relu4_2"]
    assert a.shape == (2, 32, 8, 8)
    assert R.pool_features(torch.ones(3, 5, 2, 2), "mean").shape == (3, 5)
    t = torch.arange(2 * 5 * 3.0).view(2, 5, 3)
    assert torch.equal(R.pool_features(t, "cls"), t[:, 0])
    assert torch.allclose(R.pool_features(t, "mean"), t[:, 1:].mean(1))
    with pytest.raises(ValueError, match="pool"):
        R.pool_features(t, "max")


def test_iteration_never_leaks_grad_mode(nets, cifar_test):
    """Grad mode is thread-global: between batches (and after an abandoned iteration) the caller's
    code runs with its own grad mode, not with no_grad held open across the ``yield``."""
    vit, res = nets
    x = cifar_test[0][:8]
    assert torch.is_grad_enabled()
    it = R.iter_layer_activations(res, ["layer1"], x, batch_size=4)
    next(it)
    assert torch.is_grad_enabled()               # suspended at the yield: grad mode is ours
    del it                                       # abandoned half-way (GeneratorExit at the yield)
    assert torch.is_grad_enabled()
    for _ in R.iter_layer_activations(vit, ["blocks.0"], x, batch_size=4):
        assert torch.is_grad_enabled()
    with torch.no_grad():                        # and a caller's no_grad is left as it was
        for _ in R.iter_layer_activations(res, ["layer1"], x, batch_size=4):
            assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()
    assert not any(m._forward_hooks for m in res.modules())    # hooks removed


def test_effective_receptive_field(nets, cifar_test):
    vit, res = nets
    x = cifar_test[0][:4]
    # a 3x3 conv with stride 1: the centre location depends on a 3x3 patch of the input only
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3, padding=1))
    erf = R.effective_receptive_field(conv, "0", x.float() / 255)
    assert erf.shape == (32, 32)
    assert torch.count_nonzero(erf) <= 9
    assert torch.count_nonzero(erf[15:18, 15:18]) == torch.count_nonzero(erf)
    assert R.erf_radius(erf) <= 1.5
    # deeper ResNet layers see farther
    assert R.erf_radius(R.effective_receptive_field(res, "layer3", x)) >= \
        R.erf_radius(R.effective_receptive_field(res, "stem", x))
    # the ViT's patch embedding: only the centre patch (4x4 pixels) matters before any attention
    tokens = R.effective_receptive_field(vit, "blocks.0.norm1", x)
    assert torch.count_nonzero(tokens) <= 16


def test_mean_attention_distance_and_norm_ratios(nets, cifar_test):
    vit, _ = nets
    x = cifar_test[0][:8]
    d = R.mean_attention_distance(vit, x, batch_size=4)
    assert d.shape == (2, 2) and (d > 0).all() and (d < 32 * 2 ** 0.5).all()
    # uniform attention gives the mean distance between patches
    D = R.patch_distances(8, 4.0)
    assert float(D.mean()) == pytest.approx(float(D.mean(1).mean()))
    assert D[0, 63] == pytest.approx(7 * 4 * 2 ** 0.5)
    r = R.residual_norm_ratios(vit, x)
    assert r.shape == (2, 2, 2) and (r > 0).all()
    with pytest.raises(TypeError, match="ViT"):
        R.mean_attention_distance(models.resnet_gap(width=4), x)


def test_linear_probe_separable():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 2
    f = torch.randn(200, 3, generator=g) + 4 * y[:, None]
    assert R.linear_probe(f[:100], y[:100], f[100:], y[100:]) > 0.95


# ---------------------------------------------------------------------------- exercise checks
def test_check_linear_cka_accepts_reference_and_rejects_wrong_ones():
    assert checks.check_linear_cka(S.linear_cka) < 1e-6

    def no_centering(X, Y):
        K, L = X @ X.T, Y @ Y.T
        return float((K * L).sum() / torch.sqrt((K * K).sum() * (L * L).sum()))

    def no_normalisation(X, Y):
        return S.hsic(X @ X.T, Y @ Y.T)

    for wrong in (no_centering, no_normalisation):
        with pytest.raises(checks.CheckFailed):
            checks.check_linear_cka(wrong)


def test_check_hsic():
    assert checks.check_hsic(S.hsic) < 1e-6

    def wrong_denominator(K, L):
        m = len(K)
        return S.hsic(K, L) * (m - 1) ** 2 / m ** 2

    with pytest.raises(checks.CheckFailed):
        checks.check_hsic(wrong_denominator)


def test_spatial_tokens_patches_and_spatial_cka():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8) / (2 * 3 * 64)
    p = R.image_patches(x, 4)                            # 2x2-pixel tiles on a 4x4 grid
    assert p.shape == (2, 16, 12)
    assert torch.equal(p[1, 5].view(3, 2, 2), x[1, :, 2:4, 2:4])       # row 1, column 1
    maps = torch.randn(2, 5, 4, 4)
    assert torch.equal(R.spatial_tokens(maps)[:, 6], maps[:, :, 1, 2])
    tok = torch.randn(2, 17, 5)
    assert torch.equal(R.spatial_tokens(tok), tok[:, 1:])
    # a layer that copies each input patch keeps the layout: the peak is at the query position
    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(200, 3, 8, 8, generator=g)
    patches = R.image_patches(imgs, 4)
    feats = patches @ torch.randn(12, 6, generator=g, dtype=patches.dtype)
    for q in (0, 5, 15):
        smap = S.spatial_cka(feats, patches, q)
        assert smap.shape == (16,) and int(smap.argmax()) == q
    with pytest.raises(ValueError, match="grid"):
        S.spatial_cka(feats[:, :8], patches, 0)


def test_skip_removed_restores(nets, cifar_test):
    vit, res = nets
    x = cifar_test[0][:4].float() / 255
    for net, block in ((vit, "blocks.1"), (res, "layer2.0")):
        before = net(x)
        with R.skip_removed(net, block):
            assert not net.get_submodule(block).skip
            changed = net(x)
        assert net.get_submodule(block).skip and torch.equal(net(x), before)
        assert not torch.allclose(changed, before)
    with pytest.raises(TypeError, match="skip"):
        with R.skip_removed(res, "stem"):
            pass


def test_block_layers_and_labels(nets):
    vit, res = nets
    lv, lr = R.block_layers(vit), R.block_layers(res)
    assert lv == ["blocks.0.norm1", "blocks.0.norm2", "blocks.1.norm1", "blocks.1.norm2", "norm"]
    assert R.layer_labels(lv) == ["embed", "b0 attn", "b0 mlp", "b1 attn", "b1 mlp"]
    assert lr[:3] == ["stem", "layer1.0.relu1", "layer1.0"]
    assert R.layer_labels(lr)[:3] == ["stem", "l1.0 mid", "l1.0"]
    for name in lv + lr:
        assert name == "norm" or (vit if name.startswith("blocks") else res).get_submodule(name)


def test_residual_path_removed_is_one_path(nets, cifar_test):
    """Cutting one residual path: the sub-layer's output replaces z + f(z); the ViT's two paths
    together are skip_removed; hooks come off and settings come back on every exit."""
    vit, res = nets
    x = cifar_test[0][:4].float() / 255
    blk = vit.blocks[1]
    z = {}
    h = blk.register_forward_pre_hook(lambda m, a: z.__setitem__("in", a[0]))
    before = vit(x)
    h.remove()
    zin = z["in"]
    with torch.no_grad():
        a = blk.attention(blk.norm1(zin))
        want = a + blk.mlp(blk.norm2(a))                    # attention path cut, MLP path kept
        got = None
        with R.residual_path_removed(vit, "blocks.1.attention"):
            rec = {}
            h = blk.register_forward_hook(lambda m, a, o: rec.__setitem__("out", o))
            vit(x)
            h.remove()
            got = rec["out"]
    tol = dict(rtol=1e-5, atol=1e-5 * float(want.abs().max()))   # float32, x + (f - x)
    torch.testing.assert_close(got, want, **tol)
    with torch.no_grad(), R.residual_path_removed(vit, ["blocks.1.attention", "blocks.1.mlp"]):
        both = vit(x)
    with torch.no_grad(), R.skip_removed(vit, "blocks.1"):
        ref = vit(x)
    torch.testing.assert_close(both, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in vit.modules())
    assert torch.equal(vit(x), before)
    # the ResNet's one path is its shortcut: the same as skip_removed there
    with torch.no_grad(), R.residual_path_removed(res, "layer2.0"):
        assert not res.layer2[0].skip
        cut = res(x)
    with torch.no_grad(), R.skip_removed(res, "layer2.0"):
        torch.testing.assert_close(cut, res(x))
    assert res.layer2[0].skip
    with pytest.raises(RuntimeError), R.residual_path_removed(vit, "blocks.0.mlp"):
        raise RuntimeError("hooks must come off on this path too")
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in vit.modules())
    for bad, err in (("stem", TypeError), ("blocks.0.norm1", TypeError), ([], ValueError)):
        with pytest.raises(err), R.residual_path_removed(res if bad == "stem" else vit, bad):
            pass


def test_per_image_erf_and_attention_distance_average_to_the_defaults(nets, cifar_test):
    vit, res = nets
    x = cifar_test[0][:6]
    per = R.effective_receptive_field(res, "layer1.0", x, per_image=True)
    assert per.shape == (6, 32, 32)
    torch.testing.assert_close(per.mean(0), R.effective_receptive_field(res, "layer1.0", x))
    d = R.mean_attention_distance(vit, x, batch_size=4, per_image=True)
    assert d.shape == (6, 2, 2)
    torch.testing.assert_close(d.mean(0), R.mean_attention_distance(vit, x, batch_size=4))
