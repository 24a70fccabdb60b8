"""The whole EventProp network computed off-chip, vectorised over the batch: initial weights, the forward pass
through all layers, the loss, and the exact adjoint gradients (docs/eventprop.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pe_actors.networks import CompiledGraph
from pe_actors.rules.eventprop.config import EventPropConfig
from pe_actors.rules.eventprop.loss import (
    crossing_fractions,
    first_spike_steps,
    logits,
    loss_times,
    output_errors,
    peak_voltages,
    ttfs_loss,
)

Params = dict[str, np.ndarray]


def init_eventprop_params(config: EventPropConfig | None = None, seed: int = 0, dtype: type = np.float64) -> Params:
    """Initial weights ``w_{l}`` (n_l, n_{l+1}) ~ N(init_mean[l], init_std[l]) theta (docs/eventprop.md); a
    network graph's by its connections' own initialisation."""
    if isinstance(config, CompiledGraph):
        return config.network.init_params(seed, dtype)
    c = config or EventPropConfig()
    rng = np.random.default_rng(seed)
    return {
        f"w_{layer}": (
            c.theta * rng.normal(c.init_mean[layer], c.init_std[layer], (c.sizes[layer], c.sizes[layer + 1]))
        ).astype(dtype)
        for layer in range(c.n_layers)
    }


def weight_shapes(config: EventPropConfig) -> dict[str, tuple[int, ...]]:
    """The shapes of the weights :func:`init_eventprop_params` draws: ``w_l`` (n_l, n_{l+1}); a graph's by
    connection."""
    if isinstance(config, CompiledGraph):
        return config.network.weight_shapes()
    return {key: (config.sizes[layer], config.sizes[layer + 1]) for layer, key in enumerate(config.weight_keys())}


def check_params(params: Params, config: EventPropConfig) -> Params:
    """``params`` as same-dtype float arrays of the configured shapes; a ValueError names a wrong key or shape."""
    keys = config.weight_keys()
    if set(params) != set(keys):
        raise ValueError(f"EventProp params must have the keys {keys}, got {sorted(params)}")
    dtype = np.result_type(*(params[key] for key in keys))
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"EventProp params must be floating point, got {dtype}")
    checked = {}
    for layer, key in enumerate(keys):
        shape = (config.sizes[layer], config.sizes[layer + 1])
        value = np.asarray(params[key], dtype)
        if value.shape != shape:
            raise ValueError(f"params[{key!r}] has shape {value.shape}; sizes {config.sizes} need {shape}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"params[{key!r}] holds NaN or Inf")
        checked[key] = value
    return checked


def check_spikes(spikes: np.ndarray, config: EventPropConfig, dtype: np.dtype) -> np.ndarray:
    """The input raster as ``dtype`` (batch, T, n_0) of 0/1; a ValueError says what is wrong."""
    spikes = np.asarray(spikes)
    shape = (config.n_steps, config.n_in)
    if spikes.ndim != 3 or spikes.shape[1:] != shape:
        raise ValueError(f"input spikes must have shape (batch, {shape[0]}, {shape[1]}), got {spikes.shape}")
    if not np.all((spikes == 0) | (spikes == 1)):
        raise ValueError("input spikes must be a binary raster of 0 and 1 (NaN, Inf and other values are not spikes)")
    return spikes.astype(dtype)


@dataclass(frozen=True)
class Readout:
    """What the output layer's master computes: first-spike steps f (n, n_out), T for a silent output; the
    crossing fraction within each spike step; each output's highest Vpre and the step of it; the class scores;
    and the per-sample loss."""

    first: np.ndarray
    fractions: np.ndarray
    peaks: np.ndarray
    peak_steps: np.ndarray
    logits: np.ndarray
    loss: np.ndarray | None


def read_output(spikes: np.ndarray, v_pre: np.ndarray, labels: np.ndarray | None, config: EventPropConfig) -> Readout:
    """The master's readout from the output layer's spike and Vpre tapes (n, T, n_out)."""
    first = first_spike_steps(spikes)
    fractions = spike_fractions(first, spikes, v_pre, config)
    peaks, peak_steps = peak_voltages(v_pre)
    times = loss_times(first, fractions, config)
    loss = None if labels is None else ttfs_loss(first, times, peaks, labels, config)
    return Readout(first, fractions, peaks, peak_steps, logits(first, fractions, config), loss)


def spike_fractions(first: np.ndarray, spikes: np.ndarray, v_pre: np.ndarray, config: EventPropConfig) -> np.ndarray:
    """The crossing fraction within step f of each neuron's first spike (1 for silent neurons)."""
    n, n_steps, n_out = v_pre.shape
    step = np.minimum(first, n_steps - 1)
    rows, cols = np.arange(n)[:, None], np.arange(n_out)[None, :]
    # Step f - 1 did not spike (f is the first spike), so the voltage after it is its Vpre (0 at step 0).
    before = v_pre[rows, np.maximum(step - 1, 0), cols]
    return crossing_fractions(before, v_pre[rows, step, cols], config.theta)


