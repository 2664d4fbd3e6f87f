import keras
import numpy as np

import keras_rk


def trained_weights(seed):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 2)).astype("float32")
    y = (np.linalg.norm(x, axis=1) < 1).astype("int32")
    model = keras_rk.build(tableau="rk4", depth=3, width=4, lift="random")
    initial = model.get_weights()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=10, epochs=2, verbose=0)  # shuffled by Keras, seeded
    return initial, model.get_weights()


def test_same_seed_same_initialisation_and_training():
    (init_a, final_a), (init_b, final_b) = trained_weights(11), trained_weights(11)
    for a, b in zip(init_a + final_a, init_b + final_b, strict=True):
        np.testing.assert_array_equal(a, b)


def test_another_seed_changes_the_random_lift_and_the_weights():
    (init_a, _), (init_c, _) = trained_weights(11), trained_weights(12)
    lift_a, lift_c = init_a[0], init_c[0]  # Augment's frozen random kernel comes first
    assert lift_a.shape == (2, 4)
    assert not np.allclose(lift_a, lift_c)
    assert not np.allclose(init_a[1], init_c[1])
