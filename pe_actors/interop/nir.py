"""Networks in and out through NIR, the Neuromorphic Intermediate Representation (docs/interop.md).

NIR describes neurons in continuous time; a simulator reads a graph at a time step of its own. pe-actors writes and
reads a graph as the **forward-Euler discretisation at step dt** that snnTorch and NIR's reference use, with input
spikes entering as counts per step:

    CubaLIF:  I[t] = (1 - dt/tau_syn) I[t-1] + (dt/tau_syn) w_in x[t]
              V[t] = (1 - dt/tau_mem) V[t-1] + (dt/tau_mem) r I[t],  spike where V > v_threshold, V = v_reset
    LIF:      V[t] = (1 - dt/tau) V[t-1] + (dt/tau) r x[t]
    LI:       V[t] = (1 - dt/tau) V[t-1] + (dt/tau) r x[t]

An EventProp layer (docs/eventprop.md) is exactly such a CubaLIF with 1 - dt/tau_syn = a, 1 - dt/tau_mem = b,
r = tau_mem/dt and w_in = (1 - b) tau_syn/dt, threshold theta and reset to 0; a graph exported at dt and read at
the same dt gives the same spikes. pe-actors delays each layer by one step (a spike at step i reaches the next
layer at i + 1); snnTorch does not, so layer l of pe-actors spikes l steps later than snnTorch's.

E-prop's ALIF neurons have no NIR primitive: NIR's LIF has no adaptive threshold and resets to a value, where
ALIF resets by subtracting its threshold. Its export is refused unless ``approximate=True``, which writes the
recurrent layer as a LIF cycle at the baseline threshold with reset to zero and the readout as a leaky integrator;
the exact network (adaptation, reset, the mean over T of the readout) is kept in the graph's metadata, from which
pe-actors restores it.

What NIR has no field for (the time step, T, the input code, the PE partition) is kept in the graph's metadata
under ``pe_actors``, as JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from pe_actors.core.engine import weights_only
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eventprop.config import EventPropConfig

#: The metadata key of the graph that holds what NIR has no field for.
METADATA_KEY = "pe_actors"
#: The NIR step of an e-prop network when its checkpoint records no feature hop: the stand-in's 10 ms frames.
EPROP_DT_S = 0.01


class NIRError(ValueError):
    """A graph, node or shape pe-actors cannot represent; the message names it."""


@dataclass(frozen=True)
class ImportedNetwork:
    """A network read from NIR: its ``rule``, its description ``network`` and its weights ``params``.

    ``engine(backend, **options)`` places it on any of the rule's engines (``pe_actors.engines.make``);
    ``save(path)`` writes it as a checkpoint that ``pe-actors evaluate``, ``pe-actors adapt`` and
    ``pe_actors.load`` read.
    """

    rule: str
    network: Any
    params: dict[str, np.ndarray]
    metadata: dict[str, Any] = field(default_factory=dict)

    def engine(self, backend: str | None = None, optimiser: OptimiserConfig | None = None, **options: Any) -> Any:
        """The network on ``backend`` (default: the rule's off-chip engine) with these weights."""
        from pe_actors.engines.registry import make
        from pe_actors.rules import rule

        return make(self.rule, backend or rule(self.rule).offchip, self.network, self.params, optimiser, **options)

    def save(self, path: Path | str, class_names: list[str] | None = None) -> Path:
        """Write the network as a checkpoint directory ``path/checkpoints/ckpt-imported`` and return it."""
        engine = self.engine()
        names = class_names or [str(k) for k in range(self.network.n_out)]
        meta = {"rule": self.rule, "network": self.network.to_dict(), "optimiser": {}, "class_names": names,
                "synthetic": False, "imported_from_nir": self.metadata}
        return save_checkpoint(Path(path) / "checkpoints", "imported", engine.state(), {}, meta)


def _nir() -> Any:
    try:
        import nir
    except ImportError:  # pragma: no cover - nir is an install requirement
        raise ImportError("NIR export and import need the package nir (pip install nir)") from None
    return nir


def to_nir(model: Any, dt: float | None = None, approximate: bool = False) -> Any:
    """The NIR graph of a trained network: ``model`` is a :class:`pe_actors.api.Model`, a run or checkpoint
    directory, or an :class:`ImportedNetwork`.

    ``dt`` (seconds) is the step the graph is written for (see the module docstring); default the network's own
    (EventProp: its dt; e-prop: the feature hop its checkpoint records, else 10 ms). snnTorch reads every graph at
    its own fixed step of 0.1 ms: write ``dt=1e-4`` for it. An e-prop network needs ``approximate=True``.
    """
    rule, network, params, extra = _unpack(model)
    if dt is not None and not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise NIRError(f"dt must be a positive number of seconds, got {dt!r}")
    if rule == "eventprop":
        return _eventprop_graph(network, params, dt or network.dt / 1000.0, extra)
    if not approximate:
        raise NIRError(
            "the e-prop network's ALIF neurons have no NIR primitive: NIR's LIF has no adaptive threshold "
            f"(beta {network.beta:g}, tau_a {network.tau_a:g} steps) and resets to a value where ALIF subtracts its "
            "threshold; export with approximate=True (pe-actors export --approximate) to write them as LIF "
            "neurons at the baseline threshold b0 with reset to zero (the exact network stays in the metadata)"
        )
    return _eprop_graph(network, params, dt or extra.get("dt_s") or EPROP_DT_S, extra)


def _unpack(model: Any) -> tuple[str, Any, dict[str, np.ndarray], dict[str, Any]]:
    """(rule, network, weights, what the checkpoint records besides) of whatever ``to_nir`` was given."""
    if isinstance(model, ImportedNetwork):
        return model.rule, model.network, model.params, {"dtype": str(next(iter(model.params.values())).dtype)}
    checkpoint = getattr(model, "checkpoint", None)
    if checkpoint is None:
        checkpoint = load_checkpoint(resolve_checkpoint(model, prefer="best"))
    meta = checkpoint.meta
    from pe_actors.engines.registry import checkpoint_network, checkpoint_synapses

    spec, network = checkpoint_network(meta, f"checkpoint {checkpoint.path}")
    if checkpoint_synapses(meta).kind != "digital":
        raise NIRError(f"checkpoint {checkpoint.path} holds device synapses; NIR holds float weights only")
    weights = weights_only(checkpoint.engine_state)
    extra: dict[str, Any] = {"source": str(checkpoint.path), "dtype": str(next(iter(weights.values())).dtype)}
    recorded = meta.get("run_config") or {}
    if "pes" in recorded:
        extra["pes"] = recorded["pes"]
    features = (meta.get("data_metadata") or {}).get("feature_params") or {}
    if features.get("hop_length") and features.get("sample_rate"):
        extra["dt_s"] = features["hop_length"] / features["sample_rate"]
    return spec.name, network, weights, extra


def _metadata(rule: str, network: Any, dt: float, extra: dict[str, Any], **more: Any) -> dict[str, str]:
    record = {"format": 1, "rule": rule, "network": network.to_dict(), "dt_s": dt,
              "discretisation": "forward Euler at dt_s; input spikes are counts per step", **extra, **more}
    return {METADATA_KEY: json.dumps(record, default=str)}


def _eventprop_graph(network: EventPropConfig, params: dict[str, np.ndarray], dt: float, extra: dict) -> Any:
    nir = _nir()
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
    metadata = _metadata("eventprop", network, dt, extra, n_steps=network.n_steps, t_code_ms=network.t_code,
                         input_code=code, delay="one step per layer", tau_syn_ms=network.tau_syn,
                         tau_mem_ms=network.tau_mem)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _eprop_graph(network: NetworkConfig, params: dict[str, np.ndarray], dt: float, extra: dict) -> Any:
    nir = _nir()
    n, tau_rec, tau_out = network.n_rec, dt / (1.0 - network.alpha), dt / (1.0 - network.kappa)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([network.n_in])}),
        "w_in": nir.Linear(weight=np.asarray(params["w_in"], np.float64).T),
        "rec": nir.LIF(tau=np.full(n, tau_rec), r=np.ones(n), v_leak=np.zeros(n),
                       v_threshold=np.full(n, float(network.b0)), v_reset=np.zeros(n)),
        "w_rec": nir.Linear(weight=np.asarray(params["w_rec"], np.float64).T),
        "w_out": nir.Linear(weight=np.asarray(params["w_out"], np.float64).T),
        "readout": nir.LI(tau=np.full(network.n_out, tau_out), r=np.full(network.n_out, tau_out / dt),
                          v_leak=np.zeros(network.n_out)),
        "output": nir.Output(output_type={"output": np.array([network.n_out])}),
    }
    edges = [("input", "w_in"), ("w_in", "rec"), ("rec", "w_rec"), ("w_rec", "rec"), ("rec", "w_out"),
             ("w_out", "readout"), ("readout", "output")]
    approximation = (f"ALIF written as LIF at the baseline threshold b0 = {network.b0:g}: the adaptation (beta "
                     f"{network.beta:g}, tau_a {network.tau_a:g} steps) and the reset by subtraction are not in the "
                     "nodes; the class scores are the readout's mean over T steps")
    metadata = _metadata("eprop", network, dt, extra, n_steps=network.n_steps, approximation=approximation)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def write_nir(graph: Any, path: Path | str) -> Path:
    """Write ``graph`` to ``path`` (HDF5, as ``nir.write`` does) and return the path."""
    _nir().write(Path(path), graph)
    return Path(path)


