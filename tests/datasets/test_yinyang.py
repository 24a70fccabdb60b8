"""The Yin-Yang data set with the published seeds (docs/data.md)."""

import numpy as np
from click.testing import CliRunner

from pe_actors_datasets.yinyang import YINYANG_SPLITS, yinyang, yinyang_class
from pe_actors_launcher.cli import cli


def test_training_split_class_counts_match_the_published_generator():
    _, labels = yinyang(5000, 42)
    assert np.bincount(labels).tolist() == [1681, 1702, 1617]


def test_published_split_sizes_and_seeds():
    assert YINYANG_SPLITS == {"train": (5000, 42), "validation": (1000, 41), "test": (1000, 40)}


def test_features_are_points_in_the_disc_with_mirrored_coordinates_and_consistent_labels():
    features, labels = yinyang(300, 7)
    assert features.shape == (300, 4) and labels.dtype == np.int64
    x, y = features[:, 0], features[:, 1]
    assert (np.hypot(x - 0.5, y - 0.5) <= 0.5).all()
    np.testing.assert_allclose(features[:, 2], 1 - x)
    np.testing.assert_allclose(features[:, 3], 1 - y)
    assert [yinyang_class(a, b) for a, b in zip(x, y, strict=True)] == labels.tolist()


def test_same_seed_same_data():
    a, b = yinyang(100, 3), yinyang(100, 3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_cli_writes_the_three_splits(tmp_path):
    result = CliRunner().invoke(cli, ["data", "yinyang", "--out", str(tmp_path / "yy")])
    assert result.exit_code == 0, result.output
    labels = np.load(tmp_path / "yy" / "train_labels.npy")
    assert np.bincount(labels).tolist() == [1681, 1702, 1617]
    assert np.load(tmp_path / "yy" / "test_features.npy").shape == (1000, 4)
    assert np.load(tmp_path / "yy" / "validation_features.npy").dtype == np.float32
