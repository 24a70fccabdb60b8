"""Event datasets as spike rasters: the Spiking Heidelberg Digits (SHD) release and any tonic-style dataset
(samples of events with fields x, t, p and a label), cached (docs/data.md, "Event data").

A sample's events (time t in seconds, channel u) become a binary raster (T, channels): step i holds 1 for every
channel with an event in [i bin, (i + 1) bin). Events after the last step are dropped (their count is recorded);
a negative or non-finite time, a channel outside the input, an empty sample, or a file without the release's
groups is a ValueError naming the file and the sample. An SHD cache holds the events of the release's training and
test files whole (:data:`EVENT_ARRAYS` per split and ``metadata.json`` with the sha256 of every file), written
into a temporary sibling and renamed into place, reused while the input files are unchanged and the cache intact:
one cache for every seed and every step. Loading it (:func:`load_shd`) carves the seeded validation split from the
training samples and gives each split as :class:`~pe_actors_datasets.rasters.EventRasters`, binned at the
network's step as samples are drawn.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors_datasets.cache import METADATA, PreparedData, install_directory, owned_temp_dir, remove_dead_temps
from pe_actors_datasets.rasters import EventRasters

#: Input channels of the SHD release (the cochlea model's outputs).
SHD_CHANNELS = 700
#: The SHD release's files, by split.
SHD_FILES = {"train": "shd_train.h5", "test": "shd_test.h5"}
#: Fraction of the training samples held out for validation (seeded).
VALIDATION_FRACTION = 0.1
#: Version of the event-cache layout (2: one cache for every seed, the validation split carved on loading; 3: the
#: events themselves, one cache for every seed and step, binned as batches are drawn).
EVENTS_FORMAT = 3


#: The most classes a label file may imply: a larger label is a broken file, not a data set.
MAX_CLASSES = 10_000
#: The most bytes an SHD file's arrays may declare (the release's training file declares about 0.2 GB).
MAX_SHD_BYTES = 2**32


def read_shd(path: Path | str) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """The spike times (s), units and labels of an SHD file (``spikes/times``, ``spikes/units``, ``labels``); a
    ValueError names the file when it is not a regular HDF5 file of its own (arrays stored in other files, virtual
    arrays and links to other files are refused), declares more than :data:`MAX_SHD_BYTES`, or holds labels that
    are not whole numbers."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: not a regular file")
    try:
        with h5py.File(path, "r") as handle:
            _check_self_contained(path, handle)
            missing = [key for key in ("spikes/times", "spikes/units", "labels") if key not in handle]
            if missing:
                raise ValueError(f"{path}: lacks {missing}, the groups of the SHD release")
            raw = np.asarray(handle["labels"][:])
            if not np.issubdtype(raw.dtype, np.integer):
                raise ValueError(f"{path}: labels are {raw.dtype}; the SHD release's labels are whole numbers")
            times = [np.asarray(t, np.float64) for t in handle["spikes/times"][:]]
            units = [np.asarray(u, np.int64) for u in handle["spikes/units"][:]]
            labels = raw.astype(np.int64)
    except OSError as error:
        raise ValueError(f"{path}: not a readable HDF5 file ({error})") from None
    if not (len(times) == len(units) == len(labels)):
        raise ValueError(f"{path}: {len(times)} spike-time lists, {len(units)} unit lists and {len(labels)} labels")
    return times, units, labels


