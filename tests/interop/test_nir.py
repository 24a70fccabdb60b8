"""NIR export and import: round trips of our networks, agreement with snnTorch (the optional peer), and named
errors for what pe-actors cannot represent."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pe_actors.interop.nir import ImportedNetwork, NIRError, from_nir, to_nir, write_nir
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.gradients import init_params
from pe_actors.rules.eventprop.config import EventPropConfig
from pe_actors.rules.eventprop.encoding import encode
from pe_actors.rules.eventprop.network import forward, init_eventprop_params

nir = pytest.importorskip("nir")

NETWORK = EventPropConfig(sizes=(5, 16, 3))


def rasters(network: EventPropConfig, n: int = 64, seed: int = 0) -> np.ndarray:
    return encode(np.random.default_rng(seed).uniform(0, 1, (n, network.n_in - 1)), network, np.float64)


def test_eventprop_round_trip_through_a_file_keeps_network_weights_and_predictions(tmp_path):
    params = init_eventprop_params(NETWORK, seed=4)
    ours = ImportedNetwork("eventprop", NETWORK, params)
    path = write_nir(to_nir(ours), tmp_path / "net.nir")
    graph = nir.read(path)
    assert [type(graph.nodes[k]).__name__ for k in ("w_0", "lif_1", "w_1", "lif_2")] == [
        "Linear", "CubaLIF", "Linear", "CubaLIF",
    ]
    np.testing.assert_allclose(graph.nodes["lif_1"].v_threshold, NETWORK.theta)
    back = from_nir(path)
    assert back.rule == "eventprop" and back.network == NETWORK
    for key, value in params.items():
        np.testing.assert_allclose(back.params[key], value, rtol=1e-14, atol=0)
    x = rasters(NETWORK)
    np.testing.assert_array_equal(back.engine().predict(x).argmax(1), ours.engine().predict(x).argmax(1))


def test_a_foreign_cubalif_chain_imports_under_the_euler_convention():
    # Written for dt = 1e-4 s with snnTorch's parameters (r = tau_mem/dt, w_in = tau_syn/dt): pe-actors reads
    # alpha = 1 - dt/tau_syn = 0.8, beta = 1 - dt/tau_mem = 0.9 and folds the input scale into the weights.
    dt, n = 1e-4, 4
    tau_syn, tau_mem = dt / 0.2, dt / 0.1
    weight = np.random.default_rng(1).normal(size=(n, 5))
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([5])}),
            "fc": nir.Affine(weight=weight, bias=np.zeros(n)),
            "lif": nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.full(n, tau_mem / dt),
                               v_leak=np.zeros(n), v_threshold=np.full(n, 2.0), v_reset=np.zeros(n),
                               w_in=np.full(n, tau_syn / dt)),
            "output": nir.Output(output_type={"output": np.array([n])}),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
    )
    with pytest.raises(NIRError, match="records no time step; give dt="):
        from_nir(graph)
    imported = from_nir(graph, dt=dt, n_steps=40, rule="eventprop")
    network = imported.network
    assert network.sizes == (5, n) and network.n_steps == 40 and network.theta == 2.0
    assert network.a == pytest.approx(0.8, rel=1e-12) and network.b == pytest.approx(0.9, rel=1e-12)
    np.testing.assert_allclose(imported.params["w_0"], weight.T / 0.1, rtol=1e-12)


def test_what_pe_actors_cannot_represent_is_named():
    n = 3
    lif = dict(tau_syn=np.full(n, 1e-3), tau_mem=np.full(n, 2e-3), r=np.full(n, 20.0), v_leak=np.zeros(n),
               v_threshold=np.full(n, 1.0), v_reset=np.zeros(n), w_in=np.full(n, 10.0))

    def graph(**changes):
        nodes = {
            "input": nir.Input(input_type={"input": np.array([2])}),
            "fc": changes.pop("fc", nir.Linear(weight=np.ones((n, 2)))),
            "lif": nir.CubaLIF(**{**lif, **changes}),
            "output": nir.Output(output_type={"output": np.array([n])}),
        }
        return nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)

    with pytest.raises(NIRError, match="node 'lif': v_threshold differs between neurons"):
        from_nir(graph(v_threshold=np.array([1.0, 1.0, 2.0])), dt=1e-4, rule="eventprop")
    with pytest.raises(NIRError, match="node 'lif': v_leak 0.5"):
        from_nir(graph(v_leak=np.full(n, 0.5)), dt=1e-4, rule="eventprop")
    with pytest.raises(NIRError, match="node 'fc': an Affine with a non-zero bias"):
        from_nir(graph(fc=nir.Affine(weight=np.ones((n, 2)), bias=np.ones(n))), dt=1e-4, rule="eventprop")
    with pytest.raises(NIRError, match="node 'fc' is a Scale"):
        from_nir(graph(fc=nir.Scale(scale=np.ones(2))), dt=1e-4, rule="eventprop")


def test_eprop_export_refuses_alif_unless_approximate_and_restores_from_metadata(tmp_path):
    network = NetworkConfig(n_in=6, n_rec=8, n_out=3, n_steps=20)
    params = init_params(network, seed=2, dtype=np.float32)
    ours = ImportedNetwork("eprop", network, params)
    with pytest.raises(NIRError, match="ALIF neurons have no NIR primitive"):
        to_nir(ours)
    graph = to_nir(ours, approximate=True)
    assert type(graph.nodes["rec"]).__name__ == "LIF" and ("w_rec", "rec") in graph.edges
    assert type(graph.nodes["readout"]).__name__ == "LI"
    back = from_nir(nir.read(write_nir(graph, tmp_path / "eprop.nir")))
    assert back.rule == "eprop" and back.network == network
    for key, value in params.items():
        np.testing.assert_array_equal(back.params[key], value)


def test_an_imported_network_trains_and_adapts_from_its_checkpoint(tmp_path):
    from pe_actors.api import load

    imported = from_nir(to_nir(ImportedNetwork("eventprop", NETWORK, init_eventprop_params(NETWORK, seed=1))))
    x, labels = rasters(NETWORK, 8), np.arange(8) % 3
    for backend in ("offchip", "inprocess"):
        with imported.engine(backend, pes=2, sub_batch=4) as engine:
            result = engine.train_batch(x, labels, 0.01)
            assert result.logits.shape == (8, 3)
    path = imported.save(tmp_path / "run")
    model = load(path)
    np.testing.assert_array_equal(model.predict(x).argmax(1), imported.engine().predict(x).argmax(1))


@pytest.mark.ray
def test_an_imported_network_runs_on_the_pe_actors(local_ray):
    imported = from_nir(to_nir(ImportedNetwork("eventprop", NETWORK, init_eventprop_params(NETWORK, seed=1))))
    x, labels = rasters(NETWORK, 4), np.arange(4) % 3
    reference = imported.engine("inprocess", pes=2, sub_batch=2)
    reference.train_batch(x, labels, 0.01)
    with imported.engine("actors", pes=2, groups=2, sub_batch=2, record_metrics=False) as engine:
        engine.train_batch(x, labels, 0.01)
        for key, value in reference.params().items():
            np.testing.assert_allclose(engine.params()[key], value, rtol=1e-12, atol=1e-14)


# The peer: snnTorch (the optional dependency .[interop]).


def snntorch_net(weights: list[np.ndarray], alpha: float, beta: float, threshold: float):
    """A snnTorch network of bias-free Linear and Synaptic layers (reset to zero, at once), in float32."""
    torch = pytest.importorskip("torch")
    snn = pytest.importorskip("snntorch")
    layers = []
    for weight in weights:
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        linear.weight.data = torch.tensor(weight, dtype=torch.float32)
        # Per-neuron decays: NIR infers a layer's size from its parameters' shapes.
        n = weight.shape[0]
        neuron = snn.Synaptic(alpha=torch.full((n,), alpha), beta=torch.full((n,), beta),
                              threshold=torch.full((n,), threshold), reset_mechanism="zero", reset_delay=False,
                              init_hidden=True)
        layers += [linear, neuron]
    return torch.nn.Sequential(*layers)


def run_snntorch(modules: list, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's spikes (batch, T, n) of snnTorch's own Synaptic neurons stepping the alternating Linear and
    Synaptic ``modules`` on rasters ``x``, in float64 (snnTorch's spikes come out as float32 0/1, so the layers
    are stepped one by one)."""
    import torch

    layers = [(modules[i].weight.double(), modules[i + 1]) for i in range(0, len(modules), 2)]
    for _, neuron in layers:
        neuron.reset_hidden()
        neuron.syn, neuron.mem = torch.zeros(0), torch.zeros(0)
    records: list[list] = [[] for _ in layers]
    with torch.no_grad():
        for t in range(x.shape[1]):
            signal = torch.tensor(x[:, t], dtype=torch.float64)
            for layer, (weight, neuron) in enumerate(layers):
                out = neuron(signal @ weight.T)
                signal = (out[0] if isinstance(out, tuple) else out).double()
                records[layer].append(signal.numpy().copy())
    return [np.stack(r, axis=1) for r in records]


