import io
import tarfile
import time

import numpy as np
import pytest
import torch
from PIL import Image

from lecture_utils import data


def _fake_jpeg_archive(path, per_split=None):
    """A tiny archive laid out like cifar10-jpeg.tar.gz: cifar10/{split}/{class}/NNNN.jpg."""
    per_split = per_split or {"train": 3, "test": 2}
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as tar:
        for split, k in per_split.items():
            for cls in data.CIFAR10_CLASSES:
                for i in range(k):
                    buf = io.BytesIO()
                    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(buf,
                                                                                            "JPEG")
                    info = tarfile.TarInfo(f"cifar10/{split}/{cls}/{i:04d}.jpg")
                    info.size = buf.tell()
                    buf.seek(0)
                    tar.addfile(info, buf)


@pytest.fixture
def fake_archive(isolated_paths, monkeypatch):
    data_dir, cache = isolated_paths
    path = data_dir / data.CIFAR10_JPEG
    _fake_jpeg_archive(path)
    monkeypatch.setattr(data, "CIFAR10_JPEG_SHA256", data.sha256_file(path))
    monkeypatch.setattr(data, "CIFAR10_SIZES", {"train": 30, "test": 20})
    return path


def test_decode_archive_into_cache_then_load_fast(fake_archive, isolated_paths):
    images, labels = data.load_cifar10("train")
    assert images.shape == (30, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64 and sorted(labels.tolist()) == sorted(list(range(10)) * 3)
    assert labels[:10].tolist() != sorted(labels[:10].tolist())  # shuffled, not grouped by class
    start = time.perf_counter()
    again, _ = data.load_cifar10("train")
    assert time.perf_counter() - start < 1.0 and torch.equal(images, again)


def test_read_only_data_folder_is_never_written(fake_archive, isolated_paths):
    data_dir, cache = isolated_paths
    before = sorted(p.name for p in data_dir.iterdir())
    data.load_cifar10("test")
    assert sorted(p.name for p in data_dir.iterdir()) == before
    assert any(cache.glob("cifar10-jpeg-test.npz"))


def test_corrupt_archive_is_refused(isolated_paths):
    data_dir, _ = isolated_paths
    (data_dir / data.CIFAR10_JPEG).write_bytes(b"not a tarball")
    with pytest.raises(data.ChecksumError, match="sha256"):
        data.load_cifar10("train")


def test_corrupt_cache_is_detected_and_rebuilt(fake_archive, isolated_paths):
    _, cache = isolated_paths
    images, _ = data.load_cifar10("test")
    (cache / "cifar10-jpeg-test.npz").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="corrupt"):
        rebuilt, _ = data.load_cifar10("test")
    assert torch.equal(images, rebuilt)


def test_missing_dataset_names_both_files(isolated_paths):
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_cifar10("train")
    msg = str(err.value)
    assert "cifar-10-batches-py" in msg and data.CIFAR10_JPEG in msg and "LECTURE_DATA" in msg


def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        data.load_cifar10("validation")


def test_real_cifar10_test_split(cifar_test):
    images, labels = cifar_test
    assert images.shape == (10_000, 3, 32, 32)
    assert torch.bincount(labels).tolist() == [1000] * 10


def test_subset_is_balanced_and_deterministic(cifar_test):
    x, y = data.subset(*cifar_test, 200, seed=1)
    assert len(y) == 200 and torch.bincount(y).tolist() == [20] * 10
    assert torch.equal(y, data.subset(*cifar_test, 200, seed=1)[1])


def test_packaged_data():
    x, y = data.load_digits()
    assert x.shape == (1797, 1, 8, 8) and float(x.max()) <= 1.0 and y.max() == 9
    assert data.load_photo("chelsea").shape[0] == 3
    assert data.load_texture("brick").dim() == 2
    with pytest.raises(ValueError, match="Unknown image"):
        data.load_photo("mona_lisa")


def test_newsgroups_from_archive():
    texts, labels, names = data.load_newsgroups(
        "train", categories=["alt.atheism", "soc.religion.christian"], remove=("headers",))
    assert names == ("alt.atheism", "soc.religion.christian")
    assert len(texts) == len(labels) == 480 + 599
    assert not texts[0].startswith("From:")


def test_random_crop_and_flip_are_real_crops():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    out = data.random_crop(x, 6, pad=0, generator=g)
    assert out.shape == (2, 3, 6, 6)
    for i in range(2):  # each crop is a window of its own image
        hits = [(dy, dx) for dy in range(3) for dx in range(3)
                if torch.equal(out[i], x[i, :, dy:dy + 6, dx:dx + 6])]
        assert hits
    flipped = data.random_flip(x, generator=torch.Generator().manual_seed(1))
    for i in range(2):
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(-1))


def test_device_loader_batches(cifar_test):
    x, y = data.subset(*cifar_test, 100)
    loader = data.DeviceLoader(x, y, batch_size=32, augment=True)
    batches = list(loader)
    assert len(batches) == len(loader) == 4
    xb, yb = batches[0]
    assert xb.dtype == torch.float32 and xb.shape == (32, 3, 32,
                                                      32) and 0 <= xb.min() <= xb.max() <= 1
    crop = data.DeviceLoader(x, y, batch_size=50, augment=False, crop=28)
    assert next(iter(crop))[0].shape == (50, 3, 28, 28)
    with pytest.raises(ValueError, match="uint8"):
        data.DeviceLoader(x.float(), y)
