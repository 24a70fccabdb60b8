"""Compiled (numba) loops of the off-chip EventProp engine: a whole layer forward over all steps, and its adjoint
backward in reverse time, for a batch (docs/eventprop.md, "Forward" and "Backward").

They are event-driven like the chip: an input spike adds one row of W to the synaptic current, and the backward
pass visits a presynaptic neuron only at its spike steps (that is where the error packets and the weight gradient
are non-zero), so the cost grows with the spike count, not with n_pre x T. Each kernel is serial and releases the
GIL; ``fastmath`` stays off so the threshold decision does not move with reassociation. They are tested against
the per-step numpy form of :mod:`pe_actors.rules.eventprop.lif` and against a dense reference in the tests.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pe_actors.rules.eventprop.config import EventPropConfig
from pe_actors.rules.eventprop.lif import JUMP_EPSILON


@njit(cache=True, nogil=True)
def _forward_layer(s_prev, w, a, b, theta, current, v_pre, spikes):
    n_batch, n_steps, n_pre = s_prev.shape
    n = w.shape[1]
    one = current.dtype.type(1.0)
    for k in range(n_batch):
        voltage = np.zeros(n, current.dtype)
        for i in range(1, n_steps):
            for j in range(n):
                current[k, i, j] = a * current[k, i - 1, j]
            for p in range(n_pre):
                if s_prev[k, i - 1, p] != 0:
                    for j in range(n):
                        current[k, i, j] += w[p, j]
            for j in range(n):
                v = b * voltage[j] + (one - b) * current[k, i, j]
                v_pre[k, i, j] = v
                if v > theta:
                    spikes[k, i, j] = one
                    voltage[j] = 0.0
                else:
                    voltage[j] = v


def forward_layer(
    s_prev: np.ndarray, w: np.ndarray, config: EventPropConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tapes (I, Vpre, s) of one layer, each (batch, T, n), from the spikes of the layer below (batch, T,
    n_pre); step 0 holds zeros (no spike at step 0)."""
    dtype = w.dtype
    shape = (s_prev.shape[0], s_prev.shape[1], w.shape[1])
    current, v_pre, spikes = np.zeros(shape, dtype), np.zeros(shape, dtype), np.zeros(shape, dtype)
    scalar = dtype.type
    _forward_layer(
        np.ascontiguousarray(s_prev, dtype),
        np.ascontiguousarray(w),
        scalar(config.a),
        scalar(config.b),
        scalar(config.theta),
        current,
        v_pre,
        spikes,
    )
    return current, v_pre, spikes


@njit(cache=True, nogil=True)
def _backward_layer(
    s_prev, w, spikes, current, v_pre, error, source, a, b, tau_syn, jump_eps, want_prev, has_source, grad, e_prev
):
    n_batch, n_steps, n_pre = s_prev.shape
    n = w.shape[1]
    one = grad.dtype.type(1.0)
    for k in range(n_batch):
        lam_v = np.zeros(n, grad.dtype)
        if has_source:
            for j in range(n):
                lam_v[j] = source[k, n_steps - 1, j]
        lam_i = np.zeros(n, grad.dtype)
        diff = np.zeros(n, grad.dtype)
        # The presynaptic neurons that spiked at step i, found once for both loops over them below.
        active = np.empty(n_pre, np.int64)
        for i in range(n_steps - 2, -1, -1):
            n_active = 0
            for p in range(n_pre):
                if s_prev[k, i, p] != 0:
                    active[n_active] = p
                    n_active += 1
            for j in range(n):
                diff[j] = lam_v[j] - lam_i[j]
            if want_prev:
                for q in range(n_active):
                    p = active[q]
                    total = grad.dtype.type(0.0)
                    for j in range(n):
                        total += diff[j] * w[p, j]
                    e_prev[k, i, p] = total
            for j in range(n):
                jump = grad.dtype.type(0.0)
                if spikes[k, i + 1, j] != 0:
                    jump = (lam_v[j] + error[k, i + 1, j]) / (current[k, i + 1, j] - v_pre[k, i + 1, j] + jump_eps)
                lam_i[j] = a * lam_i[j] + (one - a) * lam_v[j]
                lam_v[j] = b * lam_v[j] + jump
                if has_source:
                    lam_v[j] += source[k, i, j]
            for q in range(n_active):
                p = active[q]
                for j in range(n):
                    grad[p, j] -= tau_syn * lam_i[j]


def backward_layer(
    s_prev: np.ndarray,
    w: np.ndarray,
    tapes: tuple[np.ndarray, np.ndarray, np.ndarray],
    error: np.ndarray,
    config: EventPropConfig,
    want_prev: bool = True,
    source: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The gradient of W (n_pre, n), summed over the batch, and the error packets e_{l-1} (batch, T, n_pre) for
    the layer below (None when ``want_prev`` is False), from the forward tapes (I, Vpre, s), this layer's errors
    ``error`` (batch, T, n) and the adjoint sources ``source`` (batch, T, n) of voltage terms of the loss, added
    to lambda_V[i] (None: none)."""
    current, v_pre, spikes = tapes
    dtype = w.dtype
    scalar = dtype.type
    grad = np.zeros(w.shape, dtype)
    e_prev = np.zeros(s_prev.shape, dtype) if want_prev else np.zeros((1, 1, 1), dtype)
    _backward_layer(
        np.ascontiguousarray(s_prev, dtype),
        np.ascontiguousarray(w),
        spikes,
        current,
        v_pre,
        np.ascontiguousarray(error, dtype),
        np.ascontiguousarray(source, dtype) if source is not None else np.zeros((1, 1, 1), dtype),
        scalar(config.a),
        scalar(config.b),
        scalar(config.tau_syn),
        scalar(JUMP_EPSILON),
        want_prev,
        source is not None,
        grad,
        e_prev,
    )
    return grad, (e_prev if want_prev else None)
