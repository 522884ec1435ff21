"""The exercise checks of notebooks 01-03 accept the reference and reject typical mistakes."""
import pytest
import torch
import torch.nn.functional as F

from lecture_utils import checks
from lecture_utils.checks import CheckFailed
from lecture_utils.deconvnet import flipped_kernel_convolution
from lecture_utils.pooling import pnorm_pool2d


def _unpool(r, x, k):
    _, idx = F.max_pool2d(x, k, return_indices=True)
    return F.max_unpool2d(r, idx, k, output_size=x.shape[-2:])


def _relu(r, x, rule):
    return {"gradient": r * (x > 0), "deconvnet": r * (r > 0),
            "guided": r * (x > 0) * (r > 0)}[rule]


RIGHT_AND_WRONG = {
    checks.check_flipped_convolution: (
        lambda r, w, p: flipped_kernel_convolution(r, w, 1, p),
        [lambda r, w, p: F.conv2d(F.pad(r, (w.shape[-1] - 1 - p,) * 4), w.transpose(0, 1)),
         # not flipped
         lambda r, w, p: F.conv2d(r, w.flip(-2, -1).transpose(0, 1),
                                  padding=p)]),           # wrong padding
    checks.check_unpooling: (
        _unpool,
        [lambda r, x, k: F.interpolate(r, scale_factor=k) / (k * k),
         # spread evenly
         # no switches
         lambda r, x, k: F.interpolate(r, scale_factor=k)]),
    checks.check_saliency: (
        lambda w: w.abs().amax(1),
        [lambda w: w.amax(1), lambda w: w.abs().sum(1), lambda w: w.abs().amax(-1)]),
    checks.check_relu_rules: (
        _relu,
        [lambda r, x, rule: r * (x > 0),
         # always gradient
         lambda r, x, rule: _relu(r, x, "gradient" if rule == "guided" else rule),
         lambda r, x, rule: r * (x > 0) if rule == "deconvnet" else _relu(r, x, rule)]),
    checks.check_ascent_step: (
        lambda i, g, lam, lr: i + lr * (g - 2 * lam * i),
        [lambda i, g, lam, lr: i - lr * (g - 2 * lam * i),
         lambda i, g, lam, lr: i + lr * (g - lam * i)]),
    checks.check_pnorm_pool: (
        lambda f, p, k, r: pnorm_pool2d(f, p, k, r),
        [lambda f, p, k, r: F.avg_pool2d(f ** p, k, r) ** (1 / p),
         # mean, not sum
         lambda f, p, k, r: F.avg_pool2d(f ** p, k,
                                         r) * k * k]),                             # no root
    checks.check_pool_as_conv: (
        lambda c, k: torch.eye(c)[:, :, None, None].expand(c, c, k, k),
        [lambda c, k: torch.ones(c, c, k, k),
         # mixes channels
         lambda c, k: torch.eye(c)[:, :, None, None].expand(c, c, k, k) / (k * k)]),
}


@pytest.mark.parametrize("check", list(RIGHT_AND_WRONG), ids=lambda c: c.__name__)
def test_check_accepts_reference_and_rejects_mistakes(check, capsys):
    right, wrongs = RIGHT_AND_WRONG[check]
    assert check(right) < 1e-5
    assert "passed" in capsys.readouterr().out
    for wrong in wrongs:
        with pytest.raises(CheckFailed):
            check(wrong)


def test_check_penalty_and_projection_follows_the_values(capsys):
    """Exercise 4 of notebook 02: the words follow the range; the likely mistakes are named."""
    mean = torch.full((3, 1, 1), 0.5)
    strong = 0.5 + 0.01 * torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    inside = 0.5 + 0.3 * torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    out = checks.check_penalty_and_projection(strong, inside, mean)
    assert out["outside"] == 0 and "inside [0, 1]" in capsys.readouterr().out
    beyond = inside.clone()
    beyond[0, 0, 0, 0], beyond[1, 2, 3, 3] = -0.2, 1.3
    out = checks.check_penalty_and_projection(strong, beyond, mean)
    assert out["low"] == pytest.approx(-0.2) and out["high"] == pytest.approx(1.3)
    assert out["outside"] == pytest.approx(2 / 96)
    assert "2 of 96 pixel values outside [0, 1]" in capsys.readouterr().out
    rare = inside.repeat(50, 1, 1, 1)                     # 1 value in 4,800: never "0.0%"
    rare[0, 0, 0, 0] = 1.01
    checks.check_penalty_and_projection(strong, rare, mean)
    assert "1 of 4,800 pixel values outside" in capsys.readouterr().out
    clamped = beyond.clamp(0, 1)                                   # clamp=True by mistake
    with pytest.raises(CheckFailed, match="clamp=False"):
        checks.check_penalty_and_projection(strong, clamped, mean)
    with pytest.raises(CheckFailed, match="swapped"):              # the two runs swapped
        checks.check_penalty_and_projection(beyond, strong, mean)
    with pytest.raises(CheckFailed, match="weight_decay=10"):      # lambda not raised
        checks.check_penalty_and_projection(strong, beyond, mean, weak=strong)
    flat = mean.expand(2, 3, 4, 4)
    with pytest.raises(CheckFailed, match="steps > 0"):
        checks.check_penalty_and_projection(flat, flat, mean)
