"""Reverse-mode BPTT of the docs/eprop.md graph, written independently of the e-prop code.

The same quantities are held constant as in e-prop (stop-gradient): the recurrent input z^(t-1) W_rec is a
constant as far as z^(t-1) is concerned, and so is the whole reset term A^t z^(t-1). With these conventions BPTT
and e-prop give the same gradients to rounding (docs/eprop.md); this module is the reference for that identity
and the gradient of the ``--rule bptt`` trainer.
"""

from __future__ import annotations

import numpy as np

from pe_actors.networks import CompiledGraph
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.neuron import spike, surrogate
from pe_actors.rules.eprop.readout import output_error


def bptt_forward(params: dict[str, np.ndarray], x: np.ndarray, config: NetworkConfig) -> dict[str, np.ndarray]:
    """Forward pass storing every step's v, A, z, psi and zbar, each of shape (T, batch, n)."""
    c = config
    batch, n_steps = x.shape[0], c.n_steps
    dtype = x.dtype
    shape = (n_steps, batch, c.n_rec)
    record = {name: np.zeros(shape, dtype) for name in ("v", "threshold", "z", "psi", "zbar")}
    v = np.zeros((batch, c.n_rec), dtype)
    a = np.zeros_like(v)
    z = np.zeros_like(v)
    zbar = np.zeros_like(v)
    input_current = np.einsum("bti,ij->tbj", x, params["w_in"])
    for t in range(n_steps):
        a = c.rho * a + (1.0 - c.rho) * z
        threshold = c.b0 + c.beta * a
        v = c.alpha * v + (1.0 - c.alpha) * (input_current[t] + z @ params["w_rec"]) - threshold * z
        z = spike(v - threshold)
        zbar = c.kappa * zbar + z
        for name, value in (("v", v), ("threshold", threshold), ("z", z), ("zbar", zbar)):
            record[name][t] = value
        record["psi"][t] = surrogate(v - threshold)
    record["logits"] = record["zbar"].mean(axis=0) @ params["w_out"]
    return record


def bptt_backward(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    labels: np.ndarray,
    record: dict[str, np.ndarray],
    config: NetworkConfig,
) -> dict[str, np.ndarray]:
    """Gradients of the batch-mean cross-entropy by the reverse recursion over t = T..1 (adjoints g*)."""
    c = config
    batch, n_steps = x.shape[0], c.n_steps
    error = output_error(record["logits"], labels) / batch
    grad_out = record["zbar"].mean(axis=0).T @ error
    g_zbar_direct = error @ params["w_out"].T / n_steps
    grad_in = np.zeros_like(params["w_in"])
    grad_rec = np.zeros_like(params["w_rec"])
    g_zbar = np.zeros((batch, c.n_rec), x.dtype)
    g_v = np.zeros_like(g_zbar)
    g_a = np.zeros_like(g_zbar)
    for t in range(n_steps - 1, -1, -1):
        g_zbar = g_zbar_direct + c.kappa * g_zbar
        # z^t feeds zbar^t and, through a^(t+1), the threshold of the next step (g_a holds dloss/da^(t+1)).
        g_z = g_zbar + (1.0 - c.rho) * g_a
        g_v_here = c.alpha * g_v + g_z * record["psi"][t]
        g_a = c.rho * g_a - c.beta * g_z * record["psi"][t]
        g_v = g_v_here
        z_prev = record["z"][t - 1] if t > 0 else np.zeros_like(g_v)
        grad_in += (1.0 - c.alpha) * x[:, t].T @ g_v
        grad_rec += (1.0 - c.alpha) * z_prev.T @ g_v
    np.fill_diagonal(grad_rec, 0.0)
    return {"w_in": grad_in, "w_rec": grad_rec, "w_out": grad_out}


