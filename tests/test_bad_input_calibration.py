"""lecture_utils.calibration under careless input: a clear error that says what to do, or the
right result. The issue's cases (NumPy integers for n_bins, fit_temperature(bounds=(0, 10)),
reversed bounds, non-finite scores) and the kinds of input around them."""
import numpy as np
import pytest
import torch

from lecture_utils import calibration as cal

ERRORS = (ValueError, TypeError, IndexError)


def _data(n=300, k=5, seed=0, true_T=2.0):
    g = torch.Generator().manual_seed(seed)
    z = 3 * torch.randn(n, k, generator=g, dtype=torch.float64)
    y = torch.multinomial(torch.softmax(z / true_T, 1), 1, generator=g).squeeze(1)
    return z, y


# ---------------------------------------------------------------------------- counts: n_bins
@pytest.mark.parametrize("n_bins", [np.int64(10), np.int32(10), np.uint8(10), torch.tensor(10)])
def test_numpy_and_tensor_integers_are_counts(n_bins):
    z, y = _data()
    p = torch.softmax(z, 1)
    assert cal.expected_calibration_error(p, y, n_bins) == cal.expected_calibration_error(p, y, 10)
    assert cal.reliability_bins(p, y, n_bins).count.shape == (10,)
    assert cal.bin_index(torch.tensor([0.05, 1.0]), n_bins).tolist() == [0, 9]
    assert cal.HistogramBinning(n_bins).n_bins == 10
    scores, _ = cal.compare_calibrators(z, y, z, y, n_bins=n_bins, methods=["Uncalibrated"])
    assert scores["Uncalibrated"]["ECE"] == pytest.approx(cal.expected_calibration_error(p, y, 10))


@pytest.mark.parametrize("n_bins, error, match", [
    (0, ValueError, "at least 1"), (-3, ValueError, "at least 1"),
    (10.0, TypeError, "n_bins=10"), (2.5, TypeError, "integer"), (True, TypeError, "integer"),
    (None, TypeError, "integer"), ("15", TypeError, "integer"),
])
def test_bad_n_bins(n_bins, error, match):
    z, y = _data(n=20)
    p = torch.softmax(z, 1)
    for call in (lambda: cal.expected_calibration_error(p, y, n_bins),
                 lambda: cal.maximum_calibration_error(p, y, n_bins),
                 lambda: cal.bin_index(p.max(1).values, n_bins),
                 lambda: cal.HistogramBinning(n_bins)):
        with pytest.raises(error, match=match):
            call()


# ---------------------------------------------------------------------------- probabilities
@pytest.mark.parametrize("bad, match", [
    (lambda p, y: (p.index_put((torch.tensor([3]), torch.tensor([1])),
                               torch.tensor(float("nan"), dtype=p.dtype)), y), "NaN or inf"),
    (lambda p, y: (torch.full_like(p, float("inf")), y), "NaN or inf"),
    (lambda p, y: (p, y.bool()), "booleans"),
    (lambda p, y: (p, y.float()), "integer"),
    (lambda p, y: (p, y[:, None]), "one class index per row"),
    (lambda p, y: (p, -y - 1), "out of range"),
    (lambda p, y: (p.long(), y), "floating point"),
    (lambda p, y: (p[:, :0], y), "0 classes"),
    (lambda p, y: (p[None], y), r"\[N, K\]"),
    (lambda p, y: (-p, y), "non-negative"),
    (lambda p, y: (torch.log(p), y), "softmax"),
    (lambda p, y: ("probs", y), "tensor or an array"),
])
def test_bad_probabilities_get_a_clear_error(bad, match):
    z, y = _data(n=30)
    probs, labels = bad(torch.softmax(z, 1), y)
    for fn in (cal.expected_calibration_error, cal.maximum_calibration_error,
               cal.negative_log_likelihood, cal.error_rate, cal.reliability_bins):
        with pytest.raises(ERRORS, match=match):
            fn(probs, labels)


def test_lists_numpy_and_integer_label_dtypes_give_the_same_ece():
    z, y = _data(n=200, seed=1)
    p = torch.softmax(z, 1)
    ref = cal.expected_calibration_error(p, y)
    assert cal.expected_calibration_error(p.numpy(), y.numpy().astype(np.int32)) == ref
    assert cal.expected_calibration_error(p.tolist(), y.tolist()) == ref
    assert cal.expected_calibration_error(p, y.to(torch.uint8)) == ref


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_low_precision_probabilities_are_widened_not_refused(dtype):
    z, y = _data(n=400, k=10, seed=2)
    p = torch.softmax(z, 1)
    low = p.to(dtype)                   # rows sum to 1 only within the dtype's resolution
    ece = cal.expected_calibration_error(low, y)
    eps = torch.finfo(dtype).eps
    # confidences move by at most eps/2 relative: the ECE moves by about that much (plus the
    # few samples that change bins)
    assert ece == pytest.approx(cal.expected_calibration_error(p, y), abs=40 * eps)


