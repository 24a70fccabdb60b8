"""One step of a LIF layer slice forward and of its adjoint backward, vectorised over a sub-batch
(docs/eventprop.md, "Forward" and "Backward"). The PE program calls these per step; the off-chip engine runs the
same equations as compiled loops (:mod:`pe_actors.rules.eventprop.kernels`).
"""

from __future__ import annotations

import numpy as np

from pe_actors.rules.eventprop.config import EventPropConfig

#: Added to the denominator of the adjoint jump so that it is never zero.
JUMP_EPSILON = 1e-10


def forward_step(
    current: np.ndarray, voltage: np.ndarray, s_prev: np.ndarray, w: np.ndarray, config: EventPropConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Advance the synaptic current and membrane of a slice by one step, in place; returns (Vpre, spikes).

    I[i] = a I[i-1] + s_{l-1}[i-1] W;  Vpre[i] = b V[i-1] + (1 - b) I[i];  s[i] = Vpre[i] > theta;
    V[i] = 0 where s[i], else Vpre[i].
    """
    current *= config.a
    current += s_prev @ w
    v_pre = config.b * voltage + (1.0 - config.b) * current
    spikes = (v_pre > config.theta).astype(voltage.dtype)
    np.multiply(v_pre, 1.0 - spikes, out=voltage)
    return v_pre, spikes


def backward_step(
    lam_v: np.ndarray,
    lam_i: np.ndarray,
    spikes_next: np.ndarray,
    error_next: np.ndarray,
    current_next: np.ndarray,
    v_pre_next: np.ndarray,
    config: EventPropConfig,
    source: np.ndarray | None = None,
) -> None:
    """Step the adjoints of a slice from i + 1 back to i, in place:

    lambda_I[i] = a lambda_I[i+1] + (1 - a) lambda_V[i+1]
    lambda_V[i] = b lambda_V[i+1] + s[i+1] (lambda_V[i+1] + e[i+1]) / (I[i+1] - Vpre[i+1] + 1e-10) + q[i]

    with q[i] the adjoint ``source`` of the loss's voltage terms at step i (None: 0).
    """
    jump = spikes_next * (lam_v + error_next) / (current_next - v_pre_next + JUMP_EPSILON)
    lam_i *= config.a
    lam_i += (1.0 - config.a) * lam_v
    lam_v *= config.b
    lam_v += jump
    if source is not None:
        lam_v += source
