"""The localization benchmark: its canvases, its three metrics on hand-made maps, and the runner."""
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from lecture_utils import attribution, canvas, localization as L, maps, zoo


# --------------------------------------------------------------------------------------------
# The canvases: deterministic, and the boxes hold the pasted image
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_benchmark(cifar_test):
    return canvas.benchmark_canvases("test", n=48)


def test_benchmark_is_deterministic(small_benchmark):
    again = canvas.benchmark_canvases("test", n=48)
    for f in ("images", "labels", "boxes", "masks", "source", "background"):
        assert torch.equal(getattr(small_benchmark, f), getattr(again, f)), f
    train = canvas.benchmark_canvases("train", n=48)
    assert not torch.equal(train.images, small_benchmark.images)      # its own seed and images


def test_boxes_contain_the_pasted_image(small_benchmark, cifar_test):
    x, y = cifar_test
    cs = small_benchmark
    assert cs.images.shape == (48, 3, 64, 64)
    for i in range(len(cs)):
        x0, y0, x1, y1 = cs.boxes[i].tolist()
        assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64 and 32 <= x1 - x0 == y1 - y0 <= 48
        assert torch.equal(cs.images[i, :, y0:y1, x0:x1], canvas._resize(x[cs.source[i]], x1 - x0))
        assert cs.masks[i].sum() == (x1 - x0) * (y1 - y0) and cs.masks[i, y0:y1, x0:x1].all()
        assert cs.labels[i] == y[cs.source[i]]
    with pytest.raises(ValueError, match="split"):
        canvas.benchmark_canvases("val")


def test_zoo_dataset(monkeypatch):
    monkeypatch.setattr(canvas, "N_TEST", 8)
    recipe = replace(zoo.RECIPES["resnet_gap_canvas"]["quick"], train_subset=12)
    (xtr, ytr), (xte, yte) = zoo.dataset_for(recipe)
    assert xtr.shape == (12, 3, 64, 64) and xtr.dtype == torch.uint8 and ytr.shape == (12,)
    assert xte.shape == (8, 3, 64, 64) and torch.equal(xte,
                                                       canvas.benchmark_canvases("test").images)


# --------------------------------------------------------------------------------------------
# The metrics on maps whose answer is known
# --------------------------------------------------------------------------------------------
def test_box_from_map_takes_the_largest_component():
    m = np.zeros((10, 12))
    m[1:3, 1:3] = 1.0               # small blob holding the maximum
    m[5:9, 4:10] = 0.5              # larger blob, above 20% of the maximum
    m[0, 11] = 0.1                  # below the threshold
    assert L.box_from_map(m).tolist() == [4, 5, 10, 9]
    assert L.box_from_map(m, threshold=0.6).tolist() == [1, 1, 3, 3]
    assert L.box_from_map(torch.tensor(m)).tolist() == [4, 5, 10, 9]


def test_box_from_map_is_8_connected_and_handles_signed_and_empty_maps():
    diag = np.eye(5)
    assert L.box_from_map(diag).tolist() == [0, 0, 5, 5]     # diagonal pixels are one component
    signed = -np.ones((6, 6))
    signed[2:4, 1:5] = 3.0
    assert L.box_from_map(signed).tolist() == [1, 2, 5, 4]
    assert L.box_from_map(np.zeros((4, 4))).tolist() == [0, 0, 0, 0]
    assert L.box_from_map(-np.ones((4, 4))).tolist() == [0, 0, 0, 0]
    assert L.box_from_map(np.ones((4, 4))).tolist() == [0, 0, 4, 4]
    with pytest.raises(ValueError, match="one map"):
        L.box_from_map(np.ones((2, 4, 4)))


def test_box_iou_matches_torchvision():
    from torchvision.ops import box_iou
    g = torch.Generator().manual_seed(0)
    lo = torch.randint(0, 30, (50, 2), generator=g)
    a = torch.cat([lo, lo + torch.randint(1, 30, (50, 2), generator=g)], 1)
    lo = torch.randint(0, 30, (50, 2), generator=g)
    b = torch.cat([lo, lo + torch.randint(1, 30, (50, 2), generator=g)], 1)
    np.testing.assert_allclose(L.box_iou(a.numpy(), b.numpy()),
                               box_iou(a.float(), b.float()).diagonal().numpy(), rtol=1e-6)
    assert L.box_iou([0, 0, 4, 4], [2, 0, 6, 4]).tolist() == [8 / 24]
    assert L.box_iou([0, 0, 0, 0], [0, 0, 4, 4]).tolist() == [0.0]


