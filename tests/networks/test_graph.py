"""Network graphs: the builder and its checks, the plain form, the step-by-step dynamics of every neuron model
against loops written here, and the rules' built-in networks as graphs that run as the rules run them."""

from __future__ import annotations

import numpy as np
import pytest

from pe_actors.networks import Network, NetworkBuilder, NetworkError, WeightInit, population, run
from pe_actors.rules.eprop.bptt import record_populations as eprop_record
from pe_actors.rules.eprop.config import EPROP_NETWORKS
from pe_actors.rules.eprop.gradients import init_eprop_params
from pe_actors.rules.eprop.graph import to_graph as eprop_graph
from pe_actors.rules.eventprop.config import EventPropConfig
from pe_actors.rules.eventprop.graph import to_graph as eventprop_graph
from pe_actors.rules.eventprop.network import example_input, init_eventprop_params
from pe_actors.rules.eventprop.network import record_populations as eventprop_record


def one_neuron(model: str, **neuron) -> Network:
    net = NetworkBuilder(n_steps=40, dt_s=1e-3)
    net.input("x", 1)
    net.population("n", 1, model, **neuron)
    net.connect("x", "n", "w")
    return net.build(["n"], readout="mean_v")


def loop(model: str, x: np.ndarray, w: float, b: float, g: float, a: float = 0.0, gs: float = 1.0,
         theta: float = 1.0, reset: str = "value", v_reset: float = 0.0, delayed: bool = False,
         rho: float = 0.0, beta: float = 0.0, leak: float = 0.0):
    """One neuron step by step, written from docs/networks.md: returns (spikes, v before reset)."""
    i = v = z = adapt = 0.0
    spikes, volts = [], []
    for t in range(len(x)):
        d = w * x[t]
        if model.startswith("cuba"):
            i = a * i + gs * d
            d = i
        th = theta
        if model == "alif":
            adapt = rho * adapt + (1 - rho) * z
            th = theta + beta * adapt
        u = b * v + (1 - b) * leak + g * d - (th * z if delayed else 0.0)
        if model in ("li", "cuba_li"):
            v = u
            spikes.append(0.0)
            volts.append(u)
            continue
        z = 1.0 if u > th else 0.0
        v = u if delayed else (u - th * z if reset == "subtract" else (v_reset if z else u))
        spikes.append(z)
        volts.append(u)
    return np.array(spikes), np.array(volts)


CASES = [
    ("lif", {"tau_mem": 5e-3}, {"b": np.exp(-1 / 5), "g": 1 - np.exp(-1 / 5)}),
    ("lif", {"tau_mem": 5e-3, "reset": "subtract", "v_leak": 0.3, "threshold": 0.8},
     {"b": np.exp(-1 / 5), "g": 1 - np.exp(-1 / 5), "reset": "subtract", "leak": 0.3, "theta": 0.8}),
    ("cuba_lif", {"tau_mem": 10e-3, "tau_syn": 4e-3, "v_reset": -0.2},
     {"b": np.exp(-0.1), "g": 1 - np.exp(-0.1), "a": np.exp(-0.25), "v_reset": -0.2}),
    ("alif", {"tau_mem": 5e-3, "tau_adapt": 20e-3, "beta": 0.5, "reset": "subtract", "reset_delayed": True},
     {"b": np.exp(-0.2), "g": 1 - np.exp(-0.2), "rho": np.exp(-0.05), "beta": 0.5, "delayed": True}),
    ("if", {}, {"b": 1.0, "g": 1.0}),
    ("li", {"tau_mem": 5e-3}, {"b": np.exp(-0.2), "g": 1 - np.exp(-0.2)}),
    ("cuba_li", {"tau_mem": 5e-3, "tau_syn": 2e-3}, {"b": np.exp(-0.2), "g": 1 - np.exp(-0.2), "a": np.exp(-0.5)}),
]


