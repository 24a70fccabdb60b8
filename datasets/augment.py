"""Audio augmentations of keyword-spotting training clips (docs/data.md, "Augmentation").

Each training clip is featurised ``views`` more times, each time through a random chain of augmentations; training
then shows every clip as its clean features or one of these views, a different one each epoch. The chain, in order
(each step only when switched on in :class:`AudioAugment`):

1. speed: resample by a factor drawn from ``speed`` (Kaldi's speed perturbation: tempo and pitch together);
2. pitch: with probability 1/2, shift the pitch by a number of semitones drawn from ``pitch``, keeping the tempo
   (librosa's phase-vocoder pitch shift);
3. reverb: with probability 1/2, convolve with the impulse response of one of ``rooms`` simulated shoebox rooms
   (pyroomacoustics' image-source method; reverberation time drawn from ``reverb``, room sizes 3-10 x 3-8 x
   2.5-4 m, source and microphone at random places at least 0.5 m from the walls);
4. noise: with probability 4/5, add a random crop of one of the data set's background-noise files at an SNR drawn
   from ``noise`` (dB);
5. shift: move the clip in time by up to ``shift`` seconds either way, filling with silence.

Everything is drawn from ``numpy.random.default_rng`` seeded by (seed, view, clip index) and the rooms by
(seed, room), so the views are the same whatever the number of workers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import librosa
import numpy as np
import scipy.signal
import soxr

from pe_actors_datasets.features import SAMPLE_RATE, fit_clip

#: The audio augmentations, in the order the chain applies them.
AUDIO_AUGMENTATIONS: tuple[str, ...] = ("speed", "pitch", "reverb", "noise", "shift")
ROOM_SIZE_M = ((3.0, 10.0), (3.0, 8.0), (2.5, 4.0))
#: The image-source method's reflection order is capped: higher orders add little at these decay times but cost
#: time that grows with their cube.
MAX_REFLECTION_ORDER = 17


@dataclass(frozen=True)
class AudioAugment:
    """Which augmentations are on (None: off) and their ranges: ``speed`` factor, ``pitch`` in semitones,
    ``reverb`` time RT60 in s, ``noise`` SNR in dB, ``shift`` in s; ``rooms``: simulated rooms to draw from."""

    speed: tuple[float, float] | None = (0.9, 1.1)
    pitch: tuple[float, float] | None = (-2.0, 2.0)
    reverb: tuple[float, float] | None = (0.2, 0.8)
    noise: tuple[float, float] | None = (0.0, 20.0)
    shift: float | None = 0.1
    rooms: int = 16

    @classmethod
    def named(cls, names: Iterable[str]) -> AudioAugment:
        """The default ranges of the augmentations ``names`` (any of :data:`AUDIO_AUGMENTATIONS`), the rest off."""
        names = set(names)
        unknown = sorted(names - set(AUDIO_AUGMENTATIONS))
        if unknown:
            raise ValueError(f"unknown audio augmentation(s) {unknown}; choose from {list(AUDIO_AUGMENTATIONS)}")
        return cls(**{name: getattr(cls, name) if name in names else None for name in AUDIO_AUGMENTATIONS})

    @property
    def names(self) -> tuple[str, ...]:
        """The augmentations switched on, in chain order."""
        return tuple(name for name in AUDIO_AUGMENTATIONS if getattr(self, name) is not None)

    def to_dict(self) -> dict:
        """The settings as JSON holds them (recorded in a feature cache's metadata and its hash)."""
        return asdict(self)


def simulated_rooms(augment: AudioAugment, seed: int) -> list[np.ndarray]:
    """Impulse responses (16 kHz, peak-normalised) of ``augment.rooms`` shoebox rooms; none without reverb."""
    if augment.reverb is None:
        return []
    import pyroomacoustics as pra  # imported here: only reverberation needs it, and it takes a second to load

    rooms = []
    for k in range(augment.rooms):
        rng = np.random.default_rng([seed, 40, k])
        size = np.array([rng.uniform(*span) for span in ROOM_SIZE_M])
        rt60 = rng.uniform(*augment.reverb)
        absorption, order = pra.inverse_sabine(rt60, size)
        room = pra.ShoeBox(
            size, fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=min(order, MAX_REFLECTION_ORDER)
        )
        room.add_source(rng.uniform(0.5, size - 0.5))
        room.add_microphone(rng.uniform(0.5, size - 0.5))
        room.compute_rir()
        response = np.asarray(room.rir[0][0], dtype=np.float64)
        rooms.append((response / np.abs(response).max()).astype(np.float32))
    return rooms


def augment_clip(
    audio: np.ndarray,
    rng: np.random.Generator,
    augment: AudioAugment,
    rooms: list[np.ndarray],
    backgrounds: list[np.ndarray],
) -> np.ndarray:
    """One random pass of ``audio`` (16 kHz) through the chain of the module docstring, 1 s long again."""
    out = np.asarray(audio, dtype=np.float32)
    peak = float(np.abs(out).max()) + 1e-9
    if augment.speed is not None:
        out = soxr.resample(out, SAMPLE_RATE * rng.uniform(*augment.speed), SAMPLE_RATE).astype(np.float32)
    if augment.pitch is not None and rng.random() < 0.5:
        out = librosa.effects.pitch_shift(out, sr=SAMPLE_RATE, n_steps=rng.uniform(*augment.pitch))
    if rooms and rng.random() < 0.5:
        out = scipy.signal.fftconvolve(out, rooms[rng.integers(len(rooms))])[: len(out)].astype(np.float32)
    out = fit_clip(out)
    if augment.noise is not None and backgrounds and rng.random() < 0.8:
        source = backgrounds[rng.integers(len(backgrounds))]
        start = int(rng.integers(max(len(source) - len(out), 0) + 1))
        noise = fit_clip(source[start : start + len(out)])
        gain = np.sqrt((out**2).mean() / ((noise**2).mean() + 1e-12) / 10 ** (rng.uniform(*augment.noise) / 10))
        out = out + gain * noise
    if augment.shift is not None:
        shift = int(round(rng.uniform(-augment.shift, augment.shift) * SAMPLE_RATE))
        out = np.roll(out, shift)
        if shift > 0:
            out[:shift] = 0.0
        elif shift < 0:
            out[shift:] = 0.0
    # Back to the clean clip's peak: the features are log-mel, so level is part of what the data set varies, not
    # of what an augmentation should change.
    return (out * (peak / (float(np.abs(out).max()) + 1e-9))).astype(np.float32)
