"""lecture_utils.checks: each predictable mistake gets its own hint, the numbers are printed in
full, and in Jupyter a failed check shows its message and the student's line, not a traceback
through the checker."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from lecture_utils import checks
from lecture_utils.checks import CheckFailed, core


def failure(check, fn) -> str:
    with pytest.raises(CheckFailed) as err:
        check(fn)
    return str(err.value)


# ---- the numbers are printed, not "..."

def test_values_are_shown_in_full():
    assert core.show_values(np.array([0.23333333])) == "0.233333"
    assert core.show_values(0.5) == "0.5"
    assert core.show_values(np.arange(3.0)) == "[0, 1, 2]"
    long = core.show_values(np.arange(20.0).reshape(4, 5))
    assert long.startswith("[0, 1, 2") and "20 values, shape (4, 5)" in long


def test_a_wrong_answer_without_a_known_mistake_prints_both_answers():
    msg = failure(checks.check_accuracy, lambda logits, labels: 0.123)
    assert re.search(r"Yours: 0\.123, the reference: 0\.\d+\.", msg)
    assert "]..." not in msg and "Take the argmax" in msg


def test_the_largest_difference_is_named_for_long_answers():
    with pytest.raises(CheckFailed, match=r"largest difference is at index 7: yours 1, the "
                                          r"reference 0"):
        core.check_close("c", [("x", np.eye(10)[7], np.zeros(10))])


# ---- ECE (notebook 09)

def _ece(probs, labels, n_bins, *, left=False, weighted=True, absolute=True):
    conf, pred = probs.max(dim=1)
    inner = torch.arange(1, n_bins, dtype=conf.dtype) / n_bins
    bins = torch.bucketize(conf, inner, right=left)
    gaps, weights = [], []
    for m in range(n_bins):
        b = bins == m
        if b.any():
            gap = (pred[b] == labels[b]).double().mean() - conf[b].double().mean()
            gaps.append(gap.abs() if absolute else gap)
            weights.append(b.double().mean())
    if not weighted:
        return float(sum(gaps) / len(gaps))
    return float(sum(w * g for w, g in zip(weights, gaps)))


def test_ece_right_answer_passes():
    checks.check_ece(lambda p, y, m: _ece(p, y, m))


@pytest.mark.parametrize("wrong, hint", [
    (lambda p, y, m: _ece(p, y, m, left=True), "bins closed on the left"),
    (lambda p, y, m: _ece(p, y, m, weighted=False), "average over the non-empty bins"),
    (lambda p, y, m: _ece(p, y, m, absolute=False), "without the absolute value"),
    (lambda p, y, m: _ece(torch.softmax(p, 1), y, m), "softmax applied to the inputs"),
], ids=["left-closed", "unweighted", "no-abs", "logits"])
def test_ece_mistakes_get_their_own_hint(wrong, hint):
    msg = failure(checks.check_ece, wrong)
    assert hint in msg, msg
    assert "Yours: 0." in msg and "..." not in msg.split("Yours:")[1]


def test_ece_left_closed_names_the_edge_case_and_prints_the_numbers():
    msg = failure(checks.check_ece, lambda p, y, m: _ece(p, y, m, left=True))
    assert "[confidences on the edges, 5 bins]" in msg
    assert "Yours: 0.233333, the reference: 0.35" in msg


# ---- Shapley values and the Shapley kernel (notebook 08)

def _shapley(v, M, weight):
    phi = torch.zeros(M, dtype=torch.float64)
    for i in range(M):
        for mask in range(2 ** M):
            if mask >> i & 1:
                continue
            S = torch.tensor([[mask >> j & 1 for j in range(M)]], dtype=torch.float64)
            Si = S.clone()
            Si[0, i] = 1
            phi[i] += weight(M, int(S.sum())) * float(v(Si)[0] - v(S)[0])
    return phi


SHAPLEY = lambda M, s: math.factorial(s) * math.factorial(M - s - 1) / math.factorial(M)  # noqa: E731


def test_shapley_values_right_answer_passes():
    checks.check_shapley_values(lambda v, M: _shapley(v, M, SHAPLEY))


@pytest.mark.parametrize("weight, hint", [
    (lambda M, s: 1 / 2 ** (M - 1), "Banzhaf"),
    (lambda M, s: M * SHAPLEY(M, s), "without the 1/M"),
    (lambda M, s: float(s == M - 1), "leave one out"),
], ids=["banzhaf", "no-1/M", "leave-one-out"])
def test_shapley_value_mistakes_get_their_own_hint(weight, hint):
    assert hint in failure(checks.check_shapley_values, lambda v, M: _shapley(v, M, weight))


@pytest.mark.parametrize("wrong, hint", [
    (lambda M, s: (M - 1) / (math.comb(M, s) * math.factorial(s) * math.factorial(M - s)),
     "factorials"),
    (lambda M, s: 1 / (math.comb(M, s) * s * (M - s)), "no (M - 1)"),
    (lambda M, s: (M - 1) / (s * (M - s)), "no binomial"),
], ids=["factorials", "numerator", "binomial"])
def test_shapley_kernel_mistakes_get_their_own_hint(wrong, hint):
    assert hint in failure(checks.check_shapley_kernel, wrong)


# ---- CAM and Grad-CAM (notebooks 05, 07)

def _cam(f, w, t):
    return torch.einsum("nk,nkhw->nhw", w[t], f)


@pytest.mark.parametrize("wrong, hint", [
    (lambda f, w, t: _cam(f, w, t) + 0.7, "bias added to the map"),
    (lambda f, w, t: _cam(f, w, t) + torch.arange(len(t)).view(-1, 1, 1) * 0.1 + 0.2,
     "bias added to the map"),
    (lambda f, w, t: _cam(f, w, t).relu(), "a ReLU on the map"),
    (lambda f, w, t: _cam(f, w, t) / (f.shape[-1] * f.shape[-2]), "divided by h*w"),
    (lambda f, w, t: torch.einsum("k,nkhw->nhw", w[t[0]], f), "first image's class"),
], ids=["bias", "bias-per-image", "relu", "gap", "one-class"])
def test_cam_mistakes_get_their_own_hint(wrong, hint):
    checks.check_class_activation_map(_cam)
    assert hint in failure(checks.check_class_activation_map, wrong)


def test_grad_cam_mistakes_get_their_own_hint():
    right = lambda a, g: torch.relu(torch.einsum("nk,nkhw->nhw", g.mean((2, 3)), a))  # noqa: E731
    checks.check_grad_cam(right)
    no_relu = lambda a, g: torch.einsum("nk,nkhw->nhw", g.mean((2, 3)), a)  # noqa: E731
    summed = lambda a, g: torch.relu(torch.einsum("nk,nkhw->nhw", g.sum((2, 3)), a))  # noqa: E731
    assert "no ReLU at the end" in failure(checks.check_grad_cam, no_relu)
    assert "summed over the positions" in failure(checks.check_grad_cam, summed)


# ---- CKA and HSIC (notebook 11)

def _hsic(K, L, centre=True):
    m = K.shape[0]
    H = torch.eye(m, dtype=K.dtype) - torch.ones(m, m, dtype=K.dtype) / m
    if centre:
        K, L = H @ K @ H, H @ L @ H
    return float((K * L).sum() / (m - 1) ** 2)


def _cka(X, Y, centre=True):
    K, L = X @ X.T, Y @ Y.T
    return _hsic(K, L, centre) / math.sqrt(_hsic(K, K, centre) * _hsic(L, L, centre))


def test_cka_without_centring_is_named():
    checks.check_linear_cka(_cka)
    assert "not centred" in failure(checks.check_linear_cka, lambda X, Y: _cka(X, Y, False))
    checks.check_hsic(_hsic)
    assert "K and L not centred" in failure(checks.check_hsic, lambda K, L: _hsic(K, L, False))
    m2 = lambda K, L: _hsic(K, L) * (K.shape[0] - 1) ** 2 / K.shape[0] ** 2  # noqa: E731
    assert "m^2 instead of (m - 1)^2" in failure(checks.check_hsic, m2)


# ---- LIME's kernel (notebook 04)

@pytest.mark.parametrize("wrong, hint", [
    (lambda d, s: torch.sqrt(torch.exp(-d ** 2 / s ** 2)), "lime package's sqrt"),
    (lambda d, s: torch.exp(-d ** 2 / (2 * s ** 2)), "exp(-D^2 / (2 sigma^2))"),
    (lambda d, s: torch.exp(-d / s ** 2), "distance not squared"),
    (lambda d, s: torch.exp(-d ** 2 / s), "width not squared"),
], ids=["lime-sqrt", "factor-2", "distance", "width"])
def test_lime_kernel_mistakes_get_their_own_hint(wrong, hint):
    checks.check_proximity_kernel(lambda d, s: torch.exp(-d ** 2 / s ** 2))
    assert hint in failure(checks.check_proximity_kernel, wrong)


# ---- how a failure is shown

def test_failure_lines_show_the_message_and_the_callers_line():
    def students_cell():
        checks.check_ece(lambda p, y, m: _ece(p, y, m, left=True))
    try:
        students_cell()
    except CheckFailed as err:
        lines = core.failure_lines(err, err.__traceback__)
    assert len(lines) == 2
    assert "CheckFailed" in lines[0] and "bins closed on the left" in lines[0]
    assert "checks.check_ece(lambda p, y, m: _ece(p, y, m, left=True))" in lines[1]
    assert "test_checks_hints.py" in lines[1]


def test_in_a_kernel_a_failed_check_shows_no_checker_traceback(tmp_path):
    """Run a two-cell notebook in a real kernel: the error output is the message and the line."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from lecture_utils import checks\nimport torch"),
        nbformat.v4.new_code_cell("def my_ece(p, y, m):\n    return 0.5\n\n"
                                  "checks.check_ece(my_ece);"),
    ])
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     allow_errors=True)
    client.execute()
    err = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert len(err) == 1 and err[0].ename == "CheckFailed"
    text = "\n".join(err[0].traceback)
    assert len(err[0].traceback) <= 2, text
    assert "check_ece [" in text and "checks.check_ece(my_ece);" in text
    assert "core.py" not in text and "calibration.py" not in text
