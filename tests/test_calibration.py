"""lecture_utils.calibration against closed-form cases, torchmetrics and scikit-learn."""
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lecture_utils import calibration as cal
from lecture_utils import checks


def _synthetic(n=4000, k=10, true_T=2.0, scale=4.0, seed=0):
    """Logits z and labels drawn from softmax(z / true_T): the best temperature is true_T."""
    g = torch.Generator().manual_seed(seed)
    z = scale * torch.randn(n, k, generator=g, dtype=torch.float64)
    y = torch.multinomial(torch.softmax(z / true_T, 1), 1, generator=g).squeeze(1)
    return z, y


def _binary(conf):
    conf = torch.as_tensor(conf, dtype=torch.float64)
    return torch.stack([conf, 1 - conf], 1)


# --------------------------------------------------------------------------------------------
# ECE, MCE, reliability bins
# --------------------------------------------------------------------------------------------
def test_ece_matches_torchmetrics_away_from_bin_edges():
    from torchmetrics.classification import MulticlassCalibrationError
    for n_bins, seed in ((15, 0), (10, 1), (7, 2)):
        z, y = _synthetic(n=3000, true_T=0.7, seed=seed)
        p = torch.softmax(z, 1)
        conf = p.max(1).values * n_bins
        assert ((conf - conf.round()).abs() > 1e-9).all()      # no confidence on an edge
        ref = MulticlassCalibrationError(num_classes=10, n_bins=n_bins, norm="l1")(p, y).item()
        assert cal.expected_calibration_error(p, y, n_bins) == pytest.approx(ref, abs=1e-6)
        mce = MulticlassCalibrationError(num_classes=10, n_bins=n_bins, norm="max")(p, y).item()
        assert cal.maximum_calibration_error(p, y, n_bins) == pytest.approx(mce, abs=1e-6)


def test_ece_bins_are_closed_on_the_right_by_hand():
    # M = 5: I_3 = (0.4, 0.6], I_4 = (0.6, 0.8], I_5 = (0.8, 1]; 0.6 is in I_3 and 1.0 in I_5.
    probs = _binary([0.55, 0.6, 0.65, 0.9, 1.0])
    labels = torch.tensor([0, 0, 1, 0, 1])        # correct, correct, wrong, correct, wrong
    # I_3: acc 1, conf 0.575 (2 samples); I_4: acc 0, conf 0.65; I_5: acc 1/2, conf 0.95 (2)
    expected = 2 / 5 * 0.425 + 1 / 5 * 0.65 + 2 / 5 * 0.45
    assert cal.expected_calibration_error(probs, labels, 5) == pytest.approx(expected, abs=1e-12)
    b = cal.reliability_bins(probs, labels, 5)
    assert b.count.tolist() == [0, 0, 2, 1, 2]
    assert torch.isnan(b.acc[:2]).all() and b.acc[2:].tolist() == [1.0, 0.0, 0.5]
    assert cal.maximum_calibration_error(probs, labels, 5) == pytest.approx(0.65)
    # torchmetrics closes bins on the left, [(m-1)/M, m/M), and puts 1.0 into an extra bin:
    # [0.4, 0.6) = {0.55}, [0.6, 0.8) = {0.6, 0.65}, [0.8, 1) = {0.9}, {1.0}.
    from torchmetrics.classification import MulticlassCalibrationError
    tm = MulticlassCalibrationError(num_classes=2, n_bins=5, norm="l1")(probs, labels).item()
    left_closed = 1 / 5 * 0.45 + 2 / 5 * abs(0.5 - 0.625) + 1 / 5 * 0.1 + 1 / 5 * 1.0
    assert tm == pytest.approx(left_closed, abs=1e-6) and abs(tm - expected) > 0.1
    assert cal.bin_index(torch.tensor([0.0, 0.2, 0.2000001, 1.0]), 5).tolist() == [0, 0, 1, 4]


