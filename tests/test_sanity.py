"""The model-randomization sanity check (Adebayo et al., 2018): Spearman correlation against
scipy, cascading re-initialisation, and the check's verdict on a model-independent method."""
import numpy as np
import pytest
import torch
from scipy import stats

from lecture_utils import attribution, backprop, models, sanity


def test_spearman_matches_scipy():
    g = np.random.default_rng(0)
    a, b = g.normal(size=(5, 6, 7)), g.normal(size=(5, 6, 7))
    b[0] = a[0] + 0.1 * b[0]
    a[1, :3] = 0.0                                            # ties: average ranks
    ours = sanity.spearman(a, b)
    ref = [stats.spearmanr(a[i].ravel(), b[i].ravel()).statistic for i in range(5)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)


def test_spearman_closed_forms():
    a = torch.rand(2, 4, 4)
    np.testing.assert_allclose(sanity.spearman(a, a), 1.0)
    np.testing.assert_allclose(sanity.spearman(a, -a), -1.0)
    np.testing.assert_allclose(sanity.spearman(a, a ** 3 + 2), 1.0)      # monotone: rank-invariant
    assert np.isnan(sanity.spearman(torch.ones(1, 4, 4), a[:1])[0])      # a constant map
    with pytest.raises(ValueError, match="shape"):
        sanity.spearman(a, a[:, :2])


def test_top_down_blocks():
    assert sanity.top_down_blocks(models.resnet_gap(width=4, blocks=(1, 1, 1))) == [
        "fc", "layer3", "layer2", "layer1", "stem"]
    blocks = sanity.top_down_blocks(models.vgg(width=4))
    assert blocks[:3] == ["fc2", "fc1", "conv4_2"] and blocks[-1] == "conv1_1"
    assert not any(b.startswith(("bn", "relu", "pool")) for b in blocks)


def test_cascading_randomization_is_cumulative_and_leaves_the_model():
    torch.manual_seed(0)
    net = models.resnet_gap(width=4, blocks=(1, 1, 1)).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    steps = list(sanity.cascading_randomization(net, seed=0))
    assert [s for s, _ in steps] == ["original", "fc", "layer3", "layer2", "layer1", "stem"]
    for k, v in net.state_dict().items():                         # the model itself is unchanged
        assert torch.equal(v, before[k]), k
    orig, after_l3 = steps[0][1], steps[2][1]
    same = lambda a, b, name: torch.equal(a.get_parameter(name), b.get_parameter(name))  # noqa: E731
    assert same(orig, net, "fc.weight")
    assert not same(after_l3, net, "fc.weight") and not same(after_l3, net, "layer3.0.conv1.weight")
    assert same(after_l3, net, "layer2.0.conv1.weight") and same(after_l3, net, "stem.conv.weight")
    assert same(after_l3, net, "layer3.0.bn1.weight")               # batch norm is kept
    # fixed seeds: the same cascade twice is the same
    again = list(sanity.cascading_randomization(net, seed=0))
    assert same(again[-1][1], steps[-1][1], "stem.conv.weight")
    with pytest.raises(ValueError, match="no conv or linear"):
        list(sanity.cascading_randomization(net, ["gap"]))


def test_randomization_test_verdicts():
    """A model-independent map (the edge detector) keeps correlation 1 at every step: it fails the
    check. The gradient changes once the weights are random (correlation well below 1)."""
    torch.manual_seed(0)
    net = models.resnet_gap(width=8, blocks=(1, 1, 1)).eval()
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    methods = {"edge detector": attribution.edge_map, "gradient": backprop.saliency_map}
    table, maps = sanity.randomization_test(net, x, 2, methods)
    assert len(table) == 2 * 6 * 3
    s = sanity.summary(table)
    assert list(s.columns) == ["original", "fc", "layer3", "layer2", "layer1", "stem"]
    np.testing.assert_allclose(s.loc["edge detector"].to_numpy(), 1.0)
    assert s.loc["gradient", "original"] == pytest.approx(1.0)
    assert s.loc["gradient", "stem"] < 0.8
    assert maps["gradient"]["fc"].shape == (3, 16, 16)
    score = sanity.cascade_score(table)
    assert score["edge detector"] == pytest.approx(1.0)
    assert score["gradient"] == pytest.approx(s.loc["gradient"].iloc[1:].mean())
    import matplotlib
    matplotlib.use("Agg")
    assert sanity.plot_correlations(table).axes


