"""An offline stand-in for Google Speech Commands, synthesised with espeak-ng and flite (docs/data.md).

The output has exactly the GSC layout (one folder per word of 1 s, 16 kHz, 16-bit mono WAVs named
``<speaker>_nohash_<n>.wav``, ``validation_list.txt``, ``testing_list.txt``, ``_background_noise_/``), so
``speech_commands`` reads it unchanged, plus ``SYNTHETIC.json`` (the marker everything downstream copies so
results on it are labelled synthetic) and ``speakers.json`` (every speaker's voice parameters and split).

Speakers: espeak-ng English accents x voice variants with their own speed, pitch, pitch range and a vocal-tract
warp (resampling the waveform by a factor, which scales formants, pitch and duration together), and the flite
voices with their own pitch, pitch spread, duration stretch and warp. Each clip's word ends in a full stop, a
question mark, an exclamation mark or a comma drawn at random, so that the same word comes with falling, rising
and continuing pitch contours. Splits are by speaker: validation and test speakers never speak in training.
Some voices are left out of every split (:data:`HELD_OUT_ACCENTS`, the variants :func:`held_out_variant` picks,
and the flite voice :data:`HELD_OUT_FLITE`): the leave-voice-out set (``conditions``, condition ``voices``) is
spoken by them alone, so it measures how far a model carries to voices it never heard. Each clip is one word
trimmed of silence, filtered by a random first-order tilt, placed at a random offset in 1 s (centred with jitter)
and mixed with a crop of a background file (white, pink, brown noise, mains hum, babble) at a random SNR.
Everything is drawn from ``numpy.random.default_rng`` seeded by (seed, speaker, word, take): the output is
deterministic for a given espeak-ng and flite version, whatever the number of worker processes.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

from pe_actors_datasets.augment import AudioAugment
from pe_actors_datasets.cache import SYNTHETIC_MARKER, bar_hidden, install_directory, prepare
from pe_actors_datasets.speech_commands import BACKGROUND_DIR, KEYWORDS, SPLIT_LISTS

SAMPLE_RATE = 16_000
SYNTH_FORMAT = 2
UNKNOWN_WORDS: tuple[str, ...] = (
    "bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house", "marvin",
    "nine", "one", "seven", "sheila", "six", "three", "tree", "two", "wow", "zero",
)
ESPEAK_ACCENTS: tuple[str, ...] = (
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
)
FLITE_TRAIN_VOICES: tuple[str, ...] = ("kal", "kal16", "awb", "rms")
#: Accents and the flite voice no stand-in speaker has: the leave-voice-out set speaks with them.
HELD_OUT_ACCENTS: tuple[str, ...] = ("en-029", "en-us-nyc")
HELD_OUT_FLITE = "slt"
#: One espeak-ng variant in HELD_OUT_VARIANT_SHARE is held out, chosen by a hash of its name (stable when an
#: espeak-ng release adds variants).
HELD_OUT_VARIANT_SHARE = 5
#: Word endings and so pitch contours: falling, rising, emphatic, continuing.
CONTOURS: tuple[str, ...] = (".", "?", "!", ",")
BACKGROUND_KINDS: tuple[str, ...] = ("white_noise", "pink_noise", "brown_noise", "mains_hum", "babble")
BABBLE_TEXT = (
    "the morning train was late again and the platform filled with people reading papers. "
    "a small boat drifted past the harbour wall while gulls circled above the market. "
    "she said the meeting would move to thursday because the room was booked for a lecture. "
    "we waited for the rain to pass, then walked across the bridge towards the museum. "
    "the kitchen smelled of bread and coffee, and somebody was laughing in the garden. "
    "please remember to bring the blue folder and the keys for the storage room. "
)


@dataclass(frozen=True)
class SizeSpec:
    """How big a stand-in is: speakers, flite speakers among them, unknown words per speaker, noise seconds."""

    speakers: int
    flite_speakers: int
    unknown_per_speaker: int
    background_seconds: float
    validation_fraction: float = 0.1
    test_fraction: float = 0.1


SIZES: dict[str, SizeSpec] = {
    "default": SizeSpec(
        speakers=300, flite_speakers=40, unknown_per_speaker=5, background_seconds=60.0
    ),
    "small": SizeSpec(
        speakers=14, flite_speakers=4, unknown_per_speaker=2, background_seconds=6.0,
        validation_fraction=0.2, test_fraction=0.2,
    ),
}
SNR_DB = (10.0, 30.0)
WARP = (0.85, 1.3)
OFFSET_JITTER_S = 0.12


def synthesis_recipe(size: str) -> str:
    """A hash of every parameter that shapes the audio of a stand-in of ``size``, so that a stand-in made by
    code with other noise, warp, jitter, voices or sizes is never silently reused."""
    recipe = {
        "format": SYNTH_FORMAT,
        "size": asdict(SIZES[size]),
        "snr_db": SNR_DB,
        "warp": WARP,
        "offset_jitter_s": OFFSET_JITTER_S,
        "accents": ESPEAK_ACCENTS,
        "flite": FLITE_TRAIN_VOICES,
        "held_out": (HELD_OUT_ACCENTS, HELD_OUT_FLITE, HELD_OUT_VARIANT_SHARE),
        "contours": CONTOURS,
        "words": (KEYWORDS, UNKNOWN_WORDS),
        "background": (BACKGROUND_KINDS, BABBLE_TEXT),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: the engine and voice, its prosody (``spread``: espeak-ng's pitch range in percent,
    flite's F0 standard deviation in Hz) and warp, and its split."""

    id: str
    engine: str
    voice: str
    speed: float
    pitch: float
    warp: float
    tilt: float
    split: str
    spread: float = 100.0


