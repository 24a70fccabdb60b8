"""EventProp's named networks: the recurrent sequence network ``shd`` as a run's settings build it."""

import numpy as np
import pytest

from pe_actors.networks import NetworkBuilder, NetworkError
from pe_actors.rules import rule
from pe_actors.rules.eventprop.graph import EventPropGraph
from pe_actors.run.config import ConfigError, resolve


def network_of(**settings):
    config = resolve({"rule": "eventprop", **settings})
    return rule("eventprop").network_of(config)


def test_the_shd_network_is_a_recurrent_graph_read_by_the_weighted_mean_voltage():
    graph = network_of(network="shd")
    assert isinstance(graph, EventPropGraph)
    network = graph.network
    assert network.weight_shapes() == {"w_input_hidden": (700, 256), "w_hidden_hidden": (256, 256),
                                       "w_hidden_output": (256, 20)}
    assert (network.n_steps, network.dt_s, network.readout) == (1000, 1e-3, "exp_mean_v")
    assert all(c.delay == 1 for c in network.connections)
    hidden, output = network.population("hidden"), network.population("output")
    assert (hidden.model, output.model) == ("cuba_lif", "cuba_li")
    assert np.isclose(hidden.uniform("decay_mem"), np.exp(-1 / 20)) and np.isclose(hidden.uniform("decay_syn"),
                                                                                    np.exp(-1 / 5))
    weights = network.init_params(seed=3)
    assert abs(weights["w_input_hidden"].mean() - 0.03) < 1e-3 and abs(weights["w_input_hidden"].std() - 0.01) < 1e-3
    assert abs(weights["w_hidden_hidden"].std() - 0.02) < 1e-3 and abs(weights["w_hidden_output"].std() - 0.03) < 3e-3


def test_the_run_settings_size_step_read_and_scale_it():
    graph = network_of(network="shd", sizes="40,16,8,5", dt=2.0, readout="mean_v", init_mean="0.1,0,0.05",
                       init_std="0.2,0.1,0.3", alpha_hidden=0.5)
    network = graph.network
    assert network.weight_shapes() == {"w_input_hidden_1": (40, 16), "w_hidden_1_hidden_1": (16, 16),
                                       "w_hidden_1_hidden_2": (16, 8), "w_hidden_2_hidden_2": (8, 8),
                                       "w_hidden_2_output": (8, 5)}
    assert (network.n_steps, network.readout, graph.loss.alpha_hidden) == (500, "mean_v", 0.5)
    assert [c.init.mean for c in network.connections] == [0.1, 0.0, 0.0, 0.0, 0.05]
    assert [c.init.std for c in network.connections] == [0.2, 0.1, 0.1, 0.1, 0.3]


@pytest.mark.parametrize(("settings", "message"), [
    ({"network": "shd", "t_code": 20.0}, "--t-code sets the latency code"),
    ({"network": "shd", "sizes": "700,20"}, "at least one hidden population"),
    ({"network": "shd", "init_mean": "0.1,0.2"}, "three values"),
    ({"network": "yinyang", "readout": "mean_v"}, "read by its first output spikes"),
])
def test_settings_a_network_does_not_take_are_named(settings, message):
    with pytest.raises(ConfigError, match=message):
        network_of(**settings)


def test_a_graph_takes_the_data_sizes_unless_its_output_or_a_mask_is_per_neuron():
    graph = network_of(network="shd", sizes="700,8,20").with_sizes(n_in=12, n_out=3)
    assert graph.network.weight_shapes()["w_input_hidden"] == (12, 8)
    assert graph.network.weight_shapes()["w_hidden_output"] == (8, 3) and graph.loss.n_out == 3
    net = NetworkBuilder(n_steps=5)
    net.input("x", 4)
    net.population("h", 3, "cuba_lif", tau_mem=20e-3, tau_syn=5e-3)
    net.population("o", 2, "cuba_li", tau_mem=[20e-3, 10e-3], tau_syn=5e-3)
    net.connect("x", "h", delay=1, mask=np.ones((4, 3), bool)).connect("h", "o", delay=1)
    with pytest.raises(NetworkError, match="connection 'w_x_h' has a mask"):
        net.build(["o"]).with_sizes(n_in=5)
    with pytest.raises(NetworkError, match="population 'o' has per-neuron"):
        net.build(["o"]).with_sizes(n_out=3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_sequence_networks_float32_gradients_are_its_float64_ones(seed):
    """The SHD recipe trains in float32 (twice as fast): its gradients hold to 1e-4 of each matrix's largest."""
    from pe_actors.rules.eventprop.graph import graph_gradients
    from pe_actors.rules.eventprop.networks import SequenceNetwork

    graph = SequenceNetwork(sizes=(40, 16, 5), dt=1.0, duration=100.0, init_mean=(0.3, 0.0, 0.0),
                            init_std=(0.2, 0.1, 0.3)).graph()
    rng = np.random.default_rng(seed)
    x = (rng.random((8, 100, 40)) < 0.03).astype(np.float64)
    labels = rng.integers(0, 5, 8)
    params = graph.network.init_params(seed)
    double, _ = graph_gradients(params, x, labels, graph)
    single, _ = graph_gradients({k: v.astype(np.float32) for k, v in params.items()}, x.astype(np.float32), labels,
                                graph)
    for key, value in double.items():
        assert single[key].dtype == np.float32 and np.abs(value).max() > 0
        assert np.abs(single[key] - value).max() < 1e-4 * np.abs(value).max(), key
