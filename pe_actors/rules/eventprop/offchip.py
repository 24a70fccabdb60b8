"""The off-chip EventProp engine: the whole network in one process, vectorised over the batch with the compiled
event-driven kernels, for prototyping and hyper-parameter search (docs/eventprop.md, "Engines")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pe_actors.core.engine import BatchResult, InProcessLifecycle
from pe_actors.core.optimiser import Adam, OptimiserConfig, l2_gradient
from pe_actors.networks import CompiledGraph
from pe_actors.rules.eventprop import network
from pe_actors.rules.eventprop.config import EventPropConfig
from pe_actors.rules.eventprop.loss import check_labels


class OffchipEngine(InProcessLifecycle):
    """Trains an EventProp network with ADAM on the exact adjoint gradients of each mini-batch.

    Args:
        config: the network.
        params: initial weights ``w_0`` ... (copied); their dtype is the engine's dtype.
        optimiser: ADAM/L2/schedule settings.
    """

    def __init__(self, config: EventPropConfig, params: dict[str, np.ndarray], optimiser: OptimiserConfig) -> None:
        self.config = config
        self.numerics = _Numerics.of(config)
        self.weights = {key: np.array(value) for key, value in self.numerics.check_params(params, config).items()}
        self.dtype = np.result_type(*self.weights.values())
        self.optimiser = optimiser
        self.adam = {key: Adam(value.shape, self.dtype, optimiser) for key, value in self.weights.items()}

    def train_batch(self, x: np.ndarray, labels: np.ndarray, lr: float) -> BatchResult:
        """One ADAM step on the batch-mean loss of the input rasters ``x`` (n, T, n_0)."""
        spikes = self.numerics.check_spikes(x, self.config, self.dtype)
        labels = check_labels(labels, self.config.n_out, len(spikes))
        grads, readout = self.numerics.gradients(self.weights, spikes, labels, self.config)
        for key, weights in self.weights.items():
            grad = self.optimiser.learned(key, grads[key] + l2_gradient(weights, self.optimiser.l2))
            self.adam[key].step(weights, grad, lr)
        return BatchResult(logits=readout.logits, loss=readout.loss)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class scores (n, n_out), the negative interpolated first-spike times over tau0."""
        spikes = self.numerics.check_spikes(x, self.config, self.dtype)
        return self.numerics.predict(self.weights, spikes, self.config).logits

    def advance(self, seconds: float) -> None:
        """Float weights do not drift: device time changes nothing."""

    @property
    def writes(self) -> None:
        """Float weights have no device writes."""
        return None

    def params(self) -> dict[str, np.ndarray]:
        """Copies of the current weights."""
        return {key: np.array(value) for key, value in self.weights.items()}

    def state(self) -> dict[str, np.ndarray]:
        """Weights, ADAM moments (``m_w_0``, ``v_w_0``, ...) and the step count ``adam_n`` (copies)."""
        state = self.params()
        for key, adam in self.adam.items():
            state[f"m_{key}"], state[f"v_{key}"] = np.array(adam.m), np.array(adam.v)
        state["adam_n"] = np.array(next(iter(self.adam.values())).n)
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned; a missing key or a wrong shape raises a ValueError naming it."""
        for key, weights in self.weights.items():
            for name, target in ((key, weights), (f"m_{key}", self.adam[key].m), (f"v_{key}", self.adam[key].v)):
                if name not in state:
                    raise ValueError(f"state lacks {name!r}")
                value = np.asarray(state[name])
                if value.shape != target.shape:
                    raise ValueError(f"state {name!r} has shape {value.shape}, the network expects {target.shape}")
                target[...] = value
        for adam in self.adam.values():
            adam.n = int(state.get("adam_n", 0))


@dataclass(frozen=True)
class _Numerics:
    """The functions the engine computes with: the layered network's (:mod:`pe_actors.rules.eventprop.network`)
    or a network graph's (:mod:`pe_actors.rules.eventprop.graph`)."""

    check_params: Callable[..., Any]
    check_spikes: Callable[..., Any]
    gradients: Callable[..., Any]
    predict: Callable[..., Any]

    @classmethod
    def of(cls, config: object) -> _Numerics:
        """The numerics of ``config``."""
        if isinstance(config, CompiledGraph):
            from pe_actors.rules.eventprop import graph

            return cls(graph.graph_check_params, graph.graph_check_spikes, graph.graph_gradients,
                       graph.graph_predict)
        return cls(network.check_params, network.check_spikes, network.gradients, network.predict)
