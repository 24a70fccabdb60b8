"""Leaky readout, softmax cross-entropy on the time-averaged output, and the readout filter (docs/eprop.md)."""

from __future__ import annotations

import numpy as np

from pe_actors.core.classify import check_labels, cross_entropy, softmax

__all__ = ["check_labels", "cross_entropy", "filter_weights", "output_error", "softmax"]


def output_error(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """pi - onehot(label): the derivative of the cross-entropy with respect to ybar."""
    error = softmax(logits)
    error[np.arange(len(labels)), labels] -= 1.0
    return error


def filter_weights(kappa: float, n_steps: int) -> np.ndarray:
    """c_t = (1 - kappa^(T-t+1)) / (1 - kappa) for t = 1..T (index 0..T-1).

    Because ybar = (1/T) sum_t zbar^t W_out with zbar^t = kappa zbar^(t-1) + z^t, a spike at step t reaches
    ybar with weight c_t / T; so sum_t ebar^t = sum_t c_t e^t, which a PE accumulates online (docs/eprop.md).
    """
    remaining = n_steps - np.arange(n_steps)
    return (1.0 - kappa**remaining) / (1.0 - kappa)
