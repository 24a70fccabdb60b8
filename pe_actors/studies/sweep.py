"""The network-size study of the paper's Table 4: input variants 40x1, 40x2, 40x3 against N_rec (docs/studies.md).

Input variants (the paper's "delta order" 0, 1, 2, its Table 3) are cut from prepared 80-feature data, whose first
40 features are the log-mels and the next 40 their first-order deltas:

- ``40x1``: the 40 log-mels only;
- ``40x2``: log-mels and deltas (all 80 features, the ``gsc`` network);
- ``40x3``: the 80 features plus a second-order delta, computed here from the first-order delta block by a
  central finite difference along time (``numpy.gradient``: (d[t+1] - d[t-1]) / 2 inside, one-sided differences
  at the first and last frame) and standardised per channel with the training split's mean and standard deviation,
  like the other features. (librosa's delta uses a 9-frame Savitzky-Golay filter instead; the prepared data do
  not keep the raw log-mels, so the second order is derived from the stored, normalised deltas.)

Each row trains a fresh network (weights from ``seed``) with the trainer's loop and reports its trainable
parameters, N_in N_rec + N_rec^2 - N_rec + N_rec N_out (W_rec has no diagonal, no readout bias), and its train,
best-validation and test accuracy (test at the epoch of best validation accuracy, as in the paper's table).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.gradients import init_params

#: Log-mel channels; the prepared data hold them, then as many first-order deltas.
N_MELS = 40
#: Input variants: name -> number of 40-channel blocks (log-mels, deltas, second-order deltas).
INPUT_VARIANTS = {"40x1": 1, "40x2": 2, "40x3": 3}
#: Engines a sweep can train with: the replay engine (exact e-prop gradients, fastest) or the in-process PEs.
SWEEP_ENGINES = ("auto", "replay", "inprocess")


@dataclass(frozen=True)
class PaperRow:
    """One row of the paper's Table 4: inputs, ALIF neurons, its rounded parameter count and accuracies (%)."""

    variant: str
    n_rec: int
    params_k: int
    train: float
    validation: float
    test: float


#: The paper's Table 4 (L2 10e-5, TensorFlow, batch 100).
PAPER_TABLE4 = (
    PaperRow("40x1", 40, 4, 85.78, 83.22, 82.34),
    PaperRow("40x1", 120, 21, 90.68, 86.84, 86.76),
    PaperRow("40x2", 40, 5, 91.81, 88.69, 88.51),
    PaperRow("40x2", 80, 14, 94.65, 89.73, 90.67),
    PaperRow("40x2", 88, 16, 94.84, 90.02, 90.48),
    PaperRow("40x2", 120, 25, 95.90, 90.76, 91.07),
    PaperRow("40x3", 40, 7, 93.13, 88.86, 88.70),
    PaperRow("40x3", 80, 17, 93.89, 90.00, 90.71),
    PaperRow("40x3", 120, 30, 97.20, 91.10, 91.61),
    PaperRow("40x3", 160, 47, 97.96, 91.56, 91.68),
    PaperRow("40x3", 360, 180, 99.01, 91.85, 92.40),
)


def trainable_params(n_in: int, n_rec: int, n_out: int) -> int:
    """Trainable weights: n_in n_rec + n_rec^2 - n_rec (no self-connections) + n_rec n_out (no bias).

    >>> trainable_params(80, 120, 12)
    25320
    """
    return n_in * n_rec + n_rec * n_rec - n_rec + n_rec * n_out


def parse_rows(text: str) -> list[tuple[str, int]]:
    """Sweep rows from ``"paper"`` (all rows of Table 4) or a comma-separated list of ``VARIANT:N_REC``.

    >>> parse_rows("40x1:40, 40x3:360")
    [('40x1', 40), ('40x3', 360)]
    """
    if text.strip() == "paper":
        return [(row.variant, row.n_rec) for row in PAPER_TABLE4]
    rows = []
    for item in text.split(","):
        match = re.fullmatch(r"\s*(40x[123])\s*:\s*(\d+)\s*", item)
        if match is None or int(match.group(2)) < 1:
            raise ValueError(
                f"sweep row {item.strip()!r} is not VARIANT:N_REC with VARIANT in {sorted(INPUT_VARIANTS)} and "
                f"N_REC a positive integer (for example '40x2:120'), nor 'paper'"
            )
        rows.append((match.group(1), int(match.group(2))))
    if not rows:
        raise ValueError("no sweep rows given")
    return rows


def paper_row(variant: str, n_rec: int) -> PaperRow | None:
    """The paper's Table 4 row for these inputs and neurons, if it has one."""
    return next((row for row in PAPER_TABLE4 if row.variant == variant and row.n_rec == n_rec), None)


def second_order_delta(delta: np.ndarray) -> np.ndarray:
    """Finite difference along time (axis 1) of first-order deltas (N, T, C): central inside, one-sided at the
    first and last frame (``numpy.gradient``)."""
    if delta.ndim != 3 or delta.shape[1] < 2:
        raise ValueError(f"deltas must have shape (N, T >= 2, channels), got {delta.shape}")
    return np.gradient(np.asarray(delta, np.float32), axis=1).astype(np.float32)


