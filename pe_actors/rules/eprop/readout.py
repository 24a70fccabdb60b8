"""Leaky readout, softmax cross-entropy on the time-averaged output, and the readout filter (docs/eprop.md)."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum for stability."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-sample cross-entropy -log softmax(ybar)[label] of the time-averaged readout ybar."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=-1))
    return log_z - shifted[np.arange(len(labels)), labels]


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


def check_labels(labels: np.ndarray, n_out: int) -> np.ndarray:
    """Labels as an int64 vector in [0, n_out); a ValueError quotes the offending values."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array, got shape {labels.shape} dtype {labels.dtype}")
    bad = labels[(labels < 0) | (labels >= n_out)]
    if bad.size:
        raise ValueError(f"labels must lie in [0, {n_out}); got {bad[:5].tolist()}")
    return labels.astype(np.int64)