def test_a_network_exported_by_snntorch_gives_snntorchs_spikes():
    from snntorch.export_nir import export_to_nir

    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    # float32 values, so that snnTorch's float32 export and the float64 runs hold the same numbers.
    weights = [rng.normal(0.6, 0.5, (20, 5)).astype(np.float32), rng.normal(0.3, 0.4, (4, 20)).astype(np.float32)]
    net = snntorch_net(weights, alpha=0.75, beta=0.875, threshold=1.0)
    graph = export_to_nir(net, torch.zeros(1, 5), ignore_dims=[0])
    layers = len(weights)
    imported = from_nir(graph, dt=1e-4, n_steps=60 + layers, rule="eventprop")
    x = (rng.random((16, 60, 5)) < 0.2).astype(np.float64)
    theirs = run_snntorch(list(net), x)
    # pe-actors delays every layer by one step: its layer l at step i is snnTorch's at step i - l.
    padded = np.concatenate([x, np.zeros((16, layers, 5))], axis=1)
    tapes = forward(imported.params, padded, imported.network)
    total = 0
    for layer, (spikes, (_, _, ours)) in enumerate(zip(theirs, tapes, strict=True), start=1):
        np.testing.assert_array_equal(ours[:, layer : layer + 60], spikes)
        total += int(spikes.sum())
    assert total > 100  # the comparison saw spikes in every layer


