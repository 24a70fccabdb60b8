"""E-prop's networks as graphs (docs/networks.md): the ALIF recurrent network of docs/eprop.md is an input, a
population ``recurrent`` of ALIF neurons (membrane decay alpha, input gain 1 - alpha, baseline threshold b0,
adaptation decay rho and strength beta, reset by subtracting the threshold at the next step), its recurrent
connection without self-connections, and a leaky-integrator population ``readout`` (decay kappa, gain 1) whose
mean voltage over the trial is the class score."""

from __future__ import annotations

from pe_actors.networks import Connection, Network, population
from pe_actors.rules.eprop.config import EpropConfig

#: The step of e-prop's networks: the chip's 10 ms.
STEP_S = 0.01


def to_graph(config: EpropConfig) -> Network:
    """The graph of e-prop's network ``config``; its connections are named like the rule's weights."""
    recurrent = population("recurrent", config.n_rec, "alif", decay_mem=config.alpha, gain_mem=1.0 - config.alpha,
                           threshold=config.b0, decay_adapt=config.rho, beta=config.beta, reset="subtract",
                           reset_delayed=True)
    readout = population("readout", config.n_out, "li", decay_mem=config.kappa, gain_mem=1.0)
    connections = (Connection("w_in", "input", "recurrent"),
                   Connection("w_rec", "recurrent", "recurrent", delay=1, self_connections=False),
                   Connection("w_out", "recurrent", "readout"))
    return Network("input", config.n_in, (recurrent, readout), connections, ("readout",), config.n_steps, STEP_S,
                   "mean_v")