def test_perfectly_calibrated_and_always_wrong():
    # every sample at confidence 0.7 and 70% of them correct: ECE 0
    probs = _binary(torch.full((10,), 0.7, dtype=torch.float64))
    labels = torch.tensor([0] * 7 + [1] * 3)
    assert cal.expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-12)
    # all confidently wrong: ECE = mean confidence
    assert cal.expected_calibration_error(probs, torch.ones(10, dtype=torch.long)) == \
        pytest.approx(0.7)
    assert cal.maximum_calibration_error(probs, torch.ones(10, dtype=torch.long)) == \
        pytest.approx(0.7)


def test_nll_and_error_rate():
    z, y = _synthetic(n=200)
    p = torch.softmax(z, 1)
    assert cal.negative_log_likelihood(p, y) == pytest.approx(F.cross_entropy(z, y).item())
    assert cal.error_rate(p, y) == pytest.approx((z.argmax(1) != y).double().mean().item())
    assert np.isfinite(cal.negative_log_likelihood(_binary([1.0]), torch.tensor([1])))


def test_per_image_terms_closed_form():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5]])
    y = torch.tensor([0, 2, 2])
    over = cal.per_image(p, y, "overconfidence")
    assert over.dtype == torch.float64
    assert torch.allclose(over, torch.tensor([0.7 - 1, 0.6 - 0, 0.5 - 1], dtype=torch.float64))
    assert float(over.mean()) == pytest.approx(float(p.max(1).values.double().mean()) - 2 / 3)
    nll = cal.per_image(p, y, "nll")
    assert torch.allclose(nll, -torch.tensor([0.7, 0.3, 0.5], dtype=torch.float64).log())
    assert float(nll.mean()) == pytest.approx(cal.negative_log_likelihood(p, y))
    with pytest.raises(ValueError, match="measure must be one of"):
        cal.per_image(p, y, "ece")


def test_binned_ece_never_falls_when_bins_are_refined_and_its_bias_grows_with_m():
    """Splitting a bin can only raise sum_m |B_m|/n |gap_m| (triangle inequality), so the ECE
    of nested binnings (M = 5, 15, 45) is non-decreasing for any data; for a perfectly calibrated
    model (labels drawn from its own probabilities: true ECE 0) the estimate is pure bias, and it
    grows with M at a fixed sample size."""
    g = torch.Generator().manual_seed(0)
    z, _ = _synthetic(n=2000)
    p = torch.softmax(z, 1)
    y = torch.multinomial(p, 1, generator=g)[:, 0]
    eces = [cal.expected_calibration_error(p, y, M) for M in (5, 15, 45)]
    assert eces[0] <= eces[1] + 1e-12 <= eces[2] + 2e-12
    bias = [np.mean([cal.expected_calibration_error(p, torch.multinomial(p, 1, generator=g)[:, 0],
                                                    M) for _ in range(10)]) for M in (5, 45, 405)]
    assert bias[0] < bias[1] < bias[2]


def test_numpy_inputs_work():
    z, y = _synthetic(n=300)
    p = torch.softmax(z, 1)
    assert cal.expected_calibration_error(p.numpy(), y.numpy()) == \
        pytest.approx(cal.expected_calibration_error(p, y))


@pytest.mark.parametrize("bad, match", [
    (lambda p, y: (p * 2, y), "summing to one"),
    (lambda p, y: (torch.log(p), y), "logits"),
    (lambda p, y: (p, y[:-1]), "labels"),
    (lambda p, y: (p, y + 10), "out of range"),
    (lambda p, y: (p[:0], y[:0]), "empty"),
    (lambda p, y: (p[0], y[:1]), r"\[N, K\]"),
    (lambda p, y: (p, y.double()), "integer"),
])
def test_bad_input_gets_a_clear_error(bad, match):
    z, y = _synthetic(n=20)
    p, labels = bad(torch.softmax(z, 1), y)
    with pytest.raises((ValueError, TypeError, IndexError), match=match):
        cal.expected_calibration_error(p, labels)


def test_calibrators_reject_bad_input():
    z, y = _synthetic(n=50)
    with pytest.raises(ValueError, match="empty"):
        cal.TemperatureScaling().fit(z[:0], y[:0])
    with pytest.raises(ValueError, match="empty"):
        cal.fit_temperature(z[:0], y[:0])
    with pytest.raises(RuntimeError, match="fit"):
        cal.HistogramBinning().predict_proba(z)
    fitted = cal.VectorScaling().fit(z, y)
    with pytest.raises(ValueError, match="classes"):
        fitted.predict_proba(z[:, :5])
    with pytest.raises(IndexError, match="out of range"):
        cal.IsotonicCalibration().fit(z, y + 10)


