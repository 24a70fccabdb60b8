"""Public EventProp gradient function: the exact adjoint gradients of the batch-mean loss, off-chip or on PEs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pe_actors.rules.eventprop import network
from pe_actors.rules.eventprop.config import EventPropConfig
from pe_actors.rules.eventprop.loss import check_labels
from pe_actors.rules.eventprop.program import EventPropGroup
from pe_actors.runtime.group import GroupEngine

#: Engines :func:`eventprop_gradients` computes with: the vectorised off-chip engine, or the PE program on a
#: group of in-process PEs (the chip's way).
ENGINES = ("offchip", "pes")


def infer_eventprop_config(params: dict, n_steps: int, base: EventPropConfig | None = None) -> EventPropConfig:
    """The configuration whose sizes match ``params`` (``w_0``, ``w_1``, ...) and ``n_steps``; the constants come
    from ``base`` (default: the ``yinyang`` network), whose sizes must then agree with the arrays."""
    keys = sorted((k for k in params), key=lambda k: int(k[2:]) if k[:2] == "w_" and k[2:].isdigit() else -1)
    if not keys or any(k != f"w_{layer}" for layer, k in enumerate(keys)):
        raise ValueError(f"EventProp params must be keyed w_0, w_1, ... w_(L-1), got {sorted(params)}")
    shapes = [np.shape(params[k]) for k in keys]
    if any(len(s) != 2 for s in shapes) or any(a[1] != b[0] for a, b in zip(shapes, shapes[1:], strict=False)):
        raise ValueError(f"EventProp weight shapes {shapes} do not chain (n_0, n_1), (n_1, n_2), ...")
    sizes = (shapes[0][0], *(s[1] for s in shapes))
    if base is not None:
        if tuple(base.sizes) != sizes or base.n_steps != n_steps:
            raise ValueError(
                f"config sizes {base.sizes} x {base.n_steps} steps, but the arrays imply {sizes} x {n_steps} steps"
            )
        return base
    default = EventPropConfig()
    n_layers = len(sizes) - 1
    return replace(
        default,
        sizes=sizes,
        n_steps=n_steps,
        t_code=min(default.t_code, (n_steps - 1) * default.dt),
        init_mean=(default.init_mean * n_layers)[:n_layers],
        init_std=(default.init_std * n_layers)[:n_layers],
    )


def eventprop_gradients(
    params: dict[str, np.ndarray],
    spikes: np.ndarray,
    labels: np.ndarray,
    config: EventPropConfig | None = None,
    engine: str = "offchip",
    n_pes: int | list[int] = 1,
    sub_batch: int | None = None,
    schedule: str = "pipelined",
) -> tuple[dict[str, np.ndarray], float, np.ndarray]:
    """Exact EventProp gradients of the batch-mean time-to-first-spike loss (docs/eventprop.md).

    Args:
        params: ``{"w_0": (n_0, n_1), "w_1": (n_1, n_2), ...}``.
        spikes: the binary input raster (batch, T, n_0).
        labels: the classes, ints (batch,).
        config: the network constants (default: the ``yinyang`` constants with the arrays' sizes).
        engine: one of :data:`ENGINES`.
        n_pes: PEs per layer (an int for every layer, or one per layer) for the PE engine.
        sub_batch: samples a PE vectorises at once for the PE engine (None: the whole batch).
        schedule: how the PEs exchange packets, ``pipelined`` (a round per time step, as on the chip) or
            ``layered`` (a round per layer), for the PE engine; the same gradients to float rounding.

    Returns:
        (grads with the keys and shapes of ``params``, the batch-mean loss, the first-spike steps (batch, n_out)
        of the output layer, T where an output is silent). The dtype of ``params`` is kept.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
    spikes = np.asarray(spikes)
    if spikes.ndim != 3:
        raise ValueError(f"spikes must have shape (batch, T, n_0), got {spikes.shape}")
    config = infer_eventprop_config(params, spikes.shape[1], config)
    params = network.check_params(params, config)
    dtype = np.result_type(*params.values())
    spikes = network.check_spikes(spikes, config, dtype)
    labels = check_labels(labels, config.n_out, len(spikes))
    if len(spikes) == 0:
        raise ValueError("the batch is empty")
    if engine == "offchip":
        grads, readout = network.gradients(params, spikes, labels, config)
        return grads, float(readout.loss.mean()), readout.first
    group = EventPropGroup(config, n_pes, schedule)
    engine_ = GroupEngine(group, params, None, sub_batch)
    slices, result = engine_.gradients(spikes, labels)
    first = np.concatenate([master["first"] for master in engine_.master_results])
    return group.gather_state(slices), float(result.loss.mean()), first
