"""NIR graphs as network graphs, node by node (docs/networks.md, "NIR"): :func:`network_from_nir` reads any NIR
graph of the nodes pe-actors has populations and connections for, :func:`network_to_nir` writes a network graph.

NIR describes neurons in continuous time. pe-actors reads and writes a graph as NIR's reference and snnTorch do:
the forward-Euler step at dt, input spikes entering as counts per step, so that a node's time constant tau
becomes the decay 1 - dt/tau per step:

    LIF      decay_mem 1 - dt/tau,      gain_mem r dt/tau,         rest v_leak, threshold, reset to v_reset
    CubaLIF  decay_syn 1 - dt/tau_syn,  gain_syn w_in dt/tau_syn,  decay_mem 1 - dt/tau_mem, gain_mem r dt/tau_mem
    IF       decay_mem 1,               gain_mem r dt
    LI, CubaLI  as LIF and CubaLIF, without threshold
    Affine, Linear, Scale   a connection's weights (transposed: NIR's weight is (out, in)); an Affine's bias is
                            added to the drive of the population it feeds
    Delay    of one step dt: the connection it lies on reads the previous step
    Input, Output           the network's input; the populations that feed the output are the outputs

Within a step an edge reaches its target in the same step; an edge that closes a cycle reads the previous step
(NIR's reference and snnTorch's recurrent layers). A subgraph (a node that is itself a graph) is flattened, its
nodes named ``outer.inner`` as the NIR paper's files name them. Convolutions, pooling, flattening, the integrator
I and the threshold node have no population here and are refused by name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from pe_actors.core.nirgraph import NIRError, nir_module, real_values
from pe_actors.networks import Connection, Network, NetworkError, population

log = logging.getLogger(__name__)

_NEURONS = ("LIF", "CubaLIF", "IF", "LI", "CubaLI")
_WEIGHTS = ("Affine", "Linear", "Scale")
_RESETS = (None, "value", "subtract")


def flatten(graph: Any, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The nodes and edges of ``graph`` with every subgraph's nodes lifted into it as ``outer.inner``; an edge to
    or from a subgraph goes to its Input or from its Output node."""
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, str] = {}
    exit_: dict[str, str] = {}
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        if type(node).__name__ == "NIRGraph":
            inner, inner_edges = flatten(node, f"{full}.")
            inputs = [f"{full}.{n}" for n, v in node.nodes.items() if type(v).__name__ == "Input"]
            outputs = [f"{full}.{n}" for n, v in node.nodes.items() if type(v).__name__ == "Output"]
            if len(inputs) != 1 or len(outputs) != 1:
                raise NIRError(f"subgraph {full!r} needs one Input and one Output node, it has {inputs}, {outputs}")
            nodes.update(inner)
            edges += inner_edges
            entry[full], exit_[full] = inputs[0], outputs[0]
        else:
            nodes[full] = node
    for source, target in graph.edges:
        source, target = f"{prefix}{source}", f"{prefix}{target}"
        edges.append((exit_.get(source, source), entry.get(target, target)))
    # The subgraphs' own Input and Output nodes pass their values through.
    for name in [*entry.values(), *exit_.values()]:
        before = [s for s, t in edges if t == name]
        after = [t for s, t in edges if s == name]
        edges = [e for e in edges if name not in e] + [(s, t) for s in before for t in after]
        del nodes[name]
    return nodes, edges