def forward(params: Params, spikes: np.ndarray, config: EventPropConfig) -> list[tuple[np.ndarray, ...]]:
    """The tapes (I, Vpre, s) of every LIF layer, each (batch, T, n_l), for the input raster ``spikes``."""
    # The compiled kernels load on first use, so the PE programs (which import this module for its checks and
    # readout) never load numba.
    from pe_actors.rules.eventprop import kernels

    tapes, below = [], spikes
    for key in config.weight_keys():
        tapes.append(kernels.forward_layer(below, params[key], config))
        below = tapes[-1][2]
    return tapes


def record_populations(params: Params, spikes: np.ndarray, config: EventPropConfig) -> tuple[dict, np.ndarray]:
    """The populations of the network on input rasters ``spikes`` (batch, T, n_0), each variable (batch, T,
    neurons): every LIF layer (``layer 1`` ... and ``output``; a graph's populations by name) with its ``spikes``,
    synaptic current ``i`` and membrane voltage ``v`` before the reset, and the class scores of the output's first
    spikes."""
    dtype = np.result_type(*params.values(), np.float64)
    tapes = forward({k: np.asarray(v, dtype) for k, v in params.items()}, np.asarray(spikes, dtype), config)
    names = [f"layer {layer}" for layer in range(1, len(tapes))] + ["output"]
    populations = {name: {"spikes": s, "i": i, "v": v} for name, (i, v, s) in zip(names, tapes, strict=True)}
    return populations, read_output(tapes[-1][2], tapes[-1][1], None, config).logits


def example_input(config: EventPropConfig, seed: int = 0) -> np.ndarray:
    """One input raster (1, T, n_0) of uniformly random features through the latency code (no label); for a
    network graph, Bernoulli spikes of rate 0.1."""
    if isinstance(config, CompiledGraph):
        return (np.random.default_rng(seed).random((1, config.n_steps, config.n_in)) < 0.1).astype(np.float64)
    from pe_actors.rules.eventprop.encoding import encode

    return encode(np.random.default_rng(seed).random((1, config.n_in - 1)), config)


def gradients(
    params: Params, spikes: np.ndarray, labels: np.ndarray, config: EventPropConfig, batch_size: int | None = None
) -> tuple[Params, Readout]:
    """Gradients of the loss summed over these samples and divided by ``batch_size`` (default: their number, the
    batch mean), and the master's readout; the output error enters at each output's first spike step only, the
    voltage term's source at a silent label output's step of highest Vpre."""
    tapes = forward(params, spikes, config)
    readout = read_output(tapes[-1][2], tapes[-1][1], labels, config)
    error, source = output_tapes(readout, labels, config, batch_size or len(spikes), spikes.dtype)
    from pe_actors.rules.eventprop import kernels

    sources = [hidden_sources(v_pre, s, config, s.shape[2], batch_size or len(spikes)) for _, v_pre, s in tapes[:-1]]
    sources.append(source)
    rate_errors = [hidden_errors(s, config, s.shape[2], batch_size or len(spikes)) for _, _, s in tapes[:-1]]
    grads = {}
    for layer in range(config.n_layers - 1, -1, -1):
        if layer < config.n_layers - 1 and rate_errors[layer] is not None:
            error = error + rate_errors[layer]
        below = spikes if layer == 0 else tapes[layer - 1][2]
        grads[f"w_{layer}"], error = kernels.backward_layer(
            below, params[f"w_{layer}"], tapes[layer], error, config, want_prev=layer > 0, source=sources[layer]
        )
    return {key: grads[key] for key in config.weight_keys()}, readout


