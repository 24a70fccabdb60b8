"""Event augmentations: what each does to a sample's events, drawn per (seed, epoch, sample) whatever the batch."""

import numpy as np
import pytest

from pe_actors_datasets.event_augment import EVENT_AUGMENTATIONS, EventAugment
from pe_actors_datasets.rasters import EventRasters

pytest.importorskip("tonic")


def sample(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return np.sort(rng.uniform(0.1, 0.5, n)), rng.integers(100, 200, n)


def test_the_library_names_the_event_augmentations_of_the_data_package():
    from pe_actors.run import config

    assert config.EVENT_AUGMENTATIONS == EVENT_AUGMENTATIONS


def test_a_channel_shift_moves_every_event_alike_and_a_skew_scales_every_time():
    times, channels = sample()
    shifted_t, shifted_c = EventAugment.named(["channel_shift"]).apply(times, channels, 700, (0, 1))
    np.testing.assert_array_equal(shifted_t, times)
    offset = np.unique(shifted_c - channels)
    assert len(offset) == 1 and offset[0] != 0
    skewed_t, skewed_c = EventAugment.named(["time_skew"]).apply(times, channels, 700, (0, 1))
    factor = np.unique(np.round(skewed_t / times, 12))
    assert len(factor) == 1 and 0.9 <= factor[0] <= 1.1 and factor[0] != 1.0
    np.testing.assert_array_equal(skewed_c, channels)


def test_jitter_moves_events_one_by_one_drop_thins_them_and_nothing_leaves_the_sensor():
    times, channels = sample()
    jittered_t, _ = EventAugment.named(["time_jitter"]).apply(times, channels, 700, (0, 2))
    moved = jittered_t - times
    assert 0.001 < moved.std() < 0.003 and len(np.unique(np.round(moved, 9))) > 300
    _, jittered_c = EventAugment.named(["channel_jitter"]).apply(times, channels, 700, (0, 2))
    assert 0.5 < np.abs(jittered_c - channels).mean() < 1.5
    dropped_t, _ = EventAugment(time_skew=None, time_jitter=None, channel_shift=None, channel_jitter=None,
                                drop_events=0.5).apply(times, channels, 700, (0, 3))
    assert 200 <= len(dropped_t) < 400
    edge = np.array([0.0, 0.1, 0.2]), np.array([0, 350, 699])
    for seed in range(20):
        t, c = EventAugment(channel_shift=30.0).apply(*edge, 700, (seed, 0))
        assert np.all((c >= 0) & (c < 700)) and np.all(t >= 0)


def test_a_draw_depends_on_seed_epoch_and_sample_only_and_leaves_numpys_generator_alone():
    rasters = EventRasters.from_samples(*zip(*(sample(seed=k) for k in range(6)), strict=True), 700, 0.002, 300)
    batches = rasters.augmented(EVENT_AUGMENTATIONS, seed=4)
    np.random.seed(11)
    expected_next = np.random.random()
    np.random.seed(11)
    one = batches.batch(np.array([1, 4, 2]), epoch=0)
    assert np.random.random() == expected_next
    np.testing.assert_array_equal(batches.batch(np.array([4]), epoch=0)[0], one[1])
    np.testing.assert_array_equal(batches.batch(np.array([2, 1]), epoch=0), one[[2, 0]])
    assert not np.array_equal(batches.batch(np.array([1]), epoch=1)[0], one[0])
    assert not np.array_equal(rasters.augmented(EVENT_AUGMENTATIONS, seed=5).batch(np.array([1]), 0)[0], one[0])
    assert not np.array_equal(one[0], rasters[1]) and one.dtype == np.float32 and set(np.unique(one)) <= {0.0, 1.0}
    assert batches.describe()["events"]["channel_shift"] == 10.0


def test_an_unknown_event_augmentation_is_named():
    with pytest.raises(ValueError, match=r"unknown event augmentation\(s\) \['shift'\]"):
        EventAugment.named(["shift"])
