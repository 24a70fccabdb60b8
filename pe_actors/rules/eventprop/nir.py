"""EventProp's networks in NIR (docs/interop.md): a layer is a CubaLIF with 1 - dt/tau_syn = a, 1 - dt/tau_mem = b,
r = tau_mem/dt and w_in = (1 - b) tau_syn/dt, threshold theta and reset to 0, behind a Linear of its weights; a
chain of Linear (or bias-free Affine) and CubaLIF nodes of any origin imports as an EventProp network."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pe_actors.core.nirgraph import NIRError, NIRForm, chain, metadata, nir_module, real_values, uniform
from pe_actors.rules.eventprop.config import EventPropConfig


def default_dt_s(network: EventPropConfig, extra: dict[str, Any]) -> float:
    """The step a graph is written for by default: the network's dt, in seconds."""
    return network.dt / 1000.0


def to_graph(
    network: EventPropConfig, params: dict[str, np.ndarray], dt: float, extra: dict, approximate: bool = False
) -> Any:
    """The NIR graph of the network with weights ``params`` at step ``dt`` (s); exact, so ``approximate`` changes
    nothing."""
    nir = nir_module()
    a, b = network.a, network.b
    tau_syn, tau_mem = dt / (1.0 - a), dt / (1.0 - b)
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([network.n_in])})}
    edges, previous = [], "input"
    for layer in range(1, network.n_layers + 1):
        weight = np.asarray(params[f"w_{layer - 1}"], np.float64).T
        n = weight.shape[0]
        nodes[f"w_{layer - 1}"] = nir.Linear(weight=weight)
        nodes[f"lif_{layer}"] = nir.CubaLIF(
            tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.full(n, tau_mem / dt),
            v_leak=np.zeros(n), v_threshold=np.full(n, float(network.theta)), v_reset=np.zeros(n),
            w_in=np.full(n, (1.0 - b) * tau_syn / dt),
        )
        edges += [(previous, f"w_{layer - 1}"), (f"w_{layer - 1}", f"lif_{layer}")]
        previous = f"lif_{layer}"
    nodes["output"] = nir.Output(output_type={"output": np.array([network.n_out])})
    edges.append((previous, "output"))
    code = "latency: feature v spikes at step round(v t_code / dt); a bias at step 0"
    record = metadata("eventprop", network, dt, extra, n_steps=network.n_steps, t_code_ms=network.t_code,
                         input_code=code, delay="one step per layer", tau_syn_ms=network.tau_syn,
                         tau_mem_ms=network.tau_mem)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=record)


def from_graph(graph: Any, dt: float, recorded: dict, n_steps: int | None, t_code_ms: float | None)\
        -> tuple[EventPropConfig, dict[str, np.ndarray]]:
    """The network and weights of a chain of weight and CubaLIF layers read at step ``dt`` (s); a graph pe-actors
    wrote keeps its own constants where the nodes agree."""
    nodes = chain(graph)
    sizes, weights, neurons = [], [], []
    pending = None
    for name in nodes[1:-1]:
        node = graph.nodes[name]
        kind = type(node).__name__
        if kind in ("Linear", "Affine"):
            if pending is not None:
                raise NIRError(f"node {name!r}: two weight layers in a row; pe-actors needs a neuron layer between")
            if kind == "Affine" and np.any(np.asarray(node.bias) != 0):
                raise NIRError(f"node {name!r}: an Affine with a non-zero bias; pe-actors' layers have no bias")
            weight = real_values(name, "weight", node.weight)
            if weight.ndim != 2:
                raise NIRError(f"node {name!r}: weight of shape {weight.shape}; pe-actors takes dense 2-D weights")
            pending = (name, weight)
        elif kind == "CubaLIF":
            if pending is None:
                raise NIRError(f"node {name!r}: a CubaLIF without a weight layer before it")
            neurons.append((name, node))
            weights.append(pending)
            pending = None
        else:
            raise NIRError(f"node {name!r} is a {kind}; pe-actors imports Input, Linear/Affine, CubaLIF, Output")
    if not neurons or pending is not None:
        raise NIRError("the graph must alternate weight layers and CubaLIF layers, ending in a CubaLIF layer")
    sizes.append(weights[0][1].shape[1])
    params, first = {}, None
    for layer, ((w_name, weight), (name, node)) in enumerate(zip(weights, neurons, strict=True)):
        if weight.shape[1] != sizes[-1]:
            raise NIRError(f"node {w_name!r}: takes {weight.shape[1]} inputs, the layer below has {sizes[-1]}")
        values = {f: uniform(name, node, f) for f in ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "w_in")}
        for key in ("tau_syn", "tau_mem"):
            if not math.isfinite(values[key]) or values[key] <= 0:
                raise NIRError(f"node {name!r}: {key} must be a positive number of seconds, got {values[key]:g}")
        v_reset = uniform(name, node, "v_reset") if node.v_reset is not None else 0.0
        if values["v_leak"] != 0 or v_reset != 0:
            raise NIRError(f"node {name!r}: v_leak {values['v_leak']:g} and v_reset {v_reset:g}; pe-actors' LIF "
                           "rests at 0 and resets to 0")
        a, b = 1.0 - dt / values["tau_syn"], 1.0 - dt / values["tau_mem"]
        if not (0 < a < 1 and 0 < b < 1):
            raise NIRError(f"node {name!r}: tau_syn {values['tau_syn']:g} s and tau_mem {values['tau_mem']:g} s "
                           f"are not longer than the step dt {dt:g} s")
        shared = (a, b, values["v_threshold"])
        if first is None:
            first = shared
        elif not np.allclose(shared, first, rtol=1e-12, atol=0):
            raise NIRError(f"node {name!r}: its time constants or threshold differ from the first layer's; "
                           "pe-actors layers share them")
        # The input scale of the Euler step, (dt/tau_mem) r (dt/tau_syn) w_in, against pe-actors' (1 - b).
        gain = (dt / values["tau_mem"]) * values["r"] * (dt / values["tau_syn"]) * values["w_in"]
        params[f"w_{layer}"] = weight.T * (gain / (1.0 - b))
        sizes.append(weight.shape[0])
    a, b, theta = first
    dt_ms = dt * 1000.0
    steps = int(n_steps or recorded.get("n_steps") or max(2, round(30.0 / dt_ms)))
    code = t_code_ms if t_code_ms is not None else recorded.get("t_code_ms", 15.0)
    code = min(float(code), (steps - 1) * dt_ms)
    while code / dt_ms > steps - 1:  # (steps - 1) * dt_ms / dt_ms may round above steps - 1
        code = math.nextafter(code, 0.0)
    try:
        network = EventPropConfig(sizes=tuple(sizes), dt=dt_ms, n_steps=steps, tau_syn=-dt_ms / math.log(a),
                                  tau_mem=-dt_ms / math.log(b), theta=theta, t_code=code,
                                  init_mean=(0.0,) * len(weights), init_std=(1.0,) * len(weights))
    except ValueError as error:
        raise NIRError(f"the graph's network does not fit pe-actors' EventProp: {error}") from None
    recorded_network = recorded.get("network")
    if recorded.get("rule") == "eventprop" and isinstance(recorded_network, dict):
        # A graph pe-actors wrote: its own constants (loss, initialisation, input code) where the nodes agree.
        own = EventPropConfig.from_dict(recorded_network)
        if own.sizes == network.sizes and math.isclose(own.dt, dt_ms, rel_tol=1e-12):
            network = own
    return network, params


#: The rule's NIR form (``Rule.nir``).
FORM = NIRForm(to_graph, from_graph, default_dt_s, foreign=True)