def tool_versions() -> dict[str, str]:
    """Versions of espeak-ng and flite on the PATH; FileNotFoundError with the install command if either is missing."""
    versions = {}
    for tool, args in (("espeak-ng", ["--version"]), ("flite", ["--version"])):
        if shutil.which(tool) is None:
            raise FileNotFoundError(
                f"{tool}: not found on PATH; install it with `sudo apt-get install espeak-ng flite` "
                "(or run scripts/setup.sh)"
            )
        result = subprocess.run([tool, *args], capture_output=True, text=True, check=False)
        lines = [line for line in (result.stdout + result.stderr).splitlines() if re.search(r"\d+\.\d+", line)]
        versions[tool] = " ".join((lines or ["unknown"])[0].split("Data at:")[0].split())
    return versions


def espeak_variants() -> list[str]:
    """The voice variants of the installed espeak-ng (its ``voices/!v`` folder), sorted; names with spaces left out."""
    result = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True)
    names = set()
    for line in result.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5 and parts[4].startswith("!v/"):
            names.add(parts[4][3:])
    return sorted(n for n in names if " " not in n)


def held_out_variant(name: str) -> bool:
    """Whether the espeak-ng variant ``name`` is left out of the stand-in (one in :data:`HELD_OUT_VARIANT_SHARE`,
    by a hash of the name)."""
    return hashlib.sha1(name.encode()).digest()[0] % HELD_OUT_VARIANT_SHARE == 0


def voice_pairs(variants: list[str], *, held_out: bool = False) -> list[tuple[str, str]]:
    """The (accent, variant) pairs of the stand-in's espeak-ng voices ("" is the accent's own voice), or with
    ``held_out`` those of the leave-voice-out set: a held-out accent with a held-out variant."""
    if held_out:
        return [(a, v) for a in HELD_OUT_ACCENTS for v in variants if held_out_variant(v)]
    accents = [a for a in ESPEAK_ACCENTS if a not in HELD_OUT_ACCENTS]
    return [(a, v) for a in accents for v in ["", *variants] if not held_out_variant(v)]


def draw_speaker(
    rng: np.random.Generator, engine: str, voice: str, speaker_id: str, split: str, warp: tuple[float, float] = WARP
) -> Speaker:
    """A speaker of ``engine``'s ``voice`` with prosody, pitch spread, warp and tilt drawn from ``rng``."""
    if engine == "espeak-ng":
        speed, pitch, spread = rng.uniform(125, 215), rng.uniform(10, 90), rng.uniform(40, 200)
    else:
        speed, pitch, spread = rng.uniform(0.8, 1.25), rng.uniform(80, 220), rng.uniform(5, 40)
    return Speaker(
        id=speaker_id,
        engine=engine,
        voice=voice,
        speed=round(float(speed), 3),
        pitch=round(float(pitch), 3),
        warp=round(float(rng.uniform(*warp)), 4),
        tilt=round(float(rng.uniform(-0.5, 0.95)), 3),
        split=split,
        spread=round(float(spread), 3),
    )


