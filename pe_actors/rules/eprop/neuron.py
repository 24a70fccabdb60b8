"""ALIF neuron pieces shared by every rule: the surrogate derivative (docs/eprop.md)."""

from __future__ import annotations

import math

import numpy as np

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def gaussian(u: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """Normal density N(u; mu, sigma)."""
    return np.exp(-0.5 * ((u - mu) / sigma) ** 2) / (sigma * _SQRT_2PI)


def surrogate(u: np.ndarray) -> np.ndarray:
    """Multi-Gaussian pseudo-derivative of the spike, u = v - A (docs/eprop.md, Yin et al. 2021).

    psi(u) = 0.5 [1.15 N(u; 0, 0.5) - 0.15 N(u; 0.5, 3) - 0.15 N(u; -0.5, 3)]

    >>> round(float(surrogate(np.array(0.0))), 6)
    0.439112
    """
    return 0.5 * (1.15 * gaussian(u, 0.0, 0.5) - 0.15 * gaussian(u, 0.5, 3.0) - 0.15 * gaussian(u, -0.5, 3.0))


def spike(u: np.ndarray) -> np.ndarray:
    """Heaviside step H(u) with H(0) = 0, in the dtype of ``u``."""
    return (u > 0).astype(u.dtype)
