"""EventProp's networks as graphs (docs/networks.md): the feed-forward network of docs/eventprop.md is an input and
one population per layer of current-based LIF neurons (synaptic decay a, gain 1; membrane decay b, gain 1 - b;
threshold theta; reset to 0 at the spike step), each fed by the layer below through a connection of delay 1 (a
spike at step i reaches the next layer at step i + 1); the last layer is the output, read by its first spikes."""

from __future__ import annotations

from pe_actors.networks import Connection, Network, population
from pe_actors.rules.eventprop.config import EventPropConfig


def to_graph(config: EventPropConfig) -> Network:
    """The graph of EventProp's network ``config``: populations ``layer 1`` ... and ``output``, connections named
    like the rule's weights ``w_0`` ...."""
    names = [f"layer {layer}" for layer in range(1, config.n_layers)] + ["output"]
    populations = tuple(
        population(name, size, "cuba_lif", decay_syn=config.a, gain_syn=1.0, decay_mem=config.b,
                   gain_mem=1.0 - config.b, threshold=config.theta, reset="value", v_reset=0.0)
        for name, size in zip(names, config.sizes[1:], strict=True)
    )
    sources = ["input", *names[:-1]]
    connections = tuple(Connection(key, source, target, delay=1)
                        for key, source, target in zip(config.weight_keys(), sources, names, strict=True))
    return Network("input", config.n_in, populations, connections, ("output",), config.n_steps, config.dt / 1000.0,
                   "first_spike")
