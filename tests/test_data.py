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


def test_cutout_masks_one_square_per_image_with_the_mean():
    """Cutout: a size x size square centred at (cy, cx), clipped by the border, set to the fill."""
    x = torch.rand(3, 3, 8, 8)
    out = data.cutout_at(x, 4, torch.tensor([0, 4, 7]), torch.tensor([0, 4, 7]), fill=(-1, -1, -1))
    hole = out == -1
    assert hole.all(1).sum((1, 2)).tolist() == [4, 16, 9]      # corner 2x2, inside 4x4, edge 3x3
    assert hole[1, :, 2:6, 2:6].all() and torch.equal(out[~hole], x[~hole])
    mean = data.cutout_at(x, 2, torch.tensor([3] * 3), torch.tensor([3] * 3))
    assert torch.allclose(mean[0, :, 3, 3], torch.tensor(data.CIFAR10_MEAN))


def test_device_loader_cutout_changes_only_the_square(cifar_test):
    """With cutout the crops and flips are the ones drawn without it (same seed): recipes without
    cutout keep their batches, and the cutout images differ from them only inside one square."""
    x, y = data.subset(*cifar_test, 64)
    plain = next(iter(data.DeviceLoader(x, y, batch_size=64, augment=True, seed=3)))[0]
    cut = next(iter(data.DeviceLoader(x, y, batch_size=64, augment=True, seed=3, cutout=8)))[0]
    changed = (plain != cut).any(1)                             # [N, H, W]
    assert changed.any() and (changed.sum((1, 2)) <= 64).all()
    with pytest.raises(ValueError, match="cutout"):
        data.DeviceLoader(x, y, augment=True, cutout=40)


# ------------------------------------------------------------ untrusted files (issue 13, item 4)
def _fake_batches(folder, payload=None):
    """A folder laid out like torchvision's cifar-10-batches-py, with small fake batches."""
    import pickle
    folder.mkdir(parents=True)
    for name in data.CIFAR10_BATCH_MD5:
        batch = payload if payload is not None else {
            b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0, 1]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder


class _Boom:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned > /dev/null",))


def test_archive_is_preferred_over_a_batches_folder(fake_archive, isolated_paths):
    data_dir, _ = isolated_paths
    _fake_batches(data_dir / "cifar-10-batches-py", payload={b"evil": _Boom()})
    images, _ = data.load_cifar10("test")          # the folder is never opened
    assert images.shape == (20, 3, 32, 32) and data.cifar10_source() == "jpeg"


def test_batches_folder_with_foreign_files_is_refused_unread(isolated_paths, monkeypatch):
    data_dir, _ = isolated_paths
    _fake_batches(data_dir / "cifar-10-batches-py", payload={b"evil": _Boom()})
    ran = []
    monkeypatch.setattr("os.system", lambda cmd: ran.append(cmd))
    with pytest.raises(data.ChecksumError, match="md5"):
        data.load_cifar10("test")
    assert ran == []


def test_batches_are_read_without_running_code(isolated_paths, monkeypatch):
    """Even a file with torchvision's md5 could only build plain data: callables are refused."""
    data_dir, _ = isolated_paths
    _fake_batches(data_dir / "cifar-10-batches-py", payload={b"evil": _Boom()})
    monkeypatch.setattr(data, "_md5", lambda path: data.CIFAR10_BATCH_MD5[path.name])
    ran = []
    monkeypatch.setattr("os.system", lambda cmd: ran.append(cmd))
    import pickle
    with pytest.raises(pickle.UnpicklingError, match="not plain data"):
        data.load_cifar10("test")
    assert ran == []


def test_genuine_batches_load(isolated_paths, monkeypatch):
    data_dir, _ = isolated_paths
    _fake_batches(data_dir / "cifar-10-batches-py")
    monkeypatch.setattr(data, "_md5", lambda path: data.CIFAR10_BATCH_MD5[path.name])
    monkeypatch.setattr(data, "CIFAR10_SIZES", {"train": 10, "test": 2})
    images, labels = data.load_cifar10("test")
    assert images.shape == (2, 3, 32, 32) and sorted(labels.tolist()) == [0, 1]
    assert data.cifar10_source() == "original"


def test_foreign_cache_file_is_rebuilt_not_used(fake_archive, isolated_paths):
    """A well-formed .npz that the loader did not write (no matching sha256 beside it)."""
    _, cache = isolated_paths
    images, labels = data.load_cifar10("test")
    foreign = cache / "cifar10-jpeg-test.npz"
    with open(foreign, "wb") as fh:
        np.savez(fh, images=np.zeros_like(images.numpy()), labels=labels.numpy())
    with pytest.warns(UserWarning, match="not the course's"):
        again, _ = data.load_cifar10("test")
    assert torch.equal(again, images)


def test_stale_temporary_files_are_cleaned(fake_archive, isolated_paths):
    import os
    _, cache = isolated_paths
    cache.mkdir(exist_ok=True)
    stale, fresh = cache / ".cifar10-jpeg-test.npz.abc.tmp", cache / ".other.xyz.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    data.load_cifar10("test")
    assert not stale.exists() and fresh.exists()     # a fresh one may belong to a running write


def test_cache_pointing_at_a_file_is_a_clear_error(tmp_path, monkeypatch):
    from lecture_utils import config
    target = tmp_path / "a_file"
    target.write_text("x")
    monkeypatch.setenv("LECTURE_CACHE", str(target))
    with pytest.raises(NotADirectoryError, match="LECTURE_CACHE"):
        config.cache_dir()
