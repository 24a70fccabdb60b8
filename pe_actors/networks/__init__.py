"""Networks as graphs of populations and connections, the vocabulary of NIR and mlGeNN (docs/networks.md): the
neuron models and their update (:mod:`~pe_actors.networks.neurons`), the graph and its checks
(:mod:`~pe_actors.networks.graph`), a builder (:mod:`~pe_actors.networks.builder`) and the step-by-step forward
pass of any graph (:mod:`~pe_actors.networks.dynamics`)."""

from pe_actors.networks.builder import NetworkBuilder
from pe_actors.networks.dynamics import VARIABLES, exp_weights, run, silence
from pe_actors.networks.graph import READOUTS, CompiledGraph, Connection, Network, WeightInit, is_graph
from pe_actors.networks.neurons import MODELS, RESETS, NetworkError, NeuronModel, Population, population

__all__ = ["MODELS", "READOUTS", "RESETS", "VARIABLES", "CompiledGraph", "Connection", "Network", "NetworkBuilder",
           "NetworkError", "NeuronModel", "Population", "WeightInit", "exp_weights", "is_graph", "population", "run",
           "silence"]
