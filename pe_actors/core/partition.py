"""How a layer's neurons are divided over the PEs of a group ("divide synapses", postsynaptic split)."""

from __future__ import annotations

import numpy as np


def split_neurons(n_rec: int, n_pes: int, sizes: list[int] | None = None) -> list[slice]:
    """The slices J_0..J_{P-1} of a layer of ``n_rec`` neurons owned by each of ``n_pes`` PEs.

    Without ``sizes`` the split is as even as possible (the first n_rec % P PEs get one neuron more);
    ``sizes`` gives an explicit uneven split that must sum to n_rec.
    """
    if not isinstance(n_pes, int) or not 1 <= n_pes <= n_rec:
        raise ValueError(f"n_pes must be an integer between 1 and n_rec = {n_rec}, got {n_pes!r}")
    if sizes is None:
        base, extra = divmod(n_rec, n_pes)
        sizes = [base + (p < extra) for p in range(n_pes)]
    elif len(sizes) != n_pes or sum(sizes) != n_rec or min(sizes) < 1:
        raise ValueError(f"PE sizes {sizes} must be {n_pes} positive integers summing to n_rec = {n_rec}")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [slice(int(bounds[p]), int(bounds[p + 1])) for p in range(n_pes)]


__all__ = ["split_neurons"]
