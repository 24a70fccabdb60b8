"""New conditions for on-chip adaptation, each synthesised as a GSC-layout folder (docs/adaptation.md).

A condition folder reads like any GSC copy: the clips in neither split list are the adaptation samples,
``testing_list.txt`` the held-out evaluation clips (``validation_list.txt`` is empty), and the silence class is
cut from its own ``_background_noise_/``. ``SYNTHETIC.json`` marks it synthetic and names the condition;
``speakers.json`` lists its speakers with their role (``adaptation`` or ``test``).

- ``speaker``: one new speaker whose voice no split of the stand-in uses: espeak-ng's German voice reading the
  English words (an accent no stand-in speaker has) with a vocal-tract warp of 1.24 (a shorter vocal tract:
  formants and pitch a quarter higher; the stand-in's warps span 0.85 to 1.3). Every keyword is spoken
  ``adapt_takes`` times for adaptation and ``test_takes`` more times for evaluation, the unknown words
  ``unknown_takes`` times each (the last take of each held out); the backgrounds and SNRs are the stand-in's.
- ``slt``: like ``speaker``, but the new speaker is flite's voice slt, the one female flite voice, which the
  stand-in holds out of every split and generalises to worst (docs/data.md, "Leave-voice-out").
- ``noise``: speakers drawn like the stand-in's espeak-ng speakers, mixed with background music (a background
  type no split of the stand-in has: plucked notes of a pentatonic scale over a bass line and a kick drum) at an
  SNR of -3 to 3 dB, where the stand-in mixes its noises at 10 to 30 dB. ``adapt_speakers`` speakers give the
  adaptation samples and ``test_speakers`` others the evaluation clips, so evaluation hears no adapted voice.
- ``voices``: the leave-voice-out set, spoken only by voices the stand-in leaves out of every split
  (``synth.HELD_OUT_ACCENTS`` with the held-out espeak-ng variants, and the flite voice ``synth.HELD_OUT_FLITE``),
  with the stand-in's backgrounds, SNRs and contours. ``voices_espeak`` and ``voices_flite`` speakers each say
  every keyword once and ``takes_per_speaker`` unknown words; every clip is an evaluation clip. It measures how
  far a model trained on the stand-in carries to voices it never heard.

Everything is drawn from ``numpy.random.default_rng`` seeded by (seed, condition, ...), so a folder is
deterministic for a given seed and espeak-ng version.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pe_actors_datasets.cache import SYNTHETIC_MARKER
from pe_actors_datasets.speech_commands import BACKGROUND_DIR, KEYWORDS, SPLIT_LISTS
from pe_actors_datasets.synth import (
    BACKGROUND_KINDS,
    HELD_OUT_FLITE,
    SAMPLE_RATE,
    SNR_DB,
    UNKNOWN_WORDS,
    Speaker,
    background_noise,
    building_synthetic,
    clip_path,
    draw_speaker,
    espeak_variants,
    render_plan,
    tool_versions,
    voice_pairs,
    write_background,
)

CONDITIONS: tuple[str, ...] = ("speaker", "slt", "noise", "voices")
CONDITION_FORMAT = 2
#: The new speaker's voice and vocal-tract warp (module docstring).
NEW_SPEAKER_VOICE = "de"
NEW_SPEAKER_WARP = 1.24
#: The new noise: its background kind and the SNR range it is mixed at (dB).
NEW_NOISE = "music"
NEW_NOISE_SNR_DB = (-3.0, 3.0)
BACKGROUND_SECONDS = 30.0
#: Clip seeds of condition speakers start here, far from the stand-in's speaker indices.
SPEAKER_INDEX_OFFSET = 10_000


@dataclass(frozen=True)
class ConditionSpec:
    """How many clips a condition folder holds (module docstring)."""

    adapt_takes: int = 30
    test_takes: int = 12
    unknown_takes: int = 4
    adapt_speakers: int = 8
    test_speakers: int = 4
    takes_per_speaker: int = 4
    voices_espeak: int = 30
    voices_flite: int = 10

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ConditionSpec.{name} must be a positive integer, got {value!r}")
        if self.unknown_takes < 2:
            raise ValueError("ConditionSpec.unknown_takes must be at least 2 (one adaptation take, one held out)")


def music(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` samples of synthetic background music, unit peak: plucked notes (four decaying harmonics) of an A minor
    pentatonic scale at 4 to 8 notes per second, a bass note per bar and a kick drum on every beat at 120 bpm."""
    t = np.arange(n) / SAMPLE_RATE
    scale = 220.0 * 2 ** (np.array([0, 3, 5, 7, 10, 12, 15, 17, 19, 22]) / 12)
    out = np.zeros(n)
    start = 0
    while start < n:
        length = int(SAMPLE_RATE / rng.uniform(4, 8))
        f0 = scale[rng.integers(len(scale))]
        local = t[: min(length * 3, n - start)]
        note = sum(np.sin(2 * np.pi * f0 * k * local) / k**1.5 for k in range(1, 5))
        out[start : start + len(local)] += rng.uniform(0.5, 1.0) * note * np.exp(-local / 0.15)
        start += length
    beat = SAMPLE_RATE // 2
    for bar, begin in enumerate(range(0, n, beat)):
        local = t[: min(beat, n - begin)]
        out[begin : begin + len(local)] += (
            1.5 * np.sin(2 * np.pi * (50 + 80 * np.exp(-local / 0.03)) * local) * np.exp(-local / 0.08)
        )
        if bar % 4 == 0:
            bass = scale[rng.integers(3)] / 4
            span = t[: min(4 * beat, n - begin)]
            out[begin : begin + len(span)] += 0.6 * np.sin(2 * np.pi * bass * span) * np.exp(-span / 0.8)
    return out / np.abs(out).max()


