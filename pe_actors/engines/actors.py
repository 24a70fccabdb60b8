"""The Ray actor engine: G groups of P PE actors, one network replica per group, for any rule's PE program
(docs/runtime.md).

Each group is placed on one node by a placement group of P bundles of the custom resource ``pe`` (declared by
:func:`pe_actors.runtime.cluster.start_ray` or ``ray start --resources``); its actors are named
``pe-g{g}-p{pp}`` in the namespace ``pe-actors-{run}``. Per mini-batch the driver puts each group's sub-batch in
the object store; the group runs every round of its program among itself (``shm``: through the node's shared
memory, without the driver; ``ray``: through actor calls the driver submits ahead with the same step loop, packets
travelling actor to actor as msgpack); the program's master reduces the outputs. The gradient sums of slice p are
added up on each node by the PE p of its first group, then across nodes by group 0's PE p, in group and node
order; that one object goes to PE p of every group, which takes the learning step, so every replica stays
identical and a batch moves O(G) object references per slice (2 G P in all on one node) instead of G^2 P.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from typing import Any

import numpy as np
import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from pe_actors.core.engine import BatchResult, sub_batches, train_each, weights_only
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.rules import group_program
from pe_actors.runtime.actor import PEActor
from pe_actors.runtime.cluster import PE_PROCESS_VARIABLE, PE_RESOURCE, PEGroupError, check_pe_resources, start_ray
from pe_actors.runtime.mailbox import mailbox_path, remove_stale_mailboxes, unlink_mailbox
from pe_actors.runtime.packets import actor_name
from pe_actors.runtime.ray_transport import RayCallTransport
from pe_actors.runtime.steploop import step_loop
from pe_actors.synapses import DIGITAL, SynapseConfig

#: The transports a group can use to exchange spikes.
TRANSPORTS = ("shm", "ray")
#: Samples a group forwards at once in :meth:`ActorEngine.predict` (at least the sub-batch).
PREDICT_CHUNK = 64
_POLL_SECONDS = 0.1
# Worker processes of PE actors run single-threaded BLAS (the PEs of a group already share the node's cores) and are
# marked as PE processes, which the setup hook of the run's Ray keeps lean (runtime.cluster.lean_pe_process).
_WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", PE_PROCESS_VARIABLE: "1"}


class ActorEngine:
    """Trains G identical network replicas held by G groups of P PE actors, for e-prop or EventProp; the engine
    interface (``train_batch``, ``predict``, ``params``, ``state``, ``load_state``) and its lifecycle (``with
    engine:``, ``start``, ``close``/``shutdown``).

    Args:
        config: the network description; its type picks the rule (:func:`pe_actors.rules.group_program`).
        params: initial weights; their dtype is the engine's dtype.
        optimiser: ADAM/L2 settings.
        n_pes: PEs per group, P (for EventProp: PEs per layer, an int or one per layer).
        n_groups: groups, G (network replicas running side by side).
        sub_batch: samples each PE vectorises, k; a mini-batch holds at most G * k samples.
        transport: ``"shm"`` (shared memory on one node; the default) or ``"ray"`` (actor calls; groups may span
            nodes).
        run_name: names the Ray namespace, placement groups and mailboxes (default: a random ``run-xxxxxxxx``).
        barrier_timeout_s: how long a PE waits for a peer at a barrier before the group fails.
        start_timeout_s: how long to wait for placement groups and actors at start-up.
        record_metrics: record Ray custom metrics (see :mod:`pe_actors.runtime.metrics`).
        synapses: where the PEs' weights live (docs/synapses.md).
        kernel: the e-prop PEs' per-synapse implementation (:data:`pe_actors.rules.eprop.pe.KERNELS`) or ``auto``,
            which picks ``c``, the loops compiled ahead of time at install (numba's speed, and a PE process never
            loads numba: at most 60 MB per actor at every sub-batch); where the install could not build it,
            numpy at sub-batch 1 and numba above.
        address: the Ray cluster to join when this process has not initialised Ray (``"auto"``, ``host:port``,
            ``ray://...``); None starts an embedded local Ray on 127.0.0.1 declaring the P x G ``pe`` slots. A Ray
            the engine started is shut down with it; a Ray the caller initialised is left alone.
        dashboard_port: the embedded local Ray's dashboard port (a free one when it is taken).
        schedule: EventProp only: how the PEs exchange packets, ``pipelined`` (a round per time step, as on the
            chip) or ``layered`` (a round per layer carrying all T steps; same gradients, far fewer barriers); see
            :data:`pe_actors.rules.eventprop.config.SCHEDULES`. None: the rule's default.
    """

    def __init__(
        self,
        config: Any,
        params: dict[str, np.ndarray],
        optimiser: OptimiserConfig,
        n_pes: int | list[int] = 12,
        n_groups: int = 1,
        sub_batch: int = 1,
        transport: str = "shm",
        run_name: str | None = None,
        barrier_timeout_s: float = 60.0,
        start_timeout_s: float = 600.0,
        record_metrics: bool = True,
        synapses: SynapseConfig = DIGITAL,
        kernel: str = "auto",
        address: str | None = None,
        dashboard_port: int = 8265,
        schedule: str | None = None,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
        for name, value in (("n_groups", n_groups), ("sub_batch", sub_batch)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not barrier_timeout_s > 0:
            raise ValueError(f"barrier_timeout_s must be positive, got {barrier_timeout_s!r}")
        run_name = run_name or f"run-{uuid.uuid4().hex[:8]}"
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", run_name):
            raise ValueError(f"run_name must be 1-64 characters of letters, digits, '_', '.', '-', got {run_name!r}")
        self.config = config
        self.optimiser = optimiser
        self.spec = group_program(
            config, n_pes, synapses=synapses, kernel=kernel, schedule=schedule, sub_batch=sub_batch
        )
        self.kernel = getattr(self.spec, "kernel", None)
        self.synapses = synapses
        self.n_pes, self.n_groups, self.sub_batch = self.spec.n_pes, n_groups, sub_batch
        self.transport = transport
        self.run_name = run_name
        self.namespace = f"pe-actors-{run_name}"
        self.barrier_timeout_s = float(barrier_timeout_s)
        self.start_timeout_s = float(start_timeout_s)
        self.record_metrics = record_metrics
        self.dtype = np.result_type(*params.values())
        self._initial = {key: np.asarray(value, self.dtype) for key, value in params.items()}
        self.groups: list[list] = []
        self._placement: list = []
        self._failed: set[int] = set()
        self.updates = 0
        #: Device writes of one replica so far (as of the last learning step or :meth:`advance`; None for float
        #: weights).
        self.writes: int | None = 0 if synapses.devices else None
        self.timing: dict[str, float] = {}
        self.pe_timing: list[dict[str, float]] = []
        self.startup: dict[str, float] = {}
        #: Object references handed to reducers and learning steps for gradient averaging, over all batches.
        self.transfer = {"batches": 0, "gradient_refs": 0}
        self._nodes: dict[tuple[int, int], str] = {}
        self._run_metrics = None
        self._started = False
        self.address = address
        self.dashboard_port = dashboard_port
        #: The Ray dashboard's URL when this engine started or joined Ray, else None.
        self.dashboard_url: str | None = None
        self._owns_ray = False

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> ActorEngine:
        """Start or join Ray if this process has not (see ``address``), place the groups, start the P x G actors and
        open the mailboxes (called by the first use if needed)."""
        if self._started:
            return self
        if not ray.is_initialized():
            slots = self.n_pes * self.n_groups
            job = f"pe-actors {self.run_name}"
            self.dashboard_url = start_ray(
                self.address, num_pe_slots=slots, dashboard_port=self.dashboard_port, job_name=job
            )
            self._owns_ray = True
        check_pe_resources(self.n_pes * self.n_groups, f"{self.n_groups} group(s) x {self.n_pes} PEs")
        remove_stale_mailboxes()
        # A dead PE leaves error objects that nobody reads (its peers' pending calls); the engine reports the
        # failure itself in one line (PEGroupError), so Ray's per-object "Unhandled error" tracebacks are noise.
        os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
        self._started = True
        params_ref = ray.put(self._initial)
        self._placement = [self._place(g) for g in range(self.n_groups)]
        try:
            ray.get([pg.ready() for pg in self._placement], timeout=self.start_timeout_s)
        except GetTimeoutError:
            self.shutdown()
            raise RuntimeError(
                f"placement groups not ready after {self.start_timeout_s:g} s: each group needs {self.n_pes} "
                f"'{PE_RESOURCE}' units on one node (transport {self.transport!r})"
            ) from None
        begin = time.perf_counter()
        started = self._start_groups(list(range(self.n_groups)), params_ref)
        self.groups = [started[g] for g in range(self.n_groups)]
        seconds = time.perf_counter() - begin
        #: How long the actors took to start (placement groups ready to mailboxes open), in all and per actor.
        self.startup = {"actors": self.n_groups * self.n_pes, "seconds": seconds,
                        "seconds_per_actor": seconds / (self.n_groups * self.n_pes)}
        if self.record_metrics:
            from pe_actors.runtime.metrics import RunMetrics

            self._run_metrics = RunMetrics(self.run_name)
        return self

    def _place(self, group: int):
        # STRICT_PACK keeps a shared-memory group on one node; the ray transport may spread over nodes.
        strategy = "STRICT_PACK" if self.transport == "shm" else "PACK"
        bundles = [{PE_RESOURCE: 1}] * self.n_pes
        return placement_group(bundles, strategy=strategy, name=f"{self.namespace}-g{group}")

    def _start_groups(self, groups: list[int], params_ref) -> dict[int, list]:
        """Start the PE actors of ``groups`` all at once (Ray starts their worker processes side by side), wait
        until every one answers, then open the groups' mailboxes: each master creates its group's, then every
        other PE attaches."""
        remote = ray.remote(PEActor)
        started = {
            g: [
                remote.options(
                    name=actor_name(g, p),
                    namespace=self.namespace,
                    num_cpus=0,
                    resources={PE_RESOURCE: 1},
                    scheduling_strategy=PlacementGroupSchedulingStrategy(
                        self._placement[g], placement_group_bundle_index=p
                    ),
                    runtime_env={"env_vars": _WORKER_ENV},
                    max_restarts=0,
                ).remote(
                    self.spec,
                    p,
                    params_ref,
                    self.optimiser,
                    self.run_name,
                    g,
                    self.barrier_timeout_s,
                    self.record_metrics,
                )
                for p in range(self.n_pes)
            ]
            for g in groups
        }
        owners = [(g, p) for g in groups for p in range(self.n_pes)]
        self._get([a.ping.remote() for g in groups for a in started[g]], owners, self.start_timeout_s)
        if self.transport == "shm":
            capacity = max(self.sub_batch, PREDICT_CHUNK)
            paths = {g: str(mailbox_path(self.run_name, g)) for g in groups}
            masters = [(g, 0) for g in groups]
            self._get(
                [started[g][0].open_mailbox.remote(paths[g], self.run_name, True, capacity) for g in groups], masters
            )
            others = [(g, p) for g in groups for p in range(1, self.n_pes)]
            calls = [started[g][p].open_mailbox.remote(paths[g], self.run_name, False, capacity) for g, p in others]
            self._get(calls, others)
        return started

    def shutdown(self, patience_s: float = 5.0) -> None:
        """Close the mailboxes gracefully (waiting up to ``patience_s``), then kill the actors, remove the
        placement groups and any mailbox file left on this node."""
        actors = [a for group in self.groups for a in group]
        if actors and self.transport == "shm":
            ray.wait([a.close_mailbox.remote() for a in actors], num_returns=len(actors), timeout=patience_s)
        for actor in actors:
            ray.kill(actor)
        for pg in self._placement:
            remove_placement_group(pg)
        for group in range(self.n_groups):
            unlink_mailbox(mailbox_path(self.run_name, group), self.n_pes)
        self.groups, self._placement = [], []
        self._started = False
        if self._owns_ray:
            self._owns_ray = False
            ray.shutdown()

    def close(self) -> None:
        """Release the actors, placement groups, mailboxes and a Ray this engine started (:meth:`shutdown`)."""
        self.shutdown()

    def __enter__(self) -> ActorEngine:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.shutdown()

    # -- the engine interface ----------------------------------------------------------------------------------

    def train_batch(self, x: np.ndarray, labels: np.ndarray, lr: float) -> BatchResult:
        """One update on a mini-batch of at most G * k samples: sub-batch g goes to group g; each group runs every
        round of its program and forms its gradient sums; PE p of every group then adds the groups' sums for
        slice p and takes the learning step with the batch mean. Returns the master results in batch order."""
        self.start()
        x, labels = self._check_batch(x, labels)
        start = time.perf_counter()
        parts = list(sub_batches(len(x), self.sub_batch))
        master = self.spec.master
        grads, results, stats, owners = [], [], [], []
        for g, part in enumerate(parts):
            x_ref, labels_ref = ray.put(x[part]), ray.put(labels[part])
            if self.transport == "shm":
                refs = [a.run.options(num_returns=3).remote(x_ref, labels_ref) for a in self.groups[g]]
            else:
                self._ray_rounds(g, x_ref, labels_ref)
                refs = [a.ray_result.options(num_returns=3).remote(True) for a in self.groups[g]]
            grads.append([r[0] for r in refs])
            results.append(refs[master][1])
            stats.extend(r[2] for r in refs)
            owners.extend((g, p) for p in range(self.n_pes))
        totals = [self._averaged(p, [grads[g][p] for g in range(len(parts))]) for p in range(self.n_pes)]
        steps = [actor.apply.remote(lr, len(x), totals[p]) for group in self.groups for p, actor in enumerate(group)]
        all_owners = [(g, p) for g in range(self.n_groups) for p in range(self.n_pes)]
        # The sub-batches first: a learning step that fails only because a group's gradients never came must not
        # be blamed on its own (healthy) group.
        values = self._get(results + stats, [(g, master) for g in range(len(parts))] + owners)
        group_results, stats = values[: len(parts)], values[len(parts) :]
        applied = self._get(steps, all_owners)
        self.transfer["batches"] += 1
        if self.writes is not None:
            self.writes = sum(answer["writes"] for answer in applied[: self.n_pes])
        self.updates += 1
        result = BatchResult.concatenate([BatchResult(r["logits"], r["loss"]) for r in group_results])
        self._record(stats, len(x), time.perf_counter() - start, result, labels)
        return result

    def train_samples(self, x: np.ndarray, labels: np.ndarray, lr: float) -> BatchResult:
        """Learning steps at batch 1 on the samples of ``x`` in turn (adaptation's learning): with one group on
        shared memory, the PEs run the whole sequence in one call each and apply their own update after every
        sample, as the chip does (:meth:`PEActor.learn`), instead of a driver round trip per sample; the same bits
        as :meth:`train_batch` per sample, which is what several groups (whose replicas all take each update) or
        the ray transport (whose rounds the driver submits) do. The per-sample results in order."""
        self.start()
        if self.n_groups > 1 or self.transport != "shm":
            return train_each(self, x, labels, lr)
        x, labels = self._check_batch(x, labels, sequence=True)
        start = time.perf_counter()
        x_ref, labels_ref = ray.put(x), ray.put(labels)
        refs = [actor.learn.options(num_returns=3).remote(x_ref, labels_ref, lr) for actor in self.groups[0]]
        owners = [(0, p) for p in range(self.n_pes)]
        master = self.spec.master
        values = self._get([refs[master][0]] + [r[1] for r in refs] + [r[2] for r in refs],
                           [owners[master]] + owners + owners)
        masters, stats, applied = values[0], values[1 : 1 + self.n_pes], values[1 + self.n_pes :]
        self.transfer["batches"] += len(x)
        if self.writes is not None:
            self.writes = sum(answer["writes"] for answer in applied)
        self.updates += len(x)
        result = BatchResult.concatenate([BatchResult(m["logits"], m["loss"]) for m in masters])
        self._record(stats, len(x), time.perf_counter() - start, result, labels)
        return result

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class scores (n, n_out) without learning; chunks of samples are spread over the groups."""
        self.start()
        x, _ = self.spec.prepare(x, None, self.dtype)
        chunk = max(self.sub_batch, PREDICT_CHUNK)
        parts = list(sub_batches(len(x), chunk))
        master = self.spec.master
        logits = []
        for first in range(0, len(parts), self.n_groups):
            refs = []
            for g, part in enumerate(parts[first : first + self.n_groups]):
                x_ref = ray.put(x[part])
                if self.transport == "shm":
                    # Every PE's answer is awaited (only the master's holds the logits) so that a dead PE is seen
                    # at once.
                    refs.append([a.predict.remote(x_ref) for a in self.groups[g]])
                else:
                    self._ray_rounds(g, x_ref, None)
                    refs.append([a.ray_result.options(num_returns=3).remote(False)[1] for a in self.groups[g]])
            for g, group_refs in enumerate(refs):
                answers = self._get(group_refs, [(g, p) for p in range(self.n_pes)])
                logits.append(answers[master] if self.transport == "shm" else answers[master]["logits"])
        return np.concatenate(logits) if logits else np.zeros((0, self.spec.n_out), self.dtype)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of device time pass for every PE's synapses (float weights do not drift)."""
        self.start()
        owners = [(g, p) for g in range(self.n_groups) for p in range(self.n_pes)]
        answers = self._get([a.advance.remote(seconds) for group in self.groups for a in group], owners)
        if self.writes is not None:
            self.writes = sum(answers[: self.n_pes])

    def params(self) -> dict[str, np.ndarray]:
        """Current full weights (the ``w_*`` matrices of any rule), assembled from the first healthy group's PEs."""
        return weights_only(self.state())

    def state(self) -> dict[str, np.ndarray]:
        """Full weights, ADAM moments and step count of the replica of the first healthy group."""
        self.start()
        healthy = [g for g in range(self.n_groups) if g not in self._failed]
        if not healthy:
            raise PEGroupError(
                "every group has failed; call recover(state) with a checkpointed state", sorted(self._failed)
            )
        return self.replica_state(healthy[0])

    def replica_state(self, group: int) -> dict[str, np.ndarray]:
        """The full state held by group ``group`` (replicas are identical; tests compare them)."""
        self.start()
        if not 0 <= group < self.n_groups:
            raise ValueError(f"group must lie in [0, {self.n_groups}), got {group!r}")
        owners = [(group, p) for p in range(self.n_pes)]
        return self.spec.gather_state(self._get([a.state_dict.remote() for a in self.groups[group]], owners))

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore a full state (from :meth:`state` or a checkpoint) into every group."""
        self.start()
        self._load_groups(range(self.n_groups), state)

    # -- failures ----------------------------------------------------------------------------------------------

    def recover(self, state: dict[str, np.ndarray] | None = None) -> list[int]:
        """Rebuild the failed groups and make every replica equal again; returns the rebuilt groups.

        The failed groups' actors are killed first (so recovery never waits for their barrier timeout); healthy
        actors then undo an ADAM step of a batch that did not complete everywhere, so the batch that raised can be
        retried with no update lost or applied twice. Each slice comes from a surviving PE holding
        it, or from ``state`` (for example the last checkpoint) when no PE of that slice survives.
        """
        self.start()
        failed = sorted(self._failed)
        # The surviving PEs of a failed group may sit at its barrier until the timeout: kill them at once. Their
        # slices are held by the other groups' replicas, or, with no replica, lost with the dead PE's anyway.
        for g in failed:
            for actor in self.groups[g]:
                ray.kill(actor)
        alive = {}
        for g, group in enumerate(self.groups):
            if g in failed:
                continue
            for p, actor in enumerate(group):
                try:
                    ray.get(actor.rollback.remote(self.updates), timeout=self.barrier_timeout_s + 5.0)
                    alive[(g, p)] = actor
                except (RayActorError, RayTaskError, GetTimeoutError):
                    failed.append(g)
        failed = sorted(set(failed))
        if state is None:
            slices = []
            for p in range(self.n_pes):
                holder = next((alive[(g, p)] for g in range(self.n_groups) if (g, p) in alive), None)
                if holder is None:
                    raise ValueError(f"no surviving PE holds slice {p}; pass recover(state=...) from a checkpoint")
                slices.append(ray.get(holder.state_dict.remote()))
            state = self.spec.gather_state(slices)
        params_ref = ray.put(self._initial)
        for g in failed:
            for actor in self.groups[g]:
                ray.kill(actor)
            remove_placement_group(self._placement[g])
            unlink_mailbox(mailbox_path(self.run_name, g), self.n_pes)
            self._placement[g] = self._place(g)
        ray.get([self._placement[g].ready() for g in failed], timeout=self.start_timeout_s)
        self._nodes = {key: node for key, node in self._nodes.items() if key[0] not in failed}
        for g, actors in self._start_groups(failed, params_ref).items():
            self.groups[g] = actors
        self._load_groups(range(self.n_groups), state)
        self.updates = int(state.get("adam_n", self.updates))
        self._failed.clear()
        return failed

    # -- internals ---------------------------------------------------------------------------------------------

    def _averaged(self, p: int, slices: list) -> Any:
        """One object holding the sum of slice ``p``'s gradient sums ``slices`` (one per group that ran a
        sub-batch): summed first on each node by the PE p of its first group, then across nodes by group 0's
        PE p, always in group and node order. Every PE p then receives this one object, so a batch moves O(G)
        references per slice instead of G per PE (see :attr:`transfer`)."""
        if len(slices) == 1:
            self.transfer["gradient_refs"] += self.n_groups
            return slices[0]
        by_node: dict[str, list[int]] = {}
        for g in range(len(slices)):
            by_node.setdefault(self._node_of(g, p), []).append(g)
        partials = []
        for groups in by_node.values():
            reducer = self.groups[groups[0]][p]
            partials.append(
                reducer.reduce.remote(*[slices[g] for g in groups]) if len(groups) > 1 else slices[groups[0]]
            )
        self.transfer["gradient_refs"] += len(slices) + (len(partials) if len(partials) > 1 else 0) + self.n_groups
        return partials[0] if len(partials) == 1 else self.groups[0][p].reduce.remote(*partials)

    def _node_of(self, group: int, pe: int) -> str:
        """The node that hosts PE ``pe`` of ``group`` (from its placement group's bundle), cached."""
        key = (group, pe)
        if key not in self._nodes:
            table = ray.util.placement_group_table(self._placement[group])
            for index, node in table["bundles_to_node_id"].items():
                self._nodes[(group, int(index))] = node
        return self._nodes.get(key, "")

    def _ray_rounds(self, group: int, x_ref, labels_ref) -> None:
        """Submit every round of ``group``'s schedule through the ray transport (labels None: inference)."""
        actors = self.groups[group]
        for actor in actors:
            actor.ray_begin.remote(x_ref, labels_ref)
        learning = labels_ref is not None
        step_loop(self.spec.phases(learning), RayCallTransport(actors, self.spec.channels), range(self.n_pes))

    def _load_groups(self, groups, state: dict[str, np.ndarray]) -> None:
        refs, owners = [], []
        for g in groups:
            for p, actor in enumerate(self.groups[g]):
                refs.append(actor.load_state_dict.remote(self.spec.scatter_state(state, p)))
                owners.append((g, p))
        self._get(refs, owners)

    def _check_batch(self, x: np.ndarray, labels: np.ndarray, sequence: bool = False) -> tuple[np.ndarray,
                                                                                               np.ndarray]:
        """x in the engine's dtype and labels as int64, checked: a mini-batch of at most G * k samples, or with
        ``sequence`` any number of samples (batch-1 steps one after the other)."""
        x, _ = self.spec.prepare(x, None, self.dtype)
        labels = np.asarray(labels)
        capacity = len(x) if sequence else self.n_groups * self.sub_batch
        if not 1 <= len(x) <= capacity:
            raise ValueError(
                f"a mini-batch must hold 1 to n_groups * sub_batch = {capacity} samples, got {len(x)}; "
                "raise n_groups or sub_batch, or split the batch"
            )
        if labels.shape != (len(x),) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be {len(x)} integers, got shape {labels.shape} dtype {labels.dtype}")
        if self._failed:
            raise PEGroupError(f"group(s) {sorted(self._failed)} failed; call recover() first", sorted(self._failed))
        return x, labels.astype(np.int64)

    def _get(self, refs: list, owners: list[tuple[int, int]], timeout: float | None = None) -> list:
        """ray.get that fails fast: the first actor death or error among ``refs`` (owned by the (group, PE)
        pairs ``owners``) raises a :class:`PEGroupError` naming the group and the PE, without waiting for the
        peers that are still blocked at a barrier."""
        owner = dict(zip(refs, owners, strict=True))
        pending, checked = list(owner), set()
        deadline = None if timeout is None else time.monotonic() + timeout
        while pending:
            ready, pending = ray.wait(pending, num_returns=len(pending), timeout=_POLL_SECONDS)
            if not pending:
                break
            failures = self._failures([r for r in ready if r not in checked], owner)
            checked.update(ready)
            if failures:
                self._raise(failures)
            if deadline is not None and time.monotonic() > deadline:
                g, p = owner[pending[0]]
                self._raise([(g, f"{actor_name(g, p)} (group {g}) gave no answer within {timeout:g} s")])
        try:
            return ray.get(refs)
        except (RayActorError, RayTaskError):
            self._raise(self._failures(refs, owner))

    @staticmethod
    def _failures(refs: list, owner: dict) -> list[tuple[int, str]]:
        failures = []
        for ref in refs:
            g, p = owner[ref]
            try:
                ray.get(ref, timeout=0)
            except RayActorError:
                failures.append((g, f"{actor_name(g, p)} (group {g}) died"))
            except RayTaskError as error:
                failures.append((g, f"{actor_name(g, p)} (group {g}) failed: {_cause(error)}"))
        return failures

    def _raise(self, failures: list[tuple[int, str]]) -> None:
        groups = sorted({g for g, _ in failures})
        self._failed.update(groups)
        raise PEGroupError("; ".join(dict.fromkeys(message for _, message in failures)), groups)

    @staticmethod
    def _phase_profile(stats: list[dict], steps: int) -> dict[str, float]:
        """Where a PE's time per step goes over shared memory, averaged over the PEs (docs/runtime.md, "Where the
        time goes"): its program's step (``compute_ms``), posting its packets (``post_ms``), and its context
        switches (``switches_per_step``); the rest of ``step_ms`` is the barrier. Empty for the ray transport."""
        if not stats or "compute_s" not in stats[0]:
            return {}
        n = len(stats) * steps
        return {
            "compute_ms": 1e3 * sum(s["compute_s"] for s in stats) / n,
            "post_ms": 1e3 * sum(s["post_s"] for s in stats) / n,
            "switches_per_step": sum(s["context_switches"] for s in stats) / n,
        }

    def _record(self, stats: list[dict], n_samples: int, seconds: float, result: BatchResult, labels) -> None:
        steps = self.spec.n_steps
        per_group: dict[int, list[dict]] = {}
        for s in stats:
            per_group.setdefault(s["group"], []).append(s)
        loop = [max(s["loop_s"] for s in group) for group in per_group.values()]
        if self.transport == "ray":
            # The driver-submitted steps: group wall time per step, of which the PEs computed loop_s.
            wait = [seconds - max(s["loop_s"] for s in group) for group in per_group.values()]
            loop = [seconds] * len(per_group)
        else:
            wait = [sum(s["barrier_s"] for s in group) / len(group) for group in per_group.values()]
        accuracy = float(np.mean(np.argmax(result.logits, axis=1) == labels))
        #: Per PE of the last batch: its compute per step and its wait at the barriers per step (ms).
        self.pe_timing = [
            {
                "group": s["group"],
                "pe": s["pe"],
                "step_ms": 1e3 * s["loop_s"] / steps,
                "barrier_wait_ms": 1e3 * s["barrier_s"] / steps,
            }
            for s in stats
        ]
        self.timing = {
            "step_ms": 1e3 * float(np.mean(loop)) / steps,
            "barrier_wait_ms": 1e3 * float(np.mean(wait)) / steps,
            **self._phase_profile(stats, steps),
            "spikes_per_step": sum(s["spikes"] for s in stats) / (steps * n_samples),
            "samples_per_s": n_samples / seconds,
            "batch_s": seconds,
        }
        if self._run_metrics is not None:
            self._run_metrics.record(n_samples / seconds, float(result.loss.mean()), accuracy, self.writes or 0)


def _cause(error: RayTaskError) -> str:
    cause = getattr(error, "cause", None)
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(error).splitlines()[0]
