"""What a training batch is made of when the data are augmented (docs/data.md, "Augmentation").

Two things, both drawn per sample and per epoch from generators seeded by (seed, epoch), so a sample's augmented
features depend only on the seed, the epoch and its index in the training split: never on the engine, the
number of PEs or groups, the sub-batch, or where a resumed run restarts.

- Views: a training split may come with V augmented featurisations of every clip (audio augmentations, made when
  the data are prepared). Each epoch, each sample is shown as its clean features or one of the V views, chosen
  uniformly.
- SpecAugment (Park et al. 2019): ``time_masks`` spans of up to ``time_width`` frames and ``freq_masks`` spans of
  up to ``freq_width`` mel bands are set to 0, the training mean of normalised features. With ``bands`` set, the
  features are read as groups of ``bands`` values per frame (log-mel, then its deltas) and a band span is masked
  in every group.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

#: The training-time augmentations, beside the audio ones a data set is prepared with.
FEATURE_AUGMENTATIONS: tuple[str, ...] = ("specaugment",)


@dataclass(frozen=True)
class SpecAugment:
    """SpecAugment's masks (module docstring): how many time and frequency spans, their widest, the band count."""

    time_masks: int = 2
    time_width: int = 10
    freq_masks: int = 2
    freq_width: int = 6
    bands: int | None = 40


class BatchAugment:
    """Builds a training batch from the train split's features ``x_train`` and optional ``views`` (V, N, T, F)
    with optional ``spec`` masks, seeded by ``seed`` (module docstring)."""

    def __init__(self, x_train: np.ndarray, views: np.ndarray | None, spec: SpecAugment | None, seed: int) -> None:
        if views is not None and views.shape[1:] != x_train.shape:
            raise ValueError(f"augmented views have shape {views.shape}; the train split needs (V, *{x_train.shape})")
        self.x_train = x_train
        self.views = views
        self.spec = spec
        self.seed = seed
        features = x_train.shape[2]
        # Band masks span a group of ``bands`` values, repeated in every group (log-mel, deltas).
        self._bands = spec.bands if spec is not None and spec.bands and features % spec.bands == 0 else features
        self._epoch: int | None = None
        self._choice: np.ndarray | None = None
        self._masks: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def describe(self) -> dict:
        """What the batches are made of, as a checkpoint records it: the number of views and SpecAugment's
        settings (None when off)."""
        spec = None if self.spec is None else dataclasses.asdict(self.spec)
        return {"views": 0 if self.views is None else len(self.views), "specaugment": spec, "seed": self.seed}

    def _draw(self, epoch: int) -> None:
        """The epoch's view per sample and its mask starts and widths, for the whole split at once."""
        n, steps, _ = self.x_train.shape
        rng = np.random.default_rng([self.seed, 50, epoch])
        self._choice = None if self.views is None else rng.integers(0, len(self.views) + 1, size=n)
        if self.spec is not None:
            spec = self.spec
            t_width = rng.integers(0, spec.time_width + 1, size=(n, spec.time_masks))
            t_start = rng.integers(0, steps - t_width + 1)
            f_width = rng.integers(0, spec.freq_width + 1, size=(n, spec.freq_masks))
            f_start = rng.integers(0, self._bands - f_width + 1)
            self._masks = (t_start, t_width, f_start, f_width)
        self._epoch = epoch

    def batch(self, index: np.ndarray, epoch: int) -> np.ndarray:
        """The features of the training samples ``index`` in ``epoch``: their chosen views, masked."""
        if self._epoch != epoch:
            self._draw(epoch)
        if self._choice is None:
            x = self.x_train[index]
        else:
            stacked = [
                self.x_train[i] if v == 0 else self.views[v - 1, i]
                for i, v in zip(index, self._choice[index], strict=True)
            ]
            x = np.stack(stacked) if stacked else self.x_train[index]
        if self._masks is None:
            return x
        # x is a copy already (fancy indexing or stacking), so masking it leaves the split untouched.
        steps, features = x.shape[1:]
        t = np.arange(steps)
        f = np.arange(self._bands)
        t_start, t_width, f_start, f_width = (part[index] for part in self._masks)
        time_masked = ((t >= t_start[..., None]) & (t < (t_start + t_width)[..., None])).any(axis=1)
        freq_masked = ((f >= f_start[..., None]) & (f < (f_start + f_width)[..., None])).any(axis=1)
        x[time_masked] = 0.0
        x *= ~np.tile(freq_masked, features // self._bands)[:, None, :]
        return x