def from_nir(graph: Any, dt: float | None = None, n_steps: int | None = None, t_code_ms: float | None = None)\
        -> ImportedNetwork:
    """The network of a NIR graph (or of a ``.nir`` file): a chain of Linear (or bias-free Affine) and CubaLIF
    nodes becomes an EventProp network; a graph pe-actors wrote keeps its network from its metadata.

    ``dt`` (seconds) is the step the graph is read at (see the module docstring); default the one its metadata
    records (snnTorch's files record none: they are written for 1e-4 s). ``n_steps`` is T (default: the metadata's,
    else the trial of 30 ms); ``t_code_ms`` the latency code's latest spike. An unsupported node, shape or
    parameter is an :class:`NIRError` naming the node.
    """
    nir = _nir()
    if isinstance(graph, (str, Path)):
        path = Path(graph)
        try:
            graph = nir.read(path)
        except (OSError, KeyError, ValueError) as error:
            raise NIRError(f"{path}: not a readable NIR file ({error})") from None
    recorded = _read_metadata(graph)
    dt = dt if dt is not None else recorded.get("dt_s")
    if dt is None:
        raise NIRError("the graph records no time step; give dt= in seconds (snnTorch writes its graphs for 1e-4)")
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise NIRError(f"dt must be a positive number of seconds, got {dt!r}")
    if recorded.get("rule") == "eprop":
        imported = _eprop_network(graph, recorded)
    else:
        imported = _eventprop_network(graph, float(dt), recorded, n_steps, t_code_ms)
    if recorded.get("dtype") in ("float32", "float64"):
        # The weights travel as float64; a network pe-actors wrote comes back in the dtype it was trained in.
        dtype = np.dtype(recorded["dtype"])
        imported = ImportedNetwork(imported.rule, imported.network,
                                   {k: v.astype(dtype) for k, v in imported.params.items()}, recorded)
    return imported


