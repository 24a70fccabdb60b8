"""The shared-memory transport of one PE group on one node: a mailbox laid out from the program's channels, a
yielding barrier, and the transport that runs a PE's rounds over them (docs/runtime.md).

One file in /dev/shm (a memory-mapped file, so no multiprocessing resource tracker unlinks it behind our back)
is laid out from the PE program's channel declarations (:class:`pe_actors.runtime.program.Channel`), 64-byte
aligned:

    header    msgpack run metadata (version, run, group, number of PEs, channels, capacity, dtype)
    control   int64[2P + 1]: the arrival count of each PE at the barrier, the count each PE sleeps on (0 when
              awake), then an abort slot (failed PE + 1)
    per channel, double-buffered by round parity, one slot per sender:
      spikes  uint8[2, senders, capacity, ceil(max width / 8)]: bit-packed 0/1 per neuron
      array   dtype[2, senders, capacity, max width]
      events  int64[2, senders] counts, int32[2, senders, capacity * max width] flat (sample, neuron) indices,
              dtype[2, senders, capacity * max width] values

The barrier is a counter barrier without atomics: every PE writes only its own arrival slot, after its spikes,
and waits until every slot has reached the same count. Stores become visible in program order on x86-64 (TSO),
which is what makes "packets, then counter" safe. Double buffering by round parity is enough: packets are read
in the round after they were posted, before the reader's next barrier, so a PE that passed that barrier knows every
peer has finished reading the buffer it is about to overwrite.

Waiting is hybrid: a PE first spins for up to 2 ms, yielding its core (os.sched_yield), then announces that it sleeps
and blocks in poll() on a named pipe of its own (``<mailbox>.pNN``, next to the mailbox file). A PE that finds
every slot complete writes one byte to the pipe of each sleeping peer. Both sides store, fence, then load (the
Dekker pattern; a locked instruction drains the x86 store buffer), so a sleeper is either seen or sees the
barrier complete. The counters stay the truth and the bytes are only wake-up hints (stale ones are drained); a
lost hint would cost one poll slice. Spinning with yields keeps a step's latency low (measured here with 12 PEs on 2
busy cores, spinning for 0.1 ms before blocking made k = 32 steps 1.7x slower than spinning for 2 ms); blocking
after that stops PEs that wait for a slow peer, or the master, from burning the cores.
"""

from __future__ import annotations

import math
import mmap
import os
import select
import struct
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from pe_actors.runtime.packets import actor_name, pack_metadata, unpack_metadata
from pe_actors.runtime.program import Channel, PEProgram, Phase
from pe_actors.runtime.steploop import Posts

#: Layout version of the mailbox file, stored in its header.
MAILBOX_VERSION = 2
_HEADER_BYTES = 16384
_ALIGN = 64
#: Seconds a waiting PE spins (yielding its core) before it blocks on its wake-up pipe.
SPIN_SECONDS = 2e-3
# Longest single block in poll(): bounds the cost of a missed wake-up hint and the reaction to a timeout.
_POLL_MS = 5


# Acquiring a lock executes a locked (fencing) instruction: the cheapest full memory fence Python offers.
_FENCE = threading.Lock()


def _fence() -> None:
    with _FENCE:
        pass


def shm_dir() -> Path:
    """Where mailbox files live: /dev/shm (memory-backed) when present, else the temporary directory."""
    path = Path("/dev/shm")
    return path if path.is_dir() else Path(tempfile.gettempdir())


def mailbox_path(run_name: str, group: int) -> Path:
    """The mailbox file of ``group`` in run ``run_name``."""
    return shm_dir() / f"pe-actors-{run_name}-g{group}"


def pipe_path(path: Path, pe: int) -> Path:
    """The wake-up pipe of PE ``pe`` next to mailbox file ``path``."""
    return Path(path).with_name(f"{Path(path).name}.p{pe:02d}")


class GroupAbortedError(RuntimeError):
    """A peer of the group failed and flagged the mailbox; the group cannot continue."""


class BarrierTimeoutError(TimeoutError):
    """The barrier waited longer than its timeout for at least one peer (dead or hung)."""


def _aligned(offset: int) -> int:
    return (offset + _ALIGN - 1) // _ALIGN * _ALIGN


