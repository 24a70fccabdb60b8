"""EventProp on network graphs: a recurrent hidden population and two hidden populations, against an independent
loop implementation written here (one sample, one neuron, one synapse at a time) and against central differences
as dt shrinks; the rule's own networks as graphs give the rule's gradients; what EventProp cannot train is refused
with the reason."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pe_actors.networks import NetworkBuilder, NetworkError, WeightInit
from pe_actors.rules.eventprop.config import EventPropConfig
from pe_actors.rules.eventprop.encoding import encode
from pe_actors.rules.eventprop.gradients import eventprop_gradients
from pe_actors.rules.eventprop.graph import EventPropGraph, graph_gradients, graph_predict, to_graph
from pe_actors.rules.eventprop.network import init_eventprop_params
from pe_actors_datasets.yinyang import yinyang


def loop_reference(network, params, spikes, labels, c):
    """Forward, loss and the adjoint backward of docs/networks.md ("EventProp on a graph") with plain loops:
    every connection delivers a spike at step i into its target's current at i + 1; the adjoints of all
    populations step back together, a spike's error the sum over its outgoing connections."""
    pops = {p.name: p for p in network.populations}
    out = network.outputs[0]
    n_batch, n_steps, _ = spikes.shape
    grads = {key: np.zeros_like(value) for key, value in params.items()}
    losses = []
    for k in range(n_batch):
        s = {network.input: spikes[k]}
        cur, pre = {}, {}
        for name in pops:
            s[name] = np.zeros((n_steps, pops[name].size))
            cur[name], pre[name] = np.zeros_like(s[name]), np.zeros_like(s[name])
        v = {name: np.zeros(p.size) for name, p in pops.items()}
        for i in range(1, n_steps):
            for name, p in pops.items():
                a, b, theta = p.decay_syn[0], p.decay_mem[0], p.threshold[0]
                for j in range(p.size):
                    total = 0.0
                    for conn in network.incoming(name):
                        w = params[conn.key]
                        for q in range(w.shape[0]):
                            total += s[conn.source][i - 1, q] * w[q, j]
                    cur[name][i, j] = a * cur[name][i - 1, j] + total
                    pre[name][i, j] = b * v[name][j] + (1 - b) * cur[name][i, j]
                    if pre[name][i, j] > theta:
                        s[name][i, j], v[name][j] = 1.0, 0.0
                    else:
                        v[name][j] = pre[name][i, j]
        first = [next((i for i in range(n_steps) if s[out][i, q]), n_steps) for q in range(pops[out].size)]
        t = [n_steps * c.dt if f == n_steps else f * c.dt for f in first]
        z = [math.exp(-tq / c.tau0) for tq in t]
        p_ = [zq / sum(z) for zq in z]
        y = labels[k]
        losses.append(-math.log(p_[y]) + c.alpha_reg * (math.exp(t[y] / c.tau1) - 1))
        err = {name: np.zeros((n_steps, p.size)) for name, p in pops.items()}
        for q, f in enumerate(first):
            if f < n_steps:
                eps = ((q == y) - p_[q]) / c.tau0 + (q == y) * c.alpha_reg / c.tau1 * math.exp(t[y] / c.tau1)
                err[out][f, q] = eps / n_batch
        lv = {name: [0.0] * p.size for name, p in pops.items()}
        li = {name: [0.0] * p.size for name, p in pops.items()}
        for i in range(n_steps - 2, -1, -1):
            for conn in network.connections:
                if conn.source == network.input:
                    continue
                w = params[conn.key]
                for q in range(w.shape[0]):
                    if s[conn.source][i, q]:
                        err[conn.source][i, q] += sum((lv[conn.target][j] - li[conn.target][j]) * w[q, j]
                                                      for j in range(w.shape[1]))
            for name, p in pops.items():
                a, b = p.decay_syn[0], p.decay_mem[0]
                new_li, new_lv = [], []
                for j in range(p.size):
                    jump = 0.0
                    if s[name][i + 1, j]:
                        jump = (lv[name][j] + err[name][i + 1, j]) / (cur[name][i + 1, j] - pre[name][i + 1, j] + 1e-10)
                    new_li.append(a * li[name][j] + (1 - a) * lv[name][j])
                    new_lv.append(b * lv[name][j] + jump)
                li[name], lv[name] = new_li, new_lv
            for conn in network.connections:
                tau_syn = -c.dt / math.log(pops[conn.target].decay_syn[0])
                w = params[conn.key]
                for q in range(w.shape[0]):
                    if s[conn.source][i, q]:
                        for j in range(w.shape[1]):
                            grads[conn.key][q, j] -= tau_syn * li[conn.target][j]
    return grads, float(np.mean(losses))


