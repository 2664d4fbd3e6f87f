"""keras_rk.optimal_control: the discrete adjoint (eqs. 3.20-3.26) against the backend's
automatic differentiation, and the bilinear invariant p . delta y."""

import keras
import numpy as np
import pytest
from conftest import gradient, to_numpy

import keras_rk
from keras_rk import optimal_control as adjoint

EXPLICIT = ["euler", "heun", "rk4"]
IMPLICIT = ["implicit_midpoint", "gauss_legendre_2"]
LOSS = keras.losses.get("sparse_categorical_crossentropy")


@pytest.fixture
def float64():
    # Keras caches its global dtype policy from floatx on first use, so both
    # are set, and both restored.
    previous, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    yield
    keras.config.set_floatx(previous)
    keras.config.set_dtype_policy(policy)


def make_model(tableau, step_size_mode="fixed", lift="trainable", depth=3):
    # 24 fixed-point sweeps at h = 0.2 contract the implicit stages far below
    # float64 rounding, so the truncated iteration that autodiff differentiates
    # and the converged stages the adjoint assumes agree to rounding.
    keras.utils.set_random_seed(7)
    inputs = keras.Input(shape=(2,))
    features = keras_rk.Augment(5, mode=lift, seed=3)(inputs)
    block = keras_rk.RKBlock(
        tableau,
        num_steps=depth,
        step_size=0.2,
        step_size_mode=step_size_mode,
        num_implicit_iterations=24,
    )
    features = block(features)
    outputs = keras.layers.Dense(3, activation="softmax")(features)
    model = keras.Model(inputs, outputs)
    if step_size_mode != "fixed":
        # Unequal steps, so that d/dh is tested away from the symmetric start.
        rng = np.random.default_rng(5)
        block.step_parameters.assign(
            to_numpy(block.step_parameters) + rng.normal(scale=0.3, size=depth)
        )
    return model


def data():
    rng = np.random.default_rng(11)
    return rng.normal(size=(6, 2)), rng.integers(0, 3, size=6)


def automatic_gradients(model, x, y):
    """Reference: backend autodiff of the whole model (through the loop)."""
    trainable = [to_numpy(v) for v in model.trainable_weights]
    fixed = [v.value for v in model.non_trainable_weights]

    def loss(*args):
        out, _ = model.stateless_call(list(args[:-1]), fixed, args[-1])
        return keras.ops.mean(LOSS(y, out))

    return gradient(loss, *trainable, x)


def relative_errors(model, x, y):
    got, input_grad = adjoint.gradients(model, x, y, return_input_gradient=True)
    got = [to_numpy(g) for g in got] + [to_numpy(input_grad)]
    expected = automatic_gradients(model, x, y)
    assert len(got) == len(expected) == len(model.trainable_weights) + 1
    return [np.linalg.norm(g - e) / np.linalg.norm(e) for g, e in zip(got, expected)]


@pytest.mark.parametrize("name", EXPLICIT + IMPLICIT)
def test_adjoint_equals_automatic_differentiation(name, float64):
    # Expected: backpropagation by the backend, float64. The two compute the
    # same sums in different orders, so they agree to rounding (~1e-15).
    x, y = data()
    errors = relative_errors(make_model(name), x, y)
    assert max(errors) < 1e-10, errors


@pytest.mark.parametrize("name, mode", [("rk4", "learned"), ("gauss_legendre_2", "simplex")])
def test_adjoint_gives_step_size_gradients(name, mode, float64):
    x, y = data()
    model = make_model(name, step_size_mode=mode)
    assert "step_parameters" in [v.name for v in model.trainable_weights]
    errors = relative_errors(model, x, y)
    assert max(errors) < 1e-10, errors


def test_adjoint_of_a_built_model_in_float32_is_close_to_backpropagation():
    # keras_rk.build with the frozen random lift (no trainable lift weight), in
    # the default float32: agreement to float32 rounding.
    keras.utils.set_random_seed(2)
    model = keras_rk.build("heun", depth=5, width=4, input_dim=2, num_classes=3, lift="random")
    x, y = data()
    got = [to_numpy(g) for g in adjoint.gradients(model, x.astype("float32"), y)]
    expected = automatic_gradients(model, x.astype("float32"), y)[:-1]
    assert len(got) == len(model.trainable_weights) == 4
    for g, e in zip(got, expected):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6)


def test_a_zero_weight_has_no_adjoint_tableau():
    model = keras_rk.build("midpoint", depth=2, width=3, input_dim=2)
    x, y = data()
    with pytest.raises(ValueError, match=r"no adjoint tableau.*b\[0\].*are zero.*divide"):
        adjoint.gradients(model, x, y)


