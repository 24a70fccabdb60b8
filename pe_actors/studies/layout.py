"""Which PE holds which neurons and synapses of a rule's network, in which group, and which PE is the master
(``pe-actors layout``; docs/runtime.md)."""

from __future__ import annotations

from dataclasses import dataclass

from pe_actors.core.settings import Settings, choice, int_range, setting
from pe_actors.rules import group_program, rule, rule_names


@dataclass(frozen=True)
class LayoutSettings(Settings):
    """Which layout to draw (``pe-actors layout``'s options)."""

    rule: str = setting(default="eprop", **choice(rule_names), help="The rule whose first network to lay out (e-prop: "
                        "the gsc network's recurrent neurons split over the PEs; EventProp: each layer of the yinyang "
                        "network split over its PEs).")
    pes: int = setting(default=12, **int_range(1), help="PEs per group, P (EventProp: PEs per layer, at most one per "
                       "neuron).")
    groups: int = setting(default=1, **int_range(1), help="Groups G (replicas).")


def pe_layout(rule_name: str, pes: int, groups: int) -> dict:
    """Per PE of one group of the rule's first network: its layer, neurons, synapses and whether it is the master
    (the group program's ``pe_layout``), and the group's channels in words."""
    spec = rule(rule_name)
    config = next(iter(spec.networks.resolve().values()))
    group = group_program(config, pes)
    channels = [f"{c.name}: PEs {list(c.senders)} -> {list(c.receivers)} ({c.kind})" for c in group.channels]
    sizes = getattr(config, "sizes", None) or (config.n_in, config.n_rec, config.n_out)
    return {"rule": rule_name, "network": "-".join(map(str, sizes)), "pes": group.n_pes, "groups": groups,
            "per_pe": group.pe_layout(), "channels": channels, "actors": group.n_pes * groups}
