"""Untrusted NIR files: a file that would read other files of the machine, declare more memory than it holds, ask
for an absurd trial, or carry malformed values is refused naming the file or the node, before anything is read
into a model."""

from __future__ import annotations

import json
import os

import h5py
import nir
import numpy as np
import pytest

from pe_actors.interop.nir import NIRError, from_nir, write_nir


def small_graph(metadata=None, weight=None, tau=1e-3):
    n = 3
    nodes = {"input": nir.Input(input_type={"input": np.array([2])}),
             "fc": nir.Linear(weight=np.ones((n, 2)) if weight is None else weight),
             "lif": nir.CubaLIF(tau_syn=np.full(n, tau), tau_mem=np.full(n, 2e-3), r=np.full(n, 20.0),
                                v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n), w_in=np.ones(n)),
             "output": nir.Output(output_type={"output": np.array([n])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
                        metadata=metadata or {}, type_check=False)


def test_an_array_stored_in_another_file_is_refused(tmp_path):
    path = write_nir(small_graph(), tmp_path / "graph.nir")
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(6, dtype=np.float64).tobytes())
    with h5py.File(path, "a") as handle:
        weight = next(k for k in ("node/nodes/fc/weight", "nodes/fc/weight") if k in handle)
        del handle[weight]
        handle.create_dataset(weight, shape=(3, 2), dtype=np.float64, external=[(str(secret), 0, 48)])
    with pytest.raises(NIRError, match=r"graph.nir: .*fc/weight is stored in external files"):
        from_nir(path, dt=1e-4, reset="value")


def test_a_link_to_another_file_is_refused(tmp_path):
    path = write_nir(small_graph(), tmp_path / "graph.nir")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as handle:
        handle["data"] = np.ones(3)
    with h5py.File(path, "a") as handle:
        handle["stolen"] = h5py.ExternalLink(str(other), "data")
    with pytest.raises(NIRError, match="links to the file"):
        from_nir(path, dt=1e-4, reset="value")


def test_a_small_file_that_declares_a_huge_array_is_refused_unread(tmp_path):
    path = write_nir(small_graph(), tmp_path / "graph.nir")
    with h5py.File(path, "a") as handle:
        handle.create_dataset("huge", shape=(2**17, 2**16), dtype=np.float64, chunks=(64, 64), compression="gzip")
    assert os.path.getsize(path) < 1_000_000
    with pytest.raises(NIRError, match="GiB, more than"):
        from_nir(path, dt=1e-4, reset="value")


@pytest.mark.parametrize(("graph", "message"), [
    (small_graph(metadata={"pe_actors": json.dumps({"n_steps": 10**9})}), "n_steps 1000000000"),
    (small_graph(metadata={"pe_actors": json.dumps([1, 2])}), "must be a JSON object"),
    (small_graph(weight=np.full((3, 2), np.inf)), "node 'fc': weight holds NaN or Inf"),
    (small_graph(tau=0.0), "node 'lif': tau_syn"),
])
def test_malformed_graphs_are_named(graph, message):
    with pytest.raises(NIRError, match=message):
        from_nir(graph, dt=1e-4, reset="value")
    with pytest.raises(NIRError, match=message):
        from_nir(graph, dt=1e-4, rule="eventprop")


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "graph.nir"
    os.mkfifo(fifo)
    with pytest.raises(NIRError, match="not a regular file"):
        from_nir(fifo, dt=1e-4)


def test_a_node_missing_a_field_is_named_with_the_field(tmp_path):
    path = write_nir(small_graph(), tmp_path / "partial.nir")
    with h5py.File(path, "a") as handle:
        del handle["node/nodes/lif/tau_mem"]
    with pytest.raises(NIRError, match=r"partial.nir: not a readable NIR file: node 'lif' \(CubaLIF\): .*tau_mem"):
        from_nir(path, dt=1e-4, reset="value")


FUZZ_SOURCES = ("braille_noDelay_bias_zero.nir", "braille_noDelay_noBias_subtract.nir", "lif_norse.nir")


def mangle(handle: h5py.File, rng: np.random.Generator) -> str:
    """One random defect in an open NIR file: a node's field deleted, replaced by a string, a scalar, an empty
    array, an array of another shape, scaled to an extreme, or retyped; or its edges cut, doubled or dangling."""
    nodes = handle["node/nodes"]
    names = sorted(nodes)
    kind = int(rng.integers(7))
    if kind == 6:
        edges = handle["node/edges"][()]
        del handle["node/edges"]
        cut = int(rng.integers(3))
        if cut == 0:
            edges = edges[:-1]
        elif cut == 1:
            edges[int(rng.integers(len(edges))), int(rng.integers(2))] = b"ghost"
        else:
            edges = np.concatenate([edges, edges[:1]])
        handle.create_dataset("node/edges", data=edges, dtype=h5py.string_dtype())
        return f"edges ({cut})"
    name = names[int(rng.integers(len(names)))]
    node = nodes[name]
    key = sorted(k for k in node if isinstance(node[k], h5py.Dataset))[int(rng.integers(len(node)))]
    old = node[key][()]
    del node[key]
    if kind == 1:
        node[key] = b"abc"
    elif kind == 2:
        node[key] = np.float64(rng.normal())
    elif kind == 3:
        node[key] = np.zeros(0)
    elif kind == 4:
        node[key] = rng.normal(size=tuple(int(s) for s in rng.integers(1, 9, int(rng.integers(1, 4)))))
    elif kind == 5:
        node[key] = b"Bogus" if isinstance(old, bytes) else np.asarray(old) * rng.choice([-1.0, 0.0, 1e300])
    return f"{name}/{key} ({kind})"


def test_mangled_graphs_import_or_are_refused_by_name_never_with_a_raw_error(tmp_path):
    """A seeded fuzz of the NIR paper's graphs: every mangled file imports and runs, or gives an NIRError or
    NetworkError naming the file or the node; no other exception escapes (the nir library's own checks raise
    AssertionError, KeyError and TypeError)."""
    from pathlib import Path

    import pe_actors as pa
    from pe_actors.networks import NetworkError

    papers = Path(__file__).resolve().parents[1] / "data" / "nir_paper"
    rng = np.random.default_rng(2026)
    outcomes = {"imported": 0, "refused": 0}
    for case in range(120):
        path = tmp_path / f"case{case}.nir"
        path.write_bytes((papers / FUZZ_SOURCES[case % len(FUZZ_SOURCES)]).read_bytes())
        with h5py.File(path, "a") as handle:
            defect = mangle(handle, rng)
        try:
            with np.errstate(all="raise"):
                imported = from_nir(path, dt=1e-4, n_steps=8, reset="value")
                pa.simulate(imported, np.ones((1, 8, imported.network.n_in)))
            outcomes["imported"] += 1
        except (NIRError, NetworkError) as error:
            assert f"case{case}.nir" in str(error) or "node" in str(error) or "graph" in str(error), defect
            outcomes["refused"] += 1
        except Exception as error:  # noqa: BLE001 - what the test is for
            pytest.fail(f"case {case} ({defect}): {type(error).__name__}: {error}")
    assert outcomes["imported"] >= 1 and outcomes["refused"] >= 60, outcomes
