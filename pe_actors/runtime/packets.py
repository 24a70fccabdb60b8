"""Messages the runtime serialises itself: spike, array, event and run-metadata packets in msgpack
(docs/runtime.md).

Every packet is a msgpack map with a ``v`` (format version) and a ``kind`` field; a packet of another version or
kind raises a ValueError that says what was expected. Spikes travel bit-packed (np.packbits along the neurons),
arrays as raw bytes with their dtype and shape, so no pickled numpy object crosses a per-step channel.
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

#: Version of every packet this module writes; readers reject other versions.
PROTOCOL_VERSION = 1

#: The packet kinds, with the fields each carries besides ``v`` and ``kind``.
PACKET_KINDS = {
    "spikes": ("t", "pe", "shape", "bits"),
    "array": ("name", "dtype", "shape", "data"),
    "events": ("name", "dtype", "indices", "values"),
    "meta": ("fields",),
}


def actor_name(group: int, pe: int) -> str:
    """The Ray actor name of PE ``pe`` of group ``group``, e.g. ``pe-g3-p07`` (shown in the dashboard)."""
    return f"pe-g{group}-p{pe:02d}"


def _pack(kind: str, **fields: Any) -> bytes:
    return msgpack.packb({"v": PROTOCOL_VERSION, "kind": kind, **fields}, use_bin_type=True)


def _unpack(packet: bytes, kind: str) -> dict[str, Any]:
    if not isinstance(packet, (bytes, bytearray, memoryview)):
        raise TypeError(f"a {kind} packet must be bytes, got {type(packet).__name__}")
    try:
        message = msgpack.unpackb(packet, raw=False)
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError) as error:
        raise ValueError(f"not a msgpack {kind} packet: {error}") from None
    if not isinstance(message, dict) or message.get("v") != PROTOCOL_VERSION:
        version = message.get("v") if isinstance(message, dict) else None
        raise ValueError(f"packet version {version!r} is not supported; this runtime reads version {PROTOCOL_VERSION}")
    if message.get("kind") != kind:
        raise ValueError(f"expected a {kind!r} packet, got kind {message.get('kind')!r}")
    missing = [name for name in PACKET_KINDS[kind] if name not in message]
    if missing:
        raise ValueError(f"{kind} packet lacks field(s) {missing}")
    return message


def pack_spikes(t: int, pe: int, z: np.ndarray) -> bytes:
    """A spike packet: the own spikes z^t (k, |J_p|) of PE ``pe`` at step ``t``, one bit per neuron."""
    z = np.asarray(z)
    bits = np.packbits(z != 0, axis=1)
    return _pack("spikes", t=int(t), pe=int(pe), shape=list(z.shape), bits=bits.tobytes())


def unpack_spikes(packet: bytes) -> tuple[int, int, np.ndarray]:
    """(t, pe, z) from :func:`pack_spikes`, with z a (k, |J_p|) uint8 array of 0/1."""
    message = _unpack(packet, "spikes")
    k, n = message["shape"]
    bits = np.frombuffer(message["bits"], dtype=np.uint8).reshape(k, -1)
    return message["t"], message["pe"], np.unpackbits(bits, axis=1, count=n)


def pack_array(name: str, array: np.ndarray) -> bytes:
    """An array packet (partial outputs, the master's error broadcast): name, dtype, shape and raw bytes."""
    array = np.ascontiguousarray(array)
    return _pack("array", name=name, dtype=array.dtype.str, shape=list(array.shape), data=array.tobytes())


def unpack_array(packet: bytes, name: str) -> np.ndarray:
    """The array of a :func:`pack_array` packet; a packet carrying another ``name`` raises a ValueError."""
    message = _unpack(packet, "array")
    if message["name"] != name:
        raise ValueError(f"expected array packet {name!r}, got {message['name']!r}")
    return np.frombuffer(message["data"], dtype=np.dtype(message["dtype"])).reshape(message["shape"]).copy()


def pack_metadata(fields: dict[str, Any]) -> bytes:
    """A run-metadata packet (plain msgpack-able values only)."""
    return _pack("meta", fields=fields)


def unpack_metadata(packet: bytes) -> dict[str, Any]:
    """The fields of a :func:`pack_metadata` packet."""
    return _unpack(packet, "meta")["fields"]


def pack_events(name: str, indices: np.ndarray, values: np.ndarray) -> bytes:
    """An event packet: sparse (flat index, value) pairs, for packets non-zero at few entries (error packets)."""
    values = np.ascontiguousarray(values)
    indices = np.ascontiguousarray(indices, dtype=np.int32)
    return _pack("events", name=name, dtype=values.dtype.str, indices=indices.tobytes(), values=values.tobytes())


def unpack_events(packet: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices, values) of a :func:`pack_events` packet; a packet carrying another ``name`` raises."""
    message = _unpack(packet, "events")
    if message["name"] != name:
        raise ValueError(f"expected event packet {name!r}, got {message['name']!r}")
    indices = np.frombuffer(message["indices"], dtype=np.int32).copy()
    return indices, np.frombuffer(message["values"], dtype=np.dtype(message["dtype"])).copy()
