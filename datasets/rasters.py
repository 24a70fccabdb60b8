"""Spike rasters kept as their events (docs/data.md, "Event data").

A data set of events binned densely grows with the number of steps: the SHD release's 8,156 training samples at
1-ms bins over 1 s and 700 channels are 23 GB of float32 rasters, their events 10 bytes each (0.37 GB at 4,500
events a sample). An :class:`EventRasters` holds the events (times, channels, one run of them per sample) and bins
only the samples it is asked for, so a split reads like an array (N, n_steps, n_channels) of binary rasters:
``x[i]``, ``x[rows]``, ``x[a:b]`` give float32 rasters, ``len``, ``shape`` and ``dtype`` are an array's. Step i of
a raster holds 1 for every channel with an event in [i bin, (i + 1) bin); events before 0 or after the last step
are dropped. A ``transform`` may change each sample's events before they are binned (the event augmentations).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pe_actors_datasets.event_augment import AugmentedEvents, EventAugment

#: ``transform(times, channels, row) -> (times, channels)``: a sample's events changed before binning; ``row`` is
#: the sample's index in the split.
Transform = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]


class EventRasters:
    """Binary rasters (N, ``n_steps``, ``n_channels``) of bins of ``bin_s`` seconds, kept as events: ``times``
    (seconds) and ``channels``, concatenated sample after sample, sample k's events at ``offsets[k]`` to
    ``offsets[k + 1]`` (see the module docstring)."""

    #: Binary rasters never hold NaN or Inf (the checks of a split read this instead of every raster).
    all_finite = True
    dtype = np.dtype(np.float32)
    ndim = 3

    def __init__(self, times: np.ndarray, channels: np.ndarray, offsets: np.ndarray, n_channels: int, bin_s: float,
                 n_steps: int) -> None:
        self.times = np.asarray(times)
        self.channels = np.asarray(channels)
        self.offsets = np.asarray(offsets, np.int64)
        if self.offsets.ndim != 1 or len(self.offsets) < 1 or self.offsets[0] != 0 \
                or self.offsets[-1] != len(self.times) or np.any(np.diff(self.offsets) < 0):
            raise ValueError("event offsets must rise from 0 to the number of events")
        if len(self.channels) != len(self.times):
            raise ValueError(f"{len(self.times)} event times but {len(self.channels)} channels")
        self.n_channels = int(n_channels)
        self.bin_s = float(bin_s)
        self.n_steps = int(n_steps)

    @classmethod
    def from_samples(cls, times: Sequence[np.ndarray], channels: Sequence[np.ndarray], n_channels: int,
                     bin_s: float, n_steps: int) -> EventRasters:
        """From per-sample arrays of event times (s) and channels."""
        counts = np.array([len(t) for t in times], np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        flat_t = np.concatenate([np.asarray(t, np.float64) for t in times]) if len(times) else np.zeros(0)
        flat_c = np.concatenate([np.asarray(c, np.uint16) for c in channels]) if len(channels) else np.zeros(0,
                                                                                                           np.uint16)
        return cls(flat_t, flat_c, offsets, n_channels, bin_s, n_steps)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(samples, steps, channels), as the binned array's."""
        return (len(self), self.n_steps, self.n_channels)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def events(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``row``'s event times (s) and channels."""
        start, stop = self.offsets[row], self.offsets[row + 1]
        return self.times[start:stop], self.channels[start:stop]

    def rows(self, key: Any) -> np.ndarray:
        """The sample indices ``key`` (an int, slice, or integer or boolean array) selects."""
        return np.arange(len(self))[key]

    def subset(self, rows: Sequence[int] | np.ndarray) -> EventRasters:
        """The samples ``rows``, still as events."""
        rows = self.rows(np.asarray(rows, np.int64))
        counts = self.offsets[rows + 1] - self.offsets[rows]
        pick = np.concatenate([np.arange(self.offsets[r], self.offsets[r + 1]) for r in rows]) if len(rows) else \
            np.zeros(0, np.int64)
        return EventRasters(self.times[pick], self.channels[pick], np.concatenate([[0], np.cumsum(counts)]),
                            self.n_channels, self.bin_s, self.n_steps)

    def rasters(self, rows: Sequence[int] | np.ndarray, transform: Transform | None = None) -> np.ndarray:
        """Float32 rasters (len(rows), n_steps, n_channels) of the samples ``rows``, each sample's events passed
        through ``transform`` first when given."""
        rows = np.asarray(rows, np.int64)
        out = np.zeros((len(rows), self.n_steps, self.n_channels), np.float32)
        for k, row in enumerate(rows):
            times, channels = self.events(int(row))
            if transform is not None:
                times, channels = transform(times, channels, int(row))
            steps, channels = self.bins(times, channels)
            out[k, steps, channels] = 1.0
        return out

    def bins(self, times: np.ndarray, channels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (step, channel) of every event inside the trial and the sensor."""
        # The step as a float first: a time far past the trial (1e30 s) would overflow an integer.
        steps = np.floor(np.asarray(times, np.float64) / self.bin_s)
        channels = np.asarray(channels)
        inside = (steps >= 0) & (steps < self.n_steps) & (channels >= 0) & (channels < self.n_channels)
        return steps[inside].astype(np.int64), channels[inside].astype(np.int64)

    def dropped(self) -> int:
        """Events at or after the end of the trial (``n_steps`` bins)."""
        return int(np.count_nonzero(np.floor(self.times.astype(np.float64) / self.bin_s) >= self.n_steps))

    def augmented(self, names: Sequence[str], seed: int) -> AugmentedEvents:
        """Training batches of these samples through the event augmentations ``names``
        (:mod:`pe_actors_datasets.event_augment`), drawn from ``seed``."""
        return AugmentedEvents(self, EventAugment.named(names), seed)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self.rasters([self.rows(key)])[0]
        return self.rasters(self.rows(key))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        rasters = self.rasters(np.arange(len(self)))
        return rasters if dtype is None else rasters.astype(dtype)
