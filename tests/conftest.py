"""Shared test helpers. The Keras backend is chosen by KERAS_BACKEND before
Keras is imported; `.ci/run` runs the whole suite once per backend."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if os.environ.get("KERAS_BACKEND", "tensorflow") == "jax":
    import jax

    # Float64 tests (orders of convergence, finite differences) need it, and
    # Keras reads it when it is imported.
    jax.config.update("jax_enable_x64", True)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

BACKEND = keras.backend.backend()

if BACKEND != "tensorflow":
    # Keras's type promotion turns float64 into float32 on every backend but
    # TensorFlow (keras/src/backend/common/dtypes.py, "to be aligned with JAX's
    # default"), so ops such as tanh on JAX would silently compute in float32.
    # The float64 tests below need real float64, so they lift that rule.
    from keras.src.backend.common import dtypes as _keras_dtypes

    _keras_dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"


def to_numpy(x):
    if hasattr(x, "detach"):  # a torch tensor that may require grad
        x = x.detach()
    return keras.ops.convert_to_numpy(x)


def gradient(fn, *arrays):
    """The gradient of the scalar fn(*tensors) with respect to every argument,
    computed by the backend's own automatic differentiation (numpy in and out)."""
    if BACKEND == "jax":
        import jax

        grads = jax.grad(fn, argnums=tuple(range(len(arrays))))(
            *[jax.numpy.asarray(a) for a in arrays]
        )
        return [np.asarray(g) for g in grads]
    if BACKEND == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(a) for a in arrays]
        with tf.GradientTape() as tape:
            for t in tensors:
                tape.watch(t)
            value = fn(*tensors)
        return [tf.convert_to_tensor(g).numpy() for g in tape.gradient(value, tensors)]
    if BACKEND == "torch":
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        fn(*tensors).backward()
        return [t.grad.numpy() for t in tensors]
    pytest.skip(f"no gradient helper for backend {BACKEND}")


def finite_difference_gradient(fn, arrays, index, eps=1e-6):
    """Central differences of the scalar fn(*arrays) in arrays[index] (float64)."""
    base = [np.array(a, dtype=np.float64) for a in arrays]
    grad = np.zeros_like(base[index])
    for position in np.ndindex(base[index].shape):
        plus = [a.copy() for a in base]
        minus = [a.copy() for a in base]
        plus[index][position] += eps
        minus[index][position] -= eps
        grad[position] = float(to_numpy(fn(*plus))) - float(to_numpy(fn(*minus)))
        grad[position] /= 2 * eps
    return grad


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def image_data_dir(tmp_path):
    """A folder with small, random MNIST and Fashion-MNIST IDX files (60 training
    and 60 test images each), written by ``helpers.write_dataset``."""
    import helpers

    directory = tmp_path / "image-data"
    helpers.write_dataset(directory / "mnist", num_train=60, num_test=60, seed=0)
    helpers.write_dataset(directory / "fashion_mnist", num_train=60, num_test=60, seed=1)
    return directory