@pytest.mark.parametrize(("model", "neuron", "expected"), CASES, ids=[f"{c[0]}-{k}" for k, c in enumerate(CASES)])
def test_every_model_steps_as_written(model, neuron, expected):
    x = np.random.default_rng(3).integers(0, 2, 40).astype(float)
    network = one_neuron(model, **neuron)
    populations, scores = run(network, {"w_w": np.array([[1.7]])}, x[None, :, None])
    spikes, volts = loop(model, x, 1.7, **expected)
    np.testing.assert_allclose(populations["n"]["v"][0, :, 0], volts, rtol=1e-12, atol=1e-12)
    if network.population("n").spiking:
        np.testing.assert_array_equal(populations["n"]["spikes"][0, :, 0], spikes)
        assert 0 < spikes.sum() < 40, "the case must spike sometimes, or it tests nothing of the reset"
    np.testing.assert_allclose(scores[0, 0], volts.mean() if model in ("li", "cuba_li") else spikes.mean())


def test_euler_discretisation_and_bias():
    net = NetworkBuilder(n_steps=5, dt_s=1e-3, discretisation="euler")
    net.input("x", 1)
    net.population("n", 2, "li", tau_mem=4e-3, r=2.0, bias=[0.5, 0.0])
    net.connect("x", "n", "w")
    network = net.build(["n"], readout="last_v")
    populations, scores = run(network, {"w_w": np.array([[1.0, 1.0]])}, np.ones((1, 5, 1)))
    v = np.zeros(2)
    for _ in range(5):
        v = 0.75 * v + 0.25 * 2.0 * (np.array([0.5, 0.0]) + 1.0)
    np.testing.assert_allclose(scores[0], v)


def test_feed_forward_within_the_step_and_cycles_through_the_previous_one():
    net = NetworkBuilder(n_steps=6)
    net.input("x", 1)
    net.population("a", 1, "if", threshold=0.5)
    net.population("b", 1, "if", threshold=0.5)
    net.connect("x", "a", "xa")
    net.connect("a", "b", "ab")
    net.connect("b", "b", "bb")
    network = net.build(["b"], readout="spike_count")
    x = np.zeros((1, 6, 1))
    x[0, 1, 0] = 1.0
    populations, _ = run(network, {"w_xa": np.ones((1, 1)), "w_ab": np.ones((1, 1)), "w_bb": np.ones((1, 1))}, x)
    # a and b spike in the step of the input; b's own spike comes back one step later and keeps it spiking.
    assert populations["a"]["spikes"][0, :, 0].tolist() == [0, 1, 0, 0, 0, 0]
    assert populations["b"]["spikes"][0, :, 0].tolist() == [0, 1, 1, 1, 1, 1]


def test_rule_networks_run_as_graphs_as_the_rules_run_them():
    config = EPROP_NETWORKS["gsc"]
    params = init_eprop_params(config, 1, np.float64)
    x = np.random.default_rng(0).standard_normal((3, config.n_steps, config.n_in)) * 6
    populations, scores = run(eprop_graph(config), params, x)
    reference, logits = eprop_record(params, x, config)
    assert reference["recurrent"]["spikes"].mean() > 0.01
    for key in ("spikes", "v", "threshold"):
        np.testing.assert_allclose(populations["recurrent"][key], reference["recurrent"][key], atol=1e-12)
    np.testing.assert_allclose(populations["readout"]["v"], reference["readout"]["v"], atol=1e-12)
    np.testing.assert_allclose(scores, logits, atol=1e-12)

    config = EventPropConfig()
    params = init_eventprop_params(config, 2)
    x = np.concatenate([example_input(config, seed) for seed in range(4)])
    populations, _ = run(eventprop_graph(config), params, x)
    reference, _ = eventprop_record(params, x, config)
    assert reference["output"]["spikes"].sum() > 0
    for name, values in reference.items():
        for key, value in values.items():
            np.testing.assert_allclose(populations[name][key], value, atol=1e-12, err_msg=f"{name} {key}")


def test_plain_form_round_trips_masks_and_per_neuron_values():
    net = NetworkBuilder(n_steps=10, dt_s=5e-3)
    net.input("taxels", 3)
    net.population("h", 4, "cuba_lif", tau_mem=[0.01, 0.02, 0.03, 0.04], tau_syn=5e-3, bias=0.1)
    net.population("out", 2, "li", tau_mem=0.02)
    mask = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]], bool)
    net.connect("taxels", "h", mask=mask)
    net.connect("h", "h", self_connections=False, init=WeightInit(0.0, 0.5))
    net.connect("h", "out")
    network = net.build(["out"])
    again = Network.from_dict(network.to_dict())
    assert again.to_dict() == network.to_dict()
    params = again.init_params(seed=4)
    assert not np.any(params["w_taxels_h"][~mask]) and np.all(params["w_taxels_h"][mask])
    assert not np.any(np.diag(params["w_h_h"]))
    x = np.random.default_rng(1).random((2, 10, 3))
    np.testing.assert_array_equal(run(network, params, x)[1], run(again, params, x)[1])


