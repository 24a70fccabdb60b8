"""Log-mel + delta features and their normalisation (docs/data.md)."""

import librosa
import numpy as np
import pytest

from pe_actors_datasets.features import (
    DEFAULT_PARAMS,
    FeatureParams,
    fit_clip,
    log_mel_delta,
    normalisation_stats,
    normalise,
)


def _tone(freq: float, seconds: float = 1.0, rate: int = 16_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_one_second_clip_gives_100_frames_of_80_float32_features():
    features = log_mel_delta(np.random.default_rng(0).normal(0, 0.1, 16_000))
    assert features.shape == (100, 80)
    assert features.dtype == np.float32
    assert np.isfinite(features).all()


def test_parameters_are_those_of_spec_section_4():
    p = DEFAULT_PARAMS
    assert (p.sample_rate, p.n_fft, p.win_length, p.hop_length, p.n_mels) == (16_000, 480, 480, 160, 40)
    assert (p.fmin, p.fmax, p.n_frames, p.n_features) == (20.0, 4000.0, 100, 80)


def test_features_equal_librosa_log_mel_and_delta_with_those_parameters():
    audio = np.random.default_rng(1).normal(0, 0.1, 16_000).astype(np.float32)
    mel = librosa.feature.melspectrogram(
        y=audio, sr=16_000, n_fft=480, win_length=480, hop_length=160, n_mels=40, fmin=20.0, fmax=4000.0
    )
    log_mel = np.log(mel + 1e-6)
    delta = librosa.feature.delta(data=log_mel, width=9, order=1)
    features = log_mel_delta(audio)
    np.testing.assert_allclose(features[:, :40], log_mel[:, :100].T, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(features[:, 40:], delta[:, :100].T, rtol=1e-5, atol=1e-4)


def test_a_tone_lights_the_mel_band_of_its_frequency():
    centres = librosa.mel_frequencies(n_mels=42, fmin=20.0, fmax=4000.0)[1:-1]
    features = log_mel_delta(_tone(1000.0))
    assert abs(int(np.argmax(features[50, :40])) - int(np.argmin(np.abs(centres - 1000.0)))) <= 1


def test_hop_is_10_ms_so_a_burst_at_half_a_second_is_at_frame_50():
    audio = np.zeros(16_000, dtype=np.float32)
    audio[8_000:8_160] = _tone(1000.0, seconds=0.01)
    energy = log_mel_delta(audio)[:, :40].mean(axis=1)
    assert abs(int(np.argmax(energy)) - 50) <= 1


def test_short_clips_are_padded_centred_and_long_ones_trimmed():
    short = np.ones(10_000, dtype=np.float32)
    padded = fit_clip(short)
    assert padded.shape == (16_000,)
    assert padded[:3_000].sum() == 0 and padded[13_000:].sum() == 0 and padded[3_000:13_000].all()
    long = np.arange(20_000, dtype=np.float32)
    np.testing.assert_array_equal(fit_clip(long), long[:16_000])


def test_normalisation_statistics_are_per_feature_over_clips_and_frames():
    x = np.random.default_rng(2).normal(3.0, 2.0, (50, 100, 80)).astype(np.float32)
    x[:, :, 5] = 7.0
    mean, std = normalisation_stats(x, chunk=7)
    np.testing.assert_allclose(mean, x.reshape(-1, 80).mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(np.delete(std, 5), np.delete(x.reshape(-1, 80).std(axis=0), 5), rtol=1e-4)
    assert std[5] == 1.0
    z = normalise(x, mean=mean, std=std)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.reshape(-1, 80).mean(axis=0), 0.0, atol=1e-4)


def test_feature_params_round_trip_and_reject_unknown_keys():
    assert FeatureParams.from_dict(DEFAULT_PARAMS.to_dict()) == DEFAULT_PARAMS
    with pytest.raises(ValueError, match="unknown feature parameters"):
        FeatureParams.from_dict({**DEFAULT_PARAMS.to_dict(), "n_mfcc": 13})


PREPARE_FROM_STDIN = """
import sys
from pe_actors_datasets import prepare
prepare(sys.argv[1], sys.argv[2], seed=0, workers=2)
print("prepared")
"""


def test_preparing_with_workers_runs_from_a_script_read_on_standard_input(small_standin, tmp_path):
    # A process pool would re-import the caller's main module: a script without a main guard re-runs itself, and
    # one read from standard input dies with BrokenProcessPool. The workers are threads.
    import subprocess
    import sys

    from pe_actors_datasets import load_prepared

    out = tmp_path / "features"
    done = subprocess.run(
        [sys.executable, "-", str(small_standin[1]), str(out)],
        input=PREPARE_FROM_STDIN, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "prepared"
    ours, theirs = load_prepared(out), load_prepared(small_standin[0])
    for split, (x, labels) in theirs.splits.items():
        np.testing.assert_array_equal(ours.splits[split][0], x)
        np.testing.assert_array_equal(ours.splits[split][1], labels)
