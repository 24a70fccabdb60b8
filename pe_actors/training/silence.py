"""The silence guard: after every epoch, how much of the network has fallen silent on the validation split, in
the epoch's record and, when it crosses a limit, in a warning line (docs/eventprop.md, "Silent outputs and dead
neurons"). A silent output receives no error and a neuron that never spikes no gradient, so a run that collapses
this way stops learning without any error; the guard makes it visible while the run goes on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pe_actors.training.trainer import Callback, Trainer, TrainState

#: Fractions above which the guard warns: samples whose label output is silent, hidden neurons that never spike.
LIMITS = {"label_silent": 0.05, "dead_hidden": 0.25}

_MEANING = {
    "label_silent": "of the validation samples have a label output that never spikes (no error reaches it)",
    "dead_hidden": "of the hidden neurons spike on no validation sample (they receive no gradient)",
}


class SilenceGuard(Callback):
    """Adds ``silence`` (``measure(params, x, labels)``: name -> fraction) to each epoch's record and echoes a
    warning when a fraction first rises above its limit in :data:`LIMITS`, and a line when it falls back below."""

    def __init__(
        self,
        measure: Callable[[dict[str, np.ndarray], np.ndarray, np.ndarray], dict[str, float]],
        echo: Callable[..., None],
        limits: dict[str, float] | None = None,
    ) -> None:
        self.measure, self.echo = measure, echo
        self.limits = dict(LIMITS if limits is None else limits)
        self.above: set[str] = set()

    def on_epoch_end(self, trainer: Trainer, state: TrainState, record: dict[str, Any]) -> None:
        x, labels = trainer.data.validation
        silence = self.measure(trainer.engine.params(), x, labels)
        record["silence"] = silence
        for name, limit in self.limits.items():
            value = silence.get(name)
            if value is None:
                continue
            if value > limit and name not in self.above:
                self.above.add(name)
                self.echo(
                    f"warning: epoch {record['epoch']}: {100 * value:.1f} % {_MEANING[name]}; see docs/eventprop.md, "
                    '"Silent outputs and dead neurons"',
                    err=True,
                )
            elif value <= limit and name in self.above:
                self.above.discard(name)
                self.echo(f"epoch {record['epoch']}: {name.replace('_', ' ')} back to {100 * value:.1f} %", err=True)