def _speaker_id(seed: int, condition: str, index: int) -> str:
    return hashlib.sha1(f"condition:{condition}:{seed}:{index}".encode()).hexdigest()[:8]


def _new_speaker(seed: int, condition: str = "speaker") -> Speaker:
    rng = np.random.default_rng([seed, 20, 0])
    if condition == "slt":
        return draw_speaker(rng, "flite", HELD_OUT_FLITE, _speaker_id(seed, "slt", 0), "adaptation", warp=(1.0, 1.0))
    return Speaker(
        id=_speaker_id(seed, "speaker", 0),
        engine="espeak-ng",
        voice=NEW_SPEAKER_VOICE,
        speed=round(float(rng.uniform(140, 170)), 3),
        pitch=round(float(rng.uniform(40, 60)), 3),
        warp=NEW_SPEAKER_WARP,
        tilt=round(float(rng.uniform(-0.2, 0.6)), 3),
        split="adaptation",
    )


def _espeak_speakers(
    seed: int, condition: str, count: int, *, held_out: bool, split: str | None = None, first_adapted: int = 0
) -> list[Speaker]:
    """``count`` espeak-ng speakers of distinct voices: the stand-in's (``held_out`` False) or the left-out ones;
    the first ``first_adapted`` have split ``adaptation`` and the rest ``split`` (default ``test``)."""
    rng = np.random.default_rng([seed, 20, 1 if condition == "noise" else 2])
    pairs = voice_pairs(espeak_variants(), held_out=held_out)
    if count > len(pairs):
        raise ValueError(f"{count} {condition} speakers asked for, but only {len(pairs)} voices exist")
    speakers = []
    for rank, i in enumerate(rng.choice(len(pairs), size=count, replace=False)):
        accent, variant = pairs[i]
        voice = f"{accent}+{variant}" if variant else accent
        role = "adaptation" if rank < first_adapted else split or "test"
        speakers.append(draw_speaker(rng, "espeak-ng", voice, _speaker_id(seed, condition, rank), role))
    return speakers


def _voices_speakers(seed: int, spec: ConditionSpec) -> list[Speaker]:
    speakers = _espeak_speakers(seed, "voices", spec.voices_espeak, held_out=True)
    rng = np.random.default_rng([seed, 20, 3])
    for k in range(spec.voices_flite):
        speaker_id = _speaker_id(seed, "voices", spec.voices_espeak + k)
        speakers.append(draw_speaker(rng, "flite", HELD_OUT_FLITE, speaker_id, "test"))
    return speakers


