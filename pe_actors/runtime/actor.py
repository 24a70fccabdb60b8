"""The PE actor: a plain class hosting any rule's PE program, made a Ray actor by the engine at start-up (so it
also runs, and is tested, in-process) (docs/runtime.md).

Two transports drive the program's rounds through the one step loop:

- ``shm``: :meth:`PEActor.run` runs all rounds of a sub-batch itself, exchanging packets with the group's PEs
  through the node's shared-memory mailbox (:class:`~pe_actors.runtime.mailbox.MailboxTransport`). The driver is
  not in the per-step loop.
- ``ray``: the driver runs the loop (:class:`~pe_actors.runtime.ray_transport.RayCallTransport`) and submits
  :meth:`PEActor.ray_round` per round with the packets posted to this PE in the previous round as arguments
  (Ray resolves them actor to actor); :meth:`PEActor.ray_result` collects the result.
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any

import numpy as np

from pe_actors.runtime.mailbox import GroupMailbox, MailboxTransport
from pe_actors.runtime.packets import (
    pack_array,
    pack_events,
    pack_spikes,
    unpack_array,
    unpack_events,
    unpack_spikes,
)
from pe_actors.runtime.program import Channel, GroupProgram, Phase
from pe_actors.runtime.steploop import Posts, step_loop


class PacketInbox:
    """The inbox of a ray-transport round: msgpack packets keyed (channel, sender), unpacked on demand."""

    def __init__(self, channels: dict[str, Channel], packets: dict[tuple[str, int], bytes], dtype: np.dtype) -> None:
        self.channels, self.packets, self.dtype = channels, packets, dtype

    def read(self, channel: str) -> Any:
        """The packets posted to this PE on ``channel`` in the previous round (see
        :class:`~pe_actors.runtime.program.Channel`)."""
        spec = self.channels[channel]
        try:
            packets = [self.packets[(channel, sender)] for sender in spec.senders]
        except KeyError:
            raise RuntimeError(f"channel {channel!r} was not posted to this PE in the previous round") from None
        if spec.kind == "spikes":
            return np.concatenate([unpack_spikes(p)[2] for p in packets], axis=1).astype(self.dtype)
        if spec.kind == "array":
            return [unpack_array(p, channel) for p in packets]
        return [unpack_events(p, channel) for p in packets]


def pack_packet(kind: str, name: str, t: int, pe: int, packet: Any) -> bytes:
    """A program's packet on a channel of ``kind`` as msgpack bytes."""
    if kind == "spikes":
        return pack_spikes(t, pe, packet)
    if kind == "array":
        return pack_array(name, packet)
    return pack_events(name, *packet)


