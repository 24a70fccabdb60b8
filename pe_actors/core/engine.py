"""What every engine is to its callers (the trainer, adaptation, evaluation, studies): the engine protocol, its
lifecycle, the result of one training batch, and the helpers every engine shares (sub-batches, weights of a
state). The registry that builds engines is :mod:`pe_actors.engines.registry`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

#: Samples an evaluation predicts at once: the trainer's, after every epoch. A run's memory estimate counts it
#: beside the training batch.
EVALUATION_BATCH = 256


@dataclass(frozen=True)
class BatchResult:
    """What an engine reports of a batch: the class scores (argmax is the prediction) and the per-sample loss.

    logits: (n, n_out); loss: (n,). Rule-internal quantities (e-prop's output error, EventProp's output errors)
    stay inside the rule.
    """

    logits: np.ndarray
    loss: np.ndarray

    @staticmethod
    def concatenate(results: list[BatchResult]) -> BatchResult:
        """The results of consecutive parts of a batch, in order, as one."""
        return BatchResult(
            logits=np.concatenate([r.logits for r in results]), loss=np.concatenate([r.loss for r in results])
        )


@runtime_checkable
class Engine(Protocol):
    """Trains one network (possibly as replicas): what :class:`pe_actors.training.trainer.Trainer`, adaptation
    and evaluation need.

    ``train_batch`` takes one learning step on a mini-batch and returns its :class:`BatchResult`; ``predict``
    returns class scores without learning; ``params`` the full weight matrices (``w_*``); ``state`` and
    ``load_state`` the full state a checkpoint keeps (weights, optimiser moments, device state); ``advance`` lets
    device time pass and ``writes`` counts device writes (None for float weights). ``with engine:`` starts what
    the engine needs (actors, Ray, mailboxes) and releases it; ``start``/``close`` do the same by hand.
    """

    def train_batch(self, x: np.ndarray, labels: np.ndarray, lr: float) -> BatchResult: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def params(self) -> dict[str, np.ndarray]: ...

    def state(self) -> dict[str, np.ndarray]: ...

    def load_state(self, state: dict[str, np.ndarray]) -> None: ...

    def advance(self, seconds: float) -> None: ...

    @property
    def writes(self) -> int | None: ...

    def start(self) -> Engine: ...

    def close(self) -> None: ...

    def __enter__(self) -> Engine: ...

    def __exit__(self, *exc: object) -> None: ...


class InProcessLifecycle:
    """The lifecycle of an engine that holds nothing outside this process: ``start`` and ``close`` have nothing to
    do, and ``with engine:`` works as for the engines that start actors."""

    def start(self) -> InProcessLifecycle:
        """Nothing to start; returns the engine."""
        return self

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> InProcessLifecycle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def train_one_by_one(engine: Engine, x: np.ndarray, labels: np.ndarray, lr: float) -> BatchResult:
    """Learning steps at batch 1 on the samples of ``x`` in turn (each an ADAM step on one sample, the next sample
    seeing the weights it left): the engine's ``train_samples`` where it has one (PE actors that apply their own
    updates after each sample, as the chip does, without a call from the driver per sample), else
    ``train_batch`` per sample; the same numbers either way. The per-sample results in order."""
    train_samples = getattr(engine, "train_samples", None)
    if train_samples is not None:
        return train_samples(x, labels, lr)
    return train_each(engine, x, labels, lr)


def train_each(engine: Engine, x: np.ndarray, labels: np.ndarray, lr: float) -> BatchResult:
    """``engine.train_batch`` on each sample of ``x`` in turn, a batch of one each; the per-sample results."""
    return BatchResult.concatenate([engine.train_batch(x[i : i + 1], labels[i : i + 1], lr) for i in range(len(x))])


def sub_batches(n: int, sub_batch: int | None) -> Iterator[slice]:
    """Consecutive slices of at most ``sub_batch`` samples covering range(n)."""
    k = n if sub_batch is None else sub_batch
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"sub_batch must be a positive integer or None, got {sub_batch!r}")
    for start in range(0, n, k):
        yield slice(start, min(start + k, n))


def weights_only(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The weight matrices of a state, the keys ``w_<name>`` (no ADAM moments, step count or device state)."""
    return {k: v for k, v in state.items() if k.startswith("w_")}
