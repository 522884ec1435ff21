import pytest
import torch
from torch import nn

from lecture_utils import models

CASES = [("vgg", {"width": 8}), ("resnet_gap", {"width": 8}),
         ("resnet_gap", {"width": 8, "skip": False}),
         ("small_inception", {"width": 0.25}), ("small_alexnet", {"width": 0.25}),
         ("mlp", {"hidden": (16, 16)}), ("lenet", {}),
         ("vit", {"dim": 32, "depth": 2, "heads": 2})] + \
        [("model_c", {"variant": v, "width": 0.125}) for v in models.MODEL_C_VARIANTS]


def _input(arch):
    size = 28 if arch in ("small_alexnet", "mlp") else 32
    return torch.rand(2, 3, size, size)


@pytest.mark.parametrize("arch,kwargs", CASES)
def test_builds_and_every_relu_is_a_separate_module_used_once(arch, kwargs):
    model = models.build(arch, **kwargs).eval()
    calls = {}
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert all(not m.inplace for m in relus)

    def count(m, i, o):
        calls[id(m)] = calls.get(id(m), 0) + 1

    hooks = [m.register_forward_hook(count) for m in relus]
    out = model(_input(arch))
    for h in hooks:
        h.remove()
    assert out.shape == (2, 10)
    assert all(n == 1 for n in calls.values())
    if arch != "vit":
        assert relus, "CNNs and MLPs rectify with nn.ReLU modules"


def test_parameter_counts_of_zhang_et_al():
    assert models.count_parameters(models.small_alexnet()) == 1_387_786
    assert models.count_parameters(models.mlp(hidden=(512,))) == 1_209_866
    assert models.count_parameters(models.mlp(hidden=(512,) * 3)) == 1_735_178
    # the paper's batch norm learns a shift only: one parameter per conv channel fewer
    assert models.count_parameters(models.small_inception()) == 1_649_402 + 1_712


def test_model_c_table_shapes():
    x = torch.rand(1, 3, 32, 32)
    for v in models.MODEL_C_VARIANTS:
        net = models.model_c(v)
        convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
        pools = [m for m in net.modules() if isinstance(m, nn.MaxPool2d)]
        n_convs = {"model_c": 7, "strided_cnn_c": 7, "convpool_cnn_c": 9, "all_cnn_c": 9}
        assert len(convs) == n_convs[v]
        assert (len(pools) == 2) == (v in ("model_c", "convpool_cnn_c"))
        assert [c.out_channels for c in convs[:2]] == [96, 96]
        assert net(x).shape == (1, 10)
    strided = [c.stride for c in models.model_c("all_cnn_c").modules() if isinstance(c, nn.Conv2d)]
    assert strided.count((2, 2)) == 2


def test_resnet_cam_layers():
    net = models.resnet_gap(width=8)
    feats = net.layer3(net.layer2(net.layer1(net.stem(net.normalize(torch.rand(1, 3, 32, 32))))))
    assert feats.shape == (1, 32, 8, 8) and net.fc.in_features == 32


def test_unknown_architecture():
    with pytest.raises(ValueError, match="Unknown architecture"):
        models.build("alexnet_v9")


def test_relus_not_inplace():
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(inplace=True))
    assert not models.relus_not_inplace(net)[1].inplace


def test_a_seeded_build_is_the_same_network_whatever_was_drawn_before():
    """The random-weights control of notebooks 10 and 11 must not depend on the cells before it."""
    kwargs = {"dim": 32, "depth": 2, "heads": 2}
    torch.manual_seed(1)
    a = models.build("vit", seed=0, **kwargs)
    after_a = torch.rand(3)
    torch.manual_seed(2)
    torch.rand(100)                                   # earlier cells drew something else
    b = models.build("vit", seed=0, **kwargs)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    torch.manual_seed(1)                              # the global generator is left as it was
    assert torch.equal(torch.rand(3), after_a)
    c = models.build("vit", seed=1, **kwargs)
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