def input_splits(
    splits: dict[str, tuple[np.ndarray, np.ndarray]], variant: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The splits' features cut (or extended) to an input variant (see the module docstring); labels unchanged.

    The second-order block of ``40x3`` is standardised with statistics of the ``train`` split.
    """
    if variant not in INPUT_VARIANTS:
        raise ValueError(f"unknown input variant {variant!r}; valid variants are {sorted(INPUT_VARIANTS)}")
    for name, (x, _) in splits.items():
        if x.ndim != 3 or x.shape[2] != 2 * N_MELS:
            raise ValueError(
                f"{name} features have shape {x.shape}; the sweep needs prepared data with {2 * N_MELS} features "
                f"({N_MELS} log-mels then {N_MELS} deltas)"
            )
    blocks = INPUT_VARIANTS[variant]
    if blocks == 1:
        return {name: (x[..., :N_MELS], labels) for name, (x, labels) in splits.items()}
    if blocks == 2:
        return dict(splits)
    second = {name: second_order_delta(x[..., N_MELS:]) for name, (x, _) in splits.items()}
    mean = second["train"].mean(axis=(0, 1), dtype=np.float64)
    std = second["train"].std(axis=(0, 1), dtype=np.float64)
    std[std == 0] = 1.0
    return {
        name: (
            np.concatenate([np.asarray(x, np.float32), ((second[name] - mean) / std).astype(np.float32)], axis=2),
            labels,
        )
        for name, (x, labels) in splits.items()
    }


def make_engine(engine: str, config: NetworkConfig, params: dict[str, np.ndarray], optimiser: OptimiserConfig):
    """(engine, name): the replay engine for ``replay`` and ``auto``, else the in-process PEs (one PE, sub-batches
    of 32: results do not depend on P or k)."""
    if engine not in SWEEP_ENGINES:
        raise ValueError(f"unknown sweep engine {engine!r}; valid engines are {list(SWEEP_ENGINES)}")
    from pe_actors.engines.registry import make

    if engine in ("auto", "replay"):
        return make("eprop", "replay", config, params, optimiser), "replay"
    return make("eprop", "inprocess", config, params, optimiser, pes=1, sub_batch=32), "inprocess"


def train_row(
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    variant: str,
    n_rec: int,
    optimiser: OptimiserConfig,
    epochs: int = 1,
    batch_size: int = 100,
    max_samples: int | None = None,
    seed: int = 0,
    engine: str = "auto",
    base: NetworkConfig | None = None,
) -> dict:
    """Train one network of the sweep on ``splits`` (prepared 80-feature data) and report its row; the other
    sizes and constants come from ``base`` (default: the ``gsc`` network)."""
    from pe_actors.training.trainer import Splits, TrainConfig, Trainer, best_epoch

    data = input_splits(splits, variant)
    base = base or NetworkConfig()
    n_steps, n_in = data["train"][0].shape[1:]
    config = base.with_sizes(n_in=int(n_in), n_rec=n_rec, n_steps=int(n_steps))
    params = init_params(config, seed)
    model, engine_name = make_engine(engine, config, params, optimiser)
    trainer = Trainer(
        model,
        Splits.from_dict(data),
        optimiser,
        TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed, max_samples=max_samples),
    )
    start = time.perf_counter()
    try:
        history = trainer.fit().history
    finally:
        if engine_name == "replay":
            model.close()
    seconds = time.perf_counter() - start
    best = best_epoch(history)
    paper = paper_row(variant, n_rec)
    return {
        "inputs": variant,
        "n_in": config.n_in,
        "n_rec": n_rec,
        "n_out": config.n_out,
        "params": trainable_params(config.n_in, n_rec, config.n_out),
        "paper_params_k": paper.params_k if paper else None,
        "train_accuracy": history[-1]["train_accuracy"],
        "best_validation_accuracy": best["validation_accuracy"],
        "test_accuracy": best["test_accuracy"],
        "best_epoch": best["epoch"],
        "final_test_accuracy": history[-1]["test_accuracy"],
        "paper_train": paper.train if paper else None,
        "paper_validation": paper.validation if paper else None,
        "paper_test": paper.test if paper else None,
        "epochs": epochs,
        "samples_per_epoch": trainer.samples_per_epoch,
        "engine": engine_name,
        "seconds": seconds,
    }


def run_sweep(
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    rows: Sequence[tuple[str, int]],
    optimiser: OptimiserConfig,
    epochs: int = 1,
    batch_size: int = 100,
    max_samples: int | None = None,
    seed: int = 0,
    engine: str = "auto",
    report: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train every row (``(variant, n_rec)``) with the same data, optimiser and budget; ``report`` is called with
    each finished row."""
    results = []
    for variant, n_rec in rows:
        row = train_row(splits, variant, n_rec, optimiser, epochs, batch_size, max_samples, seed, engine)
        results.append(row)
        if report is not None:
            report(row)
    return results


__all__ = [
    "INPUT_VARIANTS",
    "N_MELS",
    "PAPER_TABLE4",
    "SWEEP_ENGINES",
    "PaperRow",
    "input_splits",
    "make_engine",
    "paper_row",
    "parse_rows",
    "run_sweep",
    "second_order_delta",
    "train_row",
    "trainable_params",
]