def record_populations(params: dict[str, np.ndarray], x: np.ndarray, config: NetworkConfig) -> tuple[dict, np.ndarray]:
    """The populations of the network on inputs ``x`` (batch, T, n_in), each variable (batch, T, neurons):
    ``recurrent`` (``spikes`` z, membrane ``v``, adaptive ``threshold``) and ``readout`` (its leaky output
    ``v``, y^t = zbar^t W_out), with the class scores (the readout's mean over T, docs/eprop.md); the forward pass
    of :func:`bptt_forward`, step by step. A network graph runs as docs/networks.md writes it, its populations by
    their names."""
    if isinstance(config, CompiledGraph):
        from pe_actors.networks import run

        return run(config.network, params, x)
    dtype = np.result_type(params["w_in"], np.float32)
    weights = {key: np.asarray(value, dtype) for key, value in params.items()}
    trace = bptt_forward(weights, np.asarray(x, dtype), config)
    batch_first = {name: np.swapaxes(trace[name], 0, 1) for name in ("z", "v", "threshold", "zbar")}
    populations = {
        "recurrent": {"spikes": batch_first["z"], "v": batch_first["v"], "threshold": batch_first["threshold"]},
        "readout": {"v": batch_first["zbar"] @ weights["w_out"]},
    }
    return populations, trace["logits"]


def example_input(config: NetworkConfig, seed: int = 0) -> np.ndarray:
    """One standard normal input (1, T, n_in) (no label); for a network graph, Bernoulli spikes of rate 0.1."""
    if isinstance(config, CompiledGraph):
        return (np.random.default_rng(seed).random((1, config.n_steps, config.n_in)) < 0.1).astype(np.float32)
    return np.random.default_rng(seed).standard_normal((1, config.n_steps, config.n_in)).astype(np.float32)


def silence(params: dict[str, np.ndarray], x: np.ndarray, labels: np.ndarray, config: NetworkConfig,
            chunk: int = 256) -> dict[str, float]:
    """How much of the network is silent on inputs ``x`` (docs/training.md, "No run trains dead"):
    ``hidden_silent``, the fraction of samples in which no recurrent neuron spikes, and ``dead_hidden``, the
    fraction of recurrent neurons that spike on no sample (a network graph: :func:`pe_actors.networks.silence`).
    Computed ``chunk`` samples at a time, which bounds memory, not results."""
    if isinstance(config, CompiledGraph):
        from pe_actors.networks import silence as graph_silence

        return graph_silence(config.network, params, x, labels, chunk)
    spiked = np.zeros(config.n_rec, bool)
    silent = 0
    for start in range(0, len(x), chunk):
        populations, _ = record_populations(params, x[start : start + chunk], config)
        fired = populations["recurrent"]["spikes"].any(axis=1)
        spiked |= fired.any(axis=0)
        silent += int((~fired.any(axis=1)).sum())
    return {"hidden_silent": silent / max(len(x), 1), "dead_hidden": float(np.count_nonzero(~spiked) / config.n_rec)}


def health(config: NetworkConfig) -> dict[str, tuple[str | None, str]]:
    """Per sign of a dead run (:mod:`pe_actors.training.callbacks.health`), the population it concerns and what to
    change."""
    hidden = ", ".join(p.name for p in config.network.populations if p.name not in config.network.outputs) \
        if isinstance(config, CompiledGraph) else "recurrent"
    weak = ("the input does not drive the hidden neurons over their threshold: --data-init on scales the input "
            "weights to the data (features near 0, sparse spike rasters), or lower the threshold")
    return {
        "hidden_silent": (hidden, weak),
        "dead_hidden": (hidden, weak),
        "flat_loss": (None, "raise --lr, or check that the labels belong to the inputs"),
        "absurd_loss": (None, "lower --lr"),
    }


def input_targets(config: NetworkConfig) -> dict[str, str]:
    """The input weights and the population they drive: ``w_in`` onto ``recurrent`` (a network graph's own)."""
    return config.network.input_targets() if isinstance(config, CompiledGraph) else {"w_in": "recurrent"}
