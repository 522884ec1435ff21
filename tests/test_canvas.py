import pytest
import torch

from lecture_utils import canvas


@pytest.fixture(scope="module")
def sets(cifar_test):
    x, y = cifar_test
    return x, y, canvas.make_canvases(x, y, 64, size=64, seed=3)


def test_deterministic(sets):
    x, y, c = sets
    again = canvas.make_canvases(x, y, 64, size=64, seed=3)
    for a, b in zip((c.images, c.boxes, c.masks, c.source),
                    (again.images, again.boxes, again.masks, again.source)):
        assert torch.equal(a, b)
    other = canvas.make_canvases(x, y, 64, size=64, seed=4)
    assert not torch.equal(c.boxes, other.boxes)


def test_boxes_hold_the_pasted_image(sets):
    x, y, c = sets
    for i in range(len(c)):
        x0, y0, x1, y1 = c.boxes[i].tolist()
        assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64 and x1 - x0 == y1 - y0 >= 32
        pasted = canvas._resize(x[c.source[i]], x1 - x0)
        assert torch.equal(c.images[i, :, y0:y1, x0:x1], pasted)
        assert c.masks[i].sum() == (x1 - x0) * (y1 - y0) and c.masks[i, y0:y1, x0:x1].all()
        assert c.labels[i] == y[c.source[i]]


def test_backgrounds_and_errors(sets):
    x, y, c = sets
    assert set(c.background.tolist()) == {0, 1}
    t = canvas.make_canvases(x, y, 4, size=64, background="texture")
    assert t.background.tolist() == [0] * 4
    with pytest.raises(ValueError, match="does not fit"):
        canvas.make_canvases(x, y, 2, size=40, scale=(1.0, 1.5))
    with pytest.raises(ValueError, match="background"):
        canvas.make_canvases(x, y, 2, background="sky")
    assert len(c[:5]) == 5


def test_benchmark_sources_and_held_out(cifar_test):
    train = canvas.benchmark_canvases("train", n=48)
    assert torch.equal(canvas.benchmark_sources("train", 48), train.source)   # without building
    used = train.source[:10]
    kept = canvas.held_out(train, used)
    assert len(kept) == int((~torch.isin(train.source, used)).sum()) >= 38
    assert not torch.isin(kept.source, used).any()
    assert torch.equal(canvas.held_out(train, []).images, train.images)
    with pytest.raises(ValueError, match="nothing is held out"):
        canvas.held_out(train, train.source)
    with pytest.raises(ValueError, match="split"):
        canvas.benchmark_sources("val")
