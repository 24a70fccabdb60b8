"""Augmentations of event samples (docs/data.md, "Event augmentation"), applied to a sample's events before they
are binned, a new draw every epoch.

- ``channel_shift``: every event of the sample moves by the same number of channels, drawn from N(0, sd) and
  rounded (a speaker's higher or lower voice; mlGeNN's SHD augmentation); events shifted off the sensor are dropped.
- ``channel_jitter``: each event moves by its own N(0, var) channels, rounded (tonic's ``SpatialJitter`` along
  the one axis of a cochlea's channels); events off the sensor are dropped.
- ``time_jitter``: each event moves by its own N(0, std) in time (tonic's ``TimeJitter``); events before 0 are
  dropped.
- ``time_skew``: every time is multiplied by one factor drawn uniformly from a range (tonic's ``TimeSkew``):
  faster or slower speech.
- ``drop_events``: each event is dropped with a probability drawn uniformly from [0, p] (tonic's ``DropEvent``).

tonic draws from numpy's global generator; each sample's draw runs with that generator seeded by (seed, epoch,
sample index) and restored afterwards, so a sample's events depend only on those three: never on the engine, the
PEs, groups or sub-batch, or where a resumed run restarts.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: The event augmentations, in the order a sample passes through them.
EVENT_AUGMENTATIONS: tuple[str, ...] = ("time_skew", "time_jitter", "channel_shift", "channel_jitter", "drop_events")


@dataclass(frozen=True)
class EventAugment:
    """Which event augmentations are on (None: off) and their sizes: ``channel_shift`` sd in channels,
    ``channel_jitter`` variance in channels squared, ``time_jitter`` sd in seconds, ``time_skew`` the range of the
    factor, ``drop_events`` the largest drop probability."""

    time_skew: tuple[float, float] | None = (0.9, 1.1)
    time_jitter: float | None = 0.002
    channel_shift: float | None = 10.0
    channel_jitter: float | None = 1.0
    drop_events: float | None = 0.2

    @classmethod
    def named(cls, names: Iterable[str]) -> EventAugment:
        """The default sizes of the augmentations ``names`` (any of :data:`EVENT_AUGMENTATIONS`), the rest off."""
        names = set(names)
        unknown = sorted(names - set(EVENT_AUGMENTATIONS))
        if unknown:
            raise ValueError(f"unknown event augmentation(s) {unknown}; choose from {list(EVENT_AUGMENTATIONS)}")
        return cls(**{name: getattr(cls, name) if name in names else None for name in EVENT_AUGMENTATIONS})

    def describe(self) -> dict[str, Any]:
        """The settings, as a checkpoint records them."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    def apply(self, times: np.ndarray, channels: np.ndarray, n_channels: int,
              seed: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """One sample's events (times in s, channels) augmented, drawn from ``seed`` (module docstring)."""
        import tonic.transforms as tonic

        events = np.zeros(len(times), np.dtype([("t", np.float64), ("x", np.float64), ("y", np.float64),
                                                ("p", np.int8)]))
        events["t"], events["x"] = times, channels
        sensor = (n_channels, 1, 1)
        with _global_seed(seed):
            if self.time_skew is not None:
                events = tonic.TimeSkew(coefficient=tuple(self.time_skew), offset=0)(events)
            if self.time_jitter is not None:
                events = tonic.TimeJitter(std=self.time_jitter, clip_negative=True)(events)
            if self.channel_shift is not None:
                events["x"] += np.round(np.random.normal(0.0, self.channel_shift))
            if self.channel_jitter is not None:
                events = tonic.SpatialJitter(sensor_size=sensor, var_x=self.channel_jitter, var_y=0.0,
                                             clip_outliers=False)(events)
            if self.drop_events is not None:
                events = tonic.DropEvent(p=(0.0, self.drop_events))(events)
        channels = np.round(events["x"])
        keep = (channels >= 0) & (channels < n_channels) & (events["t"] >= 0)
        return events["t"][keep], channels[keep].astype(np.int64)


@contextmanager
def _global_seed(seed: Iterable[int]) -> Any:
    """numpy's global generator seeded from ``seed`` inside the block, and as it was after it."""
    state = np.random.get_state()
    np.random.seed(np.random.SeedSequence(list(seed)).generate_state(1)[0])
    try:
        yield
    finally:
        np.random.set_state(state)


class AugmentedEvents:
    """Training batches of ``rasters`` (:class:`~pe_actors_datasets.rasters.EventRasters`) whose samples pass
    through ``spec`` before binning, a new draw per (``seed``, epoch, sample)."""

    def __init__(self, rasters: Any, spec: EventAugment, seed: int) -> None:
        self.rasters = rasters
        self.spec = spec
        self.seed = seed

    def batch(self, index: np.ndarray, epoch: int) -> np.ndarray:
        """The rasters of the training samples ``index`` in ``epoch``, augmented."""
        n_channels = self.rasters.n_channels
        return self.rasters.rasters(
            index, lambda t, c, row: self.spec.apply(t, c, n_channels, (self.seed, 51, epoch, row)))

    def describe(self) -> dict[str, Any]:
        """What the batches are made of, as a checkpoint records it."""
        return {"events": self.spec.describe(), "seed": self.seed}
