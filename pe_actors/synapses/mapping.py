"""Weights as differential pairs of devices (docs/synapses.md, "Weights as device pairs").

A weight is W = (G+ - G-) w_max / g_max with both conductances in [0, g_max]; a positive weight is held by G+
(G- at 0), a negative one by G-. With L = 2^bits levels per device, level l means the conductance l g_max / (L - 1),
so a weight takes one of 2 L - 1 values: a multiple of w_max / (L - 1) in [-w_max, w_max].
"""

from __future__ import annotations

import numpy as np


def target_levels(w: np.ndarray, w_max: np.ndarray | float, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """The levels (l+, l-) of the device pair nearest to the weights ``w`` clipped to [-w_max, w_max]:
    l+ = round(max(w, 0) / w_max (L - 1)), l- = round(max(-w, 0) / w_max (L - 1))."""
    scaled = np.asarray(w, np.float64) / w_max
    np.clip(scaled, -1.0, 1.0, out=scaled)
    scaled *= levels - 1
    # Rounding half to even is odd-symmetric, so both levels come from one rounding of the signed value.
    level = np.rint(scaled, out=scaled).astype(np.int32)
    return np.maximum(level, 0), np.maximum(-level, 0)


def level_conductance(level: np.ndarray, g_max: float, levels: int) -> np.ndarray:
    """The target conductance l g_max / (L - 1) of level ``level``, in uS."""
    return np.asarray(level, np.float64) * (g_max / (levels - 1))


def pair_weight(g_plus: np.ndarray, g_minus: np.ndarray, w_max: np.ndarray | float, g_max: float) -> np.ndarray:
    """The weight (G+ - G-) w_max / g_max of device pairs with conductances ``g_plus`` and ``g_minus``."""
    return (np.asarray(g_plus) - np.asarray(g_minus)) * (np.asarray(w_max) / g_max)


def clip_range(w: np.ndarray, clip_sd: float, present: np.ndarray | None = None) -> float:
    """The clip range w_max = clip_sd x the standard deviation of a whole matrix's weights (of the synapses that
    exist, ``present``); a matrix of zeros gets w_max = 1 so that its devices still have a scale."""
    values = np.asarray(w, np.float64)
    if present is not None:
        values = values[np.broadcast_to(present, values.shape)]
    spread = float(np.std(values)) if values.size else 0.0
    return clip_sd * spread if spread > 0 else 1.0
