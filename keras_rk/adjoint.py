"""Deprecated alias of ``keras_rk.optimal_control`` (section 3: the discrete adjoint).

Kept so that ``keras_rk.adjoint.gradients`` and friends keep working; new code
should import ``keras_rk.optimal_control``. The compiled gradient that
``RKBlock(gradient='adjoint')`` trains with is ``keras_rk.adjoint_gradient``.
"""

from keras_rk.optimal_control import costate_trajectory, gradients, tangent_trajectory

__all__ = ["costate_trajectory", "gradients", "tangent_trajectory"]
