"""The silence guard: after every epoch, how much of the network has fallen silent on the validation split, in
the epoch's record and, when it crosses a limit, in a warning line (docs/eventprop.md, "Silent outputs and dead
neurons"). A silent output receives no error and a neuron that never spikes no gradient, so a run that collapses
this way stops learning without any error; the guard makes it visible while the run goes on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pe_actors.core.logs import log
from pe_actors.training.state import Callback, Training, TrainState

#: Fractions above which the guard warns, unless they are falling: samples whose label output is silent, hidden
#: neurons that never spike. A recipe that starts with weak output weights begins with many silent label outputs,
#: and trained yinyang networks that reach their best accuracy keep a quarter to a third (dt 1 ms) or half to two
#: thirds (dt 0.25 ms) of their hidden neurons silent, so neither is a warning by itself; a fraction above its
#: limit that does not fall from one epoch to the next is a collapse.
LIMITS = {"label_silent": 0.05, "dead_hidden": 0.75}

_MEANING = {
    "label_silent": "of the validation samples have a label output that never spikes (no error reaches it)",
    "dead_hidden": "of the hidden neurons spike on no validation sample (they receive no gradient)",
}


class SilenceGuard(Callback):
    """Adds ``silence`` (``measure(params, x, labels)``: name -> fraction) to each epoch's record and logs a
    warning when a fraction is above its limit in :data:`LIMITS` and has not fallen since the previous epoch (or,
    after the first epoch, since the start), and a line when it is back below its limit."""

    def __init__(
        self,
        measure: Callable[[dict[str, np.ndarray], np.ndarray, np.ndarray], dict[str, float]],
        limits: dict[str, float] | None = None,
    ) -> None:
        self.measure = measure
        self.limits = dict(LIMITS if limits is None else limits)
        self.previous: dict[str, float] = {}
        self.warned: set[str] = set()

    def _silence(self, trainer: Training) -> dict[str, float]:
        x, labels = trainer.data.validation
        return self.measure(trainer.engine.params(), x, labels)

    def on_train_begin(self, trainer: Training, state: TrainState) -> None:
        self.previous = self._silence(trainer)

    def on_epoch_end(self, trainer: Training, state: TrainState, record: dict[str, Any]) -> None:
        silence = self._silence(trainer)
        record["silence"] = silence
        for name, limit in self.limits.items():
            value, before = silence.get(name), self.previous.get(name)
            if value is None:
                continue
            if value > limit and (before is None or value >= before) and name not in self.warned:
                self.warned.add(name)
                log.warning(
                    f"warning: epoch {record['epoch']}: {100 * value:.1f} % {_MEANING[name]}, and not falling; "
                    'see docs/eventprop.md, "Silent outputs and dead neurons"'
                )
            elif value <= limit and name in self.warned:
                self.warned.discard(name)
                log.warning(f"epoch {record['epoch']}: {name.replace('_', ' ')} back to {100 * value:.1f} %")
        self.previous = silence
