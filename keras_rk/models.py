"""``build``: augmented Runge-Kutta networks and StandardNets as Keras models
(``RKModel``, a functional ``keras.Model``)."""

from __future__ import annotations

import inspect
from typing import Any

import keras

from keras_rk import _array_datasets, _checks, _xla_steps
from keras_rk.layers import Augment, RKBlock, StandardBlock

ARCHITECTURES = ("runge_kutta", "standard")


def build(
    tableau: Any = None,
    depth: int = 100,
    width: int = 16,
    input_dim: int = 2,
    num_classes: int = 2,
    *,
    architecture: str = "runge_kutta",
    activation: Any = "tanh",
    step_size: float | None = None,
    final_time: float | None = None,
    lift: str = "zeros",
    lift_seed: int | None = None,
    num_implicit_iterations: int = 8,
    name: str | None = None,
    step_size_mode: str = "fixed",
    remat: bool = False,
    gradient: str = "auto",
    classifier_activation: Any = "softmax",
) -> keras.Model:
    """An uncompiled classifier x -> softmax(W y[L] + mu) (section 3).

    Layers: ``Augment`` (R^input_dim -> R^width), then either an ``RKBlock`` of
    `depth` steps of `tableau` (EulerNet for 'euler', RK4Net for 'rk4') or, for
    ``architecture='standard'``, a ``StandardBlock`` of `depth` layers (StandardNet),
    then a trainable classifier ``Dense(num_classes)``. With the default
    ``classifier_activation='softmax'`` the output is class probabilities, so
    compile with ``loss='sparse_categorical_crossentropy'``; with ``None`` it is
    logits, the numerically safer choice for training: compile with
    ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``. Under a mixed
    precision policy the classifier computes in float32 (Keras's advice for the last
    layer), so its output is float32. The model is an ``RKModel``: a functional
    ``keras.Model`` whose ``compile()`` also uses XLA on TensorFlow by default.

    Args:
        tableau: name of a registered tableau or a ``ButcherTableau``; default
            'rk4'. Not used by the standard architecture.
        depth: L, the number of steps (layers).
        width: D, the width of the feature space (at least `input_dim`).
        input_dim: d, the dimension of the inputs.
        num_classes: K, the number of classes (at least 2).
        architecture: 'runge_kutta' or 'standard'.
        activation: of f(u, y) = act(K y + b): 'tanh', 'relu', 'softplus',
            'sigmoid' or any Keras activation.
        step_size: h; or give `final_time` T for h = T / depth. Default h = 0.05,
            as in the paper's public code.
        final_time: T.
        lift: 'zeros' (zero padding, eq. 2.3), 'random' (frozen random linear
            lift, as in most of the paper's code) or 'trainable'.
        lift_seed: seed for a random lift.
        num_implicit_iterations: fixed-point sweeps for implicit tableaus.
        name: the model's name; default '<tableau>_net' or 'standard_net'.
        step_size_mode: 'fixed', 'learned' or 'simplex'; see ``RKBlock``.
        remat: rematerialise each step in the backward pass; see ``RKBlock``.
        gradient: 'auto' (default), 'autodiff' or 'adjoint' (a hand-written
            reverse sweep, faster at small batches); see ``RKBlock``.
        classifier_activation: the classifier's activation, as in
            ``keras.applications``: 'softmax' (default), any Keras activation, or
            ``None`` for logits.

    Example:

    >>> from keras_rk import build
    >>> model = build(tableau="rk4", depth=10, width=4, input_dim=2, num_classes=2)
    >>> model.output_shape
    (None, 2)
    >>> logits = build(depth=2, width=4, classifier_activation=None)
    >>> logits.get_layer("classifier").activation.__name__
    'linear'
    """
    depth = _checks.num_steps(depth, "depth")
    width = _checks.positive_int(width, "width")
    input_dim = _checks.positive_int(input_dim, "input_dim")
    num_classes = _checks.positive_int(num_classes, "num_classes")
    if num_classes < 2:
        raise ValueError(
            f"Received an invalid value for `num_classes`, expected at least 2. "
            f"Received: num_classes={num_classes}"
        )
    if width < input_dim:
        raise ValueError(
            f"`width` (={width}) must be at least `input_dim` (={input_dim}): "
            f"augmentation pads the input to the width of the network."
        )
    _checks.one_of(architecture, "architecture", ARCHITECTURES)
    if lift_seed is not None:
        _checks.non_negative_int(lift_seed, "lift_seed")
    classifier_activation = _classifier_activation(classifier_activation)

    inputs = keras.Input(shape=(input_dim,), name="inputs")
    features = Augment(width, mode=lift, seed=lift_seed, name="augment")(inputs)
    if architecture == "standard":
        if tableau is not None:
            raise ValueError(
                f"`tableau` is only for architecture='runge_kutta'; a StandardNet "
                f"has none. Received: tableau={tableau!r}, architecture='standard'"
            )
        for argument, value in (("step_size", step_size), ("final_time", final_time)):
            if value is not None:
                raise ValueError(
                    f"`{argument}` is only for architecture='runge_kutta'; a "
                    f"StandardNet takes no step. Received: {argument}={value!r}"
                )
        block = StandardBlock(depth, activation=activation, name="standard_block")
        default_name = "standard_net"
    else:
        block = RKBlock(
            "rk4" if tableau is None else tableau,
            num_steps=depth,
            activation=activation,
            step_size=step_size,
            final_time=final_time,
            num_implicit_iterations=num_implicit_iterations,
            step_size_mode=step_size_mode,
            remat=remat,
            gradient=gradient,
            name="rk_block",
        )
        default_name = f"{block.tableau.name}_net"
    features = block(features)
    # Under mixed precision the head runs in float32: a bfloat16 softmax rounds
    # close probabilities together and flips predictions.
    policy = keras.config.dtype_policy()
    head_dtype = "float32" if policy.compute_dtype != policy.variable_dtype else None
    outputs = keras.layers.Dense(
        num_classes, activation=classifier_activation, dtype=head_dtype, name="classifier"
    )(features)
    return RKModel(inputs, outputs, name=name or default_name)


