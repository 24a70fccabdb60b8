"""NIR graphs, the format the rules' networks are exported to and imported from (docs/interop.md): the error that
names an unrepresentable node, the ``pe_actors`` metadata a graph carries, and walking a graph's chain of nodes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
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
    metadata = getattr(graph, "metadata", None) or {}
    if not isinstance(metadata, dict):
        raise NIRError(f"the graph's metadata must be a mapping, got {type(metadata).__name__}")
    text = metadata.get(METADATA_KEY)
    if text is None:
        return {}
    try:
        record = json.loads(str(text))
    except (json.JSONDecodeError, RecursionError) as error:
        raise NIRError(f"the graph's {METADATA_KEY} metadata is not JSON: {error}") from None
    if not isinstance(record, dict):
        raise NIRError(f"the graph's {METADATA_KEY} metadata must be a JSON object, got {type(record).__name__}")
    steps = record.get("n_steps")
    if steps is not None and not (isinstance(steps, int) and 1 <= steps <= MAX_STEPS):
        raise NIRError(f"the graph's {METADATA_KEY} metadata asks for n_steps {steps!r}; pe-actors takes 1 to "
                       f"{MAX_STEPS:,} steps")
    return record


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


def real_values(node_name: str, field_name: str, value: Any) -> np.ndarray:
    """A node's field as finite float64 numbers; an NIRError naming the node and the field when they are complex,
    not numbers, NaN or Inf (an untrusted graph's values go nowhere unchecked)."""
    array = np.asarray(value)
    if np.iscomplexobj(array) or not np.issubdtype(array.dtype, np.number):
        raise NIRError(f"node {node_name!r}: {field_name} must be real numbers, got {array.dtype}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise NIRError(f"node {node_name!r}: {field_name} holds NaN or Inf")
    return array


def uniform(node_name: str, node: Any, field_name: str) -> float:
    """The one value a node's field holds for all its neurons; an NIRError naming the node otherwise."""
    values = np.unique(real_values(node_name, field_name, getattr(node, field_name)))
    if values.size != 1:
        raise NIRError(f"node {node_name!r}: {field_name} differs between neurons ({values[:4]}...); pe-actors "
                       "layers share one value")
    return float(values[0])


#: The most bytes the arrays of a NIR file may declare (all together), and the longest trial its metadata may ask
#: for: a small file that declares more is refused before anything is read or allocated.
MAX_ARRAY_BYTES = 2**30
MAX_STEPS = 10**6


def check_nir_file(path: Path) -> None:
    """Refuse, naming the file and the array, a NIR file that reads anything but its own bytes or asks for more
    memory than it can hold: not a regular file (a FIFO would block), an HDF5 array stored in an external file or
    assembled from others (virtual), a link to another file, arrays that declare more than
    :data:`MAX_ARRAY_BYTES` together."""
    import h5py

    if not path.is_file():
        raise NIRError(f"{path}: not a regular file")
    declared = 0
    try:
        with h5py.File(path, "r") as handle:
            problems: list[str] = []

            def visit(name: str, link: Any) -> None:
                if isinstance(link, h5py.ExternalLink):
                    problems.append(f"{name} links to the file {link.filename}")

            handle.visititems_links(visit)
            arrays: list[tuple[str, Any]] = []
            handle.visititems(lambda name, item: arrays.append((name, item)))
            for name, dataset in arrays:
                if not isinstance(dataset, h5py.Dataset):
                    continue
                if dataset.external:
                    problems.append(f"{name} is stored in external files {[e[0] for e in dataset.external]}")
                elif dataset.is_virtual:
                    problems.append(f"{name} is a virtual array assembled from other files")
                declared += int(dataset.size) * dataset.dtype.itemsize
    except OSError as error:
        raise NIRError(f"{path}: not a readable NIR file ({error})") from None
    if problems:
        raise NIRError(f"{path}: {problems[0]}; pe-actors reads a graph's arrays from the file itself only")
    if declared > MAX_ARRAY_BYTES:
        raise NIRError(f"{path}: its arrays declare {declared / 2**30:.1f} GiB, more than the "
                       f"{MAX_ARRAY_BYTES / 2**30:g} GiB a NIR graph may hold here")


def read_nir_file(path: Path) -> Any:
    """The NIR graph in ``path``, checked by :func:`check_nir_file` first; a file the nir library cannot read is
    an :class:`NIRError` naming the file and, where one is at fault, the node and what is wrong with it."""
    nir = nir_module()
    check_nir_file(path)
    try:
        return nir.read(path)
    # The nir library checks a node's fields with assert statements (a missing or misshapen field raises an
    # AssertionError, often without a message), so any failure of the parse is the file's.
    except Exception as error:
        raise NIRError(f"{path}: not a readable NIR file: {_unreadable(path, error)}") from None


def _unreadable(path: Path, error: Exception) -> str:
    """What makes ``path`` unreadable: the first node the nir library refuses, read one by one, with its error,
    else ``error`` (the graph's edges or its structure)."""
    nir = nir_module()
    from nir.serialization import hdf2dict

    def described(failure: Exception) -> str:
        text = str(failure).strip()
        if isinstance(failure, KeyError):
            return f"lacks the field {text}"
        if isinstance(failure, AssertionError) and not text:
            return "a field the node's type requires is missing, misshapen or of the wrong kind"
        return f"{type(failure).__name__}: {text}" if text else type(failure).__name__

    try:
        import h5py

        with h5py.File(path, "r") as handle:
            nodes = hdf2dict(handle["node"]).get("nodes", {})
    except Exception:
        return described(error)
    for name, node in nodes.items() if isinstance(nodes, dict) else ():
        kind = node.get("type") if isinstance(node, dict) else None
        known = getattr(nir, kind, None) if isinstance(kind, str) else None
        if not (isinstance(known, type) and issubclass(known, nir.NIRNode)):
            return f"node {name!r} has no NIR node type ({kind!r})"
        try:
            nir.dict2NIRNode(dict(node))
        except Exception as failure:
            return f"node {name!r} ({kind}): {described(failure)}"
    return f"its edges or structure: {described(error)}"
