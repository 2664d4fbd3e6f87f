"""RKBlock: L Runge-Kutta steps of y' = act(K y + b), one (K, b) per step."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from keras_rk import _checks
from keras_rk.activations import (
    activation_name,
    activations_with_output_derivative,
    derivative_from_output,
)
from keras_rk.adjoint_gradient import integrate_with_adjoint
from keras_rk.layers._stacked import StackedStepsBlock
from keras_rk.loop import integrate
from keras_rk.registry import get_tableau
from keras_rk.rk import runge_kutta_step
from keras_rk.tableaus import ButcherTableau

# The paper's public code steps with h = 0.05 at every depth (T = 0.05 L).
DEFAULT_STEP_SIZE = 0.05

STEP_SIZE_MODES = ("fixed", "learned", "simplex")
GRADIENTS = ("auto", "autodiff", "adjoint")

# gradient='auto' trains with the adjoint sweep at every batch size on every backend.
# Measured on RK4Net, JAX: the sweep is 1.5x autodiff's speed at width 16, batch 5
# (benchmarks/bench_points.py), 2.1x at batch 128 and 1.8x at 512 (fit on 1,536
# points, depth 100, 2026-11-30); at width 900 1.2x at batch 5 and 1.02-1.05x at 128
# and 512 (benchmarks/bench_images.py, 2026-11-30). Until its kernel-gradient product
# merged the stage and batch axes, the sweep lost to autodiff at width 900, batch 128,
# and 'auto' chose by batch size. On TensorFlow autodiff of the step loop's while loop
# under XLA is 9.9x slower than the sweep at width 900, batch 128.

# The largest h whose softplus^-1, log(expm1(h)), a float64 holds (expm1 overflows at 709.78).
MAX_LEARNED_STEP_SIZE = 700.0


def resolve_tableau(tableau: Any) -> ButcherTableau:
    """A tableau from a registered name, a ButcherTableau, or its config dict."""
    if isinstance(tableau, dict):
        return ButcherTableau.from_config(tableau)
    return get_tableau(tableau)


def resolve_step_size(step_size: Any, final_time: Any, num_steps: int) -> float:
    """h from either h itself or T = h L (eq. 2.12); the default is h = 0.05."""
    if step_size is not None and final_time is not None:
        raise ValueError(
            f"Give the step either as `step_size` (h) or as `final_time` (T, so that "
            f"h = T / num_steps), not both. Received: step_size={step_size!r}, "
            f"final_time={final_time!r}"
        )
    if final_time is not None:
        return _checks.positive_float(final_time, "final_time") / num_steps
    if step_size is not None:
        return _checks.positive_float(step_size, "step_size")
    return DEFAULT_STEP_SIZE


@keras.saving.register_keras_serializable(package="keras_rk")
class RKBlock(StackedStepsBlock):
    """L steps of a Runge-Kutta method on y' = act(K y + b), one (K, b) per step.

    Step l maps y[l] to y[l+1] by the tableau (A, b) with the same u[l] = (K[l], b[l])
    in every stage (eq. 2.12). With 'euler' this is the paper's EulerNet, with 'rk4'
    its RK4Net; any registered tableau works, explicit or implicit. The weights of
    all steps are stacked, shapes (L, width, width) and (L, width), and the steps
    run in one compiled loop, so tracing cost does not grow with L.

    Args:
        tableau: a registered name (see ``keras_rk.available_tableaus()``), a
            ``keras_rk.ButcherTableau``, or its config dict.
        num_steps: L, the number of steps (layers), a positive integer.
        activation: a Keras activation name or callable; the paper uses 'tanh',
            'relu', 'softplus' and 'sigmoid'.
        step_size: h. Give this or `final_time`, not both; with neither, h = 0.05
            as in the paper's public code.
        final_time: T, so that h = T / num_steps (eq. 2.12).
        num_implicit_iterations: fixed-point sweeps that solve an implicit
            tableau's stages (unused for explicit ones). The step keeps the
            tableau's order when this is at least the order and h * Lip(f) < 1.
        return_trajectory: when True, the output is every state y[0], ..., y[L].
        step_size_mode: 'fixed' (every step h, the paper's scheme), 'learned'
            (L positive trainable steps h_l = softplus(s_l), initialised to h;
            Benning et al.'s ODENet) or 'simplex' (L positive steps summing to
            T = h L, h_l = T softmax(s)_l, initialised to h; ODENet+simplex). The
            trainable parameters s, shape (L,), are the weight `step_parameters`.
        remat: when True, each step is rematerialised (``keras.remat``): the
            backward pass keeps only the L + 1 states y[l] and recomputes a step's
            stages when it needs them, trading one extra forward pass for memory.
        gradient: 'auto' (default), 'autodiff' (the backend differentiates the
            step loop) or 'adjoint' (``keras_rk.adjoint_gradient``: the same
            gradient from one hand-written reverse sweep and a single batched
            product for all L kernel gradients; faster at small batches).
            'adjoint' needs an explicit tableau, step_size_mode='fixed', no
            remat, no trajectory output and an activation from
            ``keras_rk.activations.activations_with_output_derivative()``. On
            JAX and TensorFlow it is used in training calls (inference runs the
            plain loop); on PyTorch, as a ``torch.autograd.Function``, in every
            call. 'auto' uses the adjoint sweep wherever it applies (it is the
            faster one) and autodiff otherwise; both give the same gradient.
        kernel_initializer: for each step's K; default U(±1/sqrt(width)), as in
            the paper's code. Applied to each step separately.
        bias_initializer: for each step's b; the same default.

    Input shape: (batch, width). Output shape: (batch, width), or
    (batch, num_steps + 1, width) with ``return_trajectory``.

    The config stores the tableau's coefficients, so a saved model loads where the
    plugin that defined its tableau is not installed.

    Example:

    >>> import keras
    >>> block = RKBlock("rk4", num_steps=10, final_time=1.0)
    >>> tuple(block(keras.ops.ones((3, 4))).shape)
    (3, 4)

    Reference: Giesecke & Kröner, "Classification with Runge-Kutta Networks and
    feature space augmentation", eqs. (2.10)-(2.12).
    """

    def __init__(
        self,
        tableau: Any = "rk4",
        num_steps: int = 100,
        activation: Any = "tanh",
        step_size: float | None = None,
        final_time: float | None = None,
        num_implicit_iterations: int = 8,
        return_trajectory: bool = False,
        kernel_initializer: Any = None,
        bias_initializer: Any = None,
        step_size_mode: str = "fixed",
        remat: bool = False,
        gradient: str = "auto",
        **kwargs,
    ):
        super().__init__(
            num_steps=num_steps,
            activation=activation,
            return_trajectory=return_trajectory,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            **kwargs,
        )
        self.tableau = resolve_tableau(tableau)
        self.step_size_arg = step_size
        self.final_time = final_time
        self.step_size = resolve_step_size(step_size, final_time, self.num_steps)
        self.num_implicit_iterations = _checks.num_iterations(
            num_implicit_iterations, "num_implicit_iterations"
        )
        self.step_size_mode = _checks.one_of(step_size_mode, "step_size_mode", STEP_SIZE_MODES)
        if self.step_size_mode == "learned" and self.step_size > MAX_LEARNED_STEP_SIZE:
            # build() starts s at softplus^-1(h) = log(expm1(h)), which overflows a float.
            raise ValueError(
                f"Received an invalid value for `step_size`, expected a number in "
                f"(0, {MAX_LEARNED_STEP_SIZE}] with step_size_mode='learned' (its "
                f"parameter starts at log(expm1(h))); use step_size_mode='fixed' for "
                f"larger steps. Received: step_size={self.step_size!r}"
                + (f" (final_time={final_time!r} / num_steps)" if final_time is not None else "")
            )
        if not isinstance(remat, bool):
            raise ValueError(
                f"Received an invalid value for `remat`, expected True or False. "
                f"Received: remat={remat!r}"
            )
        self.remat = remat
        self.gradient = _checks.one_of(gradient, "gradient", GRADIENTS)
        problems = self._adjoint_problems()
        if gradient == "adjoint" and problems:
            raise ValueError(
                f"`gradient='adjoint'` cannot be used here: {'; '.join(problems)}. "
                f"Use gradient='autodiff' or 'auto'. Received: gradient='adjoint'"
            )
        self._adjoint_applies = gradient != "autodiff" and not problems

    def _adjoint_problems(self) -> list[str]:
        problems = []
        if not self.tableau.is_explicit:
            problems.append(f"tableau {self.tableau.name!r} is implicit")
        if self.step_size_mode != "fixed":
            problems.append(f"step_size_mode={self.step_size_mode!r} (needs 'fixed')")
        if self.remat:
            problems.append("remat=True (the adjoint sweep already keeps only the stages)")
        if self.return_trajectory:
            problems.append("return_trajectory=True")
        if derivative_from_output(self.activation) is None:
            problems.append(
                f"activation {activation_name(self.activation)!r} is not one of "
                f"{activations_with_output_derivative()}"
            )
        return problems

    def _uses_adjoint(self, training) -> bool:
        if not self._adjoint_applies:
            return False
        if keras.backend.backend() == "torch":
            return True  # in inference, too: the sweep's forward, storing nothing
        return bool(training)

    def build(self, input_shape):
        super().build(input_shape)
        if self.step_size_mode == "learned":
            # softplus^-1(h), so that training starts from the fixed scheme.
            initial = math.log(math.expm1(self.step_size))
        else:
            initial = 0.0  # softmax of equal logits: h_l = T / L = h
        if self.step_size_mode != "fixed":
            self.step_parameters = self.add_weight(
                name="step_parameters",
                shape=(self.num_steps,),
                initializer=keras.initializers.Constant(initial),
            )

    def step_sizes(self, step_parameters=None):
        """The L step sizes h_l, a tensor of shape (L,).

        'fixed': h in every step. 'learned': softplus(s). 'simplex':
        T softmax(s) with T = h L, so they are positive and sum to T.
        `step_parameters` (default: the layer's weight) lets
        ``keras_rk.optimal_control`` differentiate this map on its own.
        """
        if self.step_size_mode == "fixed":
            return ops.full((self.num_steps,), self.step_size, dtype=self.variable_dtype)
        s = self.step_parameters if step_parameters is None else step_parameters
        if self.step_size_mode == "learned":
            return ops.softplus(s)
        return ops.softmax(s) * (self.step_size * self.num_steps)

    def call(self, inputs, training=None):
        tableau, activation = self.tableau, self.activation
        iterations = self.num_implicit_iterations
        if self._uses_adjoint(training):
            return integrate_with_adjoint(
                inputs, self.kernel, self.bias, self.step_size, tableau, activation
            )
        if self.step_size_mode == "fixed":
            step_size = self.step_size

            def step(y, kernel, bias):
                return runge_kutta_step(y, kernel, bias, step_size, tableau, activation, iterations)

            per_step = (self.kernel, self.bias)
        else:

            def step(y, kernel, bias, step_size):
                return runge_kutta_step(y, kernel, bias, step_size, tableau, activation, iterations)

            per_step = (self.kernel, self.bias, ops.cast(self.step_sizes(), self.compute_dtype))
        if self.remat:
            step = keras.remat(step)
        return integrate(step, inputs, per_step, self.return_trajectory, xla=True)

    def get_config(self):
        config = {
            "tableau": self.tableau.to_config(),
            "step_size": self.step_size_arg,
            "final_time": self.final_time,
            "num_implicit_iterations": self.num_implicit_iterations,
            "step_size_mode": self.step_size_mode,
            "remat": self.remat,
            "gradient": self.gradient,
        }
        return {**super().get_config(), **config}
