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