@keras.saving.register_keras_serializable(package="keras_rk")
class RKModel(keras.Model):
    """The functional model ``build`` returns: a ``keras.Model`` but for two speed-ups
    on TensorFlow.

    ``compile(jit_compile="auto")``, the default, compiles the train, test and
    predict steps with XLA on TensorFlow also on a CPU, where Keras's own "auto"
    compiles only with a GPU (on JAX "auto" is XLA already; PyTorch stays eager).
    There the whole step in XLA trained RK4Net 1.5x faster at width 900, batch 5
    (30.6 against 20.7 images/s, benchmarks/bench_images.py) and 1.06x at width 16
    (0.348 against 0.369 s per epoch, benchmarks/bench_points.py; 2026-11-29, a CPU
    with 2 cores). An explicit ``jit_compile=False`` (or True) is kept; so is
    "auto" under a ``tf.distribute`` strategy, which Keras runs without XLA, and
    on a TensorFlow built without XLA.

    With XLA and ``steps_per_execution > 1`` on TensorFlow, the steps of one
    execution run as one XLA program (``keras_rk._xla_steps``): the same Keras
    ``train_step``, optimizer, metrics and callbacks, and the same weights, without
    handing every variable to XLA again at each batch (width 16, depth 100, batch 5:
    0.20 against 0.23-0.26 s per epoch). On TensorFlow ``fit`` also hands small NumPy
    arrays to Keras as ``tf.data`` datasets that restart in 0.5 ms where Keras's own
    pipeline takes 7 ms per iterator, four per epoch (``keras_rk._array_datasets``;
    depth 100: 0.166 against 0.195 s per epoch), built with ``tf.data``'s autotuning
    off, which stalled less often at one step per execution (width 900, batch 5, 7
    epochs of 250 images: 6.2-8.1 s per epoch without it, 6.2-10.2 s with it); a
    shuffled epoch's order is then ``tf.data``'s.

    Example:

    >>> import keras
    >>> model = build(depth=2, width=4)
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> model.jit_compile == (keras.backend.backend() != "torch")
    True
    """

    def _resolve_auto_jit_compile(self):
        # Keras's hook for "auto" (in compile and in the jit_compile property); the
        # resolved value is what compile() stores in the saved compile config, so a
        # reloaded model compiles the same way. If a Keras release renames the hook,
        # "auto" falls back to Keras's choice and the example above fails.
        if _xla_by_default_on_tensorflow() and not getattr(self, "_distribute_strategy", None):
            return True  # the jit_compile setter keeps False for a model without XLA support
        return super()._resolve_auto_jit_compile()

    def make_train_function(self, force=False):
        # Keras's trainers build `train_function` here; on TensorFlow with XLA and
        # steps_per_execution > 1 the steps of one execution run as one XLA program
        # (keras_rk._xla_steps); everything else is Keras's own.
        if self.train_function is not None and not force:
            return self.train_function
        if not _xla_steps.applies(self):
            return super().make_train_function(force=force)
        self.train_function = _xla_steps.train_function(self)
        return self.train_function

    def fit(self, *args, **kwargs):
        # Keras's fit; on TensorFlow small NumPy arrays are handed to it as tf.data
        # datasets that restart in 0.5 ms instead of Keras's 7 ms per iterator and
        # stall less often (keras_rk._array_datasets).
        arguments = inspect.signature(keras.Model.fit).bind(self, *args, **kwargs).arguments
        arguments.pop("self")
        return super().fit(**_array_datasets.fit_arguments(self, arguments))


def _xla_by_default_on_tensorflow() -> bool:
    """True on TensorFlow with XLA built in and no distribution strategy in scope."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return tf.test.is_built_with_xla() and not tf.distribute.has_strategy()


def _classifier_activation(value: Any):
    """None (logits), a Keras activation's name or a callable; a clear error otherwise."""
    if value is None or callable(value):
        return value
    try:
        keras.activations.get(value)
    except (ValueError, TypeError):
        raise ValueError(
            f"Received an invalid value for `classifier_activation`, expected None "
            f"(logits), 'softmax' or another Keras activation. "
            f"Received: classifier_activation={value!r}"
        ) from None
    return value