def test_pointing_game_and_energy():
    masks = torch.zeros(4, 8, 8, dtype=torch.bool)
    masks[:, 2:6, 2:6] = True
    heat = torch.zeros(4, 8, 8)
    heat[0, 3, 3] = 1.0                      # peak inside
    heat[1, 0, 7] = 1.0                      # peak outside
    heat[2, 2:6, 2:6] = 1.0                  # a plateau: its centroid (3.5 -> 4, 4) is inside
    heat[2, 0, 0] = 1.0
    heat[3] = -1.0                           # no positive value: a miss
    assert L.pointing_game(heat, masks).tolist() == [True, False, True, False]
    e = L.energy_in_box(heat, masks)
    torch.testing.assert_close(e, torch.tensor([1.0, 0.0, 16 / 17, 0.0]))
    uniform = torch.ones(1, 8, 8)
    torch.testing.assert_close(L.energy_in_box(uniform, masks[:1]), torch.tensor([16 / 64]))


def test_border_band_closed_form():
    band = L.border_band(8, 8, 2)
    assert band.dtype == torch.bool and int(band.sum()) == 64 - 16
    assert float(band.float().mean()) == 1 - (8 - 4) ** 2 / 64            # a uniform map's share
    assert not band[2:6, 2:6].any() and band[0].all() and band[:, 7].all()
    torch.testing.assert_close(L.energy_in_box(torch.ones(1, 8, 8), band[None]),
                               torch.tensor([48 / 64]))
    heat = torch.zeros(2, 8, 8)
    heat[0, 0, 3] = 1.0                       # peak on the top edge
    heat[1, 4, 4] = 1.0                       # peak in the middle
    assert L.pointing_game(heat, band.expand(2, 8, 8)).tolist() == [True, False]
    assert L.border_band(32, 16, 4).shape == (32, 16)
    for bad in ((8, 8, 4), (8, 8, 0), (8, 8, 1.5)):
        with pytest.raises(ValueError):
            L.border_band(*bad)


def test_heatmap_reduces_and_upsamples():
    attr = torch.zeros(2, 3, 8, 8)
    attr[0, 1, 2, 3] = -5.0
    h = maps.heatmap(attr, 8)
    assert h.shape == (2, 8, 8) and h[0, 2, 3] == 5.0 and h[1].abs().sum() == 0
    assert maps.heatmap(torch.ones(2, 4, 4), 16).shape == (2, 16, 16)
    with pytest.raises(ValueError, match=r"\[N, h, w\]"):
        maps.heatmap(torch.ones(4, 4), 8)


