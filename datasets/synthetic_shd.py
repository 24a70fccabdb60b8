"""Synthetic spiking digits with the statistics of the Spiking Heidelberg Digits, written in the SHD release's
layout (``shd_train.h5``, ``shd_test.h5``), for tests and measurements that must not download the release.

Each class is a word: a few formant tracks, each a band of cochlea channels drifting in frequency over a part of
the word. A speaker shifts every track in frequency and speaks faster or slower; each take jitters the tracks'
channels and times, drops events and adds background events. Samples last 0.5-1.1 s and hold about ``events``
events over the 700 channels, as SHD samples do. The test file's speakers speak none of the training file's
samples, as the release holds speakers out. Everything is drawn from ``seed``: the same seed writes the same
files byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pe_actors_datasets.events import write_shd

#: Channels of the cochlea model (as SHD's).
CHANNELS = 700


@dataclass(frozen=True)
class SpeakerSpec:
    """How many classes, speakers and takes; which speakers are held out for the test file; events per take."""

    classes: int = 20
    speakers: int = 10
    test_speakers: int = 2
    takes: int = 25
    events: int = 4500
    formants: int = 3

    def __post_init__(self) -> None:
        for name in ("classes", "speakers", "takes", "events", "formants"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SpeakerSpec.{name} must be a positive integer, got {value!r}")
        if not 1 <= self.test_speakers < self.speakers:
            raise ValueError(f"SpeakerSpec.test_speakers must lie in [1, {self.speakers}), got {self.test_speakers}")


#: Formant tracks the words share (as words share their sounds): each word takes its formants from this pool.
SOUNDS = 5


def _words(spec: SpeakerSpec, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """Per class: its duration (s) and per formant its start channel, drift (channels over the word), onset and
    offset (fractions of the word). The formants come from a pool of :data:`SOUNDS` shared tracks (fewer
    combinations than words), so that words differ in which sounds they hold and when, not in sounds of their
    own."""
    start = rng.uniform(60, CHANNELS - 60, SOUNDS)
    drift = rng.uniform(-250, 250, SOUNDS)
    words = []
    for _ in range(spec.classes):
        sounds = rng.choice(SOUNDS, spec.formants, replace=False)
        onset = rng.uniform(0.0, 0.5, spec.formants)
        words.append({
            "duration": rng.uniform(0.5, 0.9),
            "start": start[sounds],
            "drift": drift[sounds],
            "onset": onset,
            "offset": np.minimum(1.0, onset + rng.uniform(0.2, 0.5, spec.formants)),
        })
    return words


def _take(word: dict, pitch: float, tempo: float, events: int,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One take of ``word`` by a speaker (``pitch`` channels of shift, ``tempo`` the duration factor): spike times
    (s, sorted) and channels."""
    # Every take differs: its tempo and pitch vary around the speaker's, it starts up to 0.2 s into the trial, and
    # each formant comes a little earlier or later.
    duration = word["duration"] * tempo * rng.uniform(0.85, 1.15)
    pitch = pitch + rng.normal(0.0, 25.0)
    start = rng.uniform(0.0, 0.2)
    onset = np.clip(word["onset"] + rng.normal(0.0, 0.05, len(word["onset"])), 0.0, 1.0)
    n = int(rng.poisson(events * 0.65))
    formant = rng.integers(0, len(word["start"]), n)
    phase = rng.uniform(onset[formant], np.maximum(onset[formant], word["offset"][formant]))
    channel = word["start"][formant] + pitch + word["drift"][formant] * phase + rng.normal(0.0, 15.0, n)
    time = start + phase * duration + rng.normal(0.0, 0.03, n)
    noise = int(rng.poisson(events * 0.35))  # background events anywhere in the take
    channel = np.concatenate([channel, rng.uniform(0, CHANNELS, noise)])
    time = np.concatenate([time, start + rng.uniform(0.0, duration, noise)])
    keep = (channel >= 0) & (channel < CHANNELS) & (time >= 0) & (rng.random(len(time)) > 0.1)  # 10 % dropped
    order = np.argsort(time[keep], kind="stable")
    return time[keep][order].astype(np.float32), channel[keep][order].astype(np.uint16)


def synthesize(spec: SpeakerSpec = SpeakerSpec(), seed: int = 0) -> dict[str, tuple[list, list, np.ndarray,
                                                                                      np.ndarray]]:
    """The two splits, ``train`` and ``test``: per split (spike times per sample, channels per sample, labels,
    speakers). The last ``spec.test_speakers`` speakers make the test split."""
    rng = np.random.default_rng(seed)
    words = _words(spec, rng)
    pitches = rng.uniform(-60, 60, spec.speakers)
    tempos = rng.uniform(0.75, 1.25, spec.speakers)
    splits: dict[str, tuple[list, list, list, list]] = {"train": ([], [], [], []), "test": ([], [], [], [])}
    for speaker in range(spec.speakers):
        split = "test" if speaker >= spec.speakers - spec.test_speakers else "train"
        for label in range(spec.classes):
            for _ in range(spec.takes):
                times, units = _take(words[label], pitches[speaker], tempos[speaker], spec.events, rng)
                for into, value in zip(splits[split], (times, units, label, speaker), strict=True):
                    into.append(value)
    return {name: (times, units, np.asarray(labels, np.int64), np.asarray(speakers, np.int64))
            for name, (times, units, labels, speakers) in splits.items()}


def write_shd_like(folder: Path | str, spec: SpeakerSpec = SpeakerSpec(), seed: int = 0) -> Path:
    """Write :func:`synthesize`'s splits into ``folder`` as ``shd_train.h5`` and ``shd_test.h5`` in the release's
    layout (``spikes/times``, ``spikes/units``, ``labels``, ``extra/speaker``), each file written beside its name
    and renamed into place; returns the folder."""
    folder = Path(folder)
    for split, (times, units, labels, speakers) in synthesize(spec, seed).items():
        write_shd(folder / f"shd_{split}.h5", times, units, labels, speakers)
    return folder
