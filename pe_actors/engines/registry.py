"""The engine registry: the one way to build "the engine for rule R on backend B" (docs/runtime.md, "Engines").

Each rule declares its backends beside its numerics (:class:`pe_actors.rules.Rule`): its own off-chip engines
(e-prop's replay and BPTT reference, EventProp's vectorised engine) and the two that host its PE program, the
in-process group and the PE actors. :func:`make` builds one from a network description, weights and optimiser
settings; :func:`from_checkpoint` builds one holding a checkpoint's state. :func:`table` lists them all.

>>> [(row["rule"], row["backend"]) for row in table()][:4]
[('eprop', 'inprocess'), ('eprop', 'actors'), ('eprop', 'replay'), ('eprop', 'bptt')]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import Checkpoint, ModelRecord, load_checkpoint, resolve_checkpoint
from pe_actors.core.engine import Engine, weights_only
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.state import check_weight_shapes
from pe_actors.rules import PE_BACKENDS, Rule, rule, rule_names
from pe_actors.synapses import DIGITAL, SynapseConfig

#: Options every backend takes: where the network runs, which never changes results beyond float rounding. The
#: off-chip engines hold the whole network in one process and ignore them; the in-process group runs the
#: sub-batches of a mini-batch one after the other, standing in for the G groups.
PLACEMENT = {"pes": 12, "groups": 1, "sub_batch": 32}


def make(
    rule_name: str,
    backend: str,
    network: Any,
    params: dict[str, np.ndarray],
    optimiser: OptimiserConfig | None = None,
    **options: Any,
) -> Engine:
    """The engine of rule ``rule_name`` on ``backend`` holding ``network`` with initial weights ``params``.

    Args:
        rule_name: a registered rule (:func:`pe_actors.rules.rule_names`: ``eprop``, ``eventprop``, plug-ins).
        backend: one of the rule's backends (:func:`table`): ``inprocess`` and ``actors`` host its PE program;
            e-prop also runs on ``replay`` and ``bptt``, EventProp on ``offchip``.
        network: the rule's network description (e-prop ``NetworkConfig``, EventProp ``EventPropConfig``).
        params: initial weights ``w_*``; their dtype is the engine's.
        optimiser: ADAM/L2/schedule settings (default ``OptimiserConfig()``).
        options: the placement (``pes``, P; ``groups``, G; ``sub_batch``, k; defaults :data:`PLACEMENT`),
            ``synapses`` (a :class:`~pe_actors.synapses.SynapseConfig`, default digital; every backend takes it and
            refuses kinds it cannot hold) and what the backend takes besides (``kernel``, ``transport``,
            ``run_name``, ``address``, ``dashboard_port``, ...; :func:`table` lists them per backend).

    An unknown rule or backend is a ValueError listing the valid ones; an option the backend does not take, or a
    network of another rule, a TypeError naming it. Use the engine as a context manager (``with engine:``) to
    start and release what it holds (the PE actors, a Ray it started, the mailboxes).
    """
    spec = rule(rule_name)
    chosen = spec.backend(backend)
    network = spec.compile(network)
    if not isinstance(network, spec.network_types()):
        raise TypeError(
            f"the {spec.name} rule trains a {spec.network_type.resolve().__name__}, got a {type(network).__name__}"
        )
    if spec.graph is not None and isinstance(network, spec.graph.resolve()) and not chosen.graphs:
        graphs = [b.name for b in spec.backends if b.graphs]
        raise ValueError(f"the {spec.name} rule's {chosen.name} backend trains the rule's own networks; a network "
                         f"graph trains on {graphs}")
    synapses = options.pop("synapses", DIGITAL)
    if not isinstance(synapses, SynapseConfig):
        raise TypeError(f"synapses must be a SynapseConfig, got {type(synapses).__name__}")
    if not chosen.holds(synapses.kind):
        raise ValueError(
            f"the {spec.name} rule's {backend} backend holds {list(chosen.synapse_kinds())} synapses, not "
            f"{synapses.kind}"
        )
    if "synapses" in chosen.options:
        options["synapses"] = synapses
    unknown = sorted(set(options) - set(PLACEMENT) - chosen.options)
    if unknown:
        raise TypeError(
            f"the {spec.name} rule's {backend} backend takes no option {unknown[0]!r}; it takes "
            f"{sorted(set(PLACEMENT) | chosen.options | {'synapses'})}"
        )
    optimiser = optimiser or OptimiserConfig()
    placement = {name: options.pop(name, default) for name, default in PLACEMENT.items()}
    if chosen.build is not None:
        return chosen.build(network, params, optimiser, **options)
    if backend == "inprocess":
        from pe_actors.engines.inprocess import InProcessEngine

        return InProcessEngine(
            network, params, optimiser, n_pes=placement["pes"], sub_batch=placement["sub_batch"], **options
        )
    from pe_actors.runtime.cluster import loopback_only

    loopback_only(options.get("address"))  # before Ray is imported: a local Ray then binds to 127.0.0.1 only
    from pe_actors.engines.actors import ActorEngine

    return ActorEngine(
        network,
        params,
        optimiser,
        n_pes=placement["pes"],
        n_groups=placement["groups"],
        sub_batch=placement["sub_batch"],
        **options,
    )


def checkpoint_network(checkpoint_meta: dict[str, Any] | ModelRecord, where: str = "checkpoint") -> tuple[Rule, Any]:
    """The rule and network description a checkpoint records (its metadata or its :class:`ModelRecord`), by the
    rule's name or an alias (a BPTT checkpoint holds an e-prop network); a ValueError naming ``where`` otherwise."""
    try:
        record = checkpoint_meta if isinstance(checkpoint_meta, ModelRecord) else ModelRecord.from_meta(
            checkpoint_meta, where
        )
        spec = rule(record.rule)
        return spec, spec.network_from_dict(record.network)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{where} records no network of a known rule: {error}") from None


