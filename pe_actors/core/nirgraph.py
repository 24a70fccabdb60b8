"""NIR graphs, the format the rules' networks are exported to and imported from (docs/interop.md): the error that
names an unrepresentable node, the ``pe_actors`` metadata a graph carries, and walking a graph's chain of nodes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The metadata key of the graph that holds what NIR has no field for.
METADATA_KEY = "pe_actors"


class NIRError(ValueError):
    """A graph, node or shape pe-actors cannot represent; the message names it."""


@dataclass(frozen=True)
class NIRForm:
    """How a rule's networks go to and come from NIR: ``to_graph(network, params, dt_s, extra, approximate)``,
    ``from_graph(graph, dt_s, recorded, n_steps, t_code_ms) -> (network, params)``, ``default_dt_s(network,
    extra)``, the step a graph is written for when none is given; ``foreign``: whether graphs pe-actors did not
    write import as this rule's networks."""

    to_graph: Callable[..., Any]
    from_graph: Callable[..., Any]
    default_dt_s: Callable[..., float]
    foreign: bool = False


def nir_module() -> Any:
    """The nir package."""
    try:
        import nir
    except ImportError:  # pragma: no cover - nir is an install requirement
        raise ImportError("NIR export and import need the package nir (pip install nir)") from None
    return nir


def metadata(rule: str, network: Any, dt: float, extra: dict[str, Any], **more: Any) -> dict[str, str]:
    """The graph's ``pe_actors`` metadata: the rule, its network, the step dt (s) and what NIR has no field for."""
    record = {"format": 1, "rule": rule, "network": network.to_dict(), "dt_s": dt,
              "discretisation": "forward Euler at dt_s; input spikes are counts per step", **extra, **more}
    return {METADATA_KEY: json.dumps(record, default=str)}


def read_metadata(graph: Any) -> dict[str, Any]:
    """The graph's ``pe_actors`` metadata (empty for a graph pe-actors did not write)."""
    text = (getattr(graph, "metadata", None) or {}).get(METADATA_KEY)
    if text is None:
        return {}
    try:
        return json.loads(str(text))
    except json.JSONDecodeError as error:
        raise NIRError(f"the graph's {METADATA_KEY} metadata is not JSON: {error}") from None


def chain(graph: Any) -> list[str]:
    """The node names from the input to the output of a graph that is one chain; NIRError otherwise."""
    inputs = [name for name, node in graph.nodes.items() if type(node).__name__ == "Input"]
    if len(inputs) != 1:
        raise NIRError(f"the graph needs exactly one Input node, it has {inputs}")
    following: dict[str, list[str]] = {}
    for source, target in graph.edges:
        following.setdefault(source, []).append(target)
    chain, name = [inputs[0]], inputs[0]
    while type(graph.nodes[name]).__name__ != "Output":
        nexts = following.get(name, [])
        if len(nexts) != 1:
            raise NIRError(f"node {name!r} feeds {nexts}: pe-actors imports feed-forward chains of layers")
        name = nexts[0]
        if name in chain:
            raise NIRError(f"node {name!r} closes a cycle: recurrent graphs import only when pe-actors wrote them")
        chain.append(name)
    return chain


def uniform(node_name: str, node: Any, field_name: str) -> float:
    """The one value a node's field holds for all its neurons; an NIRError naming the node otherwise."""
    values = np.unique(np.asarray(getattr(node, field_name), np.float64))
    if values.size != 1:
        raise NIRError(f"node {node_name!r}: {field_name} differs between neurons ({values[:4]}...); pe-actors "
                       "layers share one value")
    return float(values[0])


