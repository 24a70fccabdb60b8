"""Google Speech Commands (v1 and v2 layouts) as twelve classes, per docs/data.md.

Layout read: one folder per word of 1 s, 16 kHz, 16-bit mono WAVs; ``validation_list.txt`` and
``testing_list.txt`` (paths relative to the root, one per line); ``_background_noise_/`` with long noise
recordings. The GSC v2 test-set archive's ``_silence_`` and ``_unknown_`` folders are read too.

Classes, in this fixed order (the label is the index)::

    0 yes  1 no  2 up  3 down  4 left  5 right  6 on  7 off  8 stop  9 go  10 silence  11 unknown

- the ten keywords are their folders;
- ``unknown`` is every other word folder, optionally subsampled per split (``unknown_fraction``, seeded);
- ``silence`` is seeded random 1 s crops of the background-noise files at a random gain in [0, 1), as many per
  split as the mean keyword count of that split.

Training is every clip in neither list. Clips shorter than 1 s are zero-padded with the audio centred; longer
ones are trimmed (``features.fit_clip``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from pe_actors_datasets.features import CLIP_SAMPLES, SAMPLE_RATE

CLASS_NAMES: list[str] = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "silence", "unknown"]
KEYWORDS: tuple[str, ...] = tuple(CLASS_NAMES[:10])
SILENCE = CLASS_NAMES.index("silence")
UNKNOWN = CLASS_NAMES.index("unknown")
SPLITS: tuple[str, ...] = ("train", "validation", "test")
SPLIT_LISTS = {"validation": "validation_list.txt", "test": "testing_list.txt"}
BACKGROUND_DIR = "_background_noise_"
SILENCE_DIR = "_silence_"
UNKNOWN_DIR = "_unknown_"
WAV_FORMATS = ("WAV", "WAVEX", "RF64")


class BadClipError(ValueError):
    """A WAV file that cannot be used; the message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass(frozen=True)
class Clip:
    """One example: a WAV path relative to the data root and its label.

    For silence, ``path`` is a background-noise file and ``offset`` the first sample (at 16 kHz) of the 1 s
    crop, scaled by ``gain``; for spoken words ``offset`` is -1.
    """

    path: str
    label: int
    offset: int = -1
    gain: float = 1.0


@dataclass(frozen=True)
class GscIndex:
    """What a GSC-layout folder holds: its WAVs by word folder, split lists and background files."""

    root: Path
    words: dict[str, list[str]]
    lists: dict[str, list[str] | None]
    background: list[str]


def label_of(word: str) -> int:
    """Class index of a word folder: a keyword, ``_silence_`` -> silence, anything else -> unknown."""
    if word in KEYWORDS:
        return CLASS_NAMES.index(word)
    return SILENCE if word == SILENCE_DIR else UNKNOWN


