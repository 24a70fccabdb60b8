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
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import ModelRecord, load_checkpoint, resolve_checkpoint, save_checkpoint
from pe_actors.core.engine import weights_only
from pe_actors.core.nirgraph import MAX_STEPS, METADATA_KEY, NIRError, nir_module, read_metadata, read_nir_file
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.interop.graphs import network_from_nir, network_to_nir
from pe_actors.networks import Network, is_graph
from pe_actors.rules import Rule, rule, rule_names

__all__ = ["METADATA_KEY", "ImportedNetwork", "NIRError", "from_nir", "to_nir", "write_nir"]


@dataclass(frozen=True)
class ImportedNetwork:
    """A network read from NIR: its ``rule`` (None for a network graph, :class:`pe_actors.networks.Network`), its
    description ``network`` and its weights ``params``.

    ``engine(backend, **options)`` places a rule's network on any of the rule's engines
    (``pe_actors.engines.make``); ``save(path)`` writes it as a checkpoint that ``pe-actors evaluate``,
    ``pe-actors adapt`` and ``pe_actors.load`` read. :func:`pe_actors.simulate` runs either kind.
    """

    rule: str | None
    network: Any
    params: dict[str, np.ndarray]
    metadata: dict[str, Any] = field(default_factory=dict)

    def engine(self, backend: str | None = None, optimiser: OptimiserConfig | None = None, **options: Any) -> Any:
        """The network on ``backend`` (default: the rule's off-chip engine) with these weights."""
        from pe_actors.engines.registry import make

        self._require_rule("run on an engine")

        spec = rule(self.rule)
        backend = backend or spec.default_backend(self.network)
        if backend == spec.default_backend(self.network) and spec.graph is not None \
                and isinstance(self.network, spec.graph.resolve()):
            options.setdefault("pes", 1)  # a graph's smallest hidden population bounds P
        return make(self.rule, backend, self.network, self.params, optimiser, **options)

    def save(self, path: Path | str, class_names: list[str] | None = None) -> Path:
        """Write the network as a checkpoint directory ``path/checkpoints/ckpt-imported`` and return it."""
        self._require_rule("be saved as a checkpoint")
        engine = self.engine()
        names = class_names or [str(k) for k in range(self.network.n_out)]
        record = ModelRecord(rule=self.rule, network=self.network.to_dict(), class_names=names,
                             imported_from_nir=self.metadata)
        return save_checkpoint(Path(path) / "checkpoints", "imported", engine.state(), {}, record.to_meta())


    def _require_rule(self, what: str) -> None:
        if self.rule is None:
            raise NIRError(f"a network graph imported from NIR cannot {what} yet: pe_actors.simulate runs it; "
                           "from_nir(..., rule='eventprop') reads a chain of CubaLIF layers as an EventProp network")


def form_of(spec: Rule) -> Any:
    """The rule's NIR form; an NIRError when its networks have none."""
    if spec.nir is None:
        raise NIRError(f"the {spec.name} rule's networks have no NIR form")
    return spec.nir.resolve()


def to_nir(model: Any, dt: float | None = None, approximate: bool = False) -> Any:
    """The NIR graph of a trained network: ``model`` is a :class:`pe_actors.api.Model`, a run or checkpoint
    directory, or an :class:`ImportedNetwork`.

    ``dt`` (seconds) is the step the graph is written for (see the module docstring); default the network's own
    (EventProp: its dt; e-prop: the feature hop its checkpoint records, else 10 ms). snnTorch reads every graph at
    its own fixed step of 0.1 ms: write ``dt=1e-4`` for it. A network whose neurons NIR has no primitive for (e-prop's
    ALIF) needs ``approximate=True``.
    """
    if dt is not None and not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise NIRError(f"dt must be a positive number of seconds, got {dt!r}")
    if isinstance(model, ImportedNetwork) and model.rule is None:
        return graph_to_nir(model.network, model.params, dt, approximate)
    rule_name, network, params, extra = _unpack(model)
    if isinstance(getattr(network, "network", None), Network):  # a network graph the rule compiled
        return graph_to_nir(network, params, dt, approximate, rule_name)
    form = form_of(rule(rule_name))
    return form.to_graph(network, params, dt or form.default_dt_s(network, extra), extra, approximate)


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
    if checkpoint_synapses(meta).devices:
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


def graph_to_nir(network: Any, params: dict[str, np.ndarray], dt: float | None = None,
                 approximate: bool = False, rule_name: str | None = None) -> Any:
    """The NIR graph of a network graph (or of a rule's compiled graph, with what the rule adds, EventProp's loss)
    with weights ``params``, for step ``dt`` (default the network's own), trained by ``rule_name`` (None: none
    yet); its description travels in the metadata, so that :func:`from_nir` gives it back whole."""
    description = network.to_dict()
    graph = getattr(network, "network", network)
    if dt is not None and dt != graph.dt_s:
        graph = Network.from_dict(graph.to_dict() | {"dt_s": float(dt)})
        description["dt_s"] = graph.dt_s
    network = graph
    record = {"format": 1, "network": description, "dt_s": network.dt_s, "n_steps": network.n_steps,
              "discretisation": "forward Euler at dt_s; input spikes are counts per step"}
    if rule_name is not None:
        record["rule"] = rule_name
    return network_to_nir(network, params, {METADATA_KEY: json.dumps(record)}, approximate)