def write_shd(path: Path | str, times: Sequence[np.ndarray], units: Sequence[np.ndarray], labels: np.ndarray,
              speakers: np.ndarray | None = None) -> Path:
    """Write one file in the SHD release's layout (``spikes/times`` float32 s and ``spikes/units`` uint16 per
    sample, ``labels``, and ``extra/speaker`` when given), beside its name and renamed into place."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with h5py.File(scratch, "w") as handle:
        group = handle.create_group("spikes")
        group.create_dataset("times", data=_ragged(times, np.float32), dtype=h5py.vlen_dtype(np.float32))
        group.create_dataset("units", data=_ragged(units, np.uint16), dtype=h5py.vlen_dtype(np.uint16))
        handle.create_dataset("labels", data=np.asarray(labels).astype(np.uint16))
        if speakers is not None:
            handle.create_group("extra").create_dataset("speaker", data=np.asarray(speakers).astype(np.uint16))
    scratch.replace(path)
    return path


def _ragged(arrays: Sequence[np.ndarray], dtype: type) -> np.ndarray:
    out = np.empty(len(arrays), dtype=object)
    for index, array in enumerate(arrays):
        out[index] = np.asarray(array, dtype)
    return out


def _check_self_contained(path: Path, handle: Any) -> None:
    """A ValueError naming the file when an array of it lives elsewhere or the file declares too much."""
    import h5py

    links: list[str] = []
    handle.visititems_links(lambda name, link: links.append(name) if isinstance(link, h5py.ExternalLink) else None)
    if links:
        raise ValueError(f"{path}: {links[0]} links to another file; an SHD file holds its own arrays")
    declared = 0
    items: list[tuple[str, Any]] = []
    handle.visititems(lambda name, item: items.append((name, item)))
    for name, item in items:
        if isinstance(item, h5py.Dataset):
            if item.external or item.is_virtual:
                raise ValueError(f"{path}: {name} is stored in other files; an SHD file holds its own arrays")
            declared += int(item.size) * item.dtype.itemsize
    if declared > MAX_SHD_BYTES:
        raise ValueError(f"{path}: its arrays declare {declared / 2**30:.1f} GiB, more than an SHD file holds")


def available_memory() -> int:
    """Bytes of memory available to a new allocation (``MemAvailable`` of /proc/meminfo; the physical memory where
    that is not known)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_raster_memory(samples: int, n_steps: int, n_channels: int, what: str) -> None:
    """A ValueError naming ``what`` when its float32 rasters would not fit the available memory."""
    need = samples * n_steps * n_channels * 4
    free = available_memory()
    if need > free:
        raise ValueError(f"{what}: {samples} rasters of {n_steps} x {n_channels} need {need / 2**30:.1f} GiB, more "
                         f"than the {free / 2**30:.1f} GiB available; bin at a coarser step (fewer steps)")


def check_events(times: Sequence[np.ndarray], units: Sequence[np.ndarray], labels: np.ndarray, n_channels: int,
                 where: str) -> None:
    """A ValueError naming ``where`` and the sample for events pe-actors cannot bin."""
    for sample, (t, u) in enumerate(zip(times, units, strict=True)):
        if len(t) == 0:
            raise ValueError(f"{where}: sample {sample} has no events")
        if len(t) != len(u):
            raise ValueError(f"{where}: sample {sample} has {len(t)} times but {len(u)} units")
        if not np.all(np.isfinite(t)) or np.min(t) < 0:
            raise ValueError(f"{where}: sample {sample} has a time out of range ({np.min(t)!r} s; times are >= 0)")
        if np.min(u) < 0 or np.max(u) >= n_channels:
            raise ValueError(f"{where}: sample {sample} has unit {int(np.max(u))} beyond the {n_channels} channels")
    if len(labels) and (np.min(labels) < 0):
        raise ValueError(f"{where}: labels must be >= 0, got {int(np.min(labels))}")
    if len(labels) and np.max(labels) >= MAX_CLASSES:
        raise ValueError(f"{where}: label {int(np.max(labels))} implies more than {MAX_CLASSES:,} classes")


def check_classes(labels: np.ndarray, where: str) -> int:
    """The number of classes of training labels, each of 0..max occurring at least once; a ValueError naming
    ``where`` otherwise (a stray large label would otherwise make a network with outputs for classes no sample
    has)."""
    present = np.unique(labels)
    classes = int(present.max()) + 1 if len(present) else 0
    if len(present) != classes:
        absent = sorted(set(range(classes)) - set(present.tolist()))
        raise ValueError(f"{where}: label {classes - 1} among {len(present)} classes, but {len(absent)} classes "
                         f"below it never occur ({absent[:5]}{'...' if len(absent) > 5 else ''})")
    return classes


def bin_events(times: Sequence[np.ndarray], units: Sequence[np.ndarray], n_channels: int, bin_s: float,
               n_steps: int) -> tuple[np.ndarray, int]:
    """Binary rasters float32 (N, n_steps, n_channels) of the events, and how many fell after the last step."""
    events = EventRasters.from_samples(times, units, n_channels, bin_s, n_steps)
    return np.asarray(events), events.dropped()


def _digest(paths: Sequence[Path], settings: dict) -> str:
    hasher = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in paths:
        hasher.update(_file_digest(path).encode())
    return hasher.hexdigest()


def _file_digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


#: The arrays of an event cache per split: the events' times (s, float64) and channels (uint16) concatenated
#: sample after sample, each sample's first event (int64, N + 1 entries, the last the number of events), labels.
EVENT_ARRAYS = ("times", "channels", "offsets", "labels")


