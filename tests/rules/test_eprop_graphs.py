"""e-prop on network graphs: gradients of every hidden neuron model, reset and connection form against a BPTT
reference with e-prop's stop-gradients written here in torch; the rule's own network as a graph gives the rule's
gradients; results do not depend on the PEs or the sub-batch; what e-prop cannot train is refused with the reason."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.networks import NetworkBuilder, NetworkError, run
from pe_actors.rules.eprop.config import EpropConfig
from pe_actors.rules.eprop.gradients import eprop_gradients, init_eprop_params
from pe_actors.rules.eprop.graph import EpropGraph, to_graph
from pe_actors.rules.eprop.graph_program import GraphGroup
from pe_actors.runtime.group import GroupEngine

torch = pytest.importorskip("torch")


def psi(u):
    """The multi-Gaussian pseudo-derivative of docs/eprop.md, written again here."""
    def normal(m, s):
        return torch.exp(-0.5 * ((u - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))

    return 0.5 * (1.15 * normal(0.0, 0.5) - 0.15 * normal(0.5, 3.0) - 0.15 * normal(-0.5, 3.0))


class Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u):
        ctx.save_for_backward(u)
        return (u > 0).double()

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return grad * psi(u)


def bptt(network, params, x, labels):
    """Reverse-mode gradients of the batch-mean cross-entropy of the mean output voltage, with e-prop's
    stop-gradients: what a hidden neuron receives from any presynaptic neuron, and its whole reset term, are
    constants; its own adaptation and its path to the outputs are not."""
    weights = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    x = torch.tensor(x)
    batch, steps = x.shape[:2]
    state = {p.name: {"i": 0.0, "v": 0.0, "a": 0.0, "z": torch.zeros(batch, p.size)} for p in network.populations}
    tapes = {p.name: [] for p in network.populations}
    outputs = set(network.outputs)
    for t in range(steps):
        for name in network.order():
            p, s = network.population(name), state[name]
            drive = torch.tensor(p.bias) if p.bias is not None else torch.zeros(p.size, dtype=torch.float64)
            for c in network.incoming(name):
                if t - c.delay < 0:
                    continue
                source = x[:, t - c.delay] if c.source == network.input else tapes[c.source][t - c.delay]
                if name not in outputs:
                    source = source.detach()
                w = weights[c.key]
                mask = c.synapse_mask(tuple(w.shape))
                drive = drive + source @ (w * torch.tensor(mask) if mask is not None else w)
            coeff = {k: torch.tensor(getattr(p, k)) for k in ("decay_mem", "gain_mem", "v_leak")}
            if p.decay_syn is not None:
                s["i"] = torch.tensor(p.decay_syn) * s["i"] + torch.tensor(p.gain_syn) * drive
                drive = s["i"]
            u = coeff["decay_mem"] * s["v"] + (1 - coeff["decay_mem"]) * coeff["v_leak"] + coeff["gain_mem"] * drive
            if not p.spiking:
                s["v"] = u
                tapes[name].append(u)
                continue
            threshold = torch.tensor(p.threshold)
            if p.decay_adapt is not None:
                rho = torch.tensor(p.decay_adapt)
                s["a"] = rho * s["a"] + (1 - rho) * s["z"]
                threshold = threshold + torch.tensor(p.beta) * s["a"]
            if p.reset_delayed:
                u = u - (threshold * s["z"]).detach()
            z = Spike.apply(u - threshold)
            if p.reset_delayed:
                s["v"] = u
            elif p.reset == "subtract":
                s["v"] = u - (threshold * z).detach()
            else:
                s["v"] = u - (z * (u - torch.tensor(p.v_reset))).detach()
            s["z"] = z
            tapes[name].append(z)
    logits = torch.cat([torch.stack(tapes[name], 1).mean(1) for name in network.outputs], 1)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(labels))
    loss.backward()
    return {k: w.grad.numpy() for k, w in weights.items()}, logits.detach().numpy()


def eprop(network, params, x, labels, pes=1, sub_batch=None):
    group = GraphGroup(EpropGraph(network), pes)
    engine = GroupEngine(group, params, OptimiserConfig(), sub_batch)
    grads, result = engine.gradients(x, labels)
    return group.gather_state(grads), result.logits


def hidden_network(model, reset="value", delayed=False, readout="li", mask=None, input_delay=0):
    net = NetworkBuilder(n_steps=25, dt_s=1e-3)
    net.input("x", 4)
    neuron = {"lif": dict(tau_mem=5e-3), "cuba_lif": dict(tau_mem=6e-3, tau_syn=3e-3),
              "alif": dict(tau_mem=5e-3, tau_adapt=20e-3, beta=0.3), "if": dict(gain_mem=0.3)}[model]
    net.population("h", 6, model, threshold=[0.5, 0.6, 0.7, 0.6, 0.5, 0.6], reset=reset, reset_delayed=delayed,
                   bias=0.05, **neuron)
    net.population("o", 3, readout, tau_mem=8e-3, r=[1.0, 2.0, 0.5], bias=[0.1, 0.0, -0.1],
                   **({"tau_syn": 2e-3} if readout == "cuba_li" else {}))
    net.connect("x", "h", mask=mask, delay=input_delay)
    net.connect("h", "h", self_connections=False).connect("h", "o").connect("x", "o")
    return net.build(["o"])


def data(network, seed=1, n=5):
    rng = np.random.default_rng(seed)
    x = (rng.random((n, network.n_steps, network.n_in)) < 0.4).astype(float)
    return x, rng.integers(0, network.n_out, n)


def scaled(network, seed=3, scale=1.5):
    return {k: scale * v for k, v in network.init_params(seed=seed).items()}


CASES = {
    "lif, reset to a value": dict(model="lif"),
    "lif, by subtraction": dict(model="lif", reset="subtract"),
    "current-based lif": dict(model="cuba_lif"),
    "alif, delayed subtraction": dict(model="alif", reset="subtract", delayed=True),
    "alif, reset to a value": dict(model="alif"),
    "if": dict(model="if", reset="subtract"),
    "current-based readout": dict(model="lif", readout="cuba_li"),
    "sparse input, delayed": dict(model="cuba_lif", mask=np.random.default_rng(0).random((4, 6)) < 0.6,
                                  input_delay=1),
}


@pytest.mark.parametrize("case", CASES)
def test_gradients_equal_bptt_with_the_rules_stop_gradients(case):
    network = hidden_network(**CASES[case])
    params = scaled(network)
    x, labels = data(network)
    ours, logits = eprop(network, params, x, labels, pes=2)
    reference, reference_logits = bptt(network, params, x, labels)
    spikes = run(network, params, x)[0]["h"]["spikes"]
    assert 0.02 < spikes.mean() < 0.8, "the case must spike, or it tests nothing"
    np.testing.assert_allclose(logits, reference_logits, atol=1e-12)
    for key in reference:
        assert np.abs(reference[key]).max() > 1e-6, f"{key} has no gradient to compare"
        np.testing.assert_allclose(ours[key], reference[key], rtol=1e-9, atol=1e-12, err_msg=f"{case}: {key}")


def two_populations():
    net = NetworkBuilder(n_steps=20, dt_s=1e-3)
    net.input("x", 5)
    net.population("a", 4, "alif", tau_mem=5e-3, tau_adapt=30e-3, beta=0.2, reset="subtract", reset_delayed=True,
                   threshold=0.6)
    net.population("b", 3, "cuba_lif", tau_mem=4e-3, tau_syn=2e-3, threshold=0.4)
    net.population("o", 2, "li", tau_mem=10e-3)
    net.connect("x", "a").connect("x", "b").connect("a", "a").connect("a", "b", delay=1).connect("b", "a", delay=1)
    net.connect("a", "o").connect("b", "o")
    return net.build(["o"])


def test_two_recurrent_populations_and_any_split_give_the_same_gradients():
    network = two_populations()
    params = scaled(network, seed=5, scale=2.0)
    x, labels = data(network, seed=2, n=6)
    reference, _ = bptt(network, params, x, labels)
    for pes, sub_batch in ((1, None), (2, 4), (3, 1)):
        ours, _ = eprop(network, params, x, labels, pes=pes, sub_batch=sub_batch)
        for key in reference:
            np.testing.assert_allclose(ours[key], reference[key], rtol=1e-9, atol=1e-12, err_msg=f"P={pes} {key}")


def test_the_rules_own_network_as_a_graph_gives_the_rules_gradients():
    config = EpropConfig(n_in=6, n_rec=10, n_out=3, n_steps=30)
    params = init_eprop_params(config, seed=2, dtype=np.float64)
    params = {k: 2.5 * v for k, v in params.items()}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 30, 6))
    labels = rng.integers(0, 3, 4)
    expected, _, expected_logits = eprop_gradients(params, x, labels, config, n_pes=2)
    ours, logits = eprop(to_graph(config), params, x, labels, pes=3)
    np.testing.assert_allclose(logits, expected_logits, atol=1e-12)
    for key in expected:
        np.testing.assert_allclose(ours[key], expected[key], rtol=1e-9, atol=1e-13, err_msg=key)


def test_spiking_outputs_are_refused_with_the_way_out():
    net = NetworkBuilder(n_steps=10)
    net.input("x", 2)
    net.population("h", 3, "lif", tau_mem=5e-3)
    net.population("o", 2, "cuba_lif", tau_mem=5e-3, tau_syn=2e-3)
    net.connect("x", "h").connect("h", "h").connect("h", "o")
    network = net.build(["o"], readout="spike_count")
    with pytest.raises(NetworkError, match=r"output 'o' is a cuba_lif population; .*with_leaky_outputs\(\)"):
        EpropGraph(network)
    leaky = EpropGraph(network.with_leaky_outputs()).network
    assert leaky.population("o").model == "cuba_li" and leaky.readout == "mean_v"
    np.testing.assert_array_equal(leaky.population("o").decay_syn, network.population("o").decay_syn)


def refused(build, outputs=("o",)):
    net = NetworkBuilder(n_steps=10)
    net.input("x", 2)
    build(net)
    with pytest.raises(NetworkError) as error:
        EpropGraph(net.build(list(outputs)))
    return str(error.value)


def test_what_eprop_cannot_train_is_refused_with_the_reason():
    def base(net, **h):
        net.population("h", 3, "lif", **({"tau_mem": 5e-3} | h))
        net.population("o", 2, "li", tau_mem=5e-3)
        return net

    assert "connection 'w_h_g' (h -> g) has delay 0" in refused(
        lambda n: base(n).population("g", 2, "lif", tau_mem=5e-3).connect("x", "h").connect("h", "g")
        .connect("h", "o").connect("g", "o"))
    assert "population 'g' connects to no output" in refused(
        lambda n: base(n).population("g", 2, "lif", tau_mem=5e-3).connect("x", "h").connect("h", "g", delay=1)
        .connect("h", "o"))
    assert "decay_mem differs between neurons" in refused(
        lambda n: base(n, tau_mem=[5e-3, 6e-3, 7e-3]).connect("x", "h").connect("h", "o"))
    assert "e-prop's hidden populations spike" in refused(
        lambda n: base(n).population("m", 2, "li", tau_mem=5e-3).connect("x", "h").connect("h", "m")
        .connect("m", "o").connect("h", "o"))


@pytest.mark.parametrize("kind", ["quantised", "pcm"])
@pytest.mark.parametrize("graph", ["two populations", "input onto the outputs"])
def test_device_synapses_hold_a_graphs_weights_the_same_for_any_split(kind, graph):
    from pe_actors.synapses import SynapseConfig

    network = two_populations() if graph == "two populations" else hidden_network("alif", "subtract", True)
    params = scaled(network, seed=5, scale=2.0)
    x, labels = data(network, seed=2, n=6)
    synapses = SynapseConfig(kind=kind, bits=4, seed=3)
    states = []
    for pes in (1, 3):
        group = GraphGroup(EpropGraph(network), pes, synapses=synapses)
        engine = GroupEngine(group, params, OptimiserConfig(lr=0.01), None)
        engine.train_batch(x, labels, 0.01)
        states.append(group.gather_state([p.state_dict() for p in engine.programs]))
    one, three = states
    assert set(one) == set(three) and any(key.startswith("level_") for key in one)
    for key in one:
        np.testing.assert_allclose(np.asarray(three[key]), np.asarray(one[key]), rtol=1e-6, atol=1e-7, err_msg=key)
    assert sum(p.writes for p in engine.programs) > 0