def test_summary_counts_constant_maps_as_zero():
    import pandas as pd
    t = pd.DataFrame({"method": ["m"] * 3, "randomized down to": ["original", "fc", "fc"],
                      "image": [0, 0, 1], "spearman |map|": [1.0, np.nan, 0.5]})
    assert sanity.summary(t).loc["m", "fc"] == pytest.approx(0.25)


def test_cascade_scores_per_image_average_to_cascade_score():
    import pandas as pd
    rows = [("m", "original", 0, 1.0), ("m", "original", 1, 1.0), ("m", "fc", 0, np.nan),
            ("m", "fc", 1, 0.5), ("m", "layer1", 0, 0.2), ("m", "layer1", 1, 0.4),
            ("e", "original", 0, 1.0), ("e", "original", 1, 1.0), ("e", "fc", 0, 1.0),
            ("e", "fc", 1, 1.0), ("e", "layer1", 0, 1.0), ("e", "layer1", 1, 1.0)]
    t = pd.DataFrame(rows, columns=["method", "randomized down to", "image", "spearman |map|"])
    per_image = sanity.cascade_scores(t)
    assert list(per_image.columns) == ["m", "e"] and per_image.shape == (2, 2)
    assert per_image.loc[0, "m"] == pytest.approx(0.1)
    assert per_image.loc[1, "m"] == pytest.approx(0.45)
    assert np.allclose(per_image.mean(), sanity.cascade_score(t)[["m", "e"]])


def test_absolute_counts_a_reversed_ranking_as_surviving():
    # image 0's ranking is reversed (rho -0.8), image 1's kept (+0.8): the signed mean cancels to
    # 0, the mean of |rho| is 0.8; a constant map (NaN) is 0 either way
    import pandas as pd
    rows = [("m", "original", 0, 1.0), ("m", "original", 1, 1.0), ("m", "fc", 0, -0.8),
            ("m", "fc", 1, 0.8), ("m", "layer1", 0, -0.8), ("m", "layer1", 1, np.nan)]
    t = pd.DataFrame(rows, columns=["method", "randomized down to", "image", "spearman |map|"])
    assert sanity.summary(t).loc["m", "fc"] == pytest.approx(0.0)
    assert sanity.summary(t, absolute=True).loc["m", "fc"] == pytest.approx(0.8)
    assert sanity.summary(t, absolute=True).loc["m", "layer1"] == pytest.approx(0.4)
    per_image = sanity.cascade_scores(t, absolute=True)
    assert per_image["m"].tolist() == pytest.approx([0.8, 0.4])
    assert sanity.cascade_score(t, absolute=True)["m"] == pytest.approx(0.6)
    assert sanity.cascade_score(t)["m"] == pytest.approx(-0.2)


# --------------------------------------------------------------------------------------------
# The exercise checks of notebook 12
# --------------------------------------------------------------------------------------------
def _spearman_loop(a, b):
    return [stats.spearmanr(np.ravel(x), np.ravel(y)).statistic for x, y in zip(a, b)]


def test_checks_accept_the_reference_and_reject_typical_mistakes():
    from lecture_utils import checks, faithfulness
    checks.check_auc(faithfulness.auc)
    checks.check_auc(lambda c: np.trapezoid(np.asarray(c), dx=1 / (np.asarray(c).shape[-1] - 1)))
    checks.check_spearman(sanity.spearman)
    checks.check_spearman(_spearman_loop)
    wrong_auc = [lambda c: np.asarray(c).mean(-1),                               # no half-weights
                 lambda c: np.trapezoid(np.asarray(c), axis=-1)]                 # x = k, not k/n
    wrong_rho = [lambda a, b: [np.corrcoef(np.ravel(x), np.ravel(y))[0, 1] for x, y in zip(a, b)],
                 lambda a, b: [np.corrcoef(np.argsort(np.argsort(np.ravel(x))),  # ties not averaged
                                           np.argsort(np.argsort(np.ravel(y))))[0, 1]
                               for x, y in zip(a, b)]]
    for fn, check in [(f, checks.check_auc) for f in wrong_auc] + \
                     [(f, checks.check_spearman) for f in wrong_rho]:
        with pytest.raises(checks.CheckFailed):
            check(fn)