# --------------------------------------------------------------------------------------------
# The runner, with oracle and baseline methods whose scores are known
# --------------------------------------------------------------------------------------------
class ConstantClassifier(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        out = torch.zeros(len(x), 10) + self.w
        out[:, self.c] = 1.0
        return out


def test_runner_with_an_oracle_and_baselines(small_benchmark):
    cs = small_benchmark
    oracle = {}

    def mask_oracle(model, x, target):          # the true mask, found by matching the images
        idx = [next(i for i in range(len(cs)) if torch.equal(cs.images[i],
                                                             (xi * 255).round().byte()))
               for xi in x.cpu()]
        return cs.masks[idx].float()

    model = ConstantClassifier(c=int(cs.labels[0]))
    res = L.evaluate_method(model, cs, mask_oracle, batch_size=20)
    assert res.gt_known_loc_error == 0 and res.pointing_accuracy == 1 and res.mean_energy == 1
    right = (cs.labels == cs.labels[0]).numpy()
    assert res.top1_loc_error == pytest.approx(1 - right.mean())
    assert (res.boxes == cs.boxes.numpy()).all()
    oracle.update(res.summary())
    assert oracle["GT-known loc. error (%)"] == 0

    side = 40
    table, results = L.benchmark(model, cs, {"centre": L.center_map(side),
                                             "random": attribution.random_map(8)})
    lo = (64 - side) // 2
    centre = results["centre"]
    assert (centre.boxes == [lo, lo, lo + side, lo + side]).all()
    np.testing.assert_allclose(centre.iou, L.box_iou(np.tile([lo, lo, lo + side, lo + side],
                                                             (len(cs), 1)), cs.boxes.numpy()))
    assert centre.hit.tolist() == cs.masks[:, 32, 32].tolist()
    assert set(table.columns) >= {"top-1 loc. error (%)", "GT-known loc. error (%)",
                                  "pointing game (%)", "energy in box (%)"}
    assert table.loc["random", "empty maps (%)"] == 0


def test_test_canvases_are_cached(tmp_path, monkeypatch, cifar_test):
    from lecture_utils.config import cache_dir
    for decoded in cache_dir().glob("cifar10-*.npz"):     # not the canvases: no decoding again
        (tmp_path / decoded.name).symlink_to(decoded)
    monkeypatch.setenv("LECTURE_CACHE", str(tmp_path))
    first = canvas.benchmark_canvases("test", n=16)
    assert len(list((tmp_path / "canvases").glob("test-16-64-*.pt"))) == 1
    again = canvas.benchmark_canvases("test", n=16)                  # from the cache
    fresh = canvas.make_canvases(*cifar_test, 16, size=64, seed=canvas.SEEDS["test"])
    for f in ("images", "labels", "boxes", "masks", "source", "background"):
        assert torch.equal(getattr(first, f), getattr(again, f)), f
        assert torch.equal(getattr(fresh, f), getattr(again, f)), f


def test_public_api_is_stable():
    # The capstone and other notebooks call these names: renaming one must fail here first.
    expected = {"benchmark", "evaluate_method", "heatmaps", "correct_predictions", "score",
                "box_from_map", "box_iou", "pointing_game", "energy_in_box", "center_map",
                "border_band",
                "LocalizationResult", "THRESHOLD", "IOU_THRESHOLD"}
    assert expected <= set(L.__all__)
    assert all(hasattr(L, name) for name in L.__all__)
    for name in L.__all__:
        obj = getattr(L, name)
        assert not callable(obj) or obj.__doc__, f"{name} has no docstring"


# --------------------------------------------------------------------------------------------
# A fair choice of the free parameter (threshold, centre-box side), by one rule
# --------------------------------------------------------------------------------------------
def _hand_canvases(boxes):
    boxes = torch.tensor(boxes, dtype=torch.int64)
    n = len(boxes)
    return canvas.CanvasSet(torch.zeros(n, 3, 64, 64, dtype=torch.uint8),
                            torch.zeros(n, dtype=torch.int64), boxes, canvas.box_masks(boxes, 64),
                            torch.arange(n), torch.zeros(n, dtype=torch.int64))


def test_select_threshold_picks_the_lowest_gt_known_error():
    # 1 on the object [20, 30), 0.3 on a frame [10, 40) around it: a threshold at or below 0.3
    # boxes the frame (IoU 100/900), one above it the object (IoU 1).
    cs = _hand_canvases([[20, 20, 30, 30]] * 3)
    heat = torch.zeros(3, 64, 64)
    heat[:, 10:40, 10:40] = 0.3
    heat[:, 20:30, 20:30] = 1.0
    best, errors = L.select_threshold(heat, cs, [0.2, 0.5, 0.6])
    assert best == 0.5 and errors.tolist() == [1.0, 0.0, 0.0]        # a tie goes to the first
    heat[0, 10:40, 10:40] = 0.0                                        # one map without the frame
    heat[0, 20:30, 20:30] = 1.0
    assert L.select_threshold(heat, cs, [0.2])[1].tolist() == [pytest.approx(2 / 3)]
    with pytest.raises(ValueError, match="one map per canvas"):
        L.select_threshold(heat[:2], cs, [0.2])
    with pytest.raises(ValueError, match="at least one"):
        L.select_threshold(heat, cs, [])


def test_select_center_side_and_center_box():
    cs = _hand_canvases([[12, 12, 52, 52]] * 2 + [[0, 0, 40, 40]])
    # side 20: IoU 400/1600 on the centred objects; 40: 1; 60: 1600/3600 (all below 0.5 but 40)
    best, errors = L.select_center_side(cs, [20, 40, 60])
    assert best == 40 and errors.tolist() == pytest.approx([1.0, 1 / 3, 1.0])
    assert L.center_box(40).tolist() == [12, 12, 52, 52]
    m = L.center_map(40)(nn.Identity(), torch.zeros(1, 3, 64, 64), torch.zeros(1, dtype=torch.long))
    assert L.box_from_map(m[0]).tolist() == L.center_box(40).tolist()  # the map's box is the box
    for bad in (0, 65, 2.5, True):
        with pytest.raises(ValueError, match="whole number of pixels"):
            L.select_center_side(cs, [bad])