def _context_switches() -> int:
    """Context switches of this process so far, voluntary (it waited) and involuntary (it was preempted or
    yielded): what sharing cores with its peers costs a PE."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw + usage.ru_nivcsw


class PEActor:
    """PE ``pe`` of group ``group_index``: the program of ``group`` that owns its slice of ``params``.

    Args:
        group: the rule's group program (channels, phases, PE programs).
        pe: this PE's index in the group.
        params: the full initial weights.
        optimiser: the learning step's settings.
        run_name, group_index: where this PE sits.
        barrier_timeout_s: how long the shared-memory barrier waits for a peer before raising.
        record_metrics: record Ray custom metrics after every sub-batch.
    """

    def __init__(
        self,
        group: GroupProgram,
        pe: int,
        params: dict[str, np.ndarray],
        optimiser: Any,
        run_name: str,
        group_index: int,
        barrier_timeout_s: float,
        record_metrics: bool = False,
    ) -> None:
        self.spec = group
        self.group, self.index = group_index, pe
        self.barrier_timeout_s = barrier_timeout_s
        self.program = group.make_program(pe, params, optimiser)
        self.dtype = np.result_type(*params.values())
        self.channels = {c.name: c for c in group.channels}
        self.posts = Posts(self.channels)
        self._phases = {p.name: p for learning in (True, False) for p in group.phases(learning)}
        self.mailbox: GroupMailbox | None = None
        self.generation = 0
        self._previous: dict[str, np.ndarray] | None = None
        self._ray_seconds = 0.0
        self._ray_k = 0
        self.metrics = None
        if record_metrics:
            from pe_actors.runtime.metrics import PEMetrics

            self.metrics = PEMetrics(run_name, group_index, pe)

    def __repr__(self) -> str:
        """What the Ray dashboard's Actors view shows: group, PE, its neurons (and layer), master or not."""
        # The layout every group program declares (GroupProgram.pe_layout), so that any rule's PEs describe
        # themselves; a graph's PEs name the populations they hold slices of.
        row = self.spec.pe_layout()[self.index]
        populations = row.get("populations")
        if populations:
            held = ", ".join(f"{name} {start}-{stop - 1}" for name, (start, stop) in populations.items())
        else:
            start, stop = row["neurons"]
            layers = {r.get("layer") for r in self.spec.pe_layout()}
            held = f"neurons {start}-{stop - 1}" + (f" of layer {row['layer']}" if len(layers) > 1 else "")
        role = ", master" if self.index == self.spec.master else ""
        return f"PE g{self.group}/p{self.index}: {held}{role}"

    def ping(self) -> tuple[int, int, int]:
        """(group, pe, process id): proves the actor is alive."""
        return self.group, self.index, os.getpid()

    def open_mailbox(self, path: str, run_name: str, create: bool, capacity: int) -> None:
        """Create (the group's PE 0) or attach the group's shared-memory mailbox, laid out from the channels."""
        if create:
            self.mailbox = GroupMailbox.create(
                path, run_name, self.group, self.spec.n_pes, list(self.spec.channels), capacity, self.dtype
            )
        else:
            self.mailbox = GroupMailbox.attach(path, run_name, self.group)
        self.generation = 0

    def close_mailbox(self) -> None:
        """Unmap the mailbox; PE 0 also removes its file."""
        if self.mailbox is None:
            return
        if self.index == 0:
            self.mailbox.unlink()
        self.mailbox.close()
        self.mailbox = None

    def _run_shm(self, x: np.ndarray, labels: np.ndarray | None) -> tuple[dict, dict]:
        """All rounds of a sub-batch over shared memory; returns the program's result and timing statistics."""
        if self.mailbox is None:
            raise RuntimeError(f"PE {self.index} of group {self.group} has no mailbox; the engine opens it at start-up")
        start, switches = time.perf_counter(), _context_switches()
        x, labels = self.spec.prepare(x, labels, self.dtype)
        transport = MailboxTransport(
            self.mailbox, self.program, self.index, len(x), self.barrier_timeout_s, self.generation
        )
        self.program.begin(x, labels)
        try:
            step_loop(self.spec.phases(labels is not None), transport, [self.index])
        except BaseException:
            self.mailbox.abort(self.index)
            raise
        finally:
            self.generation = transport.generation
        result = self.program.result()
        stats = self._stats(result, len(x), time.perf_counter() - start, transport.barrier_s)
        stats.update(compute_s=transport.compute_s, post_s=transport.post_s,
                     context_switches=_context_switches() - switches)
        return result, stats

    def _stats(self, result: dict, k: int, seconds: float, barrier_s: float) -> dict:
        return {
            "group": self.group,
            "pe": self.index,
            "steps": self.spec.n_steps,
            "samples": k,
            "loop_s": seconds,
            "barrier_s": barrier_s,
            "spikes": result.get("spikes", 0),
        }

    def run(self, x: np.ndarray, labels: np.ndarray) -> tuple[dict, dict | None, dict]:
        """Train on sub-batch x over shared memory: every round of the training schedule (the master's reduction
        included), then this PE's gradients summed over the sub-batch.

        Returns (gradients of the own slice, the master's result (``logits``, ``loss``, ...) on the master else
        None, timing statistics).
        """
        result, stats = self._run_shm(x, labels)
        self._record(stats)
        return result["grads"], self._master_part(result), stats

    def predict(self, x: np.ndarray) -> np.ndarray | None:
        """Inference over shared memory; the master returns the logits (k, n_out), the others None."""
        result, _ = self._run_shm(x, None)
        return result.get("logits") if self.index == self.spec.master else None

    def _master_part(self, result: dict) -> dict | None:
        if self.index != self.spec.master:
            return None
        return {key: value for key, value in result.items() if key not in ("grads", "spikes")}

    def ray_begin(self, x: np.ndarray, labels: np.ndarray | None) -> None:
        """Ray transport: load sub-batch x (labels None: inference)."""
        x, labels = self.spec.prepare(x, labels, self.dtype)
        self.program.begin(x, labels)
        self._ray_seconds, self._ray_k = 0.0, len(x)

    def ray_round(self, phase: str, t: int, keys: list[tuple[str, int]], *packets: bytes) -> Any:
        """Ray transport, one call per round: the packets posted to this PE in the previous round (``keys`` names
        the (channel, sender) of each), this PE's step, and its packets for the channels the phase posts (one
        return value per channel, in the phase's order)."""
        start = time.perf_counter()
        spec: Phase = self._phases[phase]
        inbox = PacketInbox(self.channels, dict(zip(map(tuple, keys), packets, strict=True)), self.dtype)
        outbox = self.program.step(phase, t, inbox)
        mine = self.posts.check(outbox, spec, self.index, t)
        out = tuple(pack_packet(c.kind, c.name, t, self.index, outbox[c.name]) for c in mine)
        self._ray_seconds += time.perf_counter() - start
        if not out:
            return None
        return out[0] if len(out) == 1 else out

    def ray_result(self, learning: bool) -> tuple[dict | None, dict | None, dict]:
        """Ray transport: (gradients when ``learning``, the master's result, compute statistics)."""
        result = self.program.result()
        stats = self._stats(result, self._ray_k, self._ray_seconds, 0.0)
        if learning:
            self._record(stats)
        return (result["grads"] if learning else None), self._master_part(result), stats

    def apply(self, lr: float, n_samples: int, *grads: dict) -> int:
        """Learning step with the batch mean of the groups' gradient sums ``grads`` (summed in group order, so
        every replica computes the same bits), then device time passes for the batch's samples; keeps the previous
        state for :meth:`rollback`. Returns the step count (``steps``) and the device writes so far (``writes``)."""
        total = self.reduce(*grads)
        self._previous = {key: np.array(value) for key, value in self.program.state_dict().items()}
        self.program.apply({key: value / n_samples for key, value in total.items()}, lr)
        self.program.advance(n_samples * self.spec.sample_s)
        return {"steps": self.program.adam_steps, "writes": self.program.writes}

    def learn(self, x: np.ndarray, labels: np.ndarray, lr: float) -> tuple[list[dict | None], dict, dict]:
        """Batch-1 learning over shared memory, one sample after the other, as the chip learns: each sample's
        every round (:meth:`run`), then this PE's learning step with its own gradients (:meth:`apply` with one
        sample: what the driver sends a one-group engine at batch 1, so the same bits) before the next sample.

        Returns (the master's result per sample on the master, else Nones; the statistics per sample averaged
        over the samples, spikes summed; the last :meth:`apply` answer).
        """
        masters, per_sample, applied = [], [], {}
        for i in range(len(x)):
            result, stats = self._run_shm(x[i : i + 1], labels[i : i + 1])
            masters.append(self._master_part(result))
            per_sample.append(stats)
            applied = self.apply(lr, 1, result["grads"])
        stats = dict(per_sample[-1])
        for key in ("loop_s", "barrier_s", "compute_s", "post_s", "context_switches"):
            stats[key] = sum(s[key] for s in per_sample) / len(per_sample)
        stats["spikes"] = sum(s["spikes"] for s in per_sample)
        stats["samples"] = len(per_sample)
        self._record(stats)
        return masters, stats, applied

    def reduce(self, *grads: dict) -> dict:
        """The sum of gradient slices ``grads``, added in the order given (the engine's fixed order, so that the
        sum is the same bits wherever it is formed)."""
        total = {key: np.array(value) for key, value in grads[0].items()}
        for grad in grads[1:]:
            for key in total:
                total[key] += grad[key]
        return total

    def advance(self, seconds: float) -> int:
        """Let ``seconds`` of device time pass for this PE's synapses; returns its device writes so far."""
        self.program.advance(seconds)
        return self.program.writes

    def writes(self) -> int:
        """Device writes of this PE's synapses so far."""
        return self.program.writes

    def rollback(self, steps: int) -> int:
        """Undo the last learning step if this PE has taken ``steps`` + 1 (a batch whose update the engine did not
        see complete everywhere); returns the step count afterwards."""
        if self.program.adam_steps == steps + 1 and self._previous is not None:
            self.program.load_state_dict(self._previous)
            self._previous = None
        return self.program.adam_steps

    def state_dict(self) -> dict[str, np.ndarray]:
        """Weights, optimiser moments and step count of the own slice (copies)."""
        return {key: np.array(value) for key, value in self.program.state_dict().items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Overwrite the own slice's state."""
        self.program.load_state_dict(state)
        self._previous = None

    def _record(self, stats: dict) -> None:
        if self.metrics is not None:
            self.metrics.record(stats)