def write_nir(graph: Any, path: Path | str) -> Path:
    """Write ``graph`` to ``path`` (HDF5, as ``nir.write`` does) and return the path; written beside it first and
    renamed into place, so that a failed write (a full disk) leaves a previous file as it was."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        nir_module().write(temporary, graph)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def from_nir(graph: Any, dt: float | None = None, n_steps: int | None = None, t_code_ms: float | None = None,
             rule: str | None = None, reset: str | None = None, reset_delayed: bool = False) -> ImportedNetwork:
    """The network of a NIR graph (or of a ``.nir`` file).

    A graph pe-actors wrote comes back as the network it was written from (its rule's, or a network graph). Any
    other graph imports as a network graph (:class:`pe_actors.networks.Network`, node by node as docs/networks.md
    maps them), which :func:`pe_actors.simulate` runs; ``rule="eventprop"`` instead reads a chain of Linear (or
    bias-free Affine) and CubaLIF nodes as an EventProp network (with its one step of delay per layer).

    ``dt`` (seconds) is the step the graph is read at; default the one its metadata records (snnTorch's and the NIR
    paper's files record none: they are written for 1e-4 s). ``n_steps`` is T (default: the metadata's, else 100
    steps, or EventProp's trial of 30 ms); ``t_code_ms`` EventProp's latency code's latest spike. ``reset`` and
    ``reset_delayed`` say how spiking nodes reset where their fields cannot (see
    :func:`pe_actors.interop.graphs.network_from_nir`). An unsupported node, shape or parameter is an
    :class:`NIRError` naming the node.
    """
    if isinstance(graph, (str, Path)):
        graph = read_nir_file(Path(graph))
    recorded = read_metadata(graph)
    dt = dt if dt is not None else recorded.get("dt_s")
    if dt is None:
        raise NIRError("the graph records no time step; give dt= in seconds (snnTorch writes its graphs for 1e-4)")
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise NIRError(f"dt must be a positive number of seconds, got {dt!r}")
    if n_steps is not None and not (isinstance(n_steps, int) and 1 <= n_steps <= MAX_STEPS):
        raise NIRError(f"n_steps must be an integer from 1 to {MAX_STEPS:,}, got {n_steps!r}")
    written = is_graph(recorded.get("network")) and recorded["network"].get("dt_s") == dt
    if (rule is None and "rule" not in recorded) or written:
        steps = n_steps or recorded.get("n_steps") or 100
        # A network graph pe-actors wrote has its whole description in the metadata (ALIF, resets by subtraction
        # and the readout included), which replaces the nodes' reading where the weights agree with it.
        network, params = network_from_nir(graph, float(dt), int(steps), "value" if written else reset,
                                           reset_delayed and not written)
        if written:
            own = Network.from_dict(recorded["network"])
            if own.weight_shapes() == network.weight_shapes():
                network = own if n_steps is None else own.with_steps(n_steps)
        if "rule" not in recorded:
            return ImportedNetwork(None, network, params, recorded)
        try:
            spec = rule_of_graph(None, recorded)
            compiled = spec.network_from_dict(recorded["network"]) if written else spec.compile(network)
            if n_steps is not None and written:
                compiled = type(compiled).from_dict(compiled.to_dict() | {"n_steps": n_steps})
            return ImportedNetwork(recorded["rule"], compiled, params, recorded)
        except ValueError as error:
            raise NIRError(f"the graph records the {recorded['rule']} rule, which cannot train it: {error}") from None
    spec = rule_of_graph(rule, recorded)
    network, params = form_of(spec).from_graph(graph, float(dt), recorded, n_steps, t_code_ms)
    imported = ImportedNetwork(spec.name, network, params, recorded)
    if recorded.get("dtype") in ("float32", "float64"):
        # The weights travel as float64; a network pe-actors wrote comes back in the dtype it was trained in.
        dtype = np.dtype(recorded["dtype"])
        imported = ImportedNetwork(imported.rule, imported.network,
                                   {k: v.astype(dtype) for k, v in imported.params.items()}, recorded)
    return imported


def rule_of_graph(name: str | None, recorded: dict[str, Any]) -> Rule:
    """The rule a graph imports as: the one its metadata records, else ``name``, whose NIR form must read graphs
    of other origins."""
    if name is None:
        return rule(recorded["rule"])
    spec = rule(name)
    if spec.nir is None or not spec.nir.resolve().foreign:
        readers = [n for n in rule_names() if rule(n).nir is not None and rule(n).nir.resolve().foreign]
        raise NIRError(f"the {name} rule does not read graphs pe-actors did not write; the rules that do: {readers}")
    return spec
