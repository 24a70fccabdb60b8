"""e-prop's networks in NIR (docs/interop.md): its ALIF neurons have no NIR primitive (NIR's LIF has no adaptive
threshold and resets to a value, where ALIF subtracts its threshold), so the export is refused unless approximate,
which writes the recurrent layer as a LIF cycle at the baseline threshold with reset to zero and the readout as a
leaky integrator; the exact network stays in the graph's metadata, from which it is restored."""

from __future__ import annotations

from typing import Any

import numpy as np

from pe_actors.core.nirgraph import NIRError, NIRForm, metadata, nir_module
from pe_actors.rules.eprop.config import EpropConfig as NetworkConfig

#: The NIR step of an e-prop network when its checkpoint records no feature hop: the stand-in's 10 ms frames.
EPROP_DT_S = 0.01


def default_dt_s(network: NetworkConfig, extra: dict[str, Any]) -> float:
    """The step a graph is written for by default: the feature hop the checkpoint records, else 10 ms."""
    return extra.get("dt_s") or EPROP_DT_S


def to_graph(
    network: NetworkConfig, params: dict[str, np.ndarray], dt: float, extra: dict, approximate: bool = False
) -> Any:
    """The approximate NIR graph of the network (see the module docstring); an NIRError unless ``approximate``."""
    if not approximate:
        raise NIRError(
            "the e-prop network's ALIF neurons have no NIR primitive: NIR's LIF has no adaptive threshold "
            f"(beta {network.beta:g}, tau_a {network.tau_a:g} steps) and resets to a value where ALIF subtracts its "
            "threshold; export with approximate=True (pe-actors export --approximate) to write them as LIF "
            "neurons at the baseline threshold b0 with reset to zero (the exact network stays in the metadata)"
        )
    nir = nir_module()
    n, tau_rec, tau_out = network.n_rec, dt / (1.0 - network.alpha), dt / (1.0 - network.kappa)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([network.n_in])}),
        "w_in": nir.Linear(weight=np.asarray(params["w_in"], np.float64).T),
        "rec": nir.LIF(tau=np.full(n, tau_rec), r=np.ones(n), v_leak=np.zeros(n),
                       v_threshold=np.full(n, float(network.b0)), v_reset=np.zeros(n)),
        "w_rec": nir.Linear(weight=np.asarray(params["w_rec"], np.float64).T),
        "w_out": nir.Linear(weight=np.asarray(params["w_out"], np.float64).T),
        "readout": nir.LI(tau=np.full(network.n_out, tau_out), r=np.full(network.n_out, tau_out / dt),
                          v_leak=np.zeros(network.n_out)),
        "output": nir.Output(output_type={"output": np.array([network.n_out])}),
    }
    edges = [("input", "w_in"), ("w_in", "rec"), ("rec", "w_rec"), ("w_rec", "rec"), ("rec", "w_out"),
             ("w_out", "readout"), ("readout", "output")]
    approximation = (f"ALIF written as LIF at the baseline threshold b0 = {network.b0:g}: the adaptation (beta "
                     f"{network.beta:g}, tau_a {network.tau_a:g} steps) and the reset by subtraction are not in the "
                     "nodes; the class scores are the readout's mean over T steps")
    record = metadata("eprop", network, dt, extra, n_steps=network.n_steps, approximation=approximation)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=record)


def from_graph(graph: Any, dt: float, recorded: dict, n_steps: int | None, t_code_ms: float | None)\
        -> tuple[NetworkConfig, dict[str, np.ndarray]]:
    """The exact network the graph's metadata records with the weights of its nodes."""
    try:
        network = NetworkConfig.from_dict(recorded["network"])
        params = {key: np.asarray(graph.nodes[key].weight, np.float64).T for key in ("w_in", "w_rec", "w_out")}
    except (KeyError, TypeError, ValueError) as error:
        raise NIRError(f"the graph's e-prop network cannot be restored from its metadata and nodes: {error}") from None
    expected = {"w_in": (network.n_in, network.n_rec), "w_rec": (network.n_rec, network.n_rec),
                "w_out": (network.n_rec, network.n_out)}
    for key, shape in expected.items():
        if params[key].shape != shape:
            raise NIRError(f"node {key!r}: weight of shape {params[key].T.shape}, the network needs {shape[::-1]}")
    return network, params


#: The rule's NIR form (``Rule.nir``).
FORM = NIRForm(to_graph, from_graph, default_dt_s, foreign=False)
