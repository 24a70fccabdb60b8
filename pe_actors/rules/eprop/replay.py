"""The replay engine: the exact e-prop gradients of docs/eprop.md from a stored forward pass.

The online rule keeps per-synapse state (ea, and the accumulator of ebar) of size O(n_pre n_rec) per sample.
Because the learning signal L_j is constant in time, its gradient only needs sum_t ebar_ji^t, which unrolls into
presynaptic and postsynaptic factors (0-based t = 0..T-1, c_t the readout filter of
:func:`pe_actors.rules.eprop.readout.filter_weights`, pre^t = (x^t, z^(t-1)) and ev^t = (1 - alpha) sum_(s<=t)
alpha^(t-s) pre^s):

    sum_t ebar_ji^t = sum_t c_t e_ji^t = sum_t ev_i^t D_j^t = (1 - alpha) sum_s pre_i^s G_j^s,
    D_j^t = psi_j^t (c_t - beta (1 - rho) Q_j^t),
    Q_j^(T-1) = 0,  Q_j^(t-1) = c_t psi_j^t + (rho - (1 - rho) beta psi_j^t) Q_j^t,
    G_j^s = sum_(t>=s) alpha^(t-s) D_j^t.

Q collects the future of the adaptation eligibility ea (whose recursion has the factor rho - (1 - rho) beta psi),
G that of the presynaptic trace ev. So a batch's gradient is one matrix product of the stored presynaptic
activity (n_pre x B T) with M = (1 - alpha) L G (B T x n_rec), after a forward pass that stores pre and psi
(O(T (n_in + n_rec)) per sample) and a backward recursion of O(T n_rec) per sample
(:mod:`pe_actors.rules.eprop.kernels`). The result equals the online PEs' to rounding (``tests/test_replay.py``); this
is e-prop computed off-chip, like the off-chip mode of the EventProp paper, for prototyping and hyper-parameter search.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController

from pe_actors.core.checks import require_finite
from pe_actors.core.engine import BatchResult, InProcessLifecycle
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.kernels import replay_backward, replay_forward
from pe_actors.rules.eprop.master import MasterResult, reduce_outputs
from pe_actors.rules.eprop.pe import PE
from pe_actors.rules.eprop.readout import check_labels, filter_weights
from pe_actors.synapses import DIGITAL, SynapseConfig

Grads = dict[str, np.ndarray]

#: Fewest samples per thread: below this a batch runs in one thread (starting threads would cost more).
MIN_SHARD = 4


def _buffer(workspace: dict[str, np.ndarray], name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    # Reusing buffers across batches avoids the page faults of fresh multi-megabyte arrays, which cost as much as
    # the arithmetic here.
    array = workspace.get(name)
    if array is None or array.shape != shape or array.dtype != dtype:
        array = workspace[name] = np.empty(shape, dtype)
    return array


def replay_gradients(
    params: Grads,
    x: np.ndarray,
    labels: np.ndarray,
    config: NetworkConfig,
    workspace: dict[str, np.ndarray] | None = None,
) -> tuple[Grads, MasterResult]:
    """E-prop gradients summed over the batch (not averaged), and the master's result, by forward replay.

    ``params`` and ``x`` (B, T, n_in) must share one float dtype; the W_rec diagonal gradient is 0 (it is not a
    parameter). Memory: x, the recurrent spikes and psi, O(B T (n_in + n_rec)), in ``workspace`` (a dict that
    keeps the buffers for the next call) when given. Single-threaded apart from BLAS.
    """
    c = config
    workspace = {} if workspace is None else workspace
    dtype = x.dtype
    batch, n_steps, n = len(x), c.n_steps, c.n_rec
    rows = batch * n_steps
    # pre[b, t] = (x^t, z^(t-1)), the presynaptic activity of the gradient's matrix product; the forward pass
    # fills in z^(t-1) for t >= 1, and z^(-1) = 0.
    pre = _buffer(workspace, "pre", (batch, n_steps, c.n_pre), dtype)
    pre[:, :, : c.n_in] = x
    pre[:, 0, c.n_in :] = 0
    current = _buffer(workspace, "current", (batch, n_steps, n), dtype)
    np.matmul(x.reshape(rows, c.n_in), params["w_in"], out=current.reshape(rows, n))
    psi = _buffer(workspace, "psi", (batch, n_steps, n), dtype)
    zbar_sum = replay_forward(current, params["w_rec"], pre, psi, c.alpha, c.rho, c.kappa, c.b0, c.beta)
    result = reduce_outputs([zbar_sum @ params["w_out"] / n_steps], labels)
    error = result.error.astype(dtype)
    signal = error @ params["w_out"].T / n_steps
    replay_backward(psi, signal, filter_weights(c.kappa, n_steps), c.alpha, c.rho, c.beta)
    grad = pre.reshape(rows, c.n_pre).T @ psi.reshape(rows, n)
    grad_rec = grad[c.n_in :]
    np.fill_diagonal(grad_rec, 0.0)
    grads = {"w_in": grad[: c.n_in], "w_rec": grad_rec, "w_out": zbar_sum.T @ error / n_steps}
    return grads, result


def replay_logits(params: Grads, x: np.ndarray, config: NetworkConfig) -> np.ndarray:
    """Time-averaged readout ybar = (1/T) sum_t zbar^t W_out (B, n_out) of the forward pass alone."""
    c = config
    batch = len(x)
    current = (x.reshape(batch * c.n_steps, c.n_in) @ params["w_in"]).reshape(batch, c.n_steps, c.n_rec)
    zbar_sum = replay_forward(current, params["w_rec"], None, None, c.alpha, c.rho, c.kappa, c.b0, c.beta)
    return zbar_sum @ params["w_out"] / c.n_steps


def _available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _shards(n: int, workers: int, largest: int) -> list[slice]:
    """Near-equal consecutive slices of range(n): at most ``largest`` samples each, and at least ``workers``
    of them when every one can still hold MIN_SHARD samples."""
    count = max(1, math.ceil(n / largest), min(workers, n // MIN_SHARD))
    bounds = np.linspace(0, n, count + 1).round().astype(int)
    return [slice(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


class ReplayEngine(InProcessLifecycle):
    """Trains one network by e-prop computed with forward replay; the same gradients as the PEs, and the same
    ADAM/L2 step (it keeps its weights and moments in a single whole-network :class:`~pe_actors.rules.eprop.pe.PE` that
    only applies updates), so it is a drop-in for :class:`~pe_actors.engines.inprocess.InProcessEngine`.

    A batch is split into shards that ``workers`` threads run (the kernels release the GIL) with BLAS held to one
    thread each, which keeps every core busy without BLAS and numba threads competing for them.

    Args:
        config: the network.
        params: initial weights (copied); their dtype is the engine's dtype.
        optimiser: ADAM/L2/schedule settings.
        chunk: most samples per forward/backward pass (a shard); a batch runs as shards whose gradients are
            summed, which bounds memory at O(workers chunk T (n_in + n_rec)) and keeps each thread's buffers
            (about 0.27 MB per gsc sample in float32, temporaries included) within the cache.
        workers: threads that each run a shard of the batch (default: the CPUs this process may use).
        synapses: where the weights live (docs/synapses.md); the forward pass reads the store once per batch, so
            device weights and their read noise are the PEs' own.
    """

    def __init__(
        self,
        config: NetworkConfig,
        params: Grads,
        optimiser: OptimiserConfig,
        chunk: int = 64,
        workers: int | None = None,
        synapses: SynapseConfig = DIGITAL,
    ) -> None:
        for name, value in (("chunk", chunk), ("workers", 1 if workers is None else workers)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ReplayEngine {name} must be a positive integer, got {value!r}")
        self.config = config
        self.chunk = chunk
        self.workers = workers or _available_cpus()
        self.synapses = synapses
        self._holder = PE(config, slice(0, config.n_rec), params, optimiser, learning=False, synapses=synapses)
        self._reference: np.ndarray | None = None
        self.dtype = self._holder.dtype
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None
        self._blas: ThreadpoolController | None = None

    def _check(self, x: np.ndarray) -> np.ndarray:
        c = self.config
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[1:] != (c.n_steps, c.n_in):
            raise ValueError(f"x must have shape (batch, {c.n_steps}, {c.n_in}), got {x.shape}")
        require_finite(x, "x")
        return np.ascontiguousarray(x, self.dtype)

    def _map(self, function, parts: list[slice]) -> list:
        """function(workspace, part) for every part, on the worker threads when there is more than one part,
        with BLAS held to one thread (the workers provide the parallelism; a second pool of BLAS threads would
        only compete for the cores). Each thread keeps its own buffers."""
        if self._blas is None:
            self._blas = ThreadpoolController()

        def run(part: slice):
            workspace = getattr(self._local, "workspace", None)
            if workspace is None:
                workspace = self._local.workspace = {}
            return function(workspace, part)

        with self._blas.limit(limits=1, user_api="blas"):
            if len(parts) == 1 or self.workers == 1:
                return [run(part) for part in parts]
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="replay")
            return list(self._pool.map(run, parts))

    def gradients(self, x: np.ndarray, labels: np.ndarray) -> tuple[Grads, MasterResult]:
        """Gradients of the batch-mean loss (full matrices, without L2) and the master's result for the batch."""
        x = self._check(x)
        labels = check_labels(labels, self.config.n_out)
        if len(labels) != len(x):
            raise ValueError(f"x holds {len(x)} samples but labels {len(labels)}")
        if len(x) == 0:
            raise ValueError("x holds no samples; a training batch needs at least one")
        params = self._weights()

        def shard(workspace: dict[str, np.ndarray], part: slice) -> tuple[Grads, MasterResult]:
            return replay_gradients(params, x[part], labels[part], self.config, workspace)

        outputs = self._map(shard, _shards(len(x), self.workers, self.chunk))
        sums = {key: np.array(value) for key, value in outputs[0][0].items()}
        for grads, _ in outputs[1:]:
            for key in sums:
                sums[key] += grads[key]
        mean = {key: value / len(x) for key, value in sums.items()}
        results = [result for _, result in outputs]
        merged = MasterResult(*(np.concatenate([getattr(r, f) for r in results]) for f in ("logits", "loss", "error")))
        return mean, merged

    def train_batch(self, x: np.ndarray, labels: np.ndarray, lr: float) -> BatchResult:
        """One e-prop update on a mini-batch: batch-mean gradients by replay, then one ADAM step (with L2)."""
        grads, result = self.gradients(x, labels)
        self._holder.apply_gradients(grads, lr)
        self._holder.advance(len(x) * self.synapses.sample_s)
        return BatchResult(logits=result.logits, loss=result.loss)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of device time pass (float weights do not drift)."""
        self._holder.advance(seconds)

    @property
    def writes(self) -> int | None:
        """Device writes so far (None for float weights)."""
        return self._holder.store.writes if self.synapses.devices else None

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Time-averaged readout ybar (n, n_out) without learning."""
        x = self._check(x)
        params = self._weights()
        parts = _shards(len(x), self.workers, self.chunk)
        return np.concatenate(self._map(lambda _, part: replay_logits(params, x[part], self.config), parts))

    def _weights(self) -> Grads:
        """The weights the forward pass reads (the holder holds whole matrices, so its own conductance sums are
        the drift-compensation sums of every matrix)."""
        holder = self._holder
        if self._reference is not None:
            sums = holder.store.drift_sums()
            sums[:, 0] = self._reference
            holder.compensate(sums)
        elif self.synapses.compensating:
            holder.compensate(holder.store.drift_sums())
        else:
            holder.refresh_weights()
        return {"w_in": holder.w_in, "w_rec": holder.w_rec, "w_out": holder.w_out}

    def drift_sums(self) -> np.ndarray:
        """Per matrix (W_in, W_rec, W_out), the programmed and the read conductance sums of the current read."""
        return self._holder.store.drift_sums()

    def compensate_to(self, reference: np.ndarray | None) -> None:
        """Global drift compensation against ``reference`` read sums per matrix (for example the reads at the end
        of training, which a model trained without compensation learned with): each matrix's read is scaled by
        reference / (its read sum now). None returns to the synapse settings' own compensation."""
        self._reference = None if reference is None else np.asarray(reference, np.float64)

    def params(self) -> Grads:
        """Current full (shadow) weights (copies)."""
        shadow, n_in = self._holder.store.shadow, self.config.n_in
        return {
            "w_in": np.array(shadow["w"][:n_in]),
            "w_rec": np.array(shadow["w"][n_in:]),
            "w_out": np.array(shadow["w_out"]),
        }

    def state(self) -> dict[str, np.ndarray]:
        """Full weights, ADAM moments and step count (copies), keyed like :meth:`InProcessEngine.state`."""
        return {key: np.array(value) for key, value in self._holder.state_dict().items()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned (for example from a checkpoint)."""
        self._holder.load_state_dict(state)

    def shutdown(self) -> None:
        """Stop the worker threads and drop the buffers (the engine restarts them if used again)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._local = threading.local()

    def close(self) -> None:
        """Stop the worker threads (:meth:`shutdown`)."""
        self.shutdown()