def make_speakers(size: SizeSpec, *, seed: int, variants: list[str]) -> list[Speaker]:
    """Draw the speakers of a stand-in and split them by identity (module docstring).

    espeak speakers take distinct (accent, variant) pairs of :func:`voice_pairs`; the flite speakers cycle through
    :data:`FLITE_TRAIN_VOICES`. ``validation_fraction`` and ``test_fraction`` of them (at least one each) go to
    validation and test.
    """
    rng = np.random.default_rng([seed, 0])
    n_espeak = size.speakers - size.flite_speakers
    pairs = voice_pairs(variants)
    if n_espeak > len(pairs):
        raise ValueError(f"{n_espeak} espeak speakers requested but only {len(pairs)} accent x variant pairs exist")
    voices = [
        ("espeak-ng", f"{a}+{v}" if v else a)
        for a, v in (pairs[i] for i in rng.choice(len(pairs), n_espeak, replace=False))
    ]
    voices += [("flite", FLITE_TRAIN_VOICES[k % len(FLITE_TRAIN_VOICES)]) for k in range(size.flite_speakers)]
    order = rng.permutation(len(voices))
    n_val = max(1, round(size.validation_fraction * size.speakers))
    n_test = max(1, round(size.test_fraction * size.speakers))
    split = {int(i): "validation" if rank < n_val else "test" if rank < n_val + n_test else "train"
             for rank, i in enumerate(order)}
    return [
        draw_speaker(rng, engine, voice, hashlib.sha1(f"synth:{seed}:{i}".encode()).hexdigest()[:8], split[i])
        for i, (engine, voice) in enumerate(voices)
    ]


def _run_tts(speaker: Speaker, text: str, wav: Path, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Speak ``text`` with the speaker's voice (prosody jittered a little by ``rng``) into ``wav``; read it back."""
    if speaker.engine == "espeak-ng":
        speed = int(speaker.speed * rng.uniform(0.9, 1.1))
        pitch = int(np.clip(speaker.pitch + rng.uniform(-8, 8), 0, 99))
        spread = int(speaker.spread * rng.uniform(0.85, 1.15))
        ssml = f'<speak><prosody range="{spread}%">{text}</prosody></speak>'
        command = ["espeak-ng", "-m", "-v", speaker.voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), ssml]
    else:
        stretch = speaker.speed * rng.uniform(0.92, 1.08)
        f0 = speaker.pitch * rng.uniform(0.92, 1.08)
        command = ["flite", "-voice", speaker.voice, "--setf", f"duration_stretch={stretch:.3f}"]
        command += ["--setf", f"int_f0_target_mean={f0:.1f}", "--setf", f"int_f0_target_stddev={speaker.spread:.1f}"]
        command += ["-t", text, "-o", str(wav)]
    subprocess.run(command, check=True, capture_output=True)
    audio, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    return audio[:, 0], rate


def _warp_to_16k(audio: np.ndarray, rate: int, warp: float) -> np.ndarray:
    """Resample as if recorded at ``rate * warp``: formants, pitch and tempo all scale by ``warp``."""
    return soxr.resample(audio, rate * warp, SAMPLE_RATE).astype(np.float32)


def _trim(audio: np.ndarray, *, top_db: float = 35.0, frame: int = 256) -> np.ndarray:
    """Cut leading and trailing frames quieter than ``top_db`` below the loudest frame."""
    n = len(audio) // frame
    if n == 0:
        return audio
    energy = (audio[: n * frame].reshape(n, frame) ** 2).mean(axis=1)
    loud = np.flatnonzero(energy > energy.max() * 10 ** (-top_db / 10))
    return audio[loud[0] * frame : (loud[-1] + 1) * frame]


def _tilt(audio: np.ndarray, coefficient: float) -> np.ndarray:
    """First-order spectral tilt ``y[n] = x[n] - c x[n-1]`` (c > 0 brightens, c < 0 darkens)."""
    out = audio.copy()
    out[1:] -= coefficient * audio[:-1]
    return out