def test_bin_index_refuses_what_is_not_a_confidence():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        cal.bin_index(torch.tensor([0.5, 3.2]), 10)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        cal.bin_index(torch.tensor([-0.5]), 10)
    with pytest.raises(ValueError, match="NaN"):
        cal.bin_index(torch.tensor([float("nan")]), 10)
    with pytest.raises(TypeError, match="floating"):
        cal.bin_index(torch.tensor([1]), 10)
    assert cal.bin_index(torch.tensor([]), 10).shape == (0,)          # nothing to bin: no bins
    assert cal.bin_index(torch.tensor([1 + 1e-9], dtype=torch.float64), 4).tolist() == [3]


def test_a_single_sample_and_a_single_class():
    p1 = torch.tensor([[0.2, 0.8]], dtype=torch.float64)
    assert cal.expected_calibration_error(p1, torch.tensor([1])) == pytest.approx(0.2)
    assert cal.expected_calibration_error(p1, torch.tensor([0])) == pytest.approx(0.8)
    one_class = torch.ones(5, 1, dtype=torch.float64)                # always right, always sure
    assert cal.expected_calibration_error(one_class, torch.zeros(5, dtype=torch.long)) == 0.0


# ---------------------------------------------------------------------------- temperature
@pytest.mark.parametrize("T, match", [(0, r"\(0, inf\)"), (-1.0, r"\(0, inf\)"),
                                      (float("nan"), "finite"), (float("inf"), "finite"),
                                      ("2", "number"), (None, "number")])
def test_softmax_refuses_a_bad_temperature(T, match):
    z, _ = _data(n=5)
    with pytest.raises(ERRORS, match=match):
        cal.softmax(z, T)


def test_softmax_accepts_numpy_and_tensor_temperatures():
    z, _ = _data(n=5)
    ref = cal.softmax(z, 2.0)
    assert torch.equal(cal.softmax(z, np.float32(2.0)), ref)
    assert torch.equal(cal.softmax(z, torch.tensor(2.0)), ref)
    assert torch.equal(cal.softmax(z, 2), ref)


@pytest.mark.parametrize("bounds, error, match", [
    ((0, 10), ValueError, r"smallest temperature.*\(0, inf\)"),
    ((-1, 10), ValueError, r"\(0, inf\)"),
    ((10, 0.1), ValueError, r"reversed.*\(0.1, 10\)"),
    ((0.1, float("inf")), ValueError, "finite"),
    ((0.1, float("nan")), ValueError, "finite"),
    (5.0, TypeError, "pair"),
    ((1, 2, 3), TypeError, "pair"),
    (("a", 10), TypeError, "number"),
])
def test_fit_temperature_refuses_bad_bounds(bounds, error, match):
    z, y = _data()
    with pytest.raises(error, match=match):
        cal.fit_temperature(z, y, bounds=bounds)


def test_fit_temperature_bounds_are_keyword_only_and_may_be_equal():
    z, y = _data()
    with pytest.raises(TypeError):
        cal.fit_temperature(z, y, (0.1, 10))               # the old positional call
    assert cal.fit_temperature(z, y, bounds=(2.5, 2.5)) == 2.5
    T = cal.fit_temperature(z, y, bounds=(np.float32(0.5), np.int64(20)))
    assert T == pytest.approx(cal.fit_temperature(z, y), rel=1e-9)


@pytest.mark.parametrize("scale, dtype", [(1e-20, torch.float64), (1e6, torch.float64),
                                          (1e30, torch.float32), (1e-30, torch.float32),
                                          (1e250, torch.float64)])
def test_fit_temperature_follows_the_scale_of_the_logits(scale, dtype):
    """NLL(T; s z) = NLL(T / s; z): the fitted T scales with the logits, in either dtype, with no
    overflow at 1e30 (float32) or 1e250 (float64), where z * z would be inf."""
    z, y = _data(n=2000, seed=3)
    T = cal.fit_temperature(z, y)
    scaled = (z * scale).to(dtype)
    assert torch.isfinite(scaled).all()
    T_s = cal.fit_temperature(scaled, y, bounds=(1e-3 * scale, 1e3 * scale))
    tol = 1e-6 if dtype == torch.float64 else 1e-4
    assert T_s / scale == pytest.approx(T, rel=tol)


