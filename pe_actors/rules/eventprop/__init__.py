"""EventProp (paper 001): exact adjoint gradients of a feed-forward LIF network, off-chip and as a PE program with
spike packets up and sparse error packets down (docs/eventprop.md), and the rule's declaration: its network,
settings and recipes, its data and their latency code, its loss's silence report, its backends, its adaptation
defaults and memory per PE."""

from __future__ import annotations

from pe_actors.rules import PE_BACKENDS, AdaptationDefaults, Backend, DataDefaults, Lazy, Rule
from pe_actors.rules.eventprop.config import SCHEDULES, EventPropSettings

_CONFIG = "pe_actors.rules.eventprop.config"
_RECIPES = "pe_actors.rules.eventprop.recipes"
_NETWORKS = "pe_actors.rules.eventprop.networks"
_MEMORY = "pe_actors.rules.eventprop.memory"

#: EventProp on the PEs (in-process or PE actors, PEs per layer) or vectorised off-chip.
RULE = Rule(
    name="eventprop",
    title="EventProp",
    description="EventProp: exact adjoint gradients of a feed-forward LIF network from spike times",
    network_type=Lazy(_CONFIG, "EventPropConfig"),
    networks=Lazy(_NETWORKS, "EVENTPROP_NETWORKS"),
    network_of=Lazy(_NETWORKS, "run_network"),
    init_params=Lazy("pe_actors.rules.eventprop.network", "init_eventprop_params"),
    weight_shapes=Lazy("pe_actors.rules.eventprop.network", "weight_shapes"),
    group=Lazy("pe_actors.rules.eventprop.program", "eventprop_group"),
    backends=(
        Backend(PE_BACKENDS[0], "the layers' PE programs in this process", frozenset({"schedule"}), graphs=True),
        Backend(
            PE_BACKENDS[1],
            "one Ray actor per PE, P per layer",
            frozenset({"transport", "run_name", "address", "dashboard_port", "record_metrics", "barrier_timeout_s",
                       "start_timeout_s", "schedule"}),
            graphs=True,
        ),
        Backend(
            "offchip",
            "off-chip: the whole network vectorised over the batch",
            build=Lazy("pe_actors.rules.eventprop.offchip", "OffchipEngine"),
            graphs=True,
        ),
    ),
    offchip="offchip",
    recipes=Lazy(_RECIPES, "RECIPES"),
    run_defaults=Lazy(_RECIPES, "run_defaults"),
    settings=EventPropSettings,
    schedules=SCHEDULES,
    data=DataDefaults(
        source="yinyang",
        folder="yinyang",
        description="Yin-Yang, generated offline with the published seeds (train 5000, validation 1000, test 1000)",
        event_binning=Lazy(_NETWORKS, "event_binning"),
        encode=Lazy("pe_actors.rules.eventprop.encoding", "encode_inputs"),
    ),
    # Every layer learns, nothing is rehearsed (measured on rotated Yin-Yang; docs/adaptation.md).
    adaptation=AdaptationDefaults(
        frozen=(),
        rehearse_every=0,
        lr=Lazy(_RECIPES, "adapt_lr"),
        lr_text="0.003 (0.0003 for a network trained without the voltage term, --alpha-silent 0)",
    ),
    memory=Lazy(_MEMORY, "memory_rows"),
    memory_categories=Lazy(_MEMORY, "MEMORY_CATEGORIES"),
    run_memory=Lazy(_MEMORY, "run_memory"),
    nir=Lazy("pe_actors.rules.eventprop.nir", "FORM"),
    record=Lazy("pe_actors.rules.eventprop.graph", "record"),
    example_input=Lazy("pe_actors.rules.eventprop.network", "example_input"),
    silence=Lazy("pe_actors.rules.eventprop.graph", "silence"),
    graph=Lazy("pe_actors.rules.eventprop.graph", "EventPropGraph"),
    health=Lazy("pe_actors.rules.eventprop.network", "health"),
    input_targets=Lazy("pe_actors.rules.eventprop.network", "input_targets"),
)