def _place(word: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Put a word at a random offset in 1 s of zeros (its middle second if it is longer).

    The offset is centred plus Gaussian jitter of ``OFFSET_JITTER_S``, clipped so the word fits: GSC cut the
    loudest second around each utterance, so its words sit near, but not exactly at, the middle.
    """
    clip = np.zeros(SAMPLE_RATE, dtype=np.float32)
    if len(word) >= SAMPLE_RATE:
        start = (len(word) - SAMPLE_RATE) // 2
        return word[start : start + SAMPLE_RATE].copy()
    room = SAMPLE_RATE - len(word)
    offset = int(np.clip(round(room / 2 + rng.normal(0.0, OFFSET_JITTER_S * SAMPLE_RATE)), 0, room))
    clip[offset : offset + len(word)] = word
    return clip


def render_clip(
    speaker: Speaker,
    word: str,
    rng: np.random.Generator,
    background: list[np.ndarray],
    scratch: Path,
    snr_db: tuple[float, float] = SNR_DB,
) -> np.ndarray:
    """One 1 s, 16 kHz clip of ``speaker`` saying ``word``, mixed with a random background crop at an SNR drawn
    uniformly from ``snr_db`` (module docstring)."""
    contour = CONTOURS[rng.integers(len(CONTOURS))]
    audio, rate = _run_tts(speaker, word + contour, scratch / "tts.wav", rng)
    speech = _trim(_tilt(_warp_to_16k(audio, rate, speaker.warp * rng.uniform(0.97, 1.03)), speaker.tilt))
    speech = speech / (np.abs(speech).max() + 1e-9)
    clip = _place(speech, rng)
    noise_source = background[rng.integers(len(background))]
    start = int(rng.integers(len(noise_source) - SAMPLE_RATE + 1))
    noise = noise_source[start : start + SAMPLE_RATE]
    speech_power = (speech**2).mean()
    snr = rng.uniform(*snr_db)
    noise = noise * np.sqrt(speech_power / ((noise**2).mean() + 1e-12) / 10 ** (snr / 10))
    mixed = clip + noise
    return (mixed * rng.uniform(0.1, 0.9) / (np.abs(mixed).max() + 1e-9)).astype(np.float32)


def _coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1 / f**exponent (0 white, 1 pink, 2 brown), unit peak."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, d=1 / SAMPLE_RATE)
    f[0] = f[1]
    spectrum /= f ** (exponent / 2)
    spectrum[f < 20] = 0
    noise = np.fft.irfft(spectrum, n=n)
    return noise / np.abs(noise).max()


def _hum(rng: np.random.Generator, n: int) -> np.ndarray:
    """Mains hum: a 50 or 60 Hz fundamental with random harmonics and a little white noise, unit peak."""
    t = np.arange(n) / SAMPLE_RATE
    mains = rng.choice([50.0, 60.0])
    hum = np.zeros(n)
    for k in range(1, 8):
        hum += rng.uniform(0.1, 1.0) / k * np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 2 * np.pi))
    hum = hum + 0.02 * rng.standard_normal(n)
    return hum / np.abs(hum).max()


def _babble(rng: np.random.Generator, n: int, scratch: Path, voices: list[str]) -> np.ndarray:
    """Six overlapping espeak-ng talkers reading unrelated sentences, unit peak."""
    mix = np.zeros(n)
    sentences = [s.strip() for s in BABBLE_TEXT.split(".") if s.strip()]
    for talker in range(6):
        voice = voices[rng.integers(len(voices))]
        stream = []
        length = 0
        while length < n:
            order = rng.permutation(len(sentences))
            text = ". ".join(sentences[i] for i in order) + "."
            speaker = Speaker("babble", "espeak-ng", voice, rng.uniform(140, 200), rng.uniform(20, 80), 1.0, 0.0, "")
            audio, rate = _run_tts(speaker, text, scratch / f"babble{talker}.wav", rng)
            piece = _warp_to_16k(audio, rate, 1.0)
            stream.append(piece)
            length += len(piece)
        joined = np.concatenate(stream)[:n]
        mix += np.roll(joined, int(rng.integers(n))) / (np.abs(joined).max() + 1e-9)
    return mix / np.abs(mix).max()


def background_noise(kind: str, rng: np.random.Generator, n: int, scratch: Path) -> np.ndarray:
    """``n`` samples of the background ``kind`` (one of :data:`BACKGROUND_KINDS`), unit peak."""
    if kind == "mains_hum":
        return _hum(rng, n)
    if kind == "babble":
        return _babble(rng, n, scratch, list(ESPEAK_ACCENTS))
    return _coloured_noise(rng, n, {"white_noise": 0.0, "pink_noise": 1.0, "brown_noise": 2.0}[kind])


def write_background(directory: Path, name: str, noise: np.ndarray) -> None:
    """Write a background file ``name``.wav (16-bit, at half of full scale) into ``directory``."""
    directory.mkdir(exist_ok=True)
    sf.write(directory / f"{name}.wav", (0.5 * noise).astype(np.float32), SAMPLE_RATE, subtype="PCM_16")


def _write_background(directory: Path, *, size: SizeSpec, seed: int, scratch: Path) -> None:
    n = int(size.background_seconds * SAMPLE_RATE)
    for k, kind in enumerate(BACKGROUND_KINDS):
        write_background(directory, kind, background_noise(kind, np.random.default_rng([seed, 1, k]), n, scratch))


def _plan(speakers: list[Speaker], size: SizeSpec, seed: int) -> list[tuple[int, list[tuple[str, int]]]]:
    """Per speaker index, the (word, take) pairs it says: every keyword once and a random set of unknown words."""
    plan = []
    for i in range(len(speakers)):
        rng = np.random.default_rng([seed, 2, i])
        unknown = rng.choice(len(UNKNOWN_WORDS), size=size.unknown_per_speaker, replace=False)
        words = [*KEYWORDS, *(UNKNOWN_WORDS[j] for j in sorted(unknown))]
        plan.append((i, [(w, 0) for w in words]))
    return plan


def clip_path(speaker: Speaker, word: str, take: int) -> str:
    """Relative path of a clip in GSC naming: ``<word>/<speaker id>_nohash_<take>.wav``."""
    return f"{word}/{speaker.id}_nohash_{take}.wav"


def _render_speaker(
    out: str,
    speaker: Speaker,
    items: list[tuple[str, int]],
    seed: int,
    index: int,
    snr_db: tuple[float, float] = SNR_DB,
) -> int:
    """Write every clip of one speaker into ``out`` (mixed with the backgrounds found there); returns how many."""
    root = Path(out)
    background = [sf.read(str(p), dtype="float32")[0] for p in sorted((root / BACKGROUND_DIR).glob("*.wav"))]
    words = {w: j for j, w in enumerate([*KEYWORDS, *UNKNOWN_WORDS])}
    with tempfile.TemporaryDirectory() as scratch:
        for word, take in items:
            rng = np.random.default_rng([seed, 3, index, words[word], take])
            clip = render_clip(speaker, word, rng, background, Path(scratch), snr_db)
            sf.write(root / clip_path(speaker, word, take), clip, SAMPLE_RATE, subtype="PCM_16")
    return len(items)


def render_plan(
    root: Path,
    speakers: list[Speaker] | dict[int, Speaker],
    plan: list[tuple[int, list[tuple[str, int]]]],
    seed: int,
    *,
    snr_db: tuple[float, float] = SNR_DB,
    workers: int = 2,
    progress: bool = True,
) -> int:
    """Write the clips of ``plan`` (per speaker index, its (word, take) pairs) into the word folders of ``root``,
    mixed with the backgrounds in ``root``'s background folder, on ``workers`` threads; returns how many."""
    for word in [*KEYWORDS, *UNKNOWN_WORDS]:
        (root / word).mkdir(exist_ok=True)
    total = sum(len(items) for _, items in plan)
    with tqdm(total=total, desc="synth", unit="clip", disable=bar_hidden(progress)) as bar:
        if workers <= 1:
            for i, items in plan:
                bar.update(_render_speaker(str(root), speakers[i], items, seed, i, snr_db))
        else:
            # Threads, not processes: the work is espeak-ng and flite running as child processes, and a process
            # pool would re-import the caller's main module (a notebook, a script without a main guard, stdin).
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [
                    pool.submit(_render_speaker, str(root), speakers[i], items, seed, i, snr_db) for i, items in plan
                ]
                for future in futures:
                    bar.update(future.result())
    return total


@contextmanager
def building_synthetic(out: Path, what: str) -> Iterator[Path]:
    """A temporary sibling of ``out`` to build a synthetic ``what`` in, renamed into place when the block ends
    and removed if it raises; an existing synthetic folder at ``out`` is replaced, any other non-empty one is
    refused with a ValueError."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / SYNTHETIC_MARKER).is_file())):
        raise ValueError(f"{out}: exists and is not a synthetic {what}; refusing to overwrite it - choose another")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        install_directory(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def synthesize(
    out_dir: Path | str, size: str = "default", seed: int = 0, *, workers: int = 2, progress: bool = True
) -> Path:
    """Write a GSC-layout stand-in into ``out_dir`` (module docstring) and return its path.

    ``size`` is one of ``SIZES`` ("default": 300 speakers, about 300 clips per keyword and 75 per unknown word;
    "small": 14 speakers, for tests). Built in a temporary sibling and renamed into place; an existing stand-in at
    ``out_dir`` is replaced, any other non-empty directory is refused.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    spec = SIZES[size]
    out = Path(out_dir)
    versions = tool_versions()
    speakers = make_speakers(spec, seed=seed, variants=espeak_variants())
    plan = _plan(speakers, spec, seed)
    with building_synthetic(out, "stand-in") as tmp:
        with tempfile.TemporaryDirectory() as scratch:
            _write_background(tmp / BACKGROUND_DIR, size=spec, seed=seed, scratch=Path(scratch))
        total = render_plan(tmp, speakers, plan, seed, workers=workers, progress=progress)
        for split, name in SPLIT_LISTS.items():
            members = [(i, items) for i, items in plan if speakers[i].split == split]
            lines = sorted(clip_path(speakers[i], w, t) for i, items in members for w, t in items)
            (tmp / name).write_text("".join(f"{line}\n" for line in lines))
        (tmp / "speakers.json").write_text(json.dumps([asdict(s) for s in speakers], indent=1))
        marker = {
            "generator": "pe-actors datasets.synth",
            "format": SYNTH_FORMAT,
            "recipe": synthesis_recipe(size),
            "size": size,
            "seed": seed,
            "espeak_ng_version": versions["espeak-ng"],
            "flite_version": versions["flite"],
            "clips": total,
            "speakers": {s: sum(sp.split == s for sp in speakers) for s in ("train", "validation", "test")},
        }
        (tmp / SYNTHETIC_MARKER).write_text(json.dumps(marker, indent=1))
    return out


def standin_marker_matches(directory: Path, *, size: str, seed: int) -> bool:
    """Whether ``directory`` holds a complete stand-in made with this size, seed and installed espeak-ng/flite."""
    marker = directory / SYNTHETIC_MARKER
    if not marker.is_file():
        return False
    values = json.loads(marker.read_text())
    versions = tool_versions()
    return (
        values.get("format") == SYNTH_FORMAT
        and values.get("recipe") == synthesis_recipe(size)
        and values.get("size") == size
        and values.get("seed") == seed
        and values.get("espeak_ng_version") == versions["espeak-ng"]
        and values.get("flite_version") == versions["flite"]
    )


def ensure_standin(
    cache_dir: Path | str,
    size: str = "default",
    seed: int = 0,
    *,
    workers: int = 2,
    progress: bool = True,
    augment: AudioAugment | None = None,
    views: int = 0,
) -> Path:
    """The prepared feature directory of the stand-in, synthesised and featurised into ``cache_dir`` only once.

    The audio goes to ``cache_dir/gsc-synth-<size>-seed<seed>`` and the features to
    ``cache_dir/features-synth-<size>-seed<seed>``; later calls reuse both (``cache.prepare``'s hash check).
    ``progress`` shows the synthesis and feature bars. With ``augment`` and ``views`` the features also hold that
    many augmented views of the training split (``cache.prepare``), in a directory named after the augmentations.
    """
    cache = Path(cache_dir)
    audio = cache / f"gsc-synth-{size}-seed{seed}"
    if not standin_marker_matches(audio, size=size, seed=seed):
        synthesize(audio, size=size, seed=seed, workers=workers, progress=progress)
    suffix = f"-{'+'.join(augment.names)}-x{views}" if views and augment is not None else ""
    features = cache / f"features-synth-{size}-seed{seed}{suffix}"
    prepare(audio, features, seed=seed, workers=workers, progress=progress, augment=augment, views=views)
    return features