def network_from_nir(graph: Any, dt: float, n_steps: int = 100, reset: str | None = None,
                     reset_delayed: bool = False) -> tuple[Network, dict[str, np.ndarray]]:
    """The network graph and weights of a NIR graph read at step ``dt`` (s) over ``n_steps`` steps (see the module
    docstring). ``reset``: None resets each spiking node as its fields say (to ``v_reset`` at the spike step);
    ``"subtract"`` subtracts the threshold instead (the NIR paper's ``..._subtract`` graphs record ``v_reset = 0``
    but reset by subtraction), ``"value"`` resets to ``v_reset``; ``reset_delayed`` subtracts it one step late, as
    snnTorch's default neurons do. A graph cannot tell these apart, so an import without ``reset`` says which it
    assumed. An NIRError names a node pe-actors cannot represent."""
    if reset not in _RESETS:
        raise NIRError(f"reset must be one of {_RESETS[1:]} (or None: as the nodes say), got {reset!r}")
    if reset_delayed and reset != "subtract":
        raise NIRError("reset_delayed subtracts the threshold one step late; give reset='subtract' with it")
    nodes, edges = flatten(graph)
    kinds = {name: type(node).__name__ for name, node in nodes.items()}
    for name, kind in kinds.items():
        if kind not in (*_NEURONS, *_WEIGHTS, "Delay", "Input", "Output"):
            raise NIRError(f"node {name!r} is a {kind}; pe-actors networks take {', '.join(_NEURONS)}, "
                           f"{', '.join(_WEIGHTS)}, one-step Delay, Input and Output")
    inputs = [name for name, kind in kinds.items() if kind == "Input"]
    outputs = [name for name, kind in kinds.items() if kind == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRError(f"the graph needs one Input and one Output node, it has {inputs} and {outputs}")
    following: dict[str, list[str]] = {name: [] for name in nodes}
    for source, target in edges:
        if source not in nodes or target not in nodes:
            raise NIRError(f"edge ({source!r}, {target!r}) names a node the graph does not have")
        following[source].append(target)
    neurons = [name for name in nodes if kinds[name] in _NEURONS]
    feeding = {name: [s for s, t in edges if t == name and kinds[s] in ("Affine", "Linear")] for name in neurons}
    populations = {name: _population(name, nodes[name], dt, reset, reset_delayed,
                                     [np.shape(nodes[s].weight)[0] for s in feeding[name]])
                   for name in neurons}
    n_in = _input_size(inputs[0], nodes[inputs[0]], following, nodes, kinds)
    connections, params, biases, feeds_output = [], {}, {name: None for name in neurons}, []
    for source in [inputs[0], *neurons]:
        size = n_in if source == inputs[0] else populations[source].size
        for path in _paths(source, following, kinds):
            target = path[-1]
            if kinds[target] == "Output":
                if len(path) > 2:
                    raise NIRError(f"node {path[1]!r} lies between population {source!r} and the Output; the outputs "
                                   "of a pe-actors network are populations")
                if source == inputs[0]:
                    raise NIRError("the Input feeds the Output directly; the network needs a population between")
                feeds_output.append(source)
                continue
            weight, bias, delay = _compose(path, nodes, kinds, size, dt)
            name = ".".join(p for p in path[1:-1] if kinds[p] != "Delay") or f"{source}->{target}"
            if any(name == c[0] for c in connections):
                name = f"{source}->{name}"
            if weight.shape != (size, populations[target].size):
                raise NIRError(f"node {path[-2] if len(path) > 2 else source!r}: maps {size} values onto "
                               f"{weight.shape[1]}, but {target!r} has {populations[target].size} neurons")
            connections.append((name, source, target, delay))
            params[Connection(name, source, target).key] = weight
            if bias is not None:
                biases[target] = bias if biases[target] is None else biases[target] + bias
    cycles = _cycle_edges(inputs[0], [(s, t) for _, s, t, d in connections if d == 0])
    built = []
    for name, source, target, delay in connections:
        built.append(Connection(name, source, target, max(delay, 1 if (source, target) in cycles else 0)))
    pops = tuple(_with_bias(populations[name], biases[name]) for name in neurons)
    try:
        network = Network(inputs[0], n_in, pops, tuple(built), tuple(feeds_output), n_steps, float(dt),
                          _readout(pops, feeds_output))
    except NetworkError as error:
        raise NIRError(f"the graph's network: {error}") from None
    if reset is None and any(p.spiking for p in pops):
        log.warning("the graph's spiking nodes reset to v_reset at their spike step, as NIR's fields say; a graph "
                    "cannot tell other resets (snnTorch's default neurons subtract the threshold a step late and "
                    "write v_reset = 0): give reset='subtract' (and reset_delayed=True) if it came from such a peer")
    return network, params


def _population(name: str, node: Any, dt: float, reset: str | None, reset_delayed: bool, fed: list[int]) -> Any:
    """The population of a neuron node read by forward Euler at ``dt``; its size is that of its fields, or, when
    they hold one value each, the rows of the weights ``fed`` into it."""
    kind = type(node).__name__

    def field(key: str, default: Any = None) -> np.ndarray:
        value = getattr(node, key, None)
        return real_values(name, key, default if value is None else value).reshape(-1)

    def rate(key: str) -> np.ndarray:
        tau = field(key)
        if np.any(tau < dt):
            raise NIRError(f"node {name!r}: {key} {float(tau.min()):g} s is shorter than the step dt {dt:g} s (forward "
                           "Euler needs tau >= dt; give a smaller dt)")
        return dt / tau

    values: dict[str, Any] = {}
    if kind in ("LIF", "LI"):
        k = rate("tau")
        values.update(decay_mem=1.0 - k, gain_mem=k * field("r"), v_leak=field("v_leak", 0.0))
    elif kind in ("CubaLIF", "CubaLI"):
        k_syn, k_mem = rate("tau_syn"), rate("tau_mem")
        values.update(decay_syn=1.0 - k_syn, gain_syn=k_syn * field("w_in", 1.0), decay_mem=1.0 - k_mem,
                      gain_mem=k_mem * field("r"), v_leak=field("v_leak", 0.0))
    else:  # IF
        values.update(decay_mem=1.0, gain_mem=dt * field("r"))
    model = {"LIF": "lif", "CubaLIF": "cuba_lif", "IF": "if", "LI": "li", "CubaLI": "cuba_li"}[kind]
    if kind in ("LIF", "CubaLIF", "IF"):
        values.update(threshold=field("v_threshold"), v_reset=field("v_reset", 0.0),
                      reset=reset or "value", reset_delayed=reset_delayed)
        if reset == "subtract":
            values.pop("v_reset")
    size = max(np.size(v) for v in values.values() if isinstance(v, np.ndarray))
    if size == 1 and fed:
        size = max(fed)
    values = {k: (v if not isinstance(v, np.ndarray) or v.size != 1 else float(v[0])) for k, v in values.items()}
    try:
        return population(name, int(size), model, **values)
    except NetworkError as error:
        raise NIRError(f"node {name!r}: {error}") from None


def _input_size(name: str, node: Any, following: dict, nodes: dict, kinds: dict) -> int:
    """The number of input channels: the Input node's declared shape, else what its first weight takes."""
    shape = (getattr(node, "input_type", None) or {}).get("input")
    if shape is not None and np.size(shape) >= 1:
        size = int(np.prod(np.asarray(shape).reshape(-1)))
        if size < 1 or np.size(shape) > 1:
            raise NIRError(f"node {name!r}: input of shape {list(np.asarray(shape).reshape(-1))}; pe-actors takes "
                           "one dimension of channels")
        return size
    for target in following[name]:
        if kinds[target] in ("Affine", "Linear"):
            return int(np.asarray(nodes[target].weight).shape[1])
    raise NIRError(f"node {name!r}: the Input declares no shape and feeds no weight node")


def _paths(source: str, following: dict[str, list[str]], kinds: dict[str, str]) -> list[list[str]]:
    """Every path from ``source`` through weight and Delay nodes to a neuron or the Output."""
    found, stack = [], [[source]]
    while stack:
        path = stack.pop()
        for nxt in following[path[-1]]:
            if kinds[nxt] in (*_NEURONS, "Output"):
                found.append([*path, nxt])
            elif nxt in path:
                raise NIRError(f"node {nxt!r} closes a cycle without a neuron on it")
            elif kinds[nxt] == "Input":
                raise NIRError(f"node {path[-1]!r} feeds the Input {nxt!r}")
            else:
                stack.append([*path, nxt])
    return found


def _compose(path: list[str], nodes: dict, kinds: dict, size: int, dt: float)\
        -> tuple[np.ndarray, np.ndarray | None, int]:
    """The (n_source, n_target) weight, the bias onto the target and the delay in steps of one path."""
    weight, bias, delay = np.eye(size), None, 0
    for name in path[1:-1]:
        node, kind = nodes[name], kinds[name]
        if kind == "Delay":
            steps = np.unique(np.asarray(node.delay, np.float64)) / dt
            if steps.size != 1 or not np.isclose(steps[0], 1.0):
                raise NIRError(f"node {name!r}: a Delay of {np.asarray(node.delay).tolist()} s; pe-actors takes a "
                               f"delay of one step (dt = {dt:g} s) for all its values")
            delay += 1
            continue
        if kind == "Scale":
            matrix = np.diag(real_values(name, "scale", node.scale))
        else:
            matrix = real_values(name, "weight", node.weight)
        if matrix.ndim != 2:
            raise NIRError(f"node {name!r}: weight of shape {matrix.shape}; pe-actors takes dense 2-D weights")
        if matrix.shape[1] != weight.shape[1]:
            raise NIRError(f"node {name!r}: takes {matrix.shape[1]} values, but receives {weight.shape[1]}")
        weight = weight @ matrix.T
        bias = None if bias is None else matrix @ bias
        if kind == "Affine" and node.bias is not None:
            extra = real_values(name, "bias", node.bias).reshape(-1)
            if extra.shape != (matrix.shape[0],):
                raise NIRError(f"node {name!r}: bias of shape {extra.shape}; its weight has {matrix.shape[0]} rows")
            bias = extra if bias is None else bias + extra
    if delay > 1:
        raise NIRError(f"the path {' -> '.join(path)} delays by {delay} steps; pe-actors takes one")
    return weight, bias, delay


def _cycle_edges(start: str, edges: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """The edges that close a cycle in a depth-first walk from ``start`` (then from every node not yet reached)."""
    following: dict[str, list[str]] = {}
    for source, target in edges:
        following.setdefault(source, []).append(target)
    state: dict[str, int] = {}
    closing = set()
    roots = [start, *sorted({s for s, _ in edges})]
    for root in roots:
        if root in state:
            continue
        stack = [(root, iter(following.get(root, [])))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                closing.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(following.get(child, []))))
    return closing


def _with_bias(pop: Any, bias: np.ndarray | None) -> Any:
    if bias is None:
        return pop
    values = pop.to_dict()
    values["bias"] = bias.tolist()
    try:
        return type(pop).from_dict(values)
    except NetworkError as error:
        raise NIRError(f"node {pop.name!r}: {error}") from None


def _readout(populations: tuple, outputs: list[str]) -> str:
    """Spiking outputs are scored by their spike count, leaky integrators by their mean voltage."""
    spiking = {p.spiking for p in populations if p.name in outputs}
    return "spike_count" if spiking == {True} else "mean_v"


def network_to_nir(network: Network, params: Mapping[str, np.ndarray], metadata: dict[str, str] | None = None,
                   approximate: bool = False) -> Any:
    """The NIR graph of a network graph at its step ``network.dt_s`` (see the module docstring): a node per
    population named as the population, an Affine (the target's bias on its first connection) or Linear per
    connection named as the connection, a one-step Delay on a connection of delay 1 that closes no cycle. Exact
    under the Euler reading; ALIF neurons and resets by subtraction have no NIR field and are refused unless
    ``approximate`` (then written as LIF at the baseline threshold, resetting to v_reset = 0)."""
    nir = nir_module()
    dt = network.dt_s
    params = network.check_params(params)
    nodes: dict[str, Any] = {network.input: nir.Input(input_type={"input": np.array([network.n_in])})}
    for pop in network.populations:
        nodes[pop.name] = _node(nir, pop, dt, approximate)
    edges: list[tuple[str, str]] = []
    cycles = _cycle_edges(network.input, [(c.source, c.target) for c in network.connections])
    biased = set()
    for connection in network.connections:
        if connection.delay > 1:
            raise NIRError(f"connection {connection.name!r}: a delay of {connection.delay} steps; NIR export writes "
                           "one-step delays")
        weight = np.asarray(params[connection.key], np.float64).T
        target = network.population(connection.target)
        if target.bias is not None and target.name not in biased:
            nodes[connection.name] = nir.Affine(weight=weight, bias=np.array(target.bias, np.float64))
            biased.add(target.name)
        else:
            nodes[connection.name] = nir.Linear(weight=weight)
        edges.append((connection.source, connection.name))
        last = connection.name
        if connection.delay == 1 and (connection.source, connection.target) not in cycles:
            nodes[f"{connection.name}.delay"] = nir.Delay(delay=np.full(weight.shape[0], dt))
            edges.append((connection.name, f"{connection.name}.delay"))
            last = f"{connection.name}.delay"
        elif connection.delay == 0 and (connection.source, connection.target) in cycles:
            raise NIRError(f"connection {connection.name!r} closes a cycle with delay 0")
        edges.append((last, connection.target))
    nodes["output"] = nir.Output(output_type={"output": np.array([network.n_out])})
    if len(network.outputs) != 1:
        raise NIRError(f"NIR graphs have one Output node; the network has the outputs {list(network.outputs)}")
    edges.append((network.outputs[0], "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata or {})


def _node(nir: Any, pop: Any, dt: float, approximate: bool) -> Any:
    """The NIR node of a population under the Euler reading at ``dt``."""
    b = pop.decay_mem
    if pop.kind.adaptive and not approximate and np.any(pop.beta != 0):
        raise NIRError(f"population {pop.name!r}: ALIF neurons have no NIR primitive (no adaptive threshold); "
                       "export with approximate=True to write them as LIF at their baseline threshold")
    if pop.spiking and pop.reset == "subtract" and not approximate:
        raise NIRError(f"population {pop.name!r}: resets by subtracting its threshold, which NIR has no field for "
                       "(its LIF resets to v_reset); export with approximate=True to write reset to 0")
    n = pop.size
    if np.all(b == 1.0):
        if pop.spiking and not pop.kind.synapse and np.all(pop.v_leak == 0):
            return nir.IF(r=pop.gain_mem / dt, v_threshold=np.array(pop.threshold),
                          v_reset=np.array(pop.v_reset if pop.reset == "value" else np.zeros(n)))
        raise NIRError(f"population {pop.name!r}: a membrane without leak is written only as an IF neuron")
    tau = dt / (1.0 - b)
    r = pop.gain_mem / (1.0 - b)
    if pop.kind.synapse:
        if np.any(pop.decay_syn >= 1.0):
            raise NIRError(f"population {pop.name!r}: a synaptic current without decay has no NIR form")
        tau_syn = dt / (1.0 - pop.decay_syn)
        w_in = pop.gain_syn / (1.0 - pop.decay_syn)
        if not pop.spiking:
            return nir.CubaLI(tau_syn=tau_syn, tau_mem=tau, r=r, v_leak=np.array(pop.v_leak), w_in=w_in)
        return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau, r=r, v_leak=np.array(pop.v_leak),
                           v_threshold=np.array(pop.threshold), w_in=w_in,
                           v_reset=np.array(pop.v_reset if pop.reset == "value" else np.zeros(n)))
    if not pop.spiking:
        return nir.LI(tau=tau, r=r, v_leak=np.array(pop.v_leak))
    return nir.LIF(tau=tau, r=r, v_leak=np.array(pop.v_leak), v_threshold=np.array(pop.threshold),
                   v_reset=np.array(pop.v_reset if pop.reset == "value" else np.zeros(n)))
