"""The Yin-Yang data set (Kriener et al. 2022) for the EventProp workload, per docs/data.md.

Points in a disc of radius ``r_big`` = 0.5 centred at (0.5, 0.5), three classes: yin (0), yang (1) and the two
dots of radius ``r_small`` = 0.1 (2). Each sample draws its class first, then uniform points in the square
[0, 2 r_big]^2 until one lies in the disc and in that class (rejection sampling, so the classes stay balanced),
all from one ``numpy.random.RandomState(seed)`` in exactly that order, as the published generator does
(github.com/lkriener/yin_yang_data_set). Features are (x, y, 1 - x, 1 - y). Published splits: train 5000 with
seed 42, validation 1000 with seed 41, test 1000 with seed 40.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

YINYANG_CLASS_NAMES: list[str] = ["yin", "yang", "dot"]
YINYANG_SPLITS: dict[str, tuple[int, int]] = {"train": (5000, 42), "validation": (1000, 41), "test": (1000, 40)}


def yinyang_class(x: float, y: float, *, r_small: float = 0.1, r_big: float = 0.5) -> int:
    """Class of a point inside the disc: 2 within ``r_small`` of either dot centre, else 1 for yin, 0 for yang.

    Yin: within ``r_small`` of the right dot, or between ``r_small`` and ``r_big / 2`` from the left dot, or in the
    upper half (y > r_big) farther than ``r_big / 2`` from the right dot.
    """
    d_right = np.hypot(x - 1.5 * r_big, y - r_big)
    d_left = np.hypot(x - 0.5 * r_big, y - r_big)
    if d_right < r_small or d_left < r_small:
        return 2
    is_yin = d_right <= r_small or r_small < d_left <= 0.5 * r_big or (y > r_big and d_right > 0.5 * r_big)
    return int(is_yin)


def yinyang(size: int, seed: int, *, r_small: float = 0.1, r_big: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``size`` samples: features float64 (size, 4) = (x, y, 1 - x, 1 - y) and labels int64 (size,).

    Draw order per sample, from ``RandomState(seed)``: ``randint(3)`` for the goal class, then ``rand(2) * 2 r_big``
    until the point is in the disc and of the goal class.
    """
    if size < 0:
        raise ValueError(f"size must be non-negative, got {size}")
    rng = np.random.RandomState(seed)
    features = np.empty((size, 4))
    labels = np.empty(size, dtype=np.int64)
    for i in range(size):
        goal = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2.0 * r_big
            if np.hypot(x - r_big, y - r_big) > r_big:
                continue
            if yinyang_class(x, y, r_small=r_small, r_big=r_big) == goal:
                break
        features[i] = (x, y, 1.0 - x, 1.0 - y)
        labels[i] = goal
    return features, labels


def yinyang_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The three published splits (train 5000 seed 42, validation 1000 seed 41, test 1000 seed 40)."""
    return {split: yinyang(size, seed) for split, (size, seed) in YINYANG_SPLITS.items()}


def rotated(features: np.ndarray, degrees: float, r_big: float = 0.5) -> np.ndarray:
    """Features (x, y, 1 - x, 1 - y) of the points rotated by ``degrees`` counter-clockwise about the disc's centre
    (r_big, r_big): an input shift under which the labels, drawn for the unrotated points, no longer follow the
    original class boundaries. The points stay in the disc."""
    angle = np.deg2rad(degrees)
    dx, dy = features[:, 0] - r_big, features[:, 1] - r_big
    x = r_big + np.cos(angle) * dx - np.sin(angle) * dy
    y = r_big + np.sin(angle) * dx + np.cos(angle) * dy
    return np.stack([x, y, 1.0 - x, 1.0 - y], axis=1)


def write_yinyang(out_dir: Path | str, rotate_deg: float = 0.0) -> list[Path]:
    """Write ``<split>_features.npy`` (float32) and ``<split>_labels.npy`` (int64) for each split, the points
    rotated by ``rotate_deg`` (see :func:`rotated`); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split, (features, labels) in yinyang_splits().items():
        if rotate_deg:
            features = rotated(features, rotate_deg)
        for name, array in ((f"{split}_features.npy", features.astype(np.float32)), (f"{split}_labels.npy", labels)):
            np.save(out / name, array)
            written.append(out / name)
    return written


def read_yinyang(folder: Path | str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The splits :func:`write_yinyang` wrote into ``folder`` (``<split>_features.npy``, ``<split>_labels.npy``);
    a ValueError names what is missing or unreadable."""
    folder = Path(folder)
    splits = {}
    for split in YINYANG_SPLITS:
        paths = [folder / f"{split}_{part}.npy" for part in ("features", "labels")]
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise ValueError(f"Yin-Yang data lacks {missing}")
        try:
            splits[split] = tuple(np.load(path, allow_pickle=False) for path in paths)
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read {paths[0]}: {error}") from None
    return splits
