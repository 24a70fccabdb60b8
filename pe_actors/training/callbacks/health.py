"""The run's health: after every epoch, whether the network has fallen silent or its loss has stopped meaning
anything, a warning when it has, and a stop when it stays so (docs/training.md, "No run trains dead").

A silent output receives no error and a neuron that never spikes no gradient, so a run can stop learning without
any error; a loss that is absurd or does not move says the same from the other side. The guard measures on the
validation split, after every epoch:

- the rule's silence report (``Rule.silence``): ``label_silent``, the fraction of samples whose label output never
  spikes; ``all_silent``, of samples in which no output spikes; ``hidden_silent``, of samples in which no hidden
  neuron spikes; ``dead_hidden``, the fraction of hidden neurons that spike on no sample;
- the epoch's training loss: not finite or above :data:`ABSURD_LOSS`, or flat (within :data:`FLAT` of the epoch
  before) while the validation accuracy stays at chance;
- a collapse: the validation accuracy below :data:`COLLAPSED` of the best the run has reached, once that best is
  at least twice chance (the weights stepped into a regime the run does not leave, as EventProp's recurrent
  networks can when their hidden neurons' firing runs away).

A sign that appears is warned about once with its meaning and, from the rule, the settings that change it
(``Rule.health``). A sign that lasts ``patience`` epochs in a row stops the run with :class:`DeadRunError`, after that
epoch's checkpoint and metrics are written; the run claims no accuracy. A sign that clears resets its count, so a
run whose outputs start silent by design and recover goes on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from pe_actors.core.logs import log
from pe_actors.training.state import Callback, Training, TrainState

#: The signs of a dead run and the fractions above which they count (``flat_loss`` and ``absurd_loss`` are read
#: from the loss): samples whose label output never spikes, samples without any output spike, samples without any
#: hidden spike, hidden neurons that never spike. Trained Yin-Yang networks keep a quarter to two thirds of their
#: hidden neurons silent at their best, so only all of them silent is a sign.
LIMITS = {"label_silent": 0.9, "all_silent": 0.9, "hidden_silent": 0.9, "dead_hidden": 0.999}
#: A training loss above this is absurd (a classification loss near chance is ln of the number of classes).
ABSURD_LOSS = 1e6
#: Relative change of the training loss below which an epoch did not move it.
FLAT = 1e-4
#: A validation accuracy below this fraction of the run's best so far is a collapse.
COLLAPSED = 0.5
#: What a collapse asks of any rule (a rule's own advice comes first).
COLLAPSE_ADVICE = "a lower --lr, or resume from the best checkpoint before it with one"

MEANING = {
    "label_silent": "of the validation samples have a label output that never spikes (no error reaches it)",
    "all_silent": "of the validation samples have no output spike at all",
    "hidden_silent": "of the validation samples have no hidden spike at all (nothing reaches the outputs)",
    "dead_hidden": "of the hidden neurons spike on no validation sample (they receive no gradient)",
    "absurd_loss": "training loss: not finite or absurd",
    "flat_loss": "training loss did not move, with the validation accuracy at chance",
    "collapsed": "validation accuracy, below half of the run's best",
}


class DeadRunError(RuntimeError):
    """A run stopped because it stayed dead (silent, or with an absurd or flat loss) for its patience."""


class HealthGuard(Callback):
    """Measures the run's health after each epoch (see the module docstring): ``measure(params, x, labels)`` is
    the rule's silence report (None: the loss signs only), ``advice`` the rule's settings to change per sign,
    ``population`` per sign the population it concerns, ``patience`` the epochs a sign may last (0: never stop).
    Its :attr:`stop` is a second callback, placed after the checkpoints, that stops a dead run."""

    def __init__(
        self,
        measure: Callable[[dict[str, np.ndarray], np.ndarray, np.ndarray], dict[str, float]] | None,
        patience: int = 3,
        advice: Mapping[str, str] | None = None,
        population: Mapping[str, str] | None = None,
        limits: Mapping[str, float] | None = None,
    ) -> None:
        self.measure, self.patience = measure, patience
        self.advice, self.population = dict(advice or {}), dict(population or {})
        self.limits = dict(LIMITS if limits is None else limits)
        self.counts: dict[str, int] = {}
        self.previous_loss: float | None = None
        self.best: tuple[float, int] | None = None
        self.dead: str | None = None
        self.stop = _Stop(self)

    def on_epoch_end(self, trainer: Training, state: TrainState, record: dict[str, Any]) -> None:
        signs: dict[str, float] = {}
        if self.measure is not None:
            x, labels = trainer.data.validation
            silence = self.measure(trainer.engine.params(), x, labels)
            record["silence"] = silence
            signs = {name: value for name, value in silence.items()
                     if name in self.limits and value > self.limits[name]}
        loss = record.get("train_loss")
        if loss is not None and (not math.isfinite(loss) or loss > ABSURD_LOSS):
            signs["absurd_loss"] = loss
        n_classes = int(np.max(trainer.data.train[1])) + 1 if len(trainer.data.train[1]) else 2
        chance = 1.0 / max(n_classes, 1)
        if (loss is not None and self.previous_loss is not None and math.isfinite(loss)
                and abs(loss - self.previous_loss) <= FLAT * max(abs(self.previous_loss), 1e-12)
                and record.get("validation_accuracy", 1.0) <= chance + 0.02):
            signs["flat_loss"] = loss
        self.previous_loss = loss
        accuracy = record.get("validation_accuracy")
        if accuracy is not None and math.isfinite(accuracy):
            if self.best is not None and self.best[0] >= 2 * chance and accuracy < COLLAPSED * self.best[0]:
                signs["collapsed"] = accuracy
            if self.best is None or accuracy > self.best[0]:
                self.best = (accuracy, record["epoch"])
        for name in list(self.counts):
            if name not in signs:
                log.warning(f"epoch {record['epoch']}: {name.replace('_', ' ')} cleared")
                del self.counts[name]
        for name, value in signs.items():
            self.counts[name] = self.counts.get(name, 0) + 1
            if self.counts[name] == 1:
                log.warning(f"warning: epoch {record['epoch']}: {self._describe(name, value)}")
        lasting = [name for name, count in self.counts.items() if self.patience and count >= self.patience]
        if lasting:
            name = lasting[0]
            self.dead = (f"the run stayed dead for {self.counts[name]} epochs (to epoch {record['epoch']}): "
                         f"{self._describe(name, signs[name])}; stopped, claiming no accuracy")
        record["health"] = {name: self.counts[name] for name in self.counts}

    def _describe(self, name: str, value: float) -> str:
        where = self.population.get(name)
        prefix = f"population {where!r}: " if where else ""
        amount = f"{100 * value:.1f} % " if name in self.limits else f"{value:.4g}: "
        if name == "collapsed" and self.best is not None:
            amount = f"{100 * value:.1f} % "
            prefix = ""
        advice = self.advice.get(name, COLLAPSE_ADVICE if name == "collapsed" else None)
        meaning = MEANING[name]
        if name == "collapsed" and self.best is not None:
            meaning += f" ({100 * self.best[0]:.1f} % at epoch {self.best[1]})"
        return f"{prefix}{amount}{meaning}" + (f"; {advice}" if advice else "")


class _Stop(Callback):
    """Raises :class:`DeadRunError` at the end of an epoch the guard found dead (after the checkpoint callbacks)."""

    def __init__(self, guard: HealthGuard) -> None:
        self.guard = guard

    def on_epoch_end(self, trainer: Training, state: TrainState, record: dict[str, Any]) -> None:
        if self.guard.dead is not None:
            raise DeadRunError(self.guard.dead)
