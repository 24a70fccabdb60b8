"""Audio augmentation: each step of the chain, determinism, the augmented views of a feature cache, and the
leave-voice-out condition's voices."""

import json
import shutil

import numpy as np
import pytest

import pe_actors_datasets as datasets
from pe_actors_datasets import conditions, synth
from pe_actors_datasets.augment import AUDIO_AUGMENTATIONS, AudioAugment, augment_clip, simulated_rooms
from pe_actors_datasets.cache import VIEWS_FILE

needs_tts = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("flite") is None,
    reason="espeak-ng and flite are not installed (scripts/setup.sh installs them)",
)


def _word(seed=0):
    """A 1-s clip: a 0.4-s harmonic 'word' with a 150 Hz fundamental in the middle, silence around it."""
    t = np.arange(6400) / 16_000
    word = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 6)) * np.hanning(len(t))
    clip = np.zeros(16_000, np.float32)
    clip[4800:11200] = 0.5 * word / np.abs(word).max()
    return clip


def test_named_switches_on_only_the_named_augmentations_and_refuses_unknown_ones():
    assert AudioAugment.named(["pitch", "speed"]).names == ("speed", "pitch")
    assert AudioAugment.named(AUDIO_AUGMENTATIONS).names == AUDIO_AUGMENTATIONS
    assert AudioAugment.named([]).names == ()
    with pytest.raises(ValueError, match="unknown audio augmentation.*'echo'"):
        AudioAugment.named(["echo"])


@pytest.mark.parametrize("name", AUDIO_AUGMENTATIONS)
def test_each_augmentation_alone_changes_the_clip_and_keeps_its_length_and_peak(name):
    clip = _word()
    augment = AudioAugment.named([name])
    rooms = simulated_rooms(AudioAugment(rooms=2), seed=0) if name == "reverb" else []
    noise = [np.random.default_rng(1).standard_normal(48_000).astype(np.float32)]
    # Pitch and reverb act on half the clips, noise on four in five: some seed in a few acts.
    outs = [augment_clip(clip, np.random.default_rng([7, k]), augment, rooms, noise) for k in range(6)]
    for out in outs:
        assert out.shape == (16_000,) and out.dtype == np.float32
        assert np.abs(out).max() == pytest.approx(np.abs(clip).max(), rel=1e-5)
    assert any(not np.allclose(out, clip, atol=1e-4) for out in outs)


def test_the_chain_is_deterministic_in_its_generator():
    clip = _word()
    augment = AudioAugment(rooms=2)
    rooms = simulated_rooms(augment, seed=3)
    noise = [np.random.default_rng(1).standard_normal(48_000).astype(np.float32)]
    first = augment_clip(clip, np.random.default_rng([5, 1]), augment, rooms, noise)
    again = augment_clip(clip, np.random.default_rng([5, 1]), augment, rooms, noise)
    other = augment_clip(clip, np.random.default_rng([5, 2]), augment, rooms, noise)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_simulated_rooms_are_seeded_peak_normalised_and_decay():
    augment = AudioAugment(rooms=3, reverb=(0.3, 0.6))
    rooms = simulated_rooms(augment, seed=0)
    assert len(rooms) == 3
    for response in rooms:
        assert np.abs(response).max() == pytest.approx(1.0)
        energy = np.cumsum(response[::-1] ** 2)[::-1]
        # Schroeder's backward integral: 20 dB down within a second for RT60 of at most 0.6 s.
        assert energy[min(len(energy) - 1, 16_000)] < 0.01 * energy[0]
    again = simulated_rooms(augment, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(rooms, again, strict=True))
    assert simulated_rooms(AudioAugment(reverb=None), seed=0) == []


@needs_tts
def test_prepare_with_views_adds_augmented_training_views_and_keeps_the_clean_splits(tmp_path):
    root = synth.synthesize(tmp_path / "standin", size="small", seed=0, workers=2, progress=False)
    clean = datasets.prepare(root, tmp_path / "clean", progress=False)
    augment = AudioAugment(rooms=2)
    views = datasets.prepare(root, tmp_path / "views", progress=False, augment=augment, views=2)
    plain, augmented = datasets.load_prepared(clean.path), datasets.load_prepared(views.path)
    assert plain.train_views is None
    for split in ("train", "validation", "test"):
        np.testing.assert_array_equal(plain.splits[split][0], augmented.splits[split][0])
    x_train = augmented.splits["train"][0]
    assert augmented.train_views.shape == (2, *x_train.shape) and augmented.train_views.dtype == np.float32
    assert np.isfinite(augmented.train_views).all()
    assert not np.array_equal(augmented.train_views[0], x_train)
    assert not np.array_equal(augmented.train_views[0], augmented.train_views[1])
    # Normalised with the clean training statistics: the views' mean is near, not exactly, zero.
    assert abs(float(augmented.train_views.mean())) < 0.5
    assert augmented.metadata["views"] == 2 and augmented.metadata["augment"]["rooms"] == 2
    assert plain.metadata["normalisation"] == augmented.metadata["normalisation"]
    # Reused with the same settings; rebuilt with others.
    assert datasets.prepare(root, views.path, progress=False, augment=augment, views=2).reused
    assert not datasets.prepare(root, views.path, progress=False, augment=AudioAugment(rooms=1), views=2).reused
    # A damaged views file is named.
    (views.path / VIEWS_FILE).write_bytes(b"\x93NUMPY broken")
    with pytest.raises(ValueError, match=VIEWS_FILE):
        datasets.load_prepared(views.path)


def test_prepare_refuses_views_without_an_augmentation(tmp_path):
    with pytest.raises(ValueError, match="views must be 0, or positive with at least one audio augmentation"):
        datasets.prepare(tmp_path, tmp_path / "out", augment=AudioAugment.named([]), views=2)


@needs_tts
def test_the_voices_condition_is_spoken_only_by_voices_the_stand_in_leaves_out(tmp_path):
    spec = conditions.ConditionSpec(voices_espeak=3, voices_flite=1, takes_per_speaker=1)
    root = conditions.synthesize_condition(tmp_path / "voices", "voices", seed=0, spec=spec, progress=False)
    speakers = json.loads((root / "speakers.json").read_text())
    held_out = {f"{a}+{v}" for a, v in synth.voice_pairs(synth.espeak_variants(), held_out=True)}
    assert len(speakers) == 4
    assert all(s["voice"] in held_out | {synth.HELD_OUT_FLITE} for s in speakers)
    stand_in = synth.make_speakers(synth.SIZES["default"], seed=0, variants=synth.espeak_variants())
    assert not {s["voice"] for s in speakers} & {s.voice for s in stand_in}
    listed = set((root / "testing_list.txt").read_text().split())
    clips = {f"{p.parent.name}/{p.name}" for p in root.glob("*/*.wav") if not p.parent.name.startswith("_")}
    assert listed == clips and len(clips) == 4 * (len(synth.KEYWORDS) + 1)
