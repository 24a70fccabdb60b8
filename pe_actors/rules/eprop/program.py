"""The e-prop PE program: one forward phase with spikes multicast to the whole group, the partial outputs to the
master, the master's loss and error broadcast, then every PE's gradients (docs/eprop.md, "On the PEs").

Rounds, for T steps: with drift-compensated PCM synapses first ``calibrate`` (every PE multicasts its
conductance sums, docs/synapses.md), then ``forward`` t = 0..T-1 (finish step t - 1 with the group's spikes,
run step t up to the sync, post the own spikes), ``readout`` (finish step T - 1, post the partial output to the
master), ``loss`` (the master reduces the partials and broadcasts pi - onehot) and ``learn`` (every PE forms its
gradients). An inference sub-batch ends with ``output`` instead (the master sums the partials into the logits).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pe_actors.core.checks import require_finite
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.partition import split_neurons
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.master import reduce_outputs
from pe_actors.rules.eprop.pe import KERNELS, PE, auto_kernel
from pe_actors.runtime.program import Channel, Inbox, Phase, no_timer
from pe_actors.synapses import DIGITAL, SynapseConfig

MASTER = 0


def eprop_group(config: Any, n_pes: int, sizes: list[int] | None = None, kernel: str = "numba",
                synapses: SynapseConfig = DIGITAL, sub_batch: int | None = None) -> Any:
    """The group program of an e-prop network: :class:`EpropGroup` for the rule's own network, a
    :class:`~pe_actors.rules.eprop.graph_program.GraphGroup` for a network graph it compiled."""
    from pe_actors.rules.eprop.graph import EpropGraph

    if isinstance(config, EpropGraph):
        from pe_actors.rules.eprop.graph_program import GraphGroup

        return GraphGroup(config, n_pes, sizes, synapses, kernel, sub_batch)
    return EpropGroup(config, n_pes, sizes, kernel, synapses, sub_batch)


class EpropGroup:
    """One e-prop network replica on ``n_pes`` PEs (postsynaptic split of the recurrent neurons).

    Args:
        config: the network.
        n_pes: PEs per group, P.
        sizes: an explicit uneven split (neurons per PE), or None for the even one.
        kernel: the PEs' per-synapse implementation (see :data:`pe_actors.rules.eprop.pe.KERNELS`), or ``auto``:
            the one policy of :func:`~pe_actors.rules.eprop.pe.auto_kernel` for PEs running ``sub_batch`` samples.
        synapses: where the PEs' weights live (docs/synapses.md).
        sub_batch: the samples each PE vectorises (None: many), which ``auto`` chooses the kernel for.
    """

    master = MASTER

    def __init__(
        self,
        config: NetworkConfig,
        n_pes: int,
        sizes: list[int] | None = None,
        kernel: str = "numba",
        synapses: SynapseConfig = DIGITAL,
        sub_batch: int | None = None,
    ) -> None:
        if kernel not in ("auto", *KERNELS):
            raise ValueError(f"kernel must be 'auto' or one of {list(KERNELS)}, got {kernel!r}")
        self.config = config
        self.synapses = synapses
        #: Device seconds per training sample (the engines advance the stores after every learning step).
        self.sample_s = synapses.sample_s
        self.neurons = split_neurons(config.n_rec, n_pes, sizes)
        self.n_pes, self.n_out, self.n_steps = n_pes, config.n_out, config.n_steps
        self.kernel = auto_kernel(sub_batch) if kernel == "auto" else kernel
        everyone = tuple(range(n_pes))
        widths = tuple(n.stop - n.start for n in self.neurons)
        self.channels = (
            Channel("spikes", "spikes", everyone, everyone, widths),
            Channel("partials", "array", everyone, (MASTER,), (config.n_out,) * n_pes),
            Channel("error", "array", (MASTER,), everyone, (config.n_out,)),
        )
        if synapses.compensating:
            # Per matrix (W_in, W_rec, W_out): the programmed and the read conductance sums of the PE's devices.
            self.channels += (Channel("drift", "array", everyone, everyone, (6,) * n_pes),)

    def phases(self, learning: bool) -> tuple[Phase, ...]:
        """forward (T rounds), readout, then loss and learn (training) or output (inference)."""
        n_steps = self.config.n_steps
        head = (Phase("forward", n_steps, ("spikes",)), Phase("readout", 1, ("partials",), first=n_steps))
        if self.synapses.compensating:
            head = (Phase("calibrate", 1, ("drift",)), *head)
        if learning:
            return (*head, Phase("loss", 1, ("error",)), Phase("learn", 1))
        return (*head, Phase("output", 1))

    def make_program(
        self, pe: int, params: dict[str, np.ndarray], optimiser: OptimiserConfig | None, learning: bool = True
    ) -> EpropProgram:
        """The program of PE ``pe``, holding its slice of ``params``; a learning PE and an inference PE (no
        eligibility state) that shares its weight arrays."""
        neurons = self.neurons[pe]
        learner = PE(self.config, neurons, params, optimiser, learning, kernel=self.kernel, synapses=self.synapses)
        inference = PE(self.config, neurons, params, learning=False, kernel=self.kernel, store=learner.store)
        return EpropProgram(pe, learner, inference if learning else None)

    def prepare(self, x: np.ndarray, labels: np.ndarray | None, dtype: np.dtype) -> tuple[np.ndarray, Any]:
        """A sub-batch as the PEs take it: x in the engine's dtype; NaN or Inf raise a ValueError naming the
        sample."""
        x = np.asarray(x, dtype=dtype)
        require_finite(x, "x")
        return x, labels

    def pe_layout(self) -> list[dict]:
        """Per PE: its population's layer (1, the recurrent one), its neurons [first, stop), its synapses (the
        input and recurrent synapses onto its neurons, without self-connections, and their readout synapses) and
        whether it is the master."""
        c = self.config
        rows = []
        for p, part in enumerate(self.neurons):
            size = part.stop - part.start
            rows.append({"pe": p, "layer": 1, "neurons": [part.start, part.stop],
                         "synapses": c.n_pre * size - size + size * c.n_out, "master": p == self.master})
        return rows

    def gather_state(self, states: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Full matrices from the PEs' slices (see :func:`gather_state`)."""
        return gather_state(states)

    def scatter_state(self, state: dict[str, np.ndarray], pe: int) -> dict[str, np.ndarray]:
        """The slice PE ``pe`` holds (see :func:`scatter_state`)."""
        return scatter_state(state, self.neurons[pe])


