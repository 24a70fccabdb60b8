"""The shared-memory mailbox of one PE group on one node: bit-packed spikes, a yielding barrier, the master's
reduction and error broadcast (the "sync" and "weight_update" rows of SPEC section 3).

One file in /dev/shm (a memory-mapped file, so no multiprocessing resource tracker unlinks it behind our back)
holds, 64-byte aligned:

    header    msgpack run metadata (version, run, group, PE sizes, capacity, n_out, dtype)
    control   int64[P + 1]: the arrival count of each PE at the barrier, then an abort slot (failed PE + 1)
    spikes    uint8[2, P, capacity, ceil(max |J_p| / 8)]: own spikes of each PE, double-buffered by step parity
    partials  dtype[P, capacity, n_out]: the PEs' partial outputs at the last step
    error     dtype[capacity, n_out]: the master's error broadcast, pi - onehot

The barrier is a counter barrier without atomics: every PE writes only its own arrival slot, after its spikes,
and waits until every slot has reached the same count. Stores become visible in program order on x86-64 (TSO),
which is what makes "spikes, then counter" safe. Double buffering by step parity is enough: a PE that passed the
barrier of step t knows every peer has finished reading step t - 1, the only other step sharing its buffer.
"""

from __future__ import annotations

import math
import mmap
import os
import struct
import tempfile
import time
from pathlib import Path

import numpy as np

from pe_actors.runtime.protocol import actor_name, pack_metadata, unpack_metadata

#: Layout version of the mailbox file, stored in its header.
MAILBOX_VERSION = 1
_HEADER_BYTES = 4096
_ALIGN = 64
#: Seconds a waiting PE yields its core (os.sched_yield) before it starts sleeping between checks.
YIELD_SECONDS = 0.05
_SLEEP_SECONDS = 2e-4


def shm_dir() -> Path:
    """Where mailbox files live: /dev/shm (memory-backed) when present, else the temporary directory."""
    path = Path("/dev/shm")
    return path if path.is_dir() else Path(tempfile.gettempdir())


def mailbox_path(run_name: str, group: int) -> Path:
    """The mailbox file of ``group`` in run ``run_name``."""
    return shm_dir() / f"pe-actors-{run_name}-g{group}"


class GroupAbortedError(RuntimeError):
    """A peer of the group failed and flagged the mailbox; the group cannot continue."""


class BarrierTimeoutError(TimeoutError):
    """The barrier waited longer than its timeout for at least one peer (dead or hung)."""


def _aligned(offset: int) -> int:
    return (offset + _ALIGN - 1) // _ALIGN * _ALIGN


