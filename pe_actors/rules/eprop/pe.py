"""The processing element (PE): one slice of the recurrent neurons and all their synapses (docs/eprop.md, "On the PEs").

PE p owns the recurrent neurons J_p ("divide synapses", postsynaptic split): the columns J_p of W_in and W_rec,
the rows J_p of W_out, their ADAM moments, the per-synapse eligibility state of those synapses, and the neuron
state v, a, z of J_p. The presynaptic traces ev are vectors, and every PE keeps all of them because every PE
receives every spike. A PE knows no transport: its program (:mod:`pe_actors.rules.eprop.program`) calls its
per-step functions in the order of docs/eprop.md, "On the PEs", and hands it the whole group's spikes after each sync.

Per synapse i -> j the online state at sub-batch 1 is five numbers: W, the two ADAM moments, the adaptation
eligibility ea and the accumulator sum_t c_t e^t (which equals sum_t ebar^t, see
:func:`pe_actors.rules.eprop.readout.filter_weights`). Each further sample of a sub-batch adds its own ea and
accumulator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pe_actors.core.optimiser import OptimiserConfig, l2_gradient
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.neuron import spike, surrogate
from pe_actors.rules.eprop.readout import filter_weights
from pe_actors.synapses import DIGITAL, Layout, SynapseConfig, SynapseStore, clip_range, make_store

#: Memory categories reported by :meth:`PE.arrays_by_category`, in display order.
MEMORY_CATEGORIES = ("weights", "adam", "devices", "eligibility", "accumulators", "neuron_state", "input_buffer")

#: Implementations of the per-synapse updates: "c" (the same loops compiled ahead of time at install,
#: ``_pe_kernels.c``: numba's speed without numba in the process), "numba" (the loops of
#: :mod:`pe_actors.rules.eprop.kernels`, compiled at first use) and "numpy" (whole-array expressions, the
#: reference the kernels are tested against). All three give the same numbers.
KERNELS = ("c", "numba", "numpy")


def compiled_kernels_built() -> bool:
    """Whether the ahead-of-time compiled kernels (kernel ``"c"``) were built at install (they need a C compiler)."""
    from importlib.util import find_spec

    return find_spec("pe_actors.rules.eprop._pe_kernels") is not None


def auto_kernel(sub_batch: int) -> str:
    """The kernel a PE process should use: ``c`` when built; else numpy at sub-batch 1 (there only 1.3x slower per
    step, and the process never loads numba) and numba above (2-18x faster from sub-batch 8 on)."""
    if compiled_kernels_built():
        return "c"
    return "numpy" if sub_batch == 1 else "numba"


def load_kernels(kernel: str) -> Any:
    """The module of the per-synapse loops of ``kernel`` (``adaptation_step``, ``accumulate_step``,
    ``weighted_sum``, one signature for all), or None for ``"numpy"``. Imported only here: a PE on the numpy or
    the C kernel never loads numba (about 42 MB per process with its compiled code)."""
    if kernel not in KERNELS:
        raise ValueError(f"unknown PE kernel {kernel!r}; valid names are {list(KERNELS)}")
    if kernel == "numba":
        from pe_actors.rules.eprop import kernels

        return kernels
    if kernel == "c":
        try:
            from pe_actors.rules.eprop import _pe_kernels
        except ImportError:
            raise ValueError(
                "PE kernel 'c' is not built (the install found no C compiler); reinstall with one "
                "(`pip install -e .`), or use kernel 'numba' or 'numpy'"
            ) from None
        return _pe_kernels
    return None


class PE:
    """One processing element of a group, vectorised over a sub-batch of k samples.

    Args:
        config: the network.
        neurons: the slice J_p of recurrent neurons this PE owns (see :func:`split_neurons`).
        params: the full weights ``w_in``, ``w_rec``, ``w_out``; the PE copies its slice.
        optimiser: ADAM settings; None for a PE that only computes gradients.
        learning: False skips the eligibility state (inference only).
        kernel: implementation of the per-synapse updates, one of :data:`KERNELS`; all give the same numbers
            (to rounding in :meth:`gradients`, exactly in the eligibility state).
        synapses: where the weights live (docs/synapses.md); the PE reaches them only through its store.
        store: a store to share (an inference PE reads the weights of the learning PE of its program).
    """

    def __init__(
        self,
        config: NetworkConfig,
        neurons: slice,
        params: dict[str, np.ndarray],
        optimiser: OptimiserConfig | None = None,
        learning: bool = True,
        kernel: str = "numba",
        synapses: SynapseConfig = DIGITAL,
        store: SynapseStore | None = None,
    ) -> None:
        self._kernels = load_kernels(kernel)
        self.kernel = kernel
        self.config = config
        self.neurons = neurons
        self.learning = learning
        self.dtype = np.result_type(params["w_in"], params["w_rec"], params["w_out"])
        c = config
        own = np.arange(neurons.start, neurons.stop)
        self._diagonal = (c.n_in + own, own - neurons.start)
        self.optimiser = optimiser
        self.store = store if store is not None else self._make_store(params, synapses)
        self.refresh_weights()
        self._c = filter_weights(c.kappa, c.n_steps).astype(self.dtype)
        self.sub_batch = 0

    def _make_store(self, params: dict[str, np.ndarray], synapses: SynapseConfig) -> SynapseStore:
        c, neurons = self.config, self.neurons
        # Input and recurrent synapses share one (n_pre, |J|) array: rows 0..n_in-1 are inputs, the rest
        # recurrent, so the eligibility update is one pass over all synapses of the PE.
        arrays = {
            "w": np.concatenate([params["w_in"][:, neurons], params["w_rec"][:, neurons]]).astype(self.dtype),
            "w_out": np.array(params["w_out"][neurons], dtype=self.dtype),
        }
        if not synapses.devices:
            return make_store(synapses, arrays, self.optimiser)
        present = np.ones(arrays["w"].shape, bool)
        present[self._diagonal] = False
        layout = Layout(
            neuron_axis={"w": 1, "w_out": 0},
            matrices={"w_in": ("w", np.s_[: c.n_in]), "w_rec": ("w", np.s_[c.n_in :]), "w_out": ("w_out", np.s_[:])},
            neurons=np.arange(neurons.start, neurons.stop),
            present={"w": present},
        )
        # Each matrix's clip range comes from the whole matrix, so every PE split programs the same levels.
        w_max = {
            "w_in": clip_range(params["w_in"], synapses.clip_sd),
            "w_rec": clip_range(params["w_rec"], synapses.clip_sd, ~np.eye(c.n_rec, dtype=bool)),
            "w_out": clip_range(params["w_out"], synapses.clip_sd),
        }
        return make_store(synapses, arrays, self.optimiser, layout, w_max)

    def refresh_weights(self) -> None:
        """Take the weights the forward pass uses from the store (:meth:`SynapseStore.read`): after a learning
        step, when device time passed, or at the start of a sub-batch."""
        weights = self.store.read()
        self.w, self.w_out = weights["w"], weights["w_out"]

    def compensate(self, sums: np.ndarray) -> None:
        """Drift compensation from the summed :meth:`~pe_actors.synapses.DriftCompensated.drift_sums` of every PE
        (docs/synapses.md)."""
        self.store.set_gains(sums)
        self.refresh_weights()

    @property
    def size(self) -> int:
        """Number of recurrent neurons this PE owns, |J_p|."""
        return self.neurons.stop - self.neurons.start

    @property
    def w_in(self) -> np.ndarray:
        """The PE's columns of W_in (a view)."""
        return self.w[: self.config.n_in]

    @property
    def w_rec(self) -> np.ndarray:
        """The PE's columns of W_rec (a view)."""
        return self.w[self.config.n_in :]

    def _allocate(self, k: int) -> None:
        c, n, dt = self.config, self.size, self.dtype
        self.sub_batch = k
        self.v = np.zeros((k, n), dt)
        self.a = np.zeros((k, n), dt)
        self.threshold = np.zeros((k, n), dt)
        self.z = np.zeros((k, n), dt)
        self.psi = np.zeros((k, n), dt)
        self.i_rec = np.zeros((k, n), dt)
        self.z_group = np.zeros((k, c.n_rec), dt)
        self.zbar = np.zeros((k, n), dt)
        self.zbar_sum = np.zeros((k, n), dt)
        if self.learning:
            self.ev = np.zeros((k, c.n_pre), dt)
            self.ea = np.zeros((k, c.n_pre, n), dt)
            self.acc = np.zeros((k, c.n_pre, n), dt)

    def begin_sample(self, x: np.ndarray) -> None:
        """Take the input of a sub-batch, x of shape (k, T, n_in), and zero all state (t = 0).

        x is referenced, not copied (the PE reads it and never writes it): in a PE actor it is the batch in Ray's
        shared object store, so the actor's private memory does not grow with k T n_in (4 MB at k = 64 on gsc).
        """
        c = self.config
        if x.ndim != 3 or x.shape[1:] != (c.n_steps, c.n_in):
            raise ValueError(f"PE input must have shape (k, {c.n_steps}, {c.n_in}), got {x.shape}")
        self.refresh_weights()
        if x.shape[0] != self.sub_batch:
            self._allocate(x.shape[0])
        else:
            for name in ("v", "a", "z", "psi", "i_rec", "z_group", "zbar", "zbar_sum"):
                getattr(self, name).fill(0)
            if self.learning:
                self.ev.fill(0)
                self.ea.fill(0)
                self.acc.fill(0)
        self.x = x

    def send_input(self, t: int) -> None:
        """Read x^t (0-based step t) from the input, in the PE's dtype (rounded as a copy into it would be)."""
        self.x_t = self.x[:, t].astype(self.dtype, copy=False)

    def synapse_preprocess(self) -> None:
        """Updates that need only the previous step (docs/eprop.md, in this order):

        a^t = rho a^(t-1) + (1 - rho) z^(t-1);  A^t = b0 + beta a^t
        ea^t = (rho - (1 - rho) beta psi^(t-1)) ea^(t-1) + (1 - rho) psi^(t-1) ev^(t-1)
        ev^t = alpha ev^(t-1) + (1 - alpha) pre^t,  pre^t = (x^t, z^(t-1))
        """
        c = self.config
        self.a *= c.rho
        self.a += (1.0 - c.rho) * self.z
        np.multiply(self.a, c.beta, out=self.threshold)
        self.threshold += c.b0
        if not self.learning:
            return
        decay = c.rho - (1.0 - c.rho) * c.beta * self.psi
        if self._kernels is not None:
            self._kernels.adaptation_step(self.ea, decay, (1.0 - c.rho) * self.ev, self.psi)
        else:
            self.ea *= decay[:, None, :]
            self.ea += ((1.0 - c.rho) * self.ev)[:, :, None] * self.psi[:, None, :]
        self.ev *= c.alpha
        self.ev[:, : c.n_in] += (1.0 - c.alpha) * self.x_t
        self.ev[:, c.n_in :] += (1.0 - c.alpha) * self.z_group

    def neuron_update(self) -> np.ndarray:
        """ALIF update of the own neurons; returns their spikes z^t, shape (k, |J|).

        v^t = alpha v^(t-1) + (1 - alpha) (x^t W_in + z^(t-1) W_rec) - A^t z^(t-1);  z^t = H(v^t - A^t)
        The recurrent input z^(t-1) W_rec was formed by :meth:`synapse_process_spike` of the previous step.
        """
        c = self.config
        self.v *= c.alpha
        self.v += (1.0 - c.alpha) * (self.x_t @ self.w_in + self.i_rec)
        self.v -= self.threshold * self.z
        u = self.v - self.threshold
        self.z = spike(u)
        if self.learning:
            self.psi = surrogate(u)
        return self.z

    def eprop(self, t: int) -> None:
        """Eligibility traces and their accumulation at step t (0-based), and the readout trace:

        e^t = psi^t (ev^t - beta ea^t);  acc += c_t e^t  (so acc = sum_t ebar^t at the end)
        zbar^t = kappa zbar^(t-1) + z^t;  zbar_sum += zbar^t
        """
        c = self.config
        self.zbar *= c.kappa
        self.zbar += self.z
        self.zbar_sum += self.zbar
        if not self.learning:
            return
        if self._kernels is not None:
            self._kernels.accumulate_step(self.acc, self.ea, self.ev, c.beta, self._c[t] * self.psi)
            return
        trace = self.ev[:, :, None] - c.beta * self.ea
        trace *= (self._c[t] * self.psi)[:, None, :]
        self.acc += trace

    def synapse_process_spike(self, z_group: np.ndarray) -> None:
        """Take this step's spikes of the whole group, z^t (k, n_rec): form the recurrent input z^t W_rec
        that the own neurons receive at the next step, and keep z^t for the next presynaptic traces."""
        self.z_group[...] = z_group
        np.matmul(self.z_group, self.w_rec, out=self.i_rec)

    def partial_output(self) -> np.ndarray:
        """This PE's share of the time-averaged readout, (1/T) sum_t zbar_J^t W_out[J], shape (k, n_out)."""
        return self.zbar_sum @ self.w_out / self.config.n_steps

    def gradients(self, error: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the own slice, summed over the sub-batch, from the broadcast error pi - onehot (k, n_out).

        L_j = (1/T) sum_k W_out[j,k] error_k;  dW[i,j] = L_j sum_t ebar_ij^t;
        dW_out[j,k] = (1/T) sum_t zbar_j^t error_k.  The W_rec diagonal is not a parameter: its gradient is 0.
        """
        if not self.learning:
            raise RuntimeError("this PE was built with learning=False and holds no eligibility state")
        n_steps = self.config.n_steps
        signal = error @ self.w_out.T / n_steps
        if self._kernels is not None:
            grad = np.empty(self.acc.shape[1:], self.acc.dtype)
            self._kernels.weighted_sum(self.acc, np.ascontiguousarray(signal, self.acc.dtype), grad)
        else:
            grad = np.einsum("kij,kj->ij", self.acc, signal)
        grad[self._diagonal] = 0.0
        n_in = self.config.n_in
        return {
            "w_in": grad[:n_in],
            "w_rec": grad[n_in:],
            "w_out": self.zbar_sum.T @ error / n_steps,
        }

    def apply_gradients(self, grads: dict[str, np.ndarray], lr: float) -> None:
        """Learning step of the own slice with batch-mean gradients ``grads`` (keys as :meth:`gradients`) + L2 of
        the (shadow) weights, through the store: ADAM, and for device stores the programming of changed levels.

        The forward pass's weights are read again by :meth:`advance`, which every engine calls after a learning
        step, or at the next :meth:`begin_sample`: reading device weights here too would draw a read that device
        time makes stale at once (a third of what PCM synapses cost on replay)."""
        if self.optimiser is None:
            raise RuntimeError("this PE was built without an optimiser")
        l2, shadow, n_in = self.optimiser.l2, self.store.shadow, self.config.n_in
        grad = np.concatenate([grads["w_in"], grads["w_rec"]]) + l2_gradient(shadow["w"], l2)
        grad[self._diagonal] = 0.0
        # W_in and W_rec share one array (rows), so their freezing is by rows; see OptimiserConfig.learned.
        frozen = self.optimiser.frozen
        if "w_in" in frozen:
            grad[:n_in] = 0.0
        if "w_rec" in frozen:
            grad[n_in:] = 0.0
        grad_out = self.optimiser.learned("w_out", grads["w_out"] + l2_gradient(shadow["w_out"], l2))
        self.store.apply({"w": grad, "w_out": grad_out}, lr)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of device time pass (the devices drift; float weights do not)."""
        self.store.advance(seconds)
        self.refresh_weights()

    def arrays_by_category(self) -> dict[str, list[np.ndarray]]:
        """Every array this PE allocates, by memory category (see :data:`MEMORY_CATEGORIES`)."""
        groups: dict[str, list[np.ndarray]] = {name: [] for name in MEMORY_CATEGORIES}
        groups.update(self.store.arrays_by_category())
        if self.w is not self.store.shadow["w"]:
            groups["weights"] = [*groups["weights"], self.w, self.w_out]
        if self.sub_batch:
            groups["neuron_state"] = [self.v, self.a, self.threshold, self.z, self.psi, self.i_rec, self.z_group]
            groups["accumulators"] = [self.zbar, self.zbar_sum]
            # The input the PE reads, (k, T, n_in) in its dtype (it references the caller's array: no allocation).
            shape = (self.sub_batch, self.config.n_steps, self.config.n_in)
            groups["input_buffer"] = [np.broadcast_to(np.zeros((), self.dtype), shape)]
            if self.learning:
                groups["eligibility"] = [self.ev, self.ea]
                groups["accumulators"].append(self.acc)
        return groups

    def state_dict(self) -> dict[str, np.ndarray]:
        """The store's state of the own slice keyed like the full matrices (views): the weights ``w_in``, ``w_rec``,
        ``w_out``, ADAM moments ``m_w_in`` ... ``v_w_out``, ``adam_n`` (the ADAM steps taken), and a device store's
        per-device arrays (``g_pos_w_in``, ...) and shared scalars (``clock_s``, ``wmax_w_in``, ...)."""
        n_in, state = self.config.n_in, {}
        for key, value in self.store.state_dict().items():
            if value.ndim and (key == "w" or key.endswith("_w")):
                state[f"{key}_in"], state[f"{key}_rec"] = value[:n_in], value[n_in:]
            else:
                state[key] = value
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Overwrite the own slice from :meth:`state_dict` output (absent keys stay; a wrong shape raises a
        ValueError naming the key)."""
        own = self.state_dict()
        for key, value in state.items():
            if key in own and np.shape(value) != own[key].shape:
                raise ValueError(f"state {key!r} has shape {np.shape(value)}, this PE expects {own[key].shape}")
        mapped = {}
        for key, value in self.store.state_dict().items():
            if value.ndim and (key == "w" or key.endswith("_w")):
                if f"{key}_in" in state and f"{key}_rec" in state:
                    mapped[key] = np.concatenate([state[f"{key}_in"], state[f"{key}_rec"]])
            elif key in state:
                mapped[key] = state[key]
        self.store.load_state_dict(mapped)
        self.refresh_weights()