def condition_plan(
    condition: str, seed: int, spec: ConditionSpec
) -> tuple[list[Speaker], list[tuple[int, list[tuple[str, int]]]], set[str]]:
    """The speakers, per speaker index its (word, take) pairs, and the clip paths held out for evaluation."""
    if condition in ("speaker", "slt"):
        speaker = _new_speaker(seed, condition)
        keyword_takes = spec.adapt_takes + spec.test_takes
        items = [(w, k) for w in KEYWORDS for k in range(keyword_takes)]
        items += [(w, k) for w in UNKNOWN_WORDS for k in range(spec.unknown_takes)]
        held_out = {
            clip_path(speaker, w, k)
            for w, k in items
            if k >= (spec.adapt_takes if w in KEYWORDS else spec.unknown_takes - 1)
        }
        return [speaker], [(0, items)], held_out
    if condition in ("noise", "voices"):
        if condition == "noise":
            count = spec.adapt_speakers + spec.test_speakers
            speakers = _espeak_speakers(seed, "noise", count, held_out=False, first_adapted=spec.adapt_speakers)
        else:
            speakers = _voices_speakers(seed, spec)
        plan = []
        for i in range(len(speakers)):
            rng = np.random.default_rng([seed, 21, i])
            unknown = rng.choice(len(UNKNOWN_WORDS), size=spec.takes_per_speaker, replace=False)
            items = [(w, k) for w in KEYWORDS for k in range(spec.takes_per_speaker)]
            plan.append((i, items + [(UNKNOWN_WORDS[j], 0) for j in sorted(unknown)]))
        held_out = {clip_path(speakers[i], w, k) for i, items in plan if speakers[i].split == "test" for w, k in items}
        return speakers, plan, held_out
    raise ValueError(f"condition must be one of {list(CONDITIONS)}, got {condition!r}")


def synthesize_condition(
    out_dir: Path | str,
    condition: str,
    seed: int = 0,
    *,
    spec: ConditionSpec | None = None,
    workers: int = 2,
    progress: bool = True,
) -> Path:
    """Write the GSC-layout folder of ``condition`` (module docstring) into ``out_dir`` and return its path.

    Built in a temporary sibling and renamed into place; an existing synthetic folder at ``out_dir`` is replaced,
    any other non-empty directory is refused.
    """
    spec = spec or ConditionSpec()
    if condition not in CONDITIONS:
        raise ValueError(f"condition must be one of {list(CONDITIONS)}, got {condition!r}")
    out = Path(out_dir)
    versions = tool_versions()
    speakers, plan, held_out = condition_plan(condition, seed, spec)
    # Condition speakers take clip seeds far from the stand-in's speaker indices.
    indexed = {i + SPEAKER_INDEX_OFFSET: speakers[i] for i in range(len(speakers))}
    plan = [(i + SPEAKER_INDEX_OFFSET, items) for i, items in plan]
    with building_synthetic(out, "folder") as tmp:
        n = int(BACKGROUND_SECONDS * SAMPLE_RATE)
        if condition == "noise":
            write_background(tmp / BACKGROUND_DIR, NEW_NOISE, music(np.random.default_rng([seed, 22]), n))
            snr_db = NEW_NOISE_SNR_DB
        else:
            with tempfile.TemporaryDirectory() as scratch:
                for k, kind in enumerate(BACKGROUND_KINDS):
                    rng = np.random.default_rng([seed, 23, k])
                    write_background(tmp / BACKGROUND_DIR, kind, background_noise(kind, rng, n, Path(scratch)))
            snr_db = SNR_DB
        total = render_plan(tmp, indexed, plan, seed, snr_db=snr_db, workers=workers, progress=progress)
        (tmp / SPLIT_LISTS["validation"]).write_text("")
        (tmp / SPLIT_LISTS["test"]).write_text("".join(f"{line}\n" for line in sorted(held_out)))
        (tmp / "speakers.json").write_text(json.dumps([asdict(s) for s in speakers], indent=1))
        marker = {
            "generator": "pe-actors datasets.conditions",
            "format": CONDITION_FORMAT,
            "condition": condition,
            "seed": seed,
            "spec": asdict(spec),
            "background": [NEW_NOISE] if condition == "noise" else list(BACKGROUND_KINDS),
            "snr_db": list(snr_db),
            "espeak_ng_version": versions["espeak-ng"],
            "clips": total,
            "held_out_clips": len(held_out),
        }
        (tmp / SYNTHETIC_MARKER).write_text(json.dumps(marker, indent=1))
    return out
