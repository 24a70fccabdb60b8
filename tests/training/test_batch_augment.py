"""Training-time augmentation: a sample's augmented features depend only on the seed, the epoch and its index, so
results are independent of how samples are batched; SpecAugment's masks; the choice of views."""

import numpy as np
import pytest

from pe_actors.run.config import AUGMENTATIONS, ConfigError, RunConfig, resolve
from pe_actors.training.augment import BatchAugment, SpecAugment
from pe_actors_datasets.augment import AUDIO_AUGMENTATIONS


def _data(n=12, steps=100, features=80, views=3):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, steps, features)).astype(np.float32) + 5.0  # no value is 0 before masking
    return x, (rng.standard_normal((views, n, steps, features)).astype(np.float32) + 5.0 if views else None)


def test_a_samples_features_do_not_depend_on_the_batch_it_is_in():
    x, views = _data()
    augment = BatchAugment(x, views, SpecAugment(), seed=3)
    whole = augment.batch(np.arange(12), epoch=2)
    for index in (np.array([5]), np.array([7, 1, 5]), np.array([11, 0])):
        part = BatchAugment(x, views, SpecAugment(), seed=3).batch(index, epoch=2)
        np.testing.assert_array_equal(part, whole[index])
    # Asked again, in any order, in the same epoch: the same features.
    np.testing.assert_array_equal(augment.batch(np.array([4, 2]), epoch=2), whole[[4, 2]])


def test_masks_and_views_change_with_the_epoch_and_the_seed_only():
    x, views = _data()
    first = BatchAugment(x, views, SpecAugment(), seed=3).batch(np.arange(12), epoch=0)
    assert not np.array_equal(first, BatchAugment(x, views, SpecAugment(), seed=3).batch(np.arange(12), epoch=1))
    assert not np.array_equal(first, BatchAugment(x, views, SpecAugment(), seed=4).batch(np.arange(12), epoch=0))


def test_specaugment_masks_spans_within_their_widths_in_every_feature_group():
    x, _ = _data(n=200, views=0)
    spec = SpecAugment(time_masks=2, time_width=10, freq_masks=2, freq_width=6, bands=40)
    out = BatchAugment(x, None, spec, seed=0).batch(np.arange(200), epoch=0)
    for sample in out:
        zero = sample == 0.0
        frames = zero.all(axis=1)
        columns = zero.all(axis=0)
        assert frames.sum() <= 20
        assert columns.sum() <= 2 * 2 * 6
        # A band masked in the log-mel group is masked in the delta group too.
        np.testing.assert_array_equal(columns[:40], columns[40:])
    masked = (out == 0.0).mean()
    assert 0.05 < masked < 0.4
    # Nothing outside the masked frames and bands is touched.
    untouched = ~((out == 0.0).all(axis=2, keepdims=True) | (out == 0.0).all(axis=1, keepdims=True))
    np.testing.assert_array_equal(out[np.broadcast_to(untouched, out.shape)], x[np.broadcast_to(untouched, x.shape)])


def test_views_are_drawn_uniformly_with_the_clean_features_among_them():
    n = 3000
    x = np.zeros((n, 2, 2), np.float32)
    views = np.stack([np.full((n, 2, 2), v + 1.0, np.float32) for v in range(3)])
    out = BatchAugment(x, views, None, seed=0).batch(np.arange(n), epoch=0)
    counts = np.bincount(out[:, 0, 0].astype(int), minlength=4)
    assert counts.sum() == n and counts.min() > 0.2 * n
    # Each sample keeps its own row of the view it is shown as.
    rows = np.arange(n, dtype=np.float32)[:, None, None] * np.ones((1, 2, 2), np.float32)
    out = BatchAugment(rows, rows[None] + 0.0, None, seed=0).batch(np.array([9, 4]), epoch=0)
    np.testing.assert_array_equal(out[:, 0, 0], [9.0, 4.0])


def test_views_must_match_the_train_split():
    x, _ = _data(views=0)
    with pytest.raises(ValueError, match="augmented views have shape"):
        BatchAugment(x, np.zeros((2, 5, 100, 80), np.float32), None, seed=0)


def test_augment_setting_parses_names_and_none_and_records_them():
    assert AUGMENTATIONS[: len(AUDIO_AUGMENTATIONS)] == AUDIO_AUGMENTATIONS
    assert RunConfig().augment == ("specaugment",)
    assert RunConfig(augment="specaugment, speed").augment == ("speed", "specaugment")
    assert RunConfig(augment="none").augment == () == RunConfig(augment="").augment
    assert RunConfig(augment=["pitch"]).recorded()["augment"] == "pitch"
    assert RunConfig(augment="none").recorded()["augment"] == "none"
    with pytest.raises(ConfigError, match="augment: unknown \\['echo'\\]"):
        RunConfig(augment="speed,echo")
    # Spike data train unaugmented unless asked.
    assert resolve({"rule": "eventprop"}).augment == ()
    assert resolve({"rule": "eventprop", "augment": "specaugment"}).augment == ("specaugment",)


def test_a_run_recorded_before_augmentation_existed_resumes_without_it():
    recorded = RunConfig(augment="none").recorded()
    del recorded["augment"], recorded["augment_views"]
    assert resolve({}, recorded=recorded).augment == ()
    assert resolve({}, recorded=RunConfig().recorded()).augment == ("specaugment",)


def test_augment_round_trips_through_a_run_config_file(tmp_path):
    from pe_actors.run.config import read_toml

    for value in ("none", "speed,reverb,specaugment"):
        config = RunConfig(augment=value, augment_views=2)
        path = config.to_toml(tmp_path / "run-config.toml")
        assert RunConfig(**read_toml(path)) == config
