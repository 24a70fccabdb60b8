"""A trained network: :func:`load` reads a run directory or checkpoint once into a :class:`Model` on its rule's
fast off-chip engine, the starting point of every command that reads a trained run (evaluate, raster, export, the
drift study) and of ``pe_actors.load``.

A run's result is its best-validation epoch: :func:`load` of a run directory picks that epoch's checkpoint, as
``pe-actors evaluate`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import Checkpoint, ModelRecord, load_checkpoint, resolve_checkpoint
from pe_actors.engines.registry import checkpoint_network, checkpoint_synapses, from_loaded
from pe_actors.rules import Rule
from pe_actors.synapses import SynapseConfig
from pe_actors.training.trainer import evaluate as evaluate_engine


class Model:
    """A trained network from a loaded checkpoint, on the rule's fast off-chip engine (e-prop: replay, reading the
    checkpoint's synapses as the PEs would; EventProp: the vectorised engine).

    Attributes: ``checkpoint``; ``record`` (what the checkpoint records of the model,
    :class:`~pe_actors.core.checkpoint.ModelRecord`); ``spec`` (its :class:`~pe_actors.rules.Rule`); ``rule`` (the
    rule's name as recorded, ``bptt`` for a BPTT run); ``config`` (the network description); ``synapses``;
    ``class_names``; ``engine``.
    """

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        where = f"checkpoint {checkpoint.path}"
        try:
            self.record: ModelRecord = checkpoint.record
            self.spec: Rule
            self.spec, self.config = checkpoint_network(self.record, where)
            self.synapses: SynapseConfig = checkpoint_synapses(self.record, where)
            self.engine = from_loaded(checkpoint)
        except (KeyError, TypeError, ValueError) as error:
            message = str(error) if str(checkpoint.path) in str(error) else f"{error}"
            raise ValueError(f"checkpoint {checkpoint.path} cannot be loaded: {message}") from None
        self.rule = self.record.rule
        self.class_names = list(self.record.class_names or range(self.config.n_out))

    @property
    def network(self) -> Any:
        """The network description (the rule's type; the same as ``config``)."""
        return self.config

    @property
    def path(self) -> Path:
        """The checkpoint directory."""
        return self.checkpoint.path

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class scores (n, n_out) of inputs x (n, T, n_in); argmax is the predicted class."""
        return self.engine.predict(x)

    def evaluate(self, x: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
        """Mean cross-entropy (``loss``), ``accuracy`` and ``predictions`` on (x, labels)."""
        return evaluate_engine(self.engine, x, labels)

    @property
    def state(self) -> dict[str, np.ndarray]:
        """Weights, optimiser and (for device synapses) device state, full matrices (copies)."""
        return self.engine.state()

    def __repr__(self) -> str:
        return f"Model({self.rule}, {self.checkpoint.path})"


def load(path: Path | str) -> Model:
    """The model of a run directory (its best-validation checkpoint, as ``pe-actors evaluate`` picks) or of a
    checkpoint directory; a ValueError names what cannot be read."""
    return Model(load_checkpoint(resolve_checkpoint(path, prefer="best")))
