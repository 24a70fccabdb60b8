"""E-prop (papers 000/002): the ALIF network's PE program on the runtime (docs/eprop.md), and the rule's
declaration: its network and recipes, its data, its group program, the backends it runs on (its BPTT reference
among them, which runs may also choose as ``rule="bptt"``), its adaptation defaults and memory per PE."""

from __future__ import annotations

from types import MappingProxyType

from pe_actors.rules import (
    ANY_SYNAPSES,
    PE_BACKENDS,
    AdaptationDefaults,
    Backend,
    DataDefaults,
    Lazy,
    Rule,
)

_ACTORS = frozenset(
    {"kernel", "synapses", "transport", "run_name", "address", "dashboard_port", "record_metrics", "barrier_timeout_s",
     "start_timeout_s"}
)
_CONFIG = "pe_actors.rules.eprop.config"
_RECIPES = "pe_actors.rules.eprop.recipes"
_MEMORY = "pe_actors.rules.eprop.memory"

#: E-prop on the PEs (in-process or PE actors), by replay off-chip (the same gradients from a stored forward
#: pass), or the BPTT reference of the same network and optimiser. Its PEs and replay hold any synapse kind.
RULE = Rule(
    name="eprop",
    title="e-prop",
    description="e-prop: online eligibility traces and a broadcast learning signal (ALIF recurrent network)",
    network_type=Lazy(_CONFIG, "EpropConfig"),
    networks=Lazy(_CONFIG, "EPROP_NETWORKS"),
    network_of=Lazy(_CONFIG, "run_network"),
    init_params=Lazy("pe_actors.rules.eprop.gradients", "init_eprop_params"),
    weight_shapes=Lazy("pe_actors.rules.eprop.gradients", "weight_shapes"),
    group=Lazy("pe_actors.rules.eprop.program", "eprop_group"),
    backends=(
        Backend(PE_BACKENDS[0], "the PE programs in this process", frozenset({"kernel", "synapses"}), ANY_SYNAPSES,
                graphs=True),
        Backend(PE_BACKENDS[1], "one Ray actor per PE, G groups of P", _ACTORS, ANY_SYNAPSES, graphs=True),
        Backend(
            "replay",
            "off-chip: exact e-prop gradients from a stored forward pass",
            frozenset({"synapses", "chunk", "workers"}),
            ANY_SYNAPSES,
            Lazy("pe_actors.rules.eprop.replay", "ReplayEngine"),
        ),
        Backend(
            "bptt",
            "off-chip: the BPTT reference of the same network and optimiser",
            build=Lazy("pe_actors.rules.eprop.bptt_engine", "BPTTEngine"),
        ),
    ),
    offchip="replay",
    recipes=Lazy(_RECIPES, "RECIPES"),
    data=DataDefaults(
        source="standin",
        folder="prepared",
        description="the offline synthetic stand-in of Speech Commands",
        event_binning=Lazy(_CONFIG, "event_binning"),
    ),
    # Only the input weights learn, rehearsing an original-task sample after every adaptation sample: on a new
    # speaker this forgot 1.8 points on average over 5 models after 128 samples, where every weight learning forgot
    # 5.8 (model 0) for about the same gain (docs/adaptation.md, "Forgetting").
    adaptation=AdaptationDefaults(
        frozen=("w_rec", "w_out"), rehearse_every=1, lr=Lazy(_RECIPES, "adapt_lr"), lr_text="0.0015"
    ),
    memory=Lazy(_MEMORY, "memory_rows"),
    memory_categories=Lazy(_MEMORY, "MEMORY_CATEGORIES"),
    run_memory=Lazy(_MEMORY, "run_memory"),
    nir=Lazy("pe_actors.rules.eprop.nir", "FORM"),
    paper_memory=Lazy(_MEMORY, "paper_table1_floats"),
    record=Lazy("pe_actors.rules.eprop.bptt", "record_populations"),
    example_input=Lazy("pe_actors.rules.eprop.bptt", "example_input"),
    aliases=MappingProxyType({"bptt": "bptt"}),
    graph=Lazy("pe_actors.rules.eprop.graph", "EpropGraph"),
    silence=Lazy("pe_actors.rules.eprop.bptt", "silence"),
    health=Lazy("pe_actors.rules.eprop.bptt", "health"),
    input_targets=Lazy("pe_actors.rules.eprop.bptt", "input_targets"),
)
