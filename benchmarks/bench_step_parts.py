"""Where one small-batch training step of RK4Net (width 900, depth 100) spends its time.

On the JAX backend (the fastest one here) this times each part of a training step
alone, compiled, best of several runs:

- the forward sweep (100 steps x 4 stages, each a (B x 900) x (900 x 900) product),
- the forward sweep plus the adjoint gradient (``gradient="adjoint"``), no optimizer,
- the kernel-gradient product alone, one batched (L, 4B, 900) x (L, 4B, 900) einsum,
- a whole ``model.fit`` step, as ``bench_images.py`` times it; what it takes beyond
  the forward sweep and gradient is Keras's Adam update of the 81 M kernel values
  and the step's bookkeeping;

and beside them the same work done by the fastest kernels this machine offers,
PyTorch's (oneDNN matmuls, ``torch.bmm``, its fused Adam), timed in the
same process. A step needs two sweeps (forward and the costate sweep, each 400
such products), the kernel-gradient product and the Adam update, so the sum of
the fastest kernels bounds the speed of any implementation built from them. The
parts are compared with the paper's PyTorch structure timed in the same process.

    KERAS_BACKEND=jax python benchmarks/bench_step_parts.py          # ~2 min
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for bench_images

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench_images import best_seconds  # noqa: E402


def keras_parts(batch_size, width, depth, repeats):
    """Seconds of each part of a training step through keras_rk on the JAX backend."""
    import jax
    import keras

    import keras_rk

    keras.utils.set_random_seed(0)
    model = keras_rk.build("rk4", depth=depth, width=width, input_dim=784, num_classes=10,
                           lift="random", gradient="adjoint")  # fmt: skip
    rng = np.random.default_rng(0)
    x = jax.numpy.asarray(rng.random((batch_size, 784), dtype=np.float32))
    y = jax.numpy.asarray(rng.integers(0, 10, batch_size))
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    def loss(trainable):
        outputs, _ = model.stateless_call(trainable, frozen, x, training=True)
        return loss_fn(y, outputs)

    forward = jax.jit(lambda trainable: model.stateless_call(trainable, frozen, x)[0])
    gradient = jax.jit(jax.grad(loss))
    stages = 4 * batch_size
    states = jax.numpy.asarray(rng.standard_normal((depth, stages, width), dtype=np.float32))
    product = jax.jit(lambda a, b: jax.numpy.einsum("lbi,lbj->lij", a, b))

    return {
        "forward sweep": best_seconds(lambda: jax.block_until_ready(forward(trainable)), repeats),
        "forward + adjoint gradient": best_seconds(
            lambda: jax.block_until_ready(gradient(trainable)), repeats
        ),
        "kernel-gradient product": best_seconds(
            lambda: jax.block_until_ready(product(states, states)), repeats
        ),
    }


def torch_parts(batch_size, width, depth, repeats):
    """Seconds of the same work done by PyTorch's kernels; None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    kernels = torch.randn(depth, width, width) * (1.0 / width**0.5)
    biases = torch.zeros(depth, width)
    y0 = torch.randn(batch_size, width)

    @torch.no_grad()
    def sweep():  # one RK4 sweep: 4 products per step, as forward and costate sweeps have
        y = y0
        for kernel, bias in zip(kernels, biases):
            k1 = torch.tanh(torch.addmm(bias, y, kernel))
            k2 = torch.tanh(torch.addmm(bias, y + 0.025 * k1, kernel))
            k3 = torch.tanh(torch.addmm(bias, y + 0.025 * k2, kernel))
            k4 = torch.tanh(torch.addmm(bias, y + 0.05 * k3, kernel))
            y = y + (0.05 / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
        return y

    stages = 4 * batch_size
    states_t = torch.randn(depth, width, stages)  # Y^T, so the product is a plain bmm
    cotangents = torch.randn(depth, stages, width)
    out = torch.empty(depth, width, width)
    product = lambda: torch.bmm(states_t, cotangents, out=out)

    weight = torch.nn.Parameter(torch.zeros(depth, width, width))
    weight.grad = torch.randn(depth, width, width)
    try:
        optimizer = torch.optim.Adam([weight], fused=True)
        optimizer.step()
    except (RuntimeError, TypeError):
        optimizer = torch.optim.Adam([weight], foreach=True)
    return {
        f"sweep ({4 * depth} products)": best_seconds(sweep, repeats),
        "kernel-gradient product": best_seconds(product, repeats),
        "Adam update": best_seconds(optimizer.step, repeats),
    }


def main(batch_size=5, width=900, depth=100, repeats=5, seconds=10.0):
    import keras
    from bench_images import images_per_second, paper_style_images_per_second

    if keras.backend.backend() != "jax":
        raise SystemExit("run with KERAS_BACKEND=jax: the parts are compiled with jax.jit")
    ours = keras_parts(batch_size, width, depth, repeats)
    step = batch_size / images_per_second(
        batch_size, width=width, depth=depth, seconds=seconds, gradient="adjoint"
    )
    ours["Adam and the rest of the step"] = step - ours["forward + adjoint gradient"]
    import keras_rk

    print(f"RK4Net width {width} depth {depth}, batch {batch_size}, JAX, gradient='adjoint'; "
          f"allocator: {keras_rk.allocator.status()}")  # fmt: skip
    for name, value in ours.items():
        print(f"  {name:32s} {value * 1e3:7.1f} ms")
    print(f"  {'whole fit step':32s} {step * 1e3:7.1f} ms = {batch_size / step:.1f} images/s")
    fastest = torch_parts(batch_size, width, depth, repeats)
    if fastest is None:
        return {"keras_jax_ms": ours, "step_ms": step}
    print("the same work with PyTorch's kernels (oneDNN), same process:")
    for name, value in fastest.items():
        print(f"  {name:32s} {value * 1e3:7.1f} ms")
    # The fastest kernel measured for each part; a step needs two sweeps.
    sweep = min(ours["forward sweep"], fastest[f"sweep ({4 * depth} products)"])
    product = min(ours["kernel-gradient product"], fastest["kernel-gradient product"])
    adam = min(ours["Adam and the rest of the step"], fastest["Adam update"])
    bound = 2 * sweep + product + adam
    print(f"fastest of each: 2 x sweep {sweep * 1e3:.1f} + product {product * 1e3:.1f} "
          f"+ Adam {adam * 1e3:.1f} = {bound * 1e3:.1f} ms, "
          f"at best {batch_size / bound:.1f} images/s")  # fmt: skip
    paper = paper_style_images_per_second(batch_size, width=width, depth=depth, seconds=seconds)
    print(f"paper-style PyTorch, same process: {paper:.1f} images/s; keras_rk / it "
          f"{batch_size / step / paper:.2f}x; fastest-kernel bound / it "
          f"{batch_size / bound / paper:.2f}x")  # fmt: skip
    return {"keras_jax_ms": ours, "step_ms": step, "torch_ms": fastest, "bound_ms": bound,
            "paper_images_per_second": paper}  # fmt: skip


if __name__ == "__main__":
    from keras_rk.allocator import tune_allocator

    tune_allocator()  # restarts with malloc tuned for large buffers, as keras-rk does
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--width", type=int, default=900)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    main(**vars(parser.parse_args()))