def hidden_sources(v_pre: np.ndarray, spikes: np.ndarray, config: EventPropConfig, layer_size: int,
                   batch_size: int) -> np.ndarray | None:
    """The adjoint source tape (n, T, neurons) of the hidden voltage terms for the Vpre and spike tapes of hidden
    neurons (a layer of ``layer_size``, or a PE's slice of it), each divided by (layer_size tau_mem batch_size):
    alpha_hidden at the step of highest Vpre of each neuron silent on a sample, and -alpha_rate / T at every step
    of each neuron that spikes more than ``rate_upper`` times a second on it (None when both are 0)."""
    if config.alpha_hidden == 0 and config.alpha_rate == 0:
        return None
    source = np.zeros(v_pre.shape, v_pre.dtype)
    scale = layer_size * config.tau_mem * batch_size
    if config.alpha_hidden:
        samples, neurons = np.nonzero(~spikes.any(axis=1))
        _, peak_steps = peak_voltages(v_pre)
        source[samples, peak_steps[samples, neurons], neurons] = config.alpha_hidden / scale
    if config.alpha_rate:
        source -= (config.alpha_rate / (v_pre.shape[1] * scale)) * over_rate(spikes, config)[:, None, :]
    return source


def hidden_errors(spikes: np.ndarray, config: EventPropConfig, layer_size: int, batch_size: int,
                  theta: float | None = None) -> np.ndarray | None:
    """The error tape (n, T, neurons) of the rate term for the spike tape of hidden neurons (a layer of
    ``layer_size`` of threshold ``theta``, default the network's, or a PE's slice of it): the term's derivative in
    each spike's time, alpha_rate theta / (layer_size batch_size T dt) at every spike of a neuron above the rate
    limit, since its membrane drops from theta to 0 there (None when ``alpha_rate`` is 0)."""
    if config.alpha_rate == 0:
        return None
    theta = config.theta if theta is None else theta
    value = config.alpha_rate * theta / (layer_size * batch_size * spikes.shape[1] * config.dt)
    return (spikes * over_rate(spikes, config)[:, None, :] * value).astype(spikes.dtype)


def rate_limit(config: EventPropConfig, n_steps: int) -> float:
    """Spikes on a trial of ``n_steps`` above which a hidden neuron fires too much: rate_upper per second."""
    return config.rate_upper * n_steps * config.dt / 1000.0


def over_rate(spikes: np.ndarray, config: EventPropConfig) -> np.ndarray:
    """Per sample and neuron (n, neurons) of a spike tape (n, T, neurons), whether it spiked more than the rate
    limit (:func:`rate_limit`)."""
    return spikes.sum(axis=1) > rate_limit(config, spikes.shape[1])


def hidden_voltage_term(tapes: list[tuple[np.ndarray, ...]], config: EventPropConfig) -> np.ndarray:
    """Per sample, summed over the hidden layers: alpha_hidden times the mean over each layer's neurons of (theta -
    the highest Vpre) of those that stay silent, plus alpha_rate times the mean over its neurons of the mean Vpre
    over the trial of those that spike more than ``rate_upper`` times a second (docs/eventprop.md, "Loss")."""
    total = np.zeros(tapes[-1][1].shape[0])
    for _, v_pre, spikes in tapes[:-1]:
        peaks, _ = peak_voltages(v_pre)
        silent = ~spikes.any(axis=1)
        total += config.alpha_hidden * np.where(silent, config.theta - peaks, 0.0).mean(axis=1)
        total += config.alpha_rate * np.where(over_rate(spikes, config), v_pre.mean(axis=1), 0.0).mean(axis=1)
    return total