def test_our_export_runs_in_snntorch_and_comes_back_with_identical_predictions(tmp_path):
    from snntorch.export_nir import export_to_nir
    from snntorch.import_nir import import_from_nir

    torch = pytest.importorskip("torch")
    params = init_eventprop_params(NETWORK, seed=5)
    params["w_1"] = 3 * params["w_1"]  # outputs that spike in most samples, so that predictions say something
    ours = ImportedNetwork("eventprop", NETWORK, params)
    path = write_nir(to_nir(ours, dt=1e-4), tmp_path / "ours.nir")  # snnTorch reads every graph at 1e-4 s
    net = import_from_nir(nir.read(path))
    snn = pytest.importorskip("snntorch")
    modules = [m for m in net.modules() if isinstance(m, (torch.nn.Linear, snn.Synaptic))]
    assert [type(m).__name__ for m in modules] == ["Linear", "Synaptic", "Linear", "Synaptic"]
    x = rasters(NETWORK, 32)
    theirs = run_snntorch(modules, x)
    # pe-actors delays each layer by one step: its layer l at step i is snnTorch's at step i - l.
    longer = EventPropConfig(**{**NETWORK.to_dict(), "sizes": NETWORK.sizes, "n_steps": NETWORK.n_steps + 2})
    tapes = forward(params, np.concatenate([x, np.zeros((32, 2, 5))], axis=1), longer)
    for layer, spikes in enumerate(theirs, start=1):
        np.testing.assert_array_equal(tapes[layer - 1][2][:, layer : layer + NETWORK.n_steps], spikes)
    assert theirs[-1].sum() > 100
    # And back: snnTorch's export of what it imported reads into pe-actors with the same predictions. snnTorch
    # imports shared decays as scalars, which its own export cannot size: give them per neuron (same values).
    for linear, neuron in zip(modules[::2], modules[1::2], strict=True):
        n = linear.weight.shape[0]
        for name in ("alpha", "beta", "threshold"):
            setattr(neuron, name, torch.full((n,), float(getattr(neuron, name))))
    again = from_nir(export_to_nir(net.float(), torch.zeros(1, 5), ignore_dims=[0]), dt=1e-4, n_steps=NETWORK.n_steps,
                     rule="eventprop")
    np.testing.assert_array_equal(again.engine().predict(x).argmax(1), ours.engine().predict(x).argmax(1))


