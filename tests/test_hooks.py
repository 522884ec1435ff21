import pytest
import torch
from torch import nn

from lecture_utils import hooks, validate


def tiny_net(relu=nn.ReLU):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), relu(), nn.Linear(5, 3))


def _grad(model, x, c, rule):
    x = x.clone().requires_grad_(True)
    with hooks.relu_backward_rule(model, rule):
        model(x)[:, c].sum().backward()
    return x.grad


def test_three_rules_on_a_one_layer_relu_net_by_hand():
    model = tiny_net()
    W1, W2 = model[0].weight, model[2].weight
    x = torch.randn(6, 4)
    pre = model[0](x)
    top = W2[1].expand(6, -1)                          # R_{n+1} = dS_1/dX_{n+1}
    expected = {
        "gradient": (top * (pre > 0)) @ W1,
        "deconvnet": (top * (top > 0)) @ W1,
        "guided": (top * (pre > 0) * (top > 0)) @ W1,
    }
    for rule, want in expected.items():
        assert torch.allclose(_grad(model, x, 1, rule), want.detach(), atol=1e-6), rule


def test_hooks_are_removed_after_an_exception():
    model, x = tiny_net(), torch.randn(2, 4)
    plain = _grad(model, x, 0, "gradient")
    with pytest.raises(ZeroDivisionError):
        with hooks.relu_backward_rule(model, "guided"):
            1 / 0
    assert torch.equal(_grad(model, x, 0, "gradient"), plain)
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())


def test_models_whose_relus_cannot_be_hooked():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return torch.relu(self.fc(x))

    with pytest.raises(TypeError, match="nn.ReLU"):
        with hooks.relu_backward_rule(Functional(), "guided"):
            pass
    with pytest.raises(TypeError, match="in-place"):
        with hooks.relu_backward_rule(tiny_net(lambda: nn.ReLU(inplace=True)), "deconvnet"):
            pass
    shared = nn.ReLU()
    reused = nn.Sequential(nn.Linear(3, 3), shared, nn.Linear(3, 3), shared)
    with pytest.raises(RuntimeError, match="called twice"):
        with hooks.relu_backward_rule(reused, "guided"):
            reused(torch.randn(1, 3))
    with pytest.raises(ValueError, match="rule must be"):
        with hooks.relu_backward_rule(tiny_net(), "lrp"):
            pass


def test_several_forward_passes_inside_one_block():
    model = tiny_net()
    with hooks.relu_backward_rule(model, "guided"):
        model(torch.randn(1, 4))
        model(torch.randn(1, 4))


def test_capture_activation_and_gradient():
    model, x = tiny_net(), torch.randn(3, 4)
    with hooks.capture(model[1], gradient=True) as rec:
        model(x)[:, 2].sum().backward()
    assert rec.activation.shape == (3, 5)
    assert torch.allclose(rec.gradient, model[2].weight[2].expand(3, -1))
    assert not model[1]._forward_hooks


def test_validation_messages():
    with pytest.raises(ValueError, match="unsqueeze"):
        validate.check_images(torch.rand(3, 32, 32))
    with pytest.raises(TypeError, match="to_float"):
        validate.check_images(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(IndexError, match="out of range"):
        validate.check_target(10, 2, 10)
    with pytest.raises(ValueError, match="entries"):
        validate.check_target(torch.tensor([1, 2, 3]), 2, 10)
    assert validate.check_target(torch.tensor([4]), 3, 10).tolist() == [4, 4, 4]
    model = tiny_net()
    assert validate.check_layer(model, "1") is model[1]
    with pytest.raises(ValueError, match="no layer named"):
        validate.check_layer(model, "layer9")
    with pytest.raises(ValueError, match="not a module of this model"):
        validate.check_layer(model, nn.ReLU())


def test_stop_after_ends_the_forward_pass_and_cleans_up():
    """stop_after(a, b) raises StopForward once both layers ran; nothing above them runs, and no
    hook is left behind (even when the block is left by the exception)."""
    from lecture_utils.hooks import StopForward, stop_after
    calls = []
    net = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 3), nn.ReLU())
    net[3].register_forward_hook(lambda *a: calls.append("top"))
    with stop_after(net[0], net[2]):
        with pytest.raises(StopForward):
            net(torch.randn(2, 3))
        with pytest.raises(StopForward):              # and again on the next pass
            net(torch.randn(2, 3))
    assert calls == [] and not net[0]._forward_hooks and not net[2]._forward_hooks
    net(torch.randn(2, 3))
    assert calls == ["top"]
