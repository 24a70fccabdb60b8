"""pe-actors: e-prop on simulated SpiNNaker 2 processing elements."""