def recurrent(dt_ms=1.0, n_steps=30, two=False):
    """5 inputs, a recurrent hidden population (and a second one, fed by and feeding the first), 3 outputs."""
    net = NetworkBuilder(n_steps=n_steps, dt_s=dt_ms / 1000.0)
    net.input("x", 5)
    neuron = dict(tau_mem=20e-3, tau_syn=5e-3, r=1.0)
    net.population("h", 10, "cuba_lif", **neuron)
    if two:
        net.population("g", 6, "cuba_lif", tau_mem=10e-3, tau_syn=4e-3)
    net.population("out", 3, "cuba_lif", **neuron)
    net.connect("x", "h", delay=1, init=WeightInit(1.5, 0.8, fan_in=False))
    net.connect("h", "h", self_connections=False, init=WeightInit(0.0, 0.4, fan_in=False))
    if two:
        net.connect("h", "g", delay=1, init=WeightInit(1.0, 0.5, fan_in=False))
        net.connect("g", "h", delay=1, init=WeightInit(0.2, 0.3, fan_in=False))
        net.connect("g", "out", delay=1, init=WeightInit(0.8, 0.4, fan_in=False))
    net.connect("h", "out", delay=1, init=WeightInit(1.0, 0.4, fan_in=False))
    return net.build(["out"], readout="first_spike")


def batch(graph, n, seed):
    features, labels = yinyang(n, 100 + seed)
    return encode(features, graph.loss), labels


@pytest.mark.parametrize("two", [False, True], ids=["recurrent", "two-populations"])
@pytest.mark.parametrize("seed", [0, 1])
def test_recurrent_graphs_equal_the_loop_reference(two, seed):
    graph = EventPropGraph(recurrent(two=two))
    params = graph.network.init_params(seed)
    spikes, labels = batch(graph, 5, seed)
    grads, readout = graph_gradients(params, spikes, labels, graph)
    reference, loss = loop_reference(graph.network, params, spikes, labels, graph.loss)
    assert (readout.first < graph.n_steps).any(), "some outputs must spike"
    assert readout.loss.mean() == pytest.approx(loss, rel=1e-12)
    for key in params:
        scale = np.abs(reference[key]).max()
        assert scale > 0, f"{key} has no gradient to compare"
        assert np.abs(grads[key] - reference[key]).max() <= 1e-10 * scale, key


@pytest.mark.parametrize("name", ["yinyang", "three-layers", "hidden-silent"])
def test_the_rules_own_networks_as_graphs_give_the_rules_gradients(name):
    config = {"yinyang": EventPropConfig(sizes=(5, 12, 3), loss_time="crossing", alpha_silent=1.0),
              "three-layers": EventPropConfig(sizes=(5, 9, 7, 3), init_mean=(1.5, 1.5, 1.5),
                                              init_std=(0.8, 0.5, 0.5)),
              "hidden-silent": EventPropConfig(sizes=(5, 9, 7, 3), init_mean=(1.5, 2.0, 1.5), init_std=(0.8, 0.6, 0.5),
                                               loss_time="crossing", alpha_silent=1.0, alpha_hidden=0.5)}[name]
    params = init_eventprop_params(config, 0)
    features, labels = yinyang(6, 3)
    spikes = encode(features, config)
    expected, loss, first = eventprop_gradients(params, spikes, labels, config)
    grads, readout = graph_gradients(params, spikes, labels, EventPropGraph(to_graph(config), config))
    np.testing.assert_array_equal(readout.first, first)
    for key in expected:
        np.testing.assert_allclose(grads[key], expected[key], rtol=1e-12, atol=1e-14 * np.abs(expected[key]).max())