def test_fit_temperature_when_the_nll_does_not_depend_on_T():
    y = torch.tensor([0, 1, 2])
    assert cal.fit_temperature(torch.zeros(3, 3), y) == 1.0                 # all logits equal
    assert cal.fit_temperature(torch.arange(3.0)[:, None].expand(3, 3), y) == 1.0  # rows constant
    assert cal.fit_temperature(torch.ones(3, 1), torch.zeros(3, dtype=torch.long)) == 1.0
    assert cal.fit_temperature(torch.zeros(3, 3), y, bounds=(2, 5)) == 2.0   # nearest bound


def test_fit_temperature_refuses_non_finite_logits_and_bad_labels():
    z, y = _data(n=50)
    z[7, 2] = float("inf")
    with pytest.raises(ValueError, match="NaN or inf"):
        cal.fit_temperature(z, y)
    z, y = _data(n=50)
    with pytest.raises(IndexError, match="out of range"):
        cal.fit_temperature(z, y + 5)
    with pytest.raises(ValueError, match="one class index per row"):
        cal.fit_temperature(z, y[:10])
    assert cal.fit_temperature(z.numpy(), y.numpy()) == cal.fit_temperature(z, y)
    assert cal.fit_temperature(z.half(), y) == pytest.approx(cal.fit_temperature(z, y), rel=1e-2)


# ---------------------------------------------------------------------------- calibrators
@pytest.mark.parametrize("make, match", [
    (lambda: cal.HistogramBinning(0), "at least 1"),
    (lambda: cal.BBQ(C=0), r"\(0, inf\)"),
    (lambda: cal.BBQ(prior_strength=float("nan")), "finite"),
    (lambda: cal.VectorScaling(max_iter=0), "at least 1"),
    (lambda: cal.MatrixScaling(max_iter=2.5), "integer"),
])
def test_calibrator_options_are_checked_when_made(make, match):
    with pytest.raises(ERRORS, match=match):
        make()


@pytest.mark.parametrize("name", list(cal.CALIBRATORS))
def test_every_calibrator_on_degenerate_sets(name):
    """One sample, two samples, one class never seen: probabilities, never NaN or a crash."""
    z, y = _data(n=40, k=4, seed=5)
    y = torch.where(y == 3, torch.zeros_like(y), y)          # class 3 never in the labels
    for n in (1, 2, 40):
        q = cal.CALIBRATORS[name]().fit(z[:n], y[:n]).predict_proba(z)
        assert q.shape == (40, 4) and torch.isfinite(q).all() and (q >= 0).all(), (name, n)
        assert torch.allclose(q.sum(1), torch.ones(40, dtype=q.dtype)), (name, n)


@pytest.mark.parametrize("name", list(cal.CALIBRATORS))
def test_every_calibrator_refuses_bad_logits_and_labels(name):
    z, y = _data(n=30, k=4)
    model = cal.CALIBRATORS[name]()
    with pytest.raises(RuntimeError, match="fit"):
        model.predict_proba(z)
    bad = z.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        model.fit(bad, y)
    with pytest.raises(IndexError, match="out of range"):
        model.fit(z, y - 1)                                  # -1 does not wrap to the last class
    model.fit(z, y)
    with pytest.raises(ValueError, match="NaN or inf"):
        model.predict_proba(bad)
    with pytest.raises(ValueError, match="fitted on 4"):
        model.predict_proba(z[:, :3])
    assert model.predict_proba(z.float()).dtype == torch.float64


def test_compare_calibrators_refuses_unknown_methods_and_mismatched_sets():
    z, y = _data(n=100, k=4)
    with pytest.raises(ValueError, match="Unknown calibration method.*Temp. Scaling"):
        cal.compare_calibrators(z, y, z, y, methods=["temperature"])
    with pytest.raises(ValueError, match="Unknown"):
        cal.compare_calibrators(z, y, z, y, methods=[])
    with pytest.raises(ValueError, match="same model"):
        cal.compare_calibrators(z, y, z[:, :3], y.clamp(max=2))
    scores, _ = cal.compare_calibrators(z, y, z, y, methods="Temp. Scaling")   # one name
    assert list(scores) == ["Temp. Scaling"]
    with pytest.raises(TypeError):
        cal.compare_calibrators(z, y, z, y, 10)              # options are keyword-only


def test_nll_floor_must_be_positive():
    z, y = _data(n=10)
    with pytest.raises(ValueError, match="eps"):
        cal.negative_log_likelihood(torch.softmax(z, 1), y, eps=0)
