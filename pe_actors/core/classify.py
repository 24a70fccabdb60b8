"""What every classifier of the project shares, whatever its rule: checked integer labels, the softmax of class
scores and its cross-entropy against the labels."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum for stability."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-sample cross-entropy -log softmax(logits)[label] of class scores (e-prop: its time-averaged readout)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=-1))
    return log_z - shifted[np.arange(len(labels)), labels]


def check_labels(labels: np.ndarray, n_out: int) -> np.ndarray:
    """Labels as an int64 vector in [0, n_out); a ValueError quotes the offending values."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array, got shape {labels.shape} dtype {labels.dtype}")
    bad = labels[(labels < 0) | (labels >= n_out)]
    if bad.size:
        raise ValueError(f"labels must lie in [0, {n_out}); got {bad[:5].tolist()}")
    return labels.astype(np.int64)
