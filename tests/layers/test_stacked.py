import keras
import numpy as np
import pytest
from conftest import BACKEND, to_numpy

from keras_rk import RKBlock
from keras_rk.layers._stacked import per_step_initializer


def test_each_step_is_the_initializer_drawn_with_seed_plus_step():
    initializer = keras.initializers.GlorotUniform(seed=11)
    stacked = to_numpy(per_step_initializer(initializer, 4)((4, 3, 5)))
    assert stacked.shape == (4, 3, 5) and stacked.dtype == np.float32
    for step in range(4):
        expected = keras.initializers.GlorotUniform(seed=11 + step)((3, 5))
        np.testing.assert_array_equal(stacked[step], to_numpy(expected))


@pytest.mark.skipif(BACKEND != "jax", reason="counts XLA compilations")
def test_a_deeper_block_builds_without_compiling_anything_new():
    # Joining the L steps by one op of L operands made XLA compile a new
    # program for every depth, in time growing about quadratically with L
    # (16 s at L = 4,000). Filled step by step, a deeper block reuses the
    # programs a shallow one compiled, so build time is linear in L.
    from jax import monitoring

    compiles = []

    def listener(event, seconds, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(seconds)

    monitoring.register_event_duration_secs_listener(listener)
    try:
        RKBlock(num_steps=3).build((None, 4))
        compiles.clear()
        RKBlock(num_steps=300).build((None, 4))
    finally:
        monitoring.unregister_event_duration_listener(listener)
    assert compiles == []
