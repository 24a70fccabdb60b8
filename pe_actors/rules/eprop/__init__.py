"""E-prop (papers 000/002): the ALIF network's PE program on the runtime (docs/eprop.md), and the rule's
declaration: its network, its group program and the backends it runs on."""

from __future__ import annotations

from pe_actors.rules import PE_BACKENDS, Backend, Lazy, Rule

_SYNAPSES = ("digital", "quantised", "pcm")
_ACTORS = frozenset(
    {"kernel", "synapses", "transport", "run_name", "address", "dashboard_port", "record_metrics", "barrier_timeout_s",
     "start_timeout_s"}
)

#: E-prop on the PEs (in-process or PE actors), by replay off-chip (the same gradients from a stored forward
#: pass), or the BPTT reference of the same network and optimiser.
RULE = Rule(
    name="eprop",
    description="e-prop: online eligibility traces and a broadcast learning signal (ALIF recurrent network)",
    network_type=Lazy("pe_actors.rules.eprop.config", "NetworkConfig"),
    networks=Lazy("pe_actors.rules.eprop.config", "NETWORKS"),
    init_params=Lazy("pe_actors.rules.eprop.gradients", "init_params"),
    group=Lazy("pe_actors.rules.eprop.program", "EpropGroup"),
    backends=(
        Backend(PE_BACKENDS[0], "the PE programs in this process", frozenset({"kernel", "synapses"}), _SYNAPSES),
        Backend(PE_BACKENDS[1], "one Ray actor per PE, G groups of P", _ACTORS, _SYNAPSES),
        Backend(
            "replay",
            "off-chip: exact e-prop gradients from a stored forward pass",
            frozenset({"synapses", "chunk", "workers"}),
            _SYNAPSES,
            Lazy("pe_actors.rules.eprop.replay", "ReplayEngine"),
        ),
        Backend(
            "bptt",
            "off-chip: the BPTT reference of the same network and optimiser",
            build=Lazy("pe_actors.rules.eprop.bptt_engine", "BPTTEngine"),
        ),
    ),
    offchip="replay",
)