def gather_state(states: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Full-matrix state from the PEs' :meth:`~pe_actors.rules.eprop.pe.PE.state_dict` slices (columns J_p of the input
    and recurrent matrices, rows J_p of the output matrix; scalars such as the ADAM step count are shared)."""
    full = {}
    for key in states[0]:
        if np.ndim(states[0][key]) == 0:
            full[key] = states[0][key]
        else:
            axis = 0 if key.endswith("w_out") else 1
            full[key] = np.concatenate([state[key] for state in states], axis=axis)
    return full


def scatter_state(state: dict[str, np.ndarray], neurons: slice) -> dict[str, np.ndarray]:
    """The slice of a full-matrix state that the PE owning ``neurons`` holds (inverse of :func:`gather_state`)."""
    return {
        key: value if np.ndim(value) == 0 else (value[neurons] if key.endswith("w_out") else value[:, neurons])
        for key, value in state.items()
    }


class EpropProgram:
    """The program of one e-prop PE around a :class:`~pe_actors.rules.eprop.pe.PE` (and, for inference, a second PE
    sharing its weights; without one every sub-batch runs on ``pe``)."""

    def __init__(self, index: int, pe: PE, inference: PE | None = None) -> None:
        self.config, self.index = pe.config, index
        self.timer = no_timer
        self.pe, self.inference = pe, inference
        self._channels = ("drift",) if getattr(pe.store, "config", DIGITAL).compensating else ()
        self._active = pe
        self._labels: np.ndarray | None = None
        self._result: dict[str, Any] = {}
        self._spikes = 0

    @property
    def dtype(self) -> np.dtype:
        """The PE's floating-point type."""
        return self.pe.dtype

    def begin(self, x: np.ndarray, labels: np.ndarray | None) -> None:
        """Load sub-batch x (k, T, n_in); labels None runs inference."""
        self._active = self.pe if labels is not None or self.inference is None else self.inference
        self._active.begin_sample(np.asarray(x))
        self._labels = labels
        self._result = {}
        self._spikes = 0

    def _finish(self, t: int, inbox: Inbox) -> None:
        with self.timer("eprop", t):
            self._active.eprop(t)
        with self.timer("sync", t):
            z_group = inbox.read("spikes")
        with self.timer("synapse_process_spike", t):
            self._active.synapse_process_spike(z_group)

    def step(self, phase: str, t: int, inbox: Inbox) -> dict[str, np.ndarray]:
        """One round (see the module docstring)."""
        pe = self._active
        if phase == "calibrate":
            with self.timer("calibrate", t):
                sums = pe.store.drift_sums().reshape(1, -1)
            return {"drift": np.repeat(sums, pe.sub_batch, axis=0)}
        if phase == "forward":
            if t > 0:
                self._finish(t - 1, inbox)
            elif "drift" in self._channels:
                # Every PE adds the same packets in the same order, so all hold the same gains.
                with self.timer("calibrate", t):
                    pe.compensate(np.sum([packet[0] for packet in inbox.read("drift")], axis=0).reshape(-1, 2))
            with self.timer("send_input", t):
                pe.send_input(t)
            with self.timer("synapse_preprocess", t):
                pe.synapse_preprocess()
            with self.timer("neuron_update", t):
                z = pe.neuron_update()
            self._spikes += int(np.count_nonzero(z))
            return {"spikes": z}
        if phase == "readout":
            self._finish(t - 1, inbox)
            with self.timer("partial_output", t):
                return {"partials": pe.partial_output()}
        if phase == "loss":
            if self.index != MASTER:
                return {}
            with self.timer("master", t):
                result = reduce_outputs(inbox.read("partials"), self._labels)
            self._result.update(logits=result.logits, loss=result.loss)
            return {"error": result.error}
        if phase == "learn":
            with self.timer("gradients", t):
                self._result["grads"] = pe.gradients(np.array(inbox.read("error")[0]))
            return {}
        if phase == "output":
            if self.index == MASTER:
                self._result["logits"] = np.sum(inbox.read("partials"), axis=0)
            return {}
        raise ValueError(f"e-prop has no phase {phase!r}")

    def result(self) -> dict[str, Any]:
        """``grads`` (sums over the sub-batch) after training; ``logits`` (and ``loss``) on the master; ``spikes``
        emitted by this PE."""
        return {**self._result, "spikes": self._spikes}

    def apply(self, grads: dict[str, np.ndarray], lr: float) -> None:
        """Learning step of the own slice with batch-mean gradients (through the synapse store)."""
        self.pe.apply_gradients(grads, lr)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of device time pass for the own synapses."""
        self.pe.advance(seconds)

    @property
    def adam_steps(self) -> int:
        """ADAM steps taken so far."""
        return self.pe.store.steps

    @property
    def writes(self) -> int:
        """Device writes of the own synapses so far (0 for float weights)."""
        return self.pe.store.writes

    def state_dict(self) -> dict[str, np.ndarray]:
        """Weights and ADAM state of the own slice (views)."""
        return self.pe.state_dict()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Overwrite the own slice (see :meth:`pe_actors.rules.eprop.pe.PE.load_state_dict`)."""
        self.pe.load_state_dict(state)