def interpolated_loss(params, spikes, labels, graph):
    readout = graph_predict(params, spikes, graph)
    c = graph.loss
    t = np.where(readout.first < c.n_steps, (readout.first - 1 + readout.fractions) * c.dt, c.duration)
    scores = -t / c.tau0
    log_p = scores - scores.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    return float(np.mean(-log_p[rows, labels] + c.alpha_reg * (np.exp(t[rows, labels] / c.tau1) - 1)))


def test_a_recurrent_graphs_gradients_converge_to_finite_differences_at_fine_dt():
    graph = EventPropGraph(recurrent(dt_ms=0.01, n_steps=3000), EventPropConfig(loss_time="crossing"))
    params = graph.network.init_params(3)
    params["w_h_out"] *= 2.0  # outputs that all spike, so that the loss is smooth in every weight
    spikes, labels = batch(graph, 3, 7)
    grads, readout = graph_gradients(params, spikes, labels, graph)
    assert (readout.first < graph.n_steps).all(), "every output must spike for the loss to be smooth"
    checked = 0
    # Hidden spikes move in whole steps of 0.01 ms, so in a hidden weight the loss is a staircase at small scales:
    # the input and recurrent weights take a step of 4e-2, which spans many of its stairs; each matrix is checked
    # at its four largest gradients, where that staircase is small against the slope.
    for key, h in (("w_h_out", 5e-3), ("w_x_h", 4e-2), ("w_h_h", 4e-2)):
        for flat in np.argsort(-np.abs(grads[key]).ravel())[:4]:
            index = np.unravel_index(flat, grads[key].shape)
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][index] += h
            minus[key][index] -= h
            quotient = (interpolated_loss(plus, spikes, labels, graph)
                        - interpolated_loss(minus, spikes, labels, graph)) / (2 * h)
            assert np.sign(quotient) == np.sign(grads[key][index]), (key, index, quotient, grads[key][index])
            assert abs(grads[key][index] - quotient) <= 0.15 * abs(quotient), (key, index, quotient, grads[key][index])
            checked += 1
    assert checked == 12


def test_what_eventprop_cannot_train_is_refused_with_the_reason():
    def build(**change):
        net = NetworkBuilder(n_steps=10)
        net.input("x", 2)
        net.population("h", 3, change.pop("model", "cuba_lif"), tau_mem=20e-3,
                       **({} if change.get("no_syn") else {"tau_syn": 5e-3}), **change.pop("neuron", {}))
        net.population("o", 2, "cuba_lif", tau_mem=20e-3, tau_syn=5e-3)
        net.connect("x", "h", delay=change.pop("delay", 1)).connect("h", "o", delay=1)
        return net.build(["o"], readout=change.pop("readout", "first_spike"))

    for network, message in (
        (build(delay=0), "connection 'w_x_h' has delay 0; EventProp's populations receive a spike one step after"),
        (build(neuron={"reset": "subtract"}), "population 'h' resets by subtraction"),
        (build(neuron={"bias": 0.1}), "population 'h' has a rest or a bias"),
        (build(readout="spike_count"), "EventProp reads its output by first spikes .* or by voltage"),
    ):
        with pytest.raises(NetworkError, match=message):
            EventPropGraph(network)


@pytest.mark.parametrize(("alpha_hidden", "alpha_rate"), [(0.0, 0.0), (0.5, 0.0), (0.5, 2.0)])
@pytest.mark.parametrize(("pes", "sub_batch"), [(1, None), (2, 3), (3, 1)])
def test_the_pe_program_gives_the_off_chip_gradients_for_any_split(pes, sub_batch, alpha_hidden, alpha_rate):
    # rate_upper 40 per second: 1.2 spikes in the 30-ms trial, so neurons with two or more spikes are above it.
    loss = EventPropConfig(loss_time="crossing", alpha_silent=1.0, alpha_hidden=alpha_hidden, alpha_rate=alpha_rate,
                           rate_upper=40.0)
    graph = EventPropGraph(recurrent(two=True), loss)
    assert_pe_program_equals_off_chip(graph, 1, *batch(graph, 6, 2), pes, sub_batch)