class GroupMailbox:
    """A mapped mailbox file; build it with :meth:`create` (the group's master) or :meth:`attach` (the others)."""

    def __init__(self, path: Path, buffer: mmap.mmap, meta: dict) -> None:
        self.path = path
        self.meta = meta
        self.group = meta["group"]
        self.sizes = list(meta["sizes"])
        self.n_pes = len(self.sizes)
        self.capacity = meta["capacity"]
        self.dtype = np.dtype(meta["dtype"])
        self._mm = buffer
        n_pes, cap, n_out = self.n_pes, self.capacity, meta["n_out"]
        self.n_bytes = math.ceil(max(self.sizes) / 8)
        offset = _HEADER_BYTES
        self.control = np.frombuffer(buffer, np.int64, n_pes + 1, offset)
        offset = _aligned(offset + self.control.nbytes)
        self.spikes = np.frombuffer(buffer, np.uint8, 2 * n_pes * cap * self.n_bytes, offset).reshape(
            2, n_pes, cap, self.n_bytes
        )
        offset = _aligned(offset + self.spikes.nbytes)
        self.partials = np.frombuffer(buffer, self.dtype, n_pes * cap * n_out, offset).reshape(n_pes, cap, n_out)
        offset = _aligned(offset + self.partials.nbytes)
        self.error = np.frombuffer(buffer, self.dtype, cap * n_out, offset).reshape(cap, n_out)
        # Column j of the unpacked (k, P * 8 * n_bytes) bit matrix that holds recurrent neuron j of the group.
        stride = 8 * self.n_bytes
        self._columns = np.concatenate([p * stride + np.arange(size) for p, size in enumerate(self.sizes)])

    @staticmethod
    def size_bytes(sizes: list[int], capacity: int, n_out: int, dtype: np.dtype) -> int:
        """Bytes of a mailbox for PE sizes ``sizes``, ``capacity`` samples per sub-batch and ``n_out`` outputs."""
        n_pes, item = len(sizes), np.dtype(dtype).itemsize
        offset = _aligned(_HEADER_BYTES + 8 * (n_pes + 1))
        offset = _aligned(offset + 2 * n_pes * capacity * math.ceil(max(sizes) / 8))
        offset = _aligned(offset + n_pes * capacity * n_out * item)
        return offset + capacity * n_out * item

    @classmethod
    def create(
        cls, path: Path, run_name: str, group: int, sizes: list[int], capacity: int, n_out: int, dtype: np.dtype
    ) -> GroupMailbox:
        """Create (exclusively) and map a zeroed mailbox file; a stale file of the same name raises."""
        if capacity < 1:
            raise ValueError(f"mailbox capacity must be at least 1 sample, got {capacity}")
        meta = {
            "version": MAILBOX_VERSION,
            "run": run_name,
            "group": int(group),
            "sizes": [int(s) for s in sizes],
            "capacity": int(capacity),
            "n_out": int(n_out),
            "dtype": np.dtype(dtype).str,
        }
        header = pack_metadata(meta)
        if len(header) + 4 > _HEADER_BYTES:
            raise ValueError(f"mailbox metadata of {len(header)} bytes does not fit the {_HEADER_BYTES}-byte header")
        size = cls.size_bytes(sizes, capacity, n_out, dtype)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(fd, size)
            buffer = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        buffer[: 4 + len(header)] = struct.pack("<I", len(header)) + header
        return cls(Path(path), buffer, meta)

    @classmethod
    def attach(cls, path: Path, run_name: str, group: int) -> GroupMailbox:
        """Map an existing mailbox file, checking its version, run and group."""
        fd = os.open(path, os.O_RDWR)
        try:
            buffer = mmap.mmap(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        (length,) = struct.unpack("<I", buffer[:4])
        meta = unpack_metadata(bytes(buffer[4 : 4 + length]))
        if meta.get("version") != MAILBOX_VERSION:
            raise ValueError(f"mailbox {path} has layout version {meta.get('version')!r}, expected {MAILBOX_VERSION}")
        if meta["run"] != run_name or meta["group"] != group:
            raise ValueError(f"mailbox {path} belongs to run {meta['run']!r} group {meta['group']}, not {run_name!r}")
        return cls(Path(path), buffer, meta)

    def post_spikes(self, pe: int, parity: int, z: np.ndarray) -> None:
        """Write PE ``pe``'s own spikes z (k, |J_p|) bit-packed into the buffer of step parity ``parity``."""
        packed = np.packbits(z != 0, axis=1)
        self.spikes[parity, pe, : len(z), : packed.shape[1]] = packed

    def read_spikes(self, parity: int, k: int) -> np.ndarray:
        """The whole group's spikes z^t (k, n_rec) in the mailbox dtype, from the buffer of parity ``parity``."""
        bits = np.unpackbits(self.spikes[parity, :, :k], axis=2)
        return bits.transpose(1, 0, 2).reshape(k, -1)[:, self._columns].astype(self.dtype)

    def wait(self, pe: int, generation: int, timeout_s: float, where: str) -> float:
        """Barrier: mark PE ``pe`` as arrived at ``generation`` and wait for every peer; returns seconds waited.

        A waiting PE yields its core (so that more PEs than cores still make progress), then sleeps between
        checks after :data:`YIELD_SECONDS`. A flagged abort raises :class:`GroupAbortedError`; waiting longer than
        ``timeout_s`` raises :class:`BarrierTimeoutError` naming the missing PEs and flags the abort for the others.
        """
        control, n_pes = self.control, self.n_pes
        control[pe] = generation
        arrivals = control[:n_pes]
        if arrivals.min() >= generation:
            return 0.0
        start = time.perf_counter()
        spins = 0
        while arrivals.min() < generation:
            if control[n_pes]:
                failed = int(control[n_pes]) - 1
                raise GroupAbortedError(
                    f"group {self.group}: PE {actor_name(self.group, failed)} failed; "
                    f"{actor_name(self.group, pe)} stops at {where}"
                )
            spins += 1
            waited = time.perf_counter() - start
            if waited < YIELD_SECONDS:
                os.sched_yield()
            else:
                time.sleep(_SLEEP_SECONDS)
            if waited > timeout_s:
                missing = [actor_name(self.group, q) for q in range(n_pes) if arrivals[q] < generation]
                self.abort(pe)
                raise BarrierTimeoutError(
                    f"group {self.group}: {actor_name(self.group, pe)} waited {timeout_s:g} s at {where} for "
                    f"{', '.join(missing)}; a peer died or hangs (raise barrier_timeout_s if the network is slow)"
                )
        return time.perf_counter() - start

    def abort(self, pe: int) -> None:
        """Flag the group as failed by PE ``pe`` so that peers waiting at the barrier raise instead of waiting."""
        if not self.control[self.n_pes]:
            self.control[self.n_pes] = pe + 1

    def close(self) -> None:
        """Unmap the file (the arrays of this object become unusable)."""
        del self.control, self.spikes, self.partials, self.error
        try:
            self._mm.close()
        except BufferError:
            # A caller still holds a view; the mapping is released when that view is collected.
            pass

    def unlink(self) -> None:
        """Remove the mailbox file (mappings stay valid until closed)."""
        self.path.unlink(missing_ok=True)