def write_event_cache(out: Path, splits: dict[str, tuple[EventRasters, np.ndarray]], metadata: dict) -> Path:
    """Write each split's events and labels (:data:`EVENT_ARRAYS`) as an event cache at ``out``, atomically, with
    the sha256 of every file in its metadata."""
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temps(out)
    tmp = owned_temp_dir(out)
    digests = {}
    for split, (events, labels) in splits.items():
        arrays = {"times": events.times.astype(np.float64, copy=False),
                  "channels": events.channels.astype(np.uint16, copy=False), "offsets": events.offsets,
                  "labels": labels.astype(np.int64, copy=False)}
        for name, array in arrays.items():
            np.save(tmp / f"{split}_{name}.npy", array)
            digests[f"{split}_{name}.npy"] = _file_digest(tmp / f"{split}_{name}.npy")
    full = {**metadata, "sizes": {split: int(len(labels)) for split, (_, labels) in splits.items()},
            "synthetic": False, "sha256": digests}
    (tmp / METADATA).write_text(json.dumps(full, indent=1))
    install_directory(tmp, out)
    return out


def _intact(out: Path, digest: str) -> bool:
    """Whether ``out`` is a complete event cache of the input ``digest`` whose files all have their recorded
    sha256 (a damaged or unfinished cache is rebuilt)."""
    try:
        metadata = json.loads((out / METADATA).read_text())
        return metadata.get("input_hash") == digest and all(
            _file_digest(out / name) == value for name, value in metadata["sha256"].items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def load_event_cache(out: Path, bin_ms: float, n_steps: int) -> tuple[dict[str, tuple[EventRasters, np.ndarray]],
                                                                      dict]:
    """The splits of the event cache ``out`` as :class:`EventRasters` binned at ``bin_ms`` into ``n_steps``
    steps, and its metadata; a ValueError names a file that is missing or does not fit the others."""
    metadata = json.loads((out / METADATA).read_text())
    splits = {}
    for split in ("train", "validation", "test"):
        arrays = {}
        for name in EVENT_ARRAYS:
            path = out / f"{split}_{name}.npy"
            try:
                arrays[name] = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as error:
                raise ValueError(f"{path}: unreadable ({error}); remove {out} to rebuild it") from None
        try:
            events = EventRasters(arrays["times"], arrays["channels"], arrays["offsets"], int(metadata["n_channels"]),
                                  bin_ms / 1000.0, n_steps)
        except ValueError as error:
            raise ValueError(f"{out / f'{split}_offsets.npy'}: {error}; remove {out} to rebuild it") from None
        if len(events) != len(arrays["labels"]) or len(events) != metadata["sizes"][split]:
            raise ValueError(f"{out}: the {split} split holds {len(events)} samples and {len(arrays['labels'])} "
                             f"labels, its metadata {metadata['sizes'][split]}; remove it to rebuild it")
        splits[split] = (events, arrays["labels"])
    return splits, metadata


def carve_validation(x: Any, labels: np.ndarray, seed: int) -> tuple[tuple, tuple]:
    """(train, validation): :data:`VALIDATION_FRACTION` of the samples held out by a seeded shuffle (event rasters
    stay events)."""
    order = np.random.default_rng(seed).permutation(len(x))
    held = max(1, int(round(VALIDATION_FRACTION * len(x))))
    if held >= len(x):
        raise ValueError(f"{len(x)} training samples are too few to hold out a validation split")
    keep, valid = np.sort(order[held:]), np.sort(order[:held])
    pick = x.subset if isinstance(x, EventRasters) else x.__getitem__
    return (pick(keep), labels[keep]), (pick(valid), labels[valid])


def prepare_shd(shd_dir: Path | str, cache: Path | str) -> Path:
    """The event cache of an SHD folder (``shd_train.h5``, ``shd_test.h5``): its training split is the whole
    training file and its validation split empty (:func:`load_shd` carves one per seed and bins the events at the
    network's step); built once, reused while the files are unchanged and the cache intact."""
    folder = Path(shd_dir)
    paths = {split: folder / name for split, name in SHD_FILES.items()}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise ValueError(f"{folder}: lacks {missing} (the SHD release's files)")
    settings = {"format": EVENTS_FORMAT}
    digest = _digest(list(paths.values()), settings)
    out = Path(cache) / f"shd-{digest[:16]}"
    if _intact(out, digest):
        return out
    splits, classes = {}, 0
    for split, path in paths.items():
        times, units, labels = read_shd(path)
        check_events(times, units, labels, SHD_CHANNELS, str(path))
        if split == "train":
            classes = check_classes(labels, str(path))
        elif len(labels) and labels.max() >= classes:
            raise ValueError(f"{path}: label {int(labels.max())}, but the training file has {classes} classes")
        splits[split] = (EventRasters.from_samples(times, units, SHD_CHANNELS, 1.0, 1), labels)
    splits["validation"] = (EventRasters.from_samples([], [], SHD_CHANNELS, 1.0, 1), np.zeros(0, np.int64))
    metadata = {"dataset": "shd", "source": str(folder), "input_hash": digest, **settings,
                "n_channels": SHD_CHANNELS, "class_names": [str(k) for k in range(classes)]}
    return write_event_cache(out, splits, metadata)


def tonic_rasters(
    samples: Sequence,
    labels: Sequence[int],
    bin_ms: float,
    n_steps: int,
    sensor_size: int | Sequence[int] | None = None,
    time_unit_s: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray]:
    """Rasters float32 (N, n_steps, channels) and labels of a tonic-style dataset: each sample a structured array
    of events with fields ``t`` (in ``time_unit_s``, tonic's microseconds by default), ``x``, for a 2-D sensor
    ``y``, and ``p`` (polarity). A pixel is the channel x (1-D) or y W + x (2-D, W the sensor's width), and with P
    polarities its channel is pixel P + p. ``sensor_size`` is tonic's: the width (1-D) or (width, height[,
    polarities]); None takes the sizes from the data."""
    samples = list(samples)
    labels = np.asarray(labels, np.int64)
    if len(samples) != len(labels):
        raise ValueError(f"{len(samples)} samples but {len(labels)} labels")
    for index, events in enumerate(samples):
        names = getattr(getattr(events, "dtype", None), "names", None) or ()
        if not {"t", "x"} <= set(names):
            raise ValueError(f"sample {index}: events need the fields t and x (tonic's layout), got {names}")
    sizes = (sensor_size,) if isinstance(sensor_size, (int, np.integer)) else tuple(sensor_size or ())
    polarities = max((int(np.max(e["p"])) + 1 for e in samples if "p" in e.dtype.names and len(e)), default=1)
    if len(sizes) > 2:
        polarities = max(polarities, int(sizes[2]))
    two_d = any("y" in e.dtype.names for e in samples)
    width = int(sizes[0]) if sizes else max((int(np.max(e["x"])) + 1 for e in samples if len(e)), default=1)
    height = 1
    if two_d:
        if any("y" not in e.dtype.names for e in samples):
            raise ValueError("some samples have a y coordinate and some do not")
        height = int(sizes[1]) if len(sizes) > 1 else max((int(np.max(e["y"])) + 1 for e in samples if len(e)),
                                                          default=1)
    for index, events in enumerate(samples):
        if len(events) and (np.max(events["x"]) >= width or (two_d and np.max(events["y"]) >= height)):
            raise ValueError(f"sample {index}: an event beyond the sensor of {width} x {height}")
    pixels = [np.asarray(e["x"], np.int64) + (np.asarray(e["y"], np.int64) * width if two_d else 0) for e in samples]
    channels = [pixel * polarities + (np.asarray(e["p"], np.int64) if polarities > 1 else 0)
                for pixel, e in zip(pixels, samples, strict=True)]
    n_channels = width * height * polarities
    times = [np.asarray(e["t"], np.float64) * time_unit_s for e in samples]
    check_events(times, channels, labels, n_channels, "tonic-style dataset")
    check_raster_memory(len(samples), n_steps, n_channels, "tonic-style dataset")
    rasters, _ = bin_events(times, channels, n_channels, bin_ms / 1000.0, n_steps)
    return rasters, labels


def load_shd(shd_dir: Path | str, cache: Path | str, bin_ms: float, n_steps: int, seed: int = 0) -> PreparedData:
    """:func:`prepare_shd`, then its splits as :class:`EventRasters` binned at ``bin_ms`` into ``n_steps`` steps,
    with :data:`VALIDATION_FRACTION` of the training samples held out for validation by ``seed``
    (:func:`carve_validation`)."""
    out = prepare_shd(shd_dir, cache)
    splits, metadata = load_event_cache(out, bin_ms, n_steps)
    splits["train"], splits["validation"] = carve_validation(*splits["train"], seed)
    sizes = {split: int(len(labels)) for split, (_, labels) in splits.items()}
    dropped = sum(events.dropped() for events, _ in splits.values())
    metadata = {**metadata, "sizes": sizes, "seed": seed, "bin_ms": bin_ms, "n_steps": n_steps,
                "events_after_last_step": dropped}
    metadata.pop("sha256", None)
    return PreparedData(splits, list(metadata["class_names"]), False, metadata)