def assert_pe_program_equals_off_chip(graph, seed, spikes, labels, pes, sub_batch):
    """The graph's PE program on ``pes`` in-process PEs gives the off-chip engine's scores, losses and gradients."""
    from pe_actors.core.optimiser import OptimiserConfig
    from pe_actors.rules.eventprop.graph_program import GraphGroup
    from pe_actors.runtime.group import GroupEngine

    params = graph.network.init_params(seed)
    expected, readout = graph_gradients(params, spikes, labels, graph)
    group = GraphGroup(graph, pes)
    grads, result = GroupEngine(group, params, OptimiserConfig(), sub_batch).gradients(spikes, labels)
    full = group.gather_state(grads)
    np.testing.assert_allclose(result.logits, readout.logits, rtol=1e-12)
    np.testing.assert_allclose(result.loss, readout.loss, rtol=1e-12)
    for key in expected:
        assert np.abs(expected[key]).max() > 0
        np.testing.assert_allclose(full[key], expected[key], rtol=1e-9, atol=1e-12 * np.abs(expected[key]).max())


def test_memory_rows_of_a_graphs_pes():
    from pe_actors.rules import rule
    from pe_actors.rules.eprop.graph import EpropGraph
    from pe_actors.synapses import DIGITAL

    graph = EventPropGraph(recurrent())
    rows = rule("eventprop").memory(graph, 2, DIGITAL, np.float32, 4)
    weights = sum(int(np.prod(shape)) for shape in graph.network.weight_shapes().values())
    assert len(rows) == 2 and sum(r["bytes_by_category"]["weights"] for r in rows) == 4 * weights
    # Tapes: I, Vpre and spikes of the own neurons, 4 samples, T steps, float32.
    neurons = sum(p.size for p in graph.network.populations)
    assert sum(r["bytes_by_category"]["tapes"] for r in rows) == 3 * 4 * graph.n_steps * neurons * 4
    net = NetworkBuilder(n_steps=10)
    net.input("x", 3)
    net.population("h", 4, "alif", tau_mem=5e-3, tau_adapt=50e-3, beta=0.1)
    net.population("o", 2, "li", tau_mem=5e-3)
    net.connect("x", "h").connect("h", "h").connect("h", "o")
    rows = rule("eprop").memory(EpropGraph(net.build(["o"])), 2, DIGITAL, np.float32, 1)
    assert [r["total_bytes"] > 0 for r in rows] == [True, True]
    assert sum(r["bytes_by_category"]["weights"] for r in rows) == 4 * (3 * 4 + 4 * 4 + 4 * 2)


def voltage_network(readout, dt_ms=0.01, n_steps=3000):
    """5 inputs, a recurrent hidden population, 3 current-based leaky-integrator outputs read by their voltage."""
    net = NetworkBuilder(n_steps=n_steps, dt_s=dt_ms / 1000.0)
    net.input("x", 5)
    net.population("h", 10, "cuba_lif", tau_mem=20e-3, tau_syn=5e-3)
    net.population("out", 3, "cuba_li", tau_mem=20e-3, tau_syn=5e-3)
    net.connect("x", "h", delay=1, init=WeightInit(1.5, 0.8, fan_in=False))
    net.connect("h", "h", self_connections=False, init=WeightInit(0.0, 0.4, fan_in=False))
    net.connect("h", "out", delay=1, init=WeightInit(0.0, 1.0, fan_in=False))
    return net.build(["out"], readout=readout)


@pytest.mark.parametrize("readout", ["mean_v", "exp_mean_v"])
def test_the_voltage_readouts_converge_to_finite_differences(readout):
    graph = EventPropGraph(voltage_network(readout))
    params = graph.network.init_params(2)
    spikes, labels = batch(graph, 3, 5)
    grads, result = graph_gradients(params, spikes, labels, graph)

    def loss(p):
        scores = graph_predict(p, spikes, graph).logits
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-log_p[np.arange(len(labels)), labels].mean())

    assert loss(params) == pytest.approx(float(result.loss.mean()), rel=1e-12)
    assert_largest_gradients_match(grads, params, loss, {"w_h_out": 1e-3, "w_x_h": 4e-2, "w_h_h": 4e-2})