def test_export_command_writes_a_graph_and_names_what_it_refuses(tmp_path):
    from click.testing import CliRunner

    from pe_actors_launcher.cli import cli

    run = tmp_path / "yy"
    trained = CliRunner().invoke(cli, ["train", "--rule", "eventprop", "--epochs", "1", "--max-samples", "64",
                                       "--no-progress", "--out", str(run)])
    assert trained.exit_code == 0, trained.output
    result = CliRunner().invoke(cli, ["export", "--checkpoint", str(run), "--out", str(tmp_path / "yy.nir")])
    assert result.exit_code == 0, result.output
    assert "CubaLIF" in result.output
    back = from_nir(tmp_path / "yy.nir")
    from pe_actors.api import load

    x = rasters(back.network, 50)
    np.testing.assert_array_equal(back.engine().predict(x), load(run).predict(x))
    bad = CliRunner().invoke(cli, ["export", "--checkpoint", str(tmp_path), "--out", str(tmp_path / "x.nir")])
    assert bad.exit_code == 2 and "--checkpoint" in bad.output
    # A path through a file and a read-only folder: one line naming --out, no traceback; nothing replaced.
    through = CliRunner().invoke(cli, ["export", "--checkpoint", str(run), "--out", str(tmp_path / "yy.nir" / "x")])
    assert through.exit_code == 2 and "cannot write" in through.output and "Traceback" not in through.output
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "net.nir").write_bytes(b"previous")
    locked.chmod(0o500)
    try:
        result = CliRunner().invoke(cli, ["export", "--checkpoint", str(run), "--out", str(locked / "net.nir")])
        if os.geteuid() != 0:  # root writes into a read-only folder anyway
            assert result.exit_code == 2 and "--out" in result.output and "Traceback" not in result.output
            assert (locked / "net.nir").read_bytes() == b"previous"
    finally:
        locked.chmod(0o700)


def test_an_imported_network_adapts_from_its_saved_checkpoint(tmp_path):
    import pe_actors as pa
    from pe_actors_datasets.yinyang import write_yinyang

    imported = from_nir(to_nir(ImportedNetwork("eventprop", NETWORK, init_eventprop_params(NETWORK, seed=1))))
    checkpoint = imported.save(tmp_path / "imported", class_names=["yin", "yang", "dot"])
    write_yinyang(tmp_path / "rotated", rotate_deg=20.0)
    result = pa.adapt(checkpoint=checkpoint, data=tmp_path / "rotated", engine="inprocess", pes=2, samples=6,
                      eval_every=3, out=tmp_path / "adapted", progress=False)
    assert [point["samples"] for point in result["curve"]] == [0, 3, 6]
    assert pa.load(tmp_path / "adapted").config == NETWORK


def test_a_failed_write_leaves_the_previous_graph_as_it_was(tmp_path, monkeypatch):
    import pe_actors.interop.nir as interop

    graph = to_nir(ImportedNetwork("eventprop", NETWORK, init_eventprop_params(NETWORK, 0)))
    path = write_nir(graph, tmp_path / "n.nir")
    before = path.read_bytes()

    class FullDisk:
        def write(self, target, graph):
            Path(target).write_bytes(b"partial")
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(interop, "nir_module", lambda: FullDisk())
    with pytest.raises(OSError, match="No space left"):
        write_nir(to_nir(ImportedNetwork("eventprop", NETWORK, init_eventprop_params(NETWORK, 1))), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["n.nir"]

