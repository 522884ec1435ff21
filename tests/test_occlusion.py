"""Occlusion sensitivity (Zeiler & Fergus 2014, Sec. 4.2): batched maps against one-at-a-time
forward passes and a linear model's closed form."""
import pytest
import torch
from torch import nn

from lecture_utils import models
from lecture_utils.occlusion import (occluded_logits, occlusion_activation, occlusion_map,
                                     occlusion_masks, occlusion_sensitivity)
from test_backprop import _randomise_batch_norm


def test_masks_are_centred_squares_clipped_at_the_border():
    m = occlusion_masks(8, 10, window=3, stride=2)
    assert m.shape == (4, 5, 8, 10)
    assert m[1, 2].sum() == 9 and m[1, 2, 1:4, 3:6].all()      # centred on pixel (2, 4)
    assert m[0, 0].sum() == 4 and m[0, 0, :2, :2].all()        # clipped at the corner
    with pytest.raises(ValueError, match="at least 1"):
        occlusion_masks(8, 8, 0, 1)


def test_against_one_occluded_image_at_a_time():
    torch.manual_seed(0)
    net = _randomise_batch_norm(models.vgg(width=2))
    x = torch.rand(2, 3, 32, 32)
    target = torch.tensor([3, 8])
    prob = occlusion_sensitivity(net, x, target, window=8, stride=8, batch_size=5)
    top = occluded_logits(net, x, window=8, stride=8, batch_size=5).argmax(-1)
    assert prob.shape == top.shape == (2, 4, 4)
    fill = net.normalize.mean.reshape(3, 1, 1)
    masks = occlusion_masks(32, 32, 8, 8)
    with torch.no_grad():
        for n in range(2):
            for i in range(4):
                for j in range(4):
                    occluded = torch.where(masks[i, j], fill, x[n])
                    p = net(occluded[None]).softmax(1)[0]
                    assert torch.isclose(prob[n, i, j], p[target[n]], atol=1e-5)
                    assert top[n, i, j] == p.argmax()
    score = occlusion_sensitivity(net, x, target, window=8, stride=8, output="logit", fill=0.0)
    with torch.no_grad():
        assert torch.isclose(score[1, 2, 3], net(torch.where(masks[2, 3], 0.0, x[1])[None])[0, 8],
                             atol=1e-5)


def test_linear_model_closed_form():
    """S_c(occluded) = S_c(x) - w_c . ((x - fill) on the square)."""
    torch.manual_seed(0)
    lin = nn.Linear(3 * 6 * 6, 4)
    model = nn.Sequential(nn.Flatten(), lin)
    x = torch.rand(1, 3, 6, 6)
    score = occlusion_sensitivity(model, x, 2, window=3, stride=1, output="logit", fill=0.25)
    w = lin.weight[2].detach().reshape(3, 6, 6)
    base = model(x)[0, 2].detach()
    masks = occlusion_masks(6, 6, 3, 1)
    want = base - ((x[0] - 0.25) * w * masks[:, :, None]).sum((-3, -2, -1))
    assert torch.allclose(score[0], want, atol=1e-5)


def test_feature_map_mode_and_errors():
    torch.manual_seed(0)
    net = _randomise_batch_norm(models.vgg(width=2))
    x = torch.rand(1, 3, 32, 32)
    act = occlusion_activation(net, x, window=16, stride=16, layer="relu3_1", unit=1,
                               statistic="max")
    total = occlusion_activation(net, x, window=16, stride=16, layer="relu3_1", unit=1)
    masks = occlusion_masks(32, 32, 16, 16)
    feats = {}
    h = net.relu3_1.register_forward_hook(lambda m, a, o: feats.__setitem__("a", o))
    with torch.no_grad():
        net(torch.where(masks[1, 0], net.normalize.mean[0], x[0])[None])
    h.remove()
    assert torch.isclose(act[0, 1, 0], feats["a"][0, 1].max(), atol=1e-6)
    scale = feats["a"][0, 1].abs().sum()
    assert torch.isclose(total[0, 1, 0], feats["a"][0, 1].sum(), atol=1e-6 * scale)
    with pytest.raises(ValueError, match="statistic"):
        occlusion_activation(net, x, layer="relu3_1", unit=1, statistic="mean")
    with pytest.raises(IndexError, match="out of range"):
        occlusion_activation(net, x, layer="relu3_1", unit=-1)
    with pytest.raises(IndexError, match="out of range"):
        occlusion_sensitivity(net, x, 12, window=16, stride=16)
    with pytest.raises(ValueError, match="output"):
        occlusion_sensitivity(net, x, 1, output="score")
    drop = occlusion_map(net, x, 1, window=16, stride=16)
    p = net(x).softmax(1)[0, 1].detach()
    assert torch.allclose(drop, p - occlusion_sensitivity(net, x, 1, window=16, stride=16))
    with pytest.raises(ValueError, match="unsqueeze"):
        occlusion_sensitivity(net, x[0], 1)
