"""The NIR paper's own graphs (tests/data/nir_paper, from the public neuromorphs/NIR repository): the single LIF
neuron reproduces the spike steps that the exact solution, Norse, snnTorch and SpiNNaker2 agree on, and the
recurrent braille networks import whole and simulate as Norse, a peer simulator, simulates them."""

from __future__ import annotations

import logging
from pathlib import Path

import nir
import numpy as np
import pytest

import pe_actors
from pe_actors.interop.nir import from_nir

PAPER = Path(__file__).parent.parent / "data" / "nir_paper"
PLATFORMS = ("exact", "norse", "snntorch", "spinnaker2")
BRAILLE = {"braille_noDelay_bias_zero.nir": 38, "braille_noDelay_noBias_subtract.nir": 40}


def test_the_single_lif_neuron_spikes_where_every_platform_does():
    traces = {p: np.loadtxt(PAPER / f"lif_{p}.csv", delimiter=",") for p in PLATFORMS}
    x = traces["exact"][:, 0]
    steps = {p: np.flatnonzero(t[:, 2]).tolist() for p, t in traces.items()}
    assert all(np.array_equal(t[:, 0], x) for t in traces.values()), "the platforms ran the same input"
    assert len({tuple(s) for s in steps.values()}) == 1 and steps["exact"], "the platforms agree with each other"
    imported = from_nir(PAPER / "lif_norse.nir", dt=1e-4, n_steps=len(x))
    simulation = pe_actors.simulate(imported, x[None, :, None], record=("spikes", "v"))
    ours = simulation.populations["1"]["spikes"][0, :, 0]
    assert np.flatnonzero(ours).tolist() == steps["exact"]
    # The voltage follows Norse's, which takes the same Euler step (to float32 rounding); at a spike Norse records
    # the voltage after the reset, pe-actors the one before it, above the threshold.
    v, theirs, spiked = simulation.populations["1"]["v"][0, :, 0], traces["norse"][:, 1], ours > 0
    np.testing.assert_allclose(v[~spiked], theirs[~spiked], atol=2e-6)
    assert np.all(theirs[spiked] == 0) and np.all(v[spiked] > imported.network.population("1").threshold[0])


@pytest.mark.parametrize(("name", "hidden"), BRAILLE.items())
def test_the_braille_networks_import_whole(name, hidden, caplog):
    with caplog.at_level(logging.WARNING):
        imported = from_nir(PAPER / name, dt=1e-4, n_steps=256)
    assert "cannot tell other resets" in caplog.text  # the graph cannot say how it resets: the import says so
    network = imported.network
    assert imported.rule is None and network.n_in == 12 and network.outputs == ("lif2",)
    assert [(p.name, p.model, p.size) for p in network.populations] == [("lif1.lif", "cuba_lif", hidden),
                                                                         ("lif2", "cuba_lif", 7)]
    assert [(c.name, c.source, c.target, c.delay) for c in network.connections] == [
        ("fc1", "input", "lif1.lif", 0), ("fc2", "lif1.lif", "lif2", 0), ("lif1.w_rec", "lif1.lif", "lif1.lif", 1)]
    graph = nir.read(PAPER / name)
    np.testing.assert_allclose(imported.params["w_lif1_w_rec"], np.asarray(graph.nodes["lif1.w_rec"].weight).T)
    if "bias" in name and "noBias" not in name:
        # Both Affine nodes onto lif1.lif add their biases to its drive.
        expected = np.asarray(graph.nodes["fc1"].bias) + np.asarray(graph.nodes["lif1.w_rec"].bias)
        np.testing.assert_allclose(network.population("lif1.lif").bias, expected, rtol=1e-6)
    # The Euler reading of the recorded time constants: the decays of the paper's training (0.55, 0.9 and so on).
    lif1 = network.population("lif1.lif")
    assert 0 < lif1.uniform("decay_syn") < 1 and 0 < lif1.uniform("decay_mem") < 1


def norse_first_layer(path: Path, x: np.ndarray) -> np.ndarray:
    """The spikes of node ``lif1.lif`` (batch, T, n) when Norse imports the graph and steps it on ``x``."""
    torch = pytest.importorskip("torch")
    norse = pytest.importorskip("norse.torch")
    net = norse.from_nir(nir.read(path), dt=1e-4)
    modules = dict(net.named_modules())
    name = next(k for k in modules if k.split(".")[-1] == "lif" and "lif1" in k)
    seen: list[np.ndarray] = []
    hook = modules[name].register_forward_hook(
        lambda m, i, o: seen.append((o[0] if isinstance(o, tuple) else o).detach().numpy().copy()))
    out = []
    for sample in x:
        seen.clear()
        state = None
        with torch.no_grad():
            for t in range(len(sample)):
                _, state = net(torch.tensor(sample[t : t + 1]), state)
        out.append(np.concatenate(seen))
    hook.remove()
    return np.stack(out)


@pytest.mark.parametrize("name", BRAILLE)
def test_the_braille_networks_simulate_as_norse_does(name):
    rng = np.random.default_rng(0)
    x = (rng.random((6, 256, 12)) < 0.08).astype(np.float32)
    imported = from_nir(PAPER / name, dt=1e-4, n_steps=256)
    params = {key: value.astype(np.float32) for key, value in imported.params.items()}
    ours = pe_actors.simulate(imported.network, x, params, record=("spikes",)).populations["lif1.lif"]["spikes"]
    theirs = norse_first_layer(PAPER / name, x)
    assert ours.mean() > 0.005 and theirs.mean() > 0.005, "the comparison must see spikes"
    # The paper's platforms agree on 97.8-99.8 % of the first layer's (step, neuron) entries with each other.
    assert (ours == theirs.reshape(ours.shape)).mean() >= 0.99