def _channel_arrays(channel: Channel, capacity: int, dtype: np.dtype) -> list[tuple[str, np.dtype, tuple]]:
    """The (name, dtype, shape) of the arrays holding ``channel``'s double-buffered sender slots."""
    senders, width = len(channel.senders), max(channel.widths)
    if channel.kind == "spikes":
        return [("bits", np.dtype(np.uint8), (2, senders, capacity, math.ceil(width / 8)))]
    if channel.kind == "array":
        return [("values", dtype, (2, senders, capacity, width))]
    return [
        ("counts", np.dtype(np.int64), (2, senders)),
        ("indices", np.dtype(np.int32), (2, senders, capacity * width)),
        ("values", dtype, (2, senders, capacity * width)),
    ]


class GroupMailbox:
    """A mapped mailbox file; build it with :meth:`create` (the group's master) or :meth:`attach` (the others)."""

    def __init__(self, path: Path, buffer: mmap.mmap, meta: dict) -> None:
        self.path = path
        self.meta = meta
        self.group = meta["group"]
        self.n_pes = meta["n_pes"]
        self.capacity = meta["capacity"]
        self.dtype = np.dtype(meta["dtype"])
        self.channels = {c["name"]: Channel.from_dict(c) for c in meta["channels"]}
        self._mm = buffer
        self.buffers: dict[str, dict[str, np.ndarray]] = {}
        offset = _HEADER_BYTES
        self.control = np.frombuffer(buffer, np.int64, 2 * self.n_pes + 1, offset)
        self._arrivals, self._sleeping = self.control[: self.n_pes], self.control[self.n_pes : 2 * self.n_pes]
        self._abort_slot = 2 * self.n_pes
        offset = _aligned(offset + self.control.nbytes)
        for channel in self.channels.values():
            views = {}
            for name, dtype, shape in _channel_arrays(channel, self.capacity, self.dtype):
                count = int(np.prod(shape))
                views[name] = np.frombuffer(buffer, dtype, count, offset).reshape(shape)
                offset = _aligned(offset + count * np.dtype(dtype).itemsize)
            self.buffers[channel.name] = views
        self._gather: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        # O_RDWR: opening a pipe never blocks and never sees end-of-file, whoever else has it open.
        self._pipes = [os.open(pipe_path(path, q), os.O_RDWR | os.O_NONBLOCK) for q in range(self.n_pes)]
        self._poller: select.poll | None = None

    @staticmethod
    def size_bytes(channels: list[Channel], n_pes: int, capacity: int, dtype: np.dtype) -> int:
        """Bytes of a mailbox for these channels, ``n_pes`` PEs and ``capacity`` samples per sub-batch."""
        offset = _aligned(_HEADER_BYTES + 8 * (2 * n_pes + 1))
        for channel in channels:
            for _, item, shape in _channel_arrays(channel, capacity, np.dtype(dtype)):
                offset = _aligned(offset + int(np.prod(shape)) * np.dtype(item).itemsize)
        return offset

    @classmethod
    def create(
        cls, path: Path, run_name: str, group: int, n_pes: int, channels: list[Channel], capacity: int, dtype
    ) -> GroupMailbox:
        """Create (exclusively) and map a zeroed mailbox file for ``channels``; a stale file of the same name
        raises."""
        if capacity < 1:
            raise ValueError(f"mailbox capacity must be at least 1 sample, got {capacity}")
        meta = {
            "version": MAILBOX_VERSION,
            "run": run_name,
            "group": int(group),
            "n_pes": int(n_pes),
            "channels": [channel.to_dict() for channel in channels],
            "capacity": int(capacity),
            "dtype": np.dtype(dtype).str,
            "pid": os.getpid(),
        }
        header = pack_metadata(meta)
        if len(header) + 4 > _HEADER_BYTES:
            raise ValueError(f"mailbox metadata of {len(header)} bytes does not fit the {_HEADER_BYTES}-byte header")
        size = cls.size_bytes(channels, n_pes, capacity, dtype)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        for q in range(n_pes):
            os.mkfifo(pipe_path(path, q), 0o600)
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

    def post(self, channel: str, pe: int, parity: int, packet) -> None:
        """Write PE ``pe``'s packet on ``channel`` into the buffer of round parity ``parity``: spikes (k, n) are
        bit-packed, arrays (k, n) copied, events ``(flat indices, values)`` stored with their count."""
        spec, views = self.channels[channel], self.buffers[channel]
        slot = spec.senders.index(pe)
        if spec.kind == "spikes":
            packed = np.packbits(np.asarray(packet) != 0, axis=1)
            views["bits"][parity, slot, : len(packed), : packed.shape[1]] = packed
        elif spec.kind == "array":
            packet = np.asarray(packet)
            views["values"][parity, slot, : packet.shape[0], : packet.shape[1]] = packet
        else:
            indices, values = packet
            n = len(indices)
            views["indices"][parity, slot, :n] = indices
            views["values"][parity, slot, :n] = values
            views["counts"][parity, slot] = n

    def read(self, channel: str, parity: int, k: int):
        """The packets of ``channel`` for a sub-batch of ``k`` samples from the buffer of parity ``parity``, in the
        form of :class:`~pe_actors.runtime.program.Channel`: spikes as one (k, sum of widths) array in the mailbox
        dtype (reused by the next call, so the reader copies what it keeps), arrays as views, events as copies."""
        spec, views = self.channels[channel], self.buffers[channel]
        if spec.kind == "spikes":
            return self._gather_spikes(channel, spec, views["bits"][parity], k)
        if spec.kind == "array":
            return [views["values"][parity, slot, :k, :width] for slot, width in enumerate(spec.widths)]
        indices, values, counts = views["indices"][parity], views["values"][parity], views["counts"][parity]
        return [(np.array(indices[s, : counts[s]]), np.array(values[s, : counts[s]])) for s in range(len(spec.senders))]

    def _gather_spikes(self, name: str, spec: Channel, bits: np.ndarray, k: int) -> np.ndarray:
        if (name, k) not in self._gather:
            # Flat index into the unpacked (senders, k, 8 * n_bytes) bits of sample i, neuron j; and the output.
            stride = 8 * bits.shape[2]
            owner = np.repeat(np.arange(len(spec.senders)), spec.widths)
            column = np.concatenate([np.arange(width) for width in spec.widths])
            index = owner[None, :] * (k * stride) + np.arange(k)[:, None] * stride + column[None, :]
            self._gather[(name, k)] = (index, np.empty((k, len(owner)), self.dtype))
        index, out = self._gather[(name, k)]
        np.copyto(out, np.unpackbits(bits[:, :k], axis=2).ravel()[index])
        return out

    def wait(self, pe: int, generation: int, timeout_s: float, where: str) -> float:
        """Barrier: mark PE ``pe`` as arrived at ``generation`` and wait for every peer; returns seconds waited.

        A waiting PE spins for :data:`SPIN_SECONDS` yielding its core (a step usually completes within it), then
        blocks on its wake-up pipe. A flagged
        abort raises :class:`GroupAbortedError`; waiting longer than ``timeout_s`` raises
        :class:`BarrierTimeoutError` naming the missing PEs and flags the abort for the others.
        """
        arrivals, control = self._arrivals, self.control
        arrivals[pe] = generation
        _fence()
        if arrivals.min() >= generation:
            self._wake(pe, generation)
            return 0.0
        start = time.perf_counter()
        while arrivals.min() < generation:
            waited = time.perf_counter() - start
            if waited < SPIN_SECONDS:
                os.sched_yield()
                continue
            if control[self._abort_slot]:
                failed = int(control[self._abort_slot]) - 1
                raise GroupAbortedError(
                    f"group {self.group}: PE {actor_name(self.group, failed)} failed; "
                    f"{actor_name(self.group, pe)} stops at {where}"
                )
            if waited > timeout_s:
                missing = [actor_name(self.group, q) for q in range(self.n_pes) if arrivals[q] < generation]
                self.abort(pe)
                raise BarrierTimeoutError(
                    f"group {self.group}: {actor_name(self.group, pe)} waited {timeout_s:g} s at {where} for "
                    f"{', '.join(missing)}; a peer died or hangs (raise barrier_timeout_s if the network is slow)"
                )
            self._sleep(pe, generation)
        return time.perf_counter() - start

    def _sleep(self, pe: int, generation: int) -> None:
        self._sleeping[pe] = generation
        _fence()
        if self._arrivals.min() < generation:
            if self._poller is None:
                self._poller = select.poll()
                self._poller.register(self._pipes[pe], select.POLLIN)
            self._poller.poll(_POLL_MS)
        self._sleeping[pe] = 0
        try:
            while os.read(self._pipes[pe], 4096):
                pass
        except BlockingIOError:
            pass

    def _wake(self, pe: int, generation: int | None) -> None:
        """Write a hint to the pipe of every peer sleeping on ``generation`` (every peer when None)."""
        for q, fd in enumerate(self._pipes):
            if q != pe and (generation is None or self._sleeping[q] == generation):
                try:
                    os.write(fd, b"\x01")
                except BlockingIOError:
                    # The pipe is full of unread hints: its reader wakes anyway.
                    pass

    def abort(self, pe: int) -> None:
        """Flag the group as failed by PE ``pe`` and wake every peer, so that none keeps waiting at the barrier."""
        if not self.control[self._abort_slot]:
            self.control[self._abort_slot] = pe + 1
        self._wake(pe, None)

    def close(self) -> None:
        """Unmap the file (the arrays of this object become unusable)."""
        del self.control, self._arrivals, self._sleeping
        self.buffers.clear()
        self._gather.clear()
        for fd in self._pipes:
            os.close(fd)
        self._pipes = []
        try:
            self._mm.close()
        except BufferError:
            # A caller still holds a view; the mapping is released when that view is collected.
            pass

    def unlink(self) -> None:
        """Remove the mailbox file and its pipes (mappings and open pipes stay valid until closed)."""
        unlink_mailbox(self.path, self.n_pes)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_mailboxes(directory: Path | None = None) -> list[Path]:
    """Remove the mailbox files (and wake-up pipes) of dead runs on this node: those whose creating PE process is
    gone (a driver killed with SIGKILL takes its actors with it but leaves their files), and pipes whose mailbox
    file is gone. Returns the removed mailbox files."""
    directory = Path(directory) if directory is not None else shm_dir()
    removed = []
    for path in sorted(directory.glob("pe-actors-*")):
        if path.is_fifo() or not path.is_file():
            continue
        try:
            with open(path, "rb") as handle:
                (length,) = struct.unpack("<I", handle.read(4))
                meta = unpack_metadata(handle.read(length))
            pid, n_pes = int(meta["pid"]), int(meta["n_pes"])
        except (OSError, ValueError, KeyError, TypeError, struct.error):
            continue  # not a mailbox of this version: leave it alone
        if not _alive(pid):
            unlink_mailbox(path, n_pes)
            removed.append(path)
    for pipe in directory.glob("pe-actors-*.p[0-9][0-9]*"):
        if pipe.is_fifo() and not pipe.with_name(pipe.name.rsplit(".p", 1)[0]).exists():
            pipe.unlink(missing_ok=True)
    return removed


