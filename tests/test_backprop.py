"""The three backward rules, the saliency map and class model visualization (Simonyan et al. 2014,
Springenberg et al. 2015) against closed forms and captum."""
import gc
import warnings

import psutil
import pytest
import torch
from torch import nn

from lecture_utils import backprop, models

RULES = ("gradient", "deconvnet", "guided")


def _randomise_batch_norm(model, seed=0):
    """Non-trivial running statistics, so that eval-mode batch norm is not the identity."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(0.2 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(m.num_features, generator=g))
    return model.eval()


def _net(name):
    torch.manual_seed(0)
    net = {"vgg (max-pooling, fc head)": lambda: models.vgg(width=4),
           "model_c (overlapping max-pooling)": lambda: models.model_c("model_c", width=0.1),
           "all_cnn_c (strided, GAP head)": lambda: models.model_c("all_cnn_c", width=0.1),
           "resnet_gap (skips, GAP head)": lambda: models.resnet_gap(width=4, blocks=(1, 1, 1)),
           }[name]()
    return _randomise_batch_norm(net)


ARCHS = ("vgg (max-pooling, fc head)", "model_c (overlapping max-pooling)",
         "all_cnn_c (strided, GAP head)", "resnet_gap (skips, GAP head)")


def _captum(rule, model, x, target):
    from captum.attr import Deconvolution, GuidedBackprop, Saliency
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if rule == "gradient":
            return Saliency(model).attribute(x, target=target, abs=False)
        method = Deconvolution if rule == "deconvnet" else GuidedBackprop
        return method(model).attribute(x, target=target)


@pytest.mark.parametrize("arch", ARCHS)
def test_three_rules_match_captum_batched_and_single(arch):
    model = _net(arch)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 32, 32, generator=g)
    target = torch.tensor([0, 7, 3])
    for rule in RULES:
        ours = backprop.input_gradient(model, x, target, rule=rule)
        ref = _captum(rule, model, x.clone(), target)
        assert ours.shape == x.shape
        assert torch.allclose(ours, ref, rtol=1e-4, atol=1e-6 * ref.abs().max()), (arch, rule)
        single = backprop.input_gradient(model, x[1:2], 7,
                                         rule=rule)          # one image, int target
        assert torch.allclose(single, ours[1:2], rtol=1e-4, atol=1e-6 * ref.abs().max()), (arch,
                                                                                           rule)
        assert torch.allclose(single, _captum(rule, model, x[1:2].clone(), 7), rtol=1e-4,
                              atol=1e-6 * ref.abs().max())


@pytest.mark.parametrize("arch", ARCHS[:2])
def test_saliency_map_matches_captum(arch):
    from captum.attr import Saliency
    model = _net(arch)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    ours = backprop.saliency_map(model, x, torch.tensor([1, 2]))
    ref = Saliency(model).attribute(x.clone(), target=torch.tensor([1, 2]), abs=True).amax(1)
    assert ours.shape == (2, 32, 32) and (ours >= 0).all()
    assert torch.allclose(ours, ref, rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize("arch", ARCHS[:3])
def test_rules_differ_only_at_the_rectifiers(arch):
    """Layer by layer: every non-ReLU layer passes the signal by its plain backward (J^T R) under
    all
    three rules, max-pooling through its switches included; the ReLUs follow the lecture's formulas
    and, for deconvnet and guided, break the chain rule."""
    model = _net(arch)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    rows = backprop.rule_residuals(model, x, torch.tensor([2, 5]))
    assert {r["rule"] for r in rows} == set(RULES)
    for r in rows:
        if r["kind"] == "ReLU":
            assert r["own_rule"] < 1e-6, r
            if r["rule"] == "gradient":
                assert r["chain_rule"] < 1e-6, r
        else:
            assert r["chain_rule"] < 1e-5, r
    broken = [r for r in rows
              if r["kind"] == "ReLU" and r["rule"] != "gradient" and r["chain_rule"] > 1e-3]
    assert broken, "deconvnet and guided should differ from backpropagation at some rectifier"
    assert any(r["kind"] == "MaxPool2d" for r in rows) == ("max-pooling" in arch)
    first = backprop.backward_signals(model, x, torch.tensor([2, 5]), rule="guided")[0]
    assert torch.allclose(first[4],
                          backprop.input_gradient(model, x, torch.tensor([2, 5]), rule="guided"))


def test_linear_model_gradient_is_the_weight_row():
    torch.manual_seed(0)
    lin = nn.Linear(3 * 4 * 4, 5)
    model = nn.Sequential(nn.Flatten(), lin)
    x = torch.rand(3, 3, 4, 4)
    target = torch.tensor([4, 0, 2])
    grad = backprop.input_gradient(model, x, target)
    assert torch.allclose(grad, lin.weight[target].reshape(3, 3, 4, 4).detach())
    sal = backprop.saliency_map(model, x, target)
    assert torch.allclose(sal, lin.weight[target].reshape(3, 3, 4, 4).abs().amax(1).detach())


def test_one_layer_relu_net_three_rules_by_hand():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3))
    W1, W2 = model[1].weight.detach(), model[3].weight.detach()
    x = torch.randn(5, 3, 2, 2)
    pre = model[1](x.flatten(1)).detach()               # X_n, the ReLU's input
    top = W2[2].expand(5, -1)                           # R_{n+1} = dS_2 / dX_{n+1}
    expected = {"gradient": (top * (pre > 0)) @ W1,
                "deconvnet": (top * (top > 0)) @ W1,
                "guided": (top * (pre > 0) * (top > 0)) @ W1}
    for rule, want in expected.items():
        got = backprop.input_gradient(model, x, 2, rule=rule)
        assert torch.allclose(got, want.reshape(5, 3, 2, 2), atol=1e-6), rule


def test_clear_errors():
    model = _net(ARCHS[0])
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(IndexError, match="out of range"):
        backprop.input_gradient(model, x, 10)
    with pytest.raises(IndexError, match="out of range"):
        backprop.saliency_map(model, x, torch.tensor([0, -1]))
    with pytest.raises(ValueError, match="unsqueeze"):
        backprop.input_gradient(model, x[0], 1)
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        backprop.input_gradient(model, x.flatten(1), 1)

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3)

        def forward(self, x):
            return torch.relu(self.conv(x)).flatten(1)

    with pytest.raises(TypeError, match="nn.ReLU"):
        backprop.input_gradient(Functional(), x, 0, rule="guided")
    inplace = models.relus_not_inplace(models.vgg(width=2))
    inplace.relu1_1.inplace = True
    with pytest.raises(TypeError, match="in-place"):
        backprop.input_gradient(inplace, x, 0, rule="deconvnet")
    with pytest.raises(ValueError, match="rule must be"):
        backprop.input_gradient(model, x, 0, rule="lrp")


def _no_hooks(model):
    return all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks
               for m in model.modules())


@pytest.mark.parametrize("rule", ["guided", "deconvnet"])
def test_plain_gradient_unchanged_after_an_exception(rule):
    model = _net(ARCHS[0])
    x = torch.rand(2, 3, 32, 32)
    plain = backprop.input_gradient(model, x, 3)
    with pytest.raises(IndexError):                       # raised inside the hooked pass
        backprop.input_gradient(model, x, 99, rule=rule)

    def boom(module, args, output):
        raise RuntimeError("boom")
    handle = model.conv3_1.register_forward_hook(boom)    # raised in the middle of the forward
    with pytest.raises(RuntimeError, match="boom"):
        backprop.input_gradient(model, x, 3, rule=rule)
    handle.remove()
    assert _no_hooks(model) and not model.training
    assert torch.equal(backprop.input_gradient(model, x, 3), plain)


def test_param_grads_untouched_and_train_mode_restored():
    model = _net(ARCHS[2]).train()
    backprop.input_gradient(model, torch.rand(2, 3, 32, 32), 1, rule="guided")
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_repeated_calls_leave_no_growing_memory():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    model = _randomise_batch_norm(model)
    x = torch.rand(2, 3, 8, 8)
    proc = psutil.Process()

    def tensors():
        return sum(1 for o in gc.get_objects() if type(o) in (torch.Tensor, nn.Parameter))

    for rule in RULES:                                     # warm-up (allocator caches)
        backprop.input_gradient(model, x, 1, rule=rule)
    gc.collect()
    n0, rss0 = tensors(), proc.memory_info().rss
    for i in range(100):
        backprop.input_gradient(model, x, 1, rule=RULES[i % 3])
    gc.collect()
    assert tensors() <= n0
    assert proc.memory_info().rss - rss0 < 30 * 2**20      # < 30 MB over 100 calls
    assert _no_hooks(model)
    assert not any(hasattr(m, "_lecture_calls") for m in model.modules())


# --------------------------------------------------------------------------------------------
# Class model visualization
# --------------------------------------------------------------------------------------------
def test_class_model_of_a_linear_model_is_w_over_two_lambda():
    """argmax_I w_c^T (mean + I) + b - lambda ||I||^2 = w_c / (2 lambda), reached by plain
    ascent."""
    torch.manual_seed(0)
    lin = nn.Linear(3 * 4 * 4, 3)
    model = nn.Sequential(nn.Flatten(), lin)
    lam = 0.5
    img = backprop.class_model_visualization(model, 1, (4, 4), weight_decay=lam, steps=40,
                                             lr=0.9, optimizer="sgd", clamp=False)
    want = lin.weight[1].detach().reshape(3, 4, 4) / (2 * lam)       # the model has no mean
    assert torch.allclose(img, want, atol=1e-5)
    batch = backprop.class_model_visualization(model, torch.tensor([0, 2]), (4, 4),
                                               weight_decay=lam,
                                               steps=40, lr=0.9, optimizer="sgd", clamp=False)
    assert batch.shape == (2, 3, 4, 4)
    assert torch.allclose(batch[1], lin.weight[2].detach().reshape(3, 4, 4) / (2 * lam), atol=1e-5)
    per_image = backprop.class_model_visualization(model, torch.tensor([0, 0]), (4, 4), steps=60,
                                                   lr=0.4,
                                                   weight_decay=torch.tensor([0.5, 2.0]),
                                                   optimizer="sgd",
                                                   clamp=False)
    w0 = lin.weight[0].detach().reshape(3, 4, 4)
    assert torch.allclose(per_image[0], w0 / 1.0, atol=1e-5) and torch.allclose(per_image[1],
                                                                                w0 / 4.0, atol=1e-5)


def test_class_model_starts_at_the_mean_raises_the_score_and_stays_valid():
    model = _net(ARCHS[2])
    hist = []
    img = backprop.class_model_visualization(model, 5, steps=30, weight_decay=1e-3, history=hist)
    assert img.shape == (3, 32, 32) and img.min() >= 0 and img.max() <= 1
    assert hist[0][0] == 0 and len(hist) == 31
    assert hist[-1][1][0] > hist[0][1][0]
    start = []
    backprop.class_model_visualization(model, 5, steps=0, history=start)
    assert start[0][1] == hist[0][1]
    mean = model.normalize.mean
    zero_step = backprop.class_model_visualization(model, 5, steps=0)
    assert torch.allclose(zero_step, mean[0].expand(3, 32, 32))
    prob = backprop.class_model_visualization(model, 5, steps=10, objective="probability")
    assert prob.shape == (3, 32, 32)
    assert all(p.requires_grad for p in model.parameters()) and not model.training


def test_class_model_errors():
    model = _net(ARCHS[2])
    with pytest.raises(ValueError, match="objective"):
        backprop.class_model_visualization(model, 1, objective="softmax")
    with pytest.raises(IndexError, match="out of range"):
        backprop.class_model_visualization(model, 10, steps=1)
    with pytest.raises(ValueError, match="lambda"):
        backprop.class_model_visualization(model, 1, weight_decay=-1)
    with pytest.raises(ValueError, match="values for 2 images"):
        backprop.class_model_visualization(model, torch.tensor([1, 2]), weight_decay=torch.ones(3))
    with pytest.raises(ValueError, match="stop_margin"):
        backprop.class_model_visualization(model, 1, stop_margin=float("nan"))


def test_score_margin_and_class_model_scores_closed_form():
    """margin = S_c - max_{c' != c} S_c'; others = mean of the C - 1 other scores."""
    logits = torch.tensor([[1.0, 3.0, 2.0], [0.0, 0.0, 0.0]])
    assert backprop.score_margin(logits, torch.tensor([1, 0])).tolist() == [1.0, 0.0]
    assert backprop.score_margin(logits, torch.tensor([0, 2])).tolist() == [-2.0, 0.0]
    with pytest.raises(ValueError, match="C >= 2"):
        backprop.score_margin(torch.zeros(2, 1), torch.tensor([0, 0]))
    lin = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(3))
    model = nn.Sequential(nn.Flatten(), lin)
    x = torch.tensor([[1.0, 3.0, 2.0]]).reshape(1, 3, 1, 1)
    out = backprop.class_model_scores(model, x, torch.tensor([1]))
    assert out["S_c"].tolist() == [3.0] and out["others"].tolist() == [1.5]
    assert out["margin"].tolist() == [1.0]
    want = torch.tensor([1.0, 3.0, 2.0]).softmax(0)[1]
    assert torch.allclose(out["P_c"], want[None])


def test_class_model_stops_at_the_margin():
    """Plain ascent on a linear model with lambda = 0: I_k = k lr w_c, so the margin grows
    linearly in k; each image stops at the first step where it reaches stop_margin and stays."""
    torch.manual_seed(1)
    lin = nn.Linear(3 * 2 * 2, 4)
    model = nn.Sequential(nn.Flatten(), lin)
    opts = dict(image_size=(2, 2), weight_decay=0.0, lr=0.05, optimizer="sgd", clamp=False)
    target = torch.tensor([0, 3])
    free = []
    for k in range(41):
        img = backprop.class_model_visualization(model, target, steps=k, **opts)
        free.append(backprop.class_model_scores(model, img, target)["margin"])
    free = torch.stack(free)                                           # [steps + 1, 2]
    m = float(free[20].min())                                          # reached by both by step 20
    stopped = []
    held = backprop.class_model_visualization(model, target, steps=40, stop_margin=m,
                                              stopped=stopped, **opts)
    for i, s in enumerate(stopped):
        assert s is not None and free[s, i] >= m and (s == 0 or free[s - 1, i] < m)
        at_s = backprop.class_model_visualization(model, target[i:i + 1], steps=s, **opts)
        assert torch.allclose(held[i], at_s[0], atol=1e-6)
    never = []
    out = backprop.class_model_visualization(model, target, steps=5, stop_margin=1e6,
                                             stopped=never, **opts)
    assert never == [None, None]
    assert torch.allclose(out, backprop.class_model_visualization(model, target, steps=5, **opts))


def test_lead_from_others_closed_form():
    before = {"others": torch.tensor([0.0, 1.0]), "margin": torch.tensor([-1.0, 0.0])}
    after = {"others": torch.tensor([-1.0, 1.0]), "margin": torch.tensor([3.0, 2.0])}
    assert backprop.lead_from_others(before, after).tolist() == [0.25, 0.0]
    with pytest.raises(ValueError, match="did not grow"):
        backprop.lead_from_others(after, before)
