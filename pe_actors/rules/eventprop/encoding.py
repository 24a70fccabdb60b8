"""The Yin-Yang latency code: features (x, y, 1 - x, 1 - y) in [0, 1] to a binary input raster
(docs/eventprop.md, "Input coding").

Each feature spikes exactly once, at step round(v t_code / dt): a larger value spikes later. A fifth channel, the
bias, spikes at step 0 in every sample, so every sample drives the first layer from the start.
"""

from __future__ import annotations

import numpy as np

from pe_actors.rules.eventprop.config import EventPropConfig


def spike_steps(features: np.ndarray, config: EventPropConfig) -> np.ndarray:
    """The input spike step of every feature and of the bias, ints (batch, n_features + 1)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] + 1 != config.n_in:
        raise ValueError(
            f"features must have shape (batch, {config.n_in - 1}) for a network of {config.n_in} inputs "
            f"(the features and one bias), got {features.shape}"
        )
    if not np.all(np.isfinite(features)):
        row = int(np.argwhere(~np.isfinite(features))[0, 0])
        raise ValueError(f"feature row {row} holds NaN or Inf")
    if features.size and (features.min() < 0 or features.max() > 1):
        raise ValueError(f"features must lie in [0, 1], got [{features.min():g}, {features.max():g}]")
    steps = np.rint(features * (config.t_code / config.dt)).astype(np.int64)
    return np.concatenate([steps, np.zeros((len(steps), 1), np.int64)], axis=1)


def encode(features: np.ndarray, config: EventPropConfig, dtype: type = np.float64) -> np.ndarray:
    """The binary input raster s_0 (batch, T, n_0) of :func:`spike_steps`."""
    steps = spike_steps(features, config)
    raster = np.zeros((len(steps), config.n_steps, config.n_in), dtype)
    samples = np.repeat(np.arange(len(steps)), config.n_in)
    raster[samples, steps.ravel(), np.tile(np.arange(config.n_in), len(steps))] = 1
    return raster


def encode_inputs(features: np.ndarray, config: EventPropConfig) -> np.ndarray:
    """The uint8 input rasters of ``features`` (the data sources' Yin-Yang points) a run trains on."""
    return encode(features, config, np.uint8)
