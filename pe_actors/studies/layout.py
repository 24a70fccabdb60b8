"""Which PE holds which neurons and synapses of a rule's network, in which group, and which PE is the master
(``pe-actors layout``; docs/runtime.md)."""

from __future__ import annotations

from pe_actors.rules import group_program, rule


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