def scan(gsc_dir: Path | str) -> GscIndex:
    """Index a GSC-layout folder: WAVs per word folder, the two split lists (None when absent), background files.

    Raises FileNotFoundError if the folder does not exist and ValueError if it holds no keyword folder with WAVs
    (not a GSC folder).
    """
    root = Path(gsc_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory; pass the folder that holds yes/, no/, ... and the lists")
    words, irregular = {}, []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.name == BACKGROUND_DIR:
            continue
        entries = [f for f in folder.iterdir() if f.suffix.lower() == ".wav"]
        # Only regular files are clips: a FIFO, socket or device named *.wav would block or fail the reader.
        irregular += [f"{folder.name}/{f.name}" for f in entries if not f.is_file()]
        wavs = sorted(f"{folder.name}/{f.name}" for f in entries if f.is_file())
        if wavs:
            words[folder.name] = wavs
    if not any(k in words for k in KEYWORDS) and not {SILENCE_DIR, UNKNOWN_DIR} & set(words):
        raise ValueError(
            f"{root}: not a Google Speech Commands folder (no keyword folder such as yes/ or no/ with .wav files); "
            "pass the root of the extracted archive, or make a stand-in with `pe-actors data synth`"
        )
    if irregular:
        warnings.warn(
            f"{root}: skipping {len(irregular)} .wav entries that are not regular files: {sorted(irregular)[:5]}",
            stacklevel=2,
        )
    lists = {split: _read_list(root / name) for split, name in SPLIT_LISTS.items()}
    bg_dir = root / BACKGROUND_DIR
    found = bg_dir.glob("*.wav") if bg_dir.is_dir() else []
    background = sorted(f"{BACKGROUND_DIR}/{f.name}" for f in found if f.is_file())
    return GscIndex(root=root, words=words, lists=lists, background=background)


def _read_list(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def require_lists(index: GscIndex) -> None:
    """Raise FileNotFoundError naming the first missing split list (GSC ships both)."""
    for split, name in SPLIT_LISTS.items():
        if index.lists[split] is None:
            raise FileNotFoundError(
                f"{index.root / name}: missing {split} split list; GSC ships validation_list.txt and "
                "testing_list.txt at its root - restore it from the archive (one relative path per line)"
            )


def split_clips(
    index: GscIndex,
    *,
    unknown_fraction: float = 1.0,
    seed: int = 0,
    skip_bad: bool = False,
) -> tuple[dict[str, list[Clip]], list[tuple[str, str]]]:
    """Assign every clip to train, validation or test and add silence crops (module docstring).

    Returns the clips per split (words in folder order, then silence) and the skipped list entries as
    (path, problem). A list entry naming a missing file is an error unless ``skip_bad``.
    """
    if not 0.0 < unknown_fraction <= 1.0:
        raise ValueError(f"unknown_fraction must be in (0, 1], got {unknown_fraction}")
    require_lists(index)
    present = {path for wavs in index.words.values() for path in wavs}
    skipped: list[tuple[str, str]] = []
    listed: dict[str, set[str]] = {}
    for split, name in SPLIT_LISTS.items():
        entries = set()
        for entry in index.lists[split]:
            if entry in present:
                entries.add(entry)
            elif skip_bad:
                skipped.append((entry, f"listed in {name} but missing"))
            else:
                raise FileNotFoundError(
                    f"{index.root / entry}: listed in {index.root / name} but missing; "
                    "fix the list, or leave such entries out (skip_bad)"
                )
        listed[split] = entries
    overlap = listed["validation"] & listed["test"]
    if overlap:
        raise ValueError(
            f"{index.root}: {len(overlap)} clips are in both split lists (e.g. {sorted(overlap)[0]}); "
            "each clip may be in at most one list"
        )
    splits: dict[str, list[Clip]] = {}
    for number, split in enumerate(SPLITS):
        clips = []
        for word, wavs in index.words.items():
            if split == "train":
                chosen = [w for w in wavs if w not in listed["validation"] and w not in listed["test"]]
            else:
                chosen = [w for w in wavs if w in listed[split]]
            clips.extend(Clip(path=w, label=label_of(word)) for w in chosen)
        clips = _subsample_unknown(clips, fraction=unknown_fraction, rng=np.random.default_rng([seed, number, 0]))
        n_silence = _mean_keyword_count(clips)
        clips.extend(silence_clips(index, count=n_silence, rng=np.random.default_rng([seed, number, 1])))
        splits[split] = clips
    return splits, skipped


def all_clips(index: GscIndex) -> list[Clip]:
    """Every WAV of the word folders (``_silence_`` and ``_unknown_`` included), labelled by folder."""
    return [Clip(path=w, label=label_of(word)) for word, wavs in index.words.items() for w in wavs]


def _subsample_unknown(clips: list[Clip], *, fraction: float, rng: np.random.Generator) -> list[Clip]:
    if fraction >= 1.0:
        return clips
    unknown = [i for i, c in enumerate(clips) if c.label == UNKNOWN]
    keep = set(rng.choice(unknown, size=round(fraction * len(unknown)), replace=False).tolist())
    return [c for i, c in enumerate(clips) if c.label != UNKNOWN or i in keep]


def _mean_keyword_count(clips: list[Clip]) -> int:
    counts = np.bincount([c.label for c in clips], minlength=len(CLASS_NAMES))[: len(KEYWORDS)]
    return math.ceil(counts.mean())


def silence_clips(index: GscIndex, *, count: int, rng: np.random.Generator) -> list[Clip]:
    """``count`` random 1 s crops of the background files (file, offset and gain in [0, 1) drawn from ``rng``)."""
    if count == 0:
        return []
    if not index.background:
        raise FileNotFoundError(
            f"{index.root / BACKGROUND_DIR}: no background-noise WAVs; the silence class is cut from them "
            "(GSC ships six files there)"
        )
    lengths = [background_length(index.root / name) for name in index.background]
    usable = [i for i, n in enumerate(lengths) if n >= CLIP_SAMPLES]
    if not usable:
        raise BadClipError(index.root / BACKGROUND_DIR, "every background-noise file is shorter than 1 s")
    clips = []
    for _ in range(count):
        i = usable[rng.integers(len(usable))]
        offset = int(rng.integers(lengths[i] - CLIP_SAMPLES + 1))
        clips.append(Clip(path=index.background[i], label=SILENCE, offset=offset, gain=float(rng.random())))
    return clips


def background_length(path: Path) -> int:
    """Length in 16 kHz samples of a background file (after resampling if its rate differs)."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise BadClipError(path, f"not a readable WAV file ({err})") from err
    return int(info.frames * SAMPLE_RATE // info.samplerate)


def read_wav(path: Path | str, *, strict: bool = False) -> tuple[np.ndarray, str | None]:
    """Mono float32 samples of a WAV at 16 kHz, and a note when it had to be resampled (else None).

    Raises BadClipError (a ValueError naming the file) for a file that is not a readable WAV, has no samples,
    is not mono, has non-finite samples, or - with ``strict`` - is not at 16 kHz.
    """
    path = Path(path)
    try:
        info = sf.info(str(path))
        if info.format not in WAV_FORMATS:
            raise BadClipError(path, f"is a {info.format} file, not WAV; convert it to 16 kHz 16-bit mono WAV")
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise BadClipError(path, f"not a readable WAV file ({err}); re-extract it") from err
    if audio.shape[0] == 0:
        raise BadClipError(path, "is empty (no samples); delete it")
    if audio.shape[1] != 1:
        raise BadClipError(
            path, f"has {audio.shape[1]} channels, expected mono; convert it (sox in.wav -c 1 out.wav)"
        )
    samples = audio[:, 0]
    if not np.isfinite(samples).all():
        raise BadClipError(path, "contains NaN or infinite samples, its features would be NaN")
    if rate == SAMPLE_RATE:
        return samples, None
    if strict:
        raise BadClipError(path, f"sample rate {rate} Hz, expected {SAMPLE_RATE} Hz (strict mode refuses to resample)")
    import librosa

    resampled = librosa.resample(y=samples, orig_sr=rate, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    return resampled.astype(np.float32), f"resampled from {rate} Hz"


@lru_cache(maxsize=16)
def _background(path: str, strict: bool) -> tuple[np.ndarray, str | None]:
    return read_wav(path, strict=strict)


def load_clip(root: Path | str, clip: Clip, *, strict: bool = False) -> tuple[np.ndarray, str | None]:
    """The audio of one clip (a word WAV, or a gain-scaled silence crop) at 16 kHz, with read_wav's note."""
    path = Path(root) / clip.path
    if clip.offset < 0:
        return read_wav(path, strict=strict)
    noise, note = _background(str(path), strict)
    crop = noise[clip.offset : clip.offset + CLIP_SAMPLES]
    if crop.shape[0] < CLIP_SAMPLES:
        raise BadClipError(path, f"too short for a 1 s crop at sample {clip.offset}")
    return crop * np.float32(clip.gain), note
