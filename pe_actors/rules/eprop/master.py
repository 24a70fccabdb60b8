"""The master role at the last step: reduce the partial outputs, loss, error broadcast (docs/eprop.md, "On the PEs")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pe_actors.rules.eprop.readout import cross_entropy, output_error


@dataclass(frozen=True)
class MasterResult:
    """What the master computes from the reduced readout of a sub-batch.

    logits: ybar = sum over PEs of the partial outputs, shape (k, n_out);
    loss: per-sample cross-entropy, shape (k,);
    error: pi - onehot, shape (k, n_out): what the master broadcasts to every PE.
    """

    logits: np.ndarray
    loss: np.ndarray
    error: np.ndarray


def reduce_outputs(partials: Sequence[np.ndarray], labels: np.ndarray) -> MasterResult:
    """Sum the PEs' partial outputs (the chip's DMA reduction) and form loss and error for ``labels``."""
    logits = np.sum(partials, axis=0)
    return MasterResult(logits=logits, loss=cross_entropy(logits, labels), error=output_error(logits, labels))
