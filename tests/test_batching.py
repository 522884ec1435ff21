"""One rule for batch sizes (issue 14): small on a CPU, what fits on a GPU, overridable."""
import pytest
import torch

from lecture_utils import batching, models


def test_cpu_batches_are_small_and_shrink_with_the_image():
    net = models.resnet_gap(width=4, blocks=(1, 1, 1))
    assert batching.batch_size_for(net, (3, 32, 32)) == batching.CPU_BATCH
    assert batching.batch_size_for(net, (8, 3, 32, 32), backward=True) == batching.CPU_BATCH // 2
    assert 1 <= batching.batch_size_for(net, (3, 224, 224)) < batching.CPU_BATCH


def test_override_and_resolve(monkeypatch):
    net = models.resnet_gap(width=4, blocks=(1, 1, 1))
    monkeypatch.setenv("LECTURE_BATCH_SIZE", "3")
    assert batching.batch_size_for(net, (3, 32, 32)) == 3
    assert batching.resolve(None, net, (3, 32, 32), scale=2) == 6
    assert batching.resolve(5, net, (3, 32, 32)) == 5
    monkeypatch.setenv("LECTURE_BATCH_SIZE", "zero")
    with pytest.raises(ValueError, match="LECTURE_BATCH_SIZE"):
        batching.batch_size_for(net, (3, 32, 32))
    monkeypatch.delenv("LECTURE_BATCH_SIZE")
    for bad, err in ((0, ValueError), (-2, ValueError), (2.0, TypeError)):
        with pytest.raises(err, match="batch_size"):
            batching.resolve(bad, net, (3, 32, 32))
    assert [(s.start, s.stop) for s in batching.batches(5, 2)] == [(0, 2), (2, 4), (4, 5)]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_gpu_batch_fits_in_memory():
    net = models.resnet_gap(width=16).cuda()
    size = batching.batch_size_for(net, (3, 64, 64), backward=True)
    assert 1 <= size <= batching.GPU_MAX_BATCH
