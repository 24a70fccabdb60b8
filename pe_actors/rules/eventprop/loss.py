"""The master's loss at the output layer: first-spike steps, the time-to-first-spike cross-entropy and the output
errors that start the backward pass (docs/eventprop.md, "Loss").
"""

from __future__ import annotations

import numpy as np

from pe_actors.rules.eventprop.config import EventPropConfig


def first_spike_steps(spikes: np.ndarray) -> np.ndarray:
    """f_k: the first step at which each neuron spikes, or T when it is silent; ints (batch, n) from a raster
    (batch, T, n)."""
    spikes = np.asarray(spikes) != 0
    n_steps = spikes.shape[1]
    return np.where(spikes.any(axis=1), spikes.argmax(axis=1), n_steps).astype(np.int64)


def crossing_fractions(v_before: np.ndarray, v_pre: np.ndarray, theta: float) -> np.ndarray:
    """Where within its spike step the membrane crossed theta, by linear interpolation between the voltage after
    the previous step (``v_before``) and the pre-reset voltage of the spike step (``v_pre``); in (0, 1]."""
    v_before, v_pre = np.asarray(v_before, np.float64), np.asarray(v_pre, np.float64)
    span = v_pre - v_before
    # At a spike step the membrane rose past theta from at most theta, so span > 0; elsewhere (silent neurons) the
    # fraction is not used and is 1.
    fraction = (theta - v_before) / np.where(span > 0, span, 1.0)
    return np.clip(np.where(span > 0, fraction, 1.0), 0.0, 1.0)


def spike_times(first: np.ndarray, fractions: np.ndarray, config: EventPropConfig) -> np.ndarray:
    """Interpolated first-spike times in ms, (f - 1 + fraction) dt, and T dt for silent neurons."""
    silent = first >= config.n_steps
    return np.where(silent, config.duration, (first - 1 + np.where(silent, 1.0, fractions)) * config.dt)


def logits(first: np.ndarray, fractions: np.ndarray, config: EventPropConfig) -> np.ndarray:
    """Class scores -t / tau0 from the interpolated first-spike times: the earliest output wins, ties of the
    first-spike step go to the earlier crossing within the step, remaining ties (silent outputs) to the lowest
    class index."""
    return -spike_times(first, fractions, config) / config.tau0


def loss_times(first: np.ndarray, fractions: np.ndarray, config: EventPropConfig) -> np.ndarray:
    """t_k, the output times the loss compares (ms): f dt for ``loss_time = "step"``, the interpolated crossing
    (f - 1 + fraction) dt for ``"crossing"``; T dt for silent outputs either way."""
    if config.loss_time == "crossing":
        return spike_times(first, fractions, config)
    return first * config.dt


def peak_voltages(v_pre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The highest pre-reset membrane of each neuron over the trial and the first step where it is reached, from a
    Vpre tape (batch, T, n): (peaks (batch, n), steps (batch, n))."""
    steps = np.argmax(v_pre, axis=1)
    return np.take_along_axis(v_pre, steps[:, None, :], axis=1)[:, 0, :], steps


def _probabilities(times: np.ndarray, config: EventPropConfig) -> np.ndarray:
    scores = -times / config.tau0
    scores = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    return p / p.sum(axis=1, keepdims=True)


def check_labels(labels: np.ndarray, n_out: int, n_samples: int) -> np.ndarray:
    """Labels as int64 (n_samples,) in [0, n_out); a ValueError says what is wrong."""
    labels = np.asarray(labels)
    if labels.shape != (n_samples,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be {n_samples} integers, got shape {labels.shape} dtype {labels.dtype}")
    if n_samples and (labels.min() < 0 or labels.max() >= n_out):
        raise ValueError(f"labels must lie in [0, {n_out}), got [{labels.min()}, {labels.max()}]")
    return labels.astype(np.int64)


def _label_silent(first: np.ndarray, labels: np.ndarray, config: EventPropConfig) -> np.ndarray:
    return first[np.arange(len(labels)), labels] >= config.n_steps


def ttfs_loss(
    first: np.ndarray, times: np.ndarray, peaks: np.ndarray, labels: np.ndarray, config: EventPropConfig
) -> np.ndarray:
    """Per-sample loss -log p_y + alpha_reg (exp(t_y / tau1) - 1) + alpha_silent [y silent] (theta - peak_y),
    with p = softmax(-t / tau0) over the :func:`loss_times` ``times`` and ``peaks`` the outputs' highest Vpre."""
    rows = np.arange(len(labels))
    # -log p_y as a log-softmax: a label output that spikes many tau0 after the first one has p_y below the
    # smallest float, whose log would be -inf; its loss is large and finite.
    scores = -times / config.tau0
    scores = scores - scores.max(axis=1, keepdims=True)
    log_p = scores[rows, labels] - np.log(np.exp(scores).sum(axis=1))
    t_y = times[rows, labels]
    silent = _label_silent(first, labels, config)
    voltage_term = config.alpha_silent * np.where(silent, config.theta - peaks[rows, labels], 0.0)
    return -log_p + config.alpha_reg * (np.exp(t_y / config.tau1) - 1.0) + voltage_term


def output_errors(
    first: np.ndarray, times: np.ndarray, labels: np.ndarray, config: EventPropConfig, batch_size: int
) -> np.ndarray:
    """What the master sends each output (batch, n_out), divided by the batch size: for a spiking output the
    error of its spike time, eps_k = (1/tau0)(delta_ky - p_k) + delta_ky (alpha_reg/tau1) exp(t_y / tau1), which
    enters the backward pass at its first spike step; for a silent label output the adjoint source of the voltage
    term, alpha_silent / tau_mem, which enters lambda_V at the step of its highest Vpre; 0 for other silent
    outputs."""
    p = _probabilities(times, config)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(labels)), labels] = 1.0
    eps = (onehot - p) / config.tau0 + onehot * (config.alpha_reg / config.tau1) * np.exp(times / config.tau1)
    source = onehot * (config.alpha_silent / config.tau_mem)
    return np.where(first < config.n_steps, eps, source) / batch_size