def unlink_mailbox(path: Path, n_pes: int) -> None:
    """Remove a mailbox file and the wake-up pipes of its ``n_pes`` PEs, where present."""
    Path(path).unlink(missing_ok=True)
    for q in range(n_pes):
        pipe_path(path, q).unlink(missing_ok=True)


class MailboxInbox:
    """The inbox of the PE of this process: the previous round's packets in the mailbox."""

    def __init__(self, transport: MailboxTransport) -> None:
        self.transport = transport

    def read(self, channel: str):
        """The packets posted to this PE on ``channel`` in the previous round (see :meth:`GroupMailbox.read`)."""
        transport = self.transport
        if transport.pe not in transport.mailbox.channels[channel].receivers:
            raise RuntimeError(f"PE {transport.pe} is not a receiver of channel {channel!r}")
        return transport.mailbox.read(channel, (transport.generation - 1) & 1, transport.k)


class MailboxTransport:
    """Runs the rounds of the one PE of this process over the group's shared-memory mailbox.

    ``generation`` counts the barriers passed and carries over from one sub-batch to the next (the actor keeps
    it), so that the round parities of consecutive sub-batches alternate like those within one.
    """

    def __init__(self, mailbox: GroupMailbox, program: PEProgram, pe: int, k: int, timeout_s: float, generation: int):
        if k > mailbox.capacity:
            raise ValueError(f"sub-batch of {k} samples exceeds the mailbox capacity {mailbox.capacity}")
        self.mailbox, self.program, self.pe, self.k = mailbox, program, pe, k
        self.timeout_s = timeout_s
        self.generation = generation
        #: Seconds this PE spent in its program's steps (reading its inbox included), posting, and at barriers.
        self.compute_s = self.post_s = self.barrier_s = 0.0
        self._inbox = MailboxInbox(self)
        self._posts = Posts(mailbox.channels)

    def run(self, pe: int, phase: Phase, t: int) -> None:
        """Run the PE's step on the previous round's packets and post its packets."""
        start = time.perf_counter()
        outbox = self.program.step(phase.name, t, self._inbox)
        computed = time.perf_counter()
        self._posts.check(outbox, phase, pe, t)
        for name, packet in outbox.items():
            self.mailbox.post(name, pe, self.generation & 1, packet)
        self.compute_s += computed - start
        self.post_s += time.perf_counter() - computed

    def sync(self, phase: Phase, t: int) -> None:
        """The group's barrier after the round."""
        self.generation += 1
        self.barrier_s += self.mailbox.wait(self.pe, self.generation, self.timeout_s, f"{phase.name} step {t}")