def from_checkpoint(
    path: Path | str,
    backend: str | None = None,
    optimiser: OptimiserConfig | None = None,
    prefer: str = "best",
    **options: Any,
) -> Engine:
    """The engine holding the state of a checkpoint (or of a run directory's ``prefer`` checkpoint: its
    best-validation one by default); see :func:`from_loaded`."""
    return from_loaded(load_checkpoint(resolve_checkpoint(path, prefer=prefer)), backend, optimiser, **options)


def from_loaded(
    checkpoint: Checkpoint, backend: str | None = None, optimiser: OptimiserConfig | None = None, **options: Any
) -> Engine:
    """The engine holding the state of an already loaded ``checkpoint``, on ``backend`` (default: the rule's fast
    off-chip engine, e-prop's replay, EventProp's vectorised engine), with the synapses the checkpoint records (its
    devices as they were left). ``optimiser`` defaults to the recorded learning-rate, L2 and decay settings;
    ``options`` as for :func:`make`."""
    where = f"checkpoint {checkpoint.path}"
    record = checkpoint.record
    spec, network = checkpoint_network(record, where)
    if optimiser is None:
        recorded = record.optimiser
        optimiser = OptimiserConfig(**{k: recorded[k] for k in ("lr", "l2", "lr_decay") if k in recorded})
    options.setdefault("synapses", checkpoint_synapses(record, where))
    backend = backend or spec.default_backend(network)
    if spec.graph is not None and isinstance(network, spec.graph.resolve()):
        options.setdefault("pes", 1)  # a graph's smallest hidden population bounds P
    return from_state(spec.name, backend, network, checkpoint.engine_state, optimiser, where, **options)


def from_state(
    rule_name: str,
    backend: str,
    network: Any,
    state: dict[str, np.ndarray],
    optimiser: OptimiserConfig | None = None,
    where: str = "state",
    **options: Any,
) -> Engine:
    """The engine of :func:`make` holding a full ``state`` (weights, and the optimiser moments and device state it
    holds); a state of another network size is a ValueError naming ``where``."""
    check_weight_shapes(state, rule(rule_name).weight_shapes(network), where)
    engine = make(rule_name, backend, network, weights_only(state), optimiser, **options)
    engine.load_state(state)
    return engine


def checkpoint_synapses(meta: dict[str, Any] | ModelRecord, where: str = "checkpoint") -> SynapseConfig:
    """The synapses a checkpoint records (its metadata or its :class:`ModelRecord`; digital when it records
    none); malformed settings are a ValueError naming ``where``."""
    recorded = meta.synapses if isinstance(meta, ModelRecord) else meta.get("synapses")
    if recorded is None:
        return DIGITAL
    try:
        return SynapseConfig.from_dict(recorded)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: its synapse settings are malformed: {error}") from None


def table() -> list[dict[str, Any]]:
    """Every (rule, backend) pair with where it runs, the synapses it holds and the options it takes."""
    rows = []
    for name in rule_names():
        spec = rule(name)
        for backend in spec.backends:
            rows.append(
                {
                    "rule": name,
                    "backend": backend.name,
                    "runs": "PE programs" if backend.name in PE_BACKENDS else "off-chip",
                    "description": backend.description,
                    "synapses": list(backend.synapse_kinds()),
                    "options": sorted(set(PLACEMENT) | backend.options | {"synapses"}),
                }
            )
    return rows