def output_tapes(
    readout: Readout, labels: np.ndarray, config: EventPropConfig, batch_size: int, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray | None]:
    """The output layer's error tape e_L (n, T, n_out), the master's errors at each spiking output's first spike
    step, and its adjoint source tape (None when ``alpha_silent`` is 0), the voltage term's source at each silent
    label output's step of highest Vpre."""
    n, n_steps = readout.first.shape[0], config.n_steps
    values = output_errors(readout.first, loss_times(readout.first, readout.fractions, config), labels, config,
                           batch_size)
    error = np.zeros((n, n_steps, config.n_out), dtype)
    samples, outputs = np.nonzero(readout.first < n_steps)
    error[samples, readout.first[samples, outputs], outputs] = values[samples, outputs]
    if config.alpha_silent == 0:
        return error, None
    source = np.zeros((n, n_steps, config.n_out), dtype)
    samples, outputs = np.nonzero(readout.first >= n_steps)
    source[samples, readout.peak_steps[samples, outputs], outputs] = values[samples, outputs]
    return error, source


def silence(
    params: Params, spikes: np.ndarray, labels: np.ndarray, config: EventPropConfig, chunk: int = 256
) -> dict[str, float]:
    """How much of the network has fallen silent on these samples (docs/eventprop.md, "Silent outputs and dead
    neurons"): ``label_silent``, the fraction of samples whose label output never spikes (they give no error
    unless ``alpha_silent`` > 0); ``all_silent``, the fraction in which no output spikes; ``dead_hidden``, the
    fraction of hidden neurons that spike in none of the samples (they receive no gradient). Computed ``chunk``
    samples at a time, which bounds memory, not results."""
    label_silent = all_silent = 0
    spiked = [np.zeros(size, bool) for size in config.sizes[1:-1]]
    for start in range(0, len(spikes), chunk):
        tapes = forward(params, spikes[start : start + chunk], config)
        silent = first_spike_steps(tapes[-1][2]) >= config.n_steps
        rows = np.arange(len(silent))
        label_silent += int(silent[rows, labels[start : start + chunk]].sum())
        all_silent += int(silent.all(axis=1).sum())
        for layer, tape in enumerate(tapes[:-1]):
            spiked[layer] |= tape[2].any(axis=(0, 1))
    n, n_hidden = max(len(spikes), 1), sum(len(s) for s in spiked)
    return {
        "label_silent": label_silent / n,
        "all_silent": all_silent / n,
        "dead_hidden": float(sum(np.count_nonzero(~s) for s in spiked) / n_hidden) if n_hidden else 0.0,
    }


def predict(params: Params, spikes: np.ndarray, config: EventPropConfig) -> Readout:
    """The readout without labels (no loss)."""
    tapes = forward(params, spikes, config)
    return read_output(tapes[-1][2], tapes[-1][1], None, config)


def health(config: Any) -> dict[str, tuple[str | None, str]]:
    """Per sign of a dead run (:mod:`pe_actors.training.callbacks.health`), the population it concerns and what to
    change."""
    if isinstance(config, CompiledGraph):
        output = config.network.outputs[0]
        hidden = ", ".join(p.name for p in config.network.populations if p.name != output)
    else:
        output, hidden = "output", ", ".join(f"layer {layer}" for layer in range(1, config.n_layers))
    outputs = ("the output weights are too weak to reach the threshold: raise --init-mean of the output layer, "
               "give --alpha-silent 1 (the voltage term that reaches silent label outputs) or lower --lr")
    return {
        "label_silent": (output, outputs),
        "all_silent": (output, outputs),
        "hidden_silent": (hidden, "the input does not drive the hidden layer over its threshold: raise --init-mean "
                                  "of the hidden layer"),
        "dead_hidden": (hidden, "raise --init-mean of the hidden layer, give --alpha-hidden 0.05 (the voltage term "
                                "that reaches silent hidden neurons) or lower --lr"),
        "flat_loss": (None, "raise --lr"),
        "absurd_loss": (None, "the loss's exponential terms overflow: lower --alpha-reg or raise --tau1 for long "
                              "trials"),
    }


def input_targets(config: Any) -> dict[str, str]:
    """The input weights and the population they drive: ``w_0`` onto ``layer 1`` (``output`` for one layer; a
    network graph's own)."""
    if isinstance(config, CompiledGraph):
        return config.network.input_targets()
    return {"w_0": "layer 1" if config.n_layers > 1 else "output"}
