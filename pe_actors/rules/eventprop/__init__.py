"""EventProp (paper 001): exact adjoint gradients of a feed-forward LIF network, off-chip and as a PE program with
spike packets up and sparse error packets down (docs/eventprop.md), and the rule's declaration."""

from __future__ import annotations

from pe_actors.rules import PE_BACKENDS, Backend, Lazy, Rule

#: EventProp on the PEs (in-process or PE actors, PEs per layer) or vectorised off-chip.
RULE = Rule(
    name="eventprop",
    description="EventProp: exact adjoint gradients of a feed-forward LIF network from spike times",
    network_type=Lazy("pe_actors.rules.eventprop.config", "EventPropConfig"),
    networks=Lazy("pe_actors.rules.eventprop.config", "EVENTPROP_NETWORKS"),
    init_params=Lazy("pe_actors.rules.eventprop.network", "init_eventprop_params"),
    group=Lazy("pe_actors.rules.eventprop.program", "eventprop_group"),
    backends=(
        Backend(PE_BACKENDS[0], "the layers' PE programs in this process", frozenset({"schedule"})),
        Backend(
            PE_BACKENDS[1],
            "one Ray actor per PE, P per layer",
            frozenset({"transport", "run_name", "address", "dashboard_port", "record_metrics", "barrier_timeout_s",
                       "start_timeout_s", "schedule"}),  # fmt: skip
        ),
        Backend(
            "offchip",
            "off-chip: the whole network vectorised over the batch",
            build=Lazy("pe_actors.rules.eventprop.offchip", "OffchipEngine"),
        ),
    ),
    offchip="offchip",
    silence=Lazy("pe_actors.rules.eventprop.network", "silence"),
)