def test_a_model_that_is_not_a_chain_is_rejected():
    inputs = keras.Input(shape=(3,))
    block = keras_rk.RKBlock("euler", num_steps=2)
    outputs = keras.layers.Add()([block(inputs), inputs])
    with pytest.raises(ValueError, match=r"one chain"):
        adjoint.gradients(keras.Model(inputs, outputs), np.ones((1, 3)), np.zeros(1))


def invariant(name, costate_tableau=None):
    """sum over the batch of p[l] . delta y[l], for l = 0, ..., L."""
    keras.utils.set_random_seed(4)
    block = keras_rk.RKBlock(name, num_steps=8, step_size=0.3, num_implicit_iterations=40)
    block.build((None, 3))
    rng = np.random.default_rng(8)
    x, dy0, p_final = (rng.normal(size=(4, 3)) for _ in range(3))
    tangents = to_numpy(adjoint.tangent_trajectory(block, x, dy0))
    costates = to_numpy(
        adjoint.costate_trajectory(
            block, x, p_final, costate_tableau=costate_tableau, num_adjoint_iterations=40
        )
    )
    return np.einsum("blw,blw->l", costates, tangents)


@pytest.mark.parametrize("name", IMPLICIT)
def test_symplectic_tableaus_conserve_p_dot_delta_y(name, float64):
    # The costate integrated by the method itself (optimise, then discretise):
    # for a symplectic tableau Ã = A, so this is the discrete adjoint and the
    # bilinear form is conserved step by step, to float64 rounding.
    tableau = keras_rk.get_tableau(name)
    assert tableau.is_symplectic
    values = invariant(name, costate_tableau=tableau)
    assert np.max(np.abs(values - values[-1])) < 1e-12 * np.abs(values[-1]), values


def test_rk4_does_not_conserve_p_dot_delta_y_unless_paired_with_its_adjoint(float64):
    tableau = keras_rk.get_tableau("rk4")
    assert not tableau.is_symplectic
    # RK4 on the costate too: p . delta y drifts by O(h^5) per step (about 1e-6
    # relative here), far above the 1e-12 that the conserved cases meet.
    same = invariant("rk4", costate_tableau=tableau)
    assert np.max(np.abs(same - same[-1])) > 1e-9 * np.abs(same[-1]), same
    # RK4 paired with its adjoint tableau (3.23): conserved again.
    paired = invariant("rk4")
    assert np.max(np.abs(paired - paired[-1])) < 1e-12 * np.abs(paired[-1]), paired


def test_costate_at_the_input_is_the_gradient_of_the_output_pairing(float64):
    # p[0] with p[L] = c is d <c, y[L]> / d y[0] (backpropagation).
    keras.utils.set_random_seed(4)
    block = keras_rk.RKBlock("rk4", num_steps=5, step_size=0.3)
    block.build((None, 3))
    rng = np.random.default_rng(9)
    x, c = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    costates = to_numpy(adjoint.costate_trajectory(block, x, c))
    assert costates.shape == (2, 6, 3)
    np.testing.assert_allclose(costates[:, -1], c, rtol=0)
    weights = [to_numpy(v) for v in block.weights]

    def pairing(y0):
        out = block.stateless_call(weights, [], y0)[0]
        return keras.ops.sum(out * keras.ops.convert_to_tensor(c))

    expected = gradient(pairing, x)[0]
    np.testing.assert_allclose(costates[:, 0], expected, rtol=1e-12)


def test_a_sequential_model_is_a_chain_too(float64):
    # The chain is found through public Keras API only; a Sequential model with
    # the same layers gives the same gradients as the functional one.
    x, y = data()
    functional = make_model("rk4")
    sequential = keras.Sequential([keras.Input(shape=(2,)), *functional.layers[1:]])
    expected = [to_numpy(g) for g in adjoint.gradients(functional, x, y)]
    got = [to_numpy(g) for g in adjoint.gradients(sequential, x, y)]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-14)


def test_a_layer_called_off_the_chain_is_rejected():
    inputs = keras.Input(shape=(3,))
    block = keras_rk.RKBlock("euler", num_steps=2)
    dense = keras.layers.Dense(2)
    outputs = dense(block(inputs))
    with pytest.raises(ValueError, match=r"one chain.*Augment -> RKBlock -> Dense"):
        adjoint.gradients(
            keras.Model(inputs, [outputs, block.output]), np.ones((1, 3)), np.zeros(1)
        )


def test_keras_rk_adjoint_is_an_alias_of_optimal_control():
    from keras_rk import adjoint as old_name
    from keras_rk import optimal_control

    for name in optimal_control.__all__:
        assert getattr(old_name, name) is getattr(optimal_control, name)
