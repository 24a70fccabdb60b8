"""Compiled (numba) loops for the hot paths of e-prop: the PE's per-synapse update and the replay engine.

The PE's three loops also exist compiled ahead of time in ``_pe_kernels.c`` (the PE kernel ``"c"``), with the same
signatures and the same order of operations, for processes that should not load numba (PE actors).

Every kernel is the loop form of an equation of docs/eprop.md and is tested against the plain numpy form
(``tests/test_kernels.py``, ``tests/test_replay.py``). Kernels take their constants as scalars of the arrays'
dtype so that float32 arrays are computed in float32, like the numpy path. ``fastmath`` stays off: the PE
kernels then round exactly like the numpy path, and the spike decision H(v - A) does not move with reassociation.

The kernels are serial and release the GIL. Parallelism comes from running independent work in threads (the
replay engine's shards of a batch) or processes (one PE per actor), not from numba's thread pool: on a loaded
machine its spinning OpenMP workers and BLAS threads compete for the same cores, which measured slower than
serial here.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_SQRT_2PI = math.sqrt(2.0 * math.pi)


# --- PE: one step of the per-synapse eligibility state -------------------------------------------------------


@njit(cache=True, nogil=True)
def _adaptation_step(ea, decay, gain_pre, psi):
    for b in range(ea.shape[0]):
        for i in range(ea.shape[1]):
            g = gain_pre[b, i]
            for j in range(ea.shape[2]):
                ea[b, i, j] = ea[b, i, j] * decay[b, j] + g * psi[b, j]


def adaptation_step(ea: np.ndarray, decay: np.ndarray, gain_pre: np.ndarray, psi: np.ndarray) -> None:
    """ea^t = (rho - (1 - rho) beta psi_j^(t-1)) ea^(t-1) + (1 - rho) psi_j^(t-1) ev_i^(t-1), in place
    (docs/eprop.md; the PE's synapse_preprocess).

    ``ea`` (k, n_pre, |J|); ``decay`` = rho - (1 - rho) beta psi^(t-1) and ``psi`` = psi^(t-1), (k, |J|);
    ``gain_pre`` = (1 - rho) ev^(t-1), (k, n_pre). One dtype, C-contiguous.
    """
    _adaptation_step(ea, decay, gain_pre, psi)


@njit(cache=True, nogil=True)
def _accumulate_step(acc, ea, ev, beta, c_psi):
    for b in range(ea.shape[0]):
        for i in range(ea.shape[1]):
            e = ev[b, i]
            for j in range(ea.shape[2]):
                acc[b, i, j] += (e - beta * ea[b, i, j]) * c_psi[b, j]


def accumulate_step(acc: np.ndarray, ea: np.ndarray, ev: np.ndarray, beta: float, c_psi: np.ndarray) -> None:
    """acc += c_t e^t with e^t = psi_j^t (ev_i^t - beta ea^t), in place (docs/eprop.md; the PE's eprop).

    ``acc``, ``ea`` (k, n_pre, |J|); ``ev`` (k, n_pre); ``c_psi`` = c_t psi^t (k, |J|). One dtype, C-contiguous.
    """
    _accumulate_step(acc, ea, ev, acc.dtype.type(beta), c_psi)


@njit(cache=True, nogil=True)
def _weighted_sum(acc, signal, out):
    out[:] = 0
    for b in range(acc.shape[0]):
        for i in range(acc.shape[1]):
            for j in range(acc.shape[2]):
                out[i, j] += acc[b, i, j] * signal[b, j]


def weighted_sum(acc: np.ndarray, signal: np.ndarray, out: np.ndarray) -> None:
    """out[i, j] = sum_k acc[k, i, j] signal[k, j], shape (n_pre, |J|): the PE's dW[i, j] = L_j sum_t ebar_ij^t
    summed over the sub-batch (docs/eprop.md); ``acc`` (k, n_pre, |J|), ``signal`` = L (k, |J|). One dtype,
    C-contiguous."""
    _weighted_sum(acc, signal, out)


# --- Replay engine: forward pass and the backward recursion for D ----------------------------------------------


def surrogate_inplace(u: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    """Overwrite ``u`` = v - A with psi(u) (:func:`pe_actors.rules.eprop.neuron.surrogate`, docs/eprop.md) and return
    it.

    psi(u) = 0.5 [1.15 N(u; 0, 0.5) - 0.15 N(u; 0.5, 3) - 0.15 N(u; -0.5, 3)], with the two wide Gaussians
    combined as N(u; 0.5, 3) + N(u; -0.5, 3) = 2 exp(-(u^2 + 1/4) / 18) cosh(u / 18) / (3 sqrt(2 pi)): numpy's
    vectorised exp on whole arrays, three transcendental passes instead of numba's scalar exp (no SVML here).
    ``scratch`` is an optional work array of the shape and dtype of ``u``.
    """
    square = np.multiply(u, u, out=scratch)
    np.multiply(u, 1.0 / 18.0, out=u)
    np.cosh(u, out=u)
    narrow = np.multiply(square, -2.0)
    np.exp(narrow, out=narrow)
    narrow *= 1.15 / _SQRT_2PI
    square *= -1.0 / 18.0
    square -= 1.0 / 72.0
    np.exp(square, out=square)
    square *= 0.15 / (3.0 * _SQRT_2PI)
    # u holds cosh(u / 18), square the wide Gaussians' common factor.
    u *= square
    np.subtract(narrow, u, out=u)
    return u


@njit(cache=True, nogil=True)
def _forward(current, w_rec, pre, psi, zbar_sum, constants, store):
    alpha, one_minus_alpha, rho, one_minus_rho, kappa, b0, beta = constants
    n_steps, n = current.shape[1], current.shape[2]
    n_in = pre.shape[2] - n
    v = np.empty(n, current.dtype)
    a = np.empty(n, current.dtype)
    z = np.empty(n, current.dtype)
    zbar = np.empty(n, current.dtype)
    total = np.empty(n, current.dtype)
    rec = np.empty(n, current.dtype)
    spikes = np.empty(n, np.int64)
    for b in range(current.shape[0]):
        v[:] = 0
        a[:] = 0
        z[:] = 0
        zbar[:] = 0
        total[:] = 0
        n_spikes = 0
        for t in range(n_steps):
            # Recurrent input z^(t-1) W_rec, event-driven: the rows of W_rec of the neurons that spiked.
            rec[:] = 0
            for s in range(n_spikes):
                row = spikes[s]
                for j in range(n):
                    rec[j] += w_rec[row, j]
            for j in range(n):
                z_prev = z[j]
                a[j] = rho * a[j] + one_minus_rho * z_prev
                threshold = b0 + beta * a[j]
                v[j] = alpha * v[j] + one_minus_alpha * (current[b, t, j] + rec[j]) - threshold * z_prev
                u = v[j] - threshold
                z[j] = 1 if u > 0 else 0
                zbar[j] = kappa * zbar[j] + z[j]
                total[j] += zbar[j]
                if store:
                    psi[b, t, j] = u
            n_spikes = 0
            for j in range(n):
                if z[j] != 0:
                    spikes[n_spikes] = j
                    n_spikes += 1
            if store and t + 1 < n_steps:
                for j in range(n):
                    pre[b, t + 1, n_in + j] = z[j]
        zbar_sum[b] = total


def replay_forward(
    current: np.ndarray,
    w_rec: np.ndarray,
    pre: np.ndarray | None,
    psi: np.ndarray | None,
    alpha: float,
    rho: float,
    kappa: float,
    b0: float,
    beta: float,
) -> np.ndarray:
    """ALIF forward pass of a batch (docs/eprop.md) from the input currents ``current`` = x W_in (B, T, n):

        a^t = rho a^(t-1) + (1 - rho) z^(t-1);  A^t = b0 + beta a^t
        v^t = alpha v^(t-1) + (1 - alpha) (x^t W_in + z^(t-1) W_rec) - A^t z^(t-1);  z^t = H(v^t - A^t)

    When ``pre`` (B, T, n_pre) and ``psi`` (B, T, n) are given, writes z^(t-1) into ``pre[:, t, n_in:]`` for
    t >= 1 (row 0 is left as given: zero) and psi^t into ``psi`` (by :func:`surrogate_inplace` on the stored
    u^t = v^t - A^t, after the time loop). Returns sum_t zbar^t, shape (B, n). The recurrent input is summed over
    the rows of W_rec of the neurons that spiked (in another order than a matrix product, so v agrees with the
    PE's to rounding). Serial and GIL-free: run shards of a batch in threads to use several cores.
    """
    batch, n_steps, n = current.shape
    dtype = current.dtype.type
    store = pre is not None and psi is not None
    if not store:
        pre = psi = np.zeros((1, 1, n), current.dtype)
    constants = tuple(dtype(value) for value in (alpha, 1.0 - alpha, rho, 1.0 - rho, kappa, b0, beta))
    zbar_sum = np.empty((batch, n), current.dtype)
    _forward(current, w_rec, pre, psi, zbar_sum, constants, store)
    if store:
        surrogate_inplace(psi)
    return zbar_sum


@njit(cache=True, nogil=True)
def _backward(psi, signal, c, constants):
    one_minus_alpha, alpha, rho, beta_one_minus_rho = constants
    n = psi.shape[2]
    q = np.empty(n, psi.dtype)
    g = np.empty(n, psi.dtype)
    for b in range(psi.shape[0]):
        q[:] = 0
        g[:] = 0
        for t in range(psi.shape[1] - 1, -1, -1):
            for j in range(n):
                p = psi[b, t, j]
                g[j] = p * (c[t] - beta_one_minus_rho * q[j]) + alpha * g[j]
                q[j] = c[t] * p + (rho - beta_one_minus_rho * p) * q[j]
                psi[b, t, j] = one_minus_alpha * signal[b, j] * g[j]


def replay_backward(psi: np.ndarray, signal: np.ndarray, c: np.ndarray, alpha: float, rho: float, beta: float) -> None:
    """Overwrite psi (B, T, n) with M^s = (1 - alpha) L_j G_j^s, the weight of pre^s in the gradient, by the
    backward recursion (docs/eprop.md; :mod:`pe_actors.rules.eprop.replay`), per sample b and neuron j:

        Q^(T-1) = 0;  D^t = psi^t (c_t - beta (1 - rho) Q^t);  Q^(t-1) = c_t psi^t + (rho - (1 - rho) beta psi^t) Q^t
        G^s = sum_(t >= s) alpha^(t-s) D^t = D^s + alpha G^(s+1)

    (0-based t), so that dW[i, j] = sum_(b, s) pre_i^s M_j^s. ``signal`` is L (B, n), ``c`` the readout filter
    c_t (T,). Serial and GIL-free, like :func:`replay_forward`.
    """
    dtype = psi.dtype.type
    signal = np.ascontiguousarray(signal, psi.dtype)
    c = np.ascontiguousarray(c, psi.dtype)
    _backward(psi, signal, c, tuple(dtype(value) for value in (1.0 - alpha, alpha, rho, beta * (1.0 - rho))))
