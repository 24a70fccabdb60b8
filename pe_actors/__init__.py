"""pe-actors: on-chip learning rules (e-prop, EventProp) on simulated SpiNNaker 2 processing elements.

The rules (``rules.eprop``, ``rules.eventprop``), the synapse stores the PEs reach their weights through
(``synapses``: digital, quantised, PCM), their engines, training and studies are numpy and numba: they
never import Ray, click or librosa. ``runtime`` holds the PE runtime (programs, the one step loop, transports) and
is the only place that imports Ray, so the same PE programs run in-process, in Ray actors and in tests.
"""

from pe_actors.api import Model, Run, load, train
from pe_actors.core.optimiser import OptimiserConfig, learning_rate
from pe_actors.core.partition import split_neurons
from pe_actors.rules.eprop.config import NETWORKS, NetworkConfig, network_config
from pe_actors.rules.eprop.engine import InProcessEngine
from pe_actors.rules.eprop.gradients import bptt_gradients, eprop_gradients, init_params
from pe_actors.rules.eprop.pe import PE
from pe_actors.rules.eprop.replay import ReplayEngine
from pe_actors.rules.eventprop.config import EVENTPROP_NETWORKS, EventPropConfig
from pe_actors.rules.eventprop.encoding import encode
from pe_actors.rules.eventprop.gradients import eventprop_gradients
from pe_actors.rules.eventprop.network import init_eventprop_params
from pe_actors.rules.eventprop.offchip import OffchipEngine
from pe_actors.synapses import PCMModel, SynapseConfig

__all__ = [
    "EVENTPROP_NETWORKS",
    "NETWORKS",
    "EventPropConfig",
    "InProcessEngine",
    "Model",
    "NetworkConfig",
    "OffchipEngine",
    "OptimiserConfig",
    "PCMModel",
    "PE",
    "ReplayEngine",
    "Run",
    "SynapseConfig",
    "bptt_gradients",
    "encode",
    "eventprop_gradients",
    "eprop_gradients",
    "init_eventprop_params",
    "init_params",
    "learning_rate",
    "load",
    "network_config",
    "split_neurons",
    "train",
]
