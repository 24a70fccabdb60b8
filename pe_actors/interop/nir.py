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

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import ModelRecord, load_checkpoint, resolve_checkpoint, save_checkpoint
from pe_actors.core.engine import weights_only
from pe_actors.core.nirgraph import METADATA_KEY, NIRError, nir_module, read_metadata
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.rules import Rule, rule, rule_names

__all__ = ["METADATA_KEY", "ImportedNetwork", "NIRError", "from_nir", "to_nir", "write_nir"]


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

        return make(self.rule, backend or rule(self.rule).offchip, self.network, self.params, optimiser, **options)

    def save(self, path: Path | str, class_names: list[str] | None = None) -> Path:
        """Write the network as a checkpoint directory ``path/checkpoints/ckpt-imported`` and return it."""
        engine = self.engine()
        names = class_names or [str(k) for k in range(self.network.n_out)]
        record = ModelRecord(rule=self.rule, network=self.network.to_dict(), class_names=names,
                             imported_from_nir=self.metadata)
        return save_checkpoint(Path(path) / "checkpoints", "imported", engine.state(), {}, record.to_meta())


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
    rule_name, network, params, extra = _unpack(model)
    if dt is not None and not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise NIRError(f"dt must be a positive number of seconds, got {dt!r}")
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


def from_nir(graph: Any, dt: float | None = None, n_steps: int | None = None, t_code_ms: float | None = None)\
        -> ImportedNetwork:
    """The network of a NIR graph (or of a ``.nir`` file): a chain of Linear (or bias-free Affine) and CubaLIF
    nodes becomes an EventProp network; a graph pe-actors wrote keeps its network from its metadata.

    ``dt`` (seconds) is the step the graph is read at (see the module docstring); default the one its metadata
    records (snnTorch's files record none: they are written for 1e-4 s). ``n_steps`` is T (default: the metadata's,
    else the trial of 30 ms); ``t_code_ms`` the latency code's latest spike. An unsupported node, shape or
    parameter is an :class:`NIRError` naming the node.
    """
    nir = nir_module()
    if isinstance(graph, (str, Path)):
        path = Path(graph)
        try:
            graph = nir.read(path)
        except (OSError, KeyError, ValueError) as error:
            raise NIRError(f"{path}: not a readable NIR file ({error})") from None
    recorded = read_metadata(graph)
    dt = dt if dt is not None else recorded.get("dt_s")
    if dt is None:
        raise NIRError("the graph records no time step; give dt= in seconds (snnTorch writes its graphs for 1e-4)")
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise NIRError(f"dt must be a positive number of seconds, got {dt!r}")
    spec = rule(recorded["rule"]) if "rule" in recorded else foreign_rule()
    network, params = form_of(spec).from_graph(graph, float(dt), recorded, n_steps, t_code_ms)
    imported = ImportedNetwork(spec.name, network, params, recorded)
    if recorded.get("dtype") in ("float32", "float64"):
        # The weights travel as float64; a network pe-actors wrote comes back in the dtype it was trained in.
        dtype = np.dtype(recorded["dtype"])
        imported = ImportedNetwork(imported.rule, imported.network,
                                   {k: v.astype(dtype) for k, v in imported.params.items()}, recorded)
    return imported




def foreign_rule() -> Rule:
    """The rule whose networks graphs of other origins import as (EventProp: chains of CubaLIF layers)."""
    for name in rule_names():
        if rule(name).nir is not None and rule(name).nir.resolve().foreign:
            return rule(name)
    raise NIRError("no rule imports graphs pe-actors did not write")