# --------------------------------------------------------------------------------------------
# Temperature scaling
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("true_T", [0.5, 1.0, 2.0, 4.0])
def test_temperature_scaling_recovers_a_known_T(true_T):
    z, y = _synthetic(n=20_000, true_T=true_T, seed=3)
    T = cal.fit_temperature(z, y)
    assert T == pytest.approx(true_T, rel=0.05)
    # T is the minimiser: the NLL is higher a little to either side
    nll = lambda t: F.cross_entropy(z / t, y).item()  # noqa: E731
    assert nll(T) <= min(nll(T * 1.01), nll(T / 1.01))


def test_temperature_scaling_never_changes_accuracy():
    z, y = _synthetic(n=2000, true_T=3.0, seed=4)
    ts = cal.TemperatureScaling().fit(z[:1000], y[:1000])
    assert ts.temperature > 1.5          # overconfident logits are softened
    q = ts.predict_proba(z[1000:])
    assert torch.equal(q.argmax(1), z[1000:].argmax(1))
    before = cal.expected_calibration_error(torch.softmax(z[1000:], 1), y[1000:])
    assert cal.expected_calibration_error(q, y[1000:]) < before / 3


def test_fit_temperature_returns_the_bound_when_the_minimum_is_beyond():
    z = torch.tensor([[5.0, 0.0], [0.0, 5.0]])
    # separable: the NLL falls towards 0 as T -> 0; the search stops where it no longer changes
    T = cal.fit_temperature(z, torch.tensor([0, 1]))
    assert T < 0.5 and F.cross_entropy(z / T, torch.tensor([0, 1])).item() < 1e-6
    assert cal.fit_temperature(z, torch.tensor([1, 0])) == pytest.approx(100.0)  # always wrong


def test_ece_and_temperature_fit_are_fast_on_10000_by_100():
    z, y = _synthetic(n=10_000, k=100, true_T=1.5, seed=5)
    z = z.float()
    start = time.process_time()
    cal.fit_temperature(z, y)
    cal.expected_calibration_error(torch.softmax(z, 1), y)
    assert time.process_time() - start < 2.0      # CPU seconds, both together; ~0.1 s idle


