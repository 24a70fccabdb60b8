"""The PE actor: a plain class wrapping the core's :class:`~pe_actors.pe.PE`, made a Ray actor by the engine at
start-up (so it also runs, and is tested, in-process).

Two transports drive its per-step protocol (SPEC section 3):

- ``shm``: :meth:`PEActor.run` steps all T steps of a sub-batch itself, exchanging spikes with the group's PEs
  through the node's shared-memory :class:`~pe_actors.runtime.mailbox.GroupMailbox`; PE 0 plays the master at the
  last step. The driver is not in the per-step loop.
- ``ray``: the driver submits :meth:`PEActor.ray_step` per step with the peers' spike packets as arguments (Ray
  resolves them actor to actor), then :meth:`PEActor.ray_master` and :meth:`PEActor.ray_gradients`.
"""

from __future__ import annotations

import os
import time

import numpy as np

from pe_actors.config import NetworkConfig
from pe_actors.master import MasterResult, reduce_outputs
from pe_actors.optimiser import OptimiserConfig
from pe_actors.pe import PE
from pe_actors.runtime.mailbox import GroupMailbox
from pe_actors.runtime.protocol import pack_array, pack_spikes, unpack_array, unpack_spikes


class PEActor:
    """PE ``pe`` of group ``group``: its slice of ``params`` (neurons ``neurons``), ADAM state and traces.

    Args:
        config: the network (as :meth:`NetworkConfig.to_dict`).
        neurons: (start, stop) of the slice J_p.
        params: the full initial weights.
        optimiser: ADAM settings.
        run_name, group, pe, n_pes: where this PE sits.
        barrier_timeout_s: how long the shared-memory barrier waits for a peer before raising.
        record_metrics: record Ray custom metrics after every sub-batch.
    """

    def __init__(
        self,
        config: dict,
        neurons: tuple[int, int],
        params: dict[str, np.ndarray],
        optimiser: OptimiserConfig,
        run_name: str,
        group: int,
        pe: int,
        n_pes: int,
        barrier_timeout_s: float,
        record_metrics: bool = False,
    ) -> None:
        self.config = NetworkConfig.from_dict(config)
        self.group, self.index, self.n_pes = group, pe, n_pes
        self.barrier_timeout_s = barrier_timeout_s
        self.pe = PE(self.config, slice(*neurons), params, optimiser)
        # Prediction uses a PE without eligibility state that shares the learning PE's weight arrays.
        self.inference = PE(self.config, slice(*neurons), params, learning=False)
        self.inference.w, self.inference.w_out = self.pe.w, self.pe.w_out
        self.mailbox: GroupMailbox | None = None
        self.generation = 0
        self._previous: dict[str, np.ndarray] | None = None
        self._active: PE = self.pe
        self._ray_seconds = 0.0
        self._ray_spikes = 0
        self.metrics = None
        if record_metrics:
            from pe_actors.runtime.metrics import PEMetrics

            self.metrics = PEMetrics(run_name, group, pe)

    def ping(self) -> tuple[int, int, int]:
        """(group, pe, process id): proves the actor is alive."""
        return self.group, self.index, os.getpid()

    def open_mailbox(self, path: str, run_name: str, create: bool, capacity: int, sizes: list[int]) -> None:
        """Create (the master, PE 0) or attach the group's shared-memory mailbox; ``sizes`` are the |J_q|."""
        if create:
            self.mailbox = GroupMailbox.create(
                path, run_name, self.group, sizes, capacity, self.config.n_out, self.pe.dtype
            )
        else:
            self.mailbox = GroupMailbox.attach(path, run_name, self.group)
        self.generation = 0

    def close_mailbox(self) -> None:
        """Unmap the mailbox; the master also removes its file."""
        if self.mailbox is None:
            return
        if self.index == 0:
            self.mailbox.unlink()
        self.mailbox.close()
        self.mailbox = None

    def _sync(self, where: str) -> float:
        self.generation += 1
        return self.mailbox.wait(self.index, self.generation, self.barrier_timeout_s, where)

    def _forward_shm(self, pe: PE, x: np.ndarray) -> dict:
        """All T steps of sub-batch x through the group over shared memory; leaves the partial outputs posted."""
        mailbox, index = self.mailbox, self.index
        if mailbox is None:
            raise RuntimeError(f"PE {index} of group {self.group} has no mailbox; the engine opens it at start-up")
        k = len(x)
        if k > mailbox.capacity:
            raise ValueError(f"sub-batch of {k} samples exceeds the mailbox capacity {mailbox.capacity}")
        barrier_s, spikes = 0.0, 0
        start = time.perf_counter()
        pe.begin_sample(np.asarray(x))
        try:
            for t in range(self.config.n_steps):
                z = pe.step_until_sync(t)
                spikes += int(np.count_nonzero(z))
                mailbox.post_spikes(index, t & 1, z)
                barrier_s += self._sync(f"step {t}")
                pe.step_after_sync(t, mailbox.read_spikes(t & 1, k))
            mailbox.partials[index, :k] = pe.partial_output()
            barrier_s += self._sync("the output reduction")
        except BaseException:
            mailbox.abort(index)
            raise
        return {
            "group": self.group,
            "pe": index,
            "steps": self.config.n_steps,
            "samples": k,
            "loop_s": time.perf_counter() - start,
            "barrier_s": barrier_s,
            "spikes": spikes,
        }

    def run(self, x: np.ndarray, labels: np.ndarray) -> tuple[dict, MasterResult | None, dict]:
        """Train forward on sub-batch x (k, T, n_in) over shared memory: all T steps, the master's reduction
        (PE 0) and error broadcast, then this PE's gradients summed over the sub-batch (SPEC section 3).

        Returns (gradients of the own slice, the MasterResult on PE 0 else None, timing statistics).
        """
        stats = self._forward_shm(self.pe, x)
        mailbox, k = self.mailbox, len(x)
        result = None
        try:
            if self.index == 0:
                result = reduce_outputs(mailbox.partials[:, :k], labels)
                mailbox.error[:k] = result.error
            stats["barrier_s"] += self._sync("the error broadcast")
        except BaseException:
            mailbox.abort(self.index)
            raise
        grads = self.pe.gradients(np.array(mailbox.error[:k]))
        self._record(stats)
        return grads, result, stats

    def predict(self, x: np.ndarray) -> np.ndarray | None:
        """Forward only over shared memory; PE 0 returns the logits ybar (k, n_out), the others None."""
        self._forward_shm(self.inference, x)
        logits = np.sum(self.mailbox.partials[:, : len(x)], axis=0) if self.index == 0 else None
        # The master must have read the partials before any PE can overwrite them with the next sub-batch.
        self._sync("the end of prediction")
        return logits

    def ray_begin(self, x: np.ndarray, learning: bool) -> None:
        """Ray transport: load sub-batch x into the learning or the inference PE."""
        self._active = self.pe if learning else self.inference
        self._active.begin_sample(np.asarray(x))
        self._ray_seconds = 0.0
        self._ray_spikes = 0

    def ray_step(self, t: int, *packets: bytes) -> bytes:
        """Ray transport, one call per step: finish step t - 1 with the group's spike ``packets`` (in PE order),
        then run step t up to the sync and return the own spike packet; at t = T return the partial output."""
        start = time.perf_counter()
        pe = self._active
        if packets:
            z_group = np.concatenate([unpack_spikes(packet)[2] for packet in packets], axis=1).astype(pe.dtype)
            pe.step_after_sync(t - 1, z_group)
        if t < self.config.n_steps:
            z = pe.step_until_sync(t)
            self._ray_spikes += int(np.count_nonzero(z))
            packet = pack_spikes(t, self.index, z)
        else:
            packet = pack_array("partial", pe.partial_output())
        self._ray_seconds += time.perf_counter() - start
        return packet

    def ray_master(self, labels: np.ndarray, *partials: bytes) -> tuple[MasterResult, bytes]:
        """Ray transport, master role: reduce the partial-output packets; returns the result and the error packet."""
        result = reduce_outputs(np.stack([unpack_array(packet, "partial") for packet in partials]), labels)
        return result, pack_array("error", result.error)

    def ray_gradients(self, error_packet: bytes) -> tuple[dict, dict]:
        """Ray transport: this PE's gradients from the broadcast error packet, and its compute statistics."""
        grads = self.pe.gradients(unpack_array(error_packet, "error"))
        stats = {
            "group": self.group,
            "pe": self.index,
            "steps": self.config.n_steps,
            "samples": self.pe.sub_batch,
            "loop_s": self._ray_seconds,
            "barrier_s": 0.0,
            "spikes": self._ray_spikes,
        }
        self._record(stats)
        return grads, stats

    def apply(self, lr: float, n_samples: int, *grads: dict) -> int:
        """ADAM step with the batch mean of the groups' gradient sums ``grads`` (summed in group order, so every
        replica computes the same bits); keeps the previous state for :meth:`rollback`. Returns the step count."""
        total = {key: np.array(value) for key, value in grads[0].items()}
        for grad in grads[1:]:
            for key in total:
                total[key] += grad[key]
        self._previous = {key: np.array(value) for key, value in self.pe.state_dict().items()}
        self.pe.apply_gradients({key: value / n_samples for key, value in total.items()}, lr)
        return self.pe.adam_w.n

    def rollback(self, steps: int) -> int:
        """Undo the last ADAM step if this PE has taken ``steps`` + 1 (a batch whose update the engine did not
        see complete everywhere); returns the step count afterwards."""
        if self.pe.adam_w.n == steps + 1 and self._previous is not None:
            self.pe.load_state_dict(self._previous)
            self._previous = None
        return self.pe.adam_w.n

    def state_dict(self) -> dict[str, np.ndarray]:
        """Weights, ADAM moments and step count of the own slice (copies)."""
        return {key: np.array(value) for key, value in self.pe.state_dict().items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Overwrite the own slice's state (see :meth:`pe_actors.pe.PE.load_state_dict`)."""
        self.pe.load_state_dict(state)
        self._previous = None

    def _record(self, stats: dict) -> None:
        if self.metrics is not None:
            self.metrics.record(stats)