@pytest.mark.parametrize(("build", "message"), [
    (lambda n: n.population("h", 3, "hodgkin"), "population 'h': unknown neuron model 'hodgkin'"),
    (lambda n: n.population("h", 3, "lif", tau_mem=[1e-3, 2e-3]), "population 'h': decay_mem has shape"),
    (lambda n: n.population("h", 3, "lif", tau_mem=float("nan")), "population 'h': tau_mem must be positive"),
    (lambda n: n.population("h", 3, "li", tau_mem=1e-2, threshold=1.0), "population 'h': a li neuron does not spike"),
    (lambda n: n.population("h", 3, "lif", tau_mem=1e-2, tau_syn=1e-3), "population 'h': a lif neuron has no syn"),
    (lambda n: n.population("h", 3, "lif", tau_mem=1e-2, reset="value", reset_delayed=True), "population 'h': a del"),
])
def test_bad_populations_are_named(build, message):
    net = NetworkBuilder(n_steps=5)
    net.input("x", 2)
    with pytest.raises(NetworkError, match=message.replace("(", r"\(")):
        build(net)


def base() -> NetworkBuilder:
    net = NetworkBuilder(n_steps=5)
    net.input("x", 2)
    net.population("h", 3, "lif", tau_mem=1e-2)
    net.population("o", 2, "li", tau_mem=1e-2)
    return net


@pytest.mark.parametrize(("change", "outputs", "readout", "message"), [
    (lambda n: n.connect("x", "h").connect("h", "o").connect("o", "h", "back", delay=0), ["o"], "mean_v",
     "connections \\['w_h_o', 'back'\\] close a cycle within one step"),
    (lambda n: n.connect("x", "nowhere"), ["o"], "mean_v", "no target population 'nowhere'"),
    (lambda n: n.connect("x", "h", mask=np.ones((3, 3), bool)).connect("h", "o"), ["o"], "mean_v",
     "connection 'w_x_h': its mask must be a boolean array of shape \\(2, 3\\)"),
    (lambda n: n.connect("x", "h").connect("h", "o"), ["p"], "mean_v", "output 'p' is not a population"),
    (lambda n: n.connect("x", "h").connect("h", "o"), ["o"], "first_spike", "readout 'first_spike' needs spiking"),
    (lambda n: n.connect("x", "h"), ["o"], "mean_v", "population 'o' receives no connection"),
    (lambda n: n.connect("x", "h").connect("h", "o").connect("h", "o"), ["o"], "mean_v",
     "two connections are named 'w_h_o'"),
])
def test_bad_graphs_name_the_connection_or_population(change, outputs, readout, message):
    net = base()
    change(net)
    with pytest.raises(NetworkError, match=message):
        net.build(outputs, readout)


def test_bad_weights_and_inputs_are_named():
    net = base().connect("x", "h").connect("h", "o")
    network = net.build(["o"])
    params = network.init_params()
    with pytest.raises(NetworkError, match="weights 'w_h_o' hold NaN"):
        run(network, params | {"w_h_o": np.full((3, 2), np.nan)}, np.zeros((1, 5, 2)))
    with pytest.raises(NetworkError, match=r"weights 'w_x_h' have shape \(3, 2\)"):
        run(network, params | {"w_x_h": np.zeros((3, 2))}, np.zeros((1, 5, 2)))
    with pytest.raises(NetworkError, match=r"needs \(batch, steps, 2\)"):
        run(network, params, np.zeros((1, 5, 3)))
    with pytest.raises(NetworkError, match="x holds NaN"):
        run(network, params, np.full((1, 5, 2), np.nan))
    with pytest.raises(NetworkError, match="population 'h': size must be"):
        population("h", 0, "lif", decay_mem=0.5, gain_mem=0.5)
