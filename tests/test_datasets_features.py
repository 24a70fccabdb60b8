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


POOL_THEN_SLEEP = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pe_actors_datasets.workers import init_worker
if __name__ == "__main__":
    pool = ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn"), initializer=init_worker,
                               initargs=(os.getpid(),))
    pids = {pool.submit(os.getpid).result() for _ in range(8)}
    with open(sys.argv[1] + ".tmp", "w") as handle:
        handle.write(" ".join(map(str, pids)))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(120)
"""


def test_pool_workers_die_with_a_killed_parent(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    semaphores = set(Path("/dev/shm").glob("sem.mp-*")) if Path("/dev/shm").is_dir() else set()
    pids_file = tmp_path / "pids"
    script = tmp_path / "pool.py"
    script.write_text(POOL_THEN_SLEEP)
    # A fresh interpreter, like `pe-actors data prepare`: its pool has a resource tracker of its own.
    parent = subprocess.Popen([sys.executable, str(script), str(pids_file)], cwd=Path(__file__).resolve().parent.parent)
    deadline = time.monotonic() + 60
    while not pids_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = [int(p) for p in pids_file.read_text().split()]
    assert pids
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids), "pool workers outlived their killed parent"
    # multiprocessing's resource tracker (not killed) unlinks the semaphores the dead pool leaked.
    deadline = time.monotonic() + 30
    while Path("/dev/shm").is_dir() and time.monotonic() < deadline:
        if not set(Path("/dev/shm").glob("sem.mp-*")) - semaphores:
            break
        time.sleep(0.2)
    if Path("/dev/shm").is_dir():
        assert not set(Path("/dev/shm").glob("sem.mp-*")) - semaphores, "semaphores of the killed pool were left"
