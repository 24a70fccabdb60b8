"""The spiking cochlea gives lauscher's spikes, and spiking speech is written in the SHD release's layout."""

import numpy as np
import pytest

from pe_actors_datasets.cochlea import CHANNELS, cochlea_spikes

FS = 16000


def clip(seconds: float, seed: int = 1) -> np.ndarray:
    """A tone sweeping under a Gaussian envelope, a second tone and a little noise."""
    t = np.arange(int(FS * seconds)) / FS
    envelope = np.exp(-(((t - seconds / 2) / (seconds / 4)) ** 2))
    noise = 0.05 * np.random.default_rng(seed).normal(size=len(t))
    return np.sin(2 * np.pi * (300 + 2000 * t) * t) * envelope + 0.3 * np.sin(2 * np.pi * 1800 * t) + noise


def test_the_cochlea_gives_lauschers_spikes_for_the_same_seed():
    """lauscher (the model's own implementation, by the data sets' authors) draws its nerve fibres from numpy's
    global generator, channel after channel; seeded alike, every spike must be the same."""
    lauscher = pytest.importorskip("lauscher")
    from lauscher.audiowaves import MonoAudioWave
    from lauscher.transformations.wave2spike import Wave2Spike

    assert lauscher is not None
    audio = clip(0.06)
    times, units = cochlea_spikes(audio.copy(), FS, seed=5)
    np.random.seed(5)
    reference = MonoAudioWave(audio.copy(), FS).transform(Wave2Spike(num_channels=CHANNELS))
    assert len(times) > 500
    np.testing.assert_array_equal(units, reference.spike_labels.astype(int))
    np.testing.assert_allclose(times, reference.spike_times, rtol=0, atol=1e-12)
    other, _ = cochlea_spikes(audio.copy(), FS, seed=6)
    assert len(other) != len(times) or not np.array_equal(other, times)  # the seed draws the fibres


def test_louder_bands_of_the_spectrum_drive_their_own_channels():
    """A low tone excites the apex (high channel indices in the model's order of places), a high tone the base."""
    t = np.arange(int(FS * 0.1)) / FS
    low = cochlea_spikes(np.sin(2 * np.pi * 200 * t), FS, seed=0)[1]
    high = cochlea_spikes(np.sin(2 * np.pi * 4000 * t), FS, seed=0)[1]
    assert np.median(low) != np.median(high) and abs(np.median(low) - np.median(high)) > 100


def test_spiking_speech_writes_the_release_layout_that_training_reads(small_standin, tmp_path):
    from pe_actors_datasets.events import read_shd
    from pe_actors_datasets.rasters import EventRasters
    from pe_actors_datasets.spiking_speech import write_spiking_speech

    _, gsc = small_standin
    done = write_spiking_speech(gsc, tmp_path / "spiking", max_clips=2, workers=1, progress=False)
    assert done.clips == {"shd_train.h5": 4, "shd_test.h5": 2} and done.seconds_per_clip > 0
    times, units, labels = read_shd(tmp_path / "spiking" / "shd_train.h5")
    assert len(times) == 4 and all(len(t) > 100 and t.max() < 1.0 and u.max() < CHANNELS
                                   for t, u in zip(times, units, strict=True))
    assert set(labels) <= set(range(12)) and len(set(labels)) == 2  # spread over the split: two classes
    rasters = EventRasters.from_samples(times, units, CHANNELS, 0.01, 100)
    assert rasters.shape == (4, 100, CHANNELS) and 0.01 < float(np.asarray(rasters).mean()) < 0.5
