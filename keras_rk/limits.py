"""Upper bounds on the arguments that set a model's cost.

A ``.keras`` file or a layer config is data that anyone may have edited: with
``num_steps`` at 10^6 loading alone would allocate and initialise a million
steps' weights before anything could fail. The layers check these bounds in
``__init__``, so ``from_config`` and ``keras.saving.load_model`` fail at once,
before any weight exists. They are module attributes, read at every check, so a
study that really needs more can raise one first:

>>> import keras_rk.limits
>>> keras_rk.limits.MAX_NUM_STEPS
10000
"""

# The paper's deepest network has L = 100 steps (section 4.2), the benchmarks go to
# 1,000; 10,000 leaves a factor of ten and still builds in seconds.
MAX_NUM_STEPS = 10_000

# Fixed-point sweeps for the stages of an implicit tableau (and for the stage
# costates of the adjoint) converge geometrically, with ratio about h * Lip(f),
# when they converge at all: a handful reach float precision. Needing more than
# 100 means h * Lip(f) is not below 1, where more sweeps do not help.
MAX_ITERATIONS = 100