# --------------------------------------------------------------------------------------------
# The other calibrators
# --------------------------------------------------------------------------------------------
def test_isotonic_matches_scikit_learn():
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    class Softmax(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.unique(y)
            return self

        def predict_proba(self, X):
            return torch.softmax(torch.as_tensor(X), 1).numpy()

        def predict(self, X):
            return self.predict_proba(X).argmax(1)

    z, y = _synthetic(n=3000, true_T=2.0, seed=6)
    zv, yv, zt = z[:1500].numpy(), y[:1500].numpy(), z[1500:].numpy()
    ref = CalibratedClassifierCV(FrozenEstimator(Softmax().fit(zv, yv)), method="isotonic")
    ref.fit(zv, yv)
    ours = cal.IsotonicCalibration().fit(zv, yv).predict_proba(zt).numpy()
    np.testing.assert_allclose(ours, ref.predict_proba(zt), atol=1e-10)


def test_histogram_binning_by_hand():
    # two classes; class-0 probabilities in bins (0.6, 0.8] and (0.8, 1] with 3/4 and 1/1 positives
    p0 = torch.tensor([0.7, 0.7, 0.75, 0.65, 0.9], dtype=torch.float64)
    z = torch.stack([torch.log(p0), torch.log(1 - p0)], 1)
    y = torch.tensor([0, 0, 0, 1, 0])
    hb = cal.HistogramBinning(n_bins=5).fit(z, y)
    q = hb.predict_proba(torch.log(torch.tensor([[0.7, 0.3], [0.95, 0.05]], dtype=torch.float64)))
    # class 0: theta = 3/4 in (0.6, 0.8]; class 1 at 0.3 is in (0.2, 0.4]: 1 positive out of 4
    assert q[0].tolist() == pytest.approx([0.75 / (0.75 + 0.25), 0.25 / (0.75 + 0.25)])
    # class 0 at 0.95 is in (0.8, 1]: 1 positive of 1; class 1 at 0.05 in (0, 0.2]: 0 of 1
    assert q[1].tolist() == pytest.approx([1.0, 0.0])
    # both at 0.5, in the empty bin (0.4, 0.6]: its midpoint, 0.5 each
    assert hb.predict_proba(torch.zeros(1, 2, dtype=torch.float64))[0].tolist() == \
        pytest.approx([0.5, 0.5])


@pytest.mark.parametrize("name", list(cal.CALIBRATORS))
def test_every_calibrator_gives_probabilities_and_helps(name):
    z, y = _synthetic(n=4000, true_T=2.5, seed=7)
    model = cal.CALIBRATORS[name]().fit(z[:2000], y[:2000])
    q = model.predict_proba(z[2000:])
    assert q.shape == (2000, 10) and (q >= 0).all()
    assert torch.allclose(q.sum(1), torch.ones(2000, dtype=q.dtype))
    ece = cal.expected_calibration_error(q, y[2000:])
    before = cal.expected_calibration_error(torch.softmax(z[2000:], 1), y[2000:])
    assert before > 0.1
    if name != "Uncalibrated":
        assert ece < before / 2, (name, ece, before)


def test_vector_and_matrix_scaling_start_from_and_can_reach_temperature_scaling():
    z, y = _synthetic(n=3000, true_T=2.0, seed=8)
    vs = cal.VectorScaling().fit(z, y)
    ms = cal.MatrixScaling().fit(z, y)
    assert vs.W.shape == (10,) and ms.W.shape == (10, 10)
    nll = lambda m: cal.negative_log_likelihood(m.predict_proba(z), y)  # noqa: E731
    ts = cal.TemperatureScaling().fit(z, y)
    assert nll(ms) <= nll(vs) + 1e-6 <= nll(ts) + 2e-6     # nested models, fitted on the same data
    assert vs.W.mean().item() == pytest.approx(1 / ts.temperature, rel=0.1)


def test_bbq_averages_binnings():
    z, y = _synthetic(n=2000, true_T=2.0, seed=9)
    bbq = cal.BBQ().fit(z, y)
    models, weights = bbq.models_[0]
    assert len(models) > 5 and weights.sum() == pytest.approx(1.0) and (weights >= 0).all()
    q = bbq.predict_proba(z)
    assert torch.allclose(q.sum(1), torch.ones(len(q), dtype=q.dtype))


def test_reliability_diagram_draws_what_the_bins_computed():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lecture_utils import viz
    z, y = _synthetic(n=500)
    bins = cal.reliability_bins(torch.softmax(z, 1), y)
    fig = viz.reliability_diagram(bins, title="synthetic")
    assert len(fig.axes) == 2
    bars = [p.get_height() for p in fig.axes[1].patches[:15]]     # acc(B_m), 0 where empty
    assert bars == pytest.approx(torch.nan_to_num(bins.acc).tolist())
    assert f"{100 * bins.ece:.2f}%" in fig.axes[1].texts[0].get_text()
    fig2 = viz.reliability_diagram(bins, show_histogram=False)
    assert len(fig2.axes) == 1
    with pytest.raises(ValueError, match="2 axes"):
        viz.reliability_diagram(bins, axes=[fig2.axes[0]])
    # the old name computes here and draws there, with a deprecation warning
    with pytest.warns(DeprecationWarning, match="viz.reliability_diagram"):
        fig3 = cal.plot_reliability_diagram(torch.softmax(z, 1), y, show_histogram=False)
    assert len(fig3.axes) == 1
    plt.close("all")


def test_the_calibration_module_does_not_draw():
    import ast
    import inspect
    tree = ast.parse(inspect.getsource(cal))
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | \
        {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(m.startswith("matplotlib") for m in imported)


def test_bin_summaries_match_the_metrics():
    z, y = _synthetic(n=700, seed=11)
    p = torch.softmax(z, 1)
    b = cal.reliability_bins(p, y, 10)
    assert b.n == 700
    assert b.ece == cal.expected_calibration_error(p, y, 10)
    assert b.mce == cal.maximum_calibration_error(p, y, 10)
    assert b.accuracy == pytest.approx(1 - cal.error_rate(p, y), abs=1e-12)
    assert b.mean_confidence == pytest.approx(p.max(1).values.mean().item(), abs=1e-12)


# --------------------------------------------------------------------------------------------
# The exercise checks accept the reference and reject the usual mistakes
# --------------------------------------------------------------------------------------------
def _ece_variant(width_bins=None, signed=False, left_closed=False, hard_coded=None):
    def ece(probs, labels, n_bins=15):
        probs, labels = torch.as_tensor(probs), torch.as_tensor(labels)
        m = hard_coded or n_bins
        conf, pred = probs.max(1)
        edges = torch.linspace(0, 1, (width_bins or m) + 1, dtype=conf.dtype)
        if left_closed:    # torchmetrics' convention: [(m-1)/M, m/M), and 1.0 in a bin of its own
            idx = torch.bucketize(conf, edges, right=True) - 1
        else:
            idx = torch.bucketize(conf, edges[1:-1], right=False)
        total = 0.0
        for b in range(len(edges)):
            sel = idx == b
            if sel.any():
                gap = (pred[sel] == labels[sel]).double().mean() - conf[sel].mean()
                total += sel.double().mean() * (gap if signed else gap.abs())
        return float(total)
    return ece


def test_check_ece_accepts_the_reference_and_a_loop_version():
    checks.check_ece(cal.expected_calibration_error)
    checks.check_ece(_ece_variant())


@pytest.mark.parametrize("wrong", [
    _ece_variant(signed=True),                   # forgot |.|
    _ece_variant(width_bins=20),                 # bins of the wrong width
    _ece_variant(hard_coded=15),                 # ignores n_bins
    _ece_variant(left_closed=True),              # [(m-1)/M, m/M) instead of ((m-1)/M, m/M]
])
def test_check_ece_rejects_typical_mistakes(wrong):
    with pytest.raises(checks.CheckFailed):
        checks.check_ece(wrong)


def test_temperature_checks():
    checks.check_temperature_nll(lambda z, y, T: F.cross_entropy(z / T, y).item())
    with pytest.raises(checks.CheckFailed):
        checks.check_temperature_nll(lambda z, y, T: F.cross_entropy(z * T, y).item())
    with pytest.raises(checks.CheckFailed):
        checks.check_temperature_nll(
            lambda z, y, T: F.cross_entropy(z / T, y, reduction="sum").item())

    def grid(z, y):
        ts = torch.logspace(-0.7, 0.7, 401)             # T from 0.2 to 5, steps of 0.8%
        return float(ts[torch.stack([F.cross_entropy(z / t, y) for t in ts]).argmin()])
    checks.check_fit_temperature(cal.fit_temperature)
    checks.check_fit_temperature(grid)
    with pytest.raises(checks.CheckFailed):
        checks.check_fit_temperature(lambda z, y: 1.0)          # "no scaling"
    with pytest.raises(checks.CheckFailed):                      # minimises the ECE... by accident
        checks.check_fit_temperature(lambda z, y: 1 / cal.fit_temperature(z, y))


def test_compare_calibrators_fits_on_validation_and_scores_on_test():
    z, y = _synthetic(n=2000, true_T=2.0, seed=10)
    scores, fitted = cal.compare_calibrators(z[:1000], y[:1000], z[1000:], y[1000:],
                                             methods=["Uncalibrated", "Temp. Scaling"])
    assert list(scores) == ["Uncalibrated", "Temp. Scaling"]
    assert set(scores["Uncalibrated"]) == {"ECE", "MCE", "NLL", "error"}
    assert scores["Temp. Scaling"]["error"] == scores["Uncalibrated"]["error"]
    assert scores["Temp. Scaling"]["ECE"] < scores["Uncalibrated"]["ECE"]
    assert fitted["Temp. Scaling"].temperature == pytest.approx(
        cal.fit_temperature(z[:1000], y[:1000]))
    with pytest.raises(ValueError, match="empty"):
        cal.compare_calibrators(z[:0], y[:0], z, y)