@pytest.mark.parametrize("readout", ["mean_v", "exp_mean_v"])
@pytest.mark.parametrize(("pes", "sub_batch"), [(1, None), (3, 2)])
def test_the_pe_program_gives_the_voltage_readouts_gradients(pes, sub_batch, readout):
    graph = EventPropGraph(voltage_network(readout, dt_ms=1.0, n_steps=30))
    assert_pe_program_equals_off_chip(graph, 4, *batch(graph, 6, 1), pes, sub_batch)


def test_the_exponentially_weighted_readout_weighs_early_steps_e_times_late_ones():
    from pe_actors.networks import exp_weights
    from pe_actors.networks.dynamics import class_scores

    weights = exp_weights(100)
    assert weights.sum() == pytest.approx(1 - np.exp(-1.0), rel=0.01)  # (1/T) sum exp(-i/T) -> 1 - 1/e
    assert weights[0] / weights[-1] == pytest.approx(np.exp(0.99))
    network = voltage_network("exp_mean_v", dt_ms=1.0, n_steps=100)
    v = np.random.default_rng(0).normal(size=(2, 100, 3))
    expected = np.array([[sum(np.exp(-i / 100) / 100 * v[b, i, k] for i in range(100)) for k in range(3)]
                         for b in range(2)])
    np.testing.assert_allclose(class_scores(network, {"out": v}), expected, rtol=1e-12)


def test_the_rate_term_converges_to_finite_differences():
    """alpha_rate times the mean over the hidden neurons that spike more than rate_upper times a second of their
    mean membrane voltage: its gradient, added to the loss's, matches central differences of the sum; a sign flip
    of the term's source fails it (the term moves the hidden weights by more than 15 % of their gradient)."""
    from pe_actors.rules.eventprop.graph import graph_forward
    from pe_actors.rules.eventprop.network import rate_limit

    network = voltage_network("mean_v")
    plain = EventPropGraph(network)
    params = plain.network.init_params(2)
    spikes, labels = batch(plain, 3, 5)
    counts = graph_forward(params, spikes, plain)["h"]["spikes"].sum(axis=1)
    per_second = (counts.min() + counts.max()) / 2 / (plain.loss.duration / 1000.0)
    graph = EventPropGraph(network, EventPropConfig(alpha_rate=2.0, rate_upper=float(per_second)))
    busy = counts > rate_limit(graph.loss, graph.n_steps)
    assert busy.any() and not busy.all(), "some hidden neurons must fire above the limit and some below"
    grads, _ = graph_gradients(params, spikes, labels, graph)
    without, _ = graph_gradients(params, spikes, labels, plain)

    def total(p):
        scores = graph_predict(p, spikes, graph).logits
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        tape = graph_forward(p, spikes, graph)["h"]
        over = tape["spikes"].sum(axis=1) > rate_limit(graph.loss, graph.n_steps)
        term = graph.loss.alpha_rate * np.where(over, tape["v"].mean(axis=1), 0.0).mean(axis=1)
        return float(-log_p[np.arange(len(labels)), labels].mean() + term.mean())

    for key in ("w_x_h", "w_h_h"):
        assert np.abs(grads[key] - without[key]).max() > 0.15 * np.abs(grads[key]).max(), key
    assert_largest_gradients_match(grads, params, total, {"w_x_h": 4e-2, "w_h_h": 4e-2})


def assert_largest_gradients_match(grads, params, loss, steps):
    """The three largest entries of each matrix ``steps`` names agree with central differences of ``loss`` at
    step ``steps[key]``: the same sign, within 15 %."""
    for key, h in steps.items():
        for flat in np.argsort(-np.abs(grads[key]).ravel())[:3]:
            index = np.unravel_index(flat, grads[key].shape)
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][index] += h
            minus[key][index] -= h
            quotient = (loss(plus) - loss(minus)) / (2 * h)
            assert np.sign(quotient) == np.sign(grads[key][index]), (key, index, quotient, grads[key][index])
            assert abs(grads[key][index] - quotient) <= 0.15 * abs(quotient), (key, index, quotient, grads[key][index])
