"""Public gradient functions: e-prop through the in-process PE engine, and the BPTT reference."""

from __future__ import annotations

import functools

import numpy as np

from pe_actors.core.checks import require_finite
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.networks import CompiledGraph
from pe_actors.rules.eprop.bptt import bptt_backward, bptt_forward
from pe_actors.rules.eprop.config import NetworkConfig, infer_config
from pe_actors.rules.eprop.program import EpropGroup
from pe_actors.rules.eprop.readout import check_labels, cross_entropy
from pe_actors.rules.eprop.replay import ReplayEngine
from pe_actors.runtime.group import GroupEngine

Grads = dict[str, np.ndarray]

#: Engines :func:`eprop_gradients` can compute with: the online PEs (the chip's way) or forward replay.
ENGINES = ("online", "replay")


def init_eprop_params(config: NetworkConfig | None = None, seed: int = 0, dtype: type = np.float32) -> Grads:
    """Initial weights W ~ N(0, 1) / sqrt(fan_in) for w_in (n_in, n_rec), w_rec (n_rec, n_rec) with a zero
    diagonal, and w_out (n_rec, n_out) (docs/eprop.md)."""
    if isinstance(config, CompiledGraph):  # a network graph: its connections' own initialisation
        return config.network.init_params(seed, dtype)
    c = config or NetworkConfig()
    rng = np.random.default_rng(seed)
    params = {
        "w_in": rng.standard_normal((c.n_in, c.n_rec)) / np.sqrt(c.n_in),
        "w_rec": rng.standard_normal((c.n_rec, c.n_rec)) / np.sqrt(c.n_rec),
        "w_out": rng.standard_normal((c.n_rec, c.n_out)) / np.sqrt(c.n_rec),
    }
    np.fill_diagonal(params["w_rec"], 0.0)
    return {key: value.astype(dtype) for key, value in params.items()}


#: The name e-prop's initial weights had before the rules stood side by side (still read).
init_params = init_eprop_params


def weight_shapes(config: NetworkConfig) -> dict[str, tuple[int, ...]]:
    """The shapes of the weights :func:`init_params` draws: w_in (n_in, n_rec), w_rec (n_rec, n_rec), w_out
    (n_rec, n_out); a network graph's by connection."""
    if isinstance(config, CompiledGraph):
        return config.network.weight_shapes()
    return {"w_in": (config.n_in, config.n_rec), "w_rec": (config.n_rec, config.n_rec),
            "w_out": (config.n_rec, config.n_out)}


def _prepare(params: Grads, x: np.ndarray, labels: np.ndarray, config: NetworkConfig | None):
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (batch, T, n_in), got {x.shape}")
    require_finite(x, "x")
    config = infer_config(params, x.shape[1], config)
    if x.shape[2] != config.n_in:
        raise ValueError(f"x has {x.shape[2]} input channels but w_in expects n_in = {config.n_in}")
    labels = check_labels(labels, config.n_out)
    if len(labels) != len(x):
        raise ValueError(f"x holds {len(x)} samples but labels {len(labels)}")
    dtype = np.result_type(params["w_in"], params["w_rec"], params["w_out"], x)
    return {key: np.asarray(value, dtype) for key, value in params.items()}, x.astype(dtype), labels, config


def eprop_gradients(
    params: Grads,
    x: np.ndarray,
    labels: np.ndarray,
    config: NetworkConfig | None = None,
    n_pes: int = 1,
    sub_batch: int | None = None,
    engine: str = "online",
) -> tuple[Grads, float, np.ndarray]:
    """E-prop gradients of the batch-mean cross-entropy (without L2), computed online by a group of ``n_pes``
    in-process PEs vectorising ``sub_batch`` samples (docs/eprop.md), or, with ``engine="replay"``, by the
    forward replay of :mod:`pe_actors.rules.eprop.replay` (same gradients to rounding; ``n_pes`` and ``sub_batch``
    unused).

    Returns (grads with the keys and shapes of ``params``, batch-mean loss, logits (batch, n_out)).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid names are {list(ENGINES)}")
    params, x, labels, config = _prepare(params, x, labels, config)
    if engine == "replay":
        replay = _replay_engine(config, params["w_in"].dtype.str)
        replay.load_state(params)
        grads, result = replay.gradients(x, labels)
        return grads, float(result.loss.mean()), result.logits
    online = GroupEngine(EpropGroup(config, n_pes), params, OptimiserConfig(), sub_batch)
    slices, result = online.gradients(x, labels)
    grads = {
        "w_in": np.concatenate([g["w_in"] for g in slices], axis=1),
        "w_rec": np.concatenate([g["w_rec"] for g in slices], axis=1),
        "w_out": np.concatenate([g["w_out"] for g in slices], axis=0),
    }
    return grads, float(result.loss.mean()), result.logits


@functools.lru_cache(maxsize=4)
def _replay_engine(config: NetworkConfig, dtype: str) -> ReplayEngine:
    """A replay engine kept per network and dtype, so that calls in a loop do not pay its set-up (the weights are
    loaded into it on every call)."""
    c = config
    zeros = {"w_in": (c.n_in, c.n_rec), "w_rec": (c.n_rec, c.n_rec), "w_out": (c.n_rec, c.n_out)}
    return ReplayEngine(config, {k: np.zeros(s, dtype) for k, s in zeros.items()}, OptimiserConfig())


def bptt_gradients(
    params: Grads, x: np.ndarray, labels: np.ndarray, config: NetworkConfig | None = None
) -> tuple[Grads, float, np.ndarray]:
    """Reverse-mode BPTT gradients of the same graph with the same stop-gradients (see
    :mod:`pe_actors.rules.eprop.bptt`).

    Returns (grads, batch-mean loss, logits), like :func:`eprop_gradients`.
    """
    params, x, labels, config = _prepare(params, x, labels, config)
    record = bptt_forward(params, x, config)
    grads = bptt_backward(params, x, labels, record, config)
    return grads, float(cross_entropy(record["logits"], labels).mean()), record["logits"]
