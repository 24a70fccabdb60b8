"""Online adaptation at batch 1 (docs/adaptation.md): a trained network keeps learning, one sample at a time, on
the samples of a new condition, as an edge device would for a new speaker or a new environment.

Each adaptation sample is one learning step of the rule (an ADAM step with batch 1 and a constant learning rate)
on the engine the network lives on, so on the PEs each synapse's eligibility trace carries the sample's credit
forward in time and the weights change after every sample. Before the first sample and after every
``eval_every`` samples the network is evaluated on held-out sets (the new condition's evaluation clips and the
original task's test set): accuracy against the number of adaptation samples, with the original task's accuracy
beside it to show forgetting. Rehearsal interleaves a learning step on a sample of the original task after every
``rehearse_every`` adaptation samples, the classic guard against forgetting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from pe_actors.core.engine import Engine, train_one_by_one
from pe_actors.training.trainer import NonFiniteError, evaluate

#: The most learning steps handed to the engine in one call (between two looks at ``stop``): enough that PE actors
#: learning a sequence in one call save the driver's round trip per sample, few enough that a stop is heard soon.
SAMPLES_PER_CALL = 16


@dataclass(frozen=True)
class AdaptConfig:
    """samples: adaptation samples (learning steps at batch 1), drawn without replacement from the pool in an order
    seeded by ``seed``; eval_every: samples between evaluations; lr: ADAM learning rate (constant);
    rehearse_every: after every this many adaptation samples one more learning step on a sample of the original
    task (rehearsal against forgetting), cycling through the rehearsal set in a seeded order; 0: never."""

    samples: int
    eval_every: int = 10
    lr: float = 0.001
    seed: int = 0
    rehearse_every: int = 0

    def __post_init__(self) -> None:
        for name in ("samples", "eval_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"AdaptConfig.{name} must be a positive integer, got {value!r}")
        every = self.rehearse_every
        if not isinstance(every, int) or isinstance(every, bool) or every < 0:
            raise ValueError(f"AdaptConfig.rehearse_every must be a non-negative integer, got {every!r}")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"AdaptConfig.lr must be a positive finite number, got {self.lr!r}")

    def points(self) -> list[int]:
        """The sample counts after which the network is evaluated: 0, every ``eval_every``, and the last."""
        return sorted({0, *range(self.eval_every, self.samples + 1, self.eval_every), self.samples})


@dataclass(frozen=True)
class Adaptation:
    """What :func:`adapt` measured: per evaluation point a record with ``samples`` (adaptation samples so far),
    ``rehearsed`` (rehearsal steps so far), ``<set>_accuracy`` and ``<set>_loss`` for every evaluation set,
    ``online_accuracy`` (the fraction of the adaptation samples since the last point predicted right before
    learning from them) and ``seconds`` (learning time so far); and the order in which the pool's samples were
    learned."""

    curve: list[dict[str, Any]]
    order: np.ndarray
    #: Whether ``stop`` ended the adaptation before all its samples (the curve ends where it stopped).
    stopped: bool = False

    def at(self, samples: int) -> dict[str, Any]:
        """The record after ``samples`` adaptation samples."""
        for record in self.curve:
            if record["samples"] == samples:
                return record
        raise KeyError(f"no evaluation after {samples} samples; evaluated after {[r['samples'] for r in self.curve]}")


def adapt(
    engine: Engine,
    pool: tuple[np.ndarray, np.ndarray],
    evaluations: dict[str, tuple[np.ndarray, np.ndarray]],
    config: AdaptConfig,
    reader: Callable[[], Engine] | None = None,
    on_point: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = True,
    rehearsal: tuple[np.ndarray, np.ndarray] | None = None,
    stop: Callable[[], bool] | None = None,
) -> Adaptation:
    """Adapt ``engine`` online on ``config.samples`` samples of ``pool`` (features, labels), one learning step per
    sample, evaluating on each of ``evaluations`` at :meth:`AdaptConfig.points`. With ``config.rehearse_every``,
    ``rehearsal`` (features, labels of the original task) supplies the rehearsal steps.

    ``reader`` returns an engine holding the current weights to evaluate with (for example the rule's off-chip
    engine loaded with ``engine.state()``, which predicts what the PEs predict, many samples at once); by default
    ``engine`` itself. ``on_point`` is called with each record as it is made. The samples go to the engine up to
    :data:`SAMPLES_PER_CALL` at a time (:func:`~pe_actors.core.engine.train_one_by_one`: still one learning step
    per sample), and ``stop`` is asked after each such call: when it says so, the adaptation evaluates where it
    stands and ends there (``stopped``). A non-finite loss raises a :class:`NonFiniteError` naming the sample.
    """
    x_pool, y_pool = pool
    if config.samples > len(x_pool):
        raise ValueError(f"{config.samples} adaptation samples asked for, but the pool holds only {len(x_pool)}")
    order = np.random.default_rng(config.seed).permutation(len(x_pool))[: config.samples]
    if config.rehearse_every and (rehearsal is None or len(rehearsal[0]) == 0):
        raise ValueError("rehearse_every needs a non-empty rehearsal set of the original task")
    rehearse_order = np.random.default_rng([config.seed, 1]).permutation(len(rehearsal[0])) if rehearsal else None
    points = config.points()
    curve: list[dict[str, Any]] = []
    seconds = 0.0
    correct = count = rehearsed = 0

    def measure(samples: int) -> None:
        nonlocal correct, count
        target = engine if reader is None else reader()
        record: dict[str, Any] = {"samples": samples, "rehearsed": rehearsed, "seconds": seconds}
        for name, (x, labels) in evaluations.items():
            result = evaluate(target, x, labels)
            record[f"{name}_accuracy"] = result["accuracy"]
            record[f"{name}_loss"] = result["loss"]
        record["online_accuracy"] = correct / count if count else None
        correct = count = 0
        curve.append(record)
        if on_point is not None:
            on_point(record)

    measure(0)
    done = 0
    with tqdm(total=len(order), desc="adapt", unit="sample", disable=not progress) as bar:
        while done < len(order):
            # The samples up to the next evaluation point, at most SAMPLES_PER_CALL, with their rehearsal steps
            # in place: one call to the engine, whose PEs may learn them without a driver round trip each.
            stop_at = min(next(p for p in points if p > done), done + SAMPLES_PER_CALL)
            steps: list[tuple[np.ndarray, np.ndarray, str]] = []
            planned = rehearsed
            for n in range(done + 1, stop_at + 1):
                index = order[n - 1]
                steps.append((x_pool, index, f"adaptation sample {n} (pool index {index})"))
                if config.rehearse_every and n % config.rehearse_every == 0:
                    j = rehearse_order[planned % len(rehearse_order)]
                    steps.append((rehearsal[0], j, f"rehearsal step {planned + 1} (index {j})"))
                    planned += 1
            x = np.stack([source[i] for source, i, _ in steps])
            labels = np.array([(y_pool if source is x_pool else rehearsal[1])[i] for source, i, _ in steps])
            start = time.perf_counter()
            result = train_one_by_one(engine, x, labels, config.lr)
            seconds += time.perf_counter() - start
            for step, (source, _, what) in enumerate(steps):
                loss = float(result.loss[step])
                if not np.isfinite(loss):
                    raise NonFiniteError(f"{what}: the loss is {loss}")
                if source is x_pool:
                    correct += int(np.argmax(result.logits[step]) == labels[step])
                    count += 1
            rehearsed = planned
            bar.update(stop_at - done)
            done = stop_at
            if done in points:
                measure(done)
            if stop is not None and done < len(order) and stop():
                if done not in points:
                    measure(done)
                return Adaptation(curve, order[:done], stopped=True)
    return Adaptation(curve, order)


def fresh_optimiser(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``state`` with its ADAM moments zeroed and its step count reset: adaptation starts a fresh ADAM, since the
    new condition's gradients have statistics of their own (weights and device state are kept)."""
    return {
        key: np.zeros_like(value) if key.startswith(("m_", "v_")) or key == "adam_n" else value
        for key, value in state.items()
    }
