import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import BACKEND

import keras_rk.distribute

SCRIPT = textwrap.dedent(
    """
    import os, sys
    num_devices, out = int(sys.argv[1]), sys.argv[2]
    backend = os.environ["KERAS_BACKEND"]
    if backend == "tensorflow" and num_devices > 1:
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
    import contextlib
    import keras, numpy as np
    import keras_rk, keras_rk.distribute

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 2)).astype("float32")
    y = (np.linalg.norm(x, axis=1) < 1).astype("int32")
    context = contextlib.nullcontext()
    if num_devices > 1:
        devices = None if backend == "jax" else [f"/cpu:{i}" for i in range(num_devices)]
        context = keras_rk.distribute.data_parallel(devices)
    with context as parallel:
        if num_devices > 1 and backend == "jax":
            assert len(parallel.device_mesh.devices) == num_devices
        if num_devices > 1 and backend == "tensorflow":
            assert parallel.num_replicas_in_sync == num_devices
        keras.utils.set_random_seed(5)
        model = keras_rk.build(tableau="rk4", depth=5, width=4)
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=20, epochs=3, shuffle=False, verbose=0)
    np.savez(out, *model.get_weights())
    """
)


def train(tmp_path, num_devices):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    out = tmp_path / f"weights_{num_devices}.npz"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={max(num_devices, 1)}"
    result = subprocess.run(
        [sys.executable, str(script), str(num_devices), str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as data:
        return [data[key] for key in data.files]


@pytest.mark.slow
@pytest.mark.skipif(BACKEND == "torch", reason="Keras has no distribution API for torch")
def test_two_devices_match_one(tmp_path):
    # 2 virtual CPU devices, each with half of every batch of 20: gradients are
    # averaged, so 12 Adam steps land where one device lands, up to the order of
    # float32 sums (observed differences ~1e-7).
    single, parallel = train(tmp_path, 1), train(tmp_path, 2)
    for a, b in zip(single, parallel, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(BACKEND != "torch", reason="the torch backend is the unsupported one")
def test_torch_backend_gets_a_clear_error():
    with pytest.raises(NotImplementedError, match=r"needs the 'jax' or 'tensorflow' Keras backend"):
        with keras_rk.distribute.data_parallel():
            pass