def _read_metadata(graph: Any) -> dict[str, Any]:
    text = (getattr(graph, "metadata", None) or {}).get(METADATA_KEY)
    if text is None:
        return {}
    try:
        return json.loads(str(text))
    except json.JSONDecodeError as error:
        raise NIRError(f"the graph's {METADATA_KEY} metadata is not JSON: {error}") from None


def _chain(graph: Any) -> list[str]:
    """The node names from the input to the output of a graph that is one chain; NIRError otherwise."""
    inputs = [name for name, node in graph.nodes.items() if type(node).__name__ == "Input"]
    if len(inputs) != 1:
        raise NIRError(f"the graph needs exactly one Input node, it has {inputs}")
    following: dict[str, list[str]] = {}
    for source, target in graph.edges:
        following.setdefault(source, []).append(target)
    chain, name = [inputs[0]], inputs[0]
    while type(graph.nodes[name]).__name__ != "Output":
        nexts = following.get(name, [])
        if len(nexts) != 1:
            raise NIRError(f"node {name!r} feeds {nexts}: pe-actors imports feed-forward chains of layers")
        name = nexts[0]
        if name in chain:
            raise NIRError(f"node {name!r} closes a cycle: recurrent graphs import only when pe-actors wrote them")
        chain.append(name)
    return chain


def _uniform(node_name: str, node: Any, field_name: str) -> float:
    values = np.unique(np.asarray(getattr(node, field_name), np.float64))
    if values.size != 1:
        raise NIRError(f"node {node_name!r}: {field_name} differs between neurons ({values[:4]}...); pe-actors "
                       "layers share one value")
    return float(values[0])


def _eventprop_network(graph: Any, dt: float, recorded: dict, n_steps: int | None, t_code_ms: float | None)\
        -> ImportedNetwork:
    chain = _chain(graph)
    sizes, weights, neurons = [], [], []
    pending = None
    for name in chain[1:-1]:
        node = graph.nodes[name]
        kind = type(node).__name__
        if kind in ("Linear", "Affine"):
            if pending is not None:
                raise NIRError(f"node {name!r}: two weight layers in a row; pe-actors needs a neuron layer between")
            if kind == "Affine" and np.any(np.asarray(node.bias) != 0):
                raise NIRError(f"node {name!r}: an Affine with a non-zero bias; pe-actors' layers have no bias")
            weight = np.asarray(node.weight, np.float64)
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
        values = {f: _uniform(name, node, f) for f in ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "w_in")}
        v_reset = _uniform(name, node, "v_reset") if node.v_reset is not None else 0.0
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
    return ImportedNetwork("eventprop", network, params, recorded)


def _eprop_network(graph: Any, recorded: dict) -> ImportedNetwork:
    try:
        network = NetworkConfig.from_dict(recorded["network"])
        params = {key: np.asarray(graph.nodes[key].weight, np.float64).T for key in ("w_in", "w_rec", "w_out")}
    except (KeyError, TypeError, ValueError) as error:
        raise NIRError(f"the graph's e-prop network cannot be restored from its metadata and nodes: {error}") from None
    expected = {"w_in": (network.n_in, network.n_rec), "w_rec": (network.n_rec, network.n_rec),
                "w_out": (network.n_rec, network.n_out)}
    for key, shape in expected.items():
        if params[key].shape != shape:
            raise NIRError(f"node {key!r}: weight of shape {params[key].T.shape}, the network needs {shape[::-1]}")
    return ImportedNetwork("eprop", network, params, recorded)
